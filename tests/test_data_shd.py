"""SHD/SSC HDF5 format and the §1.7 binning."""

import json
import pickle

import h5py
import numpy as np
import pytest
import torch

from silava.train.data import get_task
from silava.core.data.shd import SpikeH5Dataset, bin_events, read_spike_h5, write_spike_h5
from silava.core.data.task import MissingDataError


def random_samples(n, rng, max_time=1.2, n_units=700):
    times, units = [], []
    for _ in range(n):
        k = int(rng.integers(0, 300))
        times.append(np.sort(rng.uniform(0, max_time, k)).astype(np.float32))
        units.append(rng.integers(0, n_units, k).astype(np.uint16))
    return times, units


def write_split(path, n, rng, n_classes=20):
    times, units = random_samples(n, rng)
    labels = rng.integers(0, n_classes, n)
    write_spike_h5(path, times, units, labels, keys=[f"class {k}" for k in range(n_classes)],
                   speakers=rng.integers(0, 3, n), meta_info={"gender": ["f", "m", "f"], "age": [30, 40, 50],
                                                                "body_height": [170, 180, 160]})
    return times, units, labels


def test_format_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "x.h5"
    times, units, labels = write_split(path, 6, rng)
    d = read_spike_h5(path)
    for i in range(6):
        np.testing.assert_array_equal(d["times"][i], times[i])
        np.testing.assert_array_equal(d["units"][i], units[i])
    np.testing.assert_array_equal(d["labels"], labels)
    assert d["keys"][3] == "class 3"
    assert d["speaker"].shape == (6,)
    assert d["meta_info"]["age"].tolist() == [30, 40, 50]
    assert [g.decode() if isinstance(g, bytes) else g for g in d["meta_info"]["gender"]] == ["f", "m", "f"]
    with h5py.File(path) as f:  # the layout third-party SHD loaders expect
        assert {"spikes", "labels", "extra"} <= set(f)
        assert {"times", "units"} <= set(f["spikes"])
        assert {"keys", "speaker", "meta_info"} <= set(f["extra"])
        assert f["extra/keys"][0] in (b"class 0", "class 0")
    assert not (tmp_path / "x.h5.tmp").exists()


def reference_binning(times, units, n_steps, max_time, spatial_bin):
    """The reference's digitize + COO-to-dense, keeping only in-range indices, then channel sums."""
    idx = np.digitize(np.asarray(times, np.float64), np.linspace(0, max_time, n_steps))
    ok = idx < n_steps
    coo = torch.sparse_coo_tensor(torch.tensor(np.stack([idx[ok], np.asarray(units)[ok].astype(np.int64)])),
                                  torch.ones(int(ok.sum())), (n_steps, 700), check_invariants=True)
    dense = coo.to_dense()
    return dense.reshape(n_steps, 700 // spatial_bin, spatial_bin).sum(-1).numpy()


@pytest.mark.parametrize("n_steps,max_time,spatial_bin", [(250, 1.0, 5), (100, 1.4, 1), (300, 1.2, 5)])
def test_binning_matches_reference(n_steps, max_time, spatial_bin):
    rng = np.random.default_rng(1)
    times, units = random_samples(5, rng, max_time=1.5)
    for t, u in zip(times, units):
        got = bin_events(t, u, n_steps, max_time, spatial_bin)
        np.testing.assert_array_equal(got, reference_binning(t, u, n_steps, max_time, spatial_bin))


def test_binning_edges():
    n_steps, max_time = 5, 1.0  # bins = [0, .25, .5, .75, 1.0]
    below = np.nextafter(1.0, 0.0)
    t = np.array([0.0, 0.2499, 0.25, below, 1.0, 1.0001, 7.0, 0.6, 0.6, 0.6])
    u = np.array([0, 1, 2, 3, 4, 5, 6, 7, 7, 8])
    x = bin_events(t, u, n_steps, max_time, spatial_bin=1)
    assert x.shape == (5, 700) and x.dtype == np.float32
    assert x[0].sum() == 0  # bin 0 is always empty for t >= 0
    assert x[1, 0] == 1  # t = 0 -> bin 1
    assert x[1, 1] == 1  # just below a boundary stays in the lower bin
    assert x[2, 2] == 1  # exactly on a boundary goes up
    assert x[4, 3] == 1  # just below max_time -> last bin
    assert x[:, 4].sum() == 0 and x[:, 5].sum() == 0 and x[:, 6].sum() == 0  # t >= max_time dropped
    assert x[3, 7] == 2  # duplicates are summed (counts)
    assert x[3, 8] == 1
    assert x.sum() == 7
    # effective bin width max_time / (n_steps - 1)
    assert bin_events(np.array([0.26]), np.array([0]), 5, 1.0)[2, 0] == 1


def test_channel_binning():
    t = np.full(8, 0.1)
    u = np.array([0, 1, 4, 5, 9, 695, 699, 699])
    x = bin_events(t, u, 10, 1.0, spatial_bin=5)
    assert x.shape == (10, 140)
    assert x[:, 0].sum() == 3 and x[:, 1].sum() == 2 and x[:, 139].sum() == 3
    assert x.sum() == 8
    assert bin_events(t, u, 10, 1.0, spatial_bin=7).shape == (10, 100)
    assert bin_events(t, u, 10, 1.0, spatial_bin=3).shape == (10, 234)  # ceil(700 / 3)


def test_float16_times_like_any_dtype():
    t = np.array([0.1, 0.5], dtype=np.float16)
    np.testing.assert_array_equal(bin_events(t, np.array([1, 2], np.uint16), 50, 1.0),
                                  bin_events(t.astype(np.float64), np.array([1, 2]), 50, 1.0))


def make_shd(tmp_path, prefix="shd", splits=("train", "test"), n=(12, 6)):
    rng = np.random.default_rng(2)
    for split, k in zip(splits, n):
        write_split(tmp_path / f"{prefix}_{split}.h5", k, rng, n_classes=20 if prefix == "shd" else 35)
    return tmp_path


def test_shd_task(tmp_path):
    make_shd(tmp_path)
    task = get_task("shd", data_dir=str(tmp_path))
    assert (task.n_inputs, task.n_classes, task.n_steps, task.encoding) == (140, 20, 250, "counts")
    assert task.dt == pytest.approx(1.0 / 249)
    assert task.valid is task.test and "valid IS the test set" in task.notes
    x, y = task.train[2]
    assert x.shape == (250, 140) and x.dtype == torch.float32
    d = read_spike_h5(tmp_path / "shd_train.h5")
    np.testing.assert_array_equal(x.numpy(), bin_events(d["times"][2], d["units"][2], 250, 1.0, 5))
    assert y == d["labels"][2]
    again = get_task(**json.loads(json.dumps(task.config)))
    assert torch.equal(again.train[5][0], task.train[5][0])
    xb, yb = task.collate([task.train[i] for i in range(4)])
    assert xb.shape == (4, 250, 140) and yb.tolist() == d["labels"][:4].tolist()


def test_shd_holdout_and_options(tmp_path):
    make_shd(tmp_path)
    task = get_task("shd", data_dir=str(tmp_path), valid_fraction=0.25, n_steps=100, max_time=1.4,
                    spatial_bin=1, in_memory=True)
    assert (len(task.train), len(task.valid), len(task.test)) == (9, 3, 6)
    assert task.valid is not task.test and task.n_inputs == 700 and task.train[0][0].shape == (100, 700)
    held = set(task.valid.indices.tolist())
    assert held.isdisjoint(task.train.indices.tolist())
    again = get_task(**task.config)
    assert set(again.valid.indices.tolist()) == held


def test_ssc_task_uses_valid_file(tmp_path):
    make_shd(tmp_path, prefix="ssc", splits=("train", "valid", "test"), n=(6, 3, 4))
    task = get_task("ssc", data_dir=str(tmp_path))
    assert (len(task.train), len(task.valid), len(task.test)) == (6, 3, 4)
    assert (task.n_classes, task.n_steps, task.n_inputs) == (35, 300, 140)


def test_missing_file_message(tmp_path):
    with pytest.raises(MissingDataError) as err:
        get_task("shd", data_dir=str(tmp_path))
    msg = str(err.value)
    assert "\n" not in msg and "shd_train.h5" in msg and "zenkelab.org" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_out_of_range_units_rejected(tmp_path):
    write_spike_h5(tmp_path / "bad.h5", [np.array([0.1], np.float32)], [np.array([700])], [0])
    with pytest.raises(ValueError, match="sample 0 has unit id 700 but the task has 700 channels"):
        SpikeH5Dataset(tmp_path / "bad.h5", 10, 1.0)     # checked when the file is opened, not mid-training


def test_dataset_pickles_after_use(tmp_path):
    make_shd(tmp_path)
    ds = SpikeH5Dataset(tmp_path / "shd_train.h5", 20, 1.0, 5)
    x = ds[1][0]
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone[1][0], x)
    from silava.train.data import TorchSplit  # the torch wrapper pickles too (DataLoader workers)

    loader = torch.utils.data.DataLoader(TorchSplit(ds), batch_size=4, num_workers=2)
    assert sum(len(b[1]) for b in loader) == len(ds)


@pytest.mark.parametrize("bad", [dict(n_steps=1), dict(max_time=0.0), dict(spatial_bin=0),
                                 dict(valid_fraction=1.0)])
def test_bad_arguments(tmp_path, bad):
    make_shd(tmp_path)
    with pytest.raises(ValueError):
        get_task("shd", data_dir=str(tmp_path), **bad)
