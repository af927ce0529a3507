"""HAS-8 bit-plane coding: the decisions on the reference's inconsistencies (docs/has8.md), the torch
encoder against the independent numpy coder, the surrogate gradients against autograd of the smooth
approximations they stand for, the order-aware rescale, the decoders; 3-D and 5-D tensors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from silava.core import bitplane
from silava.train.has8.encoding import (bitplane_encode, decode, rescale_factors, resolve_surrogate,
                                        to_level_units)


def torch_encode(x: np.ndarray, rescale: str) -> np.ndarray:
    planes = bitplane_encode(to_level_units(torch.from_numpy(x), rescale))
    return planes.numpy().astype(np.int64)


def mismatches(x: np.ndarray, rescale: str, numpy_encode=bitplane.encode) -> int:
    """Elements where the torch encoder and the numpy coder disagree."""
    return int((torch_encode(x, rescale) != numpy_encode(x, rescale)).sum())


# ---------------------------------------------------------------------------- forward decisions

def test_msb_first():
    """Decision: MSB first — 128 is one spike at t = 0, 1 is one spike at t = 7."""
    x = torch.tensor([[128.0, 1.0, 255.0, 0.0, 5.0]])
    p = bitplane_encode(x)[:, 0].T.numpy()
    assert p[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert p[1].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert p[2].tolist() == [1] * 8 and p[3].tolist() == [0] * 8
    assert p[4].tolist() == [0, 0, 0, 0, 0, 1, 0, 1]
    assert bitplane.planes(np.array([128]))[:, 0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]


def test_round_first_every_plane_binary():
    """Decision: round to an integer level first, so plane 0 is binary for non-integer inputs (the
    reference's plane 0 was ``x mod 2``); the planes code ``clip(floor(x + 1/2), 0, 255)`` exactly."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 50, generator=gen, dtype=torch.float64) * 270 - 7
    p = bitplane_encode(x)
    assert set(torch.unique(p).tolist()) <= {0.0, 1.0}
    want = np.clip(np.floor(x.numpy() + 0.5), 0, 255)
    assert np.array_equal(bitplane.levels_from_planes(p.numpy()), want)
    assert float(decode(p).sub(torch.from_numpy(want) / 255).abs().max()) < 1e-12


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 5, 4)], ids=["3d_TBF", "5d_TBCHW"])
@pytest.mark.parametrize("rescale", ["none", "sample", "tensor"])
def test_torch_encoder_equals_numpy_coder(shape, rescale):
    """Two independent implementations (torch autograd encoder, numpy host coder) give the same planes
    ``[8, B, ...]`` for inputs ``[B, F]`` and ``[B, C, H, W]``."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=shape) * 3
    if rescale == "none":
        x = rng.random(shape)
    assert torch_encode(x, rescale).shape == (8,) + shape
    assert mismatches(x, rescale) == 0


def test_equivalence_catches_a_planted_bug():
    """Plant LSB-first order in the numpy coder: the equivalence check above finds differences."""
    x = np.random.default_rng(4).random((5, 9))

    def lsb_first(v, mode="sample", bits=8):
        return bitplane.encode(v, mode, bits)[::-1]

    def no_round(v, mode="sample", bits=8):
        q = np.clip(np.floor(bitplane.rescale(v, mode) * 255), 0, 255).astype(np.int64)   # floor, not round
        return bitplane.planes(q, bits)

    assert mismatches(x, "sample") == 0
    assert mismatches(x, "sample", lsb_first) > 0
    assert mismatches(x, "none", no_round) > 0


def test_sample_rescale_is_per_sample():
    """``sample`` codes each sample on its own (batch-independent); ``tensor`` (the reference) does not."""
    x = torch.tensor([[0.0, 1.0, 2.0], [0.0, 10.0, 20.0]])
    alone = to_level_units(x[:1], "sample")
    assert torch.equal(to_level_units(x, "sample")[:1], alone)
    assert not torch.equal(to_level_units(x, "tensor")[:1], to_level_units(x[:1], "tensor"))
    assert to_level_units(torch.ones(2, 3), "sample").abs().sum() == 0      # constant sample -> level 0


# ---------------------------------------------------------------------------- backward

def smooth_bits(y: torch.Tensor, kind: str, param: float) -> torch.Tensor:
    """The smooth approximations of plane k (t = 7 − k) written out, ``[8, ...]``: autograd of these is what
    the encoder's backward must give (without the rescale)."""
    out = []
    for t in range(8):
        c = 2.0 ** (7 - t)
        if kind == "sigsine":
            out.append(torch.sigmoid(param * torch.sin(math.pi * y / c)))
        elif kind == "tanhsine":
            out.append(0.5 * (1 + torch.tanh(param * torch.sin(math.pi * y / c))))
        else:
            series = sum(torch.sin(n * math.pi * y / c) / n for n in range(1, 2 * int(param), 2))
            out.append(0.5 - (2 / math.pi) * series)
    return torch.stack(out)


def encoder_grad(x: torch.Tensor, upstream: torch.Tensor, kind: str, param: float, rescale_grad: bool) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (bitplane_encode(x, kind, param, rescale_grad=rescale_grad) * upstream).sum().backward()
    return x.grad


@pytest.mark.parametrize("kind,param", [("sigsine", -10.0), ("tanhsine", -10.0), ("fourier", 5), ("fourier", 2)])
def test_surrogate_is_the_derivative_of_its_approximation(kind, param):
    """Backward = d/dx of the smooth approximation at y = x + 1/2, for every plane (3-D and 5-D inputs)."""
    gen = torch.Generator().manual_seed(1)
    for shape in [(3, 6), (2, 2, 3, 3)]:
        x = torch.rand(shape, generator=gen, dtype=torch.float64) * 255
        up = torch.randn((8,) + shape, generator=gen, dtype=torch.float64)
        y = (x + 0.5).requires_grad_(True)
        (smooth_bits(y, kind, param) * up).sum().backward()
        assert torch.allclose(encoder_grad(x, up, kind, param, False), y.grad, rtol=1e-9, atol=1e-12)


def test_fourier_has_no_constant_gradient_term():
    """Decision: the reference's ``½ −`` in the FourierSine *gradient* is dropped — the derivative of the
    series has no constant term. A planted ½ is caught by the autograd comparison."""
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(4, 5, generator=gen, dtype=torch.float64) * 255
    up = torch.randn(8, 4, 5, generator=gen, dtype=torch.float64)
    y = (x + 0.5).requires_grad_(True)
    (smooth_bits(y, "fourier", 5) * up).sum().backward()
    ours = encoder_grad(x, up, "fourier", 5, False)
    with_half = ours + 0.5 * up.sum(0)             # what the reference's gradient adds
    assert torch.allclose(ours, y.grad)
    assert not torch.allclose(with_half, y.grad)


def test_rescale_factors_and_their_effect():
    """Decision: ``r_k = k·2^(k−7)`` (the reference code), k = 0 LSB … 7 MSB — LSB zeroed, MSB ×7."""
    assert rescale_factors() == [0, 1 / 64, 2 / 32, 3 / 16, 4 / 8, 5 / 4, 6 / 2, 7]
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, generator=gen, dtype=torch.float64) * 255
    for t in range(8):                                # upstream gradient on plane t only (k = 7 − t)
        up = torch.zeros(8, 2, 3, dtype=torch.float64)
        up[t] = 1.0
        on = encoder_grad(x, up, "sigsine", -10.0, True)
        off = encoder_grad(x, up, "sigsine", -10.0, False)
        assert torch.allclose(on, off * rescale_factors()[7 - t])
    up = torch.zeros(8, 2, 3, dtype=torch.float64)
    up[7] = 1.0                                       # the LSB plane gets no gradient
    assert encoder_grad(x, up, "fourier", 5, True).abs().max() == 0


def test_surrogate_options():
    assert resolve_surrogate("FourierSine") == ("fourier", 5)
    assert resolve_surrogate("fourier", 3) == ("fourier", 3)
    assert resolve_surrogate("sigsine") == ("sigsine", -10.0)
    assert resolve_surrogate("none") == ("none", 0.0)
    x = torch.rand(2, 3, dtype=torch.float64, requires_grad=True) * 255
    p = bitplane_encode(x, "none")                  # the same planes, no gradient through the encoder
    assert torch.equal(p, bitplane_encode(x.detach())) and not p.requires_grad
    for bad in [("fourier", 0), ("fourier", 2.5), ("sigsine", 0.0), ("boxcar", None)]:
        with pytest.raises(ValueError):
            resolve_surrogate(*bad)


def test_gradient_flows_through_min_max():
    """The rescale is differentiated by autograd: the min and max elements get gradient too."""
    x = torch.tensor([[0.0, 3.0, 7.0, 10.0]], dtype=torch.float64, requires_grad=True)
    bitplane_encode(to_level_units(x, "sample")).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- decoders

@pytest.mark.parametrize("shape", [(8, 3, 5), (8, 2, 3, 4, 4)])
def test_decoders(shape):
    gen = torch.Generator().manual_seed(6)
    s = (torch.rand(shape, generator=gen) > 0.5).double()
    w = torch.tensor([2.0 ** (7 - t) for t in range(8)], dtype=torch.float64) / 255
    want = (s * w.view(-1, *([1] * (len(shape) - 1)))).sum(0)
    assert torch.allclose(decode(s, "bitplane"), want)
    assert torch.allclose(decode(s, "rate"), s.mean(0))
    assert np.allclose(bitplane.decode(s.numpy(), "bitplane"), want.numpy())
    assert np.allclose(bitplane.decode(s.numpy(), "rate"), s.mean(0).numpy())
    with pytest.raises(ValueError):
        decode(s, "ttfs")
