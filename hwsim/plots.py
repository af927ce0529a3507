"""Figures of a hardware report (matplotlib's Agg canvas; no pyplot, no global backend change).

Each function takes the report dict of :func:`hwsim.report.build_report` and returns the figure's
bytes in ``fmt`` — ``png`` at :data:`DPI` dots per inch, or the vector formats ``svg`` / ``pdf`` —
or None when the report lacks the data (no raster without a simulation result). Legends list only
series that have a visible bar; value labels stay inside the axes.
"""
from __future__ import annotations

import io
from typing import Any, Optional

import numpy as np

DPI = 200
FORMATS = ("png", "svg", "pdf")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig, fmt: str = "png") -> bytes:
    """The figure as ``png`` (:data:`DPI` dpi), ``svg`` or ``pdf`` bytes; the metadata that names the
    software and date is left out, so the same figure gives the same bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"plot format {fmt!r}: use one of {', '.join(FORMATS)}")
    buf = io.BytesIO()
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}[fmt]
    fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata)
    return buf.getvalue()



def _short(name: str) -> str:
    return name.split(" ", 1)[0].replace("layer/", "L") + "\n" + name.split(" ", 1)[-1].strip("()")


def plot_sops_sparsity(report: dict[str, Any], fmt: str = "png") -> bytes:
    """Per layer: effective ACs / MACs and dense ops per sample (log scale); activation sparsity."""
    layers = report["counts"]["layers"]
    names = [_short(s["name"]) for s in layers]
    acs = np.array([s["per_sample"]["effective_acs"] for s in layers])
    macs = np.array([s["per_sample"]["effective_macs"] for s in layers])
    dense = np.array([s["per_sample"]["dense_sops"] for s in layers])
    sparsity = np.array([s["activation_sparsity"] for s in layers])
    fig = _figure(9, 3.8)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    pos = np.arange(len(layers))
    for off, vals, label, color in ((-0.27, acs, "effective ACs", "C0"), (0.0, macs, "effective MACs", "C1"),
                                    (0.27, dense, "dense ops", "0.7")):
        ax1.bar(pos + off, vals, 0.27, label=label if np.any(vals > 0) else "_nolegend_", color=color)
    ax1.set_yscale("log")
    positive = np.concatenate([acs, macs, dense])
    positive = positive[positive > 0]
    if positive.size:
        ax1.set_ylim(positive.min() / 3, positive.max() * 3)
    ax1.set_xticks(pos, names, fontsize=8)
    ax1.set_ylabel("synaptic ops per sample")
    ax1.set_title("Synaptic operations (NeuroBench)", fontsize=10)
    ax1.legend(fontsize=8)
    ax2.bar(pos, sparsity, color="tab:green")
    ax2.set_ylim(0, 1)
    ax2.set_xticks(pos, names, fontsize=8)
    ax2.set_ylabel("zeros / outputs")
    ax2.set_title("Activation sparsity", fontsize=10)
    for p, v in zip(pos, sparsity):
        ax2.text(p, min(v + 0.02, 0.93), f"{v:.2f}", ha="center", fontsize=8, clip_on=True)
    fig.tight_layout()
    return figure_bytes(fig, fmt)


def plot_energy_breakdown(report: dict[str, Any], fmt: str = "png") -> bytes:
    """Stacked bars: dynamic energy per layer by category; total per sample incl. static."""
    cost = report["cost"]
    layers = cost["layers"]
    cats = ["neuron_updates", "synaptic_ops", "output_events", "messages", "hops"]
    fig = _figure(9, 3.8)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    pos = np.arange(len(layers))
    bottom = np.zeros(len(layers))
    for i, cat in enumerate(cats):
        vals = np.array([lay["energy_pj_per_sample"][cat] for lay in layers]) * 1e-6
        ax1.bar(pos, vals, 0.6, bottom=bottom, color=f"C{i}",
                label=cat.replace("_", " ") if np.any(vals > 0) else "_nolegend_")
        bottom += vals
    ax1.set_xticks(pos, [_short(lay["name"]) for lay in layers], fontsize=8)
    ax1.set_ylabel("µJ per sample")
    ax1.set_title(f"Dynamic energy per layer — {cost['label']}", fontsize=9)
    ax1.legend(fontsize=7)
    br = cost["energy_breakdown_pj_per_sample"]
    keys = cats + ["static"]
    vals = np.array([br[k] for k in keys]) * 1e-6
    ax2.barh(np.arange(len(keys)), vals, color=[f"C{i}" for i in range(len(cats))] + ["0.5"])
    ax2.set_yticks(np.arange(len(keys)), [k.replace("_", " ") for k in keys], fontsize=8)
    ax2.set_xlabel("µJ per sample")
    ax2.set_title(f"Total {cost['per_sample']['energy_pj'] * 1e-6:.3g} µJ/sample (estimate)", fontsize=9)
    fig.tight_layout()
    return figure_bytes(fig, fmt)


def plot_core_map(report: dict[str, Any], fmt: str = "png") -> bytes:
    """The mesh of every chip in use: cores coloured by layer, labelled with their fullest resource."""
    from matplotlib.patches import Rectangle

    mapping = report["mapping"]
    geo = mapping["geometry"]
    cw, ch = geo["chip_cores"]
    tw, th = geo["tile_cores"]
    chips = mapping["chips_used"]
    fig = _figure(min(2 + 6 * chips, 20), 4.6)
    ax = fig.add_subplot(1, 1, 1)
    gap = 1
    for chip in range(chips):
        ox = chip * (cw + gap)
        ax.add_patch(Rectangle((ox, 0), cw, ch, fill=False, lw=1.5))
        for tx in range(0, cw, tw):
            for ty in range(0, ch, th):
                ax.add_patch(Rectangle((ox + tx, ty), tw, th, fill=False, lw=0.5, ec="0.6"))
    n_layers = len(mapping["layers"])
    for core in mapping["cores"]:
        ox = core["chip"] * (cw + gap)
        occ = core["occupancy"]
        worst = max(occ, key=occ.get)
        ax.add_patch(Rectangle((ox + core["x"] + 0.05, core["y"] + 0.05), 0.9, 0.9,
                               color=f"C{core['layer'] % 10}", alpha=0.35 + 0.6 * min(1.0, occ[worst])))
        ax.text(ox + core["x"] + 0.5, core["y"] + 0.5, f"L{core['layer']}\n{occ[worst] * 100:.0f}%",
                ha="center", va="center", fontsize=6)
    for i in range(n_layers):
        ax.plot([], [], "s", color=f"C{i % 10}", label=mapping["layers"][i]["name"])
    ax.set_xlim(-0.5, chips * (cw + gap) - gap + 0.5)
    ax.set_ylim(ch + 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"Core map: {mapping['cores_used']} cores on {chips} chip(s), {mapping['tiles_used']} tile(s); "
                 "label = fullest resource (% of its limit)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=min(3, n_layers), frameon=False)
    fig.tight_layout()
    return figure_bytes(fig, fmt)


def plot_raster(report: dict[str, Any], fmt: str = "png") -> Optional[bytes]:
    """Spike raster of one sample: its input, one panel per spiking layer, the readout state V as an image
    (labelled colour bar); the title names the sample's true and predicted class."""
    raster = report.get("raster")
    if not raster or not raster.get("layers"):
        return None
    panels = ([raster["input"]] if raster.get("input") else []) + list(raster["layers"])
    fig = _figure(9, 1.2 + 1.9 * len(panels))
    axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True))
    steps = raster["steps"]
    for ax, panel in zip(axes, panels):
        if panel["kind"] == "spikes":
            big = panel["size"] > 64           # small layers get larger marks (else they vanish)
            ax.scatter(panel["t"], panel["n"], s=2.0 if panel.get("input") else (0.6 if big else 12.0), marker="|",
                       color="C0" if panel.get("input") else "k", linewidths=0.5 if big else 1.0)
            ax.set_ylim(-0.5, panel["size"] - 0.5)
            m = panel.get("outputs_per_neuron", 1)
            ax.set_ylabel("input unit" if panel.get("input") else "neuron" if m == 1 else f"output (neuron·{m} + m)",
                          fontsize=8)
            extra = " (first events only)" if panel.get("truncated") else ""
            what = "input events" if panel.get("input") else "spikes"
            ax.set_title(f"{panel['name']}: {panel['events']} {what}{extra}", fontsize=8)
        else:
            v = np.asarray(panel["values"], dtype=float).T
            im = ax.imshow(v, aspect="auto", interpolation="nearest", cmap="coolwarm", origin="lower",
                           extent=(-0.5, steps - 0.5, -0.5, v.shape[0] - 0.5))
            bar = fig.colorbar(im, ax=ax, pad=0.01)
            bar.set_label("readout V (state units)", fontsize=7)
            ax.set_ylabel("class", fontsize=8)
            ax.set_title(f"{panel['name']}: readout state V", fontsize=8)
    axes[-1].set_xlabel("time step")
    axes[-1].set_xlim(-0.5, steps - 0.5)
    title = f"Sample {raster['sample']}"
    if raster.get("label") is not None:
        title += f": true class {raster['label']}"
    if raster.get("predicted") is not None:
        title += f"{',' if raster.get('label') is not None else ':'} predicted {raster['predicted']}"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return figure_bytes(fig, fmt)


#: file name -> figure function
PLOTS = {
    "sops_sparsity.png": plot_sops_sparsity,
    "energy_breakdown.png": plot_energy_breakdown,
    "core_map.png": plot_core_map,
    "raster.png": plot_raster,
}


def render_all(report: dict[str, Any], fmt: str = "png") -> dict[str, bytes]:
    """Every figure that the report has data for: ``{file name: bytes}`` (``fmt``: png, svg or pdf)."""
    if fmt not in FORMATS:
        raise ValueError(f"plot format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = {}
    for name, fn in PLOTS.items():
        data = fn(report, fmt)
        if data is not None:
            out[name[: -len(".png")] + "." + fmt] = data
    return out
