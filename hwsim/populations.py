"""The spiking and the non-spiking populations of a hybrid layer (``HYBRID``), counted apart.

For each ``HYBRID`` layer of a network and a bit-exact run of it (:func:`hwsim.simulate.simulate`,
logical timeline), per population (units with ``unit`` 1: spiking LIF; 0 and 2: graded LIF and tanh)
and per sample (the T in-window steps):

* activity: output events (a spike, or a non-zero graded payload: a zero payload is not sent) and the
  event rate per unit and step;
* synaptic operations the events cause where they arrive (the next layer's Dense and the layer's own
  recurrent Dense): ``Σ nnz(W[:, j])`` over the events of unit j; a spike is an accumulate (AC), a graded
  payload a multiply-accumulate (MAC, NeuroBench's rule for inputs other than 0/±1, applied per event:
  a spike's payload is 1.0 on the 2^q grid);
* messages: one per event and destination layer (a lower bound without a core mapping), each carrying
  ``payload bits`` (the receiving Dense's ``inputMessageBits``; spikes too, as the layer sends graded
  messages) on top of a :data:`MESSAGE_HEADER_BITS` header: traffic in bits;
* energy (pJ, the constant set's values): neuron updates (every unit every step; active when it sent or
  received, a simplification of hwsim.counts' rule), ``synops·e_synop + macs·(e_synop + e_mac_extra)``,
  messages ``e_message·(1 + payload/header)`` (the payload's share of the packet costs in proportion).

The full network's cost (mapping, hops, static power) is :mod:`hwsim.cost`'s; this split says which
population of the hybrid layer spends it.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

#: bits of a spike message's header (address and routing) — an assumption: Intel publishes no Loihi 2
#: packet format; graded payload bits are counted on top of it
MESSAGE_HEADER_BITS = 32
POPULATIONS = {"spiking": (1,), "non_spiking": (0, 2)}


def _nnz_cols(weight: Optional[np.ndarray]) -> Optional[np.ndarray]:
    return None if weight is None else np.count_nonzero(np.asarray(weight), axis=0).astype(np.int64)


def hybrid_populations(net: Any, sim: Any, constants: Any = None) -> list[dict[str, Any]]:
    """One entry per ``HYBRID`` layer (module docstring); ``constants``: a ``hwsim.constants`` set or None
    (no energy)."""
    out = []
    layers = list(net.layers)
    for i, layer in enumerate(layers):
        if layer.neuron_type != "HYBRID":
            continue
        payload = np.asarray(sim.in_window(sim.outputs[i], i) if hasattr(sim, "in_window") else sim.outputs[i])
        payload = payload.astype(np.int64)
        B, T, n = payload.shape
        unit = np.broadcast_to(np.asarray(layer.neuron["unit"]), (n,))
        sent = payload != 0                                        # [B, T, n]
        dests = []                                                 # (nnz per source column, payload bits)
        if i + 1 < len(layers):
            nxt = layers[i + 1]
            dests.append((_nnz_cols(nxt.weight), int(nxt.input_message_bits)))
        w_rec = getattr(layer, "weight_rec", None)
        if w_rec is not None:
            q = int(layer.neuron["payloadFracBits"])
            signed = bool(np.any(unit == 2))
            dests.append((_nnz_cols(w_rec), q + (2 if signed else 1)))
        entry: dict[str, Any] = {"layer": i, "units": int(n), "payload_frac_bits": int(layer.neuron["payloadFracBits"]),
                                 "message_header_bits": MESSAGE_HEADER_BITS, "populations": {}}
        for name, codes in POPULATIONS.items():
            cols = np.isin(unit, codes)
            n_pop = int(cols.sum())
            ev = sent[:, :, cols]                                  # [B, T, n_pop]
            events = ev.sum(axis=(1, 2)).astype(np.float64)        # per sample
            ops = np.zeros(B)
            msgs = np.zeros(B)
            bits = np.zeros(B)
            for nnz, pbits in dests:
                if nnz is None:
                    continue
                ops += (ev * nnz[cols][None, None, :]).sum(axis=(1, 2))
                msgs += events
                bits += events * (MESSAGE_HEADER_BITS + pbits)
            acs = ops if name == "spiking" else np.zeros(B)
            macs = ops if name == "non_spiking" else np.zeros(B)
            pop = {"units": n_pop, "events_per_sample": float(events.mean()) if B else 0.0,
                   "event_rate": float(events.mean() / (T * n_pop)) if B and T and n_pop else 0.0,
                   "acs_per_sample": float(acs.mean()) if B else 0.0,
                   "macs_per_sample": float(macs.mean()) if B else 0.0,
                   "messages_per_sample": float(msgs.mean()) if B else 0.0,
                   "traffic_bits_per_sample": float(bits.mean()) if B else 0.0}
            if constants is not None and n_pop:
                c = constants.values if hasattr(constants, "values") and isinstance(constants.values, dict) \
                    else constants
                e = _energy(c, pop, n_pop, T, dests)
                pop["energy_pj_per_sample"] = e
            entry["populations"][name] = pop
        out.append(entry)
    return out


def _get(c: Any, key: str) -> float:
    if isinstance(c, dict):
        v = c[key]
        return float(v["value"] if isinstance(v, dict) else v)
    return float(getattr(c, key))


def _energy(c: Any, pop: dict[str, Any], n_pop: int, T: int, dests: list) -> dict[str, float]:
    """Per-sample energy of one population (module docstring)."""
    active = min(pop["events_per_sample"], n_pop * T)
    updates = active * _get(c, "e_neuron_active_pj") + (n_pop * T - active) * _get(c, "e_neuron_inactive_pj")
    syn = (pop["acs_per_sample"] + pop["macs_per_sample"]) * _get(c, "e_synop_pj") \
        + pop["macs_per_sample"] * _get(c, "e_mac_extra_pj")
    msg = pop["traffic_bits_per_sample"] / MESSAGE_HEADER_BITS * _get(c, "e_message_pj")
    return {"neuron_updates": updates, "synaptic_ops": syn, "messages": msg, "total": updates + syn + msg}


__all__ = ["MESSAGE_HEADER_BITS", "POPULATIONS", "hybrid_populations"]
