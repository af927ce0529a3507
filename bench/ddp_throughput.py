"""Training throughput of ``silava train`` under torchrun: 1 process vs N processes on this machine.

    .venv/bin/python bench/ddp_throughput.py                       # 1 vs 2 processes, randman, 2x128 C-SiLIF
    .venv/bin/python bench/ddp_throughput.py --procs 1 2 --repeat 3 --epochs 2 --json out.json

Every configuration runs ``torchrun --standalone --nproc_per_node P -m silava train`` on the same task,
model, seed and global batch (``--batch-size`` is the global batch), alternating the process counts,
``--repeat`` times. Throughput = training samples × epochs / the run's ``train_seconds`` (every epoch:
the training pass and the validation pass; model building, data loading and the test pass excluded),
reported as min / median over the repeats with the final test accuracy, and the load average before
and after (the machine may be shared). Threads: each process takes the default (usable CPUs divided
by the processes on the node, at most 4). Results: bench/README.md ("ddp_throughput").
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(procs: int, args, out: Path) -> dict:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", str(procs), "-m", "silava", "train",
           "--task", "randman", "--neuron", args.neuron, "--hidden", str(args.hidden), "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--seed", "0", "--quiet", "--no-progress", "--out", str(out),
           "--overwrite", *[f"--data-opt={kv}" for kv in args.data_opt]]
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"torchrun with {procs} processes failed:\n{proc.stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"seconds": metrics["train_seconds"], "test_acc": metrics["test_acc"],
            "epoch_seconds": [h["seconds"] for h in metrics["history"]], "world_size": metrics["config"]["world_size"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--neuron", default="csilif")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--data-opt", action="append", default=[], help="randman option, e.g. samples_per_class=300")
    p.add_argument("--json", help="write the results as JSON")
    args = p.parse_args(argv)
    from silava.train.data import get_task

    opts = dict(kv.split("=", 1) for kv in args.data_opt)
    task = get_task("randman", **{k: int(v) if v.isdigit() else float(v) for k, v in opts.items()})
    n_train = len(task.train)
    load0 = os.getloadavg()
    print(f"randman: {n_train} training samples; {args.neuron} 2x{args.hidden}, global batch {args.batch_size}, "
          f"{args.epochs} epochs; load average at start {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f}")
    runs: dict[int, list[dict]] = {n: [] for n in args.procs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            for n in args.procs:
                res = run(n, args, Path(tmp) / f"p{n}_{r}")
                res["samples_per_s"] = n_train * args.epochs / res["seconds"]
                runs[n].append(res)
                print(f"  {n} process(es), run {r + 1}: {res['samples_per_s']:8.1f} samples/s "
                      f"({res['seconds']:.1f} s for {args.epochs} epochs), test acc {res['test_acc']:.4f}")
    load1 = os.getloadavg()
    base = statistics.median(r["samples_per_s"] for r in runs[args.procs[0]])
    print(f"\nload average at the end {load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f}")
    print("| processes | samples/s (median) | min | max | speed-up (median) | test acc |")
    print("|---|---|---|---|---|---|")
    for n, rs in runs.items():
        rates = [r["samples_per_s"] for r in rs]
        med = statistics.median(rates)
        print(f"| {n} | {med:.1f} | {min(rates):.1f} | {max(rates):.1f} | {med / base:.2f}x | "
              f"{', '.join(format(r['test_acc'], '.4f') for r in rs)} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"n_train": n_train, "load_start": load0, "load_end": load1,
                                               "runs": {str(k): v for k, v in runs.items()}}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
