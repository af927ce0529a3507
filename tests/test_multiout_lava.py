"""MULTIOUT and RF in Lava: fixed_pt == hwsim (Lava timeline, spikes and states at every step), SiLIF /
C-SiLIF / RF as MULTIOUT special cases in Lava, a planted bug on the Lava side is caught, and the
floating_pt models follow the float torch model within 1e-5 (rung 4)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_lava

pytestmark = [needs_lava, pytest.mark.lava]


def lava_vs_hwsim(net, x: np.ndarray) -> list[tuple[int, str]]:
    """(layer, output | state) pairs where Lava fixed_pt differs from hwsim's Lava timeline
    (sample 0 at every step, later samples from each layer's reset step on)."""
    from layer_equiv import lava_full
    from silava.hwsim.simulate import simulate

    outs, states = lava_full(net, x)
    N, P = outs[0].shape[:2]
    ref = simulate(net, x, timeline="lava", record=True)
    ref_outs = [s.astype(np.int64) for s in ref.spikes] + ([ref.readout] if len(ref.spikes) < len(net.layers) else [])
    found = set()
    for i in range(len(net.layers)):
        for n in range(N):
            start = 0 if n == 0 else i + 1
            if not np.array_equal(outs[i][n, start:], ref_outs[i][n, start:]):
                found.add((i, "output"))
            for name, arr in ref.states[i].items():
                got = states[i][name].reshape(N, P, -1)[n, start:]
                if not np.array_equal(got, arr[n, start:].reshape(P - start, -1)):
                    found.add((i, name))
    return sorted(found)


def _active(net, x) -> int:
    from silava.hwsim.simulate import simulate

    return int(sum(int(s.sum()) for s in simulate(net, x).spikes))


@pytest.mark.parametrize("ntype", ["SILIF", "CSILIF", "RF"])
def test_special_cases_in_lava(ntype, shm_guard):
    from silava.export.special import as_multiout
    from silava.export.synth import random_inputs, random_network

    net = random_network(ntype, [10, 12, 4], steps=16, seed=5, input_message_bits=8 if ntype == "SILIF" else 0)
    mo = as_multiout(net)
    x = random_inputs(net, 2, seed=6, rate=0.4)
    assert _active(net, x) > 0
    assert lava_vs_hwsim(mo, x) == []         # and hwsim runs the rewrite exactly as the original (deploy tests)


def _random_nets(seeds):
    from silava.export.synth import random_inputs, random_network

    for seed in seeds:
        rng = np.random.default_rng(seed)
        net = random_network("MULTIOUT", [int(rng.integers(4, 12)), int(rng.integers(3, 9)), int(rng.integers(2, 7)), 3],
                             steps=12, seed=seed, n_states=int(rng.choice([1, 2, 4])), n_outputs=int(rng.integers(1, 4)),
                             input_message_bits=int(rng.choice([0, 8])), readout=bool(rng.random() < 0.8))
        yield seed, net, random_inputs(net, 2, seed=seed, rate=0.4)


def test_random_multiout_and_rf_networks_equal_hwsim(shm_guard):
    from silava.export.synth import random_inputs, random_network

    spikes = 0
    for seed, net, x in _random_nets(range(3)):
        assert lava_vs_hwsim(net, x) == [], seed
        spikes += _active(net, x)
    rf = random_network("RF", [10, 8, 3], steps=16, seed=2)
    x = random_inputs(rf, 2, seed=3, rate=0.5)
    assert lava_vs_hwsim(rf, x) == []
    assert spikes > 0


@pytest.mark.slow
def test_random_multiout_networks_equal_hwsim_200(shm_guard):
    """The hwsim == Lava rung on 200 random MULTIOUT networks (every option: sizes, resets, extras)."""
    failures = [seed for seed, net, x in _random_nets(range(500, 700)) if lava_vs_hwsim(net, x)]
    assert failures == []


def test_a_planted_lava_bug_is_caught(monkeypatch, shm_guard):
    """Floor instead of truncation toward zero in the Lava model's input product: the rung fails."""
    from silava.lava_models.procs import base, multiout

    def floor_mul(k, x, d):
        return np.floor_divide(np.multiply(k, x, dtype=np.int64), 1 << int(np.asarray(d).reshape(-1)[0]))

    monkeypatch.setattr(multiout, "mul", floor_mul)
    assert base.mul is not floor_mul
    found = []
    for seed, net, x in _random_nets(range(2)):
        found += lava_vs_hwsim(net, x)
    assert found and found[0][1] in ("output", "X")


@pytest.mark.parametrize("neuron,kw", [("multiout", dict(n_states=2, n_outputs=2)),
                                       ("multiout", dict(n_states=2, n_outputs=2, transition="dense",
                                                         reset="readout", reset_action="matrix")),
                                       ("rf", {})], ids=["multiout", "multiout-dense-readout", "rf"])
def test_floating_pt_equals_torch_float_model(neuron, kw, shm_guard):
    """Rung 4: the float group run by the Lava floating_pt models == the torch eval forward (float64)."""
    import torch

    from silava import lava_models  # noqa: F401
    from silava.core.netfile import Meta
    from silava.export.fold import fold_model
    from silava.export.quantize import quantize_network
    from silava.lava_models.network import run_samples
    from silava.train.model import SpArchNet

    torch.manual_seed(3)
    model = SpArchNet(12, [10, 8], 4, neuron, dropout=0.0, neuron_kwargs=kw).double().eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for layer in list(model.layers) + [model.readout]:
            n = layer.bn.running_mean.numel()
            layer.bn.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen, dtype=torch.float64))
            layer.bn.weight.copy_(0.5 + 4.5 * torch.rand(n, generator=gen, dtype=torch.float64))
            shift = 0.2 if layer is model.readout else (60.0 if neuron == "rf" else 0.5)
            layer.bn.bias.copy_(shift + 0.2 * torch.randn(n, generator=gen, dtype=torch.float64))
    T, N = 25, 4
    net, _ = quantize_network(fold_model(model), meta=Meta(steps=T, n_inputs=12, n_classes=4))
    x = (np.random.default_rng(4).random((N, T, 12)) < 0.3).astype(np.int64)
    with torch.no_grad():
        rec = model(torch.tensor(x, dtype=torch.float64), record=True)
    got = run_samples(net, x, tag="floating_pt", chunk=2, timeout_s=120, progress=False, record=True)
    np.testing.assert_allclose(got["readout"], rec["readout_v"].numpy(), rtol=0, atol=1e-5)
    for i, spikes in enumerate(rec["spikes"]):
        np.testing.assert_array_equal(got["spikes"][i], spikes.numpy().astype(np.uint8), err_msg=f"layer {i}")
        assert 0 < spikes.sum() < spikes.numel(), f"layer {i} should be active"


def test_the_float_rung_catches_a_planted_bug(monkeypatch, shm_guard):
    """The float Lava model without its reset action: rung 4 (floating_pt vs torch) fails."""
    import torch

    from silava import lava_models  # noqa: F401
    from silava.core.netfile import Meta
    from silava.export.fold import fold_model
    from silava.export.quantize import quantize_network
    from silava.lava_models.network import run_samples
    from silava.lava_models.procs import multiout
    from silava.train.model import SpArchNet

    real = multiout.PyMultioutModelFloat.step

    def no_reset(self, a):
        self.r[:] = 0                       # the reset flag never set: no reset action is applied
        return real(self, a)

    monkeypatch.setattr(multiout.PyMultioutModelFloat, "step", no_reset)
    torch.manual_seed(5)
    model = SpArchNet(12, [10], 4, "multiout", dropout=0.0, neuron_kwargs=dict(n_states=1, n_outputs=2)).double().eval()
    with torch.no_grad():
        model.layers[0].bn.bias.fill_(0.8)
    net, _ = quantize_network(fold_model(model), meta=Meta(steps=20, n_inputs=12, n_classes=4))
    x = (np.random.default_rng(6).random((2, 20, 12)) < 0.3).astype(np.int64)
    with torch.no_grad():
        rec = model(torch.tensor(x, dtype=torch.float64), record=True)
    got = run_samples(net, x, tag="floating_pt", timeout_s=120, progress=False, record=True)
    assert rec["spikes"][0].sum() > 0
    assert not np.allclose(got["readout"], rec["readout_v"].numpy(), rtol=0, atol=1e-5)
