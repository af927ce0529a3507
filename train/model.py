"""The SpArch network (spec §1.1, §1.4–§1.6): spiking hidden layers + LI readout.

Hidden layer (:class:`SpArchLayer`), for ``x[B,T,F]``::

    z = x·Wᵀ                         Linear(F, H, bias=False); Xavier-uniform or default init per neuron type
    I = BatchNorm1d(z)               momentum 0.05, statistics over all B·T rows
    s = neuron(I)                    time loop (silava.train.neurons)
    h = Dropout(s)                   after the loop; the neuron's reset uses the undropped spikes
                                     (independent mask per element and step, ×1/(1−p) in training)

Readout: ``v = LI(BatchNorm1d(h·W_outᵀ))`` (no dropout), network output
``o = Σ_t softmax(v_t)`` of shape ``[B, C]`` (spec §1.4; train with
``CrossEntropyLoss()(o, y)``, predict ``argmax o``).

Neurons with ``bias_on_voltage`` (the CUBA LIF) get BatchNorm split in two:
``I = scale·z`` into the current and ``bias = shift`` onto the voltage, where
``scale = γ/√(σ²+ε)``, ``shift = β − μ·scale`` use the same statistics BatchNorm
would use (batch statistics in training, running statistics in evaluation; running
statistics are updated exactly as ``nn.BatchNorm1d`` does), so ``I + bias == BN(z)``.
"""
from __future__ import annotations

import copy
import json
from typing import Any

import torch
from torch import Tensor, nn

from .neurons import NEURONS, make_neuron
from .neurons.base import Neuron
from .neurons.readout import LI

ARCH = "sparch"
_INHERITED_BY_READOUT = ("init_state", "fast")


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with the mask drawn as ``U[0,1) ≥ p`` (same Bernoulli(1−p) mask and
    ``1/(1−p)`` scaling; on CPU about twice as fast as ``bernoulli_``). Identity in eval mode."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        mask = torch.rand_like(x, memory_format=torch.contiguous_format)
        torch.ge(mask, mask.new_full((), self.p), out=mask)
        return x * mask.mul_(1.0 / (1.0 - self.p))


class SpArchLayer(nn.Module):
    """Linear (no bias) → BatchNorm1d over B·T rows → neuron → Dropout.

    Attributes used by export: ``linear``, ``bn``, ``neuron``.
    """

    def __init__(self, n_in: int, n_out: int, neuron: Neuron, dropout: float = 0.0) -> None:
        super().__init__()
        if neuron.size != n_out:
            raise ValueError(f"neuron size {neuron.size} != layer size {n_out}")
        self.linear = nn.Linear(n_in, n_out, bias=False)
        if neuron.linear_init == "xavier":
            nn.init.xavier_uniform_(self.linear.weight)
        elif neuron.linear_init != "default":
            raise ValueError(f"unknown linear_init {neuron.linear_init!r}")
        self.bn = nn.BatchNorm1d(n_out, momentum=0.05)
        #: BatchNorm statistics over several processes (``silava.train.dist.SyncStats``); None: this batch
        self.stats = None
        self.neuron = neuron
        self.dropout = FastDropout(dropout) if dropout > 0 else nn.Identity()

    def bn_affine(self, z2: Tensor) -> tuple[Tensor, Tensor]:
        """``(scale, shift)`` with ``BN(z2) = scale·z2 + shift`` for ``z2[N, H]``.

        Uses (and in training updates) the statistics exactly as ``self.bn`` would.
        """
        bn = self.bn
        use_batch_stats = bn.training or bn.running_mean is None
        if use_batch_stats:
            if self.stats is not None:      # the global batch of several processes
                mean, var, n = self.stats.moments(z2)
            else:
                mean, var, n = z2.mean(0), z2.var(0, unbiased=False), z2.shape[0]
            if bn.training and bn.track_running_stats and bn.running_mean is not None:
                with torch.no_grad():
                    bn.num_batches_tracked.add_(1)
                    m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
                    bn.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                    bn.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1)), alpha=m)
        else:
            mean, var = bn.running_mean, bn.running_var
        scale = torch.rsqrt(var + bn.eps)
        if bn.affine:
            scale = scale * bn.weight
            return scale, bn.bias - mean * scale
        return scale, -mean * scale

    def currents(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Neuron input ``I[B,T,H]`` and the voltage bias (``None`` unless ``bias_on_voltage``)."""
        z = self.linear(x)
        B, T, H = z.shape
        z2 = z.reshape(B * T, H)
        if not self.neuron.bias_on_voltage:
            if self.stats is not None and self.bn.training:   # statistics of the global batch
                scale, shift = self.bn_affine(z2)
                return z * scale + shift, None
            return self.bn(z2).reshape(B, T, H), None
        scale, shift = self.bn_affine(z2)
        return z * scale, shift

    def forward(self, x: Tensor, record: bool = False) -> Tensor | tuple[Tensor, dict[str, Any]]:
        I, bias = self.currents(x)
        if not record:
            return self.dropout(self.neuron(I, bias))
        out, states = self.neuron(I, bias, return_states=True)
        return self.dropout(out), {"spikes": out, "states": states, "current": I, "bias": bias}


class SpArchNet(nn.Module):
    """SpArch SNN: ``len(hidden_sizes)`` spiking layers of type ``neuron`` + LI readout.

    Args:
        n_inputs: input features ``F``.
        hidden_sizes: hidden layer widths, e.g. ``[128, 128]``.
        n_classes: classes ``C`` (readout units).
        neuron: registry key of the hidden neuron (``train.neurons.NEURONS``, not ``"li"``).
        dropout: dropout probability after each hidden layer (default 0.1).
        neuron_kwargs: keyword arguments for every hidden neuron (JSON-able).
        readout_kwargs: keyword arguments for the LI readout; ``init_state`` and ``fast``
            default to the values in ``neuron_kwargs`` (so ``init_state="random"``
            reproduces the reference code's random readout state too).
    """

    def __init__(self, n_inputs: int, hidden_sizes: list[int], n_classes: int, neuron: str,
                 dropout: float = 0.1, neuron_kwargs: dict | None = None,
                 readout_kwargs: dict | None = None) -> None:
        super().__init__()
        neuron = neuron.lower()
        if neuron not in NEURONS or not NEURONS[neuron].spiking:
            spiking = [k for k, c in NEURONS.items() if c.spiking]
            raise ValueError(f"hidden neuron must be one of {', '.join(spiking)}, got {neuron!r}")
        self._config = {
            "arch": ARCH, "n_inputs": int(n_inputs), "hidden_sizes": [int(h) for h in hidden_sizes],
            "n_classes": int(n_classes), "neuron": neuron, "dropout": float(dropout),
            "neuron_kwargs": copy.deepcopy(dict(neuron_kwargs or {})),
            "readout_kwargs": copy.deepcopy(dict(readout_kwargs or {})),
        }
        try:
            json.dumps(self._config, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"model config must be JSON-able: {e}") from None
        nk = self._config["neuron_kwargs"]
        rk = dict(self._config["readout_kwargs"])
        for k in _INHERITED_BY_READOUT:
            if k in nk and k not in rk:
                rk[k] = nk[k]
        self.layers = nn.ModuleList()
        n_in = int(n_inputs)
        for h in self._config["hidden_sizes"]:
            self.layers.append(SpArchLayer(n_in, h, make_neuron(neuron, h, **nk), dropout))
            n_in = self.layers[-1].neuron.output_size      # M·h for a multi-output neuron
        self.readout = SpArchLayer(n_in, int(n_classes), LI(int(n_classes), **rk), dropout=0.0)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able); ``build_model(model.config)`` rebuilds the model."""
        return copy.deepcopy(self._config)

    def forward(self, x: Tensor, record: bool = False) -> Tensor | dict[str, Any]:
        """``x[B,T,F] → o[B,C] = Σ_t softmax(v_t)``.

        With ``record=True`` returns a dict: ``out [B,C]``, ``readout_v [B,T,C]``,
        ``spikes``: list of ``[B,T,H]`` per hidden layer (before dropout; ``[B,T,H·M]`` for a
        multi-output neuron, whose states are ``[B,T,H,N]``),
        ``states``: list of ``{name: [B,T,H]}``, ``currents``: list of the neuron input
        ``I [B,T,H]`` (the BatchNorm output; for ``bias_on_voltage`` neurons the scale
        part, with ``currents[i] + biases[i] == BN output``), ``biases``: list of ``[H]``
        or ``None``, ``readout_current [B,T,C]``.
        """
        if x.dim() != 3 or x.shape[-1] != self._config["n_inputs"]:
            raise ValueError(f"expected input [B, T, {self._config['n_inputs']}], got {tuple(x.shape)}")
        h = x
        if not record:
            for layer in self.layers:
                h = layer(h)
            return torch.softmax(self.readout(h), dim=-1).sum(1)
        rec: dict[str, Any] = {"spikes": [], "states": [], "currents": [], "biases": []}
        for layer in self.layers:
            h, r = layer(h, record=True)
            rec["spikes"].append(r["spikes"])
            rec["states"].append(r["states"])
            rec["currents"].append(r["current"])
            rec["biases"].append(r["bias"])
        v, r = self.readout(h, record=True)
        rec.update(out=torch.softmax(v, dim=-1).sum(1), readout_v=v, readout_current=r["current"])
        return rec


def active_batchnorm(model: "SpArchNet", gen: torch.Generator) -> "SpArchNet":
    """Give every BatchNorm of a SpArchNet random statistics and affine parameters drawn from ``gen``
    (mean U[−0.5, 0.5), variance U[0.2, 2.2), scale U[1, 4), shift U[−0.2, 0.6)), so that an untrained
    network spikes in every layer and folding is not the identity (tests, benches); returns it in eval mode."""
    with torch.no_grad():
        for layer in [*model.layers, model.readout]:
            n = layer.bn.num_features
            layer.bn.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            layer.bn.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.2)
            layer.bn.weight.copy_(torch.rand(n, generator=gen) * 3 + 1)
            layer.bn.bias.copy_(torch.rand(n, generator=gen) * 0.8 - 0.2)
    return model.eval()


def build_model(model_config: dict) -> nn.Module:
    """Rebuild a model from ``model.config``: a :class:`SpArchNet` (``"arch"`` key optional), the hybrid
    recurrent network (``arch: hybrid``, :class:`~silava.train.hybrid.HybridNet`) or a HAS-8 network
    (``arch`` ``has8-resnet`` / ``has8-vgg``, :func:`silava.train.has8.build_has8`)."""
    cfg = dict(model_config)
    arch = cfg.pop("arch", ARCH)
    if arch == "hybrid":                      # the hybrid recurrent network (train/hybrid.py)
        from .hybrid import build_hybrid
        return build_hybrid(model_config)
    if str(arch).startswith("has8-"):
        from .has8 import build_has8

        return build_has8({"arch": arch, **cfg})
    if arch != ARCH:
        raise ValueError(f"unknown model arch {arch!r} (expected {ARCH!r}, hybrid, has8-resnet or has8-vgg)")
    allowed = {"n_inputs", "hidden_sizes", "n_classes", "neuron", "dropout", "neuron_kwargs", "readout_kwargs"}
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; allowed: {sorted(allowed)}")
    return SpArchNet(**cfg)
