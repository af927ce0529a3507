"""Task data at the numpy level: ``get_task(name, **overrides) -> Task``.

Samples are ``(float32 ndarray[T, F], int)``; ``silava.train.data.get_task`` returns the same
task with torch Datasets, and :func:`load_task_arrays` gives integer arrays for the simulators.

Tasks (see ``train/data/README.md``):

* ``randman`` — Randman spike-timing task, generated in memory (Zenke & Vogels 2021).
* ``spoken-digits`` — English + German spoken digits synthesised offline with
  espeak-ng, converted to spikes, stored in the SHD HDF5 format, read with SHD binning.
* ``shd`` / ``ssc`` — Heidelberg spiking data sets (HDF5 files in ``data_dir``).
* ``gsc`` — Google Speech Commands v0.02 folder -> 40 log-mel filterbank features.
* ``digits-image`` — scikit-learn's 8×8 digits (shipped), 8-bit images; ``cifar10`` / ``cifar100`` —
  the CIFAR binary files in ``data_dir`` (:mod:`silava.core.data.images`).
* ``folder`` — your own data: ``train/valid/test.npz`` (x [N, T, F], y [N]) or SHD-format ``.h5``
  files in ``data_dir`` (:mod:`silava.core.data.folder`).

Every task also takes ``encode`` (``"none"``, default, or ``"bitplane"``: graded features as binary
bit-plane spikes, 8 steps per frame, :mod:`silava.core.data.bitplane_task`).

``get_task(**task.config)`` rebuilds the same data.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from .task import ENCODINGS, DataError, MissingDataError, Task

# name -> "module:function" (imported lazily, so `import silava.core.data` stays cheap)
TASKS: dict[str, str] = {
    "randman": "randman:randman_task",
    "spoken-digits": "spoken_digits:spoken_digits_task",
    "shd": "shd:shd_task",
    "ssc": "shd:ssc_task",
    "gsc": "gsc:gsc_task",
    "folder": "folder:folder_task",
    "digits-image": "images:digits_image_task",
    "cifar10": "images:cifar10_task",
    "cifar100": "images:cifar100_task",
}

#: the task name a checkpoint records for data given as a Python ``Dataset`` (``silava.fit``)
PYTHON_DATASET = "dataset"

__all__ = ["TASKS", "ENCODINGS", "PYTHON_DATASET", "DataError", "MissingDataError", "Task", "get_task", "task_builder",
           "task_arguments"]


def task_builder(name: str) -> Callable[..., Task]:
    """The builder function registered for ``name`` (ValueError for unknown names)."""
    if name == PYTHON_DATASET:
        raise ValueError(f"task {name!r} stands for data given as a Python Dataset to silava.fit and cannot be "
                         f"rebuilt by name: pass the inputs explicitly (arrays x, y; --inputs FILE.npz) or save "
                         f"the data as a folder task (--task folder --data-dir DIR)")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    module, func = TASKS[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)


def task_arguments(name: str) -> dict[str, Any]:
    """The overridable arguments of task ``name`` with their defaults."""
    sig = inspect.signature(task_builder(name))
    return {p.name: p.default for p in sig.parameters.values()}


def _coerce(task: str, key: str, value: Any, default: Any) -> Any:
    """Convert command-line strings to the type of the argument's default."""
    if not isinstance(value, str) or default is None or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, (tuple, list)):
            return tuple(type(default[0])(v) for v in value.strip("()[] ").split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{task}: {key}={value!r} is not a valid {type(default).__name__}") from None
    return value


def get_task(name: str, **overrides: Any) -> Task:
    """Build task ``name`` with keyword ``overrides`` of its defaults.

    Unknown task names or arguments raise ``ValueError`` with a one-line
    message listing the valid choices. String values (from a command line)
    are converted to the type of the argument's default.
    """
    builder = task_builder(name)
    args = task_arguments(name)
    encode = overrides.pop("encode", "none")
    if encode not in ("none", "bitplane", None):
        raise ValueError(f"task {name!r}: encode must be none or bitplane, got {encode!r}")
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise ValueError(f"task {name!r} has no argument(s) {', '.join(unknown)}; "
                         f"valid arguments: {', '.join(args)}")
    kwargs = {k: _coerce(name, k, v, args[k]) for k, v in overrides.items()}
    task = builder(**kwargs)
    if encode == "bitplane":
        from .bitplane_task import bitplane_task

        task = bitplane_task(task)
    return task
