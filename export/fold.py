"""Fold a trained SpArchNet into per-layer float parameters (docs/fixed_point.md §4, spec §10.2).

Each SpArch layer is ``Linear(no bias) -> BatchNorm1d -> neuron``. In eval mode BatchNorm is
affine with its running statistics, so it folds into the weights and a per-neuron bias::

    W' = diag(g) W,   c = beta_bn - g * mu,   g = gamma / sqrt(var + eps)

then the neuron's input gain is folded into the rows and the bias (the clamps of the trained
model are applied first: ``Neuron.discrete_params()``):

==========================  =============  ========================  ======================
train neuron                model.net      folded W'', c''            float constants
==========================  =============  ========================  ======================
silif, adlif, cadlif        SILIF          (1-alpha) W', (1-alpha) c  alpha, beta, a, b
csilif                      CSILIF         b W', b c                  lam_re, lam_im
lif (CUBA)                  CUBA           W' (current), c (voltage)  cur_decay, vol_decay
li (readout)                LI             (1-alpha) W', (1-alpha) c  alpha
==========================  =============  ========================  ======================

The folded float model (what :func:`simulate_folded` computes, zero initial state)::

    SILIF:  w = beta w + a u + b s';  u = alpha (u - s') - (1 - alpha) w + W''x + c'';  s = u > 1
    CSILIF: x_r = x - 0.5 s';  x = lr x_r - li y + W''x + c'';  y = li x_r + lr y;  s = x > 0.5
    CUBA:   u = (1 - du) u + W''x;  v = (1 - dv) v + u + c'';  s = v > 1;  v = v (1 - s)
    LI:     v = alpha v + W''h + c''

(``s'`` = the previous step's spike). The RF neuron has no integer model: it is rejected.
This module imports torch only through the model it is given (no import of train at load time).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: train neuron type -> model.net neuron type
EXPORTABLE: dict[str, str] = {"silif": "SILIF", "adlif": "SILIF", "cadlif": "SILIF", "csilif": "CSILIF",
                              "lif": "CUBA"}
READOUT = {"li": "LI"}
THRESHOLDS = {"SILIF": 1.0, "CSILIF": 0.5, "CUBA": 1.0, "LI": 0.0}


class FoldError(ValueError):
    """The model cannot be folded (one-line message naming the problem and the fix)."""


@dataclass
class FoldedLayer:
    """One layer's folded float parameters (float64)."""

    neuron_type: str                 # model.net type: CUBA | SILIF | CSILIF | LI
    source: str                      # train neuron type (silif, adlif, ...)
    weight: np.ndarray               # W'' (out, in): BatchNorm and the input gain folded in
    bias: np.ndarray                 # c'' (out,): per step, on the membrane (CUBA: on the voltage)
    threshold: float                 # 1.0 (SILIF, CUBA), 0.5 (CSILIF), 0.0 (LI: none)
    params: dict[str, np.ndarray]    # float constants per neuron (see module docstring)

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    def float_group(self) -> dict[str, np.ndarray]:
        """The ``/layer/{i}/float`` group of model.net (docs/fixed_point.md §7)."""
        out = {"weight": self.weight, "bias": self.bias, "threshold": np.float64(self.threshold)}
        out.update(self.params)
        return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


@dataclass
class FoldedNetwork:
    layers: list[FoldedLayer]
    source_neuron: str
    notes: list[str] = field(default_factory=list)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].in_features

    @property
    def n_classes(self) -> int:
        return self.layers[-1].out_features


def _np(t: Any) -> np.ndarray:
    return t.detach().to("cpu").double().numpy().copy()


def bn_affine(bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(g, c)`` with ``BN_eval(z) = g z + c``: ``g = gamma / sqrt(var + eps)``, ``c = beta - g mu``."""
    if getattr(bn, "running_mean", None) is None or getattr(bn, "running_var", None) is None:
        raise FoldError("BatchNorm without running statistics (track_running_stats=False) cannot be folded; "
                        "train with the default BatchNorm1d")
    var = _np(bn.running_var)
    mean = _np(bn.running_mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = 1.0 / np.sqrt(var + float(bn.eps))
    if getattr(bn, "affine", True) and getattr(bn, "weight", None) is not None:
        g = g * _np(bn.weight)
        return g, _np(bn.bias) - mean * g
    return g, -mean * g


def fold_layer(layer: Any, readout: bool = False) -> FoldedLayer:
    """Fold one ``SpArchLayer`` (``.linear``, ``.bn``, ``.neuron``)."""
    neuron = layer.neuron
    name = str(getattr(neuron, "type_name", type(neuron).__name__)).lower()
    table = READOUT if readout else EXPORTABLE
    if name not in table:
        supported = ", ".join(EXPORTABLE)
        raise FoldError(f"neuron {name!r} is not exportable to Loihi fixed point (supported hidden neurons: "
                        f"{supported}; readout: li); re-train with one of them")
    ntype = table[name]
    if getattr(layer.linear, "bias", None) is not None:
        raise FoldError("a Linear with bias is not a SpArch layer (expected bias=False)")
    w = _np(layer.linear.weight)
    g, c = bn_affine(layer.bn)
    w_bn = g[:, None] * w
    consts = {k: _np(v) for k, v in neuron.discrete_params().items()}
    n = w.shape[0]
    consts = {k: np.broadcast_to(v, (n,)).copy() if v.ndim <= 1 else v for k, v in consts.items()}
    if ntype in ("SILIF", "LI"):
        gain = 1.0 - consts["alpha"]
        params = {k: consts[k] for k in (("alpha", "beta", "a", "b") if ntype == "SILIF" else ("alpha",))}
    elif ntype == "CSILIF":
        gain = consts["b"]
        params = {"lam_re": consts["lam_re"], "lam_im": consts["lam_im"]}
    else:  # CUBA: BN scale into the current, BN shift onto the voltage
        gain = np.ones(n)
        params = {"cur_decay": consts["cur_decay"], "vol_decay": consts["vol_decay"]}
    folded = FoldedLayer(neuron_type=ntype, source=name, weight=gain[:, None] * w_bn, bias=gain * c,
                         threshold=THRESHOLDS[ntype], params=params)
    check_finite(folded, name)
    return folded


def check_finite(layer: FoldedLayer, where: str) -> None:
    """Raise :class:`FoldError` if any folded parameter is NaN or infinite."""
    for key, value in [("weight", layer.weight), ("bias", layer.bias), *layer.params.items()]:
        if not np.all(np.isfinite(value)):
            raise FoldError(f"{where}: non-finite folded {key} (NaN/Inf, e.g. a BatchNorm with zero variance "
                            f"and eps=0, or diverged training); re-train or use an earlier checkpoint")


def fold_model(model: Any) -> FoldedNetwork:
    """Fold a trained ``train.model.SpArchNet`` (hidden layers + LI readout), in eval semantics."""
    if not hasattr(model, "layers") or not hasattr(model, "readout"):
        raise FoldError(f"not a SpArchNet ({type(model).__name__} has no .layers/.readout)")
    layers = []
    for i, layer in enumerate(model.layers):
        try:
            layers.append(fold_layer(layer))
        except FoldError as exc:
            raise FoldError(f"hidden layer {i}: {exc}") from None
    try:
        layers.append(fold_layer(model.readout, readout=True))
    except FoldError as exc:
        raise FoldError(f"readout: {exc}") from None
    source = str(model.layers[0].neuron.type_name) if len(model.layers) else "li"
    notes = []
    init = getattr(model.layers[0].neuron, "init_state", "zeros") if len(model.layers) else "zeros"
    if init != "zeros":
        notes.append(f"the model was trained with init_state={init!r}; the deployed network starts from "
                     f"zero states (a small model change)")
    return FoldedNetwork(layers=layers, source_neuron=source, notes=notes)


# --------------------------------------------------------------------------- float reference loop

def simulate_folded(net: FoldedNetwork, x: np.ndarray) -> dict[str, Any]:
    """Run the folded float network (float64, zero initial state) on ``x[B, T, F]``.

    Returns ``readout_v [B, T, C]`` (the last layer's output), ``outputs`` (per layer: spikes or V),
    ``spikes`` (per spiking layer) and ``states`` (per layer ``{name: [B, T, n]}``; names as in
    train: ``u, w`` | ``x, y`` | ``u, v`` | ``v``).
    """
    x = np.asarray(x, dtype=np.float64)
    batch, steps, _ = x.shape
    st: list[dict[str, np.ndarray]] = []
    for layer in net.layers:
        zeros = lambda: np.zeros((batch, layer.out_features))  # noqa: E731
        names = {"SILIF": ("u", "w", "s"), "CSILIF": ("x", "y", "s"), "CUBA": ("u", "v"), "LI": ("v",)}
        st.append({k: zeros() for k in names[layer.neuron_type]})
    outs: list[list[np.ndarray]] = [[] for _ in net.layers]
    rec: list[dict[str, list[np.ndarray]]] = [{} for _ in net.layers]
    for t in range(steps):
        h = x[:, t]
        for i, layer in enumerate(net.layers):
            I = h @ layer.weight.T
            s_ = st[i]
            p = layer.params
            th = layer.threshold
            if layer.neuron_type == "SILIF":
                w = p["beta"] * s_["w"] + p["a"] * s_["u"] + p["b"] * s_["s"]
                u = p["alpha"] * (s_["u"] - th * s_["s"]) - (1 - p["alpha"]) * w + I + layer.bias
                s = (u > th).astype(np.float64)
                st[i] = {"u": u, "w": w, "s": s}
                h, keep = s, ("u", "w")
            elif layer.neuron_type == "CSILIF":
                xr = s_["x"] - th * s_["s"]
                xn = p["lam_re"] * xr - p["lam_im"] * s_["y"] + I + layer.bias
                yn = p["lam_im"] * xr + p["lam_re"] * s_["y"]
                s = (xn > th).astype(np.float64)
                st[i] = {"x": xn, "y": yn, "s": s}
                h, keep = s, ("x", "y")
            elif layer.neuron_type == "CUBA":
                u = (1 - p["cur_decay"]) * s_["u"] + I
                v = (1 - p["vol_decay"]) * s_["v"] + u + layer.bias
                s = (v > th).astype(np.float64)
                v = v * (1 - s)
                st[i] = {"u": u, "v": v}
                h, keep = s, ("u", "v")
            else:
                v = p["alpha"] * s_["v"] + I + layer.bias
                st[i] = {"v": v}
                h, keep = v, ("v",)
            outs[i].append(h)
            for k in keep:
                rec[i].setdefault(k, []).append(st[i][k])
    outputs = [np.stack(o, axis=1) for o in outs]
    states = [{k: np.stack(v, axis=1) for k, v in r.items()} for r in rec]
    spikes = [o for o, l in zip(outputs, net.layers) if l.neuron_type != "LI"]
    return {"readout_v": outputs[-1], "outputs": outputs, "spikes": spikes, "states": states}
