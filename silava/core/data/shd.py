"""SHD / SSC (Heidelberg spiking data sets): HDF5 reader, writer and the paper's binning.

File format (spec ``neurons.md`` §7.4), one file per split:

* ``spikes/times`` — per sample a variable-length array of spike times (s);
* ``spikes/units`` — per sample the same-length array of channel ids ``0..699``;
* ``labels`` — one integer class per sample;
* ``extra/keys`` (class names, bytes), ``extra/speaker`` (speaker id per sample),
  ``extra/meta_info/{gender, age, body_height}`` (per speaker).

Binning (spec §1.7, [SSM] ``SpikingDataset``): ``bins = linspace(0, max_time,
n_steps)``, ``step = digitize(t, bins)``, so bin 0 stays empty, the effective
bin width is ``max_time / (n_steps - 1)`` and events with ``t >= max_time``
(which the reference writes out of range) are dropped explicitly. Events in
the same (step, channel) are summed (counts). Channels are then summed in
groups of ``spatial_bin`` (channel ``i`` = raw ``spatial_bin*i ... +spatial_bin-1``).
``binning="frames"`` bins as the hybrid work's tonic pipeline instead (:func:`bin_frames`:
``n_steps`` frames of ``max_time / n_steps`` from the first event).

SHD ships no validation file: as in the reference, ``valid`` is the test set
unless ``valid_fraction > 0`` holds out a deterministic part of the train file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from silava.core.fileio import atomic_path

from .task import DataError, Dataset, MissingDataError, SubsetDataset, Task, default_data_dir, split_indices

N_CHANNELS = 700

SOURCES = {
    "shd": "SHD comes from https://zenkelab.org/datasets/ (shd_train.h5.gz, shd_test.h5.gz; "
           "Cramer et al. 2020): download and gunzip them into data_dir",
    "ssc": "SSC comes from https://zenkelab.org/datasets/ (ssc_train/valid/test.h5.gz; "
           "Cramer et al. 2020): download and gunzip them into data_dir",
}

SHD_KEYS = ([f"english {w}" for w in ("zero", "one", "two", "three", "four", "five", "six",
                                       "seven", "eight", "nine")]
            + [f"german {w}" for w in ("null", "eins", "zwei", "drei", "vier", "fuenf", "sechs",
                                        "sieben", "acht", "neun")])


def bin_events(times: np.ndarray, units: np.ndarray, n_steps: int, max_time: float,
               spatial_bin: int = 1, n_channels: int = N_CHANNELS) -> np.ndarray:
    """Dense spike counts ``float32[n_steps, ceil(n_channels / spatial_bin)]`` of one sample.

    Reproduces ``np.digitize(times, np.linspace(0, max_time, n_steps))``;
    ``t >= max_time`` (and NaN) is dropped, ``t < 0`` lands in bin 0 as in the reference.
    """
    times = np.asarray(times, dtype=np.float64)
    units = np.asarray(units, dtype=np.int64)
    keep = times < max_time
    steps = np.digitize(times[keep], np.linspace(0.0, max_time, n_steps))
    chans = units[keep] // spatial_bin
    n_out = math.ceil(n_channels / spatial_bin)
    counts = np.bincount(steps * n_out + chans, minlength=n_steps * n_out)
    return counts.reshape(n_steps, n_out).astype(np.float32)


#: temporal binnings of SHD-format events: the SpArch/SiLIF one (:func:`bin_events`) and the hybrid
#: work's tonic pipeline (:func:`bin_frames`)
BINNINGS = ("sparch", "frames")


def bin_frames(times: np.ndarray, units: np.ndarray, n_steps: int, max_time: float,
               spatial_bin: int = 1, n_channels: int = N_CHANNELS) -> np.ndarray:
    """Dense spike counts ``float32[n_steps, ceil(n_channels / spatial_bin)]``, the hybrid work's binning.

    Spec ``neurons.md`` §7.3 ([HYB] ``maren_data/helpers.py``): tonic ``Downsample`` (channel
    ``floor(unit / spatial_bin)``) → ``CropTime(max=max_time)`` (keep ``0 <= t <= max_time``) →
    ``ToFrame(time_window=Δt, include_incomplete=True)`` with ``Δt = max_time / n_steps``: frames
    start at the sample's first kept event, ``step = floor((t − t_first) / Δt)``; the frames are
    zero-padded to ``n_steps`` (tonic pads per batch; a fixed length is what the chip runs). Events
    of the same (step, channel) are summed (counts).
    """
    times = np.asarray(times, dtype=np.float64)
    units = np.asarray(units, dtype=np.int64)
    keep = (times >= 0) & (times <= max_time)
    times, units = times[keep], units[keep]
    n_out = math.ceil(n_channels / spatial_bin)
    if times.size == 0:
        return np.zeros((n_steps, n_out), dtype=np.float32)
    dt = float(max_time) / n_steps
    steps = np.floor((times - times.min()) / dt).astype(np.int64)
    inside = steps < n_steps
    chans = units[inside] // spatial_bin
    counts = np.bincount(steps[inside] * n_out + chans, minlength=n_steps * n_out)
    return counts.reshape(n_steps, n_out).astype(np.float32)


def write_spike_h5(path: str | os.PathLike, times: Sequence[np.ndarray], units: Sequence[np.ndarray],
                   labels: Sequence[int], keys: Sequence[str] | None = None,
                   speakers: Sequence[int] | None = None, meta_info: dict[str, Sequence] | None = None,
                   compression: str | None = "gzip") -> None:
    """Write samples in the SHD/SSC HDF5 format (times float32 s, units uint16, labels uint16).

    ``meta_info`` maps ``gender`` (str), ``age``, ``body_height`` to per-speaker
    sequences; missing fields are written as empty/zero. The file is written to
    a temp file beside ``path`` first and renamed, so a crash leaves no half file.
    """
    n = len(labels)
    if len(times) != n or len(units) != n:
        raise ValueError("times, units and labels must have the same length "
                         f"({len(times)}, {len(units)}, {n})")
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            sp = f.create_group("spikes")
            t_ds = sp.create_dataset("times", (n,), dtype=h5py.vlen_dtype(np.float32), compression=compression)
            u_ds = sp.create_dataset("units", (n,), dtype=h5py.vlen_dtype(np.uint16), compression=compression)
            for i in range(n):
                t = np.asarray(times[i], dtype=np.float32)
                u = np.asarray(units[i])
                if t.shape != u.shape or t.ndim != 1:
                    raise ValueError(f"sample {i}: times and units must be 1-D arrays of equal length")
                if u.size and (u.min() < 0 or u.max() > np.iinfo(np.uint16).max):
                    raise ValueError(f"sample {i}: unit ids must be in [0, 65535]")
                t_ds[i] = t
                u_ds[i] = u.astype(np.uint16)
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
            extra = f.create_group("extra")
            if keys is not None:
                extra.create_dataset("keys", data=np.array([k.encode("utf-8") for k in keys], dtype=object),
                                     dtype=h5py.string_dtype("utf-8"))
            spk = np.zeros(n, dtype=np.uint16) if speakers is None else np.asarray(speakers, dtype=np.uint16)
            extra.create_dataset("speaker", data=spk)
            meta = extra.create_group("meta_info")
            n_spk = int(spk.max()) + 1 if n else 0
            meta_info = meta_info or {}
            gender = list(meta_info.get("gender", [""] * n_spk))
            meta.create_dataset("gender", data=np.array([g.encode("utf-8") for g in gender], dtype=object),
                                dtype=h5py.string_dtype("utf-8"))
            meta.create_dataset("age", data=np.asarray(meta_info.get("age", [0] * n_spk), dtype=np.uint16))
            meta.create_dataset("body_height", data=np.asarray(meta_info.get("body_height", [0] * n_spk),
                                                               dtype=np.uint16))


def read_spike_h5(path: str | os.PathLike) -> dict[str, object]:
    """Everything in one file as numpy: ``times``/``units`` (object arrays of arrays),
    ``labels``, and ``keys``, ``speaker``, ``meta_info`` where present."""
    with h5py.File(path, "r") as f:
        out: dict[str, object] = {
            "times": f["spikes/times"][:],
            "units": f["spikes/units"][:],
            "labels": f["labels"][:].astype(np.int64),
        }
        if "extra/keys" in f:
            out["keys"] = [_to_str(k) for k in f["extra/keys"][:]]
        if "extra/speaker" in f:
            out["speaker"] = f["extra/speaker"][:]
        if "extra/meta_info" in f:
            out["meta_info"] = {k: f["extra/meta_info"][k][:] for k in f["extra/meta_info"]}
    return out


def check_spike_h5(path: str | os.PathLike, n_channels: int | None = None,
                   n_classes: int | None = None) -> dict[str, object]:
    """Read and check a whole SHD-format file; returns ``labels`` (int64), ``keys``, ``max_unit`` (−1 if no events).

    Raises :class:`DataError` (one line naming the file, the sample and the fix) for a file that is
    not HDF5, lacks a dataset, holds no samples, has ``spikes/times``, ``spikes/units`` and ``labels``
    of different lengths, a sample whose times and units differ in length, unit ids that are
    negative, fractional or ``>= n_channels``, or labels that are negative, fractional or
    ``>= n_classes``.
    """
    name = os.path.basename(os.fspath(path))
    fix = "write it with silava.core.data.shd.write_spike_h5"
    try:
        with h5py.File(path, "r") as f:
            for key in ("spikes/times", "spikes/units", "labels"):
                if key not in f or not isinstance(f[key], h5py.Dataset):
                    raise DataError(f"{name} is not in the SHD format (no dataset '{key}'); {fix} "
                                    f"(datasets spikes/times, spikes/units, labels)")
            times, units, labels = f["spikes/times"][:], f["spikes/units"][:], f["labels"][:]
            keys = [_to_str(k) for k in f["extra/keys"][:]] if "extra/keys" in f else []
    except DataError:
        raise
    except (OSError, ValueError, TypeError, KeyError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{name} is not a readable HDF5 file ({detail}); {fix}") from None
    if not len(times) == len(units) == len(labels):
        raise DataError(f"{name}: spikes/times, spikes/units and labels hold {len(times)}, {len(units)} and "
                        f"{len(labels)} samples; write one entry per sample in each")
    if len(labels) == 0:
        raise DataError(f"{name} holds no samples; add samples or remove the file")
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind not in "iuf" or (labels.dtype.kind == "f" and not np.all(labels == np.round(labels))):
        raise DataError(f"{name}: labels must be integer classes 0..C-1, got dtype {labels.dtype}; {fix}")
    labels = labels.astype(np.int64)
    if labels.min() < 0:
        i = int(np.argmin(labels))
        raise DataError(f"{name}: sample {i} has label {int(labels[i])}; labels are classes 0..C-1")
    if n_classes is not None and labels.max() >= n_classes:
        i = int(np.argmax(labels))
        raise DataError(f"{name}: sample {i} has label {int(labels[i])} but the task has {n_classes} classes "
                        f"(0..{n_classes - 1}); fix the labels or use the folder task for your own classes")
    top = -1
    for i, (t, u) in enumerate(zip(times, units)):
        t, u = np.asarray(t).reshape(-1), np.asarray(u).reshape(-1)
        if t.shape != u.shape:
            raise DataError(f"{name}: sample {i} has {t.size} spike times but {u.size} unit ids; write one unit id "
                            f"per spike time")
        if u.size == 0:
            continue
        if u.dtype.kind == "f" and not np.all(u == np.round(u)):
            raise DataError(f"{name}: sample {i} has fractional unit ids; unit ids are channel numbers 0..N-1")
        low, high = int(u.min()), int(u.max())
        if low < 0:
            raise DataError(f"{name}: sample {i} has unit id {low}; unit ids are channel numbers 0..N-1")
        if n_channels is not None and high >= n_channels:
            raise DataError(f"{name}: sample {i} has unit id {high} but the task has {n_channels} channels "
                            f"(0..{n_channels - 1}); fix the file or use the folder task (its channel count "
                            f"follows the data)")
        top = max(top, high)
    return {"labels": labels, "keys": keys, "max_unit": top}


def _to_str(k: object) -> str:
    return k.decode("utf-8") if isinstance(k, bytes) else str(k)


class SpikeH5Dataset(Dataset):
    """One SHD-format file, binned on access: yields ``(float32[n_steps, n_inputs], label)``.

    The file is opened lazily in each process (safe with DataLoader workers);
    ``in_memory=True`` reads all events once at construction instead.
    """

    def __init__(self, path: str | os.PathLike, n_steps: int, max_time: float, spatial_bin: int = 1,
                 n_channels: int = N_CHANNELS, in_memory: bool = False, n_classes: int | None = None,
                 binning: str = "sparch") -> None:
        if binning not in BINNINGS:
            raise ValueError(f"binning must be one of {', '.join(BINNINGS)}, got {binning!r}")
        self.binning = binning
        self.path = str(path)
        self.n_steps = n_steps
        self.max_time = max_time
        self.spatial_bin = spatial_bin
        self.n_channels = n_channels
        info = check_spike_h5(self.path, n_channels, n_classes)   # the whole file, once: no surprise mid-training
        self.labels = info["labels"]
        self.keys = info["keys"]
        self.max_unit = int(info["max_unit"])
        self._events = None
        if in_memory:
            data = read_spike_h5(self.path)
            self._events = (data["times"], data["units"])
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def events(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw ``(times, units)`` of sample ``i``."""
        if self._events is not None:
            return self._events[0][i], self._events[1][i]
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file["spikes/times"][i], self._file["spikes/units"][i]

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        times, units = self.events(i)
        if len(units) and (int(np.min(units)) < 0 or int(np.max(units)) >= self.n_channels):
            raise DataError(f"{self.path}: sample {i} has unit ids outside [0, {self.n_channels}); fix the file")
        binner = bin_frames if getattr(self, "binning", "sparch") == "frames" else bin_events
        x = binner(times, units, self.n_steps, self.max_time, self.spatial_bin, self.n_channels)
        return x, int(self.labels[i])

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state


def spike_files_task(name: str, files: dict[str, str], config: dict, n_steps: int, max_time: float,
                     spatial_bin: int, n_classes: int | None = None, valid_fraction: float = 0.0,
                     valid_seed: int = 0, in_memory: bool = False, notes: str = "",
                     missing_hint: str = "", binning: str = "sparch") -> Task:
    """A Task over SHD-format files ``files = {'train': path, 'test': path[, 'valid': path]}``.

    Without a ``valid`` file, ``valid`` is the test set (reference behaviour)
    unless ``valid_fraction > 0``: then a seeded random ``valid_fraction`` of
    the train file is held out (``numpy.random.default_rng(valid_seed)``).
    """
    if int(n_steps) != n_steps or n_steps < 2:
        raise ValueError(f"{name}: n_steps must be an integer >= 2, got {n_steps!r}")
    if not max_time > 0:
        raise ValueError(f"{name}: max_time must be > 0, got {max_time!r}")
    if int(spatial_bin) != spatial_bin or not 1 <= spatial_bin <= N_CHANNELS:
        raise ValueError(f"{name}: spatial_bin must be an integer in [1, {N_CHANNELS}], got {spatial_bin!r}")
    if not 0 <= valid_fraction < 1:
        raise ValueError(f"{name}: valid_fraction must be in [0, 1), got {valid_fraction!r}")
    for split, path in files.items():
        if not os.path.isfile(path):
            raise MissingDataError(f"{name}: {split} file not found: {path}. {missing_hint}".rstrip())
    if binning not in BINNINGS:
        raise ValueError(f"{name}: binning must be one of {', '.join(BINNINGS)}, got {binning!r}")
    kw = dict(n_steps=int(n_steps), max_time=float(max_time), spatial_bin=int(spatial_bin),
              in_memory=in_memory, n_classes=n_classes, binning=binning)
    train = SpikeH5Dataset(files["train"], **kw)
    test = SpikeH5Dataset(files["test"], **kw)
    if valid_fraction > 0:
        held, kept = split_indices(len(train), (valid_fraction, 1 - valid_fraction), seed=valid_seed)
        valid = SubsetDataset(train, np.sort(held))
        train = SubsetDataset(train, np.sort(kept))
        notes += f" valid = seeded {valid_fraction:g} hold-out of the train file (seed {valid_seed})."
    elif "valid" in files:
        valid = SpikeH5Dataset(files["valid"], **kw)
    else:
        valid = test
        notes += " No validation file: valid IS the test set (reference behaviour)."
    base = train.base if isinstance(train, SubsetDataset) else train
    if n_classes is None:
        n_classes = max(len(base.keys), int(base.labels.max()) + 1 if len(base) else 0)
    return Task(name=name, train=train, valid=valid, test=test,
                n_inputs=math.ceil(N_CHANNELS / spatial_bin), n_classes=n_classes, n_steps=int(n_steps),
                dt=float(max_time) / (n_steps if binning == "frames" else n_steps - 1), encoding="counts",
                config=config,
                class_names=list(base.keys), notes=notes.strip())


def shd_task(data_dir: str | None = None, n_steps: int = 250, max_time: float = 1.0,
             spatial_bin: int = 5, valid_fraction: float = 0.0, valid_seed: int = 0,
             in_memory: bool = False, binning: str = "sparch") -> Task:
    """Spiking Heidelberg Digits (20 classes), 4 ms bins on 140 channels by default.

    Files ``data_dir/shd_{train,test}.h5`` (default ``data_dir``: ``$SILAVA_DATA/shd``
    or ``./data/shd``). SHD has no validation split: by default ``valid`` is the
    **test** set, as in the SiLIF/SpArch reference (model selection on test);
    ``valid_fraction=0.1`` holds out a seeded 10 % of the train file instead.
    """
    data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else default_data_dir("shd")
    files = {s: os.path.join(data_dir, f"shd_{s}.h5") for s in ("train", "test")}
    config = dict(name="shd", data_dir=data_dir, n_steps=int(n_steps), max_time=float(max_time),
                  spatial_bin=int(spatial_bin), valid_fraction=float(valid_fraction),
                  valid_seed=int(valid_seed), in_memory=bool(in_memory), binning=binning)
    return spike_files_task("shd", files, config, n_steps, max_time, spatial_bin, n_classes=20,
                            valid_fraction=valid_fraction, valid_seed=valid_seed, in_memory=in_memory, binning=binning,
                            notes="SHD.", missing_hint=SOURCES["shd"])


def ssc_task(data_dir: str | None = None, n_steps: int = 300, max_time: float = 1.2,
             spatial_bin: int = 5, valid_fraction: float = 0.0, valid_seed: int = 0,
             in_memory: bool = False, binning: str = "sparch") -> Task:
    """Spiking Speech Commands (35 classes), 4 ms bins on 140 channels by default.

    Files ``data_dir/ssc_{train,valid,test}.h5`` (default ``data_dir``:
    ``$SILAVA_DATA/ssc`` or ``./data/ssc``); ``valid_fraction > 0`` replaces the
    valid file by a seeded hold-out of the train file.
    """
    data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else default_data_dir("ssc")
    splits = ("train", "test") if valid_fraction > 0 else ("train", "valid", "test")
    files = {s: os.path.join(data_dir, f"ssc_{s}.h5") for s in splits}
    config = dict(name="ssc", data_dir=data_dir, n_steps=int(n_steps), max_time=float(max_time),
                  spatial_bin=int(spatial_bin), valid_fraction=float(valid_fraction),
                  valid_seed=int(valid_seed), in_memory=bool(in_memory), binning=binning)
    return spike_files_task("ssc", files, config, n_steps, max_time, spatial_bin, n_classes=35,
                            valid_fraction=valid_fraction, valid_seed=valid_seed, in_memory=in_memory, binning=binning,
                            notes="SSC.", missing_hint=SOURCES["ssc"])
