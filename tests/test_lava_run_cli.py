"""lava_models/run.py (``silava run``): a real run, and one test per bad-input case.

Bad input rule: one line on stderr naming the problem and the fix, exit code 2, no
traceback, no partial output file.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, needs_lava

pytestmark = [needs_lava, pytest.mark.lava]

RUN = ROOT / "lava_models" / "run.py"
#: the stored task config (reused by --task randman): randman's default shape, few samples (fast)
SMALL_RANDMAN = {"name": "randman", "samples_per_class": 10}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small SILIF network (randman-sized: 40 inputs, 50 steps, 10 classes) and matching inputs."""
    from silava.core import netfile
    from silava.export.synth import random_inputs, random_network

    d = tmp_path_factory.mktemp("run")
    net = random_network("SILIF", [40, 12, 10], 50, seed=3)
    net.meta.task = SMALL_RANDMAN
    netfile.write(d / "model.net", net)
    x = random_inputs(net, 6, seed=4)
    np.savez(d / "data.npz", x=x, y=np.arange(6) % 10)
    return d


def run_main(capsys, *args):
    from silava import lava_models  # noqa: F401
    from silava.app.run import main

    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def assert_bad_input(rc: int, err: str, *words: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert rc == 2, err
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert "Traceback" not in err
    assert lines[0].startswith("silava run: error:")
    for word in words:
        assert word in lines[0], lines[0]


def test_run_inputs_json_and_hwsim_agreement(model, tmp_path, capsys, shm_guard):
    out_json = tmp_path / "run.json"
    rc, out, err = run_main(capsys, model / "model.net", "--inputs", model / "data.npz", "--compare-hwsim",
                            "--json", out_json, "--no-progress", "--chunk", "4")
    assert rc == 0, err
    assert "accuracy:" in out and "sample-steps/s" in out
    assert "agreement with hwsim predictions: 1.0000" in out and "readout bit-identical: yes" in out
    data = json.loads(out_json.read_text())
    assert data["samples"] == 6 and data["hwsim_agreement"] == 1.0 and data["hwsim_readout_identical"] is True
    assert len(data["predictions"]) == 6 and data["backend"] == "sim" and data["tag"] == "fixed_pt"
    assert data["sample_steps_per_s"] > 0


def test_run_as_a_file_from_another_cwd_with_a_task(model, tmp_path, shm_guard):
    """``python lava_models/run.py`` works from any directory; --task loads data via silava.core.tasks."""
    res = subprocess.run([sys.executable, str(RUN), str(model / "model.net"), "--task", "randman",
                          "--samples", "3", "--no-progress"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "task randman (test split), 3 samples" in res.stdout
    assert "accuracy:" in res.stdout


def test_silava_run_dispatches(model, capsys, shm_guard):
    from silava.app.cli import main

    rc = main(["run", str(model / "model.net"), "--inputs", str(model / "data.npz"), "--samples", "2",
               "--no-progress"])
    assert rc == 0
    assert "accuracy:" in capsys.readouterr().out


def test_missing_lava(model, capsys, monkeypatch):
    from silava import lava_models

    monkeypatch.setattr(lava_models, "lava_available", lambda: False)
    rc, out, err = run_main(capsys, model / "model.net", "--inputs", model / "data.npz")
    assert_bad_input(rc, err, "Lava is not installed", "pip install")


def test_loihi2_without_lava_loihi_explains_access(model, tmp_path, capsys):
    from lava.utils import loihi

    if loihi.is_installed():
        pytest.skip("lava-loihi is installed here")
    out_json = tmp_path / "x.json"
    rc, out, err = run_main(capsys, model / "model.net", "--inputs", model / "data.npz", "--backend", "loihi2",
                            "--json", out_json)
    assert_bad_input(rc, err, "lava-loihi", "INRC", "--backend sim")
    assert not out_json.exists() and "accuracy" not in out


@pytest.mark.parametrize("content", [b"not an hdf5 file at all", b"\x89HDF\r\n\x1a\n" + b"\0" * 40])
def test_malformed_model_net(tmp_path, capsys, content, model):
    bad = tmp_path / "bad.net"
    bad.write_bytes(content)
    out_json = tmp_path / "out.json"
    rc, out, err = run_main(capsys, bad, "--inputs", model / "data.npz", "--json", out_json)
    assert_bad_input(rc, err, "bad.net")
    assert not out_json.exists()


def test_missing_model_file(tmp_path, capsys, model):
    rc, out, err = run_main(capsys, tmp_path / "nope.net", "--inputs", model / "data.npz")
    assert_bad_input(rc, err, "no such file")


def test_task_size_mismatch(tmp_path, capsys):
    """A network whose input width differs from the task's: one line naming both sizes."""
    from silava.core import netfile
    from silava.export.synth import random_network

    net = random_network("SILIF", [16, 8, 10], 50, seed=1)
    net.meta.task = SMALL_RANDMAN
    netfile.write(tmp_path / "m.net", net)
    rc, out, err = run_main(capsys, tmp_path / "m.net", "--task", "randman", "--samples", "2")
    assert_bad_input(rc, err, "40 input channels", "expects 16")


def test_inputs_size_mismatch(model, tmp_path, capsys):
    np.savez(tmp_path / "wrong.npz", x=np.zeros((2, 50, 7), np.int64), y=np.zeros(2, np.int64))
    rc, out, err = run_main(capsys, model / "model.net", "--inputs", tmp_path / "wrong.npz")
    assert_bad_input(rc, err, "7 features", "expects 40")


def test_floating_pt_without_float_group(model, capsys):
    rc, out, err = run_main(capsys, model / "model.net", "--inputs", model / "data.npz", "--tag", "floating_pt")
    assert_bad_input(rc, err, "float", "--tag fixed_pt")


@pytest.mark.parametrize("args, words", [
    ([], ["--task TASK or --inputs"]),
    (["--samples", "0"], ["--samples 0"]),
    (["--timeout", "0"], ["--timeout"]),
    (["--backend", "gpu"], ["invalid choice"]),
    (["--json", "/nonexistent-dir/x.json"], ["does not exist"]),
])
def test_bad_options(model, capsys, args, words):
    extra = ["--inputs", str(model / "data.npz")] if args and args[0] != "--task" else []
    rc, out, err = run_main(capsys, model / "model.net", *args, *extra)
    assert_bad_input(rc, err, *words)
