"""The cost model against SANA-FE (``sanafe`` 2.2.9), an architecture simulator whose Loihi model was
calibrated on the chip (Boyle et al., IEEE TCAD 2025: energy within 12 %, latency within 25 % of
measurements on three applications).

:func:`compare` exports a model.net to SANA-FE's network and mapping (its Python API, the same
objects its YAML files describe), runs it on SANA-FE's bundled Loihi architecture
(``sanafe/examples/loihi.yaml``: 32 tiles × 4 cores, 1024 neurons per core) and evaluates
hwsim's cost model (:mod:`silava.hwsim.cost`, constant set ``sanafe``) on **the same spikes**:
the rasters SANA-FE simulated, so the two differ only in how they charge events.

Export (:func:`build`), per layer of model.net, in hwsim's state units:

* **CUBA** → SANA-FE's ``leaky_integrate_fire`` soma (unit ``loihi_lif``), which is a
  current-based LIF: ``u ← input_decay·u + input``, ``v ← leak_decay·v + u + bias``, fire when
  ``v > threshold``, hard reset to 0. ``input_decay = 1 − iDecay/4096``,
  ``leak_decay = 1 − vDecay/4096``, ``bias = bias·2^6``, ``threshold = vThMant·2^6``, synapse
  weights ``w·2^(e+6)`` (only non-zero ones: SANA-FE charges every connection it is given).
  SANA-FE computes in floating point, hwsim truncates products: spikes agree closely, not exactly
  (:func:`compare` reports the agreement with hwsim's own run).
* **LI** (readout) → the same soma with ``input_decay = 0``, ``leak_decay = α/2^D`` and a threshold
  it never reaches: SANA-FE has no graded output, so the readout sends nothing (and hwsim's count
  on the same rasters does not charge its values either).
* **SILIF, C-SiLIF** → not expressible: SANA-FE's built-in soma models (``leaky_integrate_fire``,
  ``truenorth``, ``input``) have no adaptation variable and no complex state, and a plug-in needs
  a C++ library built against SANA-FE's headers, which the wheel does not ship. :func:`expressible`
  says so in one line.
* inputs → SANA-FE ``input`` somas (one ``loihi_inputs[j]`` unit per input, on the core(s) of
  layer 0's first slice, i.e. beside hwsim's host at tile (0, 0)) replaying ``x ≠ 0`` (no graded
  payloads in SANA-FE).

Mapping: hwsim's mapper with ``neurons_per_core = 1024`` (SANA-FE's Loihi limit); hwsim core k
sits on tile ``(x, y)`` of hwsim's row-major 8 × 4 grid, which is SANA-FE tile ``4x + y``
(SANA-FE numbers tiles column by column), so both route the same hops.

Timeline: SANA-FE delivers a spike one step after it is sent (layer i fires at step t + i + 1 for
input step t, like Lava), so a sample runs ``T + L`` steps; hwsim's count uses the rasters shifted
back by ``i + 1`` per layer over ``T + L`` steps, so both cover the same events and the same
neuron-steps.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from silava.core.netfile import Network
    from silava.hwsim.mapper import Mapping

SANAFE_NEURONS_PER_CORE = 1024          # sanafe/examples/loihi.yaml: max_neurons_supported
SANAFE_TILE_HEIGHT = 4                  # loihi.yaml: height 4 (tiles numbered along y first)
NEVER = 1e30                            # a threshold the readout never reaches
#: how each model.net kind becomes a SANA-FE soma (None: not expressible, with the reason)
SOMA = {"CUBA": "lif", "LI": "li", "SILIF": None, "CSILIF": None}
NOT_EXPRESSIBLE = ("SANA-FE's built-in soma models (leaky_integrate_fire, truenorth, input) are single-state LIF "
                   "variants with binary spikes (no adaptation, complex or multi-word state, no graded payload), and a "
                   "plug-in needs a C++ build against its headers")


class SanafeError(ValueError):
    """SANA-FE cannot run this network (one line: the reason and the fix)."""


def available() -> bool:
    """True if the ``sanafe`` package can be imported."""
    return importlib.util.find_spec("sanafe") is not None


def version() -> str:
    try:
        from importlib.metadata import version as _v

        return _v("sanafe")
    except Exception:  # pragma: no cover
        return "unknown"


def expressible(net: "Network") -> Optional[str]:
    """None if every layer has a SANA-FE soma model, else one line naming the first that has not."""
    for i, layer in enumerate(net.layers):
        if SOMA.get(layer.neuron_type) is None:
            return f"layer {i} ({layer.neuron_type}) cannot be exported to SANA-FE: {NOT_EXPRESSIBLE}"
        if layer.layer_type != "dense" or int(layer.input_message_bits) > 0 and i > 0:
            return (f"layer {i} ({layer.layer_type}{', graded input' if layer.layer_type == 'dense' else ''}) is "
                    f"not exported to SANA-FE: only dense layers of binary spikes are")
    return None


def sanafe_mapping(net: "Network", neurons_per_core: int = SANAFE_NEURONS_PER_CORE) -> "Mapping":
    """hwsim's placement under SANA-FE's Loihi limit of 1024 neurons per core (or a smaller limit, to
    spread a small network over several cores and tiles)."""
    from silava.hwsim.mapper import CoreLimits, map_network

    if not 1 <= int(neurons_per_core) <= SANAFE_NEURONS_PER_CORE:
        raise SanafeError(f"neurons per core {neurons_per_core}: SANA-FE's Loihi cores hold 1 to "
                          f"{SANAFE_NEURONS_PER_CORE}")
    return map_network(net, CoreLimits(neurons_per_core=int(neurons_per_core)))


def sanafe_core(mapping: "Mapping", k: int) -> int:
    """SANA-FE core id of hwsim core ``k`` (same tile position; SANA-FE numbers tiles column by column)."""
    core = mapping.cores[k]
    lim = mapping.limits
    if core.chip != 0:
        raise SanafeError("the network needs more than one chip; SANA-FE's loihi.yaml models one chip of 128 cores")
    tile = core.tile_x * SANAFE_TILE_HEIGHT + core.tile_y
    within = (core.x % lim.tile_width) + lim.tile_width * (core.y % lim.tile_height)
    return tile * lim.cores_per_tile + within


def _soma_attributes(layer: Any) -> dict[str, float]:
    """SANA-FE ``leaky_integrate_fire`` attributes of one model.net layer (module docstring), per neuron."""
    n = layer.out_features
    bias = np.zeros(n) if layer.bias is None else np.asarray(layer.bias, dtype=np.float64) * 64.0
    p = layer.neuron
    if SOMA[layer.neuron_type] == "lif":
        leak = 1.0 - np.broadcast_to(np.asarray(p["vDecay"], dtype=np.float64), (n,)) / 4096.0
        inp = 1.0 - np.broadcast_to(np.asarray(p["iDecay"], dtype=np.float64), (n,)) / 4096.0
        th = np.broadcast_to(np.asarray(p["vThMant"], dtype=np.float64), (n,)) * 64.0
    else:                                                    # LI readout: no current memory, never fires
        d = int(p.get("decayBits", 12))
        leak = np.broadcast_to(np.asarray(p["alpha"], dtype=np.float64), (n,)) / 2.0**d
        inp = np.zeros(n)
        th = np.full(n, NEVER)
    return {"bias": bias, "leak_decay": leak, "input_decay": inp, "threshold": th}


@dataclass
class Built:
    """A SANA-FE network of a model.net and where its groups went."""

    network: Any
    arch: Any
    inputs: Any
    layers: list[Any]
    mapping: "Mapping"


_CHIP: dict[str, Any] = {}


def loihi_chip(net: Any = None) -> tuple[Any, Any]:
    """SANA-FE's Loihi architecture and a chip of it for ``net``. Building a chip (128 cores × 1030
    pipeline units) takes seconds, so the last one is kept and reused for the same network (its
    samples are loaded one after the other); another network gets a fresh chip, because loading a
    different network over an old one can abort the process inside SANA-FE ("This model must update
    every time-step", sanafe 2.2.9)."""
    import sanafe

    if "arch" not in _CHIP:
        _CHIP["arch"] = sanafe.load_loihi()
    if _CHIP.get("net") is not net or "chip" not in _CHIP:
        _CHIP["chip"] = sanafe.SpikingChip(_CHIP["arch"])
        _CHIP["net"] = net
    return _CHIP["arch"], _CHIP["chip"]


def build(net: "Network", mapping: Optional["Mapping"] = None, arch: Any = None) -> Built:
    """The SANA-FE network of ``net`` (inputs without spikes yet: :func:`set_inputs`), mapped like hwsim."""
    import sanafe

    reason = expressible(net)
    if reason:
        raise SanafeError(reason)
    mapping = mapping or sanafe_mapping(net)
    arch = arch or loihi_chip()[0]
    cores = arch.cores()
    snet = sanafe.Network()
    n_in = net.meta.n_inputs
    first = mapping.layer_cores[0]
    if n_in > SANAFE_NEURONS_PER_CORE * len(first):
        raise SanafeError(f"{n_in} inputs need more input units than layer 0's cores hold "
                          f"({SANAFE_NEURONS_PER_CORE} per core)")
    inputs = snet.create_neuron_group("input", n_in, model_attributes={}, log_spikes=True)
    for j in range(n_in):
        inputs[j].set_attributes(soma_hw_name=f"loihi_inputs[{j % SANAFE_NEURONS_PER_CORE}]")
        inputs[j].map_to_core(cores[sanafe_core(mapping, first[j // SANAFE_NEURONS_PER_CORE])])
    groups = []
    prev = inputs
    for i, layer in enumerate(net.layers):
        g = snet.create_neuron_group(f"layer{i}", layer.out_features, model_attributes={"reset_mode": "hard"},
                                     soma_hw_name="loihi_lif", log_spikes=True)
        attrs = _soma_attributes(layer)
        bounds = mapping.bounds[i]
        for c, k in enumerate(mapping.layer_cores[i]):
            core = cores[sanafe_core(mapping, k)]
            for j in range(int(bounds[c]), int(bounds[c + 1])):
                g[j].set_attributes(model_attributes={key: float(v[j]) for key, v in attrs.items()})
                g[j].map_to_core(core)
        w = np.asarray(layer.weight, dtype=np.float64) * 2.0 ** (int(layer.weight_exp) + 6)
        dst, src = np.nonzero(w)
        if src.size:
            prev.connect_neurons_sparse(g, {"weight": w[dst, src].tolist()},
                                        list(zip(src.tolist(), dst.tolist())))
        groups.append(g)
        prev = g
    return Built(network=snet, arch=arch, inputs=inputs, layers=groups, mapping=mapping)


def set_inputs(built: Built, x: np.ndarray, steps: int) -> None:
    """Replay one sample ``x [T, F]`` (``x ≠ 0`` as spikes) for ``steps`` steps (zeros after T)."""
    spikes = np.zeros((steps, x.shape[1]), dtype=bool)
    spikes[:x.shape[0]] = np.asarray(x) != 0
    for j in range(x.shape[1]):
        built.inputs[j].set_attributes(model_attributes={"spikes": spikes[:, j].tolist()})


@dataclass
class SanafeRun:
    """SANA-FE's results per sample and step (``P = T + L`` steps), and its spike rasters per layer."""

    energy_pj: np.ndarray                       # [B, P] total
    energy_by_unit_pj: dict[str, np.ndarray]    # soma, synapse, network, dendrite: [B, P]
    time_ns: np.ndarray                         # [B, P]
    hops: np.ndarray                            # [B, P] tile hops of all messages
    rasters: list[np.ndarray]                   # per layer uint8 [B, P, n] (global steps)
    steps: int
    version: str = ""
    notes: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _quiet_stdout():
    """SANA-FE's C++ core prints progress ("Executed steps: ...") on file descriptor 1: send it to /dev/null."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):      # no real stdout (captured): nothing to silence
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def run(net: "Network", x: np.ndarray, *, mapping: Optional["Mapping"] = None,
        timing_model: str = "detailed") -> SanafeRun:
    """Run every sample of ``x [B, T, F]`` on SANA-FE's Loihi from a reset chip (``T + L`` steps each)."""
    arch, chip = loihi_chip(net)
    built = build(net, mapping, arch)
    x = np.asarray(x)
    batch, steps = x.shape[0], net.meta.steps
    total = steps + len(net.layers)
    e = np.zeros((batch, total))
    parts = {k: np.zeros((batch, total)) for k in ("soma", "synapse", "network", "dendrite")}
    t = np.zeros((batch, total))
    hops = np.zeros((batch, total), dtype=np.int64)
    index = {f"layer{i}": i for i in range(len(net.layers))}
    rasters = [np.zeros((batch, total, layer.out_features), dtype=np.uint8) for layer in net.layers]
    for b in range(batch):
        set_inputs(built, x[b, :steps], total)
        chip.load(built.network)          # the sample's input spike trains; then every state back to zero
        chip.reset()
        with _quiet_stdout():
            res = chip.sim(total, timing_model=timing_model, spike_trace=True, perf_trace=True,
                           processing_threads=1)
        perf = res["perf_trace"]
        e[b] = np.asarray(perf["total_energy"]) * 1e12
        for k in parts:
            parts[k][b] = np.asarray(perf[f"{k}_energy"]) * 1e12
        t[b] = np.asarray(perf["sim_time"]) * 1e9
        hops[b] = np.asarray(perf["hops"], dtype=np.int64)
        for step, fired in enumerate(res["spike_trace"]):
            for neuron in fired:
                layer = index.get(neuron.group_name)
                if layer is not None:
                    rasters[layer][b, step, neuron.neuron_offset] = 1
    return SanafeRun(energy_pj=e, energy_by_unit_pj=parts, time_ns=t, hops=hops, rasters=rasters, steps=steps,
                     version=version())


def aligned(net: "Network", x: np.ndarray, sr: SanafeRun) -> tuple[np.ndarray, list[np.ndarray]]:
    """Inputs and per-layer outputs over ``P = T + L`` steps with layer i shifted back by ``i + 1`` (the
    logical alignment hwsim counts on); steps past SANA-FE's run are zero."""
    batch, total = sr.energy_pj.shape
    x = np.asarray(x)
    xs = np.zeros((batch, total, x.shape[2]), dtype=np.int64)
    xs[:, :min(total, x.shape[1])] = x[:, :total]
    outs = []
    for i, r in enumerate(sr.rasters):
        o = np.zeros_like(r)
        o[:, :total - i - 1] = r[:, i + 1:]
        outs.append(o)
    return xs, outs


def loihi_yaml_constants() -> dict[str, Any]:
    """hwsim's constant set with the numbers of the installed sanafe's ``examples/loihi.yaml`` (a dict for
    :func:`silava.hwsim.constants.load_constants`); the barrier is its one-tile sync latency."""
    import yaml
    from importlib.resources import files

    doc = yaml.safe_load(files("sanafe.examples").joinpath("loihi.yaml").read_text())
    arch = doc["architecture"]
    tile = arch["tile"][0]["attributes"]
    core = arch["tile"][0]["core"][0]
    soma = next(s["attributes"] for s in core["soma"] if s["attributes"].get("model") == "leaky_integrate_fire")
    syn = next(s["attributes"] for s in core["synapse"] if s["name"] == "loihi_dense_synapse")
    out = core["axon_out"][0]["attributes"]
    sync = arch["attributes"].get("latency_sync", {})
    first_sync = float(sync[min(sync)]) if isinstance(sync, dict) and sync else 0.0
    src = f"sanafe {version()} examples/loihi.yaml"

    def c(value: float, unit: str, what: str, assumption: bool = False) -> dict:
        return {"value": float(value), "unit": unit, "source": f"{src}: {what}", "assumption": assumption}

    pj, ns = 1e12, 1e9
    consts = {
        "e_synop_pj": c(syn["energy_process_spike"] * pj, "pJ", "loihi_dense_synapse energy_process_spike"),
        "t_synop_ns": c(syn["latency_process_spike"] * ns, "ns", "loihi_dense_synapse latency_process_spike"),
        "e_mac_extra_pj": c(0.2, "pJ", "not in SANA-FE (hwsim's sanafe set: Horowitz 2014)", True),
        "t_mac_extra_ns": c(0.0, "ns", "not in SANA-FE", True),
        "e_neuron_active_pj": c((soma["energy_access_neuron"] + soma["energy_update_neuron"]) * pj, "pJ",
                                "loihi_lif energy_access_neuron + energy_update_neuron"),
        "t_neuron_active_ns": c((soma["latency_access_neuron"] + soma["latency_update_neuron"]) * ns, "ns",
                                "loihi_lif latency_access_neuron + latency_update_neuron"),
        "e_neuron_inactive_pj": c(soma["energy_access_neuron"] * pj, "pJ", "loihi_lif energy_access_neuron"),
        "t_neuron_inactive_ns": c(soma["latency_access_neuron"] * ns, "ns", "loihi_lif latency_access_neuron"),
        "e_spike_pj": c(soma["energy_spike_out"] * pj, "pJ", "loihi_lif energy_spike_out"),
        "t_spike_ns": c(soma["latency_spike_out"] * ns, "ns", "loihi_lif latency_spike_out"),
        "e_message_pj": c(out["energy_message_out"] * pj, "pJ", "loihi_out energy_message_out"),
        "t_message_ns": c(out["latency_message_out"] * ns, "ns", "loihi_out latency_message_out"),
        "e_hop_x_pj": c(tile["energy_east_hop"] * pj, "pJ", "energy_east_hop"),
        "t_hop_x_ns": c(tile["latency_east_hop"] * ns, "ns", "latency_east_hop"),
        "e_hop_y_pj": c(tile["energy_north_hop"] * pj, "pJ", "energy_north_hop"),
        "t_hop_y_ns": c(tile["latency_north_hop"] * ns, "ns", "latency_north_hop"),
        "t_barrier_base_ns": c(first_sync * ns, "ns", "latency_sync of the smallest table entry"),
        "t_barrier_per_tile_ns": c(0.0, "ns", "the sync table's growth with tiles is not modelled here", True),
        "p_static_mw_per_chip": c(0.0, "mW", "SANA-FE's loihi.yaml has no static power", True),
    }
    return {"schema": "silava-hw-constants", "schema_version": 1, "name": "sanafe-installed",
            "title": f"hwsim's cost model with the numbers of {src}",
            "description": "derived at run time from the installed SANA-FE package (hwsim.sanafe.loihi_yaml_constants)",
            "constants": consts}


def hwsim_cost_on(net: "Network", x: np.ndarray, sr: SanafeRun, constants: Any = "sanafe",
                  mapping: Optional["Mapping"] = None) -> dict[str, np.ndarray]:
    """hwsim's cost model on SANA-FE's rasters: per sample and aligned step, dynamic energy (pJ), its
    parts (neuron updates + output events ~ soma, synaptic ops ~ synapse, messages + hops ~ network)
    and step time (ns). The last layer's messages to the host are left out (SANA-FE has no host
    sink); the host's input messages stay (SANA-FE's input neurons send them)."""
    from silava.hwsim.cost import estimate_cost
    from silava.hwsim.counts import count_activity

    xs, outs = aligned(net, x, sr)
    counts = count_activity(net, xs, outs, mapping or sanafe_mapping(net))
    cost = estimate_cost(counts, constants)
    cat = {k: sum(e[k] for e in cost.layer_energy_pj) for k in cost.layer_energy_pj[0]}
    # the last layer's messages go to the host, which SANA-FE's network does not have: not charged here
    to_host = cost.layer_energy_pj[-1]["messages"] + cost.layer_energy_pj[-1]["hops"]
    network = cat["messages"] + cat["hops"] - to_host + cost.host_energy_pj["messages"] + cost.host_energy_pj["hops"]
    hops = (sum(lc.hops_x + lc.hops_y for lc in counts.layers[:-1]) + counts.host_hops_x + counts.host_hops_y)
    return {"energy_pj": cost.dynamic_energy_pj - to_host, "soma": cat["neuron_updates"] + cat["output_events"],
            "synapse": cat["synaptic_ops"], "network": network, "time_ns": cost.step_time_ns,
            "active_updates": sum(lc.active_neurons for lc in counts.layers), "hops": hops}


def compare(net: "Network", x: np.ndarray, *, constants: Any = "sanafe", timing_model: str = "detailed",
            neurons_per_core: int = SANAFE_NEURONS_PER_CORE) -> dict[str, Any]:
    """SANA-FE vs hwsim's cost model on the same spikes (module docstring); per-sample and per-step means.

    Returns ``sanafe`` and ``hwsim`` blocks (energy per sample and per step, by unit, time per
    step), their ratios (``hwsim / sanafe − 1``), the spike agreement of SANA-FE's run with
    hwsim's own bit-exact run, and the settings.
    """
    from silava.hwsim.constants import load_constants
    from silava.hwsim.simulate import simulate

    const = load_constants(constants)
    mapping = sanafe_mapping(net, neurons_per_core)
    sr = run(net, x, mapping=mapping, timing_model=timing_model)
    hw = hwsim_cost_on(net, x, sr, const, mapping)
    b, total = sr.energy_pj.shape

    def block(energy, soma, synapse, network, time) -> dict[str, float]:
        return {"energy_pj_per_sample": float(energy.sum()) / b, "energy_pj_per_step": float(energy.mean()),
                "soma_pj_per_sample": float(soma.sum()) / b, "synapse_pj_per_sample": float(synapse.sum()) / b,
                "network_pj_per_sample": float(network.sum()) / b, "time_ns_per_step": float(time.mean()),
                "time_ns_per_sample": float(time.sum()) / b}

    s = block(sr.energy_pj, sr.energy_by_unit_pj["soma"], sr.energy_by_unit_pj["synapse"],
              sr.energy_by_unit_pj["network"], sr.time_ns)
    h = block(hw["energy_pj"], hw["soma"], hw["synapse"], hw["network"], hw["time_ns"])
    ratio = {k: (h[k] / s[k] - 1.0) if s[k] else None for k in s}
    own = simulate(net, x)
    _, outs = aligned(net, x, sr)
    agree = [float(np.mean(o[:, :net.meta.steps] == own.spikes[i])) for i, o in enumerate(outs[:len(own.spikes)])
             if i < len(own.spikes)]
    s["hops_per_sample"] = float(sr.hops.sum()) / b
    h["hops_per_sample"] = float(hw["hops"].sum()) / b
    spikes = {"sanafe_per_sample": float(sum(r.sum() for r in sr.rasters)) / b,
              # spikes of layer i in the i + 1 steps before its first input arrives (driven by the bias alone;
              # Lava resets each layer when its input arrives, SANA-FE does not): outside hwsim's window
              "sanafe_before_input_per_sample": float(sum(r[:, :i + 1].sum() for i, r in enumerate(sr.rasters))) / b,
              "hwsim_own_run_per_sample": float(sum(s_.sum() for s_ in own.spikes)) / b,
              "agreement_per_layer": agree}
    return {"sanafe": s, "hwsim": h, "hwsim_minus_sanafe": ratio, "spikes": spikes,
            "samples": int(b), "steps_per_sample": int(total), "constants": const.name,
            "sanafe_version": sr.version, "timing_model": timing_model,
            "cores": mapping.n_cores, "tiles": mapping.tiles_used}


__all__ = ["SanafeError", "SanafeRun", "aligned", "available", "build", "compare", "expressible",
           "hwsim_cost_on", "loihi_yaml_constants", "run", "sanafe_core", "sanafe_mapping", "set_inputs", "version"]
