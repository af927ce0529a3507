"""silava training checkpoints (``ckpt.pt``): atomic save, checked load.

A checkpoint is one ``torch.save``'d dict holding only tensors and JSON-like
values, so it loads with ``torch.load(path, weights_only=True)``::

    {"format": "silava-ckpt", "format_version": 1,
     "state_dict": {name: Tensor}, "model_config": {...}, "data_config": {...},
     "train_config": {...},
     "metrics": {"best_valid_acc": float, "test_acc": float | None, "history": [...], ...},
     "seed": int, "versions": {"silava": str, "torch": str, "python": str, "numpy": str}}

``model_config`` rebuilds the network with ``train.model.build_model``;
``data_config`` rebuilds the data with ``silava.core.data.get_task(**data_config)``.

Every problem :func:`load_checkpoint` detects is raised as :class:`CheckpointError`
with a one-line message naming the problem and the fix.
"""
from __future__ import annotations

import os
import pickle
import platform
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from silava.core.fileio import atomic_write  # noqa: F401  (re-exported: silava.train.checkpoint.atomic_write)

FORMAT = "silava-ckpt"
FORMAT_VERSION = 1
CKPT_NAME = "ckpt.pt"
REQUIRED_KEYS = ("format", "format_version", "state_dict", "model_config", "data_config",
                 "train_config", "metrics", "seed", "versions")


class CheckpointError(Exception):
    """A checkpoint cannot be used; ``str(err)`` is one line: problem and fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


# ---------------------------------------------------------------------------- helpers

def to_plain(value: Any, where: str = "value") -> Any:
    """Convert ``value`` to JSON-like Python (dict/list/str/int/float/bool/None).

    numpy scalars become Python numbers, tuples become lists, paths become strings;
    anything else raises ``TypeError`` naming the offending key.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        return str(value)  # drops str subclasses such as torch.torch_version.TorchVersion
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: dict keys must be strings, got {k!r}")
            out[k] = to_plain(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} is not a JSON-like value")


def versions() -> dict[str, str]:
    """Versions of silava, torch, Python and numpy (stored in every checkpoint)."""
    try:
        from silava import __version__ as silava_version
    except Exception:  # silava package not importable (train/ used on its own)
        try:
            from importlib.metadata import version
            silava_version = version("silava")
        except Exception:
            silava_version = "unknown"
    return {"silava": str(silava_version), "torch": str(torch.__version__),
            "python": platform.python_version(), "numpy": str(np.__version__)}


def plain_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A plain ``dict`` of detached, contiguous CPU copies of the tensors."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state_dict.items()}


# ---------------------------------------------------------------------------- save

def make_checkpoint(model: torch.nn.Module | None = None, *,
                    state_dict: Mapping[str, torch.Tensor] | None = None,
                    model_config: Mapping[str, Any] | None = None,
                    data_config: Mapping[str, Any], train_config: Mapping[str, Any],
                    metrics: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Assemble the checkpoint dict (see module docstring).

    ``state_dict`` / ``model_config`` default to ``model.state_dict()`` / ``model.config``;
    pass ``state_dict`` explicitly to save e.g. the best-epoch weights.
    """
    if state_dict is None:
        if model is None:
            raise ValueError("make_checkpoint needs a model or a state_dict")
        state_dict = model.state_dict()
    if model_config is None:
        if model is None:
            raise ValueError("make_checkpoint needs a model or a model_config")
        model_config = model.config
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "state_dict": plain_state_dict(state_dict),
        "model_config": to_plain(model_config, "model_config"),
        "data_config": to_plain(data_config, "data_config"),
        "train_config": to_plain(train_config, "train_config"),
        "metrics": to_plain(metrics, "metrics"),
        "seed": int(seed),
        "versions": to_plain(versions(), "versions"),
    }


def save_checkpoint(path: str | Path, model: torch.nn.Module | None = None, **kwargs: Any) -> Path:
    """Atomically write a checkpoint to ``path`` (``kwargs`` as for :func:`make_checkpoint`).

    ``path`` may be a directory: the file is then ``path/ckpt.pt``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CKPT_NAME
    ckpt = make_checkpoint(model, **kwargs)
    return atomic_write(path, lambda fh: torch.save(ckpt, fh))


# ---------------------------------------------------------------------------- load

def _resolve(path: str | Path) -> Path:
    path = Path(path)
    if path.is_dir():
        if (path / CKPT_NAME).is_file():
            return path / CKPT_NAME
        raise CheckpointError(f"no {CKPT_NAME} in directory {path}: pass the run directory of a "
                              f"finished training run (train/train.py --out DIR) or the file itself")
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}: check the path, or train one with "
                              f"`python train/train.py --task ... --out DIR` (writes DIR/{CKPT_NAME})")
    return path


def not_a_checkpoint(path: str | Path) -> str | None:
    """The one-line problem if ``path`` is a model.net (HDF5) given where a ckpt.pt belongs, else None."""
    path = Path(path)
    if path.is_dir():
        path = path / CKPT_NAME
    if path.is_file() and _is_hdf5(path):
        return (f"{path} is a model.net (an exported netx HDF5 network), not a training checkpoint ckpt.pt: pass "
                f"the ckpt.pt that silava train wrote (silava sim and silava run take the model.net)")
    return None


def _is_hdf5(path: Path) -> bool:
    """True if ``path`` starts with the HDF5 signature (a model.net passed where a ckpt.pt belongs)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint dict without building the model.

    Checks: the file exists and is a complete torch archive holding only tensors and
    plain values, the format tag and version, the required keys and their types, and
    that every floating-point tensor is finite.
    """
    path = _resolve(path)
    problem = not_a_checkpoint(path)
    if problem:
        raise CheckpointError(problem)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"corrupt or truncated checkpoint {path} (not a complete torch zip "
                              f"archive): re-run training or copy the file again")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc) or "Unsupported class" in str(exc):
            raise CheckpointError(f"not a silava checkpoint: {path} holds Python objects other than "
                                  f"tensors and plain values; pass a {CKPT_NAME} written by "
                                  f"train/train.py") from None
        raise CheckpointError(f"corrupt checkpoint {path} (unpickling failed): re-run training or "
                              f"copy the file again") from None
    except Exception as exc:  # torch raises RuntimeError/EOFError/KeyError... for damaged archives
        kind = type(exc).__name__
        raise CheckpointError(f"corrupt or truncated checkpoint {path} ({kind} while reading): "
                              f"re-run training or copy the file again") from None
    check_checkpoint(ckpt, path)
    return ckpt


def check_checkpoint(ckpt: Any, path: str | Path = "<checkpoint>") -> None:
    """Raise :class:`CheckpointError` unless ``ckpt`` is a well-formed silava checkpoint dict."""
    fix = f"pass a {CKPT_NAME} written by train/train.py"
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"not a silava checkpoint: {path} holds a {type(ckpt).__name__}, "
                              f"not a dict; {fix}")
    if ckpt.get("format") != FORMAT:
        what = f"format tag {ckpt['format']!r}" if "format" in ckpt else "no 'format' key"
        raise CheckpointError(f"not a silava checkpoint: {path} has {what} (expected {FORMAT!r}); {fix}")
    version = ckpt.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"unsupported checkpoint format_version {version!r} in {path} (this silava "
                              f"reads version {FORMAT_VERSION}): use the silava version that wrote it, "
                              f"or re-train")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"not a silava checkpoint: {path} lacks key(s) {', '.join(missing)}; {fix}")
    for key in ("state_dict", "model_config", "data_config", "train_config", "metrics"):
        if not isinstance(ckpt[key], dict):
            raise CheckpointError(f"not a silava checkpoint: '{key}' in {path} is a "
                                  f"{type(ckpt[key]).__name__}, not a dict; {fix}")
    for name, tensor in ckpt["state_dict"].items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"not a silava checkpoint: state_dict entry '{name}' in {path} is not "
                                  f"a tensor; {fix}")
        if tensor.is_floating_point() or tensor.is_complex():
            if not bool(torch.isfinite(tensor).all()):
                raise CheckpointError(f"non-finite values (NaN/Inf) in parameter '{name}' of {path}: "
                                      f"training diverged; re-train with a lower --lr or use an "
                                      f"earlier checkpoint")


def _check_shapes(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    fix = "the weights do not match model_config (edited or mixed-up checkpoint); re-train or " \
          "restore the original file"
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        raise CheckpointError(f"state_dict mismatch in {path}: {'; '.join(parts)}: {fix}")
    for name, tensor in expected.items():
        if tuple(state_dict[name].shape) != tuple(tensor.shape):
            raise CheckpointError(f"state_dict shape mismatch in {path}: '{name}' is "
                                  f"{tuple(state_dict[name].shape)} in the file but "
                                  f"{tuple(tensor.shape)} for its model_config: {fix}")


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load ``path`` (a ``ckpt.pt`` or its run directory) and rebuild the model in eval mode.

    Returns ``(model, ckpt)``. Raises :class:`CheckpointError` (one-line message) for a
    missing, truncated or corrupt file, a file that is not a silava checkpoint, an
    unsupported ``format_version``, an unknown neuron type, a state_dict that does not
    fit its ``model_config``, and NaN/Inf parameters.
    """
    from silava.train.model import build_model
    from silava.train.neurons import NEURONS

    path = _resolve(path)
    ckpt = read_checkpoint(path, map_location=map_location)
    neuron = ckpt["model_config"].get("neuron")
    if ckpt["model_config"].get("arch") != "hybrid" and neuron not in NEURONS:
        raise CheckpointError(f"unknown neuron type {neuron!r} in {path} (this silava knows "
                              f"{', '.join(sorted(NEURONS))}): update silava or re-train")
    try:
        model = build_model(ckpt["model_config"])
    except Exception as exc:  # bad/edited model_config
        raise CheckpointError(f"invalid model_config in {path} ({type(exc).__name__}: {exc}): "
                              f"re-train or restore the original file") from None
    _check_shapes(model, ckpt["state_dict"], path)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    if map_location is not None and not callable(map_location) and not isinstance(map_location, dict):
        model.to(map_location)
    model.eval()
    return model, ckpt

