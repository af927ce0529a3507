"""Neuron zoo: hand traces, closed forms, fast path == step-function reference, gradients."""
from __future__ import annotations

import cmath
import math

import pytest
import torch

from silava.train.neurons import NEURONS, make_neuron
from silava.train.neurons import adlif, csilif, lif, readout, rf, silif
from silava.train.neurons.surrogate import make_spike_fn, resolve_surrogate, surrogate_grad

F64 = torch.float64
ALL = sorted(NEURONS)
SPIKING = [n for n in ALL if NEURONS[n].spiking]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small tensors: one intra-op thread (see conftest.one_thread)."""


def col(values) -> torch.Tensor:
    """A [B=1, H=1] float64 tensor per value."""
    return torch.tensor(values, dtype=F64).reshape(-1, 1, 1)


def input_scale(name: str) -> float:
    return 300.0 if name == "rf" else 2.0  # RF scales its input by dt = 0.004


def run_trace(step, I_seq, state, params, spike=None):
    spike = spike or make_spike_fn("boxcar")
    out, states = [], []
    for I_t in I_seq:
        s, state = step(I_t, state, params, spike)
        out.append(s.item())
        states.append(state)
    return out, states


# ----------------------------------------------------------------------------- surrogate
def test_boxcar_window_and_strict_threshold():
    x = torch.tensor([-0.6, -0.5, -0.49, 0.0, 0.5, 0.51], requires_grad=True)
    s = make_spike_fn("boxcar")(x)
    assert s.tolist() == [0, 0, 0, 0, 1, 1]  # Θ(x): strict x > 0
    s.sum().backward()
    assert x.grad.tolist() == [0, 0, 1, 1, 1, 0]  # 1 on (−0.5, 0.5]


def test_fast_sigmoid_and_scale():
    x = torch.tensor([-1.0, 0.0, 0.25, 2.0], requires_grad=True)
    make_spike_fn("fast-sigmoid", 4.0)(x).sum().backward()
    assert torch.allclose(x.grad, 1 / (4 * x.detach().abs() + 1) ** 2)
    assert resolve_surrogate("fast_sigmoid") == ("fast-sigmoid", 10.0)
    assert resolve_surrogate("boxcar") == ("boxcar", 1.0)
    assert torch.equal(surrogate_grad(torch.tensor([0.1, 0.7]), "boxcar", 2.0), torch.tensor([2.0, 0.0]))
    with pytest.raises(ValueError):
        resolve_surrogate("nope")


# ----------------------------------------------------------------------------- hand traces
def test_adlif_step_hand_trace():
    """α = β = a = 0.5, b = 1, zero state, I = 3, 3, 0, 0 (worked out by hand, exact in binary)."""
    p = adlif.AdLIFParams(*(torch.full((1,), v, dtype=F64) for v in (0.5, 0.5, 0.5, 1.0)))
    state = adlif.AdLIFState(*(torch.zeros(1, 1, dtype=F64) for _ in range(3)))
    s, states = run_trace(adlif.step, col([3, 3, 0, 0]), state, p)
    assert s == [1, 0, 0, 0]
    assert [st.u.item() for st in states] == [1.5, 0.875, -0.21875, -0.3828125]
    assert [st.w.item() for st in states] == [0.0, 1.75, 1.3125, 0.546875]
    assert silif.step is adlif.step  # SiLIF shares the update (spec §3.3)


def test_adlif_matches_ssm_matrix_form():
    """Spec §2.3: x_t = A x_{t−1} + B I_t + R s_{t−1} with x = [u, w]."""
    torch.manual_seed(0)
    al, be, a, b = 0.7, 0.97, 0.4, 1.3
    p = adlif.AdLIFParams(*(torch.full((1,), v, dtype=F64) for v in (al, be, a, b)))
    A = torch.tensor([[al - (1 - al) * a, -(1 - al) * be], [a, be]], dtype=F64)
    Bv = torch.tensor([1 - al, 0.0], dtype=F64)
    R = torch.tensor([-(al + (1 - al) * b), b], dtype=F64)
    state = adlif.AdLIFState(torch.full((1, 1), 0.3, dtype=F64), torch.full((1, 1), 0.2, dtype=F64),
                             torch.full((1, 1), 0.6, dtype=F64))
    x, s_prev = torch.tensor([0.3, 0.2], dtype=F64), 0.6
    spikes = 0
    for I_t in (torch.rand(40, dtype=F64) * 6).tolist():
        s, state = adlif.step(torch.full((1, 1), I_t, dtype=F64), state, p)
        x = A @ x + Bv * I_t + R * s_prev
        s_prev = float(x[0] > 1)
        spikes += int(s.item())
        assert torch.allclose(torch.cat([state.u[0], state.w[0]]), x, atol=1e-12)
        assert s.item() == s_prev
    assert spikes > 3


def test_silif_discretization_and_init():
    n = make_neuron("silif", 1000)
    assert torch.allclose(n.log_dt.exp(), torch.tensor(0.004))
    p = n.params()
    assert p.alpha.min() >= math.exp(-1) - 1e-6 and p.alpha.max() <= math.exp(-0.04) + 1e-6
    assert p.beta.min() >= math.exp(-0.04) - 1e-6 and p.beta.max() <= math.exp(-0.01) + 1e-6
    with torch.no_grad():
        n.a.fill_(1.7)
        n.b.fill_(-0.3)
    d = n.discrete_params()
    assert set(d) == {"alpha", "beta", "a", "b"}
    assert torch.all(d["a"] == 1.0) and torch.all(d["b"] == 0.0)  # clamps applied
    assert not d["alpha"].requires_grad
    assert n.linear_init == "xavier" and n.threshold == 1.0


def test_adlif_cadlif_ranges():
    for name, ranges in (("adlif", adlif.AdLIF), ("cadlif", adlif.CAdLIF)):
        n = make_neuron(name, 500)
        for k in ("alpha", "beta", "a", "b"):
            lo, hi = getattr(ranges, f"{k}_range")
            v = getattr(n, k)
            assert v.min() >= lo and v.max() <= hi
        with torch.no_grad():
            n.alpha.fill_(2.0)
        assert torch.all(n.discrete_params()["alpha"] == ranges.alpha_range[1])
    assert NEURONS["cadlif"].linear_init == "xavier" and NEURONS["adlif"].linear_init == "default"


def test_csilif_step_hand_trace():
    """λ_re = λ_im = 0.5, b = 1, zero state, I = 1, 0, 0 (by hand)."""
    p = csilif.CSiLIFParams(*(torch.full((1,), v, dtype=F64) for v in (0.5, 0.5, 1.0)))
    state = csilif.CSiLIFState(*(torch.zeros(1, 1, dtype=F64) for _ in range(3)))
    s, states = run_trace(csilif.step, col([1, 0, 0]), state, p)
    assert s == [1, 0, 0]
    assert [st.x.item() for st in states] == [1.0, 0.25, 0.0]
    assert [st.y.item() for st in states] == [0.0, 0.25, 0.25]


def test_csilif_real_form_equals_complex_form():
    """The 2×2 real form equals u_t = λ(u_{t−1} − 0.5 s_{t−1}) + b I_t with torch complex numbers."""
    torch.manual_seed(1)
    H, B, T = 16, 4, 80
    n = make_neuron("csilif", H, init_state="random", dt_max=0.5).double()
    I = torch.randn(B, T, H, dtype=F64) * 1.5
    st = n.initial_state(B, I)
    s_ref, states = n.reference_forward(I, state0=st)
    s_fast, states_fast = n(I, return_states=True, state0=st)
    # complex form, parameters from the continuous ones
    A = torch.complex(-torch.exp(n.log_neg_re_a), n.im_a)
    lam = torch.exp(torch.exp(n.log_dt) * A).detach()
    u, s = torch.complex(st.x, st.y), st.s
    us, ss = [], []
    for t in range(T):
        u = lam * (u - 0.5 * s) + n.b.detach() * I[:, t]
        s = (2 * u.real - 1 > 0).to(F64)
        us.append(u)
        ss.append(s)
    u_c, s_c = torch.stack(us, 1), torch.stack(ss, 1)
    assert s_c.sum() > 20
    for s_mod, st_mod in ((s_ref, states), (s_fast, states_fast)):
        assert torch.equal(s_mod, s_c)
        assert torch.allclose(st_mod["x"], u_c.real, atol=1e-10)
        assert torch.allclose(st_mod["y"], u_c.imag, atol=1e-10)
    d = n.discrete_params()
    assert torch.allclose(d["lam_re"], lam.real) and torch.allclose(d["lam_im"], lam.imag)


def test_csilif_closed_form_and_init():
    """Sub-threshold, constant input: u_t = b·I·(1 − λ^t)/(1 − λ)."""
    n = make_neuron("csilif", 3, dt_min=0.01, dt_max=0.5).double()
    with torch.no_grad():
        n.log_dt.copy_(torch.log(torch.tensor([0.01, 0.1, 0.5], dtype=F64)))
        n.b.fill_(0.005)
    T = 30
    s, st = n(torch.full((1, T, 3), 1.0, dtype=F64), return_states=True)
    assert s.sum() == 0
    for h, dt in enumerate((0.01, 0.1, 0.5)):
        # A = −1/2 + iπ as stored (float32 init, then .double())
        lam = cmath.exp(dt * complex(-math.exp(n.log_neg_re_a[h].item()), n.im_a[h].item()))
        for t in (1, 7, T):
            u = 0.005 * (1 - lam ** t) / (1 - lam)
            assert abs(st["x"][0, t - 1, h].item() - u.real) < 1e-12
            assert abs(st["y"][0, t - 1, h].item() - u.imag) < 1e-12
    m = make_neuron("csilif", 2000, dt_min=0.01, dt_max=5.0)
    dts = m.log_dt.exp()
    assert dts.min() >= 0.01 - 1e-6 and dts.max() <= 5.0 + 1e-4 and dts.max() > 2.0
    assert torch.all(m.im_a == math.pi) and torch.allclose(m.log_neg_re_a.exp(), torch.tensor(0.5))
    assert m.b.min() >= 0 and m.b.max() < 1
    assert m.threshold == 0.5 and m.linear_init == "default"


def test_lif_hand_trace_and_lava_semantics():
    """δu = δv = 0.5, bias 0, I = 1, 1, 0, 0 (by hand); hard reset to 0, u not reset."""
    p = lif.LIFParams(*(torch.full((1,), v, dtype=F64) for v in (0.5, 0.5, 0.0)))
    state = lif.LIFState(torch.zeros(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
    s, states = run_trace(lif.step, col([1, 1, 0, 0]), state, p)
    assert s == [0, 1, 0, 0]
    assert [st.u.item() for st in states] == [1.0, 1.5, 0.75, 0.375]
    assert [st.v.item() for st in states] == [1.0, 0.0, 0.75, 0.75]
    # bias alone: v_t = 1 − 0.5^t (never reaches the strict threshold)
    p = lif.LIFParams(*(torch.full((1,), v, dtype=F64) for v in (0.5, 0.5, 0.5)))
    state = lif.LIFState(torch.zeros(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64))
    s, states = run_trace(lif.step, col([0] * 6), state, p)
    assert s == [0] * 6 and [st.v.item() for st in states] == [1 - 0.5 ** t for t in range(1, 7)]
    # Lava's floating-point LIF (PyLifModelFloat) written out with numpy-like ops
    torch.manual_seed(2)
    H, T = 8, 50
    n = make_neuron("lif", H).double()
    bias = torch.rand(H, dtype=F64) * 0.3
    I = torch.randn(1, T, H, dtype=F64)
    out, st = n(I, bias, return_states=True)
    du, dv = n.discrete_params()["cur_decay"], n.discrete_params()["vol_decay"]
    u, v = torch.zeros(H, dtype=F64), torch.zeros(H, dtype=F64)
    for t in range(T):
        u = u * (1 - du) + I[0, t]
        v = v * (1 - dv) + u + bias
        fired = v > 1.0
        v = torch.where(fired, torch.zeros_like(v), v)
        assert torch.equal(out[0, t], fired.to(F64))
        assert torch.allclose(st["v"][0, t], v) and torch.allclose(st["u"][0, t], u)
    assert out.sum() > 0


def test_rf_equals_complex_euler_form():
    torch.manual_seed(3)
    H, B, T = 8, 3, 60
    n = make_neuron("rf", H, init_state="random").double()
    I = torch.randn(B, T, H, dtype=F64) * 300
    st = n.initial_state(B, I)
    s_mod, states = n(I, return_states=True, state0=st)
    w = torch.complex(n.omega_re.clamp(max=-0.1), n.omega_im).detach()
    u, s, ss, us = torch.complex(st.x, st.y), st.s, [], []
    for t in range(T):
        u = u + 0.004 * (w * u + I[:, t]) - s
        s = (u.real - 1 > 0).to(F64)
        ss.append(s)
        us.append(u)
    assert s_mod.sum() > 10
    assert torch.equal(s_mod, torch.stack(ss, 1))
    assert torch.allclose(states["x"], torch.stack(us, 1).real, atol=1e-10)
    assert torch.allclose(states["y"], torch.stack(us, 1).imag, atol=1e-10)
    d = n.discrete_params()
    assert set(d) == {"re", "im", "dt"} and torch.all(d["dt"] == 0.004) and not n.recurrent


def test_li_closed_form_and_range():
    n = make_neuron("li", 5).double()
    lo, hi = readout.ALPHA_RANGE
    assert lo == pytest.approx(0.8187, abs=1e-4) and hi == pytest.approx(0.9608, abs=1e-4)
    assert n.alpha.min() >= lo and n.alpha.max() <= hi
    st0 = readout.LIState(torch.full((2, 5), 0.5, dtype=F64))
    v = n(torch.full((2, 12, 5), 2.0, dtype=F64), state0=st0)
    al = n.discrete_params()["alpha"]
    for t in (1, 5, 12):
        assert torch.allclose(v[:, t - 1], al ** t * 0.5 + (1 - al ** t) * 2.0)
    with torch.no_grad():
        n.alpha.fill_(0.1)
    assert torch.all(n.discrete_params()["alpha"] == lo)


# ----------------------------------------------------------------------------- fast path vs reference
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_fast_path_equals_reference(name, dtype):
    torch.manual_seed(4)
    H, B, T = 12, 3, 70
    for surrogate in ("boxcar", "fast-sigmoid"):
        n = make_neuron(name, H, init_state="random", surrogate=surrogate).to(dtype)
        I = (torch.randn(B, T, H, dtype=dtype) * input_scale(name)).requires_grad_()
        bias = (torch.randn(H, dtype=dtype) * 0.3).requires_grad_() if n.bias_on_voltage else None
        st = n.initial_state(B, I)
        st = type(st)(*(x.requires_grad_() for x in st))
        out_f, states_f = n(I, bias, return_states=True, state0=st)
        out_r, states_r = n.reference_forward(I, bias, state0=st)
        assert torch.equal(out_f, out_r), "forward must be bit-identical"
        for k in states_r:
            assert torch.equal(states_f[k], states_r[k])
        if n.spiking:
            assert 0 < out_f.mean() < 0.9
        # gradients: through the outputs and through the states
        w_out = torch.randn(out_f.shape, dtype=dtype)
        w_st = {k: torch.randn(v.shape, dtype=dtype) for k, v in states_f.items()}
        used = [I, *n.parameters(), *st] + ([bias] if bias is not None else [])

        def loss(o, s):
            return (o * w_out).sum() + sum((s[k] * w_st[k]).sum() for k in s)

        g_f = torch.autograd.grad(loss(out_f, states_f), used)
        g_r = torch.autograd.grad(loss(out_r, states_r), used)
        rtol = 1e-4 if dtype == torch.float32 else 1e-9
        for a, b in zip(g_f, g_r):  # relative to the gradient's scale (AdLIF's a < 0 can make it large)
            assert torch.allclose(a, b, rtol=rtol, atol=rtol * b.abs().max().item()), (name, surrogate)


SCANS = {
    "adlif": (adlif.AdLIFScan, 4, 3),
    "csilif": (csilif.CSiLIFScan, 3, 3),
    "rf": (rf.RFScan, 3, 3),
    "lif": (lif.CubaLIFScan, 3, 2),
}


@pytest.mark.parametrize("name", sorted(SCANS))
def test_kernel_gradcheck(name):
    """torch.autograd.gradcheck of each fused kernel in float64 (tiny sizes).

    With surrogate height 0 the spikes are locally constant and the analytic Jacobian
    is the true one, so this checks every linear/reset path of the hand-written BPTT
    exactly; the surrogate path is checked against autograd in the test above.
    """
    fn, n_params, n_states = SCANS[name]
    torch.manual_seed(5)
    B, T, H = 2, 7, 3
    scale = 300.0 if name == "rf" else 2.0
    I = (torch.randn(B, T, H, dtype=F64) * scale).requires_grad_()
    params = [(torch.rand(H, dtype=F64) * 0.8 + 0.1).requires_grad_() for _ in range(n_params)]
    if name == "rf":
        params[2] = torch.full((H,), 0.004, dtype=F64)  # dt: a constant
    states = [torch.rand(B, H, dtype=F64).requires_grad_() for _ in range(n_states)]
    args = (I, *params, *states, "boxcar", 0.0)
    with torch.no_grad():
        S = fn.apply(*args)[0]
    assert 0 < S.sum() < S.numel()
    assert torch.autograd.gradcheck(lambda *a: fn.apply(*a, "boxcar", 0.0), args[:-2], eps=1e-7, atol=1e-6)


def test_li_kernel_gradcheck():
    torch.manual_seed(6)
    z = torch.randn(2, 6, 3, dtype=F64, requires_grad=True)
    al = (torch.rand(3, dtype=F64) * 0.5 + 0.4).requires_grad_()
    v0 = torch.rand(2, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z, a, v: readout.LIScan.apply(z.transpose(0, 1).contiguous(), a, v),
                                    (z, al, v0))


# ----------------------------------------------------------------------------- module behaviour
@pytest.mark.parametrize("name", ALL)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(7)
    n = make_neuron(name, 16)
    I = torch.randn(8, 60, 16) * input_scale(name)
    bias = torch.zeros(16, requires_grad=True) if n.bias_on_voltage else None
    out = n(I, bias)
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in n.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname
    if bias is not None:
        assert bias.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ALL)
def test_init_state_zeros_and_random(name):
    torch.manual_seed(8)
    I = torch.randn(4, 20, 6) * input_scale(name)
    z = make_neuron(name, 6)
    st = z.initial_state(4, I)
    assert all(torch.all(x == 0) for x in st)
    assert torch.equal(z(I), z(I))  # deterministic
    r = make_neuron(name, 6, init_state="random")
    r.load_state_dict(z.state_dict())
    st = r.initial_state(4, I)
    for x in st:
        assert x.min() >= 0 and x.max() < 1 and x.std() > 0.1  # U[0,1) for every state (incl. s_0)
    torch.manual_seed(9)
    out1 = r(I)
    torch.manual_seed(9)
    out2, _ = r.reference_forward(I, state0=r.initial_state(4, I))
    assert torch.equal(out1, out2)  # forward draws the initial state with initial_state()
    assert not torch.equal(r(I), r(I)) or not r.spiking  # random state differs per call
    if name in ("silif", "adlif", "cadlif", "csilif"):
        # the fractional previous spike s_0 acts at t = 1
        st0 = r.initial_state(4, I)
        st_no_s = st0._replace(s=torch.zeros_like(st0.s))
        _, a = r.reference_forward(I, state0=st0)
        _, b = r.reference_forward(I, state0=st_no_s)
        k = "u" if "u" in a else "x"
        assert not torch.allclose(a[k][:, 0], b[k][:, 0])


def test_registry_and_contract():
    assert set(NEURONS) == {"silif", "csilif", "lif", "adlif", "cadlif", "rf", "multiout", "li"}
    for name, cls in NEURONS.items():
        assert cls.type_name == name
        n = make_neuron(name.upper() if name == "silif" else name, 4)
        assert isinstance(n.threshold, float)
        assert n.linear_init in ("xavier", "default")
        assert n.bias_on_voltage == (name == "lif")
        d = n.discrete_params()
        assert all(v.shape[0] == 4 for v in d.values())
        assert all(v.shape == (4,) for v in d.values()) or name == "multiout"   # its matrices are (4, N, ...)
    expected = {"silif": {"alpha", "beta", "a", "b"}, "adlif": {"alpha", "beta", "a", "b"},
                "cadlif": {"alpha", "beta", "a", "b"}, "csilif": {"lam_re", "lam_im", "b"},
                "lif": {"cur_decay", "vol_decay"}, "li": {"alpha"}, "rf": {"re", "im", "dt"},
                "multiout": {"A", "B", "b", "C", "rho"}}
    assert {k: set(make_neuron(k, 2).discrete_params()) for k in NEURONS} == expected
    with pytest.raises(ValueError):
        make_neuron("izhikevich", 3)
    with pytest.raises(ValueError):
        make_neuron("silif", 3)(torch.zeros(1, 4, 3), torch.zeros(3))  # no voltage bias on SiLIF
    with pytest.raises(ValueError):
        make_neuron("silif", 3)(torch.zeros(1, 4, 5))
    with pytest.raises(ValueError):
        make_neuron("silif", 3, init_state="ones")


def test_slow_path_flag():
    torch.manual_seed(10)
    n = make_neuron("csilif", 5, fast=False)
    I = torch.randn(2, 15, 5)
    out, st = n(I, return_states=True)
    n.fast = True
    out2, st2 = n(I, return_states=True)
    assert torch.equal(out, out2) and torch.equal(st["x"], st2["x"])
