"""``silava compare``: the float model vs the fixed-point network (hwsim) vs Lava, side by side.

    silava compare runs/r1/ckpt.pt --task randman [--samples N] [--lava-samples N]
                   [--net runs/r1/model.net] [--out DIR] [--json FILE] [--decay-bits D] ...
    python -m silava compare runs/r1                      # a run directory works too

Three runs on the same integer inputs (the task's ``--split``, default test; all samples unless
``--samples``), every one from a zero initial state:

1. **float**: the checkpoint's PyTorch model in eval mode (initial states forced to zero even if
   it was trained with ``init_state=random``; dropout off; BatchNorm running statistics), on the
   logical timeline; prediction ``argmax_c Σ_t softmax(v_t)_c`` (the training rule).
2. **fixed point (hwsim)**: the checkpoint quantized in memory exactly as ``export/to_lava.py``
   does (:func:`export.to_lava.quantize_checkpoint`, in memory; same flags),
   or the ``--net`` file, simulated bit-exactly by :func:`hwsim.simulate.simulate` (logical
   timeline); prediction by ``meta.decision`` (``softmax_sum``: ``argmax_c Σ_t softmax(V_t/S)_c``,
   docs/fixed_point.md §6) and by ``sum_v`` (``argmax_c Σ_t V_t``).
3. **Lava fixed_pt**: the same network as Lava processes on Lava's CPU simulator
   (:func:`lava_models.network.run_samples`) for the first ``--lava-samples`` samples
   (default 20; 0 skips Lava). It is bit-exact with hwsim, so the hwsim/Lava agreement must be
   exactly 1 and the readouts identical; the table says so.

Reported: accuracies (both decision rules), prediction agreement of each pair (float/hwsim on
all samples, float/Lava and hwsim/Lava on the Lava subset), the decision-rule agreement
(softmax_sum vs sum_v for each run, and sum_v vs the float prediction), and per hidden layer the
spike-count agreement float vs fixed point: spikes per sample of each, their ratio, the
Pearson correlation of the per-sample totals, the fraction of (sample, neuron) spike counts
that are equal, and the fraction of (sample, step, neuron) spike bits that are equal; plus the
readout error ``mean |V_t/S − v_t|`` in float units and hwsim's overflow counters.

Outputs: a table on stdout, ``--json`` (default ``<out>/compare.json``) and a plot
``<out>/compare.png`` (accuracy bars + per-layer spike-count scatter float vs fixed point);
``--out`` defaults to the checkpoint's folder. Files are written only when everything
succeeded, each atomically.

Lava policy: if Lava is not installed, a default run (no ``--lava-samples`` given) skips it with
a note in the table and the JSON and exits 0; an explicit ``--lava-samples N`` (N > 0) is an error
(exit 2) naming what to install. A Lava run that fails or times out is recorded (status
``failed`` and the error text), the outputs are written and the exit code is 1.

Bad input (missing or corrupt checkpoint, unknown task, a task whose sizes do not fit the
network, an unreadable or mismatched ``--net``, bad options, unwritable outputs): one line on
stderr naming the problem and the fix, exit code 2, no output file.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from silava.core.cliutil import command_name, json_safe, one_line_parser, parse_layer_bits, run_command
from silava.core.fileio import check_outputs, check_writable_file, sha256_file

PROG = "silava compare"
FORMAT = "silava-compare"
FORMAT_VERSION = 1
DEFAULT_LAVA_SAMPLES = 20


class CompareError(Exception):
    """Bad input for ``silava compare`` (one-line message: problem and fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command-line parser of ``silava compare``."""
    p = one_line_parser(CompareError, prog=prog, allow_abbrev=False,
                description="Compare the float model of a checkpoint with its Loihi 2 fixed-point network (hwsim, "
                            "bit-exact) and with Lava's fixed_pt simulation: accuracies, prediction agreement, "
                            "decision rules, per-layer spike counts. Writes a table, compare.json and compare.png.")
    p.add_argument("checkpoint", help="ckpt.pt written by train/train.py (or its run directory)")
    p.add_argument("--task", help="task name (randman, spoken-digits, shd, ssc); default: the checkpoint's task, "
                                  "whose stored config is reused")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="data split (default test)")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="float and hwsim on the first N samples of the split (default: all)")
    p.add_argument("--lava-samples", type=int, default=None, metavar="N",
                   help=f"Lava fixed_pt on the first N samples (default {DEFAULT_LAVA_SAMPLES}; 0 skips Lava). "
                        "Without this flag a missing Lava is only a note; with it, an error")
    p.add_argument("--lava-timeout", type=float, default=600.0, metavar="S",
                   help="wall-clock limit of the Lava run in seconds (default 600)")
    p.add_argument("--net", metavar="MODEL.NET", help="use this exported model.net instead of quantizing the "
                                                       "checkpoint in memory (quantization flags not allowed)")
    p.add_argument("--out", metavar="DIR", help="folder for compare.json and compare.png (default: the "
                                                "checkpoint's folder)")
    p.add_argument("--json", metavar="FILE", help="JSON output (default <out>/compare.json)")
    p.add_argument("--no-plot", action="store_true", help="do not write compare.png")
    p.add_argument("--plot-format", choices=("png", "svg", "pdf"), default="png",
                   help="format of the plot: compare.png (200 dpi, default), compare.svg or compare.pdf")
    p.add_argument("--batch-size", type=int, default=256, help="samples per float forward pass (default 256)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: up to 4)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    q = p.add_argument_group("quantization (as export/to_lava.py; default: the checkpoint's QAT settings if it "
                             "was fine-tuned with --qat, else 8/12/12)")
    q.add_argument("--weight-bits", type=int, default=None, help="weight mantissa bits, 2..8")
    q.add_argument("--decay-bits", type=int, default=None, help="decay grid bits D of SILIF/CSILIF/LI, 8..24")
    q.add_argument("--state-frac-bits", type=int, default=None, help="state fraction bits s, 6..22")
    q.add_argument("--layer-decay-bits", nargs="+", action="extend", default=None, metavar="I=D",
                   help="per-layer decay bits, e.g. 1=16")
    q.add_argument("--layer-state-frac-bits", nargs="+", action="extend", default=None, metavar="I=S",
                   help="per-layer state fraction bits, e.g. 0=10")
    return p


# --------------------------------------------------------------------------- results

@dataclass
class FloatRun:
    """The float model on ``x [N, T, F]``: predictions, readout and hidden spike counts (logical timeline).

    Spike trains are not kept (they can be large): per hidden layer the counts ``Σ_t s`` per
    (sample, neuron), and, when reference spike trains were given, how many (sample, step, neuron)
    entries equal them.
    """

    predictions: np.ndarray            # int64 [N], argmax Σ_t softmax(v_t)
    predictions_sum_v: np.ndarray      # int64 [N], argmax Σ_t v_t
    readout: np.ndarray                # float32 [N, T, C], v_t
    spike_counts: list[np.ndarray]     # per hidden layer int64 [N, H]
    equal_spikes: Optional[list[int]] = None   # per hidden layer: entries equal to the reference trains
    wall_s: float = 0.0
    forced_zero_init: bool = False     # the checkpoint used init_state="random"; compare ran with zeros


@dataclass
class LavaRun:
    """Outcome of the Lava fixed_pt run (``status``: ok | skipped | missing | failed)."""

    status: str
    note: str = ""
    samples: int = 0
    predictions: Optional[np.ndarray] = None
    predictions_sum_v: Optional[np.ndarray] = None
    readout: Optional[np.ndarray] = None
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- the three runs

def run_float(model, x: np.ndarray, *, batch_size: int = 256, zero_init: bool = True,
              reference_spikes: Optional[Sequence[np.ndarray]] = None) -> FloatRun:
    """The checkpoint's model (eval mode, no grad) on integer inputs ``x [N, T, F]``, in batches.

    ``zero_init``: force ``init_state="zeros"`` on every neuron (what the chip starts from); the
    original setting is restored afterwards. ``reference_spikes``: per hidden layer ``[N, T, H]``
    spike trains (e.g. hwsim's) to count equal entries against. Returns :class:`FloatRun`.
    """
    import torch

    neurons = [layer.neuron for layer in model.layers] + [model.readout.neuron]
    saved = [n.init_state for n in neurons]
    forced = zero_init and any(s != "zeros" for s in saved)
    start = time.perf_counter()
    preds, preds_v, readout = [], [], []
    counts: list[list[np.ndarray]] = [[] for _ in model.layers]
    equal = [0 for _ in model.layers] if reference_spikes is not None else None
    try:
        if zero_init:
            for n in neurons:
                n.init_state = "zeros"
        model.eval()
        with torch.no_grad():
            for first in range(0, len(x), max(1, int(batch_size))):
                xb = torch.from_numpy(np.asarray(x[first:first + batch_size], dtype=np.float32))
                rec = model(xb, record=True)
                v = rec["readout_v"]
                preds.append(rec["out"].argmax(dim=1).numpy().astype(np.int64))
                preds_v.append(v.sum(dim=1).argmax(dim=1).numpy().astype(np.int64))
                readout.append(v.numpy().astype(np.float32))
                for i, s in enumerate(rec["spikes"]):
                    train = s.numpy() > 0
                    counts[i].append(train.sum(axis=1, dtype=np.int64))
                    if equal is not None:
                        ref = np.asarray(reference_spikes[i][first:first + batch_size]) > 0
                        equal[i] += int(np.count_nonzero(train == ref))
    finally:
        for n, s in zip(neurons, saved):
            n.init_state = s
    return FloatRun(predictions=np.concatenate(preds), predictions_sum_v=np.concatenate(preds_v),
                    readout=np.concatenate(readout), spike_counts=[np.concatenate(c) for c in counts],
                    equal_spikes=equal, wall_s=time.perf_counter() - start, forced_zero_init=forced)


def run_lava(net, x: np.ndarray, *, timeout_s: float = 600.0, progress: bool = False) -> LavaRun:
    """Lava fixed_pt on ``x`` (all of it); never raises for a missing Lava or a failed run."""
    from silava import lava_models

    try:
        lava_models.require_lava()
    except lava_models.LavaMissingError as exc:
        return LavaRun(status="missing", note=str(exc))
    from silava.lava_models.builder import BuildError
    from silava.lava_models.network import run_samples
    from silava.lava_models.runner import LavaRunError

    try:
        res = run_samples(net, x, tag="fixed_pt", timeout_s=timeout_s, progress=progress)
    except (LavaRunError, BuildError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return LavaRun(status="failed", note=f"Lava run failed: {text}", samples=int(len(x)))
    return LavaRun(status="ok", samples=int(len(x)), predictions=res["predictions"],
                   predictions_sum_v=res["predictions_sum_v"], readout=res["readout"], wall_s=float(res["wall_s"]),
                   extra={"sample_steps_per_s": float(res["sample_steps_per_s"]),
                          "global_steps": int(res["global_steps"]),
                          "counters": dict((res.get("counters") or {}).get("total", {}))})


# --------------------------------------------------------------------------- statistics

def _mean_equal(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    return float(np.mean(np.asarray(a) == np.asarray(b))) if len(a) else None


def _pearson(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    """Pearson correlation; None when either side is constant (undefined)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def spike_agreement(float_counts: np.ndarray, fixed_counts: np.ndarray, steps: int,
                    equal_spikes: Optional[int] = None) -> dict[str, Any]:
    """Spike-count agreement of one hidden layer, float vs fixed point.

    ``float_counts`` / ``fixed_counts``: ``c[n, h] = Σ_t s[n, t, h]`` over ``steps`` steps, ``[N, H]``.
    Returns spikes per sample of each (mean of ``Σ_h c``), ``ratio`` = fixed / float totals,
    ``per_sample_correlation`` = Pearson of the per-sample totals ``Σ_h c``,
    ``neuron_count_correlation`` = Pearson of all ``c[n, h]``, ``equal_counts`` = fraction of
    (n, h) with ``c_float = c_fixed``, ``equal_spikes`` = ``equal_spikes / (N · steps · H)``, the
    fraction of (n, t, h) spike bits that are equal (None if not given), and the spike rates.
    """
    cf = np.asarray(float_counts, dtype=np.int64)
    cq = np.asarray(fixed_counts, dtype=np.int64)
    if cf.shape != cq.shape or cf.ndim != 2:
        raise ValueError(f"spike counts must both be [N, H]: float {cf.shape}, fixed {cq.shape}")
    tf, tq = cf.sum(axis=1), cq.sum(axis=1)
    n = max(1, cf.shape[0])
    entries = cf.shape[0] * max(1, int(steps)) * cf.shape[1]
    total_f, total_q = int(tf.sum()), int(tq.sum())
    return {
        "float_spikes_per_sample": total_f / n,
        "fixed_spikes_per_sample": total_q / n,
        "ratio": (total_q / total_f) if total_f else None,
        "per_sample_correlation": _pearson(tf, tq),
        "neuron_count_correlation": _pearson(cf, cq),
        "equal_counts": float(np.mean(cf == cq)) if cf.size else None,
        "equal_spikes": (equal_spikes / entries) if equal_spikes is not None and entries else None,
        "float_rate": total_f / entries if entries else None,
        "fixed_rate": total_q / entries if entries else None,
    }


def _simulate_subset(net, x: np.ndarray, k: int):
    from silava.hwsim.simulate import simulate

    return simulate(net, np.asarray(x)[:k], timeline="logical").counters


def build_comparison(net, y: np.ndarray, flt: FloatRun, sim, lava: LavaRun,
                     x_lava: Optional[np.ndarray] = None) -> dict[str, Any]:
    """All numbers of the comparison (JSON-able) from the three runs on the same inputs.

    ``sim`` is a logical-timeline :class:`hwsim.simulate.SimResult`; Lava's samples are the first
    ``lava.samples`` of ``y`` (``x_lava``: their inputs, to count hwsim's overflows on the same samples as
    Lava's counters).
    """
    from silava.app.run import LAVA_COUNTERS, hwsim_counters

    y = np.asarray(y, dtype=np.int64)
    n = int(len(y))
    scale = float(net.state_scale(len(net.layers) - 1))
    acc = {
        "float": float(np.mean(flt.predictions == y)),
        "float_sum_v": float(np.mean(flt.predictions_sum_v == y)),
        "hwsim": float(np.mean(sim.predictions == y)),
        "hwsim_sum_v": float(np.mean(sim.predictions_sum_v == y)),
        "lava": None, "lava_sum_v": None,
    }
    agreement: dict[str, Any] = {"float_hwsim": _mean_equal(flt.predictions, sim.predictions),
                                 "float_lava": None, "hwsim_lava": None}
    decision = {
        "rule": sim.decision,
        "float_softmax_sum_vs_sum_v": _mean_equal(flt.predictions, flt.predictions_sum_v),
        "hwsim_softmax_sum_vs_sum_v": _mean_equal(sim.predictions, sim.predictions_sum_v),
        "float_vs_hwsim_sum_v": _mean_equal(flt.predictions, sim.predictions_sum_v),
        "lava_softmax_sum_vs_sum_v": None,
    }
    lava_info: dict[str, Any] = {"status": lava.status, "note": lava.note, "samples": lava.samples,
                                 "tag": "fixed_pt", "backend": "Lava CPU simulator (Loihi2SimCfg)"}
    if lava.status == "ok":
        k = lava.samples
        subset_counters = (hwsim_counters(sim.counters)["total"] if k == n else
                           hwsim_counters(_simulate_subset(net, x_lava, k))["total"] if x_lava is not None else {})
        lp, lv = lava.predictions, lava.predictions_sum_v
        acc["lava"] = float(np.mean(lp == y[:k]))
        acc["lava_sum_v"] = float(np.mean(lv == y[:k]))
        agreement["float_lava"] = _mean_equal(flt.predictions[:k], lp)
        agreement["hwsim_lava"] = _mean_equal(sim.predictions[:k], lp)
        agreement["hwsim_lava_sum_v"] = _mean_equal(sim.predictions_sum_v[:k], lv)
        decision["lava_softmax_sum_vs_sum_v"] = _mean_equal(lp, lv)
        lava_info.update(
            wall_s=lava.wall_s, **lava.extra,
            readout_identical=bool(np.array_equal(np.asarray(lava.readout, dtype=np.int64), sim.readout[:k])),
            hwsim_counters=subset_counters,
            counters_identical=(None if "counters" not in lava.extra else
                                {k2: v for k2, v in subset_counters.items() if k2 in LAVA_COUNTERS}
                                == lava.extra["counters"]),
            subset_accuracy={"float": float(np.mean(flt.predictions[:k] == y[:k])),
                             "hwsim": float(np.mean(sim.predictions[:k] == y[:k])), "lava": acc["lava"]})
    layers = []
    steps = int(net.meta.steps)
    fixed_counts = [sim.in_window(s, i).sum(axis=1, dtype=np.int64) for i, s in enumerate(sim.spikes)]
    for i, (cf, cq) in enumerate(zip(flt.spike_counts, fixed_counts)):
        layer = net.layers[i]
        equal = flt.equal_spikes[i] if flt.equal_spikes is not None else None
        layers.append({"layer": i, "type": layer.neuron_type, "neurons": layer.out_features,
                       **spike_agreement(cf, cq, steps, equal)})
    v_fixed = sim.readout.astype(np.float64) / scale
    v_float = flt.readout.astype(np.float64)
    readout = {"mean_abs_error": float(np.mean(np.abs(v_fixed - v_float))) if v_float.size else None,
               "mean_abs_float": float(np.mean(np.abs(v_float))) if v_float.size else None,
               "correlation": _pearson(v_float, v_fixed), "state_scale": scale}
    return {
        "samples": n, "steps": int(net.meta.steps), "n_classes": int(net.meta.n_classes),
        "accuracy": acc, "agreement": agreement, "decision": decision, "lava": lava_info,
        "layers": layers, "readout": readout,
        "counters": {k: dict(v) for k, v in sim.counters.items()},
        "predictions": {"labels": y.tolist(), "float": flt.predictions.tolist(),
                        "hwsim": sim.predictions.tolist(), "hwsim_sum_v": sim.predictions_sum_v.tolist(),
                        "lava": None if lava.predictions is None else lava.predictions.tolist()},
        "spike_totals": {"float": [c.sum(axis=1).tolist() for c in flt.spike_counts],
                         "fixed": [c.sum(axis=1).tolist() for c in fixed_counts]},
    }


# --------------------------------------------------------------------------- text and plot

def _f(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def format_table(result: dict[str, Any]) -> str:
    """The readable comparison table (what ``silava compare`` prints)."""
    c = result["comparison"]
    acc, agr, dec, lava = c["accuracy"], c["agreement"], c["decision"], c["lava"]
    n, k = c["samples"], lava["samples"] if lava["status"] == "ok" else 0
    src = result["source"]
    lines = [f"silava compare: {src['checkpoint']} ({src['model']}, task {src['task']}, {src['split']} split, "
             f"{n} samples, T={c['steps']})",
             f"fixed point: {src['fixed_point']}"]
    if src.get("warnings"):
        lines += [f"warning: {w}" for w in src["warnings"]]
    lines += ["", f"{'accuracy':<38}{'samples':>8}  {'softmax_sum':>11}  {'sum_v':>7}",
              f"  {'float (PyTorch, zero init)':<36}{n:>8}  {_f(acc['float']):>11}  {_f(acc['float_sum_v']):>7}",
              f"  {'fixed point (hwsim, bit-exact)':<36}{n:>8}  {_f(acc['hwsim']):>11}  {_f(acc['hwsim_sum_v']):>7}"]
    if lava["status"] == "ok":
        sub = lava["subset_accuracy"]
        lines.append(f"  {'Lava fixed_pt (CPU simulator)':<36}{k:>8}  {_f(acc['lava']):>11}  {_f(acc['lava_sum_v']):>7}")
        lines.append(f"  {'(on the Lava subset: float ' + _f(sub['float']) + ', hwsim ' + _f(sub['hwsim']) + ')'}")
    else:
        lines.append(f"  {'Lava fixed_pt (CPU simulator)':<36}{'–':>8}  {lava['status']}: {lava['note']}")
    if result["source"].get("stored_test_acc") is not None:
        lines.append(f"  (accuracy stored in the checkpoint: {_f(result['source']['stored_test_acc'])})")
    lines += ["", f"{'prediction agreement':<38}{'samples':>8}  {'agreement':>11}",
              f"  {'float vs hwsim':<36}{n:>8}  {_f(agr['float_hwsim']):>11}"]
    if lava["status"] == "ok":
        same = "yes" if lava["readout_identical"] else "NO"
        lines += [f"  {'float vs Lava':<36}{k:>8}  {_f(agr['float_lava']):>11}",
                  f"  {'hwsim vs Lava':<36}{k:>8}  {_f(agr['hwsim_lava']):>11}   readout bit-identical: {same}"]
    lines += ["", f"{'decision rule (' + dec['rule'] + ' vs sum_v)':<38}{'samples':>8}  {'agreement':>11}",
              f"  {'float: softmax_sum vs sum_v':<36}{n:>8}  {_f(dec['float_softmax_sum_vs_sum_v']):>11}",
              f"  {'hwsim: softmax_sum vs sum_v':<36}{n:>8}  {_f(dec['hwsim_softmax_sum_vs_sum_v']):>11}",
              f"  {'float vs hwsim sum_v':<36}{n:>8}  {_f(dec['float_vs_hwsim_sum_v']):>11}"]
    if lava["status"] == "ok":
        lines.append(f"  {'Lava: softmax_sum vs sum_v':<36}{k:>8}  {_f(dec['lava_softmax_sum_vs_sum_v']):>11}")
    lines += ["", f"spike counts per hidden layer, float vs fixed point ({n} samples)",
              f"  {'layer':<6}{'type':<8}{'neurons':>8}{'float/sample':>14}{'fixed/sample':>14}{'ratio':>7}"
              f"{'corr(sample)':>14}{'equal counts':>14}{'equal spikes':>14}"]
    for info in c["layers"]:
        lines.append(f"  {info['layer']:<6}{info['type']:<8}{info['neurons']:>8}"
                     f"{info['float_spikes_per_sample']:>14.1f}{info['fixed_spikes_per_sample']:>14.1f}"
                     f"{_f(info['ratio'], 3):>7}{_f(info['per_sample_correlation'], 3):>14}"
                     f"{_f(info['equal_counts'], 3):>14}{_f(info['equal_spikes'], 4):>14}")
    r = c["readout"]
    lines.append(f"readout: mean |V/S - v_float| = {_f(r['mean_abs_error'])} (mean |v_float| {_f(r['mean_abs_float'])}, "
                 f"correlation {_f(r['correlation'])})")
    total = c["counters"].get("total", {})
    nonzero = {k2: v for k2, v in sorted(total.items()) if v}
    lines.append(f"hwsim counters ({n} samples): "
                 + (", ".join(f"{k2}={v}" for k2, v in nonzero.items()) if nonzero else "none"))
    if lava["status"] == "ok" and lava.get("counters") is not None:
        lc = {k2: v for k2, v in sorted(lava["counters"].items()) if v}
        same = "yes" if lava.get("counters_identical") else "NO"
        lines.append(f"Lava counters ({k} samples): " + (", ".join(f"{k2}={v}" for k2, v in lc.items()) if lc else "none")
                     + f"   same as hwsim's on those samples: {same}")
    return "\n".join(lines) + "\n"


def plot_comparison(result: dict[str, Any], fmt: str = "png") -> bytes:
    """The figure's bytes (``fmt``: png at 200 dpi, svg, pdf): accuracy bars (float, hwsim, Lava; both rules;
    the bar value inside the axes) + per-layer scatter of spikes per sample."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    c = result["comparison"]
    acc = c["accuracy"]
    n_layers = len(c["layers"])
    cols = 1 + min(n_layers, 4)
    fig = Figure(figsize=(3.6 * cols + 0.6, 3.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, cols, squeeze=False)
    ax = axes[0][0]
    names = ["float", "hwsim", "Lava"]
    soft = [acc["float"], acc["hwsim"], acc["lava"]]
    sumv = [acc["float_sum_v"], acc["hwsim_sum_v"], acc["lava_sum_v"]]
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, [v if v is not None else 0 for v in soft], 0.4, label="softmax_sum", color="#4C72B0")
    ax.bar(pos + 0.2, [v if v is not None else 0 for v in sumv], 0.4, label="sum_v", color="#DD8452")
    for p, v in zip(pos, soft):
        ax.text(p - 0.2, min((v or 0) + 0.01, 1.15), "n/a" if v is None else f"{100 * v:.1f}", ha="center",
                fontsize=7, clip_on=True)
    lava_n = c["lava"]["samples"] if c["lava"]["status"] == "ok" else 0
    ax.set_xticks(pos, [f"float\n(n={c['samples']})", f"hwsim\n(n={c['samples']})", f"Lava\n(n={lava_n})"])
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy")
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    totals = c["spike_totals"]
    for i in range(min(n_layers, 4)):
        ax = axes[0][i + 1]
        f = np.asarray(totals["float"][i])
        q = np.asarray(totals["fixed"][i])
        ax.scatter(f, q, s=6, alpha=0.4, color="#55A868", edgecolors="none")
        top = max(1, int(f.max(initial=0)), int(q.max(initial=0)))
        ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
        info = c["layers"][i]
        ax.set_title(f"layer {i} ({info['type']}): corr {_f(info['per_sample_correlation'], 3)}", fontsize=9)
        ax.set_xlabel("float spikes / sample")
        ax.set_ylabel("fixed-point spikes / sample")
    fig.suptitle(f"{result['source']['model']} on {result['source']['task']}: float vs fixed point vs Lava",
                 fontsize=10)
    fig.tight_layout()
    from silava.hwsim.plots import figure_bytes

    return figure_bytes(fig, fmt)


# --------------------------------------------------------------------------- helpers

def quant_config(args: argparse.Namespace, ckpt: dict[str, Any]):
    """The :class:`export.quantize.QuantConfig` for the command line: flags > the checkpoint's QAT settings > defaults."""
    return quant_config_for(
        ckpt, weight_bits=args.weight_bits, decay_bits=args.decay_bits, state_frac_bits=args.state_frac_bits,
        layer_decay_bits=None if args.layer_decay_bits is None else
        parse_layer_bits(args.layer_decay_bits, "--layer-decay-bits", CompareError),
        layer_state_frac_bits=None if args.layer_state_frac_bits is None else
        parse_layer_bits(args.layer_state_frac_bits, "--layer-state-frac-bits", CompareError))


def quant_config_for(ckpt: dict[str, Any], *, weight_bits: Optional[int] = None, decay_bits: Optional[int] = None,
                     state_frac_bits: Optional[int] = None, layer_decay_bits: Optional[dict[int, int]] = None,
                     layer_state_frac_bits: Optional[dict[int, int]] = None):
    """The :class:`export.quantize.QuantConfig` to use: given values > the checkpoint's QAT settings > defaults
    (:func:`silava.export.to_lava.quant_config_for`, the same rule as ``silava export``)."""
    from silava.export.quantize import QuantError
    from silava.export.to_lava import ExportError
    from silava.export.to_lava import quant_config_for as export_config

    try:
        return export_config(ckpt, weight_bits=weight_bits, decay_bits=decay_bits, state_frac_bits=state_frac_bits,
                             layer_decay_bits=layer_decay_bits, layer_state_frac_bits=layer_state_frac_bits)
    except (QuantError, ExportError) as exc:
        raise CompareError(str(exc)) from None


def quantize_in_memory(ckpt_path: Path, config) -> tuple[Any, dict[str, Any]]:
    """``(network, quantization report)``: what ``silava export`` computes, without writing anything."""
    from silava.export.quantize import QuantError
    from silava.export.to_lava import ExportError, quantize_checkpoint

    try:
        res = quantize_checkpoint(ckpt_path, config)
    except (ExportError, QuantError) as exc:
        raise CompareError(str(exc)) from None
    return res.network, res.report


def check_net_matches(net, model, net_path: str) -> None:
    """``--net`` must have the checkpoint's layer sizes (one line naming the first difference)."""
    sizes = [(layer.linear.in_features, layer.linear.out_features) for layer in model.layers]
    sizes.append((model.readout.linear.in_features, model.readout.linear.out_features))
    have = [(layer.in_features, layer.out_features) for layer in net.layers]
    if have != sizes:
        raise CompareError(f"--net {net_path}: its layers {have} do not match the checkpoint's {sizes}; export this "
                           f"checkpoint with `silava export` or drop --net")


def write_outputs(result: dict[str, Any], json_path: Path, png_path: Optional[Path], fmt: str = "png") -> list[Path]:
    """Render everything in memory, then write compare.json (+ compare.png) as one
    :class:`silava.core.fileio.atomic_group`: both are replaced or neither is (a full disk, Ctrl-C).

    A ``--json`` that is a device or FIFO (``/dev/stdout``) is written through, after the group.
    Raises ``OSError`` (named after the file) if a write fails.
    """
    from silava.core.fileio import atomic_write, is_special, write_group

    files = {json_path: (json.dumps(json_safe(result), indent=1, allow_nan=False) + "\n").encode("utf-8")}
    if png_path is not None:
        files[png_path] = plot_comparison(result, fmt)
    regular = {p: d for p, d in files.items() if not is_special(p)}
    write_group(regular)
    for path, data in files.items():
        if path not in regular:
            atomic_write(path, lambda fh, data=data: fh.write(data))
    return list(files)


# --------------------------------------------------------------------------- the command

def load_inputs(net, data_config: dict[str, Any], task: Optional[str], *, split: str = "test",
                samples: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``(x, y, task_config)``: the first ``samples`` of ``split`` of ``task`` as integer arrays for ``net``.

    The task config stored with the network (or the checkpoint's ``data_config``) is reused when it
    is the same task. Raises :class:`CompareError` for an unknown task or one that does not fit ``net``.
    """
    from silava.core.tasks import TaskError, load_task_arrays

    task = task or data_config.get("name")
    if not task:
        raise CompareError("the checkpoint names no task: pass --task NAME")
    stored = net.meta.task if net.meta.task and net.meta.task.get("name") == task else data_config
    try:
        x, y = load_task_arrays(task, stored, split=split, max_samples=samples, steps=net.meta.steps,
                                n_inputs=net.meta.n_inputs)
    except TaskError as exc:
        raise CompareError(f"--task {task}: {exc}") from None
    except (ValueError, KeyError, TypeError, FileNotFoundError, ImportError, OSError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CompareError(f"--task {task}: {text}") from None
    if len(y) == 0:
        raise CompareError(f"--task {task}: the {split} split holds no samples; choose another --split")
    x, y = check_arrays(net, x, y, f"--task {task}", "use the task the network was trained on")
    return x, y, dict(stored or {"name": task})


def check_arrays(net, x, y, what: str, fix: str = "pass the data the network was trained on"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Integer inputs ``x [N, T, F]`` that fit ``net`` and labels ``y [N]`` within its classes, or :class:`CompareError`."""
    from silava.core.inputs import InputError as SimInputError, check_inputs

    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise CompareError(f"{what}: labels must be integers of shape [N] = [{len(x)}], got {y.dtype} {tuple(y.shape)}")
    if len(y) and (int(y.max()) >= net.meta.n_classes or int(y.min()) < 0):
        raise CompareError(f"{what}: labels go up to {int(y.max())} (lowest {int(y.min())}) but the network has "
                           f"{net.meta.n_classes} classes; {fix}")
    try:
        x = check_inputs(net, x)
    except SimInputError as exc:
        raise CompareError(f"{what}: {exc}") from None
    return np.asarray(x, dtype=np.int64), y.astype(np.int64)


@dataclass
class Comparison:
    """What :func:`compare` found. ``data`` is what compare.json holds (:meth:`to_dict`); ``network`` is the
    fixed-point network that was compared (quantized in memory, or the one given)."""

    data: dict[str, Any]
    network: Any

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able result (a copy; NaN and infinities become None), as written to compare.json."""
        return json_safe(self.data)

    @property
    def table(self) -> str:
        """The readable table ``silava compare`` prints."""
        return format_table(self.data)

    @property
    def accuracy(self) -> dict[str, Any]:
        """Accuracies: ``float``, ``hwsim``, ``lava`` (None if Lava did not run) and their ``*_sum_v`` variants."""
        return dict(self.data["comparison"]["accuracy"])

    @property
    def agreement(self) -> dict[str, Any]:
        """Prediction agreement of each pair: ``float_hwsim``, ``float_lava``, ``hwsim_lava``."""
        return dict(self.data["comparison"]["agreement"])

    def plot(self) -> bytes:
        """The comparison plot (accuracy bars + per-layer spike counts) as PNG bytes."""
        return plot_comparison(self.data)

    def write(self, out_dir: str | os.PathLike, *, plot: bool = True) -> list[Path]:
        """Write ``compare.json`` (and ``compare.png``) into ``out_dir``, each atomically; returns the paths."""
        out = Path(out_dir)
        return write_outputs(self.data, out / "compare.json", out / "compare.png" if plot else None)

    def __repr__(self) -> str:
        src, c = self.data["source"], self.data["comparison"]
        acc = ", ".join(f"{k} {v:.4f}" for k, v in c["accuracy"].items() if v is not None and "_" not in k)
        return f"Comparison({src['model']} on {src['task']}, {c['samples']} samples: {acc})"


def compare(ckpt_path: str | os.PathLike, *, task: Optional[str] = None, split: str = "test",
            samples: Optional[int] = None, lava_samples: int = DEFAULT_LAVA_SAMPLES, lava_required: bool = False,
            lava_timeout: float = 600.0, net=None, net_path: Optional[str] = None, config=None,
            batch_size: int = 256, progress: bool = False, log=None, sim=None,
            lava: Optional[LavaRun] = None, inputs: Optional[tuple[np.ndarray, np.ndarray]] = None) -> Comparison:
    """Run the comparison; returns a :class:`Comparison` (``.to_dict()`` is what compare.json holds).

    ``inputs``: ``(x [N, T, F], y [N])`` integer arrays to compare on instead of a task's split (e.g.
    for a checkpoint trained on a Python ``Dataset``).

    ``net``: an ``silava.core.netfile.Network`` to use (else ``net_path`` is read, else the checkpoint is
    quantized in memory with ``config``). ``sim`` / ``lava``: results already computed on the same
    inputs (:func:`load_inputs` with the same task, split and samples; Lava on the first samples),
    e.g. by the demo, which are then not run again. ``log(msg)`` receives progress lines. Raises
    :class:`CompareError` (one line) for every bad input.
    """
    from silava.core.netfile import NetFileError, read
    from silava.hwsim.simulate import simulate
    from silava.train.checkpoint import CheckpointError, load_checkpoint

    say = log or (lambda msg: None)
    if samples is not None and samples < 1:
        raise CompareError(f"--samples {samples}: must be at least 1")
    if lava_samples < 0:
        raise CompareError(f"--lava-samples {lava_samples}: must be 0 (skip Lava) or more")
    if not lava_timeout > 0:
        raise CompareError(f"--lava-timeout {lava_timeout:g}: must be positive (seconds)")
    if lava_required and lava_samples > 0:
        from silava import lava_models

        try:
            lava_models.require_lava()
        except lava_models.LavaMissingError as exc:
            raise CompareError(f"--lava-samples {lava_samples}: {exc}; or pass --lava-samples 0") from None
    if task is not None:
        from silava.core.data import TASKS

        if task not in TASKS:
            raise CompareError(f"--task {task}: unknown task; choose one of {', '.join(TASKS)}")
    ckpt_path = Path(ckpt_path)
    try:
        model, ckpt = load_checkpoint(ckpt_path)
    except CheckpointError as exc:
        raise CompareError(str(exc)) from None
    real_ckpt = ckpt_path / "ckpt.pt" if ckpt_path.is_dir() else ckpt_path
    sha = sha256_file(real_ckpt)
    warnings: list[str] = []
    quant_report = None
    if net is None and net_path is not None:
        if not Path(net_path).is_file():
            raise CompareError(f"--net {net_path}: no such file; export one with `silava export CKPT` or drop --net")
        try:
            net = read(net_path)
        except NetFileError as exc:
            raise CompareError(f"--net {net_path}: {exc}") from None
    if net is not None:
        check_net_matches(net, model, net_path or "<network>")
        if net.meta.checkpoint_sha256 and net.meta.checkpoint_sha256 != sha:
            warnings.append(f"{net_path or 'the network'} was exported from another checkpoint (sha256 differs); "
                            f"re-export it for a meaningful comparison")
        fixed_src = f"{net_path}" if net_path else "given network"
    else:
        from silava.export.quantize import QuantConfig

        config = config or QuantConfig()
        t0 = time.perf_counter()
        net, quant_report = quantize_in_memory(ckpt_path, config)
        c = config
        fixed_src = (f"quantized in memory as silava export would (weight bits {c.weight_bits}, decay bits "
                     f"{c.decay_bits}, state fraction bits {c.state_frac_bits})")
        say(f"quantized the checkpoint in {time.perf_counter() - t0:.1f} s")

    data_config = dict(ckpt.get("data_config") or {})
    t0 = time.perf_counter()
    if inputs is not None:
        if task is not None:
            raise CompareError("give the data once: a task name or inputs=(x, y), not both")
        x, y = (np.asarray(a) for a in inputs)
        if samples is not None:
            x, y = x[:samples], y[:samples]
        x, y = check_arrays(net, x, y, "inputs")
        task, split, stored = "inputs", "given", {}
    else:
        task = task or data_config.get("name")
        x, y, stored = load_inputs(net, data_config, task, split=split, samples=samples)
    say(f"loaded {len(y)} {split} samples of task {task} in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    if sim is None:
        sim = simulate(net, x, timeline="logical")
        say(f"hwsim: {len(y)} samples in {time.perf_counter() - t0:.1f} s")
    elif sim.readout.shape[0] != len(y) or sim.timeline != "logical":
        raise CompareError(f"the given hwsim result covers {sim.readout.shape[0]} samples on the {sim.timeline} "
                           f"timeline; compare needs the logical timeline on the same {len(y)} samples")
    sim_s = time.perf_counter() - t0
    flt = run_float(model, x, batch_size=batch_size, reference_spikes=sim.spikes)
    say(f"float model: {len(y)} samples in {flt.wall_s:.1f} s")
    if lava is not None:
        if lava.status == "ok" and lava.samples > len(y):
            raise CompareError(f"the given Lava result covers {lava.samples} samples but only {len(y)} are compared")
    elif lava_samples > 0:
        k = min(lava_samples, len(y))
        lava = run_lava(net, x[:k], timeout_s=lava_timeout, progress=progress)
        if lava.status == "missing":
            lava.note = f"skipped: {lava.note}"
        say(f"Lava fixed_pt: {k} samples, {lava.status}" + (f" in {lava.wall_s:.1f} s" if lava.status == "ok" else ""))
    else:
        lava = LavaRun(status="skipped", note="--lava-samples 0")
    comparison = build_comparison(net, y, flt, sim, lava, x_lava=x[:lava.samples] if lava.status == "ok" else None)
    metrics = ckpt.get("metrics") or {}
    stored_acc = {"test": metrics.get("test_acc"), "valid": metrics.get("best_valid_acc")}.get(split)
    mc = ckpt["model_config"]
    hidden = mc.get("hidden_sizes", [])
    model_desc = f"{mc.get('neuron')} {'x'.join(str(h) for h in hidden)} -> {mc.get('n_classes')}"
    if flt.forced_zero_init:
        warnings.append("the checkpoint was trained with init_state=random; compare runs the float model from zero "
                        "states (as the chip does), so its accuracy can differ from the stored one")
    source = {
        "checkpoint": str(real_ckpt), "checkpoint_sha256": sha, "net": net_path, "fixed_point": fixed_src,
        "model": model_desc, "neuron": mc.get("neuron"), "task": task, "split": split,
        "task_config": stored, "stored_test_acc": stored_acc if isinstance(stored_acc, (int, float)) else None,
        "stored_accuracy_note": "computed by train/train.py on the same split (a random subset if it was trained "
                                "with --max-samples)",
        "qat": isinstance((ckpt.get("train_config") or {}).get("qat"), dict),
        "quantization": config.to_dict() if quant_report is not None else
        {k: v for k, v in (net.meta.quantization or {}).items()
         if k in ("weight_bits", "decay_bits", "state_frac_bits", "layer_decay_bits", "layer_state_frac_bits")},
        "quantization_totals": (quant_report or {}).get("totals"),
        "warnings": warnings,
    }
    try:
        from silava import __version__ as version
    except ImportError:  # pragma: no cover
        version = ""
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "silava_version": version,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "source": source, "comparison": comparison,
            "timings_s": {"float": flt.wall_s, "hwsim": sim_s, "lava": lava.wall_s}}
    return Comparison(data=data, network=net)


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """Command-line entry (``silava compare``, ``python -m silava compare``); returns the exit status."""
    prog = command_name("compare", prog)
    return run_command(prog, lambda: _main(argv, prog), (CompareError,),
                       interrupted="no output written; compare.json and compare.png are as they were")


def _main(argv: Optional[Sequence[str]], prog: str) -> int:
    args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.net and any(getattr(args, k) is not None for k in
                        ("weight_bits", "decay_bits", "state_frac_bits", "layer_decay_bits",
                         "layer_state_frac_bits")):
        raise CompareError("quantization flags apply when compare quantizes the checkpoint itself; drop them or "
                           "drop --net")
    if args.batch_size < 1:
        raise CompareError(f"--batch-size {args.batch_size}: must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise CompareError(f"--threads {args.threads}: must be at least 1")
    if math.isnan(args.lava_timeout) or not args.lava_timeout > 0:
        raise CompareError(f"--lava-timeout {args.lava_timeout:g}: must be a positive number of seconds "
                           f"(inf: no limit)")
    ckpt_path = Path(args.checkpoint)
    base = ckpt_path if ckpt_path.is_dir() else ckpt_path.parent
    out = Path(args.out) if args.out else base
    if out.exists() and not out.is_dir():
        raise CompareError(f"--out {out}: exists and is not a directory; choose another folder")
    json_path = check_writable_file(Path(args.json) if args.json else out / "compare.json", "--json", CompareError,
                                    create_parents=True)
    png_path = None if args.no_plot else check_writable_file(out / f"compare.{args.plot_format}", "--out",
                                                              CompareError, create_parents=True, seekable=True)
    real_ckpt = ckpt_path / "ckpt.pt" if ckpt_path.is_dir() else ckpt_path
    check_outputs({"--json": json_path, "--out compare.png": png_path},
                  {"checkpoint": real_ckpt, "--net network": args.net}, CompareError)
    from silava.train.checkpoint import CheckpointError, read_checkpoint

    try:
        ckpt = read_checkpoint(ckpt_path)
    except CheckpointError as exc:
        raise CompareError(str(exc)) from None
    config = None if args.net else quant_config(args, ckpt)
    import torch

    from silava.core.cliutil import progress_enabled
    from silava.train.train import default_threads

    torch.set_num_threads(args.threads or default_threads())
    progress = progress_enabled(False if args.no_progress else None)
    lava_samples = DEFAULT_LAVA_SAMPLES if args.lava_samples is None else args.lava_samples
    result = compare(ckpt_path, task=args.task, split=args.split, samples=args.samples,
                     lava_samples=lava_samples, lava_required=args.lava_samples is not None,
                     lava_timeout=args.lava_timeout, net_path=args.net, config=config,
                     batch_size=args.batch_size, progress=progress,
                     log=(lambda m: print(f"  {m}", file=sys.stderr)) if progress else None)
    sys.stdout.write(result.table)
    for path in write_outputs(result.data, json_path, png_path, args.plot_format):
        print(f"wrote {path}")
    lava = result.data["comparison"]["lava"]
    if lava["status"] == "failed":
        print(f"{prog}: {lava['note']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
