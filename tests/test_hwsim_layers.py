"""hwsim's counts, mapper and report for the model.net v2 layer types (conv, dense_rec, input, graded).

The SOP counts are compared with independent brute-force counts written here (NeuroBench's
effective synaptic operations: per non-zero input, the non-zero synapses it reaches): a conv input
event costs the non-zero kernel taps that land on valid outputs; a recurrent layer's own spikes of
the step before count too; graded payloads above 1 are MACs.
"""
from __future__ import annotations

import numpy as np
import pytest

from silava.export.synth import (random_conv_network, random_graded_inputs, random_inputs, random_network,
                                 random_sdnn_network)
from silava.hwsim.counts import counts_from_sim, summarize
from silava.hwsim.mapper import CoreLimits, map_network
from silava.hwsim.simulate import simulate


def brute_conv_taps(weight: np.ndarray, spec) -> np.ndarray:
    """Per input (c, y, x), flat C order: the non-zero taps that reach a valid output (plain loops)."""
    c_out, cg, kh, kw = weight.shape
    c, h, w = spec.in_shape
    ho, wo = spec.out_hw((kh, kw))
    og = c_out // spec.groups
    taps = np.zeros((c, h, w), dtype=np.int64)
    for o in range(c_out):
        for ci in range(cg):
            cin = (o // og) * cg + ci
            for ky in range(kh):
                for kx in range(kw):
                    if weight[o, ci, ky, kx] == 0:
                        continue
                    for oy in range(ho):
                        for ox in range(wo):
                            y = oy * spec.stride[0] - spec.padding[0] + ky * spec.dilation[0]
                            x = ox * spec.stride[1] - spec.padding[1] + kx * spec.dilation[1]
                            if 0 <= y < h and 0 <= x < w:
                                taps[cin, y, x] += 1
    return taps.reshape(-1)


@pytest.mark.parametrize("geo", [dict(kernel=3, padding=1), dict(kernel=3, stride=2, padding=1),
                                 dict(kernel=2, dilation=2, groups=2)])
def test_conv_sops_are_the_taps_reaching_valid_outputs(geo):
    net = random_conv_network("CUBA", (4, 6, 5), [4], 10, seed=3, dense=[5, 3], **geo)
    x = random_inputs(net, 3, seed=4, rate=0.3)
    sim = simulate(net, x)
    counts = counts_from_sim(net, x, sim)
    taps = brute_conv_taps(net.layers[0].weight, net.layers[0].conv)
    want = (x != 0).astype(np.int64) @ taps                        # [B, T]
    np.testing.assert_array_equal(counts.layers[0].effective_ops, want)
    assert counts.layers[0].effective_macs.sum() == 0
    # the dense layer after the conv: its input is the conv layer's spikes, flat in C order
    w = net.layers[1].weight
    want1 = sim.outputs[0].astype(np.int64) @ np.count_nonzero(w, axis=0)
    np.testing.assert_array_equal(counts.layers[1].effective_ops, want1)


def test_recurrent_sops_count_the_own_spikes_of_the_step_before():
    net = random_network("SILIF", [9, 8, 6, 3], 16, seed=2, recurrent=True)
    x = random_inputs(net, 3, seed=5)
    sim = simulate(net, x)
    counts = counts_from_sim(net, x, sim)
    layer = net.layers[0]
    own = np.zeros_like(sim.outputs[0], dtype=np.int64)
    own[:, 1:] = sim.outputs[0][:, :-1]
    want = (x != 0).astype(np.int64) @ np.count_nonzero(layer.weight, axis=0) \
        + own @ np.count_nonzero(layer.weight_rec, axis=0)
    np.testing.assert_array_equal(counts.layers[0].effective_ops, want)
    s = summarize(counts)["layers"][0]
    assert s["per_sample"]["dense_sops"] == 16 * 8 * (9 + 8)


def test_graded_payloads_between_layers_are_macs():
    net = random_sdnn_network([6, 8, 4], 16, seed=1)
    x = random_graded_inputs(net, 3, seed=2)
    counts = counts_from_sim(net, x, simulate(net, x))
    assert counts.layers[0].effective_ops.sum() == 0                  # an input layer: no synapses
    assert counts.layers[1].effective_macs.sum() > 0 and counts.layers[1].effective_acs.sum() == 0
    want = (simulate(net, x).outputs[0] != 0).astype(np.int64) @ np.count_nonzero(net.layers[1].weight, axis=0)
    np.testing.assert_array_equal(counts.layers[1].effective_ops, want)


def test_conv_weight_sharing_in_synaptic_memory():
    """A conv core stores one kernel per output channel it holds; a dense one every synapse."""
    net = random_conv_network("CUBA", (2, 8, 8), [6], 10, seed=1, dense=[4])
    words = 2 * 3 * 3
    m = map_network(net, CoreLimits(neurons_per_core=100))             # 6 x 8 x 8 = 384 neurons -> 4 cores
    cores = [m.cores[c] for c in m.layer_cores[0]]
    assert len(cores) == 4
    for core in cores:
        channels = (core.stop - 1) // 64 - core.start // 64 + 1
        assert core.usage.synapse_bits == channels * words * 8
        assert core.usage.fan_in <= 2 * 8 * 8
    dense = m.cores[m.layer_cores[1][0]]
    assert dense.usage.synapse_bits == 4 * 384 * 8


def test_recurrent_layer_sends_to_its_own_cores():
    net = random_network("CUBA", [10, 40, 3], 8, seed=1, recurrent=True)
    m = map_network(net, CoreLimits(neurons_per_core=16))              # 40 neurons -> 3 cores
    cores = [m.cores[c] for c in m.layer_cores[0]]
    assert len(cores) == 3
    # dense encoding: every neuron reaches the readout's core and every core of its own layer
    assert all(c.usage.fan_out == c.neurons * (1 + 3) for c in cores)
    assert all(c.usage.fan_in == 10 + 40 for c in cores)


def test_report_for_every_layer_type(tmp_path):
    from silava.hwsim.report import build_report, write_report

    for net, x in [
        (random_conv_network("SILIF", (2, 6, 6), [4, 3], 12, seed=2, dense=[8, 3]), None),
        (random_network("CSILIF", [9, 8, 6, 3], 16, seed=2, recurrent=True), None),
        (random_sdnn_network([0, 10, 4], 16, seed=1, conv_shape=(2, 5, 5), conv_channels=(3,), recurrent=True), "g")]:
        x = random_graded_inputs(net, 2, seed=1) if x else random_inputs(net, 2, seed=1, rate=0.3)
        rep = build_report(net, simulate(net, x), None, x=x)
        write_report(rep, tmp_path / net.meta.task["name"])
        assert [l["layer_type"] for l in rep["network"]["layers"]] == [l.layer_type for l in net.layers]
        assert rep["counts"]["total_per_sample"]["effective_sops"] > 0
        assert rep["run"]["lava_steps_per_sample"] == net.meta.steps + net.delays()[-1]
