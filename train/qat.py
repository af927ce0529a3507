"""Quantization-aware training (QAT): a forward pass that computes what the chip computes.

:class:`QATNet` wraps a trained :class:`train.model.SpArchNet`. Its forward

1. folds and quantizes the model's *current* float parameters to the integers of
   docs/fixed_point.md §4 (:func:`quantize_model`), differentiably, and
2. runs the integer network with :func:`train.intsim.run` (logical timeline, zero initial
   state, the readout decided by ``o = sum_t softmax(V_t / S)``, the training rule),

so its output in eval mode is bit-exact with ``hwsim`` on the exported ``model.net``
(``tests/test_equiv_intsim.py`` proves intsim == hwsim; ``tests/test_qat.py`` proves the
quantizer here == ``export/quantize.py`` and the end-to-end predictions).

Gradients are straight-through estimators for every rounding and clip (value ``op(x)``,
derivative 1: ``op(x) + (x - x.detach())``), plus the trained model's surrogate for the spike
(see :mod:`train.intsim`). The chain ``float parameter -> folded -> integer -> state`` then
has the float model's scaling: e.g. ``w = 2m``, ``m = rnd(W'' S / 2^(e+7))`` and
``A = (sum w x) 2^e << 6`` give ``dA/dW'' = S x``, and ``U / S`` is the float membrane.

Quantizer (a torch copy of ``export/fold.py`` + ``export/quantize.py``; train must not import
export, so the formulas are duplicated and ``tests/test_qat.py`` checks that both produce the
same integers for every exportable neuron type and several settings). The same float64
operations in the same order (BatchNorm with its running statistics, eval mode)::

    g = 1 / sqrt(var + eps) * gamma;   c = beta_bn - mean * g;   W' = g[:, None] * W
    SILIF/LI (silif, adlif, cadlif, li): W'' = (1 - alpha) W',  c'' = (1 - alpha) c
    CSILIF (csilif), MULTIOUT (multiout): W'' = b W',           c'' = b c   (multiout: b = max|B|)
    RF (rf):                             W'' = dt W',           c'' = dt c
    CUBA (lif):                          W'' = W',              c'' = c (onto the voltage)

    rnd(x) = sign(x) floor(|x| + 0.5)                      (round half away from zero)
    e      = smallest integer with max|W''| S / 2^(e + 7 + q) <= 2^(b-1) - 1     (q = 8 - b bits)
    w      = 2^(q+1) clip(rnd(W'' S / 2^(e+7+q)), -(2^(b-1) - 1), 2^(b-1) - 1)
    bias   = clip(rnd(c'' S / 64), -4096, 4095)
    alpha, beta = clip(rnd(. 2^D), 0, 2^D); coupling = clip(rnd(a 2^D), -2^D, 2^D);
    spikeAdapt = clip(rnd(b S), +-(2^23 - 1)); cosDecay/sinDecay = clip(rnd(lam 2^D), -2^D, 2^D);
    vThMant = S / 64 (SILIF, CUBA), S / 128 (CSILIF)
    CUBA: D = 12, exponent folded into the state scale: s <- s - e, e <- 0;
          iDecay = clip(rnd(du 4096), 1, 4096), vDecay = clip(rnd(dv 4096), 0, 4096)

BatchNorm in QAT: always the running statistics (frozen), so the folded weights are what
export folds; dropout stays active in training. Initial states are always zero (the chip
starts from zero), whatever the checkpoint's ``init_state``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

# Ranges, settings and range checks: silava.core.fixedpoint (shared with export; the formulas here are not).
from silava.core import fixedpoint
from silava.core.fixedpoint import BIAS_MAX, BIAS_MIN, STATE_FRAC_BITS_MAX, WEIGHT_EXP_MIN, QuantConfig
from silava.core.kinds import KINDS, folds_exponent
from silava.core.netxform import readout_bound_problem
from silava.train import intsim
from silava.train.intsim import IntLayer
from silava.train.loop import StopTraining

#: task input encoding -> inputMessageBits of the first layer (export/to_lava.py)
INPUT_MESSAGE_BITS = {"binary": 0, "counts": 8}


class QATError(ValueError):
    """The model cannot be quantized (one-line message naming the problem and the fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class QATStop(QATError, StopTraining):
    """The weights became unrepresentable while :class:`QATNet` ran (e.g. the readout weights shrank
    below the smallest weight exponent): :func:`train.loop.fit` stops and keeps the best weights."""


#: The quantization settings (the same class as ``export.quantize.QuantConfig``).
QuantSettings = QuantConfig


# --------------------------------------------------------------------------- range checks

check_weight_bits = partial(fixedpoint.check_weight_bits, error=QATError)
check_weight_exp = partial(fixedpoint.check_weight_exp, error=QATError)
check_threshold = partial(fixedpoint.check_threshold, error=QATError)
check_state_frac_bits = partial(fixedpoint.check_state_frac_bits, error=QATError)
check_decay_bits = partial(fixedpoint.check_decay_bits, error=QATError)


def check_finite(where: str, name: str, value: Tensor) -> None:
    """Every folded parameter must be finite."""
    if not bool(torch.isfinite(value.detach()).all()):
        raise QATError(f"{where}: parameter {name} has non-finite values (NaN/Inf); the model diverged or "
                       f"is damaged: lower --lr or start from an earlier checkpoint")


# --------------------------------------------------------------------------- rounding (STE)

def rnd(x: Tensor) -> Tensor:
    """``sign(x) * floor(|x| + 0.5)`` (round half away from zero, Lava ``loihi2round``); no gradient."""
    x = x.detach()
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def quant(x: Tensor, lo: float, hi: float) -> Tensor:
    """``clip(rnd(x), lo, hi)`` with a straight-through gradient (derivative 1)."""
    return intsim.ste(torch.clamp(rnd(x), lo, hi), x)


def weight_exponent(peak: float, s: int, weight_bits: int = 8) -> int:
    """Smallest ``e`` with ``peak * 2^s / 2^(e + 7 + q) <= 2^(b-1) - 1`` (``q = 8 - b``); 0 if peak == 0.

    Same computation as ``export.quantize.weight_exponent``.
    """
    if peak == 0:
        return 0
    q = 8 - weight_bits
    top = 2 ** (weight_bits - 1) - 1
    e = math.ceil(math.log2(peak * 2.0**s / (top * 2.0 ** (7 + q))))
    while peak * 2.0**s / 2.0 ** (e - 1 + 7 + q) <= top:
        e -= 1
    while peak * 2.0**s / 2.0 ** (e + 7 + q) > top:
        e += 1
    return int(e)


def quantize_weights(weight: Tensor, s: int, e: int, weight_bits: int = 8) -> Tensor:
    """``w = 2^(q+1) * clip(rnd(W * 2^s / 2^(e+7+q)), -(2^(b-1) - 1), 2^(b-1) - 1)`` (STE)."""
    q = 8 - weight_bits
    top = 2 ** (weight_bits - 1) - 1
    m = quant(weight * 2.0**s / 2.0 ** (e + 7 + q), -top, top)
    return m * float(2 ** (q + 1))


def quantize_bias(bias: Tensor, s: int) -> Tensor:
    """``bias = clip(rnd(c * 2^s / 64), -4096, 4095)`` (STE)."""
    return quant(bias * 2.0**s / 64, BIAS_MIN, BIAS_MAX)


def on_grid(value: Tensor, bits: int, lo: float, hi: float) -> Tensor:
    """``clip(rnd(value * 2^bits), lo, hi)`` (STE)."""
    return quant(value * 2.0**bits, lo, hi)


# --------------------------------------------------------------------------- folding

@dataclass
class FoldedLayer:
    """One layer's folded float64 parameters (differentiable w.r.t. the model's parameters)."""

    neuron_type: str              # CUBA | SILIF | CSILIF | LI
    source: str                   # train neuron type
    weight: Tensor                # W'' (out, in)
    bias: Tensor                  # c'' (out,)
    params: dict[str, Tensor]     # alpha, beta, a, b | lam_re, lam_im | cur_decay, vol_decay | alpha


def fold_layer(layer: Any, readout: bool = False) -> FoldedLayer:
    """Fold one ``SpArchLayer`` (``.linear``, ``.bn``, ``.neuron``) with BatchNorm's running statistics."""
    neuron = layer.neuron
    name = str(neuron.type_name).lower()
    kind = KINDS.get(neuron.kind)
    if kind is None or kind.spiking == readout:
        from silava.train.neurons import NEURONS

        ok = [n for n, cls in NEURONS.items() if cls.kind in KINDS and KINDS[cls.kind].spiking != readout]
        raise QATError(f"neuron {name!r} is not exportable to Loihi fixed point as a "
                       f"{'readout' if readout else 'hidden layer'} (supported: {', '.join(ok)}); "
                       f"QAT needs one of them")
    if getattr(layer.linear, "bias", None) is not None:
        raise QATError("a Linear with bias is not a SpArch layer (expected bias=False)")
    bn = layer.bn
    if bn.running_mean is None or bn.running_var is None:
        raise QATError("BatchNorm without running statistics cannot be folded; train with the default BatchNorm1d")
    f64 = torch.float64
    w = layer.linear.weight.to(f64)
    g = 1.0 / torch.sqrt(bn.running_var.detach().to(f64) + float(bn.eps))
    mean = bn.running_mean.detach().to(f64)
    if bn.affine and bn.weight is not None:
        g = g * bn.weight.to(f64)
        c = bn.bias.to(f64) - mean * g
    else:
        c = -mean * g
    w_bn = g[:, None] * w
    n = w.shape[0]
    consts = {k: v.to(f64).expand(n) if v.dim() <= 1 else v.to(f64) for k, v in neuron._discrete().items()}
    # the input gain folded into the rows: 1, 1 - alpha or the constant the kind names (b, dt) (the kind
    # declaration; written again here in torch, as export/fold.py does in numpy — train does not import export)
    if kind.input_gain == "1-alpha":
        gain = 1.0 - consts["alpha"]
    elif kind.input_gain != "1":
        gain = consts[kind.input_gain]
    else:
        gain = torch.ones(n, dtype=f64, device=w.device)
    return FoldedLayer(neuron_type=kind.name, source=name, weight=gain[:, None] * w_bn, bias=gain * c,
                       params={k: consts[k] for k in kind.float_params if k in consts})


def fold_model(model: Any) -> list[FoldedLayer]:
    """Fold every hidden layer and the readout of a ``SpArchNet``."""
    out = []
    for i, layer in enumerate(model.layers):
        try:
            out.append(fold_layer(layer))
        except QATError as exc:
            raise QATError(f"hidden layer {i}: {exc}") from None
    try:
        out.append(fold_layer(model.readout, readout=True))
    except QATError as exc:
        raise QATError(f"readout: {exc}") from None
    return out


# --------------------------------------------------------------------------- quantization

def _readout_native(fl: FoldedLayer, kind: Any, s: int, D: int, settings: QuantSettings) -> bool:
    """As ``silava.export.quantize._readout_native``: the readout at scale 2^s, no exponent, has an
    exact CUBA form (the values only; no gradient flows through this decision)."""
    with torch.no_grad():
        w = quantize_weights(fl.weight, s, 0, settings.weight_bits).to(torch.int64).numpy()
        bias = quantize_bias(fl.bias, s).to(torch.int64).numpy()
        p = kind.role("constant")
        lo, hi = p.range.at(D)
        alpha = on_grid(fl.params[p.source], D, lo, hi).to(torch.int64).numpy()
    return bool(np.any(w)) and readout_bound_problem(w, bias, alpha, 1) is None


def quantize_layer(fl: FoldedLayer, i: int, settings: QuantSettings, input_message_bits: int = 0,
                   fold_exponent: Optional[bool] = None) -> IntLayer:
    """Quantize one folded layer to an :class:`intsim.IntLayer` (float64 integers, STE gradients).

    Mirrors ``silava.export.quantize.quantize_layer`` step by step (see the module docstring); the
    keys and grids come from the same kind declaration, the rounding is written here in torch.
    """
    kind = KINDS[fl.neuron_type]
    where = f"layer {i} ({fl.neuron_type})"
    check_weight_bits(settings.weight_bits)
    for name, value in [("weight", fl.weight), ("bias", fl.bias), *fl.params.items()]:
        check_finite(where, name, value)
    s = settings.state_frac_bits_for(i)
    check_state_frac_bits(where, s)
    peak = float(fl.weight.detach().abs().max()) if fl.weight.numel() else 0.0
    e = weight_exponent(peak, s, settings.weight_bits)
    fixed_D = kind.fixed_decay_bits
    if fixed_D is not None and i in settings.layer_decay_bits and settings.layer_decay_bits[i] != fixed_D:
        raise QATError(f"{where}: decay bits {settings.layer_decay_bits[i]} requested, but {kind.name} layers "
                       f"have {fixed_D}-bit decays; drop --layer-decay-bits for layer {i}")
    D = fixed_D if fixed_D is not None else settings.decay_bits_for(i)
    check_decay_bits(where, D)
    fold = kind.netx_native if fold_exponent is None else bool(fold_exponent)
    if fold and not kind.netx_native:    # as silava.export.quantize: refine a state that cannot saturate
        fold = e <= 0 and s - e <= STATE_FRAC_BITS_MAX and D == 12 and _readout_native(fl, kind, s - e, D, settings)
    if fold:   # netx derives its own exponent: fold ours into the state scale
        s_fold = s - e
        check_state_frac_bits(where, s_fold, hint=f" after folding the weight exponent {e} into s = {s} "
                                                  f"(max |W'| = {peak:.4g})")
        s, e = s_fold, 0
    else:
        if kind.threshold is not None:
            check_threshold(where, kind.vth_mant(s))
        e = max(e, WEIGHT_EXP_MIN)   # as silava.export.quantize: tiny weights keep e = -8 with fewer mantissa bits
        check_weight_exp(where, e, peak, s)
    w = quantize_weights(fl.weight, s, e, settings.weight_bits)
    if kind.netx_native and not bool(w.detach().any()):
        raise QATError(f"{where}: all weights quantize to zero (max |W'| = {peak:.4g}): raise "
                       f"--state-frac-bits")
    bias = quantize_bias(fl.bias, s)
    if kind.netx_native and kind.threshold is not None:
        check_threshold(where, kind.vth_mant(s))
    def constant(p: Any, bits: int, lo: int, hi: int) -> Optional[Tensor]:
        if p.source not in fl.params and not p.required:
            return None                     # an optional constant this layer does not have
        value = fl.params[p.source]
        if p.on_range == "error":           # as export's check_constant_ranges: refuse, do not clip
            q = rnd(value * 2.0**bits)
            bad = int(((q < lo) | (q > hi)).sum())
            if bad:
                raise QATError(f"{where}: {bad} {p.key} values do not fit [{lo}, {hi}] on the 2^{bits} grid "
                               f"(max |{p.source}| = {float(value.detach().abs().max()):.4g}); lower the "
                               f"{'decay' if p.grid == 'decay' else 'state fraction'} bits")
        return on_grid(value, bits, lo, hi)

    params = kind.integer_params(D, s, constant)
    return IntLayer(fl.neuron_type, w, bias, e, input_message_bits, params)


def check_settings(settings: QuantSettings, n_layers: int) -> None:
    """Global checks of the settings (bits ranges, per-layer indices) before any layer is quantized."""
    check_weight_bits(settings.weight_bits)
    check_decay_bits("--decay-bits", settings.decay_bits)
    check_state_frac_bits("--state-frac-bits", settings.state_frac_bits)
    for key, table in (("--layer-decay-bits", settings.layer_decay_bits),
                       ("--layer-state-frac-bits", settings.layer_state_frac_bits)):
        bad = [k for k in table if not 0 <= int(k) < n_layers]
        if bad:
            raise QATError(f"{key}: layer index {bad[0]} out of range [0, {n_layers - 1}] "
                           f"(the readout is layer {n_layers - 1})")


def quantize_model(model: Any, settings: Optional[QuantSettings] = None, *,
                   input_message_bits: int = 0) -> list[IntLayer]:
    """Fold and quantize a ``SpArchNet``: one :class:`intsim.IntLayer` per layer (readout last).

    Differentiable w.r.t. the model's parameters (straight-through rounding); the values are
    exactly ``export.quantize.quantize_network(silava.export.fold.fold_model(model), config)``'s integers.
    ``input_message_bits`` applies to the first layer (8 for spike-count inputs).
    """
    settings = settings or QuantSettings()
    folded = fold_model(model)
    check_settings(settings, len(folded))
    types = [fl.neuron_type for fl in folded]
    return [quantize_layer(fl, i, settings, input_message_bits if i == 0 else 0, fold_exponent=folds_exponent(types, i))
            for i, fl in enumerate(folded)]


def integer_layer(layer: IntLayer) -> dict[str, Any]:
    """Plain integers of one quantized layer (int64 tensors / ints), for comparisons and inspection."""
    def as_int(v: Any) -> Any:
        return v.detach().to(torch.int64) if isinstance(v, Tensor) else v
    return {"neuron_type": layer.neuron_type, "weight": as_int(layer.weight), "bias": as_int(layer.bias),
            "weight_exp": int(layer.weight_exp), "input_message_bits": int(layer.input_message_bits),
            "neuron": {k: as_int(v) for k, v in layer.params.items()}}


# --------------------------------------------------------------------------- the QAT network

def readout_scale(settings: QuantSettings, n_layers: int) -> int:
    """``S = 2^s`` of the LI readout (the last layer; never exponent-folded)."""
    return 2 ** settings.state_frac_bits_for(n_layers - 1)


class QATNet(nn.Module):
    """The integer (chip) forward of a ``SpArchNet`` with straight-through gradients.

    ``forward(x [B, T, F]) -> o [B, C] = sum_t softmax(V_t / S)`` (float64), where ``V`` is the
    integer LI readout of the quantized network (``S = 2^s`` of the readout). Inputs are the
    task's spike rasters or counts, rounded to integers (binary tasks: ``x != 0``; count tasks:
    ``input_message_bits = 8``, clipped to [0, 255]). In eval mode (no grad) the output is what
    hwsim computes on the exported model.net (logical timeline), bit for bit.

    BatchNorm always uses the running statistics (frozen, never updated); dropout after each
    hidden layer is active in training mode (so training-mode states are then not integers).
    The parameters (and ``state_dict``, under the prefix ``net.``) are the wrapped model's.
    """

    def __init__(self, model: nn.Module, settings: Optional[QuantSettings] = None, *,
                 input_message_bits: int = 0) -> None:
        super().__init__()
        self.net = model
        self.settings = settings or QuantSettings()
        self.input_message_bits = int(input_message_bits)
        check_settings(self.settings, len(model.layers) + 1)

    def train(self, mode: bool = True) -> "QATNet":
        super().train(mode)
        for m in self.net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def int_layers(self) -> list[IntLayer]:
        """The model's current parameters, quantized (differentiable).

        Raises :class:`QATStop` (a :class:`QATError` that ends :func:`train.loop.fit` early) when
        they cannot be represented with the settings.
        """
        try:
            return quantize_model(self.net, self.settings, input_message_bits=self.input_message_bits)
        except QATError as exc:
            raise QATStop(str(exc)) from None

    def simulate(self, x: Tensor, *, record: bool = False) -> intsim.IntSimResult:
        """Run the integer network; ``outputs[-1]`` is the readout V (float64 integers in eval mode)."""
        layers = self.int_layers()
        xi = torch.round(x.detach().to(torch.float64))
        hidden = list(self.net.layers)
        spikes = [intsim.surrogate_spike(l.neuron.surrogate, l.neuron.surrogate_scale) for l in hidden]
        between = [l.dropout if self.training else None for l in hidden]
        return intsim.run(layers, xi, record=record, count=False, spikes=[*spikes, intsim.hard_spike],
                          between=[*between, None])

    def forward(self, x: Tensor) -> Tensor:
        n_in = self.net.config["n_inputs"]
        if x.dim() != 3 or x.shape[-1] != n_in:
            raise ValueError(f"expected input [B, T, {n_in}], got {tuple(x.shape)}")
        res = self.simulate(x)
        v = res.outputs[-1] / float(readout_scale(self.settings, len(res.outputs)))
        return torch.softmax(v, dim=-1).sum(1)

    def model_state_dict(self) -> dict[str, Tensor]:
        """The wrapped model's state dict (what a checkpoint stores)."""
        return self.net.state_dict()
