"""RF (resonate-and-fire, model.net type ``RF``): Process, ``fixed_pt`` and ``floating_pt`` models.

Our own kind, not Lava's ``lava.proc.rf.RF`` (which spikes on a phase crossing, never resets and
takes separate real and imaginary inputs). Vars, model.net keys and ``LavaPyType`` s come from
``silava.core.kinds.KINDS["RF"]`` (:mod:`.base`); the two steps below are written here.

Integer step (``fixed_pt``; docs/fixed_point.md §3) with ``A = a << 6``, ``B = bias << 6``,
``VTH = vth << 6``, ``D = decay_bits``, each product truncated toward zero separately
(``mul(k, x, D) = sign(k·x)·(|k·x| >> D)``, ``sat`` = clip to ±(2^23 − 1)); the reset subtracts VTH
after the rotation::

    X' = sat( mul(cos_decay, X, D) − mul(sin_decay, Y, D) − P·VTH + A + B )
    Y' = sat( mul(sin_decay, X, D) + mul(cos_decay, Y, D) )
    s  = X' > VTH ;  P ← s

Float (folded) step (``floating_pt``; ``cos_decay`` = re, ``sin_decay`` = im, ``a`` = the float
Dense output ``dt·W'x``, ``bias`` the folded ``dt·c``, ``vth`` = 1)::

    x_t = re·x − im·y − p·vth + a + bias ;  y_t = im·x + re·y ;  s_t = x_t > vth ;  p ← s_t
"""
from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs.base import ACT_SHIFT, VTH_SHIFT, NeuronModel, NeuronProcess, lava_types, mul, sat


class RF(NeuronProcess, kind="RF"):
    """Resonate-and-fire neurons: state ``x`` = Re u, ``y`` = Im u, ``p`` = previous spike.

    ``fixed_pt``: ``cos_decay`` = rnd(re·2^D), ``sin_decay`` = rnd(im·2^D), ``vth`` = vThMant, ``bias`` in
    input units, ``decay_bits``, ``state_frac_bits``. ``floating_pt``: the float group's ``re, im,
    threshold, bias``.
    """


@lava_types
@implements(proc=RF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRfModelFixed(NeuronModel):
    """Integer RF (int64 numpy, the equations of the module docstring)."""

    def step(self, a: np.ndarray) -> np.ndarray:
        d = self.decay_bits
        act = np.left_shift(a.astype(np.int64), ACT_SHIFT)
        bias = np.left_shift(self.bias, ACT_SHIFT)
        vth = np.left_shift(self.vth, VTH_SHIFT)
        x = sat(mul(self.cos_decay, self.x, d) - mul(self.sin_decay, self.y, d) - self.p * vth + act + bias)
        y = sat(mul(self.sin_decay, self.x, d) + mul(self.cos_decay, self.y, d))
        s = x > vth
        self.x[:] = x
        self.y[:] = y
        self.p[:] = s
        return s


@lava_types
@implements(proc=RF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRfModelFloat(NeuronModel):
    """Float RF (folded parameters), numpy float64."""

    def step(self, a: np.ndarray) -> np.ndarray:
        x = self.cos_decay * self.x - self.sin_decay * self.y - self.p * self.vth + a + self.bias
        y = self.sin_decay * self.x + self.cos_decay * self.y
        s = (x > self.vth).astype(float)
        self.x[:] = x
        self.y[:] = y
        self.p[:] = s
        return s
