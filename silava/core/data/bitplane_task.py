"""``encode=bitplane``: any graded task as binary bit-plane spikes (HAS-8 coding, numpy).

Every step ``x_t[F]`` of a sample becomes ``bits`` (8) binary steps, most significant plane first
(:mod:`silava.core.bitplane`), so ``x[T, F]`` becomes ``s[8T, F]`` with step ``8t + j`` = plane j
of ``x_t``; the task's ``n_steps`` grows 8×, ``dt`` shrinks 8× (a frame still lasts as long) and
the encoding becomes ``binary``. Levels: an image task's 8-bit pixel values are coded as they are;
any other graded task (GSC log-mel features) is min-max rescaled **per sample** (over all its
steps and features) to 0..255 first, so a sample's code does not depend on other samples.
Binary and count tasks are refused (they are spikes already).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from silava.core import bitplane

from .task import Dataset, Task

ENCODES = ("none", "bitplane")


class BitplaneDataset(Dataset):
    """A graded split seen through the bit-plane code: ``(float32 [bits·T, F] in {0, 1}, label)``."""

    def __init__(self, base: Dataset, image: bool, bits: int = bitplane.BITS) -> None:
        self.base, self.image, self.bits = base, bool(image), int(bits)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        x, y = self.base[i]
        x = np.asarray(x, dtype=np.float64)
        if self.image:
            q = bitplane.levels(x / 255.0, "none", self.bits)
        else:
            q = bitplane.levels(x[None], "sample", self.bits)[0]
        p = bitplane.planes(q, self.bits)                           # [bits, T, F]
        return np.ascontiguousarray(p.transpose(1, 0, 2).reshape(-1, x.shape[1]), dtype=np.float32), y

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.base.labels)

    def __getattr__(self, name: str) -> Any:
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)


def bitplane_task(task: Task, bits: int = bitplane.BITS) -> Task:
    """``task`` with its samples bit-plane coded (module docstring)."""
    if task.encoding != "graded":
        raise ValueError(f"encode=bitplane turns graded features into spikes, but task {task.name!r} already has "
                         f"{task.encoding} inputs: drop encode=bitplane (--encoding) for it")
    image = task.image_shape is not None
    wrapped: dict[int, BitplaneDataset] = {}

    def wrap(split: Dataset) -> BitplaneDataset:
        return wrapped.setdefault(id(split), BitplaneDataset(split, image, bits))

    how = "8-bit pixel values" if image else "per-sample min-max to 0..255"
    notes = "; ".join(n for n in (task.notes, f"bit-plane coded ({how}, MSB first, {bits} steps per frame)") if n)
    return Task(name=task.name, train=wrap(task.train), valid=wrap(task.valid), test=wrap(task.test),
                n_inputs=task.n_inputs, n_classes=task.n_classes, n_steps=task.n_steps * bits,
                dt=task.dt / bits, encoding="binary", config={**task.config, "encode": "bitplane"},
                class_names=list(task.class_names), notes=notes, image_shape=None)
