"""silava.export.quantize and silava.export.report: rounding, exponents, grids, CUBA folding, range checks, report."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from silava.core import netfile
from folded_reference import simulate_folded
from silava.export.fold import FoldedLayer, FoldedNetwork, fold_model
from silava.export.quantize import (QuantConfig, QuantError, check_decay_bits, check_finite, check_state_frac_bits,
                             check_threshold, check_weight_bits, check_weight_exp, on_grid, quantize_bias,
                             quantize_layer, quantize_network, quantize_weights, rnd, weight_exponent)
from silava.export.report import build_report, report_text, row_bits, signed_bits
from test_fold import _model
from silava.train import intsim


def _silif_layer(n_out=4, n_in=3, **params) -> FoldedLayer:
    p = {"alpha": np.full(n_out, 0.9), "beta": np.full(n_out, 0.98), "a": np.full(n_out, 0.5), "b": np.full(n_out, 1.0)}
    p.update(params)
    w = np.linspace(-1, 1, n_out * n_in).reshape(n_out, n_in)
    return FoldedLayer("SILIF", "silif", w, np.full(n_out, 0.1), 1.0, p)


# --------------------------------------------------------------------------- primitives

def test_rnd_half_away_from_zero():
    np.testing.assert_array_equal(rnd([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, -2.5001]), [-3, -2, -1, 1, 2, 3, 2, -3])


def test_weight_exponent_is_the_smallest_that_fits():
    s = 12
    for peak in [1.0, 0.37, 3.9, 127 * 128 / 4096, 127 * 128 / 4096 * 2**3, 1e-3, 200.0]:
        e = weight_exponent(peak, s)
        assert peak * 2**s / 2 ** (e + 7) <= 127 < peak * 2**s / 2 ** (e + 6)
        formula = math.ceil(math.log2(peak * 2**s / (127 * 2**7)))   # the contract's formula
        assert e == formula
    assert weight_exponent(0.0, s) == 0
    assert weight_exponent(127 * 128 / 4096 * 2**3, 12) == 3      # exact power: no off-by-one
    # fewer mantissa bits: the largest weight maps to 2^(b-1) - 1
    e4 = weight_exponent(1.0, 12, weight_bits=4)
    assert 2**12 / 2 ** (e4 + 7 + 4) <= 7 < 2**12 / 2 ** (e4 + 6 + 4)


def test_quantize_weights_by_hand():
    w, clipped = quantize_weights(np.array([[1.0, -0.5, 0.2]]), s=12, e=-1)
    # m = rnd(W * 4096 / 2^6) = rnd([64, -32, 12.8]) -> w = 2m
    np.testing.assert_array_equal(w, [[128, -64, 26]])
    assert clipped == 0
    # one float unit of input = S state units: (w << e) << 6 == W * S (for the exact weights)
    assert (128 * 2**-1) * 64 == 1.0 * 4096
    w, clipped = quantize_weights(np.array([[3.0, -3.0]]), s=12, e=-1)
    np.testing.assert_array_equal(w, [[254, -254]])          # symmetric mantissa: Lava clips an inhibitory -256
    assert clipped == 2
    e4 = weight_exponent(1.0, 12, 4)            # 4-bit mantissa m in [-7, 7], w = 2^(8-4+1) m = 32 m
    w4, _ = quantize_weights(np.array([[1.0, -1.0, 0.3]]), s=12, e=e4, weight_bits=4)
    assert e4 == -1 and set(np.unique(w4 % 32)) == {0} and np.abs(w4 // 32).max() <= 8
    np.testing.assert_array_equal(w4, [[128, -128, 32]])            # 4 * 32 * 2^-1 * 64 = 4096 = 1.0 * S


def test_bias_and_constant_grids():
    b, sat = quantize_bias(np.array([0.01, -0.01, 100.0, -100.0, 0.0078125]), s=12)
    # c * 4096 / 64 = c * 64
    np.testing.assert_array_equal(b, [1, -1, 4095, -4096, 1])
    assert sat == 2
    q, clipped = on_grid(np.array([0.99999, 0.5, 1.2, -0.1]), 12, 0, 4096)
    np.testing.assert_array_equal(q, [4096, 2048, 4096, 0])
    assert clipped == 2
    q16, _ = on_grid(np.array([0.99999]), 16, 0, 2**16)
    assert q16[0] == 65535


# --------------------------------------------------------------------------- layers

def test_silif_layer_constants():
    fl = _silif_layer(alpha=np.array([0.9, 0.0, 1.0, 0.99999]), beta=np.array([0.98, 0.9999999, 0.5, 1.0]),
                      a=np.array([0.5, -1.0, 0.0, 1e-6]), b=np.array([1.0, 0.0, 2.0, 1e-7]))
    layer, st = quantize_layer(fl, 0, QuantConfig())
    n = layer.neuron
    np.testing.assert_array_equal(n["alpha"], [3686, 0, 4096, 4096])
    np.testing.assert_array_equal(n["beta"], [4014, 4096, 2048, 4096])
    np.testing.assert_array_equal(n["coupling"], [2048, -4096, 0, 0])
    np.testing.assert_array_equal(n["spikeAdapt"], [4096, 0, 8192, 0])
    assert (n["vThMant"], n["decayBits"], n["stateFracBits"]) == (64, 12, 12)
    assert layer.weight_exp == st.weight_exp == weight_exponent(1.0, 12)
    assert set(layer.float_params) == {"weight", "bias", "threshold", "alpha", "beta", "a", "b"}


def test_csilif_and_li_layers():
    lam = FoldedLayer("CSILIF", "csilif", np.eye(3), np.zeros(3), 0.5,
                      {"lam_re": np.array([0.9, -0.5, 1.0]), "lam_im": np.array([0.3, 0.2, 0.0])})
    layer, _ = quantize_layer(lam, 0, QuantConfig(decay_bits=16, state_frac_bits=14))
    np.testing.assert_array_equal(layer.neuron["cosDecay"], rnd(np.array([0.9, -0.5, 1.0]) * 2**16))
    np.testing.assert_array_equal(layer.neuron["sinDecay"], rnd(np.array([0.3, 0.2, 0.0]) * 2**16))
    assert layer.neuron["vThMant"] == 2**14 // 128
    li = FoldedLayer("LI", "li", np.ones((2, 3)) * 0.1, np.zeros(2), 0.0, {"alpha": np.array([0.8, 0.95])})
    layer, _ = quantize_layer(li, 2, QuantConfig())
    assert "vThMant" not in layer.neuron
    np.testing.assert_array_equal(layer.neuron["alpha"], [3277, 3891])


def test_cuba_exponent_is_folded_into_the_state_scale():
    w = np.array([[0.3, -0.1], [0.05, 0.2]])
    fl = FoldedLayer("CUBA", "lif", w, np.array([0.1, -0.2]), 1.0,
                     {"cur_decay": np.array([0.0, 0.25]), "vol_decay": np.array([0.03, 1.0])})
    layer, st = quantize_layer(fl, 0, QuantConfig(state_frac_bits=12))
    e = weight_exponent(0.3, 12)
    assert e < 0
    assert layer.weight_exp == 0 and st.exponent_folded == e
    s = 12 - e
    assert layer.neuron["stateFracBits"] == s and layer.neuron["vThMant"] == 2**s // 64
    # the mantissas are the ones the exponent form would give
    w_e, _ = quantize_weights(w, 12, e)
    np.testing.assert_array_equal(layer.weight, w_e)
    np.testing.assert_array_equal(layer.bias, rnd(np.array([0.1, -0.2]) * 2**s / 64))
    np.testing.assert_array_equal(layer.neuron["iDecay"], [1, 1024])     # du = 0 -> iDecay raised to 1
    np.testing.assert_array_equal(layer.neuron["vDecay"], [123, 4096])
    assert layer.neuron["refDelay"] == 1 and layer.neuron["gradedSpike"] is False
    # a per-layer decay width other than 12 is refused for CUBA
    with pytest.raises(QuantError, match=r"layer 0 \(CUBA\): decay bits 16 .* 12-bit"):
        quantize_layer(fl, 0, QuantConfig(layer_decay_bits={0: 16}))
    # tiny weights push s above 22
    tiny = FoldedLayer("CUBA", "lif", w * 1e-4, np.zeros(2), 1.0, fl.params)
    with pytest.raises(QuantError, match=r"layer 0 \(CUBA\): state fraction bits s = \d+ outside \[6, 22\] after folding"):
        quantize_layer(tiny, 0, QuantConfig())


# --------------------------------------------------------------------------- range checks

@pytest.mark.parametrize("call,expected", [
    (lambda: check_weight_exp("layer 1 (SILIF)", 8, 900.0, 12), ["layer 1 (SILIF)", "exponent 8", "limit 7", "--state-frac-bits"]),
    (lambda: check_weight_exp("layer 0 (CSILIF)", -9, 1e-3, 12), ["layer 0 (CSILIF)", "-9", "limit -8", "raise --state-frac-bits"]),
    (lambda: check_threshold("layer 2 (CSILIF)", 0.5), ["layer 2 (CSILIF)", "vThMant = 0.5", "[1, 131071]", "--state-frac-bits"]),
    (lambda: check_threshold("layer 0 (SILIF)", 2**17), ["131072", "[1, 131071]"]),
    (lambda: check_state_frac_bits("layer 0 (SILIF)", 23), ["s = 23", "[6, 22]", "--state-frac-bits"]),
    (lambda: check_decay_bits("layer 1 (LI)", 30), ["layer 1 (LI)", "D = 30", "[8, 24]", "--decay-bits"]),
    (lambda: check_weight_bits(1), ["weight bits 1", "[2, 8]", "--weight-bits"]),
    (lambda: check_finite("layer 0 (SILIF)", "alpha", [0.5, float("nan")]), ["layer 0 (SILIF)", "alpha", "NaN/Inf", "re-train"]),
])
def test_range_checks(call, expected):
    with pytest.raises(QuantError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text
    for part in expected:
        assert part in text, (part, text)
    check_weight_exp("x", 7, 1.0, 12)
    check_weight_exp("x", -8, 1.0, 12)
    check_threshold("x", 1)
    check_threshold("x", 2**17 - 1)


def test_unrepresentable_layers_raise():
    with pytest.raises(QuantError, match=r"layer 0 \(SILIF\): weight exponent 9 above the limit 7"):
        quantize_layer(_silif_layer(), 0, QuantConfig(state_frac_bits=22))   # peak 1.0 at 2^22 -> e = 9
    big = _silif_layer()
    big.weight = big.weight * 1e4
    with pytest.raises(QuantError, match="above the limit 7"):
        quantize_layer(big, 1, QuantConfig())
    lam = FoldedLayer("CSILIF", "csilif", np.eye(2), np.zeros(2), 0.5, {"lam_re": np.zeros(2), "lam_im": np.zeros(2)})
    with pytest.raises(QuantError, match=r"vThMant = 0.5"):
        quantize_layer(lam, 0, QuantConfig(state_frac_bits=6))
    nan = _silif_layer(beta=np.array([0.9, np.inf, 0.9, 0.9]))
    with pytest.raises(QuantError, match=r"parameter beta has non-finite values"):
        quantize_layer(nan, 0, QuantConfig())


# --------------------------------------------------------------------------- networks

def test_quantize_network_overrides_and_meta():
    folded = fold_model(_model("silif"))
    config = QuantConfig(decay_bits=16, state_frac_bits=14, layer_decay_bits={2: 12}, layer_state_frac_bits={0: 10})
    net, stats = quantize_network(folded, config, input_message_bits=8)
    netfile.validate(net)
    assert [l.neuron["decayBits"] for l in net.layers] == [16, 16, 12]
    assert [l.neuron["stateFracBits"] for l in net.layers] == [10, 14, 14]
    assert net.layers[0].input_message_bits == 8 and net.meta.input_encoding == "counts"
    q = net.meta.quantization
    assert q["layer_decay_bits"] == {"2": 12} and q["rounding"].startswith("round half away from zero")
    assert [d["weight_exp"] for d in q["layers"]] == [st.weight_exp for st in stats]
    json.dumps(q)
    with pytest.raises(QuantError, match=r"--layer-decay-bits: layer index 3 out of range \[0, 2\]"):
        quantize_network(folded, QuantConfig(layer_decay_bits={3: 16}))


def test_first_step_state_matches_the_float_model_to_quantization_error():
    """Units: U/S after one step equals the float u = W''x + c'' up to the rounding of w and bias."""
    for neuron in ("silif", "csilif", "lif"):
        folded = fold_model(_model(neuron, sizes=(12, [20], 4)))
        net, stats = quantize_network(folded, QuantConfig())
        x = (np.random.default_rng(0).random((5, 1, 12)) < 0.5).astype(np.int64)
        ref = simulate_folded(folded, x)
        got = intsim.simulate(net, x)
        name = {"silif": ("u", "U"), "csilif": ("x", "X"), "lif": ("v", "V")}[neuron]
        S = 2.0 ** stats[0].state_frac_bits
        e = stats[0].weight_exp
        bound = (12 * 0.5 + 1) * 2.0 ** (e + 7) / S + 64 / S
        v_float = ref["states"][0][name[0]][:, 0]
        v_int = got.states[0][name[1]][:, 0].numpy() / S
        spiked = ref["spikes"][0][:, 0] > 0
        if neuron == "lif":   # V is reset to 0 on a spike in both
            v_float, v_int = v_float[~spiked], v_int[~spiked]
        assert np.max(np.abs(v_int - v_float)) <= bound, (neuron, np.max(np.abs(v_int - v_float)), bound)


@pytest.mark.parametrize("neuron", ["silif", "cadlif"])
def test_integer_network_tracks_the_float_network(neuron):
    folded = fold_model(_model(neuron, sizes=(20, [32, 24], 5)))
    net, _ = quantize_network(folded, QuantConfig(decay_bits=16, state_frac_bits=16))
    x = (np.random.default_rng(0).random((8, 50, 20)) < 0.3).astype(np.int64)
    ref = simulate_folded(folded, x)
    got = intsim.simulate(net, x)
    for a, b in zip(ref["spikes"], got.spikes):
        assert (a == b.numpy()).mean() > 0.98
    v = got.readout.numpy() / net.state_scale(2)
    assert np.max(np.abs(v - ref["readout_v"])) < 0.05 * np.ptp(ref["readout_v"])


# --------------------------------------------------------------------------- report

def test_bits_helpers():
    np.testing.assert_array_equal(signed_bits(np.array([0, 1, -1, 2, -2, 127, -128, 64, -65])), [0, 2, 1, 3, 2, 8, 8, 8, 8])
    np.testing.assert_array_equal(row_bits(np.array([[254, 0], [2, -2], [0, 0]])), [8, 2, 0])


def test_report_counts_collapses_and_clips():
    fl = _silif_layer(alpha=np.array([0.9, 1e-5, 0.99999, 0.5]), beta=np.array([0.98, 0.999999, 0.9, 0.9]),
                      a=np.array([0.5, 1e-5, 0.1, 0.1]), b=np.array([1.0, 1e-6, 1.0, 1.0]))
    fl.bias = np.array([0.1, 100.0, 0.0, -100.0])
    li = FoldedLayer("LI", "li", np.full((2, 4), 0.2), np.zeros(2), 0.0, {"alpha": np.array([0.8, 0.9])})
    folded = FoldedNetwork([fl, li], "silif")
    config = QuantConfig()
    net, stats = quantize_network(folded, config)
    rep = build_report(folded, net, stats, config)
    json.dumps(rep)
    l0 = rep["layers"][0]
    assert l0["collapses"] == {"alpha_to_integrator": 1, "alpha_to_zero": 1, "beta_to_integrator": 1,
                               "beta_to_zero": 0, "a_to_zero": 1, "b_to_zero": 1}
    assert l0["bias"]["saturated"] == 2 and rep["totals"]["biases_saturated"] == 2
    assert l0["weights"]["max_abs_int"] <= 254 and l0["weights"]["row_bits_max"] == 8
    assert any("alpha to integrator" in w for w in l0["warnings"])
    text = report_text(rep)
    assert "SILIF" in text and "LI" in text and "2 biases saturated" in text
    assert "layer 0: 1/4 neurons: beta to integrator" in text


def test_report_csilif_and_cuba_collapses():
    lam = FoldedLayer("CSILIF", "csilif", np.eye(3), np.zeros(3), 0.5,
                      {"lam_re": np.array([0.99995, 1e-5, 0.5]), "lam_im": np.array([0.0, 0.0, 0.5])})
    li = FoldedLayer("LI", "li", np.full((2, 3), 0.2), np.zeros(2), 0.0, {"alpha": np.array([0.8, 0.9])})
    folded = FoldedNetwork([lam, li], "csilif")
    net, stats = quantize_network(folded, QuantConfig())
    col = build_report(folded, net, stats, QuantConfig())["layers"][0]["collapses"]
    assert col == {"lambda_to_no_decay": 1, "lambda_to_zero": 1}
    cuba = FoldedLayer("CUBA", "lif", np.eye(3) * 0.5, np.zeros(3), 1.0,
                       {"cur_decay": np.array([0.0, 0.5, 0.99999]), "vol_decay": np.array([1e-5, 0.1, 0.1])})
    folded = FoldedNetwork([cuba, li], "lif")
    net, stats = quantize_network(folded, QuantConfig())
    l0 = build_report(folded, net, stats, QuantConfig())["layers"][0]
    assert l0["collapses"] == {"cur_decay_to_zero": 0, "cur_decay_to_full": 1, "vol_decay_to_zero": 1,
                               "vol_decay_to_full": 0}
    assert l0["constants_clipped"]["iDecay"] == 1   # du = 0 raised to 1/4096 (iDecay >= 1)
    assert l0["exponent_folded_into_s"] == weight_exponent(0.5, 12)
