"""HAS-8 deployment: the folded host + float-chip plan equals the torch model, the segments' fixed point,
the host/chip cost split, ``silava fusion`` (export, sim) and its errors. hwsim == Lava is in
tests/test_has8_lava.py."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from silava.core import fusion, netfile
from silava.core.fusion import read_plan, run
from silava.export.has8 import export_has8, unroll_conv
from silava.hwsim.fusion import HwsimChip, load_segments
from silava.train.has8 import Has8Net
from silava.train.has8.neuron import BitNeuron


def randomize_bn(model: Has8Net, seed: int) -> Has8Net:
    """Random BatchNorm statistics and affine parameters (so every path is active), eval mode, float64."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.1)
                m.weight.copy_(torch.rand(n, generator=gen) * 2 + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen) * 1.5 - 0.3)
    return model.eval().double()


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 1, 64)).astype(np.float64)


def export(model: Has8Net, tmp_path, name: str = "dep", **kw):
    return export_has8(model, tmp_path / name, ckpt_meta={"task": {"name": "digits-image"}, "float_accuracy": 0.5}, **kw)


CASES = [("has8-resnet", "fusion", "lif"), ("has8-resnet", "snn", "if"), ("has8-vgg", "fusion", "lif"),
         ("has8-vgg", "ann", "lif")]


@pytest.mark.parametrize("arch,path,neuron", CASES, ids=["-".join(c) for c in CASES])
def test_folded_plan_equals_torch(arch, path, neuron, tmp_path, one_thread):
    """Two independent implementations — the torch model (eval) and the numpy host runtime with the folded
    float chip — give the same logits on the same images (conv and linear blocks, every path)."""
    torch.manual_seed(3)
    model = randomize_bn(Has8Net(arch, (1, 8, 8), 10, width=4, depth=2, path=path, neuron=neuron), 4)
    x = images(12)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    res = export(model, tmp_path)
    plan = read_plan(tmp_path / "dep")
    got = run(plan, x, fusion.float_chip(plan), batch_size=5)
    assert np.allclose(got.logits, want, rtol=1e-9, atol=1e-9)
    assert sorted(res["segments"]) == plan.chip_blocks
    if path == "ann":
        assert plan.chip_blocks == []
    else:
        assert any(c.sum() > 0 for c in got.spike_counts.values())          # the SNN paths are active


def test_equivalence_catches_a_planted_fold_bug(tmp_path, monkeypatch, one_thread):
    """Plant a fold bug (the LIF input gain 1/τ forgotten): the plan no longer equals the torch model."""
    torch.manual_seed(3)
    model = randomize_bn(Has8Net("has8-resnet", (1, 8, 8), 10, width=4, depth=1), 4)
    x = images(8)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    monkeypatch.setattr(BitNeuron, "discrete_params", lambda self: {"cur_decay": 1.0, "vol_decay": 0.5, "gain": 1.0})
    export(model, tmp_path)
    plan = read_plan(tmp_path / "dep")
    assert not np.allclose(run(plan, x, fusion.float_chip(plan)).logits, want, atol=1e-6)


def test_unrolled_conv_equals_conv():
    rng = np.random.default_rng(1)
    w = rng.integers(-5, 6, size=(3, 2, 3, 3))
    x = rng.integers(0, 2, size=(4, 2, 7, 7))
    for stride, pad in [(1, 1), (2, 1), (1, 0), (2, 0)]:
        ho = (7 + 2 * pad - 3) // stride + 1
        dense = unroll_conv(w, (2, 7, 7), (3, ho, ho), stride, pad)
        ref = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), stride=stride,
                                         padding=pad).numpy()
        assert np.array_equal(x.reshape(4, -1) @ dense.T, ref.reshape(4, -1))
        assert np.array_equal(fusion.conv2d(x, w, stride, pad), ref)


@pytest.mark.parametrize("neuron,vdecay", [("lif", 2048), ("if", 0)])
def test_segments_are_cuba(neuron, vdecay, tmp_path):
    torch.manual_seed(0)
    model = randomize_bn(Has8Net("has8-vgg", (1, 8, 8), 10, width=4, depth=2, neuron=neuron), 1)
    res = export(model, tmp_path)
    for i, net in res["segments"].items():
        again = netfile.read(tmp_path / "dep" / f"block{i}.net")
        assert netfile.networks_equal(again, net)
        layer = net.layers[0]
        b = res["plan"].blocks[i]
        assert layer.neuron_type == "CUBA" and net.meta.steps == 8 and net.meta.input_encoding == "binary"
        assert layer.neuron["iDecay"] == 4096 and layer.neuron["vDecay"] == vdecay
        s = res["stats"][i].state_frac_bits
        assert layer.neuron["vThMant"] == 2 ** s // 64 and layer.bias.shape == (int(np.prod(b.out_shape)),)
        assert layer.in_features == int(np.prod(b.in_shape)) and layer.out_features == int(np.prod(b.out_shape))


def test_fixed_point_close_to_float(tmp_path, one_thread):
    """hwsim's integer segments change few spikes relative to the folded float chip (8-bit weights, s = 12)."""
    torch.manual_seed(5)
    model = randomize_bn(Has8Net("has8-resnet", (1, 8, 8), 10, width=4, depth=1), 6)
    export(model, tmp_path)
    plan = read_plan(tmp_path / "dep")
    x = images(16, seed=2)
    ref = run(plan, x, fusion.float_chip(plan), record=True)
    got = run(plan, x, HwsimChip(plan, load_segments(plan, tmp_path / "dep")), record=True)
    first = plan.chip_blocks[0]                      # same input planes: only quantization differs
    assert np.array_equal(ref.planes[first], got.planes[first])
    differ = np.mean(ref.spikes[first] != got.spikes[first])
    assert 0 <= differ < 0.02


def test_split_report(tmp_path, one_thread):
    from silava.app.fusion import render_markdown, simulate_fusion, split_report

    torch.manual_seed(0)
    model = randomize_bn(Has8Net("has8-vgg", (1, 8, 8), 10, width=4, depth=1), 2)
    export(model, tmp_path)
    x, y = images(6), np.arange(6) % 10
    plan, res, chip = simulate_fusion(tmp_path / "dep", x)
    rep = split_report(plan, res, chip.reports(), y)
    where = {(r["part"].split(": ")[-1].split(" (")[0], r["where"]) for r in rep["rows"]}
    assert {("ANN path", "host"), ("encoder", "host"), ("SNN path", "chip"), ("head", "host")} <= where
    assert rep["chip"]["segments"] == 2 and rep["chip"]["effective_sops"] > 0 and rep["host"]["macs"] > 0
    assert rep["traffic"]["host_to_chip_spikes"] == pytest.approx(sum(c.mean() for c in res.input_spikes.values()))
    assert rep["accuracy"]["fixed_point"] == float(np.mean(res.predictions == y))
    assert "| chip |" in render_markdown(rep)
    json.dumps(rep, allow_nan=False)


def test_host_costs_count_the_program():
    torch.manual_seed(0)
    model = Has8Net("has8-resnet", (1, 8, 8), 10, width=4, depth=2)
    from silava.export.has8 import fold_has8
    from silava.train.has8 import macs

    plan = fold_has8(model.eval())
    host = fusion.host_costs(plan)
    m = macs(model)
    assert host["ann_macs"] == m["ann_total"] - m["head"] and host["head_macs"] == m["head"]
    assert host["decode_ops"] == sum(8 * int(np.prod(b.out_shape)) for b in plan.blocks)


# ---------------------------------------------------------------------------------------- CLI

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A HAS-8 VGG trained for one epoch on 64 digits (seconds)."""
    from silava.train.train import main

    out = tmp_path_factory.mktemp("h8") / "run"
    assert main(["--task", "digits-image", "--arch", "has8-vgg", "--arch-opt", "width=4", "--arch-opt", "depth=1",
                 "--epochs", "1", "--max-samples", "64", "--threads", "1", "--out", str(out), "--quiet"]) == 0
    return out


def test_fusion_cli(trained, tmp_path, capsys):
    from silava.app.cli import main

    dep = tmp_path / "dep"
    assert main(["fusion", "export", str(trained), "-o", str(dep)]) == 0
    assert "2 chip segments" in capsys.readouterr().out
    plan = read_plan(dep)
    assert plan.meta["task"]["name"] == "digits-image" and 0 <= plan.meta["float_accuracy"] <= 1
    assert main(["fusion", "sim", str(dep), "--samples", "20", "--report", str(tmp_path / "rep"),
                 "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "SNN path (block0.net) | chip" in out and "fixed point (host + chip)" in out
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["samples"] == 20 and (tmp_path / "rep" / "fusion_report.md").is_file()


def test_fusion_cli_errors(trained, tmp_path, capsys):
    from silava.app.cli import main

    def error(argv):
        code = main(["fusion", *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err

    assert "no fusion.json" in error(["sim", str(tmp_path)])
    assert "choose a command" in error([])
    assert "--samples must be" in error(["sim", str(tmp_path), "--samples", "0"])
    sparch = tmp_path / "sparch"
    from silava.train.train import main as train

    assert train(["--task", "randman", "--data-opt", "samples_per_class=6", "--data-opt", "n_classes=2",
                  "--hidden", "4", "--epochs", "1", "--threads", "1", "--out", str(sparch), "--quiet"]) == 0
    assert "use silava export" in error(["export", str(sparch), "-o", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()
    dep = tmp_path / "dep"
    assert main(["fusion", "export", str(trained), "-o", str(dep)]) == 0
    capsys.readouterr()
    assert "would destroy the input" in error(["sim", str(dep), "--json", str(dep / "fusion.json")])
    assert "would destroy the input" in error(["sim", str(dep), "--json", str(dep / "block0.net")])
    (dep / "host.npz").write_bytes(b"broken")
    assert "host.npz: unreadable" in error(["sim", str(dep)])


def test_intsim_conv_equals_unrolled_dense():
    """intsim's conv synapses (torch conv2d) give the spikes and states of its dense synapses on the unrolled
    kernel (export.has8.unroll_conv): two independent routes to the same integer segment."""
    from types import SimpleNamespace

    from silava.train import intsim

    rng = np.random.default_rng(0)
    w = rng.integers(-60, 60, size=(3, 2, 3, 3)) * 2
    spec = SimpleNamespace(in_shape=(2, 6, 6), stride=(2, 2), padding=(1, 1), dilation=(1, 1), groups=1)
    neuron = {"iDecay": 4096, "vDecay": 2048, "vThMant": 64, "refDelay": 1, "gradedSpike": False}
    bias = rng.integers(-50, 50, size=27)
    common = dict(neuron_type="CUBA", neuron=neuron, bias=bias, weight_exp=0, input_message_bits=0)
    conv = dict(weight=w, layer_type="conv", conv=spec, **common)
    dense = dict(weight=unroll_conv(w, (2, 6, 6), (3, 3, 3), 2, 1), **common)
    x = (rng.random((4, 8, 72)) < 0.4).astype(np.int64)
    a, b = intsim.simulate([conv], x), intsim.simulate([dense], x)
    assert torch.equal(a.outputs[0], b.outputs[0]) and int(a.outputs[0].sum()) > 0
    assert all(torch.equal(a.states[0][k], b.states[0][k]) for k in a.states[0])
    w[0, 0, 0, 0] += 2                               # a planted difference in one tap is seen
    assert not torch.equal(intsim.simulate([dict(conv, weight=w)], x).states[0]["V"], b.states[0]["V"])


def test_silava_export_points_to_fusion_export(trained, tmp_path, capsys):
    from silava.app.cli import main

    assert main(["export", str(trained), "-o", str(tmp_path / "model.net")]) == 2
    err = capsys.readouterr().err
    assert "silava fusion export" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "model.net").exists()


# ---------------------------------------------------------------------------------------- conv segments

def _segment_inputs(tmp_path, seed: int = 9):
    """A HAS-8 ResNet's conv segments (default lowering) and the bit planes the host sends each of them."""
    torch.manual_seed(seed)
    model = randomize_bn(Has8Net("has8-resnet", (1, 8, 8), 10, width=4, depth=2), seed)
    res = export(model, tmp_path)
    plan = read_plan(tmp_path / "dep")
    out = run(plan, images(5, seed=seed), fusion.float_chip(plan), record=True)
    return plan, res["segments"], {i: fusion.planes_to_inputs(out.planes[i]) for i in plan.chip_blocks}, model


def test_conv_segments_are_conv_layers(tmp_path):
    plan, segments, _, model = _segment_inputs(tmp_path)
    for i, net in segments.items():
        layer = net.layers[0]
        blk = model.blocks[i]
        assert layer.layer_type == "conv" and layer.weight.shape == tuple(blk.snn_op.weight.shape)
        assert layer.conv.stride == (blk.stride, blk.stride) and layer.conv.padding == (1, 1)
        assert layer.neuron_shape == plan.blocks[i].out_shape and layer.weight_exp == 0
        again = netfile.read(tmp_path / "dep" / f"block{i}.net")
        assert again.layers[0].layer_type == "conv" and np.array_equal(again.layers[0].weight, layer.weight)


def test_ladder_intsim_equals_hwsim_on_conv_segments(tmp_path, monkeypatch):
    """Rung intsim == hwsim: the torch integer emulation and hwsim's golden kernels give the same spikes and
    states (U, V) on every conv segment; a planted bug (intsim convolving with the flipped kernel, i.e.
    Lava's convolution without netx's flip) is caught."""
    from silava.hwsim.simulate import simulate
    from silava.train import intsim

    plan, segments, xs, _ = _segment_inputs(tmp_path)

    def mismatches() -> int:
        bad = 0
        for i, net in segments.items():
            ref = simulate(net, xs[i], record=True)
            got = intsim.simulate(net, xs[i])
            bad += int((got.outputs[0].numpy() != ref.spikes[0]).sum())
            bad += sum(int((got.states[0][k].numpy() != ref.states[0][k]).sum()) for k in ("U", "V"))
        return bad

    assert sum(int(x.sum()) for x in xs.values()) > 0 and mismatches() == 0
    original = torch.nn.functional.conv2d
    monkeypatch.setattr(intsim.torch.nn.functional, "conv2d",
                        lambda x, w, *a, **k: original(x, w.flip(-1, -2), *a, **k))
    assert mismatches() > 0


def test_conv_lowering_equals_dense_lowering(tmp_path):
    """hwsim on the conv layer == hwsim on the same kernel unrolled into a dense matrix (spikes and V)."""
    from silava.export.has8 import quantize_segment
    from silava.hwsim.simulate import simulate

    plan, segments, xs, _ = _segment_inputs(tmp_path)
    from silava.core.fixedpoint import QuantConfig

    for i, net in segments.items():
        dense, _ = quantize_segment(plan.blocks[i], i, QuantConfig(), lowering="dense")
        assert dense.layers[0].layer_type == "dense"
        a, b = simulate(net, xs[i], record=True), simulate(dense, xs[i], record=True)
        assert np.array_equal(a.spikes[0], b.spikes[0]) and np.array_equal(a.states[0]["V"], b.states[0]["V"])


def test_conv_weight_sharing_in_the_mapping(tmp_path):
    """The conv segment's synaptic memory holds each kernel once per core (weight sharing); the unrolled
    dense segment stores every synapse."""
    from silava.core.fixedpoint import QuantConfig
    from silava.export.has8 import quantize_segment
    from silava.hwsim.mapper import map_network

    plan, segments, _, _ = _segment_inputs(tmp_path)
    i = plan.chip_blocks[1]
    conv_map = map_network(segments[i]).to_dict()
    dense_map = map_network(quantize_segment(plan.blocks[i], i, QuantConfig(), lowering="dense")[0]).to_dict()
    bits = lambda m: sum(c["usage"]["synapse_bits"] for c in m["cores"])   # noqa: E731
    w = segments[i].layers[0].weight
    assert len(conv_map["cores"]) == 1 and bits(conv_map) == w.size * 8      # the 8-bit kernel, once
    layer = segments[i].layers[0]
    assert bits(dense_map) == layer.out_features * layer.in_features * 8     # every synapse of the matrix
