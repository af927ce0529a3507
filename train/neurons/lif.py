"""LIF in Lava's CUBA form (baseline; deploys to Lava's own ``LIF`` process).

Per-neuron trainable decays as the *fraction lost per step* (Lava / netx convention),
clamped to ``[0, 1]`` in forward: current decay ``δu`` and voltage decay ``δv``.
``bias`` is a per-neuron constant added to the voltage at every step (Lava's
``bias_mant·2^bias_exp``); in a SpArch layer it is BatchNorm's shift (``bias_on_voltage``).

Update (Lava ``LIF``: ``u ← u(1−du) + a_in; v ← v(1−dv) + u + bias; s = v > vth; v[s] = 0``)::

    u_t  = (1 − δu)·u_{t−1} + I_t
    v'_t = (1 − δv)·v_{t−1} + u_t + bias
    s_t  = Θ(v'_t − 1)                  # surrogate on v'_t − 1
    v_t  = v'_t·(1 − s_t)               # hard reset to 0; u is not reset

The reported state ``v`` is the post-reset voltage (as Lava's ``v`` after a step).
The reset goes through ``s_t`` un-detached (same convention as the SpArch neurons, §1.3).

Choices (no source fixes them): init ``δu ~ U[0.2, 1]`` (synaptic time constant
≤ 5 steps), ``δv ~ U[1 − e^{−1/25}, 1 − e^{−1/5}] = U[0.0392, 0.1813]`` (the SpArch LIF
membrane range, τ = 5…25 steps). ``init_state="random"`` draws ``u_0, v_0 ~ U[0,1)``
(this neuron has no previous-spike state: the reset acts within the step).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from . import native
from .base import Neuron
from .surrogate import SpikeFn, boxcar_spike, surrogate_grads_reversed

CUR_DECAY_INIT = (0.2, 1.0)
VOL_DECAY_INIT = (1 - math.exp(-1 / 25), 1 - math.exp(-1 / 5))


class LIFState(NamedTuple):
    u: Tensor
    v: Tensor


class LIFParams(NamedTuple):
    cur_decay: Tensor
    vol_decay: Tensor
    bias: Tensor


def step(I_t: Tensor, state: LIFState, params: LIFParams,
         spike: SpikeFn = boxcar_spike) -> tuple[Tensor, LIFState]:
    """One CUBA-LIF step (Lava ``LIF``)::

        u_t  = (1 − δu)·u_{t−1} + I_t
        v'_t = (1 − δv)·v_{t−1} + u_t + bias
        s_t  = Θ(v'_t − 1)
        v_t  = v'_t·(1 − s_t)
    """
    u, v = state
    cur_decay, vol_decay, bias = params
    u = (1 - cur_decay) * u + I_t
    v = (1 - vol_decay) * v + u + bias
    s = spike(v - 1.0)
    v = v * (1 - s)
    return s, LIFState(u, v)


class CubaLIFScan(torch.autograd.Function):
    """Fused time loop of :func:`step` over ``I[B,T,H]`` (bit-identical forward);
    returns ``S[B,T,H]`` and the states ``U``, ``V`` (``[B,T,H]`` views; ``V`` post-reset).

    Backward (BPTT; ``c_u = 1 − δu``, ``c_v = 1 − δv``, ``σ'`` on ``v'_t − 1``)::

        gv_t  = ∂L/∂v_t + c_v·gv'_{t+1}
        gs_t  = ∂L/∂s_t − v'_t·gv_t
        gv'_t = (1 − s_t)·gv_t + σ'·gs_t
        gu_t  = ∂L/∂u_t + c_u·gu_{t+1} + gv'_t
        ∂L/∂I_t = gu_t;  ∂L/∂bias = Σ gv'_t
        ∂L/∂δv = −Σ gv'_t·v_{t−1};  ∂L/∂δu = −Σ gu_t·u_{t−1}

    float32 on the CPU runs the same loops in C (:mod:`.native`, ``lif_forward`` / ``lif_backward``
    in ``fused.c``) when they are available.
    """

    @staticmethod
    def forward(ctx, I, cur_decay, vol_decay, bias, u0, v0, kind: str, scale: float):  # type: ignore[override]
        ctx.native = kind in native.SURROGATE_CODES and native.usable(I, cur_decay, vol_decay, bias, u0, v0)
        if ctx.native:
            return CubaLIFScan._native_forward(ctx, I, cur_decay, vol_decay, bias, u0, v0, kind, scale)
        B, T, H = I.shape
        one = I.new_ones(())
        cu, cv = 1 - cur_decay, 1 - vol_decay
        U, V = I.new_empty(T + 1, B, H), I.new_empty(T + 1, B, H)  # slot 0 = initial state
        P, NS = I.new_empty(T, B, H), I.new_empty(T, B, H)  # pre-reset voltage v'_t, 1 − s_t
        S = I.new_empty(B, T, H)
        U[0].copy_(u0)
        V[0].copy_(v0)
        Uv, Vv, Pv, NSv, Sv = U.unbind(0), V.unbind(0), P.unbind(0), NS.unbind(0), S.unbind(1)
        for t, I_t in enumerate(I.unbind(1)):
            u_t, p_t, s_t, ns_t = Uv[t + 1], Pv[t], Sv[t], NSv[t]
            torch.mul(cu, Uv[t], out=u_t)
            u_t.add_(I_t)
            torch.mul(cv, Vv[t], out=p_t)
            p_t.add_(u_t)
            p_t.add_(bias)
            torch.gt(p_t, one, out=s_t)
            torch.sub(one, s_t, out=ns_t)
            torch.mul(p_t, ns_t, out=Vv[t + 1])
        ctx.save_for_backward(cur_decay, vol_decay, U, V, P, NS)
        ctx.kind, ctx.scale = kind, scale
        ctx.set_materialize_grads(False)
        return S, U[1:].transpose(0, 1), V[1:].transpose(0, 1)

    @staticmethod
    def _native_forward(ctx, I, cur_decay, vol_decay, bias, u0, v0, kind, scale):
        B, T, H = I.shape
        I, bias = native.c(I), native.c(bias.expand(H))
        u0, v0 = native.c(u0.expand(B, H)), native.c(v0.expand(B, H))
        cu, cv = native.c(1 - cur_decay), native.c(1 - vol_decay)
        U, V, P, S = (I.new_empty(B, T, H) for _ in range(4))
        native.call("lif_forward", B, B * T * H, T, H, I, cu, cv, bias, u0, v0, U, V, P, S)
        ctx.save_for_backward(cu, cv, u0, v0, U, V, P, S)
        ctx.kind, ctx.scale = kind, scale
        ctx.set_materialize_grads(False)
        return S, U, V

    @staticmethod
    def _native_backward(ctx, gS, gU, gV):
        cu, cv, u0, v0, U, V, P, S = ctx.saved_tensors
        B, T, H = U.shape
        gI, acc, work = torch.empty_like(U), U.new_empty(B, 3, H), U.new_empty(B, 2, H)
        native.call("lif_backward", B, B * T * H, T, H, native.SURROGATE_CODES[ctx.kind], ctx.scale, cu, cv, u0, v0,
                    U, V, P, S, native.c(gS), native.c(gU), native.c(gV), U.new_zeros(H), gI, acc, work)
        need = ctx.needs_input_grad
        r = acc.sum(0)
        grads = (gI, r[0], r[1], r[2], work[:, 0], work[:, 1])
        return (*(g if n else None for g, n in zip(grads, need)), None, None)

    @staticmethod
    def backward(ctx, gS, gU_ext, gV_ext):  # type: ignore[override]
        if ctx.native:
            return CubaLIFScan._native_backward(ctx, gS, gU_ext, gV_ext)
        cur_decay, vol_decay, U, V, P, NS = ctx.saved_tensors
        T, B, H = P.shape
        cu, cv = 1 - cur_decay, 1 - vol_decay
        SG = surrogate_grads_reversed(P, 1.0, 1.0, ctx.kind, ctx.scale)  # σ'(v'_t − 1)
        g_I = P.new_empty(B, T, H)
        gu, gv, gp, gs = P.new_zeros(B, H), P.new_zeros(B, H), P.new_empty(B, H), P.new_empty(B, H)
        acc_u, acc_v, acc_c = P.new_zeros(B, H), P.new_zeros(B, H), P.new_zeros(B, H)
        gIv, Uv, Vv, Pv, NSv = g_I.unbind(1), U.unbind(0), V.unbind(0), P.unbind(0), NS.unbind(0)
        gSv = gS.unbind(1) if gS is not None else None
        gUv = gU_ext.unbind(1) if gU_ext is not None else None
        gVv = gV_ext.unbind(1) if gV_ext is not None else None
        for t in range(T - 1, -1, -1):
            sg = next(SG)
            if gVv is not None:
                gv.add_(gVv[t])
            if gUv is not None:
                gu.add_(gUv[t])
            torch.mul(Pv[t], gv, out=gs)
            if gSv is not None:
                torch.sub(gSv[t], gs, out=gs)
            else:
                gs.neg_()
            torch.mul(gv, NSv[t], out=gp)
            gp.addcmul_(gs, sg)
            gu.add_(gp)
            gIv[t].copy_(gu)
            acc_u.addcmul_(gu, Uv[t])
            acc_v.addcmul_(gp, Vv[t])
            acc_c.add_(gp)
            torch.mul(cv, gp, out=gv)
            gu.mul_(cu)
        need = ctx.needs_input_grad
        g_cur = -acc_u.sum(0) if need[1] else None
        g_vol = -acc_v.sum(0) if need[2] else None
        g_bias = acc_c.sum(0) if need[3] else None
        return (g_I if need[0] else None, g_cur, g_vol, g_bias, gu if need[4] else None,
                gv if need[5] else None, None, None)


class LIF(Neuron):
    """CUBA LIF layer (Lava ``LIF``); see the module docstring. ``bias_on_voltage = True``."""

    type_name = "lif"
    kind = "CUBA"
    linear_init = "default"
    bias_on_voltage = True
    State = LIFState
    state_names = ("u", "v")

    def __init__(self, size: int, **kw) -> None:
        super().__init__(size, **kw)
        self.cur_decay = nn.Parameter(torch.empty(size).uniform_(*CUR_DECAY_INIT))
        self.vol_decay = nn.Parameter(torch.empty(size).uniform_(*VOL_DECAY_INIT))

    def params(self, bias: Tensor | None = None) -> LIFParams:
        if bias is None:
            bias = torch.zeros_like(self.vol_decay)
        return LIFParams(self.cur_decay.clamp(0.0, 1.0), self.vol_decay.clamp(0.0, 1.0), bias)

    def step(self, I_t: Tensor, state: LIFState, params: LIFParams) -> tuple[Tensor, LIFState]:
        return step(I_t, state, params, self.spike_fn)

    def _scan(self, I: Tensor, p: LIFParams, state0: LIFState) -> tuple[Tensor, dict[str, Tensor]]:
        S, U, V = CubaLIFScan.apply(I, *p, *state0, self.surrogate, self.surrogate_scale)
        return S, {"u": U, "v": V}

    def _discrete(self) -> dict[str, Tensor]:
        p = self.params()
        return {"cur_decay": p.cur_decay, "vol_decay": p.vol_decay}
