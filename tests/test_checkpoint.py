"""train/checkpoint.py: round trip, weights_only loading, atomic writes, one-line errors."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
import torch

from conftest import ROOT
from silava.train.checkpoint import (CKPT_NAME, FORMAT, FORMAT_VERSION, CheckpointError, atomic_write,
                              load_checkpoint, make_checkpoint, read_checkpoint, save_checkpoint,
                              to_plain)
from silava.train.config import DEFAULTS, model_config
from silava.train.model import build_model
from silava.train.neurons import NEURONS

HIDDEN_TYPES = sorted(n for n in NEURONS if n != "li")


def tiny_model(neuron: str = "csilif", init_state: str = "zeros"):
    cfg = dict(DEFAULTS, neuron=neuron, hidden=6, layers=2, init_state=init_state)
    torch.manual_seed(0)
    return build_model(model_config(cfg, n_inputs=5, n_classes=3))


def save_tiny(path, model=None, **overrides):
    model = model if model is not None else tiny_model()
    kwargs = dict(data_config={"name": "randman"}, train_config={"lr": 0.01, "epochs": 1},
                  metrics={"best_valid_acc": 0.5, "test_acc": 0.4, "history": []}, seed=3)
    kwargs.update(overrides)
    return save_checkpoint(path, model, **kwargs)


def write_dict(path, ckpt):
    torch.save(ckpt, path)
    return path


def good_dict(model=None):
    return make_checkpoint(model if model is not None else tiny_model(), data_config={"name": "randman"},
                           train_config={}, metrics={"best_valid_acc": 0.5, "test_acc": 0.4, "history": []},
                           seed=1)


# ---------------------------------------------------------------------------- round trip

@pytest.mark.parametrize("neuron", HIDDEN_TYPES)
def test_round_trip_same_outputs(tmp_path, neuron):
    model = tiny_model(neuron)
    x = (torch.rand(4, 12, 5, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    model.train()  # move the BatchNorm running statistics away from their init
    model(x)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    path = save_tiny(tmp_path / CKPT_NAME, model)

    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["format_version"] == FORMAT_VERSION
    assert set(raw) >= {"state_dict", "model_config", "data_config", "train_config", "metrics", "seed",
                        "versions"}
    assert raw["model_config"]["neuron"] == neuron
    assert set(raw["versions"]) >= {"silava", "torch", "python"}

    loaded, ckpt = load_checkpoint(path)
    assert not loaded.training
    with torch.no_grad():
        got = loaded(x)
    assert torch.equal(got, expected)
    assert ckpt["seed"] == 3 and ckpt["metrics"]["test_acc"] == 0.4


def test_load_accepts_run_directory(tmp_path):
    save_tiny(tmp_path / CKPT_NAME)
    _, ckpt = load_checkpoint(tmp_path)
    assert ckpt["format"] == FORMAT


def test_to_plain_converts_and_rejects():
    import numpy as np
    out = to_plain({"a": (1, np.float32(2.5)), "b": np.int64(3), "c": torch.__version__, "d": np.bool_(True)})
    assert out == {"a": [1, 2.5], "b": 3, "c": str(torch.__version__), "d": True}
    assert type(out["c"]) is str and type(out["b"]) is int
    with pytest.raises(TypeError, match="x.y"):
        to_plain({"x": {"y": object()}}, "x")
    with pytest.raises(TypeError):
        save_tiny("/nonexistent-dir-never-written/ckpt.pt", train_config={"bad": torch.zeros(1)})


# ---------------------------------------------------------------------------- atomic writes

def test_interrupted_save_leaves_no_partial_file(tmp_path, monkeypatch):
    path = save_tiny(tmp_path / CKPT_NAME)
    before = path.read_bytes()

    real_save = torch.save

    def crashing_save(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="simulated"):
        save_tiny(path, metrics={"best_valid_acc": 0.9, "test_acc": 0.9, "history": []})
    monkeypatch.setattr(torch, "save", real_save)

    assert path.read_bytes() == before  # old checkpoint intact
    assert sorted(p.name for p in tmp_path.iterdir()) == [CKPT_NAME]  # no temp file left
    assert read_checkpoint(path)["metrics"]["best_valid_acc"] == 0.5


def test_interrupted_first_save_leaves_nothing(tmp_path):
    def boom(fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / CKPT_NAME, boom)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_file_mode(tmp_path):
    path = atomic_write(tmp_path / "x.txt", lambda fh: fh.write("hi"), binary=False)
    assert path.read_text() == "hi"
    assert os.stat(path).st_mode & 0o044  # readable by group/others like a normal new file


# ---------------------------------------------------------------------------- errors

def _truncated(tmp_path):
    good = save_tiny(tmp_path / "good.pt").read_bytes()
    return (tmp_path / "bad.pt", good[: len(good) // 2])


def make_bad(kind: str, tmp_path):
    """Write a broken checkpoint of the given kind; returns its path."""
    bad = tmp_path / "bad.pt"
    if kind == "missing":
        return tmp_path / "nothere.pt"
    if kind == "truncated":
        path, data = _truncated(tmp_path)
        path.write_bytes(data)
        return path
    if kind == "not_zip":
        bad.write_text("this is not a checkpoint\n")
        return bad
    if kind == "empty":
        bad.write_bytes(b"")
        return bad
    if kind == "bad_zip_member":  # a zip archive that is not a torch archive
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("hello.txt", "hi")
        return bad
    if kind == "python_object":
        return write_dict(bad, {"format": FORMAT, "obj": zipfile.ZipInfo("x")})
    if kind == "not_dict":
        return write_dict(bad, [1, 2, 3])
    if kind == "plain_state_dict":  # a bare state_dict saved by someone else
        return write_dict(bad, tiny_model().state_dict())
    if kind == "wrong_tag":
        return write_dict(bad, {**good_dict(), "format": "other-ckpt"})
    if kind == "missing_keys":
        ckpt = good_dict()
        del ckpt["model_config"], ckpt["seed"]
        return write_dict(bad, ckpt)
    if kind == "version":
        return write_dict(bad, {**good_dict(), "format_version": 99})
    if kind == "unknown_neuron":
        ckpt = good_dict()
        ckpt["model_config"]["neuron"] = "hodgkin-huxley"
        return write_dict(bad, ckpt)
    if kind == "shape":
        ckpt = good_dict()
        key = next(k for k, v in ckpt["state_dict"].items() if v.dim() == 2)
        ckpt["state_dict"][key] = torch.zeros(7, 7)
        return write_dict(bad, ckpt)
    if kind == "missing_param":
        ckpt = good_dict()
        ckpt["state_dict"].pop(next(iter(ckpt["state_dict"])))
        return write_dict(bad, ckpt)
    if kind in ("nan", "inf"):
        ckpt = good_dict()
        key = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())
        ckpt["state_dict"][key].view(-1)[0] = float("nan" if kind == "nan" else "inf")
        return write_dict(bad, ckpt)
    raise AssertionError(kind)


BAD_CASES = {
    "missing": "not found",
    "truncated": "corrupt or truncated",
    "not_zip": "corrupt or truncated",
    "empty": "corrupt or truncated",
    "bad_zip_member": "corrupt",
    "python_object": "not a silava checkpoint",
    "not_dict": "not a silava checkpoint",
    "plain_state_dict": "not a silava checkpoint",
    "wrong_tag": "not a silava checkpoint",
    "missing_keys": "lacks key(s) model_config, seed",
    "version": "unsupported checkpoint format_version 99",
    "unknown_neuron": "unknown neuron type 'hodgkin-huxley'",
    "shape": "shape mismatch",
    "missing_param": "state_dict mismatch",
    "nan": "non-finite values",
    "inf": "non-finite values",
}


@pytest.mark.parametrize("kind", sorted(BAD_CASES))
def test_load_errors_are_one_line(tmp_path, kind):
    path = make_bad(kind, tmp_path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert BAD_CASES[kind] in msg
    assert "\n" not in msg and str(path) in msg


@pytest.mark.parametrize("kind", sorted(BAD_CASES))
def test_cli_eval_only_maps_errors_to_exit_2(tmp_path, kind, capsys):
    from silava.train.train import main

    path = make_bad(kind, tmp_path)
    capsys.readouterr()
    assert main(["--eval-only", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("silava train: error: ")
    assert BAD_CASES[kind] in err
    assert "Traceback" not in err


def test_cli_error_from_other_cwd_has_no_traceback(tmp_path):
    """Run the script as a file from another directory: one line on stderr, exit 2."""
    path = make_bad("truncated", tmp_path)
    res = subprocess.run([sys.executable, str(ROOT / "train" / "train.py"), "--eval-only", str(path)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "corrupt or truncated" in res.stderr
    assert "Traceback" not in res.stderr
