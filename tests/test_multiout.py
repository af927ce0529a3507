"""The multi-output neuron in torch (train/neurons/multiout.py): fused BPTT == the step-function loop,
its choices (stability, resets, readouts), the network's M·H outputs, and SiLIF / C-SiLIF as float
special cases."""
from __future__ import annotations

import pytest
import torch

from silava.train.model import SpArchNet, build_model
from silava.train.neurons import make_neuron
from silava.train.neurons import multiout as mo
from silava.train.neurons.adlif import AdLIFParams, AdLIFState
from silava.train.neurons.adlif import step as silif_step
from silava.train.neurons.csilif import CSiLIFParams, CSiLIFState
from silava.train.neurons.csilif import step as csilif_step
from silava.train.neurons.surrogate import make_spike_fn

CONFIGS = {
    "complex-any-vector": dict(n_states=2, n_outputs=2),
    "complex-any-classic-M3": dict(n_states=2, n_outputs=3, reset_action="classic"),
    "complex-readout-matrix-stable": dict(n_states=1, n_outputs=2, reset="readout", reset_action="matrix", stable=True),
    "dense-any-matrix": dict(n_states=3, n_outputs=2, transition="dense", reset_action="matrix"),
    "dense-stable-never": dict(n_states=2, n_outputs=1, transition="dense", stable=True, reset="never"),
    "complex-fast-sigmoid-M1": dict(n_states=1, n_outputs=1, surrogate="fast-sigmoid"),
}


def _grads(neuron, I, forward):
    torch.manual_seed(7)
    s, states = forward(I)
    gen = torch.Generator().manual_seed(3)
    loss = (s * torch.randn(s.shape, generator=gen, dtype=s.dtype)).sum() \
        + (states["x"] * torch.randn(states["x"].shape, generator=gen, dtype=s.dtype)).sum()
    params = [I] + list(neuron.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return s, states, [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def compare_fused_with_loop(neuron, I) -> float:
    """Fused kernel vs the step-function loop: bit-identical forward; returns the largest gradient gap."""
    s1, st1, g1 = _grads(neuron, I, lambda x: neuron(x, return_states=True))
    s2, st2, g2 = _grads(neuron, I, lambda x: neuron.reference_forward(x))
    assert torch.equal(s1, s2) and torch.equal(st1["x"], st2["x"])
    return max(float((a - b).abs().max() / (b.abs().max() + 1e-12)) for a, b in zip(g1, g2))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fused_kernel_equals_the_step_loop(name):
    torch.manual_seed(0)
    neuron = make_neuron("multiout", 6, init_state="random", **CONFIGS[name]).double()
    I = (1.5 * torch.randn(3, 24, 6, dtype=torch.float64) + 0.6).requires_grad_()
    s, _ = neuron.reference_forward(I)
    assert 0.02 < float(s.detach().mean()) < 0.98, "the comparison must see spikes and silence"
    assert compare_fused_with_loop(neuron, I) < 1e-9


def test_a_planted_backward_bug_is_caught(monkeypatch):
    """Halve the surrogate in the fused backward only: the gradient comparison fails."""
    torch.manual_seed(0)
    neuron = make_neuron("multiout", 6, **CONFIGS["complex-any-vector"]).double()
    I = (1.5 * torch.randn(3, 24, 6, dtype=torch.float64) + 0.6).requires_grad_()
    real = mo.surrogate_grads_reversed
    monkeypatch.setattr(mo, "surrogate_grads_reversed", lambda *a, **k: (g * 0.5 for g in real(*a, **k)))
    assert compare_fused_with_loop(neuron, I) > 1e-3


def test_network_feeds_m_times_h_outputs_and_round_trips():
    torch.manual_seed(1)
    kw = dict(n_states=2, n_outputs=3, reset="readout")
    model = SpArchNet(10, [8, 6], 4, "multiout", neuron_kwargs=kw)
    assert [l.linear.in_features for l in model.layers] + [model.readout.linear.in_features] == [10, 24, 18]
    x = (torch.rand(2, 15, 10) < 0.3).float()
    rec = model(x, record=True)
    assert [s.shape for s in rec["spikes"]] == [(2, 15, 24), (2, 15, 18)]
    assert [st["x"].shape for st in rec["states"]] == [(2, 15, 8, 4), (2, 15, 6, 4)]
    again = build_model(model.config)
    again.load_state_dict(model.state_dict())
    assert torch.equal(again.eval()(x), model.eval()(x))


def test_choices_and_errors():
    torch.manual_seed(2)
    stable = make_neuron("multiout", 16, stable=True, dt_max=5.0)
    assert float(stable.spectral_radius().max()) < 1
    unstable = make_neuron("multiout", 16, re_init=0.5)
    assert float(unstable.spectral_radius().min()) > 1
    dense = make_neuron("multiout", 16, transition="dense", stable=True, n_states=3)
    assert float(dense.spectral_radius().max()) < 1
    classic = make_neuron("multiout", 4, n_outputs=3, reset_action="classic")
    p = classic.params()
    own = torch.einsum("hmn,hnk->hmk", p.C, p.R).diagonal(dim1=1, dim2=2)
    torch.testing.assert_close(own, torch.ones(4, 3))      # output m firing lowers its readout by θ = 1
    assert set(classic.discrete_params()) == {"A", "B", "b", "C", "rho", "R"}
    d = make_neuron("multiout", 4, reset="readout").discrete_params()
    assert torch.allclose(d["B"].abs().amax(-1), torch.ones(4)) and set(d) >= {"c_r"}
    for bad in (dict(transition="diag"), dict(reset="sometimes"), dict(reset_action="zero"), dict(n_states=9),
                dict(stable=True, re_init=0.5)):
        with pytest.raises(ValueError):
            make_neuron("multiout", 4, **bad)


def _run_steps(step, params, state, I, spike):
    out, xs = [], []
    for I_t in I.unbind(1):
        res = step(I_t, state, params, spike)
        s, state = res[0], res[1]
        out.append(s)
        xs.append(res[2] if len(res) > 2 else state)
    return torch.stack(out, 1), xs


def test_silif_is_a_special_case_in_float():
    """SiLIF (N = 2 real, M = 1): A of spec §2.3, B = (1 − α, 0), C = (1, 0), ρ = −A⁻¹(−(α + (1 − α)b), b)."""
    torch.manual_seed(3)
    H = 7
    alpha, beta = torch.rand(H, dtype=torch.float64) * 0.5 + 0.4, torch.rand(H, dtype=torch.float64) * 0.04 + 0.95
    a, b = torch.rand(H, dtype=torch.float64), torch.rand(H, dtype=torch.float64) * 2
    I = 2.0 * torch.randn(4, 60, H, dtype=torch.float64) + 1.5
    spike = make_spike_fn()
    z = torch.zeros(4, H, dtype=torch.float64)
    s_ref, states = _run_steps(silif_step, AdLIFParams(alpha, beta, a, b), AdLIFState(z, z, z), I, spike)
    A = torch.stack([torch.stack([alpha - (1 - alpha) * a, -(1 - alpha) * beta], -1), torch.stack([a, beta], -1)], -2)
    B = torch.stack([1 - alpha, torch.zeros_like(alpha)], -1)
    C = torch.tensor([1.0, 0.0], dtype=torch.float64).expand(H, 1, 2)
    R = torch.stack([-(alpha + (1 - alpha) * b), b], -1)
    rho = -torch.linalg.solve(A, R)
    p = mo.MultiOutParams(A, B, C, rho, None, None)
    s_mo, xs = _run_steps(lambda u, st, pp, sp: mo.step(u, st, pp, sp, "any"), p,
                          mo.MultiOutState(torch.zeros(4, H, 2, dtype=torch.float64)), I, spike)
    assert 0.05 < float(s_ref.mean()) < 0.9
    assert torch.equal(s_mo, s_ref)
    u = torch.stack([st.u for st in states], 1)
    w = torch.stack([st.w for st in states], 1)
    xt = torch.stack(xs, 1)
    torch.testing.assert_close(xt[..., 0], u, rtol=0, atol=1e-9)
    torch.testing.assert_close(xt[..., 1], w, rtol=0, atol=1e-9)


def test_csilif_is_a_special_case_in_float():
    """C-SiLIF (one complex state, M = 1): the rotation, B = (b, 0), C = (2, 0) (θ = 1), ρ = (0.5, 0)."""
    torch.manual_seed(4)
    H = 7
    r, phi = torch.rand(H, dtype=torch.float64) * 0.2 + 0.78, torch.rand(H, dtype=torch.float64) * 1.5
    lr, li, b = r * torch.cos(phi), r * torch.sin(phi), torch.rand(H, dtype=torch.float64)
    I = 2.0 * torch.randn(4, 60, H, dtype=torch.float64) + 0.8
    spike = make_spike_fn()
    z = torch.zeros(4, H, dtype=torch.float64)
    s_ref, states = _run_steps(csilif_step, CSiLIFParams(lr, li, b), CSiLIFState(z, z, z), I, spike)
    A = torch.stack([torch.stack([lr, -li], -1), torch.stack([li, lr], -1)], -2)
    B = torch.stack([b, torch.zeros_like(b)], -1)
    C = torch.tensor([2.0, 0.0], dtype=torch.float64).expand(H, 1, 2)
    rho = torch.tensor([0.5, 0.0], dtype=torch.float64).expand(H, 2)
    s_mo, xs = _run_steps(lambda u, st, pp, sp: mo.step(u, st, pp, sp, "any"), mo.MultiOutParams(A, B, C, rho, None, None),
                          mo.MultiOutState(torch.zeros(4, H, 2, dtype=torch.float64)), I, spike)
    assert 0.05 < float(s_ref.mean()) < 0.9
    assert torch.equal(s_mo, s_ref)
    xt = torch.stack(xs, 1)
    torch.testing.assert_close(xt[..., 0], torch.stack([st.x for st in states], 1), rtol=0, atol=1e-9)
    torch.testing.assert_close(xt[..., 1], torch.stack([st.y for st in states], 1), rtol=0, atol=1e-9)
