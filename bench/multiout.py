"""Multi-output neuron ablation: float and fixed-point accuracy, SOPs and energy against SiLIF and C-SiLIF.

For every (task, model, seed): train (``silava.train.train.train_run``, in this process, on a
task built once per task) -> fold + quantize (``silava.export.to_lava.quantize_model``, default
settings: 8-bit weights, D = 12, s = 12) -> hwsim on the whole test split (fixed-point accuracy,
``softmax_sum`` decision) -> hwsim report (effective SOPs and energy per test sample, constants
``davies2018``). Rows go to ``--out/results.json``; an interrupted run resumes.

Models: SpArch, 2 hidden layers + LI readout.

* ``silif``, ``csilif``: the baselines, ``--hidden`` neurons per layer (default 48);
* ``mo-N{2,4}-M{1,2}-{none,classic,learn}-{stable,free}``: the multi-output neuron with N real state
  words (complex diagonal, N/2 eigenvalue pairs, S4D-Lin init), M outputs, reset
  none (condition "never"), classic (any output fires, R = θ C_mᵀ/‖C_m‖²: SiLIF's subtraction in
  output units), learn (any output fires, a learned subtraction vector ρ), A stable-constrained
  (|λ| < 1) or free; its hidden size is chosen so that the parameter count is closest to the
  baselines' (mean of SiLIF's and C-SiLIF's);
* ``--claim``: the paper's claim, learning with an unstable A: free A initialised unstable
  (``re_init = +0.5``: |λ| = e^{Δ/2} > 1 for every eigenvalue) with reset classic / learn / none.

Tasks (offline, no download): ``spoken-digits`` (espeak-ng digits, 20 classes, n_samples 1500,
101 bins of 10 ms), ``spoken-digits-noisy`` (the same, SNR 0–10 dB instead of 15–35), and
``randman-hard`` (bench/accuracy.py's harder Randman, 100 samples per class).

    .venv/bin/python bench/multiout.py                        # the full grid (hours on 2 shared cores)
    .venv/bin/python bench/multiout.py --tasks spoken-digits --seeds 1 --models silif,mo-N2-M1-classic-free
    .venv/bin/python bench/multiout.py --claim --tasks spoken-digits
    .venv/bin/python bench/multiout.py --dt-scale runs/mo_2x128/ckpt.pt   # zero-shot bin-width change
    .venv/bin/python bench/multiout.py --lava-check runs/mo_2x128/model.net --out runs/mo_2x128   # hwsim == Lava

Not a test: nothing here asserts a time or an accuracy.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from silava.core.fileio import write_json_atomic  # noqa: E402

TASKS = {
    "spoken-digits": {"task": "spoken-digits", "data": {"n_samples": 1500, "n_steps": 101, "max_time": 1.0},
                      "epochs": 8},
    "spoken-digits-noisy": {"task": "spoken-digits",
                            "data": {"n_samples": 1500, "n_steps": 101, "max_time": 1.0, "snr_db": [0.0, 10.0]},
                            "epochs": 8},
    "randman-hard": {"task": "randman", "data": {"n_classes": 20, "n_units": 30, "dim_manifold": 2, "alpha": 2.0,
                                                 "samples_per_class": 100}, "epochs": 12},
}
SEEDS = [1, 2, 3]
RESETS = {"none": {"reset": "never"}, "classic": {"reset": "any", "reset_action": "classic"},
          "learn": {"reset": "any", "reset_action": "vector"}}


def multiout_models() -> dict[str, dict]:
    out = {}
    for N in (2, 4):
        for M in (1, 2):
            for reset, rkw in RESETS.items():
                for stab in ("stable", "free"):
                    out[f"mo-N{N}-M{M}-{reset}-{stab}"] = {"neuron": "multiout", "kw": {
                        "n_states": N // 2, "n_outputs": M, "transition": "complex", "stable": stab == "stable",
                        **rkw}}
    return out


def claim_models() -> dict[str, dict]:
    return {f"claim-N2-M1-{reset}-unstable": {"neuron": "multiout", "kw": {
        "n_states": 1, "n_outputs": 1, "transition": "complex", "stable": False, "re_init": 0.5, **rkw}}
        for reset, rkw in RESETS.items()}


BASELINES = {"silif": {"neuron": "silif", "kw": {}}, "csilif": {"neuron": "csilif", "kw": {}}}


def n_params(n_in: int, hidden: int, n_classes: int, neuron: str, kw: dict) -> int:
    from silava.train.model import SpArchNet

    model = SpArchNet(n_in, [hidden, hidden], n_classes, neuron, neuron_kwargs=kw)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def matched_hidden(n_in: int, n_classes: int, target: int, neuron: str, kw: dict) -> int:
    """The hidden size whose parameter count is closest to ``target``."""
    best = min(range(4, 257), key=lambda h: abs(n_params(n_in, h, n_classes, neuron, kw) - target))
    return int(best)


def fixed_point_eval(model, task, facts: dict) -> dict:
    """Quantize ``model`` and run hwsim on the whole test split: accuracy, SOPs and energy per sample."""
    import numpy as np

    from silava.core.tasks import load_task_arrays
    from silava.export.to_lava import ExportError, quantize_model
    from silava.hwsim.report import build_report
    from silava.hwsim.simulate import simulate

    try:
        q = quantize_model(model, steps=facts["n_steps"], dt=facts["dt"], encoding=facts["encoding"],
                           task=dict(task.config, name=task.name))
    except ExportError as exc:
        return {"fixed_acc": None, "export_error": str(exc)}
    net = q.network
    x, y = load_task_arrays(task.name, dict(task.config), split="test", steps=net.meta.steps,
                            n_inputs=net.meta.n_inputs)
    sim = simulate(net, x)
    report = build_report(net, sim, "davies2018", x=x)
    per = report["counts"]["total_per_sample"]
    sat = int(sum(v for k, v in sim.counters["total"].items() if k == "saturate"))
    return {"fixed_acc": float(np.mean(sim.predictions == y)), "sops_per_sample": float(per["effective_sops"]),
            "spikes_per_sample": float(per["spikes"]),
            "energy_uj_per_sample": float(report["cost"]["per_sample"]["energy_pj"]) / 1e6,
            "dynamic_energy_uj_per_sample": float(report["cost"]["per_sample"]["dynamic_energy_pj"]) / 1e6,
            "saturations": sat, "n_test": int(len(y))}


def one_run(task_key: str, task, name: str, spec: dict, hidden: int, seed: int, out: Path, epochs: int) -> dict:
    import torch

    from silava.train.checkpoint import load_checkpoint
    from silava.train.config import DEFAULTS
    from silava.train.train import train_run

    run_dir = out / task_key / f"{name}_s{seed}"
    cfg = copy.deepcopy(DEFAULTS)
    cfg.update(task=TASKS[task_key]["task"], neuron=spec["neuron"], hidden=hidden, layers=2, epochs=epochs,
               seed=seed, out=str(run_dir), data=dict(TASKS[task_key]["data"]), neuron_kwargs=dict(spec["kw"]),
               batch_size=64, threads=1, patience=3)
    t0 = time.perf_counter()
    metrics = train_run(cfg, task=task, overwrite=True, progress=False, quiet=True)
    train_s = time.perf_counter() - t0
    model, ckpt = load_checkpoint(run_dir / "ckpt.pt")
    model.eval()
    facts = ckpt["train_config"]["task_facts"]
    row = {"task": task_key, "model": name, "seed": seed, "hidden": hidden,
           "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
           "float_acc": float(metrics.get("test_acc") or float("nan")),
           "train_s": round(train_s, 1), **fixed_point_eval(model, task, facts)}
    if spec["neuron"] == "multiout":
        radius = torch.cat([layer.neuron.spectral_radius() for layer in model.layers])
        row["unstable_frac"] = float((radius > 1).float().mean())
        row["max_radius"] = float(radius.max())
    return row


def _mean_std(values: list) -> str:
    vals = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    if not vals:
        return "–"
    m = statistics.fmean(vals) * 100
    s = statistics.stdev(vals) * 100 if len(vals) > 1 else 0.0
    return f"{m:.1f} ± {s:.1f}" + (f" ({len(vals)}/{len(values)})" if len(vals) < len(values) else "")


def _mean(values: list, fmt: str) -> str:
    vals = [v for v in values if isinstance(v, (int, float))]
    return format(statistics.fmean(vals), fmt) if vals else "–"


def table(rows: list[dict]) -> str:
    lines = ["| task | model | hidden | params | seeds | float acc % | fixed acc % | SOPs/sample | "
             "energy µJ/sample (est.) | unstable λ (frac / max) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for task in TASKS:
        names = list(dict.fromkeys(r["model"] for r in rows if r["task"] == task))
        for name in names:
            rs = [r for r in rows if r["task"] == task and r["model"] == name]
            unstable = (f"{_mean([r.get('unstable_frac') for r in rs], '.2f')} / "
                        f"{_mean([r.get('max_radius') for r in rs], '.3f')}" if "unstable_frac" in rs[0] else "")
            lines.append(f"| {task} | {name} | {rs[0]['hidden']} | {rs[0]['params']} | {len(rs)} | "
                         f"{_mean_std([r['float_acc'] for r in rs])} | {_mean_std([r.get('fixed_acc') for r in rs])} | "
                         f"{_mean([r.get('sops_per_sample') for r in rs], '.3g')} | "
                         f"{_mean([r.get('energy_uj_per_sample') for r in rs], '.3g')} | {unstable} |")
    return "\n".join(lines)


def factor_summary(rows: list[dict], task: str) -> str:
    """Mean float accuracy (pp) of the multi-output grid on ``task`` per level of each factor, over the other
    factors and the seeds (only configurations whose every seed finished)."""
    mo = [r for r in rows if r["task"] == task and r["model"].startswith("mo-")]
    if not mo:
        return ""
    lines = [f"| factor ({task}) | level | runs | float acc % (mean) | fixed acc % (mean) |", "|---|---|---|---|---|"]
    parts = {"N": 1, "M": 2, "reset": 3, "A": 4}
    for factor, idx in parts.items():
        levels = sorted({r["model"].split("-")[idx] for r in mo})
        for level in levels:
            rs = [r for r in mo if r["model"].split("-")[idx] == level]
            fixed = [r["fixed_acc"] for r in rs if isinstance(r.get("fixed_acc"), float)]
            lines.append(f"| {factor} | {level} | {len(rs)} | {100 * statistics.fmean(r['float_acc'] for r in rs):.1f} | "
                         f"{100 * statistics.fmean(fixed):.1f} |" if fixed else "| – |")
    return "\n".join(lines)


def print_tables(paths: list[str]) -> None:
    rows = []
    for path in paths:
        rows += json.loads(Path(path).read_text())
    print(table(rows))
    for task in TASKS:
        text = factor_summary(rows, task)
        if text:
            print()
            print(text)


# --------------------------------------------------------------------------- zero-shot bin-width change

def dt_scale_eval(ckpt_path: str, rhos: list[float], out: Path) -> list[dict]:
    """Accuracy of a checkpoint on its task re-binned at ρ× the training bin width: the model run unchanged
    against the model exported with ``--dt-scale ρ`` — the analytic rule (``--dt-calibrate 0``) and the
    default, event ratios measured on 200 training samples — (hwsim, fixed point, whole test split)."""
    import numpy as np

    from silava.core.data import get_task
    from silava.core.tasks import load_task_arrays
    from silava.export.dtscale import rescaled_steps
    from silava.export.to_lava import quantize_checkpoint, quantize_model
    from silava.hwsim.simulate import simulate
    from silava.train.checkpoint import load_checkpoint

    model, ckpt = load_checkpoint(ckpt_path)
    model.eval()
    facts = ckpt["train_config"]["task_facts"]
    data = dict(ckpt["data_config"])
    name = data.pop("name")
    T = int(facts["n_steps"])
    rows = []
    for rho in [1.0, *rhos]:
        steps = rescaled_steps(T, rho)
        cfg = dict(data, n_steps=steps)
        task = get_task(name, **cfg)
        x, y = load_task_arrays(name, dict(task.config), split="test", steps=steps, n_inputs=task.n_inputs)
        row = {"rho": rho, "steps": steps, "bin_ms": 1e3 * float(cfg.get("max_time", 1.0)) / (steps - 1)}
        for label, scale, cal in (("unchanged", 1.0, 0), ("dt_scaled", rho, 0), ("dt_calibrated", rho, 200)):
            if rho == 1.0 and scale != 1.0:
                continue
            q = quantize_checkpoint(ckpt_path, dt_scale=scale, dt_calibrate=cal) if cal else \
                quantize_model(model, steps=T, dt=facts["dt"], encoding=facts["encoding"], dt_scale=scale)
            net = q.network
            net.meta.steps = steps              # run on the re-binned inputs (same duration)
            sim = simulate(net, x)
            row[label] = float(np.mean(sim.predictions == y))
        if rho == 1.0:
            row["dt_scaled"] = row["dt_calibrated"] = row["unchanged"]
        with __import__("torch").no_grad():
            import torch
            xt = torch.from_numpy(x.astype(np.float32))
            row["float_unchanged"] = float((model(xt).argmax(1).numpy() == y).mean())
        rows.append(row)
        print(f"rho {rho:g}: {steps} steps of {row['bin_ms']:.1f} ms: unchanged {row['unchanged']:.4f}, "
              f"--dt-scale analytic {row['dt_scaled']:.4f}, calibrated {row['dt_calibrated']:.4f} "
              f"(float unchanged {row['float_unchanged']:.4f})", flush=True)
    write_json_atomic(out / "dt_scale.json", rows)
    return rows


def lava_check(net_path: str, out: Path, samples: int = 0) -> dict:
    """Run a model.net on its task's whole test split in hwsim and in Lava (fixed_pt, CPU simulator); compare the
    readout V of every step and every spike of every layer exactly (the logical, aligned timeline)."""
    import numpy as np

    from silava.core.netfile import read
    from silava.core.tasks import load_task_arrays
    from silava.hwsim.simulate import simulate
    from silava.lava_models.network import run_samples

    net = read(net_path)
    task = dict(net.meta.task)
    x, y = load_task_arrays(task["name"], task, split="test", steps=net.meta.steps, n_inputs=net.meta.n_inputs,
                            max_samples=samples or None)
    t0 = time.perf_counter()
    hw = simulate(net, x)
    hw_s = time.perf_counter() - t0
    lava = run_samples(net, x, tag="fixed_pt", timeout_s=6 * 3600, progress=False, record=True)
    same_readout = bool(np.array_equal(hw.readout, lava["readout"]))
    same_spikes = [bool(np.array_equal(a, b)) for a, b in zip(hw.spikes, lava["spikes"])]
    row = {"net": str(net_path), "samples": int(len(y)), "layers": [l.neuron_type for l in net.layers],
           "identical_readout": same_readout, "identical_spikes": same_spikes,
           "identical_predictions": bool(np.array_equal(hw.predictions, lava["predictions"])),
           "hwsim_acc": float(np.mean(hw.predictions == y)), "lava_acc": float(np.mean(lava["predictions"] == y)),
           "spikes_per_sample": [float(s.sum()) / len(y) for s in hw.spikes],
           "hwsim_s": round(hw_s, 1), "lava_s": round(float(lava["wall_s"]), 1)}
    write_json_atomic(out / "lava_check.json", row)
    print(json.dumps(row, indent=1))
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--models", default="", help="comma-separated model names (default: baselines + the grid)")
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    p.add_argument("--hidden", type=int, default=48, help="baseline hidden size (multiout: parameter-matched)")
    p.add_argument("--epochs", type=int, default=0, help="override the per-task epochs")
    p.add_argument("--claim", action="store_true", help="the unstable-A claim models instead of the grid")
    p.add_argument("--dt-scale", metavar="CKPT", help="evaluate CKPT at 2x and 1/2x the training bin width")
    p.add_argument("--rhos", default="2,0.5")
    p.add_argument("--lava-check", metavar="NET", help="hwsim vs Lava fixed_pt on NET's whole test split")
    p.add_argument("--table", nargs="+", metavar="RESULTS", help="print the tables of these results.json files")
    p.add_argument("--out", default=str(ROOT / "runs" / "bench_multiout"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.dt_scale:
        dt_scale_eval(args.dt_scale, [float(r) for r in args.rhos.split(",")], out)
        return 0
    if args.lava_check:
        lava_check(args.lava_check, out)
        return 0
    if args.table:
        print_tables(args.table)
        return 0
    import torch

    torch.set_num_threads(1)
    from silava.train.train import load_task

    models = {**BASELINES, **(claim_models() if args.claim else multiout_models())}
    if args.models:
        models = {k: v for k, v in {**BASELINES, **multiout_models(), **claim_models()}.items()
                  if k in args.models.split(",")}
    results_path = out / "results.json"
    rows = json.loads(results_path.read_text()) if results_path.exists() else []
    done = {(r["task"], r["model"], r["seed"]) for r in rows}
    for task_key in args.tasks.split(","):
        spec_t = TASKS[task_key]
        task = load_task(spec_t["task"], dict(spec_t["data"]))
        base = statistics.fmean(n_params(task.n_inputs, args.hidden, task.n_classes, b["neuron"], b["kw"])
                                for b in BASELINES.values())
        for name, spec in models.items():
            hidden = args.hidden if name in BASELINES else matched_hidden(task.n_inputs, task.n_classes, int(base),
                                                                          spec["neuron"], spec["kw"])
            for seed in map(int, args.seeds.split(",")):
                if (task_key, name, seed) in done:
                    continue
                t0 = time.perf_counter()
                row = one_run(task_key, task, name, spec, hidden, seed, out, args.epochs or spec_t["epochs"])
                rows.append(row)
                write_json_atomic(results_path, rows)
                print(f"{task_key:>19} {name:<28} s{seed} H={hidden:<3} float {row['float_acc']:.3f} "
                      f"fixed {row.get('fixed_acc') if row.get('fixed_acc') is None else round(row['fixed_acc'], 3)} "
                      f"unstable {row.get('unstable_frac', '-')} [{time.perf_counter() - t0:.0f} s]", flush=True)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
