"""SiLIF — SSM-inspired LIF (spec §3; [SSM] ``SiLIFLayer``).

Same update as cAdLIF (the step function is :func:`train.neurons.adlif.step`)::

    w_t = β·w_{t−1} + a·u_{t−1} + b·s_{t−1}
    u_t = α·(u_{t−1} − s_{t−1}) + (1 − α)·(I_t − w_t)
    s_t = Θ(u_t − 1)

but the decays come from continuous-time, log-reparametrised rates and a trainable
per-neuron log-timestep (recomputed every forward, :func:`discretize`)::

    Δ = exp(ℓΔ)                   ℓΔ init ln 0.004 (all neurons)
    α = exp(−exp(ℓ_u)·Δ)          ℓ_u init U[ln 10, ln 250]   (membrane rate, 1/s)
    β = exp(−exp(ℓ_w)·Δ)          ℓ_w init U[ln 2.5, ln 10]   (adaptation rate, 1/s)
    a = clamp(a, 0, 1)            a init U[0, 1]
    b = clamp(b, 0, 2)            b init U[0, 2]

Threshold 1, reset by subtraction, layer ``W`` Xavier-uniform (§1.1). ``α, β`` are
not clamped: ``0 < α, β < 1`` by construction.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .adlif import AdaptiveLIFBase, AdLIFParams, AdLIFState, step  # noqa: F401  (step: SiLIF's update)

SiLIFState = AdLIFState
DT_INIT = 0.004
RATE_U_RANGE = (10.0, 250.0)
RATE_W_RANGE = (2.5, 10.0)
A_RANGE = (0.0, 1.0)
B_RANGE = (0.0, 2.0)


def discretize(log_dt: Tensor, log_rate_u: Tensor, log_rate_w: Tensor, a: Tensor, b: Tensor) -> AdLIFParams:
    """``α = exp(−exp(ℓ_u)·exp(ℓΔ))``, ``β = exp(−exp(ℓ_w)·exp(ℓΔ))``, clamped ``a``, ``b``."""
    dt = torch.exp(log_dt)
    alpha = torch.exp(-torch.exp(log_rate_u) * dt)
    beta = torch.exp(-torch.exp(log_rate_w) * dt)
    return AdLIFParams(alpha, beta, a.clamp(*A_RANGE), b.clamp(*B_RANGE))


class SiLIF(AdaptiveLIFBase):
    """SSM-inspired LIF neuron layer; see the module docstring for the equations."""

    type_name = "silif"
    kind = "SILIF"
    linear_init = "xavier"

    def __init__(self, size: int, **kw) -> None:
        super().__init__(size, **kw)
        self.log_dt = nn.Parameter(torch.full((size,), math.log(DT_INIT)))
        self.log_rate_u = nn.Parameter(torch.empty(size).uniform_(*map(math.log, RATE_U_RANGE)))
        self.log_rate_w = nn.Parameter(torch.empty(size).uniform_(*map(math.log, RATE_W_RANGE)))
        self.a = nn.Parameter(torch.empty(size).uniform_(*A_RANGE))
        self.b = nn.Parameter(torch.empty(size).uniform_(*B_RANGE))

    def params(self, bias: Tensor | None = None) -> AdLIFParams:
        return discretize(self.log_dt, self.log_rate_u, self.log_rate_w, self.a, self.b)
