"""``silava fusion``: deploy a HAS-8 ANN/SNN fusion network — host + chip (docs/has8.md).

    silava fusion export runs/h8/ckpt.pt -o runs/h8/deploy          # fold, quantize, write the folder
    silava fusion sim runs/h8/deploy [--samples N] [--report DIR]   # host + hwsim: accuracy, cost split
    silava fusion run runs/h8/deploy [--samples N] --compare-hwsim  # host + Lava (fixed_pt), vs hwsim

The chip (hwsim or Lava) runs the SNN path of every fusion block (one model.net segment per
block); the host runs the ANN paths, the bit-plane encoder and decoder, the fusion sums,
shortcuts, pooling and the head (:mod:`silava.core.fusion`). ``sim`` prints the accuracies and
the cost split: per block and part, where it runs and what it costs per sample (host MACs and
operations; chip synaptic operations, spikes in and out, cores, time and energy — estimates
labelled with the constant set); ``--report DIR`` writes ``fusion_report.json`` / ``.md``.
Bad input: one ``error:`` line, exit code 2.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from silava.core.cliutil import json_safe, one_line_parser

PROG = "silava fusion"
REPORT_FORMAT = "silava-fusion-report"

#: host arithmetic energy per operation, fp32 at 45 nm (M. Horowitz, "Computing's energy problem",
#: ISSCC 2014: add 0.9 pJ, multiply 3.7 pJ; memory access not included) — a rough estimate
HOST_PJ_PER_MAC = 4.6
HOST_PJ_PER_OP = 0.9
HOST_ENERGY_SOURCE = ("Horowitz, ISSCC 2014, 45 nm fp32: 4.6 pJ per multiply-accumulate, 0.9 pJ per add/compare; "
                      "arithmetic only (no memory access) - a rough estimate")


class FusionCliError(Exception):
    """Bad input to ``silava fusion`` (one line, exit code 2)."""


# ----------------------------------------------------------------------------------------- library

def load_inputs(plan: Any, *, task: Optional[str] = None, split: str = "test", samples: Optional[int] = None,
                inputs: Optional[str] = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: the plan's task split (default: the task it was trained on) or an ``.npz`` (x, y)."""
    from silava.core.cliutil import load_npz_inputs
    from silava.core.tasks import load_task_arrays

    if inputs:
        return load_npz_inputs(inputs, samples, FusionCliError)
    stored = dict(plan.meta.get("task") or {})
    name = task or stored.get("name")
    if not name:
        raise FusionCliError("the plan records no task: pass --task NAME or --inputs FILE.npz")
    C, H, W = plan.image_shape
    return load_task_arrays(name, stored, split=split, max_samples=samples, n_inputs=C * H * W)


def chip_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The per-sample numbers of one segment's hwsim report that the split table shows."""
    tot = report["counts"]["total_per_sample"]
    cost = report["cost"]["per_sample"]
    return {"effective_sops": tot["effective_sops"], "dense_sops": tot["dense_sops"],
            "input_spikes": tot["input_events"], "output_spikes": tot["spikes"],
            "neurons": int(sum(layer["out_features"] for layer in report["network"]["layers"])),
            "cores": report["mapping"]["cores_used"], "synapse_memory_bits": report["memory"]["total_bits"]["weights"],
            "time_ns": cost["time_ns"], "energy_pj": cost["energy_pj"], "dynamic_energy_pj": cost["dynamic_energy_pj"]}


def split_report(plan: Any, result: Any, chip_reports: dict[int, dict[str, Any]], y: Optional[np.ndarray] = None,
                 constants: str = "davies2018") -> dict[str, Any]:
    """What runs where and what each part costs per sample (host: MACs/ops; chip: the segments' reports)."""
    from silava.core.fusion import host_costs

    host = host_costs(plan)
    rows: list[dict[str, Any]] = []
    for hb in host["blocks"]:
        i = hb["block"]
        b = plan.blocks[i]
        name = f"block {i} ({b.op} {'x'.join(map(str, b.in_shape))} -> {'x'.join(map(str, b.out_shape))}, {b.path})"
        if b.has_ann:
            rows.append({"part": f"{name}: ANN path", "where": "host", "macs": hb["ann_macs"], "ops": 0})
        if b.has_snn:
            rows.append({"part": f"{name}: encoder", "where": "host", "macs": 0, "ops": hb["encode_ops"]})
            rows.append({"part": f"{name}: SNN path (block{i}.net)", "where": "chip", "macs": 0, "ops": 0,
                         **chip_summary(chip_reports[i])})
            rows.append({"part": f"{name}: decoder" + (" + fusion sum" if b.path == "fusion" else ""),
                         "where": "host", "macs": 0, "ops": hb["decode_ops"] + hb["fusion_adds"]})
    rows.append({"part": "shortcuts, pooling", "where": "host", "macs": 0, "ops": host["other_ops"]})
    rows.append({"part": "head (linear)", "where": "host", "macs": host["head_macs"], "ops": 0})
    chip_rows = [r for r in rows if r["where"] == "chip"]
    host_energy = host["macs"] * HOST_PJ_PER_MAC + host["ops"] * HOST_PJ_PER_OP
    chip_total = {key: float(sum(r[key] for r in chip_rows)) for key in
                  ("effective_sops", "dense_sops", "input_spikes", "output_spikes", "time_ns", "energy_pj",
                   "dynamic_energy_pj", "synapse_memory_bits")}
    chip_total["cores_max"] = max((r["cores"] for r in chip_rows), default=0)
    chip_total["segments"] = len(chip_rows)
    n = len(result.predictions)
    acc = {"float": plan.meta.get("float_accuracy")}
    if y is not None:
        acc["fixed_point"] = float(np.mean(result.predictions == np.asarray(y)))
    return json_safe({
        "format": REPORT_FORMAT, "format_version": 1, "arch": plan.arch, "samples": n, "accuracy": acc,
        "estimate_label": f"estimate (chip constants: {constants}; host: {HOST_ENERGY_SOURCE})",
        "rows": rows,
        "host": {"macs": host["macs"], "ops": host["ops"], "energy_pj": host_energy, "details": host},
        "chip": chip_total,
        "traffic": {"host_to_chip_spikes": chip_total["input_spikes"], "chip_to_host_spikes": chip_total["output_spikes"],
                    "note": "per sample: the bit-plane spikes the host sends and the spikes it reads back"},
        "total_energy_pj": host_energy + chip_total["energy_pj"],
        "notes": ["the blocks run one after the other: block i+1's encoder needs block i's decoded output, so the "
                  "chip time adds up over the segments and every segment is a host round trip",
                  "chip numbers come from hwsim's report of each segment (counts over the samples run); "
                  "time and energy are estimates",
                  "a conv SNN path deployed with lowering 'dense' holds its kernel unrolled (no weight sharing): "
                  "its synapse memory is that of the dense matrix" if plan.meta.get("lowering") == "dense" else
                  "a conv SNN path is a model.net conv layer: each core holding neurons of an output channel stores "
                  "that channel's kernel once (weight sharing)"],
    })


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return "-"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def render_markdown(rep: dict[str, Any]) -> str:
    acc = rep["accuracy"]
    lines = [f"# Fusion deployment report ({rep['arch']}, {rep['samples']} samples)", "",
             f"Accuracy: float {_fmt(acc.get('float'))}, fixed point (host + chip) {_fmt(acc.get('fixed_point'))}", "",
             f"All time/energy numbers are per sample and are an {rep['estimate_label']}.", "",
             "| part | where | host MACs | host ops | chip SOPs | spikes in | spikes out | cores | chip time ns | chip energy pJ |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        chip = r["where"] == "chip"
        lines.append(f"| {r['part']} | {r['where']} | {_fmt(r['macs']) if r['macs'] else ''} | {_fmt(r['ops']) if r['ops'] else ''} | "
                     + (f"{_fmt(r['effective_sops'])} | {_fmt(r['input_spikes'])} | {_fmt(r['output_spikes'])} | "
                        f"{r['cores']} | {_fmt(r['time_ns'])} | {_fmt(r['energy_pj'])} |" if chip else "| | | | | |"))
    h, c = rep["host"], rep["chip"]
    lines += ["", f"Host: {_fmt(h['macs'])} MACs + {_fmt(h['ops'])} ops per sample, about {_fmt(h['energy_pj'])} pJ. "
              f"Chip: {c['segments']} segments, {_fmt(c['effective_sops'])} synaptic ops (dense {_fmt(c['dense_sops'])}), "
              f"{_fmt(c['time_ns'])} ns, {_fmt(c['energy_pj'])} pJ (dynamic {_fmt(c['dynamic_energy_pj'])}). "
              f"Traffic: {_fmt(rep['traffic']['host_to_chip_spikes'])} spikes to the chip, "
              f"{_fmt(rep['traffic']['chip_to_host_spikes'])} back.", ""]
    lines += [f"- {n}" for n in rep["notes"]]
    return "\n".join(lines) + "\n"


def _with_progress(chip: Any, plan: Any, n: int, batch_size: Optional[int], progress: bool, desc: str):
    """``chip`` wrapped so that a tqdm bar counts the segment calls (chip blocks × batches)."""
    from tqdm import tqdm

    batches = max(1, -(-n // batch_size)) if batch_size else 1
    bar = tqdm(total=len(plan.chip_blocks) * batches, desc=desc, unit="segment", disable=not progress,
               leave=False, file=sys.stderr)

    def call(i: int, planes: np.ndarray) -> np.ndarray:
        out = chip(i, planes)
        bar.update(1)
        return out

    return call, bar


def simulate_fusion(folder: str | Path, x: np.ndarray, *, batch_size: Optional[int] = None,
                    timeline: str = "logical", progress: bool = False) -> tuple[Any, Any, Any]:
    """Host + hwsim on ``x``: returns ``(plan, FusionResult, HwsimChip)``."""
    from silava.core.fusion import read_plan, run
    from silava.hwsim.fusion import HwsimChip, load_segments

    plan = read_plan(folder)
    chip = HwsimChip(plan, load_segments(plan, folder), timeline=timeline)
    call, bar = _with_progress(chip, plan, len(x), batch_size, progress, "host + hwsim")
    with bar:
        return plan, run(plan, x, call, record=True, batch_size=batch_size), chip


def run_lava_fusion(folder: str | Path, x: np.ndarray, *, timeout_s: float = 600.0, progress: bool = False,
                    batch_size: Optional[int] = None) -> tuple[Any, Any, Any]:
    """Host + Lava (fixed_pt) on ``x``: returns ``(plan, FusionResult, LavaChip)``."""
    from silava.core import netfile
    from silava.core.fusion import read_plan, run
    from silava.lava_models import require_lava
    from silava.lava_models.fusion import LavaChip

    require_lava()
    plan = read_plan(folder)
    segments = {i: netfile.read(Path(folder) / str(plan.blocks[i].segment)) for i in plan.chip_blocks}
    chip = LavaChip(plan, segments, timeout_s=timeout_s, progress=progress)
    return plan, run(plan, x, chip, record=True, batch_size=batch_size), chip


def compare_results(a: Any, b: Any) -> dict[str, Any]:
    """Where two runs of the same plan differ: per chip block, the spikes; and the logits/predictions."""
    blocks = {i: int(np.count_nonzero(a.spikes[i] != b.spikes[i])) for i in a.spikes}
    return {"identical": bool(np.array_equal(a.logits, b.logits)) and not any(blocks.values()),
            "spike_mismatches": blocks, "prediction_agreement": float(np.mean(a.predictions == b.predictions)),
            "max_logit_difference": float(np.max(np.abs(a.logits - b.logits))) if a.logits.size else 0.0}


# ----------------------------------------------------------------------------------------- CLI

def build_parser():
    p = one_line_parser(FusionCliError, prog=PROG, description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", metavar="{export,sim,run}")
    e = sub.add_parser("export", help="fold + quantize a HAS-8 checkpoint, write the deployment folder")
    e.add_argument("checkpoint", help="ckpt.pt of a --arch has8-resnet/has8-vgg run (file or run folder)")
    e.add_argument("-o", "--output", required=True, metavar="DIR", help="deployment folder to write")
    e.add_argument("--state-frac-bits", type=int, default=12, metavar="S",
                   help="state fraction bits of the segments before folding the weight exponent (default 12)")
    e.add_argument("--weight-bits", type=int, default=8, metavar="B", help="weight mantissa bits (default 8)")
    for name, helptext in (("sim", "host + hwsim: accuracy and the host/chip cost split"),
                           ("run", "host + Lava (fixed_pt); --compare-hwsim checks identity with hwsim")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("folder", help="deployment folder written by `silava fusion export`")
        s.add_argument("--task", help="task name (default: the one the network was trained on)")
        s.add_argument("--inputs", metavar="FILE.npz", help="arrays x [N, 1, C*H*W] and y [N] instead of a task")
        s.add_argument("--split", default="test", choices=("train", "valid", "test"))
        s.add_argument("--samples", type=int, metavar="N", help="the first N samples of the split (default: all)")
        s.add_argument("--batch-size", type=int, metavar="B", help="samples per chip call (default: all at once)")
        s.add_argument("--json", metavar="FILE", help="write the results as JSON")
        if name == "sim":
            s.add_argument("--report", metavar="DIR", help="write fusion_report.json and fusion_report.md")
            s.add_argument("--constants", default="davies2018", help="chip constant set (davies2018, sanafe or a JSON file)")
        else:
            s.add_argument("--compare-hwsim", action="store_true", help="also run hwsim and check identical spikes")
            s.add_argument("--timeout", type=float, default=600.0, metavar="S", help="Lava wall-clock budget per segment")
    return p


def _export(args) -> int:
    from silava.core.fileio import check_outputs
    from silava.core.fixedpoint import QuantConfig
    from silava.export.has8 import Has8ExportError, checkpoint_meta, export_has8
    from silava.train.checkpoint import load_checkpoint

    src = Path(args.checkpoint)
    src_file = src / "ckpt.pt" if src.is_dir() else src
    out = Path(args.output)
    check_outputs({"-o": out / "fusion.json"}, {"checkpoint": src_file}, FusionCliError)
    model, ckpt = load_checkpoint(src)
    if not hasattr(model, "program"):
        raise FusionCliError(f"{src_file} holds a {ckpt['model_config'].get('arch', 'sparch')} model; silava fusion "
                             f"exports HAS-8 models (--arch has8-resnet/has8-vgg): use silava export for it")
    model.eval()
    try:
        res = export_has8(model, out, QuantConfig(weight_bits=args.weight_bits, state_frac_bits=args.state_frac_bits),
                          ckpt_meta=checkpoint_meta(ckpt, src_file))
    except Has8ExportError as exc:
        raise FusionCliError(str(exc)) from None
    plan = res["plan"]
    print(f"wrote {out}: {len(plan.blocks)} fusion blocks, {len(res['segments'])} chip segments "
          f"({', '.join(plan.blocks[i].segment for i in res['segments'])}), host plan fusion.json + host.npz")
    return 0


def _check_outputs(args, plan) -> None:
    """Refuse an output path that is one of the inputs (the plan, its arrays, a segment, --inputs)."""
    from silava.core.fileio import check_outputs

    folder = Path(args.folder)
    inputs = {"plan": folder / "fusion.json", "host arrays": folder / "host.npz", "--inputs": args.inputs}
    inputs.update({f"segment {b.segment}": folder / b.segment for b in plan.blocks if b.segment})
    report = getattr(args, "report", None)
    outputs = {"--json": args.json, "--report": Path(report) / "fusion_report.json" if report else None,
               "--report ": Path(report) / "fusion_report.md" if report else None}
    check_outputs(outputs, inputs, FusionCliError)


def _sim(args) -> int:
    from silava.core.fileio import write_json_atomic, write_text_atomic
    from silava.core.fusion import read_plan

    plan = read_plan(args.folder)
    _check_outputs(args, plan)
    x, y = load_inputs(plan, task=args.task, split=args.split, samples=args.samples, inputs=args.inputs)
    plan, res, chip = simulate_fusion(args.folder, x, batch_size=args.batch_size, progress=sys.stderr.isatty())
    rep = split_report(plan, res, chip.reports(args.constants), y, args.constants)
    rep["counters"] = {str(i): c for i, c in chip.counters().items()}
    print(render_markdown(rep), end="")
    if args.report:
        out = Path(args.report)
        write_json_atomic(out / "fusion_report.json", rep)
        write_text_atomic(out / "fusion_report.md", render_markdown(rep))
    if args.json:
        write_json_atomic(args.json, rep)
    return 0


def _run(args) -> int:
    from silava.core.fileio import write_json_atomic
    from silava.core.fusion import read_plan

    plan = read_plan(args.folder)
    _check_outputs(args, plan)
    x, y = load_inputs(plan, task=args.task, split=args.split, samples=args.samples, inputs=args.inputs)
    plan, res, chip = run_lava_fusion(args.folder, x, timeout_s=args.timeout, progress=sys.stderr.isatty(),
                                      batch_size=args.batch_size)
    out: dict[str, Any] = {"samples": len(y), "accuracy_lava": float(np.mean(res.predictions == y)),
                           "float_accuracy": plan.meta.get("float_accuracy"), "lava_wall_s": chip.wall_s}
    print(f"host + Lava fixed_pt: accuracy {out['accuracy_lava']:.4f} on {len(y)} samples "
          f"(float {plan.meta.get('float_accuracy')})")
    if args.compare_hwsim:
        _, ref, _ = simulate_fusion(args.folder, x, batch_size=args.batch_size)
        cmp = compare_results(ref, res)
        out["hwsim"] = {"accuracy": float(np.mean(ref.predictions == y)), **cmp}
        print(f"hwsim vs Lava: {'identical' if cmp['identical'] else 'DIFFERENT'} (spike mismatches per block "
              f"{cmp['spike_mismatches']}, prediction agreement {cmp['prediction_agreement']:.4f})")
    if args.json:
        write_json_atomic(args.json, json_safe(out))
    return 0 if not args.compare_hwsim or out["hwsim"]["identical"] else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``silava fusion``; returns the exit code (0 ok, 1 hwsim != Lava, 2 bad input)."""
    from silava.core.fusion import FusionError
    from silava.core.netfile import NetFileError
    from silava.core.tasks import TaskError
    from silava.train.checkpoint import CheckpointError

    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
        if not args.command:
            raise FusionCliError("choose a command: export, sim or run (see `silava fusion --help`)")
        if getattr(args, "samples", None) is not None and args.samples < 1:
            raise FusionCliError("--samples must be >= 1")
        if getattr(args, "batch_size", None) is not None and args.batch_size < 1:
            raise FusionCliError("--batch-size must be >= 1")
        return {"export": _export, "sim": _sim, "run": _run}[args.command](args)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (FusionCliError, FusionError, NetFileError, TaskError, CheckpointError, FileNotFoundError, ValueError,
            ImportError) as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "simulate_fusion", "run_lava_fusion", "split_report", "render_markdown", "compare_results",
           "load_inputs"]
