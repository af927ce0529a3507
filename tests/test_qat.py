"""Quantization-aware training (train/qat.py, train/train.py --qat).

* the torch fold + quantizer == export/fold.py + export/quantize.py, integer for integer;
* the QAT forward (silava.train.intsim on the quantized parameters) == hwsim on the exported model.net;
* straight-through gradients reach every trainable parameter and track the float gradients;
* QAT recovers fixed-point accuracy lost to an aggressive quantization (hwsim on the exported file);
* the CLI: ``--qat --from`` end to end, and one test per kind of bad input.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import active_batchnorm
from silava.export.fold import fold_model
from silava.export.quantize import QuantConfig, QuantError, quantize_network
from silava.hwsim.simulate import simulate as hw_simulate
from silava.train import qat
from silava.train.checkpoint import load_checkpoint, save_checkpoint
from silava.train.model import SpArchNet
from silava.train.train import main

NEURONS = ["silif", "csilif", "lif", "adlif", "cadlif"]
SETTINGS = [
    {},
    {"decay_bits": 16, "state_frac_bits": 14, "layer_decay_bits": {2: 12}, "layer_state_frac_bits": {0: 15}},
    {"weight_bits": 4, "decay_bits": 8, "state_frac_bits": 10},
]
# A 3-class randman task small enough to train a SiLIF net in a few seconds.
TINY_DATA = {"n_classes": 3, "n_units": 12, "n_steps": 20, "samples_per_class": 150}
AGGRESSIVE = {"decay_bits": 8, "state_frac_bits": 8}


def _active(model: SpArchNet, seed: int) -> SpArchNet:
    """Random BatchNorm statistics and affine parameters that make every layer spike."""
    return active_batchnorm(model, torch.Generator().manual_seed(seed))


def _model(neuron: str, seed: int = 0, trained: bool = False, dropout: float = 0.1) -> SpArchNet:
    torch.manual_seed(seed)
    model = _active(SpArchNet(20, [24, 16], 5, neuron, dropout=dropout), seed + 1)
    if trained:   # a few float training steps: parameters, BatchNorm statistics and clamps move
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        gen = torch.Generator().manual_seed(seed)
        x = (torch.rand(16, 30, 20, generator=gen) < 0.3).float()
        y = torch.randint(0, 5, (16,), generator=gen)
        model.train()
        for _ in range(4):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        model.eval()
    return model


def _spikes(batch: int, steps: int, n: int, seed: int, rate: float = 0.3) -> torch.Tensor:
    return (torch.rand(batch, steps, n, generator=torch.Generator().manual_seed(seed)) < rate).float()


# --------------------------------------------------------------------------- quantizer == export

@pytest.mark.parametrize("trained", [False, True], ids=["init", "trained"])
@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "wide", "narrow"])
@pytest.mark.parametrize("neuron", NEURONS)
def test_torch_quantizer_equals_export(neuron, settings, trained):
    model = _model(neuron, seed=3, trained=trained)
    for bits in (0, 8):
        net, _ = quantize_network(fold_model(model), QuantConfig(**settings), input_message_bits=bits)
        mine = qat.quantize_model(model, qat.QuantSettings(**settings), input_message_bits=bits)
        assert len(mine) == len(net.layers)
        for i, (ref, layer) in enumerate(zip(net.layers, mine)):
            got = qat.integer_layer(layer)
            where = f"{neuron} layer {i}"
            assert got["neuron_type"] == ref.neuron_type, where
            assert got["weight_exp"] == ref.weight_exp, where
            assert got["input_message_bits"] == ref.input_message_bits, where
            np.testing.assert_array_equal(got["weight"].numpy(), ref.weight, err_msg=where)
            np.testing.assert_array_equal(got["bias"].numpy(), ref.bias, err_msg=where)
            assert set(got["neuron"]) == set(ref.neuron), where
            for key, value in ref.neuron.items():
                np.testing.assert_array_equal(np.asarray(got["neuron"][key]), np.asarray(value),
                                              err_msg=f"{where} {key}")
    assert qat.QuantSettings(**settings).to_dict() == QuantConfig(**settings).to_dict()


def test_cuba_exponent_folding_is_exercised():
    """The CUBA path that moves the weight exponent into the state scale is compared above."""
    layers = qat.quantize_model(_model("lif", seed=3), qat.QuantSettings())
    assert any(l.params["stateFracBits"] != 12 for l in layers[:-1])


def test_tiny_weights_clamp_the_exponent_like_export():
    """Below the Loihi minimum the exponent stays at -8 (fewer mantissa bits), in both quantizers."""
    model = _model("silif", seed=3)
    settings = {"state_frac_bits": 6}
    net, stats = quantize_network(fold_model(model), QuantConfig(**settings))
    mine = qat.quantize_model(model, qat.QuantSettings(**settings))
    clamped = [i for i, st in enumerate(stats) if st.exponent_clamped_from is not None]
    assert clamped, "the case should need an exponent below -8"
    for i in clamped:
        assert stats[i].exponent_clamped_from < -8 and net.layers[i].weight_exp == -8
        got = qat.integer_layer(mine[i])
        assert got["weight_exp"] == -8
        np.testing.assert_array_equal(got["weight"].numpy(), net.layers[i].weight)
        assert np.abs(net.layers[i].weight).max() < 254


@pytest.mark.parametrize("neuron,settings", [
    ("silif", {"state_frac_bits": 23}),
    ("silif", {"decay_bits": 7}),
    ("csilif", {"state_frac_bits": 6}),             # CSILIF vThMant = 2^6 / 128 is not an integer
    ("lif", {"layer_decay_bits": {0: 16}}),         # CUBA decays are 12-bit
    ("silif", {"layer_state_frac_bits": {3: 12}}),  # no layer 3
    ("silif", {"weight_bits": 1}),
])
def test_unrepresentable_settings_fail_like_export(neuron, settings):
    model = _model(neuron, seed=3)
    with pytest.raises(QuantError):
        quantize_network(fold_model(model), QuantConfig(**settings))
    with pytest.raises(qat.QATError) as err:
        qat.quantize_model(model, qat.QuantSettings(**settings))
    assert "\n" not in str(err.value)


def test_a_neuron_without_a_kind_is_rejected(monkeypatch):
    from silava.train.neurons.rf import RF

    monkeypatch.setattr(RF, "kind", "")
    with pytest.raises(qat.QATError, match="not exportable"):
        qat.quantize_model(SpArchNet(8, [6], 3, "rf"))


# --------------------------------------------------------------------------- QAT forward == hwsim

@pytest.mark.parametrize("neuron", NEURONS)
def test_qat_forward_is_bit_exact_with_hwsim(neuron):
    model = _model(neuron, seed=5, trained=True)
    x = _spikes(6, 40, 20, seed=1)
    net, _ = quantize_network(fold_model(model), QuantConfig())
    net.meta.steps = 40
    hw = hw_simulate(net, x.numpy().astype(np.int64), timeline="logical")
    qnet = qat.QATNet(model).eval()
    with torch.no_grad():
        res = qnet.simulate(x)
        out = qnet(x)
    np.testing.assert_array_equal(res.outputs[-1].numpy(), hw.readout)
    for k, spikes in enumerate(hw.spikes):
        np.testing.assert_array_equal(res.outputs[k].numpy(), spikes)
    np.testing.assert_array_equal(out.argmax(1).numpy(), hw.predictions)
    assert np.mean([s.mean() for s in hw.spikes]) > 0.01   # not a silent network


def test_qat_forward_graded_inputs_and_wide_grid():
    model = _model("csilif", seed=2)
    x = torch.randint(0, 300, (3, 30, 20)).float() * (torch.rand(3, 30, 20) < 0.3)  # counts, some above 255
    settings = {"decay_bits": 20, "state_frac_bits": 16}
    net, _ = quantize_network(fold_model(model), QuantConfig(**settings), input_message_bits=8)
    net.meta.steps = 30
    hw = hw_simulate(net, x.numpy().astype(np.int64), timeline="logical")
    with torch.no_grad():
        res = qat.QATNet(model, qat.QuantSettings(**settings), input_message_bits=8).eval().simulate(x)
    np.testing.assert_array_equal(res.outputs[-1].numpy(), hw.readout)


def test_training_mode_forward_has_the_same_values():
    """The straight-through estimators do not change any value: without dropout, the training-mode
    forward (with autograd) equals the eval forward bit for bit."""
    model = _model("silif", seed=4, dropout=0.0)
    x = _spikes(4, 30, 20, seed=2)
    qnet = qat.QATNet(model)
    with torch.no_grad():
        ref = qnet.eval().simulate(x).outputs
    got = qnet.train().simulate(x).outputs
    assert got[-1].requires_grad
    for a, b in zip(ref, got):
        assert torch.equal(a, b.detach())


def test_initial_state_is_zero_whatever_the_checkpoint_says():
    zeros = _model("csilif", seed=4)
    random = SpArchNet(20, [24, 16], 5, "csilif", neuron_kwargs={"init_state": "random"})
    random.load_state_dict(zeros.state_dict())
    x = _spikes(3, 25, 20, seed=5)
    with torch.no_grad():
        a = qat.QATNet(zeros).eval()(x)
        b = qat.QATNet(random.eval()).eval()(x)
        c = qat.QATNet(random.eval()).eval()(x)
        assert not torch.equal(random(x), random(x))      # the float model draws random initial states
    assert torch.equal(a, b) and torch.equal(b, c)


def test_batchnorm_is_frozen_in_qat_training():
    model = _model("silif", seed=4)
    qnet = qat.QATNet(model).train()
    assert all(not l.bn.training for l in [*model.layers, model.readout])
    assert all(l.dropout.training for l in model.layers)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    opt = torch.optim.Adam(qnet.parameters(), lr=1e-3)
    torch.nn.functional.cross_entropy(qnet(_spikes(4, 20, 20, seed=0)), torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    assert all(torch.equal(before[k], model.state_dict()[k]) for k in before)


def test_weights_that_become_unrepresentable_stop_training_cleanly():
    """If QAT grows the readout weights past the largest exponent, QATNet raises QATStop, and
    fit() ends early keeping the best weights so far (what train.py --qat then writes)."""
    from silava.train.loop import StopTraining, fit

    model = _model("silif", seed=4)
    x, y = _spikes(8, 20, 20, seed=1), torch.arange(8) % 5
    data = [(x, y)]
    qnet = qat.QATNet(model)
    calls = {"n": 0}
    real_forward = qnet.forward

    def forward(inp):
        calls["n"] += 1
        if calls["n"] == 4:   # epoch 2, training batch: the readout weights blow up
            with torch.no_grad():
                model.readout.linear.weight.mul_(1e5)
        return real_forward(inp)

    qnet.forward = forward
    result = fit(qnet, data, data, epochs=3, lr=1e-3, patience=1, factor=0.5)
    assert result.stopped_early and "weight exponent" in result.stopped_early and "epoch 2" in result.stopped_early
    assert len(result.history) == 1 and result.best_epoch == 1
    qnet.load_state_dict(result.best_state)
    with pytest.raises(qat.QATStop) as err:   # the blown-up weights are not what fit() kept
        model.readout.linear.weight.data.mul_(1e5)
        real_forward(x)
    assert isinstance(err.value, qat.QATError) and isinstance(err.value, StopTraining)


# --------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("neuron", NEURONS)
def test_gradients_reach_every_parameter(neuron):
    model = _model(neuron, seed=0)
    qnet = qat.QATNet(model).train()
    x, y = _spikes(16, 40, 20, seed=3), torch.arange(16) % 5
    torch.nn.functional.cross_entropy(qnet(x), y).backward()
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == len(list(qnet.parameters()))
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("neuron", NEURONS)
def test_straight_through_gradients_track_the_float_gradients(neuron):
    """On a fine grid the QAT gradient points where the float model's gradient points (same units)."""
    model = _model(neuron, seed=0, dropout=0.0)
    x, y = _spikes(16, 40, 20, seed=3), torch.arange(16) % 5
    grads = []
    for net in (model, qat.QATNet(model, qat.QuantSettings(decay_bits=24, state_frac_bits=18)).train()):
        model.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        grads.append(torch.cat([p.grad.flatten().double() for p in model.parameters()]))
    model.eval()
    cos = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)
    assert cos > 0.9, float(cos)
    ratio = grads[1].norm() / grads[0].norm()
    assert 0.5 < ratio < 2.0, float(ratio)


# --------------------------------------------------------------------------- end to end (checkpoints)

@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A small SiLIF net trained a few epochs on a tiny randman task (the QAT source)."""
    base = tmp_path_factory.mktemp("qat")
    argv = ["--task", "randman", "--neuron", "silif", "--hidden", "24", "--epochs", "5", "--lr", "0.02",
            "--batch-size", "16", "--quiet", "--out", str(base / "src"), "--seed", "1"]
    for key, value in TINY_DATA.items():
        argv.append(f"--data-opt={key}={value}")
    assert main(argv) == 0
    return base


@pytest.fixture(scope="module")
def qat_run(source_run):
    """``--qat --from`` with the aggressive setting; returns the run directory."""
    out = source_run / "qat"
    argv = ["--qat", "--from", str(source_run / "src" / "ckpt.pt"), "--epochs", "3", "--lr", "0.002",
            "--quiet", "--out", str(out), *[f"--{k.replace('_', '-')}={v}" for k, v in AGGRESSIVE.items()]]
    assert main(argv) == 0
    return out


def _hwsim_accuracy(ckpt: Path, out: Path, settings: dict, split: str = "test"):
    """Export ``ckpt`` with ``settings`` and run hwsim (Lava timeline) on the task split."""
    from silava.export.to_lava import export_checkpoint
    from silava.core.tasks import load_task_arrays

    res = export_checkpoint(ckpt, output=str(out), config=QuantConfig(**settings))
    net = res.network
    x, y = load_task_arrays("randman", net.meta.task, split=split, steps=net.meta.steps, n_inputs=net.meta.n_inputs)
    sim = hw_simulate(net, x, timeline="lava")
    return float(np.mean(sim.predictions == y)), sim, x, y


def test_qat_eval_equals_hwsim_on_the_exported_checkpoint(source_run, tmp_path):
    ckpt = source_run / "src" / "ckpt.pt"
    acc, sim, x, _ = _hwsim_accuracy(ckpt, tmp_path / "model.net", {})
    model, _ = load_checkpoint(ckpt)
    qnet = qat.QATNet(model).eval()
    with torch.no_grad():
        res = qnet.simulate(torch.from_numpy(x).float())
        out = qnet(torch.from_numpy(x).float())
    steps = x.shape[1]
    np.testing.assert_array_equal(res.outputs[-1].numpy(), sim.in_window(sim.readout, len(res.outputs) - 1))
    np.testing.assert_array_equal(out.argmax(1).numpy(), sim.predictions)
    assert steps == TINY_DATA["n_steps"] and acc > 0.5


def test_qat_recovers_fixed_point_accuracy(source_run, qat_run, tmp_path):
    """Aggressive grid (decay 8 bits, state 8 bits): hwsim accuracy after QAT >= before (small tolerance)."""
    before, *_ = _hwsim_accuracy(source_run / "src" / "ckpt.pt", tmp_path / "before.net", AGGRESSIVE)
    after, *_ = _hwsim_accuracy(qat_run / "ckpt.pt", tmp_path / "after.net", AGGRESSIVE)
    ckpt = torch.load(qat_run / "ckpt.pt", weights_only=True)
    m = ckpt["metrics"]
    print(f"\nQAT {AGGRESSIVE}: float test {m['before_qat']['float']['test_acc']:.3f} -> {m['float']['test_acc']:.3f}; "
          f"fixed-point test (hwsim) {before:.3f} -> {after:.3f}; fixed-point valid "
          f"{m['before_qat']['fixed_point']['valid_acc']:.3f} -> {m['fixed_point']['valid_acc']:.3f}")
    # the QAT run measured exactly what hwsim measures on the exported files
    assert m["before_qat"]["fixed_point"]["test_acc"] == pytest.approx(before, abs=1e-12)
    assert m["fixed_point"]["test_acc"] == pytest.approx(after, abs=1e-12)
    assert after >= before - 0.02


# --------------------------------------------------------------------------- CLI

def test_cli_writes_a_normal_checkpoint(source_run, qat_run, capsys):
    src = source_run / "src" / "ckpt.pt"
    for name in ("ckpt.pt", "metrics.csv", "metrics.json", "training_curve.png"):
        assert (qat_run / name).is_file(), name
    model, ckpt = load_checkpoint(qat_run)
    src_ckpt = torch.load(src, weights_only=True)
    assert ckpt["model_config"] == src_ckpt["model_config"] and ckpt["data_config"] == src_ckpt["data_config"]
    q = ckpt["train_config"]["qat"]
    assert q["from"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert {k: q[k] for k in QuantConfig().to_dict()} == QuantConfig(**AGGRESSIVE).to_dict()
    assert q["init_state"] == "zeros"
    tc = ckpt["train_config"]
    assert tc["epochs"] == 3 and tc["lr"] == 0.002 and tc["patience"] == 3
    m = ckpt["metrics"]
    assert m["finished"] is True and len(m["history"]) == 3
    for group in (m["float"], m["fixed_point"], m["before_qat"]["float"], m["before_qat"]["fixed_point"]):
        assert {"valid_acc", "test_acc"} <= set(group)
    assert m["test_acc"] == m["float"]["test_acc"]
    assert m["best_valid_acc"] == m["fixed_point"]["valid_acc"]
    assert m["best_valid_acc"] >= m["before_qat"]["fixed_point"]["valid_acc"]
    assert json.loads((qat_run / "metrics.json").read_text())["finished"] is True
    # silava export defaults to the QAT settings (issue 15, item 12); other flags get a warning
    from silava.core import netfile
    from silava.export.to_lava import main as export_main

    capsys.readouterr()
    assert export_main([str(qat_run / "ckpt.pt"), "-q", "-o", str(qat_run / "a.net"), "--decay-bits", "8",
                        "--state-frac-bits", "8"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert export_main([str(qat_run / "ckpt.pt"), "-q", "-o", str(qat_run / "d.net")]) == 0
    assert "warning" not in capsys.readouterr().err
    q = netfile.read(qat_run / "d.net").meta.quantization
    assert (q["decay_bits"], q["state_frac_bits"]) == (8, 8)
    assert export_main([str(qat_run / "ckpt.pt"), "-q", "-o", str(qat_run / "b.net"), "--decay-bits", "12"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "decay_bits 8 (QAT) vs 12" in err and len(err.strip().splitlines()) == 1


def test_silava_train_qat(source_run, tmp_path, capsys):
    from silava.app.cli import main as silava_main

    out = tmp_path / "q"
    assert silava_main(["train", "--qat", "--from", str(source_run / "src"), "--epochs", "1",
                        "--max-samples", "48", "--quiet", "--out", str(out)]) == 0
    assert "QAT randman/silif: fixed-point valid acc" in capsys.readouterr().out
    _, ckpt = load_checkpoint(out / "ckpt.pt")
    assert ckpt["train_config"]["qat"]["decay_bits"] == 12
    assert ckpt["train_config"]["lr"] == pytest.approx(0.002)   # the source's lr / 10


def test_help_mentions_zero_initial_state(capsys):
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--qat" in out and "Initial neuron states are ZERO in QAT" in out


def _bad(capsys, argv, *needles, out_dir=None):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    if out_dir is not None:
        assert not (Path(out_dir) / "ckpt.pt").exists()


def test_qat_without_from(tmp_path, capsys):
    _bad(capsys, ["--qat", "--out", str(tmp_path / "o")], "--qat needs --from", out_dir=tmp_path / "o")


def test_from_without_qat(tmp_path, capsys):
    _bad(capsys, ["--from", str(tmp_path), "--task", "randman", "--out", str(tmp_path / "o")], "add --qat")


def test_qat_without_out(tmp_path, capsys):
    _bad(capsys, ["--qat", "--from", str(tmp_path / "ckpt.pt")], "--qat needs --out")


def test_bad_from_missing_file(tmp_path, capsys):
    _bad(capsys, ["--qat", "--from", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o")],
         "checkpoint not found", out_dir=tmp_path / "o")


def test_bad_from_not_a_checkpoint(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    _bad(capsys, ["--qat", "--from", str(junk), "--out", str(tmp_path / "o")], "corrupt or truncated",
         out_dir=tmp_path / "o")


def test_bad_from_unexportable_neuron(tmp_path, capsys, monkeypatch):
    from silava.train.neurons.rf import RF

    monkeypatch.setattr(RF, "kind", "")          # a neuron without an integer model
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "rf.pt", SpArchNet(12, [8], 3, "rf"), data_config={"name": "randman", **TINY_DATA},
                    train_config={"task": "randman", "lr": 0.05}, metrics={}, seed=0)
    _bad(capsys, ["--qat", "--from", str(tmp_path / "rf.pt"), "--out", str(tmp_path / "o")],
         "'rf' is not exportable", out_dir=tmp_path / "o")


@pytest.mark.parametrize("argv,needle", [
    (["--neuron", "silif"], "--neuron is not allowed with --qat"),
    (["--config", "randman_tiny"], "--config is not allowed with --qat"),
    (["--decay-bits", "30"], "decay bits D = 30 outside [8, 24]"),
    (["--state-frac-bits", "3"], "state fraction bits s = 3 outside [6, 22]"),
    (["--weight-bits", "9"], "weight bits 9 out of range [2, 8]"),
    (["--layer-decay-bits", "x"], "--layer-decay-bits: expected LAYER=BITS"),
    (["--layer-state-frac-bits", "5=12"], "--layer-state-frac-bits: layer index 5 out of range"),
    (["--eval-only", "x.pt"], "--qat cannot be combined with --eval-only"),
    (["--lr", "-1"], "'lr' must be > 0"),
])
def test_bad_qat_options(source_run, tmp_path, capsys, argv, needle):
    _bad(capsys, ["--qat", "--from", str(source_run / "src"), "--out", str(tmp_path / "o"), *argv], needle,
         out_dir=tmp_path / "o")


def test_out_must_not_be_the_source(source_run, capsys):
    _bad(capsys, ["--qat", "--from", str(source_run / "src"), "--out", str(source_run / "src"), "--overwrite"],
         "is the --from checkpoint", "writing it would destroy the input")
