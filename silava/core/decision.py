"""Decision rules on the readout (docs/fixed_point.md §6), computed on the host in float64.

* ``softmax_sum`` (default, the training rule): ``argmax_c Σ_t softmax(V_t / S)_c``;
* ``sum_v`` (chip-only alternative, no exponentials): ``argmax_c Σ_t V_t``;
* ``max_v`` (the hybrid network's max-over-time logits with the reference's prepended zero frame):
  ``argmax_c max(0, max_t V_t)``.

``V`` is the integer readout ``[B, T, C]`` over the T in-window steps, ``S = 2^stateFracBits``
of the readout layer. Ties go to the lowest class index (``np.argmax``).
"""
from __future__ import annotations

import numpy as np

DECISIONS = ("softmax_sum", "sum_v", "max_v")


def softmax_sum_scores(v: np.ndarray, scale: float) -> np.ndarray:
    """``Σ_t softmax(V_t / S)`` as float64 ``[B, C]`` (numerically stable softmax per step)."""
    z = np.asarray(v, dtype=np.float64) / float(scale)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z.sum(axis=-2)


def sum_v_scores(v: np.ndarray) -> np.ndarray:
    """``Σ_t V_t`` as int64 ``[B, C]``."""
    return np.asarray(v, dtype=np.int64).sum(axis=-2)


def max_v_scores(v: np.ndarray) -> np.ndarray:
    """``max(0, max_t V_t)`` as int64 ``[B, C]``."""
    return np.maximum(np.asarray(v, dtype=np.int64).max(axis=-2), 0)


def decide(v: np.ndarray, scale: float, rule: str = "softmax_sum") -> np.ndarray:
    """Predicted class per sample (int64 ``[B]``) under ``rule`` (one of :data:`DECISIONS`)."""
    if rule == "softmax_sum":
        scores = softmax_sum_scores(v, scale)
    elif rule == "sum_v":
        scores = sum_v_scores(v)
    elif rule == "max_v":
        scores = max_v_scores(v)
    else:
        raise ValueError(f"unknown decision rule {rule!r}; use one of {', '.join(DECISIONS)}")
    return np.argmax(scores, axis=-1).astype(np.int64)
