"""The two-filter readout (model.net type ``LI2``): Process, ``fixed_pt`` and ``floating_pt`` models.

No threshold and no spikes: ``V`` is the output, sent every step as a graded payload on ``s_out``.
Vars, keys and ``LavaPyType`` s come from ``silava.core.kinds.KINDS["LI2"]`` (:mod:`.base`).

Integer step (``fixed_pt``), ``A = a << 6``, ``B = bias << 6``::

    U = sat( mul(alpha, U, D) + A + B )
    V = sat( mul(beta, V, D) + mul(2^D − beta, U, D) )

Float (folded) step (``floating_pt``): ``u = α·u + a + bias``, ``v = β·v + (1 − β)·u``.
"""
from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs.base import ACT_SHIFT, NeuronModel, NeuronProcess, lava_types, mul, sat


class LI2Readout(NeuronProcess, kind="LI2"):
    """Two-filter leaky-integrator readout: states ``u``, ``v``; ``v`` sent on ``s_out`` every step."""


@lava_types
@implements(proc=LI2Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLi2ModelFixed(NeuronModel):
    """Integer two-filter readout (int64 numpy); sends V."""

    def step(self, a: np.ndarray) -> np.ndarray:
        d = self.decay_bits
        u = sat(mul(self.alpha, self.u, d) + np.left_shift(a.astype(np.int64), ACT_SHIFT)
                + np.left_shift(self.bias, ACT_SHIFT))
        v = sat(mul(self.beta, self.v, d) + mul((np.int64(1) << d) - self.beta, u, d))
        self.u[:] = u
        self.v[:] = v
        return v


@lava_types
@implements(proc=LI2Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLi2ModelFloat(NeuronModel):
    """Float two-filter readout (folded parameters); sends v."""

    def step(self, a: np.ndarray) -> np.ndarray:
        u = self.alpha * self.u + a + self.bias
        v = self.beta * self.v + (1.0 - self.beta) * u
        self.u[:] = u
        self.v[:] = v
        return v
