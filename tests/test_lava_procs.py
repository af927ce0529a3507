"""lava_models.procs: the SILIF / CSILIF / LI Processes under both tags, step by step.

Each Process is driven directly (source RingBuffer -> a_in, no synapse) with random graded
input, and every state and output is compared with an independent reference written
here from docs/fixed_point.md §3 (plain Python integers, one neuron at a time, for
fixed_pt; numpy float64 for floating_pt). Also: the LIFReset-style per-period reset,
parameters set from the host while paused, and constructor errors.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_lava

pytestmark = [needs_lava, pytest.mark.lava]

STEPS = 40
N = 7
MAX = 2**23 - 1


# ----------------------------------------------------------------- independent references
def _mul(k: int, x: int, d: int) -> int:
    """sign(k·x)·(|k·x| >> d): product on the 2^d grid, truncated toward zero."""
    p = k * x
    return (abs(p) >> d) if p >= 0 else -(abs(p) >> d)


def _sat(x: int) -> int:
    return max(-MAX, min(MAX, x))


def ref_fixed(kind: str, params: dict, a: np.ndarray, reset: tuple[int, int],
              change=None) -> tuple[dict, np.ndarray]:
    """States after each step {name: [steps, n]} and outputs [steps, n]; a: [steps, n].

    ``change = (t0, key, value)``: parameter ``key`` becomes ``value`` after step t0.
    """
    interval, offset = reset
    steps, n = a.shape
    names = {"SILIF": "uwp", "CSILIF": "xyp", "LI": "v"}[kind]
    hist = {c: np.zeros((steps, n), np.int64) for c in names}
    out = np.zeros((steps, n), np.int64)
    for j in range(n):
        st = {c: 0 for c in names}
        d = int(params["decay_bits"])
        B = int(np.broadcast_to(params["bias"], (n,))[j]) << 6
        for t in range(1, steps + 1):
            p = params if change is None or t <= change[0] else {**params, change[1]: change[2]}
            if interval and t % interval == offset % interval:
                st = {c: 0 for c in names}
            A = int(a[t - 1, j]) << 6
            if kind == "SILIF":
                al, be, co, sa = (int(np.broadcast_to(p[k], (n,))[j]) for k in ("alpha", "beta", "coupling",
                                                                               "spike_adapt"))
                vth = int(np.broadcast_to(p["vth"], (n,))[j]) << 6
                w = _sat(_mul(be, st["w"], d) + _mul(co, st["u"], d) + sa * st["p"])
                u = _sat(_mul(al, st["u"] - st["p"] * vth, d) - _mul((1 << d) - al, w, d) + A + B)
                s = int(u > vth)
                st = {"u": u, "w": w, "p": s}
                o = s
            elif kind == "CSILIF":
                c, sn = (int(np.broadcast_to(p[k], (n,))[j]) for k in ("cos_decay", "sin_decay"))
                vth = int(np.broadcast_to(p["vth"], (n,))[j]) << 6
                xr = st["x"] - st["p"] * vth
                x = _sat(_mul(c, xr, d) - _mul(sn, st["y"], d) + A + B)
                y = _sat(_mul(sn, xr, d) + _mul(c, st["y"], d))
                s = int(x > vth)
                st = {"x": x, "y": y, "p": s}
                o = s
            else:
                al = int(np.broadcast_to(p["alpha"], (n,))[j])
                v = _sat(_mul(al, st["v"], d) + A + B)
                st = {"v": v}
                o = v
            for c in names:
                hist[c][t - 1, j] = st[c]
            out[t - 1, j] = o
    return hist, out


def ref_float(kind: str, p: dict, a: np.ndarray, reset: tuple[int, int]) -> tuple[dict, np.ndarray]:
    """Float folded dynamics (docs/fixed_point.md §3 'Float model'), numpy float64."""
    interval, offset = reset
    steps, n = a.shape
    names = {"SILIF": "uwp", "CSILIF": "xyp", "LI": "v"}[kind]
    st = {c: np.zeros(n) for c in names}
    hist = {c: np.zeros((steps, n)) for c in names}
    out = np.zeros((steps, n))
    for t in range(1, steps + 1):
        if interval and t % interval == offset % interval:
            st = {c: np.zeros(n) for c in names}
        I = a[t - 1] + p["bias"]
        if kind == "SILIF":
            w = p["beta"] * st["w"] + p["coupling"] * st["u"] + p["spike_adapt"] * st["p"]
            u = p["alpha"] * (st["u"] - st["p"] * p["vth"]) - (1 - p["alpha"]) * w + I
            s = (u > p["vth"]).astype(float)
            st, o = {"u": u, "w": w, "p": s}, s
        elif kind == "CSILIF":
            xr = st["x"] - st["p"] * p["vth"]
            x = p["cos_decay"] * xr - p["sin_decay"] * st["y"] + I
            y = p["sin_decay"] * xr + p["cos_decay"] * st["y"]
            s = (x > p["vth"]).astype(float)
            st, o = {"x": x, "y": y, "p": s}, s
        else:
            v = p["alpha"] * st["v"] + I
            st, o = {"v": v}, v
        for c in names:
            hist[c][t - 1] = st[c]
        out[t - 1] = o
    return hist, out


def fixed_params(kind: str, rng: np.random.Generator, d: int = 12) -> dict:
    one = 1 << d
    if kind == "SILIF":
        return dict(alpha=rng.integers(0, one + 1, N), beta=rng.integers(one // 2, one + 1, N),
                    coupling=rng.integers(-one, one + 1, N), spike_adapt=rng.integers(0, 8000, N), vth=64,
                    bias=rng.integers(-30, 60, N), decay_bits=d, state_frac_bits=12)
    if kind == "CSILIF":
        return dict(cos_decay=rng.integers(-one, one + 1, N), sin_decay=rng.integers(-one, one + 1, N),
                    vth=32, bias=rng.integers(-30, 60, N), decay_bits=d, state_frac_bits=12)
    return dict(alpha=rng.integers(0, one + 1, N), bias=rng.integers(-30, 60, N), decay_bits=d, state_frac_bits=12)


def float_params(kind: str, rng: np.random.Generator) -> dict:
    if kind == "SILIF":
        return dict(alpha=rng.uniform(0.3, 0.99, N), beta=rng.uniform(0.9, 1.0, N), coupling=rng.uniform(-0.2, 1, N),
                    spike_adapt=rng.uniform(0, 2, N), vth=1.0, bias=rng.uniform(-0.05, 0.2, N))
    if kind == "CSILIF":
        r, phi = rng.uniform(0.7, 0.99, N), rng.uniform(-1.5, 1.5, N)
        return dict(cos_decay=r * np.cos(phi), sin_decay=r * np.sin(phi), vth=0.5, bias=rng.uniform(-0.05, 0.2, N))
    return dict(alpha=rng.uniform(0.8, 0.97, N), bias=rng.uniform(-0.05, 0.05, N))


def _run(kind: str, params: dict, a: np.ndarray, tag: str, reset: tuple[int, int], host_set=None):
    """Run source -> Process for STEPS steps; returns (states {name: [steps, n]}, outputs [steps, n])."""
    from silava import lava_models  # noqa: F401
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    from silava.lava_models.procs import CSILIF, SILIF, LIReadout
    from silava.lava_models.runner import LavaSession, sim_config

    cls = {"SILIF": SILIF, "CSILIF": CSILIF, "LI": LIReadout}[kind]
    proc = cls(shape=(N,), reset_interval=reset[0], reset_offset=reset[1], **params)
    src = Source(data=a.T.copy())
    sink = Sink(shape=(N,), buffer=a.shape[0])
    src.s_out.connect(proc.a_in)
    proc.s_out.connect(sink.a_in)
    mons = {}
    for var in cls.STATES:
        mon = Monitor()
        mon.probe(getattr(proc, var), a.shape[0])
        mons[var] = mon
    with LavaSession(proc, sim_config(tag), timeout_s=60) as session:
        if host_set is None:
            session.run(a.shape[0])
        else:
            at, var, value = host_set
            session.run(at)
            getattr(proc, var).set(np.broadcast_to(np.asarray(value, float), (N,)).copy())
            session.run(a.shape[0] - at)
        states = {var: np.asarray(mon.get_data()[proc.name][var]) for var, mon in mons.items()}
        out = np.asarray(sink.data.get()).T
        final = {var: np.asarray(getattr(proc, var).get()) for var in cls.STATES}
    for var in cls.STATES:
        np.testing.assert_array_equal(final[var], states[var][-1])   # Var.get == last monitored state
    return states, out


def _graded_input(rng: np.random.Generator, steps: int = STEPS) -> np.ndarray:
    a = rng.integers(-40, 120, (steps, N))
    a[rng.random((steps, N)) < 0.3] = 0
    return a


@pytest.mark.parametrize("kind", ["SILIF", "CSILIF", "LI"])
def test_fixed_pt_matches_integer_reference(kind, shm_guard):
    rng = np.random.default_rng({"SILIF": 1, "CSILIF": 2, "LI": 3}[kind])
    params = fixed_params(kind, rng, d=12 if kind != "CSILIF" else 14)
    a = _graded_input(rng)
    a[5, 0] = 200_000                      # one huge input: the state saturates
    reset = (9, 4)
    states, out = _run(kind, params, a, "fixed_pt", reset)
    ref_states, ref_out = ref_fixed(kind, params, a, reset)
    for var, hist in ref_states.items():
        np.testing.assert_array_equal(states[var].astype(np.int64), hist, err_msg=f"{kind} state {var}")
    np.testing.assert_array_equal(out.astype(np.int64), ref_out)
    if kind != "LI":
        assert 5 < ref_out.sum() < ref_out.size - 5, "the test input should make some neurons spike"
    state = {"SILIF": "u", "CSILIF": "x", "LI": "v"}[kind]
    assert np.abs(ref_states[state]).max() == MAX, "the huge input should saturate a state"
    resets = [t for t in range(1, STEPS + 1) if t % 9 == 4]
    for t in resets:  # the reset zeroes the state before integrating step t
        assert not np.array_equal(ref_states[state][t - 2], 0)


@pytest.mark.parametrize("kind", ["SILIF", "CSILIF", "LI"])
def test_floating_pt_matches_float_reference(kind, shm_guard):
    rng = np.random.default_rng({"SILIF": 4, "CSILIF": 5, "LI": 6}[kind])
    params = float_params(kind, rng)
    a = rng.normal(0.2, 0.4, (STEPS, N))
    reset = (13, 0)
    states, out = _run(kind, params, a, "floating_pt", reset)
    ref_states, ref_out = ref_float(kind, params, a, reset)
    for var, hist in ref_states.items():
        np.testing.assert_allclose(states[var], hist, rtol=0, atol=1e-12, err_msg=f"{kind} state {var}")
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=1e-12)
    if kind != "LI":
        assert 5 < ref_out.sum() < ref_out.size - 5


def test_parameter_set_while_paused_takes_effect(shm_guard):
    """A Var set from the host between two runs is used from the next step on (on_var_update)."""
    rng = np.random.default_rng(7)
    params = fixed_params("SILIF", rng)
    params["vth"] = np.full(N, 64)
    a = _graded_input(rng)
    states, out = _run("SILIF", params, a, "fixed_pt", (0, 0), host_set=(20, "vth", 300))
    ref_states, ref_out = ref_fixed("SILIF", params, a, (0, 0), change=(20, "vth", 300))
    np.testing.assert_array_equal(out.astype(np.int64), ref_out)
    np.testing.assert_array_equal(states["u"].astype(np.int64), ref_states["u"])
    unchanged = ref_fixed("SILIF", params, a, (0, 0))[1]
    assert ref_out[20:].sum() < unchanged[20:].sum(), "a higher threshold from the host: fewer spikes"


def test_no_reset_by_default_and_reset_phase_like_lifreset(shm_guard):
    """reset_interval=0 never resets; reset_offset is taken modulo the interval (LIFReset)."""
    rng = np.random.default_rng(8)
    params = fixed_params("LI", rng)
    params["alpha"] = np.full(N, 4096)          # pure integrator: any reset is visible
    params["bias"] = np.full(N, 3)
    a = np.ones((STEPS, N), np.int64)
    states, _ = _run("LI", params, a, "fixed_pt", (0, 0))
    assert np.all(np.diff(states["v"], axis=0) > 0)
    states, _ = _run("LI", params, a, "fixed_pt", (10, 13))   # 13 % 10 = 3: reset at steps 3, 13, 23, 33
    ref_states, _ = ref_fixed("LI", params, a, (10, 3))
    np.testing.assert_array_equal(states["v"].astype(np.int64), ref_states["v"])
    drops = [t + 1 for t in range(1, STEPS) if states["v"][t, 0] < states["v"][t - 1, 0]]
    assert drops == [3, 13, 23, 33]


def test_constructor_errors():
    from silava import lava_models  # noqa: F401
    from silava.lava_models.procs import PROCESSES, SILIF, LIReadout

    assert set(PROCESSES) == {"SILIF", "CSILIF", "RF", "MULTIOUT", "LI", "HYBRID", "LI2"}
    with pytest.raises(ValueError, match="alpha: expected a scalar or shape"):
        LIReadout(shape=(4,), alpha=np.ones(3))
    with pytest.raises(TypeError):
        SILIF(shape=(4,), alpha=1, beta=1, coupling=0, spike_adapt=0)   # vth missing
    with pytest.raises(ValueError, match="reset_interval"):
        LIReadout(shape=(4,), alpha=1, reset_interval=-1)


# ----------------------------------------------------------------- attributes from the kind declaration
def _expected_vars(kind) -> dict[str, tuple[str, ...]]:
    """Written here from the declaration: states, per-neuron params (+ bias), per-layer params."""
    params = [p for p in kind.params if p.role != "fixed"]
    return {"STATES": tuple(s.name.lower() for s in kind.states),
            "PARAMS": tuple(p.var for p in params if p.role in ("constant", "threshold")) + ("bias",),
            "SCALARS": tuple(p.var for p in params if p.role in ("decay_bits", "state_frac_bits"))}


def _models_of(proc) -> dict[str, type]:
    """tag -> the ProcessModel class Lava finds in the Process's module."""
    import inspect
    import sys

    module = sys.modules[proc.__module__]
    found = {}
    for cls in vars(module).values():
        if inspect.isclass(cls) and cls.__module__ == module.__name__ and \
                getattr(cls, "implements_process", None) is proc:
            (tag,) = cls.tags
            assert tag not in found, f"two {tag} models for {proc.__name__}"
            found[tag] = cls
    return found


@pytest.mark.parametrize("kind", ["SILIF", "CSILIF", "LI"])
def test_vars_and_lava_types_follow_the_kind_declaration(kind):
    from silava import lava_models  # noqa: F401
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType

    from silava.core.fixedpoint import DECAY_BITS_MAX
    from silava.core.kinds import KINDS
    from silava.lava_models.procs import PROCESSES

    decl = KINDS[kind]
    proc = PROCESSES[kind]
    assert proc.KIND is decl and proc.TYPE == kind
    want = _expected_vars(decl)
    for attr, names in want.items():
        assert getattr(proc, attr) == names, f"{kind}.{attr}"
    assert proc.FILE_KEYS == {**{p.var: p.key for p in decl.params}, "bias": "bias"}
    assert proc.FLOAT_KEYS == {**{p.var: (p.source or "threshold") for p in decl.params
                                  if p.role in ("constant", "threshold")}, "bias": "bias"}

    from silava.lava_models.procs.base import COUNTER_VARS

    required = {v: 1 for v in want["PARAMS"] if v != "bias"}
    instance = proc(shape=(3,), **required)
    all_vars = want["STATES"] + want["PARAMS"] + want["SCALARS"]
    assert sorted(v.name for v in instance.vars) == sorted(all_vars + COUNTER_VARS)   # + the overflow counter
    assert all(getattr(instance, v).shape == (1,) for v in COUNTER_VARS)
    assert all(getattr(instance, v).shape == (3,) for v in want["STATES"] + want["PARAMS"])
    assert all(getattr(instance, v).shape == (1,) for v in want["SCALARS"])

    models = _models_of(proc)
    assert set(models) == {"fixed_pt", "floating_pt"}
    fixed, flt = models["fixed_pt"], models["floating_pt"]
    assert fixed.a_in == LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    assert fixed.s_out == LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1 if decl.spiking else 24)
    for s in decl.states:
        assert getattr(fixed, s.var) == LavaPyType(np.ndarray, np.int64, precision=s.bits), s.var
    for p in decl.params:
        assert getattr(fixed, p.var) == LavaPyType(np.ndarray, np.int64, precision=p.bits(DECAY_BITS_MAX)), p.var
    assert fixed.bias == LavaPyType(np.ndarray, np.int64, precision=13)
    assert flt.a_in == LavaPyType(PyInPort.VEC_DENSE, float)
    assert flt.s_out == LavaPyType(PyOutPort.VEC_DENSE, float)
    for var in all_vars:
        assert getattr(flt, var) == LavaPyType(np.ndarray, float), var
    for model in (fixed, flt):   # every LavaPyType of the model names a port or Var of the Process
        typed = {n for n in dir(model) if isinstance(getattr(model, n), LavaPyType)}
        assert typed == set(all_vars) | set(COUNTER_VARS) | {"a_in", "s_out"}
        for var in COUNTER_VARS:
            assert getattr(model, var) == LavaPyType(np.ndarray, np.int64, precision=64), var


def test_every_kind_has_a_lava_process():
    """Lava's own Processes run the kinds Lava implements (CUBA: LIF; lava-dl's sigma-delta units:
    Delta, SigmaDelta, Sigma); every other kind has a Process here."""
    from silava import lava_models  # noqa: F401
    from silava.core.kinds import KINDS
    from silava.lava_models.builder import LAVA_PROCESSES
    from silava.lava_models.procs import PROCESSES

    assert set(PROCESSES) == set(KINDS) - set(LAVA_PROCESSES)
    assert not set(PROCESSES) & set(LAVA_PROCESSES)


def test_declaration_errors():
    from silava import lava_models  # noqa: F401
    from lava.magma.core.decorator import implements, tag
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    from silava.lava_models.procs import SILIF, LIReadout, NeuronModel, NeuronProcess, lava_types

    with pytest.raises(TypeError, match=r"SILIF: missing required arguments \['vth'\]"):
        SILIF(shape=(4,), alpha=1, beta=1, coupling=0, spike_adapt=0)
    with pytest.raises(TypeError, match="unexpected arguments"):
        LIReadout(shape=(4,), alpha=1, beta=2)
    with pytest.raises(TypeError, match="must name its kind"):
        NeuronProcess(shape=(4,))
    with pytest.raises(KeyError, match="unknown neuron kind"):
        type("Bad", (NeuronProcess,), {}, kind="NOPE")

    class NoTag(NeuronModel):
        pass

    with pytest.raises(TypeError, match="@lava_types needs"):
        lava_types(implements(proc=LIReadout, protocol=LoihiProtocol)(NoTag))
    with pytest.raises(TypeError, match="@lava_types needs"):
        lava_types(tag("fixed_pt")(type("NoProc", (NeuronModel,), {})))
