"""Shared machinery of the silava neuron Processes: the Process base, the ProcessModel base,
the integer primitives and the ``LavaPyType`` declarations, all derived from the kind
declarations of :mod:`silava.core.kinds`.

Derivation from ``kind = KINDS[name]`` (the kind's ``fixed`` parameters are netx constants,
not Vars):

* state Vars: ``State.var`` of each ``kind.states`` (``u``, ``w``, ``p``; zero-initialised);
* parameter Vars: ``Param.var`` of each other parameter, plus ``bias``; per neuron (shape
  ``shape``) for constants and the threshold, one value per layer (shape ``(1,)``) for
  ``decay_bits`` / ``state_frac_bits`` and the layer sizes (``dim`` parameters, e.g. a multi-output
  layer's ``n_states``); a constant or state the kind declares with a per-neuron ``shape`` is
  ``shape + (sizes...)`` (e.g. ``transition`` (n, N, N), the state ``x`` (n, N)); an optional
  constant not given is zero; ``s_out`` carries M values per neuron for a kind with ``output_dim``;
* ``FILE_KEYS`` (Var -> model.net ``neuron`` key): ``Param.key``; ``bias`` -> the layer bias;
* ``FLOAT_KEYS`` (Var -> ``float`` group key, ``floating_pt``): ``Param.source`` for a
  constant, ``threshold`` for the threshold, ``bias``;
* ``LavaPyType`` s (:func:`lava_types_for`): ``fixed_pt`` — states int64 with precision
  ``State.bits``, parameters int64 with precision ``Param.bits(DECAY_BITS_MAX)``, ``bias``
  int64/13, ``a_in`` int32/24, ``s_out`` int32 with 1 (binary output) or 24 (graded);
  ``floating_pt`` — float everywhere.

Integer primitives (docs/fixed_point.md §1), written as Lava's LIF models write them:

* ``mul(k, x, D) = sign(k·x) · (|k·x| >> D)`` — a product on the 2^D grid, truncated toward zero;
* ``sat(x) = clip(x, −(2^23 − 1), 2^23 − 1)`` — 24-bit saturation.

Overflow counter (issue 15, item 9): every neuron Process has a Var ``saturate`` (int64,
shape ``(1,)``) that its ``fixed_pt`` model increments by the number of values :meth:`NeuronModel.sat`
clipped, counted only in the ``count_steps`` in-window steps of each period (the steps from the
reset on, which equal the logical timeline's ``T`` steps; ``count_steps = 0`` counts every step).
So after a run it equals hwsim's ``saturate`` counter of the same layer on the logical timeline.

Lava executes every module of this folder when it looks for ProcessModels, so this module
uses absolute imports and defines no Process of its own.
"""
from __future__ import annotations

from typing import Any, ClassVar, Optional

import numpy as np

from silava import lava_models  # noqa: F401  (installs the Python 3.11 import fixes before lava)
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

from silava.core.fixedpoint import DECAY_BITS_MAX, STATE_MAX, QuantConfig
from silava.core.kinds import BIAS_BITS, STATE_BITS, Kind, get_kind

#: Lava ``act_shift``: the Dense output and the bias enter the 24-bit state MSB-aligned (``a << 6``)
ACT_SHIFT = 6
#: Lava ``vth_shift``: the threshold mantissa is MSB-aligned the same way (``vth << 6``)
VTH_SHIFT = 6
TAGS = ("fixed_pt", "floating_pt")
#: bits of the Dense output port (Lava's ``a_in`` of a bit-accurate neuron)
A_IN_BITS = 24
#: the overflow counter Vars of every neuron Process (int64, shape (1,)): values clipped by ``sat``
COUNTER_VARS = ("saturate",)


def in_window(time_step: int, interval: int, first: int, steps: int) -> bool:
    """True if global step ``time_step`` (1-based) is one of the ``steps`` steps of its period that start
    at in-period step ``first`` (``first`` ≡ the reset step, modulo ``interval``); always True when
    ``interval`` or ``steps`` is 0 (no periods: count every step)."""
    if not interval or not steps:
        return True
    return (int(time_step) - int(first)) % int(interval) < int(steps)


# --------------------------------------------------------------------------- integer primitives
def mul(k: np.ndarray, x: np.ndarray, d: Any) -> np.ndarray:
    """``mul(k, x, D) = sign(k·x) · (|k·x| >> D)``: the product on the 2^D grid, truncated toward zero (int64)."""
    prod = np.multiply(k, x, dtype=np.int64)
    return np.sign(prod) * np.right_shift(np.abs(prod), d)


def sat(x: np.ndarray) -> np.ndarray:
    """``sat(x) = clip(x, −(2^23 − 1), 2^23 − 1)``: 24-bit saturation of a state."""
    return np.clip(x, -STATE_MAX, STATE_MAX)


# --------------------------------------------------------------------------- attribute lists
def var_layout(kind: Kind) -> dict[str, tuple[str, ...]]:
    """The Var names of ``kind``'s Process: ``states``, per-neuron ``params`` (with ``bias``), ``scalars``."""
    params = [p for p in kind.params if p.role != "fixed"]
    return {
        "states": tuple(s.var for s in kind.states),
        "params": tuple(p.var for p in params if p.per_neuron) + ("bias",),
        "scalars": tuple(p.var for p in params if not p.per_neuron),
    }


def file_keys(kind: Kind) -> dict[str, str]:
    """Var -> model.net ``neuron`` key (``bias`` -> the layer's ``bias``)."""
    keys = {p.var: p.key for p in kind.params if p.role != "fixed"}
    return {**keys, "bias": "bias"}


def float_keys(kind: Kind) -> dict[str, str]:
    """Var -> ``float`` group key: the constant's float source, ``threshold``, ``bias``."""
    keys = {p.var: p.source for p in kind.params if p.role == "constant"}
    keys.update({p.var: "threshold" for p in kind.params if p.role == "threshold"})
    return {**keys, "bias": "bias"}


def lava_types_for(kind: Kind, tag: str) -> dict[str, LavaPyType]:
    """The ``LavaPyType`` of every port and Var of ``kind``'s ProcessModel under ``tag``."""
    if tag not in TAGS:
        raise ValueError(f"tag must be one of {', '.join(TAGS)}, got {tag!r}")
    layout = var_layout(kind)
    names = layout["states"] + layout["params"] + layout["scalars"]
    counters = {name: LavaPyType(np.ndarray, np.int64, precision=64) for name in COUNTER_VARS}
    if tag == "floating_pt":
        types = {"a_in": LavaPyType(PyInPort.VEC_DENSE, float), "s_out": LavaPyType(PyOutPort.VEC_DENSE, float)}
        types.update({name: LavaPyType(np.ndarray, float) for name in names})
        types.update(counters)
        return types
    out_bits = 1 if kind.spiking else STATE_BITS
    types = {"a_in": LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=A_IN_BITS),
             "s_out": LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=out_bits)}
    types.update({s.var: LavaPyType(np.ndarray, np.int64, precision=s.bits) for s in kind.states})
    types.update({p.var: LavaPyType(np.ndarray, np.int64, precision=p.bits(DECAY_BITS_MAX))
                  for p in kind.params if p.role != "fixed"})
    types["bias"] = LavaPyType(np.ndarray, np.int64, precision=BIAS_BITS)
    types.update(counters)
    return types


def lava_types(model: type) -> type:
    """Class decorator (above Lava's ``@implements`` and ``@tag``): set the model's ``LavaPyType`` s
    from the kind of the Process it implements and its tag (one of ``fixed_pt``, ``floating_pt``)."""
    proc = getattr(model, "implements_process", None)
    tags = [t for t in getattr(model, "tags", []) if t in TAGS]
    if proc is None or not issubclass(proc, NeuronProcess) or len(tags) != 1:
        raise TypeError(f"{model.__name__}: @lava_types needs @implements(proc=<a NeuronProcess>) and "
                        f"exactly one of the tags {TAGS} below it")
    for name, lava_type in lava_types_for(proc.KIND, tags[0]).items():
        setattr(model, name, lava_type)
    return model


# --------------------------------------------------------------------------- Process
def _per_neuron(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``value`` (scalar or array of ``shape``) broadcast to a fresh array of ``shape``."""
    arr = np.asarray(value)
    if arr.shape not in ((), (1,), tuple(shape)):
        raise ValueError(f"{name}: expected a scalar or shape {tuple(shape)}, got {arr.shape}")
    if arr.shape == (1,) and len(shape) > 1:
        arr = arr.reshape(())
    return np.array(np.broadcast_to(arr.reshape(()) if arr.shape == (1,) else arr, shape))


class NeuronProcess(AbstractProcess):
    """Base of the silava neuron Processes: ports ``a_in``/``s_out``, Vars from the kind, reset.

    A subclass names its kind, ``class SILIF(NeuronProcess, kind="SILIF")``; its Var lists and
    key maps are then derived from ``KINDS[kind]`` (see the module docstring). Constructor:
    ``shape``, one keyword per Var (per-neuron parameters are required; ``bias`` and the states
    default to 0, ``decay_bits`` / ``state_frac_bits`` to the kind's default D and 12),
    ``reset_interval`` / ``reset_offset`` (Lava ``LIFReset``), ``count_steps`` (the in-window steps per
    period the overflow counter :data:`COUNTER_VARS` counts, from the reset step on; 0: every step),
    ``name``, ``log_config``.
    """

    KIND: ClassVar[Kind]
    #: model.net neuron type
    TYPE: ClassVar[str] = ""
    STATES: ClassVar[tuple[str, ...]] = ()
    #: per-neuron parameter Vars (shape ``shape``), ``bias`` included
    PARAMS: ClassVar[tuple[str, ...]] = ()
    #: per-layer parameter Vars (shape ``(1,)``)
    SCALARS: ClassVar[tuple[str, ...]] = ()
    #: Var -> model.net ``neuron`` key (fixed_pt)
    FILE_KEYS: ClassVar[dict[str, str]] = {}
    #: Var -> model.net ``float`` group key (floating_pt)
    FLOAT_KEYS: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, *, kind: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not kind:
            return
        cls.KIND = get_kind(kind)
        layout = var_layout(cls.KIND)
        cls.TYPE = cls.KIND.name
        cls.STATES, cls.PARAMS, cls.SCALARS = layout["states"], layout["params"], layout["scalars"]
        cls.FILE_KEYS, cls.FLOAT_KEYS = file_keys(cls.KIND), float_keys(cls.KIND)

    def __init__(self, *, shape: tuple[int, ...], reset_interval: int = 0, reset_offset: int = 0,
                 count_steps: int = 0, name: Optional[str] = None, log_config: Optional[LogConfig] = None,
                 **values: Any) -> None:
        self._runtime = None  # so that AbstractProcess.__del__ works if a check below raises
        cls = type(self).__name__
        if not self.TYPE:
            raise TypeError(f"{cls}: a NeuronProcess subclass must name its kind (class X(NeuronProcess, kind=...))")
        shape = tuple(int(n) for n in shape)
        unknown = sorted(set(values) - set(self.STATES) - set(self.PARAMS) - set(self.SCALARS))
        if unknown:
            raise TypeError(f"{cls}: unexpected arguments {unknown} (Vars: {', '.join(self.var_names)})")
        items = {**{st.var: st for st in self.KIND.states}, **{p.var: p for p in self.KIND.params}}
        optional = {p.var for p in self.KIND.params if not p.required}
        missing = [v for v in self.PARAMS if v != "bias" and v not in values and v not in optional]
        missing += [p.var for p in self.KIND.dims.values() if p.var not in values]
        if missing:
            raise TypeError(f"{cls}: missing required arguments {missing}")
        if int(reset_interval) < 0:
            raise ValueError(f"reset_interval must be >= 0, got {reset_interval}")
        # sizes of the layer (a multi-output layer's N and M): per-neuron arrays and states get these axes
        dims = {letter: int(np.asarray(values[p.var]).reshape(-1)[0]) for letter, p in self.KIND.dims.items()}
        inits = {var: _per_neuron(values.get(var, 0), shape + self.KIND.extra_shape(items[var], dims)
                                  if var in items else shape, var)
                 for var in self.STATES + self.PARAMS}
        defaults = {"decay_bits": self.KIND.default_decay_bits(), "state_frac_bits": QuantConfig().state_frac_bits}
        for var in self.SCALARS:
            value = np.asarray(values.get(var, defaults.get(var, 0))).reshape(-1)
            if value.size != 1:
                raise ValueError(f"{var}: expected one value per layer, got shape {np.shape(values[var])}")
            inits[var] = value.copy()
        if int(count_steps) < 0:
            raise ValueError(f"count_steps must be >= 0, got {count_steps}")
        super().__init__(shape=shape, reset_interval=int(reset_interval), reset_offset=int(reset_offset),
                         count_steps=int(count_steps), name=name, log_config=log_config)
        outputs = dims[self.KIND.output_dim] if self.KIND.output_dim else 1
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=(shape[0] * outputs,) + shape[1:])      # M outputs per neuron, neuron-major
        for var, init in inits.items():
            setattr(self, var, Var(shape=init.shape, init=init))
        for var in COUNTER_VARS:
            setattr(self, var, Var(shape=(1,), init=np.zeros(1, np.int64)))

    @property
    def var_names(self) -> tuple[str, ...]:
        """Every Var of this Process: states, per-neuron parameters, per-layer parameters."""
        return self.STATES + self.PARAMS + self.SCALARS

    def __del__(self) -> None:
        if "_runtime" in self.__dict__:  # not when the constructor's signature check failed
            super().__del__()


# --------------------------------------------------------------------------- ProcessModel
class NeuronModel(PyLoihiProcessModel):
    """Shared behaviour of both tags: per-period reset, then the kind's :meth:`step`.

    Per step: ``a = a_in.recv()``; if ``reset_interval > 0`` and ``time_step % reset_interval
    == reset_offset % reset_interval`` every state Var (the previous spike included) is zeroed
    (Lava ``LIFReset``); ``s_out.send(step(a))``. ``step`` reads the parameter Vars every step,
    so a Var set from the host is used from the next step on.
    """

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        interval = int(self.proc_params.get("reset_interval", 0))
        self._interval = interval
        self._offset = int(self.proc_params.get("reset_offset", 0)) % interval if interval else 0
        self._count_steps = int(self.proc_params.get("count_steps", 0))
        self._counting = True
        self._states = self.implements_process.STATES

    def step(self, a: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """One time step on the Dense output ``a``: update the state Vars, return what ``s_out`` sends."""
        raise NotImplementedError

    def sat(self, x: np.ndarray) -> np.ndarray:
        """:func:`sat` that also counts the clipped values in ``saturate`` (in-window steps only)."""
        if self._counting:
            self.saturate[0] += np.count_nonzero(x > STATE_MAX) + np.count_nonzero(x < -STATE_MAX)
        return sat(x)

    def run_spk(self) -> None:
        a = self.a_in.recv()
        if self._interval and self.time_step % self._interval == self._offset:
            for var in self._states:
                getattr(self, var).fill(0)
        self._counting = in_window(self.time_step, self._interval, self._offset, self._count_steps)
        self.s_out.send(self.step(a))


__all__ = ["ACT_SHIFT", "COUNTER_VARS", "VTH_SHIFT", "in_window", "NeuronModel", "NeuronProcess", "file_keys", "float_keys", "lava_types",
           "lava_types_for", "mul", "sat", "var_layout"]
