"""HAS-8 fusion blocks: an SNN path and an ANN path in parallel on the same input (neurons.md §9.1).

For an input ``x[B, C, H, W]`` (conv block) or ``x[B, F]`` (linear block)::

    ANN(x)  = ReLU(BN(op_a(x)))
    SNN(x)  = decode(neuron(BN(op_s(encode(x)))))      encode: x → planes [T=8, B, ...] (bit-plane, MSB first)
                                                       op_s and BN run on all T·B planes; neuron over T
    y = ANN(x) + SNN(x)    (path "fusion")  |  ANN(x)  (path "ann")  |  SNN(x)  (path "snn")

``op`` is a bias-free ``Conv2d(k, stride, padding)`` or ``Linear``; BatchNorm of the SNN path takes
its statistics over all T·B planes (as SpArch's over B·T rows). ``encode`` is
``bitplane_encode(to_level_units(x, rescale))`` (:mod:`.encoding`): ``rescale="none"`` for an
input already in [0, 1] (the stem, on images / 255), ``"sample"`` (per-sample min-max) elsewhere.
Both paths give non-negative outputs (ReLU; decoded values in [0, 1]).
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from silava.core.bitplane import BITS, DECODERS, RESCALES

from .encoding import bitplane_encode, decode, resolve_surrogate, to_level_units
from .neuron import BitNeuron

PATHS = ("fusion", "ann", "snn")
OPS = ("conv", "linear")


class FusionBlock(nn.Module):
    """One fusion block (module docstring). ``record=True`` returns the intermediate tensors too."""

    def __init__(self, op: str, c_in: int, c_out: int, *, kernel: int = 3, stride: int = 1,
                 padding: int | None = None, path: str = "fusion", rescale: str = "sample",
                 neuron: str = "lif", tau: float = 2.0, surrogate: str = "fourier",
                 surrogate_param: float | None = None, rescale_grad: bool = True,
                 decoder: str = "bitplane", bits: int = BITS) -> None:
        super().__init__()
        if op not in OPS:
            raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
        if path not in PATHS:
            raise ValueError(f"path must be one of {', '.join(PATHS)}, got {path!r}")
        if rescale not in RESCALES:
            raise ValueError(f"rescale must be one of {', '.join(RESCALES)}, got {rescale!r}")
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")
        self.op, self.path = op, path
        self.c_in, self.c_out = int(c_in), int(c_out)
        self.kernel, self.stride = int(kernel), int(stride)
        self.padding = self.kernel // 2 if padding is None else int(padding)
        self.rescale, self.decoder, self.bits = rescale, decoder, int(bits)
        self.surrogate, self.surrogate_param = resolve_surrogate(surrogate, surrogate_param)
        self.rescale_grad = bool(rescale_grad)
        if path in ("fusion", "ann"):
            self.ann_op = self._make_op()
            self.ann_bn = self._make_bn()
        if path in ("fusion", "snn"):
            self.snn_op = self._make_op()
            self.snn_bn = self._make_bn()
            self.neuron = BitNeuron(neuron, tau)

    def _make_op(self) -> nn.Module:
        if self.op == "conv":
            return nn.Conv2d(self.c_in, self.c_out, self.kernel, stride=self.stride, padding=self.padding, bias=False)
        return nn.Linear(self.c_in, self.c_out, bias=False)

    def _make_bn(self) -> nn.Module:
        return nn.BatchNorm2d(self.c_out) if self.op == "conv" else nn.BatchNorm1d(self.c_out)

    @property
    def has_ann(self) -> bool:
        return self.path in ("fusion", "ann")

    @property
    def has_snn(self) -> bool:
        return self.path in ("fusion", "snn")

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape (without batch) for an input shape ``(C, H, W)`` or ``(F,)``."""
        if self.op == "linear":
            return (self.c_out,)
        _, h, w = in_shape
        k, s, p = self.kernel, self.stride, self.padding
        return (self.c_out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)

    def encode(self, x: Tensor) -> Tensor:
        """Planes ``[T, B, ...]`` of the block input."""
        return bitplane_encode(to_level_units(x, self.rescale, self.bits), self.surrogate, self.surrogate_param,
                               rescale_grad=self.rescale_grad, bits=self.bits)

    def snn_current(self, planes: Tensor) -> Tensor:
        """``BN(op_s(planes))`` over all T·B planes, shaped ``[T, B, ...]``."""
        T, B = planes.shape[:2]
        z = self.snn_bn(self.snn_op(planes.reshape(T * B, *planes.shape[2:])))
        return z.reshape(T, B, *z.shape[1:])

    def forward(self, x: Tensor, record: bool = False) -> Tensor | tuple[Tensor, dict[str, Any]]:
        rec: dict[str, Any] = {}
        y: Tensor | None = None
        if self.has_ann:
            a = F.relu(self.ann_bn(self.ann_op(x)))
            rec["ann"] = a
            y = a
        if self.has_snn:
            planes = self.encode(x)
            current = self.snn_current(planes)
            spikes = self.neuron(current)
            d = decode(spikes, self.decoder)
            rec.update(planes=planes, current=current, spikes=spikes, snn=d)
            y = d if y is None else y + d
        assert y is not None
        return (y, rec) if record else y

    def extra_repr(self) -> str:
        geo = f", k={self.kernel}, stride={self.stride}, pad={self.padding}" if self.op == "conv" else ""
        return (f"{self.op} {self.c_in}->{self.c_out}{geo}, path={self.path}, rescale={self.rescale}, "
                f"surrogate={self.surrogate}({self.surrogate_param:g}), rescale_grad={self.rescale_grad}, "
                f"decoder={self.decoder}")


__all__ = ["FusionBlock", "PATHS", "OPS"]
