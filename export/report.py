"""Quantization report: what the integer grid did to each layer (JSON + readable text).

Per layer: the weight exponent and state scale (CUBA: the exponent folded into s), clipped
weights, max |w|, weights rounded to zero, the relative RMS weight error, the effective weight
bits per row (signed bits of the row's largest mantissa; min / median / max: the (1 - alpha)
folding makes rows of slow neurons small), saturated biases, clipped constants, and the
neurons whose decays collapse on the grid:

* SILIF / LI: ``alpha -> 2^D`` (membrane becomes a pure integrator), ``alpha -> 0`` (no memory);
  SILIF ``beta -> 2^D`` (adaptation integrator), ``beta -> 0``, coupling ``a -> 0``, ``b -> 0``;
* CSILIF: ``|lambda| < 1`` but ``|lambda_q| >= 1`` on the grid (no decay: the state can grow),
  ``lambda -> 0``;
* CUBA: ``du`` raised to ``1/4096`` (iDecay >= 1), ``dv -> 0`` (voltage integrator),
  ``du, dv -> 1`` (4096: no memory).

A collapse is counted when the float value is strictly inside the range and its grid value
sits on the boundary.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from silava.export.fold import FoldedNetwork
from silava.core.netfile import Network
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


def _collapse(value: np.ndarray, q: np.ndarray, lo: float, hi: float, q_lo: int, q_hi: int) -> dict[str, int]:
    value = np.asarray(value, dtype=np.float64)
    inside = (value > lo) & (value < hi)
    return {"to_max": int(np.sum(inside & (q == q_hi))), "to_min": int(np.sum(inside & (q == q_lo)))}


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
        },
        "bias": {"saturated": st.bias_saturated,
                 "max_abs_int": int(np.max(np.abs(layer.bias))) if layer.bias is not None else 0,
                 "max_abs_error": float(np.max(np.abs(b_back - fl.bias))) if fl.bias.size else 0.0},
        "constants_clipped": dict(st.constants_clipped),
    }
    n, p = layer.neuron, fl.params
    one = 2**D
    col: dict[str, int] = {}
    err: dict[str, float] = {}
    if layer.neuron_type in ("SILIF", "LI"):
        c = _collapse(p["alpha"], n["alpha"], 0.0, 1.0, 0, one)
        col["alpha_to_integrator"], col["alpha_to_zero"] = c["to_max"], c["to_min"]
        err["alpha"] = float(np.max(np.abs(n["alpha"] / one - p["alpha"])))
    if layer.neuron_type == "SILIF":
        c = _collapse(p["beta"], n["beta"], 0.0, 1.0, 0, one)
        col["beta_to_integrator"], col["beta_to_zero"] = c["to_max"], c["to_min"]
        col["a_to_zero"] = int(np.sum((p["a"] != 0) & (n["coupling"] == 0)))
        col["b_to_zero"] = int(np.sum((p["b"] != 0) & (n["spikeAdapt"] == 0)))
        err["beta"] = float(np.max(np.abs(n["beta"] / one - p["beta"])))
        err["a"] = float(np.max(np.abs(n["coupling"] / one - p["a"])))
        err["b"] = float(np.max(np.abs(n["spikeAdapt"] / S - p["b"])))
    if layer.neuron_type == "CSILIF":
        r = np.hypot(p["lam_re"], p["lam_im"])
        rq2 = n["cosDecay"].astype(np.float64) ** 2 + n["sinDecay"].astype(np.float64) ** 2
        col["lambda_to_no_decay"] = int(np.sum((r < 1) & (rq2 >= float(one) ** 2)))
        col["lambda_to_zero"] = int(np.sum((r > 0) & (n["cosDecay"] == 0) & (n["sinDecay"] == 0)))
        err["lam_re"] = float(np.max(np.abs(n["cosDecay"] / one - p["lam_re"])))
        err["lam_im"] = float(np.max(np.abs(n["sinDecay"] / one - p["lam_im"])))
    if layer.neuron_type == "CUBA":
        du, dv = p["cur_decay"], p["vol_decay"]
        col["cur_decay_raised_to_min"] = int(np.sum(np.floor(np.asarray(du) * 4096 + 0.5) < 1))
        col["vol_decay_to_zero"] = int(np.sum((dv > 0) & (n["vDecay"] == 0)))
        col["decay_to_full"] = int(np.sum(((du < 1) & (n["iDecay"] == 4096)) | ((dv < 1) & (n["vDecay"] == 4096))))
        err["cur_decay"] = float(np.max(np.abs(n["iDecay"] / 4096 - du)))
        err["vol_decay"] = float(np.max(np.abs(n["vDecay"] / 4096 - dv)))
    out["collapses"] = col
    out["constants_max_abs_error"] = err
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
        w.append(f"some rows use <= {r['weights']['row_bits_min']} effective weight bits")
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
        for text in l["warnings"]:
            lines.append(f"layer {l['index']}: {text}")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    t = report["totals"]
    lines.append(f"totals: {t['weights_clipped']} weights clipped, {t['biases_saturated']} biases saturated, "
                 f"{t['collapsed_neurons']} neurons with collapsed decays")
    return "\n".join(lines) + "\n"
