"""The ``folder`` task: your own data, one file per split in a folder (numpy + h5py only).

Layout (``data_dir``), one format for the whole folder::

    train.npz   x [N, T, F] (spikes, spike counts or real values), y [N] integer labels 0..C-1
    valid.npz   optional, same T and F       (class_names [C] strings: optional, in train.npz)
    test.npz    optional

or the SHD event format (``train.h5``, ``valid.h5``, ``test.h5``; datasets ``spikes/times`` in
seconds, ``spikes/units`` channel ids, ``labels``; ``extra/keys`` optional class names; see
:mod:`silava.core.data.shd`), binned like SHD into ``n_steps`` steps over ``max_time`` seconds and
``spatial_bin`` channels per input.

Splits: ``train`` is required. Without a ``valid`` file a seeded ``valid_fraction`` (default 0.2)
of the train file is held out (``valid_fraction=0`` uses the test split for validation instead, as
SHD does). Without a ``test`` file the test split IS the validation split (``task.notes`` says so).

``.npz``: every split must have the same T and F; the encoding is ``binary`` (values 0/1),
``counts`` (non-negative integers) or ``graded`` (anything else; trains, but the Loihi export takes
spikes or counts only). ``dt`` (seconds per step, default 1 ms) is recorded for the cost report.
``.h5``: ``n_channels`` defaults to the largest unit id in the folder + 1; ``dt`` is
``max_time / (n_steps - 1)`` (SHD binning).

Every problem raises ``ValueError`` (``MissingDataError`` for a missing folder or train file) with
one line naming the file, the problem and the fix. ``task.config`` holds the resolved values, so
``get_task(**task.config)`` rebuilds the same task without scanning the files again.
"""
from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np

from .task import ArrayDataset, DataError, MissingDataError, SubsetDataset, Task, split_indices

SPLITS = ("train", "valid", "test")
FORMATS = (".npz", ".h5")
#: defaults that depend on the folder's format
DEFAULT_VALID_FRACTION = 0.2
DEFAULT_DT = 1e-3
H5_DEFAULTS = {"n_steps": 100, "max_time": 1.0, "spatial_bin": 1}
LAYOUT_HINT = "put train.npz (arrays x [N, T, F] and y [N]) or train.h5 (SHD format) in it"


def _fail(message: str) -> DataError:
    return DataError("folder: " + " ".join(message.split()))


def find_files(data_dir: str) -> tuple[str, dict[str, str]]:
    """``(format, {split: path})`` of the split files in ``data_dir`` (one format for all)."""
    if not os.path.isdir(data_dir):
        raise MissingDataError(f"folder: data_dir {data_dir} is not a folder: create it and {LAYOUT_HINT} "
                               f"(pass it as data_dir=... / --data-dir)")
    found: dict[str, dict[str, str]] = {ext: {} for ext in FORMATS}
    for split in SPLITS:
        for ext in FORMATS:
            path = os.path.join(data_dir, split + ext)
            if os.path.isfile(path):
                found[ext][split] = path
    have = [ext for ext in FORMATS if found[ext]]
    if len(have) > 1:
        raise _fail(f"{data_dir} holds both .npz and .h5 split files "
                    f"({', '.join(sorted(os.path.basename(p) for e in have for p in found[e].values()))}); "
                    f"keep one format")
    if not have or "train" not in found[have[0]]:
        raise MissingDataError(f"folder: no train.npz or train.h5 in {data_dir}: {LAYOUT_HINT}")
    return have[0], found[have[0]]


# --------------------------------------------------------------------------- .npz

def _read_npz(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    name = os.path.basename(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x", "y") if k not in data.files]
            if missing:
                raise _fail(f"{name} lacks array(s) {', '.join(missing)} (found {', '.join(sorted(data.files)) or 'none'}); "
                            f"save it with numpy.savez(path, x=x, y=y), x [N, T, F] and y [N]")
            x, y = data["x"], data["y"]
            names = [str(s) for s in data["class_names"]] if "class_names" in data.files else []
    except ValueError as exc:
        if str(exc).startswith("folder:"):
            raise
        raise _fail(f"{name} is not a readable .npz ({str(exc).splitlines()[0]}); save numeric arrays with "
                    f"numpy.savez(path, x=x, y=y)") from None
    except (OSError, EOFError) as exc:
        raise _fail(f"{name} is not a readable .npz ({str(exc).splitlines()[0] or type(exc).__name__}); "
                    f"save it with numpy.savez(path, x=x, y=y)") from None
    if x.ndim != 3:
        raise _fail(f"{name}: x has shape {tuple(x.shape)}, expected [N, T, F] (samples, steps, inputs); "
                    f"reshape it, e.g. x[:, :, None] for one input channel")
    if x.dtype.kind not in "biuf":
        raise _fail(f"{name}: x has dtype {x.dtype}, expected numbers (spikes, counts or real values)")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise _fail(f"{name}: x holds NaN or infinite values; replace them (e.g. numpy.nan_to_num)")
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
        raise _fail(f"{name}: y must be integer labels of shape [N] = [{len(x)}], got {y.dtype} {tuple(y.shape)}; "
                    f"save y as numpy.asarray(labels, dtype=numpy.int64)")
    if len(y) and int(y.min()) < 0:
        raise _fail(f"{name}: y holds negative labels ({int(y.min())}); number the classes 0..C-1")
    if len(y) == 0:
        raise _fail(f"{name} holds no samples; add samples or remove the file")
    return x, y.astype(np.int64), names


def _encoding(xs: list[np.ndarray]) -> str:
    if all(x.dtype.kind == "b" or (np.all(x >= 0) and np.all(x <= 1) and np.all(x == np.round(x))) for x in xs):
        return "binary"
    if all(x.dtype.kind in "bu" or (np.all(x >= 0) and np.all(x == np.round(x))) for x in xs):
        return "counts"
    return "graded"


def _npz_splits(files: dict[str, str], n_steps, max_time, spatial_bin, n_channels, dt):
    for key, value in (("max_time", max_time), ("spatial_bin", spatial_bin), ("n_channels", n_channels)):
        if value is not None:
            raise _fail(f"{key}={value!r} bins .h5 event files; this folder holds .npz arrays: drop it")
    arrays = {split: _read_npz(path) for split, path in files.items()}
    x0 = arrays["train"][0]
    for split, (x, _, _) in arrays.items():
        if x.shape[2] != x0.shape[2]:
            raise _fail(f"{split}.npz has {x.shape[2]} inputs per step but train.npz has {x0.shape[2]}; "
                        f"save every split with the same F")
        if x.shape[1] != x0.shape[1]:
            raise _fail(f"{split}.npz has {x.shape[1]} steps but train.npz has {x0.shape[1]}; pad or crop every "
                        f"split to the same T")
    steps = int(x0.shape[1])
    if n_steps is not None and int(n_steps) != steps:
        raise _fail(f"n_steps={n_steps!r} but the .npz files have T={steps} steps; drop n_steps (it bins .h5 files)")
    dt = DEFAULT_DT if dt is None else float(dt)
    if not dt > 0:
        raise _fail(f"dt must be > 0 seconds per step, got {dt!r}")
    sets = {split: ArrayDataset(x, y) for split, (x, y, _) in arrays.items()}
    facts = {"n_inputs": int(x0.shape[2]), "n_steps": steps, "dt": dt,
             "encoding": _encoding([x for x, _, _ in arrays.values()]),
             "class_names": arrays["train"][2]}
    resolved = {"n_steps": steps, "max_time": None, "spatial_bin": None, "n_channels": None, "dt": dt}
    return sets, facts, resolved


# --------------------------------------------------------------------------- .h5 (SHD format)

def _h5_splits(files: dict[str, str], n_steps, max_time, spatial_bin, n_channels, dt):
    from .shd import SpikeH5Dataset

    if dt is not None:
        raise _fail(f"dt={dt!r}: the step of an .h5 folder is max_time / (n_steps - 1); set n_steps and "
                    f"max_time instead")
    n_steps = H5_DEFAULTS["n_steps"] if n_steps is None else n_steps
    max_time = H5_DEFAULTS["max_time"] if max_time is None else max_time
    spatial_bin = H5_DEFAULTS["spatial_bin"] if spatial_bin is None else spatial_bin
    if int(n_steps) != n_steps or n_steps < 2:
        raise _fail(f"n_steps must be an integer >= 2, got {n_steps!r}")
    if not float(max_time) > 0:
        raise _fail(f"max_time must be > 0 seconds, got {max_time!r}")
    if int(spatial_bin) != spatial_bin or spatial_bin < 1:
        raise _fail(f"spatial_bin must be a positive integer, got {spatial_bin!r}")
    sets = {}
    for split, path in files.items():     # each file is read and checked once (check_spike_h5)
        try:
            sets[split] = SpikeH5Dataset(path, n_steps=int(n_steps), max_time=float(max_time),
                                         spatial_bin=int(spatial_bin), n_channels=None)
        except DataError as exc:
            raise _fail(str(exc)) from None
    top = max(ds.max_unit for ds in sets.values())
    if n_channels is None:
        n_channels = top + 1
    elif int(n_channels) != n_channels or n_channels < 1 or top >= n_channels:
        raise _fail(f"n_channels={n_channels!r} but the files use unit ids up to {top}; drop n_channels or "
                    f"raise it above {top}")
    n_channels = max(int(n_channels), 1)
    for ds in sets.values():
        ds.n_channels = n_channels
    steps = int(n_steps)
    facts = {"n_inputs": math.ceil(n_channels / int(spatial_bin)), "n_steps": steps,
             "dt": float(max_time) / (steps - 1), "encoding": "counts", "class_names": list(sets["train"].keys)}
    resolved = {"n_steps": steps, "max_time": float(max_time), "spatial_bin": int(spatial_bin),
                "n_channels": n_channels, "dt": None}
    return sets, facts, resolved


# --------------------------------------------------------------------------- the task

def folder_task(data_dir: Optional[str] = None, n_steps: Optional[int] = None, max_time: Optional[float] = None,
                spatial_bin: Optional[int] = None, n_channels: Optional[int] = None, dt: Optional[float] = None,
                valid_fraction: Optional[float] = None, valid_seed: int = 0) -> Task:
    """Your own data in ``data_dir`` (see the module docstring for the layout and the options)."""
    if not data_dir:
        raise MissingDataError(f"folder: no data_dir given: pass data_dir=DIR (--data-dir DIR) and {LAYOUT_HINT}")
    data_dir = os.path.abspath(os.path.expanduser(str(data_dir)))
    fmt, files = find_files(data_dir)
    if valid_fraction is not None and valid_fraction > 0 and "valid" in files:
        raise _fail(f"valid_fraction={valid_fraction!r} holds out part of train, but {files['valid']} exists; "
                    f"drop valid_fraction or remove the valid file")
    fraction = 0.0 if "valid" in files else (DEFAULT_VALID_FRACTION if valid_fraction is None else valid_fraction)
    if not 0 <= fraction < 1:
        raise _fail(f"valid_fraction must be in [0, 1), got {valid_fraction!r}")
    build = _npz_splits if fmt == ".npz" else _h5_splits
    sets, facts, resolved = build(files, n_steps, max_time, spatial_bin, n_channels, dt)
    labels = np.concatenate([np.asarray(ds.labels) for ds in sets.values()])
    n_classes = max(int(labels.max()) + 1, len(facts["class_names"]))
    if n_classes < 2:
        raise _fail(f"the labels name only {n_classes} class; a classifier needs at least 2")
    notes = [f"your data in {data_dir} ({fmt} files: {', '.join(sorted(files))})."]
    train = sets["train"]
    if "valid" in sets:
        valid = sets["valid"]
    elif fraction > 0:
        held, kept = split_indices(len(train), (fraction, 1 - fraction), seed=int(valid_seed))
        if len(held) == 0 or len(kept) == 0:
            raise _fail(f"train has {len(train)} samples, too few to hold out valid_fraction={fraction:g}; "
                        f"add a valid file or more samples")
        valid, train = SubsetDataset(train, np.sort(held)), SubsetDataset(train, np.sort(kept))
        notes.append(f"valid = seeded {fraction:g} hold-out of train (seed {valid_seed}).")
    elif "test" in sets:
        valid = sets["test"]
        notes.append("No validation file and valid_fraction=0: valid IS the test set.")
    else:
        raise _fail("valid_fraction=0 and no valid or test file: add valid.npz/test.npz or hold out part of train")
    if "test" in sets:
        test = sets["test"]
    else:
        test = valid
        notes.append("No test file: test IS the validation split.")
    config = {"name": "folder", "data_dir": data_dir, **resolved, "valid_fraction": float(fraction),
              "valid_seed": int(valid_seed)}
    names = facts["class_names"] or [str(k) for k in range(n_classes)]
    return Task(name="folder", train=train, valid=valid, test=test, n_inputs=facts["n_inputs"],
                n_classes=n_classes, n_steps=facts["n_steps"], dt=facts["dt"], encoding=facts["encoding"],
                config=config, class_names=list(names), notes=" ".join(notes))


__all__ = ["folder_task", "find_files"]

