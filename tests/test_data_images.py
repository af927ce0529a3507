"""Image tasks: the shipped 8×8 digits, the CIFAR-10/100 binary readers (on small files written here),
and the generic ``encode=bitplane`` task option."""
from __future__ import annotations

import numpy as np
import pytest

from silava.core import bitplane
from silava.core.data import get_task
from silava.core.data.images import load_digits_arrays, read_cifar_records
from silava.core.data.task import MissingDataError


def test_digits_image_task():
    task = get_task("digits-image")
    assert (len(task.train), len(task.valid), len(task.test)) == (1078, 359, 360)
    assert task.image_shape == (1, 8, 8) and task.n_inputs == 64 and task.n_classes == 10
    assert task.encoding == "graded" and task.n_steps == 1
    xs = np.stack([task.train[i][0] for i in range(len(task.train))])
    assert xs.shape == (1078, 1, 64) and xs.min() == 0 and xs.max() == 255
    assert np.array_equal(xs, np.round(xs))                              # 8-bit integers
    labels = np.concatenate([s.labels for s in (task.train, task.valid, task.test)])
    assert np.array_equal(np.bincount(labels), np.bincount(load_digits_arrays()[1]))
    again = get_task(**task.config)
    assert np.array_equal(again.test[5][0], task.test[5][0]) and again.test[5][1] == task.test[5][1]
    other = get_task("digits-image", seed=1)
    assert not np.array_equal(other.test.labels, task.test.labels)


def test_digits_match_scikit_learn():
    """The shipped copy is scikit-learn's ``load_digits`` (16 → 255 when upscaled)."""
    sklearn = pytest.importorskip("sklearn.datasets")
    ref = sklearn.load_digits()
    images, labels = load_digits_arrays()
    assert np.array_equal(images.reshape(-1, 64), ref.data.astype(np.uint8))
    assert np.array_equal(labels, ref.target)
    task = get_task("digits-image", split=(0.5, 0.25, 0.25))
    x, y = task.train[0]
    idx = np.flatnonzero((ref.data == np.floor(x[0] * 16 / 255 + 0.5)).all(axis=1))
    assert len(idx) >= 1 and y in ref.target[idx]


def test_digits_bad_split():
    with pytest.raises(ValueError, match="split"):
        get_task("digits-image", split=(0.5, 0.5))


def _cifar_records(rng, n: int, label_bytes: int, n_labels: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    labels = rng.integers(0, n_labels, size=(n, label_bytes)).astype(np.uint8)
    images = rng.integers(0, 256, size=(n, 3, 32, 32)).astype(np.uint8)
    raw = np.concatenate([labels, images.reshape(n, -1)], axis=1)
    return raw.tobytes(), labels, images


def test_cifar10_reader(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-bin"          # the archive's own subfolder is found too
    folder.mkdir()
    all_images, all_labels = [], []
    for i in range(1, 6):
        raw, labels, images = _cifar_records(rng, 4, 1, 10)
        (folder / f"data_batch_{i}.bin").write_bytes(raw)
        all_images.append(images)
        all_labels.append(labels[:, 0])
    raw, test_labels, test_images = _cifar_records(rng, 3, 1, 10)
    (folder / "test_batch.bin").write_bytes(raw)
    (folder / "batches.meta.txt").write_text("\n".join(f"class{c}" for c in range(10)) + "\n\n")
    task = get_task("cifar10", data_dir=str(tmp_path), valid_fraction=0.25)
    assert (len(task.train), len(task.valid), len(task.test)) == (15, 5, 3)
    assert task.image_shape == (3, 32, 32) and task.n_inputs == 3072 and task.class_names[3] == "class3"
    x, y = task.test[1]
    assert x.shape == (1, 3072) and y == test_labels[1, 0]
    assert np.array_equal(x[0].reshape(3, 32, 32), test_images[1])       # R plane first, rows of 32
    images = np.concatenate(all_images)
    labels = np.concatenate(all_labels)
    seen = sorted(int(np.flatnonzero((images.reshape(20, -1) == task.train[i][0][0]).all(axis=1))[0])
                  for i in range(len(task.train)))
    seen += [int(np.flatnonzero((images.reshape(20, -1) == task.valid[i][0][0]).all(axis=1))[0])
             for i in range(len(task.valid))]
    assert sorted(seen) == list(range(20))                               # train + valid = every record once
    assert task.train.labels.tolist() == [labels[i] for i in sorted(seen[:15])]


def test_cifar100_reader(tmp_path):
    rng = np.random.default_rng(1)
    raw, labels, images = _cifar_records(rng, 6, 2, 20)
    (tmp_path / "train.bin").write_bytes(raw)
    raw, test_labels, _ = _cifar_records(rng, 2, 2, 20)
    (tmp_path / "test.bin").write_bytes(raw)
    fine = get_task("cifar100", data_dir=str(tmp_path), valid_fraction=0)
    coarse = get_task("cifar100", data_dir=str(tmp_path), valid_fraction=0, label="coarse")
    assert fine.n_classes == 100 and coarse.n_classes == 20
    assert fine.test.labels.tolist() == test_labels[:, 1].tolist()
    assert coarse.test.labels.tolist() == test_labels[:, 0].tolist()
    assert fine.valid is fine.test and "valid IS the test set" in fine.notes


def test_cifar_errors(tmp_path):
    with pytest.raises(MissingDataError, match="binary version"):
        get_task("cifar10", data_dir=str(tmp_path / "nowhere"))
    (tmp_path / "train.bin").write_bytes(b"\0" * 100)
    (tmp_path / "test.bin").write_bytes(b"\0" * 3074)
    with pytest.raises(ValueError, match="whole number of 3074-byte CIFAR records"):
        get_task("cifar100", data_dir=str(tmp_path))
    with pytest.raises(MissingDataError, match="data_batch_1.bin"):
        get_task("cifar10", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="records"):
        read_cifar_records(str(tmp_path / "train.bin"), 1)


# ---------------------------------------------------------------------------- encode=bitplane

def test_bitplane_encoding_of_images():
    plain = get_task("digits-image")
    coded = get_task("digits-image", encode="bitplane")
    assert coded.encoding == "binary" and coded.n_steps == 8 and coded.image_shape is None
    assert coded.config["encode"] == "bitplane" and get_task(**coded.config).n_steps == 8
    for i in (0, 7):
        x, y = plain.test[i]
        s, ys = coded.test[i]
        assert ys == y and s.shape == (8, 64) and set(np.unique(s)) <= {0.0, 1.0}
        assert np.array_equal(bitplane.levels_from_planes(s), x[0])        # exact 8-bit pixels, MSB first


def test_bitplane_encoding_of_graded_features(tmp_path):
    """Graded non-image features: per-sample min-max to 0..255, each frame → 8 steps (frame t → 8t..8t+7)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 3, 5)).astype(np.float32)
    y = np.arange(6) % 2
    np.savez(tmp_path / "train.npz", x=x, y=y)
    task = get_task("folder", data_dir=str(tmp_path), encode="bitplane")
    assert task.encoding == "binary" and task.n_steps == 24 and task.n_inputs == 5
    s, _ = task.train[0]
    src = np.asarray(task.train.base[0][0], dtype=np.float64)           # the graded sample it codes
    assert any(np.allclose(src, xi) for xi in x)
    q = bitplane.levels(src[None], "sample")[0]
    assert np.array_equal(bitplane.levels_from_planes(s.reshape(3, 8, 5), axis=1), q)
    assert q.min() == 0 and q.max() == 255


def test_bitplane_refuses_spike_tasks():
    with pytest.raises(ValueError, match="already has binary inputs"):
        get_task("randman", n_classes=2, n_units=4, n_steps=5, samples_per_class=4, encode="bitplane")
    with pytest.raises(ValueError, match="encode must be"):
        get_task("digits-image", encode="rate")
