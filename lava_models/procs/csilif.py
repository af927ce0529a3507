"""CSILIF (C-SiLIF): Process, ``fixed_pt`` and ``floating_pt`` models.

Integer step (``fixed_pt``, computed by ``hwsim.kernels.KERNELS["CSILIF"]``; docs/fixed_point.md §3),
with ``A = a << 6``, ``B = bias << 6``, ``VTH = vth << 6``, ``D = decay_bits``, each product
truncated toward zero separately::

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

from typing import Any, Optional

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.process import LogConfig
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs import FloatModel, KernelModelFixed, NeuronProcess


class CSILIF(NeuronProcess):
    """C-SiLIF neurons (state ``x`` = Re u, ``y`` = Im u, ``p`` = previous spike).

    ``fixed_pt``: ``cos_decay`` = rnd(r cosφ·2^D), ``sin_decay`` = rnd(r sinφ·2^D),
    ``vth`` = vThMant, ``bias`` in input units. ``floating_pt``: the float group's
    ``lam_re, lam_im, threshold, bias``.
    """

    TYPE = "CSILIF"
    STATES = ("x", "y", "p")
    PARAMS = ("cos_decay", "sin_decay", "vth", "bias")
    FILE_KEYS = {"cos_decay": "cosDecay", "sin_decay": "sinDecay", "vth": "vThMant", "bias": "bias",
                 "decay_bits": "decayBits", "state_frac_bits": "stateFracBits"}
    FLOAT_KEYS = {"cos_decay": "lam_re", "sin_decay": "lam_im", "vth": "threshold", "bias": "bias"}

    def __init__(self, *, shape: tuple[int, ...], cos_decay: Any, sin_decay: Any, vth: Any, bias: Any = 0,
                 decay_bits: int = 12, state_frac_bits: int = 12, reset_interval: int = 0,
                 reset_offset: int = 0, x: Any = 0, y: Any = 0, p: Any = 0, name: Optional[str] = None,
                 log_config: Optional[LogConfig] = None) -> None:
        super().__init__(shape=shape, reset_interval=reset_interval, reset_offset=reset_offset, name=name,
                         log_config=log_config, cos_decay=cos_decay, sin_decay=sin_decay, vth=vth, bias=bias,
                         decay_bits=decay_bits, state_frac_bits=state_frac_bits, x=x, y=y, p=p)


@implements(proc=CSILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyCsilifModelFixed(KernelModelFixed):
    """Integer C-SiLIF: one ``hwsim.kernels.KERNELS['CSILIF']`` step per time step."""

    PROC = CSILIF
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    x: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    y: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    p: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)
    cos_decay: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=26)
    sin_decay: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=26)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=17)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=13)
    decay_bits: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=5)
    state_frac_bits: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=5)


@implements(proc=CSILIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyCsilifModelFloat(FloatModel):
    """Float C-SiLIF (folded parameters), numpy float64."""

    PROC = CSILIF
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    x: np.ndarray = LavaPyType(np.ndarray, float)
    y: np.ndarray = LavaPyType(np.ndarray, float)
    p: np.ndarray = LavaPyType(np.ndarray, float)
    cos_decay: np.ndarray = LavaPyType(np.ndarray, float)
    sin_decay: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    decay_bits: np.ndarray = LavaPyType(np.ndarray, float)
    state_frac_bits: np.ndarray = LavaPyType(np.ndarray, float)

    def step(self, a: np.ndarray) -> np.ndarray:
        xr = self.x - self.p * self.vth
        x = self.cos_decay * xr - self.sin_decay * self.y + a + self.bias
        y = self.sin_decay * xr + self.cos_decay * self.y
        s = (x > self.vth).astype(float)
        self.x[:] = x
        self.y[:] = y
        self.p[:] = s
        return s
