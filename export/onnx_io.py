"""ONNX export of a network: the float model and the integer (hwsim) model, time loop as an ONNX ``Scan``.

Two graphs, both runnable by onnxruntime without torch or Lava:

* :func:`float_model` — the folded float network (docs/fixed_point.md §4) that the trained
  model computes in eval mode: per layer ``I = h W''ᵀ`` then the kind's float step (below);
  ``float32`` (default, what the trained model runs) or ``float64``. Outputs ``readout``
  ``[B, T, C]`` (the readout's v, or a spiking last layer's spikes), ``out`` ``[B, C]``
  (``Σ_t softmax(v_t)``, the training decision; a spiking last layer: its spike counts) and
  ``spikes_<i>`` ``[B, T, H_i]`` per spiking layer.
* :func:`integer_model` — hwsim's integer semantics (docs/fixed_point.md §1–§3, logical
  timeline of §5) in int64 ONNX ops. Output ``readout`` int64 ``[B, T, C]`` (the LI state V,
  or a spiking last layer's spikes) and ``spikes_<i>`` int64 ``[B, T, H_i]``; bit-exact with
  ``hwsim.simulate(net, x)`` (tests/test_onnx.py).

Input ``x`` ``[B, T, F]`` (float: the float dtype; integer: int64 spikes 0/1 or graded payloads);
B and T are free dimensions. The time loop is one ``Scan`` over axis 1 whose state holds every
layer's states ``[B, n]`` (zeros at the start: each sample from a fresh network).

Integer primitives in ONNX ops (ONNX has no arithmetic right shift of signed integers; every
division below has a non-negative dividend or uses ``Mod`` with ``fmod = 0``, whose result has
the sign of the positive divisor, so no rounding convention of integer ``Div`` is relied on)::

    mul(k, x, D) = Sign(k·x) · (Abs(k·x) div 2^D)            truncation toward zero
    sat(x)       = Clip(x, −(2^23 − 1), 2^23 − 1)
    wrap24(x)    = x − 2^24 if x > 2^23;  x + 2^24 if x ≤ −2^23   (Where; CUBA current)
    wrap32(x)    = Mod(x + 2^31, 2^32) − 2^31                  (Lava's int32 arithmetic)
    a >> k       = (a − Mod(a, 2^k)) div 2^k                    (floor, weight exponent e < 0)
    a << e       = a · 2^e

Dense: ``acc = Σ_j w_ij x_j`` (binary: ``x ≠ 0``; graded: ``Clip(x, 0, 2^bits − 1)`` and
``wrap32(acc)``), then ``a = wrap32(acc << e | acc >> −e)``; the neuron steps are those of
:mod:`silava.core.kinds` (one builder per kind below, registered in :data:`FLOAT_STEPS` and
:data:`INTEGER_STEPS`). The float steps (θ = the layer's threshold, s' = previous spike)::

    SILIF:  w = β w + a u + b s';  u = α (u − θ s') − (1 − α) w + I + c;  s = u > θ
    CSILIF: x_r = x − θ s';  x = λr x_r − λi y + I + c;  y = λi x_r + λr y;  s = x > θ
    CUBA:   u = (1 − δu) u + I;  v = (1 − δv) v + u + c;  s = v > θ;  v ← v (1 − s)
    LI:     v = α v + I + c

numpy + onnx only (no torch); onnxruntime only in :func:`run`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from silava.core.kinds import KINDS
from silava.core.netfile import Network

OPSET = 17
IR_VERSION = 8
STATE_MAX = 2**23 - 1
ACT_SHIFT = 6
FLOAT_DTYPES = ("float32", "float64")


class OnnxExportError(ValueError):
    """The network cannot be written as ONNX (one line naming the problem and the fix)."""


def _onnx():
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is pinned
        raise OnnxExportError("the onnx package is not installed: pip install onnx") from None
    return onnx


# --------------------------------------------------------------------------- graph builder

@dataclass
class Graph:
    """A small ONNX graph builder: ``op`` adds a node and returns its output name, ``const`` an initializer."""

    prefix: str
    dtype: Any
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    count: int = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}{hint}_{self.count}"

    def op(self, op_type: str, *inputs: str, hint: str = "", **attrs: Any) -> str:
        from onnx import helper

        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def const(self, value: Any, hint: str = "c", dtype: Any = None) -> str:
        from onnx import numpy_helper

        arr = np.asarray(value, dtype=dtype or self.dtype)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(arr, name))
        return name

    def ints(self, value: Any, hint: str = "k") -> str:
        return self.const(value, hint, np.int64)


# --------------------------------------------------------------------------- float steps

def _float_silif(g: Graph, I: str, st: dict[str, str], p: dict[str, Any], th: float) -> tuple[str, dict[str, str]]:
    U, W, P = st["U"], st["W"], st["P"]
    w = g.op("Add", g.op("Add", g.op("Mul", g.const(p["beta"], "beta"), W), g.op("Mul", g.const(p["a"], "a"), U)),
             g.op("Mul", g.const(p["b"], "b"), P), hint="w")
    reset = g.op("Sub", U, g.op("Mul", g.const(th, "th"), P))
    u = g.op("Sub", g.op("Mul", g.const(p["alpha"], "alpha"), reset),
             g.op("Mul", g.const(1.0 - np.asarray(p["alpha"]), "alpha_c"), w))
    u = g.op("Add", u, I, hint="u")
    s = g.op("Cast", g.op("Greater", u, g.const(th, "th")), to=_onnx_type(g.dtype), hint="s")
    return s, {"U": u, "W": w, "P": s}


def _float_csilif(g: Graph, I: str, st: dict[str, str], p: dict[str, Any], th: float) -> tuple[str, dict[str, str]]:
    X, Y, P = st["X"], st["Y"], st["P"]
    lr, li = g.const(p["lam_re"], "lam_re"), g.const(p["lam_im"], "lam_im")
    xr = g.op("Sub", X, g.op("Mul", g.const(th, "th"), P), hint="xr")
    x = g.op("Add", g.op("Sub", g.op("Mul", lr, xr), g.op("Mul", li, Y)), I, hint="x")
    y = g.op("Add", g.op("Mul", li, xr), g.op("Mul", lr, Y), hint="y")
    s = g.op("Cast", g.op("Greater", x, g.const(th, "th")), to=_onnx_type(g.dtype), hint="s")
    return s, {"X": x, "Y": y, "P": s}


def _float_cuba(g: Graph, I: str, st: dict[str, str], p: dict[str, Any], th: float,
                bias: Optional[str] = None) -> tuple[str, dict[str, str]]:
    u = g.op("Add", g.op("Mul", g.const(1.0 - np.asarray(p["cur_decay"]), "ku"), st["U"]), I, hint="u")
    v = g.op("Add", g.op("Mul", g.const(1.0 - np.asarray(p["vol_decay"]), "kv"), st["V"]), u)
    if bias is not None:
        v = g.op("Add", v, bias, hint="v")
    spike = g.op("Greater", v, g.const(th, "th"))
    s = g.op("Cast", spike, to=_onnx_type(g.dtype), hint="s")
    v = g.op("Where", spike, g.const(0.0, "zero"), v, hint="v_reset")
    return s, {"U": u, "V": v}


def _float_li(g: Graph, I: str, st: dict[str, str], p: dict[str, Any], th: float) -> tuple[str, dict[str, str]]:
    v = g.op("Add", g.op("Mul", g.const(p["alpha"], "alpha"), st["V"]), I, hint="v")
    return v, {"V": v}


#: kind -> float step builder ``(graph, I, states, float constants, threshold) -> (output, new states)``;
#: I already holds the layer's bias except for kinds whose bias acts on another state (CUBA: the voltage)
FLOAT_STEPS: dict[str, Callable[..., tuple[str, dict[str, str]]]] = {
    "SILIF": _float_silif, "CSILIF": _float_csilif, "CUBA": _float_cuba, "LI": _float_li}
#: kinds whose float bias is added to a state other than the input current (it is passed as ``bias=``)
BIAS_ON_STATE = {"CUBA"}


def _onnx_type(dtype: Any) -> int:
    from onnx import TensorProto

    return {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
            np.dtype(np.int64): TensorProto.INT64}[np.dtype(dtype)]


# --------------------------------------------------------------------------- integer steps

def _mul(g: Graph, k: str, x: str, d: int) -> str:
    """``mul(k, x, D) = sign(k·x) · (|k·x| div 2^D)`` (truncation toward zero)."""
    p = g.op("Mul", k, x, hint="p")
    if d == 0:
        return p
    q = g.op("Div", g.op("Abs", p), g.ints(1 << d, "two_d"), hint="q")
    return g.op("Mul", g.op("Sign", p), q, hint="mul")


def _sat(g: Graph, x: str) -> str:
    return g.op("Clip", x, g.ints(-STATE_MAX, "lo"), g.ints(STATE_MAX, "hi"), hint="sat")


def _wrap32(g: Graph, x: str) -> str:
    """Two's-complement wrap to int32: ``Mod(x + 2^31, 2^32) − 2^31`` (Mod with the divisor's sign)."""
    shifted = g.op("Add", x, g.ints(2**31, "two31"))
    return g.op("Sub", g.op("Mod", shifted, g.ints(2**32, "two32"), fmod=0), g.ints(2**31, "two31"), hint="wrap32")


def _wrap24(g: Graph, x: str) -> str:
    """Lava's LIF current wrap: ``x − 2^24`` if ``x > 2^23``, ``x + 2^24`` if ``x ≤ −2^23`` (one wrap)."""
    hi = g.op("Greater", x, g.ints(2**23, "b23"))
    lo = g.op("LessOrEqual", x, g.ints(-(2**23), "mb23"))
    down = g.op("Sub", x, g.ints(2**24, "two24"))
    up = g.op("Add", x, g.ints(2**24, "two24"))
    return g.op("Where", hi, down, g.op("Where", lo, up, x), hint="wrap24")


def _act(g: Graph, a: str) -> str:
    """``A = a << 6``."""
    return g.op("Mul", a, g.ints(1 << ACT_SHIFT, "act"), hint="A")


def _int_silif(g: Graph, a: str, st: dict[str, str], p: dict[str, Any]) -> tuple[str, dict[str, str]]:
    d = int(np.asarray(p["decayBits"]).reshape(-1)[0])
    U, W, P = st["U"], st["W"], st["P"]
    alpha = np.asarray(p["alpha"], dtype=np.int64)
    vth = g.ints(np.asarray(p["vThMant"], dtype=np.int64) << ACT_SHIFT, "vth")
    w = g.op("Add", _mul(g, g.ints(p["beta"], "beta"), W, d), _mul(g, g.ints(p["coupling"], "coupling"), U, d))
    w = _sat(g, g.op("Add", w, g.op("Mul", g.ints(p["spikeAdapt"], "adapt"), P)))
    reset = g.op("Sub", U, g.op("Mul", P, vth))
    u = g.op("Sub", _mul(g, g.ints(alpha, "alpha"), reset, d), _mul(g, g.ints((1 << d) - alpha, "alpha_c"), w, d))
    u = _sat(g, g.op("Add", g.op("Add", u, _act(g, a)), g.ints(p["B"], "B")))
    s = g.op("Cast", g.op("Greater", u, vth), to=_onnx_type(np.int64), hint="s")
    return s, {"U": u, "W": w, "P": s}


def _int_csilif(g: Graph, a: str, st: dict[str, str], p: dict[str, Any]) -> tuple[str, dict[str, str]]:
    d = int(np.asarray(p["decayBits"]).reshape(-1)[0])
    X, Y, P = st["X"], st["Y"], st["P"]
    cos, sin = g.ints(p["cosDecay"], "cos"), g.ints(p["sinDecay"], "sin")
    vth = g.ints(np.asarray(p["vThMant"], dtype=np.int64) << ACT_SHIFT, "vth")
    xr = g.op("Sub", X, g.op("Mul", P, vth), hint="xr")
    x = g.op("Sub", _mul(g, cos, xr, d), _mul(g, sin, Y, d))
    x = _sat(g, g.op("Add", g.op("Add", x, _act(g, a)), g.ints(p["B"], "B")))
    y = _sat(g, g.op("Add", _mul(g, sin, xr, d), _mul(g, cos, Y, d)))
    s = g.op("Cast", g.op("Greater", x, vth), to=_onnx_type(np.int64), hint="s")
    return s, {"X": x, "Y": y, "P": s}


def _int_cuba(g: Graph, a: str, st: dict[str, str], p: dict[str, Any]) -> tuple[str, dict[str, str]]:
    ku = g.ints(4096 - np.asarray(p["iDecay"], dtype=np.int64), "ku")
    kv = g.ints(4096 - np.asarray(p["vDecay"], dtype=np.int64), "kv")
    vth = g.ints(np.asarray(p["vThMant"], dtype=np.int64) << ACT_SHIFT, "vth")
    act = _wrap32(g, _act(g, a))                                   # int32 np.left_shift(a_in, 6)
    u = _wrap24(g, _wrap32(g, g.op("Add", _mul(g, ku, st["U"], 12), act)))
    v = g.op("Add", g.op("Add", _mul(g, kv, st["V"], 12), u), g.ints(p["B"], "B"))
    v = _sat(g, _wrap32(g, v))
    spike = g.op("Greater", v, vth)
    s = g.op("Cast", spike, to=_onnx_type(np.int64), hint="s")
    v = g.op("Where", spike, g.ints(0, "zero"), v, hint="v_reset")
    return s, {"U": u, "V": v}


def _int_li(g: Graph, a: str, st: dict[str, str], p: dict[str, Any]) -> tuple[str, dict[str, str]]:
    d = int(np.asarray(p["decayBits"]).reshape(-1)[0])
    v = g.op("Add", _mul(g, g.ints(p["alpha"], "alpha"), st["V"], d), _act(g, a))
    v = _sat(g, g.op("Add", v, g.ints(p["B"], "B")))
    return v, {"V": v}


#: kind -> integer step builder ``(graph, a, states, neuron keys + "B") -> (output, new states)``
INTEGER_STEPS: dict[str, Callable[..., tuple[str, dict[str, str]]]] = {
    "SILIF": _int_silif, "CSILIF": _int_csilif, "CUBA": _int_cuba, "LI": _int_li}


def _int_dense(g: Graph, x: str, weight: np.ndarray, weight_exp: int, graded_bits: int) -> str:
    """Lava's Dense in int64: binary ``x ≠ 0`` or graded ``Clip(x, 0, 2^bits − 1)`` (sum wrapped to int32),
    the exponent after the sum (floor for e < 0), the int32 output port."""
    if graded_bits > 0:
        x = g.op("Clip", x, g.ints(0, "zero"), g.ints((1 << graded_bits) - 1, "top"), hint="payload")
    else:
        x = g.op("Cast", g.op("Not", g.op("Equal", x, g.ints(0, "zero"))), to=_onnx_type(np.int64), hint="spk")
    acc = g.op("MatMul", x, g.ints(np.asarray(weight, dtype=np.int64).T, "wT"), hint="acc")
    if graded_bits > 0:
        acc = _wrap32(g, acc)
    e = int(weight_exp)
    if e > 0:
        acc = g.op("Mul", acc, g.ints(1 << e, "two_e"), hint="shl")
    elif e < 0:
        k = g.ints(1 << -e, "two_k")
        acc = g.op("Div", g.op("Sub", acc, g.op("Mod", acc, k, fmod=0)), k, hint="shr")
    return _wrap32(g, acc)


# --------------------------------------------------------------------------- assembling the Scan

@dataclass
class _LayerSpec:
    kind: str
    n: int
    build: Callable[[Graph, str, dict[str, str]], tuple[str, dict[str, str]]]


def _scan_model(layers: list[_LayerSpec], n_inputs: int, dtype: Any, in_dtype: Any, name: str,
                doc: str, out_softmax: bool) -> Any:
    """The main graph: zero states ``[B, n]``, one ``Scan`` over time of the layer chain, the outputs."""
    onnx = _onnx()
    from onnx import helper

    body = Graph("b_", dtype)
    state_in, state_out, scan_out = [], [], []
    body_inputs = []
    names: list[tuple[int, str]] = []
    for i, spec in enumerate(layers):
        for sname in KINDS[spec.kind].state_names:
            names.append((i, sname))
            state_in.append(f"s{i}_{sname}_in")
            body_inputs.append(helper.make_tensor_value_info(state_in[-1], _onnx_type(dtype), ["B", spec.n]))
    body_inputs.append(helper.make_tensor_value_info("x_t", _onnx_type(in_dtype), ["B", n_inputs]))
    h = "x_t"
    outs = []
    for i, spec in enumerate(layers):
        st = {sname: f"s{i}_{sname}_in" for sname in KINDS[spec.kind].state_names}
        h, new = spec.build(body, h, st)
        for sname in KINDS[spec.kind].state_names:
            state_out.append(body.op("Identity", new[sname], hint=f"s{i}_{sname}_out"))
        outs.append(h)
    spiking = [i for i, spec in enumerate(layers) if KINDS[spec.kind].spiking]
    scan_names = [("readout", len(layers) - 1)] + [(f"spikes_{i}", i) for i in spiking if i != len(layers) - 1]
    for label, i in scan_names:
        scan_out.append(body.op("Identity", outs[i], hint=f"{label}_t"))
    body_outputs = [helper.make_tensor_value_info(n, _onnx_type(dtype), None) for n in state_out + scan_out]
    body_graph = helper.make_graph(body.nodes, f"{name}_step", body_inputs, body_outputs, body.initializers)

    main = Graph("m_", dtype)
    shape = main.op("Shape", "x")
    batch = main.op("Slice", shape, main.ints([0], "s0"), main.ints([1], "s1"), hint="batch")
    init = []
    for i, sname in names:
        dims = main.op("Concat", batch, main.ints([layers[i].n], "n"), axis=0)
        init.append(main.op("ConstantOfShape", dims, hint=f"zero_{i}_{sname}",
                            value=helper.make_tensor("v", _onnx_type(dtype), [1], [0])))
    final = [f"final_{i}_{s}" for i, s in names]
    seq = [label for label, _ in scan_names]
    main.nodes.append(helper.make_node("Scan", init + ["x"], final + seq, body=body_graph,
                                       num_scan_inputs=1, scan_input_axes=[1],
                                       scan_output_axes=[1] * len(seq)))
    outputs = [helper.make_tensor_value_info(label, _onnx_type(dtype), ["B", "T", layers[i].n])
               for label, i in scan_names]
    if out_softmax is not None:
        last = "readout"
        if out_softmax:
            last = main.op("Softmax", last, axis=-1)
        main.nodes.append(helper.make_node("ReduceSum", [last, main.ints([1], "axis_t")], ["out"], keepdims=0))
        outputs.insert(1, helper.make_tensor_value_info("out", _onnx_type(dtype), ["B", layers[-1].n]))
    graph = helper.make_graph(main.nodes, name,
                              [helper.make_tensor_value_info("x", _onnx_type(in_dtype), ["B", "T", n_inputs])],
                              outputs, main.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="silava",
                              doc_string=doc)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def float_model(folded: Any, *, dtype: str = "float32") -> Any:
    """ONNX model of a folded float network (:class:`silava.export.fold.FoldedNetwork`); see the module docstring."""
    if dtype not in FLOAT_DTYPES:
        raise OnnxExportError(f"float dtype {dtype!r}: choose one of {', '.join(FLOAT_DTYPES)}")
    dt = np.dtype(dtype)
    specs = []
    for i, fl in enumerate(folded.layers):
        if fl.neuron_type not in FLOAT_STEPS:
            raise OnnxExportError(f"layer {i}: neuron kind {fl.neuron_type} has no ONNX float step "
                                  f"(supported: {', '.join(FLOAT_STEPS)})")

        def build(g: Graph, h: str, st: dict[str, str], fl=fl) -> tuple[str, dict[str, str]]:
            I = g.op("MatMul", h, g.const(np.asarray(fl.weight).T, "wT"), hint="I")
            params = {k: np.asarray(v, dtype=dt) for k, v in fl.params.items()}
            bias = g.const(fl.bias, "c")
            if fl.neuron_type in BIAS_ON_STATE:
                return FLOAT_STEPS[fl.neuron_type](g, I, st, params, float(fl.threshold), bias=bias)
            return FLOAT_STEPS[fl.neuron_type](g, g.op("Add", I, bias, hint="Ic"), st, params, float(fl.threshold))

        specs.append(_LayerSpec(fl.neuron_type, fl.out_features, build))
    graded = not KINDS[folded.layers[-1].neuron_type].spiking
    return _scan_model(specs, folded.n_inputs, dt, dt, "silava_float",
                       "silava folded float network (docs/fixed_point.md §4); x [B, T, F] -> readout [B, T, C], "
                       "out [B, C] = sum_t softmax(readout_t) (spike counts for a spiking last layer)",
                       out_softmax=graded)


def integer_model(net: Network) -> Any:
    """ONNX model of a model.net network with hwsim's integer semantics (logical timeline); see the module docstring."""
    specs = []
    for i, layer in enumerate(net.layers):
        if layer.neuron_type not in INTEGER_STEPS:
            raise OnnxExportError(f"layer {i}: neuron kind {layer.neuron_type} has no ONNX integer step "
                                  f"(supported: {', '.join(INTEGER_STEPS)})")
        params = dict(layer.neuron)
        params["B"] = (np.asarray(layer.bias, dtype=np.int64) << ACT_SHIFT) if layer.bias is not None else 0
        params.setdefault("decayBits", KINDS[layer.neuron_type].default_decay_bits())
        graded = int(layer.input_message_bits) if i == 0 else 0

        def build(g: Graph, h: str, st: dict[str, str], layer=layer, params=params,
                  graded=graded) -> tuple[str, dict[str, str]]:
            a = _int_dense(g, h, layer.weight, layer.weight_exp, graded)
            return INTEGER_STEPS[layer.neuron_type](g, a, st, params)

        specs.append(_LayerSpec(layer.neuron_type, layer.out_features, build))
    return _scan_model(specs, net.meta.n_inputs, np.int64, np.int64, "silava_integer",
                       "silava integer network: hwsim's bit-exact semantics (docs/fixed_point.md §1-§3, logical "
                       "timeline); x int64 [B, T, F] -> readout int64 [B, T, C] (LI: V), spikes_<i> [B, T, H]",
                       out_softmax=None)


def save(model: Any, path: "str | os.PathLike") -> None:
    """Write ``model`` to ``path`` atomically (:mod:`silava.core.fileio`)."""
    from silava.core.fileio import write_bytes_atomic

    write_bytes_atomic(path, model.SerializeToString())


def run(model: Any, x: np.ndarray, *, threads: int = 1) -> dict[str, np.ndarray]:
    """Run ``model`` (a ModelProto, bytes or a path) on ``x`` with onnxruntime; returns ``{output name: array}``."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OnnxExportError("onnxruntime is not installed: pip install onnxruntime") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    data = model.SerializeToString() if hasattr(model, "SerializeToString") else model
    if isinstance(data, (str, os.PathLike)):
        data = open(data, "rb").read()
    session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    elem = session.get_inputs()[0].type
    dtype = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}[elem]
    outs = session.run(None, {"x": np.asarray(x, dtype=dtype)})
    return {o.name: v for o, v in zip(session.get_outputs(), outs)}


__all__ = ["FLOAT_STEPS", "INTEGER_STEPS", "OnnxExportError", "float_model", "integer_model", "run", "save"]
