"""silava.hwsim.counts: NeuroBench SOPs, spikes, messages, active updates, buffers and memory.

The SOP reference below is an independent count written with torch: NeuroBench 2.3.0's
``SynapticOperations`` definition (spec lava_loihi.md §5) applied to ``nn.Linear`` layers that
hold the deployed integer weights, with a forward pre-hook on each per-step call — binarise
the inputs and a copy of the layer's weights, run, sum; AC if every input is in {−1, 0, 1},
else MAC; dense = all inputs and weights set to one. NeuroBench itself is not installable
here (it needs snntorch and torchaudio, which would pull another torch), so the hook logic is
re-implemented from its source. The layers are fed the spike tensors recorded by the bit-exact
simulator on the same inputs, one sample per call (NeuroBench with batch size 1).
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from silava.export.synth import random_inputs, random_network
from silava.hwsim.counts import (NEURON_COSTS, count_activity, counts_from_sim, neuron_memory_bits, static_counts,
                          summarize)
from silava.hwsim.mapper import CoreLimits, map_network
from silava.hwsim.simulate import simulate

torch = pytest.importorskip("torch")


def neurobench_sops(weights: list[np.ndarray], layer_inputs: list[np.ndarray]) -> list[dict]:
    """Per layer ``{"acs", "macs", "dense", "acs_bt", "macs_bt"}`` counted the NeuroBench way."""
    out = []
    for w, xs in zip(weights, layer_inputs):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w, dtype=torch.float64))
        recorded = []                                  # the hook records each call's input, as NeuroBench's does
        handle = lin.register_forward_pre_hook(lambda module, inputs: recorded.append(inputs[0].clone()))
        with torch.no_grad():
            for b in range(xs.shape[0]):
                for t in range(xs.shape[1]):
                    lin(torch.tensor(xs[b, t][None, :], dtype=torch.float64))
        handle.remove()
        acc = {"acs": 0, "macs": 0, "dense": 0, "calls": []}
        with torch.no_grad():
            for x in recorded:                         # SynapticOperations on every recorded call
                binary = copy.deepcopy(lin)
                binary.weight.copy_((binary.weight != 0).to(binary.weight.dtype))
                ops = int(binary((x != 0).to(x.dtype)).sum().item())
                is_ac = bool(torch.all((x == -1) | (x == 0) | (x == 1)))
                dense = copy.deepcopy(lin)
                dense.weight.fill_(1.0)
                acc["dense"] += int(dense(torch.ones_like(x)).sum().item())
                acc["acs" if is_ac else "macs"] += ops
                acc["calls"].append((ops if is_ac else 0, 0 if is_ac else ops))
        calls = np.array(acc["calls"]).reshape(xs.shape[0], xs.shape[1], 2)
        out.append({"acs": acc["acs"], "macs": acc["macs"], "dense": acc["dense"],
                    "acs_bt": calls[..., 0], "macs_bt": calls[..., 1]})
    return out


def _layer_inputs(net, x, sim) -> list[np.ndarray]:
    """What each Dense receives, from the simulator's recorded spikes (numpy, not hwsim code)."""
    bits = int(net.layers[0].input_message_bits)
    first = np.clip(x, 0, 2**bits - 1) if bits else (x != 0).astype(np.int64)
    steps = net.meta.steps
    spikes = [s[:, off:off + steps] for s, off in zip(sim.spikes, sim.offsets)]
    return [first] + spikes[: len(net.layers) - 1]


@pytest.mark.parametrize("ntype,bits", [("SILIF", 0), ("CSILIF", 8), ("CUBA", 0), ("SILIF", 8)])
def test_sops_equal_neurobench_count(ntype, bits):
    net = random_network(ntype, [24, 20, 16, 5], steps=12, seed=3, input_message_bits=bits)
    x = random_inputs(net, 3, seed=4, rate=0.3)
    if bits:
        x[0, 2] = (x[0, 2] > 0).astype(np.int64)    # a graded step whose payloads are all <= 1: an AC call
    sim = simulate(net, x)
    counts = counts_from_sim(net, x, sim)
    ref = neurobench_sops([layer.weight for layer in net.layers], _layer_inputs(net, x, sim))
    summary = summarize(counts)
    for lc, r, s in zip(counts.layers, ref, summary["layers"]):
        assert r["acs"] + r["macs"] > 0
        np.testing.assert_array_equal(lc.effective_acs, r["acs_bt"])
        np.testing.assert_array_equal(lc.effective_macs, r["macs_bt"])
        assert s["per_sample"]["effective_acs"] == pytest.approx(r["acs"] / 3)
        assert s["per_sample"]["effective_macs"] == pytest.approx(r["macs"] / 3)
        assert s["per_sample"]["dense_sops"] == pytest.approx(r["dense"] / 3)
    if bits:
        first = counts.layers[0]
        assert first.effective_macs.sum() > 0 and first.effective_acs[0, 2] > 0
    else:
        assert all(lc.effective_macs.sum() == 0 for lc in counts.layers)


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
    assert {k: v.state_words for k, v in NEURON_COSTS.items()} == {"CUBA": 2, "SILIF": 2, "CSILIF": 2, "LI": 1,
                                                                    "HYBRID": 2, "LI2": 2}
    assert {k: v.prev_spike_bits for k, v in NEURON_COSTS.items()} == {"CUBA": 0, "SILIF": 1, "CSILIF": 1, "LI": 0,
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
