"""hwsim as the chip of a deployed fusion network (:mod:`silava.core.fusion`), and the chip's cost.

:class:`HwsimChip` runs block i's segment (a model.net) with :func:`silava.hwsim.simulate.simulate`
on the bit planes the host sends, keeps each simulation (input and result) and builds the hardware
report of each segment (:func:`silava.hwsim.report.build_report`: SOPs, cores, memory, time and
energy per sample — estimates labelled with the constant set).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from silava.core import netfile
from silava.core.fusion import FusionPlan, outputs_to_spikes, planes_to_inputs
from silava.hwsim.simulate import simulate


def load_segments(plan: FusionPlan, folder: str | Path) -> dict[int, netfile.Network]:
    """The chip segments of ``plan`` read from ``folder`` (each validated by :func:`netfile.read`)."""
    return {i: netfile.read(Path(folder) / str(plan.blocks[i].segment)) for i in plan.chip_blocks}


class HwsimChip:
    """``chip(i, planes) -> spikes`` backed by hwsim (logical timeline, or ``lava`` for step-exact checks).

    ``keep=True`` stores every call's ``(x, SimResult)`` per block (batches appended), for
    :meth:`reports` and for comparisons with Lava.
    """

    def __init__(self, plan: FusionPlan, segments: dict[int, netfile.Network], *, timeline: str = "logical",
                 keep: bool = True) -> None:
        self.plan, self.segments, self.timeline, self.keep = plan, segments, timeline, keep
        self.runs: dict[int, list[tuple[np.ndarray, Any]]] = {i: [] for i in segments}

    def __call__(self, i: int, planes: np.ndarray) -> np.ndarray:
        x = planes_to_inputs(planes)
        sim = simulate(self.segments[i], x, timeline=self.timeline)
        if self.keep:
            self.runs[i].append((x, sim))
        out = sim.in_window(sim.spikes[0], 0) if self.timeline == "lava" else sim.spikes[0]
        return outputs_to_spikes(out, self.plan.blocks[i])

    def counters(self) -> dict[int, dict[str, int]]:
        """hwsim's arithmetic counters per block (saturations, wraps), summed over the calls."""
        out: dict[int, dict[str, int]] = {}
        for i, runs in self.runs.items():
            total: dict[str, int] = {}
            for _, sim in runs:
                for key, value in dict(sim.counters.get("total", {})).items():
                    total[key] = total.get(key, 0) + int(value)
            out[i] = total
        return out

    def reports(self, constants: Any = "davies2018", mapping: Optional[Any] = None) -> dict[int, dict[str, Any]]:
        """The hwsim hardware report of every segment over all the samples it ran (first batch's raster)."""
        from silava.hwsim.report import build_report
        from silava.hwsim.simulate import SimResult

        reports = {}
        for i, runs in self.runs.items():
            if not runs:
                continue
            x = np.concatenate([r[0] for r in runs])
            sims = [r[1] for r in runs]
            sim = sims[0] if len(sims) == 1 else SimResult(
                readout=np.concatenate([s.readout for s in sims]),
                spikes=[np.concatenate([s.spikes[0] for s in sims])], states=None, counters=sims[0].counters,
                predictions=np.concatenate([s.predictions for s in sims]),
                predictions_sum_v=np.concatenate([s.predictions_sum_v for s in sims]), timeline=sims[0].timeline,
                steps=sims[0].steps, decision=sims[0].decision, offsets=sims[0].offsets)
            reports[i] = build_report(self.segments[i], sim, constants, mapping, x=x)
        return reports
