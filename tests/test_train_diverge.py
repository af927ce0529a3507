"""A training run whose loss turns NaN/inf stops and says so (issue 15, item 5): no checkpoint claims success.

* diverging in the first epoch: exit 2, one line naming the divergence and the fix (lower --lr), nothing
  written (not even the --out folder);
* diverging later: training stops at that epoch, keeps the best finite epoch, says so on stderr and in
  metrics.json (``stopped_early``); the checkpoint's weights are finite;
* ``--lr inf`` / ``nan`` / ``1e300`` are refused before any work (tests/test_faults.py);
* mutation check: without the two checks (batch loss, parameters after the epoch) the first case ends
  with exit 0 and a checkpoint, so the checks are what stops it.
"""
from __future__ import annotations

import json

import pytest
import torch

ARGS = ["train", "--task", "randman", "--data-opt", "n_units=8", "--data-opt", "n_classes=2", "--data-opt",
        "samples_per_class=12", "--data-opt", "n_steps=10", "--hidden", "4", "--threads", "1", "--quiet",
        "--batch-size", "8"]


def _poison(monkeypatch, after_batches: int):
    """From training batch ``after_batches`` on, the model's output is NaN."""
    from silava.train.model import SpArchNet

    real = SpArchNet.forward
    seen = {"n": 0}

    def forward(self, x, record=False):
        out = real(self, x, record=record)
        if self.training:
            seen["n"] += 1
            if seen["n"] > after_batches and not record:
                return out * float("nan")
        return out

    monkeypatch.setattr(SpArchNet, "forward", forward)


def _run(argv, capsys):
    from silava.app.cli import main

    capsys.readouterr()
    rc = main(argv)
    return rc, *capsys.readouterr()


def test_divergence_in_the_first_epoch_writes_nothing(tmp_path, capsys, monkeypatch):
    _poison(monkeypatch, after_batches=0)
    out = tmp_path / "o"
    rc, _, err = _run([*ARGS, "--epochs", "2", "--out", str(out)], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "training diverged" in lines[0] and "lower --lr" in lines[0] and "nothing was written" in lines[0]
    assert not out.exists()


def test_divergence_later_keeps_the_best_finite_epoch(tmp_path, capsys, monkeypatch):
    _poison(monkeypatch, after_batches=2)          # epoch 1 (2 batches of 8 of the 16 train samples) is fine
    out = tmp_path / "o"
    rc, _, err = _run([*ARGS, "--epochs", "3", "--out", str(out)], capsys)
    assert rc == 0, err
    assert "warning: stopped early in epoch 2" in err and "training diverged" in err, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_epoch"] == 1 and len(metrics["history"]) == 1 and "diverged" in metrics["stopped_early"]
    from silava.train.checkpoint import load_checkpoint

    model, ckpt = load_checkpoint(out / "ckpt.pt")     # refuses NaN weights; these are epoch 1's
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_without_the_checks_a_diverged_run_would_claim_success(tmp_path, capsys, monkeypatch):
    import silava.train.loop as loop

    monkeypatch.setattr(loop, "check_loss", lambda loss, lr: None)
    monkeypatch.setattr(loop, "check_finite", lambda model, lr: None)
    _poison(monkeypatch, after_batches=0)
    out = tmp_path / "o"
    rc, _, err = _run([*ARGS, "--epochs", "1", "--out", str(out)], capsys)
    assert rc == 0 and (out / "ckpt.pt").exists(), err      # the old behaviour: exit 0 and a checkpoint


@pytest.mark.parametrize("lr", ["inf", "nan", "1e300", "-1"])
def test_bad_learning_rates_are_refused(lr, tmp_path, capsys):
    rc, _, err = _run([*ARGS, "--epochs", "1", "--lr", lr, "--out", str(tmp_path / "o")], capsys)
    assert rc == 2 and "'lr'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
