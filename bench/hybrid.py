"""Hybrid spiking / non-spiking recurrent networks (issue 12; spec neurons.md §7): the grid of the
hybrid work on two tasks, float and fixed-point accuracy, SAM sharpness, SOPs and energy per sample.

Grid: spiking ratio p ∈ {0.25, 0.5, 0.75, 0.9} × recurrence {direct, separate} × non-spiking kind
{nsn, ann}, plus the pure networks p = 1 (SNN), p = 0 nsn (NSN) and p = 0 ann (the plain RNN; for
p ∈ {0, 1} the two recurrences are the same network, so they run once); 3 seeds; three settings:
``full``, ``data`` (a quarter of the train split, the seed-42 subset) and ``hidden`` (a quarter of
the hidden units), since the hybrid claim is about generalisation when data or neurons are scarce.

Per run (``silava.fit`` with ``arch="hybrid"``): test accuracy of the float model and of the deployed
fixed-point network (the QAT forward in eval mode, bit-exact with hwsim on the exported model.net:
tests/test_hybrid_deploy.py), SAM sharpness (``silava landscape``'s ascent, ρ = 0.05, 3 steps, 256
train samples), and from the exported model.net and hwsim's report on the test split: synaptic
operations per sample (ACs for binary events, MACs for graded payloads) and the energy per sample
(davies2018 constants). Rows go to ``OUT/results.jsonl`` as they finish (a rerun skips finished
rows); ``--table`` prints the markdown table of bench/README.md.

    python bench/hybrid.py --out runs/bench_hybrid                  # the whole grid (hours on 2 cores)
    python bench/hybrid.py --out runs/bench_hybrid --tasks randman --seeds 1
    python bench/hybrid.py --out runs/bench_hybrid --table

Not a test: nothing here asserts a time or an accuracy.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: the two tasks (sizes chosen so that the grid finishes on 2 shared cores)
TASKS: dict[str, dict[str, Any]] = {
    # the hybrid work's Randman family ([DARWIN] meta-data: 1-D manifolds, alpha 3, 50 steps), 5 classes
    # on 10 units, 200 samples per class (600/200/200); hidden 20 as the hybrid work's Randman config
    "randman": {"task": "randman", "data": {"n_classes": 5, "n_units": 10, "n_steps": 50, "dim_manifold": 1,
                                            "alpha": 3.0, "samples_per_class": 200},
                "hidden": 20, "epochs": 25, "lr": 1e-2, "batch_size": 64},
    # offline spoken digits (SHD format), the hybrid work's frame binning: 25 frames of 40 ms, 70 channels
    # (the machine's load made 50 frames x 20 epochs take ~15 min per run); the REDUCED configurations only
    "spoken-digits": {"task": "spoken-digits", "data": {"n_samples": 1000, "n_steps": 25, "max_time": 1.0,
                                                        "spatial_bin": 10, "binning": "frames"},
                      "hidden": 24, "epochs": 12, "lr": 5e-3, "batch_size": 64, "configs": "reduced"},
}
RATIOS = [0.25, 0.5, 0.75, 0.9]
SETTINGS = {"full": {}, "data": {"train_fraction": 0.25}, "hidden": {"hidden_div": 4}}
SEEDS = [1, 2, 3]
#: the configurations run in the reduced settings (the whole grid runs in ``full``): the pure networks and
#: the p = 0.5 hybrids of both kinds and recurrences (2 shared cores: the whole grid in every setting
#: would take most of a day)
REDUCED = ["SNN (p=1)", "NSN (p=0)", "RNN (p=0, tanh)", "nsn direct p=0.5", "nsn separate p=0.5",
           "ann direct p=0.5", "ann separate p=0.5"]


def configs() -> list[dict[str, Any]]:
    """The network configurations of the grid (pure networks once)."""
    out = [{"name": "SNN (p=1)", "p": 1.0, "nonspiking": "nsn", "recurrent": "direct"},
           {"name": "NSN (p=0)", "p": 0.0, "nonspiking": "nsn", "recurrent": "direct"},
           {"name": "RNN (p=0, tanh)", "p": 0.0, "nonspiking": "ann", "recurrent": "direct"}]
    for ns in ("nsn", "ann"):
        for rec in ("direct", "separate"):
            for p in RATIOS:
                out.append({"name": f"{ns} {rec} p={p:g}", "p": p, "nonspiking": ns, "recurrent": rec})
    return out


def _key(row: dict[str, Any]) -> str:
    return f"{row['task']}|{row['setting']}|{row['name']}|{row['seed']}"


def fixed_and_sam(ckpt: Path, n_sam: int = 256) -> dict[str, Any]:
    """Fixed-point test accuracy (the QAT forward, = hwsim) and SAM sharpness of a checkpoint."""
    import torch

    from silava.app.landscape import Probe, load_samples, sam_sharpness
    from silava.train.checkpoint import load_checkpoint
    from silava.train.data import get_task
    from silava.train.hybrid_qat import HybridQATNet, calibration_inputs, choose_payload_bits
    from silava.train.qat import INPUT_MESSAGE_BITS

    model, ck = load_checkpoint(ckpt)
    model.eval()
    data = dict(ck["data_config"])
    task = get_task(data.pop("name"), **data)
    q = choose_payload_bits(model, calibration_inputs(task), 12)
    qnet = HybridQATNet(model, payload_bits=q, input_message_bits=INPUT_MESSAGE_BITS[task.encoding]).eval()
    x, y = load_samples(task, "test", len(task.test))
    with torch.no_grad():
        fixed = float((torch.cat([qnet(x[i:i + 256]) for i in range(0, len(x), 256)]).argmax(1) == y).float().mean())
    xs, ys = load_samples(task, "train", n_sam)
    params = [p for p in model.parameters() if p.requires_grad]
    sam = sam_sharpness(Probe(model, params, xs, ys, 128, int(ck["seed"]), lambda: None), 0.05, 3)
    return {"fixed_acc": fixed, "payload_bits": q, "sam": sam["sharpness"], "sam_first": sam["sharpness_first_step"],
            "train_loss": sam["loss"]}


def deploy_costs(ckpt: Path, out: Path) -> dict[str, Any]:
    """Export to model.net, hwsim + report on the test split: accuracy, SOPs and energy per sample."""
    from silava.core.tasks import load_task_arrays
    from silava.export.to_lava import export_checkpoint
    from silava.hwsim.report import build_report
    from silava.hwsim.simulate import simulate

    net = export_checkpoint(ckpt, output=str(out / "model.net")).network
    x, y = load_task_arrays(net.meta.task["name"], net.meta.task, "test", steps=net.meta.steps)
    sim = simulate(net, x)
    rep = build_report(net, sim, "davies2018", x=x)
    tot = rep["counts"]["total_per_sample"]
    ps = rep["cost"]["per_sample"]
    pops = {name: {k: p[k] for k in ("events_per_sample", "acs_per_sample", "macs_per_sample",
                                     "traffic_bits_per_sample")}
            for h in rep.get("hybrid", []) for name, p in h["populations"].items()}
    return {"hwsim_acc": float((sim.predictions == y).mean()),
            "report": {"sops_per_sample": tot["effective_sops"], "acs_per_sample": tot["effective_acs"],
                       "macs_per_sample": tot["effective_macs"], "messages_per_sample": tot["messages"],
                       "energy_uj_per_sample": ps["energy_pj"]["mean"] / 1e6 if isinstance(ps["energy_pj"], dict)
                       else ps["energy_pj"] / 1e6,
                       "dynamic_energy_uj_per_sample": ps["dynamic_energy_pj"]["mean"] / 1e6
                       if isinstance(ps["dynamic_energy_pj"], dict) else ps["dynamic_energy_pj"] / 1e6,
                       "populations": pops}}


def run_one(task_name: str, setting: str, cfg: dict[str, Any], seed: int, out: Path, deploy: bool) -> dict[str, Any]:
    import silava

    t = TASKS[task_name]
    hidden = t["hidden"] // (SETTINGS[setting].get("hidden_div", 1))
    run_dir = run_dir_of(out, {"task": task_name, "setting": setting, "name": cfg["name"], "seed": seed})
    start = time.perf_counter()
    res = silava.fit(t["task"], run_dir, arch="hybrid", hidden=hidden, spiking_ratio=cfg["p"],
                     nonspiking=cfg["nonspiking"], recurrent=cfg["recurrent"], epochs=t["epochs"], lr=t["lr"],
                     batch_size=t["batch_size"], seed=seed, patience=10,
                     train_fraction=SETTINGS[setting].get("train_fraction", 1.0), task_options=dict(t["data"]),
                     overwrite=True, quiet=True, progress=False)
    row = {"task": task_name, "setting": setting, "name": cfg["name"], "seed": seed, "p": cfg["p"],
           "nonspiking": cfg["nonspiking"], "recurrent": cfg["recurrent"], "hidden": hidden,
           "float_acc": res.metrics["test_acc"], "valid_acc": res.metrics["best_valid_acc"],
           "train_seconds": res.metrics["train_seconds"]}
    row.update(fixed_and_sam(run_dir / "ckpt.pt"))
    if deploy:
        try:
            row.update(deploy_costs(run_dir / "ckpt.pt", run_dir))
        except Exception as exc:                    # keep the row; say why the deploy numbers are missing
            row["deploy_error"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = time.perf_counter() - start
    return row


def run_dir_of(out: Path, row: dict[str, Any]) -> Path:
    name = row["name"].replace(" ", "_").replace("=", "").replace(",", "")
    return out / row["task"] / row["setting"] / name / f"s{row['seed']}"


def deploy_pass(out: Path, path: Path) -> int:
    """Export + hwsim for every finished row of ``path`` without a report; rewrites the file."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        if "report" in row:
            continue
        run_dir = run_dir_of(out, row)
        try:
            row.update(deploy_costs(run_dir / "ckpt.pt", run_dir))
            row.pop("deploy_error", None)
        except Exception as exc:
            row["deploy_error"] = f"{type(exc).__name__}: {exc}"
        print(f"{_key(row)}: {row.get('deploy_error') or row['report']}", flush=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text)
    return 0


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: mean ± std over seeds per (task, setting, config)."""
    def ms(vals: list[float], scale: float = 100.0, fmt: str = "{:.1f}") -> str:
        vals = [v for v in vals if v is not None]
        if not vals:
            return "–"
        m = statistics.mean(vals) * scale
        s = statistics.stdev(vals) * scale if len(vals) > 1 else 0.0
        return f"{fmt.format(m)} ± {fmt.format(s)}"

    unique: dict[str, dict[str, Any]] = {}
    for r in rows:                       # a row per (task, setting, network, seed): the first one wins
        unique.setdefault(_key(r), r)
    rows = list(unique.values())
    lines = []
    order = [c["name"] for c in configs()]
    for task in TASKS:
        for setting in SETTINGS:
            sel = [r for r in rows if r["task"] == task and r["setting"] == setting]
            if not sel:
                continue
            lines += [f"\n**{task}, setting `{setting}`** (hidden {sel[0]['hidden']}, n = seeds)\n",
                      "| network | n | float acc % | fixed acc % | SAM sharpness | spike ACs/sample | graded MACs/sample "
                      "| dynamic energy/sample (µJ) | total energy/sample (µJ) |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for name in order:
                rs = [r for r in sel if r["name"] == name]
                if not rs:
                    continue
                def rep(key: str) -> list:
                    return [r.get("report", {}).get(key) for r in rs]

                def pop(name: str, key: str) -> list:
                    return [r["report"]["populations"][name][key] if "report" in r else None for r in rs]
                lines.append(f"| {name} | {len(rs)} | {ms([r['float_acc'] for r in rs])} | "
                             f"{ms([r['fixed_acc'] for r in rs])} | {ms([r['sam'] for r in rs], 1.0, '{:.3f}')} | "
                             f"{ms(pop('spiking', 'acs_per_sample'), 1.0, '{:.0f}')} | "
                             f"{ms(pop('non_spiking', 'macs_per_sample'), 1.0, '{:.0f}')} | "
                             f"{ms(rep('dynamic_energy_uj_per_sample'), 1.0, '{:.3f}')} | "
                             f"{ms(rep('energy_uj_per_sample'), 1.0, '{:.2f}')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder of the runs and results.jsonl")
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--seeds", nargs="+", type=int, default=SEEDS)
    p.add_argument("--only", nargs="*", default=None, help="config names to run (default: the whole grid)")
    p.add_argument("--no-deploy", action="store_true", help="skip export + hwsim (SOPs, energy)")
    p.add_argument("--whole-grid", action="store_true",
                   help="the whole grid in the reduced settings too (default: the REDUCED configurations)")
    p.add_argument("--table", action="store_true", help="print the table of the finished rows and exit")
    p.add_argument("--deploy-pass", action="store_true",
                   help="add the export + hwsim numbers to the finished rows that lack them, and exit")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.table or args.deploy_pass:
        rows = [json.loads(line) for f in sorted(out.glob("results*.jsonl")) for line in f.read_text().splitlines()
                if line.strip()]
        if args.table:
            print(table(rows))
            return 0
    # one results file per task list, so that one process per task can run side by side
    path = out / ("results.jsonl" if args.tasks == list(TASKS) else f"results-{'-'.join(args.tasks)}.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    done = {_key(r) for r in rows}
    import torch

    torch.set_num_threads(1)
    if args.deploy_pass:
        for f in sorted(out.glob("results*.jsonl")):
            deploy_pass(out, f)
        return 0
    # seed-major order: an interrupted run still covers every task and setting
    for seed in args.seeds:
        for task in args.tasks:
            for setting in args.settings:
                for cfg in configs():
                    if args.only and cfg["name"] not in args.only:
                        continue
                    reduced = setting != "full" or TASKS[task].get("configs") == "reduced"
                    if reduced and not args.whole_grid and cfg["name"] not in REDUCED:
                        continue
                    key = _key({"task": task, "setting": setting, "name": cfg["name"], "seed": seed})
                    if key in done:
                        continue
                    try:
                        row = run_one(task, setting, cfg, seed, out, deploy=not args.no_deploy)
                    except Exception as exc:
                        print(f"FAILED {key}: {exc}", file=sys.stderr)
                        traceback.print_exc()
                        continue
                    with open(path, "a") as fh:
                        fh.write(json.dumps(row) + "\n")
                    print(f"{key}: float {row['float_acc']:.3f} fixed {row['fixed_acc']:.3f} sam {row['sam']:.3f} "
                          f"({row['seconds']:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
