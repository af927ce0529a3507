"""Image tasks (numpy): scikit-learn's 8×8 digits, shipped with the package, and CIFAR-10/100 binaries.

Samples follow the task contract ``x: float32[T, F]`` with ``T = 1`` and ``F = C·H·W`` (the image
flattened in C, H, W order, **8-bit values 0..255**); ``Task.image_shape = (C, H, W)`` tells image
models how to reshape it (``silava.train.has8``). ``encoding`` is ``graded``; the generic task option
``encode=bitplane`` turns the images into 8 binary bit-plane steps (:mod:`.bitplane_task`).

* ``digits-image`` — the 1,797 8×8 handwritten digits that scikit-learn bundles
  (``sklearn.datasets.load_digits``: a copy of the test set of the UCI "Optical Recognition of
  Handwritten Digits" data, E. Alpaydin and C. Kaynak, 1998, CC BY 4.0), stored in
  ``digits8x8.npz`` next to this module (pixel counts 0..16, labels 0..9). Upscaled to 8 bits:
  ``v8 = floor(v · 255/16 + 1/2)`` (16 → 255). Split: a fixed permutation (``seed``) cut into
  ``split`` fractions (default 60/20/20 → 1078/359/360).
* ``cifar10`` / ``cifar100`` — the standard *binary* versions (https://www.cs.toronto.edu/~kriz/cifar.html),
  read from ``data_dir`` (or its ``cifar-10-batches-bin`` / ``cifar-100-binary`` subfolder):
  CIFAR-10 ``data_batch_{1..5}.bin`` + ``test_batch.bin``, records of 1 label byte + 3072 pixel bytes
  (1024 R, 1024 G, 1024 B, rows of 32); CIFAR-100 ``train.bin`` + ``test.bin``, records of a coarse
  and a fine label byte + 3072 pixel bytes (``label="fine"``: 100 classes, ``"coarse"``: 20).
  The last ``valid_fraction`` of a fixed permutation (``seed``) of the training records is the
  validation split.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .task import Dataset, MissingDataError, Task, default_data_dir, split_indices

DIGITS_FILE = Path(__file__).with_name("digits8x8.npz")
CIFAR_SOURCE = ("download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html and extract it "
                "into data_dir")
IMAGE_BYTES = 3 * 32 * 32


class ImageDataset(Dataset):
    """Images ``uint8 [N, C, H, W]`` (or a view of records) with labels; samples ``float32 [1, C·H·W]``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        if len(images) != len(labels):
            raise ValueError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
        self.images = images
        self.y = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return np.asarray(self.images[i], dtype=np.float32).reshape(1, -1), int(self.y[i])

    @property
    def labels(self) -> np.ndarray:
        return self.y


def upscale_to_8bit(values: np.ndarray, top: int) -> np.ndarray:
    """``floor(v · 255/top + 1/2)`` as uint8 (``top`` → 255)."""
    return np.floor(np.asarray(values, dtype=np.float64) * (255.0 / top) + 0.5).astype(np.uint8)


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits: pixel counts ``uint8 [1797, 8, 8]`` in 0..16 and labels ``[1797]``."""
    if not DIGITS_FILE.is_file():
        raise MissingDataError(f"digits-image: {DIGITS_FILE} is missing from the installed package: reinstall silava")
    with np.load(DIGITS_FILE) as z:
        return z["images"].astype(np.uint8), z["labels"].astype(np.int64)


def _fractions(split: tuple | list) -> tuple[float, float, float]:
    try:
        fr = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        raise ValueError(f"digits-image: split must be three fractions (train, valid, test), got {split!r}") from None
    if len(fr) != 3 or min(fr) <= 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"digits-image: split must be three positive fractions summing to 1, got {split!r}")
    return fr  # type: ignore[return-value]


def digits_image_task(seed: int = 0, split: tuple = (0.6, 0.2, 0.2)) -> Task:
    """scikit-learn's 8×8 digits as an 8-bit image task (module docstring)."""
    fr = _fractions(split)
    pixels, labels = load_digits_arrays()
    images = upscale_to_8bit(pixels, 16)[:, None]               # [N, 1, 8, 8]
    parts = split_indices(len(labels), fr, seed=int(seed))
    train, valid, test = (ImageDataset(images[idx], labels[idx]) for idx in parts)
    return Task(name="digits-image", train=train, valid=valid, test=test, n_inputs=64, n_classes=10,
                n_steps=1, dt=1e-3, encoding="graded",
                config={"name": "digits-image", "seed": int(seed), "split": list(fr)},
                class_names=[str(d) for d in range(10)],
                notes="scikit-learn's 8x8 digits (UCI), 0..16 upscaled to 8 bits; one step per image",
                image_shape=(1, 8, 8))


# ----------------------------------------------------------------------------------------- CIFAR

def _find_dir(data_dir: str, sub: str, needed: list[str], name: str) -> str:
    for d in (data_dir, os.path.join(data_dir, sub)):
        if all(os.path.isfile(os.path.join(d, f)) for f in needed):
            return d
    if not os.path.isdir(data_dir):
        raise MissingDataError(f"{name}: folder not found: {data_dir}; {CIFAR_SOURCE}")
    missing = next(f for f in needed if not os.path.isfile(os.path.join(data_dir, f)))
    raise MissingDataError(f"{name}: {missing} not found in {data_dir} (nor in {sub}/); {CIFAR_SOURCE} "
                           f"(the python/pickle version is not read)")


def read_cifar_records(path: str, label_bytes: int) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR binary file → ``(images uint8 [N, 3, 32, 32], labels uint8 [N, label_bytes])``."""
    record = label_bytes + IMAGE_BYTES
    size = os.path.getsize(path)
    if size == 0 or size % record:
        raise ValueError(f"{path}: {size} bytes is not a whole number of {record}-byte CIFAR records "
                         f"({label_bytes} label byte(s) + 3072 pixels): is it the right CIFAR version?")
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
    return raw[:, label_bytes:].reshape(-1, 3, 32, 32), raw[:, :label_bytes]


def _names(path: str) -> list[str]:
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


def _cifar_task(name: str, folder: str, train_files: list[str], test_file: str, label_bytes: int,
                label_col: int, n_classes: int, names: list[str], valid_fraction: float, seed: int,
                config: dict) -> Task:
    if not 0.0 <= float(valid_fraction) < 1.0:
        raise ValueError(f"{name}: valid_fraction must be in [0, 1), got {valid_fraction!r}")
    parts = [read_cifar_records(os.path.join(folder, f), label_bytes) for f in train_files]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts])[:, label_col].astype(np.int64)
    test_images, test_labels = read_cifar_records(os.path.join(folder, test_file), label_bytes)
    bad = labels.max(initial=0), test_labels[:, label_col].max(initial=0)
    if max(bad) >= n_classes:
        raise ValueError(f"{name}: label {max(bad)} >= {n_classes} classes: is it the right CIFAR version?")
    n_valid = int(round(float(valid_fraction) * len(labels)))
    tr_idx, va_idx = split_indices(len(labels), (1.0 - n_valid / len(labels), n_valid / len(labels)), seed=int(seed))
    train = ImageDataset(images[np.sort(tr_idx)], labels[np.sort(tr_idx)])
    test = ImageDataset(test_images, test_labels[:, label_col])
    valid = ImageDataset(images[np.sort(va_idx)], labels[np.sort(va_idx)]) if n_valid else test
    notes = "" if n_valid else "valid IS the test set (valid_fraction=0)"
    return Task(name=name, train=train, valid=valid, test=test, n_inputs=IMAGE_BYTES, n_classes=n_classes,
                n_steps=1, dt=1e-3, encoding="graded", config=config,
                class_names=names if len(names) == n_classes else [str(c) for c in range(n_classes)],
                notes=notes, image_shape=(3, 32, 32))


def cifar10_task(data_dir: str | None = None, valid_fraction: float = 0.1, seed: int = 0) -> Task:
    """CIFAR-10 from its binary files (module docstring)."""
    data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else default_data_dir("cifar10")
    train_files = [f"data_batch_{i}.bin" for i in range(1, 6)]
    folder = _find_dir(data_dir, "cifar-10-batches-bin", train_files + ["test_batch.bin"], "cifar10")
    config = {"name": "cifar10", "data_dir": data_dir, "valid_fraction": float(valid_fraction), "seed": int(seed)}
    return _cifar_task("cifar10", folder, train_files, "test_batch.bin", 1, 0, 10,
                       _names(os.path.join(folder, "batches.meta.txt")), valid_fraction, seed, config)


def cifar100_task(data_dir: str | None = None, valid_fraction: float = 0.1, seed: int = 0,
                  label: str = "fine") -> Task:
    """CIFAR-100 from its binary files (module docstring); ``label`` = ``fine`` (100) or ``coarse`` (20)."""
    if label not in ("fine", "coarse"):
        raise ValueError(f"cifar100: label must be fine or coarse, got {label!r}")
    data_dir = os.path.abspath(os.path.expanduser(data_dir)) if data_dir else default_data_dir("cifar100")
    folder = _find_dir(data_dir, "cifar-100-binary", ["train.bin", "test.bin"], "cifar100")
    config = {"name": "cifar100", "data_dir": data_dir, "valid_fraction": float(valid_fraction), "seed": int(seed),
              "label": label}
    fine = label == "fine"
    return _cifar_task("cifar100", folder, ["train.bin"], "test.bin", 2, 1 if fine else 0, 100 if fine else 20,
                       _names(os.path.join(folder, f"{label}_label_names.txt")), valid_fraction, seed, config)
