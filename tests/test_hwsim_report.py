"""silava.hwsim.report: report.json keys, report.md, PNG plots, and the --report / --constants CLI glue."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from silava.export.synth import random_inputs, random_network
from silava.hwsim.counts import counts_from_sim, summarize
from silava.hwsim.report import (ReportError, add_report_arguments, build_report, check_report_arguments,
                                 render_markdown, run_report, write_report)
from silava.hwsim.simulate import simulate

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("sops_sparsity.png", "energy_breakdown.png", "core_map.png", "raster.png")


@pytest.fixture(scope="module")
def case():
    net = random_network("SILIF", [24, 20, 16, 5], steps=15, seed=1, input_message_bits=8)
    x = random_inputs(net, 3, seed=2)
    sim = simulate(net, x, timeline="lava")
    return net, x, sim


@pytest.fixture(scope="module")
def written(case, tmp_path_factory):
    net, x, sim = case
    report = build_report(net, sim, "davies2018", x=x)
    out = tmp_path_factory.mktemp("rep") / "hw"
    paths = write_report(report, out)
    return report, out, paths


def test_files_written(written):
    _, out, paths = written
    names = {p.name for p in paths}
    assert names == {"report.json", "report.md", *PLOTS}
    for name in PLOTS:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 2000
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]       # no temp folder left


def test_json_keys_and_labels(written, case):
    report, out, _ = written
    net, x, sim = case
    data = json.loads((out / "report.json").read_text())
    assert data == report
    for key in ("format", "network", "run", "buffers", "memory", "mapping", "counts", "cost", "constants", "raster",
                "estimate_label"):
        assert key in data
    assert data["estimate_label"] == "estimate (constants: davies2018)"
    assert data["cost"]["label"] == data["estimate_label"]
    assert data["run"]["timeline"] == "lava" and data["run"]["lava_steps_per_sample"] == 15 + 3
    counts = data["counts"]
    assert counts["samples"] == 3 and counts["steps"] == 15
    assert len(counts["per_step_mean_effective_sops"]) == 15 and len(counts["per_sample_total_effective_sops"]) == 3
    layer = counts["layers"][0]
    for key in ("effective_acs", "effective_macs", "effective_sops", "dense_sops", "spikes", "messages",
                "neuron_updates", "active_neuron_updates"):
        assert key in layer["per_sample"]
    assert layer["per_sample"]["effective_macs"] > 0                 # graded first layer
    assert counts == json.loads(json.dumps(summarize(counts_from_sim(net, x, sim, membrane=True))))
    cost = data["cost"]
    assert len(cost["per_step_mean"]["time_ns"]) == 15 and len(cost["per_sample_total"]["energy_pj"]) == 3
    assert set(cost["energy_breakdown_pj_per_sample"]) == {"neuron_updates", "synaptic_ops", "output_events",
                                                            "messages", "hops", "static"}
    assert cost["per_sample"]["energy_pj"] == pytest.approx(sum(cost["energy_breakdown_pj_per_sample"].values()))
    assert data["buffers"]["hidden_layers"] == 2 * (20 + 16) and data["buffers"]["prev_spike_bits"] == 36
    assert data["mapping"]["cores_used"] == 3 and len(data["mapping"]["cores"]) == 3
    assert all(e["source"] for e in data["constants"]["constants"].values())
    raster = data["raster"]
    assert [p["kind"] for p in raster["layers"]] == ["spikes", "spikes", "values"]
    first = raster["layers"][0]
    assert first["events"] == int(sim.spikes[0][0, 1:16].sum()) and len(first["t"]) == first["events"]


def test_markdown_labels_estimates(written):
    _, out, _ = written
    md = (out / "report.md").read_text()
    assert md.startswith("# Loihi 2 hardware report")
    assert "estimate" in md and "davies2018" in md and "Davies et al. 2018" in md
    for name in PLOTS:
        assert f"]({name})" in md


def test_report_from_counts_has_no_raster(case, tmp_path):
    net, x, sim = case
    report = build_report(net, counts_from_sim(net, x, sim), "sanafe")
    assert report["raster"] is None and report["constants"]["name"] == "sanafe"
    paths = write_report(report, tmp_path / "r", plots=False)
    assert {p.name for p in paths} == {"report.json", "report.md"}


def test_build_report_needs_x_with_a_sim_result(case):
    net, _, sim = case
    with pytest.raises(ReportError, match="pass x="):
        build_report(net, sim)


def test_write_report_into_a_file_path_fails_cleanly(case, tmp_path):
    net, x, sim = case
    report = build_report(net, counts_from_sim(net, x, sim))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match="not a directory"):
        write_report(report, blocker, plots=False)
    with pytest.raises(ReportError, match="cannot create"):
        write_report(report, blocker / "sub", plots=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# --------------------------------------------------------------------------- CLI glue

def _args(*argv):
    parser = argparse.ArgumentParser()
    add_report_arguments(parser)
    return parser.parse_args(list(argv))


def test_arguments_defaults():
    args = _args()
    assert args.report is None and args.constants == "davies2018"
    assert check_report_arguments(args) is None


def test_run_report_without_flag_does_nothing(case, capsys):
    net, x, sim = case
    assert run_report(_args(), net, x, sim) == 0
    assert capsys.readouterr().out == ""


def test_run_report_writes(case, tmp_path, capsys):
    net, x, sim = case
    out = tmp_path / "hw"
    assert run_report(_args("--report", str(out), "--constants", "sanafe"), net, x, sim) == 0
    assert (out / "report.json").is_file() and (out / "raster.png").is_file()
    text = capsys.readouterr().out
    assert "hardware report" in text and "estimate (constants: sanafe)" in text


@pytest.mark.parametrize("bad", ["missing.json", "invalid.json", "schema.json", "davies2019"])
def test_run_report_bad_constants(case, tmp_path, capsys, bad):
    net, x, sim = case
    (tmp_path / "invalid.json").write_text("{oops")
    (tmp_path / "schema.json").write_text(json.dumps({"schema": "silava-hw-constants", "schema_version": 1,
                                                      "name": "x", "constants": {}}))
    const = bad if bad == "davies2019" else str(tmp_path / bad)
    out = tmp_path / "hw"
    args = _args("--report", str(out), "--constants", const)
    assert check_report_arguments(args) is not None
    assert run_report(args, net, x, sim) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and err.startswith("error: ")
    assert not out.exists()


def test_run_report_path_is_a_file(case, tmp_path, capsys):
    net, x, sim = case
    blocker = tmp_path / "taken"
    blocker.write_text("keep me")
    assert run_report(_args("--report", str(blocker)), net, x, sim) == 2
    err = capsys.readouterr().err
    assert "not a directory" in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "keep me"


def test_run_report_unmappable_network(tmp_path, capsys):
    net = random_network("SILIF", [4100, 4, 2], steps=2, seed=0)      # fan-in over the 4096 input axons
    x = random_inputs(net, 1, seed=0)
    args = _args("--report", str(tmp_path / "hw"))
    assert "fan-in (input axons) 4100 > limit 4096 (over by 4)" in check_report_arguments(args, net)
    assert run_report(args, net, x, simulate(net, x)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "layer/0" in err and "over by 4" in err
    assert not (tmp_path / "hw").exists()


def test_json_is_strict(case):
    net, x, sim = case
    report = build_report(net, counts_from_sim(net, x[:1], simulate(net, x[:1])))
    json.dumps(report, allow_nan=False)
    assert isinstance(report["cost"]["per_sample"]["energy_pj"], float)
    assert np.isfinite(report["cost"]["per_sample"]["energy_pj"])


def test_neurobench_figures_labelled(case):
    """Both NeuroBench figures, labelled; the float one needs the file's float group."""
    net, x, sim = case
    report = build_report(net, sim, "davies2018", x=x)
    nb = report["neurobench"]
    assert nb["NeuroBench on the float model"]["effective_sops"] is None          # no float group
    assert nb["deployed (quantized weights)"]["effective_sops"] == report["counts"]["total_per_sample"]["effective_sops"]
    assert nb["membrane_updates"] > 0
    import copy

    with_float = copy.deepcopy(net)
    for layer in with_float.layers:
        w = layer.weight.astype(np.float64)
        w[w == 0] = 1e-9                      # the float model's small weights, rounded to zero when deployed
        layer.float_params = {"weight": w}
    nb = build_report(with_float, sim, "davies2018", x=x)["neurobench"]
    fl, dep = nb["NeuroBench on the float model"], nb["deployed (quantized weights)"]
    assert fl["effective_sops"] > dep["effective_sops"] and nb["deployed_vs_float"] < 0
    md = render_markdown(build_report(with_float, sim, "davies2018", x=x))
    assert "NeuroBench on the float model" in md and "deployed (quantized weights)" in md
