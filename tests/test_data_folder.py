"""The ``folder`` task (silava.core.data.folder): your own .npz or SHD-format .h5 files, numpy level."""
from __future__ import annotations

import numpy as np
import pytest

from silava.core.data import get_task
from silava.core.data.shd import write_spike_h5
from silava.core.data.task import MissingDataError
from silava.core.tasks import TaskError, load_task_arrays


def npz_folder(path, n=(40, 10, 12), steps=8, inputs=5, classes=3, seed=0, counts=False):
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    for split, k in zip(("train", "valid", "test"), n):
        if k:
            x = rng.poisson(0.5, (k, steps, inputs)) if counts else (rng.random((k, steps, inputs)) < 0.3)
            np.savez(path / f"{split}.npz", x=x.astype(np.uint8), y=rng.integers(0, classes, k))
    return path


def h5_folder(path, n=(30, 0, 10), units=60, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    for split, k in zip(("train", "valid", "test"), n):
        if k:
            write_spike_h5(path / f"{split}.h5", [np.sort(rng.random(25)).astype(np.float32) for _ in range(k)],
                           [rng.integers(0, units, 25) for _ in range(k)], rng.integers(0, classes, k),
                           keys=[f"word {c}" for c in range(classes)])
    return path


def test_npz_folder_three_files(tmp_path):
    task = get_task("folder", data_dir=str(npz_folder(tmp_path / "d")))
    assert (len(task.train), len(task.valid), len(task.test)) == (40, 10, 12)
    assert (task.n_inputs, task.n_steps, task.n_classes, task.encoding, task.dt) == (5, 8, 3, "binary", 1e-3)
    x, y = task.train[0]
    assert x.dtype == np.float32 and x.shape == (8, 5) and isinstance(y, int)
    again = get_task(**task.config)
    assert np.array_equal(again.test[3][0], task.test[3][0]) and again.config == task.config


def test_npz_hold_out_and_counts(tmp_path):
    d = npz_folder(tmp_path / "d", n=(50, 0, 0), counts=True)
    task = get_task("folder", data_dir=str(d))
    assert task.encoding == "counts" and (len(task.train), len(task.valid)) == (40, 10)
    assert task.test is task.valid and "test IS the validation split" in task.notes
    assert task.config["valid_fraction"] == 0.2
    other = get_task("folder", data_dir=str(d), valid_fraction=0.5, valid_seed=3)
    assert len(other.valid) == 25


def test_npz_graded_values(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    np.savez(d / "train.npz", x=np.random.default_rng(0).normal(size=(20, 4, 3)), y=np.arange(20) % 2)
    assert get_task("folder", data_dir=str(d)).encoding == "graded"


def test_h5_folder_is_binned_like_shd(tmp_path):
    d = h5_folder(tmp_path / "h")
    task = get_task("folder", data_dir=str(d), n_steps=20, spatial_bin=2)
    assert task.config["n_channels"] == 60 and task.n_inputs == 30 and task.encoding == "counts"
    assert task.n_classes == 4 and task.class_names == [f"word {c}" for c in range(4)]
    assert task.dt == pytest.approx(1.0 / 19)
    assert (len(task.train), len(task.valid), len(task.test)) == (24, 6, 10)
    x, _ = task.test[0]
    assert x.shape == (20, 30) and x.sum() > 0


def test_simulators_read_the_folder_without_torch(tmp_path):
    """load_task_arrays (hwsim, Lava) reads the folder from the config stored in model.net."""
    d = npz_folder(tmp_path / "d")
    task = get_task("folder", data_dir=str(d))
    x, y = load_task_arrays("folder", task.config, split="test", n_inputs=5)
    raw = np.load(d / "test.npz")
    assert np.array_equal(x, raw["x"]) and np.array_equal(y, raw["y"])
    with pytest.raises(TaskError, match="5 input channels but the network expects 7"):
        load_task_arrays("folder", task.config, n_inputs=7)


def bad(tmp_path, name, **arrays):
    d = tmp_path / name
    d.mkdir()
    np.savez(d / "train.npz", **arrays)
    return str(d)


@pytest.mark.parametrize("case, needle", [
    ("missing_y", "lacks array(s) y"),
    ("x_2d", "expected [N, T, F]"),
    ("float_labels", "y must be integer labels"),
    ("negative", "negative labels"),
    ("nan", "NaN or infinite"),
    ("one_class", "at least 2"),
    ("strings", "dtype <U1"),
])
def test_bad_npz_files_one_line(tmp_path, case, needle):
    x = np.zeros((6, 4, 3), np.uint8)
    y = np.arange(6) % 2
    arrays = {"missing_y": dict(x=x), "x_2d": dict(x=x[:, :, 0], y=y),
              "float_labels": dict(x=x, y=y.astype(float)), "negative": dict(x=x, y=y - 1),
              "nan": dict(x=np.full((6, 4, 3), np.nan), y=y), "one_class": dict(x=x, y=y * 0),
              "strings": dict(x=np.full((6, 4, 3), "a"), y=y)}[case]
    with pytest.raises(ValueError) as err:
        get_task("folder", data_dir=bad(tmp_path, case, **arrays))
    msg = str(err.value)
    assert needle in msg and "\n" not in msg and msg.startswith("folder:"), msg


def test_bad_folders_one_line(tmp_path):
    with pytest.raises(MissingDataError, match="no data_dir given"):
        get_task("folder")
    with pytest.raises(MissingDataError, match="is not a folder"):
        get_task("folder", data_dir=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="no train.npz or train.h5"):
        get_task("folder", data_dir=str(tmp_path / "empty"))
    d = npz_folder(tmp_path / "mixed", n=(10, 0, 0))
    h5_folder(d, n=(0, 0, 5))
    with pytest.raises(ValueError, match="both .npz and .h5"):
        get_task("folder", data_dir=str(d))
    d = npz_folder(tmp_path / "shape", n=(10, 5, 0))
    np.savez(d / "valid.npz", x=np.zeros((5, 9, 5), np.uint8), y=np.zeros(5, int))
    with pytest.raises(ValueError, match="valid.npz has 9 steps but train.npz has 8"):
        get_task("folder", data_dir=str(d))
    d = npz_folder(tmp_path / "frac", n=(10, 5, 0))
    with pytest.raises(ValueError, match="drop valid_fraction or remove the valid file"):
        get_task("folder", data_dir=str(d), valid_fraction=0.1)
    with pytest.raises(ValueError, match="bins .h5 event files"):
        get_task("folder", data_dir=str(d), max_time=2.0)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "train.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        get_task("folder", data_dir=str(tmp_path / "junk"))
    (tmp_path / "junkh5").mkdir()
    (tmp_path / "junkh5" / "train.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        get_task("folder", data_dir=str(tmp_path / "junkh5"))


def test_h5_not_shd_format(tmp_path):
    import h5py

    d = tmp_path / "h"
    d.mkdir()
    with h5py.File(d / "train.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(3, np.uint16))
    with pytest.raises(ValueError, match="not in the SHD format") as err:
        get_task("folder", data_dir=str(d))
    assert "write_spike_h5" in str(err.value)
    d = h5_folder(tmp_path / "h2", units=60)
    with pytest.raises(ValueError, match="unit ids up to 59"):
        get_task("folder", data_dir=str(d), n_channels=40)
    with pytest.raises(ValueError, match="max_time / \\(n_steps - 1\\)"):
        get_task("folder", data_dir=str(d), dt=0.01)
