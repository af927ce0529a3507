"""Randman generator (spec §7.5) and the `randman` task."""

import json
import math

import numpy as np
import pytest
import torch

from silava.train.data import get_task
from silava.core.data.randman import Randman, events_to_raster, frequency_cutoff, make_spiking_dataset


def reference_dataset(n_classes, n_units, n_steps, dim, n_spikes, n_samples, alpha, seed):
    """Straightforward re-statement of the reference notebook with *global* RNG seeding."""
    np_state = np.random.get_state()
    with torch.random.fork_rng():
        np.random.seed(seed)
        seeds = np.random.randint(np.iinfo(np.int64).max, size=(n_classes, n_spikes))
        data, labels = [], []
        f_cut = int(min(math.ceil((1e-3) ** (-1 / alpha)), 1000))
        for k in range(n_classes):
            x = np.random.rand(n_samples, dim)
            xt = torch.tensor(x, dtype=torch.float32)
            times = []
            for i in range(n_spikes):
                torch.random.manual_seed(int(seeds[k, i]))
                params = torch.rand(n_units, dim, 3, f_cut, dtype=torch.float32)
                params[:, :, 0, 0] = 0
                r = torch.arange(f_cut, dtype=torch.float32) + 1
                spect = 1.0 / (torch.abs(r - 0) ** alpha + 1.0)
                y = torch.zeros(n_samples, n_units)
                for e in range(n_units):
                    prod = torch.ones(n_samples)
                    for d in range(dim):
                        th = params[e, d]
                        acc = torch.zeros(n_samples)
                        for j in range(f_cut):
                            phase = 2 * np.pi * (j * xt[:, d] * th[1, j] + th[2, j])
                            acc += th[0, j] * spect[j] * torch.sin(phase)
                        prod *= acc
                    y[:, e] = prod
                lo, hi = y.min(0).values, y.max(0).values
                times.append(((y - lo) / (hi - lo + 1e-7)).numpy())
            t = np.concatenate(times, axis=1)
            u = np.tile(np.arange(n_units), (n_samples, n_spikes))
            data.append(np.stack([t, u], axis=2))
            labels.append(np.full(n_samples, k))
        data = np.concatenate(data)
        labels = np.concatenate(labels)
        idx = np.arange(len(data))
        np.random.shuffle(idx)
        data, labels = data[idx], labels[idx]
        data[:, :, 0] *= n_steps
    np.random.set_state(np_state)
    return data, labels


def test_frequency_cutoff():
    assert [frequency_cutoff(a) for a in (1, 2, 3, 4)] == [1000, 32, 10, 6]


def test_theta_stream_is_torch_rand_bit_for_bit():
    from silava.core.data.randman import torch_rand

    for seed in (0, 13, 2**31 + 5, 6909045637428952499):  # the last: a 64-bit manifold seed of seed 42
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            ref = torch.rand(7, 2, 3, 11, dtype=torch.float32).numpy()
        np.testing.assert_array_equal(torch_rand(seed, (7, 2, 3, 11)), ref)


def test_matches_reference():
    """Labels exact; spike times within float32 rounding of torch's sin (numpy's sin may differ in
    the last bit), which leaves the binned raster identical."""
    cfg = dict(n_classes=3, n_units=5, n_steps=20, dim=2, n_spikes=2, n_samples=7, alpha=2.0, seed=13)
    ref_events, ref_labels = reference_dataset(**cfg)
    events, labels = make_spiking_dataset(n_classes=3, n_units=5, n_steps=20, dim_manifold=2, n_spikes=2,
                                          samples_per_class=7, alpha=2.0, seed=13)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(events, ref_events, rtol=2e-6, atol=2e-5)
    np.testing.assert_array_equal(events_to_raster(events, 20, 5), events_to_raster(ref_events, 20, 5))


def torch_manifold_times(n_classes, n_units, dim, n_samples, alpha, seed):
    """The reference generator vectorised over units (torch float32): spike times in [0, 1]."""
    rs = np.random.RandomState(seed)
    seeds = rs.randint(np.iinfo(np.int64).max, size=(n_classes, 1))
    f_cut = frequency_cutoff(alpha)
    out = []
    for k in range(n_classes):
        x = torch.as_tensor(rs.rand(n_samples, dim), dtype=torch.float32)
        gen = torch.Generator().manual_seed(int(seeds[k, 0]))
        params = torch.rand(n_units, dim, 3, f_cut, generator=gen, dtype=torch.float32)
        params[:, :, 0, 0] = 0
        spect = 1.0 / ((torch.arange(f_cut, dtype=torch.float32) + 1) ** alpha + 1.0)
        y = torch.ones(n_samples, n_units)
        for d in range(dim):
            acc = torch.zeros_like(y)
            for i in range(f_cut):
                phase = 2 * np.pi * (i * x[:, d:d + 1] * params[:, d, 1, i] + params[:, d, 2, i])
                acc += params[:, d, 0, i] * spect[i] * torch.sin(phase)
            y *= acc
        lo, hi = y.min(0).values, y.max(0).values
        out.append(((y - lo) / (hi - lo + 1e-7)).numpy())
    return np.concatenate(out), rs


@pytest.mark.parametrize("cfg", [
    dict(n_classes=10, n_units=40, dim=1, n_samples=1000, alpha=3.0, seed=42),    # the task's default
    dict(n_classes=20, n_units=30, dim=2, n_samples=300, alpha=2.0, seed=42),     # the demo / randman-hard
])
def test_task_rasters_equal_torch_reference(cfg):
    """The numpy generator and the torch reference give the same rasters on the shipped configurations."""
    times, rs = torch_manifold_times(**cfg)
    idx = np.arange(len(times))
    rs.shuffle(idx)
    steps = 50
    ref_events = np.stack([times[idx].astype(np.float64) * steps, np.tile(np.arange(cfg["n_units"]), (len(times), 1))], axis=2)
    events, labels = make_spiking_dataset(n_classes=cfg["n_classes"], n_units=cfg["n_units"], n_steps=steps,
                                          dim_manifold=cfg["dim"], samples_per_class=cfg["n_samples"],
                                          alpha=cfg["alpha"], seed=cfg["seed"])
    np.testing.assert_array_equal(labels, np.repeat(np.arange(cfg["n_classes"]), cfg["n_samples"])[idx])
    np.testing.assert_array_equal(events_to_raster(events, steps, cfg["n_units"]),
                                  events_to_raster(ref_events, steps, cfg["n_units"]))


def test_does_not_touch_global_rng():
    torch.manual_seed(0)
    np.random.seed(0)
    a_t, a_n = torch.rand(1), np.random.rand()
    torch.manual_seed(0)
    np.random.seed(0)
    make_spiking_dataset(n_classes=2, n_units=3, n_steps=10, dim_manifold=1, samples_per_class=4, seed=1)
    assert torch.rand(1) == a_t and np.random.rand() == a_n


def test_one_spike_per_unit_and_standardised():
    events, labels = make_spiking_dataset(n_classes=4, n_units=6, n_steps=30, dim_manifold=1,
                                          samples_per_class=50, alpha=3.0, seed=5)
    raster = events_to_raster(events, 30, 6)
    assert raster.shape == (200, 30, 6)
    np.testing.assert_array_equal(raster.sum(axis=1), 1)
    assert np.bincount(labels).tolist() == [50] * 4
    for k in range(4):  # per class, each unit spans the whole [0, n_steps) range
        t = events[labels == k][:, :, 0]
        np.testing.assert_allclose(t.min(0), 0, atol=1e-6)
        np.testing.assert_allclose(t.max(0), 30, atol=1e-3)


def test_manifold_shape_and_bias_off():
    rm = Randman(4, 2, alpha=2.0, seed=3)
    assert rm.params.shape == (4, 2, 3, 32)
    assert np.all(rm.params[:, :, 0, 0] == 0)
    assert rm.eval_manifold(np.random.default_rng(0).random((9, 2))).shape == (9, 4)


def test_task_interface_and_rebuild():
    task = get_task("randman", n_classes=3, n_units=8, n_steps=20, samples_per_class=20)
    assert (task.n_inputs, task.n_classes, task.n_steps, task.encoding) == (8, 3, 20, "binary")
    assert (len(task.train), len(task.valid), len(task.test)) == (36, 12, 12)
    x, y = task.train[0]
    assert x.dtype == torch.float32 and x.shape == (20, 8) and isinstance(y, int)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    again = get_task(**json.loads(json.dumps(task.config)))
    for a, b in ((task.train, again.train), (task.test, again.test)):
        assert torch.equal(a[3][0], b[3][0]) and a[3][1] == b[3][1]
    xb, yb = task.collate([task.train[i] for i in range(5)])
    assert xb.shape == (5, 20, 8) and yb.dtype == torch.long


def test_default_config_is_the_documented_one():
    task = get_task("randman")
    c = task.config
    assert (c["n_classes"], c["n_units"], c["n_steps"], c["dim_manifold"], c["alpha"],
            c["samples_per_class"]) == (10, 40, 50, 1, 3.0, 1000)
    assert (len(task.train), len(task.valid), len(task.test)) == (6000, 2000, 2000)
    assert task.dt == 1e-3


@pytest.mark.parametrize("bad", [dict(n_units=0), dict(alpha=-1.0), dict(split=(0.5, 0.5, 0.5)),
                                 dict(step_frac=0.0)])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        get_task("randman", **bad)
