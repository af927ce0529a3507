"""Overflow counters on Lava's own Processes: the ``fixed_pt`` Dense and the CUBA ``LIFReset``.

silava's neuron Processes count their own saturations (:mod:`.base`, Var ``saturate``). The
synapses and the netx-native CUBA neuron are Lava's own models; these subclasses run Lava's
arithmetic unchanged (``super().run_spk()`` / ``super().subthr_dynamics()``) and count, beside it,
what Lava's 32- and 24-bit registers do to the exact values:

* :class:`CountingDense` — ``int32_overflow``: the int32 sum ``weights.dot(s_in)`` of a graded
  input leaving the int32 range (before the weight exponent), and the exponent-shifted sum
  leaving it (the ``a_out`` port is int32), computed in int64 beside Lava's own sum;
* :class:`CountingLIFReset` — ``int32_overflow`` (``a << 6``, the current sum and the voltage sum
  in int32), ``wrap`` (the 24-bit wrap of the current ``u``) and ``saturate`` (the clip of ``v`` to
  ±(2^23 − 1)).

Counts cover only the in-window steps of each period (``count_first`` … ``count_first +
count_steps − 1`` of every ``count_interval`` steps), the steps that make the logical timeline's
``T`` steps, so the totals equal hwsim's counters of the same layer on the logical timeline.
None of this imports hwsim: the counts are taken from Lava's own registers.

Lava's ProcessModel discovery executes this module (absolute imports only).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from silava import lava_models  # noqa: F401  (installs the Python 3.11 import fixes before lava)
from lava.magma.core.decorator import implements
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.variable import Var
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import PyDenseModelBitAcc
from lava.proc.dense.process import Dense
from lava.proc.lif.models import PyLifResetModelBitAcc
from lava.proc.lif.process import LIFReset

from silava.lava_models.procs.base import in_window

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
COUNTER = LavaPyType(np.ndarray, np.int64, precision=64)


def _outside_int32(x: np.ndarray) -> int:
    return int(np.count_nonzero(x > I32_MAX) + np.count_nonzero(x < I32_MIN))


def _to_int32(x: np.ndarray) -> np.ndarray:
    """int64 -> the int32 two's-complement value (what an int32 register keeps)."""
    return ((np.asarray(x, np.int64) + 2**31) % 2**32) - 2**31


def _window_params(count_first: int, count_interval: int, count_steps: int) -> dict[str, int]:
    for name, value in (("count_first", count_first), ("count_interval", count_interval),
                        ("count_steps", count_steps)):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    return {"count_first": int(count_first), "count_interval": int(count_interval), "count_steps": int(count_steps)}


class CountingDense(Dense):
    """Lava's ``Dense`` plus a Var ``int32_overflow`` (see the module docstring)."""

    def __init__(self, *, count_first: int = 0, count_interval: int = 0, count_steps: int = 0, **kwargs: Any) -> None:
        window = _window_params(count_first, count_interval, count_steps)
        super().__init__(**kwargs)
        for key, value in window.items():
            self.proc_params[key] = value
        self.int32_overflow = Var(shape=(1,), init=np.zeros(1, np.int64))


class CountingLIFReset(LIFReset):
    """Lava's ``LIFReset`` plus Vars ``int32_overflow``, ``wrap``, ``saturate`` (see the module docstring)."""

    def __init__(self, *, count_first: int = 0, count_interval: int = 0, count_steps: int = 0, **kwargs: Any) -> None:
        window = _window_params(count_first, count_interval, count_steps)
        super().__init__(**kwargs)
        for key, value in window.items():
            self.proc_params[key] = value
        for name in COUNTERS["CountingLIFReset"]:
            setattr(self, name, Var(shape=(1,), init=np.zeros(1, np.int64)))


#: the counter Vars of each counting Process
COUNTERS = {"CountingDense": ("int32_overflow",), "CountingLIFReset": ("int32_overflow", "wrap", "saturate")}


class _Window:
    def _in_window(self) -> bool:
        p = self.proc_params
        return in_window(self.time_step, p.get("count_interval", 0), p.get("count_first", 0), p.get("count_steps", 0))


@implements(proc=CountingDense, protocol=LoihiProtocol)
class PyCountingDenseModelBitAcc(_Window, PyDenseModelBitAcc):
    """Lava's bit-accurate Dense; counts the int32 overflows of its sums beside it (CPU, tags inherited:
    ``fixed_pt``)."""

    implements_process = None    # re-pointed by @implements (Lava refuses to re-point an inherited one)
    int32_overflow: np.ndarray = COUNTER

    def run_spk(self) -> None:
        port = self.s_in
        if not hasattr(self, "_recv"):
            self._recv = port.recv
            self._last = None

            def recv() -> np.ndarray:
                self._last = self._recv()
                return self._last

            port.recv = recv          # see what Lava's sum receives
        super().run_spk()
        if not self._in_window():
            return
        w = np.asarray(self.weights, np.int64)
        e = int(self.weight_exp)
        if self.num_message_bits.item() > 0:
            exact = w @ np.asarray(self._last, np.int64)
            self.int32_overflow[0] += _outside_int32(exact)     # int32 weights.dot(int32 s_in)
            exact = _to_int32(exact)
        else:
            exact = w[:, np.asarray(self._last).astype(bool)].sum(axis=1, dtype=np.int64)
        shifted = np.left_shift(exact, e) if e > 0 else np.right_shift(exact, -e)
        self.int32_overflow[0] += _outside_int32(shifted)       # the int32 a_out port


@implements(proc=CountingLIFReset, protocol=LoihiProtocol)
class PyCountingLifResetModelBitAcc(_Window, PyLifResetModelBitAcc):
    """Lava's bit-accurate LIFReset; counts int32 overflows, the 24-bit wrap of ``u`` and the clip of ``v``
    (CPU, tags inherited: ``fixed_pt``)."""

    implements_process = None    # re-pointed by @implements (Lava refuses to re-point an inherited one)
    int32_overflow: np.ndarray = COUNTER
    wrap: np.ndarray = COUNTER
    saturate: np.ndarray = COUNTER

    def subthr_dynamics(self, activation_in: np.ndarray) -> None:
        if self._in_window():
            self._count(activation_in)
        super().subthr_dynamics(activation_in)

    def _count(self, activation_in: np.ndarray) -> None:
        """The exact int64 values of Lava's current and voltage update, checked against its registers."""
        unity = np.int64(self.decay_unity)
        act = np.left_shift(np.asarray(activation_in, np.int64), self.act_shift)
        n32 = _outside_int32(act)                                 # np.left_shift of the int32 a_in
        act = _to_int32(act)
        du = np.int64(self.du) + self.ds_offset
        p = np.asarray(self.u, np.int64) * (unity - du)
        u = np.sign(p) * np.right_shift(np.abs(p), self.decay_shift) + act
        n32 += _outside_int32(u)                                  # int32 decayed_curr += activation
        u = _to_int32(u)
        top = np.int64(self.max_uv_val)
        self.wrap[0] += int(np.count_nonzero(u > top) + np.count_nonzero(u <= -top))
        u = np.where(u > top, u - 2 * top, np.where(u <= -top, u + 2 * top, u))
        dv = np.int64(self.dv) + self.dm_offset
        p = np.asarray(self.v, np.int64) * (unity - dv)
        v = np.sign(p) * np.right_shift(np.abs(p), self.decay_shift) + u + np.asarray(self.effective_bias, np.int64)
        n32 += _outside_int32(v)                                  # int32 decayed_volt + u + bias
        v = _to_int32(v)
        self.saturate[0] += int(np.count_nonzero(v > top - 1) + np.count_nonzero(v < -(top - 1)))
        self.int32_overflow[0] += n32


__all__ = ["COUNTERS", "CountingDense", "CountingLIFReset"]
