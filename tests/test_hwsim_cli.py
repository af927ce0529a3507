"""`python hwsim/simulate.py model.net ...` / `silava sim`: outputs, JSON, and every bad-input case."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from silava.core.netfile import write
from silava.export.synth import random_inputs, random_network
from silava.hwsim.simulate import main, simulate

SCRIPT = ROOT / "hwsim" / "simulate.py"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A randman-shaped network (40 inputs, 50 steps, 10 classes) and an inputs .npz."""
    d = tmp_path_factory.mktemp("cli")
    net = random_network("SILIF", [40, 24, 10], 50, seed=1)
    net.meta.task = {"name": "randman"}
    write(d / "model.net", net)
    x = random_inputs(net, 24, seed=2)
    y = np.arange(24) % 10
    np.savez(d / "data.npz", x=x, y=y)
    return {"dir": d, "net": net, "model": d / "model.net", "npz": d / "data.npz", "x": x, "y": y}


def _bad(capsys, argv: list[str], match: str) -> str:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert rc == 2, captured
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert match in lines[0], lines[0]
    return lines[0]


def test_inputs_npz_prints_summary_and_writes_json(files, capsys, tmp_path):
    out = tmp_path / "res.json"
    rc = main([str(files["model"]), "--inputs", str(files["npz"]), "--json", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "accuracy:" in text and "decision agreement:" in text and "counters:" in text
    data = json.loads(out.read_text())
    res = simulate(files["net"], files["x"])
    assert data["predictions"] == res.predictions.tolist()
    assert data["predictions_sum_v"] == res.predictions_sum_v.tolist()
    assert data["labels"] == files["y"].tolist()
    assert data["accuracy"] == pytest.approx(float(np.mean(res.predictions == files["y"])))
    assert data["decision_agreement"] == pytest.approx(float(np.mean(res.predictions == res.predictions_sum_v)))
    assert data["layers"][0]["spikes_total"] == int(res.spikes[0].sum())
    assert data["counters"] == dict(res.counters["total"])
    assert data["timeline"] == "logical" and data["samples"] == 24
    assert not list(tmp_path.glob(".res.json*"))            # no temp file left


def test_samples_and_lava_timeline(files, capsys, tmp_path):
    out = tmp_path / "lava.json"
    assert main([str(files["model"]), "--inputs", str(files["npz"]), "--samples", "5", "--timeline", "lava",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    logical = simulate(files["net"], files["x"][:5])
    assert data["samples"] == 5 and data["timeline"] == "lava"
    assert data["predictions"] == logical.predictions.tolist()   # in-window readout is the same
    assert "timeline lava" in capsys.readouterr().out


def test_task_input_path(files, capsys, tmp_path):
    out = tmp_path / "task.json"
    rc = main([str(files["model"]), "--task", "randman", "--samples", "8", "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["samples"] == 8 and len(data["labels"]) == 8
    assert "task randman (test split)" in data["inputs"]


def test_runs_as_a_file_from_any_cwd_and_via_silava(files, tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(files["model"]), "--inputs", str(files["npz"])],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "accuracy:" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "silava", "sim", str(files["model"]), "--inputs",
                           str(files["npz"]), "--timeline", "lava"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "timeline lava" in proc.stdout
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "missing.net"), "--inputs",
                          str(files["npz"])], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- bad input: exit 2, one line

def test_missing_model(files, capsys, tmp_path):
    _bad(capsys, [tmp_path / "nope.net", "--inputs", files["npz"]], "no such file")


def test_malformed_model(files, capsys, tmp_path):
    text = tmp_path / "text.net"
    text.write_text("not hdf5\n")
    _bad(capsys, [text, "--inputs", files["npz"]], "not an HDF5 file")
    truncated = tmp_path / "trunc.net"
    truncated.write_bytes(files["model"].read_bytes()[:3000])
    _bad(capsys, [truncated, "--inputs", files["npz"]], "trunc.net")


def test_unknown_task(files, capsys):
    _bad(capsys, [files["model"], "--task", "no-such-task"], "unknown task")


def test_task_input_size_mismatch(capsys, tmp_path):
    net = random_network("SILIF", [12, 8, 10], 50, seed=1)
    write(tmp_path / "small.net", net)
    line = _bad(capsys, [tmp_path / "small.net", "--task", "randman", "--samples", "4"], "40 input channels")
    assert "12" in line


def test_npz_size_mismatch_and_malformed(files, capsys, tmp_path):
    np.savez(tmp_path / "wide.npz", x=np.zeros((3, 50, 41), np.int64), y=np.zeros(3, np.int64))
    _bad(capsys, [files["model"], "--inputs", tmp_path / "wide.npz"], "41 features but the network expects 40")
    np.savez(tmp_path / "long.npz", x=np.zeros((3, 51, 40), np.int64), y=np.zeros(3, np.int64))
    _bad(capsys, [files["model"], "--inputs", tmp_path / "long.npz"], "51 steps")
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((3, 50, 40), np.int64))
    _bad(capsys, [files["model"], "--inputs", tmp_path / "nolabels.npz"], "needs arrays 'x'")
    (tmp_path / "junk.npz").write_text("junk")
    _bad(capsys, [files["model"], "--inputs", tmp_path / "junk.npz"], "not a readable .npz")
    _bad(capsys, [files["model"], "--inputs", tmp_path / "absent.npz"], "no such file")


def test_unwritable_json_leaves_no_file(files, capsys, tmp_path):
    target = tmp_path / "missing_dir" / "out.json"
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--json", target], "does not exist")
    assert not target.exists() and not target.parent.exists()
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--json", tmp_path], "is a directory")
    under_file = tmp_path / "plain.txt"
    under_file.write_text("x")
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--json", under_file / "out.json"], "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


def test_bad_options(files, capsys):
    _bad(capsys, [files["model"]], "--task TASK or --inputs")
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--task", "randman"], "not allowed with")
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--samples", "0"], "--samples 0")
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--timeline", "loihi"], "invalid choice")
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--frobnicate"], "unrecognized arguments")
    assert main(["--help"]) == 0
    assert "--timeline" in capsys.readouterr().out


@pytest.mark.parametrize("which", ["model", "npz"])
def test_json_over_an_input_is_refused(files, capsys, which):
    """`--json model.net` / `--json x.npz` would destroy an input: one line, exit 2, the input intact."""
    before = files[which].read_bytes()
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--json", files[which]], "writing it would destroy the input")
    assert files[which].read_bytes() == before


def test_report_over_an_input_is_refused(files, capsys, tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / "report.json").write_text("{}")
    _bad(capsys, [files["model"], "--inputs", files["npz"], "--report", d, "--constants", d / "report.json"],
         "writing it would destroy the input")
