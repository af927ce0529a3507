"""The objects the public API returns (:mod:`silava.app.api`): plain dataclasses of arrays and dicts.

:class:`~silava.hwsim.simulate.SimResult` (``silava.simulate``), :class:`~silava.app.compare.Comparison`
(``silava.compare``) and :class:`~silava.core.netfile.Network` (``silava.quantize``, ``silava.load_net``)
come from the stages that compute them; the ones here wrap what the other functions return.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np


@dataclass
class TrainResult:
    """What :func:`silava.fit` trained: the model, its checkpoint and the metrics of the run.

    ``model``: the ``SpArchNet`` with the best-validation weights, in eval mode (as loaded from
    ``checkpoint``). ``checkpoint``: ``<out>/ckpt.pt`` (what :func:`silava.quantize` and
    :func:`silava.compare` take). ``metrics``: what ``metrics.json`` holds (``best_valid_acc``,
    ``best_epoch``, ``test_acc``, ``history`` of per-epoch rows, ``config``, ...).
    """

    model: Any
    checkpoint: Path
    metrics: dict[str, Any]

    @property
    def out(self) -> Path:
        """The run folder (ckpt.pt, last.pt, metrics.json, metrics.csv, training_curve.png)."""
        return self.checkpoint.parent

    @property
    def history(self) -> list[dict[str, Any]]:
        """One row per epoch: ``epoch, train_loss, train_acc, valid_loss, valid_acc, lr, seconds, best``."""
        return list(self.metrics.get("history", []))

    @property
    def test_acc(self) -> Optional[float]:
        return self.metrics.get("test_acc")

    @property
    def best_valid_acc(self) -> Optional[float]:
        return self.metrics.get("best_valid_acc")

    @property
    def config(self) -> dict[str, Any]:
        """The training configuration (``train_config`` of the checkpoint)."""
        return dict(self.metrics.get("config", {}))

    def __repr__(self) -> str:
        acc = self.test_acc
        return (f"TrainResult({self.checkpoint}: {len(self.history)} epochs, best valid acc "
                f"{self.best_valid_acc:.4f}, test acc {acc:.4f})" if acc is not None else
                f"TrainResult({self.checkpoint})")


@dataclass
class LavaResult:
    """The network run as Lava processes (:func:`silava.run_lava`), aligned to the logical timeline.

    ``readout`` ``[N, T, C]`` (int64 V under ``fixed_pt``, float under ``floating_pt``), ``predictions``
    / ``predictions_sum_v`` int64 ``[N]`` (``decision`` names the rule), ``spikes`` per hidden layer
    uint8 ``[N, T, H]`` when recorded, wall time and throughput. ``counters``: the Lava models' overflow
    counters ``{"layer/i" | "total": {name: count}}`` (``saturate``, ``wrap``, ``int32_overflow``,
    ``input_clip``; the in-window steps, as hwsim's logical-timeline counters; empty under ``floating_pt``).
    """

    readout: np.ndarray
    predictions: np.ndarray
    predictions_sum_v: np.ndarray
    decision: str
    tag: str = "fixed_pt"
    spikes: Optional[list[np.ndarray]] = None
    wall_s: float = 0.0
    sample_steps_per_s: float = 0.0
    global_steps: int = 0
    counters: dict = field(default_factory=dict)

    @classmethod
    def from_run(cls, res: dict[str, Any], tag: str) -> "LavaResult":
        """From the dict of :func:`silava.lava_models.network.run_samples`."""
        return cls(readout=res["readout"], predictions=res["predictions"], predictions_sum_v=res["predictions_sum_v"],
                   decision=res["decision"], tag=tag, spikes=res.get("spikes"), wall_s=float(res["wall_s"]),
                   sample_steps_per_s=float(res["sample_steps_per_s"]), global_steps=int(res["global_steps"]),
                   counters=dict(res.get("counters") or {}))

    def accuracy(self, y: np.ndarray) -> float:
        """Fraction of ``predictions`` equal to the labels ``y``."""
        return float(np.mean(self.predictions == np.asarray(y)[: len(self.predictions)]))


@dataclass
class HardwareReport:
    """The Loihi 2 cost report (:func:`silava.report`): ``data`` is what ``report.json`` holds.

    Energy and time are estimates from per-event constants (``data["estimate_label"]``); counts,
    cores and buffers are exact for the simulated samples. ``files``: what was written (if ``out``).
    """

    data: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able report (a copy)."""
        import copy

        return copy.deepcopy(self.data)

    @property
    def summary(self) -> str:
        """A few lines: cores, synaptic operations, spikes, buffers, latency and energy per sample."""
        from silava.app.demo import hardware_summary

        return hardware_summary(self.data)

    @property
    def markdown(self) -> str:
        """``report.md``'s text."""
        from silava.hwsim.report import render_markdown

        return render_markdown(self.data)

    def __repr__(self) -> str:
        ps = self.data["cost"]["per_sample"]
        return (f"HardwareReport({self.data['mapping']['cores_used']} cores, {ps['energy_pj'] / 1e6:.3g} µJ and "
                f"{ps['time_ns'] / 1e3:.3g} µs per sample, {self.data['estimate_label']})")
