"""SILIF (SiLIF; also AdLIF / cAdLIF): Process, ``fixed_pt`` and ``floating_pt`` models.

Integer step (``fixed_pt``, computed by ``hwsim.kernels.KERNELS["SILIF"]``; docs/fixed_point.md §3),
with ``A = a << 6``, ``B = bias << 6``, ``VTH = vth << 6``, ``D = decay_bits``::

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

from typing import Any, Optional

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.process import LogConfig
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs import FloatModel, KernelModelFixed, NeuronProcess


class SILIF(NeuronProcess):
    """SiLIF neurons (state ``u``, ``w``, ``p`` = previous spike).

    ``fixed_pt``: integer parameters (model.net keys in :attr:`FILE_KEYS`): ``alpha``,
    ``beta`` on the 2^D grid, ``coupling`` = a·2^D, ``spike_adapt`` = b·S (state units),
    ``vth`` = vThMant, ``bias`` in input units. ``floating_pt``: the float group's
    ``alpha, beta, a, b, threshold, bias``.
    """

    TYPE = "SILIF"
    STATES = ("u", "w", "p")
    PARAMS = ("alpha", "beta", "coupling", "spike_adapt", "vth", "bias")
    FILE_KEYS = {"alpha": "alpha", "beta": "beta", "coupling": "coupling", "spike_adapt": "spikeAdapt",
                 "vth": "vThMant", "bias": "bias", "decay_bits": "decayBits", "state_frac_bits": "stateFracBits"}
    FLOAT_KEYS = {"alpha": "alpha", "beta": "beta", "coupling": "a", "spike_adapt": "b",
                  "vth": "threshold", "bias": "bias"}

    def __init__(self, *, shape: tuple[int, ...], alpha: Any, beta: Any, coupling: Any, spike_adapt: Any,
                 vth: Any, bias: Any = 0, decay_bits: int = 12, state_frac_bits: int = 12,
                 reset_interval: int = 0, reset_offset: int = 0, u: Any = 0, w: Any = 0, p: Any = 0,
                 name: Optional[str] = None, log_config: Optional[LogConfig] = None) -> None:
        super().__init__(shape=shape, reset_interval=reset_interval, reset_offset=reset_offset, name=name,
                         log_config=log_config, alpha=alpha, beta=beta, coupling=coupling,
                         spike_adapt=spike_adapt, vth=vth, bias=bias, decay_bits=decay_bits,
                         state_frac_bits=state_frac_bits, u=u, w=w, p=p)


@implements(proc=SILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySilifModelFixed(KernelModelFixed):
    """Integer SILIF: one ``hwsim.kernels.KERNELS['SILIF']`` step per time step."""

    PROC = SILIF
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    u: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    w: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    p: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)
    alpha: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=25)
    beta: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=25)
    coupling: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=26)
    spike_adapt: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=17)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    decay_bits: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=5)
    state_frac_bits: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=5)


@implements(proc=SILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySilifModelFloat(FloatModel):
    """Float SILIF (folded parameters), numpy float64."""

    PROC = SILIF
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    w: np.ndarray = LavaPyType(np.ndarray, float)
    p: np.ndarray = LavaPyType(np.ndarray, float)
    alpha: np.ndarray = LavaPyType(np.ndarray, float)
    beta: np.ndarray = LavaPyType(np.ndarray, float)
    coupling: np.ndarray = LavaPyType(np.ndarray, float)
    spike_adapt: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    decay_bits: np.ndarray = LavaPyType(np.ndarray, float)
    state_frac_bits: np.ndarray = LavaPyType(np.ndarray, float)

    def step(self, a: np.ndarray) -> np.ndarray:
        w = self.beta * self.w + self.coupling * self.u + self.spike_adapt * self.p
        u = self.alpha * (self.u - self.p * self.vth) - (1.0 - self.alpha) * w + a + self.bias
        s = (u > self.vth).astype(float)
        self.w[:] = w
        self.u[:] = u
        self.p[:] = s
        return s
