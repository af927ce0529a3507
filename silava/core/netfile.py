"""model.net: the deployment IR (netx-style HDF5), its dataclasses, reader, writer and validator.

numpy + h5py only (no torch, no lava). The file layout is fixed by docs/fixed_point.md §7::

    / attrs: format = "silava-net", format_version = 2 (1 is read too: dense layers only)
    /meta attrs: silava_version, created, dt, steps, n_inputs, n_classes, input_encoding,
                 decision, timeline, source_neuron, checkpoint_sha256, float_accuracy,
                 task (JSON), quantization (JSON)
    /layer/{g}          type S10 (1,): dense | dense_rec | conv | input | flatten; shape int64
                        (the neuron shape: [out] or [C, H, W]);
                        dense/dense_rec: inFeatures, outFeatures, weight float32 (out, in),
                                         weight_rec float32 (out, out) (dense_rec)
                        conv: inChannels, outChannels, kernelSize, stride, padding, dilation,
                              groups, weight float32 (out, in/groups, kh, kw)
                        weights even integers in [-256, 254]; bias float32 (optional);
                        weightExp int64; inputMessageBits int64 (0 = binary)
    /layer/{g}/neuron   type (variable-length str) + the integer keys of §3
    /layer/{g}/float    (optional) float64 folded reference parameters

A :class:`Network` holds the neuron layers only; the writer adds the groups netx needs around
them (an ``input`` group with the source shape before a first conv layer, a ``flatten`` group
before a dense layer that reads a [C, H, W] layer), the reader skips them (:func:`read_layers`),
and messages name the file's group (:func:`remap_locations`). Groups are numbered 0..N-1 and
always ordered numerically (h5py lists ``10`` before ``2``). A ``messageBits`` key is never
written and is rejected on read (netx turns it into an object and ``run()`` fails, spec
lava_loihi.md §1.5). Per-neuron arrays of a [C, H, W] layer are stored as netx hands them to
Lava, (W, H, C) or (C,) per channel; in memory they are flat in C order of [C, H, W].

Integer neuron parameters: the keys, their ranges (D = decayBits, s = stateFracBits) and which
may hold one value per neuron come from the kind declarations (:mod:`silava.core.kinds`; the
table in docs/fixed_point.md §3). Per-neuron keys are Python ints (one value for the layer) or
int64 arrays of shape (out,); layer settings (``decayBits``, ``stateFracBits``) and netx's fixed
keys (``refDelay``, ``gradedSpike``, ``sigma_output``) are scalars. A netx-native kind (CUBA) also
needs ``weightExp = 0`` and a dense weight matrix that is not all zero (netx's own loader rules).
Kinds that share netx's type name (``SDNN``: DELTA, SIGMA_DELTA, SIGMA) are told apart as netx
does; a kind with an exact netx-native form (LI as CUBA, :mod:`silava.core.netxform`) is
written in it with a ``silavaType`` marker.
Every problem is a :class:`NetFileError` whose one-line message starts with the
location, e.g. ``layer/1/neuron/alpha: expected shape (64,), got (32,)``.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import h5py
import numpy as np

from silava.core.fileio import atomic_path

from silava.core import netxform
from silava.core.kinds import KINDS, LAYER_TYPES, Kind, kind_for_file

FORMAT = "silava-net"
FORMAT_VERSION = 2
#: versions this reader understands (1: dense layers only, the same semantics)
READABLE_VERSIONS = (1, 2)
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
#: keys that hold one value per layer in every kind that has them (settings and netx's fixed keys)
SCALAR_KEYS = tuple(dict.fromkeys(p.key for k in KINDS.values() for p in k.params if not p.per_neuron
                                   and not any(q.key == p.key and q.per_neuron for j in KINDS.values() for q in j.params)))

META_ATTRS = ("silava_version", "created", "dt", "steps", "n_inputs", "n_classes", "input_encoding",
              "decision", "timeline", "source_neuron", "checkpoint_sha256", "float_accuracy",
              "task", "quantization")


class NetFileError(ValueError):
    """A malformed network or model.net file; the message is one line naming layer and key."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


# --------------------------------------------------------------------------- dataclasses

def _pair(value: Any) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    return int(arr[0]), int(arr[1])


@dataclass(frozen=True)
class ConvSpec:
    """Geometry of a ``conv`` layer, PyTorch order: input ``(C, H, W)``, pairs ``(along H, along W)``.

    The kernel size is the weight's ``(kh, kw)``; the output is ``(C_out, H_out, W_out)`` with
    ``H_out = floor((H + 2 p_h − d_h (kh − 1) − 1) / s_h) + 1`` (and the same along W), PyTorch's
    and Lava's ``conv.utils.output_shape``.
    """

    in_shape: tuple[int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_shape", tuple(int(v) for v in np.asarray(self.in_shape).reshape(-1)))
        for name in ("stride", "padding", "dilation"):
            object.__setattr__(self, name, _pair(getattr(self, name)))
        object.__setattr__(self, "groups", int(self.groups))

    def out_hw(self, kernel: tuple[int, int]) -> tuple[int, int]:
        """``(H_out, W_out)`` for a ``(kh, kw)`` kernel (may be < 1 for a kernel that does not fit)."""
        _, h, w = self.in_shape
        out = []
        for size, k, s, p, d in zip((h, w), kernel, self.stride, self.padding, self.dilation):
            out.append((size + 2 * p - d * (k - 1) - 1) // s + 1)
        return out[0], out[1]


@dataclass
class Layer:
    """One layer: synapses (integer weights) followed by a neuron population.

    ``layer_type`` (docs/fixed_point.md §7): ``dense`` (``weight`` (out, in)), ``dense_rec``
    (``weight`` (out, in) plus ``weight_rec`` (out, out) from the layer's own previous output),
    ``conv`` (``weight`` (out, in/groups, kh, kw) and ``conv`` geometry; one neuron per output
    position), or ``input`` (no synapses: the neurons take the source payload; ``shape`` is the
    neuron shape). Neuron parameters and the bias are per neuron in C-order of the neuron shape
    (``[C, H, W]`` for conv), or scalars.
    """

    neuron_type: str
    weight: np.ndarray | None
    neuron: dict
    bias: np.ndarray | None = None
    weight_exp: int = 0
    input_message_bits: int = 0
    float_params: dict | None = None
    layer_type: str = "dense"
    weight_rec: np.ndarray | None = None
    conv: ConvSpec | None = None
    shape: tuple[int, ...] | None = None
    #: a dense_rec layer's recurrent weight exponent (``weightRecExp``; None: ``weight_exp``): the hybrid
    #: layer's recurrent Dense takes graded payloads, its feed-forward one spikes (docs/fixed_point.md §8)
    weight_rec_exp: int | None = None

    @property
    def neuron_shape(self) -> tuple[int, ...]:
        """``(out,)`` for dense layers, ``(C_out, H_out, W_out)`` for conv, ``shape`` for an input layer."""
        if self.layer_type == "input":
            return tuple(int(v) for v in (self.shape or ()))
        if self.layer_type == "conv":
            w = np.shape(self.weight)
            if self.conv is None or len(w) != 4:
                return (int(w[0]) if len(w) else 0,)
            return (int(w[0]),) + self.conv.out_hw((int(w[2]), int(w[3])))
        return (int(np.shape(self.weight)[0]),)

    @property
    def in_shape(self) -> tuple[int, ...]:
        """What the layer receives: ``(in,)``, a conv's ``(C, H, W)``, or an input layer's own shape."""
        if self.layer_type == "input":
            return self.neuron_shape
        if self.layer_type == "conv" and self.conv is not None:
            return tuple(self.conv.in_shape)
        return (int(np.shape(self.weight)[1]),)

    @property
    def in_features(self) -> int:
        return int(np.prod(self.in_shape, dtype=np.int64))

    @property
    def out_features(self) -> int:
        return int(np.prod(self.neuron_shape, dtype=np.int64))

    @property
    def recurrent(self) -> bool:
        return self.layer_type == "dense_rec"

    @property
    def rec_exp(self) -> int:
        """The exponent of the recurrent Dense: ``weight_rec_exp``, else ``weight_exp``."""
        return int(self.weight_exp if self.weight_rec_exp is None else self.weight_rec_exp)

    @property
    def synaptic(self) -> bool:
        """True if the layer has synapses of its own (every layer type but ``input``)."""
        return self.layer_type != "input"

    @property
    def output_width(self) -> int:
        """Values the layer sends per step: ``out_features`` × outputs per neuron (M of a MULTIOUT layer)."""
        kind = KINDS.get(self.neuron_type)
        m = kind.outputs_per_neuron(self.neuron) if kind is not None and kind.output_dim else 1
        return self.out_features * m


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

        CUBA layers without a ``stateFracBits`` key use ``vThMant << 6`` (threshold 1.0); kinds
        with neither (lava-dl's sigma-delta units) ``2^Kind.default_state_frac_bits`` (slayer's 2^12).
        """
        layer = self.layers[i]
        if "stateFracBits" in layer.neuron:
            return 2 ** int(layer.neuron["stateFracBits"])
        kind = KINDS[layer.neuron_type]
        if kind.role("threshold") is not None and "vThMant" in layer.neuron:
            return int(np.max(layer.neuron["vThMant"])) << 6
        return 2 ** int(kind.default_state_frac_bits)

    def delays(self) -> list[int]:
        """Synapses on the path to each layer (its Lava timeline offset, docs/fixed_point.md §5)."""
        out, d = [], 0
        for layer in self.layers:
            d += 1 if layer.synaptic else 0
            out.append(d)
        return out

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


def _neuron_value(where: str, kind: Kind, key: str, value: Any, n: int,
                  dims: dict[str, int] | None = None) -> np.ndarray | int | str:
    """A neuron key: a scalar int, a string (a ``fixed`` str key), or (for per-neuron keys) an
    integer array of shape (n,) — or (n, *sizes) for a key the kind declares with a per-neuron
    ``shape`` (always an array)."""
    param = kind.param(key)
    if param.shape:
        shape = (n, *kind.extra_shape(param, dims or {}))
        if not isinstance(value, np.ndarray) or value.ndim == 0:
            raise NetFileError(f"{where}: expected an int64 array of shape {_shape_str(shape)}, "
                               f"got {type(value).__name__}")
        return _int_array(where, value, shape)
    if param.is_bool:
        if isinstance(value, (bool, np.bool_)) or _is_int_scalar(value):
            if bool(value) != bool(param.value):
                raise NetFileError(f"{where}: {key} must be {param.value} for {kind.name} ({param.doc})")
            return int(bool(value))
        raise NetFileError(f"{where}: expected a bool, got {type(value).__name__}")
    if param.is_str:
        if not isinstance(value, str):
            raise NetFileError(f"{where}: expected a string, got {type(value).__name__}")
        if param.value and value != param.value:
            raise NetFileError(f"{where}: {key} must be {param.value!r} for {kind.name}, got {value!r} "
                               f"({param.doc})")
        return value
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
    dims: dict[str, int] = {}
    for letter, p in kind.dims.items():       # sizes first: the shapes of the other keys depend on them
        value = _neuron_value(f"{where}/{p.key}", kind, p.key, neuron[p.key], n)
        _check_param(where, kind, p.key, value, 0)
        dims[letter] = int(value)
    vals = {key: _neuron_value(f"{where}/{key}", kind, key, neuron[key], n, dims) for key in neuron}
    decay_bits = kind.role("decay_bits")
    if decay_bits is not None and decay_bits.key in vals:    # D first: the other ranges depend on it
        _check_param(where, kind, decay_bits.key, vals[decay_bits.key], 0)
    D = kind.default_decay_bits(vals.get(decay_bits.key) if decay_bits is not None else None)
    for key, value in vals.items():
        if not isinstance(value, str):
            _check_param(where, kind, key, value, D)
    for key, value in vals.items():
        if kind.param(key).strictly_lower:
            upper = np.argwhere(np.triu(np.ones(value.shape[-2:], dtype=bool)) & np.any(value != 0, axis=0))
            if upper.size:
                k, j = (int(v) for v in upper[0])
                raise NetFileError(f"{where}/{key}: entry [:, {k}, {j}] is not zero; {key} must be strictly lower "
                                   f"triangular (row k reads only the rows j < k updated before it)")


def _check_param(where: str, kind: Kind, key: str, value: np.ndarray | int, decay_bits: int) -> None:
    param = kind.param(key)
    lo, hi = param.range.at(decay_bits)
    if param.role == "fixed" and not param.is_bool and value != param.value:
        raise NetFileError(f"{where}/{key}: expected {param.value}, got {value} ({param.doc})")
    if param.role == "decay_bits" and lo == hi and value != lo:
        raise NetFileError(f"{where}/{key}: {kind.name} decays are {lo}-bit, got {value} ({param.doc})")
    _check_range(f"{where}/{key}", value, lo, hi)


def _check_float_params(where: str, params: Any, layer: Layer,
                        shaped: dict[str, tuple[int, ...]] | None = None) -> None:
    """The float group: ``weight`` and ``weight_rec`` as the layer's integer ones, scalars or (out,)
    arrays, and the kind's per-neuron arrays ``shaped`` (float key -> per-neuron shape, e.g. a
    multi-output layer's ``A``: (N, N))."""
    shaped = shaped or {}
    if not isinstance(params, dict):
        raise NetFileError(f"{where}: expected a dict of float arrays, got {type(params).__name__}")
    n_out = layer.out_features
    shapes = {"weight": tuple(np.shape(layer.weight)) if layer.weight is not None else None,
              "weight_rec": tuple(np.shape(layer.weight_rec)) if layer.weight_rec is not None else None}
    for key, value in params.items():
        loc = f"{where}/{key}"
        if not isinstance(key, str) or not key or "/" in key:
            raise NetFileError(f"{loc}: keys must be non-empty strings without '/'")
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
            raise NetFileError(f"{loc}: expected float values, got {arr.dtype}")
        if key in shapes:
            if shapes[key] is None:
                raise NetFileError(f"{loc}: the layer has no {key}")
            allowed = [shapes[key]]
        elif key in shaped:
            allowed = [(n_out, *shaped[key])]
        else:
            allowed = [(), (n_out,)]
        if tuple(arr.shape) not in allowed:
            raise NetFileError(f"{loc}: expected shape {' or '.join(_shape_str(s) for s in allowed)}, "
                               f"got {_shape_str(arr.shape)}")
        if not np.all(np.isfinite(arr)):
            raise NetFileError(f"{loc}: non-finite value (NaN/Inf)")


def _check_weights(where: str, w: Any, ndim: int, what: str) -> np.ndarray:
    """An integer weight array of ``ndim`` dimensions: even values in [−256, 254]."""
    if not isinstance(w, np.ndarray):
        raise NetFileError(f"{where}: expected an int64 array, got {type(w).__name__}")
    if w.ndim != ndim:
        raise NetFileError(f"{where}: expected {ndim} dimensions {what}, got shape {_shape_str(w.shape)}")
    if any(d < 1 for d in w.shape):
        raise NetFileError(f"{where}: empty shape {_shape_str(w.shape)}")
    w = _int_array(where, w, None)
    _check_range(where, w, WEIGHT_MIN, WEIGHT_MAX)
    odd = np.flatnonzero(w % 2)
    if odd.size:
        idx = np.unravel_index(odd[0], w.shape)
        raise NetFileError(f"{where}: odd value {int(w[idx])} at [{', '.join(str(int(k)) for k in idx)}] "
                           f"(weights are 2 x an 8-bit mantissa, even integers)")
    return w


def _check_conv(where: str, layer: Layer) -> None:
    spec = layer.conv
    if not isinstance(spec, ConvSpec):
        raise NetFileError(f"{where}/conv: a conv layer needs its geometry (ConvSpec), got {type(spec).__name__}")
    w = layer.weight
    if len(spec.in_shape) != 3 or min(spec.in_shape) < 1:
        raise NetFileError(f"{where}/inShape: expected (C, H, W) with positive sizes, got {spec.in_shape}")
    c_in = spec.in_shape[0]
    if spec.groups < 1 or c_in % spec.groups or w.shape[0] % spec.groups:
        raise NetFileError(f"{where}/groups: {spec.groups} must divide inChannels {c_in} and outChannels "
                           f"{w.shape[0]}")
    if w.shape[1] * spec.groups != c_in:
        raise NetFileError(f"{where}/weight: expected shape ({w.shape[0]}, {c_in // spec.groups}, kh, kw) for "
                           f"{c_in} input channels in {spec.groups} group(s), got {_shape_str(w.shape)}")
    for name in ("stride", "dilation"):
        if min(getattr(spec, name)) < 1:
            raise NetFileError(f"{where}/{name}: must be >= 1, got {list(getattr(spec, name))}")
    if min(spec.padding) < 0:
        raise NetFileError(f"{where}/padding: must be >= 0, got {list(spec.padding)}")
    h, w_out = spec.out_hw((w.shape[2], w.shape[3]))
    if h < 1 or w_out < 1:
        raise NetFileError(f"{where}/kernelSize: a {w.shape[2]}x{w.shape[3]} kernel (dilation {list(spec.dilation)}) "
                           f"does not fit the input {spec.in_shape[1]}x{spec.in_shape[2]} with padding "
                           f"{list(spec.padding)}")
    if int(layer.weight_exp) != 0:
        raise NetFileError(f"{where}/weightExp: conv layers must have weightExp 0 (Lava's Conv declares "
                           f"weight_exp but never applies it), got {int(layer.weight_exp)}")


def _check_layer(i: int, layer: Any) -> None:
    where = f"layer/{i}"
    if not isinstance(layer, Layer):
        raise NetFileError(f"{where}: expected a Layer, got {type(layer).__name__}")
    if layer.layer_type not in LAYER_TYPES:
        raise NetFileError(f"{where}/type: unknown layer type {layer.layer_type!r} "
                           f"(supported: {', '.join(LAYER_TYPES)})")
    if layer.neuron_type not in KINDS:
        raise NetFileError(f"{where}/neuron/type: unknown neuron type {layer.neuron_type!r} "
                           f"(supported: {', '.join(KINDS)})")
    kind = KINDS[layer.neuron_type]
    if layer.layer_type not in kind.layer_types:
        raise NetFileError(f"{where}/type: a {kind.name} neuron cannot be in a {layer.layer_type} layer "
                           f"(allowed: {', '.join(kind.layer_types)})")
    if layer.layer_type == "input":
        if layer.weight is not None or layer.weight_rec is not None or layer.conv is not None:
            raise NetFileError(f"{where}: an input layer has no weights")
        shape = layer.shape
        if shape is None or len(tuple(shape)) not in (1, 3) or min(int(v) for v in shape) < 1:
            raise NetFileError(f"{where}/shape: an input layer needs its neuron shape [n] or [C, H, W], "
                               f"got {shape!r}")
        if i != 0:
            raise NetFileError(f"{where}/type: an input layer can only be the first layer")
        if int(layer.weight_exp) != 0:
            raise NetFileError(f"{where}/weightExp: an input layer has no synapses, got {int(layer.weight_exp)}")
    elif layer.layer_type == "conv":
        _check_weights(f"{where}/weight", layer.weight, 4, "(out, in/groups, kh, kw)")
        _check_conv(where, layer)
    else:
        _check_weights(f"{where}/weight", layer.weight, 2, "(out, in)")
        if layer.conv is not None:
            raise NetFileError(f"{where}/conv: only a conv layer has a convolution geometry")
    if layer.layer_type == "dense_rec":
        n = layer.out_features
        wr = _check_weights(f"{where}/weight_rec", layer.weight_rec, 2, "(out, out)")
        if wr.shape != (n, n):
            raise NetFileError(f"{where}/weight_rec: expected shape {_shape_str((n, n))}, got {_shape_str(wr.shape)}")
    elif layer.weight_rec is not None:
        raise NetFileError(f"{where}/weight_rec: only a dense_rec layer has recurrent weights")
    if layer.weight_rec_exp is not None:
        if layer.layer_type != "dense_rec":
            raise NetFileError(f"{where}/weightRecExp: only a dense_rec layer has a recurrent weight exponent")
        if not _is_int_scalar(layer.weight_rec_exp):
            raise NetFileError(f"{where}/weightRecExp: expected an int, got {type(layer.weight_rec_exp).__name__}")
        _check_range(f"{where}/weightRecExp", int(layer.weight_rec_exp), WEIGHT_EXP_MIN, WEIGHT_EXP_MAX)
        if kind.netx_native and int(layer.weight_rec_exp) != 0:
            raise NetFileError(f"{where}/weightRecExp: {kind.name} layers take no weight exponent, got "
                               f"{int(layer.weight_rec_exp)}")
    n_out = layer.out_features
    if kind.netx_native and layer.layer_type in ("dense", "dense_rec"):
        if not np.any(layer.weight) and (layer.weight_rec is None or not np.any(layer.weight_rec)):
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
    _check_neuron(f"{where}/neuron", layer.neuron_type, layer.neuron, n_out)
    if layer.float_params is not None:
        dims = kind.layer_dims(layer.neuron)
        shaped = {p.source: kind.extra_shape(p, dims) for p in kind.params if p.shape}
        _check_float_params(f"{where}/float", layer.float_params, layer, shaped)


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
        if int(meta.n_classes) != layers[-1].output_width:
            raise NetFileError(f"meta/n_classes: {meta.n_classes} but layer/{len(layers) - 1} has "
                               f"{layers[-1].output_width} outputs")
        graded = int(layers[0].input_message_bits) > 0
        if graded != (meta.input_encoding != "binary"):
            raise NetFileError(f"meta/input_encoding: {meta.input_encoding!r} does not match layer/0/inputMessageBits "
                               f"{int(layers[0].input_message_bits)} (binary <-> 0, counts/graded <-> > 0)")


def validate(net: Network) -> None:
    """Raise :class:`NetFileError` unless ``net`` is a well-formed network (see module docstring).

    Checks every layer (types, shapes, dtypes, ranges, even weights, conv geometry, CUBA rules),
    that the layers chain (a layer receives what the previous one outputs: the same shape, a
    dense layer reading a [C, H, W] layer flattened in C order, or M outputs per neuron of a
    MULTIOUT layer, neuron-major), that a layer fed by a graded
    (non-spiking) layer takes graded payloads (``inputMessageBits > 0``) and one fed by spikes
    binary ones, and the metadata (including sizes and encoding).
    """
    if not isinstance(net, Network):
        raise NetFileError(f"network: expected a Network, got {type(net).__name__}")
    if not isinstance(net.layers, list) or not net.layers:
        raise NetFileError("layer: a network needs at least one layer")
    for i, layer in enumerate(net.layers):
        _check_layer(i, layer)
        if i == 0:
            continue
        prev = net.layers[i - 1]
        if layer.layer_type == "conv":
            if tuple(layer.in_shape) != tuple(prev.neuron_shape):
                raise NetFileError(f"layer/{i}/inShape: {list(layer.in_shape)} does not match layer/{i - 1}/shape "
                                   f"{list(prev.neuron_shape)} (a conv layer reads a [C, H, W] layer)")
        elif layer.in_features != prev.output_width:
            per = prev.output_width // max(prev.out_features, 1)
            what = (f"layer/{i - 1}'s {prev.output_width} outputs ({per} per neuron x outFeatures "
                    f"{prev.out_features})" if per != 1 else f"layer/{i - 1}/outFeatures {prev.out_features}")
            raise NetFileError(f"layer/{i}/inFeatures: {layer.in_features} does not match "
                               f"{what} (layers do not chain)")
        graded_prev = not KINDS[prev.neuron_type].spiking
        bits = int(layer.input_message_bits)
        if graded_prev and bits == 0:
            raise NetFileError(f"layer/{i}/inputMessageBits: 0, but layer/{i - 1} ({prev.neuron_type}) sends "
                               f"graded values; set inputMessageBits > 0 (e.g. 24)")
        if not graded_prev and bits != 0:
            raise NetFileError(f"layer/{i}/inputMessageBits: only the first layer or a layer fed by a graded "
                               f"layer may take graded input (layer/{i - 1} sends binary spikes), got {bits}")
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


def _netx_order(layer: Layer, value: np.ndarray) -> np.ndarray:
    """A per-neuron array as netx wants it: conv layers (W, H, C) (Lava's XYZ order), or (C,) when
    the values are uniform within each channel; other layers as they are."""
    if layer.layer_type != "conv" and not (layer.layer_type == "input" and len(layer.neuron_shape) == 3):
        return value
    c, h, w = layer.neuron_shape
    chw = np.asarray(value).reshape(c, h, w)
    if np.all(chw == chw[:, :1, :1]):
        return chw[:, 0, 0].copy()
    return chw.transpose(2, 1, 0).copy()


def _write_neuron(group: h5py.Group, layer: Layer, file_type: str, keys: dict, marker: Optional[str]) -> None:
    neuron = group.create_group("neuron")
    neuron.create_dataset("type", data=file_type, dtype=h5py.string_dtype())
    for key, value in keys.items():
        if isinstance(value, (bool, np.bool_)):
            neuron.create_dataset(key, data=np.bool_(value))
        elif isinstance(value, str):
            neuron.create_dataset(key, data=value, dtype=h5py.string_dtype())
        elif isinstance(value, np.ndarray):
            neuron.create_dataset(key, data=_netx_order(layer, value.astype(np.int64)))
        else:
            neuron.create_dataset(key, data=np.int64(value))
    if marker is not None:
        neuron.create_dataset(netxform.MARKER, data=marker, dtype=h5py.string_dtype())


def _neuron_keys(layer: Layer) -> dict:
    """The layer's neuron keys with bool keys as bools (the dict may hold 0/1 for them)."""
    kind = KINDS[layer.neuron_type]
    return {key: (bool(value) if kind.param(key).is_bool else value) for key, value in layer.neuron.items()}


def _write_layer(group: h5py.Group, layer: Layer, native: tuple[Optional[str], Optional[dict]]) -> None:
    """One layer group in netx's layout (docs/fixed_point.md §7)."""
    ltype = layer.layer_type
    shape = layer.neuron_shape
    group.create_dataset("type", data=np.array([ltype.encode("ascii")], dtype="S10"))
    group.create_dataset("shape", data=np.array(shape, dtype=np.int64))
    if ltype in ("dense", "dense_rec"):
        group.create_dataset("inFeatures", data=np.int64(layer.in_features))
        group.create_dataset("outFeatures", data=np.int64(layer.out_features))
    elif ltype == "conv":
        spec = layer.conv
        w = layer.weight
        group.create_dataset("inChannels", data=np.int64(spec.in_shape[0]))
        group.create_dataset("outChannels", data=np.int64(w.shape[0]))
        group.create_dataset("kernelSize", data=np.array(w.shape[2:], dtype=np.int64))
        for name in ("stride", "padding", "dilation"):
            group.create_dataset(name, data=np.array(getattr(spec, name), dtype=np.int64))
        group.create_dataset("groups", data=np.int64(spec.groups))
    if layer.weight is not None:
        group.create_dataset("weight", data=np.asarray(layer.weight, dtype=np.float32))
    if layer.weight_rec is not None:
        group.create_dataset("weight_rec", data=np.asarray(layer.weight_rec, dtype=np.float32))
    if layer.bias is not None:
        group.create_dataset("bias", data=_netx_order(layer, np.asarray(layer.bias)).astype(np.float32))
    group.create_dataset("weightExp", data=np.int64(layer.weight_exp))
    if layer.weight_rec_exp is not None:
        group.create_dataset("weightRecExp", data=np.int64(layer.weight_rec_exp))
    group.create_dataset("inputMessageBits", data=np.int64(layer.input_message_bits))
    file_type, keys = native
    if keys is None:
        _write_neuron(group, layer, file_type or KINDS[layer.neuron_type].netx_type, _neuron_keys(layer), None)
    else:
        _write_neuron(group, layer, file_type, keys, layer.neuron_type)
    if layer.float_params is not None:
        fl = group.create_group("float")
        for key, value in layer.float_params.items():
            fl.create_dataset(key, data=np.asarray(value, dtype=np.float64))


def _write_marker_group(group: h5py.Group, ltype: str, shape: tuple[int, ...]) -> None:
    """An ``input`` (shape only) or ``flatten`` group, as slayer writes them."""
    group.create_dataset("type", data=np.array([ltype.encode("ascii")], dtype="S10"))
    group.create_dataset("shape", data=np.array(shape, dtype=np.int64))


def file_groups(net: Network) -> list[int]:
    """The ``layer/{g}`` group index of each layer in the written file (input/flatten groups counted)."""
    out, g = [], 0
    for i, layer in enumerate(net.layers):
        if i == 0 and layer.layer_type == "conv":
            g += 1                                   # an input group holds the source shape
        if i > 0 and layer.layer_type in ("dense", "dense_rec") and len(net.layers[i - 1].neuron_shape) == 3:
            g += 1                                   # a flatten group before a dense after [C, H, W]
        out.append(g)
        g += 1
    return out


def native_forms(net: Network) -> list[tuple[Optional[str], Optional[dict], str]]:
    """Per layer: how :func:`write` writes it with ``netx_native=True`` (:func:`netxform.native_form`):
    ``(netx type, neuron keys, "")`` for a kind written in netx's vocabulary, else
    ``(None, None, reason)`` (the kind's own type; netx needs silava's extension)."""
    return [netxform.native_form(net, i) for i in range(len(net.layers))]


def netx_summary(net: Network) -> str:
    """One line: whether plain lava-dl netx loads the written file, or which layer needs silava's extension."""
    forms = native_forms(net)
    foreign = [(i, why) for i, (t, _, why) in enumerate(forms) if t is None]
    if not foreign:
        return "netx: plain lava-dl netx.hdf5.Network loads it"
    i, why = foreign[0]
    return (f"netx: load it with silava.lava_models.netx.Network (layer/{file_groups(net)[i]} "
            f"{net.layers[i].neuron_type}: {why})")


def to_bytes(net: Network, *, netx_native: bool = True) -> bytes:
    """Validate ``net`` and return the bytes of its model.net file (the HDF5 image, built in memory).

    ``netx_native``: write a layer whose kind has an exact netx-native form in that form (an LI
    readout as a CUBA layer that cannot spike, :mod:`silava.core.netxform`), so that plain
    lava-dl netx loads it; silava reads it back as the same network either way. HDF5 never touches
    the disk: a full disk or a failing write then surfaces as a plain ``OSError`` of the byte writer
    (HDF5 crashed, rc −11, when it ran out of space mid-file).
    """
    import io

    validate(net)
    forms = native_forms(net) if netx_native else [(None, None, "")] * len(net.layers)
    groups = file_groups(net)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = np.int64(FORMAT_VERSION)
        meta = f.create_group("meta")
        for key, value in _meta_attrs(net.meta).items():
            meta.attrs[key] = value
        layers = f.create_group("layer")
        for i, layer in enumerate(net.layers):
            if i == 0 and layer.layer_type == "conv":
                _write_marker_group(layers.create_group(str(groups[0] - 1)), "input", layer.in_shape)
            elif i > 0 and groups[i] != groups[i - 1] + 1:
                _write_marker_group(layers.create_group(str(groups[i] - 1)), "flatten", (layer.in_features, 1, 1))
            file_type, keys, _ = forms[i]
            _write_layer(layers.create_group(str(groups[i])), layer, (file_type, keys))
    return buf.getvalue()


def write(path: str | os.PathLike, net: Network, *, netx_native: bool = True) -> None:
    """Validate ``net`` and write it to ``path`` atomically (:func:`to_bytes`, temp file + ``os.replace``).

    On any error the destination is untouched and no temp file is left behind.
    """
    data = to_bytes(net, netx_native=netx_native)
    with atomic_path(Path(path), make_parents=False) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


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


def _from_netx_order(where: str, value: np.ndarray, shape: tuple[int, ...], per_channel_ok: bool) -> np.ndarray:
    """A per-neuron file array -> flat C order of ``shape`` (our order).

    A [C, H, W] layer's arrays are stored as netx hands them to Lava: (W, H, C), or (C,) per channel.
    """
    n = int(np.prod(shape, dtype=np.int64))
    arr = np.asarray(value)
    if len(shape) == 3:
        c, h, w = shape
        if arr.shape == (w, h, c):
            return arr.transpose(2, 1, 0).reshape(-1)
        if per_channel_ok and arr.shape == (c,):
            return np.repeat(arr, h * w)
        raise NetFileError(f"{where}: expected shape {_shape_str((w, h, c))} (W, H, C) or {_shape_str((c,))} "
                           f"per channel, got {_shape_str(arr.shape)}")
    if arr.shape != (n,):
        raise NetFileError(f"{where}: expected shape {_shape_str((n,))}, got {_shape_str(arr.shape)}")
    return arr


def _read_neuron(group: h5py.Group, where: str, layer_type: str, shape: tuple[int, ...],
                 notes: Optional[list]) -> tuple[str, dict]:
    """The kind and keys of a ``neuron`` group. ``notes`` (a list): a foreign file, whose keys that
    netx never reads are dropped (and named in the notes) instead of refused."""
    file_type = _decode(_dataset(group, where, "type"))
    keys = [k for k in group if k != "type"]
    marker = None
    if netxform.MARKER in group:
        marker = _decode(_dataset(group, where, netxform.MARKER))
        keys.remove(netxform.MARKER)
        if marker not in netxform.FORMS or KINDS[marker].netx_form != file_type:
            raise NetFileError(f"{where}/{netxform.MARKER}: {marker!r} cannot be written as {file_type!r}")
        kind = KINDS[file_type]
    else:
        kind = kind_for_file(file_type, layer_type, keys)
    if kind is None:
        known = sorted({k.netx_type for k in KINDS.values()})
        if any(k.netx_type == file_type for k in KINDS.values()):
            raise NetFileError(f"{where}/type: a {file_type} neuron cannot be in a {layer_type} layer")
        raise NetFileError(f"{where}/type: unknown neuron type {file_type!r} (silava reads {', '.join(known)})")
    if "messageBits" in keys:
        raise NetFileError(f"{where}/messageBits: not allowed (netx turns it into an object and run() "
                           f"fails); remove the key")
    declared = {p.key: p for p in kind.params}
    out: dict[str, Any] = {}
    for key in keys:
        param = declared.get(key)
        if param is None and notes is not None:
            notes.append(f"{where}/{key}: ignored (netx does not read it)")
            continue
        raw = _dataset(group, where, key)
        arr = np.asarray(raw)
        if param is not None and param.is_bool:
            if arr.shape != () or arr.dtype.kind not in "biu":
                raise NetFileError(f"{where}/{key}: expected a scalar bool, got {arr.dtype}")
            out[key] = bool(arr)
        elif param is not None and param.is_str:
            out[key] = _decode(raw)
        elif arr.dtype.kind not in "iu":
            raise NetFileError(f"{where}/{key}: expected int64, got {arr.dtype}")
        elif arr.ndim == 0:
            out[key] = int(arr)
        elif param is not None and param.shape and layer_type == "dense":
            out[key] = arr.astype(np.int64)      # (n, *sizes): a per-neuron array (validate checks the shape)
        else:
            out[key] = _from_netx_order(f"{where}/{key}", arr, shape, True).astype(np.int64)
    if marker is not None:
        return marker, netxform.FORMS[marker][1](where, out, NetFileError)
    return kind.name, out


def _geometry(group: h5py.Group, where: str, key: str, default: int) -> tuple[int, int]:
    if key not in group:
        return default, default
    arr = np.asarray(_dataset(group, where, key)).reshape(-1)
    if arr.dtype.kind not in "iuf" or arr.size not in (1, 2) or np.any(arr != np.round(arr)):
        raise NetFileError(f"{where}/{key}: expected one or two integers, got {arr.tolist()}")
    return (int(arr[0]), int(arr[-1]))


def _weights(group: h5py.Group, where: str, key: str, rows: int) -> np.ndarray:
    w = _integral(f"{where}/{key}", _dataset(group, where, key))
    if w.ndim == 1:                                  # netx reshapes a flat weight to (rows, -1)
        if rows < 1 or w.size % rows:
            raise NetFileError(f"{where}/{key}: {w.size} values cannot be {rows} rows")
        w = w.reshape(rows, -1)
    return w


def _read_layer(group: h5py.Group, where: str, ltype: str, prev_shape: Optional[tuple[int, ...]],
                input_bits: int, notes: Optional[list]) -> Layer:
    """One neuron layer (``dense``, ``dense_rec``, ``conv`` or an ``input`` with a neuron group)."""
    shape = tuple(int(v) for v in np.asarray(_dataset(group, where, "shape")).reshape(-1))
    conv = weight_rec = weight = None
    if ltype == "conv":
        weight = _integral(f"{where}/weight", _dataset(group, where, "weight"))
        if weight.ndim == 5 and weight.shape[-1] == 1:     # older slayer files: a trailing time dimension
            weight = weight[..., 0]
        if weight.ndim != 4:
            raise NetFileError(f"{where}/weight: expected 4 dimensions (out, in/groups, kh, kw), got shape "
                               f"{_shape_str(weight.shape)}")
        if prev_shape is None or len(prev_shape) != 3:
            raise NetFileError(f"{where}: a conv layer needs a [C, H, W] input: add an 'input' layer with the "
                               f"shape, or pass the input shape (C, H, W)")
        groups = _file_int(f"{where}/groups", _dataset(group, where, "groups")) if "groups" in group else 1
        conv = ConvSpec(in_shape=prev_shape, stride=_geometry(group, where, "stride", 1),
                        padding=_geometry(group, where, "padding", 0),
                        dilation=_geometry(group, where, "dilation", 1), groups=groups)
        if "kernelSize" in group and _geometry(group, where, "kernelSize", 0) != tuple(weight.shape[2:]):
            raise NetFileError(f"{where}/kernelSize: {list(_geometry(group, where, 'kernelSize', 0))} does not "
                               f"match the weight's {list(weight.shape[2:])}")
        for key, want in (("inChannels", prev_shape[0]), ("outChannels", weight.shape[0])):
            if key in group and _file_int(f"{where}/{key}", _dataset(group, where, key)) != want:
                raise NetFileError(f"{where}/{key}: {_file_int(where, _dataset(group, where, key))} does not "
                                   f"match {want}")
    elif ltype in ("dense", "dense_rec"):
        if "weight/imag" in group or ("weight" in group and isinstance(group["weight"], h5py.Group)):
            raise NetFileError(f"{where}/weight: complex (real/imag) synapses are not supported (RF neurons)")
        rows = int(np.prod(shape, dtype=np.int64)) if shape else 0
        weight = _weights(group, where, "weight", rows)
        if weight.ndim != 2:
            raise NetFileError(f"{where}/weight: expected 2 dimensions (out, in), got shape {_shape_str(weight.shape)}")
        if len(shape) != 1 or shape[0] != weight.shape[0]:
            raise NetFileError(f"{where}/shape: {list(shape)} does not match weight rows {weight.shape[0]}")
        for key, want in (("inFeatures", weight.shape[1]), ("outFeatures", weight.shape[0])):
            if key in group and _file_int(f"{where}/{key}", _dataset(group, where, key)) != want:
                n_in = _file_int(f"{where}/inFeatures", _dataset(group, where, "inFeatures")) \
                    if "inFeatures" in group else weight.shape[1]
                n_out = _file_int(f"{where}/outFeatures", _dataset(group, where, "outFeatures")) \
                    if "outFeatures" in group else weight.shape[0]
                raise NetFileError(f"{where}/weight: expected shape {_shape_str((n_out, n_in))} from "
                                   f"outFeatures/inFeatures, got {_shape_str(weight.shape)}")
        if ltype == "dense_rec":
            weight_rec = _weights(group, where, "weight_rec", weight.shape[0])
        if "delay" in group:
            raise NetFileError(f"{where}/delay: synaptic delays are not supported (DelayDense); export without delay")
    if "messageBits" in group:
        raise NetFileError(f"{where}/messageBits: not allowed (netx turns it into an object and run() fails)")
    if "neuron" not in group or not isinstance(group["neuron"], h5py.Group):
        raise NetFileError(f"{where}/neuron: missing group")
    tmp = Layer("", weight, {}, layer_type=ltype, weight_rec=weight_rec, conv=conv,
                shape=shape if ltype == "input" else None)
    nshape = tmp.neuron_shape
    if ltype == "conv" and tuple(shape) != tuple(nshape):
        raise NetFileError(f"{where}/shape: {list(shape)} does not match the convolution's output {list(nshape)}")
    neuron_type, neuron = _read_neuron(group["neuron"], f"{where}/neuron", ltype, nshape, notes)
    bias = None
    if "bias" in group and ltype != "input":
        raw = _integral(f"{where}/bias", _dataset(group, where, "bias"))
        bias = (_from_netx_order(f"{where}/bias", raw, nshape, True) if raw.ndim else
                np.full(int(np.prod(nshape)), int(raw), np.int64)).astype(np.int64)
    elif "bias" in group and notes is not None:
        notes.append(f"{where}/bias: ignored (netx does not apply an input layer's transform)")
    if ltype == "input" and "weight" in group and notes is not None:
        notes.append(f"{where}/weight: ignored (netx does not apply an input layer's transform)")
    weight_exp = _file_int(f"{where}/weightExp", _dataset(group, where, "weightExp")) if "weightExp" in group else 0
    weight_rec_exp = (_file_int(f"{where}/weightRecExp", _dataset(group, where, "weightRecExp"))
                      if "weightRecExp" in group else None)
    imb = (_file_int(f"{where}/inputMessageBits", _dataset(group, where, "inputMessageBits"))
           if "inputMessageBits" in group else int(input_bits))
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
                 input_message_bits=imb, float_params=float_params, layer_type=ltype, weight_rec=weight_rec,
                 conv=conv, shape=shape if ltype == "input" else None, weight_rec_exp=weight_rec_exp)


#: the file layer types silava reads; ``input`` without a neuron and ``flatten`` hold no neurons
READ_LAYER_TYPES = ("input", "flatten", "dense", "dense_rec", "conv")
#: netx's graded payload width of a sigma-delta layer (``messageBits`` default 16)
NETX_GRADED_BITS = 16


def read_layers(layer_group: h5py.Group, *, input_shape: Optional[tuple[int, ...]] = None,
                input_message_bits: int = 0, notes: Optional[list] = None) -> tuple[list[Layer], list[int]]:
    """The neuron layers of a netx-layout ``layer`` group, and each one's group index.

    ``input`` groups without a neuron give the source shape and ``flatten`` groups only mark the
    C-order flattening a dense layer reads anyway (their groups hold no neurons). A layer without
    an ``inputMessageBits`` key (a lava-dl file) takes ``input_message_bits`` if it is the first,
    else netx's rule: 0 after a spiking layer, 16 after a graded one. ``notes``: a foreign file's
    keys that netx ignores are dropped and named there (our files refuse unknown keys).
    """
    layers: list[Layer] = []
    groups: list[int] = []
    src = tuple(int(v) for v in input_shape) if input_shape is not None else None
    pending_flatten = False
    for g in _layer_indices(layer_group.keys()):
        where = f"layer/{g}"
        group = layer_group[str(g)]
        if not isinstance(group, h5py.Group):
            raise NetFileError(f"{where}: expected a group")
        ltype = _decode(_dataset(group, where, "type"))
        if ltype not in READ_LAYER_TYPES:
            raise NetFileError(f"{where}/type: unsupported layer type {ltype!r} (silava reads "
                               f"{', '.join(READ_LAYER_TYPES)}; netx itself cannot run pool, convT, unpool, "
                               f"average or concat)")
        if ltype == "flatten":
            if not layers and src is None:
                raise NetFileError(f"{where}: flatten before any layer")
            pending_flatten = True
            continue
        if ltype == "input" and "neuron" not in group:
            if layers:
                raise NetFileError(f"{where}: an input group can only come first")
            src = tuple(int(v) for v in np.asarray(_dataset(group, where, "shape")).reshape(-1))
            continue
        if ltype == "input" and layers:
            raise NetFileError(f"{where}/type: an input layer can only be the first layer")
        if pending_flatten and ltype not in ("dense", "dense_rec"):
            raise NetFileError(f"{where}/type: a flatten group must be followed by a dense layer, got {ltype}")
        pending_flatten = False
        prev_shape = layers[-1].neuron_shape if layers else src
        if layers:
            bits = 0 if KINDS[layers[-1].neuron_type].spiking else NETX_GRADED_BITS
        else:
            bits = int(input_message_bits)
        layer = _read_layer(group, where, ltype, prev_shape, bits, notes)
        if not layers and src is not None and ltype in ("dense", "dense_rec") \
                and layer.in_features != int(np.prod(src)):
            raise NetFileError(f"{where}/inFeatures: {layer.in_features} does not match the input shape "
                               f"{list(src)}")
        layers.append(layer)
        groups.append(g)
    if not layers:
        raise NetFileError("layer: no neuron layers")
    return layers, groups


def remap_locations(message: str, groups: list[int]) -> str:
    """Rewrite ``layer/{i}`` (network layer index) as ``layer/{g}`` (file group) in a message."""
    def sub(m: "re.Match[str]") -> str:
        i = int(m.group(1))
        return f"layer/{groups[i]}" if 0 <= i < len(groups) else m.group(0)
    return re.sub(r"layer/(\d+)", sub, message)


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
                hint = ("a lava-dl netx file? `silava sim` reads those, or silava.export.netx_import.read_netx"
                        if fmt is None and "layer" in f else "not a silava model.net; export it with export/to_lava.py")
                raise NetFileError(f"format: expected {FORMAT!r}, got {fmt!r} ({hint})")
            version = f.attrs.get("format_version")
            if not _is_int_scalar(version) or int(version) not in READABLE_VERSIONS:
                newer = _is_int_scalar(version) and int(version) > FORMAT_VERSION
                raise NetFileError(f"format_version: expected {' or '.join(map(str, READABLE_VERSIONS))}, got "
                                   f"{version!r} ({'written by a newer silava: upgrade silava' if newer else 'use the silava version that wrote it'}, "
                                   f"or export again)")
            meta = _read_meta(f)
            if "layer" not in f or not isinstance(f["layer"], h5py.Group):
                raise NetFileError("layer: missing group")
            layers, groups = read_layers(f["layer"])
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
        raise NetFileError(f"{name}: {remap_locations(str(exc), groups)}") from None
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
                or int(la.input_message_bits) != int(lb.input_message_bits) or la.layer_type != lb.layer_type \
                or la.conv != lb.conv or la.neuron_shape != lb.neuron_shape or la.weight_rec_exp != lb.weight_rec_exp:
            return False
        if not (_values_equal(la.weight, lb.weight) and _values_equal(la.bias, lb.bias)
                and _values_equal(la.weight_rec, lb.weight_rec)
                and _values_equal(la.neuron, lb.neuron) and _values_equal(la.float_params, lb.float_params)):
            return False
    fields_a, fields_b = vars(a.meta), vars(b.meta)
    return all(_values_equal(fields_a[k], fields_b[k]) for k in fields_a)
