"""export/to_lava.py: outputs, metadata, options, and one test per kind of bad input."""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, needs_lava
from silava.core import netfile
from silava.export.to_lava import main
from silava.train.checkpoint import save_checkpoint
from silava.train.model import SpArchNet

DATA = {"name": "randman", "n_units": 16, "n_classes": 4, "n_steps": 30, "dt": 2e-3}


def _ckpt(path, neuron="csilif", data=None, metrics=None, edit=None):
    torch.manual_seed(0)
    model = SpArchNet(16, [12, 10], 4, neuron)
    if edit is not None:
        edit(model)
    save_checkpoint(path, model, data_config=dict(data or DATA), train_config={"task": "randman"},
                    metrics=metrics if metrics is not None else {"test_acc": 0.8125, "best_valid_acc": 0.85,
                                                                 "history": []}, seed=1)
    return path


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    _ckpt(d / "ckpt.pt")
    return d


def _bad(capsys, argv, *needles):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# --------------------------------------------------------------------------- success

def test_default_outputs_and_metadata(run_dir, capsys):
    assert main([str(run_dir / "ckpt.pt")]) == 0
    out = capsys.readouterr().out
    assert sorted(os.listdir(run_dir)) == ["ckpt.pt", "model.net", "model.quant.json", "model.quant.txt"]
    assert f"wrote {run_dir / 'model.net'}" in out and "Quantization report" in out
    net = netfile.read(run_dir / "model.net")
    m = net.meta
    assert (m.steps, m.n_inputs, m.n_classes, m.dt) == (30, 16, 4, 2e-3)
    assert m.input_encoding == "binary" and m.decision == "softmax_sum" and m.timeline == "lava"
    assert m.source_neuron == "csilif" and m.float_accuracy == 0.8125
    assert m.checkpoint_sha256 == hashlib.sha256((run_dir / "ckpt.pt").read_bytes()).hexdigest()
    assert m.task == DATA
    assert m.quantization["weight_bits"] == 8 and "versions" in m.quantization and m.silava_version
    assert m.created.endswith("+00:00")
    assert [l.neuron_type for l in net.layers] == ["CSILIF", "CSILIF", "LI"]
    assert all(l.float_params is not None for l in net.layers)
    report = json.loads((run_dir / "model.quant.json").read_text())
    assert [l["type"] for l in report["layers"]] == ["CSILIF", "CSILIF", "LI"]
    assert "Quantization report" in (run_dir / "model.quant.txt").read_text()


def test_output_and_report_dir_options(run_dir, tmp_path, capsys):
    out = tmp_path / "deploy" / "net1.net"
    rep = tmp_path / "reports"
    assert main([str(run_dir), "-o", str(out), "--report-dir", str(rep), "-q"]) == 0
    assert out.is_file() and (rep / "net1.quant.json").is_file() and (rep / "net1.quant.txt").is_file()
    assert sorted(os.listdir(run_dir)) == ["ckpt.pt"]
    assert "Quantization report" not in capsys.readouterr().out
    existing = tmp_path / "here"
    existing.mkdir()
    assert main([str(run_dir / "ckpt.pt"), "-o", str(existing), "-q"]) == 0
    assert sorted(os.listdir(existing)) == ["model.net", "model.quant.json", "model.quant.txt"]


def test_quantization_options(run_dir, capsys):
    argv = [str(run_dir / "ckpt.pt"), "--weight-bits", "6", "--decay-bits", "16", "--state-frac-bits", "14",
            "--layer-decay-bits", "2=12", "--layer-state-frac-bits", "0=13", "1=15", "-q"]
    assert main(argv) == 0
    net = netfile.read(run_dir / "model.net")
    assert [l.neuron["decayBits"] for l in net.layers] == [16, 16, 12]
    assert [l.neuron["stateFracBits"] for l in net.layers] == [13, 15, 14]
    assert all(np.all(l.weight % 8 == 0) for l in net.layers)   # 6-bit mantissa: w = 2^3 m
    q = net.meta.quantization
    assert q["weight_bits"] == 6 and q["layer_state_frac_bits"] == {"0": 13, "1": 15}


def test_counts_task_and_missing_accuracy(tmp_path, capsys):
    data = {"name": "shd", "data_dir": "/nowhere", "n_steps": 100, "max_time": 1.0, "spatial_bin": 5}
    path = _ckpt(tmp_path / "ckpt.pt", neuron="silif", data=data, metrics={"test_acc": None, "history": []})
    # the model's input width (16) is what the file records; the task itself is never loaded
    assert main([str(path), "-q"]) == 0
    net = netfile.read(tmp_path / "model.net")
    assert net.meta.input_encoding == "counts" and net.layers[0].input_message_bits == 8
    assert net.meta.steps == 100 and math.isclose(net.meta.dt, 1.0 / 99)
    assert math.isnan(net.meta.float_accuracy)


def test_cuba_export_folds_the_exponent(tmp_path, capsys):
    path = _ckpt(tmp_path / "ckpt.pt", neuron="lif")
    assert main([str(path), "-q"]) == 0
    net = netfile.read(tmp_path / "model.net")
    cuba = net.layers[:2]
    assert all(l.neuron_type == "CUBA" and l.weight_exp == 0 for l in cuba)
    rep = json.loads((tmp_path / "model.quant.json").read_text())
    for l, r in zip(cuba, rep["layers"]):
        assert l.neuron["stateFracBits"] == 12 - r["exponent_folded_into_s"]
        assert l.neuron["vThMant"] == 2 ** l.neuron["stateFracBits"] // 64


@needs_lava
@pytest.mark.lava
def test_exported_cuba_layers_load_in_netx(tmp_path, capsys):
    from test_netfile import netx_summary

    path = _ckpt(tmp_path / "ckpt.pt", neuron="lif")
    assert main([str(path), "-q"]) == 0
    net = netfile.read(tmp_path / "model.net")
    # netx has no LI neuron: the CUBA hidden layers load on their own (num_layers skips the readout)
    (blocks,) = netx_summary([(str(tmp_path / "model.net"), 2)])
    assert len(blocks) == 2
    for block, layer in zip(blocks, net.layers):
        assert block["vth"][0] == layer.neuron["vThMant"]
        np.testing.assert_array_equal(block["bias"], layer.bias)


def test_runs_as_a_file_from_any_cwd_and_via_silava(run_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, str(ROOT / "export" / "to_lava.py"), str(run_dir / "ckpt.pt"), "-q"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (run_dir / "model.net").is_file()
    from silava.app.cli import main as silava_main
    out = tmp_path / "via_cli.net"
    assert silava_main(["export", str(run_dir / "ckpt.pt"), "-o", str(out), "-q"]) == 0
    assert out.is_file()
    proc = subprocess.run([sys.executable, str(ROOT / "export" / "to_lava.py"), str(tmp_path / "nope.pt")],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- bad input

def test_truncated_and_corrupt_checkpoints(run_dir, capsys):
    data = (run_dir / "ckpt.pt").read_bytes()
    (run_dir / "ckpt.pt").write_bytes(data[: len(data) // 2])
    _bad(capsys, [str(run_dir / "ckpt.pt")], "corrupt or truncated checkpoint")
    (run_dir / "ckpt.pt").write_text("this is not a checkpoint")
    _bad(capsys, [str(run_dir / "ckpt.pt")], "corrupt or truncated")
    assert sorted(os.listdir(run_dir)) == ["ckpt.pt"]


def test_not_a_silava_checkpoint(tmp_path, capsys):
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    _bad(capsys, [str(tmp_path / "other.pt")], "not a silava checkpoint")
    _bad(capsys, [str(tmp_path / "missing.pt")], "checkpoint not found")
    assert sorted(os.listdir(tmp_path)) == ["other.pt"]


def test_unsupported_neuron(tmp_path, capsys, monkeypatch):
    from silava.train.neurons.rf import RF

    path = _ckpt(tmp_path / "ckpt.pt", neuron="rf")
    monkeypatch.setattr(RF, "kind", "")         # a neuron without an integer model (every shipped one has one)
    _bad(capsys, [str(path)], "'rf' is not exportable", "silif", "csilif")
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]


def test_nan_and_inf_parameters(tmp_path, capsys):
    def nan_weight(model):
        with torch.no_grad():
            model.layers[0].linear.weight[0, 0] = float("nan")

    path = _ckpt(tmp_path / "a" / "ckpt.pt", edit=nan_weight)
    _bad(capsys, [str(path)], "non-finite values (NaN/Inf)")

    def negative_var(model):   # finite tensors, but the folded weights are NaN
        with torch.no_grad():
            model.layers[1].bn.running_var[0] = -2.0

    path = _ckpt(tmp_path / "b" / "ckpt.pt", edit=negative_var)
    _bad(capsys, [str(path)], "hidden layer 1", "non-finite folded")
    assert sorted(os.listdir(tmp_path / "a")) == ["ckpt.pt"] and sorted(os.listdir(tmp_path / "b")) == ["ckpt.pt"]


def test_unrepresentable_weights(tmp_path, capsys):
    def huge(model):
        with torch.no_grad():
            model.layers[0].linear.weight.mul_(1e4)

    path = _ckpt(tmp_path / "ckpt.pt", edit=huge)
    _bad(capsys, [str(path)], "layer 0 (CSILIF): weight exponent", "above the limit 7", "--state-frac-bits")
    assert sorted(os.listdir(tmp_path)) == ["ckpt.pt"]

    path = _ckpt(tmp_path / "lif" / "ckpt.pt", neuron="lif", edit=huge)
    _bad(capsys, [str(path)], "layer 0 (CUBA): state fraction bits", "after folding the weight exponent")
    assert sorted(os.listdir(tmp_path / "lif")) == ["ckpt.pt"]


def test_unwritable_output_paths(run_dir, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    _bad(capsys, [str(run_dir / "ckpt.pt"), "-o", str(blocker / "model.net")], "a_file is not a directory",
         "choose another path")
    assert sorted(os.listdir(run_dir)) == ["ckpt.pt"]
    # the network could be written but the report cannot: nothing is left, not even model.net
    _bad(capsys, [str(run_dir / "ckpt.pt"), "--report-dir", str(blocker / "r")], "--report-dir", "not a directory")
    assert sorted(os.listdir(run_dir)) == ["ckpt.pt"]
    assert sorted(os.listdir(tmp_path)) == ["a_file", "run"]


@pytest.mark.parametrize("extra,needles", [
    (["--weight-bits", "1"], ["weight bits 1 out of range [2, 8]"]),
    (["--weight-bits", "9"], ["weight bits 9"]),
    (["--decay-bits", "30"], ["--decay-bits", "D = 30", "[8, 24]"]),
    (["--state-frac-bits", "4"], ["--state-frac-bits", "s = 4"]),
    (["--layer-decay-bits", "x"], ["--layer-decay-bits: expected LAYER=BITS"]),
    (["--layer-decay-bits", "7=16"], ["layer index 7 out of range [0, 2]"]),
    (["--layer-state-frac-bits", "0=30"], ["layer 0 (CSILIF): state fraction bits s = 30"]),
    (["--state-frac-bits", "6"], ["layer 0 (CSILIF): threshold mantissa vThMant = 0.5"]),
    (["--no-such-option"], ["unrecognized arguments: --no-such-option"]),
])
def test_bad_options(run_dir, capsys, extra, needles):
    _bad(capsys, [str(run_dir / "ckpt.pt"), *extra], *needles)
    assert sorted(os.listdir(run_dir)) == ["ckpt.pt"]


def test_cuba_decay_width_override_and_graded_task_are_rejected(tmp_path, capsys):
    path = _ckpt(tmp_path / "lif" / "ckpt.pt", neuron="lif")
    _bad(capsys, [str(path), "--layer-decay-bits", "0=16"], "layer 0 (CUBA): decay bits 16", "12-bit")
    path = _ckpt(tmp_path / "gsc" / "ckpt.pt", data={"name": "gsc", "data_dir": "/x", "num_mel_bins": 16})
    _bad(capsys, [str(path)], "task 'gsc' has real-valued")
    assert sorted(os.listdir(tmp_path / "gsc")) == ["ckpt.pt"]
