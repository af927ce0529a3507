"""A float reference loop of a folded network (``silava.export.fold.FoldedNetwork``), for tests.

The folded float model of docs/fixed_point.md §3–§4 (zero initial state), written out per kind
in plain numpy float64; the trained torch model (test_fold.py) and the quantized network
(test_quantize.py) are compared against it.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def _silif(I, st, p, th, bias):
    w = p["beta"] * st["w"] + p["a"] * st["u"] + p["b"] * st["s"]
    u = p["alpha"] * (st["u"] - th * st["s"]) - (1 - p["alpha"]) * w + I + bias
    s = (u > th).astype(np.float64)
    return s, {"u": u, "w": w, "s": s}, ("u", "w")


def _csilif(I, st, p, th, bias):
    xr = st["x"] - th * st["s"]
    xn = p["lam_re"] * xr - p["lam_im"] * st["y"] + I + bias
    yn = p["lam_im"] * xr + p["lam_re"] * st["y"]
    s = (xn > th).astype(np.float64)
    return s, {"x": xn, "y": yn, "s": s}, ("x", "y")


def _cuba(I, st, p, th, bias):
    u = (1 - p["cur_decay"]) * st["u"] + I
    v = (1 - p["vol_decay"]) * st["v"] + u + bias
    s = (v > th).astype(np.float64)
    v = v * (1 - s)
    return s, {"u": u, "v": v}, ("u", "v")


def _li(I, st, p, th, bias):
    v = p["alpha"] * st["v"] + I + bias
    return v, {"v": v}, ("v",)


#: kind -> (initial state names, float step)
STEPS = {"SILIF": (("u", "w", "s"), _silif), "CSILIF": (("x", "y", "s"), _csilif),
         "CUBA": (("u", "v"), _cuba), "LI": (("v",), _li)}


def simulate_folded(net: Any, x: np.ndarray) -> dict[str, Any]:
    """Run the folded float network (float64, zero initial state) on ``x[B, T, F]``.

    Returns ``readout_v [B, T, C]`` (the last layer's output), ``outputs`` (per layer: spikes or V),
    ``spikes`` (per spiking layer) and ``states`` (per layer ``{name: [B, T, n]}``; names as in
    train: ``u, w`` | ``x, y`` | ``u, v`` | ``v``).
    """
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    st = [{k: np.zeros((batch, layer.out_features)) for k in STEPS[layer.neuron_type][0]} for layer in net.layers]
    outs: list[list[np.ndarray]] = [[] for _ in net.layers]
    rec: list[dict[str, list[np.ndarray]]] = [{} for _ in net.layers]
    for t in range(steps):
        h = x[:, t]
        for i, layer in enumerate(net.layers):
            step = STEPS[layer.neuron_type][1]
            h, st[i], keep = step(h @ layer.weight.T, st[i], layer.params, layer.threshold, layer.bias)
            outs[i].append(h)
            for k in keep:
                rec[i].setdefault(k, []).append(st[i][k])
    outputs = [np.stack(o, axis=1) for o in outs]
    states = [{k: np.stack(v, axis=1) for k, v in r.items()} for r in rec]
    spikes = [o for o, layer in zip(outputs, net.layers) if layer.neuron_type != "LI"]
    return {"readout_v": outputs[-1], "outputs": outputs, "spikes": spikes, "states": states}
