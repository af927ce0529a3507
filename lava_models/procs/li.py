"""LI readout (model.net type ``LI``): Process, ``fixed_pt`` and ``floating_pt`` models.

No threshold and no spikes: the state ``V`` is the output, sent every step as a graded
payload on ``s_out`` (int under ``fixed_pt``, float under ``floating_pt``). Vars, model.net
keys and ``LavaPyType`` s come from ``silava.core.kinds.KINDS["LI"]`` (:mod:`.base`); the two
steps below are written here.

Integer step (``fixed_pt``; docs/fixed_point.md §3) with ``A = a << 6``, ``B = bias << 6``,
``D = decay_bits``, ``mul(k, x, D) = sign(k·x)·(|k·x| >> D)``, ``sat`` = clip to ±(2^23 − 1)::

    V = sat( mul(alpha, V, D) + A + B )

Float (folded) step (``floating_pt``; ``a`` = the float Dense output ``(1−α)W'h``,
``bias`` the folded ``(1−α)c``)::

    v_t = α·v + a + bias
"""
from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs.base import ACT_SHIFT, NeuronModel, NeuronProcess, lava_types, mul


class LIReadout(NeuronProcess, kind="LI"):
    """Leaky-integrator readout: state ``v``, sent on ``s_out`` every step.

    ``fixed_pt``: ``alpha`` on the 2^D grid, ``bias`` in input units, ``decay_bits``,
    ``state_frac_bits``. ``floating_pt``: the float group's ``alpha, bias``.
    """


@lava_types
@implements(proc=LIReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLiModelFixed(NeuronModel):
    """Integer LI (int64 numpy); sends V."""

    def step(self, a: np.ndarray) -> np.ndarray:
        act = np.left_shift(a.astype(np.int64), ACT_SHIFT)
        bias = np.left_shift(self.bias, ACT_SHIFT)
        v = self.sat(mul(self.alpha, self.v, self.decay_bits) + act + bias)
        self.v[:] = v
        return v


@lava_types
@implements(proc=LIReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLiModelFloat(NeuronModel):
    """Float LI readout (folded parameters), numpy float64; sends v."""

    def step(self, a: np.ndarray) -> np.ndarray:
        v = self.alpha * self.v + a + self.bias
        self.v[:] = v
        return v
