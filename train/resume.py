"""``last.pt``: the state after the last completed epoch of a training run, for ``--resume``.

``silava train`` (and :func:`silava.fit`) rewrites ``DIR/last.pt`` atomically after every epoch;
``--resume`` continues from it. It holds only tensors and plain values, so it loads with
``torch.load(weights_only=True)``::

    {"format": "silava-train-state", "format_version": 1,
     "loop": {"epoch", "model", "optimizer", "scheduler", "history", "best_epoch", "best_acc",
              "best_state", "seconds"},                       # train.loop.loop_state
     "rng": {"torch", "numpy", "python", "loader"},            # every random stream training uses
     "train_config": {...}, "data_config": {...}, "task_facts": {...}, "splits": {"train": n, ...},
     "finished": bool}

``ckpt.pt`` stays what it always was (the best-validation weights; the file to export); ``last.pt``
is the working state and can be deleted once a run is finished. Continuing restores the model,
the optimizer, the LR scheduler, the history and every random stream (torch, numpy, Python, the
shuffling generator), so a resumed run ends with the same weights as an uninterrupted one (same
thread count and device).
"""
from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch

from silava.core.fileio import atomic_write
from silava.train.config import DEFAULTS, ConfigError

STATE_NAME = "last.pt"
FORMAT = "silava-train-state"
FORMAT_VERSION = 1
#: configuration keys that may change when a run is continued (they do not change what is trained)
MAY_CHANGE = ("epochs", "threads", "device", "out", "notes")


class ResumeError(ConfigError):
    """Nothing to resume, or the run cannot be continued as asked (one line: problem and fix)."""


# ---------------------------------------------------------------------------- random streams

def capture_rng(loader_generator: Optional[torch.Generator] = None) -> dict[str, Any]:
    """Every random stream training draws from: torch (CPU, and CUDA if used), numpy, Python, the shuffler."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
             "python": {"version": int(version), "state": list(py_state), "gauss": gauss},
             "loader": None if loader_generator is None else loader_generator.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any], loader_generator: Optional[torch.Generator] = None) -> None:
    """Put back the streams of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if loader_generator is not None and state.get("loader") is not None:
        loader_generator.set_state(state["loader"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------- the file

def save_state(out: Path, loop: dict[str, Any], rng: dict[str, Any], *, train_config: Mapping[str, Any],
               data_config: Mapping[str, Any], task_facts: Mapping[str, Any], splits: Mapping[str, int],
               finished: bool = False) -> Path:
    """Write ``out/last.pt`` atomically."""
    from silava.train.checkpoint import plain_state_dict, to_plain

    payload = {"format": FORMAT, "format_version": FORMAT_VERSION,
               "loop": {**loop, "model": plain_state_dict(loop["model"]),
                        "best_state": plain_state_dict(loop["best_state"]),
                        "history": to_plain(loop["history"], "history")},
               "rng": rng, "train_config": to_plain(train_config, "train_config"),
               "data_config": to_plain(data_config, "data_config"), "task_facts": to_plain(task_facts, "task_facts"),
               "splits": {k: int(v) for k, v in splits.items()}, "finished": bool(finished)}
    return atomic_write(Path(out) / STATE_NAME, lambda fh: torch.save(payload, fh))


def load_state(out: Path) -> dict[str, Any]:
    """Read ``out/last.pt``; :class:`ResumeError` (one line) if it is missing or unusable."""
    path = Path(out) / STATE_NAME
    if not path.is_file():
        what = "a ckpt.pt but no last.pt (written by an older silava, or the run was cleaned up)" \
            if (Path(out) / "ckpt.pt").is_file() else "no training run"
        raise ResumeError(f"nothing to resume in {out}: it holds {what}; start the run without --resume "
                          f"(add --overwrite to replace it) or pass the --out of the interrupted run")
    if not zipfile.is_zipfile(path):
        raise ResumeError(f"{path} is truncated or corrupt: start the run again without --resume (with --overwrite)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ResumeError(f"cannot read {path} ({text}): start the run again without --resume (with --overwrite)") \
            from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ResumeError(f"{path} is not a silava training state: pass the --out of a run written by silava train")
    if state.get("format_version") != FORMAT_VERSION:
        raise ResumeError(f"{path} has format_version {state.get('format_version')!r} (this silava reads "
                          f"{FORMAT_VERSION}): resume it with the silava version that wrote it, or start again")
    return state


def check_config(saved: Mapping[str, Any], cfg: Mapping[str, Any], out: Path) -> None:
    """The new configuration must train the same thing as the interrupted one (``epochs`` may grow)."""
    for key in DEFAULTS:
        if key in MAY_CHANGE:
            continue
        if saved.get(key, DEFAULTS[key]) != cfg.get(key, DEFAULTS[key]):
            raise ResumeError(f"--resume: '{key}' is {cfg.get(key)!r} now but {saved.get(key)!r} in the interrupted "
                              f"run in {out}: use the same settings (only --epochs, --threads and --device may "
                              f"change) or start a new run in another --out")


def check_data(state: Mapping[str, Any], task_facts: Mapping[str, Any], splits: Mapping[str, int],
               out: Path) -> None:
    """The data must be the same as the interrupted run's (sizes, steps, classes, split lengths)."""
    for key, value in task_facts.items():
        if state["task_facts"].get(key) != value:
            raise ResumeError(f"--resume: the data differ from the interrupted run in {out} ({key} "
                              f"{state['task_facts'].get(key)!r} then, {value!r} now): pass the same data")
    for key, value in splits.items():
        if state["splits"].get(key) != value:
            raise ResumeError(f"--resume: the {key} split has {value} samples now but had "
                              f"{state['splits'].get(key)} in the interrupted run in {out}: pass the same data")
