"""get_task registry, argument checking and the shared Task helpers."""

import pytest
import torch

from silava.train.data import TASKS, get_task, pad_collate, task_arguments
from silava.core.data.task import Task, split_indices


def test_registry_names():
    assert set(TASKS) == {"randman", "spoken-digits", "shd", "ssc", "gsc", "folder", "digits-image", "cifar10",
                          "cifar100"}
    for name in TASKS:
        assert "data_dir" in task_arguments(name) or name in ("randman", "digits-image")


def test_unknown_task_lists_choices():
    with pytest.raises(ValueError) as err:
        get_task("mnist")
    msg = str(err.value)
    assert "\n" not in msg and "randman" in msg and "spoken-digits" in msg and "gsc" in msg


def test_unknown_argument_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        get_task("randman", n_hidden=3)
    msg = str(err.value)
    assert "\n" not in msg and "n_hidden" in msg and "n_units" in msg


def test_string_overrides_are_coerced():
    task = get_task("randman", n_classes="2", n_units="4", n_steps="10", samples_per_class="10",
                    alpha="2.5", split="0.5,0.25,0.25")
    assert task.config["n_classes"] == 2 and task.config["alpha"] == 2.5
    assert task.config["split"] == [0.5, 0.25, 0.25]
    with pytest.raises(ValueError, match="n_units"):
        get_task("randman", n_units="many")


def test_pad_collate_variable_length():
    batch = [(torch.ones(3, 2), 1), (torch.ones(5, 2) * 2, 0)]
    x, y = pad_collate(batch)
    assert x.shape == (2, 5, 2) and y.tolist() == [1, 0] and y.dtype == torch.long
    assert torch.all(x[0, 3:] == 0) and torch.all(x[1] == 2)


def test_split_indices():
    a, b, c = split_indices(10, (0.6, 0.2, 0.2))
    assert a.tolist() == list(range(6)) and b.tolist() == [6, 7] and c.tolist() == [8, 9]
    p = split_indices(10, (0.5, 0.5), seed=3)
    assert sorted(p[0].tolist() + p[1].tolist()) == list(range(10))
    assert [q.tolist() for q in split_indices(10, (0.5, 0.5), seed=3)] == [q.tolist() for q in p]


def test_task_rejects_bad_encoding():
    with pytest.raises(ValueError, match="encoding"):
        Task("t", [], [], [], 1, 2, 3, 0.001, "spikes", {})
