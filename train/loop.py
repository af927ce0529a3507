"""Training and evaluation loop (spec ``neurons.md`` §1.5).

- The model returns ``o = Σ_t softmax(v_t)`` of shape ``[B, C]``; the loss is
  ``nn.CrossEntropyLoss()(o, y)`` on that sum (as the reference: CE applies one
  more log-softmax on top of ``o``); the prediction is ``argmax_c o``.
- ``torch.optim.Adam(lr)`` (default betas, no weight decay) and
  ``ReduceLROnPlateau(mode="max", factor, patience, min_lr)`` stepped once per
  epoch on the validation accuracy.
- A model with a ``penalty()`` method (the hybrid network's activity regulariser) adds what it
  returns after a training forward to the loss it is trained on (the reported loss is the CE).
- The best-validation weights are kept (first epoch wins ties); the caller tests
  on them at the end.

Accuracy and loss are sample-weighted (``correct / total`` over the split); the
reference averages per-batch accuracies with equal weight per batch, which
differs slightly when the last batch is smaller.

Evaluation runs under its own RNG (``torch.random.fork_rng`` seeded with
``eval_seed``), so with random initial neuron states (``init_state="random"``)
validation/test numbers are reproducible and evaluating does not perturb the
training RNG stream.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn
from tqdm import tqdm


class StopTraining(Exception):
    """Raised by the model during :func:`fit` to end training early (e.g. QAT weights that became
    unrepresentable on the chip); ``fit`` keeps the best weights so far and reports the message."""


class NonFiniteLoss(StopTraining):
    """A training batch's loss is NaN or infinite: training diverged (raised before the optimizer step,
    so the weights of the last finite step are what remains)."""


@dataclass
class EpochStats:
    """Sample-weighted mean loss and accuracy over one pass of a data split."""

    loss: float
    acc: float
    n: int
    seconds: float


@dataclass
class FitResult:
    """Outcome of :func:`fit`: the per-epoch history and the best-validation weights."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_valid_acc: float
    best_state: dict[str, torch.Tensor]
    stopped_early: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _batches(loader: Iterable, *, desc: str, progress: bool) -> Iterable:
    total = len(loader) if hasattr(loader, "__len__") else None
    return tqdm(loader, total=total, desc=desc, leave=False, file=sys.stderr,
                disable=not progress, dynamic_ncols=True)


def run_epoch(model: nn.Module, loader: Iterable, *, device: torch.device | str = "cpu",
              optimizer: torch.optim.Optimizer | None = None, desc: str = "",
              progress: bool = False, dist: Any = None) -> EpochStats:
    """One pass over ``loader``: trains when ``optimizer`` is given, else evaluates (no grad).

    Returns sample-weighted loss and accuracy. ``dist`` (a :class:`silava.train.dist.Dist`): the loss
    sums, correct counts and sample counts are summed over all ranks (each rank passes its shard).
    """
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    training = optimizer is not None
    model.train(training)
    total_loss, correct, count = 0.0, 0, 0
    start = time.perf_counter()
    bar = _batches(loader, desc=desc, progress=progress)
    with torch.set_grad_enabled(training):
        for x, y in bar:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            out = model(x)
            loss_sum = loss_fn(out, y)
            penalty = model.penalty() if training and hasattr(model, "penalty") else None
            if training:
                check_loss(loss_sum, optimizer.param_groups[0]["lr"])
                optimizer.zero_grad(set_to_none=True)
                loss = loss_sum / y.shape[0]         # = nn.CrossEntropyLoss()(out, y), mean over batch
                (loss if penalty is None else loss + penalty).backward()
                optimizer.step()
            total_loss += float(loss_sum.detach())
            correct += int((out.detach().argmax(dim=1) == y).sum())
            count += int(y.shape[0])
            if progress:
                bar.set_postfix(loss=f"{total_loss / count:.3f}", acc=f"{correct / count:.3f}")
    if dist is not None and dist.active:
        total_loss, correct, count = dist.all_sum([total_loss, correct, count])
        correct, count = int(correct), int(count)
    if count == 0:
        raise ValueError(f"no samples in the {desc or 'data'} split")
    return EpochStats(loss=total_loss / count, acc=correct / count, n=count,
                      seconds=time.perf_counter() - start)


def check_loss(loss: torch.Tensor, lr: float) -> None:
    """Raise :class:`NonFiniteLoss` if a training batch's ``loss`` is NaN or inf (before its optimizer step)."""
    if not bool(torch.isfinite(loss.detach())):
        raise NonFiniteLoss(f"the training loss became {float(loss.detach())} (learning rate {lr:g}): training "
                            f"diverged; lower --lr")


def check_finite(model: nn.Module, lr: float) -> None:
    """Raise :class:`NonFiniteLoss` if a parameter of ``model`` holds NaN or inf (a diverged last step)."""
    for name, param in model.named_parameters():
        if not bool(torch.isfinite(param.detach()).all()):
            raise NonFiniteLoss(f"parameter {name} became NaN/inf (learning rate {lr:g}): training diverged; "
                                f"lower --lr")


def evaluate(model: nn.Module, loader: Iterable, *, device: torch.device | str = "cpu",
             eval_seed: int | None = 0, desc: str = "eval", progress: bool = False, dist: Any = None) -> EpochStats:
    """Evaluate ``model`` on ``loader`` (eval mode, no grad) under a private RNG seeded with ``eval_seed``.

    ``model`` may be wrapped in DistributedDataParallel (the module inside is evaluated); with ``dist``
    each rank evaluates its shard and the statistics are summed over the ranks."""
    from silava.train.dist import unwrap

    devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if eval_seed is not None:
            torch.manual_seed(eval_seed)
        return run_epoch(unwrap(model), loader, device=device, desc=desc, progress=progress, dist=dist)


def fit(model: nn.Module, train_loader: Iterable, valid_loader: Iterable, *, epochs: int, lr: float,
        patience: int, factor: float, min_lr: float = 1e-6, device: torch.device | str = "cpu",
        eval_seed: int | None = 0, progress: bool = False,
        log: Callable[[str], None] | None = None,
        on_epoch: Callable[[list[dict[str, Any]], bool, dict[str, torch.Tensor]], None] | None = None,
        baseline_valid_acc: float | None = None,
        on_state: Callable[[dict[str, Any]], None] | None = None,
        resume: dict[str, Any] | None = None, dist: Any = None) -> FitResult:
    """Train for ``epochs`` epochs with Adam + ReduceLROnPlateau on validation accuracy.

    After each epoch ``on_epoch(history, improved, best_state)`` is called (e.g. to
    write metrics and the best checkpoint), then ``on_state(state)`` with everything needed to
    continue later (:func:`loop_state`: epoch, model, optimizer, scheduler, history, best
    epoch/accuracy/weights, seconds so far); the caller adds the RNG states. ``resume``: such a
    state; training continues at epoch ``state["epoch"] + 1`` with the model weights, optimizer,
    scheduler, history and best weights restored (the caller restores the RNGs), so the result
    equals an uninterrupted run. ``log`` receives one summary line per epoch. Training stops
    early (``FitResult.stopped_early`` says why) when a training batch's loss is NaN/Inf
    (:class:`NonFiniteLoss`, before that batch's step) or the model raises :class:`StopTraining`:
    the unfinished epoch is dropped and ``best_state`` holds the best finite epoch (the initial
    weights if none finished).
    ``baseline_valid_acc``: the validation accuracy of the weights as given (fine-tuning): they
    are "epoch 0" and are kept unless an epoch beats them (``FitResult.best_epoch`` 0).

    Several processes (``dist``, a :class:`silava.train.dist.Dist`; ``model`` wrapped by
    :func:`silava.train.dist.wrap_model`): the training sampler's ``set_epoch(epoch)`` is called
    before each epoch, the statistics are summed over the ranks (so every rank takes the same
    decisions), the callbacks run on every rank (the caller writes on rank 0 only) and the
    states kept are those of the module inside the wrapper.
    """
    from silava.train.dist import unwrap

    net = unwrap(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=factor, patience=patience, min_lr=min_lr)
    history: list[dict[str, Any]] = []
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    best_epoch, best_acc = 0, -math.inf if baseline_valid_acc is None else float(baseline_valid_acc)
    first, before = 1, 0.0
    if resume is not None:
        net.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        history = [dict(row) for row in resume["history"]]
        best_state = {k: v.detach().clone() for k, v in resume["best_state"].items()}
        best_epoch, best_acc = int(resume["best_epoch"]), float(resume["best_acc"])
        first, before = int(resume["epoch"]) + 1, float(resume.get("seconds", 0.0))
    stopped: str | None = None
    start = time.perf_counter() - before
    for epoch in range(first, epochs + 1):
        lr_now = optimizer.param_groups[0]["lr"]
        sampler = getattr(train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        try:
            tr = run_epoch(model, train_loader, device=device, optimizer=optimizer,
                           desc=f"epoch {epoch}/{epochs} train", progress=progress, dist=dist)
            check_finite(model, optimizer.param_groups[0]["lr"])
            va = evaluate(model, valid_loader, device=device, eval_seed=eval_seed,
                          desc=f"epoch {epoch}/{epochs} valid", progress=progress, dist=dist)
        except StopTraining as exc:
            stopped = f"in epoch {epoch}: {exc}"
            break
        improved = va.acc > best_acc
        if improved:
            best_acc, best_epoch = va.acc, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        scheduler.step(va.acc)
        row = {"epoch": epoch, "train_loss": tr.loss, "train_acc": tr.acc,
               "valid_loss": va.loss, "valid_acc": va.acc, "lr": lr_now,
               "seconds": tr.seconds + va.seconds, "best": improved}
        history.append(row)
        if log is not None:
            log(f"epoch {epoch:>3}/{epochs}  loss {tr.loss:.4f}  train {100 * tr.acc:5.1f}%  "
                f"valid {100 * va.acc:5.1f}% (loss {va.loss:.4f})  lr {lr_now:.2g}  "
                f"{row['seconds']:.1f}s{'  *best' if improved else ''}")
        if on_epoch is not None:
            on_epoch(history, improved, best_state)
        if on_state is not None:
            on_state(loop_state(epoch, net, optimizer, scheduler, history, best_epoch, best_acc, best_state,
                                time.perf_counter() - start))
        if not math.isfinite(tr.loss):
            stopped = f"training loss became {tr.loss} at epoch {epoch}; lower --lr"
            break
    return FitResult(history=history, best_epoch=best_epoch, best_valid_acc=best_acc,
                     best_state=best_state, stopped_early=stopped,
                     seconds=time.perf_counter() - start)


def loop_state(epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
               history: list[dict[str, Any]], best_epoch: int, best_acc: float,
               best_state: dict[str, torch.Tensor], seconds: float) -> dict[str, Any]:
    """The state :func:`fit` continues from (``resume=``): plain values and tensors only."""
    return {"epoch": int(epoch), "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "history": [dict(row) for row in history], "best_epoch": int(best_epoch), "best_acc": float(best_acc),
            "best_state": best_state, "seconds": float(seconds)}
