"""silava.export.synth: random networks are valid, reproducible, active, and hit edge cases sometimes."""
from __future__ import annotations

import numpy as np
import pytest

from silava.core import netfile
from silava.export.synth import random_inputs, random_network, rnd
from silava.train import intsim

TYPES = ["CUBA", "SILIF", "CSILIF"]


def test_rnd_is_round_half_away_from_zero():
    x = np.array([-2.5, -1.5, -0.5, -0.49, 0.0, 0.49, 0.5, 1.5, 2.5])
    np.testing.assert_array_equal(rnd(x), [-3, -2, -1, 0, 0, 0, 1, 2, 3])


@pytest.mark.parametrize("ntype", TYPES)
@pytest.mark.parametrize("readout", [True, False])
@pytest.mark.parametrize("graded", [0, 8])
def test_valid_and_shaped(ntype, readout, graded):
    net = random_network(ntype, [30, 20, 16, 5], steps=25, seed=11, readout=readout, input_message_bits=graded)
    netfile.validate(net)
    assert [l.neuron_type for l in net.layers] == [ntype, ntype, "LI" if readout else ntype]
    assert [(l.in_features, l.out_features) for l in net.layers] == [(30, 20), (20, 16), (16, 5)]
    assert net.layers[0].input_message_bits == graded
    assert all(l.input_message_bits == 0 for l in net.layers[1:])
    assert (net.meta.steps, net.meta.n_inputs, net.meta.n_classes) == (25, 30, 5)
    assert net.meta.input_encoding == ("counts" if graded else "binary")


def test_reproducible_by_seed():
    a = random_network("SILIF", [10, 8, 3], 10, seed=4)
    b = random_network("SILIF", [10, 8, 3], 10, seed=4)
    c = random_network("SILIF", [10, 8, 3], 10, seed=5)
    assert netfile.networks_equal(a, b)
    assert not netfile.networks_equal(a, c)
    np.testing.assert_array_equal(random_inputs(a, 3, seed=1), random_inputs(b, 3, seed=1))


def test_options():
    net = random_network("CSILIF", [10, 8, 3], 10, seed=0, decay_bits=16, state_frac_bits=14, bias=False,
                         weight_exp=-2)
    assert all(l.bias is None and l.weight_exp == -2 for l in net.layers)
    assert all(l.neuron["decayBits"] == 16 and l.neuron["stateFracBits"] == 14 for l in net.layers)
    assert net.layers[0].neuron["vThMant"] == 2**14 // 128
    silif = random_network("SILIF", [10, 8, 3], 10, seed=0, state_frac_bits=10)
    assert silif.layers[0].neuron["vThMant"] == 2**10 // 64
    li = random_network("LI", [6, 2], 4, seed=0)
    assert [l.neuron_type for l in li.layers] == ["LI"]


def test_cuba_folds_the_weight_exponent_into_the_state_scale():
    for seed in range(5):
        net = random_network("CUBA", [40, 30, 10], 10, seed=seed, readout=False)
        for layer in net.layers:
            assert layer.weight_exp == 0
            s = layer.neuron["stateFracBits"]
            assert 6 <= s <= 22 and layer.neuron["vThMant"] == 2**s // 64
            assert np.any(layer.weight)
            assert layer.neuron["refDelay"] == 1 and layer.neuron["gradedSpike"] is False
    # an explicit exponent is folded too: s = state_frac_bits - e
    net = random_network("CUBA", [40, 30, 10], 10, seed=0, readout=False, weight_exp=-3)
    assert all(l.weight_exp == 0 and l.neuron["stateFracBits"] == 15 for l in net.layers)


@pytest.mark.parametrize("ntype", TYPES)
@pytest.mark.parametrize("graded", [0, 8])
def test_networks_are_active(ntype, graded):
    """A reasonable fraction of neurons spikes in every hidden layer (checked with silava.train.intsim)."""
    for seed in range(3):
        net = random_network(ntype, [40, 48, 32, 6], steps=40, seed=seed, input_message_bits=graded)
        res = intsim.simulate(net, random_inputs(net, 4, seed=seed), record=False)
        for spikes in res.spikes:
            s = spikes.numpy()
            assert 0.02 < s.mean() < 0.6, (ntype, seed, s.mean())
            assert (s.sum(axis=(0, 1)) > 0).mean() > 0.3
        v = res.readout.numpy()
        assert np.ptp(v) > 0


def test_edge_cases_occur_sometimes():
    hits = {"alpha0": 0, "alpha1": 0, "beta1": 0, "lam_ge_1": 0, "idecay1": 0, "saturate": 0, "wrap": 0}
    for seed in range(12):
        for ntype in TYPES:
            net = random_network(ntype, [40, 64, 10], steps=80, seed=seed)
            layer = net.layers[0]
            n = layer.neuron
            if ntype == "SILIF":
                hits["alpha0"] += int(np.sum(n["alpha"] == 0))
                hits["alpha1"] += int(np.sum(n["alpha"] == 4096))
                hits["beta1"] += int(np.sum(n["beta"] == 4096))
            elif ntype == "CSILIF":
                hits["lam_ge_1"] += int(np.sum(n["cosDecay"].astype(float) ** 2 + n["sinDecay"] ** 2 >= 4096**2))
            else:
                hits["idecay1"] += int(np.sum(n["iDecay"] == 1))
            res = intsim.simulate(net, random_inputs(net, 2, seed=seed), record=False)
            hits["saturate"] += sum(c.get("saturate", 0) for c in res.counters)
            hits["wrap"] += sum(c.get("wrap", 0) for c in res.counters)
    assert all(v > 0 for k, v in hits.items() if k != "wrap"), hits


def test_random_inputs():
    net = random_network("SILIF", [50, 8, 3], steps=200, seed=0)
    x = random_inputs(net, 5, seed=2, rate=0.3)
    assert x.shape == (5, 200, 50) and x.dtype == np.int64
    assert set(np.unique(x)) <= {0, 1}
    assert abs(x.mean() - 0.3) < 0.02
    graded = random_network("SILIF", [50, 8, 3], steps=400, seed=0, input_message_bits=8)
    g = random_inputs(graded, 5, seed=2)
    assert g.min() == 0 and g.max() == 255 and g.dtype == np.int64
    assert 0.18 < (g > 0).mean() < 0.22


@pytest.mark.parametrize("args,match", [
    (("ALIF", [3, 2], 5, 0), "unknown neuron type"),
    (("LI", [3, 4, 2], 5, 0), "LI is a non-spiking readout"),
    (("SILIF", [3], 5, 0), "sizes"),
    (("SILIF", [3, 0, 2], 5, 0), "sizes"),
])
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        random_network(*args)
