"""The synapses of a layer as a connectivity matrix, for counting and mapping (numpy + scipy.sparse).

Every layer type is seen as one matrix ``nz`` (bool, ``(out, in_total)``): synapse ``j -> i``
exists (its weight is non-zero). Its inputs are:

* ``dense``: the previous layer's outputs, ``nz = W != 0``;
* ``dense_rec``: the previous layer's outputs then the layer's own outputs of the step before,
  ``nz = [W | W_rec] != 0`` (the recurrent synapses are synaptic operations too);
* ``conv``: the previous layer's [C, H, W] outputs (flat, C order), the convolution unrolled:
  input ``(c, y, x)`` reaches output ``(o, oy, ox)`` when ``c`` is in ``o``'s group and the tap
  ``w[o, c mod C/groups, ky, kx]`` is non-zero, with ``y = oy·s_h − p_h + ky·d_h`` (and the
  same along x) inside the input. So an input event costs as many operations as it has
  non-zero taps that reach valid outputs (NeuroBench's effective synaptic operations of a
  convolution); a sparse matrix;
* ``input``: an input layer's neurons take the source payload itself: the identity, but no
  synaptic operations (``ops = False``).

Weight memory (the mapper): dense layers store every synapse; a conv layer stores one copy of
the kernel of each output channel per core that holds neurons of that channel (weight sharing).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

import numpy as np
from scipy import sparse

if TYPE_CHECKING:  # pragma: no cover
    from silava.core.netfile import Layer

Matrix = Union[np.ndarray, sparse.csr_matrix]


@dataclass
class Synapses:
    """Connectivity of one layer: ``nz`` bool ``(out, n_in + n_rec)`` (ndarray or CSR)."""

    nz: Matrix
    n_in: int
    n_rec: int
    ops: bool = True

    @property
    def n_total(self) -> int:
        return self.n_in + self.n_rec

    @property
    def is_sparse(self) -> bool:
        return sparse.issparse(self.nz)

    def row_nnz(self) -> np.ndarray:
        """Synapses per output neuron (int64 ``(out,)``)."""
        if self.is_sparse:
            return np.asarray(self.nz.getnnz(axis=1), dtype=np.int64)
        return np.count_nonzero(self.nz, axis=1).astype(np.int64)

    def col_nnz(self, a: int = 0, b: int | None = None) -> np.ndarray:
        """Synapses from each input into output rows ``[a, b)`` (int64 ``(in_total,)``)."""
        rows = self.nz[a:b]
        if self.is_sparse:
            return np.asarray(rows.getnnz(axis=0), dtype=np.int64)
        return np.count_nonzero(rows, axis=0).astype(np.int64)

    def cols_hit(self, a: int, b: int) -> np.ndarray:
        """bool ``(in_total,)``: inputs with a synapse into output rows ``[a, b)``."""
        return self.col_nnz(a, b) > 0

    def rows(self, idx: np.ndarray) -> Matrix:
        return self.nz[idx]


def conv_matrix(weight: np.ndarray, spec) -> sparse.csr_matrix:
    """The unrolled convolution as a bool CSR matrix ``(C_out·H_out·W_out, C·H·W)`` (see module docstring)."""
    w = np.asarray(weight)
    c_out, cg, kh, kw = w.shape
    c, h, wd = spec.in_shape
    ho, wo = spec.out_hw((kh, kw))
    og = c_out // spec.groups
    (sh, sw), (ph, pw), (dh, dw) = spec.stride, spec.padding, spec.dilation
    oy, ox = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    rows, cols = [], []
    for o, ci, ky, kx in zip(*np.nonzero(w)):
        y = oy * sh - ph + ky * dh
        x = ox * sw - pw + kx * dw
        ok = (y >= 0) & (y < h) & (x >= 0) & (x < wd)
        cin = (o // og) * cg + ci
        rows.append((o * ho * wo + oy * wo + ox)[ok])
        cols.append((cin * h * wd + y * wd + x)[ok])
    n_out, n_in = c_out * ho * wo, c * h * wd
    if not rows:
        return sparse.csr_matrix((n_out, n_in), dtype=bool)
    r = np.concatenate(rows)
    col = np.concatenate(cols)
    return sparse.csr_matrix((np.ones(r.size, dtype=bool), (r, col)), shape=(n_out, n_in))


def synapses(layer: "Layer") -> Synapses:
    """The connectivity of ``layer`` (see the module docstring)."""
    if layer.layer_type == "conv":
        return Synapses(conv_matrix(layer.weight, layer.conv), layer.in_features, 0)
    if layer.layer_type == "input":
        n = layer.out_features
        return Synapses(sparse.identity(n, dtype=bool, format="csr"), n, 0, ops=False)
    nz = np.asarray(layer.weight) != 0
    if layer.layer_type == "dense_rec":
        return Synapses(np.concatenate([nz, np.asarray(layer.weight_rec) != 0], axis=1), nz.shape[1],
                        layer.out_features)
    return Synapses(nz, nz.shape[1], 0)


def kernel_words(layer: "Layer") -> int:
    """Weights stored per output channel of a conv layer (``in/groups · kh · kw``)."""
    w = np.shape(layer.weight)
    return int(w[1] * w[2] * w[3])


__all__ = ["Synapses", "conv_matrix", "kernel_words", "synapses"]
