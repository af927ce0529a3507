"""The hybrid layer (model.net type ``HYBRID``): Process, ``fixed_pt`` and ``floating_pt`` models.

Per neuron ``unit``: 0 graded LIF ("nsn"), 1 spiking LIF, 2 tanh; every unit sends a graded
payload on ``s_out`` (on the 2^q grid, ``q = payload_bits``; zero = nothing sent). ``a_in``
receives the sum of the feed-forward and the recurrent Dense outputs (Lava sums what several
ports deliver to one InPort). Vars, keys and ``LavaPyType`` s come from
``silava.core.kinds.KINDS["HYBRID"]`` (:mod:`.base`); the two steps below are written here.

Integer step (``fixed_pt``; silava/core/kinds/hybrid.py, docs/fixed_point.md §3), ``S = 2^s``::

    out:   spiking 2^q·[V > vth << 6];  graded (clip(V, 0, S) + 2^(s−q−1)) >> (s−q);  tanh tanh_q(A + B)
    reset: spiking S·[V > vth << 6];    graded clip(V, 0, S)·soft_reset;            tanh 0
    V ← mul(S − reset, sat(mul(beta, V, D) + mul(2^D − beta, U, D)), s)
    U ← sat(mul(alpha, U, D) + A + B)                   (tanh units: U = V = 0)

tanh_q: the table ``silava.core.kinds.hybrid.TANH_TABLE`` (tanh(k/8)·2^16), linear interpolation
on segments of 2^(s−3) state units, the magnitude rounded to 2^q, the sign restored.

Float (folded) step (``floating_pt``; ``a`` = the float ``W x + W_rec o``)::

    out:   spiking [mem > threshold];  graded clamp(mem, 0, 1);  tanh tanh(a + bias)
    mem ← (beta·mem + (1 − beta)·syn)·(1 − r);  syn ← alpha·syn + a + bias
"""
from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.core.kinds.hybrid import TANH_STEP_BITS, TANH_TABLE, TANH_TABLE_BITS
from silava.lava_models.procs.base import ACT_SHIFT, VTH_SHIFT, NeuronModel, NeuronProcess, lava_types, mul, sat

_LUT = np.array(list(TANH_TABLE) + [TANH_TABLE[-1]], dtype=np.int64)


def _tanh_payload(x: np.ndarray, s: int, q: int) -> np.ndarray:
    """The table tanh of ``x`` (state units) as a payload on the 2^q grid."""
    seg = s - TANH_STEP_BITS
    mag = np.abs(x)
    idx = np.minimum(np.right_shift(mag, seg), len(TANH_TABLE) - 1)
    rest = mag - np.left_shift(idx, seg)
    rest[idx == len(TANH_TABLE) - 1] = 0
    y = _LUT[idx] + np.right_shift((_LUT[idx + 1] - _LUT[idx]) * rest, seg)
    drop = TANH_TABLE_BITS - q
    if drop > 0:
        y = np.right_shift(y + (1 << (drop - 1)), drop)
    return np.sign(x) * y


class HybridLayer(NeuronProcess, kind="HYBRID"):
    """Hybrid layer: states ``u`` (synaptic current), ``v`` (membrane); graded payloads on ``s_out``.

    ``fixed_pt``: ``unit``, ``soft_reset``, ``alpha``, ``beta`` (2^D grid), ``vth``, ``bias`` (input
    units), ``payload_bits``, ``decay_bits``, ``state_frac_bits``. ``floating_pt``: the float group's
    ``alpha, beta, unit, reset, threshold, bias``.
    """


@lava_types
@implements(proc=HybridLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyHybridModelFixed(NeuronModel):
    """Integer hybrid layer (int64 numpy); sends the payloads."""

    def step(self, a: np.ndarray) -> np.ndarray:
        s = int(self.state_frac_bits[0])
        q = int(self.payload_bits[0])
        d = self.decay_bits
        one = np.int64(1) << s
        act = np.left_shift(a.astype(np.int64), ACT_SHIFT) + np.left_shift(self.bias, ACT_SHIFT)
        spiking, graded, tanh = self.unit == 1, self.unit == 0, self.unit == 2
        fired = spiking & (self.v > np.left_shift(self.vth, VTH_SHIFT))
        g = np.clip(self.v, 0, one)
        g_out = np.right_shift(g + (np.int64(1) << (s - q - 1)), s - q) if s > q else g
        out = np.zeros_like(self.v)
        out[fired] = np.int64(1) << q
        out[graded] = g_out[graded]
        if tanh.any():
            out[tanh] = _tanh_payload(act, s, q)[tanh]
        reset = np.where(fired, one, 0) + np.where(graded, g * self.soft_reset, 0)
        vn = sat(mul(self.beta, self.v, d) + mul((np.int64(1) << d) - self.beta, self.u, d))
        v = mul(one - reset, vn, s)
        u = sat(mul(self.alpha, self.u, d) + act)
        v[tanh] = 0
        u[tanh] = 0
        self.v[:] = v
        self.u[:] = u
        return out


@lava_types
@implements(proc=HybridLayer, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyHybridModelFloat(NeuronModel):
    """Float hybrid layer (folded parameters), numpy float64; sends the outputs o."""

    def step(self, a: np.ndarray) -> np.ndarray:
        j = a + self.bias
        spiking, graded, tanh = self.unit == 1, self.unit == 0, self.unit == 2
        fired = spiking & (self.v > self.vth)
        g = np.clip(self.v, 0.0, 1.0)
        out = np.where(fired, 1.0, 0.0) + np.where(graded, g, 0.0) + np.where(tanh, np.tanh(j), 0.0)
        reset = np.where(fired, 1.0, 0.0) + np.where(graded, g * self.soft_reset, 0.0)
        v = (self.beta * self.v + (1.0 - self.beta) * self.u) * (1.0 - reset)
        u = self.alpha * self.u + j
        self.v[:] = np.where(tanh, 0.0, v)
        self.u[:] = np.where(tanh, 0.0, u)
        return out
