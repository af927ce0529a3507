"""Equivalence ladder rung 2: silava.train.intsim (torch int64) == silava.hwsim.simulate (numpy), logical timeline.

Two independent implementations of docs/fixed_point.md §1-§3 and §5 (logical): identical
spikes, states after every step, readout V and overflow counters, on random integer networks
of every type (silava.export.synth) and on quantized randomly initialised SpArchNets.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import active_batchnorm
from silava.export.synth import random_inputs, random_network
from silava.train import intsim

simulate_mod = pytest.importorskip("silava.hwsim.simulate", reason="silava.hwsim.simulate not available")

COUNTERS = ("saturate", "wrap", "input_clip")


def _compare(net, x) -> dict:
    """Assert both implementations agree on everything; return a few activity numbers."""
    hw = simulate_mod.simulate(net, x, timeline="logical", record=True)
    it = intsim.simulate(net, torch.from_numpy(x), record=True)
    n_layers = len(net.layers)
    assert len(it.outputs) == n_layers and len(hw.states) == n_layers
    spiking = [i for i, l in enumerate(net.layers) if l.neuron_type != "LI"]
    assert len(hw.spikes) == len(spiking) == len(it.spikes)
    for k, i in enumerate(spiking):
        np.testing.assert_array_equal(hw.spikes[k].astype(np.int64), it.outputs[i].numpy(), err_msg=f"spikes of layer {i}")
    for i in range(n_layers):
        assert set(hw.states[i]) == set(it.states[i]), (i, set(hw.states[i]), set(it.states[i]))
        for name in it.states[i]:
            np.testing.assert_array_equal(hw.states[i][name], it.states[i][name].numpy(),
                                          err_msg=f"state {name} of layer {i}")
    np.testing.assert_array_equal(hw.readout, it.outputs[-1].numpy(), err_msg="readout")
    totals = {c: 0 for c in COUNTERS}
    for i in range(n_layers):
        hc = hw.counters[f"layer/{i}"]
        assert hc.get("int32_overflow", 0) == 0
        for c in COUNTERS:
            assert hc.get(c, 0) == it.counters[i].get(c, 0), (i, c, dict(hc), it.counters[i])
            totals[c] += it.counters[i].get(c, 0)
    rate = float(np.mean([it.outputs[i].float().mean() for i in spiking])) if spiking else 0.0
    return {"rate": rate, **totals}


@pytest.mark.parametrize("ntype", ["CUBA", "SILIF", "CSILIF"])
@pytest.mark.parametrize("graded", [0, 8])
@pytest.mark.parametrize("readout", [True, False])
def test_random_networks(ntype, graded, readout):
    seen = {"rate": 0.0, **{c: 0 for c in COUNTERS}}
    for seed in range(3):
        net = random_network(ntype, [24, 32, 20, 6], steps=60, seed=100 + seed, readout=readout,
                             input_message_bits=graded)
        x = random_inputs(net, batch=3, seed=seed)
        got = _compare(net, x)
        seen["rate"] = max(seen["rate"], got["rate"])
        for c in COUNTERS:
            seen[c] += got[c]
    assert seen["rate"] > 0.02  # the comparison is not between silent networks


@pytest.mark.parametrize("ntype,kw", [
    ("SILIF", {"decay_bits": 16, "state_frac_bits": 14}),
    ("CSILIF", {"decay_bits": 24, "state_frac_bits": 16, "bias": False}),
    ("SILIF", {"decay_bits": 8, "state_frac_bits": 8, "weight_exp": 2}),
    ("CSILIF", {"decay_bits": 10, "state_frac_bits": 7, "weight_exp": -8}),
    ("CUBA", {"state_frac_bits": 18}),
    ("LI", {"decay_bits": 20}),
])
def test_random_networks_other_grids(ntype, kw):
    sizes = [16, 6] if ntype == "LI" else [16, 24, 6]
    net = random_network(ntype, sizes, steps=50, seed=7, **kw)
    _compare(net, random_inputs(net, batch=2, seed=3))


def test_saturation_and_wrap_paths_are_compared():
    """Across a handful of random networks the 24-bit saturation and the CUBA wrap both occur."""
    totals = {c: 0 for c in COUNTERS}
    for seed in range(8):
        for ntype in ("CUBA", "SILIF", "CSILIF"):
            net = random_network(ntype, [30, 48, 8], steps=150, seed=seed, input_message_bits=8)
            x = random_inputs(net, batch=2, seed=seed, rate=0.4)
            got = _compare(net, x)
            for c in COUNTERS:
                totals[c] += got[c]
    assert totals["saturate"] > 0 and totals["wrap"] > 0, totals


def test_graded_inputs_out_of_range_are_clipped_the_same_way():
    net = random_network("SILIF", [10, 12, 4], steps=20, seed=1, input_message_bits=4)
    x = random_inputs(net, batch=2, seed=0)
    x[0, 3, :] = 99      # above 2^4 - 1
    x[1, 5, 2] = -3      # negative payload
    got = _compare(net, x)
    assert got["input_clip"] == 11


# --------------------------------------------------------------------------- quantized SpArchNets

def _quantized_sparchnet(neuron: str, seed: int, **quant):
    from silava.export.fold import fold_model
    from silava.export.quantize import QuantConfig, quantize_network
    from silava.train.model import SpArchNet

    torch.manual_seed(seed)
    model = SpArchNet(20, [24, 16], 5, neuron)
    active_batchnorm(model, torch.Generator().manual_seed(seed))
    net, _ = quantize_network(fold_model(model), QuantConfig(**quant))
    net.meta.steps = 40
    return net


@pytest.mark.parametrize("neuron", ["silif", "csilif", "lif", "adlif", "cadlif"])
def test_quantized_sparchnet(neuron):
    net = _quantized_sparchnet(neuron, seed=3)
    rng = np.random.default_rng(0)
    x = (rng.random((3, 40, 20)) < 0.3).astype(np.int64)
    got = _compare(net, x)
    assert got["rate"] > 0.005, got


@pytest.mark.parametrize("neuron", ["silif", "csilif"])
def test_quantized_sparchnet_wide_grid(neuron):
    net = _quantized_sparchnet(neuron, seed=4, decay_bits=18, state_frac_bits=16,
                               layer_decay_bits={2: 12}, layer_state_frac_bits={0: 14})
    assert [l.neuron["decayBits"] for l in net.layers] == [18, 18, 12]
    x = (np.random.default_rng(1).random((2, 40, 20)) < 0.3).astype(np.int64)
    _compare(net, x)


def _compare_all(net, x) -> None:
    """intsim == hwsim on everything, int32 wraps included (full-range stress networks)."""
    hw = simulate_mod.simulate(net, x, timeline="logical", record=True)
    it = intsim.simulate(net, torch.from_numpy(x), record=True)
    for i in range(len(net.layers)):
        for name in it.states[i]:
            np.testing.assert_array_equal(hw.states[i][name], it.states[i][name].numpy(),
                                          err_msg=f"state {name} of layer {i}")
        hc = {k: v for k, v in hw.counters[f"layer/{i}"].items() if v}
        ic = {k: v for k, v in it.counters[i].items() if v}
        assert hc == ic, (i, hc, ic)
    np.testing.assert_array_equal(hw.readout, it.outputs[-1].numpy(), err_msg="readout")


def test_full_range_stress():
    """Every integer uniform over its legal range (int32 wraps, saturations, every decay width):
    the two implementations agree exactly on 120 networks, and the wraps do occur."""
    from silava.export.synth import full_range_inputs, full_range_network

    seen = {}
    for seed in range(120):
        net = full_range_network(seed)
        x = full_range_inputs(net, 2, seed)
        _compare_all(net, x)
        hw = simulate_mod.simulate(net, x, timeline="logical")
        for k, v in hw.counters["total"].items():
            seen[k] = seen.get(k, 0) + v
    assert seen.get("int32_overflow", 0) > 0 and seen.get("saturate", 0) > 0 and seen.get("input_clip", 0) == 0


def test_full_range_stress_catches_a_missing_wrap(monkeypatch):
    """Plant the old defect (no int32 wrap of the graded Dense sum) in intsim: the stress test fails."""
    from silava.export.synth import full_range_inputs, full_range_network

    monkeypatch.setattr(intsim, "wrap32", lambda x, count: x)
    failures = 0
    for seed in range(120):
        net = full_range_network(seed)
        try:
            _compare_all(net, full_range_inputs(net, 2, seed))
        except AssertionError:
            failures += 1
    assert failures > 0


# --------------------------------------------------------------------------- model.net v2 layer types

def _compare_all(net, x) -> None:
    """intsim == hwsim on every layer's output and state and on the counters (any layer type)."""
    hw = simulate_mod.simulate(net, x, timeline="logical", record=True)
    it = intsim.simulate(net, torch.from_numpy(x), record=True)
    for i in range(len(net.layers)):
        np.testing.assert_array_equal(hw.outputs[i].astype(np.int64), it.outputs[i].numpy(), err_msg=f"output {i}")
        for name in hw.states[i]:
            np.testing.assert_array_equal(hw.states[i][name], it.states[i][name].numpy(), err_msg=f"{name} of {i}")
        hc = dict(hw.counters[f"layer/{i}"])
        hc.pop("lava_weight_clip", None)
        assert hc == {k: v for k, v in it.counters[i].items() if v}, (i, hc, it.counters[i])


@pytest.mark.parametrize("ntype", ["CUBA", "SILIF", "CSILIF"])
def test_recurrent_and_conv_networks(ntype):
    """dense_rec (binary and graded input) and conv (padding, stride, dilation, groups) networks."""
    from silava.export.synth import random_conv_network

    for seed in range(3):
        net = random_network(ntype, [9, 8, 6, 3], 20, seed=seed, recurrent=True, input_message_bits=8 * (seed % 2))
        _compare_all(net, random_inputs(net, 5, seed=seed + 10))
        geo = [dict(kernel=3, padding=1), dict(kernel=3, stride=2, padding=1), dict(kernel=2, dilation=2, groups=2)][seed]
        net = random_conv_network(ntype, (2 if seed < 2 else 4, 6, 6), [4, 4], 12, seed=seed, dense=[6, 3], **geo)
        _compare_all(net, random_inputs(net, 4, seed=seed + 20, rate=0.3))


def test_sigma_delta_networks():
    """lava-dl's sigma-delta units with graded payloads between layers (dense, recurrent, conv)."""
    from silava.export.synth import random_graded_inputs, random_sdnn_network

    for seed in range(3):
        net = random_sdnn_network([7, 9, 6, 3], 20, seed=seed, recurrent=seed == 1)
        _compare_all(net, random_graded_inputs(net, 4, seed=seed))
    net = random_sdnn_network([0, 10, 4], 16, seed=3, conv_shape=(2, 5, 5), conv_channels=(3,), recurrent=True)
    _compare_all(net, random_graded_inputs(net, 4, seed=3))


def test_new_layer_types_catch_a_planted_bug(monkeypatch):
    """intsim dropping the recurrent input (a planted bug) differs from hwsim."""
    net = random_network("SILIF", [9, 8, 6, 3], 20, seed=0, recurrent=True)
    x = random_inputs(net, 5, seed=10)
    real = intsim._dense_sum
    monkeypatch.setattr(intsim, "_dense_sum", lambda w, e, x, **k: real(w, e, x * 0 if w.shape[0] == w.shape[1]
                                                                        else x, **k))
    with pytest.raises(AssertionError):
        _compare_all(net, x)
