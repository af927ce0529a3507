"""Time and energy per time step from activity counts: a per-core work model with a barrier.

Inputs: :class:`hwsim.counts.Counts` (per sample, step and core), the
:class:`hwsim.mapper.Mapping` it was counted on, and a constant set
(:mod:`hwsim.constants`, every number cited there). Loihi is asynchronous (no global
clock): a time step ends when every core has finished its work and a mesh-wide barrier has
completed, so the model is in nanoseconds per algorithmic time step, not clock cycles.

Per core c (neurons n_c) in a step, with the counts of that sample and step::

    busy_c = n_c · t_inactive + active_c · (t_active − t_inactive)      neuron updates
           + synops_c · t_synop + macs_c · t_mac_extra                  synaptic ops on received events
           + out_c · t_spike                                            output events generated
           + msgs_c · t_message + [msgs_c > 0] · route_c                messages sent; the last one's route
    route_c = max over c's destination cores d of (hops_x(c,d) · t_hop_x + hops_y(c,d) · t_hop_y)
    step time = max(max_c busy_c, busy_host) + t_barrier_base + t_barrier_per_tile · (tiles used − 1)

(the host, which injects the input events, is one more sender at tile (0, 0)). Energy::

    E_step = Σ_l [ active_l · e_active + (n_l − active_l) · e_inactive
                 + synops_l · e_synop + macs_l · e_mac_extra + out_l · e_spike
                 + msgs_l · e_message + hops_x_l · e_hop_x + hops_y_l · e_hop_y ]
           + host input messages (e_message + hops)
           + P_static · chips · step time                              (mW · ns = pJ)

Every energy/time result is an estimate, labelled with the constant set used.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from silava.hwsim.constants import Constants, load_constants

if TYPE_CHECKING:  # pragma: no cover
    from silava.hwsim.counts import Counts
    from silava.hwsim.mapper import Mapping

ENERGY_CATEGORIES = ("neuron_updates", "synaptic_ops", "output_events", "messages", "hops")


@dataclass
class CostResult:
    """Per-sample, per-step time and energy (``[B, T]`` arrays) with their breakdowns."""

    constants: Constants
    step_time_ns: np.ndarray                      # [B, T]
    core_busy_ns: np.ndarray                      # [B, T, cores]
    host_busy_ns: np.ndarray                      # [B, T]
    barrier_ns: float
    layer_energy_pj: list[dict[str, np.ndarray]]  # per layer: category -> [B, T]
    host_energy_pj: dict[str, np.ndarray]         # messages / hops of the input from the host
    static_energy_pj: np.ndarray                  # [B, T]
    chips: int
    notes: list[str] = field(default_factory=list)

    @property
    def dynamic_energy_pj(self) -> np.ndarray:
        """[B, T] dynamic energy (all layers, all categories, host input)."""
        total = sum(self.host_energy_pj.values())
        for layer in self.layer_energy_pj:
            total = total + sum(layer.values())
        return total

    @property
    def energy_pj(self) -> np.ndarray:
        """[B, T] total energy (dynamic + static)."""
        return self.dynamic_energy_pj + self.static_energy_pj


def route_times_ns(mapping: "Mapping", const: Constants) -> tuple[np.ndarray, float]:
    """Longest route (ns) out of each core to its destinations, and out of the host."""
    routes = np.zeros(mapping.n_cores)
    n_layers = len(mapping.layer_cores)
    tx, ty = const["t_hop_x_ns"], const["t_hop_y_ns"]
    for i, cores in enumerate(mapping.layer_cores):
        if i == n_layers - 1:
            hx, hy = mapping.hop_matrix(cores, None)
            reach = np.ones(hx.shape, dtype=bool)
        else:
            hx, hy = mapping.hop_matrix(cores, mapping.layer_cores[i + 1])
            conn = mapping.conn[i + 1]
            bounds = mapping.bounds[i]
            reach = np.stack([conn[a:b].any(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
        t = np.where(reach, hx * tx + hy * ty, 0.0)
        rec = mapping.rec_rows[i] if mapping.rec_rows else 0
        if rec:                       # a recurrent layer also sends to its own cores
            own = mapping.conn[i][-rec:]
            bounds = mapping.bounds[i]
            reach_own = np.stack([own[a:b].any(axis=0) for a, b in zip(bounds[:-1], bounds[1:])])
            hx, hy = mapping.hop_matrix(cores, cores)
            t = np.concatenate([t, np.where(reach_own, hx * tx + hy * ty, 0.0)], axis=1)
        routes[cores] = t.max(axis=1)
    hx, hy = mapping.hop_matrix(None, mapping.layer_cores[0])
    reach = mapping.conn[0].any(axis=0)[None, :]
    host = float(np.where(reach, hx * tx + hy * ty, 0.0).max())
    return routes, host


def barrier_ns(mapping: "Mapping", const: Constants) -> float:
    """Barrier time: base + per extra tile in use."""
    return const["t_barrier_base_ns"] + const["t_barrier_per_tile_ns"] * max(0, mapping.tiles_used - 1)


def estimate_cost(counts: "Counts", constants: "Constants | str | None" = None) -> CostResult:
    """Time and energy of every sample and step of ``counts`` with ``constants`` (default davies2018)."""
    const = load_constants(constants)
    mapping = counts.mapping
    routes, host_route = route_times_ns(mapping, const)
    b, t = counts.samples, counts.steps
    busy = np.zeros((b, t, mapping.n_cores))
    layer_energy = []
    for lc in counts.layers:
        cores = mapping.layer_cores[lc.index]
        sizes = np.diff(mapping.bounds[lc.index]).astype(np.float64)
        act = lc.core_active.astype(np.float64)
        msgs = lc.core_messages.astype(np.float64)
        busy[..., cores] = (sizes * const["t_neuron_inactive_ns"]
                            + act * (const["t_neuron_active_ns"] - const["t_neuron_inactive_ns"])
                            + lc.core_synops * const["t_synop_ns"] + lc.core_macs * const["t_mac_extra_ns"]
                            + lc.core_output_events * const["t_spike_ns"]
                            + msgs * const["t_message_ns"] + (msgs > 0) * routes[cores])
        active = lc.active_neurons.astype(np.float64)
        layer_energy.append({
            "neuron_updates": active * const["e_neuron_active_pj"]
            + (lc.n_out - active) * const["e_neuron_inactive_pj"],
            "synaptic_ops": lc.effective_ops * const["e_synop_pj"] + lc.effective_macs * const["e_mac_extra_pj"],
            "output_events": lc.output_events * const["e_spike_pj"],
            "messages": lc.messages * const["e_message_pj"],
            "hops": lc.hops_x * const["e_hop_x_pj"] + lc.hops_y * const["e_hop_y_pj"],
        })
    host_msgs = counts.host_messages.astype(np.float64)
    host_busy = host_msgs * const["t_message_ns"] + (host_msgs > 0) * host_route
    host_energy = {"messages": host_msgs * const["e_message_pj"],
                   "hops": counts.host_hops_x * const["e_hop_x_pj"] + counts.host_hops_y * const["e_hop_y_pj"]}
    barrier = barrier_ns(mapping, const)
    step_time = np.maximum(busy.max(axis=-1), host_busy) + barrier
    chips = mapping.n_chips
    static = const["p_static_mw_per_chip"] * chips * step_time
    notes = [f"all energy and time numbers are estimates with the constant set {const.name!r} "
             "(Loihi 1 per-event numbers standing in for Loihi 2)"]
    if const.assumptions:
        notes.append("constants marked as assumptions: " + ", ".join(const.assumptions))
    return CostResult(constants=const, step_time_ns=step_time, core_busy_ns=busy, host_busy_ns=host_busy,
                      barrier_ns=barrier, layer_energy_pj=layer_energy, host_energy_pj=host_energy,
                      static_energy_pj=static, chips=chips, notes=notes + list(mapping.notes))


def summarize_cost(cost: CostResult, counts: "Counts", dt: float | None = None) -> dict[str, Any]:
    """JSON-able summary: per sample, per step (mean over samples), per layer and category.

    ``dt`` (seconds per step, from the network's meta) adds the static energy of a real-time
    run (``P_static · chips · T · dt``) next to the as-fast-as-possible one.
    """
    b, t = cost.step_time_ns.shape
    label = cost.constants.label
    sample_time = cost.step_time_ns.sum(axis=1)                # ns per sample
    dyn = cost.dynamic_energy_pj
    total = cost.energy_pj
    layers = []
    for lc, energy in zip(counts.layers, cost.layer_energy_pj):
        per_cat = {k: float(v.sum()) / b for k, v in energy.items()}
        layers.append({"name": lc.name, "energy_pj_per_sample": per_cat,
                       "dynamic_energy_pj_per_sample": float(sum(per_cat.values()))})
    breakdown = {k: float(sum(e[k].sum() for e in cost.layer_energy_pj)) / b for k in ENERGY_CATEGORIES}
    breakdown["messages"] += float(cost.host_energy_pj["messages"].sum()) / b
    breakdown["hops"] += float(cost.host_energy_pj["hops"].sum()) / b
    breakdown["static"] = float(cost.static_energy_pj.sum()) / b
    mapping = counts.mapping
    core_busy_mean = cost.core_busy_ns.mean(axis=(0, 1))
    eff = float(sum(lc.effective_ops.sum() for lc in counts.layers)) / b
    e_sample = float(total.sum()) / b
    t_sample = float(sample_time.mean())
    out: dict[str, Any] = {
        "label": label,
        "constants": cost.constants.name,
        "units": {"energy": "pJ", "time": "ns"},
        "chips": cost.chips,
        "barrier_ns": cost.barrier_ns,
        "per_sample": {
            "energy_pj": e_sample,
            "dynamic_energy_pj": float(dyn.sum()) / b,
            "static_energy_pj": breakdown["static"],
            "time_ns": t_sample,
            "edp_pj_ns": e_sample * t_sample,
            "energy_per_effective_sop_pj": e_sample / eff if eff else None,
        },
        "throughput_samples_per_s": 1e9 / t_sample if t_sample else None,
        "step_time_ns": {"mean": float(cost.step_time_ns.mean()), "max": float(cost.step_time_ns.max()),
                         "min": float(cost.step_time_ns.min())},
        "energy_breakdown_pj_per_sample": breakdown,
        "layers": layers,
        "host_input_energy_pj_per_sample": {k: float(v.sum()) / b for k, v in cost.host_energy_pj.items()},
        "cores": [{"index": c.index, "layer": c.layer, "busy_ns_mean": float(core_busy_mean[c.index]),
                   "busy_ns_max": float(cost.core_busy_ns[..., c.index].max())} for c in mapping.cores],
        "host_busy_ns_mean": float(cost.host_busy_ns.mean()),
        "per_step_mean": {"time_ns": cost.step_time_ns.mean(axis=0).tolist(),
                          "energy_pj": total.mean(axis=0).tolist(),
                          "dynamic_energy_pj": dyn.mean(axis=0).tolist()},
        "per_sample_total": {"time_ns": sample_time.tolist(), "energy_pj": total.sum(axis=1).tolist(),
                             "dynamic_energy_pj": dyn.sum(axis=1).tolist()},
        "notes": list(cost.notes),
    }
    if dt is not None and dt > 0:
        out["realtime"] = {
            "dt_s": float(dt),
            "static_energy_pj_per_sample": cost.constants["p_static_mw_per_chip"] * cost.chips * t * dt * 1e9,
            "energy_pj_per_sample": float(dyn.sum()) / b
            + cost.constants["p_static_mw_per_chip"] * cost.chips * t * dt * 1e9,
            "note": "static power over T x dt of wall time (a chip paced at the network's time step)",
        }
    return out


__all__ = ["ENERGY_CATEGORIES", "CostResult", "barrier_ns", "estimate_cost", "route_times_ns", "summarize_cost"]
