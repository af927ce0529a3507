"""Integer emulation of a quantized network in torch (int64), logical timeline.

An implementation of docs/fixed_point.md §1-§3 and §5 ("logical" timeline) that is
independent of ``hwsim`` (no numpy kernels, no imports of export/hwsim/lava): the
equivalence test ``tests/test_equiv_intsim.py`` compares the two step by step.

Primitives (all int64)::

    mul(k, x, D) = sign(k*x) * (|k*x| >> D)            truncation toward zero
    sat(x)       = clip(x, -(2^23 - 1), 2^23 - 1)      counted ("saturate")
    wrap(x)      = x - 2^24 if x > 2^23; x + 2^24 if x <= -2^23 (once)   counted ("wrap")

Synapses (Lava ``Dense``)::

    x' = x != 0                                   binary input (inputMessageBits = 0)
    x' = clip(x, 0, 2^bits - 1)                   graded input (clipped elements counted: "input_clip")
    acc = sum_j w_ij x'_j ;  a = acc << e (e > 0) or acc >> -e (e <= 0, floor)

Neurons, with A = a << 6, B = bias << 6, VTH = vThMant << 6:

* CUBA:   U = wrap(mul(4096 - iDecay, U, 12) + A);  V = sat(mul(4096 - vDecay, V, 12) + U + B);
          s = V > VTH;  V[s] = 0
* SILIF:  W = sat(mul(beta, W, D) + mul(coupling, U, D) + spikeAdapt * P);
          U = sat(mul(alpha, U - P*VTH, D) - mul(2^D - alpha, W, D) + A + B);  s = U > VTH;  P = s
* CSILIF: Xr = X - P*VTH;  X = sat(mul(cos, Xr, D) - mul(sin, Y, D) + A + B);
          Y = sat(mul(sin, Xr, D) + mul(cos, Y, D));  s = X > VTH;  P = s
* LI:     V = sat(mul(alpha, V, D) + A + B)      (output = V)

Logical timeline: T steps, layer l at step t sees layer l-1's output of the same step,
all states start at zero.

The network is read duck-typed: anything with ``.layers`` whose items have
``neuron_type``, ``weight`` (out, in), ``neuron`` (dict of the file keys), ``bias``,
``weight_exp`` and ``input_message_bits`` (an ``export.netfile.Network``), or a list of
plain dicts with the same keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

STATE_MAX = 2**23 - 1
WRAP = 2**24
ACT_SHIFT = 6

#: state names per neuron type (docs/fixed_point.md §3)
STATE_NAMES: dict[str, tuple[str, ...]] = {
    "CUBA": ("U", "V"),
    "SILIF": ("U", "W", "P"),
    "CSILIF": ("X", "Y", "P"),
    "LI": ("V",),
}
SPIKING = ("CUBA", "SILIF", "CSILIF")


@dataclass
class IntLayer:
    """Integer parameters of one layer as int64 tensors (built by :func:`layer_params`)."""

    neuron_type: str
    weight: torch.Tensor          # (out, in)
    bias: torch.Tensor            # (out,) or scalar 0
    weight_exp: int
    input_message_bits: int
    params: dict[str, torch.Tensor | int]


@dataclass
class IntSimResult:
    """Per layer outputs and states over time (all int64 ``[B, T, n]``)."""

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
    return torch.as_tensor(value).to(torch.int64)


def layer_params(layer: Any) -> IntLayer:
    """Convert one layer (netfile ``Layer`` or dict) to int64 tensors."""
    neuron = dict(_get(layer, "neuron"))
    params: dict[str, torch.Tensor | int] = {}
    for key, value in neuron.items():
        if key in ("decayBits", "stateFracBits", "refDelay", "gradedSpike"):
            params[key] = int(value)
        else:
            params[key] = _tensor(value)
    bias = _get(layer, "bias")
    return IntLayer(
        neuron_type=str(_get(layer, "neuron_type")),
        weight=_tensor(_get(layer, "weight")),
        bias=_tensor(0) if bias is None else _tensor(bias),
        weight_exp=int(_get(layer, "weight_exp", 0) or 0),
        input_message_bits=int(_get(layer, "input_message_bits", 0) or 0),
        params=params,
    )


# --------------------------------------------------------------------------- primitives

def mul(k: torch.Tensor | int, x: torch.Tensor, bits: int) -> torch.Tensor:
    """``sign(k*x) * (|k*x| >> bits)``: product on the 2^bits grid, truncated toward zero."""
    p = x * k
    return torch.sign(p) * (torch.abs(p) >> bits)


class _Count:
    def __init__(self) -> None:
        self.c: dict[str, int] = {}

    def add(self, name: str, n: int | torch.Tensor) -> None:
        self.c[name] = self.c.get(name, 0) + int(n)


def sat(x: torch.Tensor, count: _Count) -> torch.Tensor:
    """Clip to the signed 24-bit range ``+-(2^23 - 1)``; clipped elements are counted."""
    count.add("saturate", ((x > STATE_MAX) | (x < -STATE_MAX)).sum())
    return torch.clamp(x, -STATE_MAX, STATE_MAX)


def wrap(x: torch.Tensor, count: _Count) -> torch.Tensor:
    """Lava LIF current wrap (applied once): ``x - 2^24`` if ``x > 2^23``; ``x + 2^24`` if ``x <= -2^23``."""
    hi, lo = x > 2**23, x <= -(2**23)
    count.add("wrap", (hi | lo).sum())
    return torch.where(hi, x - WRAP, torch.where(lo, x + WRAP, x))


def dense(layer: IntLayer, x: torch.Tensor, count: _Count) -> torch.Tensor:
    """Lava Dense: ``a = (sum_j w_ij x_j) << e`` (or ``>> -e``, floor), x binary or clipped graded."""
    if layer.input_message_bits > 0:
        top = 2**layer.input_message_bits - 1
        count.add("input_clip", ((x < 0) | (x > top)).sum())
        xin = torch.clamp(x, 0, top)
    else:
        xin = (x != 0).to(torch.int64)
    acc = xin @ layer.weight.T
    e = layer.weight_exp
    return acc << e if e > 0 else acc >> (-e)


# --------------------------------------------------------------------------- neuron steps

def step_cuba(a: torch.Tensor, st: dict, p: dict, bias: torch.Tensor, count: _Count):
    """Lava LIF (PyLifModelBitAcc): current wraps, voltage saturates, V reset to 0 on a spike."""
    A, B, vth = a * 64, bias * 64, p["vThMant"] * 64
    U = wrap(mul(4096 - p["iDecay"], st["U"], 12) + A, count)
    V = sat(mul(4096 - p["vDecay"], st["V"], 12) + U + B, count)
    s = (V > vth).to(torch.int64)
    V = V * (1 - s)
    return s, {"U": U, "V": V}


def step_silif(a: torch.Tensor, st: dict, p: dict, bias: torch.Tensor, count: _Count):
    """SiLIF: adaptation W first (uses the old U and P), then the membrane U with the new W."""
    D = p["decayBits"]
    A, B, vth = a * 64, bias * 64, p["vThMant"] * 64
    U, W, P = st["U"], st["W"], st["P"]
    W = sat(mul(p["beta"], W, D) + mul(p["coupling"], U, D) + p["spikeAdapt"] * P, count)
    U = sat(mul(p["alpha"], U - P * vth, D) - mul(2**D - p["alpha"], W, D) + A + B, count)
    s = (U > vth).to(torch.int64)
    return s, {"U": U, "W": W, "P": s}


def step_csilif(a: torch.Tensor, st: dict, p: dict, bias: torch.Tensor, count: _Count):
    """C-SiLIF: half reset on X, then a rotation by (cos, sin) on the 2^D grid, each product truncated."""
    D = p["decayBits"]
    A, B, vth = a * 64, bias * 64, p["vThMant"] * 64
    X, Y, P = st["X"], st["Y"], st["P"]
    c, s_ = p["cosDecay"], p["sinDecay"]
    Xr = X - P * vth
    Xn = sat(mul(c, Xr, D) - mul(s_, Y, D) + A + B, count)
    Yn = sat(mul(s_, Xr, D) + mul(c, Y, D), count)
    s = (Xn > vth).to(torch.int64)
    return s, {"X": Xn, "Y": Yn, "P": s}


def step_li(a: torch.Tensor, st: dict, p: dict, bias: torch.Tensor, count: _Count):
    """Leaky integrator readout; the output is the state V."""
    V = sat(mul(p["alpha"], st["V"], p["decayBits"]) + a * 64 + bias * 64, count)
    return V, {"V": V}


STEPS: dict[str, Callable] = {"CUBA": step_cuba, "SILIF": step_silif, "CSILIF": step_csilif, "LI": step_li}


# --------------------------------------------------------------------------- network

def simulate(net: Any, x: Any, *, record: bool = True) -> IntSimResult:
    """Run the integer network on ``x`` (int ``[B, T, F]``) on the logical timeline.

    ``net``: an ``export.netfile.Network`` (duck-typed: ``.layers``) or a list of layers.
    Returns every layer's output and (if ``record``) state after each step, int64 ``[B, T, n]``,
    plus per-layer counters (``saturate``, ``wrap``, ``input_clip``).
    """
    raw_layers: Sequence[Any] = net if isinstance(net, (list, tuple)) else _get(net, "layers")
    layers = [layer_params(layer) for layer in raw_layers]
    x = _tensor(x)
    if x.dim() != 3:
        raise ValueError(f"input must be [B, T, F], got shape {tuple(x.shape)}")
    batch, steps, _ = x.shape
    counts = [_Count() for _ in layers]
    states = [{name: torch.zeros(batch, layer.weight.shape[0], dtype=torch.int64)
               for name in STATE_NAMES[layer.neuron_type]} for layer in layers]
    outs: list[list[torch.Tensor]] = [[] for _ in layers]
    recs: list[dict[str, list[torch.Tensor]]] = [{n: [] for n in STATE_NAMES[l.neuron_type]} for l in layers]
    for t in range(steps):
        h = x[:, t]
        for i, layer in enumerate(layers):
            a = dense(layer, h, counts[i])
            h, states[i] = STEPS[layer.neuron_type](a, states[i], layer.params, layer.bias, counts[i])
            outs[i].append(h)
            if record:
                for name, value in states[i].items():
                    recs[i][name].append(value)
    outputs = [torch.stack(o, dim=1) for o in outs]
    rec_states = [{n: torch.stack(v, dim=1) for n, v in r.items()} if record else {} for r in recs]
    return IntSimResult(outputs=outputs, states=rec_states, neuron_types=[l.neuron_type for l in layers],
                        counters=[c.c for c in counts])
