"""Lava as the chip of a deployed fusion network (:mod:`silava.core.fusion`).

:class:`LavaChip` runs block i's segment with :func:`silava.lava_models.network.run_samples`
(``fixed_pt``: the ProcessModels' own integer arithmetic) on the bit planes the host sends and
returns the aligned output spikes. It never imports hwsim: the comparison with hwsim is the
application's (``silava fusion run --compare-hwsim``).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from silava.core import netfile
from silava.core.fusion import FusionPlan, outputs_to_spikes, planes_to_inputs


class LavaChip:
    """``chip(i, planes) -> spikes`` backed by Lava processes (one Lava network per segment call)."""

    def __init__(self, plan: FusionPlan, segments: dict[int, netfile.Network], *, tag: str = "fixed_pt",
                 timeout_s: float = 600.0, progress: bool = False, run_cfg: Optional[Any] = None) -> None:
        self.plan, self.segments, self.tag = plan, segments, tag
        self.timeout_s, self.progress, self.run_cfg = float(timeout_s), bool(progress), run_cfg
        self.wall_s: dict[int, float] = {}

    def __call__(self, i: int, planes: np.ndarray) -> np.ndarray:
        from silava.lava_models.network import run_samples

        res = run_samples(self.segments[i], planes_to_inputs(planes), tag=self.tag, timeout_s=self.timeout_s,
                          progress=self.progress, run_cfg=self.run_cfg)
        self.wall_s[i] = self.wall_s.get(i, 0.0) + float(res["wall_s"])
        return outputs_to_spikes(res["readout"], self.plan.blocks[i])
