"""Multi-output neuron with a generalised, learnable reset (spec §8; Karilanova, Dey & Özçelikkale 2025).

The paper's exact equations were not available (spec §8 "not confirmed"); this is the spec's
neutral parametrisation, with every choice stated here. Per neuron (``H`` neurons, all
independent), a real state ``x ∈ R^N`` (a complex state ``C^{N/2}`` is kept as (Re, Im)
pairs, so ``N`` below is always the number of real words)::

    x̃_t = A x_{t−1} + B u_t                     transition (A: N×N), input vector B (N), u_t = the layer's current
    y_t = C x̃_t ;  s_t = Θ(y_t − θ)  ∈ {0,1}^M  spiking function: M readouts C (M×N), threshold θ = 1
    r_t = 1 − Π_m (1 − s_{t,m})                   reset condition "any":     any output fires
    r_t = Θ(c_rᵀ x̃_t − θ)                         reset condition "readout": a dedicated readout crosses θ
    r_t = 0                                       reset condition "never"
    x_t = x̃_t − r_t·(ρ + R s_t)                   reset action: a vector ρ ("vector") or ρ = R s ("matrix")

The layer outputs the M·H spikes ``s`` (neuron-major: output ``h·M + m``); the next layer's
Linear has M·H inputs. Gradients: box-car (or fast-sigmoid) surrogate on ``y − θ`` and on
``c_rᵀx̃ − θ``; the reset path is not detached (spec §1.3), and ``∂r/∂s_m = Π_{m'≠m}(1 − s_{m'})``.

Choices (none is fixed by a source):

* **transition** ``"complex"`` (default): ``A`` = block diagonal of ``N/2`` rotations, the
  eigenvalue pairs ``λ_n = exp(Δ·a_n)``, ``a_n = re_n + i·im_n``, S4D-Lin initialisation
  ``a_n = −1/2 + iπn`` for n = 1 … N/2 (C-SiLIF's single state is n = 1, spec §4.1; S4D counts from
  n = 0, a mode that does not oscillate), one log-uniform ``Δ ∈ [dt_min, dt_max]`` per neuron
  (trained, ``log Δ``). ``stable=False`` (default): ``re_n`` is a free parameter (|λ| may exceed 1);
  ``stable=True``: ``re_n = −exp(ℓ_n)`` (|λ| < 1, as C-SiLIF).
  ``"dense"``: ``A = expm(Δ·A_c)`` with a free real ``A_c`` (init ``−diag(U[0.2, 2]) + N(0, 0.1²)`` off
  the diagonal); ``stable=True``: ``A_c = −(P Pᵀ + εI) + (Q − Qᵀ)`` (negative definite symmetric
  part, so ``A`` is a contraction), P, Q trained.
* **input** ``B`` (N, real coordinates) trained, init ``U[0, 1)`` on the real parts (as C-SiLIF's
  ``b``), 0 on the imaginary parts (dense: ``U[0,1)/√N``); not ZOH-scaled (as C-SiLIF).
* **readouts** ``C`` (M×N, real coordinates: ``Re(c x̃) = c_re·x_re − c_im·x_im``) trained
  (``learn_c``), init ``(2/K)(1 + 0.3·N(0,1))`` on the real parts and ``0.3·(2/K)·N(0,1)`` on the
  imaginary parts (K = N/2; M = 1, K = 1 gives C-SiLIF's output 2·Re(u) up to the noise).
* **reset action** ``"vector"``: ρ trained, init ``θ·c_0/‖c_0‖²`` (the smallest state change that
  lowers readout 0 by θ); ``"matrix"``: R trained, column m init ``θ·c_m/‖c_m‖²``; ``"classic"``:
  R = ``θ·C_mᵀ/‖C_m‖²`` recomputed from C every forward (not a parameter): every output that fires
  lowers its own readout by exactly θ — SiLIF's reset by subtraction in output units.
* **reset readout** ``c_r`` (``reset="readout"``) trained, init = ``c_0``.

Special cases (tests): SiLIF is N = 2 real, M = 1 (spec §2.3: ``A`` as there, ``B = (1−α, 0)``,
``C = (1, 0)``, reset condition any, ``ρ = −A⁻¹R_SiLIF``); C-SiLIF is N = 2 (one complex
state), M = 1, ``C = (2, 0)``, ``ρ = (0.5, 0)``. In the integer path both are exact special cases
of the MULTIOUT step (docs/fixed_point.md §3, ``silava.export.special``).

Export: :meth:`MultiOut.discrete_params` gives ``A`` (H, N, N), ``B`` normalised to max |B_k| = 1,
the gain ``b = max_k |B_k|`` (folded into the rows), ``C``, ``rho``, ``R`` (matrix, classic),
``c_r`` (readout). Layer ``W``: PyTorch default init.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn

from .base import Neuron
from .surrogate import SpikeFn, boxcar_spike, surrogate_grads_reversed

TRANSITIONS = ("complex", "dense")
RESETS = ("any", "readout", "never")
ACTIONS = ("vector", "matrix", "classic")
THRESHOLD = 1.0
STABLE_EPS = 1e-3


class MultiOutState(NamedTuple):
    x: Tensor          # [B, H, N] post-reset state


class MultiOutParams(NamedTuple):
    A: Tensor          # [H, N, N]
    B: Tensor          # [H, N]
    C: Tensor          # [H, M, N]
    rho: Tensor        # [H, N]
    R: Optional[Tensor]    # [H, N, M] or None
    c_r: Optional[Tensor]  # [H, N] or None


# --------------------------------------------------------------------------- the arithmetic (feature-major)
# Per step every tensor is [H, k, B] (neurons, state/readout rows, batch): a slice along k is a
# contiguous block, and the state, the readouts and the reset readout come out of one batched product:
#   z = V u + W x,  W = [A; C A; c_rᵀA]  ([H, K, N], K = N + M (+ 1)),  V = [B; C B; c_rᵀB]
# so that z = (x̃, y, q) with x̃ = A x + B u, y = C x̃, q = c_rᵀx̃ (equal in exact arithmetic; this
# is the form both the step function and the fused kernel compute, so their forwards are
# bit-identical). The reset action ρ + R s is a product with the M outputs.

def augmented(p: "MultiOutParams") -> tuple[Tensor, Tensor]:
    """``(W, V)``: ``W = [A; CA; c_rᵀA]`` ``[H, K, N]``, ``V = [B; CB; c_rᵀB]`` ``[H, K]``."""
    rows_w, rows_v = [p.A, p.C @ p.A], [p.B, (p.C @ p.B.unsqueeze(-1)).squeeze(-1)]
    if p.c_r is not None:
        rows_w.append((p.c_r.unsqueeze(1) @ p.A))
        rows_v.append((p.c_r * p.B).sum(-1, keepdim=True))
    return torch.cat(rows_w, 1), torch.cat(rows_v, 1)


#: up to this many outputs the reset product R s is formed with elementwise multiply-adds, else one bmm
_ELEMENTWISE_M = 2


def _reset_value(rho: Tensor, R: Optional[Tensor], s: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """``ρ + R s`` ``[H, N, B]`` (``ρ [H, N]``, ``R [H, N, M]``, ``s [H, M, B]``)."""
    if R is None:
        return rho.unsqueeze(-1).expand(-1, -1, s.shape[-1])
    M = s.shape[1]
    if M > _ELEMENTWISE_M:
        return torch.baddbmm(rho.unsqueeze(-1), R, s, out=out)
    rv = torch.addcmul(rho.unsqueeze(-1), R[:, :, 0:1], s[:, 0:1, :], out=out)
    for m in range(1, M):
        rv.addcmul_(R[:, :, m:m + 1], s[:, m:m + 1, :])
    return rv


def _any(s: Tensor) -> Tensor:
    """``1 − Π_m (1 − s_m)`` over ``s [H, M, B]`` (= any output fired, for 0/1 spikes)."""
    return 1 - torch.prod(1 - s, dim=1)


def step(u_t: Tensor, state: MultiOutState, params: MultiOutParams, spike: SpikeFn = boxcar_spike,
         reset: str = "any", aug: Optional[tuple[Tensor, Tensor]] = None) -> tuple[Tensor, MultiOutState, Tensor]:
    """One step (module docstring) on ``u_t [B, H]``; returns ``(s [B, H·M], new state, x̃ [B, H, N])``::

        (x̃, y, q) = W x + V u ;  s = Θ(y − θ) ;  r = any(s) | Θ(q − θ) | 0 ;  x = x̃ − r (ρ + R s)

    ``aug``: :func:`augmented` of ``params`` (computed here if not given).
    """
    N, M = params.A.shape[-1], params.C.shape[1]
    W, V = aug if aug is not None else augmented(params)
    x = state.x.permute(1, 2, 0).contiguous()                      # [H, N, B]
    Vu = V.unsqueeze(-1) * u_t.t().unsqueeze(1)                    # [H, K, B]
    z = torch.baddbmm(Vu, W, x)
    xt, y = z[:, :N], z[:, N:N + M]
    s = spike(y - THRESHOLD)
    if reset == "any":
        r = _any(s)
    elif reset == "readout":
        r = spike(z[:, N + M] - THRESHOLD)
    else:
        r = torch.zeros_like(y[:, 0])
    x_new = xt - r.unsqueeze(1) * _reset_value(params.rho, params.R, s)
    return s.permute(2, 0, 1).flatten(1), MultiOutState(x_new.permute(2, 0, 1)), xt.permute(2, 0, 1)


# --------------------------------------------------------------------------- fused BPTT

class MultiOutScan(torch.autograd.Function):
    """Fused time loop of :func:`step` over ``I [B, T, H]``: returns spikes ``[B, T, H·M]`` and the
    pre-reset states ``x̃ [B, T, H, N]``. Inputs: the augmented ``W``, ``V`` (:func:`augmented`; autograd
    carries their gradients on to A, B, C, c_r), ρ, R.

    Forward: the step's operations on feature-major buffers without a graph (one batched product
    per step). Backward (BPTT; ``ζ_t = (g̃_t, g_y, g_q)`` the adjoint of ``z_t``, ``δ_t = ∂L/∂x_t`` of the
    post-reset state, ``σ'`` the surrogate)::

        g̃_t = δ_t + ∂L/∂x̃_t (recorded states)
        g_r  = −(ρ + R s_t)·δ_t ;   g_ρ = −r_t δ_t ;  ∂L/∂R += g_ρ s_tᵀ
        g_s  = ∂L/∂s_t + Rᵀ g_ρ + g_r·Π_{m'≠m}(1 − s_{m'})      (reset "any")
        g_q  = g_r σ'(q_t − θ)                                   (reset "readout")
        g_y  = g_s σ'(y_t − θ)
        δ_{t−1} = Wᵀ ζ_t ;  ∂L/∂u_t = Vᵀ ζ_t ;  ∂L/∂W = Σ ζ_t x_{t−1}ᵀ ;  ∂L/∂V = Σ ζ_t u_t

    One batched product per backward step gives ``δ``, ``−Rᵀδ`` and ``−ρ·δ`` together
    (``W_ext = W [I | −R | −ρ]``); the parameter gradients are formed once after the loop.
    Buffers are time-major ``[T, H, k, B]``: each step reads and writes contiguous blocks (a strided
    per-step slice of a fresh buffer costs a page fault per row); the sums over all (t, b) after the
    loop are batched products on one permuted copy each.
    """

    @staticmethod
    def forward(ctx, I, W, V, rho, R, x0, N: int, M: int, reset: str, kind: str, scale: float):  # type: ignore[override]
        Bn, T, H = I.shape
        K = W.shape[1]
        U = I.permute(2, 1, 0).contiguous()                       # [H, T, B]
        Z = I.new_empty(T, H, K, Bn)                                # V u_t, overwritten by z_t
        torch.mul(V[None, :, :, None], U.transpose(0, 1).unsqueeze(2), out=Z)
        XP = I.new_empty(T + 1, H, N, Bn)                           # post-reset x_t; XP[0] = x0
        S = I.new_empty(T, H, M, Bn)
        Rr = I.new_zeros(T, H, Bn)
        XP[0].copy_(x0.permute(1, 2, 0))
        rv = rho.unsqueeze(-1) if R is None else I.new_empty(H, N, Bn)
        one = I.new_full((), THRESHOLD)
        # every per-step view made once (a view costs about as much as a small op)
        Zv, XPv, Sv, Rrv = Z.unbind(0), XP.unbind(0), S.unbind(0), Rr.unbind(0)
        XTv, Yv = Z[:, :, :N].unbind(0), Z[:, :, N:N + M].unbind(0)
        Qv = Z[:, :, N + M].unbind(0) if reset == "readout" else None
        single = reset == "any" and M == 1
        for t in range(T):
            Zv[t].baddbmm_(W, XPv[t])                               # (x̃, y, q) = V u + W x
            xt = XTv[t]
            s = torch.gt(Yv[t], one, out=Sv[t])                     # == Θ(y − θ) exactly
            if reset == "never":
                XPv[t + 1].copy_(xt)
                continue
            if single:
                r = s.squeeze(1)                                    # == 1 − (1 − s) (Rr is not used)
            elif reset == "any":
                r = torch.amax(s, 1, out=Rrv[t])                    # == 1 − Π(1 − s) for 0/1 spikes
            else:
                r = torch.gt(Qv[t], one, out=Rrv[t])
            if R is not None:
                _reset_value(rho, R, s, out=rv)
            torch.addcmul(xt, r.unsqueeze(1), rv, value=-1.0, out=XPv[t + 1])
        ctx.save_for_backward(U, W, V, rho, R, XP, Z, S, Rr)
        ctx.dims, ctx.reset, ctx.kind, ctx.scale = (N, M), reset, kind, scale
        ctx.set_materialize_grads(False)
        spikes = S.permute(3, 0, 1, 2).reshape(Bn, T, H * M)
        return spikes, Z[:, :, :N].permute(3, 0, 1, 2)

    @staticmethod
    def backward(ctx, gS, gXT):  # type: ignore[override]
        U, W, V, rho, R, XP, Z, S, Rr = ctx.saved_tensors
        N, M = ctx.dims
        T, H, K, Bn = Z.shape
        reset = ctx.reset
        # ZG[t] = ζ_t = (g̃, g_y, g_q), starting from what does not depend on the recurrence
        ZG = Z.new_empty(T, H, K, Bn)
        if gXT is not None:
            ZG[:, :, :N].copy_(gXT.permute(1, 2, 3, 0))
        if gS is not None:
            ZG[:, :, N:N + M].copy_(gS.reshape(Bn, T, H, M).permute(1, 2, 3, 0))
        else:
            ZG[:, :, N:N + M].zero_()
        SG = surrogate_grads_reversed(Z[:, :, N:], 1.0, THRESHOLD, ctx.kind, ctx.scale)   # σ'(y − θ), σ'(q − θ)
        never = reset == "never"
        GRV = None
        if never:
            W_ext = W
        else:
            GRV = Z.new_empty(T, H, N, Bn)                                           # r δ per step (g_ρ = −r δ)
            EX = None                                                                # Π_{m'≠m}(1 − s_m')
            if reset == "any" and M == 2:
                EX = 1 - S.flip(2)
            elif reset == "any" and M > 2:
                EX = ((S.sum(2, keepdim=True) - S) == 0).to(S.dtype)
            RF = S[:, :, 0] if reset == "any" and M == 1 else Rr                     # the reset flags r_t [T, H, B]
            cols = [torch.eye(N, dtype=W.dtype, device=W.device).expand(H, N, N)]
            if R is not None:
                cols.append(-R)
            cols.append(-rho.unsqueeze(-1))
            W_ext = torch.bmm(W, torch.cat(cols, -1))                                # W [I | −R | −ρ]
        E = W_ext.shape[-1]
        W_extT = W_ext.transpose(1, 2).contiguous()                                  # [H, E, K]
        # ping-pong buffers for (δ, −Rᵀδ, −ρ·δ) [H, E, B], with their views made once
        bufs = [Z.new_zeros(H, E, Bn), Z.new_empty(H, E, Bn)]
        views = [(b[:, :N], b[:, N:N + M], b[:, E - 1]) for b in bufs]
        ZGv, GXv = ZG.unbind(0), ZG[:, :, :N].unbind(0)
        GSv, GYQv = ZG[:, :, N:N + M].unbind(0), ZG[:, :, N:].unbind(0)
        GQv = ZG[:, :, N + M].unbind(0) if reset == "readout" else None
        if not never:
            GRVv, RFv, Sv = GRV.unbind(0), RF.unbind(0), S.unbind(0)
            EXv = EX.unbind(0) if EX is not None else None
        cur = 0
        for t in range(T - 1, -1, -1):
            delta, nrtd, nrho = views[cur]
            g, gs = GXv[t], GSv[t]
            if gXT is not None:
                g.add_(delta)
            else:
                g.copy_(delta)
            if not never:
                r = RFv[t].unsqueeze(1)                                              # [H, 1, B]
                torch.mul(delta, r, out=GRVv[t])                                      # r δ
                g_r = nrho                                                           # g_r = −ρ·δ − sᵀRᵀδ
                if R is not None:
                    g_r = g_r + (Sv[t] * nrtd).sum(1)
                    gs.addcmul_(r, nrtd)                                            # + Rᵀ g_ρ = −r Rᵀδ
                if reset == "any":                                                  # ∂r/∂s_m = Π_{m'≠m}(1 − s_m')
                    if EXv is None:
                        gs.add_(g_r.unsqueeze(1))
                    else:
                        gs.addcmul_(g_r.unsqueeze(1), EXv[t])
                else:
                    GQv[t].copy_(g_r)
            elif K > N + M:
                GQv[t].zero_()
            GYQv[t].mul_(next(SG))                                                   # g_y, g_q
            cur = 1 - cur
            torch.bmm(W_extT, ZGv[t], out=bufs[cur])                                 # Wᵀζ (and −Rᵀ, −ρ· of it)
        delta = views[cur][0]
        need = ctx.needs_input_grad
        ZGf = ZG.permute(1, 2, 0, 3).reshape(H, K, T * Bn)                           # [H, K, (t, b)]
        g_I = torch.bmm(V.unsqueeze(1), ZGf).view(H, T, Bn).permute(2, 1, 0) if need[0] else None   # [B, T, H]
        g_W = torch.bmm(ZGf, XP[:-1].permute(1, 0, 3, 2).reshape(H, T * Bn, N)) if need[1] else None
        g_V = torch.bmm(ZGf, U.view(H, T * Bn, 1)).squeeze(-1) if need[2] else None
        g_rho = None
        if need[3]:
            g_rho = GRV.sum((0, 3)).neg_() if GRV is not None else torch.zeros_like(rho)
        g_R = None
        if R is not None and need[4]:
            g_R = (torch.bmm(GRV.permute(1, 2, 0, 3).reshape(H, N, T * Bn),
                             S.permute(1, 0, 3, 2).reshape(H, T * Bn, M)).neg_()
                   if GRV is not None else torch.zeros_like(R))
        g_x0 = delta.permute(2, 0, 1).clone() if need[5] else None
        return g_I, g_W, g_V, g_rho, g_R, g_x0, None, None, None, None, None


# --------------------------------------------------------------------------- the module

def _rotation_patterns(K: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """Constant ``[K, 2K, 2K]`` patterns: ``A = Σ_k cos_k·Pc_k + sin_k·Ps_k`` is block diagonal with the
    rotation blocks ``[[cos, −sin], [sin, cos]]`` (real coordinates ``(Re x_k, Im x_k)``)."""
    pc = torch.zeros(K, 2 * K, 2 * K, dtype=dtype, device=device)
    ps = torch.zeros_like(pc)
    for k in range(K):
        pc[k, 2 * k, 2 * k] = pc[k, 2 * k + 1, 2 * k + 1] = 1.0
        ps[k, 2 * k + 1, 2 * k] = 1.0
        ps[k, 2 * k, 2 * k + 1] = -1.0
    return pc, ps


class MultiOut(Neuron):
    """A layer of multi-output neurons; see the module docstring for the equations and choices.

    Args (besides :class:`Neuron`'s): ``n_states`` (N: complex states for ``"complex"``, real for
    ``"dense"``; 1–8), ``n_outputs`` (M, 1–8), ``transition`` (``"complex"`` | ``"dense"``),
    ``stable`` (constrain |λ| < 1; default False), ``reset`` (``"any"`` | ``"readout"`` | ``"never"``),
    ``reset_action`` (``"vector"`` | ``"matrix"`` | ``"classic"``), ``learn_c`` (train C; default True),
    ``dt_min``, ``dt_max`` (the log-uniform Δ init, as C-SiLIF: 0.01, 0.5), ``re_init`` (the initial
    real part of the continuous eigenvalues, S4D-Lin's −1/2; positive = unstable from the start,
    only without ``stable``; the complex transition only).
    """

    type_name = "multiout"
    kind = "MULTIOUT"
    linear_init = "default"
    State = MultiOutState
    state_names = ("x",)
    threshold = THRESHOLD

    def __init__(self, size: int, *, n_states: int = 2, n_outputs: int = 1, transition: str = "complex",
                 stable: bool = False, reset: str = "any", reset_action: str = "vector", learn_c: bool = True,
                 dt_min: float = 0.01, dt_max: float = 0.5, re_init: float = -0.5, **kw) -> None:
        super().__init__(size, **kw)
        if transition not in TRANSITIONS:
            raise ValueError(f"transition must be one of {TRANSITIONS}, got {transition!r}")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        if reset_action not in ACTIONS:
            raise ValueError(f"reset_action must be one of {ACTIONS}, got {reset_action!r}")
        if not 1 <= int(n_states) <= 8 or not 1 <= int(n_outputs) <= 8:
            raise ValueError(f"n_states and n_outputs must be in 1..8, got {n_states}, {n_outputs}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got {dt_min}, {dt_max}")
        self.n_states, self.n_outputs = int(n_states), int(n_outputs)
        self.transition, self.stable = transition, bool(stable)
        self.reset, self.reset_action, self.learn_c = reset, reset_action, bool(learn_c)
        self.dt_min, self.dt_max = float(dt_min), float(dt_max)
        self.re_init = float(re_init)
        if self.stable and self.re_init >= 0:
            raise ValueError(f"re_init {re_init} must be negative with stable=True (Re a = -exp(l) < 0)")
        H, K, M = self.size, self.n_states, self.n_outputs
        N = self.state_size
        self.log_dt = nn.Parameter(torch.empty(H).uniform_(math.log(dt_min), math.log(dt_max)))
        if transition == "complex":
            if self.stable:
                self.log_neg_re = nn.Parameter(torch.full((H, K), math.log(-self.re_init)))
            else:
                self.re = nn.Parameter(torch.full((H, K), self.re_init))
            self.im = nn.Parameter((math.pi * torch.arange(1, K + 1, dtype=torch.float32)).expand(H, K).clone())
            B = torch.zeros(H, K, 2)
            B[..., 0] = torch.rand(H, K)
            C = torch.zeros(H, M, K, 2)
            C[..., 0] = (2.0 / K) * (1 + 0.3 * torch.randn(H, M, K))
            C[..., 1] = -0.3 * (2.0 / K) * torch.randn(H, M, K)     # real coordinates: −Im c
            B, C = B.reshape(H, N), C.reshape(H, M, N)
        else:
            rates = torch.empty(H, K).uniform_(0.2, 2.0)
            if self.stable:
                self.p_mat = nn.Parameter(torch.diag_embed(torch.sqrt(rates - STABLE_EPS)))
                self.q_mat = nn.Parameter(0.05 * torch.randn(H, K, K))
            else:
                off = 0.1 * torch.randn(H, K, K) * (1 - torch.eye(K))
                self.a_c = nn.Parameter(-torch.diag_embed(rates) + off)
            B = torch.rand(H, N) / math.sqrt(N)
            C = (2.0 / K) * (1 + 0.3 * torch.randn(H, M, N))
        self.B = nn.Parameter(B)
        self.C = nn.Parameter(C, requires_grad=self.learn_c)
        classic = self._classic(C.detach())                         # [H, N, M]
        if reset_action == "vector":
            self.rho = nn.Parameter(classic[..., 0].clone())
        elif reset_action == "matrix":
            self.R = nn.Parameter(classic.clone())
        if reset == "readout":
            self.c_r = nn.Parameter(C[:, 0, :].clone())

    # ---------------------------------------------------------------- sizes
    @property
    def state_size(self) -> int:
        """N real state words per neuron (2 × n_states for complex states)."""
        return 2 * self.n_states if self.transition == "complex" else self.n_states

    @property
    def outputs_per_neuron(self) -> int:
        return self.n_outputs

    # ---------------------------------------------------------------- parameters
    @staticmethod
    def _classic(C: Tensor) -> Tensor:
        """``R[:, :, m] = θ·c_m / ‖c_m‖²`` ``[H, N, M]``: output m firing lowers its readout by θ."""
        return (THRESHOLD * C / (C * C).sum(-1, keepdim=True).clamp_min(1e-12)).transpose(1, 2)

    def spectral_radius(self) -> Tensor:
        """``max |eig(A)|`` per neuron ``[H]`` (> 1: the linear part is unstable)."""
        with torch.no_grad():
            return torch.linalg.eigvals(self.transition_matrix().double()).abs().amax(-1)

    def transition_matrix(self) -> Tensor:
        """``A`` ``[H, N, N]`` (real coordinates)."""
        dt = torch.exp(self.log_dt)
        if self.transition == "complex":
            re = -torch.exp(self.log_neg_re) if self.stable else self.re
            r = torch.exp(dt[:, None] * re)
            phi = dt[:, None] * self.im
            c, s = r * torch.cos(phi), r * torch.sin(phi)
            pc, ps = _rotation_patterns(self.n_states, c.dtype, c.device)
            return torch.einsum("hk,kij->hij", c, pc) + torch.einsum("hk,kij->hij", s, ps)
        if self.stable:
            eye = torch.eye(self.n_states, dtype=self.p_mat.dtype, device=self.p_mat.device)
            a_c = -(self.p_mat @ self.p_mat.transpose(1, 2) + STABLE_EPS * eye) + (self.q_mat - self.q_mat.transpose(1, 2))
        else:
            a_c = self.a_c
        return torch.linalg.matrix_exp(dt[:, None, None] * a_c)

    def params(self, bias: Tensor | None = None) -> MultiOutParams:
        A = self.transition_matrix()
        C = self.C
        if self.reset == "never":
            rho, R = torch.zeros_like(self.B), None
        elif self.reset_action == "vector":
            rho, R = self.rho, None
        elif self.reset_action == "matrix":
            rho, R = torch.zeros_like(self.B), self.R
        else:
            rho, R = torch.zeros_like(self.B), self._classic(C)
        return MultiOutParams(A, self.B, C, rho, R, self.c_r if self.reset == "readout" else None)

    # ---------------------------------------------------------------- running
    def initial_state(self, batch: int, like: Tensor) -> MultiOutState:
        make = torch.rand if self.init_state == "random" else torch.zeros
        return MultiOutState(make((batch, self.size, self.state_size), dtype=like.dtype, device=like.device))

    def step(self, I_t: Tensor, state: MultiOutState, params: MultiOutParams) -> tuple[Tensor, MultiOutState]:
        s, new, _ = step(I_t, state, params, self.spike_fn, self.reset)
        return s, new

    def _loop(self, I: Tensor, p: MultiOutParams, state: MultiOutState) -> tuple[Tensor, dict[str, Tensor]]:
        outs, xs = [], []
        aug = augmented(p)
        for I_t in I.unbind(1):
            s, state, xt = step(I_t, state, p, self.spike_fn, self.reset, aug)
            outs.append(s)
            xs.append(xt)
        return torch.stack(outs, 1), {"x": torch.stack(xs, 1)}

    def _scan(self, I: Tensor, p: MultiOutParams, state0: MultiOutState) -> tuple[Tensor, dict[str, Tensor]]:
        W, V = augmented(p)
        S, XT = MultiOutScan.apply(I, W, V, p.rho, p.R, state0.x, self.state_size, self.n_outputs, self.reset,
                                   self.surrogate, self.surrogate_scale)
        return S, {"x": XT}

    def _discrete(self) -> dict[str, Tensor]:
        p = self.params()
        gain = p.B.abs().amax(-1)
        out = {"A": p.A, "B": p.B / gain.clamp_min(1e-30).unsqueeze(-1), "b": gain, "C": p.C, "rho": p.rho}
        if p.R is not None:
            out["R"] = p.R
        if p.c_r is not None:
            out["c_r"] = p.c_r
        return out

    def config(self) -> dict:
        return {**super().config(), "n_states": self.n_states, "n_outputs": self.n_outputs,
                "transition": self.transition, "stable": self.stable, "reset": self.reset,
                "reset_action": self.reset_action, "learn_c": self.learn_c, "dt_min": self.dt_min,
                "dt_max": self.dt_max, "re_init": self.re_init}

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, N={self.state_size} ({self.transition}{', stable' if self.stable else ''}), "
                f"M={self.n_outputs}, reset={self.reset}/{self.reset_action}")
