"""The MULTIOUT and RF kinds from the declaration to the integer simulators (no Lava here).

* the declaration and model.net: per-neuron matrices, layer sizes, the chain rule in = M × n;
* SiLIF, C-SiLIF and RF are exact special cases of the MULTIOUT integer step (hwsim and the torch
  integer emulation, bit for bit, counters included);
* equivalence ladder rung intsim == hwsim on random MULTIOUT networks (a CI-sized set here, ≥ 200
  under ``slow``), with a planted bug per side;
* both quantizers agree; out-of-range matrices are refused; the widths the data needs are reported;
* the cost model: N state words, M output channels, fan-out over the channels;
* ``--dt-scale``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import active_batchnorm
from silava.core import netfile
from silava.core.kinds import KINDS
from silava.export.special import as_multiout
from silava.export.synth import multiout_constants, random_inputs, random_network
from silava.hwsim.simulate import simulate
from silava.train import intsim


# --------------------------------------------------------------------------- declaration and model.net

def test_declaration_sizes_and_costs():
    kind = KINDS["MULTIOUT"]
    assert set(kind.dims) == {"N", "M"} and kind.output_dim == "M" and kind.spiking
    net = random_network("MULTIOUT", [6, 5, 3], steps=4, seed=0, n_states=4, n_outputs=3,
                         multiout={"complex_diag": False, "reset": "readout", "action": "matrix"})
    nd = net.layers[0].neuron
    assert kind.layer_dims(nd) == {"N": 4, "M": 3} and kind.outputs_per_neuron(nd) == 3
    assert kind.state_words_for(nd) == 4 and kind.prev_spike_bits_for(nd) == 3 + 1
    cost = kind.cost_for(nd)
    assert cost.mults >= 16 and cost.compares == 3 + 1              # a dense 4-word transition: ≥ N² products
    assert net.layers[0].output_width == 15 and net.layers[1].in_features == 15
    assert KINDS["RF"].input_gain == "dt" and KINDS["RF"].threshold == 1.0


def test_model_net_round_trip_and_validation(tmp_path):
    net = random_network("MULTIOUT", [6, 5, 4, 3], steps=6, seed=1, n_states=2, n_outputs=2,
                         multiout={"extras": True, "reset": "readout"})
    path = tmp_path / "mo.net"
    netfile.write(path, net)
    back = netfile.read(path)
    assert netfile.networks_equal(net, back)
    layer = net.layers[0]

    def bad(**changes):
        return dataclasses.replace(net, layers=[dataclasses.replace(layer, **changes), *net.layers[1:]])

    with pytest.raises(netfile.NetFileError, match=r"neuron/transition: expected shape \(5, 2, 2\)"):
        netfile.validate(bad(neuron={**layer.neuron, "transition": np.zeros((5, 3, 3), np.int64)}))
    upper = layer.neuron["stateNew"].copy()
    upper[:, 0, 1] = 3
    with pytest.raises(netfile.NetFileError, match="stateNew: entry .* strictly lower triangular"):
        netfile.validate(bad(neuron={**layer.neuron, "stateNew": upper}))
    short = dataclasses.replace(net.layers[1], weight=net.layers[1].weight[:, :5])
    with pytest.raises(netfile.NetFileError, match=r"inFeatures: 5 does not match layer/0's 10 outputs "
                                                   r"\(2 per neuron x outFeatures 5\)"):
        netfile.validate(dataclasses.replace(net, layers=[layer, short, net.layers[2]]))
    with pytest.raises(netfile.NetFileError, match="nStates: value 17 out of range"):
        netfile.validate(bad(neuron={**layer.neuron, "nStates": 17}))


# --------------------------------------------------------------------------- special cases

SPECIAL = [("SILIF", {}), ("SILIF", {"input_message_bits": 8}), ("CSILIF", {}), ("CSILIF", {"input_message_bits": 8}),
           ("RF", {}), ("SILIF", {"decay_bits": 16, "state_frac_bits": 14})]
STATE_MAP = {"SILIF": {"W": 0, "U": 1}, "CSILIF": {"X": 0, "Y": 1}, "RF": {"X": 0, "Y": 1}}


def _assert_same_run(a, b, ntype: str, intsim_run: bool = False) -> None:
    """Run ``a`` (SILIF/CSILIF/RF) equals run ``b`` (its MULTIOUT rewrite): outputs, states, counters."""
    outs_a = a.outputs if intsim_run else [*a.spikes, a.readout]
    outs_b = b.outputs if intsim_run else [*b.spikes, b.readout]
    for i, (oa, ob) in enumerate(zip(outs_a, outs_b)):
        np.testing.assert_array_equal(np.asarray(oa), np.asarray(ob), err_msg=f"output of layer {i}")
    for i, (sa, sb) in enumerate(zip(a.states, b.states)):
        if "X" in sb and sb["X"].ndim == 4:
            for name, k in STATE_MAP[ntype].items():
                np.testing.assert_array_equal(np.asarray(sa[name]), np.asarray(sb["X"][..., k]), err_msg=name)
            np.testing.assert_array_equal(np.asarray(sa["P"]), np.asarray(sb["P"][..., 0]))
    counters_a = a.counters if intsim_run else [a.counters[f"layer/{i}"] for i in range(len(outs_a))]
    counters_b = b.counters if intsim_run else [b.counters[f"layer/{i}"] for i in range(len(outs_b))]
    assert [dict(c) for c in counters_a] == [dict(c) for c in counters_b]


@pytest.mark.parametrize("ntype,kw", SPECIAL, ids=[f"{t}-{i}" for i, (t, _) in enumerate(SPECIAL)])
def test_silif_csilif_rf_are_exact_special_cases(ntype, kw):
    """The same integers at every step: hwsim (both timelines) and the torch integer emulation."""
    seen = 0
    for seed in range(3):
        net = random_network(ntype, [20, 24, 16, 5], steps=50, seed=40 + seed, **kw)
        mo = as_multiout(net)
        assert [l.neuron_type for l in mo.layers] == ["MULTIOUT", "MULTIOUT", "LI"]
        x = random_inputs(net, 3, seed=seed, rate=0.3)
        for timeline in ("logical", "lava"):
            a, b = simulate(net, x, timeline=timeline, record=True), simulate(mo, x, timeline=timeline, record=True)
            _assert_same_run(a, b, ntype)
        a, b = intsim.simulate(net, torch.from_numpy(x)), intsim.simulate(mo, torch.from_numpy(x))
        _assert_same_run(a, b, ntype, intsim_run=True)
        seen += int(sum(s.sum() for s in a.spikes))
    assert seen > 0


def test_the_special_case_check_catches_a_planted_bug(monkeypatch):
    """Drop the sequential part (stateNew) from hwsim's MULTIOUT kernel: SiLIF is no longer reproduced."""
    from silava.hwsim.kernels import KERNELS

    kernel = KERNELS["MULTIOUT"]
    real = kernel._constants
    monkeypatch.setattr(kernel, "_constants", lambda params: {**real(params), "stateNew": None})
    net = random_network("SILIF", [20, 24, 5], steps=50, seed=40)
    x = random_inputs(net, 3, seed=0, rate=0.3)
    with pytest.raises(AssertionError):
        _assert_same_run(simulate(net, x, record=True), simulate(as_multiout(net), x, record=True), "SILIF")


# --------------------------------------------------------------------------- ladder: intsim == hwsim

def _multiout_net(seed: int):
    rng = np.random.default_rng(seed)
    n_states, n_outputs = int(rng.choice([1, 2, 3, 4, 6])), int(rng.integers(1, 4))
    graded = int(rng.choice([0, 8]))
    return random_network("MULTIOUT", [int(rng.integers(6, 20)), int(rng.integers(4, 16)), int(rng.integers(3, 12)), 4],
                          steps=30, seed=seed, n_states=n_states, n_outputs=n_outputs, input_message_bits=graded,
                          readout=bool(rng.random() < 0.8), decay_bits=int(rng.choice([10, 12, 16])))


def compare_intsim_hwsim(net, x) -> dict:
    hw = simulate(net, x, timeline="logical", record=True)
    it = intsim.simulate(net, torch.from_numpy(x), record=True)
    for i in range(len(net.layers)):
        for name, value in it.states[i].items():
            np.testing.assert_array_equal(hw.states[i][name], value.numpy(), err_msg=f"layer {i} state {name}")
        assert {k: v for k, v in hw.counters[f"layer/{i}"].items() if v and k != "lava_weight_clip"} == \
            {k: v for k, v in it.counters[i].items() if v}, i
    spiking = [o for o, t in zip(it.outputs, it.neuron_types) if KINDS[t].spiking]
    for k, s in enumerate(spiking):
        np.testing.assert_array_equal(hw.spikes[k].astype(np.int64), s.numpy(), err_msg=f"spikes {k}")
    np.testing.assert_array_equal(hw.readout, it.outputs[-1].numpy())
    return {"spikes": int(sum(int(s.sum()) for s in spiking)), "saturate": int(hw.counters["total"].get("saturate", 0))}


def _ladder(seeds) -> dict:
    seen = {"spikes": 0, "saturate": 0, "extras": 0}
    for seed in seeds:
        net = _multiout_net(seed)
        got = compare_intsim_hwsim(net, random_inputs(net, 2, seed=seed, rate=0.3))
        seen["spikes"] += got["spikes"]
        seen["saturate"] += got["saturate"]
        seen["extras"] += int("stateNew" in net.layers[0].neuron)
    return seen


def test_ladder_intsim_equals_hwsim_ci():
    seen = _ladder(range(20))
    assert seen["spikes"] > 0 and seen["extras"] > 0


@pytest.mark.slow
def test_ladder_intsim_equals_hwsim_200():
    seen = _ladder(range(1000, 1220))
    assert seen["spikes"] > 0 and seen["saturate"] > 0 and seen["extras"] > 20


@pytest.mark.parametrize("bug", ["no-reset-matrix", "input-floor"])
def test_ladder_catches_a_planted_intsim_bug(bug, monkeypatch):
    if bug == "no-reset-matrix":
        real = intsim.step_multiout
        monkeypatch.setitem(intsim.STEPS, "MULTIOUT", lambda A, st, p, B, count, spike: real(
            A, st, {k: v for k, v in p.items() if k != "resetMat"}, B, count, spike))
    else:   # floor instead of truncation toward zero in the input product
        monkeypatch.setattr(intsim, "mul_exact", lambda k, x, bits: torch.floor(x * k / float(2**bits)))
    failures = 0
    for seed in range(12):
        try:
            _ladder([seed])
        except AssertionError:
            failures += 1
    assert failures > 0


# --------------------------------------------------------------------------- quantization

MODELS = {"complex": dict(n_states=2, n_outputs=2), "dense-readout-matrix": dict(
    n_states=3, n_outputs=2, transition="dense", reset="readout", reset_action="matrix"),
          "classic-stable": dict(n_states=1, n_outputs=3, reset_action="classic", stable=True), "rf": None}


def _model(name: str, seed: int = 0):
    from silava.train.model import SpArchNet

    torch.manual_seed(seed)
    neuron = "rf" if name == "rf" else "multiout"
    model = SpArchNet(12, [10, 8], 4, neuron, neuron_kwargs=MODELS[name] or {})
    active_batchnorm(model, torch.Generator().manual_seed(seed))
    return model.eval()


@pytest.mark.parametrize("name", list(MODELS))
def test_export_and_qat_quantizers_agree_and_qat_forward_is_hwsim(name):
    from silava.export.fold import fold_model
    from silava.export.quantize import QuantConfig, quantize_network
    from silava.train import qat

    model = _model(name)
    config = QuantConfig(decay_bits=14)
    net, stats = quantize_network(fold_model(model), config)
    net.meta.steps = 30
    for layer, il in zip(net.layers, qat.quantize_model(model, config)):
        ints = qat.integer_layer(il)
        np.testing.assert_array_equal(layer.weight, ints["weight"].numpy())
        assert set(layer.neuron) == set(ints["neuron"])
        for key, value in layer.neuron.items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(ints["neuron"][key]), err_msg=key)
    x = (np.random.default_rng(0).random((3, 30, 12)) < 0.3).astype(np.int64)
    with torch.no_grad():
        res = qat.QATNet(model, config).eval().simulate(torch.from_numpy(x).double())
    np.testing.assert_array_equal(simulate(net, x).readout, res.outputs[-1].numpy())
    if name != "rf":
        assert set(stats[0].constant_bits) >= {"transition", "inputVec", "readout", "resetVec"}
        assert all(1 <= b <= 24 for b in stats[0].constant_bits.values())


def test_out_of_range_matrices_are_refused_not_clipped():
    from silava.export.fold import fold_model
    from silava.export.quantize import QuantConfig, QuantError, quantize_network
    from silava.export.report import build_report, report_text
    from silava.train import qat

    model = _model("complex")
    folded = fold_model(model)
    with pytest.raises(QuantError, match=r"transition values do not fit .* lower --decay-bits"):
        quantize_network(folded, QuantConfig(decay_bits=24))   # |A| ≈ 1 needs 25 bits at D = 24
    with pytest.raises(qat.QATError, match="transition values do not fit"):
        qat.quantize_model(model, QuantConfig(decay_bits=24))
    net, stats = quantize_network(folded, QuantConfig())
    text = report_text(build_report(folded, net, stats, QuantConfig()))
    assert "MULTIOUT matrices need (from the data, of 24-bit words): transition" in text


# --------------------------------------------------------------------------- cost model

def test_counts_use_n_state_words_and_m_output_channels():
    from silava.hwsim.counts import counts_from_sim, static_counts, summarize
    from silava.hwsim.mapper import map_network

    net = random_network("MULTIOUT", [12, 10, 8, 4], steps=20, seed=3, n_states=4, n_outputs=2)
    static = static_counts(net)
    assert [s["buffers"] for s in static] == [40, 32, 4] and static[0]["output_width"] == 20
    x = random_inputs(net, 3, seed=1, rate=0.3)
    sim = simulate(net, x)
    counts = counts_from_sim(net, x, sim)
    np.testing.assert_array_equal(counts.layers[0].output_events, sim.spikes[0].sum(-1))
    assert counts.layers[0].n_outputs == 20 and counts.layers[1].input_events.sum() == sim.spikes[0].sum()
    summary = summarize(counts)
    assert summary["layers"][0]["outputs"] == 20 * 20 * 3
    mapping = map_network(net)
    assert mapping.cores[0].usage.fan_out == 10 * 2           # 10 neurons × 2 channels × 1 destination core
    assert mapping.cores[0].usage.state_bits == 10 * (24 * 4 + 2 + 1)


# --------------------------------------------------------------------------- dt-scale

def test_dt_scale_rules():
    from silava.export.dtscale import DtScaleError, rescale, rescaled_steps
    from silava.export.fold import fold_model
    from silava.train.model import SpArchNet

    torch.manual_seed(0)
    for neuron, kw in [("silif", {}), ("csilif", {}), ("rf", {}), ("multiout", dict(n_states=2, n_outputs=2)),
                       ("multiout", dict(n_states=3, transition="dense", stable=True))]:
        model = SpArchNet(8, [6], 3, neuron, neuron_kwargs=kw)
        active_batchnorm(model, torch.Generator().manual_seed(1))
        folded = fold_model(model.eval())
        assert all(np.array_equal(a.weight, b.weight) and all(np.allclose(a.params[k], b.params[k]) for k in a.params)
                   for a, b in zip(folded.layers, rescale(folded, 1.0).layers))
        twice, four = rescale(rescale(folded, 2.0), 2.0), rescale(folded, 4.0)
        back = rescale(rescale(folded, 2.0), 0.5)
        for a, b, c, d in zip(twice.layers, four.layers, back.layers, folded.layers):
            for k in d.params:
                np.testing.assert_allclose(a.params[k], b.params[k], atol=1e-9, err_msg=f"{neuron} {k}")
                np.testing.assert_allclose(c.params[k], d.params[k], atol=1e-9, err_msg=f"{neuron} {k}")
        if neuron == "silif":
            np.testing.assert_allclose(rescale(folded, 2.0).layers[0].params["alpha"],
                                       folded.layers[0].params["alpha"] ** 2)
        if neuron == "multiout" and "transition" not in kw:
            A = folded.layers[0].params["A"]
            np.testing.assert_allclose(rescale(folded, 3.0).layers[0].params["A"], A @ A @ A, atol=1e-12)
    cuba = fold_model(SpArchNet(8, [6], 3, "lif").eval())
    with pytest.raises(DtScaleError, match="CUBA layers have no continuous-time parametrisation"):
        rescale(cuba, 2.0)
    with pytest.raises(DtScaleError, match="positive"):
        rescale(folded, 0.0)
    assert rescaled_steps(101, 2.0) == 51 and rescaled_steps(101, 0.5) == 201


def test_dt_scale_export_cli(tmp_path, capsys):
    from silava.export.to_lava import main
    from silava.train.checkpoint import save_checkpoint
    from silava.train.model import SpArchNet

    torch.manual_seed(0)
    model = SpArchNet(16, [12], 4, "multiout", neuron_kwargs=dict(n_states=1, n_outputs=2))
    data = {"name": "randman", "n_classes": 4, "n_units": 16, "n_steps": 41, "samples_per_class": 10}
    save_checkpoint(tmp_path / "ckpt.pt", model, data_config=data, train_config={"task": "randman"},
                    metrics={"test_acc": 0.5}, seed=0)
    assert main([str(tmp_path / "ckpt.pt"), "-o", str(tmp_path / "a.net"), "-q"]) == 0
    assert main([str(tmp_path / "ckpt.pt"), "-o", str(tmp_path / "b.net"), "-q", "--dt-scale", "2"]) == 0
    a, b = netfile.read(tmp_path / "a.net"), netfile.read(tmp_path / "b.net")
    assert (b.meta.steps, b.meta.dt) == (21, 2 * a.meta.dt) and b.meta.quantization["dt_scale"] == 2.0
    assert not np.array_equal(a.layers[0].neuron["transition"], b.layers[0].neuron["transition"])
    capsys.readouterr()
    assert main([str(tmp_path / "ckpt.pt"), "-o", str(tmp_path / "c.net"), "--dt-scale", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--dt-scale -1: must be a positive" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.net").exists()
    # other formats: --dt-scale is refused, and so is a kind the format cannot hold (one line, nothing written)
    for argv, needle in ((["--to", "nir", "--dt-scale", "2"], "--dt-scale applies to model.net exports only"),
                         (["--to", "nir"], "layer 0 is MULTIOUT, which has no nir form"),
                         (["--to", "onnx"], "layer 0 is MULTIOUT, which has no onnx form"),
                         (["--to", "onnx-int"], "layer 0 is MULTIOUT, which has no onnx-int form")):
        out = tmp_path / "d.out"
        assert main([str(tmp_path / "ckpt.pt"), "-o", str(out), *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()


def test_multiout_constants_cover_every_option():
    rng = np.random.default_rng(0)
    for reset in ("any", "readout", "never"):
        for action in ("vector", "matrix"):
            neuron, gain = multiout_constants(rng, 5, 12, 12, 4, 2, reset=reset, action=action, extras=True)
            assert ("resetRead" in neuron) == (reset == "readout") and gain.shape == (5,)
            assert ("resetMat" in neuron) == (action == "matrix" and reset != "never")


def test_qat_trains_a_multiout_network():
    """The QAT forward (integer, straight-through) gives finite gradients to every trained parameter."""
    from silava.export.quantize import QuantConfig
    from silava.train import qat

    model = _model("dense-readout-matrix")
    net = qat.QATNet(model, QuantConfig()).train()
    x = (torch.rand(3, 20, 12) < 0.3).double()
    out = net(x)
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 2])).backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), \
        [n for n, g in grads.items() if g is None]
    assert any(float(g.abs().sum()) > 0 for n, g in grads.items() if n.startswith("layers.0.neuron"))
