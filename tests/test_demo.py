"""`silava demo`: the end-to-end pipeline (--quick in the fast suite, the default run marked slow)."""
from __future__ import annotations

import json

import pytest

from conftest import needs_lava

QUICK_FILES = ["ckpt.pt", "metrics.json", "metrics.csv", "training_curve.png", "model.net", "model.quant.json",
               "model.quant.txt", "hardware/report.json", "hardware/report.md", "hardware/sops_sparsity.png",
               "hardware/energy_breakdown.png", "hardware/core_map.png", "hardware/raster.png", "compare.json",
               "compare.png", "summary.txt"]


def run(capsys, argv):
    from silava.app.demo import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def check_outputs(out_dir, stdout, stages=6):
    for name in QUICK_FILES:
        path = out_dir / name
        assert path.is_file() and path.stat().st_size > 0, name
    for i in range(1, stages + 1):
        assert f"[{i}/{stages}]" in stdout
    for needle in ("hwsim vs Lava", "Loihi 2 hardware estimate", "cores", "synaptic ops per sample",
                   "state buffers", "per step", "energy per sample", "total runtime", f"outputs in {out_dir.resolve()}"):
        assert needle in stdout, needle
    res = json.loads((out_dir / "compare.json").read_text())
    c = res["comparison"]
    assert c["lava"]["status"] == "ok"
    assert c["agreement"]["hwsim_lava"] == 1.0 and c["lava"]["readout_identical"] is True
    hw = json.loads((out_dir / "hardware" / "report.json").read_text())
    assert hw["counts"]["samples"] == c["samples"]
    assert (out_dir / "summary.txt").read_text().strip() in stdout
    return res


@needs_lava
def test_quick_demo_end_to_end(tmp_path, capsys, shm_guard):
    out_dir = tmp_path / "demo"
    rc, out, err = run(capsys, ["--quick", "--out", out_dir])
    assert rc == 0, err
    res = check_outputs(out_dir, out)
    assert res["source"]["task"] == "randman" and res["source"]["neuron"] == "csilif"


@needs_lava
def test_smoke_option(capsys, shm_guard):
    rc, out, err = run(capsys, ["--smoke", "--steps", 30])
    assert rc == 0, err
    assert "identical: True" in out


@pytest.mark.parametrize("argv, needle", [
    (["--task", "nosuch"], "invalid choice"),
    (["--epochs", "0"], "--epochs 0"),
    (["--lava-samples", "-2"], "--lava-samples -2"),
    (["--neuron", "li"], "--neuron li"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_options_one_line_exit_2(tmp_path, capsys, argv, needle):
    rc, out, err = run(capsys, [*argv, "--out", tmp_path / "o"])
    assert rc == 2 and err.count("\n") == 1 and err.startswith("silava demo: error: ") and needle in err, err
    assert not (tmp_path / "o").exists()


def test_out_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    rc, out, err = run(capsys, ["--quick", "--out", tmp_path / "f"])
    assert rc == 2 and err.count("\n") == 1 and "not a directory" in err


def test_spoken_digits_without_espeak(tmp_path, capsys, monkeypatch):
    import silava.app.demo

    monkeypatch.setattr(silava.app.demo.shutil, "which", lambda name: None)
    rc, out, err = run(capsys, ["--task", "spoken-digits", "--quick", "--out", tmp_path / "o"])
    assert rc == 2 and err.count("\n") == 1 and "espeak-ng" in err and "--task randman" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@needs_lava
def test_quick_demo_with_qat(tmp_path, capsys, shm_guard):
    out_dir = tmp_path / "demo"
    rc, out, err = run(capsys, ["--quick", "--qat-epochs", 1, "--out", out_dir])
    assert rc == 0, err
    res = check_outputs(out_dir, out, stages=7)
    assert (out_dir / "qat" / "ckpt.pt").is_file() and res["source"]["qat"] is True


@pytest.mark.slow
@needs_lava
def test_default_demo(tmp_path, capsys, shm_guard):
    """The full `make demo` run (about 1.5-3 minutes on 2 cores)."""
    out_dir = tmp_path / "demo"
    rc, out, err = run(capsys, ["--out", out_dir])
    assert rc == 0, err
    res = check_outputs(out_dir, out)
    acc = res["comparison"]["accuracy"]
    assert acc["float"] > 0.9 and acc["hwsim"] > 0.9


@pytest.mark.slow
@needs_lava
def test_quick_spoken_digits_demo(tmp_path, capsys, shm_guard, monkeypatch):
    from conftest import HAVE_ESPEAK

    if not HAVE_ESPEAK:
        pytest.skip("espeak-ng not installed")
    monkeypatch.setenv("SILAVA_CACHE", str(tmp_path / "cache"))
    out_dir = tmp_path / "demo"
    rc, out, err = run(capsys, ["--task", "spoken-digits", "--quick", "--out", out_dir])
    assert rc == 0, err
    check_outputs(out_dir, out)
