"""The ``Task`` object every data builder returns, and shared dataset helpers (numpy only).

Samples are numpy arrays ``(x: float32[T, F], y: int)``; ``silava.train.data`` wraps the
splits as torch Datasets, so the simulators read task data without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

ENCODINGS = ("binary", "counts", "graded")


class Dataset:
    """A split of a task: ``len(d)``, ``d[i] -> (x: float32[T, F], y: int)`` and ``d.labels``."""

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:  # pragma: no cover - interface
        raise NotImplementedError


class ArrayDataset(Dataset):
    """In-memory samples ``x[i]`` (any numeric dtype, returned as float32) with int labels."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        if len(x) != len(y):
            raise ValueError(f"x and y lengths differ: {len(x)} vs {len(y)}")
        self.x = x
        self.y = np.asarray(y, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return np.asarray(self.x[i], dtype=np.float32), int(self.y[i])

    @property
    def labels(self) -> np.ndarray:
        """All labels, without computing features."""
        return self.y


class SubsetDataset(Dataset):
    """A fixed index subset of another dataset (keeps a ``labels`` view when available)."""

    def __init__(self, base: Dataset, indices: Sequence[int]) -> None:
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.base[int(self.indices[i])]

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.base.labels)[self.indices]


def split_indices(n: int, fractions: Sequence[float], seed: int | None = None) -> list[np.ndarray]:
    """Deterministic split of ``range(n)`` into consecutive chunks of the given fractions.

    With ``seed`` the indices are permuted first (``numpy.random.default_rng(seed)``).
    Chunk sizes are ``round(f * n)`` except the last, which takes the rest.
    """
    idx = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for k, f in enumerate(fractions):
        stop = n if k == len(fractions) - 1 else min(n, start + int(round(f * n)))
        out.append(idx[start:stop])
        start = stop
    return out


@dataclass
class Task:
    """A classification task: three datasets plus the facts a model needs.

    ``train/valid/test`` yield ``(x: float32 ndarray[T, F], y: int)`` (``silava.train.data.get_task``
    returns the same task with torch splits); ``config`` is JSON-able and ``get_task(**config)``
    rebuilds the same data.
    """

    name: str
    train: Dataset
    valid: Dataset
    test: Dataset
    n_inputs: int
    n_classes: int
    n_steps: int
    dt: float
    encoding: str
    config: dict[str, Any]
    class_names: list[str] = field(default_factory=list)
    notes: str = ""
    #: (C, H, W) of image tasks, whose samples are the flattened 8-bit image ``[1, C·H·W]``; else None
    image_shape: Optional[tuple[int, int, int]] = None

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}")

    def __repr__(self) -> str:
        return (f"Task({self.name}: {self.n_inputs} inputs, {self.n_classes} classes, "
                f"{self.n_steps} steps x {self.dt * 1e3:g} ms, {self.encoding}; "
                f"{len(self.train)}/{len(self.valid)}/{len(self.test)} train/valid/test)")


class DataError(ValueError):
    """A data file that cannot be used as it is (one line: the file, the problem, the fix)."""


class MissingDataError(FileNotFoundError):
    """A data file or folder a task needs is absent (message: which file, where to get it)."""


class MissingToolError(FileNotFoundError):
    """An external program a task needs (e.g. espeak-ng) is not installed.

    A ``FileNotFoundError``, like the error ``subprocess`` raises for a missing program.
    """


def default_data_dir(name: str) -> str:
    """``$SILAVA_DATA/<name>`` if the variable is set, else ``./data/<name>`` (absolute)."""
    import os

    root = os.environ.get("SILAVA_DATA", "data")
    return os.path.abspath(os.path.join(os.path.expanduser(root), name))
