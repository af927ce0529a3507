"""silava.hwsim.cost and silava.hwsim.constants: hand-computed cases, monotonicity, constant files."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from silava.export.synth import random_inputs, random_network
from silava.hwsim.constants import BUILTIN, FIELDS, ConstantsError, load_constants
from silava.hwsim.cost import estimate_cost, summarize_cost
from silava.hwsim.counts import count_activity, counts_from_sim
from silava.hwsim.mapper import CoreLimits, map_network
from silava.hwsim.simulate import simulate


def _tiny(weight, bias=None, bits=0):
    """One LI layer (one core) with the given integer weights."""
    net = random_network("LI", [weight.shape[1], weight.shape[0]], steps=2, seed=0, input_message_bits=bits)
    net.layers[0].weight = np.asarray(weight, dtype=np.int64)
    net.layers[0].bias = bias
    return net


# --------------------------------------------------------------------------- hand-computed

def test_one_core_hand_computed_davies2018():
    """3 inputs -> 2 LI neurons on one core, 1 sample x 2 steps, Davies 2018 Table 2 numbers."""
    const = load_constants("davies2018")
    table = {"e_synop_pj": 23.6, "t_synop_ns": 3.5, "e_neuron_active_pj": 81.0, "t_neuron_active_ns": 8.4,
             "e_neuron_inactive_pj": 52.0, "t_neuron_inactive_ns": 5.3, "e_message_pj": 1.7, "t_message_ns": 2.1,
             "t_barrier_base_ns": 113.0, "p_static_mw_per_chip": 104.0, "e_spike_pj": 0.0, "t_spike_ns": 0.0}
    assert {k: const[k] for k in table} == table
    net = _tiny(np.array([[2, 0, 4], [0, 0, 6]]))
    x = np.array([[[1, 1, 0], [0, 0, 1]]])
    v = np.array([[[5, 0], [7, 3]]])                  # readout values: 1 then 2 non-zero outputs
    counts = count_activity(net, x, [v])
    cost = estimate_cost(counts, const)
    # step 0: inputs 0, 1 -> synops nnz(W[:,0]) + nnz(W[:,1]) = 1; neuron 0 active (W00 != 0), neuron 1 not;
    #         host sends 2 input messages, the core sends 1 output message to the host; no hops (one tile)
    # step 1: input 2 -> synops 2, both neurons active; 1 host message in, 2 out
    busy0 = 2 * 5.3 + 1 * (8.4 - 5.3) + 1 * 3.5 + 1 * 2.1
    busy1 = 2 * 5.3 + 2 * (8.4 - 5.3) + 2 * 3.5 + 2 * 2.1
    np.testing.assert_allclose(cost.step_time_ns[0], [busy0 + 113.0, busy1 + 113.0])
    np.testing.assert_allclose(cost.host_busy_ns[0], [2 * 2.1, 1 * 2.1])
    dyn0 = 81.0 + 52.0 + 1 * 23.6 + (1 + 2) * 1.7
    dyn1 = 2 * 81.0 + 2 * 23.6 + (2 + 1) * 1.7
    np.testing.assert_allclose(cost.dynamic_energy_pj[0], [dyn0, dyn1])
    np.testing.assert_allclose(cost.static_energy_pj[0], [104.0 * (busy0 + 113.0), 104.0 * (busy1 + 113.0)])
    s = summarize_cost(cost, counts, dt=1e-3)
    assert s["per_sample"]["energy_pj"] == pytest.approx(dyn0 + dyn1 + 104.0 * (busy0 + busy1 + 226.0))
    assert s["per_sample"]["time_ns"] == pytest.approx(busy0 + busy1 + 226.0)
    assert s["energy_breakdown_pj_per_sample"]["synaptic_ops"] == pytest.approx(3 * 23.6)
    assert s["realtime"]["static_energy_pj_per_sample"] == pytest.approx(104.0 * 2 * 1e-3 * 1e9)
    assert s["label"] == "estimate (constants: davies2018)"


def test_graded_macs_hops_and_sanafe_hand_computed():
    """Graded input (MACs), two cores in separate tiles (hops), SANA-FE's numbers incl. spike cost."""
    const = load_constants("sanafe")
    assert (const["e_mac_extra_pj"], const["e_spike_pj"], const["t_spike_ns"], const["e_hop_x_pj"],
            const["t_hop_x_ns"], const["t_barrier_base_ns"]) == (0.2, 69.3, 30.0, 3.0, 4.1, 299.0)
    net = _tiny(np.array([[2, 2], [0, 4]]), bits=8)
    limits = CoreLimits(neurons_per_core=1, chip_width=16, chip_height=8, tile_width=1, tile_height=1)
    mapping = map_network(net, limits)                # neuron 0 on core 0 (tile 0,0), neuron 1 on core 1 (tile 1,0)
    x = np.array([[[3, 1], [0, 0]]])                  # step 0: payload 3 -> MACs; step 1: nothing
    v = np.array([[[0, 9], [0, 0]]])                  # neuron 1 outputs once
    counts = count_activity(net, x, [v], mapping)
    cost = estimate_cost(counts, const)
    # step 0: synops core0 = 2 (inputs 0, 1), core1 = 1 (input 1); all are MACs (payload 3 in the call);
    # host -> core0 (0 hops) and core1 (1 x-hop): input 0 goes to both cores, input 1 to both: 4 messages, 2 hops
    # core1 sends its output to the host: 1 message, 1 hop
    e_step0 = (1 * 72.8 + 1 * 72.8                   # both active (input)
               + 3 * 35.5 + 3 * 0.2                  # synops + MAC extra
               + 1 * 69.3                            # one output event
               + (4 + 1) * 76.8 + (2 + 1) * 3.0)     # messages and x hops
    e_step1 = 2 * 51.2                               # no input, no bias: inactive
    np.testing.assert_allclose(cost.dynamic_energy_pj[0], [e_step0, e_step1])
    t_core0 = 9.7 + 2 * 4.0
    t_core1 = 9.7 + 1 * 4.0 + 30.0 + 7.6 + 4.1        # its output message travels one hop to the host
    t_host = 4 * 7.6 + 4.1
    np.testing.assert_allclose(cost.step_time_ns[0], [max(t_core0, t_core1, t_host) + 299.0, 6.0 + 299.0])
    assert cost.barrier_ns == 299.0


def test_barrier_grows_with_tiles_for_davies():
    net = random_network("SILIF", [4, 40, 2], steps=2, seed=0)
    x = random_inputs(net, 1, seed=0)
    sim = simulate(net, x)
    one = estimate_cost(counts_from_sim(net, x, sim), "davies2018")
    many = estimate_cost(counts_from_sim(net, x, sim, map_network(net, CoreLimits(neurons_per_core=4))), "davies2018")
    assert one.barrier_ns == 113.0
    tiles = map_network(net, CoreLimits(neurons_per_core=4)).tiles_used
    assert tiles == 3 and many.barrier_ns == pytest.approx(113.0 + 11.355 * 2)


# --------------------------------------------------------------------------- monotonicity

@pytest.fixture(scope="module")
def run():
    net = random_network("CSILIF", [20, 16, 12, 4], steps=10, seed=2)
    x = random_inputs(net, 3, seed=3)
    sim = simulate(net, x)
    mapping = map_network(net, CoreLimits(neurons_per_core=5, tile_width=1, tile_height=1))
    return net, x, sim, counts_from_sim(net, x, sim, mapping)


@pytest.mark.parametrize("name", ["davies2018", "sanafe"])
def test_more_events_cost_more_energy_and_no_less_time(run, name):
    _, _, _, counts = run
    base = estimate_cost(counts, name)
    rng = np.random.default_rng(0)
    fields = ("effective_acs", "effective_macs", "output_events", "active_neurons", "messages", "hops_x",
              "hops_y", "core_synops", "core_macs", "core_active", "core_output_events", "core_messages")
    for trial in range(4):
        more = copy.deepcopy(counts)
        lc = more.layers[trial % len(more.layers)]
        for f in fields:
            arr = getattr(lc, f)
            arr += rng.integers(0, 3, arr.shape)
        more.host_messages += rng.integers(0, 2, more.host_messages.shape)
        cost = estimate_cost(more, name)
        assert (cost.energy_pj >= base.energy_pj).all() and cost.energy_pj.sum() > base.energy_pj.sum()
        assert (cost.step_time_ns >= base.step_time_ns - 1e-9).all()


def test_more_spikes_end_to_end():
    net = random_network("SILIF", [30, 24, 5], steps=12, seed=4)
    lo, hi = (random_inputs(net, 2, seed=5, rate=r) for r in (0.03, 0.5))
    c_lo, c_hi = (counts_from_sim(net, x, simulate(net, x)) for x in (lo, hi))
    assert c_hi.layers[0].output_events.sum() > c_lo.layers[0].output_events.sum()
    e_lo, e_hi = (estimate_cost(c) for c in (c_lo, c_hi))
    assert e_hi.energy_pj.sum() > e_lo.energy_pj.sum()
    assert e_hi.step_time_ns.sum() >= e_lo.step_time_ns.sum()


# --------------------------------------------------------------------------- constant files

def test_builtin_sets_cite_every_number():
    for name in BUILTIN:
        const = load_constants(name)
        assert set(const.values) == set(FIELDS)
        assert all(len(const.sources[k]) > 10 for k in FIELDS)
        assert const.label == f"estimate (constants: {const.name})"
        d = const.to_dict()
        assert d["constants"]["e_synop_pj"]["unit"] == "pJ"
    assert "p_static_mw_per_chip" in load_constants("davies2018").assumptions


def _write(tmp_path, doc, name="c.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_user_constants_file_overrides(tmp_path):
    with open(load_constants("davies2018").path, encoding="utf-8") as f:
        doc = json.load(f)
    doc["name"] = "mine"
    doc["constants"]["e_synop_pj"]["value"] = 1.0
    const = load_constants(_write(tmp_path, doc))
    assert const.name == "mine" and const["e_synop_pj"] == 1.0


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d["constants"].pop("t_synop_ns"), "constants/t_synop_ns: missing"),
    (lambda d: d["constants"]["e_synop_pj"].update(value=-1), "constants/e_synop_pj/value: expected a finite number"),
    (lambda d: d["constants"]["e_synop_pj"].update(value="23.6"), "constants/e_synop_pj/value"),
    (lambda d: d["constants"]["e_synop_pj"].update(unit="nJ"), "constants/e_synop_pj/unit: expected 'pJ'"),
    (lambda d: d["constants"]["e_synop_pj"].update(source=""), "constants/e_synop_pj/source"),
    (lambda d: d["constants"].update(e_bogus_pj={"value": 1, "unit": "pJ", "source": "x"}), "e_bogus_pj: unknown"),
    (lambda d: d.update(schema="other"), "schema: expected"),
    (lambda d: d.update(name=""), "name: expected"),
])
def test_invalid_constants_file_one_line_error(tmp_path, mutate, needle):
    with open(load_constants("sanafe").path, encoding="utf-8") as f:
        doc = json.load(f)
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(ConstantsError) as err:
        load_constants(path)
    msg = str(err.value)
    assert needle in msg and str(path) in msg and "\n" not in msg


def test_unreadable_constants(tmp_path):
    with pytest.raises(ConstantsError, match="no such file or built-in set"):
        load_constants(tmp_path / "missing.json")
    with pytest.raises(ConstantsError, match="invalid JSON"):
        load_constants(_write(tmp_path, "{not json"))
    with pytest.raises(ConstantsError, match="no such file or built-in set; use a JSON file or one of davies2018"):
        load_constants("davies2019")
