"""ONNX export (silava.export.onnx_io) in onnxruntime: the float graph against the torch model, the integer
graph against hwsim bit for bit, on random networks of every kind, a trained checkpoint, and the CLI.

Independent implementations: the float graph is built from the folded parameters (model.net's float group),
the torch model runs its own neurons (BatchNorm unfolded, fused kernels); the integer graph is written in
ONNX integer ops (Div of non-negative values, Mod with fmod=0, Where, Clip), hwsim runs its numpy kernels on
a float64 carrier. Planted bugs in each graph are caught.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import active_batchnorm

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from silava.core import netfile  # noqa: E402
from silava.export import onnx_io  # noqa: E402
from silava.export.fold import fold_model, folded_from_network  # noqa: E402
from silava.export.synth import full_range_inputs, full_range_network, random_inputs, random_network  # noqa: E402
from silava.hwsim.simulate import simulate  # noqa: E402
from silava.train.model import SpArchNet  # noqa: E402

NEURONS = ["silif", "csilif", "lif", "adlif", "cadlif"]


def _model(neuron: str, seed: int):
    torch.manual_seed(seed)
    return active_batchnorm(SpArchNet(12, [20, 14], 5, neuron), torch.Generator().manual_seed(seed + 1))


def _x(seed: int, batch: int = 4, steps: int = 40, features: int = 12) -> torch.Tensor:
    return (torch.rand(batch, steps, features, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def compare_float(model, x: torch.Tensor, dtype: str) -> dict:
    """Max |ONNX − torch| of readout v and out, and the spike mismatches per hidden layer."""
    model = model.double() if dtype == "float64" else model.float()
    x = x.double() if dtype == "float64" else x.float()
    with torch.no_grad():
        ref = model(x, record=True)
    got = onnx_io.run(onnx_io.float_model(fold_model(model), dtype=dtype), x.numpy())
    return {"readout": float(np.abs(got["readout"] - ref["readout_v"].numpy()).max()),
            "out": float(np.abs(got["out"] - ref["out"].numpy()).max()),
            "spikes": [int(np.sum(got[f"spikes_{i}"] != s.numpy())) for i, s in enumerate(ref["spikes"])],
            "active": [int(s.sum()) for s in ref["spikes"]]}


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_float_graph_reproduces_the_torch_model(neuron, seed):
    model = _model(neuron, seed)
    x = _x(seed + 10)
    r32 = compare_float(model, x, "float32")
    assert min(r32["active"]) > 0
    assert r32["spikes"] == [0, 0] and r32["readout"] <= 1e-5 and r32["out"] <= 1e-5, r32
    r64 = compare_float(model, x, "float64")
    assert r64["spikes"] == [0, 0] and r64["readout"] <= 1e-10 and r64["out"] <= 1e-10, r64


def test_planted_float_bug_is_caught(monkeypatch):
    real = onnx_io.FLOAT_STEPS["SILIF"]

    def no_reset(g, I, st, p, th):   # the previous spike is never subtracted
        return real(g, I, {**st, "P": g.op("Mul", st["P"], g.const(0.0))}, p, th)

    monkeypatch.setitem(onnx_io.FLOAT_STEPS, "SILIF", no_reset)
    r = compare_float(_model("silif", 0), _x(10), "float64")
    assert r["readout"] > 1e-3 or sum(r["spikes"]) > 0


# --------------------------------------------------------------------------- integer graph vs hwsim

def mismatches(net: netfile.Network, x: np.ndarray) -> tuple[int, int, dict]:
    """ONNX integer graph vs hwsim (logical timeline): mismatching readout values and spikes, and the
    hwsim counters (saturations, wraps) the run went through."""
    sim = simulate(net, x)
    got = onnx_io.run(onnx_io.integer_model(net), x)
    bad = int(np.sum(got["readout"] != sim.readout))
    n_layers = len(net.layers)
    for i, s in enumerate(sim.spikes):
        key = f"spikes_{i}"
        if i == n_layers - 1:          # a spiking last layer: its spikes are the readout
            continue
        bad += int(np.sum(got[key] != s))
    return bad, int(sim.readout.size + sum(s.size for s in sim.spikes)), dict(sim.counters["total"])


CASES = [(kind, bits, readout) for kind in ("SILIF", "CSILIF", "CUBA") for bits in (0, 8) for readout in (True, False)]


@pytest.mark.parametrize("kind,bits,readout", CASES)
def test_integer_graph_equals_hwsim(kind, bits, readout):
    total = 0
    for seed in range(4):
        net = random_network(kind, [24, 20, 16, 5], steps=30, seed=seed, input_message_bits=bits, readout=readout,
                             decay_bits=12 + 2 * seed if kind != "CUBA" else 12)
        x = random_inputs(net, 6, seed=seed + 50)
        bad, n, _ = mismatches(net, x)
        assert bad == 0
        total += n
    assert total > 0


#: the kinds with an ONNX integer step (full_range_network draws from these)
ONNX_KINDS = tuple(onnx_io.INTEGER_STEPS)


def test_integer_graph_equals_hwsim_over_the_full_integer_range():
    """Every integer drawn over its whole legal range: saturation, the CUBA 24-bit wrap and Lava's int32 wraps
    all happen, and the ONNX graph still equals hwsim bit for bit."""
    seen: dict = {}
    for seed in range(40):
        net = full_range_network(seed, kinds=ONNX_KINDS)
        bad, _, counters = mismatches(net, full_range_inputs(net, 4, seed + 100))
        assert bad == 0, seed
        for k, v in counters.items():
            seen[k] = seen.get(k, 0) + v
    assert seen.get("saturate", 0) > 0 and seen.get("wrap", 0) > 0 and seen.get("int32_overflow", 0) > 0, seen


@pytest.mark.parametrize("bug", ["floor_not_trunc", "no_int32_wrap"])
def test_planted_integer_bugs_are_caught(bug, monkeypatch):
    if bug == "floor_not_trunc":      # mul(k, x, D) rounding toward -inf instead of toward zero
        def wrong(g, k, x, d):
            p = g.op("Mul", k, x)
            two = g.ints(1 << d)
            return g.op("Div", g.op("Sub", p, g.op("Mod", p, two, fmod=0)), two)

        monkeypatch.setattr(onnx_io, "_mul", wrong)
        net = random_network("SILIF", [24, 20, 5], steps=30, seed=1)
        x = random_inputs(net, 4, seed=2)
    else:                              # Lava's int32 arithmetic ignored
        monkeypatch.setattr(onnx_io, "_wrap32", lambda g, x: x)
        net = next(n for n in (full_range_network(s, kinds=ONNX_KINDS) for s in range(40))
                   if simulate(n, full_range_inputs(n, 4, 7)).counters["total"].get("int32_overflow"))
        x = full_range_inputs(net, 4, 7)
    assert mismatches(net, x)[0] > 0


# --------------------------------------------------------------------------- a trained checkpoint and the CLI

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from test_compare import train_tiny

    return train_tiny(tmp_path_factory.mktemp("onnx") / "run")


def test_trained_checkpoint_through_the_cli(trained, tmp_path, capsys):
    from silava.app.cli import main
    from silava.core.tasks import load_task_arrays
    from silava.train.checkpoint import load_checkpoint

    assert main(["export", str(trained), "--to", "onnx", "-o", str(tmp_path / "f.onnx")]) == 0
    assert main(["export", str(trained), "--to", "onnx-int", "-o", str(tmp_path / "i.onnx")]) == 0
    assert main(["export", str(trained), "-o", str(tmp_path / "model.net")]) == 0
    assert main(["export", str(tmp_path / "model.net"), "--to", "onnx-int", "-o", str(tmp_path / "i2.onnx")]) == 0
    capsys.readouterr()
    assert (tmp_path / "i.onnx").read_bytes() == (tmp_path / "i2.onnx").read_bytes()
    net = netfile.read(tmp_path / "model.net")
    x, _ = load_task_arrays(net.meta.task["name"], net.meta.task, "test", max_samples=64, steps=net.meta.steps)
    sim = simulate(net, x)
    got = onnx_io.run(tmp_path / "i.onnx", x)
    assert np.array_equal(got["readout"], sim.readout) and np.array_equal(got["spikes_0"], sim.spikes[0])
    model, _ = load_checkpoint(trained)
    with torch.no_grad():
        ref = model.eval()(torch.tensor(x, dtype=torch.float32), record=True)
    fl = onnx_io.run(tmp_path / "f.onnx", x.astype(np.float32))
    assert np.abs(fl["readout"] - ref["readout_v"].numpy()).max() <= 1e-5
    assert np.abs(fl["out"] - ref["out"].numpy()).max() <= 1e-5
    assert all(np.array_equal(fl[f"spikes_{i}"], s.numpy()) for i, s in enumerate(ref["spikes"]))


def test_cli_refuses_a_file_without_float_group(tmp_path, capsys):
    from silava.app.cli import main

    net = random_network("SILIF", [6, 5, 3], steps=4, seed=0)
    netfile.write(tmp_path / "m.net", net)
    assert main(["export", str(tmp_path / "m.net"), "--to", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no float parameters" in err
    assert not (tmp_path / "model.onnx").exists()
    assert main(["export", str(tmp_path / "m.net"), "--to", "onnx-int"]) == 0
    assert (tmp_path / "model.int.onnx").is_file()


def test_float_model_of_a_file_equals_the_folded_network():
    from folded_reference import simulate_folded

    from silava.export.quantize import quantize_network

    model = _model("lif", 3)
    net, _ = quantize_network(fold_model(model), meta=netfile.Meta(steps=20, n_inputs=12, n_classes=5))
    folded = folded_from_network(net)
    x = _x(5, steps=20).numpy().astype(np.float64)
    ref = simulate_folded(folded, x)
    got = onnx_io.run(onnx_io.float_model(folded, dtype="float64"), x)
    np.testing.assert_allclose(got["readout"], ref["readout_v"], atol=1e-12)
