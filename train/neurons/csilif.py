"""C-SiLIF — complex-valued SiLIF (spec §4; [SSM] ``CSiLIFLayer``).

One complex state ``u = x + i·y`` per neuron, kept as two real tensors. Continuous
S4D-style parameters, discretised every forward (:func:`discretize`)::

    Δ = exp(ℓΔ)                         ℓΔ init U[ln Δmin, ln Δmax]   (dt_min=0.01, dt_max=0.5)
    A = −exp(ℓ_re) + i·ω                ℓ_re init ln 0.5, ω init π    ("S4D-Lin": A = −1/2 + iπ)
    λ = exp(Δ·A) = r·e^{iφ},  r = exp(−exp(ℓ_re)·Δ),  φ = ω·Δ
    b                                   input gain, init U[0, 1)

Complex update (§4.3), "half reset" then decay/rotation, spike on the real part::

    u_t = λ·(u_{t−1} − 0.5·s_{t−1}) + b·I_t
    s_t = Θ(2·Re(u_t) − 1)             # ⇔ x_t > 0.5; surrogate on 2x_t − 1 (∂s/∂x = 2σ')

Real 2×2 form (what :func:`step` computes; ``λ_re = r cosφ``, ``λ_im = r sinφ``)::

    x' = x_{t−1} − 0.5·s_{t−1}
    x_t = λ_re·x' − λ_im·y_{t−1} + b·I_t
    y_t = λ_im·x' + λ_re·y_{t−1}
    s_t = Θ(2·x_t − 1)

``threshold`` is 0.5 on ``x`` (= 1 on the read-out ``2·Re(u)``); the reset subtracts
``reset = 0.5`` from ``x``. Layer ``W``: PyTorch default init (§1.1).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from . import native
from .base import Neuron
from .surrogate import SpikeFn, boxcar_spike, surrogate_grads_reversed


class CSiLIFState(NamedTuple):
    x: Tensor
    y: Tensor
    s: Tensor


class CSiLIFParams(NamedTuple):
    lam_re: Tensor
    lam_im: Tensor
    b: Tensor


def step(I_t: Tensor, state: CSiLIFState, params: CSiLIFParams,
         spike: SpikeFn = boxcar_spike) -> tuple[Tensor, CSiLIFState]:
    """One C-SiLIF step in real form::

        x' = x_{t−1} − 0.5·s_{t−1}
        x_t = λ_re·x' − λ_im·y_{t−1} + b·I_t
        y_t = λ_im·x' + λ_re·y_{t−1}
        s_t = Θ(2·x_t − 1)
    """
    x, y, s = state
    lam_re, lam_im, b = params
    xr = x - 0.5 * s
    x_new = lam_re * xr - lam_im * y + b * I_t
    y_new = lam_im * xr + lam_re * y
    s_new = spike(2 * x_new - 1.0)
    return s_new, CSiLIFState(x_new, y_new, s_new)


def discretize(log_dt: Tensor, log_neg_re_a: Tensor, im_a: Tensor, b: Tensor) -> CSiLIFParams:
    """``λ = exp(exp(ℓΔ)·(−exp(ℓ_re) + iω))`` as ``(r cosφ, r sinφ)``; ``b`` unchanged."""
    dt = torch.exp(log_dt)
    r = torch.exp(-torch.exp(log_neg_re_a) * dt)
    phi = im_a * dt
    return CSiLIFParams(r * torch.cos(phi), r * torch.sin(phi), b)


class CSiLIFScan(torch.autograd.Function):
    """Fused time loop of :func:`step` over ``I[B,T,H]``; returns ``S[B,T,H]`` and the
    states ``X``, ``Y`` (``[B,T,H]`` views).

    Forward: the step function's floating-point operations (bit-identical spikes and
    states) into preallocated buffers, without an autograd graph; the four products of a
    step come from one broadcast multiplication of ``(x', y_{t−1})``.

    Backward (BPTT, ``σ'`` on ``2x_t − 1``, ``x'_t = x_{t−1} − 0.5 s_{t−1}``)::

        gs_t = ∂L/∂s_t − 0.5·(λ_re·gx_{t+1} + λ_im·gy_{t+1})
        gx_t = ∂L/∂x_t + λ_re·gx_{t+1} + λ_im·gy_{t+1} + 2σ'·gs_t
        gy_t = ∂L/∂y_t + λ_re·gy_{t+1} − λ_im·gx_{t+1}
        ∂L/∂I_t = b·gx_t;  ∂L/∂b = Σ gx_t·I_t
        ∂L/∂λ_re = Σ gx_t·x'_t + gy_t·y_{t−1};  ∂L/∂λ_im = Σ gy_t·x'_t − gx_t·y_{t−1}

    float32 on the CPU runs the same loops in C (:mod:`.native`, ``csilif_forward`` /
    ``csilif_backward`` in ``fused.c``) when they are available.
    """

    @staticmethod
    def forward(ctx, I, lam_re, lam_im, b, x0, y0, s0, kind: str, scale: float):  # type: ignore[override]
        ctx.native = kind in native.SURROGATE_CODES and native.usable(I, lam_re, lam_im, b, x0, y0, s0)
        if ctx.native:
            return CSiLIFScan._native_forward(ctx, I, lam_re, lam_im, b, x0, y0, s0, kind, scale)
        B, T, H = I.shape
        half = I.new_full((), 0.5)
        bI = b * I
        X = I.new_empty(T + 1, B, H)  # X[t] = x_t; X[0] = x_0
        F = I.new_empty(T + 1, 2, B, H)  # F[t] = (x'_t, y_{t−1}); F[0, 1] = y_0, F[T, 0] unused
        S = I.new_empty(B, T, H)
        X[0].copy_(x0)
        F[0, 1].copy_(y0)
        c = torch.stack([torch.stack([lam_re, lam_im]), torch.stack([lam_im, lam_re])]).unsqueeze(2)
        P = I.new_empty(2, 2, B, H)  # P = ((λ_re·x', λ_im·y), (λ_im·x', λ_re·y))
        (p_rx, p_iy), (p_ix, p_ry) = (row.unbind(0) for row in P.unbind(0))
        Xv, Fv, XPv, Yv, Sv = X.unbind(0), F.unbind(0), F[:, 0].unbind(0), F[:, 1].unbind(0), S.unbind(1)
        s = s0
        for t, bI_t in enumerate(bI.unbind(1)):
            x_t = Xv[t + 1]
            torch.sub(Xv[t], s, alpha=0.5, out=XPv[t])  # x' = x − 0.5·s (0.5·s is exact)
            torch.mul(c, Fv[t], out=P)  # every product of the step, each an ordinary product
            torch.sub(p_rx, p_iy, out=x_t)
            x_t.add_(bI_t)  # x_t = λ_re·x' − λ_im·y + b·I_t
            torch.add(p_ix, p_ry, out=Yv[t + 1])  # y_t = λ_im·x' + λ_re·y
            s = Sv[t]
            torch.gt(x_t, half, out=s)  # == Θ(2x_t − 1) exactly
        ctx.save_for_backward(I, lam_re, lam_im, b, X, F)
        ctx.kind, ctx.scale = kind, scale
        ctx.set_materialize_grads(False)
        return S, X[1:].transpose(0, 1), F[1:, 1].transpose(0, 1)

    @staticmethod
    def _native_forward(ctx, I, lam_re, lam_im, b, x0, y0, s0, kind, scale):
        B, T, H = I.shape
        I, lam_re, lam_im, b = (native.c(t) for t in (I, lam_re, lam_im, b))
        x0, y0, s0 = (native.c(t.expand(B, H)) for t in (x0, y0, s0))
        bI = b * I
        X, Y, XP, S = (I.new_empty(B, T, H) for _ in range(4))
        native.call("csilif_forward", B, B * T * H, T, H, bI, lam_re, lam_im, x0, y0, s0, X, Y, XP, S)
        ctx.save_for_backward(I, lam_re, lam_im, b, y0, X, Y, XP)
        ctx.kind, ctx.scale = kind, scale
        ctx.set_materialize_grads(False)
        return S, X, Y

    @staticmethod
    def _native_backward(ctx, gS, gX, gY):
        I, lam_re, lam_im, b, y0, X, Y, XP = ctx.saved_tensors
        B, T, H = I.shape
        gI, acc, work = torch.empty_like(I), I.new_empty(B, 3, H), I.new_empty(B, 3, H)
        native.call("csilif_backward", B, B * T * H, T, H, native.SURROGATE_CODES[ctx.kind], ctx.scale, I, lam_re,
                    lam_im, b, y0, X, Y, XP, native.c(gS), native.c(gX), native.c(gY), I.new_zeros(H), gI, acc, work)
        need = ctx.needs_input_grad
        r = acc.sum(0)
        grads = (gI, r[0], r[1], r[2], work[:, 0], work[:, 1], work[:, 2])
        return (*(g if n else None for g, n in zip(grads, need)), None, None)

    @staticmethod
    def backward(ctx, gS, gX_ext, gY_ext):  # type: ignore[override]
        if ctx.native:
            return CSiLIFScan._native_backward(ctx, gS, gX_ext, gY_ext)
        I, lam_re, lam_im, b, X, F = ctx.saved_tensors
        B, T, H = I.shape
        SG = surrogate_grads_reversed(X[1:], 2.0, 1.0, ctx.kind, ctx.scale)  # 2σ'(2x_t − 1)
        g_I = I.new_empty(B, T, H)
        # carry to step t−1: (gx', gy', gs') = c_x·gx_t + c_y·gy_t
        c_x = torch.stack([lam_re, -lam_im, -0.5 * lam_re]).unsqueeze(1)
        c_y = torch.stack([lam_im, lam_re, -0.5 * lam_im]).unsqueeze(1)
        G, G2 = I.new_zeros(3, B, H), I.new_empty(3, B, H)  # (gx, gy, ds) carried from step t+1 / next
        gs = I.new_empty(B, H)
        acc, acc_b = I.new_zeros(2, 2, B, H), I.new_zeros(B, H)  # acc[i, j] = Σ (gx, gy)[i]·(x', y_prev)[j]
        gIv, Iv, Fv = g_I.unbind(1), I.unbind(1), F.unbind(0)
        gSv = gS.unbind(1) if gS is not None else None
        gXv = gX_ext.unbind(1) if gX_ext is not None else None
        gYv = gY_ext.unbind(1) if gY_ext is not None else None
        cur, nxt = (G, (G[:2].unsqueeze(1), *G.unbind(0))), (G2, (G2[:2].unsqueeze(1), *G2.unbind(0)))
        for t in range(T - 1, -1, -1):
            sg = next(SG)
            gxy, gx, gy, ds = cur[1]
            if gSv is not None:
                torch.add(gSv[t], ds, out=gs)
                gx.addcmul_(gs, sg)
            else:
                gx.addcmul_(ds, sg)
            if gXv is not None:
                gx.add_(gXv[t])
            if gYv is not None:
                gy.add_(gYv[t])
            torch.mul(b, gx, out=gIv[t])
            acc_b.addcmul_(gx, Iv[t])
            acc.addcmul_(gxy, Fv[t])
            torch.mul(c_x, gx, out=nxt[0])
            nxt[0].addcmul_(c_y, gy)
            cur, nxt = nxt, cur
        _, gx0, gy0, ds = cur[1]
        need = ctx.needs_input_grad
        a = acc.sum(2)
        g_re = a[0, 0] + a[1, 1] if need[1] else None  # Σ gx·x' + gy·y_prev
        g_im = a[1, 0] - a[0, 1] if need[2] else None  # Σ gy·x' − gx·y_prev
        g_b = acc_b.sum(0) if need[3] else None
        return (g_I if need[0] else None, g_re, g_im, g_b, gx0.clone() if need[4] else None,
                gy0.clone() if need[5] else None, ds.clone() if need[6] else None, None, None)


class CSiLIF(Neuron):
    """Complex-valued SiLIF layer; see the module docstring for the equations.

    Extra args: ``dt_min=0.01``, ``dt_max=0.5`` — range of the log-uniform Δ init
    (SpArch/SiLIF default for SHD; the paper uses ``dt_max=5`` on SSC/GSC).
    """

    type_name = "csilif"
    kind = "CSILIF"
    linear_init = "default"
    State = CSiLIFState
    state_names = ("x", "y")
    threshold = 0.5
    reset = 0.5

    def __init__(self, size: int, *, dt_min: float = 0.01, dt_max: float = 0.5, **kw) -> None:
        super().__init__(size, **kw)
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        self.dt_min, self.dt_max = float(dt_min), float(dt_max)
        self.log_dt = nn.Parameter(torch.empty(size).uniform_(math.log(dt_min), math.log(dt_max)))
        self.log_neg_re_a = nn.Parameter(torch.full((size,), math.log(0.5)))
        self.im_a = nn.Parameter(torch.full((size,), math.pi))
        self.b = nn.Parameter(torch.rand(size))

    def params(self, bias: Tensor | None = None) -> CSiLIFParams:
        return discretize(self.log_dt, self.log_neg_re_a, self.im_a, self.b)

    def step(self, I_t: Tensor, state: CSiLIFState, params: CSiLIFParams) -> tuple[Tensor, CSiLIFState]:
        return step(I_t, state, params, self.spike_fn)

    def _scan(self, I: Tensor, p: CSiLIFParams, state0: CSiLIFState) -> tuple[Tensor, dict[str, Tensor]]:
        S, X, Y = CSiLIFScan.apply(I, *p, *state0, self.surrogate, self.surrogate_scale)
        return S, {"x": X, "y": Y}

    def _discrete(self) -> dict[str, Tensor]:
        return self.params()._asdict()

    def config(self) -> dict:
        return {**super().config(), "dt_min": self.dt_min, "dt_max": self.dt_max}
