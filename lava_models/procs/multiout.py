"""MULTIOUT (the multi-output neuron, model.net type ``MULTIOUT``): Process, ``fixed_pt`` and ``floating_pt``.

Vars, model.net keys and ``LavaPyType`` s come from ``silava.core.kinds.KINDS["MULTIOUT"]``
(:mod:`.base`): per neuron the states ``x`` (N words), ``p`` (the M previous outputs), ``r``
(the previous reset flag); the matrices ``transition`` (n, N, N), ``input_vec`` (n, N), ``readout``
(n, M, N), ``reset_vec`` (n, N), optional ``reset_mat`` (n, N, M), ``reset_read`` (n, N),
``state_raw`` (n, N, N), ``state_new`` (n, N, N), ``spike_feedback`` (n, N, M) (zero when not
given). ``s_out`` sends M values per neuron (n·M, neuron-major). The two steps below are written
here, row by row as the equations read (independent of hwsim's vectorised kernel).

Integer step (``fixed_pt``; docs/fixed_point.md §3) with ``A = a << 6``, ``B = bias << 6``,
``VTH = vth << 6``, ``D = decay_bits``, ``mul(k, x, D) = sign(k·x)·(|k·x| >> D)`` for every product,
``sat`` = clip to ±(2^23 − 1)::

    Z_j  = X_j − R·( reset_vec_j + Σ_m reset_mat_jm·P_m )
    X'_k = sat( Σ_j mul(transition_kj, Z_j) + Σ_j mul(state_raw_kj, X_j) + Σ_{j<k} mul(state_new_kj, X'_j)
                + Σ_m spike_feedback_km·P_m + mul(input_vec_k, A + B) )        k = 0 … N−1 in order
    Y_m  = sat( Σ_k mul(readout_mk, X'_k) ) ;  s_m = Y_m > VTH
    R'   = any_m s_m   (or, with reset_read: sat( Σ_k mul(reset_read_k, X'_k) ) > VTH) ;  P ← s ;  R ← R'

Float (folded) step (``floating_pt``; the float group's ``A, B, C, rho, R, c_r, G, L, F``, ``a`` the
float Dense output ``b·W'x``, ``bias`` = ``b·c``, ``vth`` = θ = 1): the same with real arithmetic
(no truncation, no saturation).
"""
from __future__ import annotations

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from silava.lava_models.procs.base import ACT_SHIFT, VTH_SHIFT, NeuronModel, NeuronProcess, lava_types, mul, sat


class MULTIOUT(NeuronProcess, kind="MULTIOUT"):
    """Multi-output neurons; ``shape = (n,)`` neurons, ``n_states`` (N) and ``n_outputs`` (M) required."""


def _has(values: np.ndarray) -> bool:
    return bool(np.any(values))


@lava_types
@implements(proc=MULTIOUT, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMultioutModelFixed(NeuronModel):
    """Integer multi-output neuron (int64 numpy, the equations of the module docstring)."""

    def step(self, a: np.ndarray) -> np.ndarray:
        d = self.decay_bits
        N, M = self.x.shape[1], self.p.shape[1]
        act = np.left_shift(a.astype(np.int64), ACT_SHIFT) + np.left_shift(self.bias, ACT_SHIFT)
        vth = np.left_shift(self.vth, VTH_SHIFT)
        x, p, r = self.x.copy(), self.p.copy(), self.r.copy()
        z = np.empty_like(x)
        for j in range(N):                              # the reset action of the previous step
            z[:, j] = x[:, j] - r * (self.reset_vec[:, j] + np.sum(self.reset_mat[:, j, :] * p, axis=1))
        x_new = np.zeros_like(x)
        for k in range(N):
            v = mul(self.input_vec[:, k], act, d)
            for j in range(N):
                v = v + mul(self.transition[:, k, j], z[:, j], d) + mul(self.state_raw[:, k, j], x[:, j], d)
            for j in range(k):
                v = v + mul(self.state_new[:, k, j], x_new[:, j], d)
            for m in range(M):
                v = v + self.spike_feedback[:, k, m] * p[:, m]
            x_new[:, k] = sat(v)
        s = np.zeros_like(p)
        for m in range(M):
            y = sat(sum(mul(self.readout[:, m, k], x_new[:, k], d) for k in range(N)))
            s[:, m] = y > vth
        if _has(self.reset_read):
            q = sat(sum(mul(self.reset_read[:, k], x_new[:, k], d) for k in range(N)))
            r_new = (q > vth).astype(np.int64)
        else:
            r_new = np.max(s, axis=1)
        self.x[:] = x_new
        self.p[:] = s
        self.r[:] = r_new
        return s.reshape(-1)


@lava_types
@implements(proc=MULTIOUT, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyMultioutModelFloat(NeuronModel):
    """Float multi-output neuron (folded parameters), numpy float64."""

    def step(self, a: np.ndarray) -> np.ndarray:
        N = self.x.shape[1]
        u = a + self.bias
        x, p, r = self.x.copy(), self.p.copy(), self.r.copy()
        z = x - r[:, None] * (self.reset_vec + np.einsum("nkm,nm->nk", self.reset_mat, p))
        x_new = np.zeros_like(x)
        for k in range(N):
            v = self.input_vec[:, k] * u + np.sum(self.transition[:, k, :] * z, axis=1) \
                + np.sum(self.state_raw[:, k, :] * x, axis=1) + np.sum(self.spike_feedback[:, k, :] * p, axis=1)
            if k:
                v = v + np.sum(self.state_new[:, k, :k] * x_new[:, :k], axis=1)
            x_new[:, k] = v
        y = np.einsum("nmk,nk->nm", self.readout, x_new)
        s = (y > self.vth[:, None]).astype(float)
        if _has(self.reset_read):
            r_new = (np.sum(self.reset_read * x_new, axis=1) > self.vth).astype(float)
        else:
            r_new = np.max(s, axis=1)
        self.x[:] = x_new
        self.p[:] = s
        self.r[:] = r_new
        return s.reshape(-1)
