"""The hybrid network deployed: export to model.net (dense_rec HYBRID + LI2, graded payloads), and the
equivalence ladder torch integer emulation (intsim, = the QAT forward) == hwsim == Lava on random recurrent
hybrid networks of every variant, each rung with a planted bug; the numpy exporter == the torch quantizer;
a trained p = 0.5 directly connected nsn hybrid end to end (hwsim == Lava on its whole test split, graded
traffic in the report)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_lava

VARIANTS = [("nsn", "direct"), ("nsn", "separate"), ("ann", "direct"), ("ann", "separate")]


def random_hybrid(nonspiking: str, recurrent: str, seed: int):
    """A random hybrid model and its model.net (``silava.export.synth.random_hybrid_network``)."""
    from silava.export.synth import random_hybrid_network

    return random_hybrid_network(nonspiking, recurrent, seed)


def random_inputs(net, n: int, seed: int, steps: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed + 7)
    return (rng.random((n, steps, net.layers[0].in_features)) < 0.4).astype(np.int64)


def ladder_intsim_hwsim(net, x) -> list[str]:
    """Where the torch emulation and hwsim (logical timeline) differ: layer outputs and states."""
    from silava.hwsim.simulate import simulate
    from silava.train.hybrid_qat import simulate_network

    ref = simulate(net, x, record=True)
    mine = simulate_network(net, x, record=True)
    found = []
    if not np.array_equal(ref.outputs[0].astype(np.int64), mine["payload"].numpy()):
        found.append("payload")
    if not np.array_equal(ref.readout, mine["readout"].numpy()):
        found.append("readout")
    for i in range(2):
        for name, arr in ref.states[i].items():
            if not np.array_equal(arr, mine["states"][i][name].numpy()):
                found.append(f"{i}/{name}")
    return found


pytestmark = pytest.mark.skipif(
    "weight_rec_exp" not in __import__("silava.core.netfile", fromlist=["Layer"]).Layer.__dataclass_fields__,
    reason="needs the model.net v2 IR (dense_rec, branch bridge) with the recurrent weight exponent")


@pytest.mark.parametrize("nonspiking,recurrent", VARIANTS)
def test_exported_file_round_trips(nonspiking, recurrent, tmp_path):
    from silava.core import netfile

    _, net, _, q = random_hybrid(nonspiking, recurrent, 1)
    assert net.layers[0].layer_type == "dense_rec" and net.layers[0].neuron_type == "HYBRID"
    assert net.layers[1].input_message_bits == q + (2 if nonspiking == "ann" else 1)
    netfile.write(tmp_path / "model.net", net)
    back = netfile.read(tmp_path / "model.net")
    assert back.layers[0].weight_rec_exp == net.layers[0].weight_rec_exp
    assert np.array_equal(back.layers[0].weight_rec, net.layers[0].weight_rec)
    assert back.meta.decision in ("max_v", "sum_v")


@pytest.mark.parametrize("nonspiking,recurrent", VARIANTS)
def test_numpy_exporter_equals_torch_quantizer(nonspiking, recurrent):
    from silava.train.hybrid_qat import integer_values, quantize_hybrid

    for seed in range(3):
        model, net, config, q = random_hybrid(nonspiking, recurrent, 10 + seed)
        hi = integer_values(quantize_hybrid(model, config, payload_bits=q))
        h, r = net.layers
        assert np.array_equal(hi["weight"], h.weight) and hi["weight_exp"] == h.weight_exp
        assert np.array_equal(hi["weight_rec"], h.weight_rec) and hi["weight_rec_exp"] == h.weight_rec_exp
        assert np.array_equal(hi["weight_out"], r.weight) and hi["weight_out_exp"] == r.weight_exp
        for key, value in h.neuron.items():
            assert np.array_equal(np.asarray(hi["hidden"][key]), np.asarray(value)), key
        for key, value in r.neuron.items():
            assert np.array_equal(np.asarray(hi["readout"][key]), np.asarray(value)), key


@pytest.mark.parametrize("nonspiking,recurrent", VARIANTS)
def test_intsim_equals_hwsim(nonspiking, recurrent):
    """CI-sized rung: 8 random networks per variant, 4 samples each (the slow test runs 200)."""
    for seed in range(8):
        _, net, _, _ = random_hybrid(nonspiking, recurrent, 100 + seed)
        x = random_inputs(net, 4, seed)
        assert ladder_intsim_hwsim(net, x) == [], f"seed {seed}"


@pytest.mark.slow
@pytest.mark.parametrize("nonspiking,recurrent", VARIANTS)
def test_intsim_equals_hwsim_200_networks(nonspiking, recurrent):
    for seed in range(200):
        _, net, _, _ = random_hybrid(nonspiking, recurrent, 1000 + seed)
        assert ladder_intsim_hwsim(net, random_inputs(net, 3, seed)) == [], f"seed {seed}"


def test_intsim_rung_catches_a_planted_bug(monkeypatch):
    """The recurrent Dense taking the feed-forward exponent (a plausible slip) is caught."""
    from silava.train import hybrid_qat

    original = hybrid_qat.rec_dense
    monkeypatch.setattr(hybrid_qat, "rec_dense", lambda w, p, e, c: original(w, p, e + 1, c))
    caught = 0
    for seed in range(4):
        _, net, _, _ = random_hybrid("nsn", "direct", 200 + seed)
        caught += bool(ladder_intsim_hwsim(net, random_inputs(net, 4, seed)))
    assert caught >= 3


def lava_vs_hwsim(net, x) -> list[str]:
    from silava.hwsim.simulate import simulate
    from silava.lava_models.network import run_samples

    ref = simulate(net, x, timeline="logical")
    lava = run_samples(net, x, progress=False)
    found = []
    if not np.array_equal(np.asarray(lava["readout"], dtype=np.int64), ref.readout):
        found.append("readout")
    if not np.array_equal(np.asarray(lava["predictions"]), ref.predictions):
        found.append("predictions")
    return found


@needs_lava
@pytest.mark.lava
@pytest.mark.parametrize("nonspiking,recurrent", VARIANTS)
def test_lava_equals_hwsim(nonspiking, recurrent, shm_guard):
    """CI-sized rung: 2 random networks per variant, 3 samples each, run back to back in Lava."""
    for seed in range(2):
        _, net, _, _ = random_hybrid(nonspiking, recurrent, 300 + seed)
        assert lava_vs_hwsim(net, random_inputs(net, 3, seed)) == [], f"seed {seed}"


@needs_lava
@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("nonspiking,recurrent", VARIANTS)
def test_lava_equals_hwsim_200_networks(nonspiking, recurrent, shm_guard):
    for seed in range(200):
        _, net, _, _ = random_hybrid(nonspiking, recurrent, 2000 + seed)
        assert lava_vs_hwsim(net, random_inputs(net, 2, seed)) == [], f"seed {seed}"


@needs_lava
@pytest.mark.lava
def test_lava_rung_catches_a_planted_bug(shm_guard, monkeypatch):
    """A Lava model whose tanh units drop the bias... here: graded units rounding down instead of to nearest."""
    from silava.lava_models.procs import hybrid as mod

    original = mod.PyHybridModelFixed.step

    def truncating(self, a):
        out = original(self, a)
        graded = self.unit == 0
        out[graded] = np.maximum(out[graded] - 1, 0)
        return out

    monkeypatch.setattr(mod.PyHybridModelFixed, "step", truncating)
    _, net, _, _ = random_hybrid("nsn", "direct", 400)
    assert lava_vs_hwsim(net, random_inputs(net, 3, 0))


@needs_lava
@pytest.mark.lava
def test_trained_hybrid_end_to_end(tmp_path, shm_guard):
    """Done-when: a p = 0.5 directly connected nsn hybrid trains, exports to a model.net with dense_rec and
    graded layers, and hwsim and Lava give identical outputs on the whole test split; the report shows
    graded traffic."""
    from silava.core.netfile import read
    from silava.core.tasks import load_task_arrays
    from silava.export.to_lava import export_checkpoint
    from silava.hwsim.report import build_report
    from silava.hwsim.simulate import simulate
    from silava.lava_models.network import run_samples
    from silava.train.train import main as train

    out = tmp_path / "run"
    assert train(["--task", "randman", "--arch", "hybrid", "--spiking-ratio", "0.5", "--nonspiking", "nsn",
                  "--recurrent", "direct", "--hidden", "12", "--epochs", "2", "--batch-size", "32", "--quiet",
                  "--data-opt", "samples_per_class=25", "--data-opt", "n_classes=3", "--data-opt", "n_steps=20",
                  "--out", str(out)]) == 0
    exported = export_checkpoint(out / "ckpt.pt", output=str(tmp_path / "model.net"))
    net = read(exported.net)
    assert net.layers[0].layer_type == "dense_rec" and net.layers[1].input_message_bits > 0
    x, y = load_task_arrays(net.meta.task["name"], net.meta.task, "test", steps=net.meta.steps)
    sim = simulate(net, x)
    lava = run_samples(net, x, progress=False)
    assert np.array_equal(np.asarray(lava["readout"], dtype=np.int64), sim.readout)
    assert np.array_equal(np.asarray(lava["predictions"]), sim.predictions)
    report = build_report(net, sim, "davies2018", x=x)
    pops = report["hybrid"][0]["populations"]
    assert pops["spiking"]["units"] == 6 and pops["non_spiking"]["units"] == 6
    graded = pops["non_spiking"]
    assert graded["events_per_sample"] > 0 and graded["macs_per_sample"] > 0 and graded["acs_per_sample"] == 0
    assert graded["traffic_bits_per_sample"] > 32 * graded["messages_per_sample"]     # payload bits on top
    assert report["counts"]["total_per_sample"]["effective_macs"] > 0


def test_populations_by_hand():
    """Two spiking and two graded units; known payloads; the readout's and the recurrent synapses' columns."""
    from types import SimpleNamespace

    from silava.core import netfile
    from silava.hwsim.constants import load_constants
    from silava.hwsim.populations import MESSAGE_HEADER_BITS, hybrid_populations

    hidden = SimpleNamespace(neuron_type="HYBRID", neuron={"unit": np.array([1, 1, 0, 0]), "payloadFracBits": 4},
                             weight_rec=np.array([[2, 0, 2, 2]] * 4), weight=np.zeros((4, 3)))
    readout = SimpleNamespace(neuron_type="LI2", weight=np.array([[2, 2, 0, 2], [2, 0, 0, 2]]), input_message_bits=5)
    payload = np.zeros((1, 3, 4), np.int64)
    payload[0, 0] = [16, 0, 5, 0]          # one spike (unit 0), one graded event (unit 2)
    payload[0, 2] = [16, 16, 0, 3]         # two spikes, one graded (unit 3)
    sim = SimpleNamespace(outputs=[payload, np.zeros((1, 3, 2))], in_window=lambda a, i: a)
    net = SimpleNamespace(layers=[hidden, readout])
    (h,) = hybrid_populations(net, sim, load_constants("davies2018"))
    spk, gr = h["populations"]["spiking"], h["populations"]["non_spiking"]
    assert spk["events_per_sample"] == 3 and gr["events_per_sample"] == 2
    # spikes: unit 0 twice (readout col 0: 2 synapses, recurrent col 0: 4), unit 1 once (1 + 0)
    assert spk["acs_per_sample"] == 2 * (2 + 4) + 1 and spk["macs_per_sample"] == 0
    # graded: unit 2 (readout 0, recurrent 4), unit 3 (readout 2, recurrent 4)
    assert gr["macs_per_sample"] == 4 + 6 and gr["acs_per_sample"] == 0
    assert gr["messages_per_sample"] == 4                              # 2 events x 2 destination layers
    assert gr["traffic_bits_per_sample"] == 2 * (MESSAGE_HEADER_BITS + 5) + 2 * (MESSAGE_HEADER_BITS + 4 + 1)
    assert spk["event_rate"] == 3 / (3 * 2)
    assert gr["energy_pj_per_sample"]["total"] > 0
    assert netfile  # the module imports with the v2 IR
