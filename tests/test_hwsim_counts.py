"""silava.hwsim.counts: NeuroBench SOPs, spikes, messages, active updates, buffers and memory.

The SOP, sparsity and membrane-update references are NeuroBench 2.3.0 itself (pinned; installed
``--no-deps`` next to snnTorch, its metrics import without torchaudio or tonic): a
``NeuroBenchModel`` that replays the bit-exact simulator's run through torch modules —
``nn.Linear`` layers holding the deployed integer weights (or the float model's weights) and
snnTorch ``SpikingNeuron`` modules that return the recorded outputs and expose the recorded
membrane as ``mem`` — one sample at a time (NeuroBench with batch size 1), one call per time
step. NeuroBench's own hooks record what each layer receives; its metrics do the counting.

NeuroBench pitfall (docs/interfaces.md, "NeuroBench"): its per-layer sparsity
(``ActivationSparsityByLayer``) keys layers by the module's own name (``named_children``), so
the neuron modules of every SpArch layer, all named ``neuron``, fall into one key. We rename
the hooks to their full module path (``layers.0.neuron``) after ``register_hooks()``.
"""
from __future__ import annotations

import numpy as np
import pytest

from silava.export.synth import random_inputs, random_network
from silava.hwsim.counts import (NEURON_COSTS, count_activity, counts_from_sim, neuron_memory_bits, static_counts,
                                 summarize)
from silava.hwsim.mapper import CoreLimits, map_network
from silava.hwsim.simulate import simulate

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")
from neurobench.metrics.workload import (ActivationSparsity, ActivationSparsityByLayer,  # noqa: E402
                                         MembraneUpdates, SynapticOperations)
from neurobench.models.neurobench_model import NeuroBenchModel  # noqa: E402


class ReplayNeuron(snn.Leaky):
    """A snnTorch neuron that returns a recorded output and exposes the recorded membrane as ``mem``."""

    def __init__(self, outputs: np.ndarray, membrane: np.ndarray, clock: dict) -> None:
        super().__init__(beta=0.5)
        self.outputs, self.membrane, self.clock = outputs, membrane, clock

    def forward(self, input_):                         # noqa: D401  (input_ only feeds NeuroBench's hooks)
        b, t = self.clock["b"], self.clock["t"]
        self.mem = torch.tensor(self.membrane[b:b + 1, t], dtype=torch.float64)
        return torch.tensor(self.outputs[b:b + 1, t], dtype=torch.float64), self.mem


class Stage(torch.nn.Module):
    """One SpArch-like layer: ``linear`` then ``neuron`` (the module names our models use)."""

    def __init__(self, weight: np.ndarray, neuron: torch.nn.Module) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor(weight, dtype=torch.float64))
        self.neuron = neuron

    def forward(self, x):
        return self.neuron(self.linear(x))[0]


class ReplayNet(torch.nn.Module):
    def __init__(self, stages: list[Stage]) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(stages)

    def forward(self, x):
        for stage in self.layers:
            x = stage(x)
        return x


class ReplayModel(NeuroBenchModel):
    """NeuroBench's view of a recorded run: one forward call per time step of one sample."""

    def __init__(self, net: ReplayNet, first_input: np.ndarray, clock: dict) -> None:
        super().__init__()
        self.net, self.first_input, self.clock = net, first_input, clock
        self.add_activation_module(snn.SpikingNeuron)

    def __net__(self):
        return self.net

    def __call__(self, data):
        return self.net(data)


def replay(net, x, sim, weights=None):
    """A :class:`ReplayModel` of the run ``sim`` (needs ``record=True``) with ``weights`` (default: deployed)."""
    steps = net.meta.steps
    clock = {"b": 0, "t": 0}
    bits = int(net.layers[0].input_message_bits)
    first = np.clip(x, 0, 2**bits - 1) if bits else (x != 0).astype(np.int64)
    spikes = iter(s[:, off:off + steps] for s, off in zip(sim.spikes, sim.offsets))
    stages = []
    for i, layer in enumerate(net.layers):
        kind = NEURON_COSTS[layer.neuron_type]
        out = next(spikes) if kind.spiking else sim.readout[:, sim.offsets[i]:sim.offsets[i] + steps]
        from silava.core.kinds import KINDS
        mem = sim.states[i][KINDS[layer.neuron_type].membrane][:, sim.offsets[i]:sim.offsets[i] + steps]
        w = layer.weight if weights is None else weights[i]
        stages.append(Stage(np.asarray(w, dtype=np.float64), ReplayNeuron(out, mem, clock)))
    model = ReplayModel(ReplayNet(stages), first, clock)
    model.register_hooks()
    return model


def neurobench_run(model, samples: int, steps: int) -> dict:
    """NeuroBench's metrics on the replayed run: per-step ACs / MACs ``[B, T]`` (SynapticOperations on
    every call), per-sample membrane updates, global and per-layer activation sparsity."""
    syn, mem, sparsity, by_layer = SynapticOperations(), MembraneUpdates(), ActivationSparsity(), ActivationSparsityByLayer()
    acs = np.zeros((samples, steps), dtype=np.int64)
    macs = np.zeros_like(acs)
    mem_per_sample = np.zeros(samples)
    sparsity_zeros = sparsity_total = 0
    for b in range(samples):
        model.reset_hooks()
        for t in range(steps):
            model.clock.update(b=b, t=t)
            data = torch.tensor(model.first_input[b:b + 1, t], dtype=torch.float64)
            preds = model(data)
            before = (syn.AC, syn.MAC)
            syn(model, preds, (data, None))
            acs[b, t], macs[b, t] = syn.AC - before[0], syn.MAC - before[1]
            for hook in model.connection_hooks:          # the next call counts this step's inputs only
                hook.reset()
        before = sum(mem.neuron_membrane_updates.values())
        mem(model, None, (torch.zeros(1), None))
        mem_per_sample[b] = sum(mem.neuron_membrane_updates.values()) - before
        outs = [o for h in model.activation_hooks for o in h.activation_outputs]
        sparsity_zeros += sum(int((o == 0).sum()) for o in outs)
        sparsity_total += sum(o.numel() for o in outs)
        assert sparsity(model, None, None) == pytest.approx(sum(int((o == 0).sum()) for o in outs)
                                                           / sum(o.numel() for o in outs))
        by_layer(model, None, None)
    return {"acs": acs, "macs": macs, "dense": syn.total_synops / samples, "membrane_updates": mem_per_sample,
            "sparsity": sparsity_zeros / sparsity_total, "by_layer": by_layer.compute()}


@pytest.mark.parametrize("ntype,bits", [("SILIF", 0), ("CSILIF", 8), ("CUBA", 0), ("SILIF", 8)])
def test_counts_equal_neurobench(ntype, bits):
    net = random_network(ntype, [24, 20, 16, 5], steps=12, seed=3, input_message_bits=bits)
    x = random_inputs(net, 3, seed=4, rate=0.3)
    if bits:
        x[0, 2] = (x[0, 2] > 0).astype(np.int64)    # a graded step whose payloads are all <= 1: an AC call
    sim = simulate(net, x, record=True)
    counts = counts_from_sim(net, x, sim)
    model = replay(net, x, sim)
    ref = neurobench_run(model, 3, net.meta.steps)
    acs = sum(lc.effective_acs for lc in counts.layers)
    macs = sum(lc.effective_macs for lc in counts.layers)
    np.testing.assert_array_equal(acs, ref["acs"])
    np.testing.assert_array_equal(macs, ref["macs"])
    summary = summarize(counts)
    tot = summary["total_per_sample"]
    assert tot["dense_sops"] == pytest.approx(ref["dense"])
    assert tot["effective_acs"] == pytest.approx(ref["acs"].sum() / 3)
    np.testing.assert_array_equal(sum(lc.membrane_updates.sum(axis=1) for lc in counts.layers),
                                  ref["membrane_updates"])
    assert tot["membrane_updates"] == pytest.approx(ref["membrane_updates"].mean())
    assert summary["activation_sparsity"] == pytest.approx(ref["sparsity"])
    # the pitfall: every neuron module is named "neuron", so NeuroBench's per-layer sparsity has one key
    assert set(ref["by_layer"]) == {"neuron"}
    if bits:
        first = counts.layers[0]
        assert first.effective_macs.sum() > 0 and first.effective_acs[0, 2] > 0
    else:
        assert macs.sum() == 0


def test_per_layer_sparsity_with_renamed_hooks():
    """The workaround: name each hook by its full module path; then NeuroBench's per-layer
    sparsity equals ours layer by layer."""
    net = random_network("CSILIF", [16, 12, 10, 4], steps=9, seed=21)
    x = random_inputs(net, 2, seed=22, rate=0.3)
    sim = simulate(net, x, record=True)
    model = replay(net, x, sim)
    paths = {id(m): name for name, m in model.net.named_modules()}
    for hook in model.activation_hooks:
        hook.name = paths[id(hook.layer)]
    ref = neurobench_run(model, 2, net.meta.steps)
    ours = summarize(counts_from_sim(net, x, sim))["layers"]
    assert list(ref["by_layer"]) == [f"layers.{i}.neuron" for i in range(3)]
    for i, layer in enumerate(ours):
        assert ref["by_layer"][f"layers.{i}.neuron"] == pytest.approx(layer["activation_sparsity"])


def test_float_model_weights_count_equals_neurobench():
    """"NeuroBench on the float model": NeuroBench given the float weights on the same rasters; the
    deployed count is lower by the weights quantization rounded to zero."""
    net = random_network("SILIF", [30, 24, 6], steps=10, seed=31)
    rng = np.random.default_rng(32)
    for layer in net.layers:                     # a float group: the integers' values, plus small weights
        w = layer.weight.astype(np.float64) * 2.0 ** (layer.weight_exp + 6) / 2**12
        tiny = (layer.weight == 0) & (rng.random(w.shape) < 0.5)
        w[tiny] = 1e-6                           # below the quantization step: deployed as zero
        layer.float_params = {"weight": w}
    x = random_inputs(net, 2, seed=33, rate=0.3)
    sim = simulate(net, x, record=True)
    counts = counts_from_sim(net, x, sim)
    ref = neurobench_run(replay(net, x, sim, [l.float_params["weight"] for l in net.layers]), 2, 10)
    np.testing.assert_array_equal(sum(lc.float_effective_acs for lc in counts.layers), ref["acs"])
    tot = summarize(counts)["total_per_sample"]
    assert tot["float_effective_acs"] > tot["effective_acs"]


def test_counts_identical_on_both_timelines():
    net = random_network("CSILIF", [16, 12, 10, 4], steps=10, seed=5)
    x = random_inputs(net, 2, seed=6)
    a = counts_from_sim(net, x, simulate(net, x, timeline="logical"))
    b = counts_from_sim(net, x, simulate(net, x, timeline="lava"))
    for la, lb in zip(a.layers, b.layers):
        for name in ("effective_acs", "output_events", "messages", "active_neurons", "core_synops"):
            np.testing.assert_array_equal(getattr(la, name), getattr(lb, name))


def test_event_counts_match_the_simulator_bookkeeping():
    net = random_network("CUBA", [18, 14, 6], steps=9, seed=13, input_message_bits=8)
    x = random_inputs(net, 3, seed=14)
    sim = simulate(net, x)                            # logical timeline: step t of every layer at index t
    counts = counts_from_sim(net, x, sim)
    for i, lc in enumerate(counts.layers):
        np.testing.assert_array_equal(lc.input_events, sim.input_events[i])
        np.testing.assert_array_equal(lc.output_events, sim.output_events[i])


def test_spikes_sparsity_and_short_inputs():
    net = random_network("SILIF", [10, 8, 3], steps=9, seed=1)
    x = random_inputs(net, 2, seed=2)[:, :6]          # shorter than meta.steps: zero-padded like simulate
    sim = simulate(net, x)
    counts = counts_from_sim(net, x, sim)
    hidden, readout = counts.layers
    np.testing.assert_array_equal(hidden.output_events, sim.spikes[0].sum(axis=-1))
    np.testing.assert_array_equal(readout.output_events, np.count_nonzero(sim.readout, axis=-1))
    s = summarize(counts)
    zeros = (sim.spikes[0] == 0).sum() + (sim.readout == 0).sum()
    assert s["activation_sparsity"] == pytest.approx(zeros / (sim.spikes[0].size + sim.readout.size))
    assert s["layers"][0]["per_sample"]["spikes"] == pytest.approx(sim.spikes[0].sum() / 2)
    assert s["layers"][1]["per_sample"]["spikes"] == 0
    assert hidden.input_events[:, 6:].sum() == 0


def test_active_neurons_without_bias_are_those_with_input():
    net = random_network("SILIF", [20, 15, 4], steps=8, seed=7, bias=False)
    x = random_inputs(net, 2, seed=8, rate=0.05)
    sim = simulate(net, x)
    counts = counts_from_sim(net, x, sim)
    nz = net.layers[0].weight != 0
    got = (((x != 0).astype(int) @ nz.T.astype(int)) > 0).sum(axis=-1)
    np.testing.assert_array_equal(counts.layers[0].active_neurons, got)
    assert 0 < got.sum() < 15 * 8 * 2


def test_active_neurons_with_bias_always_active():
    net = random_network("SILIF", [20, 15, 4], steps=8, seed=7)
    net.layers[0].bias = np.full(15, 3, dtype=np.int64)
    x = np.zeros((1, 8, 20), dtype=np.int64)
    counts = count_activity(net, x, [np.zeros((1, 8, 15), np.uint8), np.zeros((1, 8, 4), np.int64)])
    assert (counts.layers[0].active_neurons == 15).all()


def test_messages_and_hops_per_destination_core():
    net = random_network("SILIF", [6, 10, 4], steps=5, seed=9)
    limits = CoreLimits(neurons_per_core=3, chip_width=4, chip_height=4, cores_per_chip=16, tile_width=1,
                        tile_height=1)
    mapping = map_network(net, limits)
    assert [len(c) for c in mapping.layer_cores] == [4, 2]
    x = random_inputs(net, 2, seed=10, rate=0.5)
    sim = simulate(net, x)
    counts = counts_from_sim(net, x, sim, mapping)
    hidden, readout = counts.layers
    # every input event goes to each of the 4 cores of layer 0; every spike to both readout cores
    np.testing.assert_array_equal(counts.host_messages, 4 * (x != 0).sum(axis=-1))
    np.testing.assert_array_equal(hidden.messages, 2 * sim.spikes[0].sum(axis=-1))
    np.testing.assert_array_equal(readout.messages, np.count_nonzero(sim.readout, axis=-1))
    # hops: cores 0..5 at x = 0..3 on row 0, then (0,1), (1,1); host at tile (0, 0)
    pos = {c.index: (c.tile_x, c.tile_y) for c in mapping.cores}
    assert pos == {0: (0, 0), 1: (1, 0), 2: (2, 0), 3: (3, 0), 4: (0, 1), 5: (1, 1)}
    host_hx = sum(pos[c][0] for c in range(4))
    np.testing.assert_array_equal(counts.host_hops_x, host_hx * (x != 0).sum(axis=-1))
    spikes = sim.spikes[0]
    exp_x = np.zeros(spikes.shape[:2], dtype=np.int64)
    exp_y = np.zeros_like(exp_x)
    for core in mapping.cores[:4]:
        n = spikes[..., core.start:core.stop].sum(axis=-1).astype(np.int64)
        for dst in (4, 5):
            exp_x += n * abs(core.tile_x - pos[dst][0])
            exp_y += n * abs(core.tile_y - pos[dst][1])
    np.testing.assert_array_equal(hidden.hops_x, exp_x)
    np.testing.assert_array_equal(hidden.hops_y, exp_y)
    # per-core synops add up to the layer's
    np.testing.assert_array_equal(hidden.core_synops.sum(axis=-1), hidden.effective_ops)


def test_sparse_encoding_sends_only_where_weights_are_nonzero():
    net = random_network("SILIF", [4, 6, 2], steps=3, seed=11)
    w = np.zeros((6, 4), dtype=np.int64)
    w[:3, 0] = 2                       # input 0 feeds neurons 0-2 only (core 0)
    w[3:, 1] = 4                       # input 1 feeds neurons 3-5 only (core 1)
    net.layers[0].weight = w
    mapping = map_network(net, CoreLimits(neurons_per_core=3, synapse_encoding="sparse"))
    x = np.zeros((1, 3, 4), dtype=np.int64)
    x[0, 0, 0] = 1
    x[0, 1, :] = 1
    outs = [np.zeros((1, 3, 6), np.uint8), np.zeros((1, 3, 2), np.int64)]
    counts = count_activity(net, x, outs, mapping)
    np.testing.assert_array_equal(counts.host_messages[0], [1, 2, 0])
    np.testing.assert_array_equal(counts.layers[0].core_synops[0], [[3, 0], [3, 3], [0, 0]])


def test_buffers_and_memory_at_deployed_widths():
    # MULTIOUT's entry is per layer (N words, M + 1 narrow bits: NeuronCost.for_layer); declared: one of each
    assert {k: v.state_words for k, v in NEURON_COSTS.items()} == {"CUBA": 2, "SILIF": 2, "CSILIF": 2, "LI": 1,
                                                                 "RF": 2, "MULTIOUT": 1, "DELTA": 2, "SIGMA_DELTA": 3, "SIGMA": 1,
                                                                    "HYBRID": 2, "LI2": 2}
    assert {k: v.prev_spike_bits for k, v in NEURON_COSTS.items()} == {"CUBA": 0, "SILIF": 1, "CSILIF": 1, "LI": 0,
                                                                      "RF": 1, "MULTIOUT": 2, "DELTA": 0, "SIGMA_DELTA": 0, "SIGMA": 0,
                                                                       "HYBRID": 0, "LI2": 0}
    net = random_network("SILIF", [7, 5, 3], steps=4, seed=12)
    s0, s1 = static_counts(net)
    assert (s0["buffers"], s0["prev_spike_bits"], s1["buffers"], s1["prev_spike_bits"]) == (10, 5, 3, 0)
    # SILIF, D = 12: alpha/beta 13, coupling 14, spikeAdapt 24 per neuron, bias 13; vThMant (17), decayBits,
    # stateFracBits (5 + 5) shared
    mem = neuron_memory_bits(net.layers[0])
    assert mem["param_bits_per_neuron"] == 13 + 13 + 14 + 24 + 13
    assert mem["shared_param_bits"] == 17 + 5 + 5
    assert mem["state_bits_per_neuron"] == 49
    bits = s0["memory_bits"]
    assert bits["weights"] == 5 * 7 * 8 + 4
    assert bits["states"] == 5 * 2 * 24 and bits["prev_spike"] == 5 and bits["bias"] == 5 * 13
    assert bits["total"] == sum(v for k, v in bits.items() if k != "total")
    assert s0["dense_ops_per_step"] == 35
    assert s0["connection_sparsity"] == round(1 - np.count_nonzero(net.layers[0].weight) / 35, 4)


def test_count_activity_rejects_wrong_shapes():
    net = random_network("SILIF", [4, 3, 2], steps=3, seed=1)
    x = np.zeros((1, 3, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="layer/1"):
        count_activity(net, x, [np.zeros((1, 3, 3)), np.zeros((1, 3, 5))])
    with pytest.raises(ValueError, match="expected 2 output arrays"):
        count_activity(net, x, [np.zeros((1, 3, 3))])
