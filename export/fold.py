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
rf                          RF             dt W', dt c                re, im
multiout                    MULTIOUT       b W', b c (b = max|B|)     A, B/b, C, rho [, R, c_r]
lif (CUBA)                  CUBA           W' (current), c (voltage)  cur_decay, vol_decay
li (readout)                LI             (1-alpha) W', (1-alpha) c  alpha
==========================  =============  ========================  ======================

The folded float model (zero initial state)::

    SILIF:  w = beta w + a u + b s';  u = alpha (u - s') - (1 - alpha) w + W''x + c'';  s = u > 1
    CSILIF: x_r = x - 0.5 s';  x = lr x_r - li y + W''x + c'';  y = li x_r + lr y;  s = x > 0.5
    RF:     x_new = re x - im y - s' + W''x + c'';  y = im x + re y;  s = x_new > 1
    MULTIOUT: z = x - r'(rho + R s');  x = A z + B (W''x + c'');  s = C x > 1;  r = any(s) | c_r.x > 1
    CUBA:   u = (1 - du) u + W''x;  v = (1 - dv) v + u + c'';  s = v > 1;  v = v (1 - s)
    LI:     v = alpha v + W''h + c''

(``s'`` = the previous step's spike). Which model.net kind a trained neuron becomes is the
neuron class's ``kind`` attribute; the threshold, the float constants and the input gain come
from the kind declaration (:mod:`silava.core.kinds`). A neuron without a kind is rejected.
This module imports torch only through the model it is given (no import of train at load time).
A float reference loop of the folded network is in tests/folded_reference.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from silava.core.kinds import KINDS, Kind


def input_gain(kind: Kind, consts: dict[str, Any], n: int) -> Any:
    """The per-neuron gain folded into a layer's rows and bias: ``1``, ``1 − α``, or the discrete constant the
    kind declaration names (``b``: C-SiLIF's and the multi-output neuron's gain; ``dt``: RF's Euler step).

    Works on numpy arrays and torch tensors alike (``consts`` holds the neuron's discrete parameters).
    """
    if kind.input_gain == "1-alpha":
        return 1.0 - consts["alpha"]
    if kind.input_gain != "1":
        return consts[kind.input_gain]
    return None   # no gain: the caller keeps the BatchNorm-folded rows as they are


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
    kind = KINDS.get(getattr(neuron, "kind", ""))
    if kind is None or kind.spiking == readout:
        raise FoldError(f"neuron {name!r} is not exportable to Loihi fixed point as a "
                        f"{'readout' if readout else 'hidden layer'} (supported: {exportable_neurons(readout)}); "
                        f"re-train with one of them")
    if getattr(layer.linear, "bias", None) is not None:
        raise FoldError("a Linear with bias is not a SpArch layer (expected bias=False)")
    w = _np(layer.linear.weight)
    g, c = bn_affine(layer.bn)
    w_bn = g[:, None] * w
    consts = {k: _np(v) for k, v in neuron.discrete_params().items()}
    n = w.shape[0]
    consts = {k: np.broadcast_to(v, (n,)).copy() if v.ndim <= 1 else v for k, v in consts.items()}
    gain = input_gain(kind, consts, n)
    if gain is None:   # e.g. CUBA: BN scale into the current, BN shift onto the voltage
        gain = np.ones(n)
    params = {k: consts[k] for k in kind.float_params if k in consts}   # optional constants may be absent
    folded = FoldedLayer(neuron_type=kind.name, source=name, weight=gain[:, None] * w_bn, bias=gain * c,
                         threshold=kind.threshold or 0.0, params=params)
    check_finite(folded, name)
    return folded


def exportable_neurons(readout: bool = False) -> str:
    """Names of the train neurons that export as a hidden layer (or as the readout)."""
    from silava.train.neurons import NEURONS  # only to name them in an error message

    names = [n for n, cls in NEURONS.items() if cls.kind in KINDS and KINDS[cls.kind].spiking != readout]
    return ", ".join(names)


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


def folded_from_network(net: Any) -> FoldedNetwork:
    """The folded float network stored in a model.net's ``float`` groups (what :func:`fold_model` gave the exporter).

    Raises :class:`FoldError` if a layer has no ``float`` group (a file not written by silava's
    exporter, e.g. lava-dl's): only its integers are known then.
    """
    layers = []
    for i, layer in enumerate(net.layers):
        fp = layer.float_params
        kind = KINDS[layer.neuron_type]
        missing = [] if fp is None else [k for k in ("weight", "bias", *kind.float_params) if k not in fp]
        if fp is None or missing:
            raise FoldError(f"layer {i}: model.net has no float parameters{' ' + ', '.join(missing) if missing else ''} "
                            f"(the float group of silava export); export from the checkpoint instead")
        n = layer.out_features
        params = {k: np.broadcast_to(np.asarray(fp[k], dtype=np.float64), (n,)).copy() for k in kind.float_params}
        threshold = float(np.asarray(fp.get("threshold", kind.threshold or 0.0)).reshape(-1)[0])
        layers.append(FoldedLayer(neuron_type=layer.neuron_type, source=net.meta.source_neuron or layer.neuron_type,
                                  weight=np.asarray(fp["weight"], dtype=np.float64),
                                  bias=np.broadcast_to(np.asarray(fp["bias"], dtype=np.float64), (n,)).copy(),
                                  threshold=threshold, params=params))
    return FoldedNetwork(layers=layers, source_neuron=net.meta.source_neuron)
