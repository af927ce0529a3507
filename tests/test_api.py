"""The public Python API (silava/app/api.py through ``import silava``): each function on a tiny case,
training on your own Dataset and on the folder task, and the errors."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import silava
from conftest import ROOT, needs_lava

TINY = {"n_classes": 3, "n_units": 12, "n_steps": 20, "samples_per_class": 60}
SMALL_NET = dict(hidden=12, batch_size=32, threads=1, quiet=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return silava.fit("randman", tmp_path_factory.mktemp("api") / "r", task_options=TINY, epochs=2, seed=5,
                      **SMALL_NET)


@pytest.fixture(scope="module")
def net(run):
    return silava.quantize(run)


def same_network(a, b) -> bool:
    from silava.core.netfile import networks_equal

    a, b = copy.deepcopy(a), copy.deepcopy(b)
    for n in (a, b):
        n.meta.created = ""
        n.meta.quantization.pop("versions", None)
    return networks_equal(a, b)


# --------------------------------------------------------------------------- the namespace

def test_import_is_lazy_and_lists_the_api():
    code = ("import sys, silava\n"
            "names = dir(silava)\n"
            "assert {'fit', 'quantize', 'load_net', 'save_net', 'simulate', 'report', 'run_lava', 'compare',\n"
            "        'task_arrays'} <= set(names) and set(silava.__all__) <= set(names), names\n"
            "silava.simulate, silava.load_net, silava.task_arrays, silava.SimResult\n"
            "assert 'torch' not in sys.modules and 'lava' not in sys.modules\n"
            "assert callable(silava.fit) and not hasattr(silava, 'nonexistent')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]


def test_subpackages_do_not_shadow_the_functions():
    import silava.export  # noqa: F401
    import silava.train  # noqa: F401

    assert callable(silava.fit) and callable(silava.quantize)
    assert silava.train.__name__ == "silava.train" and silava.export.__name__ == "silava.export"


# --------------------------------------------------------------------------- fit, quantize, files

def test_fit_returns_model_checkpoint_metrics(run):
    assert isinstance(run, silava.TrainResult)
    assert run.checkpoint.name == "ckpt.pt" and run.checkpoint.is_file()
    for name in ("last.pt", "metrics.json", "metrics.csv", "training_curve.png"):
        assert (run.out / name).is_file(), name
    assert [h["epoch"] for h in run.history] == [1, 2] and 0 <= run.test_acc <= 1
    assert run.config["hidden"] == 12 and run.config["task_facts"]["encoding"] == "binary"
    assert not run.model.training
    ckpt = torch.load(run.checkpoint, weights_only=True)
    assert all(torch.equal(v, run.model.state_dict()[k]) for k, v in ckpt["state_dict"].items())
    assert ckpt["metrics"]["test_acc"] == run.test_acc


def test_quantize_equals_the_export_command(run, net, tmp_path):
    from silava.export.to_lava import main as export_main

    assert isinstance(net, silava.Network) and not (run.out / "model.net").exists()
    assert export_main([str(run.checkpoint), "-o", str(tmp_path / "cli.net"), "-q"]) == 0
    assert same_network(net, silava.load_net(tmp_path / "cli.net"))
    again = silava.quantize(run.checkpoint, tmp_path / "api")                # a folder: api/model.net
    for name in ("model.net", "model.quant.json", "model.quant.txt"):
        assert (tmp_path / "api" / name).is_file(), name
    assert same_network(again, net)
    from_model = silava.quantize(run.model, steps=net.meta.steps, encoding="binary")
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(from_model.layers, net.layers))
    coarse = silava.quantize(run, weight_bits=4, layer_decay_bits={1: 16})
    assert coarse.meta.quantization["weight_bits"] == 4


def test_quantize_errors_are_one_line(run, tmp_path):
    from silava.export.quantize import QuantError
    from silava.export.to_lava import ExportError

    with pytest.raises(ExportError, match="checkpoint not found") as err:
        silava.quantize(tmp_path / "missing.pt")
    assert "\n" not in str(err.value)
    with pytest.raises(QuantError, match="weight"):
        silava.quantize(run, weight_bits=12)
    with pytest.raises(silava.ApiError, match="steps="):
        silava.quantize(run.model)
    with pytest.raises(silava.ApiError, match="expected a checkpoint path"):
        silava.quantize(42)
    assert not list(tmp_path.iterdir())


def test_load_and_save_net(net, tmp_path):
    path = silava.save_net(net, tmp_path / "sub" / "m.net")
    assert path.is_file() and same_network(silava.load_net(path), net)
    from silava.core.netfile import NetFileError

    with pytest.raises(NetFileError, match="no such file"):
        silava.load_net(tmp_path / "none.net")
    with pytest.raises(silava.ApiError, match="expected a Network"):
        silava.save_net({"layers": []}, tmp_path / "x.net")


# --------------------------------------------------------------------------- simulate, report, Lava

def test_task_arrays_and_simulate(net):
    from silava.core.tasks import TaskError, load_task_arrays
    from silava.hwsim.simulate import simulate as hwsim_simulate

    x, y = silava.task_arrays(net, "test")
    ref_x, ref_y = load_task_arrays("randman", net.meta.task, split="test")
    assert np.array_equal(x, ref_x) and np.array_equal(y, ref_y) and x.dtype == np.int64
    x2, _ = silava.task_arrays("randman", "test", options=TINY, samples=5)
    x3, _ = silava.task_arrays(dict(net.meta.task), "test", samples=5)
    assert np.array_equal(x2, x[:5]) and np.array_equal(x3, x[:5])
    sim = silava.simulate(net, x)
    assert isinstance(sim, silava.SimResult)
    assert np.array_equal(sim.readout, hwsim_simulate(net, x).readout)
    lava_tl = silava.simulate(net, x[:2], timeline="lava", record=True)
    assert lava_tl.readout.shape[1] == net.meta.steps + len(net.layers) and lava_tl.states is not None
    from silava.core.inputs import InputError

    with pytest.raises(InputError, match="features"):
        silava.simulate(net, np.zeros((2, 5, 3), int))
    with pytest.raises(silava.ApiError, match="split"):
        silava.task_arrays("randman", "dev")
    with pytest.raises(TaskError, match="unknown task"):
        silava.task_arrays("mnist")


def test_report(net, tmp_path):
    x, _ = silava.task_arrays(net, "test", samples=6)
    hw = silava.report(net, x, out=tmp_path / "hw")
    assert isinstance(hw, silava.HardwareReport) and hw.data["counts"]["samples"] == 6
    assert {p.name for p in hw.files} >= {"report.json", "report.md", "raster.png"}
    assert json.loads((tmp_path / "hw" / "report.json").read_text()) == hw.to_dict()
    assert "Loihi 2 hardware estimate" in hw.summary and hw.markdown.startswith("# Loihi 2 hardware report")
    sim = silava.simulate(net, x)
    assert silava.report(net, x, sim=sim).data["counts"] == hw.data["counts"]
    with pytest.raises(silava.ApiError, match="same 6 samples"):
        silava.report(net, x, sim=silava.simulate(net, x[:2]))


@needs_lava
def test_run_lava_is_bit_exact(net, shm_guard):
    x, y = silava.task_arrays(net, "test", samples=3)
    res = silava.run_lava(net, x, progress=False)
    assert isinstance(res, silava.LavaResult)
    assert np.array_equal(res.readout, silava.simulate(net, x).readout)
    assert res.predictions.shape == (3,) and res.wall_s > 0 and 0 <= res.accuracy(y) <= 1


def test_run_lava_without_lava_says_what_to_install(net, monkeypatch):
    from silava import lava_models

    monkeypatch.setattr(lava_models, "lava_available", lambda: False)
    with pytest.raises(lava_models.LavaMissingError, match="pip install") as err:
        silava.run_lava(net, np.zeros((1, 20, 12), int))
    assert isinstance(err.value, ImportError) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- compare

def test_compare(run, net, tmp_path):
    from silava.app.compare import CompareError

    cmp = silava.compare(run, lava_samples=0, out=tmp_path)
    assert isinstance(cmp, silava.Comparison)
    data = cmp.to_dict()
    json.dumps(data, allow_nan=False)
    assert json.loads((tmp_path / "compare.json").read_text()) == data
    assert (tmp_path / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" == cmp.plot()[:8]
    assert "float vs hwsim" in cmp.table and "_network" not in data
    assert same_network(cmp.network, net)
    x, y = silava.task_arrays(net, "test")
    sim = silava.simulate(net, x)
    assert cmp.accuracy["hwsim"] == pytest.approx(float(np.mean(sim.predictions == y)))
    assert cmp.accuracy["float"] == pytest.approx(run.test_acc)
    reused = silava.compare(run.checkpoint, net=net, sim=sim, lava_samples=0)
    assert reused.data["comparison"]["predictions"] == data["comparison"]["predictions"]
    given = silava.compare(run, inputs=(x[:7], y[:7]), lava_samples=0)
    assert given.data["comparison"]["samples"] == 7 and given.data["source"]["task"] == "inputs"
    with pytest.raises(CompareError, match="labels go up to 9"):
        silava.compare(run, inputs=(x[:3], np.array([0, 1, 9])), lava_samples=0)
    with pytest.raises(silava.ApiError, match="drop net="):
        silava.compare(run, net=net, weight_bits=6, lava_samples=0)


# --------------------------------------------------------------------------- your own data

class FrameDataset(torch.utils.data.Dataset):
    """Tonic-like: (frames [T, 1, F] float tensor, int label); class 1 fires more on the first half."""

    def __init__(self, n: int, seed: int, steps: int = 15, inputs: int = 6) -> None:
        g = np.random.default_rng(seed)
        self.y = g.integers(0, 2, n)
        rate = np.where(self.y[:, None, None, None] == 1, 0.5, 0.1) * (np.arange(inputs) < inputs // 2)
        self.x = (g.random((n, steps, 1, inputs)) < rate + 0.05).astype(np.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.x[i]), int(self.y[i])


def test_fit_on_your_own_dataset(tmp_path):
    test = FrameDataset(40, 1)
    res = silava.fit(FrameDataset(120, 0), tmp_path / "u", test=test, epochs=2, hidden=8, batch_size=16,
                     threads=1, quiet=True)
    ckpt = torch.load(res.checkpoint, weights_only=True)
    assert ckpt["data_config"]["name"] == "dataset" and ckpt["data_config"]["sizes"] == {"train": 120, "test": 40}
    assert res.config["task_facts"] == {"n_inputs": 6, "n_classes": 2, "n_steps": 15, "dt": 1e-3,
                                        "encoding": "binary"}
    assert len(res.history) == 2
    net = silava.quantize(res)
    assert (net.meta.n_inputs, net.meta.steps, net.meta.input_encoding) == (6, 15, "binary")
    x, y = test.x.reshape(40, 15, 6).astype(np.int64), test.y
    cmp = silava.compare(res, inputs=(x, y), lava_samples=0)
    assert cmp.accuracy["float"] == pytest.approx(res.test_acc)
    from silava.app.compare import CompareError

    with pytest.raises(CompareError, match="Python Dataset"):
        silava.compare(res, lava_samples=0)


class BadDataset(torch.utils.data.Dataset):
    def __init__(self, item) -> None:
        self.item = item

    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int):
        return self.item(i)


@pytest.mark.parametrize("item, needle", [
    (lambda i: (torch.zeros(5), 0), "expected [T, F]"),
    (lambda i: (torch.zeros(5, 2), torch.tensor([0.0, 1.0])), "not a one-hot vector"),
    (lambda i: (torch.zeros(5, 2), "cat"), "not an integer class"),
    (lambda i: (torch.zeros(5, 2 + i), 0), "every sample needs the same F"),
    (lambda i: (torch.full((5, 2), float("nan")), 0), "NaN"),
    (lambda i: torch.zeros(5, 2), "expected a pair (x, label)"),
    (lambda i: (torch.zeros(5, 2), -1), "negative label"),
])
def test_bad_datasets_one_line(tmp_path, item, needle):
    from silava.train.data.user import DatasetError

    with pytest.raises(DatasetError) as err:
        silava.fit(BadDataset(item), tmp_path / "bad", epochs=1, quiet=True)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "bad").exists()


def test_fit_argument_errors(tmp_path):
    from silava.train.config import ConfigError

    with pytest.raises(silava.ApiError, match="task_options"):
        silava.fit(FrameDataset(10, 0), tmp_path / "a", task_options={"n_steps": 3})
    with pytest.raises(silava.ApiError, match="own splits"):
        silava.fit("randman", tmp_path / "a", valid=FrameDataset(10, 0))
    with pytest.raises(ConfigError, match="'lr' must be > 0"):
        silava.fit("randman", tmp_path / "a", lr=-1)
    with pytest.raises(ConfigError, match="unknown neuron"):
        silava.fit("randman", tmp_path / "a", neuron="hodgkin")
    assert not (tmp_path / "a").exists()


# --------------------------------------------------------------------------- the folder task, CLI and API

def test_folder_task_from_the_command_line(tmp_path, capsys):
    """silava train --task folder --data-dir DIR, then silava sim --task folder reads the same files."""
    from test_data_folder import npz_folder

    from silava.app.cli import main as cli

    data = npz_folder(tmp_path / "mydata", n=(60, 20, 20), steps=10, inputs=6)
    out = tmp_path / "run"
    assert cli(["train", "--task", "folder", "--data-dir", str(data), "--hidden", "8", "--epochs", "1",
                "--threads", "1", "--quiet", "--out", str(out)]) == 0
    assert cli(["export", str(out / "ckpt.pt"), "-q"]) == 0
    capsys.readouterr()
    assert cli(["sim", str(out / "model.net"), "--task", "folder"]) == 0
    assert "20 samples" in capsys.readouterr().out
    assert cli(["sim", str(out / "model.net"), "--inputs", str(data / "test.npz")]) == 0
    net = silava.load_net(out / "model.net")
    assert net.meta.task["name"] == "folder" and net.meta.task["data_dir"] == str(data)

    (data / "valid.npz").write_bytes(b"garbage")                       # a bad file: one line, exit 2
    capsys.readouterr()
    assert cli(["train", "--task", "folder", "--data-dir", str(data), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "valid.npz is not a readable .npz" in err and "numpy.savez" in err
    assert cli(["sim", str(out / "model.net"), "--task", "folder"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "valid.npz" in err


def test_folder_task_through_the_api(tmp_path):
    from test_data_folder import h5_folder

    data = h5_folder(tmp_path / "events", n=(40, 0, 12), units=30)
    res = silava.fit("folder", tmp_path / "r", task_options={"data_dir": str(data), "n_steps": 12}, epochs=1,
                     **SMALL_NET)
    net = silava.quantize(res)
    assert net.meta.input_encoding == "counts" and net.meta.steps == 12 and net.meta.n_inputs == 30
    x, y = silava.task_arrays(net, "test")
    assert x.shape == (12, 12, 30) and silava.simulate(net, x).predictions.shape == (12,)
