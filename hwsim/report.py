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
from silava.core.fileio import write_group

if TYPE_CHECKING:  # pragma: no cover
    from silava.core.netfile import Network

REPORT_FORMAT = "silava-hw-report"
REPORT_VERSION = 1
MAX_RASTER_EVENTS = 50_000          # per layer, to keep report.json small
REPORT_FILES = ("report.json", "report.md")


class ReportError(ValueError):
    """A report cannot be built or written (one line naming the problem and the fix)."""


# --------------------------------------------------------------------------- build

def _raster(net: "Network", sim: Any, sample: int, x: Optional[np.ndarray] = None,
            labels: Optional[np.ndarray] = None) -> Optional[dict]:
    """Spike times of one sample per spiking layer (in-window) and the readout V; with ``x`` its input events,
    with ``labels`` its true class (the predicted class comes from the simulation)."""
    if sim is None or sample >= sim.readout.shape[0]:
        return None
    steps = int(getattr(sim, "steps", 0) or net.meta.steps)
    offsets = list(getattr(sim, "offsets", []) or [0] * len(net.layers))
    spikes = iter(sim.spikes)
    panels = []
    inputs = None
    if x is not None and sample < len(x):
        t, n = np.nonzero(np.asarray(x[sample])[:steps])
        inputs = {"name": f"input ({net.meta.input_encoding})", "kind": "spikes", "size": int(net.meta.n_inputs),
                  "events": int(t.size), "truncated": bool(t.size > MAX_RASTER_EVENTS), "input": True,
                  "t": t[:MAX_RASTER_EVENTS].tolist(), "n": n[:MAX_RASTER_EVENTS].tolist()}
    for i, layer in enumerate(net.layers):
        name = f"layer/{i} ({layer.neuron_type})"
        if NEURON_COSTS[layer.neuron_type].spiking:
            arr = next(spikes)[sample, offsets[i]:offsets[i] + steps]
            t, n = np.nonzero(arr)
            total = int(t.size)
            panels.append({"name": name, "kind": "spikes", "size": layer.output_width, "events": total,
                           "outputs_per_neuron": layer.output_width // max(layer.out_features, 1),
                           "truncated": total > MAX_RASTER_EVENTS,
                           "t": t[:MAX_RASTER_EVENTS].tolist(), "n": n[:MAX_RASTER_EVENTS].tolist()})
        else:            # a graded layer: its values (a hidden sigma-delta layer's payloads, or the readout)
            outputs = getattr(sim, "outputs", None) or []
            v = (outputs[i] if outputs else sim.readout)[sample, offsets[i]:offsets[i] + steps]
            panels.append({"name": name, "kind": "values", "size": layer.out_features,
                           "values": np.asarray(v).tolist()})
    predicted = getattr(sim, "predictions", None)
    return {"sample": int(sample), "steps": steps, "layers": panels, "input": inputs,
            "predicted": None if predicted is None else int(np.asarray(predicted)[sample]),
            "label": None if labels is None or sample >= len(labels) else int(np.asarray(labels)[sample])}


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
                 raster_sample: int = 0, labels: Optional[np.ndarray] = None) -> dict[str, Any]:
    """The full hardware report as a JSON-able dict.

    ``sim_result_or_counts``: a :class:`hwsim.simulate.SimResult` (then ``x``, the input given to
    ``simulate``, is required: the first layer's SOPs depend on which inputs were active) or a
    :class:`hwsim.counts.Counts`. ``constants``: a :class:`Constants`, a built-in name or a JSON
    path (default ``davies2018``). ``mapping``: a :class:`Mapping`, :class:`CoreLimits` or None
    (default limits). ``labels``: the true classes of ``x`` (the raster plot names its sample's class).
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
        counts = counts_from_sim(net, x, sim, mapping, membrane=True)
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
    summary = summarize(counts)
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
        "counts": summary,
        "neurobench": neurobench_figures(summary),
        "cost": summarize_cost(cost, counts, meta.dt),
        "constants": const.to_dict(),
        "raster": _raster(net, sim, raster_sample, x, labels),
    }
    if sim is not None and any(layer.neuron_type == "HYBRID" for layer in net.layers):
        from silava.hwsim.populations import hybrid_populations   # the spiking and non-spiking units apart

        report["hybrid"] = hybrid_populations(net, sim, const)
    return json_safe(report)


FLOAT_LABEL = "NeuroBench on the float model"
DEPLOYED_LABEL = "deployed (quantized weights)"


def neurobench_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The NeuroBench 2.3.0 figures per sample, labelled: on the float model's weights and as deployed.

    NeuroBench counts effective synaptic operations with the weights of the model it is given;
    run on the trained float model, those are the float weights. The deployed network's
    quantized weights have more zeros (small weights round to 0), so its count is lower.
    Both are counted here on the same input rasters (this run's), so their difference is the
    weights alone; the float figure is None for a model.net without a ``float`` group.
    """
    tot = summary["total_per_sample"]
    float_ops = tot.get("float_effective_sops")
    deployed = tot["effective_sops"]
    return {
        FLOAT_LABEL: {"effective_acs": tot.get("float_effective_acs"), "effective_macs": tot.get("float_effective_macs"),
                      "effective_sops": float_ops},
        DEPLOYED_LABEL: {"effective_acs": tot["effective_acs"], "effective_macs": tot["effective_macs"],
                         "effective_sops": deployed},
        "deployed_vs_float": (deployed / float_ops - 1.0) if float_ops else None,
        "membrane_updates": tot.get("membrane_updates"),
        "activation_sparsity": summary["activation_sparsity"],
        "note": "both counts on this run's input rasters (NeuroBench SynapticOperations, per sample, bias not "
                "counted); the float model's weights come from model.net's float group. Per-layer figures: "
                "counts.layers[i].per_sample (float_effective_*, effective_*, membrane_updates)",
    }


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


def _hybrid_section(hybrid: Optional[list]) -> list[str]:
    """The populations of each hybrid layer (hwsim.populations), or nothing."""
    if not hybrid:
        return []
    lines = ["## Hybrid layers: spiking and non-spiking populations (per sample)", "",
             "Spikes are accumulates (ACs), graded payloads multiply-accumulates (MACs) where they arrive "
             "(the next layer and the recurrent synapses); every message carries the payload bits on top of a "
             f"{hybrid[0]['message_header_bits']}-bit header (an assumption), and message energy scales with its size.", ""]
    rows = []
    for h in hybrid:
        for name, p in h["populations"].items():
            e = p.get("energy_pj_per_sample", {})
            rows.append([f"layer/{h['layer']}", name.replace("_", "-"), p["units"], p["events_per_sample"],
                         p["event_rate"], p["acs_per_sample"], p["macs_per_sample"], p["messages_per_sample"],
                         p["traffic_bits_per_sample"], (e.get("total", 0.0) / 1e6) if e else "-"])
    lines += _table(["layer", "population", "units", "events", "event rate", "ACs", "MACs (graded)", "messages",
                     "traffic (bits)", "energy µJ"], rows)
    return lines


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
        [f"effective synaptic ops, {FLOAT_LABEL}", report["neurobench"][FLOAT_LABEL]["effective_sops"]],
        [f"effective synaptic ops, {DEPLOYED_LABEL}", report["neurobench"][DEPLOYED_LABEL]["effective_sops"]],
        ["membrane updates (NeuroBench)", tot.get("membrane_updates")],
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
        rows.append([s["name"], p["effective_acs"], p["effective_macs"], p.get("float_effective_sops"),
                     p["dense_sops"], p["spikes"], s["activation_sparsity"], p.get("membrane_updates"),
                     p["active_neuron_updates"], p["messages"], st["buffers"], st["connection_sparsity"]])
    lines += _table(["layer", "eff. ACs", "eff. MACs", "eff. ops (float model)", "dense ops", "spikes",
                     "act. sparsity", "membrane updates", "active updates", "messages", "buffers",
                     "conn. sparsity"], rows)
    lines += _hybrid_section(report.get("hybrid"))
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
    if "sanafe" in report:
        lines += ["## SANA-FE", "", sanafe_summary(report["sanafe"]) + ".", ""]
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
        write_group({out_dir / name: data for name, data in files.items()})
    except OSError as exc:
        raise ReportError(f"--report {out_dir}: cannot write ({exc.strerror or exc}); choose a writable path") from None
    return [out_dir / name for name in files]


def write_report(report: dict[str, Any], out_dir: "str | os.PathLike", *, plots: bool = True,
                 plot_format: str = "png") -> list[Path]:
    """Write ``report.json``, ``report.md`` and the plots (``plot_format``: png at 200 dpi, svg or pdf) into
    ``out_dir`` (created if needed).

    All files are rendered in memory first and then moved into place, so a failure leaves no
    partial report behind. Returns the written paths.
    """
    from silava.hwsim.plots import render_all

    pngs = render_all(report, plot_format) if plots else {}
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
    group.add_argument("--no-sanafe", action="store_true",
                       help="with --report: skip SANA-FE's figures (printed next to ours when the sanafe package is "
                            "installed and the network is all CUBA/LI; hwsim/sanafe.py)")
    group.add_argument("--plot-format", choices=("png", "svg", "pdf"), default="png",
                       help="format of the report's plots: png (200 dpi, default), svg or pdf (vector)")
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


def report_from_args(args: argparse.Namespace, net: "Network", x: np.ndarray, sim_result: Any,
                     labels: Optional[np.ndarray] = None) -> tuple[dict[str, Any], list[Path]]:
    """Build the ``--report`` report (with SANA-FE's figures unless ``--no-sanafe``), write it and print
    its summary lines; returns the report and the written paths. Raises ``ConstantsError``,
    ``MappingError`` or :class:`ReportError` (one line) on bad input; a folder this call created is
    removed again if writing fails."""
    report = build_report(net, sim_result, getattr(args, "constants", None), x=x, labels=labels)
    if not getattr(args, "no_sanafe", False):
        sanafe = sanafe_figures(net, x)
        if sanafe is not None:
            report["sanafe"] = sanafe
    created = not Path(args.report).exists()
    try:
        paths = write_report(report, args.report, plot_format=getattr(args, "plot_format", "png"))
    except (ReportError, OSError):
        if created:                     # the folder this run made for the report: leave nothing behind
            try:
                Path(args.report).rmdir()
            except OSError:
                pass
        raise
    cost = report["cost"]["per_sample"]
    print(f"hardware report: {paths[0].parent}/report.md ({report['mapping']['cores_used']} cores, "
          f"{cost['energy_pj'] / 1e6:.3g} µJ and {cost['time_ns'] / 1e3:.3g} µs per sample, "
          f"{report['estimate_label']})")
    if "sanafe" in report:
        print(sanafe_summary(report["sanafe"]))
    return report, paths


def run_report(args: argparse.Namespace, net: "Network", x: np.ndarray, sim_result: Any) -> int:
    """:func:`report_from_args` if ``--report`` was given; 0 on success (or nothing to do), 2 on bad input
    (one line on stderr, no report files written)."""
    if getattr(args, "report", None) is None:
        return 0
    problem = check_report_arguments(args, net)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        report_from_args(args, net, x, sim_result)
    except (ConstantsError, MappingError, ReportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


#: samples SANA-FE runs for the report (about a second each for small networks)
SANAFE_SAMPLES = 2
#: networks with more synapses are not exported to SANA-FE by the report (building them takes minutes)
SANAFE_MAX_SYNAPSES = 2_000_000


def sanafe_figures(net: "Network", x: np.ndarray) -> Optional[dict[str, Any]]:
    """SANA-FE's figures next to ours (:func:`silava.hwsim.sanafe.compare` on the first samples), a
    ``{"skipped": reason}`` when SANA-FE cannot run this network, or None without the sanafe package."""
    from silava.hwsim import sanafe as sf

    if not sf.available():
        return None
    reason = sf.expressible(net)
    synapses = sum(int(np.count_nonzero(layer.weight)) for layer in net.layers)
    if reason is None and synapses > SANAFE_MAX_SYNAPSES:
        reason = f"{synapses} synapses: more than the report exports to SANA-FE ({SANAFE_MAX_SYNAPSES}); run bench/sanafe.py"
    if reason is not None:
        return {"skipped": reason, "sanafe_version": sf.version()}
    try:
        return json_safe(sf.compare(net, np.asarray(x)[:SANAFE_SAMPLES]))
    except (sf.SanafeError, MappingError) as exc:
        return {"skipped": str(exc), "sanafe_version": sf.version()}


def sanafe_summary(fig: dict[str, Any]) -> str:
    """One line: SANA-FE's energy and time per step and hwsim's on the same spikes."""
    if "skipped" in fig:
        return f"SANA-FE {fig.get('sanafe_version', '')}: not run ({fig['skipped']})"
    s, h, d = fig["sanafe"], fig["hwsim"], fig["hwsim_minus_sanafe"]
    return (f"SANA-FE {fig['sanafe_version']} (its Loihi architecture, {fig['timing_model']} timing, {fig['samples']} "
            f"sample(s), dynamic energy): {s['energy_pj_per_step'] / 1e3:.4g} nJ and {s['time_ns_per_step'] / 1e3:.4g} µs "
            f"per step; hwsim ({fig['constants']} constants) on the same spikes: {h['energy_pj_per_step'] / 1e3:.4g} nJ "
            f"({100 * d['energy_pj_per_step']:+.1f} %) and {h['time_ns_per_step'] / 1e3:.4g} µs "
            f"({100 * d['time_ns_per_step']:+.1f} %); see bench/README.md for why they differ")


__all__ = ["DEPLOYED_LABEL", "FLOAT_LABEL", "REPORT_FORMAT", "ReportError", "neurobench_figures", "add_report_arguments", "build_report", "check_report_arguments",
           "render_markdown", "report_from_args", "run_report", "write_report"]
