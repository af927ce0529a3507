"""CSILIF (C-SiLIF): Process, ``fixed_pt`` and ``floating_pt`` models.

Vars, model.net keys and ``LavaPyType`` s come from ``silava.core.kinds.KINDS["CSILIF"]``
(:mod:`.base`); the two steps below are written here.

Integer step (``fixed_pt``; docs/fixed_point.md §3) with ``A = a << 6``, ``B = bias << 6``,
``VTH = vth << 6``, ``D = decay_bits``, each product truncated toward zero separately
(``mul(k, x, D) = sign(k·x)·(|k·x| >> D)``, ``sat`` = clip to ±(2^23 − 1))::

    Xr = X − P·VTH
    X' = sat( mul(cos_decay, Xr, D) − mul(sin_decay, Y, D) + A + B )
    Y' = sat( mul(sin_decay, Xr, D) + mul(cos_decay, Y, D) )
    s  = X' > VTH ;  P ← s

Float (folded) step (``floating_pt``; λ = lam_re + i·lam_im, ``a`` = the float Dense output
``b·W'x``, ``bias`` the folded ``b·c``; ``vth`` = 0.5 is both the threshold and the half reset)::

    xr  = x − p·vth
    x_t = lam_re·xr − lam_im·y + a + bias
    y_t = lam_im·xr + lam_re·y
    s_t = x_t > vth ;  p ← s_t
"""
from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs.base import ACT_SHIFT, VTH_SHIFT, NeuronModel, NeuronProcess, lava_types, mul


class CSILIF(NeuronProcess, kind="CSILIF"):
    """C-SiLIF neurons: state ``x`` = Re u, ``y`` = Im u, ``p`` = previous spike.

    ``fixed_pt``: ``cos_decay`` = rnd(r cosφ·2^D), ``sin_decay`` = rnd(r sinφ·2^D), ``vth`` = vThMant,
    ``bias`` in input units, ``decay_bits``, ``state_frac_bits``. ``floating_pt``: the float group's
    ``lam_re, lam_im, threshold, bias``.
    """


@lava_types
@implements(proc=CSILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyCsilifModelFixed(NeuronModel):
    """Integer C-SiLIF (int64 numpy, the equations of the module docstring)."""

    def step(self, a: np.ndarray) -> np.ndarray:
        d = self.decay_bits
        act = np.left_shift(a.astype(np.int64), ACT_SHIFT)
        bias = np.left_shift(self.bias, ACT_SHIFT)
        vth = np.left_shift(self.vth, VTH_SHIFT)
        xr = self.x - self.p * vth                               # the half reset, one step late
        x = self.sat(mul(self.cos_decay, xr, d) - mul(self.sin_decay, self.y, d) + act + bias)
        y = self.sat(mul(self.sin_decay, xr, d) + mul(self.cos_decay, self.y, d))
        s = x > vth
        self.x[:] = x
        self.y[:] = y
        self.p[:] = s
        return s


@lava_types
@implements(proc=CSILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyCsilifModelFloat(NeuronModel):
    """Float C-SiLIF (folded parameters), numpy float64."""

    def step(self, a: np.ndarray) -> np.ndarray:
        xr = self.x - self.p * self.vth
        x = self.cos_decay * xr - self.sin_decay * self.y + a + self.bias
        y = self.sin_decay * xr + self.cos_decay * self.y
        s = (x > self.vth).astype(float)
        self.x[:] = x
        self.y[:] = y
        self.p[:] = s
        return s
