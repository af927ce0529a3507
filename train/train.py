#!/usr/bin/env python3
"""Train a SpArch spiking network (silava ``train/``) and write a checkpoint.

    python train/train.py --task randman --neuron csilif --epochs 5 --out runs/r1
    python train/train.py --config shd_csilif_128 --data-dir data/shd --out runs/shd128
    python train/train.py --out runs/r1 --resume       # continue an interrupted run
    python train/train.py --eval-only runs/r1/ckpt.pt
    python train/train.py --qat --from runs/r1/ckpt.pt --epochs 3 --out runs/r1_qat

Writes into ``--out DIR``: ``ckpt.pt`` (best-validation weights, see
``train/checkpoint.py``; rewritten whenever validation improves and at the end
with the test accuracy), ``last.pt`` (the state after the last epoch, which
``--resume`` continues: ``train/resume.py``), ``metrics.csv`` / ``metrics.json``
(per-epoch loss, accuracy, learning rate, time) and ``training_curve.png``. All
files are written atomically.

Configuration precedence: built-in defaults < per-neuron defaults (only RF has
some, see ``train/config.py``) < ``--config`` YAML < flags. ``--layers`` counts the
hidden layers only (the reference's ``nb_layers`` = ``layers + 1`` counts the readout).
The ``ckpt.pt`` is written while training (whenever validation accuracy improves,
metrics ``finished: false``, ``test_acc: null``) and once more at the end with the
test accuracy of the best-validation weights, so an interrupted run still leaves a
usable checkpoint. Runs are deterministic for a given ``--seed`` (same thread count).
Also callable as ``main(argv)`` (the ``silava train`` subcommand). Bad arguments,
configs, data and checkpoints, an ``--out`` that cannot be written (read-only, full disk) or
that would replace an input (``--from``, ``--config``), and a training run that diverges in its
first epoch (NaN/inf loss: lower ``--lr``) give one ``error:`` line on stderr and exit code 2
(:func:`silava.core.cliutil.run_command`); Ctrl-C exits 130, SIGTERM 143. A run that fails
before its first checkpoint removes the files it wrote (and ``--out`` if it created it); later
failures keep ``ckpt.pt`` / ``last.pt`` for ``--resume``. A run whose loss turns NaN after some
epochs stops there, keeps the best finite epoch and says so (``metrics["stopped_early"]``).

``--qat --from CKPT`` fine-tunes a trained checkpoint with quantization-aware training
(:func:`qat_run`, :mod:`train.qat`): the forward pass is the deployed integer network
(bit-exact with hwsim on the exported model.net), the gradients straight-through.
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

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a file (`python train/train.py`): Python put this folder first on sys.path, but its
    # modules are parts of the `silava` package (installed by scripts/bootstrap.sh), not
    # top-level modules; drop it so that none of them shadows another module.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from silava.core.cliutil import command_name, parse_layer_bits, run_command  # noqa: E402
from silava.core.fileio import check_outputs, check_writable_file, sha256_file  # noqa: E402
from silava.train.config import (DEFAULTS, ConfigError, find_config, load_yaml, merge_configs,  # noqa: E402
                                 model_config, model_label, parse_key_values, shipped_configs)

PROG = "silava train"
#: the files a training run writes into --out (the curve also as training_curve.svg / .pdf: --plot-format)
RUN_FILES = ("ckpt.pt", "last.pt", "metrics.json", "metrics.csv", "training_curve.png")


def curve_name(fmt: str = "png") -> str:
    """The training curve's file name in ``--out`` for ``--plot-format fmt``."""
    return f"training_curve.{fmt}"


class UsageError(Exception):
    """Bad command-line arguments (reported as one line, exit code 2)."""


class SetupError(Exception):
    """The task or model cannot be built from the configuration (one line, exit code 2)."""


class TrainingError(Exception):
    """Training produced nothing usable (it diverged before its first epoch finished; one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


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
    g.add_argument("--task", help="randman, spoken-digits, shd, ssc, gsc, or folder (your own data: "
                   "--data-dir DIR with train/valid/test .npz or .h5 files) (required, here or in --config)")
    g.add_argument("--out", metavar="DIR", help="output directory (required for training)")
    g.add_argument("--overwrite", action="store_true", default=False,
                   help="allow --out to be a directory that already holds a ckpt.pt")
    g.add_argument("--resume", action="store_true", default=False,
                   help="continue the interrupted run in --out from its last.pt (written after every epoch): "
                        "model, optimizer, LR schedule, epoch, random streams and history; the other flags "
                        "default to that run's settings and must not contradict them (only --epochs, "
                        "--threads and --device may change)")
    g.add_argument("--eval-only", metavar="CKPT", default=None,
                   help="do not train: load CKPT (file or run directory), evaluate it on the "
                        "validation and test splits of its task and print the accuracies as JSON "
                        "(honours --batch-size, --max-samples, --data-dir, --threads, --device)")
    g.add_argument("--list-configs", action="store_true", default=False,
                   help="list the shipped configs and exit")

    g = p.add_argument_group("model")
    g.add_argument("--neuron", help="hidden neuron type: silif, csilif, lif, adlif, cadlif, rf, multiout "
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
    g.add_argument("--arch", choices=("sparch", "hybrid", "has8-resnet", "has8-vgg"),
                   help="network: sparch (spiking layers + LI readout, the default), hybrid (one recurrent layer "
                        "of spiking and non-spiking units, options below) or a HAS-8 ANN/SNN fusion model on an "
                        "image task (digits-image, cifar10, cifar100; docs/has8.md)")
    g.add_argument("--arch-opt", dest="arch_opt", action="append", metavar="KEY=VALUE",
                   help="HAS-8 option, repeatable: width, depth, mult, blocks, hidden, path (fusion|ann|snn), "
                        "neuron (lif|if), tau, surrogate (fourier|sigsine|tanhsine|none), surrogate_param, "
                        "rescale_grad, rescale, decoder (bitplane|rate), bits")
    g.add_argument("--neuron-opt", dest="neuron_opt", action="append", metavar="KEY=VALUE",
                   help="extra neuron option, repeatable (e.g. dt_max=5 for csilif)")

    g = p.add_argument_group(
        "hybrid recurrent network (--arch hybrid; train/hybrid.py)",
        "One recurrent hidden layer of --hidden units, floor(p*hidden) spiking, the rest non-spiking, "
        "and a two-filter leaky-integrator readout. More options with --neuron-opt KEY=VALUE: shuffle, "
        "mask_seed, nsn_reset, flexible, gamma_init, gamma_penalty, tau_syn, tau_mem, tau_readout, dt, "
        "weight_scale, surrogate_scale, reg (e.g. --neuron-opt flexible=true).")
    g.add_argument("--spiking-ratio", dest="spiking_ratio", type=float, metavar="P",
                   help=f"fraction of spiking units (1 = pure SNN, 0 = pure NSN/RNN) {_default('spiking_ratio')}")
    g.add_argument("--nonspiking", choices=("nsn", "ann"),
                   help=f"non-spiking units: nsn (graded LIF) or ann (tanh) {_default('nonspiking')}")
    g.add_argument("--recurrent", choices=("direct", "separate", "none"),
                   help=f"recurrent matrix: direct (all units), separate (spiking hear spiking, non-spiking "
                        f"hear non-spiking) or none {_default('recurrent')}")
    g.add_argument("--readout", choices=("max", "sum"), help=f"logits: max or sum over time {_default('readout')}")
    g.add_argument("--train-fraction", dest="train_fraction", type=float, metavar="F",
                   help=f"train on a seeded random fraction of the train split {_default('train_fraction')}")

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
                   help="task option for silava.core.data.get_task, repeatable (e.g. n_steps=100)")
    g.add_argument("--encoding", choices=("none", "bitplane"),
                   help="input coding of the task (= --data-opt encode=...): bitplane turns graded features "
                        "(gsc, images) into binary bit-plane spikes, 8 steps per frame, MSB first")
    g.add_argument("--max-samples", dest="max_samples", type=int, metavar="N",
                   help="use at most N samples of each split (a fixed random subset)")

    g = p.add_argument_group("system")
    g.add_argument("--threads", type=int, metavar="N",
                   help="torch CPU threads (default: usable CPUs, at most 4)")
    g.add_argument("--device", choices=("cpu", "cuda"), help=f"{_default('device')}")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars over batches (default: only when stderr is a terminal)")
    g.add_argument("--quiet", action="store_true", default=False, help="no per-epoch summary lines")
    g.add_argument("--plot-format", dest="plot_format", choices=("png", "svg", "pdf"), default="png",
                   help="format of the training curve: png (200 dpi, default), svg or pdf (vector)")

    g = p.add_argument_group(
        "quantization-aware fine-tuning (QAT)",
        "--qat --from CKPT fine-tunes a trained checkpoint so that the deployed Loihi 2 fixed-point "
        "network (export/to_lava.py) is accurate: the forward pass computes exactly what the chip "
        "computes (weights, biases, decays and thresholds quantized as export does, 24-bit states, "
        "truncating products), with straight-through gradients. The model and data come from CKPT "
        "(--config/--task/--neuron/--hidden/--layers/--dropout/--init-state/--neuron-opt/--data-opt "
        "are not allowed). Initial neuron states are ZERO in QAT whatever the checkpoint's "
        "init_state (the chip starts from zero); BatchNorm uses its running statistics (frozen); "
        "dropout stays on. Defaults: --epochs 10, --lr = the checkpoint's lr / 10, --patience 3, "
        "other settings from CKPT. Model selection and the LR schedule use the fixed-point "
        "validation accuracy; the source weights count as epoch 0 and are kept unless an epoch "
        "beats them. Writes DIR/ckpt.pt (same format; export it with export/to_lava.py and the SAME "
        "quantization flags) with train_config['qat'] and float + fixed-point accuracies.")
    g.add_argument("--qat", action="store_true", default=False,
                   help="quantization-aware fine-tuning of --from CKPT (see above)")
    g.add_argument("--from", dest="from_ckpt", metavar="CKPT", default=None,
                   help="checkpoint (file or run directory) to fine-tune with --qat")
    g.add_argument("--weight-bits", dest="weight_bits", type=int, default=None, metavar="B",
                   help="QAT: weight mantissa bits, 2..8 (default 8)")
    g.add_argument("--decay-bits", dest="decay_bits", type=int, default=None, metavar="D",
                   help="QAT: decay/rotation grid bits of SILIF/CSILIF/LI layers, 8..24 (default 12; CUBA: 12)")
    g.add_argument("--state-frac-bits", dest="state_frac_bits", type=int, default=None, metavar="S",
                   help="QAT: state fraction bits (float 1.0 = 2^S state units), 6..22 (default 12)")
    g.add_argument("--layer-decay-bits", dest="layer_decay_bits", nargs="+", action="extend", default=None,
                   metavar="I=D", help="QAT: per-layer decay bits, e.g. 1=16 (layer indices count the readout)")
    g.add_argument("--layer-state-frac-bits", dest="layer_state_frac_bits", nargs="+", action="extend",
                   default=None, metavar="I=S", help="QAT: per-layer state fraction bits, e.g. 0=10")
    return p


def config_layers(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two partial configs the command line gives: the ``--config`` file's and the flags'."""
    file_cfg = load_yaml(args.config) if getattr(args, "config", None) else {}
    cli: dict[str, Any] = {}
    for key in DEFAULTS:
        if key in vars(args) and key not in ("data", "neuron_kwargs", "arch_kwargs"):
            cli[key] = getattr(args, key)
    data = parse_key_values(getattr(args, "data_opt", None), "--data-opt")
    if getattr(args, "data_dir", None) is not None:
        data["data_dir"] = args.data_dir
    if getattr(args, "encoding", None) is not None:
        data["encode"] = args.encoding
    if data:
        cli["data"] = data
    neuron_kwargs = parse_key_values(getattr(args, "neuron_opt", None), "--neuron-opt")
    if neuron_kwargs:
        cli["neuron_kwargs"] = neuron_kwargs
    arch_kwargs = parse_key_values(getattr(args, "arch_opt", None), "--arch-opt")
    if arch_kwargs:
        cli["arch_kwargs"] = arch_kwargs
    return file_cfg, cli


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Merge defaults < ``--config`` file < flags into a validated config."""
    return merge_configs(*config_layers(args))


def resume_config(args: argparse.Namespace) -> dict[str, Any]:
    """``--resume``: the interrupted run's settings < ``--config`` file < flags."""
    from silava.train.resume import load_state

    if not getattr(args, "out", None):
        raise UsageError("--resume needs --out DIR, the folder of the interrupted run")
    saved = load_state(Path(args.out))["train_config"]
    return merge_configs({k: v for k, v in saved.items() if k in DEFAULTS}, *config_layers(args))


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


def neuron_options(cls) -> list[str]:
    """The keyword options a neuron class takes (``--neuron-opt KEY=VALUE``): the keyword-only
    parameters of every ``__init__`` along its class hierarchy."""
    import inspect

    names: list[str] = []
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind is param.KEYWORD_ONLY and param.name not in names:
                names.append(param.name)
    return names


def check_neuron_options(cfg: dict[str, Any]) -> None:
    """``--neuron-opt`` keys the hidden neuron does not take are a :class:`ConfigError` naming the valid ones."""
    from silava.train.neurons import NEURONS

    if cfg.get("arch", "sparch") == "hybrid":        # the hybrid network's own options (train/hybrid.py)
        import inspect

        from silava.train.hybrid import HybridNet

        fixed = {"n_inputs", "n_hidden", "n_classes", "spiking_ratio", "nonspiking", "recurrent", "readout"}
        known = [n for n in inspect.signature(HybridNet.__init__).parameters if n not in fixed | {"self"}]
        for key in cfg.get("neuron_kwargs", {}):
            if key not in known:
                raise ConfigError(f"--neuron-opt {key}: the hybrid network has no option {key!r}; its options "
                                  f"are {', '.join(sorted(known))}")
        return
    cls = NEURONS.get(cfg["neuron"])
    if cls is None:
        return
    known = neuron_options(cls)
    for key in cfg.get("neuron_kwargs", {}):
        if key not in known:
            raise ConfigError(f"--neuron-opt {key}: the {cfg['neuron']} neuron has no option {key!r}; its options "
                              f"are {', '.join(sorted(known))}")


def memory_estimate(cfg: dict[str, Any], n_inputs: int, n_classes: int, n_steps: int) -> int:
    """Rough bytes one training step needs: float32 parameters with their gradients and two Adam moments
    (4 copies), and about 12 float32 values per (sample, step, neuron) kept for backpropagation."""
    h, layers = int(cfg["hidden"]), int(cfg["layers"])
    params = n_inputs * h + (layers - 1) * h * h + h * n_classes + 10 * (layers * h + n_classes)
    activations = 12 * int(cfg["batch_size"]) * int(n_steps) * (layers * h + n_classes)
    return 4 * (4 * params + activations)


def physical_memory() -> int | None:
    """Bytes of RAM of this machine (None where unknown)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(cfg: dict[str, Any], n_inputs: int, n_classes: int, n_steps: int) -> None:
    """Refuse a model that cannot fit in this machine's memory (:func:`memory_estimate`) before allocating it."""
    need, have = memory_estimate(cfg, n_inputs, n_classes, n_steps), physical_memory()
    if have is not None and need > have:
        raise SetupError(f"--hidden {cfg['hidden']} x --layers {cfg['layers']} with --batch-size {cfg['batch_size']} "
                         f"needs about {need / 2**30:,.0f} GiB to train, more than this machine's "
                         f"{have / 2**30:,.0f} GiB: use a smaller --hidden or --batch-size")


class RunFolder:
    """The files of one run in ``--out``: removed again if the run fails before writing its first checkpoint.

    ``created``: the folder did not exist and was made by this run (then it goes too, if empty).
    """

    def __init__(self, out: Path, plot_format: str = "png") -> None:
        self.out = out
        self.names = RUN_FILES[:-1] + (curve_name(plot_format),)
        self.created = not out.exists()
        self.before = {name for name in self.names if (out / name).exists()}
        self.checkpoint_written = False

    def check_writable(self, inputs: dict[str, Any]) -> None:
        """Before any work: every file of the run can be written and none of them is an input."""
        for name in self.names:
            check_writable_file(self.out / name, "--out", ConfigError, create_parents=True, seekable=True)
        check_outputs({f"--out {self.out}/{name}": self.out / name for name in self.names}, inputs, ConfigError)

    def discard(self) -> None:
        """Remove what this run wrote, when it never wrote a checkpoint (nothing usable to keep)."""
        if self.checkpoint_written:
            return
        for name in self.names:
            if name not in self.before:
                try:
                    (self.out / name).unlink()
                except OSError:
                    pass
        if self.created:
            try:
                self.out.rmdir()
            except OSError:
                pass


def load_task(name: str, data: dict[str, Any]):
    """``silava.core.data.get_task(name, **data)``, with user errors turned into :class:`SetupError`."""
    from silava.train.data import get_task

    try:
        return get_task(name, **data)
    except (ValueError, KeyError, TypeError, FileNotFoundError, OSError, ImportError, OverflowError) as exc:
        text = _one_line(exc)
        if isinstance(exc, ValueError) and not isinstance(exc, (KeyError,)):
            text = " ".join(str(exc).split()) or text      # the data readers' messages name file and fix
        raise SetupError(f"cannot load task {name!r}: {text}") from None


def limit(dataset, max_samples: int | None):
    """A fixed random subset (seed 0) of at most ``max_samples`` samples, order kept."""
    import torch
    from torch.utils.data import Subset

    if dataset is None or max_samples is None or len(dataset) <= max_samples:
        return dataset
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(dataset), generator=gen)[:max_samples].sort().values
    return Subset(dataset, idx.tolist())


def fraction(dataset, frac: float, seed: int = 42):
    """A seeded random ``frac`` of ``dataset`` (at least one sample, order kept); the hybrid work's
    reduced-data runs use a seed-42 random subset."""
    import torch
    from torch.utils.data import Subset

    if dataset is None or frac >= 1.0:
        return dataset
    n = max(1, int(round(frac * len(dataset))))
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=gen)[:n].sort().values
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

    from silava.train.checkpoint import atomic_write, to_plain

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

def task_facts(task) -> dict[str, Any]:
    """What the deployed network needs to know about the data (stored in ``train_config["task_facts"]``;
    export reads steps, dt and encoding from it)."""
    return {"n_inputs": int(task.n_inputs), "n_classes": int(task.n_classes), "n_steps": int(task.n_steps),
            "dt": float(task.dt), "encoding": str(task.encoding)}


def _check_out(cfg: dict[str, Any], *, overwrite: bool, resume: bool):
    """Check ``--out`` for a new run or a resumed one; returns the saved state when resuming."""
    from silava.train.resume import STATE_NAME, ResumeError, check_config, load_state

    out = Path(cfg["out"])
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory: pick another --out")
    if resume and overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite replaces it: pass one of them")
    if not resume:
        if ((out / "ckpt.pt").exists() or (out / STATE_NAME).exists()) and not overwrite:
            raise ConfigError(f"{out} already holds a training run (ckpt.pt): pass --resume to continue it, "
                              f"--overwrite to replace it, or pick another --out")
        return None
    state = load_state(out)
    check_config(state["train_config"], cfg, out)
    done = int(state["loop"]["epoch"])
    if cfg["epochs"] < done:
        raise ResumeError(f"--resume: --epochs {cfg['epochs']} is fewer than the {done} epochs the run in {out} "
                          f"already completed: pass --epochs {done} or more")
    if state["finished"] and cfg["epochs"] == done:
        raise ResumeError(f"nothing to resume in {out}: the run finished all its {done} epochs; pass a larger "
                          f"--epochs to train on")
    return state


def train_run(cfg: dict[str, Any], *, task: Any = None, overwrite: bool = False, resume: bool = False,
              progress: bool | None = None, quiet: bool = False,
              inputs: dict[str, Any] | None = None, plot_format: str = "png") -> dict[str, Any]:
    """Train with config ``cfg`` and write the run directory; returns the final metrics dict.

    ``task``: an already built task with torch splits (e.g. :func:`silava.train.data.dataset_task` of a
    Python ``Dataset``, which is what :func:`silava.fit` passes); default: ``get_task(cfg["task"],
    **cfg["data"])``. ``resume``: continue the interrupted run in ``cfg["out"]`` from its ``last.pt``
    (:mod:`silava.train.resume`; the configuration and the data must be the same, ``epochs`` may
    grow). Also writes ``last.pt`` after every epoch. ``inputs``: files the run reads (``{"--config": path}``),
    which its outputs must not replace. A run that fails before its first checkpoint removes what it wrote
    (:class:`RunFolder`); one that diverges (NaN/inf loss, :class:`silava.train.loop.NonFiniteLoss`) in its
    first epoch raises :class:`TrainingError`.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process calls this: data-parallel training with
    DistributedDataParallel, ``cfg["batch_size"]`` the global batch, rank 0 the only writer
    (:mod:`silava.train.dist`); ``train_config["world_size"]`` records the number of processes.
    """
    from silava.train import dist as distributed

    dist = distributed.setup(cfg.get("device") or "cpu")
    try:
        return _train_run(cfg, dist, task=task, overwrite=overwrite, resume=resume, progress=progress, quiet=quiet,
                          inputs=inputs, plot_format=plot_format)
    finally:
        distributed.teardown(dist)


def _train_run(cfg: dict[str, Any], dist, *, task: Any, overwrite: bool, resume: bool, progress: bool | None,
               quiet: bool, inputs: dict[str, Any] | None, plot_format: str) -> dict[str, Any]:
    if task is None and not cfg["task"]:
        raise ConfigError("no task given: pass --task NAME or a --config file with 'task:'")
    if not cfg["out"]:
        raise ConfigError("no output directory given: pass --out DIR")
    state = dist.from_main(lambda: _check_out(cfg, overwrite=overwrite, resume=resume))
    out = Path(cfg["out"])
    main = dist.is_main
    quiet = quiet or not main
    folder = RunFolder(out, plot_format)
    if main:
        folder.check_writable(dict(inputs or {}))

    import torch

    from silava.train.model import build_model
    from silava.train.neurons import NEURONS
    from silava.train.resume import check_data

    hidden_types = sorted(k for k, cls in NEURONS.items() if getattr(cls, "spiking", True))
    sparch = cfg.get("arch", "sparch") == "sparch"
    if sparch and cfg["neuron"] not in hidden_types:
        raise ConfigError(f"unknown neuron {cfg['neuron']!r}: use one of {', '.join(hidden_types)}")
    check_neuron_options(cfg)
    if dist.active:
        from silava.train.dist import default_threads as dist_threads, local_batch

        try:
            local_batch(cfg["batch_size"], dist)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        setup_torch(cfg["threads"] or dist_threads(dist, _usable_cpus()), "cpu")
        device = dist.device
    else:
        device = setup_torch(cfg["threads"], cfg["device"])
    progress = (sys.stderr.isatty() if progress is None else progress) and main
    seed = cfg["seed"]
    seed_everything(seed)

    if task is None:
        task = load_task(cfg["task"], cfg["data"])
    name = cfg["task"] or task.name
    data_config = {"name": name, **dict(task.config)}
    train_set = fraction(limit(task.train, cfg["max_samples"]), cfg.get("train_fraction", 1.0))
    valid_set = limit(task.valid, cfg["max_samples"])
    test_set = limit(task.test, cfg["max_samples"])
    if valid_set is None or len(valid_set) == 0 or task.valid is task.test:
        _log(f"note: task {name!r} has no separate validation split; model selection and the "
             f"LR schedule use the TEST split (as the reference does on SHD)", not main)
        valid_set = test_set
    facts = task_facts(task)
    splits = {"train": len(train_set), "valid": len(valid_set), "test": len(test_set)}
    if state is not None:
        check_data(state, facts, splits, out)
    train_config = {**cfg, "task": name, "task_facts": facts, "world_size": dist.world_size}
    mcfg = model_config(cfg, task.n_inputs, task.n_classes, image_shape=getattr(task, "image_shape", None),
                        dt=task.dt)
    if sparch:
        check_memory(cfg, task.n_inputs, task.n_classes, task.n_steps)
    seed_everything(seed)  # model init does not depend on how much RNG the data builder used
    try:
        model = build_model(mcfg)
    except (ValueError, KeyError, TypeError) as exc:
        what = (f"{cfg['neuron']} model (options {cfg.get('neuron_kwargs') or 'none'})" if sparch
                else f"{cfg['arch']} model (options {cfg.get('arch_kwargs') or 'none'})")
        raise SetupError(f"cannot build the {what}: {_one_line(exc)}") from None
    except (RuntimeError, MemoryError) as exc:   # the allocator: sizes beyond this machine
        raise SetupError(f"cannot allocate the model (--hidden {cfg['hidden']}, --layers {cfg['layers']}): "
                         f"{_one_line(exc)[:200]}; use a smaller --hidden") from None
    model.to(device)

    n_params = sum(p.numel() for p in model.parameters())
    _log(f"task {name}: {task.n_inputs} inputs, {task.n_classes} classes, {task.n_steps} steps; "
         f"train/valid/test {len(train_set)}/{len(valid_set)}/{len(test_set)}", quiet)
    if sparch:
        shape = f"{cfg['layers']}x{cfg['hidden']} {cfg['neuron']} (+ LI readout)"
    elif cfg.get("arch") == "hybrid":
        shape = f"{model_label(cfg)} (+ LI readout)"
    else:
        shape = f"{model_label(cfg)} {json.dumps(cfg.get('arch_kwargs', {}))}"
    _log(f"model: {shape}, {n_params:,} trainable parameters "
         f"(BatchNorm included; the exported model.net folds it into the weights and biases, so its report counts "
         f"fewer); {torch.get_num_threads()} threads, device {device}"
         + (f"; {dist.world_size} processes ({dist.backend}), global batch {cfg['batch_size']}" if dist.active
            else ""), quiet)
    try:
        return _train_loop(cfg, dist, folder, state, model, task, name, data_config, train_config, facts, splits,
                           train_set, valid_set, test_set, device, progress, quiet, overwrite, n_params)
    except BaseException:
        if state is None and main:
            folder.discard()
        raise


def _train_loop(cfg, dist, folder, state, model, task, name, data_config, train_config, facts, splits, train_set,
                valid_set, test_set, device, progress, quiet, overwrite, n_params) -> dict[str, Any]:
    """The training part of :func:`train_run` (its files are removed by the caller if no checkpoint was written)."""
    import torch

    from silava.train.checkpoint import save_checkpoint
    from silava.train.loop import evaluate, fit
    from silava.train.plots import plot_training_curve
    from silava.train.resume import STATE_NAME, capture_rng, restore_rng, save_state

    out, seed = folder.out, cfg["seed"]
    main = dist.is_main
    curve = out / folder.names[-1]
    collate = getattr(task, "collate", None)
    if dist.active:
        from silava.train import dist as distributed

        train_loader = distributed.train_loader(train_set, cfg["batch_size"], collate, dist, seed)
        valid_loader = distributed.eval_loader(valid_set, cfg["batch_size"], collate, dist)
        test_loader = distributed.eval_loader(test_set, cfg["batch_size"], collate, dist)
        trained = distributed.wrap_model(model, dist)
        torch.manual_seed(distributed.rank_seed(seed, dist))   # own dropout masks per rank
    else:
        train_loader = make_loader(train_set, cfg["batch_size"], collate, shuffle=True, seed=seed)
        valid_loader = make_loader(valid_set, cfg["batch_size"], collate, shuffle=False)
        test_loader = make_loader(test_set, cfg["batch_size"], collate, shuffle=False)
        trained = model
    if main:
        out.mkdir(parents=True, exist_ok=True)
    hybrid = cfg.get("arch", "sparch") == "hybrid"
    title = (f"{name} / {cfg['neuron']} {cfg['layers']}x{cfg['hidden']} (seed {seed})"
             if cfg.get("arch", "sparch") == "sparch" else f"{name} / {model_label(cfg)} (seed {seed})")
    summary: dict[str, Any] = {"task": name, "neuron": "hybrid" if hybrid else model_label(cfg), "finished": False,
                               "best_valid_acc": None, "best_epoch": None, "test_acc": None,
                               "test_loss": None, "train_seconds": None, "n_params": n_params,
                               "history": [], "config": train_config}

    def save(state_dict: dict[str, torch.Tensor]) -> None:
        metrics = {k: summary[k] for k in ("best_valid_acc", "best_epoch", "test_acc", "test_loss",
                                           "train_seconds", "finished", "n_params", "history", "flexible")
                   if k in summary}
        save_checkpoint(out / "ckpt.pt", state_dict=state_dict, model_config=model.config,
                        data_config=data_config, train_config=train_config, metrics=metrics, seed=seed)
        folder.checkpoint_written = True

    def on_epoch(history: list[dict[str, Any]], improved: bool, best_state: dict[str, torch.Tensor]) -> None:
        if not main:
            return
        best = max(history, key=lambda h: h["valid_acc"])
        summary.update(history=history, best_valid_acc=best["valid_acc"], best_epoch=best["epoch"])
        if improved:
            save(best_state)          # the checkpoint first: metrics never describe a run without one
        write_metrics(out, summary)
        plot_training_curve(history, curve, title=title)

    last = {"loop": None, "rng": None}

    def on_state(loop: dict[str, Any], finished: bool = False) -> None:
        last["loop"] = loop
        if not finished:
            last["rng"] = capture_rng(train_loader.generator)
            if dist.active:   # every rank's streams (rank 0's at the top level, as in one process)
                last["rng"] = {**last["rng"], "ranks": dist.gather(last["rng"])}
        if main:
            save_state(out, loop, last["rng"], train_config=train_config, data_config=data_config,
                       task_facts=facts, splits=splits, finished=finished)

    if state is not None:
        loop = state["loop"]
        last.update(loop=loop, rng=state["rng"])
        restore_rng(_rank_rng(state, dist, seed), train_loader.generator)
        _log(f"resuming {out} after epoch {loop['epoch']} (best valid acc {loop['best_acc']:.4f} at epoch "
             f"{loop['best_epoch']}); training to epoch {cfg['epochs']}", quiet)
    elif overwrite and main:
        (out / STATE_NAME).unlink(missing_ok=True)   # the state of the run being replaced
    result = fit(trained, train_loader, valid_loader, epochs=cfg["epochs"], lr=cfg["lr"],
                 patience=cfg["patience"], factor=cfg["factor"], min_lr=cfg["min_lr"], device=device,
                 eval_seed=seed, progress=progress, log=lambda m: _log(m, quiet), on_epoch=on_epoch,
                 on_state=on_state, resume=None if state is None else state["loop"], dist=dist)
    if result.stopped_early and not result.history and state is None:
        raise TrainingError(f"training stopped {result.stopped_early}; no epoch finished, so nothing was written "
                            f"to {out}")
    if result.stopped_early:
        _log(f"warning: stopped early {result.stopped_early}; keeping the best epoch ({result.best_epoch})", not main)
    model.load_state_dict(result.best_state)
    if hybrid and model.gamma is not None:        # flexible spiking: binarise γ after training
        from silava.train.hybrid import binarize

        flex = evaluate(model, test_loader, device=device, eval_seed=seed, desc="test (flexible)", progress=progress,
                        dist=dist)
        model = binarize(model)
        summary["flexible"] = {"test_acc_before_binarize": flex.acc, "n_spiking": model.n_spiking}
        _log(f"flexible spiking: binarised gamma >= 0.5 -> {model.n_spiking}/{cfg['hidden']} spiking units "
             f"(test acc before {flex.acc:.4f})", quiet)
        result.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    test = evaluate(model, test_loader, device=device, eval_seed=seed, desc="test", progress=progress, dist=dist)
    summary.update(history=result.history, best_valid_acc=result.best_valid_acc, best_epoch=result.best_epoch,
                   test_acc=test.acc, test_loss=test.loss, finished=True,
                   train_seconds=result.seconds, stopped_early=result.stopped_early)
    if main:
        save(result.best_state)
        write_metrics(out, summary)
        plot_training_curve(result.history, curve, title=title, test_acc=test.acc)
    if last["loop"] is not None:
        on_state(last["loop"], finished=True)
    dist.barrier()   # the files are complete before any process returns
    return summary


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _rank_rng(state: dict[str, Any], dist, seed: int) -> dict[str, Any]:
    """The random streams this rank continues from: its own when the interrupted run had as many
    processes, else rank 0's (a different process count cannot continue bit-exactly; ranks > 0
    then reseed their training stream with ``seed + rank + epoch``)."""
    rng = state["rng"]
    ranks = rng.get("ranks")
    if dist.active and ranks is not None and len(ranks) == dist.world_size:
        return ranks[dist.rank]
    if dist.active and dist.rank > 0:
        import torch

        saved = {**rng, "torch": None}
        torch.manual_seed(seed + dist.rank + int(state["loop"]["epoch"]))
        return {**saved, "torch": torch.get_rng_state()}
    return rng


def eval_only(path: str, *, batch_size: int | None = None, max_samples: int | None = None,
              threads: int | None = None, device: str = "cpu", progress: bool | None = None,
              data_dir: str | None = None) -> dict[str, Any]:
    """Load a checkpoint, rebuild its task and evaluate it on the validation and test splits.

    ``data_dir`` replaces the data directory stored in the checkpoint (data moved elsewhere).
    """
    from silava.train.checkpoint import load_checkpoint
    from silava.train.loop import evaluate

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
                               "neuron": (ckpt["model_config"].get("neuron") or ckpt["model_config"].get("arch")),
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


# ---------------------------------------------------------------------------- QAT

#: flags that describe a new model or task: not allowed with --qat (the checkpoint fixes them)
QAT_FORBIDDEN = {"config": "--config", "task": "--task", "neuron": "--neuron", "hidden": "--hidden",
                 "layers": "--layers", "dropout": "--dropout", "init_state": "--init-state",
                 "neuron_opt": "--neuron-opt", "data_opt": "--data-opt"}
#: QAT-only flags (dest -> flag)
QAT_ONLY = {"from_ckpt": "--from", "weight_bits": "--weight-bits", "decay_bits": "--decay-bits",
            "state_frac_bits": "--state-frac-bits", "layer_decay_bits": "--layer-decay-bits",
            "layer_state_frac_bits": "--layer-state-frac-bits"}
QAT_DEFAULTS = {"epochs": 10, "patience": 3, "lr_divisor": 10.0}


def qat_options(args: argparse.Namespace) -> dict[str, Any]:
    """Check the flags of a ``--qat`` run; returns the keyword arguments of :func:`qat_run`."""
    given = vars(args)
    if not args.qat:
        extra = [flag for dest, flag in QAT_ONLY.items() if given.get(dest) is not None]
        if extra:
            raise UsageError(f"{extra[0]} is an option of quantization-aware fine-tuning: add --qat "
                             f"(e.g. --qat --from runs/r1/ckpt.pt --out runs/r1_qat)")
        return {}
    if args.eval_only or args.list_configs or args.resume:
        raise UsageError("--qat cannot be combined with --eval-only/--list-configs/--resume")
    bad = [flag for dest, flag in QAT_FORBIDDEN.items() if dest in given]
    if bad:
        raise UsageError(f"{bad[0]} is not allowed with --qat: the model and the data come from the --from "
                         f"checkpoint")
    if not args.from_ckpt:
        raise UsageError("--qat needs --from CKPT (the trained checkpoint to fine-tune, e.g. --from runs/r1/ckpt.pt)")
    if not getattr(args, "out", None):
        raise UsageError("--qat needs --out DIR (where the fine-tuned ckpt.pt goes)")
    from silava.train.qat import QuantSettings

    settings = QuantSettings(
        weight_bits=8 if args.weight_bits is None else args.weight_bits,
        decay_bits=12 if args.decay_bits is None else args.decay_bits,
        state_frac_bits=12 if args.state_frac_bits is None else args.state_frac_bits,
        layer_decay_bits=parse_layer_bits(args.layer_decay_bits, "--layer-decay-bits", UsageError),
        layer_state_frac_bits=parse_layer_bits(args.layer_state_frac_bits, "--layer-state-frac-bits", UsageError))
    opts: dict[str, Any] = {"source": args.from_ckpt, "out": args.out, "settings": settings,
                            "overwrite": args.overwrite, "progress": args.progress, "quiet": args.quiet}
    for key in ("epochs", "lr", "batch_size", "patience", "factor", "min_lr", "seed", "max_samples",
                "threads", "device", "data_dir"):
        if key in given:
            opts[key] = given[key]
    return opts


def qat_run(source: str, out: str, settings, *, epochs: int | None = None, lr: float | None = None,
            batch_size: int | None = None, patience: int | None = None, factor: float | None = None,
            min_lr: float | None = None, seed: int | None = None, max_samples: int | None = None,
            threads: int | None = None, device: str = "cpu", data_dir: str | None = None,
            overwrite: bool = False, progress: bool | None = None, quiet: bool = False) -> dict[str, Any]:
    """Quantization-aware fine-tuning of checkpoint ``source`` into ``out/ckpt.pt``; returns the summary.

    The model, task and unspecified training settings come from the checkpoint (``lr``
    defaults to its lr / 10, ``epochs`` to 10, ``patience`` to 3). Trains :class:`train.qat.QATNet`
    with Adam + ReduceLROnPlateau on the fixed-point validation accuracy (the QAT forward in eval
    mode, = hwsim on the exported model.net); the source weights are epoch 0. The checkpoint
    written has the normal format plus ``train_config["qat"]`` (settings, source sha256) and
    metrics with float and fixed-point accuracies before and after.
    """
    import torch

    from silava.train.checkpoint import load_checkpoint
    from silava.train.loop import evaluate
    from silava.train.qat import INPUT_MESSAGE_BITS, QATError, QATNet, check_settings, quantize_model

    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} exists and is not a directory: pick another --out")
    src = Path(source)
    src_file = src / "ckpt.pt" if src.is_dir() else src
    folder = RunFolder(out_dir)
    folder.check_writable({"--from checkpoint": src_file})
    if (out_dir / "ckpt.pt").exists() and not overwrite:
        raise ConfigError(f"{out_dir} already holds a ckpt.pt: pass --overwrite or pick another --out")
    model, ckpt = load_checkpoint(source, map_location="cpu")
    hybrid = ckpt["model_config"].get("arch") == "hybrid"
    if not hybrid and not hasattr(model, "layers"):
        raise QATError(f"--qat fine-tunes SpArch and hybrid networks; {src_file} holds a "
                       f"{ckpt['model_config'].get('arch')} model (deploy it with silava fusion export, docs/has8.md)")
    check_settings(settings, 2 if hybrid else len(model.layers) + 1)
    if not hybrid:
        with torch.no_grad():
            quantize_model(model, settings)      # unsupported neuron, unrepresentable weights: fail now
    src_cfg = dict(ckpt["train_config"])
    cfg = {**src_cfg}
    cfg["epochs"] = int(epochs if epochs is not None else QAT_DEFAULTS["epochs"])
    cfg["lr"] = float(lr if lr is not None else float(src_cfg.get("lr", DEFAULTS["lr"])) / QAT_DEFAULTS["lr_divisor"])
    cfg["patience"] = int(patience if patience is not None else QAT_DEFAULTS["patience"])
    for key, value in (("batch_size", batch_size), ("factor", factor), ("min_lr", min_lr), ("seed", seed),
                       ("max_samples", max_samples), ("threads", threads), ("device", device)):
        cfg[key] = value if value is not None else src_cfg.get(key, DEFAULTS[key])
    cfg["out"] = str(out_dir)
    from silava.train.config import validate

    merged = validate({**DEFAULTS, **{k: v for k, v in cfg.items() if k in DEFAULTS}})
    cfg.update({k: merged[k] for k in ("epochs", "lr", "batch_size", "patience", "factor", "min_lr", "seed",
                                       "max_samples", "threads", "device")})

    dev = setup_torch(cfg["threads"], cfg["device"])
    progress = sys.stderr.isatty() if progress is None else progress
    seed_everything(cfg["seed"])
    data = dict(ckpt["data_config"])
    name = data.pop("name", None) or src_cfg.get("task")
    if data_dir is not None:
        data["data_dir"] = data_dir
    task = load_task(name, data)
    if task.encoding not in INPUT_MESSAGE_BITS:
        raise QATError(f"task {name!r} has {task.encoding} inputs; the deployed network (model.net v1) takes "
                       f"binary spikes or spike counts: QAT needs a spike-encoded task")
    bits = INPUT_MESSAGE_BITS[task.encoding]
    train_set = limit(task.train, cfg["max_samples"])
    valid_set = limit(task.valid, cfg["max_samples"])
    test_set = limit(task.test, cfg["max_samples"])
    if valid_set is None or len(valid_set) == 0 or task.valid is task.test:
        _log(f"note: task {name!r} has no separate validation split; model selection and the LR schedule "
             f"use the TEST split", quiet)
        valid_set = test_set
    collate = getattr(task, "collate", None)
    train_loader = make_loader(train_set, cfg["batch_size"], collate, shuffle=True, seed=cfg["seed"])
    valid_loader = make_loader(valid_set, cfg["batch_size"], collate, shuffle=False)
    test_loader = make_loader(test_set, cfg["batch_size"], collate, shuffle=False)

    model.to(dev)
    extra: dict[str, Any] = {}
    if hybrid:                                   # the hybrid network (train/hybrid_qat.py)
        from silava.train.hybrid_qat import HybridQATNet, calibration_inputs, choose_payload_bits

        q = choose_payload_bits(model, calibration_inputs(task), settings.state_frac_bits_for(0))
        qnet = HybridQATNet(model, settings, payload_bits=q, input_message_bits=bits)
        extra["payload_bits"] = q
    else:
        qnet = QATNet(model, settings, input_message_bits=bits)
    sha = sha256_file(src_file)
    cfg["qat"] = {**settings.to_dict(), **extra, "from": sha, "from_path": str(src_file), "init_state": "zeros",
                  "batchnorm": "running statistics (frozen)", "input_message_bits": bits,
                  "timeline": "logical", "selection": "fixed-point validation accuracy"}
    eval_seed = int(ckpt["seed"])

    def accuracies() -> dict[str, dict[str, float]]:
        res: dict[str, dict[str, float]] = {"float": {}, "fixed_point": {}}
        for split, loader in (("valid", valid_loader), ("test", test_loader)):
            for kind, net in (("float", model), ("fixed_point", qnet)):
                st = evaluate(net, loader, device=dev, eval_seed=eval_seed, desc=f"{kind} {split}", progress=progress)
                res[kind][f"{split}_acc"] = st.acc
                res[kind][f"{split}_loss"] = st.loss
        return res

    before = accuracies()
    _log(f"QAT of {src_file} ({ckpt['model_config'].get('neuron')}, task {name}): settings "
         f"{json.dumps(settings.to_dict())}; before: float valid {100 * before['float']['valid_acc']:.1f}%, "
         f"fixed-point valid {100 * before['fixed_point']['valid_acc']:.1f}%; lr {cfg['lr']:.2g}, "
         f"{cfg['epochs']} epochs", quiet)

    try:
        return _qat_loop(folder, model, qnet, ckpt, cfg, settings, name, bits, before, accuracies, train_loader,
                         valid_loader, dev, progress, quiet, eval_seed)
    except BaseException:
        folder.discard()
        raise


def _qat_loop(folder, model, qnet, ckpt, cfg, settings, name, bits, before, accuracies, train_loader, valid_loader,
              dev, progress, quiet, eval_seed) -> dict[str, Any]:
    """The fine-tuning part of :func:`qat_run` (its files are removed by the caller if it fails)."""
    import torch

    from silava.train.checkpoint import save_checkpoint
    from silava.train.loop import fit
    from silava.train.plots import plot_training_curve

    out_dir = folder.out
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"QAT {name} / {ckpt['model_config'].get('neuron')} (fixed-point valid)"
    summary: dict[str, Any] = {"task": name, "neuron": (ckpt["model_config"].get("neuron") or ckpt["model_config"].get("arch")), "qat": True,
                               "finished": False, "best_valid_acc": before["fixed_point"]["valid_acc"],
                               "best_epoch": 0, "test_acc": None, "test_loss": None, "train_seconds": None,
                               "n_params": sum(p.numel() for p in model.parameters()),
                               "selection": "fixed-point validation accuracy", "before_qat": before,
                               "history": [], "config": cfg}

    def plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}

    def save(state: dict[str, torch.Tensor]) -> None:
        keys = ("best_valid_acc", "best_epoch", "test_acc", "test_loss", "train_seconds", "finished", "n_params",
                "qat", "selection", "before_qat", "float", "fixed_point", "stopped_early", "history")
        metrics = {k: summary[k] for k in keys if k in summary}
        save_checkpoint(out_dir / "ckpt.pt", state_dict=state, model_config=model.config,
                        data_config=ckpt["data_config"], train_config=cfg, metrics=metrics, seed=cfg["seed"])
        folder.checkpoint_written = True

    save(model.state_dict())   # epoch 0: an interrupted run still leaves a usable checkpoint

    def on_epoch(history: list[dict[str, Any]], improved: bool, best_state: dict[str, torch.Tensor]) -> None:
        summary["history"] = history
        if improved:
            summary.update(best_valid_acc=history[-1]["valid_acc"], best_epoch=history[-1]["epoch"])
            save(plain(best_state))
        write_metrics(out_dir, summary)
        plot_training_curve(history, out_dir / "training_curve.png", title=title)

    start = time.perf_counter()
    result = fit(qnet, train_loader, valid_loader, epochs=cfg["epochs"], lr=cfg["lr"], patience=cfg["patience"],
                 factor=cfg["factor"], min_lr=cfg["min_lr"], device=dev, eval_seed=eval_seed, progress=progress,
                 log=lambda m: _log(m, quiet), on_epoch=on_epoch,
                 baseline_valid_acc=before["fixed_point"]["valid_acc"])
    if result.stopped_early:
        _log(f"warning: stopped early {result.stopped_early}; keeping the best epoch so far "
             f"({result.best_epoch})")
    qnet.load_state_dict(result.best_state)
    after = accuracies()
    summary.update(best_valid_acc=result.best_valid_acc, best_epoch=result.best_epoch,
                   test_acc=after["float"]["test_acc"], test_loss=after["float"]["test_loss"],
                   float=after["float"], fixed_point=after["fixed_point"], finished=True,
                   train_seconds=time.perf_counter() - start, stopped_early=result.stopped_early)
    save(model.state_dict())
    write_metrics(out_dir, summary)
    plot_training_curve(result.history, out_dir / "training_curve.png", title=title,
                        test_acc=after["fixed_point"]["test_acc"])
    return summary


def _world_size() -> int:
    from silava.train.dist import env_world_size

    return env_world_size()


def _elastic_restart(args: argparse.Namespace) -> bool:
    """True when torchrun restarted the worker group (``--max-restarts``) after this run wrote a
    ``last.pt``: the restarted processes continue it as with ``--resume`` (their command line is the
    original one, which may say ``--overwrite``)."""
    from silava.train.dist import restart_count

    out = getattr(args, "out", None)
    return bool(restart_count() > 0 and not args.resume and out and (Path(out) / "last.pt").is_file())


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 2 bad input, 130 interrupted, 143 SIGTERM)."""
    from silava.core.data import DataError
    from silava.train.checkpoint import CheckpointError
    from silava.train.qat import QATError

    prog = command_name("train", prog)
    return run_command(prog, lambda: _main(argv, prog),
                       (ConfigError, CheckpointError, SetupError, UsageError, QATError, TrainingError, DataError),
                       interrupted="the best checkpoint so far, if any, is in the --out directory; continue with "
                                   "the same command plus --resume")


def _main(argv: Sequence[str] | None, prog: str) -> int:
    args = build_parser(prog).parse_args(None if argv is None else list(argv))
    qat = qat_options(args)
    if qat and _world_size() > 1:
        raise UsageError("--qat fine-tunes in one process: run it without torchrun")
    if qat:
        summary = qat_run(**qat)
        fb, fa = summary["before_qat"]["fixed_point"], summary["fixed_point"]
        print(f"QAT {summary['task']}/{summary['neuron']}: fixed-point valid acc {fb['valid_acc']:.4f} -> "
              f"{fa['valid_acc']:.4f} (epoch {summary['best_epoch']}), fixed-point test acc "
              f"{fb['test_acc']:.4f} -> {fa['test_acc']:.4f}, float test acc "
              f"{summary['before_qat']['float']['test_acc']:.4f} -> {summary['float']['test_acc']:.4f}, "
              f"{summary['train_seconds']:.1f}s; wrote {Path(qat['out']) / 'ckpt.pt'}")
        return 0
    if _world_size() > 1 and (args.eval_only or args.list_configs):
        raise UsageError("--eval-only and --list-configs run in one process: run them without torchrun")
    if args.resume and (args.eval_only or args.list_configs):
        raise UsageError("--resume continues a training run: drop --eval-only/--list-configs")
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
    if _elastic_restart(args):
        args.resume, args.overwrite = True, False
    cfg = resume_config(args) if args.resume else config_from_args(args)
    config_file = find_config(args.config) if getattr(args, "config", None) else None
    summary = train_run(cfg, overwrite=args.overwrite, resume=args.resume, progress=args.progress,
                        quiet=args.quiet, inputs={"--config": config_file}, plot_format=args.plot_format)
    if os.environ.get("RANK", "0") == "0":   # torchrun: one summary line, from rank 0
        print(f"{cfg['task']}/{model_label(cfg)}: best valid acc {summary['best_valid_acc']:.4f} "
              f"(epoch {summary['best_epoch']}), test acc {summary['test_acc']:.4f}, "
              f"{summary['train_seconds']:.1f}s; wrote {Path(cfg['out']) / 'ckpt.pt'}")
    return 0

if __name__ == "__main__":
    from silava.train.train import main as _main  # the package's module, not this file's __main__ copy

    sys.exit(_main())
