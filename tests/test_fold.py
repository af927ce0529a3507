"""silava.export.fold: the folded float network reproduces the trained model (eval mode, zero initial state)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import active_batchnorm
from folded_reference import simulate_folded
from silava.export.fold import FoldError, bn_affine, fold_model
from silava.train.model import SpArchNet

NEURONS = ["silif", "csilif", "lif", "adlif", "cadlif"]
STATE_NAMES = {"silif": ("u", "w"), "adlif": ("u", "w"), "cadlif": ("u", "w"), "csilif": ("x", "y"),
               "lif": ("u", "v")}


def _model(neuron: str, seed: int = 0, sizes=(12, [20, 14], 5)) -> SpArchNet:
    """A randomly initialised SpArchNet with non-trivial BatchNorm statistics (eval mode)."""
    torch.manual_seed(seed)
    model = SpArchNet(sizes[0], sizes[1], sizes[2], neuron)
    return active_batchnorm(model, torch.Generator().manual_seed(seed + 1))


@pytest.mark.parametrize("neuron", NEURONS)
def test_folded_loop_reproduces_the_model(neuron):
    model = _model(neuron).double()
    x = (torch.rand(4, 40, 12, generator=torch.Generator().manual_seed(5)) < 0.3).double()
    with torch.no_grad():
        ref = model(x, record=True)
    got = simulate_folded(fold_model(model), x.numpy())
    np.testing.assert_allclose(got["readout_v"], ref["readout_v"].numpy(), atol=1e-5, rtol=0)
    assert len(got["spikes"]) == len(ref["spikes"]) == 2
    for i, (a, b) in enumerate(zip(got["spikes"], ref["spikes"])):
        assert b.sum() > 0, f"layer {i} of the test model is silent"
        np.testing.assert_array_equal(a, b.numpy())
        for name in STATE_NAMES[neuron]:
            np.testing.assert_allclose(got["states"][i][name], ref["states"][i][name].numpy(), atol=1e-5, rtol=0)


def test_float32_model_agrees_within_float_precision():
    model = _model("csilif", seed=2)
    x = (torch.rand(2, 30, 12, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    with torch.no_grad():
        ref = model(x, record=True)
    got = simulate_folded(fold_model(model), x.numpy())
    # (a spike within float32 precision of the threshold could flip; none does for this seed)
    for a, b in zip(got["spikes"], ref["spikes"]):
        np.testing.assert_array_equal(a, b.numpy())
    np.testing.assert_allclose(got["readout_v"], ref["readout_v"].numpy(), atol=1e-4, rtol=0)


def test_fold_rules_by_hand():
    """W'' and c'' computed here directly from the module's parameters."""
    model = _model("adlif").double()
    with torch.no_grad():
        model.layers[0].neuron.a.fill_(5.0)     # outside [-1, 1]: the clamp must be applied first
    folded = fold_model(model)
    layer, f = model.layers[0], folded.layers[0]
    bn = layer.bn
    g = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    c = (bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    alpha = layer.neuron.alpha.detach().clamp(*layer.neuron.alpha_range).numpy()
    w = layer.linear.weight.detach().numpy()
    np.testing.assert_allclose(f.weight, (1 - alpha)[:, None] * g[:, None] * w, rtol=1e-12)
    np.testing.assert_allclose(f.bias, (1 - alpha) * c, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(f.params["a"], np.ones(20))
    assert (f.neuron_type, f.source, f.threshold) == ("SILIF", "adlif", 1.0)
    np.testing.assert_allclose(bn_affine(bn)[0], g)

    # C-SiLIF: rows and bias times b (sign included)
    model = _model("csilif").double()
    with torch.no_grad():
        model.layers[1].neuron.b[:3] = torch.tensor([-1.5, 0.0, 2.0], dtype=torch.float64)
    f = fold_model(model).layers[1]
    g, c = bn_affine(model.layers[1].bn)
    b = model.layers[1].neuron.b.detach().numpy()
    np.testing.assert_allclose(f.weight, b[:, None] * g[:, None] * model.layers[1].linear.weight.detach().numpy())
    np.testing.assert_allclose(f.bias, b * c)
    assert f.threshold == 0.5 and set(f.params) == {"lam_re", "lam_im"}

    # CUBA: BN scale into the current, BN shift onto the voltage (not scaled by anything)
    model = _model("lif").double()
    f = fold_model(model).layers[0]
    g, c = bn_affine(model.layers[0].bn)
    np.testing.assert_allclose(f.weight, g[:, None] * model.layers[0].linear.weight.detach().numpy())
    np.testing.assert_allclose(f.bias, c)
    assert set(f.params) == {"cur_decay", "vol_decay"}

    # LI readout: (1 - alpha) folded
    ro = fold_model(model).layers[-1]
    alpha = model.readout.neuron.discrete_params()["alpha"].numpy()
    g, c = bn_affine(model.readout.bn)
    np.testing.assert_allclose(ro.weight, (1 - alpha)[:, None] * g[:, None] * model.readout.linear.weight.detach().numpy())
    assert ro.neuron_type == "LI"


def test_float_group_keys():
    folded = fold_model(_model("silif"))
    group = folded.layers[0].float_group()
    assert set(group) == {"weight", "bias", "threshold", "alpha", "beta", "a", "b"}
    assert all(v.dtype == np.float64 for v in group.values())
    assert set(fold_model(_model("csilif")).layers[0].float_group()) == {"weight", "bias", "threshold", "lam_re", "lam_im"}


def test_a_neuron_without_a_kind_is_not_exportable(monkeypatch):
    from silava.train.neurons.rf import RF

    model = SpArchNet(6, [8], 3, "rf").eval()
    monkeypatch.setattr(RF, "kind", "")         # every shipped neuron has a kind; pretend this one has none
    with pytest.raises(FoldError) as info:
        fold_model(model)
    text = str(info.value)
    assert "'rf' is not exportable" in text and "silif" in text and "csilif" in text and "lif" in text
    assert "\n" not in text


def test_non_finite_folded_parameters_are_rejected():
    model = _model("silif")
    with torch.no_grad():
        model.layers[1].bn.running_var[2] = -1.0   # sqrt of a negative variance
    with pytest.raises(FoldError, match=r"hidden layer 1: .*non-finite folded weight"):
        fold_model(model)


def test_random_init_state_is_noted():
    model = SpArchNet(6, [8], 3, "silif", neuron_kwargs={"init_state": "random"}).eval()
    assert any("init_state='random'" in n for n in fold_model(model).notes)
    assert fold_model(_model("silif")).notes == []
