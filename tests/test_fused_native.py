"""The fused kernels in C (train/neurons/fused.c via silava.train.neurons.native) against the two
independent implementations: the Python fused kernels (same equations, torch operations) and the
step-function loop under autograd (the reference). At H = 512 (small T): spikes and states
bit-identical, gradients allclose; the batch split over threads changes nothing; the Python
kernels are used whenever the C ones cannot be (disabled, float64)."""
from __future__ import annotations

import ctypes
import re

import pytest
import torch

from silava.core import cbuild
from silava.train.neurons import make_neuron, native

KINDS = ["silif", "csilif", "lif", "adlif", "cadlif", "li"]
B, T, H = 3, 16, 512

needs_c = pytest.mark.skipif(not native.available(), reason=f"C kernels not available: {native.status()}")


@pytest.fixture(autouse=True)
def _restore():
    old = native.set_enabled(True)
    threads = torch.get_num_threads()
    yield
    native.set_enabled(old)
    torch.set_num_threads(threads)


def _run(n, I, bias, st, mode: str):
    """Forward + backward of ``n`` with the C kernels (``c``), the Python kernels (``python``) or the
    step-function loop (``reference``); returns spikes, states and every gradient."""
    native.set_enabled(mode == "c")
    n.fast = mode != "reference"
    out, states = n(I, bias, return_states=True, state0=st)
    gen = torch.Generator().manual_seed(9)
    loss = (out * torch.randn(out.shape, generator=gen)).sum()
    loss = loss + sum((v * torch.randn(v.shape, generator=gen)).sum() for v in states.values())
    used = [I, *n.parameters(), *st] + ([bias] if bias is not None else [])
    grads = torch.autograd.grad(loss, used)
    return out.detach(), {k: v.detach() for k, v in states.items()}, grads


@needs_c
@pytest.mark.parametrize("name", KINDS)
@pytest.mark.parametrize("surrogate", ["boxcar", "fast-sigmoid"])
def test_c_kernels_equal_python_kernels_and_reference(name, surrogate, monkeypatch):
    calls = []
    real = native.call
    monkeypatch.setattr(native, "call", lambda fn, *a: (calls.append(fn), real(fn, *a))[1])
    torch.manual_seed(3)
    n = make_neuron(name, H, init_state="random", surrogate=surrogate)
    I = (torch.randn(B, T, H) * 2.0).requires_grad_()
    bias = (torch.randn(H) * 0.3).requires_grad_() if n.bias_on_voltage else None
    st = n.initial_state(B, I)
    st = type(st)(*(x.requires_grad_() for x in st))
    res = {mode: _run(n, I, bias, st, mode) for mode in ("c", "python", "reference")}
    assert len(calls) == 2 and calls[0].endswith("_forward") and calls[1].endswith("_backward")   # C ran once
    for mode in ("python", "reference"):
        assert torch.equal(res["c"][0], res[mode][0]), f"{name}: spikes differ from the {mode} kernels"
        for k in res[mode][1]:
            assert torch.equal(res["c"][1][k], res[mode][1][k]), f"{name}: state {k} differs ({mode})"
    if n.spiking:
        assert 0 < res["c"][0].mean() < 0.9
    for i, (a, b) in enumerate(zip(res["c"][2], res["reference"][2])):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item()), \
            f"{name}/{surrogate}: gradient {i} max |diff| {(a - b).abs().max().item():.3g}"


@needs_c
def test_the_c_path_runs_and_the_python_path_when_it_must(monkeypatch):
    calls = []
    real = native.call
    monkeypatch.setattr(native, "call", lambda name, *a: (calls.append(name), real(name, *a))[1])
    n = make_neuron("silif", 8)
    I = torch.randn(2, 5, 8, requires_grad=True)
    n(I).sum().backward()
    assert calls == ["adlif_forward", "adlif_backward"]
    calls.clear()
    n.double()(I.detach().double().requires_grad_()).sum().backward()     # float64: Python kernels
    native.set_enabled(False)
    n.float()(I).sum().backward()
    assert calls == []
    assert native.status().startswith("python kernels")


@needs_c
@pytest.mark.parametrize("name", ["silif", "csilif", "lif", "li"])
def test_thread_blocks_change_nothing(name, monkeypatch):
    torch.manual_seed(4)
    n = make_neuron(name, 64)
    I = torch.randn(5, 30, 64, requires_grad=True)
    outs = []
    for threads, minimum in ((1, native.PARALLEL_MIN), (2, 0)):
        torch.set_num_threads(threads)
        monkeypatch.setattr(native, "PARALLEL_MIN", minimum)
        out = n(I)
        g, = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(), [I])
        outs.append((out.detach(), g))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_signatures_match_the_c_declarations():
    sigs = native.signatures()
    assert set(sigs) == set(native.FUNCTIONS)
    text = native.SOURCE.read_text()
    for name, types in sigs.items():
        decl = re.search(r"VEC void " + name + r"\((.*?)\)", text, re.S).group(1)
        assert len(types) == decl.count(",") + 1
        assert types[:2] == [ctypes.c_int64, ctypes.c_int64]          # the batch block [b0, b1)
    with pytest.raises(cbuild.BuildError, match="unknown argument type"):
        native.signatures(text.replace("i64 b0, i64 b1, i64 T, i64 H, const f32 *I, const f32 *alpha",
                                       "i64 b0, i64 b1, i64 T, i64 H, long double I, const f32 *alpha", 1))


def test_build_without_a_compiler_falls_back(monkeypatch):
    monkeypatch.setattr(cbuild, "compiler", lambda: None)
    with pytest.raises(cbuild.BuildError, match="no C compiler"):
        native.build()
