"""HAS-8 on digits-image: fusion with/without the order-aware gradient rescale, SigSine vs FourierSine,
fusion vs pure ANN vs pure SNN at equal widths — float and fixed-point accuracy, MACs, SOPs, parameters,
energy per sample. Not a test: nothing here asserts a time or an accuracy.

For every row and seed:
  1. train (``silava.train.train.train_run``; the run folder is reused when it holds a finished ckpt.pt);
  2. gradient flow at initialisation: the SNN-path weight-gradient norm of the first and last block
     on one training batch (how much the encoders amplify the gradient on its way back);
  3. deploy: fold + quantize (``silava fusion export``), run host + hwsim on the whole test split
     (fixed-point accuracy, the host/chip cost split of ``silava fusion sim``).
``--lava`` also runs host + Lava on the whole test split for the first seed of the first row and
checks that it is identical to host + hwsim.

    .venv/bin/python bench/has8.py                     # 6 rows x 3 seeds, 15 epochs (~20-40 min on 2 busy cores)
    .venv/bin/python bench/has8.py --quick             # 1 seed, 2 epochs, 3 rows: a smoke run
    .venv/bin/python bench/has8.py --lava              # + the hwsim == Lava check on the whole test split
    .venv/bin/python bench/has8.py --arch has8-vgg --depth 1 --out runs/bench_has8_vgg1 \
        --rows "fusion, FourierSine, rescale" "fusion, FourierSine, no rescale" "pure ANN" "pure SNN, FourierSine, rescale"

A CIFAR-10 run needs a GPU and the CIFAR-10 binary files (not available offline here)::

    silava train --task cifar10 --data-dir data/cifar10 --arch has8-resnet --arch-opt width=32 \\
        --arch-opt depth=4 --arch-opt blocks=2 --epochs 100 --lr 1e-3 --batch-size 128 --device cuda \\
        --out runs/cifar10_has8_b32 && silava fusion export runs/cifar10_has8_b32 -o runs/cifar10_has8_b32/deploy
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: name -> HAS-8 options on top of BASE
ROWS: dict[str, dict[str, Any]] = {
    "fusion, FourierSine, rescale": {"path": "fusion", "surrogate": "fourier", "rescale_grad": True},
    "fusion, FourierSine, no rescale": {"path": "fusion", "surrogate": "fourier", "rescale_grad": False},
    "fusion, SigSine, rescale": {"path": "fusion", "surrogate": "sigsine", "rescale_grad": True},
    "fusion, SigSine, no rescale": {"path": "fusion", "surrogate": "sigsine", "rescale_grad": False},
    "fusion, no encoder gradient": {"path": "fusion", "surrogate": "none"},
    "pure ANN": {"path": "ann"},
    "pure SNN, FourierSine, rescale": {"path": "snn", "surrogate": "fourier", "rescale_grad": True},
}
BASE = {"width": 8, "depth": 2}
SEEDS = [0, 1, 2]


def train(row: str, seed: int, args: argparse.Namespace) -> Path:
    from silava.train.config import merge_configs
    from silava.train.train import train_run

    out = Path(args.out) / f"{row.replace(', ', '_').replace(' ', '-')}_s{seed}"
    ckpt = out / "ckpt.pt"
    if ckpt.is_file():
        import torch

        if torch.load(ckpt, weights_only=True)["metrics"].get("finished"):
            return out
    base = {"width": args.width, "depth": args.depth}
    cfg = merge_configs({"task": "digits-image", "arch": args.arch, "arch_kwargs": {**base, **ROWS[row]},
                         "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "seed": seed,
                         "patience": 5, "threads": args.threads, "out": str(out)})
    train_run(cfg, overwrite=True, progress=False, quiet=True)
    return out


def gradient_flow(run: Path) -> dict[str, float]:
    """Weight-gradient norms of the first and last SNN path at initialisation (same seed, one batch of 128)."""
    import numpy as np
    import torch

    from silava.core.data import get_task
    from silava.train.checkpoint import load_checkpoint
    from silava.train.model import build_model

    _, ckpt = load_checkpoint(run)
    torch.manual_seed(int(ckpt["seed"]))
    model = build_model(ckpt["model_config"])
    task = get_task("digits-image")
    x = torch.from_numpy(np.stack([task.train[i][0] for i in range(128)]))
    y = torch.tensor([task.train[i][1] for i in range(128)])
    torch.nn.functional.cross_entropy(model(x), y).backward()
    snn = [float(b.snn_op.weight.grad.norm()) for b in model.blocks if b.has_snn]
    return {"snn_grad_first": snn[0], "snn_grad_last": snn[-1]} if snn else {}


def deploy(run: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Export ``run`` and evaluate host + hwsim on the whole test split."""
    from silava.app.fusion import load_inputs, simulate_fusion, split_report
    from silava.export.has8 import checkpoint_meta, export_has8
    from silava.train.checkpoint import load_checkpoint
    from silava.train.has8 import macs

    model, ckpt = load_checkpoint(run)
    model.eval()
    export_has8(model, run / "deploy", ckpt_meta=checkpoint_meta(ckpt, run / "ckpt.pt"))
    from silava.core.fusion import read_plan

    plan = read_plan(run / "deploy")
    x, y = load_inputs(plan, samples=args.samples)
    start = time.perf_counter()
    plan, res, chip = simulate_fusion(run / "deploy", x)
    sim_s = time.perf_counter() - start
    rep = split_report(plan, res, chip.reports(), y)
    m = macs(model)
    return {"float_acc": float(ckpt["metrics"]["test_acc"]), "fixed_acc": rep["accuracy"]["fixed_point"],
            "params": int(sum(p.numel() for p in model.parameters())),
            "host_macs": rep["host"]["macs"], "host_ops": rep["host"]["ops"], "snn_dense_macs": m["snn_dense_total"],
            "chip_sops": rep["chip"]["effective_sops"], "chip_spikes_out": rep["chip"]["output_spikes"],
            "chip_spikes_in": rep["chip"]["input_spikes"],
            "chip_energy_pj": rep["chip"]["energy_pj"], "chip_dynamic_pj": rep["chip"]["dynamic_energy_pj"],
            "host_energy_pj": rep["host"]["energy_pj"], "chip_time_ns": rep["chip"]["time_ns"],
            "segments": rep["chip"]["segments"], "test_samples": int(len(y)), "hwsim_seconds": sim_s,
            "train_seconds": float(ckpt["metrics"].get("train_seconds") or 0.0),
            "best_epoch": ckpt["metrics"].get("best_epoch"), "lowering": plan.meta.get("lowering"),
            "counters": {str(k): v for k, v in chip.counters().items()}}


def lava_check(run: Path, args: argparse.Namespace) -> dict[str, Any]:
    from silava.app.fusion import compare_results, load_inputs, run_lava_fusion, simulate_fusion
    from silava.core.fusion import read_plan

    plan = read_plan(run / "deploy")
    x, y = load_inputs(plan)
    _, ref, _ = simulate_fusion(run / "deploy", x)
    start = time.perf_counter()
    _, got, chip = run_lava_fusion(run / "deploy", x, timeout_s=3600, progress=sys.stderr.isatty())
    cmp = compare_results(ref, got)
    spikes = int(sum(int(s.sum()) for s in ref.spikes.values()))
    return {"run": str(run), "samples": int(len(y)), "identical": cmp["identical"],
            "spike_mismatches": cmp["spike_mismatches"], "spikes_compared": spikes,
            "lava_accuracy": float((got.predictions == y).mean()), "lava_seconds": time.perf_counter() - start,
            "lava_wall_per_segment_s": chip.wall_s}


def fmt(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    vals = [v * scale for v in values if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = ["| row | float acc % | fixed-point acc % | params | host MACs | chip SOPs | chip spikes out | "
             "chip energy µJ (dyn.) | host energy µJ | grad first/last SNN block |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row, seeds in results.items():
        rs = list(seeds.values())
        if not rs:
            continue
        get = lambda k: [r.get(k) for r in rs]  # noqa: E731
        ratio = [r["snn_grad_first"] / r["snn_grad_last"] for r in rs if r.get("snn_grad_last")]
        lines.append(
            f"| {row} | {fmt(get('float_acc'), 100)} | {fmt(get('fixed_acc'), 100)} | {rs[0]['params']:,} | "
            f"{rs[0]['host_macs']:,.0f} | {fmt(get('chip_sops'), 1, 0)} | {fmt(get('chip_spikes_out'), 1, 0)} | "
            f"{fmt(get('chip_energy_pj'), 1e-6, 1)} ({fmt(get('chip_dynamic_pj'), 1e-6, 2)}) | "
            f"{fmt(get('host_energy_pj'), 1e-6, 2)} | "
            f"{fmt(ratio, 1, 1 if statistics.mean(ratio) < 10 else 0) if ratio else '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_has8"), help="run folders and results.json")
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    p.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--arch", default="has8-resnet", choices=("has8-resnet", "has8-vgg"))
    p.add_argument("--width", type=int, default=BASE["width"])
    p.add_argument("--depth", type=int, default=BASE["depth"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=None, help="test samples for the deployment (default: all)")
    p.add_argument("--lava", action="store_true", help="host + Lava on the whole test split, first row, first seed")
    p.add_argument("--reeval", action="store_true", help="redo the deployment of finished runs")
    p.add_argument("--quick", action="store_true", help="1 seed, 2 epochs, 3 rows")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = args.seeds[:1], 2
        args.rows = [r for r in args.rows if r in ("fusion, FourierSine, rescale", "pure ANN",
                                                    "pure SNN, FourierSine, rescale")]
    from silava.core.fileio import write_json_atomic

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    results = doc.setdefault("rows", {})
    doc["settings"] = {"task": "digits-image", "arch": args.arch, "base": {"width": args.width, "depth": args.depth},
                       "epochs": args.epochs, "lr": args.lr,
                       "batch_size": args.batch_size, "seeds": args.seeds}
    for row in args.rows:
        for seed in args.seeds:
            key = str(seed)
            if key in results.get(row, {}) and not args.reeval:
                continue
            t0 = time.perf_counter()
            run = train(row, seed, args)
            r = {**deploy(run, args), **gradient_flow(run)}
            results.setdefault(row, {})[key] = r
            write_json_atomic(path, doc)
            print(f"{row} seed {seed}: float {r['float_acc']:.4f} fixed {r['fixed_acc']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.lava:
        first = train(args.rows[0], args.seeds[0], args)
        doc["lava"] = lava_check(first, args)
        write_json_atomic(path, doc)
        print(f"hwsim vs Lava on the whole test split: {doc['lava']}")
    print(table({r: results.get(r, {}) for r in args.rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
