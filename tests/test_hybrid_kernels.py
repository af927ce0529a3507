"""The hybrid kinds HYBRID and LI2 step by step: the fixed-point tanh and its error, hwsim's golden
kernels on both carriers, the torch integer emulation (intsim) and the Lava ProcessModels (fixed_pt
and floating_pt) against them, each rung with a planted bug that the comparison catches."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import needs_lava

N = 9
STEPS = 40


def random_hybrid_params(rng: np.random.Generator, n: int = N) -> dict:
    s = int(rng.integers(6, 17))
    q = int(rng.integers(1, min(s, 16) + 1))
    d = int(rng.integers(8, 17))
    return {"unit": rng.integers(0, 3, n), "softReset": rng.integers(0, 2, n),
            "alpha": rng.integers(0, 2**d + 1, n), "beta": rng.integers(0, 2**d + 1, n),
            "vThMant": 2**s // 64, "payloadFracBits": q, "decayBits": d, "stateFracBits": s,
            "bias": rng.integers(-40, 40, n)}


def random_li2_params(rng: np.random.Generator, n: int = N) -> dict:
    d = int(rng.integers(8, 17))
    return {"alpha": rng.integers(0, 2**d + 1, n), "beta": rng.integers(0, 2**d + 1, n), "decayBits": d,
            "stateFracBits": 12, "bias": rng.integers(-40, 40, n)}


def random_drive(rng: np.random.Generator, s: int, steps: int = STEPS, n: int = N, batch: int = 3) -> np.ndarray:
    """Dense outputs ``a`` (before << 6) of roughly ±2 in float units, some zero, one huge."""
    scale = max(1, 2 ** (s - 6))
    a = rng.integers(-2 * scale, 3 * scale, (batch, steps, n))
    a[rng.random(a.shape) < 0.2] = 0
    a[0, 3, 0] = 2**22                                      # saturates a state
    return a


def run_kernel(ntype: str, params: dict, a: np.ndarray, dtype=np.int64):
    from silava.hwsim.kernels import KERNELS

    k = KERNELS[ntype]
    prep = k.prepare(params, dtype, a.shape[:1] + a.shape[2:])
    st = k.init_state(a.shape[:1] + a.shape[2:], dtype)
    outs, states = [], {n: [] for n in st}
    for t in range(a.shape[1]):
        o, st = k.step_prepared(a[:, t].astype(dtype), st, prep)
        outs.append(np.asarray(o).astype(np.int64))
        for n in st:
            states[n].append(np.asarray(st[n]).astype(np.int64))
    return np.stack(outs, 1), {n: np.stack(v, 1) for n, v in states.items()}


def run_intsim(ntype: str, params: dict, a: np.ndarray, step=None):
    from silava.train import intsim

    step = step or intsim.STEPS[ntype]
    p = {k: (torch.tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) else v) for k, v in params.items()
         if k != "bias"}
    B = torch.tensor(params["bias"], dtype=torch.float64) * 64
    st = {n: torch.zeros(a.shape[0], a.shape[2], dtype=torch.float64) for n in intsim.STATE_NAMES[ntype]}
    outs, states = [], {n: [] for n in st}
    for t in range(a.shape[1]):
        o, st = step(torch.tensor(a[:, t], dtype=torch.float64) * 64, st, p, B, None, intsim.hard_spike)
        outs.append(o.numpy().astype(np.int64))
        for n in st:
            states[n].append(st[n].numpy().astype(np.int64))
    return np.stack(outs, 1), {n: np.stack(v, 1) for n, v in states.items()}


# ------------------------------------------------------------------ tanh
def test_tanh_table_is_the_documented_one():
    from silava.core.kinds.hybrid import TANH_TABLE

    assert len(TANH_TABLE) == 49
    assert list(TANH_TABLE) == [int(math.floor(math.tanh(k / 8) * 2**16 + 0.5)) for k in range(49)]


@pytest.mark.parametrize("s,q", [(12, 16), (12, 8), (16, 6), (8, 8), (22, 12)])
def test_fixed_point_tanh_error(s, q):
    """Interpolation error < 1.6e-3 of float tanh; with the payload rounding < 1.6e-3 + 2^-(q+1)."""
    from silava.hwsim.kernels import tanh_payload

    x = np.arange(-7 * 2**s, 7 * 2**s + 1, max(1, 2 ** (s - 12)))
    y = tanh_payload(x, s, q) / 2.0**q
    err = np.abs(y - np.tanh(x / 2.0**s)).max()
    assert err <= 1.6e-3 + 2.0 ** -(q + 1)
    assert np.array_equal(tanh_payload(-x, s, q), -tanh_payload(x, s, q))     # odd
    assert tanh_payload(np.array([10**6 * 2**s // 4096]), s, q)[0] == round(65535 / 2 ** (16 - q))


# ------------------------------------------------------------------ hwsim kernels
@pytest.mark.parametrize("ntype", ["HYBRID", "LI2"])
def test_kernel_carriers_agree(ntype):
    rng = np.random.default_rng(1)
    for _ in range(20):
        params = random_hybrid_params(rng) if ntype == "HYBRID" else random_li2_params(rng)
        a = random_drive(rng, params["stateFracBits"])
        oi, si = run_kernel(ntype, params, a, np.int64)
        of, sf = run_kernel(ntype, params, a, np.float64)
        assert np.array_equal(oi, of) and all(np.array_equal(si[k], sf[k]) for k in si)


def test_kernel_by_hand():
    """One graded, one spiking, one tanh unit, s = q = 12 (payload = state units), D = 12."""
    from silava.hwsim.kernels import KERNELS

    k = KERNELS["HYBRID"]
    p = {"unit": np.array([0, 1, 2]), "softReset": np.array([1, 1, 0]), "alpha": np.array([2048] * 3),
         "beta": np.array([1024] * 3), "vThMant": 64, "payloadFracBits": 12, "decayBits": 12, "stateFracBits": 12}
    st = {"U": np.array([4096, 8192, 0]), "V": np.array([2048, 4097, 0])}
    out, new = k.step(np.array([64, 0, 64]), st, p)            # A = 4096 (1.0) on units 0 and 2
    assert out[0] == 2048 and out[1] == 4096                  # g = 0.5; V > VTH: a spike (payload 2^12)
    assert out[2] == (49912 + 8) >> 4                         # tanh(1.0): table entry k = 8, rounded to 2^12
    assert new["U"].tolist() == [2048 + 4096, 4096, 0]
    vn0 = (1024 * 2048 >> 12) + (3072 * 4096 >> 12)           # 512 + 3072
    assert new["V"].tolist() == [(4096 - 2048) * vn0 >> 12, 0, 0]


# ------------------------------------------------------------------ intsim == hwsim
def _intsim_bug_new_current(A, st, p, B, count, spike):
    """Planted bug: the membrane integrates the NEW synaptic current."""
    from silava.train import intsim

    out, new = intsim.step_hybrid(A, st, p, B, count, spike)
    D = p["decayBits"]
    unit = p["unit"]
    Vn = intsim.sat(intsim.mul(p["beta"], st["V"], D) + intsim.mul(2**D - p["beta"], new["U"], D), None)
    lif = unit != 2
    return out, {"U": new["U"], "V": torch.where(lif & (new["V"] != 0), Vn, new["V"])}


@pytest.mark.parametrize("ntype", ["HYBRID", "LI2"])
def test_intsim_equals_hwsim(ntype):
    rng = np.random.default_rng(2)
    for _ in range(60):
        params = random_hybrid_params(rng) if ntype == "HYBRID" else random_li2_params(rng)
        a = random_drive(rng, params["stateFracBits"])
        ko, ks = run_kernel(ntype, params, a)
        io, is_ = run_intsim(ntype, params, a)
        assert np.array_equal(ko, io)
        assert all(np.array_equal(ks[k], is_[k]) for k in ks)


def test_intsim_rung_catches_a_planted_bug():
    rng = np.random.default_rng(3)
    differ = 0
    for _ in range(10):
        params = random_hybrid_params(rng)
        a = random_drive(rng, params["stateFracBits"])
        ko, ks = run_kernel("HYBRID", params, a)
        io, is_ = run_intsim("HYBRID", params, a, step=_intsim_bug_new_current)
        differ += not (np.array_equal(ko, io) and np.array_equal(ks["V"], is_["V"]))
    assert differ >= 8


# ------------------------------------------------------------------ Lava == hwsim (step by step)
def _lava_run(ntype: str, params: dict, a: np.ndarray, tag: str = "fixed_pt"):
    """Source -> Process for a.shape[0] steps (one sample, a [steps, n]); outputs and states [steps, n]."""
    from silava import lava_models  # noqa: F401
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    from silava.lava_models.procs import PROCESSES
    from silava.lava_models.runner import LavaSession, sim_config

    cls = PROCESSES[ntype]
    values = {var: params[key] for var, key in cls.FILE_KEYS.items() if key in params}
    n = a.shape[1]
    proc = cls(shape=(n,), **values)
    src = Source(data=a.T.copy())
    sink = Sink(shape=(n,), buffer=a.shape[0])
    src.s_out.connect(proc.a_in)
    proc.s_out.connect(sink.a_in)
    mons = {}
    for var in cls.STATES:
        mon = Monitor()
        mon.probe(getattr(proc, var), a.shape[0])
        mons[var] = mon
    with LavaSession(proc, sim_config(tag), timeout_s=120) as session:
        session.run(a.shape[0])
        states = {var: np.asarray(mon.get_data()[proc.name][var]) for var, mon in mons.items()}
        out = np.asarray(sink.data.get()).T
    return out, states


@needs_lava
@pytest.mark.lava
@pytest.mark.parametrize("ntype", ["HYBRID", "LI2"])
def test_lava_fixed_pt_equals_hwsim(ntype, shm_guard):
    rng = np.random.default_rng(4)
    params = random_hybrid_params(rng) if ntype == "HYBRID" else random_li2_params(rng)
    if ntype == "HYBRID":
        params["unit"] = np.array([0, 1, 2] * (N // 3))
    a = random_drive(rng, params["stateFracBits"], batch=1)
    ko, ks = run_kernel(ntype, params, a)
    lo, ls = _lava_run(ntype, params, a[0])
    assert np.array_equal(lo.astype(np.int64), ko[0])
    for name, hist in ks.items():
        assert np.array_equal(ls[name.lower()].astype(np.int64), hist[0]), name
    if ntype == "HYBRID":
        assert ko[0][:, 1::3].max() == 2 ** params["payloadFracBits"] and ko[0][:, 2::3].min() < 0


@needs_lava
@pytest.mark.lava
def test_lava_rung_catches_a_planted_bug(shm_guard, monkeypatch):
    """A ProcessModel whose graded units forget the soft reset differs from hwsim."""
    from silava.lava_models.procs import hybrid as mod

    original = mod.PyHybridModelFixed.step

    def no_soft_reset(self, a):
        self.soft_reset[:] = 0
        return original(self, a)

    monkeypatch.setattr(mod.PyHybridModelFixed, "step", no_soft_reset)
    rng = np.random.default_rng(5)
    params = random_hybrid_params(rng)
    params["unit"] = np.zeros(N, np.int64)
    params["softReset"] = np.ones(N, np.int64)
    a = np.abs(random_drive(rng, params["stateFracBits"], batch=1))
    ko, ks = run_kernel("HYBRID", params, a)
    lo, ls = _lava_run("HYBRID", params, a[0])
    assert not np.array_equal(ls["v"].astype(np.int64), ks["V"][0])


@needs_lava
@pytest.mark.lava
def test_lava_floating_pt_follows_the_float_equations(shm_guard):
    rng = np.random.default_rng(6)
    unit = np.array([0, 1, 2] * 3)
    p = {"alpha": rng.uniform(0.5, 0.9, N), "beta": rng.uniform(0.7, 0.95, N), "unit": unit.astype(float),
         "reset": np.array([1.0, 1, 0] * 3), "threshold": 1.0, "bias": rng.uniform(-0.1, 0.1, N)}
    a = rng.normal(0.3, 0.8, (STEPS, N))
    from silava.lava_models.procs import HybridLayer

    values = {var: p[key] for var, key in HybridLayer.FLOAT_KEYS.items() if key in p}
    values["payload_bits"], values["decay_bits"], values["state_frac_bits"] = 8, 12, 12
    lo, ls = _lava_run_values("HYBRID", values, a)
    syn, mem = np.zeros(N), np.zeros(N)
    for t in range(STEPS):
        j = a[t] + p["bias"]
        fired = (unit == 1) & (mem > 1.0)
        g = np.clip(mem, 0, 1)
        o = np.where(unit == 1, fired * 1.0, np.where(unit == 0, g, np.tanh(j)))
        r = np.where(unit == 1, fired * 1.0, np.where(unit == 0, g * p["reset"], 0.0))
        mem = np.where(unit == 2, 0.0, (p["beta"] * mem + (1 - p["beta"]) * syn) * (1 - r))
        syn = np.where(unit == 2, 0.0, p["alpha"] * syn + j)
        np.testing.assert_allclose(lo[t], o, atol=1e-12)
        np.testing.assert_allclose(ls["v"][t], mem, atol=1e-12)


def _lava_run_values(ntype: str, values: dict, a: np.ndarray):
    from silava import lava_models  # noqa: F401
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.monitor.process import Monitor

    from silava.lava_models.procs import PROCESSES
    from silava.lava_models.runner import LavaSession, sim_config

    cls = PROCESSES[ntype]
    proc = cls(shape=(a.shape[1],), **values)
    src = Source(data=a.T.copy())
    sink = Sink(shape=(a.shape[1],), buffer=a.shape[0])
    src.s_out.connect(proc.a_in)
    proc.s_out.connect(sink.a_in)
    mon = Monitor()
    mon.probe(proc.v, a.shape[0])
    with LavaSession(proc, sim_config("floating_pt"), timeout_s=120) as session:
        session.run(a.shape[0])
        v = np.asarray(mon.get_data()[proc.name]["v"])
        out = np.asarray(sink.data.get()).T
    return out, {"v": v}
