"""Your own torch ``Dataset`` as a training task: :func:`dataset_task` (what :func:`silava.fit` uses).

Any map-style dataset works whose items are ``(x, label)``: ``x`` a tensor or array ``[T, F]``
(time first; more trailing axes, e.g. Tonic's ``ToFrame`` output ``[T, 1, F]``, are flattened into
F), ``label`` an integer class 0..C-1 (a Python or numpy int, or a 0-d tensor). Samples may have
different T (padded with zeros at the end in each batch). The datasets are read once up front to
check them and find T, F, the number of classes and the encoding (``binary`` for 0/1 values,
``counts`` for non-negative integers, ``graded`` otherwise).

The checkpoint records the task as ``{"name": "dataset", ...}``: the data cannot be rebuilt by
name later, so commands that read data (compare, sim) take the inputs explicitly; save the data
as a ``folder`` task (``silava.core.data.folder``) to use it from the command line.
"""
from __future__ import annotations

import sys
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from silava.core.data import PYTHON_DATASET
from silava.core.data.task import split_indices

from . import TorchTask, pad_collate


INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


class DatasetError(ValueError):
    """A user dataset that cannot be trained on (one line: which sample, the problem, the fix)."""


def _fail(split: str, index: int, problem: str) -> DatasetError:
    return DatasetError(f"{split} dataset, sample {index}: {problem}")


def as_sample(item: Any, split: str = "train", index: int = 0) -> tuple[torch.Tensor, int]:
    """``(FloatTensor[T, F], int)`` from one dataset item, or :class:`DatasetError`."""
    if not isinstance(item, (tuple, list)) or len(item) < 2:
        raise _fail(split, index, f"expected a pair (x, label), got {type(item).__name__}; return (x[T, F], label) "
                                  f"from __getitem__")
    x, label = item[0], item[1]
    try:
        t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise _fail(split, index, f"x is not an array ({type(exc).__name__}: {exc}); return a tensor or numpy "
                                  f"array [T, F]") from None
    if t.dtype == torch.bool:
        t = t.to(torch.float32)
    if not (t.is_floating_point() or t.dtype in INTEGER_DTYPES):
        raise _fail(split, index, f"x has dtype {t.dtype}; return numbers (spikes, counts or real values)")
    if t.ndim < 2:
        raise _fail(split, index, f"x has shape {tuple(t.shape)}, expected [T, F] (time first); add a feature "
                                  f"axis, e.g. x[:, None]")
    t = t.reshape(t.shape[0], -1).to(torch.float32)
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise _fail(split, index, f"x has shape {tuple(t.shape)}: no steps or no features")
    if not bool(torch.isfinite(t).all()):
        raise _fail(split, index, "x holds NaN or infinite values; clean the data first")
    if isinstance(label, torch.Tensor):
        if label.numel() != 1:
            raise _fail(split, index, f"the label has shape {tuple(label.shape)}; return one integer class, "
                                      f"not a one-hot vector (use label.argmax())")
        label = label.item()
    integral = isinstance(label, (int, np.integer)) or (
        isinstance(label, (float, np.floating)) and float(label).is_integer())
    if isinstance(label, (bool, np.bool_)) or not integral:
        raise _fail(split, index, f"the label {label!r} is not an integer class; number the classes 0..C-1")
    if int(label) < 0:
        raise _fail(split, index, f"negative label {int(label)}; number the classes 0..C-1")
    return t, int(label)


class SampleView(Dataset):
    """A user dataset whose items come out as ``(FloatTensor[T, F], int)``."""

    def __init__(self, base: Any, split: str) -> None:
        self.base, self.split = base, split

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return as_sample(self.base[i], self.split, i)


def scan(dataset: Any, split: str, progress: bool = False) -> dict[str, Any]:
    """Read every sample once: check it and collect T (max), F, the largest label and the encoding."""
    from tqdm import tqdm

    try:
        n = len(dataset)
    except TypeError:
        raise DatasetError(f"{split} dataset: {type(dataset).__name__} has no len(); pass a map-style Dataset "
                           f"(__len__ and __getitem__)") from None
    if n == 0:
        raise DatasetError(f"{split} dataset holds no samples; pass a non-empty Dataset")
    steps, width, top, binary, counts = 0, None, -1, True, True
    for i in tqdm(range(n), desc=f"checking {split} data", unit="sample", disable=not progress, leave=False,
                  file=sys.stderr):
        x, y = as_sample(dataset[i], split, i)
        if width is None:
            width = x.shape[1]
        elif x.shape[1] != width:
            raise _fail(split, i, f"x has {x.shape[1]} features but sample 0 has {width}; every sample needs "
                                  f"the same F")
        steps, top = max(steps, x.shape[0]), max(top, y)
        if counts:
            integral = bool((x == x.round()).all()) and bool((x >= 0).all())
            counts = integral
            binary = binary and integral and bool((x <= 1).all())
    return {"n": n, "steps": steps, "inputs": int(width), "top": top,
            "encoding": "binary" if binary else ("counts" if counts else "graded")}


def dataset_task(train: Any, valid: Any = None, test: Any = None, *, valid_fraction: float = 0.2, seed: int = 0,
                 dt: float = 1e-3, n_classes: Optional[int] = None, progress: Optional[bool] = None) -> TorchTask:
    """A training task over your own datasets (see the module docstring).

    ``valid``: the validation dataset; without it a seeded ``valid_fraction`` of ``train`` is held out
    (``numpy.random.default_rng(seed)``). ``test``: the test dataset; without it the test split IS the
    validation split (``task.notes`` says so). ``dt``: seconds per step (for the cost report).
    ``n_classes``: default the largest label + 1. Raises :class:`DatasetError` (one line).
    """
    progress = sys.stderr.isatty() if progress is None else progress
    if not dt > 0:
        raise DatasetError(f"dt must be > 0 seconds per step, got {dt!r}")
    given = {"train": train, "valid": valid, "test": test}
    infos = {split: scan(ds, split, progress) for split, ds in given.items() if ds is not None}
    widths = {split: info["inputs"] for split, info in infos.items()}
    if len(set(widths.values())) > 1:
        raise DatasetError(f"the datasets have different feature counts {widths}; pass data with the same F")
    top = max(info["top"] for info in infos.values())
    classes = top + 1 if n_classes is None else int(n_classes)
    if classes <= top:
        raise DatasetError(f"n_classes={n_classes} but the labels go up to {top}; drop n_classes or raise it")
    if classes < 2:
        raise DatasetError(f"the labels name only {classes} class; a classifier needs at least 2")
    views = {split: SampleView(ds, split) for split, ds in given.items() if ds is not None}
    notes = [f"your {type(train).__name__} data."]
    train_set = views["train"]
    if valid is None:
        if not 0 < valid_fraction < 1:
            raise DatasetError(f"no valid dataset: valid_fraction must be in (0, 1) to hold out part of train, "
                               f"got {valid_fraction!r}; pass valid=... or a fraction such as 0.2")
        held, kept = split_indices(len(train_set), (valid_fraction, 1 - valid_fraction), seed=seed)
        if len(held) == 0 or len(kept) == 0:
            raise DatasetError(f"train holds {len(train_set)} samples, too few to hold out valid_fraction="
                               f"{valid_fraction:g}; pass valid=... or more data")
        valid_set, train_set = Subset(train_set, np.sort(held).tolist()), Subset(train_set, np.sort(kept).tolist())
        notes.append(f"valid = seeded {valid_fraction:g} hold-out of train (seed {seed}).")
    else:
        valid_set = views["valid"]
    if test is None:
        test_set = valid_set
        notes.append("No test dataset: test IS the validation split.")
    else:
        test_set = views["test"]
    encodings = {info["encoding"] for info in infos.values()}
    encoding = next(e for e in ("graded", "counts", "binary") if e in encodings)
    config = {"name": PYTHON_DATASET, "source": type(train).__name__,
              "sizes": {split: info["n"] for split, info in infos.items()},
              "valid_fraction": float(valid_fraction) if valid is None else 0.0, "seed": int(seed)}
    return TorchTask(name=PYTHON_DATASET, train=train_set, valid=valid_set, test=test_set,
                     n_inputs=widths["train"], n_classes=classes, n_steps=max(i["steps"] for i in infos.values()),
                     dt=float(dt), encoding=encoding, config=config,
                     class_names=[str(c) for c in range(classes)], notes=" ".join(notes), collate=pad_collate)
