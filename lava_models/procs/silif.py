"""SILIF (SiLIF; also AdLIF / cAdLIF): Process, ``fixed_pt`` and ``floating_pt`` models.

Vars, model.net keys and ``LavaPyType`` s come from ``silava.core.kinds.KINDS["SILIF"]``
(:mod:`.base`); the two steps below are written here.

Integer step (``fixed_pt``; docs/fixed_point.md §3) with ``A = a << 6``, ``B = bias << 6``,
``VTH = vth << 6``, ``D = decay_bits``, ``mul(k, x, D) = sign(k·x)·(|k·x| >> D)`` and
``sat`` = clip to ±(2^23 − 1)::

    W' = sat( mul(beta, W, D) + mul(coupling, U, D) + spike_adapt · P )
    U' = sat( mul(alpha, U − P·VTH, D) − mul(2^D − alpha, W', D) + A + B )
    s  = U' > VTH ;  P ← s

Float (folded) step (``floating_pt``; ``a`` is the float Dense output ``(1−α)W'x``,
``bias`` the folded ``(1−α)c``)::

    w_t = β·w + coupling·u + spike_adapt·p
    u_t = α·(u − p·vth) − (1 − α)·w_t + a + bias
    s_t = u_t > vth ;  p ← s_t
"""
from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs.base import ACT_SHIFT, VTH_SHIFT, NeuronModel, NeuronProcess, lava_types, mul


class SILIF(NeuronProcess, kind="SILIF"):
    """SiLIF neurons: state ``u``, ``w``, ``p`` (previous spike).

    ``fixed_pt``: ``alpha``, ``beta`` on the 2^D grid, ``coupling`` = a·2^D, ``spike_adapt`` = b·S
    (state units), ``vth`` = vThMant, ``bias`` in input units, ``decay_bits``, ``state_frac_bits``.
    ``floating_pt``: the float group's ``alpha, beta, a, b, threshold, bias``.
    """


@lava_types
@implements(proc=SILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySilifModelFixed(NeuronModel):
    """Integer SILIF (int64 numpy, the equations of the module docstring)."""

    def step(self, a: np.ndarray) -> np.ndarray:
        d = self.decay_bits
        act = np.left_shift(a.astype(np.int64), ACT_SHIFT)
        bias = np.left_shift(self.bias, ACT_SHIFT)
        vth = np.left_shift(self.vth, VTH_SHIFT)
        unity = np.left_shift(np.int64(1), d)                     # 2^D: 1.0 on the decay grid
        w = self.sat(mul(self.beta, self.w, d) + mul(self.coupling, self.u, d) + self.spike_adapt * self.p)
        u = self.sat(mul(self.alpha, self.u - self.p * vth, d) - mul(unity - self.alpha, w, d) + act + bias)
        s = u > vth
        self.w[:] = w
        self.u[:] = u
        self.p[:] = s
        return s


@lava_types
@implements(proc=SILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySilifModelFloat(NeuronModel):
    """Float SILIF (folded parameters), numpy float64."""

    def step(self, a: np.ndarray) -> np.ndarray:
        w = self.beta * self.w + self.coupling * self.u + self.spike_adapt * self.p
        u = self.alpha * (self.u - self.p * self.vth) - (1.0 - self.alpha) * w + a + self.bias
        s = (u > self.vth).astype(float)
        self.w[:] = w
        self.u[:] = u
        self.p[:] = s
        return s
