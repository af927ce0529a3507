"""NIR (Neuromorphic Intermediate Representation, the ``nir`` package) both ways.

**Export** (:func:`to_nir`, ``silava export --to nir``): the folded float network
(:class:`silava.export.fold.FoldedNetwork`, docs/fixed_point.md §4) as a NIR graph
``input → (Affine | Linear → neuron)* → output``. Per kind (δ = fraction lost per step, dt the
network's time step; the NIR dynamics are the Euler step ``x ← x + dt/τ (…)``):

==========  ==============================================================================
kind        NIR nodes
==========  ==============================================================================
CUBA        ``Linear(W'')`` → ``CubaLIF(τ_syn = dt/δu, τ_mem = dt/δv, w_in = τ_syn/dt,
            r = τ_mem/dt, v_leak = c''·τ_mem/dt, v_threshold = 1, v_reset = 0)``
LI          ``Affine(W'', c'')`` → ``LI(τ = dt/(1 − α), r = τ/dt, v_leak = 0)``
SILIF       ``Affine(W'', c'')`` → ``LIF(τ = dt/(1 − α), r = τ/dt, v_leak = 0, v_threshold = 1)``
CSILIF      ``Affine(W'', c'')`` → ``LIF(τ = dt/(1 − |λ|), r = τ/dt, v_leak = 0, v_threshold = 0.5)``
==========  ==============================================================================

(``w_in``, ``r`` make every input gain 1, as snnTorch writes them.) NIR has no adaptive or
complex-valued neuron, so **SILIF and C-SiLIF are written as the closest NIR primitive, a
``LIF``, plus metadata**: the node's ``metadata["silava"]`` holds the kind, its exact float
constants (``alpha, beta, a, b`` | ``lam_re, lam_im``), the threshold, the bias and the reset
rule. Other NIR tools see a plain LIF (adaptation and rotation dropped, hard reset); silava
restores the kind exactly. Every neuron node of our files carries this metadata (CUBA and LI
too: a decay of exactly 0 has τ = ∞, where NIR's Euler step drops the input), and the graph's
``metadata["silava"]`` holds dt, steps, the input encoding and the quantization settings, so
that export → import gives the same model.net integers (tests/test_nir.py).

**Import** (:func:`from_nir`, ``silava import model.nir``): a NIR graph written by silava,
snnTorch, Norse, Rockpool, … becomes a folded float network, quantized with our quantizer
(:func:`silava.export.quantize.quantize_network`) into a model.net. Rules for foreign nodes
(thresholds ``θ`` per neuron; every layer is scaled by ``1/θ`` so the kind's threshold is 1):

* ``Affine(W, b)`` / ``Linear(W)`` followed by a neuron node; ``Input``/``Output`` at the ends;
  a ``Flatten`` of a 1-D signal is skipped. Anything else (convolutions, pooling, delays,
  recurrent subgraphs, ``Threshold``, ``Scale``, …) is refused with one line naming the node.
* ``LIF(τ, r, v_leak, θ, v_reset = 0)``: ``δ = dt/τ``, input gain ``g = r·dt/τ``, membrane bias
  ``(dt/τ)·v_leak``. Reset **zero** (NIR's definition: ``v ← v_reset``) → CUBA with ``δu = 1``
  (no current memory: ``u = g·(W x + b)``, ``v = (1 − δ) v + u + c``); reset **subtract**
  (snnTorch's default ``Leaky``: ``v ← β v + I − θ s'``) → SILIF with ``α = 1 − δ``, ``β = a = 0``,
  ``b = 1`` (its adaptation then subtracts exactly the threshold one step later, undecayed);
  **subtract-immediate** (``Leaky(reset_delay=False)``: ``v ← β (v − θ s') + I``) → the same SILIF
  with ``b = 0``. ``IF`` is a LIF with ``δ = 0`` and gain ``r`` per step (snnTorch's reading).
* ``CubaLIF(τ_syn, τ_mem, r, v_leak, θ, v_reset = 0, w_in)``: CUBA with ``δu = dt/τ_syn``,
  ``δv = dt/τ_mem``; the gains ``w_in·dt/τ_syn`` and ``r·dt/τ_mem`` are folded into the rows
  (CUBA adds the current to the voltage with gain 1). An ``Affine`` bias feeding a CubaLIF
  acts on the current, which CUBA cannot express (its bias is on the voltage) unless
  ``δu = 1``: refused. Reset by subtraction: refused (CUBA resets to zero). snnTorch's
  ``Synaptic(reset_mechanism="zero")`` matches only with ``reset_delay=False``: with its default
  delayed reset the membrane is also held at 0 on the step after a spike (the new current is
  dropped), which no model.net kind does.
* ``LI(τ, r, v_leak)`` / ``I(r)`` (last layer only) → LI with ``α = 1 − dt/τ`` (1 for ``I``).
* Gains within 1e-6 of 1 are taken as exactly 1 (NIR files hold τ and r in float32; snnTorch's
  ``r = τ/dt`` comes back as 0.9999997).

Pitfalls (docs/interop.md): NIR has no time step — the τ in a file assume the writer's dt
(snnTorch writes them with dt = 1e-4 whatever the data's step), so ``--dt`` must be that dt;
NIR does not record the reset rule (``--reset``); and the order of the updates within a step is
not part of NIR: we use snnTorch's and Lava's (current first, the voltage integrates the *new*
current), whereas Norse integrates the voltage with the previous step's current (a one-step
delay on the synaptic path that a file cannot show).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from silava.core.kinds import KINDS
from silava.export.fold import FoldedLayer, FoldedNetwork

META_KEY = "silava"
FORMAT = "silava-nir"
FORMAT_VERSION = 1
#: reset rules of LIF/IF nodes (NIR does not record one): NIR's own (zero), snnTorch's default
#: ``Leaky`` (subtract, ``reset_delay=True``) and ``Leaky(reset_delay=False)`` (subtract-immediate)
RESETS = ("zero", "subtract", "subtract-immediate")
UNIT_GAIN_TOL = 1e-6


class NirError(ValueError):
    """A NIR file or graph silava cannot use (one line naming the node or problem and the fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


def _nir():
    try:
        import nir
    except ImportError:
        raise NirError("the nir package is not installed: pip install nir") from None
    return nir


# --------------------------------------------------------------------------- export

def _tau(dt: float, decay: np.ndarray) -> np.ndarray:
    """``τ = dt/δ`` per neuron (∞ for δ = 0: no leak)."""
    decay = np.asarray(decay, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(decay > 0, dt / np.where(decay > 0, decay, 1.0), np.inf)


def _unit_gain(dt: float, tau: np.ndarray) -> np.ndarray:
    """``r = τ/dt`` (the input gain ``r·dt/τ`` is then 1); 1 where τ = ∞."""
    return np.where(np.isfinite(tau), tau / dt, 1.0)


def _layer_meta(fl: FoldedLayer) -> dict[str, Any]:
    kind = KINDS[fl.neuron_type]
    return {"kind": fl.neuron_type, "source": fl.source, "threshold": float(fl.threshold),
            "reset": kind.reset, "bias": np.asarray(fl.bias, dtype=np.float64),
            "params": {k: np.asarray(v, dtype=np.float64) for k, v in fl.params.items()}}


#: the kinds :func:`to_nir` writes (the module docstring table); others are refused by ``silava export --to nir``
NIR_KINDS = ("SILIF", "CSILIF", "CUBA", "LI")


def _neuron_node(fl: FoldedLayer, dt: float) -> Any:
    """The NIR node standing for one folded layer's neurons (module docstring table)."""
    nir = _nir()
    n = fl.out_features
    p = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for k, v in fl.params.items()}
    th = np.full(n, float(fl.threshold))
    zeros = np.zeros(n)
    meta = {META_KEY: _layer_meta(fl)}
    if fl.neuron_type == "CUBA":
        tau_syn, tau_mem = _tau(dt, p["cur_decay"]), _tau(dt, p["vol_decay"])
        r = _unit_gain(dt, tau_mem)
        v_leak = np.where(np.isfinite(tau_mem), np.asarray(fl.bias) * r, 0.0)
        return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, v_threshold=th, v_reset=zeros,
                           w_in=_unit_gain(dt, tau_syn), metadata=meta)
    if fl.neuron_type == "LI":
        tau = _tau(dt, 1.0 - p["alpha"])
        return nir.LI(tau=tau, r=_unit_gain(dt, tau), v_leak=zeros, metadata=meta)
    if fl.neuron_type == "CSILIF":
        retention = np.hypot(p["lam_re"], p["lam_im"])
    else:
        retention = p["alpha"]
    tau = _tau(dt, 1.0 - np.minimum(retention, 1.0))
    return nir.LIF(tau=tau, r=_unit_gain(dt, tau), v_leak=zeros, v_threshold=th, v_reset=zeros, metadata=meta)


def to_nir(folded: FoldedNetwork, *, dt: float, steps: int, input_encoding: str = "binary",
           quantization: Optional[dict] = None, extra: Optional[dict] = None) -> Any:
    """A NIR graph of ``folded`` (module docstring); ``dt`` is the time step the τ values assume."""
    nir = _nir()
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NirError(f"dt {dt!r}: NIR time constants need a positive time step in seconds")
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([folded.n_inputs]))}
    edges = []
    prev = "input"
    for i, fl in enumerate(folded.layers):
        syn, neu = f"layer{i}_synapse", f"layer{i}_{fl.neuron_type.lower()}"
        weight = np.asarray(fl.weight, dtype=np.float64)
        if fl.neuron_type == "CUBA":         # the bias acts on the voltage: v_leak of the CubaLIF
            nodes[syn] = nir.Linear(weight=weight)
        else:
            nodes[syn] = nir.Affine(weight=weight, bias=np.asarray(fl.bias, dtype=np.float64))
        nodes[neu] = _neuron_node(fl, float(dt))
        edges += [(prev, syn), (syn, neu)]
        prev = neu
    nodes["output"] = nir.Output(output_type=np.array([folded.n_classes]))
    edges.append((prev, "output"))
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "dt": float(dt), "steps": int(steps),
            "input_encoding": input_encoding, "source_neuron": folded.source_neuron,
            "quantization": json.dumps(quantization or {}, sort_keys=True),
            "update_order": "current first, then the voltage with the new current (snnTorch, Lava)"}
    meta.update(extra or {})
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={META_KEY: meta})


def write_nir(graph: Any, path: "str | Path") -> None:
    """Write ``graph`` to ``path`` atomically (``nir.write`` into a temp file, then replace)."""
    from silava.core.fileio import atomic_path

    nir = _nir()
    with atomic_path(path) as tmp:
        nir.write(str(tmp), graph)


# --------------------------------------------------------------------------- import

def read_nir(path: "str | Path") -> Any:
    """``nir.read`` with one-line errors (missing file, not HDF5, unknown node types, type errors)."""
    import h5py

    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise NirError(f"{path}: no such file; pass a NIR graph (.nir, HDF5) written by nir.write")
    if not h5py.is_hdf5(path):
        raise NirError(f"{path}: not an HDF5 file; pass a NIR graph written by nir.write")
    errors = []
    for type_check in (True, False):
        try:
            return nir.read(str(path), type_check=type_check)
        except Exception as exc:  # noqa: BLE001 - nir raises bare ValueError/KeyError/AssertionError
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    raise NirError(f"{path.name}: nir cannot read it ({errors[-1]}); write it with nir.write of nir >= 1.0")


def _meta(node: Any) -> dict:
    m = getattr(node, "metadata", None)
    return m.get(META_KEY, {}) if isinstance(m, dict) else {}


def _str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _str(value.item())
    return str(value)


def _chain(graph: Any) -> list[tuple[str, Any]]:
    """The nodes of a chain ``Input → … → Output`` in order (one line if the graph is not a chain)."""
    nir = _nir()
    nodes, edges = graph.nodes, [(str(a), str(b)) for a, b in graph.edges]
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise NirError(f"NIR node {name!r} is a subgraph (e.g. a recurrent RLeaky/RSynaptic layer): model.net v1 "
                           f"holds feed-forward dense layers only; export the network without recurrence")
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirError(f"the NIR graph has {len(inputs)} Input and {len(outputs)} Output nodes; silava imports "
                       f"a chain with one of each")
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise NirError(f"NIR edge ({a!r}, {b!r}) names a node the graph does not have")
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    order = [inputs[0]]
    seen = set(order)
    while order[-1] != outputs[0]:
        nxt = succ.get(order[-1], [])
        if len(nxt) != 1 or len(pred.get(nxt[0], [])) != 1 or nxt[0] in seen:
            raise NirError(f"NIR node {order[-1]!r} ({type(nodes[order[-1]]).__name__}) does not lead to exactly one "
                           f"next node (branches, merges or cycles): silava imports a feed-forward chain")
        order.append(nxt[0])
        seen.add(nxt[0])
    if len(order) != len(nodes):
        extra = sorted(set(nodes) - seen)
        raise NirError(f"NIR node {extra[0]!r} ({type(nodes[extra[0]]).__name__}) is not on the chain from "
                       f"{inputs[0]!r} to {outputs[0]!r}; remove it")
    return [(name, nodes[name]) for name in order]


def _arr(node: Any, key: str, n: int) -> np.ndarray:
    value = getattr(node, key)
    arr = np.asarray(value, dtype=np.float64)
    try:
        return np.broadcast_to(arr.reshape(-1) if arr.size == n else arr, (n,)).copy()
    except ValueError:
        raise NirError(f"NIR node {getattr(node, '_silava_name', '?')!r}: {key} has shape {arr.shape}, expected "
                       f"({n},) or a scalar") from None


def _gain(value: np.ndarray) -> np.ndarray:
    """Input gains: within :data:`UNIT_GAIN_TOL` of 1 → exactly 1 (float32 round trips of τ/dt)."""
    value = np.asarray(value, dtype=np.float64)
    return np.where(np.abs(value - 1.0) <= UNIT_GAIN_TOL, 1.0, value)


def _decay(dt: float, tau: np.ndarray, name: str, key: str) -> np.ndarray:
    """``δ = dt/τ`` (0 for τ = ∞), which must lie in [0, 1]."""
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(~(tau > 0)):
        raise NirError(f"NIR node {name!r}: {key} must be positive (got {float(np.min(tau)):g})")
    d = np.where(np.isinf(tau), 0.0, dt / np.where(np.isinf(tau), 1.0, tau))
    d = np.where(np.abs(d - 1.0) <= UNIT_GAIN_TOL, 1.0, d)
    if np.any(d > 1.0):
        raise NirError(f"NIR node {name!r}: {key} = {float(np.min(tau)):g} s is shorter than dt = {dt:g} s (more than "
                       f"the whole state would leak per step): pass the dt the file's time constants assume (--dt; "
                       f"snnTorch writes them with 1e-4)")
    return d


@dataclass
class ImportInfo:
    """What :func:`from_nir` decided: per layer the NIR node names, the kind, the rule used, notes."""

    layers: list[dict[str, Any]] = field(default_factory=list)
    dt: float = 0.0
    notes: list[str] = field(default_factory=list)
    graph_meta: dict[str, Any] = field(default_factory=dict)


def _foreign_layer(name: str, node: Any, w: np.ndarray, b: Optional[np.ndarray], dt: float, reset: str,
                   last: bool) -> tuple[FoldedLayer, str]:
    """A folded layer from a foreign neuron node (module docstring rules); returns the layer and the rule."""
    nir = _nir()
    n = w.shape[0]
    b = np.zeros(n) if b is None else b
    if isinstance(node, (nir.LIF, nir.IF)):
        if isinstance(node, nir.IF):
            decay, gain, leak = np.zeros(n), _gain(_arr(node, "r", n)), np.zeros(n)
        else:
            tau = _arr(node, "tau", n)
            decay = _decay(dt, tau, name, "tau")
            gain = _gain(_arr(node, "r", n) * decay)
            leak = decay * _arr(node, "v_leak", n)
        th = _arr(node, "v_threshold", n)
        if np.any(_arr(node, "v_reset", n) != 0):
            raise NirError(f"NIR node {name!r} ({type(node).__name__}): v_reset must be 0 (model.net kinds reset to 0 "
                           f"or subtract the threshold)")
        if np.any(th <= 0):
            raise NirError(f"NIR node {name!r}: v_threshold must be positive")
        scale = 1.0 / th                                   # the kind's threshold is 1
        weight, bias = (gain * scale)[:, None] * w, (gain * b + leak) * scale
        if reset in ("subtract", "subtract-immediate"):
            # SILIF: u' = alpha (u - s') - (1 - alpha) w' + I, w' = b s'. b = 1: u' = alpha u - s' + I (snnTorch's
            # delayed subtraction, not decayed); b = 0: u' = alpha (u - s') + I (subtracted at the spike, decayed)
            b_adapt = np.ones(n) if reset == "subtract" else np.zeros(n)
            params = {"alpha": 1.0 - decay, "beta": np.zeros(n), "a": np.zeros(n), "b": b_adapt}
            return (FoldedLayer("SILIF", f"nir:{type(node).__name__}", weight, bias, 1.0, params),
                    f"reset by subtraction ({reset}) -> SILIF (alpha = 1 - dt/tau, beta = a = 0, "
                    f"b = {int(b_adapt[0]) if n else 0})")
        params = {"cur_decay": np.ones(n), "vol_decay": decay}
        return (FoldedLayer("CUBA", f"nir:{type(node).__name__}", weight, bias, 1.0, params),
                "reset to zero -> CUBA (iDecay = 4096: no current memory)")
    if isinstance(node, nir.CubaLIF):
        if reset != "zero":
            raise NirError(f"NIR node {name!r} (CubaLIF) with reset by subtraction has no model.net kind (CUBA resets "
                           f"the voltage to zero): train the synaptic layer with reset_mechanism='zero', "
                           f"reset_delay=False")
        du = _decay(dt, _arr(node, "tau_syn", n), name, "tau_syn")
        dv = _decay(dt, _arr(node, "tau_mem", n), name, "tau_mem")
        g_in = _gain(_arr(node, "w_in", n) * du)
        g_v = _gain(_arr(node, "r", n) * dv)
        th = _arr(node, "v_threshold", n)
        if np.any(_arr(node, "v_reset", n) != 0) or np.any(th <= 0):
            raise NirError(f"NIR node {name!r} (CubaLIF): v_reset must be 0 and v_threshold positive")
        if np.any((b != 0) & (du < 1.0)):
            raise NirError(f"NIR node {name!r} (CubaLIF): the bias of the layer before it acts on the synaptic current, "
                           f"which CUBA cannot express (Lava's LIF bias is on the voltage): train that Linear with "
                           f"bias=False")
        scale = 1.0 / th
        g = _gain(g_in * g_v) * scale
        bias = (g * b + dv * _arr(node, "v_leak", n) * scale)
        params = {"cur_decay": du, "vol_decay": dv}
        return (FoldedLayer("CUBA", "nir:CubaLIF", g[:, None] * w, bias, 1.0, params),
                "CubaLIF -> CUBA (gains w_in dt/tau_syn and r dt/tau_mem folded into the rows)")
    if isinstance(node, (nir.LI, nir.I)):
        if not last:
            raise NirError(f"NIR node {name!r} ({type(node).__name__}) does not spike: model.net allows a non-spiking "
                           f"layer only as the last one")
        if isinstance(node, nir.I):
            decay, gain, leak = np.zeros(n), _gain(_arr(node, "r", n)), np.zeros(n)
        else:
            decay = _decay(dt, _arr(node, "tau", n), name, "tau")
            gain, leak = _gain(_arr(node, "r", n) * decay), decay * _arr(node, "v_leak", n)
        return (FoldedLayer("LI", f"nir:{type(node).__name__}", gain[:, None] * w, gain * b + leak, 0.0,
                            {"alpha": 1.0 - decay}), "leaky integrator -> LI")
    raise NirError(f"NIR node {name!r} ({type(node).__name__}) cannot be mapped to a model.net layer (supported: "
                   f"Affine/Linear followed by LIF, IF, CubaLIF, or LI/I as the last layer)")


def _own_layer(name: str, node: Any, w: np.ndarray) -> FoldedLayer:
    """A folded layer restored exactly from silava's node metadata (kind, float constants, bias)."""
    m = _meta(node)
    kind = _str(m.get("kind", ""))
    if kind not in KINDS:
        raise NirError(f"NIR node {name!r}: silava metadata names an unknown kind {kind!r} (kinds: {', '.join(KINDS)}); "
                       f"use a newer silava or import without metadata (--ignore-metadata)")
    params = {k: np.asarray(v, dtype=np.float64) for k, v in dict(m.get("params", {})).items()}
    missing = [k for k in KINDS[kind].float_params if k not in params]
    if missing:
        raise NirError(f"NIR node {name!r}: silava metadata of kind {kind} lacks {', '.join(missing)}")
    bias = np.asarray(m.get("bias", np.zeros(w.shape[0])), dtype=np.float64)
    return FoldedLayer(kind, _str(m.get("source", kind.lower())), w, bias, float(m.get("threshold", 0.0)),
                       {k: params[k] for k in KINDS[kind].float_params})


def parse_reset(reset: "str | dict[str, str] | Sequence[str] | None") -> dict[str, str]:
    """``"zero"`` / ``{"node": "subtract", "*": "zero"}`` / ``["subtract", "3=zero"]`` -> ``{node or "*": rule}``."""
    if reset is None:
        return {"*": "zero"}
    items = [reset] if isinstance(reset, str) else reset
    if isinstance(items, dict):
        table = {str(k): str(v) for k, v in items.items()}
    else:
        table = {}
        for item in items:
            node, sep, rule = str(item).rpartition("=")
            table[node if sep else "*"] = rule
    table.setdefault("*", "zero")
    for node, rule in table.items():
        if rule not in RESETS:
            where = "" if node == "*" else f" for node {node!r}"
            raise NirError(f"--reset {rule!r}{where}: choose one of {', '.join(RESETS)} (NODE=RULE for one node)")
    return table


def from_nir(graph: Any, *, dt: Optional[float] = None, reset: "str | dict[str, str] | None" = "zero",
             use_metadata: bool = True) -> tuple[FoldedNetwork, ImportInfo]:
    """A :class:`FoldedNetwork` from a NIR graph (module docstring rules); ``dt`` defaults to silava's metadata.

    ``reset`` (``zero`` | ``subtract`` | ``subtract-immediate``, or ``{node name: rule, "*": default}``)
    is the reset rule of the file's spiking nodes, which NIR does not record. ``use_metadata``:
    restore silava's own neuron nodes exactly from their metadata (else they are mapped by their
    NIR fields, like any foreign file; the graph's metadata, dt and settings, is used either way).
    """
    nir = _nir()
    resets = parse_reset(reset)
    gmeta = dict(getattr(graph, "metadata", None) or {}).get(META_KEY, {})
    if dt is None:
        dt = float(gmeta["dt"]) if "dt" in gmeta else None
    if dt is None:
        raise NirError("the NIR file does not say which time step its time constants assume: pass --dt (snnTorch "
                       "writes them with dt = 1e-4 s; Norse and Rockpool with the dt you gave them)")
    if not (math.isfinite(dt) and dt > 0):
        raise NirError(f"--dt {dt!r}: expected a positive time step in seconds")
    chain = _chain(graph)
    unknown = sorted(set(resets) - {"*"} - {name for name, _ in chain})
    if unknown:
        raise NirError(f"--reset {unknown[0]}=...: the graph has no node {unknown[0]!r} (nodes: "
                       f"{', '.join(name for name, _ in chain[1:-1])})")
    info = ImportInfo(dt=float(dt), graph_meta=dict(gmeta))
    layers: list[FoldedLayer] = []
    pending: Optional[tuple[str, np.ndarray, Optional[np.ndarray]]] = None
    body = chain[1:-1]
    n_in = int(np.prod(np.asarray(chain[0][1].input_type["input"]).reshape(-1)))
    for idx, (name, node) in enumerate(body):
        if isinstance(node, nir.Flatten):
            if pending is None and not layers and np.asarray(chain[0][1].input_type["input"]).size == 1:
                info.notes.append(f"{name}: Flatten of a 1-D input skipped")
                continue
            raise NirError(f"NIR node {name!r} (Flatten) inside the network: silava imports 1-D dense chains")
        if isinstance(node, (nir.Affine, nir.Linear)):
            if pending is not None:
                raise NirError(f"NIR node {name!r} ({type(node).__name__}) follows another linear node "
                               f"({pending[0]!r}) without a neuron between them; merge them into one")
            w = np.asarray(node.weight, dtype=np.float64)
            if w.ndim != 2:
                raise NirError(f"NIR node {name!r}: weight has shape {w.shape}, expected (out, in)")
            expect = layers[-1].out_features if layers else n_in
            if w.shape[1] != expect:
                raise NirError(f"NIR node {name!r}: weight takes {w.shape[1]} inputs, but {expect} arrive")
            b = np.asarray(node.bias, dtype=np.float64).reshape(-1) if isinstance(node, nir.Affine) else None
            pending = (name, w, b)
            continue
        if pending is None:
            raise NirError(f"NIR node {name!r} ({type(node).__name__}) has no Affine/Linear node before it: "
                           f"model.net layers are dense synapses followed by neurons")
        syn_name, w, b = pending
        pending = None
        last = idx == len(body) - 1
        node._silava_name = name
        if use_metadata and _meta(node).get("kind") is not None:
            fl = _own_layer(name, node, w)
            rule = f"silava metadata -> {fl.neuron_type} (exact float constants)"
        else:
            fl, rule = _foreign_layer(name, node, w, b, float(dt), resets.get(name, resets["*"]), last)
        if not KINDS[fl.neuron_type].spiking and not last:
            raise NirError(f"NIR node {name!r} ({fl.neuron_type}) does not spike: only the last layer may be non-spiking")
        layers.append(fl)
        info.layers.append({"synapse": syn_name, "neuron": name, "nir_type": type(node).__name__,
                            "kind": fl.neuron_type, "rule": rule, "size": fl.out_features})
    if pending is not None:
        raise NirError(f"NIR node {pending[0]!r} ({'Affine' if pending[2] is not None else 'Linear'}) is not followed "
                       f"by a neuron node; the output must come from neurons")
    if not layers:
        raise NirError("the NIR graph has no Affine/Linear + neuron layer")
    source = _str(gmeta.get("source_neuron", "")) or f"nir:{info.layers[0]['nir_type']}"
    return FoldedNetwork(layers=layers, source_neuron=source), info


# --------------------------------------------------------------------------- import to model.net

def import_nir(path: "str | Path", *, dt: Optional[float] = None, steps: Optional[int] = None,
               reset: "str | dict[str, str] | Sequence[str] | None" = None, input_encoding: Optional[str] = None,
               config: Any = None, use_metadata: bool = True,
               overrides: Optional[dict[str, int]] = None) -> tuple[Any, ImportInfo, list]:
    """Read a NIR file and quantize it into a :class:`silava.core.netfile.Network` (nothing written).

    Defaults come from silava's graph metadata when the file has it (dt, steps, input encoding,
    quantization settings), else ``reset="zero"``, ``input_encoding="binary"``, our default
    :class:`QuantConfig`; ``dt`` and ``steps`` are required for files without it.
    ``overrides`` (``weight_bits``, ``decay_bits``, ``state_frac_bits``; None = keep) change single
    settings of that config. Returns ``(network, info, per-layer quantization stats)``.
    """
    from silava.core import netfile
    from silava.export.quantize import QuantConfig, QuantError, quantize_network

    graph = read_nir(path)
    resets = parse_reset(reset)
    folded, info = from_nir(graph, dt=dt, reset=resets, use_metadata=use_metadata)
    gm = info.graph_meta
    if steps is None:
        steps = int(gm["steps"]) if "steps" in gm else None
    if steps is None or int(steps) < 1:
        raise NirError("pass --steps T (time steps per sample): the NIR file does not say how long its inputs are")
    encoding = input_encoding or _str(gm.get("input_encoding", "binary"))
    if encoding not in ("binary", "counts"):
        raise NirError(f"input encoding {encoding!r}: model.net takes binary spikes or integer spike counts")
    if config is None:
        stored = json.loads(_str(gm.get("quantization", "{}")) or "{}")
        config = QuantConfig.from_dict(stored) if stored else QuantConfig()
    if overrides:
        from dataclasses import replace

        from silava.export.to_lava import quant_settings

        config = replace(config, **{k: int(v) for k, v in overrides.items() if v is not None})
        quant_settings(config.weight_bits, config.decay_bits, config.state_frac_bits)   # range checks
    meta = netfile.Meta(steps=int(steps), n_inputs=folded.n_inputs, n_classes=folded.n_classes, dt=float(info.dt),
                        input_encoding=encoding, source_neuron=folded.source_neuron,
                        task={"name": "nir", "file": Path(path).name},
                        created=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    try:
        net, stats = quantize_network(folded, config, input_message_bits=8 if encoding == "counts" else 0, meta=meta)
    except QuantError as exc:
        raise NirError(str(exc)) from None
    except netfile.NetFileError as exc:
        raise NirError(f"the imported network is not a valid model.net: {exc}") from None
    net.meta.quantization["import"] = {"format": "nir", "dt": info.dt, "reset": resets,
                                       "layers": info.layers, "notes": info.notes}
    try:
        from silava import __version__
        net.meta.silava_version = str(__version__)
    except ImportError:  # pragma: no cover
        pass
    return net, info, stats


def export_nir(folded: FoldedNetwork, path: "str | Path", *, dt: float, steps: int, input_encoding: str = "binary",
               quantization: Optional[dict] = None, extra: Optional[dict] = None) -> Path:
    """Write ``folded`` as a NIR file (:func:`to_nir` + :func:`write_nir`); returns the path."""
    write_nir(to_nir(folded, dt=dt, steps=steps, input_encoding=input_encoding, quantization=quantization,
                     extra=extra), path)
    return Path(path)


# --------------------------------------------------------------------------- CLI: silava import

class ImportCliError(Exception):
    """Bad input for ``silava import`` (one line; exit 2)."""


def _parser(prog: str) -> argparse.ArgumentParser:
    from silava.core.cliutil import one_line_parser

    p = one_line_parser(ImportCliError, prog=prog,
                        description="Import a NIR graph (written by silava, snnTorch, Norse, Rockpool, ...) into a "
                                    "model.net: mapped onto our neuron kinds, quantized with silava's quantizer, then "
                                    "`silava sim` and `silava run` run it.")
    p.add_argument("model", help="the NIR file (HDF5, nir.write)")
    p.add_argument("-o", "--output", help="model.net to write (default: the NIR file's name with .net)")
    p.add_argument("--dt", type=float, default=None,
                   help="time step (s) the file's time constants assume (default: silava's metadata; snnTorch: 1e-4)")
    p.add_argument("--steps", type=int, default=None, help="time steps per sample (default: silava's metadata)")
    p.add_argument("--reset", nargs="+", action="extend", default=None, metavar="[NODE=]RULE",
                   help="reset rule of LIF/IF nodes, which NIR does not record: zero (NIR's definition, default), "
                        "subtract (snnTorch's default Leaky: the threshold is subtracted one step later) or "
                        "subtract-immediate (snnTorch's Leaky(reset_delay=False)); NODE=RULE sets one node's rule")
    p.add_argument("--input-encoding", choices=("binary", "counts"), default=None,
                   help="binary spikes (default) or integer spike counts (8-bit graded first layer)")
    p.add_argument("--ignore-metadata", action="store_true",
                   help="map silava's own nodes by their NIR fields too (not from the exact metadata)")
    p.add_argument("--weight-bits", type=int, default=None, help="weight mantissa bits (default: metadata, else 8)")
    p.add_argument("--decay-bits", type=int, default=None, help="decay grid bits D (default: metadata, else 12)")
    p.add_argument("--state-frac-bits", type=int, default=None, help="state fraction bits s (default: metadata, else 12)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the output path")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``silava import model.nir [-o model.net]``; returns the exit status."""
    prog = "silava import"
    from silava.core import netfile
    from silava.core.fileio import check_outputs

    try:
        args = _parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
        src = Path(args.model)
        out = Path(args.output) if args.output else src.with_suffix(".net")
        if out.is_dir():
            out = out / (src.stem + ".net")
        check_outputs({"-o": out}, {"NIR file": src}, ImportCliError)
        overrides = {"weight_bits": args.weight_bits, "decay_bits": args.decay_bits,
                     "state_frac_bits": args.state_frac_bits}
        net, info, _ = import_nir(src, dt=args.dt, steps=args.steps, reset=args.reset,
                                  input_encoding=args.input_encoding, use_metadata=not args.ignore_metadata,
                                  overrides=overrides)
        try:
            netfile.write(out, net)
        except OSError as exc:
            raise ImportCliError(f"cannot write {out}: {exc.strerror or exc}; choose a writable path (-o)") from None
    except (ImportCliError, NirError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"{src.name}: {len(net.layers)} layers, dt = {info.dt:g} s, T = {net.meta.steps}")
        for i, layer in enumerate(info.layers):
            print(f"  layer {i}: {layer['synapse']} + {layer['neuron']} ({layer['nir_type']}) -> {layer['kind']} "
                  f"{net.layers[i].in_features}->{net.layers[i].out_features}: {layer['rule']}")
        for note in info.notes:
            print(f"  note: {note}")
    print(f"wrote {out}")
    return 0


__all__ = ["FORMAT", "ImportInfo", "NirError", "export_nir", "from_nir", "import_nir", "main", "read_nir", "to_nir",
           "write_nir"]
