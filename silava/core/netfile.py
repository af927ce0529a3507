"""model.net: the deployment IR (netx-style HDF5), its dataclasses, reader, writer and validator.

numpy + h5py only (no torch, no lava). The file layout is fixed by docs/fixed_point.md §7::

    / attrs: format = "silava-net", format_version = 1
    /meta attrs: silava_version, created, dt, steps, n_inputs, n_classes, input_encoding,
                 decision, timeline, source_neuron, checkpoint_sha256, float_accuracy,
                 task (JSON), quantization (JSON)
    /layer/{i}          type S10 (1,) b"dense", shape int64 [out], inFeatures, outFeatures int64,
                        weight float32 (out, in) even integers in [-256, 254],
                        bias float32 (out,) (optional), weightExp int64, inputMessageBits int64
    /layer/{i}/neuron   type (variable-length str) + the integer keys of §3
    /layer/{i}/float    (optional) float64 folded reference parameters

Layers are numbered 0..N-1 and always ordered numerically (h5py lists ``10`` before ``2``).
A ``messageBits`` key is never written and is rejected on read (netx turns it into an
object and ``run()`` fails, spec lava_loihi.md §1.5).

Integer neuron parameters: the keys, their ranges (D = decayBits, s = stateFracBits) and which
may hold one value per neuron come from the kind declarations (:mod:`silava.core.kinds`; the
table in docs/fixed_point.md §3). Per-neuron keys are Python ints (one value for the layer) or
int64 arrays of shape (out,); layer settings (``decayBits``, ``stateFracBits``) and netx's fixed
keys (``refDelay``, ``gradedSpike``) are scalars. A netx-native kind (CUBA) also needs
``weightExp = 0`` and a weight matrix that is not all zero (netx's own loader rules).
Every problem is a :class:`NetFileError` whose one-line message starts with the
location, e.g. ``layer/1/neuron/alpha: expected shape (64,), got (32,)``.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np

from silava.core.fileio import atomic_path

from silava.core.kinds import KINDS, Kind

FORMAT = "silava-net"
FORMAT_VERSION = 1
#: the model.net neuron types (one per kind declaration)
NEURON_TYPES = tuple(KINDS)

# Ranges (docs/fixed_point.md §1-§4; Lava lava/proc/lif/models.py declared precisions), re-exported here.
from silava.core.fixedpoint import (BIAS_MAX, BIAS_MIN, CUBA_DECAY_BITS, DECAY_BITS_MAX,  # noqa: E402,F401
                               DECAY_BITS_MIN, INPUT_MESSAGE_BITS_MAX, STATE_FRAC_BITS_MAX, STATE_FRAC_BITS_MIN,
                               STATE_MAX, VTH_MAX, VTH_MIN, WEIGHT_EXP_MAX, WEIGHT_EXP_MIN, WEIGHT_MAX, WEIGHT_MIN)

INPUT_ENCODINGS = ("binary", "counts", "graded")
DECISIONS = ("softmax_sum", "sum_v", "max_v")
TIMELINES = ("lava", "logical")

#: required / optional neuron keys per type (file names), from the kind declarations
NEURON_KEYS: dict[str, tuple[str, ...]] = {name: k.required_keys for name, k in KINDS.items()}
OPTIONAL_NEURON_KEYS: dict[str, tuple[str, ...]] = {name: k.optional_keys for name, k in KINDS.items()}
#: keys that hold one value per layer in every kind (settings and netx's fixed keys)
SCALAR_KEYS = tuple(dict.fromkeys(p.key for k in KINDS.values() for p in k.params if not p.per_neuron))

META_ATTRS = ("silava_version", "created", "dt", "steps", "n_inputs", "n_classes", "input_encoding",
              "decision", "timeline", "source_neuron", "checkpoint_sha256", "float_accuracy",
              "task", "quantization")


class NetFileError(ValueError):
    """A malformed network or model.net file; the message is one line naming layer and key."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


# --------------------------------------------------------------------------- dataclasses

@dataclass
class Layer:
    """One dense layer: synapses (integer weights) followed by a neuron population."""

    neuron_type: str
    weight: np.ndarray
    neuron: dict
    bias: np.ndarray | None = None
    weight_exp: int = 0
    input_message_bits: int = 0
    float_params: dict | None = None

    @property
    def in_features(self) -> int:
        return int(np.shape(self.weight)[1])

    @property
    def out_features(self) -> int:
        return int(np.shape(self.weight)[0])


@dataclass
class Meta:
    """Network-level metadata (the ``/meta`` attributes)."""

    steps: int
    n_inputs: int
    n_classes: int
    dt: float = 1e-3
    input_encoding: str = "binary"
    decision: str = "softmax_sum"
    timeline: str = "lava"
    source_neuron: str = ""
    checkpoint_sha256: str = ""
    float_accuracy: float = float("nan")
    task: dict = field(default_factory=dict)
    quantization: dict = field(default_factory=dict)
    silava_version: str = ""
    created: str = ""


@dataclass
class Network:
    """A feed-forward stack of :class:`Layer` plus :class:`Meta`."""

    layers: list[Layer]
    meta: Meta

    def state_scale(self, i: int) -> int:
        """``S = 2**stateFracBits`` of layer ``i``: state units per float unit 1.0.

        CUBA layers without a ``stateFracBits`` key use ``vThMant << 6`` (threshold 1.0).
        """
        layer = self.layers[i]
        if "stateFracBits" in layer.neuron:
            return 2 ** int(layer.neuron["stateFracBits"])
        return int(np.max(layer.neuron["vThMant"])) << 6

    @property
    def n_layers(self) -> int:
        return len(self.layers)


# --------------------------------------------------------------------------- validation helpers

def _shape_str(shape: tuple) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _is_int_scalar(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_array(where: str, value: Any, shape: tuple | None) -> np.ndarray:
    """Check ``value`` is an integer ndarray (of ``shape`` if given); return it as int64."""
    if not isinstance(value, np.ndarray):
        raise NetFileError(f"{where}: expected an int64 array, got {type(value).__name__}")
    if value.dtype.kind not in "iu":
        raise NetFileError(f"{where}: expected an integer dtype, got {value.dtype}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise NetFileError(f"{where}: expected shape {_shape_str(shape)}, got {_shape_str(value.shape)}")
    return value.astype(np.int64, copy=False)


def _check_range(where: str, values: np.ndarray | int, lo: int, hi: int) -> None:
    arr = np.asarray(values)
    if arr.size == 0:
        return
    vmin, vmax = int(arr.min()), int(arr.max())
    if vmin < lo or vmax > hi:
        bad = vmin if vmin < lo else vmax
        raise NetFileError(f"{where}: value {bad} out of range [{lo}, {hi}]")


def _neuron_value(where: str, kind: Kind, key: str, value: Any, n: int) -> np.ndarray | int:
    """A neuron key: a scalar int, or (for per-neuron keys) an integer array of shape (n,)."""
    param = kind.param(key)
    if param.is_bool:
        if isinstance(value, (bool, np.bool_)) or _is_int_scalar(value):
            if bool(value) != bool(param.value):
                raise NetFileError(f"{where}: {key} must be {param.value} for {kind.name} ({param.doc})")
            return int(bool(value))
        raise NetFileError(f"{where}: expected a bool, got {type(value).__name__}")
    if _is_int_scalar(value):
        return int(value)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        raise NetFileError(f"{where}: expected an int or an int64 array of shape ({n},), got a 0-d array")
    if not param.per_neuron:
        raise NetFileError(f"{where}: expected a scalar int, got {type(value).__name__}"
                           + (f" of shape {_shape_str(value.shape)}" if isinstance(value, np.ndarray) else ""))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, np.ndarray):
        raise NetFileError(f"{where}: expected an int or an int64 array of shape ({n},), "
                           f"got {type(value).__name__}")
    return _int_array(where, value, (n,))


def _check_neuron(where: str, neuron_type: str, neuron: Any, n: int) -> None:
    """Keys and ranges of a layer's ``neuron`` dict, as the kind declares them."""
    if not isinstance(neuron, dict):
        raise NetFileError(f"{where}: expected a dict of neuron keys, got {type(neuron).__name__}")
    kind = KINDS[neuron_type]
    required = kind.required_keys
    allowed = set(required) | set(kind.optional_keys)
    for key in required:
        if key not in neuron:
            raise NetFileError(f"{where}/{key}: missing key (required for {neuron_type}: {', '.join(required)})")
    for key in neuron:
        if key == "messageBits":
            raise NetFileError(f"{where}/messageBits: not allowed (netx turns it into an object and run() "
                               f"fails); remove the key")
        if key not in allowed:
            raise NetFileError(f"{where}/{key}: unexpected key for {neuron_type} (allowed: {', '.join(sorted(allowed))})")
    vals = {key: _neuron_value(f"{where}/{key}", kind, key, neuron[key], n) for key in neuron}
    decay_bits = kind.role("decay_bits")
    if decay_bits is not None and decay_bits.key in vals:    # D first: the other ranges depend on it
        _check_param(where, kind, decay_bits.key, vals[decay_bits.key], 0)
    D = kind.default_decay_bits(vals.get(decay_bits.key) if decay_bits is not None else None)
    for key, value in vals.items():
        _check_param(where, kind, key, value, D)


def _check_param(where: str, kind: Kind, key: str, value: np.ndarray | int, decay_bits: int) -> None:
    param = kind.param(key)
    lo, hi = param.range.at(decay_bits)
    if param.role == "fixed" and not param.is_bool and value != param.value:
        raise NetFileError(f"{where}/{key}: expected {param.value}, got {value} ({param.doc})")
    if param.role == "decay_bits" and lo == hi and value != lo:
        raise NetFileError(f"{where}/{key}: {kind.name} decays are {lo}-bit, got {value} ({param.doc})")
    _check_range(f"{where}/{key}", value, lo, hi)


def _check_float_params(where: str, params: Any, n_out: int, n_in: int) -> None:
    if not isinstance(params, dict):
        raise NetFileError(f"{where}: expected a dict of float arrays, got {type(params).__name__}")
    for key, value in params.items():
        loc = f"{where}/{key}"
        if not isinstance(key, str) or not key or "/" in key:
            raise NetFileError(f"{loc}: keys must be non-empty strings without '/'")
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
            raise NetFileError(f"{loc}: expected float values, got {arr.dtype}")
        allowed = [(n_out, n_in)] if key == "weight" else [(), (n_out,)]
        if tuple(arr.shape) not in allowed:
            raise NetFileError(f"{loc}: expected shape {' or '.join(_shape_str(s) for s in allowed)}, "
                               f"got {_shape_str(arr.shape)}")
        if not np.all(np.isfinite(arr)):
            raise NetFileError(f"{loc}: non-finite value (NaN/Inf)")


def _check_layer(i: int, layer: Any) -> None:
    where = f"layer/{i}"
    if not isinstance(layer, Layer):
        raise NetFileError(f"{where}: expected a Layer, got {type(layer).__name__}")
    if layer.neuron_type not in KINDS:
        raise NetFileError(f"{where}/neuron/type: unknown neuron type {layer.neuron_type!r} "
                           f"(supported: {', '.join(KINDS)})")
    w = layer.weight
    if not isinstance(w, np.ndarray):
        raise NetFileError(f"{where}/weight: expected an int64 array, got {type(w).__name__}")
    if w.ndim != 2:
        raise NetFileError(f"{where}/weight: expected 2 dimensions (out, in), got shape {_shape_str(w.shape)}")
    if w.shape[0] < 1 or w.shape[1] < 1:
        raise NetFileError(f"{where}/weight: empty shape {_shape_str(w.shape)}")
    w = _int_array(f"{where}/weight", w, None)
    _check_range(f"{where}/weight", w, WEIGHT_MIN, WEIGHT_MAX)
    odd = np.flatnonzero(w % 2)
    if odd.size:
        r, c = np.unravel_index(odd[0], w.shape)
        raise NetFileError(f"{where}/weight: odd value {int(w[r, c])} at [{r}, {c}] "
                           f"(weights are 2 x an 8-bit mantissa, even integers)")
    n_out = w.shape[0]
    kind = KINDS[layer.neuron_type]
    if kind.netx_native and not np.any(w):
        raise NetFileError(f"{where}/weight: all zero; netx cannot load an all-zero {kind.name} weight matrix "
                           f"(OverflowError in optimize_weight_bits); drop or retrain the layer")
    if layer.bias is not None:
        b = _int_array(f"{where}/bias", layer.bias, (n_out,))
        _check_range(f"{where}/bias", b, BIAS_MIN, BIAS_MAX)
    if not _is_int_scalar(layer.weight_exp):
        raise NetFileError(f"{where}/weightExp: expected an int, got {type(layer.weight_exp).__name__}")
    _check_range(f"{where}/weightExp", int(layer.weight_exp), WEIGHT_EXP_MIN, WEIGHT_EXP_MAX)
    if kind.netx_native and int(layer.weight_exp) != 0:
        raise NetFileError(f"{where}/weightExp: {kind.name} layers must have weightExp 0 (netx derives its own "
                           f"exponent), got {int(layer.weight_exp)}; fold the exponent into the state scale")
    if not _is_int_scalar(layer.input_message_bits):
        raise NetFileError(f"{where}/inputMessageBits: expected an int, got "
                           f"{type(layer.input_message_bits).__name__}")
    _check_range(f"{where}/inputMessageBits", int(layer.input_message_bits), 0, INPUT_MESSAGE_BITS_MAX)
    if i > 0 and int(layer.input_message_bits) != 0:
        raise NetFileError(f"{where}/inputMessageBits: only the first layer may take graded input "
                           f"(previous layers send binary spikes), got {int(layer.input_message_bits)}")
    _check_neuron(f"{where}/neuron", layer.neuron_type, layer.neuron, n_out)
    if layer.float_params is not None:
        _check_float_params(f"{where}/float", layer.float_params, n_out, w.shape[1])


def _json_dict(where: str, value: Any) -> str:
    if not isinstance(value, dict):
        raise NetFileError(f"{where}: expected a dict, got {type(value).__name__}")
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise NetFileError(f"{where}: not JSON-serialisable ({exc})") from None


def _check_meta(meta: Any, layers: list[Layer]) -> None:
    if not isinstance(meta, Meta):
        raise NetFileError(f"meta: expected a Meta, got {type(meta).__name__}")
    for key in ("steps", "n_inputs", "n_classes"):
        value = getattr(meta, key)
        if not _is_int_scalar(value) or int(value) < 1:
            raise NetFileError(f"meta/{key}: expected a positive int, got {value!r}")
    if isinstance(meta.dt, bool) or not isinstance(meta.dt, (int, float, np.floating, np.integer)) \
            or not math.isfinite(float(meta.dt)) or float(meta.dt) <= 0:
        raise NetFileError(f"meta/dt: expected a positive time step in seconds, got {meta.dt!r}")
    for key, allowed in (("input_encoding", INPUT_ENCODINGS), ("decision", DECISIONS), ("timeline", TIMELINES)):
        value = getattr(meta, key)
        if value not in allowed:
            raise NetFileError(f"meta/{key}: expected one of {', '.join(allowed)}, got {value!r}")
    for key in ("source_neuron", "checkpoint_sha256", "silava_version", "created"):
        if not isinstance(getattr(meta, key), str):
            raise NetFileError(f"meta/{key}: expected a str, got {type(getattr(meta, key)).__name__}")
    if isinstance(meta.float_accuracy, bool) or not isinstance(meta.float_accuracy, (int, float, np.floating)):
        raise NetFileError(f"meta/float_accuracy: expected a float (NaN if unknown), got {meta.float_accuracy!r}")
    _json_dict("meta/task", meta.task)
    _json_dict("meta/quantization", meta.quantization)
    if layers:
        if int(meta.n_inputs) != layers[0].in_features:
            raise NetFileError(f"meta/n_inputs: {meta.n_inputs} but layer/0 has inFeatures {layers[0].in_features}")
        if int(meta.n_classes) != layers[-1].out_features:
            raise NetFileError(f"meta/n_classes: {meta.n_classes} but layer/{len(layers) - 1} has "
                               f"outFeatures {layers[-1].out_features}")
        graded = int(layers[0].input_message_bits) > 0
        if graded != (meta.input_encoding != "binary"):
            raise NetFileError(f"meta/input_encoding: {meta.input_encoding!r} does not match layer/0/inputMessageBits "
                               f"{int(layers[0].input_message_bits)} (binary <-> 0, counts/graded <-> > 0)")


def validate(net: Network) -> None:
    """Raise :class:`NetFileError` unless ``net`` is a well-formed network (see module docstring).

    Checks every layer (types, shapes, dtypes, ranges, even weights, CUBA rules), that the
    layers chain (``in_features`` of layer i = ``out_features`` of layer i-1), that only
    the last layer is non-spiking (LI), and the metadata (including sizes and encoding).
    """
    if not isinstance(net, Network):
        raise NetFileError(f"network: expected a Network, got {type(net).__name__}")
    if not isinstance(net.layers, list) or not net.layers:
        raise NetFileError("layer: a network needs at least one layer")
    for i, layer in enumerate(net.layers):
        _check_layer(i, layer)
        if i > 0:
            prev = net.layers[i - 1]
            if layer.in_features != prev.out_features:
                raise NetFileError(f"layer/{i}/inFeatures: {layer.in_features} does not match "
                                   f"layer/{i - 1}/outFeatures {prev.out_features} (layers do not chain)")
        if not KINDS[layer.neuron_type].spiking and i != len(net.layers) - 1:
            raise NetFileError(f"layer/{i}/neuron/type: {layer.neuron_type} (non-spiking) is only allowed "
                               f"as the last layer")
    _check_meta(net.meta, net.layers)


# --------------------------------------------------------------------------- write

def _meta_attrs(meta: Meta) -> dict[str, Any]:
    return {
        "silava_version": meta.silava_version, "created": meta.created, "dt": float(meta.dt),
        "steps": np.int64(meta.steps), "n_inputs": np.int64(meta.n_inputs),
        "n_classes": np.int64(meta.n_classes), "input_encoding": meta.input_encoding,
        "decision": meta.decision, "timeline": meta.timeline, "source_neuron": meta.source_neuron,
        "checkpoint_sha256": meta.checkpoint_sha256, "float_accuracy": float(meta.float_accuracy),
        "task": json.dumps(meta.task, sort_keys=True),
        "quantization": json.dumps(meta.quantization, sort_keys=True),
    }


def _write_layer(group: h5py.Group, layer: Layer) -> None:
    n_out, n_in = layer.out_features, layer.in_features
    group.create_dataset("type", data=np.array([b"dense"], dtype="S10"))
    group.create_dataset("shape", data=np.array([n_out], dtype=np.int64))
    group.create_dataset("inFeatures", data=np.int64(n_in))
    group.create_dataset("outFeatures", data=np.int64(n_out))
    group.create_dataset("weight", data=np.asarray(layer.weight, dtype=np.float32))
    if layer.bias is not None:
        group.create_dataset("bias", data=np.asarray(layer.bias, dtype=np.float32))
    group.create_dataset("weightExp", data=np.int64(layer.weight_exp))
    group.create_dataset("inputMessageBits", data=np.int64(layer.input_message_bits))
    neuron = group.create_group("neuron")
    neuron.create_dataset("type", data=layer.neuron_type, dtype=h5py.string_dtype())
    kind = KINDS[layer.neuron_type]
    for key, value in layer.neuron.items():
        if kind.param(key).is_bool:
            neuron.create_dataset(key, data=np.bool_(value))
        elif isinstance(value, np.ndarray):
            neuron.create_dataset(key, data=value.astype(np.int64))
        else:
            neuron.create_dataset(key, data=np.int64(value))
    if layer.float_params is not None:
        fl = group.create_group("float")
        for key, value in layer.float_params.items():
            fl.create_dataset(key, data=np.asarray(value, dtype=np.float64))


def write(path: str | os.PathLike, net: Network) -> None:
    """Validate ``net`` and write it to ``path`` atomically (temp file + ``os.replace``).

    On any error the destination is untouched and no temp file is left behind.
    """
    validate(net)
    path = Path(path)
    with atomic_path(path, make_parents=False) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = np.int64(FORMAT_VERSION)
            meta = f.create_group("meta")
            for key, value in _meta_attrs(net.meta).items():
                meta.attrs[key] = value
            layers = f.create_group("layer")
            for i, layer in enumerate(net.layers):
                _write_layer(layers.create_group(str(i)), layer)


# --------------------------------------------------------------------------- read

def _dataset(group: h5py.Group, where: str, key: str) -> Any:
    if key not in group:
        raise NetFileError(f"{where}/{key}: missing key")
    obj = group[key]
    if not isinstance(obj, h5py.Dataset):
        raise NetFileError(f"{where}/{key}: expected a dataset, got a group")
    return obj[()]


def _file_int(where: str, value: Any) -> int:
    arr = np.asarray(value)
    if arr.shape not in ((), (1,)) or arr.dtype.kind not in "iu":
        raise NetFileError(f"{where}: expected a scalar integer, got {arr.dtype} of shape {_shape_str(arr.shape)}")
    return int(arr.reshape(-1)[0])


def _integral(where: str, value: Any) -> np.ndarray:
    """A float/int dataset holding integer values -> int64 array."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise NetFileError(f"{where}: expected numbers, got {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise NetFileError(f"{where}: non-integer value (weights and biases are integers stored as float)")
    return arr.astype(np.int64)


def _decode(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else b""
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return str(value)


def _bool_keys(neuron_type: str) -> set[str]:
    kind = KINDS.get(neuron_type)
    return {p.key for p in kind.params if p.is_bool} if kind is not None else set()


def _read_neuron(group: h5py.Group, where: str) -> tuple[str, dict]:
    neuron_type = _decode(_dataset(group, where, "type"))
    bool_keys = _bool_keys(neuron_type)
    out: dict[str, Any] = {}
    for key in group:
        if key == "type":
            continue
        if key == "messageBits":
            raise NetFileError(f"{where}/messageBits: not allowed (netx turns it into an object and run() "
                               f"fails); remove the key")
        raw = _dataset(group, where, key)
        arr = np.asarray(raw)
        if key in bool_keys:
            if arr.shape != () or arr.dtype.kind not in "biu":
                raise NetFileError(f"{where}/{key}: expected a scalar bool, got {arr.dtype}")
            out[key] = bool(arr)
        elif arr.dtype.kind not in "iu":
            raise NetFileError(f"{where}/{key}: expected int64, got {arr.dtype}")
        elif arr.ndim == 0:
            out[key] = int(arr)
        else:
            out[key] = arr.astype(np.int64)
    return neuron_type, out


def _read_layer(group: h5py.Group, i: int) -> Layer:
    where = f"layer/{i}"
    ltype = _decode(_dataset(group, where, "type"))
    if ltype != "dense":
        raise NetFileError(f"{where}/type: unsupported layer type {ltype!r} (silava-net v1 has only 'dense')")
    weight = _integral(f"{where}/weight", _dataset(group, where, "weight"))
    if weight.ndim != 2:
        raise NetFileError(f"{where}/weight: expected 2 dimensions (out, in), got shape {_shape_str(weight.shape)}")
    shape = np.asarray(_dataset(group, where, "shape")).reshape(-1)
    if shape.size != 1 or int(shape[0]) != weight.shape[0]:
        raise NetFileError(f"{where}/shape: {shape.tolist()} does not match weight rows {weight.shape[0]}")
    n_in = _file_int(f"{where}/inFeatures", _dataset(group, where, "inFeatures"))
    n_out = _file_int(f"{where}/outFeatures", _dataset(group, where, "outFeatures"))
    if (n_out, n_in) != tuple(weight.shape):
        raise NetFileError(f"{where}/weight: expected shape {_shape_str((n_out, n_in))} from "
                           f"outFeatures/inFeatures, got {_shape_str(weight.shape)}")
    bias = _integral(f"{where}/bias", _dataset(group, where, "bias")) if "bias" in group else None
    weight_exp = _file_int(f"{where}/weightExp", _dataset(group, where, "weightExp")) if "weightExp" in group else 0
    imb = (_file_int(f"{where}/inputMessageBits", _dataset(group, where, "inputMessageBits"))
           if "inputMessageBits" in group else 0)
    if "messageBits" in group:
        raise NetFileError(f"{where}/messageBits: not allowed (netx turns it into an object and run() fails)")
    if "neuron" not in group or not isinstance(group["neuron"], h5py.Group):
        raise NetFileError(f"{where}/neuron: missing group")
    neuron_type, neuron = _read_neuron(group["neuron"], f"{where}/neuron")
    float_params = None
    if "float" in group:
        fl = group["float"]
        if not isinstance(fl, h5py.Group):
            raise NetFileError(f"{where}/float: expected a group")
        float_params = {}
        for key in fl:
            value = np.asarray(_dataset(fl, f"{where}/float", key))
            if value.dtype.kind not in "fiu":
                raise NetFileError(f"{where}/float/{key}: expected float64, got {value.dtype}")
            float_params[key] = value.astype(np.float64)
    return Layer(neuron_type=neuron_type, weight=weight, neuron=neuron, bias=bias, weight_exp=weight_exp,
                 input_message_bits=imb, float_params=float_params)


def _read_meta(f: h5py.File) -> Meta:
    if "meta" not in f or not isinstance(f["meta"], h5py.Group):
        raise NetFileError("meta: missing group")
    attrs = f["meta"].attrs
    for key in META_ATTRS:
        if key not in attrs:
            raise NetFileError(f"meta/{key}: missing attribute")

    def as_int(key: str) -> int:
        value = attrs[key]
        if not _is_int_scalar(value):
            raise NetFileError(f"meta/{key}: expected an integer, got {value!r}")
        return int(value)

    def as_str(key: str) -> str:
        value = attrs[key]
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if not isinstance(value, str):
            raise NetFileError(f"meta/{key}: expected a string, got {type(value).__name__}")
        return value

    def as_float(key: str) -> float:
        value = attrs[key]
        if not isinstance(value, (float, int, np.floating, np.integer)) or isinstance(value, (bool, np.bool_)):
            raise NetFileError(f"meta/{key}: expected a number, got {value!r}")
        return float(value)

    def as_json(key: str) -> dict:
        text = as_str(key)
        try:
            value = json.loads(text)
        except ValueError:
            raise NetFileError(f"meta/{key}: not valid JSON") from None
        if not isinstance(value, dict):
            raise NetFileError(f"meta/{key}: expected a JSON object, got {type(value).__name__}")
        return value

    return Meta(steps=as_int("steps"), n_inputs=as_int("n_inputs"), n_classes=as_int("n_classes"),
                dt=as_float("dt"), input_encoding=as_str("input_encoding"), decision=as_str("decision"),
                timeline=as_str("timeline"), source_neuron=as_str("source_neuron"),
                checkpoint_sha256=as_str("checkpoint_sha256"), float_accuracy=as_float("float_accuracy"),
                task=as_json("task"), quantization=as_json("quantization"),
                silava_version=as_str("silava_version"), created=as_str("created"))


def _layer_indices(names: Iterable[str]) -> list[int]:
    names = list(names)
    bad = [n for n in names if not n.isdigit() or (len(n) > 1 and n.startswith("0"))]
    if bad:
        raise NetFileError(f"layer/{bad[0]}: layer groups must be named 0, 1, 2, ...")
    idx = sorted(int(n) for n in names)
    if idx != list(range(len(idx))):
        missing = sorted(set(range(len(idx))) - set(idx))
        raise NetFileError(f"layer/{missing[0] if missing else len(idx)}: missing layer "
                           f"(layers must be numbered 0..{len(idx) - 1})")
    return idx


def read(path: str | os.PathLike) -> Network:
    """Read and validate a model.net file; every problem raises :class:`NetFileError`.

    The message starts with the file name, then the location (e.g.
    ``model.net: layer/1/neuron/alpha: missing key``).
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise NetFileError(f"{path}: no such file")
    try:
        if not h5py.is_hdf5(path):
            raise NetFileError(f"{name}: not an HDF5 file; pass a model.net written by export/to_lava.py")
        f = h5py.File(path, "r")
    except NetFileError:
        raise
    except (OSError, ValueError) as exc:
        raise NetFileError(f"{name}: cannot open as HDF5 (truncated or corrupt: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                           f"export it again") from None
    try:
        with f:
            fmt = f.attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode("utf-8", errors="replace")
            if fmt != FORMAT:
                raise NetFileError(f"format: expected {FORMAT!r}, got {fmt!r} (not a silava model.net; "
                                   f"export it with export/to_lava.py)")
            version = f.attrs.get("format_version")
            if not _is_int_scalar(version) or int(version) != FORMAT_VERSION:
                raise NetFileError(f"format_version: expected {FORMAT_VERSION}, got {version!r} "
                                   f"(use the silava version that wrote it, or export again)")
            meta = _read_meta(f)
            if "layer" not in f or not isinstance(f["layer"], h5py.Group):
                raise NetFileError("layer: missing group")
            layers = [_read_layer(f["layer"][str(i)], i) for i in _layer_indices(f["layer"].keys())]
    except NetFileError as exc:
        raise NetFileError(f"{name}: {exc}") from None
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise NetFileError(f"{name}: unreadable ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}); the file is truncated or "
                           f"corrupt, export it again") from None
    net = Network(layers=layers, meta=meta)
    try:
        validate(net)
    except NetFileError as exc:
        raise NetFileError(f"{name}: {exc}") from None
    return net


# --------------------------------------------------------------------------- comparison

def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or set(a) != set(b):
            return False
        return all(_values_equal(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (np.ndarray, list)) or isinstance(b, (np.ndarray, list)):
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            return False
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            return bool(np.array_equal(x, y, equal_nan=True))
        return bool(np.array_equal(x, y))
    return a == b


def networks_equal(a: Network, b: Network) -> bool:
    """True if the two networks hold the same layers and metadata (NaN equals NaN)."""
    if len(a.layers) != len(b.layers):
        return False
    for la, lb in zip(a.layers, b.layers):
        if la.neuron_type != lb.neuron_type or int(la.weight_exp) != int(lb.weight_exp) \
                or int(la.input_message_bits) != int(lb.input_message_bits):
            return False
        if not (_values_equal(la.weight, lb.weight) and _values_equal(la.bias, lb.bias)
                and _values_equal(la.neuron, lb.neuron) and _values_equal(la.float_params, lb.float_params)):
            return False
    fields_a, fields_b = vars(a.meta), vars(b.meta)
    return all(_values_equal(fields_a[k], fields_b[k]) for k in fields_a)
