"""Spike function with surrogate gradients (spec §1.3).

Forward (all kinds): ``s = Θ(x) = 1 if x > 0 else 0`` (strict ``>``), where ``x``
is the argument the neuron passes (e.g. ``u − θ``).

Backward, ``∂s/∂x`` replaced by a surrogate ``σ'(x)``:

- ``"boxcar"`` (default, DECOLLE-style, as in SpArch / SiLIF):
  ``σ'(x) = scale`` if ``−0.5 < x ≤ 0.5`` else ``0``; default ``scale = 1`` (height 1, width 1).
- ``"fast-sigmoid"`` (SuperSpike, Zenke & Ganguli 2018):
  ``σ'(x) = 1 / (scale·|x| + 1)²``; default ``scale = 10``.

The same derivative (:func:`surrogate_grad`) is used by the autograd function
:class:`SpikeFunction` (reference path) and by the hand-written BPTT kernels of the
neurons (fast path), so both paths have identical gradient semantics.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor

SURROGATES: tuple[str, ...] = ("boxcar", "fast-sigmoid")
DEFAULT_SCALE: dict[str, float] = {"boxcar": 1.0, "fast-sigmoid": 10.0}
_ALIASES = {"box": "boxcar", "box-car": "boxcar", "fast_sigmoid": "fast-sigmoid", "fastsigmoid": "fast-sigmoid",
            "superspike": "fast-sigmoid"}


def resolve_surrogate(name: str, scale: float | None = None) -> tuple[str, float]:
    """Canonical surrogate name and its scale (``None`` → the kind's default)."""
    kind = _ALIASES.get(name.lower(), name.lower())
    if kind not in SURROGATES:
        raise ValueError(f"unknown surrogate {name!r}; choose one of {', '.join(SURROGATES)}")
    return kind, float(DEFAULT_SCALE[kind] if scale is None else scale)


def surrogate_grad(x: Tensor, kind: str = "boxcar", scale: float = 1.0) -> Tensor:
    """Surrogate derivative ``σ'(x)`` elementwise (see module docstring); a new tensor."""
    return surrogate_grad_(x.clone(memory_format=torch.contiguous_format), kind, scale)


def surrogate_grad_(x: Tensor, kind: str = "boxcar", scale: float = 1.0) -> Tensor:
    """In-place :func:`surrogate_grad`: overwrites and returns ``x`` (a temporary)."""
    if kind == "boxcar":
        # 1[x > −0.5] − 1[x > 0.5] == 1 on (−0.5, 0.5]; float-output comparisons are the fast CPU path
        above = torch.gt(x, x.new_full((), 0.5), out=torch.empty_like(x))
        torch.gt(x, x.new_full((), -0.5), out=x)
        x.sub_(above)
        return x if scale == 1.0 else x.mul_(scale)
    if kind == "fast-sigmoid":
        return x.abs_().mul_(scale).add_(1.0).pow_(-2)
    raise ValueError(f"unknown surrogate {kind!r}")


# ATen runs elementwise ops on fewer elements than its grain size (32768) on the calling
# thread: no thread wake-up, which costs milliseconds on a busy machine.
_SERIAL_ELEMS = 32767


def surrogate_grads_reversed(v: Tensor, gain: float, offset: float, kind: str, scale: float,
                             chunk_elems: int = _SERIAL_ELEMS) -> Iterator[Tensor]:
    """``d Θ(gain·v_t − offset) / d v_t`` (surrogate) for ``t = T−1, …, 0`` of a time-major ``v[T, …]``.

    Computed in chunks of at most ``chunk_elems`` elements (at least one step) as the
    backward loop walks back in time: small temporaries, no full-size allocation.
    """
    T = v.shape[0]
    k = max(1, chunk_elems // max(1, v[0].numel()))
    for end in range(T, 0, -k):
        start = max(0, end - k)
        arg = v[start:end] - offset if gain == 1.0 else torch.mul(v[start:end], gain).sub_(offset)
        g = surrogate_grad_(arg, kind, scale)
        if gain != 1.0:
            g.mul_(gain)
        yield from reversed(g.unbind(0))


def heaviside(x: Tensor) -> Tensor:
    """``Θ(x)`` = 1.0 where ``x > 0`` else 0.0, in ``x``'s dtype."""
    return torch.gt(x, x.new_zeros(()), out=torch.empty_like(x, memory_format=torch.contiguous_format))


class SpikeFunction(torch.autograd.Function):
    """``Θ(x)`` forward, ``grad · σ'(x)`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, kind: str, scale: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.kind, ctx.scale = kind, scale
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * surrogate_grad(x, ctx.kind, ctx.scale), None, None


SpikeFn = Callable[[Tensor], Tensor]


def make_spike_fn(kind: str = "boxcar", scale: float | None = None) -> SpikeFn:
    """A one-argument spike function ``x ↦ Θ(x)`` with the chosen surrogate gradient."""
    kind, scale = resolve_surrogate(kind, scale)

    def spike(x: Tensor) -> Tensor:
        return SpikeFunction.apply(x, kind, scale)

    spike.kind, spike.scale = kind, scale  # type: ignore[attr-defined]
    return spike


boxcar_spike: SpikeFn = make_spike_fn("boxcar")
