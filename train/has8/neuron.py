"""The spiking neuron of a HAS-8 SNN path: IF or LIF(τ), multi-step over the bit-plane time axis.

Input ``I[T, B, ...]`` (the BatchNorm output of the path's conv/linear), state ``v`` (zero at t = 0
of every sample), threshold 1, hard reset to 0::

    LIF(τ):  v'_t = (1 − 1/τ) · v_{t−1} + I_t / τ      (spikingjelly's LIFNode, decay_input: v + (I − v)/τ)
    IF:      v'_t = v_{t−1} + I_t
    s_t = Θ(v'_t − 1)   (strict >, as Loihi's compare; spikingjelly uses ≥)
    v_t = v'_t · (1 − s_t)

Surrogate: ATan (spikingjelly's default, α = 2): ``∂s/∂v' ≈ (α/2) / (1 + (π α (v' − 1) / 2)²)``.

On the chip this is Lava's CUBA LIF (no new kind): ``iDecay = 4096`` (the current keeps no
memory: ``u_t = A_t``), ``vDecay = 4096/τ`` (IF: 0), the input gain ``1/τ`` folded into the weight
rows and the bias (docs/has8.md). ``discrete_params()`` gives those folded constants.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

NEURONS = ("lif", "if")


class ATanSpike(torch.autograd.Function):
    """``Θ(x)`` (x > 0) forward, ``(α/2) / (1 + (π α x / 2)²)`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return grad * (a / 2) / (1 + (math.pi * a / 2 * x) ** 2), None


class BitNeuron(nn.Module):
    """IF or LIF(τ) over ``I[T, B, ...]`` → spikes ``[T, B, ...]`` (see the module docstring).

    Args:
        neuron: ``"lif"`` (default, τ = ``tau``, the reference code's LIFNode) or ``"if"``.
        tau: LIF membrane time constant in steps (default 2; must be ≥ 1).
        alpha: ATan surrogate sharpness (default 2).
    """

    #: the model.net kind the path deploys as
    kind = "CUBA"
    threshold = 1.0

    def __init__(self, neuron: str = "lif", tau: float = 2.0, alpha: float = 2.0) -> None:
        super().__init__()
        if neuron not in NEURONS:
            raise ValueError(f"SNN-path neuron must be one of {', '.join(NEURONS)}, got {neuron!r}")
        if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau >= 1.0):
            raise ValueError(f"tau must be a number >= 1, got {tau!r}")
        self.neuron, self.tau, self.alpha = neuron, float(tau), float(alpha)

    @property
    def gain(self) -> float:
        """Input gain: 1/τ (LIF) or 1 (IF)."""
        return 1.0 / self.tau if self.neuron == "lif" else 1.0

    @property
    def retention(self) -> float:
        """Voltage retention per step: 1 − 1/τ (LIF) or 1 (IF)."""
        return 1.0 - 1.0 / self.tau if self.neuron == "lif" else 1.0

    def discrete_params(self) -> dict[str, float]:
        """The CUBA constants at inference: ``cur_decay`` 1 (u keeps no memory), ``vol_decay`` (fraction
        lost per step: 1/τ or 0) and the input ``gain`` folded into the weight rows and the bias."""
        return {"cur_decay": 1.0, "vol_decay": 1.0 - self.retention, "gain": self.gain}

    def forward(self, I: Tensor, return_v: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        v = torch.zeros_like(I[0])
        spikes, vs = [], []
        keep, gain = self.retention, self.gain
        for t in range(I.shape[0]):
            v = keep * v + gain * I[t] if keep != 1.0 else v + gain * I[t]
            s = ATanSpike.apply(v - self.threshold, self.alpha)
            v = v * (1 - s)
            spikes.append(s)
            if return_v:
                vs.append(v)
        out = torch.stack(spikes)
        return (out, torch.stack(vs)) if return_v else out

    def extra_repr(self) -> str:
        return f"{self.neuron}, tau={self.tau:g}" if self.neuron == "lif" else "if"
