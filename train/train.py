#!/usr/bin/env python3
"""Train a SpArch spiking network (silava ``train/``) and write a checkpoint.

    python train/train.py --task randman --neuron csilif --epochs 5 --out runs/r1
    python train/train.py --config shd_csilif_128 --data-dir data/shd --out runs/shd128
    python train/train.py --eval-only runs/r1/ckpt.pt

Writes into ``--out DIR``: ``ckpt.pt`` (best-validation weights, see
``train/checkpoint.py``; rewritten whenever validation improves and at the end
with the test accuracy), ``metrics.csv`` / ``metrics.json`` (per-epoch loss,
accuracy, learning rate, time) and ``training_curve.png``. All files are written
atomically.

Configuration precedence: built-in defaults < per-neuron defaults (only RF has
some, see ``train/config.py``) < ``--config`` YAML < flags. ``--layers`` counts the
hidden layers only (the reference's ``nb_layers`` = ``layers + 1`` counts the readout).
The ``ckpt.pt`` is written while training (whenever validation accuracy improves,
metrics ``finished: false``, ``test_acc: null``) and once more at the end with the
test accuracy of the best-validation weights, so an interrupted run still leaves a
usable checkpoint. Runs are deterministic for a given ``--seed`` (same thread count).
Also callable as ``main(argv)`` (the ``silava train`` subcommand). Bad arguments,
configs and checkpoints give one ``error:`` line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a file: make the repository root importable
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

from train.config import (DEFAULTS, ConfigError, load_yaml, merge_configs, model_config,  # noqa: E402
                          parse_key_values, shipped_configs)

PROG = "train.py"


class UsageError(Exception):
    """Bad command-line arguments (reported as one line, exit code 2)."""


class SetupError(Exception):
    """The task or model cannot be built from the configuration (one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help)")


def _default(key: str) -> str:
    return f"(default: {DEFAULTS[key]})"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command-line parser. Config flags default to ``SUPPRESS`` so only given flags override."""
    p = _Parser(prog=prog, allow_abbrev=False, argument_default=argparse.SUPPRESS,
                description="Train a SpArch spiking network (hidden layers: Linear -> BatchNorm -> "
                            "spiking neuron -> Dropout; readout: Linear -> BatchNorm -> leaky "
                            "integrator) with Adam + ReduceLROnPlateau on validation accuracy, and "
                            "write DIR/ckpt.pt, metrics.csv, metrics.json, training_curve.png.",
                epilog="Precedence: defaults < per-neuron defaults (rf) < --config YAML < flags. "
                       "Bad arguments, configs or checkpoints: one error line, exit code 2. "
                       "Example: train.py --task randman --neuron csilif --epochs 5 --out runs/r1. "
                       "Shipped configs: " + (", ".join(shipped_configs()) or "none"))
    g = p.add_argument_group("run")
    g.add_argument("--config", metavar="FILE", help="YAML config: a path or the name of a shipped "
                   "config in train/configs/ (e.g. shd_csilif_128)")
    g.add_argument("--task", help="randman, spoken-digits, shd, ssc, gsc (required, here or in --config)")
    g.add_argument("--out", metavar="DIR", help="output directory (required for training)")
    g.add_argument("--overwrite", action="store_true", default=False,
                   help="allow --out to be a directory that already holds a ckpt.pt")
    g.add_argument("--eval-only", metavar="CKPT", default=None,
                   help="do not train: load CKPT (file or run directory), evaluate it on the "
                        "validation and test splits of its task and print the accuracies as JSON "
                        "(honours --batch-size, --max-samples, --data-dir, --threads, --device)")
    g.add_argument("--list-configs", action="store_true", default=False,
                   help="list the shipped configs and exit")

    g = p.add_argument_group("model")
    g.add_argument("--neuron", help="hidden neuron type: silif, csilif, lif, adlif, cadlif, rf "
                   f"{_default('neuron')}; "
                   f"rf also defaults to --lr 0.05 and --neuron-opt surrogate=fast-sigmoid")
    g.add_argument("--hidden", type=int, metavar="H", help=f"neurons per hidden layer {_default('hidden')}")
    g.add_argument("--layers", type=int, metavar="L",
                   help=f"number of HIDDEN layers {_default('layers')}; the reference code's "
                        f"--nb_layers counts the readout too (nb_layers = L + 1)")
    g.add_argument("--dropout", type=float, help=f"dropout after each hidden layer {_default('dropout')}")
    g.add_argument("--init-state", dest="init_state", choices=("zeros", "random"),
                   help=f"initial neuron states: zeros, or U[0,1) per sample as the paper "
                        f"{_default('init_state')}")
    g.add_argument("--neuron-opt", dest="neuron_opt", action="append", metavar="KEY=VALUE",
                   help="extra neuron option, repeatable (e.g. dt_max=5 for csilif)")

    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=int, help=f"{_default('epochs')}")
    g.add_argument("--lr", type=float,
                   help=f"Adam learning rate {_default('lr')}; rf: 0.05 (see train/config.py)")
    g.add_argument("--batch-size", dest="batch_size", type=int, help=f"{_default('batch_size')}")
    g.add_argument("--patience", type=int, help=f"ReduceLROnPlateau patience {_default('patience')}")
    g.add_argument("--factor", type=float, help=f"ReduceLROnPlateau factor {_default('factor')}")
    g.add_argument("--min-lr", dest="min_lr", type=float, help=f"{_default('min_lr')}")
    g.add_argument("--seed", type=int, help=f"seed for torch/numpy/random {_default('seed')}")

    g = p.add_argument_group("data")
    g.add_argument("--data-dir", dest="data_dir", metavar="PATH",
                   help="data directory of shd/ssc/gsc (= --data-opt data_dir=PATH)")
    g.add_argument("--data-opt", dest="data_opt", action="append", metavar="KEY=VALUE",
                   help="task option for train.data.get_task, repeatable (e.g. n_steps=100)")
    g.add_argument("--max-samples", dest="max_samples", type=int, metavar="N",
                   help="use at most N samples of each split (a fixed random subset)")

    g = p.add_argument_group("system")
    g.add_argument("--threads", type=int, metavar="N",
                   help="torch CPU threads (default: usable CPUs, at most 4)")
    g.add_argument("--device", choices=("cpu", "cuda"), help=f"{_default('device')}")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars over batches (default: only when stderr is a terminal)")
    g.add_argument("--quiet", action="store_true", default=False, help="no per-epoch summary lines")
    return p


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Merge defaults < ``--config`` file < flags into a validated config."""
    file_cfg = load_yaml(args.config) if getattr(args, "config", None) else {}
    cli: dict[str, Any] = {}
    for key in DEFAULTS:
        if key in vars(args) and key not in ("data", "neuron_kwargs"):
            cli[key] = getattr(args, key)
    data = parse_key_values(getattr(args, "data_opt", None), "--data-opt")
    if getattr(args, "data_dir", None) is not None:
        data["data_dir"] = args.data_dir
    if data:
        cli["data"] = data
    neuron_kwargs = parse_key_values(getattr(args, "neuron_opt", None), "--neuron-opt")
    if neuron_kwargs:
        cli["neuron_kwargs"] = neuron_kwargs
    return merge_configs(file_cfg, cli)


# ---------------------------------------------------------------------------- helpers

def seed_everything(seed: int) -> None:
    """Seed Python ``random``, numpy and torch (CPU and CUDA)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_threads() -> int:
    """CPU threads for torch: the CPUs this process may use, at most 4 (small recurrent nets
    gain little from more); 2 on a 2-core machine."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    return max(1, min(4, available))


def setup_torch(threads: int | None, device: str):
    """Set the intra-op thread count (default :func:`default_threads`) and return the ``torch.device``."""
    import torch

    torch.set_num_threads(threads if threads else default_threads())
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda given but CUDA is not available: use --device cpu")
    return torch.device(device)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_task(name: str, data: dict[str, Any]):
    """``train.data.get_task(name, **data)``, with user errors turned into :class:`SetupError`."""
    from train.data import get_task

    try:
        return get_task(name, **data)
    except (ValueError, KeyError, TypeError, FileNotFoundError, OSError, ImportError) as exc:
        raise SetupError(f"cannot load task {name!r} with options {data}: {_one_line(exc)}") from None


def limit(dataset, max_samples: int | None):
    """A fixed random subset (seed 0) of at most ``max_samples`` samples, order kept."""
    import torch
    from torch.utils.data import Subset

    if dataset is None or max_samples is None or len(dataset) <= max_samples:
        return dataset
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(dataset), generator=gen)[:max_samples].sort().values
    return Subset(dataset, idx.tolist())


def make_loader(dataset, batch_size: int, collate, *, shuffle: bool, seed: int = 0):
    """A single-process ``DataLoader``; shuffling uses its own generator seeded with ``seed``."""
    import torch
    from torch.utils.data import DataLoader

    gen = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen,
                      collate_fn=collate, num_workers=0)


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        from tqdm import tqdm
        tqdm.write(msg, file=sys.stderr)


def write_metrics(out: Path, summary: dict[str, Any]) -> None:
    """Write ``metrics.json`` (summary + history) and ``metrics.csv`` (one row per epoch), atomically."""
    import csv
    import io

    from train.checkpoint import atomic_write, to_plain

    text = json.dumps(to_plain(summary, "metrics"), indent=2, allow_nan=True) + "\n"
    atomic_write(out / "metrics.json", lambda fh: fh.write(text), binary=False)
    buf = io.StringIO()
    fields = ["epoch", "train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "seconds", "best"]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in summary["history"]:
        writer.writerow(row)
    atomic_write(out / "metrics.csv", lambda fh: fh.write(buf.getvalue()), binary=False)


# ---------------------------------------------------------------------------- commands

def train_run(cfg: dict[str, Any], *, overwrite: bool = False, progress: bool | None = None,
              quiet: bool = False) -> dict[str, Any]:
    """Train with config ``cfg`` and write the run directory; returns the final metrics dict."""
    if not cfg["task"]:
        raise ConfigError("no task given: pass --task NAME or a --config file with 'task:'")
    if not cfg["out"]:
        raise ConfigError("no output directory given: pass --out DIR")
    out = Path(cfg["out"])
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory: pick another --out")
    if (out / "ckpt.pt").exists() and not overwrite:
        raise ConfigError(f"{out} already holds a ckpt.pt: pass --overwrite or pick another --out")

    import torch

    from train.checkpoint import save_checkpoint
    from train.loop import evaluate, fit
    from train.model import build_model
    from train.neurons import NEURONS
    from train.plots import plot_training_curve

    hidden_types = sorted(k for k, cls in NEURONS.items() if getattr(cls, "spiking", True))
    if cfg["neuron"] not in hidden_types:
        raise ConfigError(f"unknown neuron {cfg['neuron']!r}: use one of {', '.join(hidden_types)}")
    device = setup_torch(cfg["threads"], cfg["device"])
    progress = sys.stderr.isatty() if progress is None else progress
    seed = cfg["seed"]
    seed_everything(seed)

    task = load_task(cfg["task"], cfg["data"])
    data_config = {"name": cfg["task"], **dict(task.config)}
    train_set = limit(task.train, cfg["max_samples"])
    valid_set = limit(task.valid, cfg["max_samples"])
    test_set = limit(task.test, cfg["max_samples"])
    if valid_set is None or len(valid_set) == 0 or task.valid is task.test:
        _log(f"note: task {cfg['task']!r} has no separate validation split; model selection and the "
             f"LR schedule use the TEST split (as the reference does on SHD)")
        valid_set = test_set
    mcfg = model_config(cfg, task.n_inputs, task.n_classes)
    seed_everything(seed)  # model init does not depend on how much RNG the data builder used
    try:
        model = build_model(mcfg)
    except (ValueError, KeyError, TypeError) as exc:
        raise SetupError(f"cannot build the model from {mcfg}: {_one_line(exc)}") from None
    model.to(device)

    collate = getattr(task, "collate", None)
    train_loader = make_loader(train_set, cfg["batch_size"], collate, shuffle=True, seed=seed)
    valid_loader = make_loader(valid_set, cfg["batch_size"], collate, shuffle=False)
    test_loader = make_loader(test_set, cfg["batch_size"], collate, shuffle=False)

    n_params = sum(p.numel() for p in model.parameters())
    _log(f"task {cfg['task']}: {task.n_inputs} inputs, {task.n_classes} classes, {task.n_steps} steps; "
         f"train/valid/test {len(train_set)}/{len(valid_set)}/{len(test_set)}", quiet)
    _log(f"model: {cfg['layers']}x{cfg['hidden']} {cfg['neuron']} (+ LI readout), {n_params} parameters; "
         f"{torch.get_num_threads()} threads, device {device}", quiet)

    out.mkdir(parents=True, exist_ok=True)
    title = f"{cfg['task']} / {cfg['neuron']} {cfg['layers']}x{cfg['hidden']} (seed {seed})"
    summary: dict[str, Any] = {"task": cfg["task"], "neuron": cfg["neuron"], "finished": False,
                               "best_valid_acc": None, "best_epoch": None, "test_acc": None,
                               "test_loss": None, "train_seconds": None, "n_params": n_params,
                               "history": [], "config": cfg}

    def save(state: dict[str, torch.Tensor]) -> None:
        metrics = {k: summary[k] for k in ("best_valid_acc", "best_epoch", "test_acc", "test_loss",
                                           "train_seconds", "finished", "n_params", "history")}
        save_checkpoint(out / "ckpt.pt", state_dict=state, model_config=model.config,
                        data_config=data_config, train_config=cfg, metrics=metrics, seed=seed)

    def on_epoch(history: list[dict[str, Any]], improved: bool, best_state: dict[str, torch.Tensor]) -> None:
        best = max(history, key=lambda h: h["valid_acc"])
        summary.update(history=history, best_valid_acc=best["valid_acc"], best_epoch=best["epoch"])
        write_metrics(out, summary)
        plot_training_curve(history, out / "training_curve.png", title=title)
        if improved:
            save(best_state)

    start = time.perf_counter()
    result = fit(model, train_loader, valid_loader, epochs=cfg["epochs"], lr=cfg["lr"],
                 patience=cfg["patience"], factor=cfg["factor"], min_lr=cfg["min_lr"], device=device,
                 eval_seed=seed, progress=progress, log=lambda m: _log(m, quiet), on_epoch=on_epoch)
    if result.stopped_early:
        _log(f"warning: stopped early: {result.stopped_early}")
    model.load_state_dict(result.best_state)
    test = evaluate(model, test_loader, device=device, eval_seed=seed, desc="test", progress=progress)
    summary.update(best_valid_acc=result.best_valid_acc, best_epoch=result.best_epoch,
                   test_acc=test.acc, test_loss=test.loss, finished=True,
                   train_seconds=time.perf_counter() - start, stopped_early=result.stopped_early)
    save(result.best_state)
    write_metrics(out, summary)
    plot_training_curve(result.history, out / "training_curve.png", title=title, test_acc=test.acc)
    return summary


def eval_only(path: str, *, batch_size: int | None = None, max_samples: int | None = None,
              threads: int | None = None, device: str = "cpu", progress: bool | None = None,
              data_dir: str | None = None) -> dict[str, Any]:
    """Load a checkpoint, rebuild its task and evaluate it on the validation and test splits.

    ``data_dir`` replaces the data directory stored in the checkpoint (data moved elsewhere).
    """
    from train.checkpoint import load_checkpoint
    from train.loop import evaluate

    dev = setup_torch(threads, device)
    model, ckpt = load_checkpoint(path, map_location="cpu")
    model.to(dev)
    data = dict(ckpt["data_config"])
    name = data.pop("name", None) or ckpt["train_config"].get("task")
    if data_dir is not None:
        data["data_dir"] = data_dir
    task = load_task(name, data)
    bs = batch_size or int(ckpt["train_config"].get("batch_size", 128))
    progress = sys.stderr.isatty() if progress is None else progress
    results: dict[str, Any] = {"checkpoint": str(path), "task": name,
                               "neuron": ckpt["model_config"].get("neuron"),
                               "stored_best_valid_acc": ckpt["metrics"].get("best_valid_acc"),
                               "stored_test_acc": ckpt["metrics"].get("test_acc")}
    for split in ("valid", "test"):
        dataset = limit(getattr(task, split), max_samples)
        if dataset is None or len(dataset) == 0:
            continue
        stats = evaluate(model, make_loader(dataset, bs, getattr(task, "collate", None), shuffle=False),
                         device=dev, eval_seed=int(ckpt["seed"]), desc=split, progress=progress)
        results[f"{split}_acc"] = stats.acc
        results[f"{split}_loss"] = stats.loss
        results[f"n_{split}"] = stats.n
    return results


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Command-line entry point; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    from train.checkpoint import CheckpointError

    parser = build_parser(prog)
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        if args.list_configs:
            print("\n".join(shipped_configs()))
            return 0
        if args.eval_only:
            res = eval_only(args.eval_only, batch_size=getattr(args, "batch_size", None),
                            max_samples=getattr(args, "max_samples", None),
                            threads=getattr(args, "threads", None), device=getattr(args, "device", "cpu"),
                            progress=args.progress, data_dir=getattr(args, "data_dir", None))
            print(json.dumps(res))
            return 0
        cfg = config_from_args(args)
        summary = train_run(cfg, overwrite=args.overwrite, progress=args.progress, quiet=args.quiet)
        print(f"{cfg['task']}/{cfg['neuron']}: best valid acc {summary['best_valid_acc']:.4f} "
              f"(epoch {summary['best_epoch']}), test acc {summary['test_acc']:.4f}, "
              f"{summary['train_seconds']:.1f}s; wrote {Path(cfg['out']) / 'ckpt.pt'}")
        return 0
    except (ConfigError, CheckpointError, SetupError) as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (the best checkpoint so far, if any, is in the --out directory)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
