"""SiLIF, C-SiLIF and RF as exact special cases of the multi-output neuron (integer and float).

:func:`as_multiout` rewrites a SILIF, CSILIF or RF layer of a model.net as a MULTIOUT layer with
N = 2 state words and M = 1 output that computes the same integers at every step (same spikes,
same states, same saturation counts); the tests prove it on random networks in hwsim, the torch
integer emulation and Lava. The MULTIOUT step (docs/fixed_point.md §3)::

    Z    = X − R·resetVec
    X'_k = sat( Σ_j mul(T_kj, Z_j) + Σ_j mul(G_kj, X_j) + Σ_{j<k} mul(L_kj, X'_j) + F_k·P + mul(Bv_k, A + B) )
    Y    = sat( Σ_k mul(C_k, X'_k) );  s = Y > VTH;  R = s

SILIF (state order ``[W, U]``; W is updated first, U reads the new W)::

    T = [[beta, 0], [0, alpha]]   G = [[0, coupling], [0, 0]]   L = [[0, 0], [−(2^D − alpha), 0]]
    F = [[spikeAdapt], [0]]       Bv = [0, 2^D]   C = [0, 2^D]   resetVec = [0, VTH]

    W' = sat( mul(beta, W) + mul(coupling, U) + spikeAdapt·P )           (W reads the un-reset U: G)
    U' = sat( mul(alpha, U − P·VTH) + mul(−(2^D − alpha), W') + A + B )  (mul(2^D, x, D) = x exactly)

CSILIF (``[X, Y]``): ``T = [[cos, −sin], [sin, cos]]``, ``Bv = [2^D, 0]``, ``C = [2^D, 0]``,
``resetVec = [VTH, 0]`` (the half reset before the rotation).
RF (``[X, Y]``): the same T, no reset vector, ``F = [[−VTH], [0]]`` (the reset after the rotation).

``mul(−k, x, D) = −mul(k, x, D)`` (truncation toward zero is symmetric), so SILIF's subtraction of
``mul(2^D − alpha, W')`` is the product with the negated constant. The float group is rewritten the
same way (SILIF's float step ``w = βw + a u + b s'``, ``u = α(u − s') − (1 − α)w + I'`` is the
same sequential form with θ = 1).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from silava.core.netfile import Layer, Network, validate


def _per_neuron(value, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.int64), (n,)).astype(np.int64)


def _fper(value, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).astype(np.float64)


def _common(layer: Layer) -> tuple[int, int, np.ndarray, int]:
    nd = layer.neuron
    n = layer.out_features
    D = int(nd["decayBits"])
    vth = _per_neuron(nd["vThMant"], n) << 6
    return n, D, vth, 1 << D


def _mats(n: int) -> dict[str, np.ndarray]:
    return {"transition": np.zeros((n, 2, 2), np.int64), "inputVec": np.zeros((n, 2), np.int64),
            "readout": np.zeros((n, 1, 2), np.int64), "resetVec": np.zeros((n, 2), np.int64)}


def _neuron(layer: Layer, mats: dict[str, np.ndarray]) -> dict:
    nd = layer.neuron
    return {"nStates": 2, "nOutputs": 1, **mats, "vThMant": nd["vThMant"], "decayBits": int(nd["decayBits"]),
            "stateFracBits": int(nd["stateFracBits"])}


def _float(layer: Layer, build: Callable[[dict, int], dict]) -> dict | None:
    fp = layer.float_params
    if fp is None:
        return None
    n = layer.out_features
    out = {k: np.asarray(v, np.float64) for k, v in fp.items() if k in ("weight", "bias", "threshold")}
    out.update(build(fp, n))
    return out


def silif_as_multiout(layer: Layer) -> Layer:
    """A SILIF layer as a MULTIOUT layer with the same integer step (module docstring)."""
    n, D, vth, one = _common(layer)
    nd = layer.neuron
    alpha, beta = _per_neuron(nd["alpha"], n), _per_neuron(nd["beta"], n)
    m = _mats(n)
    m["transition"][:, 0, 0], m["transition"][:, 1, 1] = beta, alpha
    m["stateRaw"] = np.zeros((n, 2, 2), np.int64)
    m["stateRaw"][:, 0, 1] = _per_neuron(nd["coupling"], n)
    m["stateNew"] = np.zeros((n, 2, 2), np.int64)
    m["stateNew"][:, 1, 0] = -(one - alpha)
    m["spikeFeedback"] = np.zeros((n, 2, 1), np.int64)
    m["spikeFeedback"][:, 0, 0] = _per_neuron(nd["spikeAdapt"], n)
    m["inputVec"][:, 1] = one
    m["readout"][:, 0, 1] = one
    m["resetVec"][:, 1] = vth

    def floats(fp: dict, n: int) -> dict:
        a, b, al, be = (_fper(fp[k], n) for k in ("a", "b", "alpha", "beta"))
        th = float(np.asarray(fp.get("threshold", 1.0)))
        A, G, L, F = (np.zeros((n, 2, 2)) for _ in range(4))
        A[:, 0, 0], A[:, 1, 1] = be, al
        G[:, 0, 1] = a
        L[:, 1, 0] = -(1 - al)
        B, C, rho = np.zeros((n, 2)), np.zeros((n, 1, 2)), np.zeros((n, 2))
        B[:, 1], C[:, 0, 1], rho[:, 1] = 1.0, 1.0, th
        return {"A": A, "B": B, "C": C, "rho": rho, "G": G, "L": L, "F": (b[:, None, None] * np.eye(2, 1)[None])}

    return replace(layer, neuron_type="MULTIOUT", neuron=_neuron(layer, m), float_params=_float(layer, floats))


def _rotation(layer: Layer) -> tuple[dict[str, np.ndarray], int, np.ndarray, int]:
    n, D, vth, one = _common(layer)
    nd = layer.neuron
    c, s = _per_neuron(nd["cosDecay"], n), _per_neuron(nd["sinDecay"], n)
    m = _mats(n)
    m["transition"][:, 0, 0], m["transition"][:, 0, 1] = c, -s
    m["transition"][:, 1, 0], m["transition"][:, 1, 1] = s, c
    m["inputVec"][:, 0] = one
    m["readout"][:, 0, 0] = one
    return m, n, vth, one


def _float_rotation(re_key: str, im_key: str, half_reset: bool) -> Callable[[dict, int], dict]:
    def floats(fp: dict, n: int) -> dict:
        re, im = _fper(fp[re_key], n), _fper(fp[im_key], n)
        th = float(np.asarray(fp.get("threshold", 1.0)))
        A = np.stack([np.stack([re, -im], -1), np.stack([im, re], -1)], 1)
        B, C, rho = np.zeros((n, 2)), np.zeros((n, 1, 2)), np.zeros((n, 2))
        B[:, 0], C[:, 0, 0] = 1.0, 1.0
        out = {"A": A, "B": B, "C": C, "rho": rho}
        if half_reset:
            rho[:, 0] = th
        else:
            F = np.zeros((n, 2, 1))
            F[:, 0, 0] = -th
            out["F"] = F
        return out
    return floats


def csilif_as_multiout(layer: Layer) -> Layer:
    """A CSILIF layer as a MULTIOUT layer (the half reset before the rotation: ``resetVec = [VTH, 0]``)."""
    m, n, vth, _ = _rotation(layer)
    m["resetVec"][:, 0] = vth
    return replace(layer, neuron_type="MULTIOUT", neuron=_neuron(layer, m),
                   float_params=_float(layer, _float_rotation("lam_re", "lam_im", True)))


def rf_as_multiout(layer: Layer) -> Layer:
    """An RF layer as a MULTIOUT layer (the reset after the rotation: ``spikeFeedback = [−VTH, 0]``)."""
    m, n, vth, _ = _rotation(layer)
    m["spikeFeedback"] = np.zeros((n, 2, 1), np.int64)
    m["spikeFeedback"][:, 0, 0] = -vth
    return replace(layer, neuron_type="MULTIOUT", neuron=_neuron(layer, m),
                   float_params=_float(layer, _float_rotation("re", "im", False)))


#: kind -> its rewrite as a MULTIOUT layer
CONVERTERS: dict[str, Callable[[Layer], Layer]] = {"SILIF": silif_as_multiout, "CSILIF": csilif_as_multiout,
                                                   "RF": rf_as_multiout}


def as_multiout(net: Network) -> Network:
    """``net`` with every SILIF / CSILIF / RF layer rewritten as the equivalent MULTIOUT layer."""
    layers = [CONVERTERS[layer.neuron_type](layer) if layer.neuron_type in CONVERTERS else layer
              for layer in net.layers]
    out = Network(layers=layers, meta=replace(net.meta))
    validate(out)
    return out
