"""LI — non-spiking leaky-integrator readout (spec §1.4; [SSM] ``ReadoutLayer``).

Per output unit, decay ``α`` initialised ``U[e^{−1/5}, e^{−1/25}] = U[0.8187, 0.9608]``
and clamped to the same interval in forward::

    v_t = α·v_{t−1} + (1 − α)·z_t

The module's output is the membrane ``v[B,T,C]`` (no spikes, no surrogate). The
network output ``Σ_t softmax(v_t)`` is formed by :class:`train.model.SpArchNet`.
``init_state="random"`` draws ``v_0 ~ U[0,1)`` (as the reference code).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from . import native
from .base import Neuron

ALPHA_RANGE = (math.exp(-1 / 5), math.exp(-1 / 25))


def _time_major(x: Tensor) -> Tensor:
    """``[B, T, H] → [T, B, H]`` contiguous (one copy)."""
    return x.transpose(0, 1).contiguous()


def _batch_major(x: Tensor) -> Tensor:
    """``[T, B, H] → [B, T, H]`` contiguous (one copy)."""
    return x.transpose(0, 1).contiguous()


def _sum_bt(x: Tensor) -> Tensor:
    """Sum over the time and batch axes of a time-major ``[T, B, H]`` tensor → ``[H]``."""
    return x.sum(dim=(0, 1))


def _shifted(X: Tensor, x0: Tensor) -> Tensor:
    """Previous-step values ``[x_0, X_0, …, X_{T−2}]`` of a time-major ``[T, B, H]`` tensor."""
    return torch.cat([x0.unsqueeze(0).expand_as(X[:1]), X[:-1]], dim=0)


def _grad_buffer(g: Tensor | None, like: Tensor) -> Tensor:
    """A writable contiguous gradient buffer: ``g`` copied, or zeros if ``g`` is None."""
    if g is None:
        return torch.zeros_like(like, memory_format=torch.contiguous_format)
    return torch.empty_like(like, memory_format=torch.contiguous_format).copy_(g)


class LIState(NamedTuple):
    v: Tensor


class LIParams(NamedTuple):
    alpha: Tensor


def step(z_t: Tensor, state: LIState, params: LIParams, spike=None) -> tuple[Tensor, LIState]:
    """One LI step: ``v_t = α·v_{t−1} + (1 − α)·z_t``; returns ``(v_t, state)``."""
    (v,) = state
    (alpha,) = params
    v = alpha * v + (1 - alpha) * z_t
    return v, LIState(v)


class LIScan(torch.autograd.Function):
    """Fused time loop of :func:`step` on time-major ``z[T,B,C]`` (bit-identical forward).

    Backward: ``gv_t = ∂L/∂v_t + α·gv_{t+1}``, ``∂L/∂z_t = (1 − α)·gv_t``,
    ``∂L/∂α = Σ gv_t·(v_{t−1} − z_t)``.
    """

    @staticmethod
    def forward(ctx, Z, alpha, v0):  # type: ignore[override]
        Zs = (1 - alpha) * Z
        V = torch.empty_like(Z)
        v = v0
        for zs_t, v_t in zip(Zs.unbind(0), V.unbind(0)):
            torch.mul(alpha, v, out=v_t)
            v_t.add_(zs_t)
            v = v_t
        ctx.save_for_backward(Z, alpha, v0, V)
        return V

    @staticmethod
    def backward(ctx, gV_ext):  # type: ignore[override]
        Z, alpha, v0, V = ctx.saved_tensors
        gV = _grad_buffer(gV_ext, V)
        gVv = gV.unbind(0)
        for t in range(V.shape[0] - 1, 0, -1):
            gVv[t - 1].addcmul_(alpha, gVv[t])
        need = ctx.needs_input_grad
        g_z = gV * (1 - alpha) if need[0] else None
        g_alpha = _sum_bt(gV * (_shifted(V, v0) - Z)) if need[1] else None
        g_v0 = alpha * gVv[0] if need[2] else None
        return g_z, g_alpha, g_v0


class LINativeScan(torch.autograd.Function):
    """:class:`LIScan` on batch-major ``z[B,T,C]`` in C (``li_forward`` / ``li_backward`` in ``fused.c``,
    float32 CPU): the same forward operations (``(1 − α)·z`` first, then ``α·v + ·``) and backward."""

    @staticmethod
    def forward(ctx, Z, alpha, v0):  # type: ignore[override]
        B, T, C = Z.shape
        Z, alpha = native.c(Z), native.c(alpha)
        v0 = native.c(v0.expand(B, C))
        oma = 1 - alpha
        Zs = oma * Z
        V = torch.empty_like(Z)
        native.call("li_forward", B, B * T * C, T, C, Zs, alpha, v0, V)
        ctx.save_for_backward(Z, alpha, oma, v0, V)
        ctx.set_materialize_grads(False)
        return V

    @staticmethod
    def backward(ctx, gV):  # type: ignore[override]
        Z, alpha, oma, v0, V = ctx.saved_tensors
        B, T, C = Z.shape
        gz, acc, g0, work = torch.empty_like(Z), Z.new_empty(B, C), Z.new_empty(B, C), Z.new_empty(B, C)
        native.call("li_backward", B, B * T * C, T, C, alpha, oma, Z, v0, V, native.c(gV), Z.new_zeros(C), gz, acc, g0, work)
        need = ctx.needs_input_grad
        return gz if need[0] else None, acc.sum(0) if need[1] else None, g0 if need[2] else None


class LI(Neuron):
    """Leaky-integrator readout layer (output = membrane ``v``); see the module docstring."""

    type_name = "li"
    kind = "LI"
    linear_init = "default"
    spiking = False
    State = LIState
    state_names = ("v",)

    def __init__(self, size: int, **kw) -> None:
        super().__init__(size, **kw)
        self.alpha = nn.Parameter(torch.empty(size).uniform_(*ALPHA_RANGE))

    def params(self, bias: Tensor | None = None) -> LIParams:
        return LIParams(self.alpha.clamp(*ALPHA_RANGE))

    def step(self, I_t: Tensor, state: LIState, params: LIParams) -> tuple[Tensor, LIState]:
        return step(I_t, state, params)

    def _scan(self, I: Tensor, p: LIParams, state0: LIState) -> tuple[Tensor, dict[str, Tensor]]:
        if native.usable(I, *p, *state0):
            out = LINativeScan.apply(I, *p, *state0)
            return out, {"v": out}
        V = LIScan.apply(_time_major(I), *p, *state0)
        out = _batch_major(V)
        return out, {"v": out}

    def _discrete(self) -> dict[str, Tensor]:
        return self.params()._asdict()
