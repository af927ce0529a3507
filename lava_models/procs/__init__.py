"""Lava Processes of silava's own neuron types (model.net types SILIF, CSILIF, LI).

One module per type (:mod:`.silif`, :mod:`.csilif`, :mod:`.li`), each with its
``AbstractProcess`` and two ``PyLoihiProcessModel`` s:

* ``fixed_pt`` — calls ``hwsim.kernels.KERNELS[type]`` (the golden integer step of
  docs/fixed_point.md §3; the integer math has exactly one home) and stores the new
  state in the Process's Vars;
* ``floating_pt`` — the float (folded) dynamics of docs/fixed_point.md §3, in numpy
  float64, with the parameters of the file's ``float`` group.

The same Vars hold integer parameters under ``fixed_pt`` and float parameters under
``floating_pt`` (like Lava's own LIF, whose ``du`` is 12-bit under ``fixed_pt`` and a
fraction under ``floating_pt``); :data:`FILE_KEYS` / :data:`FLOAT_KEYS` of each Process
map its Vars to model.net keys, and ``lava_models.builder`` fills them.

Per-period reset (docs/fixed_point.md §5), exactly like Lava's ``LIFReset``: when
``reset_interval > 0`` and ``time_step % reset_interval == reset_offset % reset_interval``,
every state Var (including the previous spike ``p``) is zeroed *before* integrating.
``reset_interval = 0`` (the default) never resets.

Ports: ``a_in`` (InPort, the Dense output ``a`` before ``<< 6``) and ``s_out`` (OutPort).
Spiking types send 0/1 spikes on ``s_out``; the LI readout sends its state ``V`` every
step as a graded integer payload on ``s_out`` (float ``v`` under ``floating_pt``).

Lava's ProcessModel discovery executes every module in this folder (spec lava_loihi.md
§2.2), so this package holds Processes and their models only, and its modules use
absolute imports (they are also executed standalone by the discovery).

This ``__init__`` holds the shared base classes; the Processes are re-exported below.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from silava import lava_models  # noqa: F401  (installs the Python 3.11 import fixes before lava)
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess, LogConfig
from lava.magma.core.process.variable import Var

__all__ = ["NeuronProcess", "KernelModelFixed", "FloatModel", "PROCESSES", "SILIF", "CSILIF", "LIReadout"]


def _per_neuron(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``value`` (scalar or array of ``shape``) broadcast to a fresh array of ``shape``."""
    arr = np.asarray(value)
    if arr.shape not in ((), (1,), tuple(shape)):
        raise ValueError(f"{name}: expected a scalar or shape {tuple(shape)}, got {arr.shape}")
    return np.array(np.broadcast_to(arr.reshape(()) if arr.shape == (1,) else arr, shape))


class NeuronProcess(AbstractProcess):
    """Base of the silava neuron Processes: ports, state Vars, parameter Vars, reset.

    Subclasses set :attr:`STATES` (state Var names, zero-initialised unless given),
    :attr:`PARAMS` (per-neuron parameter Var names, shape ``shape``) and
    :attr:`SCALARS` (per-layer parameter Var names, shape ``(1,)``), and call
    ``super().__init__`` with keyword values for each of them.
    """

    #: model.net neuron type (``hwsim.kernels.KERNELS`` key)
    TYPE: str = ""
    STATES: tuple[str, ...] = ()
    PARAMS: tuple[str, ...] = ()
    SCALARS: tuple[str, ...] = ("decay_bits", "state_frac_bits")
    #: Var name -> model.net ``neuron`` key (integer parameters, fixed_pt)
    FILE_KEYS: dict[str, str] = {}
    #: Var name -> model.net ``float`` group key (float parameters, floating_pt)
    FLOAT_KEYS: dict[str, str] = {}

    def __init__(self, *, shape: tuple[int, ...], reset_interval: int = 0, reset_offset: int = 0,
                 name: Optional[str] = None, log_config: Optional[LogConfig] = None, **values: Any) -> None:
        self._runtime = None  # so that AbstractProcess.__del__ works if a check below raises
        shape = tuple(int(n) for n in shape)
        unknown = sorted(set(values) - set(self.STATES) - set(self.PARAMS) - set(self.SCALARS))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {unknown}")
        if int(reset_interval) < 0:
            raise ValueError(f"reset_interval must be >= 0, got {reset_interval}")
        inits = {var: _per_neuron(values.get(var, 0), shape, var) for var in self.STATES + self.PARAMS}
        for var in self.SCALARS:
            value = np.asarray(values.get(var, 12)).reshape(-1)
            if value.size != 1:
                raise ValueError(f"{var}: expected one value per layer, got shape {np.shape(values[var])}")
            inits[var] = value.copy()
        super().__init__(shape=shape, reset_interval=int(reset_interval), reset_offset=int(reset_offset),
                         name=name, log_config=log_config)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        for var, init in inits.items():
            setattr(self, var, Var(shape=init.shape, init=init))

    def __del__(self) -> None:
        if "_runtime" in self.__dict__:  # not when the constructor's signature check failed
            super().__del__()


def _reset_phase(proc_params) -> tuple[int, int]:
    interval = int(proc_params.get("reset_interval", 0))
    offset = int(proc_params.get("reset_offset", 0)) % interval if interval else 0
    return interval, offset


class KernelModelFixed(PyLoihiProcessModel):
    """Shared ``fixed_pt`` behaviour: per-period reset, one ``hwsim`` kernel step, Var write-back.

    Per step: ``a = a_in.recv()``; reset (see the package docstring); ``out, new =
    KERNELS[TYPE].step_prepared(a, state, prepare(params))``; every state Var ``← new``;
    ``s_out.send(out)``. The kernel constants (``prepare``) are computed once and again
    after a Var is set from the host (``on_var_update``).
    Subclasses declare the ``LavaPyType`` s and set :attr:`PROC` (the Process class).
    """

    PROC: type = NeuronProcess

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        from silava.hwsim.kernels import KERNELS  # numpy only; the golden integer step

        self._kernel = KERNELS[self.PROC.TYPE]
        self._states = {k: k.lower() for k in self._kernel.state_names}  # kernel name -> Var name
        self._interval, self._offset = _reset_phase(self.proc_params)
        self._prep: Optional[dict] = None

    def on_var_update(self) -> None:
        self._prep = None

    def _prepare(self) -> dict:
        params = {key: getattr(self, var) for var, key in self.PROC.FILE_KEYS.items()}
        return self._kernel.prepare(params)

    def run_spk(self) -> None:
        a = self.a_in.recv()
        if self._interval and self.time_step % self._interval == self._offset:
            for var in self._states.values():
                getattr(self, var).fill(0)
        if self._prep is None:
            self._prep = self._prepare()
        state = {k: getattr(self, var) for k, var in self._states.items()}
        out, new = self._kernel.step_prepared(a, state, self._prep)
        for k, var in self._states.items():
            getattr(self, var)[:] = new[k]
        self.s_out.send(out)


class FloatModel(PyLoihiProcessModel):
    """Shared ``floating_pt`` behaviour: per-period reset, then :meth:`step` (float64 numpy)."""

    PROC: type = NeuronProcess

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._interval, self._offset = _reset_phase(self.proc_params)

    def step(self, a: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_spk(self) -> None:
        a = self.a_in.recv()
        if self._interval and self.time_step % self._interval == self._offset:
            for var in self.PROC.STATES:
                getattr(self, var).fill(0.0)
        self.s_out.send(self.step(a))


from silava.lava_models.procs.csilif import CSILIF  # noqa: E402
from silava.lava_models.procs.li import LIReadout  # noqa: E402
from silava.lava_models.procs.silif import SILIF  # noqa: E402

#: model.net neuron type -> Process class (CUBA uses Lava's own ``LIFReset``; see builder)
PROCESSES: dict[str, type[NeuronProcess]] = {p.TYPE: p for p in (SILIF, CSILIF, LIReadout)}
