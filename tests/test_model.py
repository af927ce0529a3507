"""SpArch network: shapes, record, config round trip, BN split for CUBA LIF, training sanity."""
from __future__ import annotations

import copy
import io
import json
import math

import pytest
import torch
import torch.nn.functional as F

from silava.train.model import FastDropout, SpArchLayer, SpArchNet, build_model
from silava.train.neurons import NEURONS, make_neuron

SPIKING = sorted(n for n, c in NEURONS.items() if c.spiking)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small tensors: one intra-op thread (see conftest.one_thread)."""


def make_input(B=4, T=25, F_in=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, T, F_in, generator=g) < 0.3).float()


@pytest.mark.parametrize("neuron", SPIKING)
def test_shapes_record_and_gradients(neuron):
    torch.manual_seed(0)
    x = make_input()
    m = SpArchNet(10, [16, 12], 5, neuron, dropout=0.2)
    out = m(x)
    assert out.shape == (4, 5)
    assert torch.allclose(out.sum(1), torch.full((4,), 25.0))  # Σ_t softmax: each step sums to 1
    F.cross_entropy(out, torch.tensor([0, 1, 2, 3])).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
    m.eval()
    rec = m(x, record=True)
    assert set(rec) >= {"out", "readout_v", "spikes", "states", "currents", "biases", "readout_current"}
    assert torch.equal(rec["out"], m(x))
    assert rec["readout_v"].shape == (4, 25, 5) and rec["readout_current"].shape == (4, 25, 5)
    assert torch.allclose(rec["out"], torch.softmax(rec["readout_v"], -1).sum(1))
    assert [s.shape for s in rec["spikes"]] == [(4, 25, 16), (4, 25, 12)]
    assert [c.shape for c in rec["currents"]] == [(4, 25, 16), (4, 25, 12)]
    for s, st, layer in zip(rec["spikes"], rec["states"], m.layers):
        assert set(torch.unique(s).tolist()) <= {0.0, 1.0}
        assert set(st) == set(layer.neuron.state_names)
        # a state per neuron (the multi-output neuron: N words per neuron, [B, T, H, N])
        assert all(v.shape[:3] == (*s.shape[:2], layer.neuron.size) for v in st.values())
    # currents are the BatchNorm output (+ bias for the CUBA split)
    layer = m.layers[0]
    z = layer.linear(x)
    bn = layer.bn(z.reshape(-1, 16)).reshape(z.shape)
    bias = rec["biases"][0]
    assert (bias is not None) == (neuron == "lif")
    assert torch.allclose(rec["currents"][0] + (0 if bias is None else bias), bn, atol=1e-5)


def test_dropout_after_loop_and_reset_uses_undropped_spikes():
    torch.manual_seed(1)
    x = make_input(B=8, T=30)
    m = SpArchNet(10, [32], 3, "silif", dropout=0.5)
    layer = m.layers[0]
    torch.manual_seed(2)
    h, r = layer(x, record=True)
    kept = h[r["spikes"] > 0]
    assert set(torch.unique(kept).tolist()) <= {0.0, 2.0}  # surviving spikes scaled by 1/(1−p)
    assert (kept == 0).any() and (kept == 2).any()
    assert torch.all(h[r["spikes"] == 0] == 0)
    # the neuron itself ran on undropped spikes: same spikes as running the neuron alone
    I, _ = layer.currents(x)
    assert torch.equal(layer.neuron(I), r["spikes"])
    m.eval()
    h_eval, r_eval = layer(x, record=True)
    assert torch.equal(h_eval, r_eval["spikes"])  # no dropout at eval
    drop = FastDropout(0.3)
    ones = torch.ones(200, 50, 10, requires_grad=True)
    y = drop(ones)
    assert abs((y == 0).float().mean().item() - 0.3) < 0.01  # Bernoulli(1 − p) mask per element
    assert torch.allclose(y[y > 0], torch.tensor(1 / 0.7))
    y.sum().backward()
    assert torch.equal(ones.grad, y.detach())  # gradient goes through the same mask
    assert torch.all(FastDropout(1.0)(ones) == 0)


def test_build_model_round_trip_and_checkpoint():
    torch.manual_seed(3)
    m = SpArchNet(10, [8, 8], 4, "csilif", dropout=0.3,
                  neuron_kwargs={"dt_min": 0.01, "dt_max": 5.0, "surrogate": "fast-sigmoid"},
                  readout_kwargs={})
    cfg = m.config
    assert cfg == json.loads(json.dumps(cfg))
    assert cfg["neuron"] == "csilif" and cfg["hidden_sizes"] == [8, 8] and cfg["dropout"] == 0.3
    buf = io.BytesIO()
    torch.save({"model_config": cfg, "state_dict": m.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    m2 = build_model(ck["model_config"])
    m2.load_state_dict(ck["state_dict"])
    assert m2.config == cfg
    assert m2.layers[0].neuron.dt_max == 5.0 and m2.layers[0].neuron.surrogate == "fast-sigmoid"
    m.eval()
    m2.eval()
    x = make_input(T=20)
    assert torch.equal(m(x), m2(x))
    cfg_no_arch = {k: v for k, v in cfg.items() if k != "arch"}
    assert build_model(cfg_no_arch).config == cfg
    with pytest.raises(ValueError):
        build_model({**cfg, "bogus": 1})
    with pytest.raises(ValueError):
        SpArchNet(10, [8], 4, "li")
    with pytest.raises(ValueError):
        SpArchNet(10, [8], 4, "silif", neuron_kwargs={"init_state": object()})


def test_eval_determinism_and_init_state():
    torch.manual_seed(4)
    x = make_input()
    m = SpArchNet(10, [16, 16], 5, "silif").eval()
    assert torch.equal(m(x), m(x))
    r = SpArchNet(10, [16, 16], 5, "silif", neuron_kwargs={"init_state": "random"}).eval()
    assert r.readout.neuron.init_state == "random"  # inherited by the readout
    assert not torch.equal(r(x), r(x))  # reference behaviour: a fresh U[0,1) state at every call
    r2 = SpArchNet(10, [16], 5, "silif", neuron_kwargs={"init_state": "random"},
                   readout_kwargs={"init_state": "zeros"})
    assert r2.readout.neuron.init_state == "zeros"


def test_linear_init_per_neuron_type():
    torch.manual_seed(5)
    default_bound = 1 / math.sqrt(140)
    xavier_bound = math.sqrt(6 / (140 + 128))
    for neuron in SPIKING:
        w = SpArchNet(140, [128], 20, neuron).layers[0].linear.weight
        if NEURONS[neuron].linear_init == "xavier":
            assert default_bound < w.abs().max() <= xavier_bound
        else:
            assert w.abs().max() <= default_bound
    m = SpArchNet(140, [128], 20, "silif")
    assert m.layers[0].linear.bias is None and m.layers[0].bn.momentum == 0.05
    assert m.readout.linear.weight.abs().max() <= 1 / math.sqrt(128)


@pytest.mark.parametrize("train_mode", [True, False])
def test_cuba_bias_split_equals_batchnorm(train_mode):
    """With bias_on_voltage: I + bias == BN(z), in train and eval mode; running stats as BN's."""
    torch.manual_seed(6)
    layer = SpArchLayer(10, 7, make_neuron("lif", 7))
    with torch.no_grad():
        layer.bn.weight.uniform_(0.5, 2.0)
        layer.bn.bias.uniform_(-0.5, 0.5)
        layer.bn.running_mean.uniform_(-0.2, 0.2)
        layer.bn.running_var.uniform_(0.5, 1.5)
    ref_bn = copy.deepcopy(layer.bn)
    layer.train(train_mode)
    ref_bn.train(train_mode)
    for seed in range(3):  # several batches: running statistics must track BN's exactly
        x = torch.randn(5, 9, 10, generator=torch.Generator().manual_seed(seed))
        z = layer.linear(x)
        expected = ref_bn(z.reshape(-1, 7)).reshape(z.shape)
        I, bias = layer.currents(x)
        assert bias.shape == (7,)
        assert torch.allclose(I + bias, expected, atol=1e-5)
    assert torch.allclose(layer.bn.running_mean, ref_bn.running_mean, atol=1e-6)
    assert torch.allclose(layer.bn.running_var, ref_bn.running_var, atol=1e-6)
    assert int(layer.bn.num_batches_tracked) == int(ref_bn.num_batches_tracked)
    # the voltage bias is what the neuron gets, and gradients reach BN's affine parameters
    out, r = layer(torch.randn(5, 9, 10) * 3, record=True)
    (out.sum() + r["states"]["v"].sum()).backward()
    assert layer.bn.weight.grad.abs().sum() > 0 and layer.bn.bias.grad.abs().sum() > 0


def first_spike_task(n: int, K: int = 4, T: int = 40, noise: int = 4, seed: int = 0):
    """Class = which of K channels fires first; every channel fires exactly once (+ noise channels)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, T, K + noise)
    times = torch.stack([torch.randperm(T - 10, generator=g)[:K] + 2 for _ in range(n)])
    x[torch.arange(n)[:, None], times, torch.arange(K)[None, :]] = 1.0
    x[:, :, K:] = (torch.rand(n, T, noise, generator=g) < 0.05).float()
    return x, times.argmin(1)


@pytest.mark.parametrize("neuron", ["silif", "csilif"])
def test_learns_first_spike_task(neuron):
    """2 hidden layers of 32, 200 Adam steps of batch 64, T = 40: ~3 s each on an idle core."""
    torch.manual_seed(7)
    x_tr, y_tr = first_spike_task(2048, seed=1)
    x_te, y_te = first_spike_task(512, seed=2)
    m = SpArchNet(x_tr.shape[-1], [32, 32], 4, neuron, dropout=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(200):
        idx = torch.randint(0, len(x_tr), (64,))
        loss = F.cross_entropy(m(x_tr[idx]), y_tr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        acc = (m(x_te).argmax(1) == y_te).float().mean().item()
    assert acc > 0.7, f"{neuron}: test accuracy {acc:.2f} (chance 0.25)"
