"""silava.hwsim.mapper: per rule a network that just fits and one that just does not; splitting; placement."""
from __future__ import annotations

import re

import numpy as np
import pytest

from silava.export.synth import random_network
from silava.hwsim.mapper import (RULES, CoreLimits, CoreUsage, MappingError, check_core, check_fan_in, check_fan_out,
                          check_neurons_per_core, check_state_memory, check_synapse_memory, map_network)

NO_SPLIT = dict(split=False)


def _net(sizes=(12, 10, 3), ntype="SILIF", seed=0):
    return random_network(ntype, list(sizes), steps=4, seed=seed)


def _over(message: str) -> int:
    return int(re.search(r"over by (\d+)", message).group(1))


# --------------------------------------------------------------------------- one rule at a time

def test_neurons_per_core_rule():
    net = _net()
    map_network(net, CoreLimits(neurons_per_core=10, **NO_SPLIT))
    with pytest.raises(MappingError) as err:
        map_network(net, CoreLimits(neurons_per_core=9, **NO_SPLIT))
    msg = str(err.value)
    assert "layer/0 (SILIF 12->10)" in msg and "neurons per core 10 > limit 9" in msg and _over(msg) == 1


def test_synapse_memory_rule():
    net = _net()
    bits = 10 * 12 * 8                                   # dense 8-bit weights of layer 0
    map_network(net, CoreLimits(synapse_bits_per_core=bits, **NO_SPLIT))
    with pytest.raises(MappingError) as err:
        map_network(net, CoreLimits(synapse_bits_per_core=bits - 1, **NO_SPLIT))
    msg = str(err.value)
    assert "layer/0" in msg and "synaptic memory" in msg and f"> limit {bits - 1} bits" in msg and _over(msg) == 1


def test_state_memory_rule():
    net = _net()
    bits = 10 * (2 * 24 + 1)                             # SILIF: u, w (24 bit) + previous spike
    map_network(net, CoreLimits(state_bits_per_core=bits, **NO_SPLIT))
    with pytest.raises(MappingError) as err:
        map_network(net, CoreLimits(state_bits_per_core=bits - 1, **NO_SPLIT))
    msg = str(err.value)
    assert "layer/0" in msg and "state memory 490 bits > limit 489 bits" in msg and _over(msg) == 1


def test_fan_in_rule_cannot_be_fixed_by_splitting():
    net = _net()
    map_network(net, CoreLimits(fan_in_per_core=12, **NO_SPLIT))
    for split in (False, True):
        with pytest.raises(MappingError) as err:
            map_network(net, CoreLimits(fan_in_per_core=11, split=split))
        msg = str(err.value)
        assert "layer/0 (SILIF 12->10)" in msg and "fan-in (input axons) 12 > limit 11" in msg and _over(msg) == 1
    assert "cannot be split" in msg


def test_fan_out_rule():
    net = _net()
    # layer 0 (10 neurons) feeds layer 1 on one core: 10 output axons; the readout: one per neuron to the host
    map_network(net, CoreLimits(fan_out_per_core=10, **NO_SPLIT))
    with pytest.raises(MappingError) as err:
        map_network(net, CoreLimits(fan_out_per_core=9, **NO_SPLIT))
    msg = str(err.value)
    assert "layer/0" in msg and "fan-out (output axons) 10 > limit 9" in msg and _over(msg) == 1


def test_total_cores_rule():
    net = _net()
    small = dict(cores_per_chip=4, chip_width=2, chip_height=2, tile_width=1, tile_height=1)
    m = map_network(net, CoreLimits(neurons_per_core=5, max_chips=1, **small))      # 2 + 1 cores
    assert m.n_cores == 3
    map_network(net, CoreLimits(neurons_per_core=4, max_chips=1, **small))          # 3 + 1 = 4 cores: fits
    with pytest.raises(MappingError) as err:
        map_network(net, CoreLimits(neurons_per_core=3, max_chips=1, **small))      # 4 + 1 = 5 cores
    msg = str(err.value)
    assert "cores 5 > limit 4" in msg and _over(msg) == 1


def test_rule_functions_directly():
    lim = CoreLimits()
    ok = CoreUsage(layer="layer/3 (LI 8->2)", core=1, neurons=lim.neurons_per_core,
                   synapse_bits=lim.synapse_bits_per_core, state_bits=lim.state_bits_per_core, param_bits=0,
                   fan_in=lim.fan_in_per_core, fan_out=lim.fan_out_per_core)
    assert check_core(ok, lim) == []
    for rule, field in ((check_neurons_per_core, "neurons"), (check_synapse_memory, "synapse_bits"),
                        (check_state_memory, "state_bits"), (check_fan_in, "fan_in"), (check_fan_out, "fan_out")):
        bad = CoreUsage(**{**ok.__dict__, field: getattr(ok, field) + 7})
        msg = rule(bad, lim)
        assert msg.startswith("layer/3 (LI 8->2) core 1:") and _over(msg) == 7
        assert len(check_core(bad, lim)) == 1
    assert len(RULES) == 5


# --------------------------------------------------------------------------- splitting and placement

def test_split_into_fewest_slices_with_full_fan_in():
    net = random_network("SILIF", [140, 512, 512, 20], steps=4, seed=1)
    m = map_network(net)                                  # defaults: 128 KB synaptic memory per core
    assert [len(c) for c in m.layer_cores] == [1, 2, 1]    # 512 x 512 x 8 bit = 2 x 128 KB
    assert m.cores[1].usage.synapse_bits == m.limits.synapse_bits_per_core
    m = map_network(net, CoreLimits(neurons_per_core=100))
    assert [len(c) for c in m.layer_cores] == [6, 6, 1]
    for i, cores in enumerate(m.layer_cores):
        spans = [(m.cores[c].start, m.cores[c].stop) for c in cores]
        assert spans[0][0] == 0 and spans[-1][1] == net.layers[i].out_features
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        sizes = [b - a for a, b in spans]
        assert max(sizes) - min(sizes) <= 1
        for c in cores:
            assert m.cores[c].usage.fan_in == net.layers[i].in_features
            assert check_core(m.cores[c].usage, m.limits) == []
    # fan-out of a layer-0 core: each neuron sends to the 6 cores of layer 1
    assert m.cores[0].usage.fan_out == m.cores[0].neurons * 6


def test_fan_out_forces_a_split():
    net = _net((6, 10, 3))
    m = map_network(net, CoreLimits(fan_out_per_core=5))
    assert len(m.layer_cores[0]) == 2 and all(m.cores[c].usage.fan_out <= 5 for c in m.layer_cores[0])


def test_placement_tiles_and_chips():
    net = random_network("SILIF", [4, 300, 2], steps=2, seed=2)
    m = map_network(net, CoreLimits(neurons_per_core=2))
    assert m.n_cores == 151 and m.n_chips == 2
    c = m.cores
    assert [(c[i].x, c[i].y) for i in range(4)] == [(0, 0), (1, 0), (0, 1), (1, 1)]   # one 2x2 tile
    assert (c[4].tile_x, c[4].tile_y) == (1, 0) and (c[32].tile_x, c[32].tile_y) == (0, 1)
    assert c[128].chip == 1 and (c[128].tile_x, c[128].tile_y) == (8, 0)
    assert m.hops(c[0], c[128]) == (8, 0) and m.hops(None, c[33]) == (0, 1) and m.hops(c[1], c[2]) == (0, 0)
    assert m.tiles_used == 38
    assert any("multi-chip" in n for n in m.notes)
    d = m.to_dict()
    assert d["cores_used"] == 151 and d["chips_used"] == 2 and len(d["cores"]) == 151
    assert set(d["cores"][0]["occupancy"]) == {"neurons", "synapse_bits", "state_bits", "fan_in", "fan_out"}


def test_sparse_encoding_counts_nonzero_synapses_and_axons():
    net = _net((8, 4, 2))
    w = np.zeros((4, 8), dtype=np.int64)
    w[0, :3] = 2
    w[1:, 5] = -4
    w[3, 6] = 2
    net.layers[0].weight = w
    m = map_network(net, CoreLimits(synapse_encoding="sparse"))
    u = m.cores[0].usage
    assert u.fan_in == 5 and u.synapse_bits == 7 * (8 + 3)            # 7 synapses, 8-bit weight + 3-bit index
    assert m.conn[0][:, 0].tolist() == [True, True, True, False, False, True, True, False]
    with pytest.raises(MappingError, match="fan-in"):
        map_network(net, CoreLimits(synapse_encoding="sparse", fan_in_per_core=4, split=False))
    m = map_network(net, CoreLimits(synapse_encoding="sparse", fan_in_per_core=4))   # the readout has fan-in 4
    assert [m.cores[c].usage.fan_in for c in m.layer_cores[0]] == [4, 2]


def test_bad_limits_are_one_line_errors():
    with pytest.raises(MappingError, match="neurons_per_core: expected a positive integer"):
        CoreLimits(neurons_per_core=0)
    with pytest.raises(MappingError, match="synapse_encoding"):
        CoreLimits(synapse_encoding="csr")
    with pytest.raises(MappingError, match="cores_per_chip"):
        CoreLimits(cores_per_chip=100)
