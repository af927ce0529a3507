"""``silava sweep``: a grid of training runs (parameters × seeds) in parallel processes, with Optuna
keeping the books, and one table of accuracy, synaptic operations and energy per run.

    silava sweep CONFIG --param neuron=silif,csilif --seeds 0,1,2 --workers 2 --out runs/sweep1
    silava sweep randman.yaml --param hidden=64,128 --param lr=0.01,0.005 --set epochs=5 --out runs/sweep2

``CONFIG`` is a training config (a YAML path or a shipped name, as ``silava train --config``); ``--set
KEY=VALUE`` overrides it for every run; ``--param KEY=V1,V2,...`` (repeatable) and ``--seeds`` span the
grid (values read as YAML scalars; ``data.KEY`` / ``neuron_kwargs.KEY`` reach into those mappings).
Each grid point is one run in ``OUT/runs/<name>/``: ``silava train`` (one process, its own threads),
``silava export`` (default widths) and hwsim on the whole test split with the Loihi 2 cost report
(``hardware/report.json``). The rows go to ``OUT/sweep.csv`` and ``OUT/sweep.md`` (also the mean and
standard deviation over seeds), and ``OUT/sweep.png`` plots fixed-point accuracy against energy.

Scheduling and resuming: the study lives in ``OUT/optuna.db`` (Optuna, SQLite storage; only this
process writes it). Every grid point is an Optuna trial (``study.ask``; the point's name and values
are user attributes, not sampled parameters: the grid is fixed and may grow), run by a pool of
``--workers`` processes; a finished run is told COMPLETE (value: the fixed-point test accuracy) with
its row as a user attribute, a failed one FAIL with its error. Run the same command again after a crash (or Ctrl-C):
COMPLETE points are skipped, trials left RUNNING by the dead sweep are marked FAIL, and their points
run again — a run interrupted during training continues from its ``last.pt`` (``silava train
--resume``), a trained one is not retrained. Changing the base config of an existing sweep is
refused (another ``--out``, or ``--overwrite`` to start over); adding values or seeds extends it.
One sweep at a time per ``OUT`` (a lock file).
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import itertools
import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

STUDY = "silava-sweep"
DB = "optuna.db"
LOCK = ".sweep.lock"
#: the table's columns after the grid parameters
COLUMNS = ("best_valid_acc", "test_acc", "fixed_acc", "fixed_acc_sum_v", "sops_per_sample", "spikes_per_sample",
           "energy_uj_per_sample", "dynamic_energy_uj_per_sample", "epochs", "train_seconds", "run_seconds")
#: environment variable that makes the named run fail (tests: what a crash of one run leaves)
FAIL_ENV = "SILAVA_SWEEP_FAIL"


class SweepError(Exception):
    """Bad sweep input: one line naming the problem and the fix (exit code 2 on the CLI)."""


@dataclass
class SweepResult:
    """What :func:`sweep` did: the table rows (grid order), the runs skipped / run / failed, the files."""

    rows: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------------------- the grid

def parse_values(text: str, flag: str) -> list[Any]:
    """``"a,b,1,0.5"`` -> ``["a", "b", 1, 0.5]`` (each a YAML scalar)."""
    import yaml

    values = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise SweepError(f"{flag}: empty value in {text!r}; separate values with single commas")
        try:
            value = yaml.safe_load(item)
        except yaml.YAMLError:
            value = item
        if not isinstance(value, (str, int, float, bool)) or value is None:
            raise SweepError(f"{flag}: {item!r} is not a plain value (a name or a number)")
        values.append(value)
    if len(set(map(repr, values))) != len(values):
        raise SweepError(f"{flag}: a value is repeated in {text!r}")
    return values


def parse_params(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["neuron=silif,csilif", "hidden=64"]`` -> ``{"neuron": ["silif", "csilif"], "hidden": [64]}``."""
    from silava.train.config import DEFAULTS

    params: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SweepError(f"--param expects KEY=V1,V2,..., got {item!r}")
        top = key.split(".")[0]
        if top not in DEFAULTS or top in ("out", "seed", "notes") or (top in ("data", "neuron_kwargs")) != ("." in key):
            raise SweepError(f"--param {key}: not a training setting to vary (use a config key such as neuron, "
                             f"hidden, lr, data.KEY or neuron_kwargs.KEY; seeds go in --seeds)")
        if key in params:
            raise SweepError(f"--param {key} is given twice: list all its values in one --param")
        params[key] = parse_values(text, f"--param {key}")
    return params


def parse_seeds(text: str) -> list[int]:
    seeds = parse_values(text, "--seeds")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise SweepError(f"--seeds {text}: give non-negative integers, e.g. --seeds 0,1,2")
    return seeds


def grid(params: dict[str, list[Any]], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Every combination of the parameter values, then every seed (the table's order)."""
    keys = list(params)
    return [{**dict(zip(keys, combo)), "seed": int(seed)}
            for combo in itertools.product(*(params[k] for k in keys)) for seed in seeds]


def run_name(point: dict[str, Any]) -> str:
    """A folder name for a grid point, e.g. ``neuron-silif_seed-0``."""
    def clean(v: Any) -> str:
        return "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in str(v))

    return "_".join(f"{clean(k.replace('.', '-'))}-{clean(v)}" for k, v in point.items())


def apply_point(base: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """The run's configuration: ``base`` with the point's values (``data.KEY`` into ``data``)."""
    cfg = copy.deepcopy(base)
    for key, value in point.items():
        if "." in key:
            top, sub = key.split(".", 1)
            cfg[top] = {**cfg.get(top, {}), sub: value}
        else:
            cfg[key] = value
    return cfg


# ---------------------------------------------------------------------------- one run (a worker process)

#: settings that do not change what a run trains
_FREE = ("out", "threads", "device", "notes", "epochs")


def _saved(run_dir: Path) -> dict[str, Any]:
    """The ``metrics.json`` of the training run in ``run_dir`` (empty if there is none)."""
    try:
        return json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}


def _same_run(saved: Optional[dict[str, Any]], cfg: dict[str, Any]) -> bool:
    from silava.train.config import DEFAULTS

    if not saved:
        return False
    plain = json.loads(json.dumps(cfg))
    return all(saved.get(k) == plain.get(k) for k in DEFAULTS if k not in _FREE)


def run_point(base: dict[str, Any], point: dict[str, Any], run_dir: str, threads: int) -> dict[str, Any]:
    """Train (or resume, or reuse) the run of ``point`` in ``run_dir``, export it, simulate its test split
    with hwsim and build the cost report; returns the table row. Runs in a worker process."""
    from silava.core.fileio import write_json_atomic
    from silava.core.tasks import load_task_arrays
    from silava.export.to_lava import output_paths, quant_settings, quantize_checkpoint, write_export
    from silava.hwsim.report import build_report
    from silava.hwsim.simulate import simulate
    from silava.train.config import validate
    from silava.train.train import train_run

    start = time.perf_counter()
    out = Path(run_dir)
    name = out.name
    if os.environ.get(FAIL_ENV) == name:
        raise RuntimeError(f"{FAIL_ENV}={name}: this run was asked to fail")
    cfg = validate(apply_point(base, point))
    cfg.update(out=str(out), threads=threads)
    saved = _saved(out)
    same = _same_run(saved.get("config"), cfg)
    done = len(saved.get("history") or [])
    trained = same and saved.get("finished") and (done == cfg["epochs"] or saved.get("stopped_early"))
    if not trained:                                            # else: trained already, reuse it
        # continue an interrupted run (or extend a finished one); anything else is trained anew
        resume = same and (out / "last.pt").is_file() and done <= cfg["epochs"]
        train_run(cfg, resume=resume, overwrite=not resume, progress=False, quiet=True)
    metrics = json.loads((out / "metrics.json").read_text())
    q = quantize_checkpoint(out / "ckpt.pt", quant_settings())
    write_export(q, *output_paths(out, str(out / "model.net"), None))
    net = q.network
    task = net.meta.task
    x, y = load_task_arrays(task["name"], task, split="test", steps=net.meta.steps, n_inputs=net.meta.n_inputs)
    sim = simulate(net, x, threads=1)
    report = build_report(net, sim, "davies2018", x=x)
    write_json_atomic(out / "hardware_report.json", report)
    per = report["counts"]["total_per_sample"]
    cost = report["cost"]["per_sample"]
    return {"run": name, **point,
            "best_valid_acc": metrics.get("best_valid_acc"), "test_acc": metrics.get("test_acc"),
            "fixed_acc": float((sim.predictions == y).mean()),
            "fixed_acc_sum_v": float((sim.predictions_sum_v == y).mean()),
            "sops_per_sample": float(per["effective_sops"]), "spikes_per_sample": float(per["spikes"]),
            "energy_uj_per_sample": float(cost["energy_pj"]) / 1e6,
            "dynamic_energy_uj_per_sample": float(cost["dynamic_energy_pj"]) / 1e6,
            "epochs": len(metrics.get("history", [])), "train_seconds": metrics.get("train_seconds"),
            "run_seconds": time.perf_counter() - start}


def _worker(base: dict[str, Any], point: dict[str, Any], run_dir: str, threads: int) -> dict[str, Any]:
    """:func:`run_point` with its error as one line (tracebacks stay in ``run_dir/error.txt``)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return {"row": run_point(base, point, run_dir, threads)}
    except BaseException as exc:  # noqa: BLE001 - reported in the table of failures, the sweep goes on
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / "error.txt").write_text(traceback.format_exc())
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]}


# ---------------------------------------------------------------------------- the study

def _optuna():
    try:
        import optuna
    except ImportError:
        raise SweepError("silava sweep needs Optuna: pip install optuna (or the 'sweep' extra: "
                         "pip install 'silava[sweep]')") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _lock(out: Path):
    import fcntl

    fh = open(out / LOCK, "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise SweepError(f"another silava sweep is running in {out}: wait for it or pass another --out") from None
    return fh


def _open_study(out: Path, base: dict[str, Any], overwrite: bool):
    optuna = _optuna()
    db = out / DB
    if overwrite and db.exists():
        db.unlink()
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize", load_if_exists=True)
    base = json.loads(json.dumps({k: v for k, v in base.items() if k not in ("out", "threads", "seed", "notes")}))
    stored = study.user_attrs.get("base_config")
    if stored is None:
        study.set_user_attr("base_config", base)
    elif stored != base:
        diff = sorted(k for k in set(stored) | set(base) if stored.get(k) != base.get(k))
        raise SweepError(f"{out} holds a sweep of another base configuration (differs in: {', '.join(diff)}): "
                         f"use the same CONFIG and --set, another --out, or --overwrite to start over")
    return optuna, study


def sweep(config: Any, params: dict[str, list[Any]], seeds: Sequence[int], out: str | os.PathLike, *,
          workers: int = 1, overrides: Optional[dict[str, Any]] = None, threads: Optional[int] = None,
          overwrite: bool = False, progress: Optional[bool] = None, log=None) -> SweepResult:
    """Run the grid ``params`` × ``seeds`` over the base config ``config`` (a path, a shipped config name
    or a dict) in ``workers`` processes; returns the rows and writes the table (module docstring)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing

    from silava.train.config import ConfigError, load_yaml, merge_configs, validate

    if workers < 1:
        raise SweepError(f"--workers {workers}: must be at least 1")
    if not seeds:
        raise SweepError("--seeds: give at least one seed, e.g. --seeds 0,1,2")
    try:
        file_cfg = dict(config) if isinstance(config, dict) else load_yaml(config)
        base = merge_configs(file_cfg, dict(overrides or {}))
        for point in grid(params, seeds)[:1]:
            validate(apply_point(base, point))
    except ConfigError as exc:
        raise SweepError(str(exc)) from None
    if not base.get("task"):
        raise SweepError("the sweep's config names no task: add 'task:' to CONFIG or --set task=NAME")
    points = grid(params, seeds)
    names = [run_name(p) for p in points]
    if len(set(names)) != len(names):
        raise SweepError("two grid points give the same run name: use values that differ in letters or digits")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {out}: exists and is not a directory; choose another folder")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    per_run = int(threads) if threads else max(1, cpus // workers)
    say = log or (lambda msg: print(msg, file=sys.stderr))

    lock = _lock(out)
    try:
        optuna, study = _open_study(out, base, overwrite)
        from optuna.trial import TrialState

        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):   # left by a sweep that died
            study.tell(t.number, state=TrialState.FAIL)
        done: dict[str, dict[str, Any]] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs.get("point") in names:
                done[t.user_attrs["point"]] = t.user_attrs["row"]
        todo = [(n, p) for n, p in zip(names, points) if n not in done]
        result = SweepResult(rows=[], skipped=[n for n in names if n in done])
        if result.skipped:
            say(f"sweep {out}: {len(result.skipped)} finished run(s) skipped, {len(todo)} to run "
                f"({workers} worker(s), {per_run} thread(s) each)")
        else:
            say(f"sweep {out}: {len(todo)} runs ({workers} worker(s), {per_run} thread(s) each)")
        if todo:
            from tqdm import tqdm

            ctx = multiprocessing.get_context("spawn")
            show = sys.stderr.isatty() if progress is None else progress
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool, \
                    tqdm(total=len(todo), unit="run", desc="sweep", disable=not show, file=sys.stderr) as bar:
                futures = {}
                for name, point in todo:
                    trial = study.ask()
                    trial.set_user_attr("point", name)
                    trial.set_user_attr("params", point)
                    fut = pool.submit(_worker, base, point, str(out / "runs" / name), per_run)
                    futures[fut] = (name, trial)
                for fut in as_completed(futures):
                    name, trial = futures[fut]
                    res = fut.result()
                    if "row" in res:
                        row = json.loads(json.dumps(res["row"]))
                        trial.set_user_attr("row", row)
                        study.tell(trial, float(row["fixed_acc"]))
                        done[name] = row
                        result.ran.append(name)
                        say(f"  {name}: float test {_pct(row['test_acc'])}, fixed point {_pct(row['fixed_acc'])}, "
                            f"{row['sops_per_sample']:,.0f} SOPs and {row['energy_uj_per_sample']:.3g} µJ per sample, "
                            f"{row['run_seconds']:.0f} s")
                    else:
                        trial.set_user_attr("error", res["error"])
                        study.tell(trial, state=TrialState.FAIL)
                        result.failed[name] = res["error"]
                        say(f"  {name}: FAILED: {res['error']} (traceback in {out / 'runs' / name / 'error.txt'})")
                    bar.update(1)
        result.rows = [done[n] for n in names if n in done]
        result.files = write_table(out, result.rows, list(params), failed=result.failed)
        return result
    finally:
        lock.close()


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * float(v):.2f}%"


# ---------------------------------------------------------------------------- the table

def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}" if abs(v) >= 1e4 or abs(v) < 1e-3 and v != 0 else f"{v:.4f}".rstrip("0").rstrip(".")
    return "" if v is None else str(v)


def summarize(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per combination of the grid parameters ``keys``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    out = []
    for combo, members in groups.items():
        entry: dict[str, Any] = {**dict(zip(keys, combo)), "runs": len(members)}
        for col in ("test_acc", "fixed_acc", "sops_per_sample", "energy_uj_per_sample"):
            vals = [float(m[col]) for m in members if m.get(col) is not None]
            mean = sum(vals) / len(vals) if vals else float("nan")
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            entry[col] = (mean, std)
        out.append(entry)
    return out


def table_text(rows: list[dict[str, Any]], keys: list[str], failed: Optional[dict[str, str]] = None) -> str:
    """The Markdown table: one row per run, then mean ± std over seeds per parameter combination."""
    cols = ["run", *keys, "seed", *COLUMNS]
    lines = ["# silava sweep", "", f"{len(rows)} finished run(s); accuracies on the test split (float: the "
             "trained model; fixed: hwsim on the exported model.net, softmax_sum; sum_v: the on-chip rule); "
             "SOPs, spikes and energy (estimate, davies2018 constants) per test sample.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    if rows:
        summ = summarize(rows, keys)
        scols = ["test_acc", "fixed_acc", "sops_per_sample", "energy_uj_per_sample"]
        lines += ["", "Mean ± standard deviation over seeds:", "",
                  "| " + " | ".join([*keys, "runs", *scols]) + " |", "|" + "---|" * (len(keys) + 1 + len(scols))]
        for s in summ:
            cells = [_fmt(s[k]) for k in keys] + [str(s["runs"])]
            cells += [f"{_fmt(s[c][0])} ± {_fmt(s[c][1])}" for c in scols]
            lines.append("| " + " | ".join(cells) + " |")
    if failed:
        lines += ["", "Failed runs (run the same command again to retry them):", ""]
        lines += [f"* {name}: {err}" for name, err in failed.items()]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], keys: list[str]) -> bytes:
    """PNG: fixed-point test accuracy against energy per sample, one colour per parameter combination."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    for combo, members in groups.items():
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, combo)) or "runs"
        ax.scatter([m["energy_uj_per_sample"] for m in members], [100 * m["fixed_acc"] for m in members],
                   label=label, alpha=0.8)
    ax.set_xlabel("energy per sample (µJ, estimate)")
    ax.set_ylabel("fixed-point test accuracy (%)")
    ax.set_title(f"silava sweep: {len(rows)} runs")
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    return buf.getvalue()


def write_table(out: Path, rows: list[dict[str, Any]], keys: list[str],
                failed: Optional[dict[str, str]] = None) -> list[Path]:
    """``sweep.csv``, ``sweep.md`` and ``sweep.png`` in ``out``, all or nothing."""
    from silava.core.fileio import write_group

    cols = ["run", *keys, "seed", *COLUMNS]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    files = {out / "sweep.csv": buf.getvalue(), out / "sweep.md": table_text(rows, keys, failed),
             out / "sweep.png": plot(rows, keys)}
    return write_group({path: content if isinstance(content, bytes) else content.encode("utf-8")
                        for path, content in files.items()})


# ---------------------------------------------------------------------------- CLI

def build_parser() -> argparse.ArgumentParser:
    from silava.core.cliutil import one_line_parser

    p = one_line_parser(SweepError, prog="silava sweep",
                        description="Train a grid of runs (parameters x seeds) in parallel processes, export and "
                                    "simulate each, and write one table of accuracy, SOPs and energy per run. "
                                    "Optuna (SQLite in OUT/optuna.db) keeps the books: re-run the same command to "
                                    "resume after a crash (finished runs are skipped).")
    p.add_argument("config", help="training config: a YAML path or a shipped config name (as silava train --config)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=V1,V2",
                   help="a setting to vary (repeatable), e.g. neuron=silif,csilif or data.n_steps=50,100")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    p.add_argument("--workers", type=int, default=1, help="runs at once, each in its own process (default 1)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per run (default: usable CPUs / workers, at least 1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting of CONFIG for every run (repeatable), e.g. epochs=5")
    p.add_argument("--out", required=True, help="sweep folder: runs/, optuna.db, sweep.csv, sweep.md, sweep.png")
    p.add_argument("--overwrite", action="store_true", help="forget the study in --out and start over "
                   "(finished run folders are reused: delete them to retrain)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar over the runs (default: when stderr is a terminal)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``silava sweep``; returns the exit code (0 all runs finished, 1 some failed, 2 bad input)."""
    try:
        try:
            args = build_parser().parse_args(None if argv is None else list(argv))
        except SystemExit as exc:   # --help
            return int(exc.code or 0)
        from silava.train.config import ConfigError, parse_key_values

        try:
            overrides = parse_key_values(args.set, "--set")
        except ConfigError as exc:
            raise SweepError(str(exc)) from None
        if args.threads is not None and args.threads < 1:
            raise SweepError(f"--threads {args.threads}: must be at least 1")
        result = sweep(args.config, parse_params(args.param), parse_seeds(args.seeds), args.out,
                       workers=args.workers, overrides=overrides, threads=args.threads, overwrite=args.overwrite,
                       progress=args.progress)
    except SweepError as exc:
        print(f"silava sweep: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("silava sweep: interrupted; run the same command again to continue (finished runs are kept)",
              file=sys.stderr)
        return 130
    print(f"silava sweep: {len(result.rows)} run(s) in the table ({len(result.ran)} run now, {len(result.skipped)} "
          f"skipped as finished, {len(result.failed)} failed); wrote {', '.join(str(f) for f in result.files)}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
