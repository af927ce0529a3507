"""Hybrid spiking / non-spiking recurrent network (spec ``neurons.md`` §7.1–7.2; [HYB]
``class_based_implementation/models/base_temporal_model.py``, SpyTorch lineage).

One recurrent hidden layer of ``N_h`` units, each statically spiking (mask ``m_i = 1``) or
non-spiking (``m_i = 0``), and a two-filter leaky-integrator readout. No biases, no BatchNorm,
no dropout; all states start at zero. Per step ``t`` (``o_{t−1}`` the previous hidden outputs,
``o_0 = 0``; ``α = e^{−Δt/τ_syn}``, ``β = e^{−Δt/τ_mem}``, ``β_out = e^{−Δt/τ_readout}``)::

    J_t  = x_t W_inᵀ + R(o_{t−1})                         recurrent term R (below)
    spiking units      s_t = Θ(mem_t − 1)                 from the membrane carried in
                       r_t = sg(s_t)                      hard multiplicative reset (detached)
    non-spiking 'nsn'  g_t = clamp(mem_t, 0, 1)           graded LIF
                       r_t = sg(g_t)  (0 with nsn_reset=False)   soft multiplicative reset
    non-spiking 'ann'  g_t = tanh(J_t)                    stateless ("RNN" unit; syn = mem = 0)
    syn_{t+1} = α·syn_t + J_t
    mem_{t+1} = (β·mem_t + (1 − β)·syn_t)·(1 − r_t)
    o_t  = m ⊙ s_t + (1 − m) ⊙ g_t

The order is the reference's: a LIF unit's output at step ``t`` comes from the state carried
in, then the state integrates ``J_t`` (so ``J_t`` reaches the membrane one step later). The
recurrent term: ``R(o) = o W_recᵀ`` (``recurrent="direct"``, one matrix over all outputs:
binary spikes and graded values), ``R(o) = m ⊙ ((m⊙o) W_recᵀ) + (1−m) ⊙ (((1−m)⊙o) W_recᵀ)``
(``"separate"`` paths, N2N-like: spiking units hear only spiking units, non-spiking only
non-spiking), or none. ``separate`` equals ``direct`` with ``W_rec ⊙ M``,
``M_ij = m_i m_j + (1−m_i)(1−m_j)`` (:meth:`HybridNet.effective_rec`): that matrix is what
the deployed network's recurrent synapses hold.

Readout ([HYB] ``_apply_readout_layer``): ``h_t = o_t W_outᵀ``, ``flt_t = α·flt_{t−1} + h_t``,
``v_t = β_out·v_{t−1} + (1 − β_out)·flt_t``; a zero frame is prepended, and the logits are
``max_t v_t`` (``readout="max"``, i.e. ``max(0, max_t v_t)``) or ``Σ_t v_t`` (``"sum"``); the
loss is ``CrossEntropyLoss(logits, y)`` and the prediction ``argmax``.

Spiking ratio ``p``: ``n_spk = floor(p·N_h)`` units spike, the first ``n_spk`` or (``shuffle``) a
random permutation drawn from ``mask_seed``. Surrogate: fast sigmoid ``1/(10|x| + 1)²``
(SuperSpike; [HYB] sweeps use scale 10). Initial weights ``N(0, (ws/√fan_in)²)``, ``ws = 1``.

Flexible spiking ([HYB] ``Hybrid_NSN_SNN_V1_Flexible_Spiking``): a trainable ``γ`` per unit
(init ``U[0,1]`` or a constant) replaces ``m`` in every mix (outputs and states:
``mem = γ·mem_snn + (1−γ)·mem_ns``), with the penalty ``λ_γ·mean((γ(1−γ))²)``;
:func:`binarize` turns the trained model into a fixed-mask one (``m = γ ≥ 0.5``).

Activity regulariser (stork-style, [HYB] ``Regularizers.py``; spiking units only, on spike
counts ``c = Σ_t s_t`` per sample and unit):
``λ_lo·mean(relu(θ_lo − c)²) + λ_up·mean_b(relu(mean_units(c) − θ_up))``,
defaults ``λ_lo = 100, θ_lo = 1e−3, λ_up = 0.06, θ_up = 100`` (the SHD values).
:meth:`HybridNet.penalty` returns the regulariser (and γ penalty) of the last training forward;
the training loop adds it to the loss.
"""
from __future__ import annotations

import copy
import json
import math
from typing import Any

import torch
from torch import Tensor, nn

from .neurons.surrogate import make_spike_fn

ARCH = "hybrid"
#: the model.net kinds the hybrid network deploys as (silava.export.hybrid): its layer and its readout
KINDS_USED = ("HYBRID", "LI2")
NONSPIKING = ("nsn", "ann")
RECURRENT = ("direct", "separate", "none")
READOUTS = ("max", "sum")
GAMMA_INITS = ("rand", "const_half", "const_zero", "const_one")
#: regulariser defaults (spec §7.1, the hybrid work's SHD values)
REG_DEFAULTS = {"l2_lower": 100.0, "v2_lower": 1e-3, "l1_upper": 0.06, "v1_upper": 100.0}


def spiking_mask(n_hidden: int, ratio: float, shuffle: bool = False, seed: int = 0) -> Tensor:
    """The static mask: ``floor(ratio·n_hidden)`` ones, first or at a seeded random permutation."""
    if not 0.0 <= float(ratio) <= 1.0:
        raise ValueError(f"spiking_ratio must be in [0, 1], got {ratio!r}")
    n_spk = int(math.floor(float(ratio) * n_hidden + 1e-9))
    mask = torch.zeros(n_hidden)
    mask[:n_spk] = 1.0
    if shuffle:
        gen = torch.Generator().manual_seed(int(seed))
        mask = mask[torch.randperm(n_hidden, generator=gen)]
    return mask


def decays(dt: float, tau_syn: float, tau_mem: float, tau_readout: float) -> dict[str, float]:
    """``α = e^{−Δt/τ_syn}``, ``β = e^{−Δt/τ_mem}``, ``β_out = e^{−Δt/τ_readout}``."""
    for name, tau in (("tau_syn", tau_syn), ("tau_mem", tau_mem), ("tau_readout", tau_readout)):
        if not tau > 0:
            raise ValueError(f"{name} must be > 0 (seconds), got {tau!r}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0 (seconds), got {dt!r}")
    return {"alpha": math.exp(-dt / tau_syn), "beta": math.exp(-dt / tau_mem),
            "beta_out": math.exp(-dt / tau_readout)}


class HybridNet(nn.Module):
    """The hybrid recurrent network (module docstring).

    Args:
        n_inputs, n_hidden, n_classes: sizes ``F``, ``N_h``, ``C``.
        spiking_ratio: ``p``; ``floor(p·N_h)`` spiking units (1 = pure SNN, 0 = pure NSN/RNN).
        nonspiking: ``"nsn"`` (graded LIF) or ``"ann"`` (tanh).
        recurrent: ``"direct"``, ``"separate"`` or ``"none"``.
        readout: ``"max"`` (logits ``max_t v_t`` with the zero frame) or ``"sum"``.
        shuffle: random permutation of the mask (seed ``mask_seed``).
        nsn_reset: soft reset of the nsn units (``False``: no reset).
        flexible: trainable γ instead of the mask (``gamma_init``, ``gamma_penalty`` = λ_γ).
        dt, tau_syn, tau_mem, tau_readout: seconds (decays ``α, β, β_out``).
        weight_scale: ``ws`` of the normal initialisation.
        surrogate_scale: slope of the fast-sigmoid surrogate.
        reg: regulariser strengths/thresholds (keys of :data:`REG_DEFAULTS`; all 0 = off).
    """

    def __init__(self, n_inputs: int, n_hidden: int, n_classes: int, *, spiking_ratio: float = 0.5,
                 nonspiking: str = "nsn", recurrent: str = "direct", readout: str = "max",
                 shuffle: bool = False, mask_seed: int = 0, nsn_reset: bool = True, flexible: bool = False,
                 gamma_init: str = "rand", gamma_penalty: float = 1.0, dt: float = 1e-3,
                 tau_syn: float = 5e-3, tau_mem: float = 1e-2, tau_readout: float = 2e-2,
                 weight_scale: float = 1.0, surrogate_scale: float = 10.0, reg: dict | None = None) -> None:
        super().__init__()
        if nonspiking not in NONSPIKING:
            raise ValueError(f"nonspiking must be one of {', '.join(NONSPIKING)}, got {nonspiking!r}")
        if recurrent not in RECURRENT:
            raise ValueError(f"recurrent must be one of {', '.join(RECURRENT)}, got {recurrent!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        if gamma_init not in GAMMA_INITS:
            raise ValueError(f"gamma_init must be one of {', '.join(GAMMA_INITS)}, got {gamma_init!r}")
        for name, n in (("n_inputs", n_inputs), ("n_hidden", n_hidden), ("n_classes", n_classes)):
            if int(n) != n or n < 1:
                raise ValueError(f"{name} must be a positive integer, got {n!r}")
        reg_cfg = dict(REG_DEFAULTS)
        for key, value in (reg or {}).items():
            if key not in REG_DEFAULTS:
                raise ValueError(f"unknown regulariser key {key!r} (keys: {', '.join(REG_DEFAULTS)})")
            reg_cfg[key] = float(value)
        self._config = {
            "arch": ARCH, "n_inputs": int(n_inputs), "n_hidden": int(n_hidden), "n_classes": int(n_classes),
            "spiking_ratio": float(spiking_ratio), "nonspiking": nonspiking, "recurrent": recurrent,
            "readout": readout, "shuffle": bool(shuffle), "mask_seed": int(mask_seed),
            "nsn_reset": bool(nsn_reset), "flexible": bool(flexible), "gamma_init": gamma_init,
            "gamma_penalty": float(gamma_penalty), "dt": float(dt), "tau_syn": float(tau_syn),
            "tau_mem": float(tau_mem), "tau_readout": float(tau_readout), "weight_scale": float(weight_scale),
            "surrogate_scale": float(surrogate_scale), "reg": reg_cfg,
        }
        json.dumps(self._config, allow_nan=False)
        self.consts = decays(dt, tau_syn, tau_mem, tau_readout)
        F, H, C = int(n_inputs), int(n_hidden), int(n_classes)
        ws = float(weight_scale)
        self.w_in = nn.Parameter(torch.randn(H, F) * (ws / math.sqrt(F)))
        self.w_rec = nn.Parameter(torch.randn(H, H) * (ws / math.sqrt(H))) if recurrent != "none" else None
        self.w_out = nn.Parameter(torch.randn(C, H) * (ws / math.sqrt(H)))
        self.register_buffer("mask", spiking_mask(H, spiking_ratio, shuffle, mask_seed))
        if flexible:
            init = {"rand": torch.rand(H), "const_half": torch.full((H,), 0.5),
                    "const_zero": torch.zeros(H), "const_one": torch.ones(H)}[gamma_init]
            self.gamma = nn.Parameter(init)
        else:
            self.gamma = None
        self.spike_fn = make_spike_fn("fast-sigmoid", surrogate_scale)
        self._penalty: Tensor | None = None

    # ------------------------------------------------------------------ facts
    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able); :func:`build_hybrid` rebuilds the model."""
        return copy.deepcopy(self._config)

    @property
    def n_spiking(self) -> int:
        return int((self.mix() >= 0.5).sum()) if self.gamma is not None else int(self.mask.sum())

    def mix(self) -> Tensor:
        """The spiking mix per unit: the mask, or γ when flexible."""
        return self.gamma if self.gamma is not None else self.mask

    def effective_rec(self) -> Tensor | None:
        """The recurrent matrix the layer applies to ``o_{t−1}``: ``W_rec`` (direct) or
        ``W_rec ⊙ M`` (separate paths, binary mask only); ``None`` without recurrence."""
        if self.w_rec is None:
            return None
        if self._config["recurrent"] == "separate" and self.gamma is None:
            m = self.mask
            block = torch.outer(m, m) + torch.outer(1 - m, 1 - m)
            return self.w_rec * block
        return self.w_rec

    def _recurrent(self, o: Tensor, mix: Tensor) -> Tensor:
        if self.w_rec is None:
            return o.new_zeros(())
        if self._config["recurrent"] == "separate":
            if self.gamma is None:
                return o @ self.effective_rec().t()
            return mix * ((o * mix) @ self.w_rec.t()) + (1 - mix) * ((o * (1 - mix)) @ self.w_rec.t())
        return o @ self.w_rec.t()

    # ------------------------------------------------------------------ forward
    def hidden(self, x: Tensor) -> dict[str, Tensor]:
        """Run the hidden layer over ``x[B,T,F]``: outputs ``o``, the spike part ``m⊙s`` (``spikes``),
        the graded values ``g`` (``graded``), the input ``J`` (``current``) and the states after
        each step (``syn``, ``mem``), all ``[B,T,H]``."""
        if x.dim() != 3 or x.shape[-1] != self._config["n_inputs"]:
            raise ValueError(f"expected input [B, T, {self._config['n_inputs']}], got {tuple(x.shape)}")
        B, T, _ = x.shape
        H = self._config["n_hidden"]
        a, b = self.consts["alpha"], self.consts["beta"]
        nsn = self._config["nonspiking"] == "nsn"
        reset_ns = self._config["nsn_reset"]
        mix = self.mix().to(x.dtype)
        ff = x @ self.w_in.t()
        syn = x.new_zeros(B, H)
        mem = x.new_zeros(B, H)
        o = x.new_zeros(B, H)
        outs, spk, grd, cur, syns, mems = [], [], [], [], [], []
        for t in range(T):
            J = ff[:, t] + self._recurrent(o, mix)
            s = self.spike_fn(mem - 1.0)
            lif = b * mem + (1.0 - b) * syn
            new_syn = a * syn + J
            mem_s = lif * (1.0 - s.detach())
            if nsn:
                g = torch.clamp(mem, 0.0, 1.0)
                mem_n = lif * (1.0 - g.detach()) if reset_ns else lif
                mem = mix * mem_s + (1 - mix) * mem_n
                syn = new_syn
            else:
                g = torch.tanh(J)
                mem = mix * mem_s
                syn = mix * new_syn
            o = mix * s + (1 - mix) * g
            outs.append(o)
            spk.append(mix * s)
            grd.append(g)
            cur.append(J)
            syns.append(syn)
            mems.append(mem)
        st = lambda xs: torch.stack(xs, dim=1)  # noqa: E731
        return {"out": st(outs), "spikes": st(spk), "graded": st(grd), "current": st(cur),
                "syn": st(syns), "mem": st(mems)}

    def readout(self, o: Tensor) -> dict[str, Tensor]:
        """Two-filter LI readout over ``o[B,T,H]``: ``v [B,T,C]`` and ``flt [B,T,C]``."""
        a, bo = self.consts["alpha"], self.consts["beta_out"]
        h = o @ self.w_out.t()
        flt = h.new_zeros(h.shape[0], h.shape[2])
        v = torch.zeros_like(flt)
        vs, fs = [], []
        for t in range(h.shape[1]):
            flt = a * flt + h[:, t]
            v = bo * v + (1.0 - bo) * flt
            vs.append(v)
            fs.append(flt)
        return {"v": torch.stack(vs, dim=1), "flt": torch.stack(fs, dim=1), "current": h}

    def logits(self, v: Tensor) -> Tensor:
        """``max(0, max_t v_t)`` (``"max"``, the prepended zero frame) or ``Σ_t v_t`` (``"sum"``)."""
        if self._config["readout"] == "max":
            return torch.clamp(v.max(dim=1).values, min=0.0)
        return v.sum(dim=1)

    def forward(self, x: Tensor, record: bool = False) -> Tensor | dict[str, Any]:
        """``x[B,T,F] → logits[B,C]``; with ``record=True`` a dict with ``out`` (logits),
        ``readout_v [B,T,C]`` and the hidden layer's tensors (:meth:`hidden`)."""
        hid = self.hidden(x)
        ro = self.readout(hid["out"])
        out = self.logits(ro["v"])
        if self.training:
            self._penalty = self.regulariser(hid["spikes"])
        if not record:
            return out
        return {"out": out, "readout_v": ro["v"], "readout_flt": ro["flt"], "readout_current": ro["current"],
                "hidden": hid}

    # ------------------------------------------------------------------ losses
    def regulariser(self, spikes: Tensor) -> Tensor:
        """Stork-style activity regulariser on the spike counts of the spiking units (+ γ penalty)."""
        r = self._config["reg"]
        total = spikes.new_zeros(())
        if self.gamma is None:
            idx = self.mask.bool()
            spikes = spikes[:, :, idx]
        if spikes.shape[-1] > 0:
            counts = spikes.sum(dim=1)                          # [B, H_spk]
            if r["l2_lower"]:
                total = total + r["l2_lower"] * torch.relu(r["v2_lower"] - counts).pow(2).mean()
            if r["l1_upper"]:
                total = total + r["l1_upper"] * torch.relu(counts.mean(dim=-1) - r["v1_upper"]).mean()
        if self.gamma is not None and self._config["gamma_penalty"]:
            total = total + self._config["gamma_penalty"] * (self.gamma * (1 - self.gamma)).pow(2).mean()
        return total

    def penalty(self) -> Tensor | None:
        """The regulariser of the last training forward (added to the loss by the training loop)."""
        p, self._penalty = self._penalty, None
        return p


def build_hybrid(model_config: dict) -> HybridNet:
    """Rebuild a :class:`HybridNet` from ``model.config`` (``"arch"`` key optional)."""
    cfg = dict(model_config)
    arch = cfg.pop("arch", ARCH)
    if arch != ARCH:
        raise ValueError(f"not a hybrid model config (arch {arch!r})")
    return HybridNet(**cfg)


def binarize(model: HybridNet) -> HybridNet:
    """A fixed-mask copy of a flexible model: ``m = γ ≥ 0.5`` (the trained γ is dropped).

    The copy's config has ``flexible=False``; its ``mask`` buffer (saved with the weights)
    holds the binarised γ, and ``spiking_ratio`` the resulting fraction.
    """
    if model.gamma is None:
        return model
    cfg = model.config
    cfg.pop("arch")
    mask = (model.gamma.detach() >= 0.5).to(model.mask.dtype)
    cfg.update(flexible=False, spiking_ratio=float(mask.mean()))
    out = HybridNet(**cfg)
    state = {k: v for k, v in model.state_dict().items() if k != "gamma"}
    state["mask"] = mask
    out.load_state_dict(state)
    out.train(model.training)
    return out
