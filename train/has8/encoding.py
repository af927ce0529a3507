"""Bit-plane encoder with periodic surrogate gradients, and the decoders (HAS-8, neurons.md §9).

Forward (exact and binary; the same code as :mod:`silava.core.bitplane`, MSB first)::

    x  ∈ [0, 2^n − 1]  (level units, n = bits = 8; the caller rescales, see :func:`to_level_units`)
    q  = clip(floor(x + 1/2), 0, 2^n − 1)
    B_t = floor(q / 2^k) mod 2,   k = n − 1 − t   (time step t carries significance 2^k; t = 0 is the MSB)

Backward: ``∂B_t/∂x`` is replaced by the derivative of a smooth periodic approximation of the
square wave ``bit_k(y) = floor(y / c_k) mod 2`` with ``c_k = 2^k``, evaluated at ``y = x + 1/2``
(the value that is floored, so the approximation switches where the rounded plane does)::

    SigSine(α)     bit ≈ σ(α sin(π y / c_k))                 ∂ = σ(u)(1 − σ(u)) · (απ / c_k) · cos(π y / c_k)
    TanhSine(α)    bit ≈ ½ (1 + tanh(u)),  u = α sin(π y/c_k) ∂ = ½ sech²(u) · (απ / c_k) · cos(π y / c_k)
    FourierSine(H) bit ≈ ½ − (2/π) Σ_{n odd ≤ 2H−1} sin(nπ y / c_k) / n
                                                             ∂ = −(2 / c_k) Σ_{n odd ≤ 2H−1} cos(nπ y / c_k)

(α < 0: the sigmoid is ≈ 1 where bit k is 1; defaults α = −10, H = 5 as the reference.) ``"none"``
passes no gradient through the encoder (an ablation: the SNN path still learns its own weights,
but no gradient reaches the layers before it through the spikes). The
reference code adds a constant ½ to the FourierSine *gradient*; the derivative of the series has
no constant term, so we leave it out (docs/has8.md).

Order-aware gradient rescale (switchable, on by default): the gradient through plane k is
multiplied by ``r_k = k · 2^(k − (n−1))`` — for n = 8 and k = 0 (LSB) … 7 (MSB):
``0, 1/64, 2/32, 3/16, 4/8, 5/4, 6/2, 7`` (the reference code's factor; a secondary summary writes
``k · 2^(7−k)``, which would amplify the least significant planes instead). The surrogate slope
of plane k scales as ``1/c_k``, so without the rescale the LSB dominates the gradient although it
carries 1/128 of the MSB's weight in the decoded value.

Shapes: any input ``x[B, ...]`` gives planes ``[n, B, ...]`` — ``(T, B, F)`` for linear blocks and
``(T, B, C, H, W)`` for conv blocks (the factors broadcast over ``x.ndim`` trailing axes).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from silava.core.bitplane import BITS, DECODERS, RESCALES, check_bits

SURROGATES = ("sigsine", "tanhsine", "fourier", "none")
#: default parameter per surrogate: α of SigSine/TanhSine, the number of harmonics of FourierSine
DEFAULT_PARAM: dict[str, float] = {"sigsine": -10.0, "tanhsine": -10.0, "fourier": 5, "none": 0.0}
_ALIASES = {"fouriersine": "fourier", "sig-sine": "sigsine", "tanh-sine": "tanhsine", "sig_sine": "sigsine",
            "tanh_sine": "tanhsine", "fourier-sine": "fourier", "fourier_sine": "fourier"}


def resolve_surrogate(name: str, param: float | None = None) -> tuple[str, float]:
    """Canonical surrogate name and its parameter (``None`` → the default)."""
    kind = _ALIASES.get(str(name).lower(), str(name).lower())
    if kind not in SURROGATES:
        raise ValueError(f"unknown encoder surrogate {name!r}; choose one of {', '.join(SURROGATES)}")
    value = DEFAULT_PARAM[kind] if param is None else param
    if kind == "none":
        return kind, 0.0
    if kind == "fourier":
        if isinstance(value, bool) or float(value) != int(value) or int(value) < 1:
            raise ValueError(f"FourierSine needs a whole number of harmonics >= 1, got {param!r}")
        return kind, int(value)
    if not math.isfinite(float(value)) or float(value) == 0.0:
        raise ValueError(f"{kind} needs a finite non-zero alpha, got {param!r}")
    return kind, float(value)


def rescale_factors(bits: int = BITS) -> list[float]:
    """``r_k = k · 2^(k − (bits−1))`` for k = 0 (LSB) … bits−1 (MSB)."""
    bits = check_bits(bits)
    return [k * 2.0 ** (k - (bits - 1)) for k in range(bits)]


def _time_view(values: list[float], like: Tensor, ndim: int) -> Tensor:
    """``values`` (one per plane, time order) as a ``[T, 1, …, 1]`` tensor broadcasting over ``ndim`` axes."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(-1, *([1] * ndim))


def surrogate_derivative(y: Tensor, c: Tensor, kind: str, param: float) -> Tensor:
    """``∂ bit/∂y`` of the smooth approximation (module docstring) for the plane periods ``c`` (broadcast)."""
    phase = torch.pi * y / c
    if kind == "fourier":
        total = torch.cos(phase)
        for n in range(3, 2 * int(param), 2):                                    # 3, 5, …, 2H − 1
            total += torch.cos(phase * n)
        return total.mul_(-2.0 / c)
    u = param * torch.sin(phase)
    slope = (param * torch.pi / c) * torch.cos(phase)
    if kind == "sigsine":
        sig = torch.sigmoid(u)
        return sig * (1 - sig) * slope
    if kind == "tanhsine":
        return 0.5 * (1 - torch.tanh(u) ** 2) * slope
    raise ValueError(f"unknown encoder surrogate {kind!r}")


class BitPlaneEncode(torch.autograd.Function):
    """Exact MSB-first bit planes forward, periodic surrogate (× order-aware rescale) backward."""

    @staticmethod
    def forward(ctx, x: Tensor, kind: str, param: float, rescale_grad: bool, bits: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.kind, ctx.param, ctx.rescale_grad, ctx.bits = kind, param, rescale_grad, bits
        top = (1 << bits) - 1
        q = torch.clamp(torch.floor(x.detach() + 0.5), 0, top).to(torch.int64)
        shifts = torch.arange(bits - 1, -1, -1, device=x.device).view(-1, *([1] * x.ndim))
        return ((q.unsqueeze(0) >> shifts) & 1).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        bits = ctx.bits
        sig = [float(2 ** (bits - 1 - t)) for t in range(bits)]               # c_k in time order
        c = _time_view(sig, x, x.ndim)
        g = surrogate_derivative(x.unsqueeze(0) + 0.5, c, ctx.kind, ctx.param)
        if ctx.rescale_grad:
            g = g * _time_view(rescale_factors(bits)[::-1], x, x.ndim)
        return (g * grad).sum(0), None, None, None, None


def bitplane_encode(x: Tensor, surrogate: str = "fourier", param: float | None = None, *,
                    rescale_grad: bool = True, bits: int = BITS) -> Tensor:
    """Planes ``[bits, *x.shape]`` of ``x`` in level units (``[0, 2^bits − 1]``); see the module docstring."""
    kind, value = resolve_surrogate(surrogate, param)
    if kind == "none":
        return BitPlaneEncode.apply(x.detach(), "fourier", 1, False, check_bits(bits))
    return BitPlaneEncode.apply(x, kind, value, bool(rescale_grad), check_bits(bits))


def to_level_units(x: Tensor, rescale: str = "sample", bits: int = BITS) -> Tensor:
    """``rescale(x) · (2^bits − 1)``, differentiable (autograd through the min-max):

    ``none``: clip to [0, 1]; ``sample``: min-max over each sample (axes 1…); ``tensor``: min-max over
    the whole tensor, batch included (the reference; a sample's code then depends on its batch).
    A constant sample or tensor maps to 0.
    """
    top = float((1 << check_bits(bits)) - 1)
    if rescale == "none":
        return torch.clamp(x, 0.0, 1.0) * top
    if rescale == "sample":
        dims: Any = tuple(range(1, x.ndim))
        lo, hi = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    elif rescale == "tensor":
        lo, hi = x.min(), x.max()
    else:
        raise ValueError(f"unknown rescale {rescale!r}; use one of {', '.join(RESCALES)}")
    span = hi - lo
    safe = torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, (x - lo) / safe, torch.zeros_like(x)) * top


def decode(spikes: Tensor, decoder: str = "bitplane") -> Tensor:
    """Spikes ``[T, B, ...]`` → values ``[B, ...]`` in [0, 1]: ``Σ_t 2^(T−1−t) s_t / (2^T − 1)`` or the rate."""
    if decoder == "rate":
        return spikes.mean(0)
    if decoder != "bitplane":
        raise ValueError(f"unknown decoder {decoder!r}; use one of {', '.join(DECODERS)}")
    T = spikes.shape[0]
    w = _time_view([2.0 ** (T - 1 - t) / ((1 << T) - 1) for t in range(T)], spikes, spikes.ndim - 1)
    return (w * spikes).sum(0)
