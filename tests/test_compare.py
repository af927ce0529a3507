"""`silava compare`: float vs fixed point (hwsim) vs Lava on a tiny checkpoint trained here."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, needs_lava

TINY_DATA = {"n_classes": 4, "n_units": 16, "n_steps": 20, "samples_per_class": 40}
PNG = b"\x89PNG\r\n\x1a\n"


def train_tiny(out, epochs: int = 1, extra=()) -> "Path":  # noqa: F821
    """Train a tiny randman C-SiLIF checkpoint with the training CLI (a few seconds)."""
    from silava.train.train import main as train_main

    argv = ["--task", "randman", "--neuron", "csilif", "--hidden", "16", "--epochs", str(epochs),
            "--batch-size", "32", "--seed", "3", "--threads", "1", "--out", str(out), "--quiet", "--no-progress", *extra]
    argv += [f"--data-opt={k}={v}" for k, v in TINY_DATA.items()]
    assert train_main(argv) == 0
    return out / "ckpt.pt"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("compare") / "run")


def run(capsys, argv):
    from silava.app.compare import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --------------------------------------------------------------------------- the comparison

@needs_lava
def test_compare_outputs_and_consistency(tiny, tmp_path, capsys, shm_guard):
    import torch

    rc, out, err = run(capsys, [tiny, "--out", tmp_path, "--lava-samples", 6])
    assert rc == 0, err
    for needle in ("accuracy", "float (PyTorch", "fixed point (hwsim", "Lava fixed_pt", "hwsim vs Lava",
                   "readout bit-identical: yes", "softmax_sum vs sum_v", "spike counts per hidden layer"):
        assert needle in out
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG)
    res = json.loads((tmp_path / "compare.json").read_text())
    assert res["format"] == "silava-compare" and res["format_version"] == 1
    c = res["comparison"]
    assert set(c) >= {"samples", "accuracy", "agreement", "decision", "lava", "layers", "readout", "counters",
                      "predictions", "spike_totals"}
    ckpt = torch.load(tiny, weights_only=True)
    assert c["samples"] == 32                                     # the whole test split (20 % of 160)
    # float accuracy = the checkpoint's own evaluation on the same split (train.py, zero init)
    assert c["accuracy"]["float"] == pytest.approx(ckpt["metrics"]["test_acc"], abs=1e-12)
    # Lava is bit-exact with hwsim: identical predictions and readout on the common subset
    lava = c["lava"]
    assert lava["status"] == "ok" and lava["samples"] == 6
    assert c["agreement"]["hwsim_lava"] == 1.0 and lava["readout_identical"] is True
    # the numbers agree with the prediction lists
    p = {k: np.array(v) for k, v in c["predictions"].items()}
    y = p["labels"]
    assert c["accuracy"]["hwsim"] == pytest.approx(np.mean(p["hwsim"] == y))
    assert c["accuracy"]["hwsim_sum_v"] == pytest.approx(np.mean(p["hwsim_sum_v"] == y))
    assert c["accuracy"]["lava"] == pytest.approx(np.mean(p["lava"] == y[:6]))
    assert c["agreement"]["float_hwsim"] == pytest.approx(np.mean(p["float"] == p["hwsim"]))
    assert c["agreement"]["float_lava"] == pytest.approx(np.mean(p["float"][:6] == p["lava"]))
    assert c["decision"]["hwsim_softmax_sum_vs_sum_v"] == pytest.approx(np.mean(p["hwsim"] == p["hwsim_sum_v"]))
    assert [layer["layer"] for layer in c["layers"]] == [0, 1]
    for layer, tf, tq in zip(c["layers"], c["spike_totals"]["float"], c["spike_totals"]["fixed"]):
        assert layer["float_spikes_per_sample"] == pytest.approx(np.mean(tf))
        assert layer["fixed_spikes_per_sample"] == pytest.approx(np.mean(tq))
        assert 0.0 <= layer["equal_counts"] <= 1.0 and 0.0 <= layer["equal_spikes"] <= 1.0
    assert res["source"]["quantization"]["decay_bits"] == 12
    assert "wrote" in out and str(tmp_path / "compare.json") in out


def test_float_and_hwsim_against_independent_runs(tiny, tmp_path):
    """compare's float and fixed-point numbers equal a direct run of the model and of hwsim on the
    exported file (silava.train.train.eval_only, export/to_lava.py, silava.hwsim.simulate)."""
    from silava.core.netfile import read
    from silava.export.to_lava import main as export_main
    from silava.hwsim.simulate import simulate
    from silava.app.compare import compare
    from silava.core.tasks import load_task_arrays
    from silava.train.train import eval_only

    res = compare(tiny, lava_samples=0).to_dict()
    c = res["comparison"]
    assert c["accuracy"]["float"] == pytest.approx(eval_only(str(tiny), progress=False)["test_acc"], abs=1e-12)
    assert export_main([str(tiny), "-o", str(tmp_path / "m.net"), "-q"]) == 0
    net = read(tmp_path / "m.net")
    x, y = load_task_arrays("randman", net.meta.task, split="test", steps=net.meta.steps, n_inputs=net.meta.n_inputs)
    sim = simulate(net, x)
    assert c["predictions"]["hwsim"] == sim.predictions.tolist()
    assert c["accuracy"]["hwsim"] == pytest.approx(float(np.mean(sim.predictions == y)))
    for layer, spikes in zip(c["layers"], sim.spikes):
        assert layer["fixed_spikes_per_sample"] == pytest.approx(spikes.sum() / len(y))


def test_spike_agreement_statistics():
    from silava.app.compare import spike_agreement

    cf = np.array([[3, 0], [0, 1]])        # float counts [samples, neurons] over 3 steps
    cq = np.array([[2, 0], [0, 1]])        # fixed-point counts
    s = spike_agreement(cf, cq, steps=3, equal_spikes=9)
    assert s["float_spikes_per_sample"] == 2.0 and s["fixed_spikes_per_sample"] == 1.5
    assert s["ratio"] == pytest.approx(0.75)
    assert s["equal_counts"] == pytest.approx(3 / 4)            # only (0, 0) differs
    assert s["equal_spikes"] == pytest.approx(9 / 12)
    assert s["per_sample_correlation"] == pytest.approx(1.0)    # totals (3, 1) vs (2, 1)
    assert s["float_rate"] == pytest.approx(4 / 12) and s["fixed_rate"] == pytest.approx(3 / 12)
    none = spike_agreement(np.zeros((3, 2)), np.zeros((3, 2)), steps=4)
    assert none["ratio"] is None and none["per_sample_correlation"] is None and none["equal_counts"] == 1.0
    assert none["equal_spikes"] is None
    with pytest.raises(ValueError):
        spike_agreement(np.zeros((3, 2)), np.zeros((3, 3)), steps=4)


def test_float_run_counts_spikes_like_the_model(tiny):
    """run_float's batched counts and equal-entry counts against the model's own spike trains."""
    import torch

    from silava.app.compare import run_float
    from silava.core.tasks import load_task_arrays
    from silava.train.checkpoint import load_checkpoint

    model, ckpt = load_checkpoint(tiny)
    x, _ = load_task_arrays("randman", ckpt["data_config"], split="test", max_samples=10)
    with torch.no_grad():
        rec = model(torch.from_numpy(x).float(), record=True)
    trains = [(s.numpy() > 0).astype(np.uint8) for s in rec["spikes"]]
    flipped = [t.copy() for t in trains]
    flipped[0][0, 0, 0] ^= 1
    res = run_float(model, x, batch_size=3, reference_spikes=flipped)
    for i, t in enumerate(trains):
        assert np.array_equal(res.spike_counts[i], t.sum(axis=1))
        assert res.equal_spikes[i] == t.size - (1 if i == 0 else 0)
    assert np.array_equal(res.predictions, rec["out"].argmax(1).numpy())


def test_given_net_lava_skipped_custom_json_no_plot(tiny, tmp_path, capsys):
    from silava.export.to_lava import main as export_main

    assert export_main([str(tiny), "-o", str(tmp_path / "model.net"), "-q"]) == 0
    capsys.readouterr()
    json_path = tmp_path / "sub" / "c.json"
    rc, out, err = run(capsys, [tiny, "--net", tmp_path / "model.net", "--lava-samples", 0, "--json", json_path,
                                "--no-plot", "--samples", 10, "--out", tmp_path / "o"])
    assert rc == 0, err
    res = json.loads(json_path.read_text())
    assert res["source"]["net"] == str(tmp_path / "model.net")
    assert res["comparison"]["samples"] == 10
    assert res["comparison"]["lava"]["status"] == "skipped" and res["comparison"]["accuracy"]["lava"] is None
    assert not (tmp_path / "o" / "compare.png").exists()
    assert "skipped" in out


def test_lava_missing_is_a_note_by_default_and_an_error_when_asked(tiny, tmp_path, capsys, monkeypatch):
    from silava import lava_models

    def missing(dl=False):
        raise lava_models.LavaMissingError("Lava is not installed: pip install lava-nc")

    monkeypatch.setattr(lava_models, "require_lava", missing)
    rc, out, err = run(capsys, [tiny, "--out", tmp_path, "--samples", 8])
    assert rc == 0, err
    assert "missing" in out and "Lava is not installed" in out
    assert json.loads((tmp_path / "compare.json").read_text())["comparison"]["lava"]["status"] == "missing"
    rc, out, err = run(capsys, [tiny, "--out", tmp_path / "x", "--lava-samples", 3])
    assert rc == 2 and err.count("\n") == 1 and "Lava is not installed" in err and "--lava-samples 0" in err
    assert not (tmp_path / "x").exists()


def test_failed_lava_run_is_recorded_and_exits_1(tiny, tmp_path, capsys, monkeypatch):
    from silava import lava_models
    from silava.lava_models.runner import LavaRunError

    def boom(*args, **kwargs):
        raise LavaRunError("ValueError: process model exploded")

    monkeypatch.setattr(lava_models, "require_lava", lambda dl=False: None)
    monkeypatch.setattr(lava_models.network, "run_samples", boom)
    rc, out, err = run(capsys, [tiny, "--out", tmp_path, "--samples", 8, "--lava-samples", 2])
    assert rc == 1 and "process model exploded" in err
    lava = json.loads((tmp_path / "compare.json").read_text())["comparison"]["lava"]
    assert lava["status"] == "failed" and "exploded" in lava["note"]


def test_quantization_settings_flags_over_qat_over_defaults():
    from silava.app.compare import build_parser, quant_config

    plain = {"train_config": {}}
    qat = {"train_config": {"qat": {"weight_bits": 6, "decay_bits": 14, "state_frac_bits": 11,
                                    "layer_decay_bits": {"1": 16}, "layer_state_frac_bits": {}}}}
    args = build_parser().parse_args(["ckpt.pt"])
    assert quant_config(args, plain).to_dict() == {"weight_bits": 8, "decay_bits": 12, "state_frac_bits": 12,
                                                   "layer_decay_bits": {}, "layer_state_frac_bits": {}}
    c = quant_config(args, qat)
    assert (c.weight_bits, c.decay_bits, c.state_frac_bits, c.layer_decay_bits) == (6, 14, 11, {1: 16})
    c = quant_config(build_parser().parse_args(["ckpt.pt", "--decay-bits", "13", "--layer-decay-bits", "0=15"]), qat)
    assert (c.weight_bits, c.decay_bits, c.layer_decay_bits) == (6, 13, {0: 15})


def test_random_init_checkpoint_runs_from_zero_states(tiny, tmp_path):
    import torch

    from silava.app.compare import compare
    from silava.train.checkpoint import load_checkpoint, save_checkpoint

    ckpt = torch.load(tiny, weights_only=True)
    mc = {**ckpt["model_config"], "neuron_kwargs": {**ckpt["model_config"].get("neuron_kwargs", {}),
                                                   "init_state": "random"}}
    save_checkpoint(tmp_path / "r.pt", state_dict=ckpt["state_dict"], model_config=mc,
                    data_config=ckpt["data_config"], train_config=ckpt["train_config"], metrics=ckpt["metrics"],
                    seed=ckpt["seed"])
    res = compare(tmp_path / "r.pt", lava_samples=0).to_dict()
    assert any("init_state=random" in w for w in res["source"]["warnings"])
    zero = compare(tiny, lava_samples=0).to_dict()
    assert res["comparison"]["predictions"]["float"] == zero["comparison"]["predictions"]["float"]
    from silava.app.compare import run_float

    model, _ = load_checkpoint(tmp_path / "r.pt")
    flt = run_float(model, np.zeros((2, 20, 16), np.int64))
    assert flt.forced_zero_init and model.layers[0].neuron.init_state == "random"   # restored afterwards


# --------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def bad_files(tiny, tmp_path_factory):
    """Damaged checkpoints and mismatched tasks / networks."""
    import torch

    from silava.train.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("bad")
    (d / "garbage.pt").write_bytes(b"not a checkpoint at all")
    data = tiny.read_bytes()
    (d / "truncated.pt").write_bytes(data[: len(data) // 2])
    ckpt = torch.load(tiny, weights_only=True)
    for name, change in (("inputs", {"n_units": 20}), ("classes", {"n_classes": 6})):
        save_checkpoint(d / f"{name}.pt", state_dict=ckpt["state_dict"], model_config=ckpt["model_config"],
                        data_config={**ckpt["data_config"], **change}, train_config=ckpt["train_config"],
                        metrics=ckpt["metrics"], seed=ckpt["seed"])
    (d / "broken.net").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    from silava.export.synth import random_network
    from silava.core.netfile import write

    write(d / "other.net", random_network("CSILIF", [16, 8, 4], steps=20, seed=1))
    (d / "afile").write_text("x")
    return d


BAD = [
    (lambda t, d: [d / "missing.pt"], ["checkpoint not found"]),
    (lambda t, d: [d / "garbage.pt"], ["corrupt or truncated"]),
    (lambda t, d: [d / "truncated.pt"], ["corrupt or truncated"]),
    (lambda t, d: [t, "--task", "nosuch"], ["unknown task", "randman"]),
    (lambda t, d: [d / "inputs.pt"], ["20 input channels", "expects 16"]),
    (lambda t, d: [d / "classes.pt"], ["labels go up to", "4 classes"]),
    (lambda t, d: [t, "--net", d / "nothere.net"], ["no such file"]),
    (lambda t, d: [t, "--net", d / "broken.net"], ["--net"]),
    (lambda t, d: [t, "--net", d / "other.net"], ["do not match"]),
    (lambda t, d: [t, "--net", d / "other.net", "--decay-bits", "14"], ["drop --net"]),
    (lambda t, d: [t, "--decay-bits", "30"], ["decay"]),
    (lambda t, d: [t, "--samples", "0"], ["--samples 0"]),
    (lambda t, d: [t, "--lava-samples", "-1"], ["--lava-samples -1"]),
    (lambda t, d: [t, "--out", d / "afile"], ["not a directory"]),
    (lambda t, d: [t, "--json", d], ["is a directory"]),
    (lambda t, d: [t, "--layer-decay-bits", "x"], ["LAYER=BITS"]),
    (lambda t, d: [t, "--bogus"], ["unrecognized arguments"]),
]


@pytest.mark.parametrize("make, needles", BAD, ids=[
    "missing", "garbage", "truncated", "unknown-task", "input-size", "class-count", "net-missing", "net-corrupt",
    "net-mismatch", "net-with-quant-flags", "bad-decay-bits", "samples-0", "lava-samples-neg", "out-is-file",
    "json-is-dir", "bad-layer-bits", "unknown-flag"])
def test_bad_input_one_line_exit_2_no_output(tiny, bad_files, tmp_path, capsys, make, needles):
    argv = make(tiny, bad_files)
    if "--out" not in argv:
        argv += ["--out", tmp_path / "out"]
    rc, out, err = run(capsys, argv)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("silava compare: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not (tmp_path / "out" / "compare.json").exists()
    assert not list(bad_files.glob("compare.*")) and not list(tiny.parent.glob("compare.*"))


def test_python_m_silava_compare_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "silava", "compare", str(tmp_path / "nope.pt")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "checkpoint not found" in proc.stderr
