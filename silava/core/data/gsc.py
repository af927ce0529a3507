"""Google Speech Commands (v0.02) folder -> 40-bin Kaldi log-mel features (spec §1.7).

Folder layout: ``<data_dir>/<class>/<file>.wav``, ``validation_list.txt`` and
``testing_list.txt`` (paths ``<class>/<file>.wav``, one per line).
``_background_noise_`` (and any folder starting with ``_`` or ``.``) is not a
class. Labels are the indices of the sorted class folder names (35 for
v0.02). Train = every ``*/*.wav`` not in either list. Features are computed on
access (:func:`silava.core.data.fbank.fbank`, ``num_mel_bins=40``), no normalisation;
clips of different lengths are zero-padded to the longest in the batch by
``Task.collate``.
"""

from __future__ import annotations

import os
import wave

import numpy as np

from .fbank import fbank
from .task import Dataset, MissingDataError, Task, default_data_dir

SOURCE = ("GSC v0.02 comes from http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz: "
          "extract it into data_dir")
SAMPLE_RATE = 16000


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Mono float waveform in [-1, 1) (channel 0) and its sample rate.

    Integer PCM is scaled like ``torchaudio.load`` (int16 / 32768, 8-bit
    unsigned centred on 128, int32 / 2^31); float WAVs are read with scipy.
    """
    try:
        with wave.open(str(path), "rb") as w:
            rate, width, n_ch = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except wave.Error:
        from scipy.io import wavfile

        rate, data = wavfile.read(str(path))
        data = data if data.ndim == 1 else data[:, 0]
        if np.issubdtype(data.dtype, np.integer):
            data = data / float(2 ** (8 * data.dtype.itemsize - 1))
        return data.astype(np.float64), int(rate)
    if width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / float(1 << 31)
    else:
        raise ValueError(f"{path}: unsupported sample width {width} bytes")
    return x.reshape(-1, n_ch)[:, 0], int(rate)


def list_classes(data_dir: str) -> list[str]:
    """Sorted class folder names (folders starting with ``_`` or ``.`` excluded)."""
    return sorted(d for d in os.listdir(data_dir)
                  if os.path.isdir(os.path.join(data_dir, d)) and not d.startswith(("_", ".")))


def _read_list(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {line.strip().replace("\\", "/") for line in f if line.strip()}


def gsc_splits(data_dir: str) -> tuple[list[str], dict[str, list[str]]]:
    """``(classes, {'train'|'valid'|'test': sorted relative paths})`` of a GSC folder."""
    if not os.path.isdir(data_dir):
        raise MissingDataError(f"gsc: folder not found: {data_dir}. {SOURCE}")
    lists = {}
    for split, fname in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
        path = os.path.join(data_dir, fname)
        if not os.path.isfile(path):
            raise MissingDataError(f"gsc: {split} list not found: {path}. {SOURCE}")
        lists[split] = _read_list(path)
    classes = list_classes(data_dir)
    if not classes:
        raise MissingDataError(f"gsc: no class folders in {data_dir}. {SOURCE}")
    every = sorted(f"{c}/{f}" for c in classes for f in os.listdir(os.path.join(data_dir, c))
                   if f.lower().endswith(".wav"))
    held = lists["valid"] | lists["test"]
    files = {
        "train": [p for p in every if p not in held],
        "valid": sorted(p for p in lists["valid"] if p.split("/")[0] in classes),
        "test": sorted(p for p in lists["test"] if p.split("/")[0] in classes),
    }
    return classes, files


class GSCDataset(Dataset):
    """Wav files -> ``(float32[frames, num_mel_bins], label)``, features computed on access."""

    def __init__(self, data_dir: str, files: list[str], classes: list[str], num_mel_bins: int = 40) -> None:
        self.data_dir = data_dir
        self.files = list(files)
        self.classes = list(classes)
        self.num_mel_bins = num_mel_bins
        index = {c: k for k, c in enumerate(self.classes)}
        self.labels = np.array([index[p.split("/")[0]] for p in self.files], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        path = os.path.join(self.data_dir, self.files[i])
        x, rate = read_wav(path)
        if rate != SAMPLE_RATE:
            raise ValueError(f"{path}: sample rate {rate} Hz, expected {SAMPLE_RATE} Hz")
        feats = fbank(x, num_mel_bins=self.num_mel_bins, sample_rate=SAMPLE_RATE)
        return feats, int(self.labels[i])


def gsc_task(data_dir: str | None = None, num_mel_bins: int = 40) -> Task:
    """Google Speech Commands v0.02: 40 log-mel bins per 10 ms frame (98 frames for 1 s).

    ``data_dir`` defaults to ``$SILAVA_DATA/gsc`` or ``./data/gsc``. Encoding
    "graded"; ``n_steps`` is the nominal 98 frames of a 1 s clip (shorter clips
    are zero-padded by ``collate``).
    """
    if int(num_mel_bins) != num_mel_bins or num_mel_bins < 4:
        raise ValueError(f"gsc: num_mel_bins must be an integer >= 4, got {num_mel_bins!r}")
    data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else default_data_dir("gsc")
    classes, files = gsc_splits(data_dir)
    sets = {s: GSCDataset(data_dir, files[s], classes, int(num_mel_bins)) for s in files}
    config = dict(name="gsc", data_dir=data_dir, num_mel_bins=int(num_mel_bins))
    return Task(name="gsc", train=sets["train"], valid=sets["valid"], test=sets["test"],
                n_inputs=int(num_mel_bins), n_classes=len(classes), n_steps=98, dt=0.01,
                encoding="graded", config=config, class_names=classes,
                notes="GSC v0.02: Kaldi fbank (torchaudio defaults), no normalisation; padded per batch.")
