"""Bit-plane spike coding (HAS-8), numpy: levels, planes, decoding (the host side of the chip).

A real value becomes an integer level ``q`` in ``[0, 2^n − 1]`` (``n = 8`` bits), and the level
becomes ``n`` binary time steps, **most significant bit first**::

    x' = rescale(x)                                   in [0, 1]   (see RESCALES)
    q  = clip(floor(x'·(2^n − 1) + 1/2), 0, 2^n − 1)  round half up (= the project's rnd for x ≥ 0)
    B_t(q) = floor(q / 2^(n−1−t)) mod 2,   t = 0 … n−1  (t = 0 carries 2^(n−1) = 128)

    bit-plane decoding:  d = Σ_t 2^(n−1−t) · s_t / (2^n − 1)      (d = q / 255 for s = B(q))
    rate decoding:       d = (1/n) Σ_t s_t

Decisions (neurons.md §9.2/§9.3 list the reference code's inconsistencies; docs/has8.md):

* **MSB first.** The reference encoder emits the LSB at t = 0 while its decoder weights t = 0
  by 128; we use MSB first everywhere (the paper's convention and the decoder's), so
  128 → one spike at t = 0 and ``decode(encode(q)) == q / 255`` exactly.
* **Round first.** The reference slices the unrounded value, so its plane 0 is ``x mod 2``
  (not binary) for non-integer inputs; we round to an integer level first, so every plane is 0/1.

Rescale modes (``RESCALES``): ``"none"`` — the input is already in [0, 1] (clipped; images
divided by 255); ``"sample"`` — min-max over each sample (all axes but the first), so a sample's
code does not depend on the rest of the batch (what a deployed network needs); ``"tensor"`` — the
reference code's min-max over the whole tensor, batch included (training only).
A constant sample (max = min) maps to level 0.
"""
from __future__ import annotations

import numpy as np

#: planes per value (8-bit levels)
BITS = 8
RESCALES = ("none", "sample", "tensor")
DECODERS = ("bitplane", "rate")


def check_bits(bits: int) -> int:
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or not 1 <= int(bits) <= 16:
        raise ValueError(f"bits must be an integer in [1, 16], got {bits!r}")
    return int(bits)


def rescale(x: np.ndarray, mode: str = "sample") -> np.ndarray:
    """``x`` mapped to [0, 1] (float64) by ``mode`` (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    if mode == "none":
        return np.clip(x, 0.0, 1.0)
    if mode == "sample":
        axes = tuple(range(1, x.ndim))
    elif mode == "tensor":
        axes = None
    else:
        raise ValueError(f"unknown rescale {mode!r}; use one of {', '.join(RESCALES)}")
    lo = x.min(axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim)
    hi = x.max(axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim)
    span = hi - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0)


def levels(x: np.ndarray, mode: str = "sample", bits: int = BITS) -> np.ndarray:
    """Integer levels ``q`` (int64, same shape as ``x``) of ``rescale(x, mode)`` on ``bits`` bits."""
    top = (1 << check_bits(bits)) - 1
    return np.clip(np.floor(rescale(x, mode) * top + 0.5), 0, top).astype(np.int64)


def planes(q: np.ndarray, bits: int = BITS) -> np.ndarray:
    """Binary planes of integer levels ``q[...]``: int64 ``[bits, ...]``, MSB first (t = 0 ↔ 2^(bits−1))."""
    bits = check_bits(bits)
    q = np.asarray(q)
    if q.dtype.kind not in "iu":
        raise ValueError(f"planes() takes integer levels, got dtype {q.dtype}; use levels() first")
    if q.size and (q.min() < 0 or q.max() > (1 << bits) - 1):
        raise ValueError(f"levels must be in [0, {(1 << bits) - 1}], got [{q.min()}, {q.max()}]")
    shifts = np.arange(bits - 1, -1, -1, dtype=np.int64).reshape((bits,) + (1,) * q.ndim)
    return (q.astype(np.int64)[None] >> shifts) & 1


def encode(x: np.ndarray, mode: str = "sample", bits: int = BITS) -> np.ndarray:
    """``planes(levels(x, mode))``: binary int64 ``[bits, *x.shape]``."""
    return planes(levels(x, mode, bits), bits)


def plane_weights(bits: int = BITS) -> np.ndarray:
    """Decoder weights ``2^(bits−1−t) / (2^bits − 1)`` for t = 0 … bits−1 (float64)."""
    bits = check_bits(bits)
    return 2.0 ** np.arange(bits - 1, -1, -1) / ((1 << bits) - 1)


def decode(spikes: np.ndarray, decoder: str = "bitplane", axis: int = 0) -> np.ndarray:
    """Decode spikes ``[T, ...]`` (time on ``axis``) to float64 values in [0, 1]."""
    s = np.moveaxis(np.asarray(spikes, dtype=np.float64), axis, 0)
    if decoder == "rate":
        return s.mean(axis=0)
    if decoder != "bitplane":
        raise ValueError(f"unknown decoder {decoder!r}; use one of {', '.join(DECODERS)}")
    w = plane_weights(s.shape[0]).reshape((-1,) + (1,) * (s.ndim - 1))
    return (w * s).sum(axis=0)


def levels_from_planes(p: np.ndarray, axis: int = 0) -> np.ndarray:
    """Inverse of :func:`planes`: integer levels from binary planes (MSB first on ``axis``)."""
    s = np.moveaxis(np.asarray(p, dtype=np.int64), axis, 0)
    w = (1 << np.arange(s.shape[0] - 1, -1, -1, dtype=np.int64)).reshape((-1,) + (1,) * (s.ndim - 1))
    return (w * s).sum(axis=0)
