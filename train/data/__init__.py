"""Task data as torch Datasets: ``get_task(name, **overrides) -> Task``.

The data itself lives at the numpy level in :mod:`silava.core.data` (so the simulators read
it without torch); this package wraps each split as a ``torch.utils.data.Dataset`` yielding
``(FloatTensor[T, F], int)`` and adds the padding ``collate``. Tasks, their options and
errors are those of :mod:`silava.core.data` (see its README).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from silava.core.data import ENCODINGS, TASKS, task_arguments, task_builder
from silava.core.data import get_task as get_array_task
from silava.core.data.task import MissingDataError, MissingToolError, Task

__all__ = ["TASKS", "ENCODINGS", "Task", "TorchSplit", "get_task", "pad_collate", "task_arguments", "task_builder",
           "torch_task", "MissingDataError", "MissingToolError"]


def pad_collate(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(x[T_i, F], y)`` samples into ``(x[B, T_max, F], y[B])``, zero-padding time at the end."""
    xs = [x for x, _ in batch]
    ys = torch.as_tensor([int(y) for _, y in batch], dtype=torch.long)
    t_max = max(x.shape[0] for x in xs)
    out = xs[0].new_zeros((len(xs), t_max) + tuple(xs[0].shape[1:]))
    for i, x in enumerate(xs):
        out[i, :x.shape[0]] = x
    return out, ys


class TorchSplit(Dataset):
    """A numpy-level split as a torch Dataset: ``(FloatTensor[T, F], int)`` per sample."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y = self.base[i]
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), int(y)

    def __getattr__(self, name: str) -> Any:
        """Everything else (``labels``, ``files``, ``keys``, ...) is the numpy split's."""
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)


@dataclasses.dataclass(repr=False)
class TorchTask(Task):
    """A :class:`silava.core.data.Task` whose splits are torch Datasets, plus ``collate``."""

    collate: Any = pad_collate


def torch_task(task: Task) -> TorchTask:
    """Wrap the splits of a numpy-level task as torch Datasets (valid may be the test split itself)."""
    if isinstance(task, TorchTask):
        return task
    wrapped: dict[int, TorchSplit] = {}

    def wrap(split: Any) -> TorchSplit:
        return wrapped.setdefault(id(split), TorchSplit(split))

    fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(task)}
    fields.update(train=wrap(task.train), valid=wrap(task.valid), test=wrap(task.test))
    return TorchTask(**fields)


def get_task(name: str, **overrides: Any) -> TorchTask:
    """:func:`silava.core.data.get_task` with torch splits (same names, options and errors)."""
    return torch_task(get_array_task(name, **overrides))
