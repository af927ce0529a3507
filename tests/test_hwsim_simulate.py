"""silava.hwsim.simulate: both timelines against step-by-step references, batching, inputs, decisions."""
from __future__ import annotations


import numpy as np
import pytest

from conftest import needs_lava
from silava.core.netfile import Layer, Meta, Network, validate
from silava.export.synth import random_inputs, random_network
from silava.core.decision import decide, softmax_sum_scores
from silava.hwsim.kernels import KERNELS, Counters, clip_graded, dense
from silava.hwsim.simulate import SimInputError, lava_weight_clips, simulate

# (neuron type, readout, input_message_bits)
CASES = [("SILIF", True, 0), ("CSILIF", True, 8), ("CUBA", True, 0), ("CUBA", False, 8), ("SILIF", False, 0)]


def _net(kind: str, readout: bool, bits: int, seed: int = 0, steps: int = 30) -> Network:
    return random_network(kind, [12, 10, 8, 4], steps, seed=seed, readout=readout, input_message_bits=bits)


def _params(layer: Layer) -> dict:
    p = dict(layer.neuron)
    p["bias"] = layer.bias if layer.bias is not None else 0
    return p


def _reference(net: Network, x: np.ndarray, timeline: str):
    """One sample, step by step, the way Lava passes messages (int64 kernels, explicit buffers).

    lava: at global step k the source sends x[k-1] (zeros after T); Dense i sends the buffer it
    computed at step k-1 (zeros at k = 1) and buffers what it receives now; layer i zeroes its
    state before integrating at k = i + 2. logical: no buffers, no resets.
    Returns per layer the outputs [T', n] and states {name: [T', n]}.
    """
    layers = net.layers
    steps = net.meta.steps
    total = steps + len(layers) if timeline == "lava" else steps
    kernels = [KERNELS[layer.neuron_type] for layer in layers]
    states = [k.init_state((layer.out_features,)) for k, layer in zip(kernels, layers)]
    buffers = [np.zeros(layer.out_features, np.int64) for layer in layers]
    outs = [np.zeros((total, layer.out_features), np.int64) for layer in layers]
    recs = [{name: np.zeros((total, layer.out_features), np.int64) for name in k.state_names}
            for k, layer in zip(kernels, layers)]
    bits = layers[0].input_message_bits
    for k in range(1, total + 1):
        signal = clip_graded(x[k - 1], bits) if k <= x.shape[0] else np.zeros(x.shape[1], np.int64)
        for i, (layer, kernel) in enumerate(zip(layers, kernels)):
            a_now = dense(layer.weight, signal, layer.weight_exp, graded=i == 0 and bits > 0)
            if timeline == "lava":
                a_now, buffers[i] = buffers[i], a_now
                if k == i + 2:
                    states[i] = kernel.init_state((layer.out_features,))
            out, states[i] = kernel.step(a_now, states[i], _params(layer))
            outs[i][k - 1] = out
            for name in kernel.state_names:
                recs[i][name][k - 1] = states[i][name]
            signal = out
    return outs, recs


@pytest.mark.parametrize("timeline", ["lava", "logical"])
@pytest.mark.parametrize("kind,readout,bits", CASES)
def test_simulate_matches_step_by_step_reference(kind, readout, bits, timeline):
    net = _net(kind, readout, bits, seed=3)
    x = random_inputs(net, 3, seed=4, rate=0.4)
    res = simulate(net, x, timeline=timeline, record=True, batch_size=2)
    n_layers = len(net.layers)
    total = net.meta.steps + (n_layers if timeline == "lava" else 0)
    assert res.readout.shape == (3, total, net.meta.n_classes) and res.readout.dtype == np.int64
    spiking = [i for i, layer in enumerate(net.layers) if KERNELS[layer.neuron_type].spiking]
    assert len(res.spikes) == len(spiking)
    for b in range(3):
        outs, recs = _reference(net, x[b], timeline)
        np.testing.assert_array_equal(res.readout[b], outs[-1])
        for j, i in enumerate(spiking):
            assert res.spikes[j].dtype == np.uint8
            np.testing.assert_array_equal(res.spikes[j][b], outs[i])
        for i in range(n_layers):
            for name, arr in recs[i].items():
                np.testing.assert_array_equal(res.states[i][name][b], arr, err_msg=f"layer {i} {name}")
    assert sum(int(s.sum()) for s in res.spikes) > 0


@pytest.mark.parametrize("kind,readout,bits", CASES)
def test_lava_timeline_is_logical_shifted_by_layer(kind, readout, bits):
    """Layer i at global step t + i + 1 equals the logical layer i at data step t (1-based)."""
    net = _net(kind, readout, bits, seed=7, steps=40)
    x = random_inputs(net, 5, seed=8, rate=0.3)
    logical = simulate(net, x, record=True)
    lava = simulate(net, x, timeline="lava", record=True)
    steps, n_layers = net.meta.steps, len(net.layers)
    assert lava.offsets == [i + 1 for i in range(n_layers)] and logical.offsets == [0] * n_layers
    for i in range(n_layers):
        for name in KERNELS[net.layers[i].neuron_type].state_names:
            np.testing.assert_array_equal(lava.states[i][name][:, i + 1:i + 1 + steps], logical.states[i][name])
        np.testing.assert_array_equal(lava.in_window(lava.output_events[i], i), logical.output_events[i])
        np.testing.assert_array_equal(lava.in_window(lava.input_events[i], i), logical.input_events[i])
    for j in range(len(logical.spikes)):
        np.testing.assert_array_equal(lava.in_window(lava.spikes[j], j), logical.spikes[j])
    np.testing.assert_array_equal(lava.readout[:, n_layers:n_layers + steps], logical.readout)
    np.testing.assert_array_equal(lava.predictions, logical.predictions)
    np.testing.assert_array_equal(lava.predictions_sum_v, logical.predictions_sum_v)


def test_batch_equals_single_runs_and_chunking():
    net = _net("CSILIF", True, 0, seed=11)
    x = random_inputs(net, 7, seed=12, rate=0.3)
    full = simulate(net, x, timeline="lava", record=True)
    for chunk in (1, 3):
        done = []
        again = simulate(net, x, timeline="lava", record=True, batch_size=chunk, progress=done.append)
        np.testing.assert_array_equal(again.readout, full.readout)
        assert again.counters == full.counters
        assert sum(done) == 7 and len(done) == -(-7 // chunk)
    for threads in (1, 3):
        again = simulate(net, x, timeline="lava", record=True, batch_size=2, threads=threads)
        np.testing.assert_array_equal(again.readout, full.readout)
        for name in again.states[0]:
            np.testing.assert_array_equal(again.states[0][name], full.states[0][name])
        assert again.counters == full.counters
    for b in range(7):
        one = simulate(net, x[b:b + 1], timeline="lava", record=True)
        np.testing.assert_array_equal(one.readout[0], full.readout[b])
        for s1, sb in zip(one.spikes, full.spikes):
            np.testing.assert_array_equal(s1[0], sb[b])
        for st1, stb in zip(one.states, full.states):
            for name in st1:
                np.testing.assert_array_equal(st1[name][0], stb[name][b])
        assert one.predictions[0] == full.predictions[b]


def test_short_inputs_are_zero_padded():
    net = _net("SILIF", True, 0, seed=2)
    x = random_inputs(net, 2, seed=3)
    short = x[:, :17]
    padded = np.concatenate([short, np.zeros((2, 13, 12), np.int64)], axis=1)
    a, b = simulate(net, short, timeline="lava"), simulate(net, padded, timeline="lava")
    np.testing.assert_array_equal(a.readout, b.readout)
    assert a.readout.shape[1] == 30 + 3
    # bool and small integer dtypes are accepted
    np.testing.assert_array_equal(simulate(net, x.astype(bool)).readout, simulate(net, x).readout)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((2, 30)), "shape \\[samples, steps, features\\]"),
    (np.zeros((2, 30, 11), np.int64), "11 features but the network expects 12"),
    (np.zeros((2, 31, 12), np.int64), "31 steps but the network runs 30"),
    (np.zeros((0, 30, 12), np.int64), "no samples"),
    (np.full((1, 30, 12), 0.5), "must be integers"),
    (np.array([[["a"] * 12] * 30]), "must be integers"),
])
def test_bad_inputs_raise_one_line_errors(bad, match):
    net = _net("SILIF", True, 0)
    with pytest.raises(SimInputError, match=match) as info:
        simulate(net, bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="unknown timeline"):
        simulate(net, np.zeros((1, 30, 12), np.int64), timeline="loihi")


def test_counters_per_layer_and_total():
    net = _net("CSILIF", True, 8, seed=5, steps=80)
    layer = net.layers[0]
    layer.bias = np.full(layer.out_features, 4095)        # drive the first layer into saturation
    layer.neuron["cosDecay"] = np.full(layer.out_features, 2**12)
    layer.neuron["sinDecay"] = np.zeros(layer.out_features, np.int64)
    validate(net)
    x = random_inputs(net, 2, seed=6)
    x[0, 0, :3] = [256, 1000, -1]                          # three payloads outside [0, 255]
    res = simulate(net, x)                                 # X grows by >= 4095 << 6 per step: saturates
    assert res.counters["layer/0"]["input_clip"] == 3
    assert res.counters["layer/0"]["saturate"] > 0
    total = Counters()
    for i in range(len(net.layers)):
        total.merge(res.counters[f"layer/{i}"])
    assert res.counters["total"] == total


def test_event_counts_match_spikes():
    net = _net("SILIF", True, 8, seed=9)
    x = random_inputs(net, 3, seed=10)
    for timeline, delay in (("logical", 0), ("lava", 1)):
        res = simulate(net, x, timeline=timeline)
        total = res.readout.shape[1]
        src = np.zeros((3, total + delay, 12), np.int64)      # events reach layer i `delay` steps later
        src[:, delay:delay + 30] = clip_graded(x, 8)
        np.testing.assert_array_equal(res.input_events[0], np.count_nonzero(src[:, :total], axis=-1))
        for i, spikes in enumerate(res.spikes):
            sent = spikes.sum(axis=-1)
            np.testing.assert_array_equal(res.output_events[i], sent)
            np.testing.assert_array_equal(res.input_events[i + 1][:, delay:], sent[:, :total - delay])
            assert not res.input_events[i + 1][:, :delay].any()
        np.testing.assert_array_equal(res.output_events[-1], np.count_nonzero(res.readout, axis=-1))


def test_decision_rules_by_hand():
    # two classes, S = 4: V/S = [8, 0] once, then [0, 1] three times.
    # softmax_sum: [0.99966 + 3 * 0.26894, 0.00034 + 3 * 0.73106] = [1.806, 2.194] -> class 1
    # sum_v: [32, 12] -> class 0
    v = np.array([[[32, 0], [0, 4], [0, 4], [0, 4]]])
    scores = softmax_sum_scores(v, 4)
    np.testing.assert_allclose(scores, [[1 / (1 + np.exp(-8)) + 3 / (1 + np.e),
                                         1 / (1 + np.exp(8)) + 3 * np.e / (1 + np.e)]])
    assert decide(v, 4, "softmax_sum")[0] == 1
    assert decide(v, 4, "sum_v")[0] == 0
    assert decide(np.array([[[5, 5]]]), 4, "sum_v")[0] == 0          # ties -> lowest class
    with pytest.raises(ValueError, match="unknown decision"):
        decide(v, 4, "vote")


def test_predictions_follow_meta_decision_and_spiking_readout():
    net = _net("SILIF", True, 0, seed=13)
    x = random_inputs(net, 6, seed=14)
    res = simulate(net, x)
    scale = 2 ** net.layers[-1].neuron["stateFracBits"]
    np.testing.assert_array_equal(res.predictions, decide(res.readout, scale, "softmax_sum"))
    np.testing.assert_array_equal(res.predictions_sum_v, np.argmax(res.readout.sum(axis=1), axis=-1))
    net.meta.decision = "sum_v"
    assert simulate(net, x).decision == "sum_v"
    np.testing.assert_array_equal(simulate(net, x).predictions, res.predictions_sum_v)
    spiking = simulate(_net("CUBA", False, 0, seed=13), x)
    assert spiking.decision == "spike_count"
    np.testing.assert_array_equal(spiking.predictions, np.argmax(spiking.spikes[-1].sum(axis=1), axis=-1))


@pytest.mark.slow
def test_larger_random_networks_against_reference():
    for kind, readout, bits in CASES:
        net = random_network(kind, [40, 32, 32, 24, 6], 80, seed=17, readout=readout, input_message_bits=bits)
        x = random_inputs(net, 2, seed=18)
        res = simulate(net, x, timeline="lava", record=True)
        for b in range(2):
            outs, recs = _reference(net, x[b], "lava")
            np.testing.assert_array_equal(res.readout[b], outs[-1])
            for i in range(len(net.layers)):
                for name, arr in recs[i].items():
                    np.testing.assert_array_equal(res.states[i][name][b], arr)


# --------------------------------------------------------------------------- real Lava

def _cuba_net(rng, sizes, steps, bits) -> Network:
    layers = []
    for i in range(len(sizes) - 1):
        n_in, n_out = sizes[i], sizes[i + 1]
        w = rng.integers(-60, 90, (n_out, n_in)) * 2
        layers.append(Layer(neuron_type="CUBA", weight=w, bias=rng.integers(-200, 400, n_out),
                            neuron={"iDecay": int(rng.integers(300, 3000)), "vDecay": int(rng.integers(100, 2000)),
                                    "vThMant": int(rng.integers(30, 120)) * (4 if i == 0 and bits else 1),
                                    "refDelay": 1, "gradedSpike": False},
                            input_message_bits=bits if i == 0 else 0))
    net = Network(layers=layers, meta=Meta(steps=steps, n_inputs=sizes[0], n_classes=sizes[-1],
                                           input_encoding="counts" if bits else "binary"))
    validate(net)
    return net


@needs_lava
@pytest.mark.lava
def test_lava_timeline_matches_lava_lifreset_run_back_to_back(shm_guard):
    """Two CUBA layers as Lava runs them (Dense -> LIFReset(reset_interval=P, reset_offset=i+2)),
    two samples back to back: every step of sample 1 and the in-window steps of sample 2 match."""
    from silava import lava_models  # noqa: F401
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIFReset

    from silava.lava_models.runner import run_steps, sim_config

    rng = np.random.default_rng(23)
    steps, bits = 25, 8
    net = _cuba_net(rng, [16, 12, 5], steps, bits)
    x = (rng.integers(0, 6, (2, steps, 16)) * (rng.random((2, steps, 16)) < 0.5)).astype(np.int64)
    n_layers = len(net.layers)
    period = steps + n_layers
    data = np.zeros((16, 2 * period), np.int32)
    for n in range(2):
        data[:, n * period:n * period + steps] = x[n].T

    src = Source(data=data)
    prev, sinks, lifs = src.s_out, [], []
    for i, layer in enumerate(net.layers):
        dense_p = Dense(weights=layer.weight.astype(np.int32), num_message_bits=layer.input_message_bits)
        p = layer.neuron
        lif = LIFReset(shape=(layer.out_features,), du=p["iDecay"] - 1, dv=p["vDecay"], vth=p["vThMant"],
                       bias_mant=layer.bias.astype(np.int32), bias_exp=6, reset_interval=period,
                       reset_offset=i + 2)
        sink = Sink(shape=(layer.out_features,), buffer=2 * period)
        prev.connect(dense_p.s_in)
        dense_p.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        prev = lif.s_out
        sinks.append(sink)
        lifs.append(lif)
    got = run_steps(lifs[0], 2 * period, sim_config("fixed_pt"), timeout_s=120,
                    read=lambda: [s.data.get().copy() for s in sinks])

    res = simulate(net, x, timeline="lava")
    assert sum(int(s.sum()) for s in res.spikes) > 20, "the test network should spike"
    for i in range(n_layers):
        lava_spikes = got[i].T.astype(np.int64)                        # [2P, n]
        np.testing.assert_array_equal(lava_spikes[:period], res.spikes[i][0], err_msg=f"layer {i} sample 0")
        window = slice(period + i + 1, period + i + 1 + steps)
        np.testing.assert_array_equal(lava_spikes[window], res.in_window(res.spikes[i], i)[1],
                                      err_msg=f"layer {i} sample 1 in-window")


def test_lava_weight_clip_is_reported():
    # Lava's Dense clips an all-non-positive weight matrix to [-255, 0] (weightutils.clip_weights)
    assert lava_weight_clips(np.array([[-256, -2], [0, -256]])) == 2
    assert lava_weight_clips(np.array([[-256, 2]])) == 0            # mixed sign: [-256, 255] kept
    assert lava_weight_clips(np.array([[0, 0]])) == 0
    net = _net("SILIF", True, 0, seed=1)
    net.layers[-1].weight = -np.abs(net.layers[-1].weight)
    net.layers[-1].weight[0, 0] = -256
    res = simulate(net, random_inputs(net, 2, seed=1))
    assert res.counters["layer/2"]["lava_weight_clip"] == 1
    assert res.counters["total"]["lava_weight_clip"] == 1
