"""Writing a silava-only kind in netx's own vocabulary when that is exact (numpy only).

A kind whose declaration names a ``netx_form`` (LI -> ``CUBA``) is written as that netx-native
kind when the two give the same integers at every step, so that plain lava-dl netx loads the
file without silava's extension. The file keeps a marker key, ``neuron/silavaType`` (netx never
reads it), so that silava reads the layer back as the kind it is.

LI as CUBA (docs/fixed_point.md §7). Lava's LIF with ``iDecay = 4096`` (full current decay),
``vDecay = 4096 − alpha`` and ``vThMant = 2^17 − 1`` computes::

    U = wrap(mul(0, U, 12) + A) = A                      (no wrap while |A| ≤ 2^23)
    V = sat(mul(alpha, V, 12) + U + B) ;  spike and V ← 0 if V > VTH = (2^17 − 1) << 6

which is the LI step ``V = sat(mul(alpha, V, D) + A + B)`` exactly when

* ``decayBits = 12`` (Lava's LIF decays are 12-bit) and ``weightExp = 0`` (netx derives its own
  weight exponent, exact for e = 0 only), the weights are not all zero (netx cannot load that);
* the layer is ``dense`` or ``conv`` (a recurrent LI would feed its V back; the CUBA sends spikes);
* its input is bounded: binary spikes (x ≤ 1) or the first layer's graded source (x ≤ 2^bits − 1);
* |A| = 64 |Σ w x| ≤ 2^23 for every input (so U never wraps): ``64 · x_max · Σ_j |w_ij| ≤ 2^23``;
* V never exceeds the threshold, a static bound: the positive drive per step is at most
  ``M⁺ = 64 (x_max Σ_j max(w_ij, 0) + max(bias, 0))``; since ``mul`` truncates toward zero,
  ``V_t ≤ (alpha / 4096) max(V_{t−1}, 0) + M⁺``, hence ``V_t ≤ M⁺ · 4096 / (4096 − alpha)``
  (alpha < 4096), which must be ≤ VTH. (A conv neuron's positive drive is bounded by its
  channel's whole kernel.)

Otherwise the layer is written as type ``LI`` (silava's netx extension loads it), and
:func:`native_form` says why.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from silava.core.fixedpoint import VTH_MAX
from silava.core.kinds import KINDS

#: neuron key naming the silava kind of a layer written in netx's vocabulary
MARKER = "silavaType"
#: the largest threshold mantissa of Lava's LIF (17 bits): the "out of reach" threshold
VTH_OUT_OF_REACH = VTH_MAX
ACT = 64
WRAP_BOUND = 2**23


def _x_max(net: Any, i: int) -> Optional[int]:
    """Largest input payload of layer ``i``: 1 for spikes, 2^bits − 1 for the graded source; None if unbounded."""
    layer = net.layers[i]
    bits = int(layer.input_message_bits)
    if i == 0:
        return 1 if bits <= 0 else (1 << bits) - 1
    return 1 if KINDS[net.layers[i - 1].neuron_type].spiking else None


def _row_sums(weight: np.ndarray, per_channel: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per output neuron: Σ max(w, 0) and Σ |w| over its synapses (a conv weight: its channel's kernel,
    repeated for the ``per_channel`` neurons of the channel)."""
    w = np.asarray(weight, dtype=np.int64)
    pos = np.clip(w, 0, None).reshape(w.shape[0], -1).sum(axis=1)
    mag = np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
    if per_channel > 1:
        pos, mag = np.repeat(pos, per_channel), np.repeat(mag, per_channel)
    return pos, mag


def readout_bound_problem(weight: np.ndarray, bias: Optional[np.ndarray], alpha: Any, x_max: int,
                          per_channel: int = 1) -> Optional[str]:
    """Why an LI layer with these integers may differ from its CUBA form (None: it cannot): its
    synaptic input ``a << 6`` may wrap the CUBA current, or V may pass the threshold (the bound of
    the module docstring). The same bound proves that V cannot saturate."""
    pos, mag = _row_sums(weight, per_channel)
    n = pos.size
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.int64), (n,))
    bias = np.zeros(n, np.int64) if bias is None else np.asarray(bias, np.int64)
    if int((ACT * x_max * mag).max(initial=0)) > WRAP_BOUND:
        return "the synaptic input a << 6 may exceed 2^23 (the CUBA current would wrap)"
    drive = ACT * (x_max * pos + np.clip(bias, 0, None))
    live = drive > 0
    if np.any(live & (alpha >= 4096)):
        return "a pure integrator (alpha = 4096) with a positive drive may reach the threshold"
    bound = np.zeros(n, dtype=np.float64)
    bound[live] = drive[live] * 4096.0 / (4096 - alpha[live])
    vth = VTH_OUT_OF_REACH << 6
    if float(bound.max(initial=0.0)) > vth:
        return (f"the readout may reach the CUBA threshold (bound {float(bound.max()):.3g} > {vth}); "
                f"smaller weights or alpha would make it native")
    return None


def li_as_cuba(net: Any, i: int) -> tuple[Optional[dict], str]:
    """The CUBA keys that run LI layer ``i`` exactly, or ``(None, reason)``."""
    layer = net.layers[i]
    nd = layer.neuron
    if layer.layer_type not in ("dense", "conv"):
        return None, f"a {layer.layer_type} LI layer has no exact CUBA form"
    if int(nd.get("decayBits", 12)) != 12:
        return None, f"decayBits {int(nd['decayBits'])} (Lava's LIF decays are 12-bit)"
    if int(layer.weight_exp) != 0:
        return None, f"weight exponent {int(layer.weight_exp)} (netx derives its own; exact for 0 only)"
    if not np.any(layer.weight):
        return None, "all-zero weights (netx cannot load them)"
    x_max = _x_max(net, i)
    if x_max is None:
        return None, "graded input from a hidden layer (no bound on the drive)"
    per_channel = int(np.prod(layer.neuron_shape[1:])) if layer.layer_type == "conv" else 1
    why = readout_bound_problem(layer.weight, layer.bias, nd["alpha"], x_max, per_channel)
    if why is not None:
        return None, why
    keys: dict[str, Any] = {"iDecay": 4096, "vDecay": (4096 - np.asarray(nd["alpha"], dtype=np.int64)),
                            "vThMant": VTH_OUT_OF_REACH, "refDelay": 1, "gradedSpike": False,
                            "stateFracBits": int(nd["stateFracBits"]), "decayBits": 12}
    if np.ndim(keys["vDecay"]) == 0:
        keys["vDecay"] = int(keys["vDecay"])
    return keys, ""


def cuba_to_li(where: str, neuron: dict, error: type[Exception]) -> dict:
    """LI keys of a layer written as CUBA with ``silavaType = LI`` (the inverse of :func:`li_as_cuba`)."""
    for key in ("iDecay", "vDecay", "vThMant", "stateFracBits"):
        if key not in neuron:
            raise error(f"{where}/{key}: missing key (an LI layer written as CUBA needs it)")
    if np.any(np.asarray(neuron["iDecay"]) != 4096) or np.any(np.asarray(neuron["vThMant"]) != VTH_OUT_OF_REACH):
        raise error(f"{where}: an LI layer written as CUBA needs iDecay 4096 and vThMant {VTH_OUT_OF_REACH}")
    if int(neuron.get("decayBits", 12)) != 12:
        raise error(f"{where}/decayBits: an LI layer written as CUBA has 12-bit decays")
    v_decay = neuron["vDecay"]
    alpha = 4096 - (np.asarray(v_decay, dtype=np.int64) if isinstance(v_decay, np.ndarray) else int(v_decay))
    return {"alpha": alpha, "decayBits": 12, "stateFracBits": int(neuron["stateFracBits"])}


#: kind name -> (keys in the native form or a reason, back to the kind's keys)
FORMS = {"LI": (li_as_cuba, cuba_to_li)}


def native_form(net: Any, i: int) -> tuple[Optional[str], Optional[dict], str]:
    """``(netx type, neuron keys, "")`` to write layer ``i`` natively, or ``(None, None, reason)``."""
    kind = KINDS[net.layers[i].neuron_type]
    if kind.netx_native:
        return kind.netx_type, None, ""
    if kind.netx_form is None or kind.name not in FORMS:
        return None, None, f"{kind.name} has no netx-native form"
    keys, why = FORMS[kind.name][0](net, i)
    if keys is None:
        return None, None, why
    return kind.netx_form, keys, ""


__all__ = ["FORMS", "MARKER", "VTH_OUT_OF_REACH", "cuba_to_li", "li_as_cuba", "native_form", "readout_bound_problem"]
