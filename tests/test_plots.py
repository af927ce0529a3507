"""Plots (issue 15, item 14): PNG at >= 200 dpi or vector SVG/PDF; the raster names its input and its true and
predicted class; the colour bar is labelled; legends list only series with visible bars.

Text checks read the SVG with ``svg.fonttype = none`` (text kept as <text>, not outlines).
"""
from __future__ import annotations

import struct

import matplotlib
import numpy as np
import pytest


def _png_dpi(data: bytes) -> float:
    """Dots per inch from a PNG's pHYs chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"pHYs":
            ppm_x = struct.unpack(">I", data[pos + 8:pos + 12])[0]
            return ppm_x * 0.0254
        pos += 12 + length
    raise AssertionError("no pHYs chunk")


@pytest.fixture(scope="module")
def report():
    from silava.export.synth import random_inputs, random_network
    from silava.hwsim.report import build_report
    from silava.hwsim.simulate import simulate

    net = random_network("SILIF", [12, 10, 4], 20, seed=3)
    x = random_inputs(net, 6, seed=4)
    y = np.arange(6) % 4
    sim = simulate(net, x)
    return build_report(net, sim, x=x, labels=y), sim


@pytest.fixture
def text_svg():
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        yield


def test_report_plots_in_every_format(report):
    from silava.hwsim.plots import render_all

    data, _ = report
    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
        files = render_all(data, fmt)
        assert sorted(files) == sorted(f"{n}.{fmt}" for n in ("sops_sparsity", "energy_breakdown", "core_map",
                                                               "raster"))
        assert all(b.startswith(magic) for b in files.values()), fmt
    assert all(_png_dpi(b) >= 199.9 for b in render_all(data, "png").values())
    with pytest.raises(ValueError, match="plot format"):
        render_all(data, "jpg")


def test_raster_names_input_true_and_predicted_class(report, text_svg):
    from silava.hwsim.plots import plot_raster

    data, sim = report
    raster = data["raster"]
    assert raster["label"] == 0 and raster["predicted"] == int(sim.predictions[0])
    assert raster["input"]["events"] > 0 and raster["input"]["size"] == 12
    svg = plot_raster(data, "svg").decode()
    assert f"true class 0, predicted {raster['predicted']}" in svg
    assert "input (binary)" in svg and "input unit" in svg
    assert "readout V (state units)" in svg              # the colour bar's label


def test_legends_list_only_series_with_bars(report, text_svg):
    from silava.hwsim.plots import plot_energy_breakdown, plot_sops_sparsity

    data, _ = report
    assert all(s["per_sample"]["effective_macs"] == 0 for s in data["counts"]["layers"])   # binary inputs
    svg = plot_sops_sparsity(data, "svg").decode()
    assert "effective ACs" in svg and "effective MACs" not in svg
    energy = plot_energy_breakdown(data, "svg").decode()
    zero = [c for c in ("neuron_updates", "synaptic_ops", "output_events", "messages", "hops")
            if all(lay["energy_pj_per_sample"][c] == 0 for lay in data["cost"]["layers"])]
    assert zero, "the case has no empty category"
    for cat in zero:     # once: the tick label of the total's bar; a legend entry would be a second
        assert energy.count(f">{cat.replace('_', ' ')}<") == 1, cat


def test_training_curve_formats(tmp_path):
    from silava.train.plots import plot_training_curve

    history = [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5, "valid_loss": 1.1 / e, "valid_acc": 0.4 + e / 10}
               for e in (1, 2, 3)]
    for fmt, magic in (("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")):
        path = plot_training_curve(history, tmp_path / f"curve.{fmt}", test_acc=0.5)
        assert path.read_bytes().startswith(magic)
    assert _png_dpi((tmp_path / "curve.png").read_bytes()) >= 199.9
    with pytest.raises(ValueError, match="plot format 'gif'"):
        plot_training_curve(history, tmp_path / "curve.gif")


def test_compare_plot_formats_and_value_labels_inside(text_svg):
    from silava.app.compare import plot_comparison

    result = {"source": {"model": "csilif 8 -> 2", "task": "randman"},
              "comparison": {"samples": 4, "accuracy": {"float": 1.0, "float_sum_v": 1.0, "hwsim": 1.0,
                                                         "hwsim_sum_v": 0.5, "lava": None, "lava_sum_v": None},
                             "lava": {"status": "missing", "samples": 0},
                             "layers": [{"type": "CSILIF", "per_sample_correlation": None}],
                             "spike_totals": {"float": [[1, 2, 3, 4]], "fixed": [[1, 2, 3, 5]]}}}
    png = plot_comparison(result)
    assert _png_dpi(png) >= 199.9
    assert plot_comparison(result, "pdf").startswith(b"%PDF")
    svg = plot_comparison(result, "svg").decode()
    assert "100.0" in svg and "n/a" in svg
