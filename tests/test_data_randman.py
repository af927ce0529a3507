"""Randman generator (spec §7.5) and the `randman` task."""

import json
import math

import numpy as np
import pytest
import torch

from train.data import get_task
from train.data.randman import Randman, events_to_raster, frequency_cutoff, make_spiking_dataset


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


def test_matches_reference_bit_for_bit():
    cfg = dict(n_classes=3, n_units=5, n_steps=20, dim=2, n_spikes=2, n_samples=7, alpha=2.0, seed=13)
    ref_events, ref_labels = reference_dataset(**cfg)
    events, labels = make_spiking_dataset(n_classes=3, n_units=5, n_steps=20, dim_manifold=2, n_spikes=2,
                                          samples_per_class=7, alpha=2.0, seed=13)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_array_equal(events, ref_events)


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
    assert torch.all(rm.params[:, :, 0, 0] == 0)
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
