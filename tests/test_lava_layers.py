"""hwsim == Lava fixed_pt at every step for the layer types of model.net v2 (docs/fixed_point.md §2, §5, §7):

* ``dense_rec``: an input Dense plus a recurrent Dense from the neuron's own ``s_out`` back to its
  ``a_in`` (one step of delay; its buffer cleared at the layer's reset step by a Lava ``Reset``);
* ``conv``: Lava's ``Conv`` (netx's kernel flip and (W, H, C) order; no weight exponent; 24-bit
  wrap), conv -> conv -> flatten -> dense;
* graded networks: lava-dl's sigma-delta units (Lava's own ``Delta`` input layer, ``SigmaDelta``
  ReLU layers, ``Sigma`` output) with graded payloads between layers, dense, conv and recurrent.

Random networks from ``export.synth``; three samples run back to back in one Lava network, every
layer's output and state compared with hwsim's ``lava`` timeline. Each comparison has a planted-bug
twin (on the hwsim side or in the builder) that must fail.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_lava
from layer_equiv import activity, lava_full, mismatches

pytestmark = [needs_lava, pytest.mark.lava]

SPIKING = ["CUBA", "SILIF", "CSILIF"]


def rec_net(ntype: str, seed: int, steps: int = 14):
    from silava.export.synth import random_inputs, random_network

    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(4, 11)), int(rng.integers(3, 9)), int(rng.integers(3, 7)), int(rng.integers(2, 5))]
    net = random_network(ntype, sizes, steps, seed=seed, recurrent=True, input_message_bits=8 * (seed % 2))
    return net, random_inputs(net, 3, seed=seed + 1)


def conv_net(ntype: str, seed: int, steps: int = 10):
    from silava.export.synth import random_conv_network, random_inputs

    rng = np.random.default_rng(seed)
    variant = seed % 3
    geo = [dict(kernel=3, padding=1), dict(kernel=3, stride=2, padding=1), dict(kernel=2, dilation=2, groups=2)][variant]
    c_in = 2 if variant != 2 else 4
    net = random_conv_network(ntype, (c_in, int(rng.integers(5, 8)), int(rng.integers(5, 8))), [4, 4], steps, seed=seed,
                              dense=[int(rng.integers(4, 9)), 3], **geo)
    return net, random_inputs(net, 3, seed=seed + 1, rate=0.3)


def sdnn_net(seed: int, steps: int = 16):
    from silava.export.synth import random_graded_inputs, random_sdnn_network

    if seed % 2:
        net = random_sdnn_network([0, 10, 4], steps, seed=seed, conv_shape=(2, 5, 5), conv_channels=(3,),
                                  recurrent=True)
    else:
        net = random_sdnn_network([7, 9, 6, 3], steps, seed=seed, recurrent=seed % 4 == 0)
    return net, random_graded_inputs(net, 3, seed=seed + 1)


def check(net, x, need_active: bool = True) -> bool:
    """hwsim == Lava at every step; returns whether every layer was active (required unless told)."""
    active = all(a > 0 for a in activity(net, x))
    assert active or not need_active, "every layer of a test network should be active"
    outs, states = lava_full(net, x)
    assert mismatches(net, x, outs, states) == []
    return active


@pytest.mark.parametrize("ntype", SPIKING)
def test_dense_rec_equals_hwsim(ntype, shm_guard):
    check(*rec_net(ntype, seed=4))


@pytest.mark.parametrize("ntype, seed", [("CUBA", 0), ("SILIF", 1), ("CSILIF", 2)])
def test_conv_equals_hwsim(ntype, seed, shm_guard):
    """Each kind with one geometry: padding 1; stride 2; dilation 2 with 2 groups."""
    check(*conv_net(ntype, seed))


@pytest.mark.parametrize("seed", [0, 1])
def test_sigma_delta_graded_network_equals_hwsim(seed, shm_guard):
    """Delta input, SigmaDelta ReLU (dense and dense_rec, or conv then dense_rec), Sigma output."""
    check(*sdnn_net(seed))


# ------------------------------------------------------------------ planted bugs must be caught

def test_planted_bug_recurrent_buffer_not_cleared(monkeypatch, shm_guard):
    """Without the Reset of the recurrent Dense's buffer, the previous sample's last output leaks into
    the next sample's first step: the comparison must see it. (Only a network whose recurrent layer
    sends something at the step before its reset step can show it; the first such seed is used.)"""
    from silava.lava_models import builder

    for seed in range(4, 12):
        net, x = rec_net("SILIF", seed=seed)
        outs, _ = lava_full(net, x)
        d = net.delays()
        if any(outs[i][n, d[i] - 1].any() for i, layer in enumerate(net.layers) if layer.recurrent
               for n in range(1, len(x))):
            break
    else:
        pytest.fail("no seed with a recurrent output at the step before the reset")
    real = builder._reset
    monkeypatch.setattr(builder, "_reset", lambda var, interval, offset:
                        None if var.name == "a_buff" else real(var, interval, offset))
    outs, states = lava_full(net, x)
    assert any("sample 1" in m or "sample 2" in m for m in mismatches(net, x, outs, states))


def test_planted_bug_conv_kernel_not_flipped(monkeypatch, shm_guard):
    """hwsim computing a convolution instead of PyTorch's cross-correlation differs from Lava."""
    from silava.hwsim import kernels, simulate

    net, x = conv_net("CUBA", seed=0)
    outs, states = lava_full(net, x)
    real = kernels.conv_float
    monkeypatch.setattr(simulate, "conv_float", lambda w, *a, **k: real(np.asarray(w)[:, :, ::-1, ::-1], *a, **k))
    assert mismatches(net, x, outs, states)


def test_planted_bug_sigma_delta_truncation_fed_back(monkeypatch, shm_guard):
    """hwsim with PR #875's corrected residue (the truncation fed back) differs from Lava 0.10.0."""
    from silava.hwsim import kernels

    net, x = sdnn_net(seed=0)
    outs, states = lava_full(net, x)

    def corrected(act, state, vth, counters):
        delta = act - state["ACT"] + state["RESIDUE"]
        s = np.where(np.abs(delta) >= vth, delta, 0)
        out = np.floor(s / 64)
        return out, delta - out * 64
    monkeypatch.setattr(kernels, "_delta", corrected)
    assert mismatches(net, x, outs, states)


# ------------------------------------------------------------------ many networks

@pytest.mark.slow
@pytest.mark.parametrize("ntype", SPIKING)
def test_many_dense_rec_and_conv_networks(ntype, shm_guard):
    """Slow: 20 recurrent and 20 conv networks per spiking kind (random sizes, geometries, graded inputs)."""
    active = 0
    for seed in range(100, 120):
        active += check(*rec_net(ntype, seed), need_active=False)
        active += check(*conv_net(ntype, seed), need_active=False)
    assert active >= 36, f"only {active} of 40 networks had every layer active"


@pytest.mark.slow
def test_many_sigma_delta_networks(shm_guard):
    """Slow: 20 sigma-delta networks (dense, recurrent, conv)."""
    assert sum(check(*sdnn_net(seed), need_active=False) for seed in range(100, 120)) >= 18
