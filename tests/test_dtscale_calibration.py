"""``silava export --dt-scale`` with measured event ratios (export/dtscale.py, "Event ratios").

The ratios are measured with the torch integer simulation (train/intsim.py); the test measures them
again with hwsim (an independent implementation of the same integers) and with plain numpy counts of
the task's inputs, and checks that the exporter used them (rows scaled by ρ/κ against the analytic rule).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import active_batchnorm

DATA = {"name": "randman", "n_classes": 4, "n_units": 16, "n_steps": 41, "samples_per_class": 20}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small SiLIF network (untrained, active BatchNorm) saved as a randman checkpoint."""
    from silava.train.checkpoint import save_checkpoint
    from silava.train.model import SpArchNet

    torch.manual_seed(3)
    model = SpArchNet(16, [24, 16], 4, "silif")
    active_batchnorm(model, torch.Generator().manual_seed(4))
    with torch.no_grad():                       # drive the hidden layers so that they spike
        for layer in model.layers:
            layer.linear.weight.mul_(4.0)
    path = tmp_path_factory.mktemp("dtcal") / "ckpt.pt"
    save_checkpoint(path, model.eval(), data_config=dict(DATA), train_config={"task": "randman"},
                    metrics={"test_acc": 0.5}, seed=0)
    return path


def _arrays(steps: int, n: int):
    from silava.core.tasks import load_task_arrays

    return load_task_arrays("randman", dict(DATA, n_steps=steps), split="train", max_samples=n, steps=steps)[0]


def test_rescale_with_event_ratios_scales_only_the_rows():
    from silava.export.dtscale import rescale
    from silava.export.fold import fold_model
    from silava.train.model import SpArchNet

    torch.manual_seed(0)
    folded = fold_model(SpArchNet(8, [6], 3, "silif").eval())
    plain = rescale(folded, 2.0)
    same = rescale(folded, 2.0, [2.0, 2.0])
    other = rescale(folded, 2.0, [1.0, 1.25])
    for a, b, c in zip(plain.layers, same.layers, other.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], c.params[k])
        np.testing.assert_array_equal(a.bias, c.bias)
    np.testing.assert_allclose(other.layers[0].weight, plain.layers[0].weight * 2.0)
    np.testing.assert_allclose(other.layers[1].weight, plain.layers[1].weight * 1.6)
    with pytest.raises(ValueError, match="2 layers"):
        rescale(folded, 2.0, [1.0])


def test_calibrated_ratios_match_an_independent_count(ckpt):
    """κ_0 from the task's input counts (numpy), κ_1 and κ_2 from hwsim's spikes of the network the
    exporter rescaled layer by layer: equal to what the exporter measured with intsim."""
    from silava.export.dtscale import events_per_bin, rescale, rescaled_steps
    from silava.export.fold import fold_model
    from silava.export.quantize import QuantConfig, quantize_network
    from silava.export.to_lava import calibration_arrays, quantize_checkpoint
    from silava.hwsim.simulate import simulate
    from silava.train.checkpoint import load_checkpoint
    from silava.core import netfile

    q = quantize_checkpoint(ckpt, dt_scale=2.0, dt_calibrate=30)
    got = q.network.meta.quantization["dt_scale_event_ratios"]
    assert q.network.meta.quantization["dt_scale_calibration_samples"] == 30 and len(got) == 3
    x_old, x_new = _arrays(41, 30), _arrays(rescaled_steps(41, 2.0), 30)
    (c_old, c_new), why = calibration_arrays(load_checkpoint(ckpt)[1], 41, 2.0, 30)
    assert why == "" and np.array_equal(c_old, x_old) and np.array_equal(c_new, x_new)
    assert got[0] == pytest.approx(x_new.sum() / x_new.shape[1] / (x_old.sum() / x_old.shape[1]), rel=1e-5)

    model, _ = load_checkpoint(ckpt)
    folded = fold_model(model)

    def build(f, steps):
        meta = netfile.Meta(steps=steps, n_inputs=f.n_inputs, n_classes=f.n_classes, input_encoding="counts")
        return quantize_network(f, QuantConfig(), input_message_bits=8, meta=meta)[0]

    old = simulate(build(folded, 41), x_old).spikes
    ratios = [got[0], 2.0, 2.0]
    for layer in (1, 2):
        net = build(rescale(folded, 2.0, ratios), rescaled_steps(41, 2.0))
        new = simulate(net, x_new).spikes
        mine = events_per_bin(new[layer - 1], False) / events_per_bin(old[layer - 1], False)
        assert mine == pytest.approx(got[layer], rel=1e-5), layer
        ratios[layer] = got[layer]
    assert 1.0 < got[1] < 2.0, "the hidden layers' spikes per bin do not double at 2x bins"


def test_export_cli_calibrates_by_default_and_refuses_bad_values(ckpt, tmp_path, capsys):
    from silava.export.to_lava import main

    assert main([str(ckpt), "-o", str(tmp_path / "a.net"), "-q", "--dt-scale", "2", "--dt-calibrate", "20"]) == 0
    assert main([str(ckpt), "-o", str(tmp_path / "b.net"), "-q", "--dt-scale", "2", "--dt-calibrate", "0"]) == 0
    from silava.core import netfile

    a, b = netfile.read(tmp_path / "a.net"), netfile.read(tmp_path / "b.net")
    assert len(a.meta.quantization["dt_scale_event_ratios"]) == 3
    assert b.meta.quantization["dt_scale_event_ratios"] == "analytic (rho per layer)"
    capsys.readouterr()
    for argv, needle in ((["--dt-calibrate", "5"], "only used with --dt-scale"),
                         (["--dt-scale", "2", "--dt-calibrate", "-1"], "give a number of samples >= 0")):
        out = tmp_path / "c.net"
        assert main([str(ckpt), "-o", str(out), *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()


def test_a_task_that_cannot_be_rebinned_falls_back_with_a_warning(tmp_path):
    from silava.export.to_lava import calibration_arrays

    rng = np.random.default_rng(0)
    for split in ("train", "valid", "test"):       # your own .npz data: fixed bins, cannot be re-binned
        np.savez(tmp_path / f"{split}.npz", x=(rng.random((8, 41, 5)) < 0.2).astype(np.int64), y=np.arange(8) % 2)
    arrays, why = calibration_arrays({"data_config": {"name": "folder", "data_dir": str(tmp_path)}}, 41, 2.0, 10)
    assert arrays is None and "cannot be rebuilt" in why and "n_steps" in why, why
    arrays, why = calibration_arrays({"data_config": {"name": "no-such-task"}}, 41, 2.0, 10)
    assert arrays is None and "no n_steps setting" in why
