"""Quantize folded float layers to the integer model of docs/fixed_point.md §4.

Rounding: ``rnd(x) = sign(x) * floor(|x| + 0.5)`` (round half away from zero, Lava's
``loihi2round``) is the only rounding used; values outside their range are clipped and the
clips are counted (see :mod:`export.report`). Per layer, with ``S = 2^s``
(``s = stateFracBits``), ``D = decayBits`` and ``b`` mantissa bits (default 8, ``q = 8 - b``)::

    e    = the smallest integer with max|W''| * S / 2^(e + 7 + q) <= 2^(b-1) - 1
           (= ceil(log2(max|W''| * S / (127 * 2^7))) for b = 8; all-zero W'' -> e = 0)
    m    = clip(rnd(W'' * S / 2^(e + 7 + q)), -(2^(b-1) - 1), 2^(b-1) - 1);   w = 2^(q+1) * m
    bias = clip(rnd(c'' * S / 64), -4096, 4095)

so that one float unit of synaptic input is S state units: ``(w * 2^e) << 6 = W'' * S``.
Neuron constants, each ``rnd(value * 2^D)`` clipped to its range:

* SILIF:  alpha, beta in [0, 2^D];  coupling = rnd(a 2^D) in [-2^D, 2^D];
          spikeAdapt = rnd(b S) in +-(2^23 - 1);  vThMant = S / 64 (threshold 1)
* CSILIF: cosDecay = rnd(lam_re 2^D), sinDecay = rnd(lam_im 2^D) in [-2^D, 2^D];
          vThMant = S / 128 (threshold 0.5; needs s >= 7)
* LI:     alpha in [0, 2^D]; behind CUBA layers (an all-netx-native network) its exponent is
          folded into its state scale like CUBA's (``s <- s - e``), so that it can be written as a
          CUBA layer that cannot spike (silava.core.netxform) and plain netx loads the whole file
* LI:     alpha in [0, 2^D]
* RF:     cosDecay = rnd(re 2^D), sinDecay = rnd(im 2^D) in [-2^D, 2^D]; vThMant = S / 64
* MULTIOUT: transition, readout, resetRead = rnd(. 2^D); inputVec = rnd(B/max|B| 2^D) in [-2^D, 2^D];
          resetVec, resetMat = rnd(. S); each a 24-bit signed word, an out-of-range value is an error
          (:func:`check_constant_ranges`), not a clip; the width each needs is reported (:func:`constant_bits`)
* CUBA:   D = 12 always; the exponent is folded into the state scale (netx derives its own
          exponent from the weights, exact only for e = 0): ``s <- s - e``, ``e <- 0``,
          ``vThMant = 2^s / 64``; ``iDecay = clip(max(1, rnd(du 4096)), 1, 4096)``,
          ``vDecay = clip(rnd(dv 4096), 0, 4096)``; bias uses the folded scale ``2^s``.

Hardware range checks (named functions, each raising :class:`QuantError` with one line naming
the layer, the value, the limit and the fix): :func:`check_weight_exp` (e in [-8, 7]),
:func:`check_threshold` (vThMant in [1, 2^17 - 1]), :func:`check_state_frac_bits` (s in
[6, 22]), :func:`check_decay_bits` (D in [8, 24]), :func:`check_weight_bits` (b in [2, 8]),
:func:`check_finite` (no NaN/Inf).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from silava.export.fold import FoldedLayer, FoldedNetwork
from silava.core.kinds import KINDS, Kind, Param, folds_exponent
from silava.core.netxform import readout_bound_problem
from silava.core.netfile import BIAS_MAX, BIAS_MIN, WEIGHT_EXP_MIN, Layer, Meta, Network, validate
from silava.core import fixedpoint
from silava.core.fixedpoint import STATE_FRAC_BITS_MAX, QuantConfig  # noqa: F401  (QuantConfig re-exported)

ROUNDING = "round half away from zero: rnd(x) = sign(x) * floor(|x| + 0.5)"


class QuantError(ValueError):
    """A parameter cannot be represented on Loihi 2 (one line: layer, value, limit, fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def rnd(x: Any) -> np.ndarray:
    """Round half away from zero (Lava ``loihi2round``): ``sign(x) * floor(|x| + 0.5)``."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


# --------------------------------------------------------------------------- range checks

def _where(i: int, ntype: str) -> str:
    return f"layer {i} ({ntype})"


# The range checks of silava.core.fixedpoint, raising QuantError.
check_weight_bits = partial(fixedpoint.check_weight_bits, error=QuantError)
check_weight_exp = partial(fixedpoint.check_weight_exp, error=QuantError)
check_threshold = partial(fixedpoint.check_threshold, error=QuantError)
check_state_frac_bits = partial(fixedpoint.check_state_frac_bits, error=QuantError)
check_decay_bits = partial(fixedpoint.check_decay_bits, error=QuantError)


def check_finite(where: str, name: str, value: Any) -> None:
    """Every parameter must be finite."""
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise QuantError(f"{where}: parameter {name} has non-finite values (NaN/Inf); the checkpoint is "
                         f"diverged or damaged: re-train or use an earlier checkpoint")


# --------------------------------------------------------------------------- primitives

def weight_exponent(peak: float, s: int, weight_bits: int = 8) -> int:
    """Smallest ``e`` with ``peak * 2^s / 2^(e + 7 + q) <= 2^(b-1) - 1`` (``q = 8 - b``); 0 if peak == 0."""
    if peak == 0:
        return 0
    q = 8 - weight_bits
    top = 2 ** (weight_bits - 1) - 1
    e = math.ceil(math.log2(peak * 2.0**s / (top * 2.0 ** (7 + q))))
    # guard the floating-point log2 against off-by-one at exact powers of two
    while peak * 2.0**s / 2.0 ** (e - 1 + 7 + q) <= top:
        e -= 1
    while peak * 2.0**s / 2.0 ** (e + 7 + q) > top:
        e += 1
    return int(e)


def quantize_weights(weight: np.ndarray, s: int, e: int, weight_bits: int = 8) -> tuple[np.ndarray, int]:
    """``w = 2^(q+1) * clip(rnd(W * 2^s / 2^(e+7+q)), -(2^(b-1) - 1), 2^(b-1) - 1)`` and the clipped count.

    The mantissa range is symmetric: Lava's Dense clips an all-non-positive (inhibitory)
    matrix to [-255, 0], so a mantissa of -2^(b-1) (w = -256) would not survive there.
    """
    q = 8 - weight_bits
    m = rnd(np.asarray(weight, dtype=np.float64) * 2.0**s / 2.0 ** (e + 7 + q))
    lo, hi = -(2 ** (weight_bits - 1) - 1), 2 ** (weight_bits - 1) - 1
    clipped = int(np.sum((m < lo) | (m > hi)))
    return (np.clip(m, lo, hi).astype(np.int64) * 2 ** (q + 1)), clipped


def quantize_bias(bias: np.ndarray, s: int) -> tuple[np.ndarray, int]:
    """``bias = clip(rnd(c * 2^s / 64), -4096, 4095)`` and the saturated count."""
    b = rnd(np.asarray(bias, dtype=np.float64) * 2.0**s / 64)
    saturated = int(np.sum((b < BIAS_MIN) | (b > BIAS_MAX)))
    return np.clip(b, BIAS_MIN, BIAS_MAX).astype(np.int64), saturated


def on_grid(value: np.ndarray, bits: int, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """``clip(rnd(value * 2^bits), lo, hi)`` and the clipped count."""
    v = rnd(np.asarray(value, dtype=np.float64) * 2.0**bits)
    return np.clip(v, lo, hi).astype(np.int64), int(np.sum((v < lo) | (v > hi)))


# --------------------------------------------------------------------------- layers

@dataclass
class LayerStats:
    """What quantizing one layer clipped (read by :mod:`export.report`)."""

    weight_exp: int
    state_frac_bits: int
    decay_bits: int
    exponent_folded: int = 0             # CUBA: the exponent moved into s
    exponent_clamped_from: int | None = None   # tiny weights: the exponent wanted below WEIGHT_EXP_MIN
    weights_clipped: int = 0
    bias_saturated: int = 0
    constants_clipped: dict[str, int] = field(default_factory=dict)
    constant_bits: dict[str, int] = field(default_factory=dict)   # width each constant needs (from the data)


def quantize_constants(kind: Kind, params: dict[str, np.ndarray], D: int, s: int
                       ) -> tuple[dict[str, Any], dict[str, int]]:
    """The kind's integer keys from its float constants: ``clip(rnd(value · 2^G), range)``.

    ``G = D`` for constants on the decay grid, ``G = s`` for those in state units (the kind
    declaration says which); plus ``vThMant = threshold · 2^s / 64``, the layer settings D and s,
    and netx's fixed keys. Returns the ``neuron`` dict and the clipped count per constant.
    """
    clipped: dict[str, int] = {}

    def constant(p: Param, bits: int, lo: int, hi: int) -> np.ndarray | None:
        if p.source not in params and not p.required:
            return None                     # an optional constant this layer does not have
        value, clipped[p.key] = on_grid(params[p.source], bits, lo, hi)
        return value

    neuron = kind.integer_params(D, s, constant)
    return neuron, clipped


def constant_bits(kind: Kind, neuron: dict[str, Any]) -> dict[str, int]:
    """The width each constant of a quantized layer needs, from its values (signed two's complement;
    an all-zero constant needs 1 bit): what the data asks of the 24-bit words the kind declares."""
    out = {}
    for p in kind.params:
        if p.role == "constant" and p.key in neuron:
            v = np.asarray(neuron[p.key], dtype=np.int64)
            top = int(np.max(np.where(v >= 0, v, -v - 1))) if v.size else 0
            out[p.key] = max(1, top.bit_length() + (1 if p.range.lo < 0 else 0))
    return out


def check_constant_ranges(where: str, kind: Kind, params: dict[str, Any], clipped: dict[str, int],
                          D: int, s: int) -> None:
    """A constant declared ``on_range="error"`` (e.g. a multi-output layer's matrices) must fit its range:
    clipping it would change the dynamics (an unstable transition stays unstable), so it is refused."""
    for p in kind.params:
        if p.on_range != "error" or not clipped.get(p.key):
            continue
        lo, hi = p.range.at(D)
        grid = D if p.grid == "decay" else s
        peak = float(np.max(np.abs(np.asarray(params[p.source], dtype=np.float64))))
        knob = "--decay-bits (or --layer-decay-bits for this layer)" if p.grid == "decay" else \
            "--state-frac-bits (or --layer-state-frac-bits for this layer)"
        raise QuantError(f"{where}: {clipped[p.key]} {p.key} values do not fit [{lo}, {hi}] on the 2^{grid} grid "
                         f"(max |{p.source}| = {peak:.4g}); lower {knob}")
def _readout_native(fl: FoldedLayer, kind: Kind, s: int, D: int, config: QuantConfig) -> bool:
    """Whether the readout quantized at state scale 2^s with no exponent has an exact CUBA form
    (its inputs are spikes, x <= 1)."""
    w, _ = quantize_weights(fl.weight, s, 0, config.weight_bits)
    bias, _ = quantize_bias(fl.bias, s)
    neuron, _ = quantize_constants(kind, fl.params, D, s)
    return bool(np.any(w)) and readout_bound_problem(w, bias, neuron[kind.role("constant").key], 1) is None


def quantize_layer(fl: FoldedLayer, i: int, config: QuantConfig,
                   input_message_bits: int = 0, fold_exponent: bool | None = None) -> tuple[Layer, LayerStats]:
    """Quantize one folded layer (index ``i``) to a netfile :class:`Layer` (see the module docstring).

    What the neuron keys are and how each is quantized comes from the kind declaration
    (:mod:`silava.core.kinds`). A netx-native kind (CUBA) has no weight exponent in netx, so its
    exponent is folded into the state scale (``s <- s - e``, ``e <- 0``) and its decays are 12-bit.
    ``fold_exponent``: fold it for this layer too (default: netx-native kinds only;
    :func:`quantize_network` also folds an LI readout behind CUBA layers,
    :func:`silava.core.kinds.folds_exponent`).
    """
    kind = KINDS[fl.neuron_type]
    where = _where(i, fl.neuron_type)
    check_weight_bits(config.weight_bits)
    for name, value in [("weight", fl.weight), ("bias", fl.bias), *fl.params.items()]:
        check_finite(where, name, value)
    s = config.state_frac_bits_for(i)
    check_state_frac_bits(where, s)
    peak = float(np.max(np.abs(fl.weight))) if fl.weight.size else 0.0
    e = weight_exponent(peak, s, config.weight_bits)
    fixed_D = kind.fixed_decay_bits
    if fixed_D is not None and i in config.layer_decay_bits and config.layer_decay_bits[i] != fixed_D:
        raise QuantError(f"{where}: decay bits {config.layer_decay_bits[i]} requested, but {kind.name} layers "
                         f"have {fixed_D}-bit decays; drop --layer-decay-bits for layer {i}")
    D = fixed_D if fixed_D is not None else config.decay_bits_for(i)
    check_decay_bits(where, D)
    fold = kind.netx_native if fold_exponent is None else bool(fold_exponent)
    if fold and not kind.netx_native:    # a readout folds only to refine a state that cannot saturate
        fold = e <= 0 and s - e <= STATE_FRAC_BITS_MAX and D == 12 and _readout_native(fl, kind, s - e, D, config)
    if fold:
        s_fold = s - e
        check_state_frac_bits(where, s_fold, hint=f" after folding the weight exponent {e} into s = {s} "
                                                    f"(max |W'| = {peak:.4g})")
        stats = LayerStats(weight_exp=0, state_frac_bits=s_fold, decay_bits=D, exponent_folded=e)
        s, e = s_fold, 0
    else:
        if kind.threshold is not None:
            check_threshold(where, kind.vth_mant(s))
        wanted, e = e, max(e, WEIGHT_EXP_MIN)   # tiny weights: keep e = -8, use fewer mantissa bits
        check_weight_exp(where, e, peak, s)
        stats = LayerStats(weight_exp=e, state_frac_bits=s, decay_bits=D,
                           exponent_clamped_from=wanted if wanted != e else None)
    w, stats.weights_clipped = quantize_weights(fl.weight, s, e, config.weight_bits)
    if kind.netx_native and not np.any(w):
        raise QuantError(f"{where}: all weights quantize to zero (max |W'| = {peak:.4g}); netx cannot load "
                         f"an all-zero {kind.name} layer: raise --state-frac-bits or retrain")
    bias, stats.bias_saturated = quantize_bias(fl.bias, s)
    if kind.netx_native and kind.threshold is not None:
        check_threshold(where, kind.vth_mant(s))
    neuron, stats.constants_clipped = quantize_constants(kind, fl.params, D, s)
    check_constant_ranges(where, kind, fl.params, stats.constants_clipped, D, s)
    stats.constant_bits = constant_bits(kind, neuron)
    layer = Layer(fl.neuron_type, w, neuron, bias=bias, weight_exp=e, input_message_bits=input_message_bits,
                  float_params=fl.float_group())
    return layer, stats


def quantize_network(folded: FoldedNetwork, config: QuantConfig | None = None, *, input_message_bits: int = 0,
                     meta: Meta | None = None) -> tuple[Network, list[LayerStats]]:
    """Quantize every layer; returns the validated :class:`Network` and per-layer stats.

    ``input_message_bits`` applies to the first layer (8 for spike-count inputs). ``meta``
    defaults to a minimal :class:`Meta` (steps 1) with the network's sizes; ``meta.quantization``
    is filled with the settings and the per-layer exponents and scales.
    """
    config = config or QuantConfig()
    check_weight_bits(config.weight_bits)
    n = len(folded.layers)
    for key, table in (("--layer-decay-bits", config.layer_decay_bits),
                       ("--layer-state-frac-bits", config.layer_state_frac_bits)):
        bad = [k for k in table if not 0 <= int(k) < n]
        if bad:
            raise QuantError(f"{key}: layer index {bad[0]} out of range [0, {n - 1}] (the readout is layer {n - 1})")
    layers, stats = [], []
    types = [fl.neuron_type for fl in folded.layers]
    for i, fl in enumerate(folded.layers):
        layer, st = quantize_layer(fl, i, config, input_message_bits if i == 0 else 0,
                                   fold_exponent=folds_exponent(types, i))
        layers.append(layer)
        stats.append(st)
    if meta is None:
        meta = Meta(steps=1, n_inputs=folded.n_inputs, n_classes=folded.n_classes,
                    input_encoding="counts" if input_message_bits else "binary",
                    source_neuron=folded.source_neuron)
    meta.quantization = {**config.to_dict(), "rounding": ROUNDING,
                         "layers": [{"type": l.neuron_type, "weight_exp": st.weight_exp,
                                     "state_frac_bits": st.state_frac_bits, "decay_bits": st.decay_bits,
                                     "exponent_folded": st.exponent_folded} for l, st in zip(layers, stats)]}
    net = Network(layers=layers, meta=meta)
    validate(net)
    return net, stats
