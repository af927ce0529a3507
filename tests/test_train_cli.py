"""train/train.py: the training CLI end to end on a tiny randman task, config precedence, errors."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import ROOT
from silava.train.checkpoint import load_checkpoint
from silava.train.config import (DEFAULTS, ConfigError, load_yaml, merge_configs, model_config,
                          shipped_configs)
from silava.train.train import build_parser, config_from_args, main

# A randman task small enough for a 2-epoch run in a few seconds on 2 cores.
TINY_DATA = {"n_classes": 3, "n_units": 12, "n_steps": 20, "samples_per_class": 60}
TINY_YAML = {
    "task": "randman", "neuron": "csilif", "hidden": 12, "layers": 2, "epochs": 7,
    "lr": 0.01, "batch_size": 32, "data": TINY_DATA,
}

# Input/class counts of the real tasks, to build the shipped configs' models without data.
TASK_SIZES = {"shd": (140, 20), "ssc": (140, 35), "gsc": (40, 35), "randman": (40, 10),
              "spoken-digits": (140, 20)}


def write_yaml(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def parse(argv: list[str]) -> dict:
    return config_from_args(build_parser().parse_args(argv))


# ---------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One 2-epoch CLI run: YAML says epochs 7 / lr 0.01, flags override epochs and lr."""
    base = tmp_path_factory.mktemp("run")
    cfg_file = write_yaml(base / "tiny.yaml", TINY_YAML)
    out = base / "out"
    rc = main(["--config", str(cfg_file), "--epochs", "2", "--lr", "0.02", "--out", str(out),
               "--seed", "5", "--quiet"])
    assert rc == 0
    return out


def test_run_writes_all_files(tiny_run):
    for name in ("ckpt.pt", "metrics.csv", "metrics.json", "training_curve.png"):
        assert (tiny_run / name).is_file(), name
    assert (tiny_run / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tiny_run.iterdir() if p.name.endswith(".tmp")]

    rows = list(csv.DictReader((tiny_run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "seconds"} <= set(rows[0])

    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["finished"] is True and len(metrics["history"]) == 2
    assert 0.0 <= metrics["test_acc"] <= 1.0
    assert metrics["best_valid_acc"] == max(h["valid_acc"] for h in metrics["history"])


def test_checkpoint_loads_weights_only_with_precedence(tiny_run):
    ckpt = torch.load(tiny_run / "ckpt.pt", weights_only=True)
    assert ckpt["format"] == "silava-ckpt" and ckpt["format_version"] == 1
    tc = ckpt["train_config"]
    assert tc["epochs"] == 2 and tc["lr"] == 0.02  # flags beat the YAML file
    assert tc["hidden"] == 12 and tc["batch_size"] == 32  # YAML beats the defaults
    assert tc["patience"] == DEFAULTS["patience"]  # defaults fill the rest
    assert ckpt["seed"] == 5
    assert ckpt["model_config"]["hidden_sizes"] == [12, 12]
    assert ckpt["data_config"]["name"] == "randman"
    assert ckpt["metrics"]["best_valid_acc"] == max(h["valid_acc"] for h in ckpt["metrics"]["history"])


def test_reloaded_model_reproduces_eval(tiny_run, capsys):
    """--eval-only rebuilds model + data from the checkpoint and gets the stored test numbers."""
    ckpt = torch.load(tiny_run / "ckpt.pt", weights_only=True)
    capsys.readouterr()
    assert main(["--eval-only", str(tiny_run / "ckpt.pt")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["test_acc"] == ckpt["metrics"]["test_acc"]
    assert res["test_loss"] == pytest.approx(ckpt["metrics"]["test_loss"], rel=1e-6)
    assert res["valid_acc"] == ckpt["metrics"]["best_valid_acc"]

    model, _ = load_checkpoint(tiny_run)
    x = torch.rand(3, TINY_DATA["n_steps"], TINY_DATA["n_units"]).lt(0.2).float()
    with torch.no_grad():
        a, b = model(x), load_checkpoint(tiny_run)[0](x)
    assert a.shape == (3, TINY_DATA["n_classes"]) and torch.equal(a, b)


def test_training_is_deterministic(tmp_path):
    cfg_file = write_yaml(tmp_path / "tiny.yaml", TINY_YAML)
    states = []
    for name in ("a", "b"):
        assert main(["--config", str(cfg_file), "--epochs", "1", "--max-samples", "64", "--quiet",
                     "--out", str(tmp_path / name)]) == 0
        states.append(torch.load(tmp_path / name / "ckpt.pt", weights_only=True))
    sa, sb = states[0]["state_dict"], states[1]["state_dict"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert states[0]["metrics"]["history"][0]["train_loss"] == states[1]["metrics"]["history"][0]["train_loss"]


def test_script_runs_as_file_from_other_cwd(tmp_path):
    """`python train/train.py ...` from another directory (fresh-clone usage)."""
    data_opts = [f"--data-opt={k}={v}" for k, v in TINY_DATA.items()]
    res = subprocess.run([sys.executable, str(ROOT / "train" / "train.py"), "--task", "randman",
                          "--neuron", "lif", "--hidden", "8", "--epochs", "1", "--batch-size", "64",
                          *data_opts, "--out", "r1"], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "r1" / "ckpt.pt").is_file()
    assert "epoch   1/1" in res.stderr  # epoch summary even without a TTY
    assert "best valid acc" in res.stdout


def test_shipped_tiny_config_runs(tmp_path, capsys):
    assert main(["--config", "randman_tiny", "--epochs", "1", "--out", str(tmp_path / "t"), "--progress"]) == 0
    captured = capsys.readouterr()
    assert "randman/csilif: best valid acc" in captured.out
    assert "epoch   1/1" in captured.err
    assert torch.load(tmp_path / "t" / "ckpt.pt", weights_only=True)["train_config"]["hidden"] == 16


def test_interrupted_run_keeps_best_checkpoint(tmp_path, monkeypatch, capsys):
    """Ctrl-C in epoch 2: exit 130, and ckpt.pt holds the epoch-1 weights (not finished)."""
    import silava.train.loop

    real = silava.train.loop.run_epoch
    calls = {"train": 0}

    def run_epoch(*args, **kwargs):
        if kwargs.get("optimizer") is not None:
            calls["train"] += 1
            if calls["train"] == 2:
                raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(silava.train.loop, "run_epoch", run_epoch)
    cfg_file = write_yaml(tmp_path / "tiny.yaml", TINY_YAML)
    assert main(["--config", str(cfg_file), "--max-samples", "64", "--quiet", "--out", str(tmp_path / "r")]) == 130
    assert "interrupted" in capsys.readouterr().err
    model, ckpt = load_checkpoint(tmp_path / "r")
    assert ckpt["metrics"]["finished"] is False and ckpt["metrics"]["test_acc"] is None
    assert [h["epoch"] for h in ckpt["metrics"]["history"]] == [1]
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == \
        ["ckpt.pt", "last.pt", "metrics.csv", "metrics.json", "training_curve.png"]


def test_existing_run_needs_overwrite(tiny_run, capsys):
    capsys.readouterr()
    assert main(["--task", "randman", "--out", str(tiny_run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err


# ---------------------------------------------------------------------------- config

def test_yaml_then_cli_precedence(tmp_path):
    cfg_file = write_yaml(tmp_path / "c.yaml", {
        "task": "shd", "neuron": "silif", "lr": "1e-3", "hidden": 64, "dropout": 0.5,
        "data": {"n_steps": 250, "max_time": 1.0}, "neuron_kwargs": {"dt_max": 5}})
    cfg = parse(["--config", str(cfg_file), "--hidden", "32", "--data-opt", "n_steps=100",
                 "--data-dir", "/d", "--neuron-opt", "dt_min=0.02"])
    assert cfg["task"] == "shd" and cfg["neuron"] == "silif"
    assert cfg["lr"] == 1e-3  # YAML 1.1 string "1e-3" coerced
    assert cfg["hidden"] == 32  # CLI beats YAML
    assert cfg["dropout"] == 0.5  # YAML beats default
    assert cfg["batch_size"] == DEFAULTS["batch_size"]
    assert cfg["data"] == {"n_steps": 100, "max_time": 1.0, "data_dir": "/d"}  # merged key by key
    assert cfg["neuron_kwargs"] == {"dt_max": 5, "dt_min": 0.02}


def test_defaults_only():
    cfg = parse(["--task", "randman"])
    assert {k: v for k, v in cfg.items() if k != "task"} == {k: v for k, v in DEFAULTS.items() if k != "task"}


def test_neuron_defaults_sit_under_yaml_and_flags(tmp_path):
    cfg = parse(["--task", "randman", "--neuron", "rf"])
    assert cfg["lr"] == 0.05 and cfg["neuron_kwargs"] == {"surrogate": "fast-sigmoid"}
    cfg = parse(["--task", "randman", "--neuron", "rf", "--lr", "0.02", "--neuron-opt", "surrogate=boxcar"])
    assert cfg["lr"] == 0.02 and cfg["neuron_kwargs"] == {"surrogate": "boxcar"}
    cfg = parse(["--config", "ssc_rf_4ms"])  # the reference RF settings
    assert cfg["lr"] == 0.01 and cfg["neuron_kwargs"] == {"surrogate": "boxcar"}
    cfg = parse(["--task", "randman", "--neuron", "csilif"])
    assert cfg["lr"] == DEFAULTS["lr"] and cfg["neuron_kwargs"] == {}


def test_merge_rejects_bad_values():
    with pytest.raises(ConfigError, match="dropout"):
        merge_configs({"dropout": 1.5})
    with pytest.raises(ConfigError, match="unknown key 'hiden'"):
        merge_configs({"hiden": 3})
    with pytest.raises(ConfigError, match="init_state"):
        merge_configs({"init_state": "ones"})
    with pytest.raises(ConfigError, match="epochs"):
        merge_configs({"epochs": 2.5})


@pytest.mark.parametrize("name", shipped_configs())
def test_shipped_config_builds_model(name):
    from silava.train.model import build_model

    cfg = merge_configs(load_yaml(name))
    assert cfg["task"] in TASK_SIZES
    n_in, n_cls = TASK_SIZES[cfg["task"]]
    mcfg = model_config(cfg, n_in, n_cls)
    json.dumps(mcfg)  # JSON-able
    if name.startswith(("shd", "ssc", "gsc")) and cfg["arch"] == "sparch":  # paper settings (spec §6.1)
        assert cfg["epochs"] == 100 and cfg["layers"] == 2 and cfg["init_state"] == "random"
    from silava.core.data import task_arguments
    unknown = set(cfg["data"]) - set(task_arguments(cfg["task"]))
    assert not unknown, f"{name}: get_task({cfg['task']!r}) has no option(s) {unknown}"
    model = build_model(mcfg)
    assert model.config == build_model(model.config).config
    if cfg["arch"] == "sparch":
        assert len(model.layers) == cfg["layers"]
    else:                                       # the hybrid network: one recurrent layer
        assert model.config["n_hidden"] == cfg["hidden"]


def test_paper_table_values():
    """Spot-check a few shipped configs against the SiLIF paper's Table 1 (spec §6.1)."""
    c = merge_configs(load_yaml("shd_csilif_128"))
    assert (c["hidden"], c["lr"], c["dropout"], c["patience"], c["factor"], c["batch_size"]) == \
        (128, 0.01, 0.5, 5, 0.9, 128)
    assert c["data"]["n_steps"] == 250 and c["neuron_kwargs"]["dt_max"] == 0.5
    c = merge_configs(load_yaml("ssc_csilif_4ms"))
    assert (c["lr"], c["dropout"], c["batch_size"], c["data"]["n_steps"], c["data"]["max_time"]) == \
        (0.01, 0.5, 256, 300, 1.2)
    assert c["neuron_kwargs"]["dt_max"] == 5
    c = merge_configs(load_yaml("gsc_silif_512"))
    assert (c["lr"], c["dropout"], c["patience"], c["batch_size"]) == (0.001, 0.5, 5, 32)


# ---------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("argv, needle", [
    (["--task", "randman", "--qat"], "--task is not allowed with --qat"),          # QAT: tests/test_qat.py
    (["--task", "randman", "--from", "ckpt.pt"], "--from is an option of quantization-aware fine-tuning"),
    (["--task", "randman", "--lr", "abc"], "--lr"),
    (["--task", "randman", "--init-state", "ones"], "--init-state"),
    (["--task", "randman", "--out", "x", "--dropout", "1.5"], "'dropout' must be in [0, 1)"),
    (["--out", "x"], "no task given"),
    (["--task", "randman"], "no output directory"),
    (["--task", "randman", "--out", "x", "--neuron", "hh"], "unknown neuron 'hh'"),
    (["--config", "no_such_config", "--out", "x"], "config file not found"),
    (["--task", "randman", "--out", "x", "--data-opt", "nokey"], "KEY=VALUE"),
    (["--task", "no-such-task", "--out", "x"], "cannot load task 'no-such-task'"),
])
def test_bad_arguments_one_line_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("silava train: error:"), err
    assert needle in err
    assert not (tmp_path / "x" / "ckpt.pt").exists()


def test_help_mentions_layers_convention(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "nb_layers" in out and "--eval-only" in out
