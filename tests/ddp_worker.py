"""Run by ``torchrun --nproc_per_node 2`` from tests/test_distributed.py (not a test module).

    torchrun --nproc_per_node 2 tests/ddp_worker.py OUT_DIR

Every rank (gloo, CPU, one thread):

1. ``grad``: one training step of the real loop (``train.loop.run_epoch`` with DistributedDataParallel,
   the DistributedSampler and the synchronised BatchNorm statistics, float64, no dropout, SGD with
   lr 0 so the gradients stay in place) on a global batch that is the whole tiny training split;
   rank 0 saves the initial weights, the global batch (gathered from the ranks) and the gradients to
   ``OUT/grad.pt`` for the single-process comparison in the test;
2. ``silava train`` (``main``) on tiny Randman: one epoch into ``OUT/a``; then ``OUT/a`` continued to
   epoch 2 with ``--resume``; ``OUT/b`` two epochs uninterrupted; ``OUT/c`` one epoch, then the same
   command (``--overwrite``, no ``--resume``) again with ``TORCHELASTIC_RESTART_COUNT=1`` as torchrun's
   elastic restart runs it: it must continue, not start over;
3. every ``os.replace`` (how silava.core.fileio commits a file) is recorded per rank in
   ``OUT/writes-RANK.json`` together with the exit codes.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

TRAIN = ["--task", "randman", "--neuron", "silif", "--hidden", "10", "--batch-size", "16", "--threads", "1",
         "--quiet", "--data-opt=n_classes=3", "--data-opt=n_units=8", "--data-opt=n_steps=12",
         "--data-opt=samples_per_class=30"]
GRAD_TASK = {"n_classes": 3, "n_units": 8, "n_steps": 12, "samples_per_class": 20}
GRAD_MODEL = {"n_inputs": 8, "hidden_sizes": [10, 10], "n_classes": 3, "neuron": "silif", "dropout": 0.0}


def grad_step(out: Path, dist) -> None:
    from silava.train.data import get_task
    from silava.train.dist import train_loader, wrap_model
    from silava.train.loop import run_epoch
    from silava.train.model import build_model

    task = get_task("randman", **GRAD_TASK)
    data = [(x.double(), y) for x, y in task.train]
    batch = len(data) + len(data) % 2            # the whole split is one global batch
    torch.manual_seed(0)
    model = build_model(GRAD_MODEL).double()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    ddp = wrap_model(model, dist)
    loader = train_loader(data, batch, getattr(task, "collate", None), dist, seed=0)
    loader.sampler.set_epoch(1)
    (x, y), = list(loader)
    run_epoch(ddp, loader, optimizer=torch.optim.SGD(ddp.parameters(), lr=0.0), dist=dist)
    xs, ys = dist.gather(x), dist.gather(y)
    if dist.is_main:
        torch.save({"initial": initial, "x": torch.cat(xs), "y": torch.cat(ys), "model": GRAD_MODEL,
                    "grads": {k: p.grad.clone() for k, p in model.named_parameters()}}, out / "grad.pt")


def main() -> int:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    from silava.train.dist import setup
    from silava.train.train import main as train_main

    dist = setup("cpu")
    rank = dist.rank
    writes: list[str] = []
    real_replace = os.replace

    def replace(src, dst, *a, **k):
        writes.append(os.path.relpath(os.fspath(dst), out))
        return real_replace(src, dst, *a, **k)

    grad_step(out, dist)
    dist.barrier()
    os.replace = replace
    codes = {}
    try:
        codes["a1"] = train_main([*TRAIN, "--epochs", "1", "--out", str(out / "a")])
        codes["a2"] = train_main(["--out", str(out / "a"), "--resume", "--epochs", "2"])
        codes["b"] = train_main([*TRAIN, "--epochs", "2", "--out", str(out / "b")])
        codes["c1"] = train_main([*TRAIN, "--epochs", "1", "--out", str(out / "c")])
        os.environ["TORCHELASTIC_RESTART_COUNT"] = "1"
        codes["c2"] = train_main([*TRAIN, "--epochs", "2", "--overwrite", "--out", str(out / "c")])
    finally:
        os.replace = real_replace
    (out / f"writes-{rank}.json").write_text(json.dumps({"writes": writes, "codes": codes}))
    torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
