"""``silava sweep``: a 2 x 2 grid of tiny runs on 2 worker processes writes its table; a re-run skips the
finished runs; a failed run and a run left RUNNING by a dead sweep run again on the next call."""
from __future__ import annotations

import csv
import json

import pytest

optuna = pytest.importorskip("optuna")

from silava.app import sweep as sw  # noqa: E402

CONFIG = """task: randman
hidden: 8
epochs: 1
batch_size: 16
data: {n_classes: 3, n_units: 8, n_steps: 10, samples_per_class: 20}
"""
GRID = ["--param", "neuron=silif,csilif", "--workers", "2", "--no-progress"]


def rows(out):
    with open(out / "sweep.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def trials(out):
    study = optuna.load_study(study_name=sw.STUDY, storage=f"sqlite:///{out / sw.DB}")
    return study, study.get_trials(deepcopy=False)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    (root / "base.yaml").write_text(CONFIG)
    out = root / "sw"
    rc = sw.main([str(root / "base.yaml"), *GRID, "--seeds", "0,1", "--out", str(out)])
    return root, out, rc


def test_a_2x2_sweep_on_2_workers_writes_its_table(first):
    root, out, rc = first
    assert rc == 0
    table = rows(out)
    assert [(r["neuron"], r["seed"]) for r in table] == [("silif", "0"), ("silif", "1"), ("csilif", "0"),
                                                         ("csilif", "1")]
    for r in table:
        assert 0 <= float(r["fixed_acc"]) <= 1 and 0 <= float(r["test_acc"]) <= 1
        assert float(r["sops_per_sample"]) >= 0 and float(r["energy_uj_per_sample"]) > 0
        run = out / "runs" / r["run"]
        assert (run / "ckpt.pt").is_file() and (run / "model.net").is_file() and (run / "hardware_report.json").is_file()
    md = (out / "sweep.md").read_text()
    assert "| neuron-csilif_seed-1 | csilif | 1 |" in md and "Mean ± standard deviation over seeds" in md
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    _, ts = trials(out)
    assert sorted(t.user_attrs["point"] for t in ts if t.state.name == "COMPLETE") == sorted(r["run"] for r in table)


def test_a_rerun_skips_the_finished_runs(first, capsys):
    root, out, _ = first
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/ckpt.pt")}
    capsys.readouterr()
    assert sw.main([str(root / "base.yaml"), *GRID, "--seeds", "0,1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "4 finished run(s) skipped, 0 to run" in captured.err and "0 run now" in captured.out
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/ckpt.pt")} == stamps
    assert len(rows(out)) == 4


@pytest.mark.slow
def test_failed_and_abandoned_runs_run_again(first, monkeypatch, capsys):
    root, out, _ = first
    args = [str(root / "base.yaml"), *GRID, "--seeds", "0,1,2", "--out", str(out)]
    monkeypatch.setenv(sw.FAIL_ENV, "neuron-csilif_seed-2")       # inherited by the worker processes
    assert sw.main(args) == 1                                      # one new run failed, one ran
    assert len(rows(out)) == 5 and "neuron-csilif_seed-2: RuntimeError" in (out / "sweep.md").read_text()
    study, _ = trials(out)
    study.ask().set_user_attr("point", "neuron-silif_seed-2")      # as a sweep killed mid-run leaves it
    monkeypatch.delenv(sw.FAIL_ENV)
    capsys.readouterr()
    assert sw.main(args) == 0
    err = capsys.readouterr().err
    assert "5 finished run(s) skipped, 1 to run" in err
    assert [r["run"] for r in rows(out)][-2:] == ["neuron-csilif_seed-1", "neuron-csilif_seed-2"]
    _, ts = trials(out)
    assert not [t for t in ts if t.state.name == "RUNNING"]
    assert sum(t.state.name == "FAIL" for t in ts) == 2


def test_bad_input_is_one_line(first, capsys, tmp_path):
    root, out, _ = first
    cases = [
        (["--param", "nope=1,2"], "not a training setting"),
        (["--param", "neuron=silif,silif"], "repeated"),
        (["--seeds", "a"], "non-negative integers"),
        (["--workers", "0"], "at least 1"),
        (["--set", "epochs=3"], "another base configuration"),
    ]
    for extra, text in cases:
        capsys.readouterr()
        assert sw.main([str(root / "base.yaml"), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and text in err, err


def test_grid_and_names():
    params = sw.parse_params(["neuron=silif,csilif", "data.n_steps=10,20"])
    assert params == {"neuron": ["silif", "csilif"], "data.n_steps": [10, 20]}
    points = sw.grid(params, [0, 1])
    assert len(points) == 8 and points[1] == {"neuron": "silif", "data.n_steps": 10, "seed": 1}
    assert sw.run_name(points[1]) == "neuron-silif_data-n-steps-10_seed-1"
    cfg = sw.apply_point({"data": {"n_classes": 3}, "neuron": "lif"}, points[1])
    assert cfg == {"data": {"n_classes": 3, "n_steps": 10}, "neuron": "silif", "seed": 1}
    assert json.loads(json.dumps(sw.summarize([{"neuron": "a", "test_acc": 0.5, "fixed_acc": 0.5,
                                                "sops_per_sample": 1.0, "energy_uj_per_sample": 2.0}],
                                              ["neuron"])))[0]["runs"] == 1
