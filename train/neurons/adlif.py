"""AdLIF and cAdLIF neurons (spec §2); their update is also SiLIF's (spec §3.3).

State per neuron: membrane ``u``, adaptation ``w``, previous spike ``s``.
Update at each step, in this order (the new ``w_t`` is used in the ``u`` update)::

    w_t = β·w_{t−1} + a·u_{t−1} + b·s_{t−1}
    u_t = α·(u_{t−1} − s_{t−1}) + (1 − α)·(I_t − w_t)     # reset by subtraction (θ = 1)
    s_t = Θ(u_t − 1)                                       # surrogate on u_t − 1

Gradients flow through ``s_{t−1}`` in the reset and adaptation terms (not detached, §1.3).

Trainable per-neuron parameters, directly in the discrete domain, initialised
uniformly over their range and clamped to it at every forward:

========  ===========================  ==================
param      AdLIF (§2.1)                 cAdLIF (§2.2)
========  ===========================  ==================
``α``      [e^{−1/5}, e^{−1/25}]        [0.36, 0.96]
``β``      [e^{−1/30}, e^{−1/120}]      [0.96, 0.99]
``a``      [−1, 1]                      [0, 1]
``b``      [0, 2]                       [0, 2]
========  ===========================  ==================

Layer ``W`` init: PyTorch default for AdLIF, Xavier-uniform for cAdLIF (§1.1).
"""
from __future__ import annotations

import math
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from . import native
from .base import Neuron
from .surrogate import SpikeFn, boxcar_spike, surrogate_grads_reversed


class AdLIFState(NamedTuple):
    u: Tensor
    w: Tensor
    s: Tensor


class AdLIFParams(NamedTuple):
    alpha: Tensor
    beta: Tensor
    a: Tensor
    b: Tensor


def step(I_t: Tensor, state: AdLIFState, params: AdLIFParams,
         spike: SpikeFn = boxcar_spike) -> tuple[Tensor, AdLIFState]:
    """One AdLIF / cAdLIF / SiLIF step::

        w_t = β·w_{t−1} + a·u_{t−1} + b·s_{t−1}
        u_t = α·(u_{t−1} − s_{t−1}) + (1 − α)·(I_t − w_t)
        s_t = Θ(u_t − 1)
    """
    u, w, s = state
    alpha, beta, a, b = params
    w = beta * w + a * u + b * s
    u = alpha * (u - s) + (1 - alpha) * (I_t - w)
    s = spike(u - 1.0)
    return s, AdLIFState(u, w, s)


class AdLIFScan(torch.autograd.Function):
    """Fused time loop of :func:`step` over ``I[B,T,H]``; returns ``S[B,T,H]``, ``U``, ``W`` (``[B,T,H]`` views).

    Forward performs exactly the step function's floating-point operations (so the
    spikes are bit-identical) into preallocated buffers, without an autograd graph;
    independent products of a step are computed by one broadcast multiplication.
    Backward is hand-written BPTT with the adjoints ``g·`` (``σ'`` = surrogate)::

        gs_t = ∂L/∂s_t + b·gw_{t+1} − α·gu_{t+1}
        gu_t = ∂L/∂u_t + α·gu_{t+1} + a·gw_{t+1} + gs_t·σ'(u_t − 1)
        gw_t = ∂L/∂w_t + β·gw_{t+1} − (1 − α)·gu_t
        ∂L/∂I_t = (1 − α)·gu_t
        ∂L/∂α = Σ gu_t·((u_{t−1} − s_{t−1}) − (I_t − w_t));  ∂L/∂β = Σ gw_t·w_{t−1}
        ∂L/∂a = Σ gw_t·u_{t−1};  ∂L/∂b = Σ gw_t·s_{t−1}

    Saved for backward: the input and the states ``Z[t] = (u_t, w_t, s_t)``; parameter
    gradients are accumulated per step into ``[·, B, H]`` buffers (no full-size
    temporaries; ``Σ gu_t·w_t`` is formed from the ``Σ gu_t·(u, w, s)_{t−1}`` sums via
    ``w_t = β·w_{t−1} + a·u_{t−1} + b·s_{t−1}``), the surrogate derivative in chunks.

    float32 on the CPU runs the same loops in C (:mod:`.native`, ``adlif_forward`` /
    ``adlif_backward`` in ``fused.c``) when they are available.
    """

    @staticmethod
    def forward(ctx, I, alpha, beta, a, b, u0, w0, s0, kind: str, scale: float):  # type: ignore[override]
        ctx.native = kind in native.SURROGATE_CODES and native.usable(I, alpha, beta, a, b, u0, w0, s0)
        if ctx.native:
            return AdLIFScan._native_forward(ctx, I, alpha, beta, a, b, u0, w0, s0, kind, scale)
        B, T, H = I.shape
        one = I.new_ones(())
        oma = 1 - alpha
        Z = I.new_empty(T + 1, 3, B, H)  # Z[t] = (u_t, w_t, s_t); Z[0] = initial state
        Dt = I.new_empty(2, B, H)  # (u_{t−1} − s_{t−1}, I_t − w_t) of the current step
        Z[0, 0].copy_(u0)
        Z[0, 1].copy_(w0)
        Z[0, 2].copy_(s0)
        c_z = torch.stack([a, beta, b]).unsqueeze(1)  # multiplies (u, w, s)
        c_d = torch.stack([alpha, oma]).unsqueeze(1)  # multiplies (u − s, I − w)
        P, Q = I.new_empty(3, B, H), I.new_empty(2, B, H)
        p_au, p_bw, p_bs = P.unbind(0)
        q_u, q_i = Q.unbind(0)
        Zv = Z.unbind(0)
        Uv, Wv, Sv = Z[:, 0].unbind(0), Z[:, 1].unbind(0), Z[:, 2].unbind(0)
        d1, d2 = Dt.unbind(0)
        for t, I_t in enumerate(I.unbind(1)):
            u_t, w_t = Uv[t + 1], Wv[t + 1]
            torch.mul(c_z, Zv[t], out=P)  # (a·u, β·w, b·s), each an ordinary product
            torch.add(p_bw, p_au, out=w_t)
            w_t.add_(p_bs)  # w_t = β·w + a·u + b·s
            torch.sub(Uv[t], Sv[t], out=d1)
            torch.sub(I_t, w_t, out=d2)
            torch.mul(c_d, Dt, out=Q)  # (α·(u − s), (1 − α)·(I − w_t))
            torch.add(q_u, q_i, out=u_t)
            torch.gt(u_t, one, out=Sv[t + 1])  # == Θ(u_t − 1) exactly
        ctx.save_for_backward(I, alpha, beta, a, b, Z)
        ctx.kind, ctx.scale = kind, scale
        ctx.set_materialize_grads(False)
        S = Z[1:, 2].transpose(0, 1).contiguous()
        return S, Z[1:, 0].transpose(0, 1), Z[1:, 1].transpose(0, 1)

    @staticmethod
    def _native_forward(ctx, I, alpha, beta, a, b, u0, w0, s0, kind, scale):
        B, T, H = I.shape
        I, alpha, beta, a, b = (native.c(t) for t in (I, alpha, beta, a, b))
        u0, w0, s0 = (native.c(t.expand(B, H)) for t in (u0, w0, s0))
        oma = 1 - alpha
        U, W, S = I.new_empty(B, T, H), I.new_empty(B, T, H), I.new_empty(B, T, H)
        native.call("adlif_forward", B, B * T * H, T, H, I, alpha, oma, beta, a, b, u0, w0, s0, U, W, S)
        ctx.save_for_backward(I, alpha, oma, beta, a, b, u0, w0, s0, U, W, S)
        ctx.kind, ctx.scale = kind, scale
        ctx.set_materialize_grads(False)
        return S, U, W

    @staticmethod
    def _native_backward(ctx, gS, gU, gW):
        I, alpha, oma, beta, a, b, u0, w0, s0, U, W, S = ctx.saved_tensors
        B, T, H = I.shape
        gI, acc, work = torch.empty_like(I), I.new_empty(B, 4, H), I.new_empty(B, 3, H)
        native.call("adlif_backward", B, B * T * H, T, H, native.SURROGATE_CODES[ctx.kind], ctx.scale, I, alpha,
                    oma, beta, a, b, u0, w0, s0, U, W, S, native.c(gS), native.c(gU), native.c(gW), I.new_zeros(H), gI, acc, work)
        need = ctx.needs_input_grad
        r = acc.sum(0)
        grads = (gI, r[0], r[1], r[2], r[3], work[:, 0], work[:, 1], work[:, 2])
        return (*(g if n else None for g, n in zip(grads, need)), None, None)

    @staticmethod
    def backward(ctx, gS, gU_ext, gW_ext):  # type: ignore[override]
        if ctx.native:
            return AdLIFScan._native_backward(ctx, gS, gU_ext, gW_ext)
        I, alpha, beta, a, b, Z = ctx.saved_tensors
        B, T, H = I.shape
        oma = 1 - alpha
        noma = -oma
        SG = surrogate_grads_reversed(Z[1:, 0], 1.0, 1.0, ctx.kind, ctx.scale)  # σ'(u_t − 1)
        # carry to step t−1: (gu', gw', gs') = c_u·gu_t + c_w·gw_t
        c_u = torch.stack([alpha, torch.zeros_like(alpha), -alpha]).unsqueeze(1)
        c_w = torch.stack([a, beta, b]).unsqueeze(1)
        g_I = Z.new_empty(B, T, H)
        G, G2 = Z.new_zeros(3, B, H), Z.new_empty(3, B, H)  # (gu, gw, ds) carried from step t+1 / next
        gs = Z.new_empty(B, H)
        # acc[i, k] = Σ (gu_t, gw_t)[i]·(u, w, s)_{t−1}[k];  acc_i = Σ gu_t·I_t
        acc, acc_i = Z.new_zeros(2, 3, B, H), Z.new_zeros(B, H)
        gIv, Zv, Iv = g_I.unbind(1), Z.unbind(0), I.unbind(1)
        gSv = gS.unbind(1) if gS is not None else None
        gUv = gU_ext.unbind(1) if gU_ext is not None else None
        gWv = gW_ext.unbind(1) if gW_ext is not None else None
        cur, nxt = (G, (G[:2].unsqueeze(1), *G.unbind(0))), (G2, (G2[:2].unsqueeze(1), *G2.unbind(0)))
        for t in range(T - 1, -1, -1):
            sg = next(SG)
            guw, gu, gw, ds = cur[1]
            if gSv is not None:
                torch.add(gSv[t], ds, out=gs)
                gu.addcmul_(gs, sg)
            else:
                gu.addcmul_(ds, sg)
            if gUv is not None:
                gu.add_(gUv[t])
            if gWv is not None:
                gw.add_(gWv[t])
            gw.addcmul_(noma, gu)
            torch.mul(oma, gu, out=gIv[t])
            acc.addcmul_(guw, Zv[t])
            acc_i.addcmul_(gu, Iv[t])
            torch.mul(c_u, gu, out=nxt[0])
            nxt[0].addcmul_(c_w, gw)
            cur, nxt = nxt, cur
        _, gu, gw, ds = cur[1]
        need = ctx.needs_input_grad
        r = acc.sum(2)
        # Σ gu_t·w_t with w_t = β·w_{t−1} + a·u_{t−1} + b·s_{t−1} (per-neuron constants factor out)
        gu_w = beta * r[0, 1] + a * r[0, 0] + b * r[0, 2]
        g_alpha = r[0, 0] - r[0, 2] - acc_i.sum(0) + gu_w if need[1] else None
        g_a, g_beta, g_b = r[1].unbind(0)
        return (g_I if need[0] else None, g_alpha, g_beta if need[2] else None, g_a if need[3] else None,
                g_b if need[4] else None, gu.clone() if need[5] else None, gw.clone() if need[6] else None,
                ds.clone() if need[7] else None, None, None)


class AdaptiveLIFBase(Neuron):
    """Shared machinery of the neurons with the §2.1 update (AdLIF, cAdLIF, SiLIF)."""

    State = AdLIFState
    state_names = ("u", "w")

    def step(self, I_t: Tensor, state: AdLIFState, params: AdLIFParams) -> tuple[Tensor, AdLIFState]:
        return step(I_t, state, params, self.spike_fn)

    def _scan(self, I: Tensor, p: AdLIFParams, state0: AdLIFState) -> tuple[Tensor, dict[str, Tensor]]:
        S, U, W = AdLIFScan.apply(I, *p, *state0, self.surrogate, self.surrogate_scale)
        return S, {"u": U, "w": W}

    def _discrete(self) -> dict[str, Tensor]:
        return self.params()._asdict()


class AdLIF(AdaptiveLIFBase):
    """Adaptive LIF of Bittar & Garner (2022) as trained in SpArch (§2.1); see module docstring."""

    type_name = "adlif"
    kind = "SILIF"
    linear_init = "default"
    alpha_range: ClassVar[tuple[float, float]] = (math.exp(-1 / 5), math.exp(-1 / 25))
    beta_range: ClassVar[tuple[float, float]] = (math.exp(-1 / 30), math.exp(-1 / 120))
    a_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    b_range: ClassVar[tuple[float, float]] = (0.0, 2.0)

    def __init__(self, size: int, **kw) -> None:
        super().__init__(size, **kw)
        self.alpha = nn.Parameter(torch.empty(size).uniform_(*self.alpha_range))
        self.beta = nn.Parameter(torch.empty(size).uniform_(*self.beta_range))
        self.a = nn.Parameter(torch.empty(size).uniform_(*self.a_range))
        self.b = nn.Parameter(torch.empty(size).uniform_(*self.b_range))

    def params(self, bias: Tensor | None = None) -> AdLIFParams:
        return AdLIFParams(self.alpha.clamp(*self.alpha_range), self.beta.clamp(*self.beta_range),
                           self.a.clamp(*self.a_range), self.b.clamp(*self.b_range))


class CAdLIF(AdLIF):
    """Constrained AdLIF (Deckers et al.; §2.2): non-negative coupling ``a ∈ [0, 1]``."""

    type_name = "cadlif"
    linear_init = "xavier"
    alpha_range = (0.36, 0.96)
    beta_range = (0.96, 0.99)
    a_range = (0.0, 1.0)
    b_range = (0.0, 2.0)
