"""HAS-8 on Lava: host + Lava (fixed_pt) gives exactly the spikes and logits of host + hwsim, and the
comparison catches a bug planted in Lava's LIF (CUBA) ProcessModel."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import needs_lava
from test_has8_deploy import export, images, randomize_bn

pytestmark = [needs_lava, pytest.mark.lava]


def _deployment(tmp_path):
    from silava.train.has8 import Has8Net

    torch.manual_seed(7)
    model = randomize_bn(Has8Net("has8-vgg", (1, 8, 8), 10, width=4, depth=1), 8)
    export(model, tmp_path)
    return tmp_path / "dep", images(6, seed=3)


def _both(folder, x):
    from silava.app.fusion import compare_results, run_lava_fusion, simulate_fusion

    _, ref, _ = simulate_fusion(folder, x)
    _, got, _ = run_lava_fusion(folder, x, timeout_s=300)
    return ref, got, compare_results(ref, got)


def test_lava_equals_hwsim(tmp_path, shm_guard):
    folder, x = _deployment(tmp_path)
    ref, got, cmp = _both(folder, x)
    assert cmp["identical"], cmp
    assert all(ref.spikes[i].sum() > 0 for i in ref.spikes)      # the segments spike: the check is not vacuous


def test_planted_lava_bug_is_caught(tmp_path, monkeypatch, shm_guard):
    """Lava's LIF with its threshold MSB-aligned by 5 bits instead of 6: the spikes differ from hwsim's."""
    from lava.proc.lif.models import PyLifResetModelBitAcc

    def scale_threshold(self):
        self.effective_vth = np.left_shift(self.vth, self.vth_shift - 1)
        self.isthrscaled = True

    monkeypatch.setattr(PyLifResetModelBitAcc, "scale_threshold", scale_threshold)
    folder, x = _deployment(tmp_path)
    _, _, cmp = _both(folder, x)
    assert not cmp["identical"] and cmp["spike_mismatches"][0] > 0
