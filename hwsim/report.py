"""The hardware report: what the network would cost on Loihi 2 (JSON, Markdown, PNG plots).

    report = build_report(net, sim_result, "davies2018", mapping=None, x=x)   # or counts instead of sim_result
    write_report(report, "runs/r1/hw")      # report.json, report.md, sops_sparsity.png, energy_breakdown.png,
                                            # core_map.png, raster.png

``report.json`` holds, per layer and in total, per sample and per time step: NeuroBench
synaptic operations (effective ACs / MACs, dense), activation sparsity, spikes, messages,
neuron updates, state buffers, memory at deployed widths, the core mapping with occupancy
against every limit, time per step and energy (every energy/time number labelled as an
estimate with the constant set used, whose table with sources is included).

CLI wiring (for ``hwsim/simulate.py``): :func:`add_report_arguments` adds ``--report DIR``
and ``--constants FILE|davies2018|sanafe``; :func:`check_report_arguments` validates them
before the simulation runs; :func:`run_report` builds and writes the report after it.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from silava.hwsim.constants import BUILTIN, DEFAULT, Constants, ConstantsError, load_constants
from silava.hwsim.cost import estimate_cost, summarize_cost
from silava.hwsim.counts import NEURON_COSTS, Counts, counts_from_sim, static_counts, summarize
from silava.hwsim.mapper import CoreLimits, Mapping, MappingError, map_network
from silava.core.cliutil import json_safe
from silava.core.fileio import atomic_group

if TYPE_CHECKING:  # pragma: no cover
    from silava.core.netfile import Network

REPORT_FORMAT = "silava-hw-report"
REPORT_VERSION = 1
MAX_RASTER_EVENTS = 50_000          # per layer, to keep report.json small
REPORT_FILES = ("report.json", "report.md")


class ReportError(ValueError):
    """A report cannot be built or written (one line naming the problem and the fix)."""


# --------------------------------------------------------------------------- build

def _raster(net: "Network", sim: Any, sample: int) -> Optional[dict]:
    """Spike times of one sample per spiking layer (in-window), and the readout V."""
    if sim is None or sample >= sim.readout.shape[0]:
        return None
    steps = int(getattr(sim, "steps", 0) or net.meta.steps)
    offsets = list(getattr(sim, "offsets", []) or [0] * len(net.layers))
    spikes = iter(sim.spikes)
    panels = []
    for i, layer in enumerate(net.layers):
        name = f"layer/{i} ({layer.neuron_type})"
        if NEURON_COSTS[layer.neuron_type].spiking:
            arr = next(spikes)[sample, offsets[i]:offsets[i] + steps]
            t, n = np.nonzero(arr)
            total = int(t.size)
            panels.append({"name": name, "kind": "spikes", "size": layer.out_features, "events": total,
                           "truncated": total > MAX_RASTER_EVENTS,
                           "t": t[:MAX_RASTER_EVENTS].tolist(), "n": n[:MAX_RASTER_EVENTS].tolist()})
        else:            # a graded layer: its values (a hidden sigma-delta layer's payloads, or the readout)
            outputs = getattr(sim, "outputs", None) or []
            v = (outputs[i] if outputs else sim.readout)[sample, offsets[i]:offsets[i] + steps]
            panels.append({"name": name, "kind": "values", "size": layer.out_features,
                           "values": np.asarray(v).tolist()})
    return {"sample": int(sample), "steps": steps, "layers": panels}


def _buffers(static: list[dict], net: "Network") -> dict:
    hidden = [s for s, layer in zip(static, net.layers) if NEURON_COSTS[layer.neuron_type].spiking]
    return {
        "hidden_layers": int(sum(s["buffers"] for s in hidden)),
        "all_layers": int(sum(s["buffers"] for s in static)),
        "prev_spike_bits": int(sum(s["prev_spike_bits"] for s in static)),
        "per_layer": [{"name": s["name"], "buffers": s["buffers"], "state_labels": s["state_labels"],
                       "prev_spike_bits": s["prev_spike_bits"]} for s in static],
        "definition": "states per neuron x neurons (SiLIF paper appendix A.3; its tables count the hidden "
                      "layers); the previous-spike bit of SiLIF / C-SiLIF is counted separately",
    }


def _memory(static: list[dict]) -> dict:
    keys = ("weights", "bias", "neuron_params", "states", "prev_spike", "total")
    total_bits = {k: int(sum(s["memory_bits"][k] for s in static)) for k in keys}
    return {
        "per_layer_bits": [{"name": s["name"], **s["memory_bits"]} for s in static],
        "total_bits": total_bits,
        "total_bytes": math.ceil(total_bits["total"] / 8),
        "widths": "weights 8-bit mantissa + 4-bit exponent per layer, bias 13 bits, states 24 bits, previous "
                  "spike 1 bit, parameters at their file ranges (decays D+1 / D+2 bits, spikeAdapt 24, vThMant 17)",
    }


def build_report(net: "Network", sim_result_or_counts: Any, constants: "Constants | str | None" = None,
                 mapping: "Mapping | CoreLimits | None" = None, *, x: Optional[np.ndarray] = None,
                 raster_sample: int = 0) -> dict[str, Any]:
    """The full hardware report as a JSON-able dict.

    ``sim_result_or_counts``: a :class:`hwsim.simulate.SimResult` (then ``x``, the input given to
    ``simulate``, is required: the first layer's SOPs depend on which inputs were active) or a
    :class:`hwsim.counts.Counts`. ``constants``: a :class:`Constants`, a built-in name or a JSON
    path (default ``davies2018``). ``mapping``: a :class:`Mapping`, :class:`CoreLimits` or None
    (default limits).
    """
    const = load_constants(constants)
    sim = None
    if isinstance(sim_result_or_counts, Counts):
        counts = sim_result_or_counts
        mapping = counts.mapping
    else:
        sim = sim_result_or_counts
        if x is None:
            raise ReportError("build_report: pass x= (the input given to simulate) with a simulation result")
        if not isinstance(mapping, Mapping):
            mapping = map_network(net, mapping)
        counts = counts_from_sim(net, x, sim, mapping)
    static = static_counts(net)
    cost = estimate_cost(counts, const)
    meta = net.meta
    steps = counts.steps
    try:
        from silava import __version__ as version
    except Exception:  # pragma: no cover - silava always importable in the repo
        version = ""
    run = {"samples": counts.samples, "steps": steps, "timeline_counted": "logical (in-window steps)",
           "lava_steps_per_sample": steps + net.delays()[-1],
           "note": "counts cover the T in-window steps of each sample; Lava runs a sample in T + L steps "
                   "(one step of delay per layer with synapses), whose L extra steps are not costed"}
    if sim is not None:
        run["timeline"] = getattr(sim, "timeline", "logical")
        counters = getattr(sim, "counters", {}) or {}
        run["counters"] = {k: dict(v) for k, v in counters.items()}
    report = {
        "format": REPORT_FORMAT, "format_version": REPORT_VERSION,
        "silava_version": version,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "estimate_label": const.label,
        "network": {
            "steps": meta.steps, "n_inputs": meta.n_inputs, "n_classes": meta.n_classes, "dt": meta.dt,
            "input_encoding": meta.input_encoding, "source_neuron": meta.source_neuron,
            "layers": static,
            "parameters": int(sum(s["parameters"] for s in static)),
            "connection_sparsity": round(1.0 - sum(s["nonzero_weights"] for s in static)
                                         / float(sum(s["weights"] for s in static)), 4),
        },
        "run": run,
        "buffers": _buffers(static, net),
        "memory": _memory(static),
        "mapping": mapping.to_dict(),
        "counts": summarize(counts),
        "cost": summarize_cost(cost, counts, meta.dt),
        "constants": const.to_dict(),
        "raster": _raster(net, sim, raster_sample),
    }
    return json_safe(report)


# --------------------------------------------------------------------------- markdown

def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e4 or abs(v) < 1e-2:
            return f"{v:.3g}"
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(report: dict[str, Any], plots: tuple[str, ...] = ()) -> str:
    """report.md: the human summary of :func:`build_report`'s dict."""
    counts, cost, mapping = report["counts"], report["cost"], report["mapping"]
    net = report["network"]
    label = f"estimate, {report['constants']['name']}"
    ps = cost["per_sample"]
    lines = [
        "# Loihi 2 hardware report", "",
        f"silava {report.get('silava_version', '')}, {report['created']}. "
        f"{counts['samples']} sample(s) x {counts['steps']} steps ({report['run']['timeline_counted']}).", "",
        f"**Every energy and time number is an estimate** with the constant set `{report['constants']['name']}` "
        "(Loihi 1 per-event numbers standing in for Loihi 2: Intel has published no Loihi 2 per-operation "
        "table); see the constants table below.", "",
        "## Summary (per sample)", "",
    ]
    tot = counts["total_per_sample"]
    lines += _table(["quantity", "value"], [
        ["effective synaptic ops (ACs)", tot["effective_acs"]],
        ["effective synaptic ops (MACs)", tot["effective_macs"]],
        ["dense synaptic ops", tot["dense_sops"]],
        ["spikes", tot["spikes"]],
        ["messages (incl. host I/O)", tot["messages"]],
        ["activation sparsity (all layers)", counts["activation_sparsity"]],
        ["activation sparsity (spiking layers)", counts["activation_sparsity_spiking_layers"]],
        ["state buffers (hidden layers / all)", f"{report['buffers']['hidden_layers']} / {report['buffers']['all_layers']}"],
        ["memory at deployed widths (bytes)", report["memory"]["total_bytes"]],
        ["cores / tiles / chips", f"{mapping['cores_used']} / {mapping['tiles_used']} / {mapping['chips_used']}"],
        [f"time per sample (µs, {label})", ps["time_ns"] / 1e3],
        [f"mean time per step (µs, {label})", cost["step_time_ns"]["mean"] / 1e3],
        [f"energy per sample (µJ, {label})", ps["energy_pj"] / 1e6],
        [f"  dynamic / static (µJ, {label})", f"{_fmt(ps['dynamic_energy_pj'] / 1e6)} / {_fmt(ps['static_energy_pj'] / 1e6)}"],
        [f"energy per effective SOP (pJ, {label})", ps["energy_per_effective_sop_pj"]],
    ])
    if "realtime" in cost:
        rt = cost["realtime"]
        lines += [f"Paced in real time (dt = {rt['dt_s']} s per step) the static energy would be "
                  f"{_fmt(rt['static_energy_pj_per_sample'] / 1e6)} µJ per sample ({label}).", ""]
    lines += ["## Layers (per sample)", ""]
    rows = []
    for s, st in zip(counts["layers"], net["layers"]):
        p = s["per_sample"]
        rows.append([s["name"], p["effective_acs"], p["effective_macs"], p["dense_sops"], p["spikes"],
                     s["activation_sparsity"], p["active_neuron_updates"], p["messages"], st["buffers"],
                     st["connection_sparsity"]])
    lines += _table(["layer", "eff. ACs", "eff. MACs", "dense ops", "spikes", "act. sparsity", "active updates",
                     "messages", "buffers", "conn. sparsity"], rows)
    lines += ["## Mapping", ""]
    rows = []
    for c in mapping["cores"]:
        u, o = c["usage"], c["occupancy"]
        rows.append([c["index"], c["layer"], f"{c['neurons'][0]}-{c['neurons'][1]}", c["chip"],
                     f"({c['x']},{c['y']})", f"{u['neurons']} ({o['neurons']:.0%})",
                     f"{u['synapse_bits']} ({o['synapse_bits']:.0%})", f"{u['state_bits']} ({o['state_bits']:.0%})",
                     f"{u['fan_in']} ({o['fan_in']:.0%})", f"{u['fan_out']} ({o['fan_out']:.0%})"])
    lines += _table(["core", "layer", "neurons", "chip", "(x,y)", "neurons (occ.)", "synapse bits", "state bits",
                     "fan-in", "fan-out"], rows)
    lim = mapping["limits"]
    lines += ["Limits: " + ", ".join(f"{k} = {lim[k]}" for k in ("neurons_per_core", "synapse_bits_per_core",
                                                                  "state_bits_per_core", "fan_in_per_core",
                                                                  "fan_out_per_core", "weight_bits",
                                                                  "synapse_encoding")) + ".", ""]
    lines += [f"- `{k}`: {v}" for k, v in mapping["limit_sources"].items()] + [""]
    lines += [f"## Energy breakdown per sample ({label})", ""]
    br = cost["energy_breakdown_pj_per_sample"]
    lines += _table(["category", "µJ"], [[k.replace("_", " "), v / 1e6] for k, v in br.items()])
    rows = [[lay["name"]] + [lay["energy_pj_per_sample"][k] / 1e6 for k in
                             ("neuron_updates", "synaptic_ops", "output_events", "messages", "hops")]
            for lay in cost["layers"]]
    lines += _table(["layer", "neuron updates µJ", "synaptic ops µJ", "output events µJ", "messages µJ", "hops µJ"],
                    rows)
    const = report["constants"]
    lines += [f"## Constants: {const['name']} — {const['title']}", "", const.get("description", ""), ""]
    lines += _table(["constant", "value", "unit", "source", "assumption"],
                    [[k, e["value"], e["unit"], e["source"], "yes" if e["assumption"] else ""]
                     for k, e in const["constants"].items()])
    notes = cost.get("notes", []) + [report["run"]["note"]] + mapping.get("notes", [])
    lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    defs = counts.get("definitions", {})
    lines += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in defs.items()] + [""]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- write

def _write_files(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write all files or none (:class:`silava.core.fileio.atomic_group`)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--report {out_dir}: exists and is not a directory; choose another path")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"--report {out_dir}: cannot create ({exc.strerror or exc}); choose a writable path") from None
    try:
        with atomic_group() as group:
            for name, data in files.items():
                group.path(out_dir / name).write_bytes(data)
    except OSError as exc:
        raise ReportError(f"--report {out_dir}: cannot write ({exc.strerror or exc}); choose a writable path") from None
    return [out_dir / name for name in files]


def write_report(report: dict[str, Any], out_dir: "str | os.PathLike", *, plots: bool = True) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the PNG plots into ``out_dir`` (created if needed).

    All files are rendered in memory first and then moved into place, so a failure leaves no
    partial report behind. Returns the written paths.
    """
    from silava.hwsim.plots import render_all

    pngs = render_all(report) if plots else {}
    files = {"report.json": (json.dumps(report, indent=1, allow_nan=False) + "\n").encode("utf-8"),
             "report.md": render_markdown(report, tuple(pngs)).encode("utf-8")}
    files.update(pngs)
    return _write_files(files, Path(out_dir))


# --------------------------------------------------------------------------- CLI glue

def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--report DIR`` and ``--constants FILE|davies2018|sanafe`` to a CLI parser."""
    group = parser.add_argument_group("hardware report (Loihi 2 cost estimate)")
    group.add_argument("--report", metavar="DIR", default=None,
                       help="write report.json, report.md and PNG plots of SOPs, sparsity, cores, latency and "
                            "energy (estimates) into DIR")
    group.add_argument("--constants", metavar="FILE|" + "|".join(BUILTIN), default=DEFAULT,
                       help=f"per-event energy/time constants: a built-in set ({', '.join(BUILTIN)}; default "
                            f"{DEFAULT}) or a JSON file with the schema of hwsim/constants/README.md")


def check_report_arguments(args: argparse.Namespace, net: "Network | None" = None) -> Optional[str]:
    """Validate ``--report``/``--constants`` (and, given ``net``, that it maps onto cores) before any
    work; returns the one-line problem, or None."""
    if getattr(args, "report", None) is None:
        return None
    try:
        load_constants(getattr(args, "constants", None))
    except ConstantsError as exc:
        return str(exc)
    out = Path(args.report)
    if out.exists() and not out.is_dir():
        return f"--report {out}: exists and is not a directory; choose another path"
    if net is not None:
        try:
            map_network(net)
        except MappingError as exc:
            return f"--report: cannot map the network onto Loihi 2 cores: {exc}"
    return None


def run_report(args: argparse.Namespace, net: "Network", x: np.ndarray, sim_result: Any) -> int:
    """Build and write the report if ``--report`` was given; 0 on success (or nothing to do), 2 on
    bad input (one line on stderr, no report files written)."""
    if getattr(args, "report", None) is None:
        return 0
    problem = check_report_arguments(args, net)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        report = build_report(net, sim_result, getattr(args, "constants", None), x=x)
        paths = write_report(report, args.report)
    except (ConstantsError, MappingError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cost = report["cost"]["per_sample"]
    print(f"hardware report: {paths[0].parent}/report.md ({report['mapping']['cores_used']} cores, "
          f"{cost['energy_pj'] / 1e6:.3g} µJ and {cost['time_ns'] / 1e3:.3g} µs per sample, "
          f"{report['estimate_label']})")
    return 0


__all__ = ["REPORT_FORMAT", "ReportError", "add_report_arguments", "build_report", "check_report_arguments",
           "render_markdown", "run_report", "write_report"]
