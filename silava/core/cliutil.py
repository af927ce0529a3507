"""Command-line pieces shared by the silava commands (numpy + standard library).

The contract every command follows on bad input: one line naming the problem and the fix,
exit code 2, no traceback, no partial output. Each command has its own exception class for
that line; the helpers here take it as ``error``.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np


def one_line_parser(error: type[Exception], **kwargs: Any) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` whose usage errors raise ``error("<message> (see `<prog> --help`)")``."""

    class Parser(argparse.ArgumentParser):
        def error(self, message: str):  # type: ignore[override]
            raise error(f"{message} (see `{self.prog} --help`)")

    return Parser(**kwargs)


def json_safe(value: Any) -> Any:
    """numpy scalars/arrays -> Python, NaN/inf -> None, tuples -> lists (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return value


def parse_layer_bits(items: Optional[Sequence[str]], flag: str,
                     error: type[Exception] = ValueError) -> dict[int, int]:
    """``["1=16", "2=14"]`` -> ``{1: 16, 2: 14}`` (per-layer bit-width overrides)."""
    out: dict[int, int] = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        try:
            if not sep:
                raise ValueError
            out[int(key)] = int(value)
        except ValueError:
            raise error(f"{flag}: expected LAYER=BITS (e.g. 1=16), got {item!r}") from None
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def load_npz_inputs(path: str | os.PathLike, samples: Optional[int],
                    error: type[Exception] = ValueError) -> tuple[np.ndarray, np.ndarray]:
    """``x [N, T, F]`` and integer labels ``y [N]`` from an ``.npz`` (first ``samples`` of them)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"--inputs {path}: no such file; pass an .npz with arrays x and y")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data or "y" not in data:
                raise error(f"--inputs {path}: needs arrays 'x' [N, T, F] and 'y' [N], found {sorted(data.files)}")
            x, y = np.asarray(data["x"]), np.asarray(data["y"])
    except error:
        raise
    except (OSError, ValueError) as exc:
        raise error(f"--inputs {path}: not a readable .npz ({_first_line(exc)}); "
                    "save it with numpy.savez(path, x=x, y=y)") from None
    if samples is not None:
        x, y = x[:samples], y[:samples]
    if y.ndim != 1 or y.dtype.kind not in "iu" or (x.ndim >= 1 and len(y) != len(x)):
        raise error(f"--inputs {path}: y must be integer labels of shape [N] matching x "
                    f"(got {y.dtype} {tuple(y.shape)} for {len(x)} samples)")
    return x, y.astype(np.int64)


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """``--task`` | ``--inputs``, ``--samples``, ``--split``: how a command that runs a model.net gets data."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--task", help="task name (randman, spoken-digits, shd, ...); its stored config in "
                                    "model.net is reused")
    src.add_argument("--inputs", metavar="FILE.npz", help="inputs as arrays x [N, T, F] (integers) and y [N]")
    p.add_argument("--samples", type=int, default=None, help="use the first N samples (default: all)")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="task split (default test)")


def check_input_arguments(args: argparse.Namespace, error: type[Exception] = ValueError) -> None:
    """The checks of :func:`add_input_arguments`' options that argparse cannot do."""
    if not args.task and not args.inputs:
        raise error("give the inputs with --task TASK or --inputs FILE.npz")
    if args.samples is not None and args.samples < 1:
        raise error(f"--samples {args.samples}: must be at least 1")


def load_inputs(args: argparse.Namespace, meta: Any,
                error: type[Exception] = ValueError) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, description)`` from ``args.inputs`` (.npz) or ``args.task`` (+ ``args.split``).

    ``meta`` is the model.net metadata: its stored task config, steps and input count are
    reused. The task path imports torch, lazily.
    """
    if args.inputs:
        x, y = load_npz_inputs(args.inputs, args.samples, error)
        return x, y, Path(args.inputs).name
    from silava.core.tasks import TaskError, load_task_arrays

    try:
        x, y = load_task_arrays(args.task, meta.task, split=args.split, max_samples=args.samples,
                                steps=meta.steps, n_inputs=meta.n_inputs)
    except TaskError as exc:
        raise error(f"--task {args.task}: {exc}") from None
    except (ValueError, KeyError, FileNotFoundError, ImportError) as exc:
        raise error(f"--task {args.task}: {_first_line(exc)}") from None
    return x, y, f"task {args.task} ({args.split} split)"
