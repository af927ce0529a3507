"""``silava train --resume`` / ``silava.fit(resume=True)``: an interrupted run continues from last.pt
and ends exactly where an uninterrupted run ends; nothing to resume or changed settings: one line, exit 2."""
from __future__ import annotations

import csv

import pytest
import torch

import silava
import silava.train.resume as resume_mod
from silava.train.train import main

DATA = ["--data-opt=n_classes=3", "--data-opt=n_units=12", "--data-opt=n_steps=20", "--data-opt=samples_per_class=60"]
RUN = ["--task", "randman", "--hidden", "12", "--batch-size", "32", "--dropout", "0.2", "--threads", "1", "--quiet",
       *DATA]


def interrupt_after(monkeypatch, epoch: int) -> None:
    """Ctrl-C right after last.pt of ``epoch`` was written (as if the user pressed it during the next epoch)."""
    real = resume_mod.save_state

    def save_state(out, loop, *args, **kwargs):
        real(out, loop, *args, **kwargs)
        if loop["epoch"] == epoch and not kwargs.get("finished"):
            raise KeyboardInterrupt

    monkeypatch.setattr(resume_mod, "save_state", save_state)


def load(path):
    return torch.load(path / "ckpt.pt", weights_only=True)


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "r"
    assert main([*RUN, "--epochs", "3", "--out", str(out)]) == 0
    return out


def test_resumed_run_equals_uninterrupted(full, tmp_path, monkeypatch, capsys):
    out = tmp_path / "r"
    with monkeypatch.context() as m:
        interrupt_after(m, 1)
        assert main([*RUN, "--epochs", "3", "--out", str(out)]) == 130
    assert "--resume" in capsys.readouterr().err
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["loop"]["epoch"] == 1 and not state["finished"]
    assert load(out)["metrics"]["finished"] is False

    assert main(["--out", str(out), "--resume"]) == 0        # the other settings come from last.pt
    a, b = load(full), load(out)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert without_seconds(a["metrics"]["history"]) == without_seconds(b["metrics"]["history"])
    assert a["metrics"]["test_acc"] == b["metrics"]["test_acc"] and b["metrics"]["finished"] is True
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert torch.load(out / "last.pt", weights_only=True)["finished"] is True


def test_a_finished_run_can_be_extended(full, tmp_path, capsys):
    import shutil

    out = tmp_path / "r"
    shutil.copytree(full, out)
    capsys.readouterr()
    assert main(["--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "finished all its 3 epochs" in err and "larger --epochs" in err
    assert main(["--out", str(out), "--resume", "--epochs", "4"]) == 0
    history = load(out)["metrics"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert without_seconds(history[:3]) == without_seconds(load(full)["metrics"]["history"])


@pytest.mark.parametrize("argv, needle", [
    (["--lr", "0.05"], "'lr' is 0.05 now but 0.01"),
    (["--data-opt=n_units=13"], "'data' is"),
    (["--overwrite"], "pass one of them"),
    (["--epochs", "2"], "fewer than the 3 epochs"),
    (["--qat", "--from", "x"], "--resume"),
])
def test_changed_settings_are_refused(full, capsys, argv, needle):
    before = (full / "ckpt.pt").read_bytes()
    capsys.readouterr()
    assert main(["--out", str(full), "--resume", "--epochs", "5", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert (full / "ckpt.pt").read_bytes() == before


def test_nothing_to_resume(tmp_path, capsys):
    assert main([*RUN, "--out", str(tmp_path / "none"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing to resume" in err and "without --resume" in err
    assert main(["--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "last.pt").write_bytes(b"truncated")
    assert main(["--out", str(tmp_path / "junk"), "--resume"]) == 2
    assert "truncated or corrupt" in capsys.readouterr().err


def test_new_run_in_an_interrupted_folder_needs_a_choice(full, capsys):
    capsys.readouterr()
    assert main([*RUN, "--epochs", "3", "--out", str(full)]) == 2
    err = capsys.readouterr().err
    assert "--resume to continue it" in err and "--overwrite" in err


def test_fit_resume_through_the_api(full, tmp_path, monkeypatch):
    kwargs = dict(task_options={"n_classes": 3, "n_units": 12, "n_steps": 20, "samples_per_class": 60},
                  hidden=12, batch_size=32, dropout=0.2, threads=1, quiet=True, epochs=3)
    with monkeypatch.context() as m:
        interrupt_after(m, 2)
        with pytest.raises(KeyboardInterrupt):
            silava.fit("randman", tmp_path / "r", **kwargs)
    res = silava.fit("randman", tmp_path / "r", resume=True, **kwargs)
    a = load(full)
    assert all(torch.equal(v, res.model.state_dict()[k]) for k, v in a["state_dict"].items())
    assert without_seconds(res.history) == without_seconds(a["metrics"]["history"])
    from silava.train.resume import ResumeError

    with pytest.raises(ResumeError, match="'hidden' is 16 now but 12"):
        silava.fit("randman", tmp_path / "r", resume=True, **{**kwargs, "hidden": 16, "epochs": 4})
