"""Integer emulation of a quantized network in torch, logical timeline; differentiable for QAT.

An implementation of docs/fixed_point.md §1-§3 and §5 ("logical" timeline) that is
independent of ``hwsim`` (no numpy kernels, no imports of export/hwsim/lava): the
equivalence test ``tests/test_equiv_intsim.py`` compares the two step by step. The same
code is the forward pass of quantization-aware training (:mod:`train.qat`), so that test
also proves the QAT forward bit-exact.

Number representation: every value is a **float64 tensor holding an integer**. This is
exact: all sums and products stay far below 2^53 (weights |w| <= 256, inputs <= 255,
constants |k| <= 2^24, states |x| < 2^24 + 2^22, so |k*x| < 2^49), and dividing an integer by
2^D is exact in float64, so ``trunc(k*x / 2^D)`` is the integer ``sign(k*x) * (|k*x| >> D)``.
:func:`simulate` returns int64 tensors.

Primitives (values; gradients below)::

    mul(k, x, D) = trunc(k*x / 2^D) = sign(k*x) * (|k*x| >> D)      truncation toward zero
    sat(x)       = clip(x, -(2^23 - 1), 2^23 - 1)                  counted ("saturate")
    wrap(x)      = x - 2^24 if x > 2^23; x + 2^24 if x <= -2^23 (once)   counted ("wrap")
    wrap32(x)    = ((x + 2^31) mod 2^32) - 2^31     Lava's int32 arithmetic   counted ("int32_overflow")

Synapses (Lava ``Dense``)::

    x' = x != 0                                   binary input (inputMessageBits = 0)
    x' = clip(x, 0, 2^bits - 1)                   graded input (clipped elements counted: "input_clip")
    acc = sum_j w_ij x'_j ;  a = acc << e (e > 0) or acc >> -e = floor(acc / 2^-e) (e <= 0)
    graded input: acc = wrap32(acc) first (Lava computes W·s in int32); then a = wrap32(a)
    (Lava's Dense sends a through an int32 port)

A layer fed by a spiking layer gets the spikes themselves (0/1, so ``x != 0`` is the
identity); this keeps the gradient path through the spikes for QAT.

Neurons, with A = a << 6, B = bias << 6, VTH = vThMant << 6:

* CUBA:   U = wrap(wrap32(mul(4096 - iDecay, U, 12) + wrap32(A)));  V = sat(wrap32(mul(4096 - vDecay, V, 12) + U + B));
          s = V > VTH;  V[s] = 0      (Lava's LIF computes a << 6 and both sums in int32)
* SILIF:  W = sat(mul(beta, W, D) + mul(coupling, U, D) + spikeAdapt * P);
          U = sat(mul(alpha, U - P*VTH, D) - mul(2^D - alpha, W, D) + A + B);  s = U > VTH;  P = s
* CSILIF: Xr = X - P*VTH;  X = sat(mul(cos, Xr, D) - mul(sin, Y, D) + A + B);
          Y = sat(mul(sin, Xr, D) + mul(cos, Y, D));  s = X > VTH;  P = s
* LI:     V = sat(mul(alpha, V, D) + A + B)      (output = V)
* HYBRID: payload from the carried state (spiking 2^q (V > VTH), graded LIF rnd(clip(V, 0, S) / 2^(s-q)),
          tanh tanh_q(A + B)); V = mul(S - G, sat(mul(beta, V, D) + mul(2^D - beta, U, D)), s) with G the
          detached reset (S on a spike, clip(V, 0, S) for a resetting graded unit); U = sat(mul(alpha, U, D) + A + B)
* LI2:    U = sat(mul(alpha, U, D) + A + B);  V = sat(mul(beta, V, D) + mul(2^D - beta, U, D))   (output = V)

Logical timeline: T steps, layer l at step t sees layer l-1's output of the same step,
all states start at zero. The network is feed-forward, so each layer runs over all T steps
(one matrix product for its synaptic input) before the next one.

Gradients (only where a tensor requires grad; the values never change): every rounding,
truncation, floor, clip, saturation and wrap is a straight-through estimator,
``op(x) -> op(x) + (x - x.detach())`` (value ``op(x)``, derivative 1), so e.g.
``d mul(k, x, D) / dk = x / 2^D``. The spike ``s = U > VTH`` uses a surrogate derivative
(``train.neurons.surrogate``, the trained model's kind and scale) of the argument
``(U - VTH) / VTH``. In float units (``u = U / S``) that is ``u - 1`` for SILIF and CUBA and
``2x - 1`` for CSILIF (VTH = S/2): exactly the argument the float neurons use.

The network is read duck-typed: anything with ``.layers`` whose items have
``neuron_type``, ``weight`` (out, in), ``neuron`` (dict of the file keys), ``bias``,
``weight_exp`` and ``input_message_bits`` (an ``silava.core.netfile.Network``), or a list of
plain dicts with the same keys, or a list of :class:`IntLayer`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from silava.core.fixedpoint import STATE_MAX
from silava.core.kinds import KINDS, spiking_kinds
from silava.core.kinds.hybrid import TANH_STEP_BITS, TANH_TABLE, TANH_TABLE_BITS
from silava.train.neurons.surrogate import SpikeFunction

WRAP = 2**24
ACT_SHIFT = 6
DTYPE = torch.float64
#: keys that are one value per layer in every kind (layer settings, netx's fixed keys): Python ints
INT_KEYS = tuple(dict.fromkeys(p.key for k in KINDS.values() for p in k.params if not p.per_neuron
                                and not any(q.key == p.key and q.per_neuron for j in KINDS.values() for q in j.params)))

#: state names per neuron type, and the spiking types (the kind declarations, silava.core.kinds)
STATE_NAMES: dict[str, tuple[str, ...]] = {name: kind.state_names for name, kind in KINDS.items()}
SPIKING = spiking_kinds()


@dataclass
class IntLayer:
    """Integer parameters of one layer as float64 tensors holding integers.

    ``params`` maps the file keys of docs/fixed_point.md §3 to per-neuron tensors; the
    scalars ``decayBits``, ``stateFracBits``, ``vThMant`` when it is one value (and CUBA's ``refDelay``,
    ``gradedSpike``) are Python ints. The tensors may require grad (built by ``train.qat``).
    """

    neuron_type: str
    weight: torch.Tensor          # (out, in); conv (out, in/groups, kh, kw); an input layer: empty
    bias: torch.Tensor            # (out,) or scalar 0
    weight_exp: int
    input_message_bits: int
    params: dict[str, Any]
    layer_type: str = "dense"
    weight_rec: Optional[torch.Tensor] = None     # dense_rec: (out, out)
    weight_rec_exp: Optional[int] = None          # dense_rec: its own exponent (None: weight_exp)
    conv: Any = None                              # conv: the geometry (silava.core.netfile.ConvSpec)
    n_out: int = 0                                # neurons (conv: C·H·W; an input layer: its size)

    @property
    def out_features(self) -> int:
        return int(self.n_out or self.weight.shape[0])


@dataclass
class IntSimResult:
    """Per layer outputs and states over time (``[B, T, n]``; int64 from :func:`simulate`)."""

    outputs: list[torch.Tensor]                    # spikes 0/1 (spiking types) or V (LI)
    states: list[dict[str, torch.Tensor]]          # state name -> [B, T, n] (after each step)
    neuron_types: list[str] = field(default_factory=list)
    counters: list[dict[str, int]] = field(default_factory=list)

    @property
    def spikes(self) -> list[torch.Tensor]:
        """Outputs of the spiking layers (every layer but a non-spiking LI)."""
        return [o for o, t in zip(self.outputs, self.neuron_types) if t in SPIKING]

    @property
    def readout(self) -> torch.Tensor:
        """The last layer's output (the readout V for an LI readout)."""
        return self.outputs[-1]


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _tensor(value: Any) -> torch.Tensor:
    """Integer-valued data as float64 (int64 first, so that e.g. uint8 or float inputs become integers)."""
    if isinstance(value, torch.Tensor) and value.dtype == DTYPE:
        return value
    return torch.as_tensor(value).to(torch.int64).to(DTYPE)


def layer_params(layer: Any) -> IntLayer:
    """Convert one layer (netfile ``Layer``, dict or :class:`IntLayer`) to float64 tensors."""
    if isinstance(layer, IntLayer):
        return layer
    neuron = dict(_get(layer, "neuron"))
    params: dict[str, Any] = {}
    for key, value in neuron.items():
        if isinstance(value, str):
            continue                      # a string key (slayer's activation name) has no arithmetic
        if key in INT_KEYS or (key == "vThMant" and np.ndim(value) == 0):
            params[key] = int(value)      # a per-neuron key may also be an array (e.g. vThMant)
        else:
            params[key] = _tensor(value)
    bias = _get(layer, "bias")
    weight = _get(layer, "weight")
    weight_rec = _get(layer, "weight_rec")
    n_out = _get(layer, "out_features")
    return IntLayer(
        neuron_type=str(_get(layer, "neuron_type")),
        weight=_tensor(np.zeros((0, 0)) if weight is None else weight),
        bias=_tensor(0) if bias is None else _tensor(bias),
        weight_exp=int(_get(layer, "weight_exp", 0) or 0),
        input_message_bits=int(_get(layer, "input_message_bits", 0) or 0),
        params=params,
        layer_type=str(_get(layer, "layer_type", "dense") or "dense"),
        weight_rec=None if weight_rec is None else _tensor(weight_rec),
        weight_rec_exp=None if _get(layer, "weight_rec_exp") is None else int(_get(layer, "weight_rec_exp")),
        conv=_get(layer, "conv"),
        n_out=int(n_out) if n_out is not None else 0,
    )


# --------------------------------------------------------------------------- primitives

def ste(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator: the forward value ``value`` (exactly), the gradient of ``x``.

    ``value + (x - x.detach())``: the bracket is exactly 0, so the value is not perturbed.
    """
    if not x.requires_grad:
        return value
    return value + (x - x.detach())


def mul(k: torch.Tensor | int, x: torch.Tensor, bits: int) -> torch.Tensor:
    """``trunc(k*x / 2^bits)`` = ``sign(k*x) * (|k*x| >> bits)``: product on the 2^bits grid, truncated toward zero."""
    kx = x * k
    value = torch.div(kx.detach(), float(2**bits), rounding_mode="trunc")  # exact: kx / 2^bits is exact
    if not kx.requires_grad:
        return value
    return ste(value, kx / float(2**bits))


def mul_exact(k: torch.Tensor | int, x: torch.Tensor, bits: int) -> torch.Tensor:
    """:func:`mul` with the product formed in int64: exact where ``|k·x|`` exceeds 2^53 (the multi-output
    neuron's input term ``mul(inputVec, A + B, D)``: 2^24 · 2^37); the value is then below 2^53 again."""
    kx = x * k
    ki = k.detach().to(torch.int64) if isinstance(k, torch.Tensor) else int(k)
    prod = x.detach().to(torch.int64) * ki
    value = torch.div(prod, 2**bits, rounding_mode="trunc").to(DTYPE)
    if not kx.requires_grad:
        return value
    return ste(value, kx / float(2**bits))


def floor_div(x: torch.Tensor, shift: int) -> torch.Tensor:
    """``x >> shift`` = ``floor(x / 2^shift)`` (arithmetic shift of an integer)."""
    p = x / float(2**shift)
    return ste(torch.floor(p.detach()), p)


class Count:
    """Event counters of one layer (``None`` counter: counting switched off)."""

    def __init__(self) -> None:
        self.c: dict[str, int] = {}

    def add(self, name: str, n: int | torch.Tensor) -> None:
        self.c[name] = self.c.get(name, 0) + int(n)


def wrap32(x: torch.Tensor, count: Optional[Count]) -> torch.Tensor:
    """Two's-complement wrap to int32 (Lava's int32 numpy arithmetic); wrapped elements are counted."""
    xd = x.detach()
    out = (xd < -(2**31)) | (xd > 2**31 - 1)
    if not bool(out.any()):
        return x
    if count is not None:
        count.add("int32_overflow", out.sum())
    return ste(torch.remainder(xd + 2**31, 2**32) - 2**31, x)


def sat(x: torch.Tensor, count: Optional[Count]) -> torch.Tensor:
    """Clip to the signed 24-bit range ``+-(2^23 - 1)``; clipped elements are counted."""
    xd = x.detach()
    if count is not None:
        count.add("saturate", ((xd > STATE_MAX) | (xd < -STATE_MAX)).sum())
    return ste(torch.clamp(xd, -STATE_MAX, STATE_MAX), x)


def wrap(x: torch.Tensor, count: Optional[Count]) -> torch.Tensor:
    """Lava LIF current wrap (applied once): ``x - 2^24`` if ``x > 2^23``; ``x + 2^24`` if ``x <= -2^23``."""
    xd = x.detach()
    hi, lo = xd > 2**23, xd <= -(2**23)
    if count is not None:
        count.add("wrap", (hi | lo).sum())
    return ste(torch.where(hi, xd - WRAP, torch.where(lo, xd + WRAP, xd)), x)


SpikeFn = Callable[[torch.Tensor, Any], torch.Tensor]


def hard_spike(v: torch.Tensor, vth: Any) -> torch.Tensor:
    """``v > vth`` as 0./1. (no gradient)."""
    return (v > vth).to(v.dtype)


def surrogate_spike(kind: str = "boxcar", scale: float = 1.0) -> SpikeFn:
    """``s = v > vth`` with the surrogate derivative ``sigma'((v - vth) / vth)`` of ``train.neurons.surrogate``."""
    def spike(v: torch.Tensor, vth: Any) -> torch.Tensor:
        if not v.requires_grad:
            return hard_spike(v, vth)
        return SpikeFunction.apply((v - vth) / vth, kind, scale)
    return spike


def source(layer: IntLayer, x: torch.Tensor, count: Optional[Count]) -> torch.Tensor:
    """The network input as the first layer receives it: ``x != 0`` (binary) or clipped to
    ``[0, 2^bits − 1]`` (graded; clipped elements counted)."""
    if layer.input_message_bits <= 0:
        return (x != 0).to(DTYPE)
    top = 2**layer.input_message_bits - 1
    if count is not None:
        count.add("input_clip", ((x < 0) | (x > top)).sum())
    return torch.clamp(x, 0, top)


def wrap24_conv(x: torch.Tensor, count: Optional[Count]) -> torch.Tensor:
    """Lava Conv's ``signed_clamp(x, 24)``: a two's-complement wrap to 24 bits; wrapped elements counted."""
    xd = x.detach()
    out = (xd < -(2**23)) | (xd > 2**23 - 1)
    if not bool(out.any()):
        return x
    if count is not None:
        count.add("conv_wrap", out.sum())
    return ste(torch.remainder(xd + 2**23, 2**24) - 2**23, x)


def conv(layer: IntLayer, x: torch.Tensor, count: Optional[Count], *, graded: bool) -> torch.Tensor:
    """Lava's fixed-point Conv over all steps (PyTorch cross-correlation, no weight exponent, int32
    cast and 24-bit wrap): ``x [B, T, C·H·W]`` (flat C order) -> ``[B, T, C_out·H_out·W_out]``.
    float64 ``conv2d`` is exact here (integer products and sums below 2^53)."""
    spec = layer.conv
    b, t, _ = x.shape
    c, h, w = spec.in_shape
    xin = x if graded else (x != 0).to(DTYPE)
    out = torch.nn.functional.conv2d(xin.reshape(b * t, c, h, w), layer.weight, stride=tuple(spec.stride),
                                     padding=tuple(spec.padding), dilation=tuple(spec.dilation), groups=spec.groups)
    out = wrap32(out.reshape(b, t, -1), count)        # Lava casts its float64 result to int32
    return wrap24_conv(out, count)


def synaptic(layer: IntLayer, x: torch.Tensor, count: Optional[Count], *, first: bool, prev_spiking: bool
             ) -> torch.Tensor:
    """What a layer's synapses deliver over all steps (dense, dense_rec's input Dense, conv; an
    input layer's neurons take the payload itself). ``first``: ``x`` is the network input."""
    if layer.layer_type == "input":
        return source(layer, x, count)
    if layer.layer_type == "conv":
        xin = source(layer, x, count) if first else x
        return conv(layer, xin, count, graded=layer.input_message_bits > 0)
    if not first and layer.input_message_bits > 0:       # graded payloads of a hidden layer: as they are
        return _dense_sum(layer.weight, layer.weight_exp, x, graded=True, count=count)
    return dense(layer, x, count, from_spikes=prev_spiking and not first)


def _dense_sum(weight: torch.Tensor, e: int, x: torch.Tensor, *, graded: bool, count: Optional[Count]) -> torch.Tensor:
    acc = torch.matmul(x, weight.T)
    if graded:
        acc = wrap32(acc, count)          # Lava: int32 weights.dot(int32 payloads)
    if e > 0:
        acc = acc * float(2**e)
    elif e < 0:
        acc = floor_div(acc, -e)
    return wrap32(acc, count)             # Lava's Dense a_out port is int32


def dense(layer: IntLayer, x: torch.Tensor, count: Optional[Count], *, from_spikes: bool = False) -> torch.Tensor:
    """Lava Dense over all steps: ``a = (sum_j w_ij x_j) << e`` (or ``>> -e``, floor).

    ``x [B, T, in]``: binary (``x != 0``) or clipped graded payloads; ``from_spikes``: ``x``
    are a spiking layer's outputs (0/1, or dropout-scaled in QAT training), used as they are.
    """
    if layer.input_message_bits > 0:
        top = 2**layer.input_message_bits - 1
        if count is not None:
            count.add("input_clip", ((x < 0) | (x > top)).sum())
        xin = x if from_spikes else torch.clamp(x, 0, top)
    elif from_spikes:
        xin = x
    else:
        xin = (x != 0).to(DTYPE)
    acc = torch.matmul(xin, layer.weight.T)
    if layer.input_message_bits > 0:
        acc = wrap32(acc, count)          # Lava: int32 weights.dot(int32 payloads)
    e = layer.weight_exp
    if e > 0:
        acc = acc * float(2**e)
    elif e < 0:
        acc = floor_div(acc, -e)
    return wrap32(acc, count)             # Lava's Dense a_out port is int32


# --------------------------------------------------------------------------- neuron steps

def step_cuba(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """Lava LIF (PyLifModelBitAcc): current wraps, voltage saturates, V reset to 0 on a spike."""
    vth = p["vThMant"] * 64
    U = wrap(wrap32(mul(4096 - p["iDecay"], st["U"], 12) + wrap32(A, count), count), count)
    V = sat(wrap32(mul(4096 - p["vDecay"], st["V"], 12) + U + B, count), count)
    s = spike(V, vth)
    V = V * (1 - s)
    return s, {"U": U, "V": V}


def step_silif(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """SiLIF: adaptation W first (uses the old U and P), then the membrane U with the new W."""
    D = p["decayBits"]
    vth = p["vThMant"] * 64
    U, W, P = st["U"], st["W"], st["P"]
    W = sat(mul(p["beta"], W, D) + mul(p["coupling"], U, D) + p["spikeAdapt"] * P, count)
    U = sat(mul(p["alpha"], U - P * vth, D) - mul(2**D - p["alpha"], W, D) + A + B, count)
    s = spike(U, vth)
    return s, {"U": U, "W": W, "P": s}


def step_csilif(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """C-SiLIF: half reset on X, then a rotation by (cos, sin) on the 2^D grid, each product truncated."""
    D = p["decayBits"]
    vth = p["vThMant"] * 64
    X, Y, P = st["X"], st["Y"], st["P"]
    c, s_ = p["cosDecay"], p["sinDecay"]
    Xr = X - P * vth
    Xn = sat(mul(c, Xr, D) - mul(s_, Y, D) + A + B, count)
    Yn = sat(mul(s_, Xr, D) + mul(c, Y, D), count)
    s = spike(Xn, vth)
    return s, {"X": Xn, "Y": Yn, "P": s}


def step_li(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """Leaky integrator readout; the output is the state V."""
    V = sat(mul(p["alpha"], st["V"], p["decayBits"]) + A + B, count)
    return V, {"V": V}


def step_rf(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """RF: rotation by (cos, sin) on the 2^D grid, then the reset subtracts VTH from X (after the rotation)."""
    D = p["decayBits"]
    vth = p["vThMant"] * 64
    X, Y, P = st["X"], st["Y"], st["P"]
    c, s_ = p["cosDecay"], p["sinDecay"]
    Xn = sat(mul(c, X, D) - mul(s_, Y, D) - P * vth + A + B, count)
    Yn = sat(mul(s_, X, D) + mul(c, Y, D), count)
    s = spike(Xn, vth)
    return s, {"X": Xn, "Y": Yn, "P": s}


def _rows(k: torch.Tensor, x: torch.Tensor, D: int) -> torch.Tensor:
    """``Σ_j mul(k[n, i, j], x[b, n, j], D)`` -> ``[b, n, i]``: each product truncated, then summed."""
    return mul(k, x.unsqueeze(-2), D).sum(-1)


def step_multiout(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """Multi-output neuron: the reset action (one step late), the transition row by row, M readouts, the
    reset condition (any output, or a dedicated readout). ``X [b, n, N]``, ``P [b, n, M]``, ``R [b, n]``;
    the output is ``[b, n·M]`` (neuron-major)."""
    D, N = p["decayBits"], p["nStates"]
    vth = p["vThMant"] * 64
    vth_m = vth.unsqueeze(-1) if isinstance(vth, torch.Tensor) and vth.dim() else vth
    X, P, R = st["X"], st["P"], st["R"]
    rv = p["resetVec"]
    if "resetMat" in p:
        rv = rv + (p["resetMat"] * P.unsqueeze(-2)).sum(-1)
    Z = X - R.unsqueeze(-1) * rv
    pre = _rows(p["transition"], Z, D)
    if "stateRaw" in p:
        pre = pre + _rows(p["stateRaw"], X, D)
    if "spikeFeedback" in p:
        pre = pre + (p["spikeFeedback"] * P.unsqueeze(-2)).sum(-1)
    pre = pre + mul_exact(p["inputVec"], (A + B).unsqueeze(-1), D)
    if "stateNew" in p:
        L = p["stateNew"]
        rows: list[torch.Tensor] = []
        for k in range(N):
            v = pre[..., k]
            if k:
                v = v + mul(L[:, k, :k], torch.stack(rows, -1), D).sum(-1)
            rows.append(sat(v, count))
        Xn = torch.stack(rows, -1)
    else:
        Xn = sat(pre, count)
    Y = sat(_rows(p["readout"], Xn, D), count)
    s = spike(Y, vth_m)
    if "resetRead" in p:
        q = sat(mul(p["resetRead"], Xn, D).sum(-1), count)
        Rn = spike(q, vth)
    else:
        Rn = 1 - torch.prod(1 - s, dim=-1)
    return s.flatten(-2), {"X": Xn, "P": s, "R": Rn}


SDNN_SHIFT = 12      # netx: spike_exp + state_exp = 6 + 6
SDNN_STATE_EXP = 6
I32_MIN = -(2**31)


def _delta(act: torch.Tensor, st: dict, vth: Any, count: Optional[Count]) -> tuple[torch.Tensor, torch.Tensor]:
    """Lava 0.10.0 delta encoding in int32: ``(payload s >> 6, new residue)``."""
    delta = wrap32(act - st["ACT"] + st["RESIDUE"], count)
    mag = torch.where(delta == I32_MIN, delta, delta.abs())      # int32: |−2^31| = −2^31
    s = torch.where(mag >= vth, delta, torch.zeros_like(delta))
    residue = wrap32(delta - s, count)
    return torch.floor(s / float(2**SDNN_STATE_EXP)), residue


def step_delta(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """lava-dl's sigma-delta input (Lava ``Delta``): the payload ``x`` scaled by 2^12 (``A`` is ``x << 6``)."""
    act = wrap32(A * float(2**(SDNN_SHIFT - ACT_SHIFT)), count)
    out, residue = _delta(act, st, p["vThMant"] * float(2**SDNN_SHIFT), count)
    return out, {"ACT": act, "RESIDUE": residue}


def step_sigma_delta(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """lava-dl's sigma-delta ReLU (Lava ``SigmaDelta``): integrate ``a`` (``A >> 6``), ReLU, delta-encode."""
    sigma = wrap32(st["SIGMA"] + A / float(2**ACT_SHIFT), count)
    act = torch.clamp(wrap32(sigma + B * float(2**(SDNN_SHIFT - ACT_SHIFT)), count), min=0)
    out, residue = _delta(act, st, p["vThMant"] * float(2**SDNN_SHIFT), count)
    return out, {"SIGMA": sigma, "ACT": act, "RESIDUE": residue}


def step_sigma(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """lava-dl's sigma-delta output (Lava ``Sigma``): the running sum of ``a``, sent every step."""
    sigma = wrap32(st["SIGMA"] + A / float(2**ACT_SHIFT), count)
    return sigma, {"SIGMA": sigma}


_TANH = torch.tensor(TANH_TABLE + (TANH_TABLE[-1],), dtype=DTYPE)


def round_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``(x + 2^(bits-1)) >> bits`` = ``floor(x / 2^bits + 1/2)`` (round half up); identity for ``bits = 0``."""
    if bits <= 0:
        return x
    p = x / float(2**bits)
    return ste(torch.floor(p.detach() + 0.5), p)


def tanh_fx(X: torch.Tensor, s: int, q: int) -> torch.Tensor:
    """The neurocore tanh (silava/core/kinds/hybrid.py): |X| on segments of 2^(s-3) state units,
    linear interpolation in the 2^16 table, the magnitude rounded to the 2^q payload grid, the sign
    put back. Gradient: float tanh's (straight through the table)."""
    h = s - TANH_STEP_BITS
    Xd = X.detach()
    mag = Xd.abs()
    k = torch.clamp(torch.div(mag, float(2**h), rounding_mode="floor"), max=len(TANH_TABLE) - 1)
    frac = torch.where(k >= len(TANH_TABLE) - 1, torch.zeros_like(mag), mag - k * float(2**h))
    idx = k.to(torch.int64)
    table = _TANH.to(X.device)
    lo, hi = table[idx], table[idx + 1]
    y16 = lo + torch.div((hi - lo) * frac, float(2**h), rounding_mode="floor")
    y = torch.floor((y16 + float(2**(TANH_TABLE_BITS - q - 1))) / float(2**(TANH_TABLE_BITS - q))) \
        if q < TANH_TABLE_BITS else y16
    value = torch.where(Xd < 0, -y, y)
    if not X.requires_grad:
        return value
    return ste(value, torch.tanh(X / float(2**s)) * float(2**q))


def step_hybrid(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """The hybrid layer: every unit's payload from the state carried in (spiking 2^q·(V > VTH); graded LIF
    clip(V, 0, S) rounded to the 2^q grid; tanh of this step's input), then the LIF units integrate with a
    multiplicative reset by their output (detached, as the reference); tanh units keep no state."""
    D, s, q = p["decayBits"], p["stateFracBits"], p["payloadFracBits"]
    S = float(2**s)
    unit = p["unit"]
    is_spk, is_grd, is_tanh = (unit == 1).to(DTYPE), (unit == 0).to(DTYPE), (unit == 2).to(DTYPE)
    U, V = st["U"], st["V"]
    spk = spike(V, p["vThMant"] * 64) * is_spk
    g = ste(torch.clamp(V.detach(), 0, S), V)
    reset = (spk * S + g * p["softReset"] * is_grd).detach()
    X = A + B
    payload = spk * float(2**q) + round_shift(g, s - q) * is_grd
    if bool(is_tanh.any()):
        payload = payload + tanh_fx(X, s, q) * is_tanh
    Vn = sat(mul(p["beta"], V, D) + mul(2**D - p["beta"], U, D), count)
    V_new = mul(S - reset, Vn, s)
    U_new = sat(mul(p["alpha"], U, D) + X, count)
    return payload, {"U": U_new * (1 - is_tanh), "V": V_new * (1 - is_tanh)}


def step_li2(A: torch.Tensor, st: dict, p: dict, B: torch.Tensor, count: Optional[Count], spike: SpikeFn):
    """Two-filter readout: the current U integrates the input, V follows U; the output is V."""
    D = p["decayBits"]
    U = sat(mul(p["alpha"], st["U"], D) + A + B, count)
    V = sat(mul(p["beta"], st["V"], D) + mul(2**D - p["beta"], U, D), count)
    return V, {"U": U, "V": V}


STEPS: dict[str, Callable] = {"CUBA": step_cuba, "SILIF": step_silif, "CSILIF": step_csilif, "LI": step_li,
                              "RF": step_rf, "MULTIOUT": step_multiout, "DELTA": step_delta, "SIGMA_DELTA": step_sigma_delta, "SIGMA": step_sigma,
                              "HYBRID": step_hybrid, "LI2": step_li2}


# --------------------------------------------------------------------------- network

def run_layer(layer: IntLayer, a: torch.Tensor, *, spike: SpikeFn = hard_spike, count: Optional[Count] = None,
              record: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run one layer's neurons over time on its synaptic output ``a [B, T, n]``, from zero state.

    A ``dense_rec`` layer adds, at each step, its recurrent Dense of its own output one step
    earlier (zero at the first step), the sum wrapped to int32 (Lava's InPort adds the two int32
    messages). Returns the output ``[B, T, n]`` (spikes or V) and, if ``record``, the states
    after each step.
    """
    batch, steps, n = a.shape
    B = layer.bias * float(2**ACT_SHIFT)
    kind = KINDS[layer.neuron_type]
    dims = kind.layer_dims(layer.params)
    st = {state.name: torch.zeros(batch, n, *kind.extra_shape(state, dims), dtype=DTYPE, device=a.device)
          for state in kind.states}
    step = STEPS[layer.neuron_type]
    outs: list[torch.Tensor] = []
    rec: dict[str, list[torch.Tensor]] = {name: [] for name in st}
    graded_out = layer.neuron_type not in SPIKING
    for a_t in a.unbind(1):
        if layer.weight_rec is not None and outs:
            e_rec = layer.weight_exp if layer.weight_rec_exp is None else layer.weight_rec_exp
            a_t = wrap32(a_t + _dense_sum(layer.weight_rec, e_rec, outs[-1], graded=graded_out,
                                          count=count), count)
        h, st = step(a_t * float(2**ACT_SHIFT), st, layer.params, B, count, spike)
        outs.append(h)
        if record:
            for name, value in st.items():
                rec[name].append(value)
    states = {k: torch.stack(v, dim=1) for k, v in rec.items()} if record else {}
    return torch.stack(outs, dim=1), states


def run(layers: Sequence[IntLayer], x: torch.Tensor, *, record: bool = False, count: bool = True,
        spikes: Optional[Sequence[SpikeFn]] = None,
        between: Optional[Sequence[Optional[Callable[[torch.Tensor], torch.Tensor]]]] = None) -> IntSimResult:
    """Run integer layers on ``x [B, T, F]`` (float64 integers) on the logical timeline; float64 results.

    ``spikes[i]``: spike function of layer i (default :func:`hard_spike`; QAT passes
    :func:`surrogate_spike`). ``between[i]``: applied to layer i's output before layer i+1 sees
    it (QAT: dropout in training). ``count``: keep the event counters (costs a sync per step).
    """
    counts = [Count() if count else None for _ in layers]
    outputs: list[torch.Tensor] = []
    states: list[dict[str, torch.Tensor]] = []
    h, prev_spiking = x, False
    for i, layer in enumerate(layers):
        a = synaptic(layer, h, counts[i], first=i == 0, prev_spiking=prev_spiking)
        spike = spikes[i] if spikes is not None else hard_spike
        out, st = run_layer(layer, a, spike=spike, count=counts[i], record=record)
        outputs.append(out)
        states.append(st)
        h = out
        if between is not None and between[i] is not None:
            h = between[i](h)
        prev_spiking = layer.neuron_type in SPIKING
    return IntSimResult(outputs=outputs, states=states, neuron_types=[l.neuron_type for l in layers],
                        counters=[c.c if c is not None else {} for c in counts])


def simulate(net: Any, x: Any, *, record: bool = True) -> IntSimResult:
    """Run the integer network on ``x`` (int ``[B, T, F]``) on the logical timeline.

    ``net``: an ``silava.core.netfile.Network`` (duck-typed: ``.layers``) or a list of layers.
    Returns every layer's output and (if ``record``) state after each step, int64 ``[B, T, n]``,
    plus per-layer counters (``saturate``, ``wrap``, ``input_clip``).
    """
    raw_layers: Sequence[Any] = net if isinstance(net, (list, tuple)) else _get(net, "layers")
    layers = [layer_params(layer) for layer in raw_layers]
    x = _tensor(x)
    if x.dim() != 3:
        raise ValueError(f"input must be [B, T, F], got shape {tuple(x.shape)}")
    with torch.no_grad():
        res = run(layers, x, record=record, count=True)
    res.outputs = [o.to(torch.int64) for o in res.outputs]
    res.states = [{k: v.to(torch.int64) for k, v in st.items()} for st in res.states]
    return res
