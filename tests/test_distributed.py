"""Multi-process training under torchrun (gloo on CPU, 2 processes): one launch of tests/ddp_worker.py.

* one step of DistributedDataParallel with synchronised BatchNorm statistics gives the gradients of a
  single process on the same global batch (to 1e-6; float64);
* only rank 0 writes files; the checkpoint records ``world_size``;
* ``--resume`` continues from the last epoch and ends where an uninterrupted 2-process run ends;
  torchrun's elastic restart (``TORCHELASTIC_RESTART_COUNT`` > 0) continues too instead of starting over;
* the per-process helpers (global batch, shards) on their own.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from silava.train.dist import Dist, ShardSampler, local_batch

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    if not TORCHRUN.exists():
        pytest.skip("torchrun is not installed next to this Python")
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop("TORCHELASTIC_RESTART_COUNT", None)
    proc = subprocess.run([str(TORCHRUN), "--nproc_per_node", "2", "--standalone",
                           str(ROOT / "tests" / "ddp_worker.py"), str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def _ckpt(path: Path) -> dict:
    return torch.load(path / "ckpt.pt", weights_only=True)


def test_gradients_equal_one_process_on_the_global_batch(launched):
    from silava.train.model import build_model

    out, _ = launched
    saved = torch.load(out / "grad.pt", weights_only=True)
    model = build_model(saved["model"]).double()
    model.load_state_dict(saved["initial"])
    model.train()
    loss = torch.nn.functional.cross_entropy(model(saved["x"]), saved["y"])
    loss.backward()
    assert len(saved["y"]) >= 20
    for name, p in model.named_parameters():
        g = saved["grads"][name]
        assert p.grad.abs().max() > 0, name
        assert torch.allclose(g, p.grad, rtol=0, atol=1e-6 * max(1.0, p.grad.abs().max().item())), \
            f"{name}: max |diff| {(g - p.grad).abs().max().item():.3g}"


def test_only_rank_0_writes(launched):
    out, _ = launched
    w0 = json.loads((out / "writes-0.json").read_text())
    w1 = json.loads((out / "writes-1.json").read_text())
    assert w0["codes"] == w1["codes"] == {"a1": 0, "a2": 0, "b": 0, "c1": 0, "c2": 0}
    assert w1["writes"] == []
    written = set(w0["writes"])
    for run in ("a", "b", "c"):
        assert {f"{run}/ckpt.pt", f"{run}/last.pt", f"{run}/metrics.json", f"{run}/metrics.csv"} <= written
    ckpt = _ckpt(out / "a")
    assert ckpt["train_config"]["world_size"] == 2 and ckpt["train_config"]["batch_size"] == 16
    assert ckpt["metrics"]["finished"] is True


def test_resume_continues_from_the_last_epoch(launched):
    out, _ = launched
    a, b, c = _ckpt(out / "a"), _ckpt(out / "b"), _ckpt(out / "c")
    assert [h["epoch"] for h in a["metrics"]["history"]] == [1, 2]
    for resumed in (a, c):   # --resume, and torchrun's restart of the same command
        assert [h["epoch"] for h in resumed["metrics"]["history"]] == [1, 2]
        assert resumed["state_dict"].keys() == b["state_dict"].keys()
        for k in b["state_dict"]:
            assert torch.equal(resumed["state_dict"][k], b["state_dict"][k]), k
        assert resumed["metrics"]["test_acc"] == b["metrics"]["test_acc"]
    state = torch.load(out / "a" / "last.pt", weights_only=True)
    assert state["finished"] is True and len(state["rng"]["ranks"]) == 2


def test_local_batch_and_shards():
    two = Dist(rank=1, world_size=2)
    assert local_batch(16, two) == 8
    with pytest.raises(ValueError, match="not divisible by the 2 processes"):
        local_batch(15, two)
    shards = [list(ShardSampler(7, r, 3)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(7)) and shards[1] == [1, 4]
    assert Dist().all_sum([1, 2.5]) == [1.0, 2.5] and Dist().gather("x") == ["x"]
