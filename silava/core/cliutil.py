"""Command-line pieces shared by the silava commands (numpy + standard library).

The contract every command follows on bad input: one line naming the problem and the fix,
exit code 2, no traceback, no partial output. Each command has its own exception class for
that line; the helpers here take it as ``error``.

:func:`run_command` is the frame every ``main(argv)`` runs its body in. Exit codes:

* ``0`` success;
* ``1`` a run that failed after it started (a Lava run error; the command says so);
* ``2`` bad input, or an output that cannot be written (a full disk, a read-only folder):
  one line ``<prog>: error: <problem>; <fix>``;
* ``130`` interrupted (Ctrl-C), ``128 + n`` terminated by signal ``n`` (SIGTERM: 143, SIGHUP: 129):
  one line; temp files are removed and the outputs stay as they were (each is replaced
  atomically, only when complete).
"""
from __future__ import annotations

import argparse
import errno
import math
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

#: exit status of an interrupted command (Ctrl-C); a signal n gives 128 + n
EXIT_INTERRUPTED = 130


def one_line(text: Any) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def command_name(name: str, prog: Optional[str] = None) -> str:
    """The name a command reports itself under: ``prog`` if given, else ``silava <name>``
    (also when it runs as its folder's script, ``python train/train.py``: the public name)."""
    return prog or f"silava {name}"


class Terminated(BaseException):
    """The process got SIGTERM or SIGHUP; raised in the main thread like ``KeyboardInterrupt`` so that
    the same clean-up runs (temp files removed, Lava processes stopped)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


#: signals turned into :class:`Terminated` while a command runs
TERMINATING_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """While the block runs, SIGTERM/SIGHUP raise :class:`Terminated` in the main thread (outside the
    main thread, or where signals cannot be set, nothing changes). The previous handlers come back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    saved = {}
    for sig in TERMINATING_SIGNALS:
        try:
            saved[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):   # pragma: no cover - not settable here
            pass
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


#: errno -> what it means for an output, and the fix
_OS_ERRORS = {
    errno.ENOSPC: "no space left on device; free some space or choose an output on another disk",
    getattr(errno, "EDQUOT", -1): "disk quota exceeded; free some space or choose an output on another disk",
    errno.EROFS: "read-only file system; choose a writable output path",
    errno.EACCES: "permission denied; choose a path you can write (or read)",
    errno.EPERM: "operation not permitted; choose a path you can write (or read)",
    errno.EISDIR: "is a directory; give a file name",
    errno.ENOTDIR: "a part of the path is not a directory; check the path",
    errno.ENOENT: "no such file or directory; check the path",
    errno.EIO: "input/output error (a failing disk or network file system); try again or choose another path",
    errno.ENAMETOOLONG: "file name too long; choose a shorter path",
    errno.EMFILE: "too many open files; close other programs or raise the limit (ulimit -n)",
    errno.EPIPE: "the reader of this output (a pipe or FIFO) went away; keep it open until the command ends",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError`` of a read or write: the file, what happened, the fix."""
    where = exc.filename if exc.filename is not None else ""
    what = _OS_ERRORS.get(exc.errno or 0)
    if what is None:
        what = f"{one_line(exc.strerror or exc) or type(exc).__name__}; check the path and try again"
    return f"{where}: {what}" if where else what


def run_command(prog: str, body: Callable[[], Optional[int]], errors: tuple[type[BaseException], ...] = (),
                *, interrupted: str = "", out: Any = None) -> int:
    """Run a command's ``body()`` and turn every way it can end into an exit status and at most one line.

    ``errors``: the command's own one-line error classes (exit 2). An ``OSError`` (a read or write that
    failed: full disk, read-only folder) is exit 2 too, described by :func:`describe_os_error`;
    ``MemoryError`` exit 2. Ctrl-C prints ``<prog>: interrupted`` (+ ``interrupted``, e.g. what was kept)
    and returns 130; SIGTERM/SIGHUP (:func:`signals_as_exceptions`) the same with ``128 + signal``.
    ``SystemExit`` (argparse's ``--help``) returns its code. Anything else is a bug and propagates.
    """
    err = out or sys.stderr
    note = f" ({interrupted})" if interrupted else ""
    try:
        with signals_as_exceptions():
            return int(body() or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except errors as exc:  # type: ignore[misc]
        print(f"{prog}: error: {one_line(exc)}", file=err)
        return 2
    except BrokenPipeError as exc:   # `silava ... | head`: the reader left; stop quietly, like other tools
        if exc.filename is not None:                  # an output file (a FIFO) whose reader left: say so
            print(f"{prog}: error: {describe_os_error(exc)}", file=err)
            return 2
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 128 + 13
    except OSError as exc:
        print(f"{prog}: error: {describe_os_error(exc)}", file=err)
        return 2
    except MemoryError:
        print(f"{prog}: error: out of memory; use fewer samples (--samples), a smaller batch or a smaller model",
              file=err)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted{note}", file=err)
        return EXIT_INTERRUPTED
    except Terminated as exc:
        print(f"{prog}: terminated by {exc.name}{note}", file=err)
        return 128 + exc.signum


def progress_enabled(flag: Optional[bool] = None, stream: Any = None) -> bool:
    """Whether to draw tqdm bars: ``flag`` if given, else only when ``stream`` (stderr) is a terminal,
    so that redirected logs never get ``\\r``-rewritten bar lines."""
    if flag is not None:
        return bool(flag)
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


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


#: largest input value a spike message carries (Lava's int32 payload)
INPUT_MAX = 2**31 - 1


def load_npz_inputs(path: str | os.PathLike, samples: Optional[int],
                    error: type[Exception] = ValueError) -> tuple[np.ndarray, np.ndarray]:
    """``x [N, T, F]`` and integer labels ``y [N]`` from an ``.npz`` (first ``samples`` of them).

    ``x`` must hold spikes or spike counts: finite, whole, ``0 <= x <= 2^31 − 1``, at least one
    sample, step and input; ``y`` integer labels ``>= 0``, one per sample. Every problem is
    ``error`` with one line naming the array and the fix.
    """
    import zipfile

    path = Path(path)
    fix = "save it with numpy.savez(path, x=x, y=y), x [N, T, F] spike counts and y [N] integer labels"
    if not path.is_file():
        raise error(f"--inputs {path}: no such file; pass an .npz with arrays x and y")
    try:
        data = np.load(path, allow_pickle=False)
        if not hasattr(data, "files"):
            raise error(f"--inputs {path}: a single .npy array, not an .npz archive; {fix}")
        with data:
            if "x" not in data or "y" not in data:
                raise error(f"--inputs {path}: needs arrays 'x' [N, T, F] and 'y' [N], found "
                            f"{sorted(data.files) or 'none'}; {fix}")
            x, y = np.asarray(data["x"]), np.asarray(data["y"])
    except error:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise error(f"--inputs {path}: not a readable .npz ({_first_line(exc)}); {fix}") from None
    if x.ndim != 3:
        raise error(f"--inputs {path}: x has shape {tuple(x.shape)}, expected [N, T, F] (samples, steps, inputs); "
                    f"reshape it, e.g. x[:, :, None] for one input")
    if x.dtype.kind not in "biuf":
        raise error(f"--inputs {path}: x has dtype {x.dtype}; it must hold numbers (spikes or spike counts)")
    if y.dtype.kind not in "biu" and not (y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        raise error(f"--inputs {path}: y has dtype {y.dtype}; labels must be integers 0..C-1 "
                    f"(e.g. numpy.asarray(labels, dtype=numpy.int64))")
    if y.ndim != 1 or len(y) != len(x):
        raise error(f"--inputs {path}: y must be integer labels of shape [N] = [{len(x)}] (one per sample of x), "
                    f"got shape {tuple(y.shape)}")
    if samples is not None:
        x, y = x[:samples], y[:samples]
    n, t, f = x.shape
    if n == 0 or t == 0 or f == 0:
        raise error(f"--inputs {path}: x has shape {tuple(x.shape)}; it needs at least one sample, one step and one "
                    f"input")
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)):
            raise error(f"--inputs {path}: x holds NaN or infinite values; inputs are spike counts (whole numbers >= 0)")
        if np.any(x != np.round(x)):
            raise error(f"--inputs {path}: x holds fractional values; inputs are spike counts: round or bin them first")
    low, high = x.min(), x.max()
    if low < 0:
        raise error(f"--inputs {path}: x holds negative values (lowest {low:g}); spikes and spike counts are >= 0")
    if high > INPUT_MAX:
        raise error(f"--inputs {path}: x holds values up to {high:g}, more than a spike message carries "
                    f"({INPUT_MAX}); pass spike counts")
    if len(y) and y.min() < 0:
        raise error(f"--inputs {path}: y holds negative labels (lowest {int(y.min())}); number the classes 0..C-1")
    return x, y.astype(np.int64)


def check_model_file(path: str | os.PathLike, error: type[Exception] = ValueError) -> Path:
    """A model.net argument: it must exist; a training checkpoint (a zip archive) given instead is named."""
    import zipfile

    path = Path(path)
    if path.is_dir():
        if (path / "model.net").is_file():
            return path / "model.net"
        raise error(f"{path} is a folder without a model.net; pass the model.net written by silava export")
    if not path.is_file():
        raise error(f"{path}: no such file; pass a model.net written by silava export")
    if zipfile.is_zipfile(path):
        raise error(f"{path} is a training checkpoint (ckpt.pt), not a model.net: export it first with "
                    f"`silava export {path}` and pass the model.net it writes")
    return path


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
