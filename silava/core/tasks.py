"""Task data as integer numpy arrays, for the simulators and the Lava runner (numpy only).

``hwsim`` and ``lava_models`` read task data through :func:`load_task_arrays`, without torch.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np


class TaskError(ValueError):
    """A task cannot be loaded or does not fit the network (one-line message)."""


def task_config_for(name: str, stored: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Config to rebuild task ``name``: the one stored in model.net/ckpt if it is the same task."""
    if stored and stored.get("name") == name:
        return dict(stored)
    return {"name": name}


def load_task_arrays(name: str, stored: Optional[dict[str, Any]] = None, split: str = "test",
                     max_samples: Optional[int] = None, steps: Optional[int] = None,
                     n_inputs: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, y)``: ``x`` int64 ``[N, T, F]`` (spike counts), ``y`` int64 ``[N]``.

    ``steps`` pads with zeros or crops every sample to T steps; ``n_inputs`` checks the
    input width and raises :class:`TaskError` naming both sizes when they differ.
    """
    from silava.core.data import get_task  # numpy only

    config = task_config_for(name, stored)
    config.pop("name", None)
    try:
        task = get_task(name, **config)
    except (ValueError, FileNotFoundError) as exc:
        raise TaskError(str(exc).splitlines()[0]) from exc
    if n_inputs is not None and task.n_inputs != n_inputs:
        raise TaskError(
            f"task {name!r} has {task.n_inputs} input channels but the network expects {n_inputs}; "
            "use the task the network was trained on"
        )
    dataset = getattr(task, split)
    count = len(dataset) if max_samples is None else min(len(dataset), int(max_samples))
    length = steps or task.n_steps
    x = np.zeros((count, length, task.n_inputs), dtype=np.int64)
    y = np.zeros(count, dtype=np.int64)
    for i in range(count):
        sample, label = dataset[i]
        arr = np.asarray(sample, dtype=np.float64)
        arr = np.rint(arr[:length])
        x[i, : arr.shape[0]] = arr.astype(np.int64)
        y[i] = int(label)
    return x, y
