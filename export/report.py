"""Quantization report: what the integer grid did to each layer (JSON + readable text).

Per layer: the weight exponent and state scale (CUBA: the exponent folded into s), clipped
weights, max |w|, weights rounded to zero, the relative RMS weight error, the effective weight
bits per row (signed bits of the row's largest mantissa; min / median / max: the (1 - alpha)
folding makes rows of slow neurons small), saturated biases, clipped constants, and the
neurons whose constants collapse on the grid (:func:`_collapses`, driven by the kind
declaration):

* every constant ``x -> 0`` (e.g. SILIF's coupling ``a``, ``b``; CUBA ``dv -> 0``: a voltage integrator);
* a retention factor ``-> 2^D`` (SILIF / LI ``alpha``, ``beta``: a pure integrator), a CUBA decay
  ``-> 4096`` (no memory);
* C-SiLIF: ``|lambda| < 1`` but ``|lambda_q| >= 1`` on the grid (no decay: the state can grow),
  ``lambda -> 0``.

Values pushed into their range (CUBA ``du`` raised to ``1/4096``: iDecay >= 1) are counted as
clipped constants.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from silava.export.fold import FoldedNetwork
from silava.core.netfile import Network
from silava.core.kinds import KINDS, Kind
from silava.export.quantize import LayerStats, QuantConfig


def signed_bits(m: np.ndarray) -> np.ndarray:
    """Bits of a two's-complement integer holding ``m`` (0 for 0): 127 -> 8, -128 -> 8, 1 -> 2, -1 -> 1."""
    m = np.asarray(m, dtype=np.int64)
    mag = np.where(m >= 0, m, -m - 1)
    bits = np.zeros(m.shape, dtype=np.int64)
    nz = mag > 0
    bits[nz] = np.floor(np.log2(mag[nz])).astype(np.int64) + 2
    bits[(m == -1)] = 1
    return bits


def row_bits(weight: np.ndarray) -> np.ndarray:
    """Effective mantissa bits per row: signed bits of the row's most demanding mantissa ``w / 2``."""
    m = np.asarray(weight, dtype=np.int64) // 2
    return signed_bits(m).max(axis=1) if m.size else np.zeros(0, np.int64)


def _collapses(kind: Kind, n: dict, p: dict, D: int, s: int) -> tuple[dict[str, int], dict[str, float]]:
    """Constants that collapse on the grid, and each constant's largest error (float units).

    Per float constant ``x`` and its integer ``q`` on the grid 2^G: ``{x}_to_zero`` counts
    ``x ≠ 0`` with ``q = 0``; where the declaration names a collapse at 1.0, ``{x}_{name}`` counts
    ``|x| < 1`` with ``|q| = 2^D``. A complex decay (C-SiLIF) is checked jointly instead:
    ``lambda_to_no_decay`` (``|λ| < 1`` but ``|λ_q| ≥ 1``) and ``lambda_to_zero``.
    """
    one = 2**D
    col: dict[str, int] = {}
    err: dict[str, float] = {}
    pair = kind.complex_pair or ()
    def neurons(hit: np.ndarray) -> int:          # a per-neuron array (n, ...) counts neurons with any hit
        return int(np.sum(hit.reshape(hit.shape[0], -1).any(axis=1))) if hit.ndim > 1 else int(np.sum(hit))

    for param in kind.params:
        if param.role != "constant" or param.key not in n:
            continue
        x = np.asarray(p[param.source], dtype=np.float64)
        q = np.asarray(n[param.key])
        scale = 2.0 ** param.scale_bits(D, s)
        err[param.source] = float(np.max(np.abs(q / scale - x))) if x.size else 0.0
        if param.key in pair:
            continue
        col[f"{param.source}_to_zero"] = neurons((x != 0) & (q == 0))
        if param.collapse_at_one:
            col[f"{param.source}_{param.collapse_at_one}"] = neurons((np.abs(x) < 1) & (np.abs(q) == one))
    if pair:
        re, im = (kind.param(key) for key in pair)
        r = np.hypot(p[re.source], p[im.source])
        rq2 = np.asarray(n[re.key], dtype=np.float64) ** 2 + np.asarray(n[im.key], dtype=np.float64) ** 2
        col["lambda_to_no_decay"] = int(np.sum((r < 1) & (rq2 >= float(one) ** 2)))
        col["lambda_to_zero"] = int(np.sum((r > 0) & (rq2 == 0)))
    return col, err


def _rel_rms(err: np.ndarray, ref: np.ndarray) -> float:
    denom = float(np.sqrt(np.mean(np.square(ref)))) if ref.size else 0.0
    return float(np.sqrt(np.mean(np.square(err)))) / denom if denom > 0 else 0.0


def layer_report(i: int, fl: Any, layer: Any, st: LayerStats) -> dict[str, Any]:
    """Report of one layer (folded float ``fl``, integer ``layer``, quantizer stats ``st``)."""
    s, e, D = st.state_frac_bits, st.weight_exp, st.decay_bits
    S = 2.0**s
    w_float = np.asarray(fl.weight, dtype=np.float64)
    w_back = layer.weight.astype(np.float64) * 2.0**e * 64 / S          # integer weights in float units
    bits = row_bits(layer.weight)
    b_back = (layer.bias.astype(np.float64) * 64 / S) if layer.bias is not None else np.zeros(layer.out_features)
    out: dict[str, Any] = {
        "index": i, "type": layer.neuron_type, "source": fl.source, "shape": [layer.out_features, layer.in_features],
        "weight_exp": e, "state_frac_bits": s, "decay_bits": D, "exponent_folded_into_s": st.exponent_folded,
        "exponent_clamped_from": st.exponent_clamped_from,
        "vth_mant": int(layer.neuron["vThMant"]) if "vThMant" in layer.neuron else None,
        "weights": {
            "max_abs_float": float(np.max(np.abs(w_float))) if w_float.size else 0.0,
            "max_abs_int": int(np.max(np.abs(layer.weight))) if layer.weight.size else 0,
            "clipped": st.weights_clipped,
            "rounded_to_zero": int(np.sum((w_float != 0) & (layer.weight == 0))),
            "rel_rms_error": _rel_rms(w_back - w_float, w_float),
            "row_bits_min": int(bits.min()) if bits.size else 0,
            "row_bits_median": float(np.median(bits)) if bits.size else 0.0,
            "row_bits_max": int(bits.max()) if bits.size else 0,
            "rows_low_bits": int(np.count_nonzero(bits <= 2)),
        },
        "bias": {"saturated": st.bias_saturated,
                 "max_abs_int": int(np.max(np.abs(layer.bias))) if layer.bias is not None else 0,
                 "max_abs_error": float(np.max(np.abs(b_back - fl.bias))) if fl.bias.size else 0.0},
        "constants_clipped": dict(st.constants_clipped),
        "constant_bits": dict(getattr(st, "constant_bits", {}) or {}),
    }
    out["collapses"], out["constants_max_abs_error"] = _collapses(KINDS[layer.neuron_type], layer.neuron,
                                                                  fl.params, D, s)
    out["warnings"] = _warnings(out)
    return out


def _warnings(r: dict[str, Any]) -> list[str]:
    w, n = [], r["shape"][0]
    if r["weights"]["clipped"]:
        w.append(f"{r['weights']['clipped']} weights clipped to the mantissa range")
    if r["bias"]["saturated"]:
        w.append(f"{r['bias']['saturated']} biases saturated at [-4096, 4095]")
    for key, count in r["collapses"].items():
        if count:
            w.append(f"{count}/{n} neurons: {key.replace('_', ' ')}")
    for key, count in r["constants_clipped"].items():
        if count:
            w.append(f"{count} {key} values clipped to their range")
    if r["weights"]["row_bits_min"] <= 2:
        low = r["weights"].get("rows_low_bits", 0)
        bits = r["weights"]["row_bits_min"]
        what = ("all their weights round to 0: those neurons get no input" if bits <= 0 else
                f"their largest weight is only {bits} bit(s) wide, so every weight of the row takes one of "
                f"{2 ** bits} values")
        w.append(f"{low}/{n} neurons (weight rows) use <= 2 effective weight bits, the fewest {bits}: {what}; the "
                 f"layer's shared exponent is set by its largest weights: raise --weight-bits (up to 8), or retrain (QAT, "
                 f"weight decay) so the rows' magnitudes are closer")
    return w


def build_report(folded: FoldedNetwork, net: Network, stats: list[LayerStats], config: QuantConfig) -> dict[str, Any]:
    """The full report (JSON-able)."""
    layers = [layer_report(i, fl, layer, st) for i, (fl, layer, st) in enumerate(zip(folded.layers, net.layers, stats))]
    return {
        "config": config.to_dict(),
        "source_neuron": folded.source_neuron,
        "notes": list(folded.notes),
        "layers": layers,
        "totals": {
            "weights_clipped": sum(l["weights"]["clipped"] for l in layers),
            "biases_saturated": sum(l["bias"]["saturated"] for l in layers),
            "collapsed_neurons": sum(sum(l["collapses"].values()) for l in layers),
            "warnings": sum(len(l["warnings"]) for l in layers),
        },
    }


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def report_text(report: dict[str, Any]) -> str:
    """Readable text version of :func:`build_report`."""
    c = report["config"]
    lines = [f"Quantization report ({report['source_neuron']} network)",
             f"settings: weight bits {c['weight_bits']}, decay bits {c['decay_bits']}, state fraction bits "
             f"{c['state_frac_bits']}" + (f", per-layer decay bits {c['layer_decay_bits']}" if c["layer_decay_bits"] else "")
             + (f", per-layer state bits {c['layer_state_frac_bits']}" if c["layer_state_frac_bits"] else ""),
             "rounding: half away from zero", ""]
    head = f"{'layer':<6}{'type':<8}{'shape':<12}{'exp':>4}{'s':>4}{'D':>4}{'max|w|':>8}{'clip':>6}" \
           f"{'w err':>8}{'bits min/med':>14}{'bias sat':>9}{'collapsed':>10}"
    lines += [head, "-" * len(head)]
    for l in report["layers"]:
        w = l["weights"]
        lines.append(f"{l['index']:<6}{l['type']:<8}{'x'.join(map(str, l['shape'])):<12}{l['weight_exp']:>4}"
                     f"{l['state_frac_bits']:>4}{l['decay_bits']:>4}{w['max_abs_int']:>8}{w['clipped']:>6}"
                     f"{w['rel_rms_error']:>8.3f}{w['row_bits_min']:>7}/{w['row_bits_median']:<6g}"
                     f"{l['bias']['saturated']:>9}{sum(l['collapses'].values()):>10}")
    lines.append("")
    for l in report["layers"]:
        if l.get("exponent_clamped_from") is not None:
            lines.append(f"layer {l['index']}: weights too small for the mantissa at exponent "
                         f"{l['exponent_clamped_from']}; exponent clamped to {l['weight_exp']} (the Loihi minimum), "
                         f"so the largest weight uses {l['weights']['max_abs_int']} of 254 (raise --state-frac-bits "
                         f"for this layer to keep all 8 bits)")
        if l["exponent_folded_into_s"]:
            lines.append(f"layer {l['index']}: CUBA weight exponent {l['exponent_folded_into_s']} folded into the "
                         f"state scale (s = {l['state_frac_bits']}, vThMant = {l['vth_mant']})")
        shaped = {k: b for k, b in (l.get("constant_bits") or {}).items() if KINDS[l["type"]].param(k).shape}
        if shaped:
            lines.append(f"layer {l['index']}: {l['type']} matrices need (from the data, of 24-bit words): "
                         + ", ".join(f"{k} {b} bits" for k, b in shaped.items()))
        for text in l["warnings"]:
            lines.append(f"layer {l['index']}: {text}")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    t = report["totals"]
    lines.append(f"totals: {t['weights_clipped']} weights clipped, {t['biases_saturated']} biases saturated, "
                 f"{t['collapsed_neurons']} neurons with collapsed decays")
    return "\n".join(lines) + "\n"
