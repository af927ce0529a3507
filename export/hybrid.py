"""Export a hybrid recurrent network (``silava.train.hybrid``) to model.net: a ``dense_rec`` ``HYBRID``
layer and a ``dense`` ``LI2`` readout with graded payloads between them (docs/fixed_point.md §8).

numpy quantizer, written independently of the torch one in ``silava.train.hybrid_qat`` (the QAT forward);
tests/test_hybrid_deploy.py checks that both give the same integers. Per layer, ``rnd`` = round half away
from zero, ``S = 2^s``, ``q = payloadFracBits``, ``b`` weight bits::

    layer 0 (HYBRID, dense_rec):
      weight     W_in over binary spikes / counts: e = min exponent with max|W_in|·S/2^(e+7) ≤ 127 (≥ −8),
                 w = 2·clip(rnd(W_in·S / 2^(e+7)), ±127)
      weight_rec W_rec (⊙ M for separate paths) over payloads: the same with S/2^q, its own weightRecExp
      neuron     unit, softReset (codes), alpha = rnd(α·2^D), beta = rnd(β·2^D), vThMant = S/64, q, D, s
    layer 1 (LI2, dense): weight W_out over payloads (S_r/2^q), inputMessageBits = q + 1 (q + 2 with tanh
      units), alpha = rnd(α·2^D), beta = rnd(β_out·2^D)

``q`` comes from the data (:func:`silava.train.hybrid_qat.choose_payload_bits` on the first 256 train
samples) unless the checkpoint was fine-tuned with QAT (its ``payload_bits``) or ``payload_bits`` is given.
The network's decision is ``max_v`` (``readout="max"``) or ``sum_v``.
"""
from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Optional

import numpy as np

from silava.core import netfile
from silava.core.fixedpoint import WEIGHT_EXP_MIN, QuantConfig
from silava.core.kinds import KINDS
from silava.export.quantize import (QuantError, check_decay_bits, check_finite, check_state_frac_bits,
                                    check_threshold, check_weight_exp, on_grid, quantize_weights, rnd,
                                    weight_exponent)

#: unit codes (silava/core/kinds/hybrid.py)
from silava.core.kinds.hybrid import TANH_TABLE_BITS, UNIT_GRADED, UNIT_SPIKING, UNIT_TANH

INPUT_MESSAGE_BITS = {"binary": 0, "counts": 8}


def fold(model: Any) -> dict[str, Any]:
    """The float64 parameters of the deployed network (numpy)."""
    cfg = model.config
    if model.gamma is not None:
        raise QuantError("a flexible-spiking model must be binarised first (silava.train.hybrid.binarize)")
    H, C = cfg["n_hidden"], cfg["n_classes"]
    m = model.mask.detach().cpu().numpy().astype(np.float64)
    ns_code = UNIT_GRADED if cfg["nonspiking"] == "nsn" else UNIT_TANH
    unit = np.where(m == 1, UNIT_SPIKING, ns_code).astype(np.float64)
    ns_reset = 1.0 if (cfg["nonspiking"] == "nsn" and cfg["nsn_reset"]) else 0.0
    reset = np.where(m == 1, 1.0, ns_reset)
    w_rec = None
    if model.w_rec is not None:
        w_rec = model.w_rec.detach().cpu().numpy().astype(np.float64)
        if cfg["recurrent"] == "separate":
            w_rec = w_rec * (np.outer(m, m) + np.outer(1 - m, 1 - m))
    c = model.consts
    return {
        "weight": model.w_in.detach().cpu().numpy().astype(np.float64), "weight_rec": w_rec,
        "weight_out": model.w_out.detach().cpu().numpy().astype(np.float64),
        "hidden": {"alpha": np.full(H, c["alpha"]), "beta": np.full(H, c["beta"]), "unit": unit, "reset": reset},
        "readout": {"alpha": np.full(C, c["alpha"]), "beta": np.full(C, c["beta_out"])},
        "signed": bool(np.any(unit == UNIT_TANH)), "readout_rule": cfg["readout"],
    }


def _weights(where: str, w: np.ndarray, s: int, config: QuantConfig, stats: dict[str, Any]) -> tuple[np.ndarray, int]:
    check_finite(where, "weight", w)
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    e0 = weight_exponent(peak, s, config.weight_bits)
    e = max(e0, WEIGHT_EXP_MIN)
    check_weight_exp(where, e, peak, s)
    wi, clipped = quantize_weights(w, s, e, config.weight_bits)
    stats[where] = {"weight_exp": e, "exponent_clamped_from": e0 if e0 < e else None, "clipped": int(clipped),
                    "max_abs_int": int(np.max(np.abs(wi))) if wi.size else 0,
                    "rel_rms_error": _rel_rms(wi * 2.0**e * 64 / 2.0**s - w, w)}
    return wi, e


def _rel_rms(err: np.ndarray, ref: np.ndarray) -> float:
    den = float(np.sqrt(np.mean(ref**2))) if ref.size else 0.0
    return float(np.sqrt(np.mean(err**2))) / den if den else 0.0


def _constants(kind, params: dict[str, np.ndarray], D: int, s: int, settings: Optional[dict] = None) -> dict:
    def constant(p, g, lo, hi):
        v, _ = on_grid(params[p.source], g, lo, hi)
        return v
    return kind.integer_params(D, s, constant, settings)


def quantize(folded: dict[str, Any], config: Optional[QuantConfig] = None, *, payload_bits: int,
             input_message_bits: int = 0, meta: Optional[netfile.Meta] = None) -> tuple[netfile.Network, dict]:
    """The two integer layers of a folded hybrid network and the quantization report."""
    config = config or QuantConfig()
    if "weight_rec_exp" not in getattr(netfile.Layer, "__dataclass_fields__", {}):
        raise QuantError("this silava's model.net has no recurrent (dense_rec) layers with their own weight exponent: "
                         "a hybrid network cannot be exported here; update silava (model.net v2)")
    hk, rk = KINDS["HYBRID"], KINDS["LI2"]
    s, s_r = config.state_frac_bits_for(0), config.state_frac_bits_for(1)
    D, D_r = config.decay_bits_for(0), config.decay_bits_for(1)
    q = int(payload_bits)
    check_state_frac_bits("layer 0 (HYBRID)", s)
    check_state_frac_bits("layer 1 (LI2)", s_r)
    check_decay_bits("layer 0 (HYBRID)", D)
    check_decay_bits("layer 1 (LI2)", D_r)
    if not 1 <= q <= min(s, s_r, TANH_TABLE_BITS):
        raise QuantError(f"payload fraction bits {q} out of range [1, min(s_hidden {s}, s_readout {s_r}, 16)]: "
                         f"choose fewer payload bits or raise --state-frac-bits")
    check_threshold("layer 0 (HYBRID)", hk.vth_mant(s))
    stats: dict[str, Any] = {}
    w, e = _weights("layer 0 (HYBRID)", folded["weight"], s, config, stats)
    w_rec, e_rec = None, 0
    if folded["weight_rec"] is not None:
        w_rec, e_rec = _weights("layer 0 (HYBRID) recurrent", folded["weight_rec"], s - q, config, stats)
    w_out, e_out = _weights("layer 1 (LI2)", folded["weight_out"], s_r - q, config, stats)
    bits_out = q + (2 if folded["signed"] else 1)
    hidden_params = _constants(hk, folded["hidden"], D, s, {"payloadFracBits": q})
    readout_params = _constants(rk, folded["readout"], D_r, s_r)
    H, C = w.shape[0], w_out.shape[0]
    float_h = {"weight": folded["weight"], "weight_rec": folded["weight_rec"], "bias": np.zeros(H),
               "threshold": np.asarray(1.0), **folded["hidden"]}
    float_r = {"weight": folded["weight_out"], "bias": np.zeros(C),
               **folded["readout"]}
    layers = [
        netfile.Layer("HYBRID", w.astype(np.int64), hidden_params, bias=np.zeros(H, np.int64), weight_exp=e,
                      input_message_bits=int(input_message_bits), layer_type="dense_rec",
                      weight_rec=None if w_rec is None else w_rec.astype(np.int64), weight_rec_exp=e_rec,
                      float_params={k: v for k, v in float_h.items() if v is not None}),
        netfile.Layer("LI2", w_out.astype(np.int64), readout_params, bias=np.zeros(C, np.int64),
                      weight_exp=e_out, input_message_bits=bits_out, float_params=float_r),
    ]
    if w_rec is None:            # no recurrence: a plain dense layer
        layers[0].layer_type = "dense"
        layers[0].weight_rec_exp = None
        layers[0].float_params.pop("weight_rec", None)
    meta = meta or netfile.Meta(steps=1, n_inputs=w.shape[1], n_classes=C)
    meta.decision = "max_v" if folded["readout_rule"] == "max" else "sum_v"
    meta.quantization = {**config.to_dict(), "payload_bits": q, "payload_message_bits": bits_out,
                         "rounding": "round half away from zero", "arch": "hybrid"}
    net = netfile.Network(layers, meta)
    netfile.validate(net)
    report = _report(folded, net, stats, config, q, bits_out)
    return net, report


def _report(folded: dict, net: netfile.Network, stats: dict, config: QuantConfig, q: int, bits: int) -> dict:
    """A report in the shape of ``silava.export.report.build_report`` (its text renderer reads it)."""
    layers = []
    for i, (layer, name) in enumerate(zip(net.layers, ("layer 0 (HYBRID)", "layer 1 (LI2)"))):
        st = stats[name]
        w = np.asarray(layer.weight)
        entry = {"index": i, "type": layer.neuron_type, "source": "hybrid",
                 "shape": [int(w.shape[0]), int(w.shape[1])], "weight_exp": st["weight_exp"],
                 "state_frac_bits": config.state_frac_bits_for(i), "decay_bits": config.decay_bits_for(i),
                 "exponent_folded_into_s": 0, "exponent_clamped_from": st["exponent_clamped_from"],
                 "vth_mant": int(layer.neuron["vThMant"]) if "vThMant" in layer.neuron else None,
                 "weights": {"max_abs_float": float(np.max(np.abs(folded["weight" if i == 0 else "weight_out"]))),
                             "max_abs_int": st["max_abs_int"], "clipped": st["clipped"], "rounded_to_zero": 0,
                             "rel_rms_error": st["rel_rms_error"], "row_bits_min": 0, "row_bits_median": 0.0,
                             "row_bits_max": 0},
                 "bias": {"saturated": 0, "max_abs_int": 0, "max_abs_error": 0.0}, "constants_clipped": {},
                 "collapses": {}, "constants_max_abs_error": {}, "warnings": []}
        if i == 0 and "layer 0 (HYBRID) recurrent" in stats:
            r = stats["layer 0 (HYBRID) recurrent"]
            entry["recurrent"] = r
            if r["exponent_clamped_from"] is not None:
                entry["warnings"].append(f"recurrent weights: exponent clamped from {r['exponent_clamped_from']} "
                                         f"to {r['weight_exp']}; the largest uses {r['max_abs_int']} of 254")
        layers.append(entry)
    units = folded["hidden"]["unit"]
    notes = [f"hybrid layer: {int(np.sum(units == UNIT_SPIKING))} spiking, {int(np.sum(units == UNIT_GRADED))} graded "
             f"LIF, {int(np.sum(units == UNIT_TANH))} tanh units; graded payloads on the 2^{q} grid, "
             f"{bits}-bit messages ({'signed' if folded['signed'] else 'unsigned'}); recurrent weight exponent "
             f"{stats.get('layer 0 (HYBRID) recurrent', {}).get('weight_exp', '-')}"]
    return {"config": config.to_dict(), "source_neuron": "hybrid", "notes": notes, "layers": layers,
            "payload_bits": q, "payload_message_bits": bits,
            "totals": {"weights_clipped": sum(st["clipped"] for st in stats.values()), "biases_saturated": 0,
                       "collapsed_neurons": 0, "warnings": sum(len(entry["warnings"]) for entry in layers)}}


def quantize_hybrid_model(model: Any, ckpt: dict, config: Optional[QuantConfig] = None, *, steps: int, dt: float,
                          encoding: str, payload_bits: Optional[int] = None, checkpoint: str = "",
                          checkpoint_sha256: str = "", float_accuracy: float = math.nan,
                          task: Optional[dict] = None) -> tuple[netfile.Network, dict]:
    """Fold and quantize a trained hybrid model (``ckpt``: its checkpoint dict, for the QAT payload bits
    and the calibration data)."""
    config = config or QuantConfig()
    if encoding not in INPUT_MESSAGE_BITS:
        raise QuantError(f"input encoding {encoding!r}: the deployed network takes binary spikes or spike counts")
    q = payload_bits
    if q is None:
        q = ((ckpt.get("train_config") or {}).get("qat") or {}).get("payload_bits")
    if q is None:
        from silava.train.data import get_task
        from silava.train.hybrid_qat import calibration_inputs, choose_payload_bits

        data = dict(ckpt["data_config"])
        t = get_task(data.pop("name"), **data)
        q = choose_payload_bits(model, calibration_inputs(t), config.state_frac_bits_for(0))
    folded = fold(model)
    meta = netfile.Meta(steps=int(steps), n_inputs=folded["weight"].shape[1], n_classes=folded["weight_out"].shape[0],
                        dt=float(dt), input_encoding=encoding, timeline="lava", source_neuron="hybrid",
                        checkpoint_sha256=checkpoint_sha256, float_accuracy=float_accuracy, task=dict(task or {}),
                        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    net, report = quantize(folded, config, payload_bits=int(q), input_message_bits=INPUT_MESSAGE_BITS[encoding],
                           meta=meta)
    report["checkpoint"] = checkpoint or None
    return net, report


__all__ = ["fold", "quantize", "quantize_hybrid_model", "rnd"]
