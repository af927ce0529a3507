"""Command-line pieces shared by the silava commands (numpy + standard library).

The contract every command follows on bad input: one line naming the problem and the fix,
exit code 2, no traceback, no partial output. Each command has its own exception class for
that line; the helpers here take it as ``error``.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np


def one_line_parser(error: type[Exception], **kwargs: Any) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` whose usage errors raise ``error("<message> (see --help)")``."""

    class Parser(argparse.ArgumentParser):
        def error(self, message: str):  # type: ignore[override]
            raise error(f"{message} (see --help)")

    return Parser(**kwargs)


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


def load_inputs(args: argparse.Namespace, meta: Any,
                error: type[Exception] = ValueError) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x, y, description)`` from ``args.inputs`` (.npz) or ``args.task`` (+ ``args.split``).

    ``meta`` is the model.net metadata: its stored task config, steps and input count are
    reused. The task path imports torch, lazily.
    """
    if args.inputs:
        x, y = load_npz_inputs(args.inputs, args.samples, error)
        return x, y, Path(args.inputs).name
    from silava.tasks import TaskError, load_task_arrays

    try:
        x, y = load_task_arrays(args.task, meta.task, split=args.split, max_samples=args.samples,
                                steps=meta.steps, n_inputs=meta.n_inputs)
    except TaskError as exc:
        raise error(f"--task {args.task}: {exc}") from None
    except (ValueError, KeyError, FileNotFoundError, ImportError) as exc:
        raise error(f"--task {args.task}: {_first_line(exc)}") from None
    return x, y, f"task {args.task} ({args.split} split)"
