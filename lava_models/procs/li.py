"""LI readout (model.net type ``LI``): Process, ``fixed_pt`` and ``floating_pt`` models.

No threshold and no spikes: the state ``V`` is the output, sent every step as a graded
payload on ``s_out`` (int under ``fixed_pt``, float under ``floating_pt``).

Integer step (``fixed_pt``, computed by ``hwsim.kernels.KERNELS["LI"]``; docs/fixed_point.md §3),
``A = a << 6``, ``B = bias << 6``, ``D = decay_bits``::

    V = sat( mul(alpha, V, D) + A + B )

Float (folded) step (``floating_pt``; ``a`` = the float Dense output ``(1−α)W'h``,
``bias`` the folded ``(1−α)c``)::

    v_t = α·v + a + bias
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.process import LogConfig
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs import FloatModel, KernelModelFixed, NeuronProcess


class LIReadout(NeuronProcess):
    """Leaky-integrator readout (state ``v``; output ``v`` on ``s_out`` every step).

    ``fixed_pt``: ``alpha`` on the 2^D grid, ``bias`` in input units.
    ``floating_pt``: the float group's ``alpha, bias``.
    """

    TYPE = "LI"
    STATES = ("v",)
    PARAMS = ("alpha", "bias")
    FILE_KEYS = {"alpha": "alpha", "bias": "bias", "decay_bits": "decayBits", "state_frac_bits": "stateFracBits"}
    FLOAT_KEYS = {"alpha": "alpha", "bias": "bias"}

    def __init__(self, *, shape: tuple[int, ...], alpha: Any, bias: Any = 0, decay_bits: int = 12,
                 state_frac_bits: int = 12, reset_interval: int = 0, reset_offset: int = 0, v: Any = 0,
                 name: Optional[str] = None, log_config: Optional[LogConfig] = None) -> None:
        super().__init__(shape=shape, reset_interval=reset_interval, reset_offset=reset_offset, name=name,
                         log_config=log_config, alpha=alpha, bias=bias, decay_bits=decay_bits,
                         state_frac_bits=state_frac_bits, v=v)


@implements(proc=LIReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLiModelFixed(KernelModelFixed):
    """Integer LI: one ``hwsim.kernels.KERNELS['LI']`` step per time step; sends V."""

    PROC = LIReadout
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    alpha: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=25)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    decay_bits: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=5)
    state_frac_bits: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=5)


@implements(proc=LIReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLiModelFloat(FloatModel):
    """Float LI readout (folded parameters), numpy float64; sends v."""

    PROC = LIReadout
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    alpha: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    decay_bits: np.ndarray = LavaPyType(np.ndarray, float)
    state_frac_bits: np.ndarray = LavaPyType(np.ndarray, float)

    def step(self, a: np.ndarray) -> np.ndarray:
        v = self.alpha * self.v + a + self.bias
        self.v[:] = v
        return v
