"""Multi-process training on PyTorch's own engine (``torchrun``, DistributedDataParallel).

``silava train`` runs unchanged under ``torchrun``::

    torchrun --nproc_per_node 2 -m silava train --task randman --epochs 5 --out runs/ddp
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        --rdzv-id job1 -m silava train --config ssc_silif_512 --data-dir data/ssc --out runs/ssc

torchrun sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``; :func:`setup` reads
them. With ``WORLD_SIZE`` > 1 the process group is initialised (``gloo`` on CPU, ``nccl`` with
``--device cuda``, each process on ``cuda:LOCAL_RANK``) and the training loop runs as data
parallelism:

* ``--batch-size`` is the **global** batch: each of the ``W`` processes takes ``batch_size / W``
  samples per step (it must divide), DistributedDataParallel averages the gradients, so one step
  is the step of one process on the whole global batch (:mod:`tests.test_distributed` checks the
  gradients to 1e-6);
* training data: :class:`torch.utils.data.DistributedSampler` (shuffled with ``seed + epoch``, padded
  to a multiple of ``W``); validation and test data: rank ``r`` takes samples ``r, r + W, ...``
  (no padding) and the losses, correct counts and sample counts are summed over the ranks, so
  the reported accuracies are those of the whole split;
* BatchNorm statistics are synchronised (:class:`SyncStats`: the mean and the variance over the
  global batch from one all-reduce per layer, with gradients through it), so the forward pass equals
  one process on the global batch; torch's ``SyncBatchNorm`` is not used because it runs on GPUs only;
* only rank 0 writes (checkpoints, metrics, ``last.pt``, plots) and logs; ``train_config`` records
  ``world_size``; ``last.pt`` holds every rank's random streams;
* dropout masks differ between ranks (rank ``r`` reseeds its training stream with ``seed + r``).

A single process (no ``WORLD_SIZE``, or 1) is exactly the previous behaviour: nothing here runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor


@dataclass
class Dist:
    """Where this process stands: ``rank`` of ``world_size`` (``local_rank`` on its node)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str = ""
    #: True when :func:`setup` created the process group (then :func:`teardown` destroys it)
    owned: bool = False

    @property
    def active(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and logs."""
        return self.rank == 0

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """Sum of ``values`` over all ranks (float64); the values themselves in one process."""
        if not self.active:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` in one process."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def any_true(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on at least one."""
        return self.all_sum([1.0 if flag else 0.0])[0] > 0

    def from_main(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on rank 0, its result (or the exception it raised) handed to every rank."""
        if not self.active:
            return fn()
        payload: list[Any] = [None]
        if self.is_main:
            try:
                payload = [("ok", fn())]
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank below
                payload = [("error", exc)]
        torch.distributed.broadcast_object_list(payload, src=0)
        kind, value = payload[0]
        if kind == "error":
            raise value
        return value

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    @property
    def device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


def env_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun (1 when not launched by it)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def restart_count() -> int:
    """How often torchrun restarted the worker group (``TORCHELASTIC_RESTART_COUNT``; 0 otherwise)."""
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def setup(device: str) -> Dist:
    """Initialise the process group when launched by torchrun with ``WORLD_SIZE`` > 1.

    ``device``: the config's ``cpu`` or ``cuda``; the backend is gloo for cpu, nccl for cuda.
    Idempotent (a process group that already exists is reused).
    """
    world = env_world_size()
    if world == 1:
        return Dist()
    import torch.distributed as td

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        torch.cuda.set_device(local_rank)
    owned = not td.is_initialized()
    if owned:
        td.init_process_group(backend=backend)
    return Dist(rank=td.get_rank(), world_size=td.get_world_size(), local_rank=local_rank,
                local_world_size=local_world, backend=td.get_backend(), owned=owned)


def teardown(dist: Dist) -> None:
    """Destroy the process group if :func:`setup` created it (no-op in one process, or when the
    caller had initialised the group itself)."""
    if dist.active and dist.owned and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def default_threads(dist: Dist, available: int) -> int:
    """CPU threads per process: the usable CPUs shared among this node's processes, at most 4."""
    return max(1, min(4, available // max(1, dist.local_world_size)))


# ---------------------------------------------------------------------------- data

class ShardSampler(torch.utils.data.Sampler):
    """Evaluation shard: indices ``rank, rank + W, ...`` of ``range(n)``, no padding, no shuffle."""

    def __init__(self, n: int, rank: int, world_size: int) -> None:
        self.n, self.rank, self.world_size = int(n), int(rank), int(world_size)

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))


def local_batch(batch_size: int, dist: Dist) -> int:
    """The per-process batch of a global ``batch_size``; ``ValueError`` if ``W`` does not divide it."""
    if batch_size % dist.world_size:
        lo = max(dist.world_size, batch_size - batch_size % dist.world_size)
        raise ValueError(f"--batch-size {batch_size} (the global batch) is not divisible by the {dist.world_size} "
                         f"processes: pass a multiple of {dist.world_size} (e.g. {lo})")
    return batch_size // dist.world_size


def train_loader(dataset, batch_size: int, collate, dist: Dist, seed: int):
    """The training loader of this rank: a seeded :class:`DistributedSampler` (call ``set_epoch``)."""
    from torch.utils.data import DataLoader, DistributedSampler

    sampler = DistributedSampler(dataset, num_replicas=dist.world_size, rank=dist.rank, shuffle=True,
                                 seed=seed, drop_last=False)
    return DataLoader(dataset, batch_size=local_batch(batch_size, dist), sampler=sampler, collate_fn=collate,
                      num_workers=0)


def eval_loader(dataset, batch_size: int, collate, dist: Dist):
    """An evaluation loader over this rank's :class:`ShardSampler` shard."""
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=max(1, local_batch(batch_size, dist)),
                      sampler=ShardSampler(len(dataset), dist.rank, dist.world_size), collate_fn=collate,
                      num_workers=0)


# ---------------------------------------------------------------------------- model

class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; its gradient is the sum of the ranks' gradients (each rank's statistics
    feed every rank's loss)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        y = x.clone()
        torch.distributed.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:  # type: ignore[override]
        g = g.clone()
        torch.distributed.all_reduce(g)
        return g


def all_reduce_sum(x: Tensor) -> Tensor:
    """Differentiable sum of ``x`` over all ranks."""
    return _AllReduceSum.apply(x)


class SyncStats:
    """BatchNorm statistics over the global batch (``SpArchLayer.stats``).

    ``moments(z2[N, H]) -> (mean, var, count)``: ``mean = Σ z / N_g``, ``var = Σ z² / N_g − mean²`` over
    every rank's rows (``N_g`` rows in all), from one all-reduce of the float64 sums ``(Σ z, Σ z², N)``
    (float64, so the one-pass variance keeps float32 accuracy); the gradients flow back through a
    second all-reduce. ``count`` is ``N_g`` (for the unbiased running variance).
    """

    def __init__(self, dist: Dist) -> None:
        self.dist = dist

    def moments(self, z2: Tensor) -> tuple[Tensor, Tensor, int]:
        h = z2.shape[1]
        z64 = z2.double()
        local = torch.cat([z64.sum(0), (z64 * z64).sum(0), z64.new_full((1,), float(z2.shape[0]))])
        total = all_reduce_sum(local)
        count = total[2 * h].detach()
        mean = total[:h] / count
        var = (total[h:2 * h] / count - mean * mean).clamp_min(0.0)
        return mean.to(z2.dtype), var.to(z2.dtype), int(count.item())


def wrap_model(model: torch.nn.Module, dist: Dist) -> torch.nn.Module:
    """Synchronise the BatchNorm statistics of ``model`` and wrap it in DistributedDataParallel
    (the model itself when ``dist`` is one process)."""
    if not dist.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    stats = SyncStats(dist)
    for module in model.modules():
        if hasattr(module, "stats"):
            module.stats = stats
    ids = [dist.local_rank] if dist.backend == "nccl" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (``model`` itself otherwise)."""
    from torch.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def rank_seed(seed: int, dist: Optional[Dist]) -> int:
    """The training-stream seed of this rank (``seed + rank``)."""
    return int(seed) + (dist.rank if dist is not None else 0)
