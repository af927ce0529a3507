"""RF — resonate-and-fire baseline (spec §5; [SSM] ``ResonateFireLayer``, ``recurrent=False``).

Complex state ``u = x + i·y``; parameters trained directly in the discrete form with a
fixed step ``dt`` (constructor arg, default 0.004)::

    ω_re  init U[−10, −1], clamped ≤ −0.1 in forward
    ω_im  init U[5, 10]

Euler update, reset by subtracting 1 from the real part *after* the rotation::

    u_t = u_{t−1} + dt·((ω_re + i·ω_im)·u_{t−1} + I_t) − s_{t−1}
    s_t = Θ(Re(u_t) − 1)

Real form computed by :func:`step` (the inference constants, §10.1:
``re = 1 + dt·ω_re``, ``im = dt·ω_im``, input gain ``dt``)::

    x_t = re·x_{t−1} − im·y_{t−1} + dt·I_t − s_{t−1}
    y_t = im·x_{t−1} + re·y_{t−1}
    s_t = Θ(x_t − 1)

No lateral weights. Layer ``W``: PyTorch default init. ``|1 + dt·A|`` may exceed 1.

Deploys as our own kind ``RF`` (``silava.core.kinds.rf``; Lava's ``lava.proc.rf.RF`` spikes on a
phase crossing and never resets, a different neuron): ``re``, ``im`` on the decay grid, the
input gain ``dt`` folded into the rows, threshold 1.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .base import Neuron
from .surrogate import SpikeFn, boxcar_spike, surrogate_grads_reversed

OMEGA_RE_INIT = (-10.0, -1.0)
OMEGA_IM_INIT = (5.0, 10.0)
OMEGA_RE_MAX = -0.1


class RFState(NamedTuple):
    x: Tensor
    y: Tensor
    s: Tensor


class RFParams(NamedTuple):
    re: Tensor
    im: Tensor
    dt: Tensor


def step(I_t: Tensor, state: RFState, params: RFParams,
         spike: SpikeFn = boxcar_spike) -> tuple[Tensor, RFState]:
    """One RF step::

        x_t = re·x_{t−1} − im·y_{t−1} + dt·I_t − s_{t−1}
        y_t = im·x_{t−1} + re·y_{t−1}
        s_t = Θ(x_t − 1)
    """
    x, y, s = state
    re, im, dt = params
    x_new = re * x - im * y + dt * I_t - s
    y_new = im * x + re * y
    s_new = spike(x_new - 1.0)
    return s_new, RFState(x_new, y_new, s_new)


class RFScan(torch.autograd.Function):
    """Fused time loop of :func:`step` over ``I[B,T,H]``; returns ``S[B,T,H]`` and the
    states ``X``, ``Y`` (``[B,T,H]`` views).

    Forward: the step function's floating-point operations (bit-identical spikes and
    states) into preallocated buffers, without an autograd graph; the four products of a
    step come from one broadcast multiplication of ``(x_{t−1}, y_{t−1})``.

    Backward (BPTT)::

        gs_t = ∂L/∂s_t − gx_{t+1}
        gx_t = ∂L/∂x_t + re·gx_{t+1} + im·gy_{t+1} + σ'(x_t − 1)·gs_t
        gy_t = ∂L/∂y_t + re·gy_{t+1} − im·gx_{t+1}
        ∂L/∂I_t = dt·gx_t;  ∂L/∂re = Σ gx_t·x_{t−1} + gy_t·y_{t−1};  ∂L/∂im = Σ gy_t·x_{t−1} − gx_t·y_{t−1}
    """

    @staticmethod
    def forward(ctx, I, re, im, dt, x0, y0, s0, kind: str, scale: float):  # type: ignore[override]
        B, T, H = I.shape
        one = I.new_ones(())
        dI = dt * I
        XY = I.new_empty(T + 1, 2, B, H)  # XY[t] = (x_t, y_t); XY[0] = initial state
        S = I.new_empty(B, T, H)
        XY[0, 0].copy_(x0)
        XY[0, 1].copy_(y0)
        c = torch.stack([torch.stack([re, im]), torch.stack([im, re])]).unsqueeze(2)
        P = I.new_empty(2, 2, B, H)  # P = ((re·x, im·y), (im·x, re·y))
        (p_rx, p_iy), (p_ix, p_ry) = (row.unbind(0) for row in P.unbind(0))
        XYv, Xv, Yv, Sv = XY.unbind(0), XY[:, 0].unbind(0), XY[:, 1].unbind(0), S.unbind(1)
        s = s0
        for t, dI_t in enumerate(dI.unbind(1)):
            x_t = Xv[t + 1]
            torch.mul(c, XYv[t], out=P)  # every product of the step, each an ordinary product
            torch.sub(p_rx, p_iy, out=x_t)
            x_t.add_(dI_t)
            x_t.sub_(s)  # x_t = re·x − im·y + dt·I_t − s
            torch.add(p_ix, p_ry, out=Yv[t + 1])  # y_t = im·x + re·y
            s = Sv[t]
            torch.gt(x_t, one, out=s)
        ctx.save_for_backward(I, re, im, dt, XY)
        ctx.kind, ctx.scale = kind, scale
        ctx.set_materialize_grads(False)
        return S, XY[1:, 0].transpose(0, 1), XY[1:, 1].transpose(0, 1)

    @staticmethod
    def backward(ctx, gS, gX_ext, gY_ext):  # type: ignore[override]
        I, re, im, dt, XY = ctx.saved_tensors
        B, T, H = I.shape
        SG = surrogate_grads_reversed(XY[1:, 0], 1.0, 1.0, ctx.kind, ctx.scale)  # σ'(x_t − 1)
        g_I = I.new_empty(B, T, H)
        # carry to step t−1: (gx', gy', gs') = c_x·gx_t + c_y·gy_t  (s_{t−1} enters x_t with −1)
        c_x = torch.stack([re, -im, torch.full_like(re, -1.0)]).unsqueeze(1)
        c_y = torch.stack([im, re, torch.zeros_like(re)]).unsqueeze(1)
        G, G2 = I.new_zeros(3, B, H), I.new_empty(3, B, H)  # (gx, gy, ds) carried from step t+1 / next
        gs = I.new_empty(B, H)
        acc, acc_dt = I.new_zeros(2, 2, B, H), I.new_zeros(B, H)  # acc[i, j] = Σ (gx, gy)[i]·(x, y)_prev[j]
        need = ctx.needs_input_grad
        gIv, Iv, XYv = g_I.unbind(1), I.unbind(1), XY.unbind(0)
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
            torch.mul(dt, gx, out=gIv[t])
            if need[3]:
                acc_dt.addcmul_(gx, Iv[t])
            acc.addcmul_(gxy, XYv[t])
            torch.mul(c_x, gx, out=nxt[0])
            nxt[0].addcmul_(c_y, gy)
            cur, nxt = nxt, cur
        _, gx0, gy0, ds = cur[1]
        a = acc.sum(2)
        g_re = a[0, 0] + a[1, 1] if need[1] else None  # Σ gx·x_prev + gy·y_prev
        g_im = a[1, 0] - a[0, 1] if need[2] else None  # Σ gy·x_prev − gx·y_prev
        g_dt = acc_dt.sum(0) if need[3] else None
        return (g_I if need[0] else None, g_re, g_im, g_dt, gx0.clone() if need[4] else None,
                gy0.clone() if need[5] else None, ds.clone() if need[6] else None, None, None)


class RF(Neuron):
    """Resonate-and-fire layer; see the module docstring. Extra arg: ``dt=0.004`` (fixed)."""

    type_name = "rf"
    kind = "RF"
    linear_init = "default"
    State = RFState
    state_names = ("x", "y")
    recurrent = False

    def __init__(self, size: int, *, dt: float = 0.004, **kw) -> None:
        super().__init__(size, **kw)
        self.dt = float(dt)
        self.omega_re = nn.Parameter(torch.empty(size).uniform_(*OMEGA_RE_INIT))
        self.omega_im = nn.Parameter(torch.empty(size).uniform_(*OMEGA_IM_INIT))

    def params(self, bias: Tensor | None = None) -> RFParams:
        dt = torch.full_like(self.omega_re, self.dt)
        return RFParams(1 + self.dt * self.omega_re.clamp(max=OMEGA_RE_MAX), self.dt * self.omega_im, dt)

    def step(self, I_t: Tensor, state: RFState, params: RFParams) -> tuple[Tensor, RFState]:
        return step(I_t, state, params, self.spike_fn)

    def _scan(self, I: Tensor, p: RFParams, state0: RFState) -> tuple[Tensor, dict[str, Tensor]]:
        S, X, Y = RFScan.apply(I, *p, *state0, self.surrogate, self.surrogate_scale)
        return S, {"x": X, "y": Y}

    def _discrete(self) -> dict[str, Tensor]:
        return self.params()._asdict()

    def config(self) -> dict:
        return {**super().config(), "dt": self.dt}
