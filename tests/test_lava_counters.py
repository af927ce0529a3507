"""Overflow counters from the Lava models (issue 15, item 9) equal hwsim's, and a planted counting bug is caught.

The Lava ``fixed_pt`` models count beside their own arithmetic (``lava_models/procs``: the neuron
Processes' ``saturate``, :mod:`lava_models.procs.counting` on Lava's Dense and LIFReset); hwsim counts in
its golden kernels. Both cover the in-window steps of the logical timeline, so on random full-range
networks (``export.synth.full_range_network``, which saturate, wrap and overflow int32) the per-layer
counters must be equal. Each mutant disables one part of the Lava-side counting (monkeypatched on the
class; Lava forks its model processes at run time, so they inherit the patch) and must make the
comparison fail.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_lava

pytestmark = [needs_lava, pytest.mark.lava]

#: full_range_network cases with rich counters: 4 = CUBA/CSILIF/LI with 16-bit graded inputs (LIF int32
#: overflows, wraps, saturations); 140 (silava's kinds only) = SILIF/LI, 16-bit inputs, weight exponent 7 (int32
#: overflows of Lava's Dense, saturations of both signs in silava's own Processes); 16 = SILIF/LI
CASES = {"cuba": (4, ("CUBA", "SILIF", "CSILIF", "LI", "HYBRID", "LI2")), "dense": (140, ("SILIF", "CSILIF", "LI")),
         "silif": (16, ("CUBA", "SILIF", "CSILIF", "LI", "HYBRID", "LI2"))}


def _case(name: str):
    from silava.export.synth import full_range_inputs, full_range_network

    seed, kinds = CASES[name]
    net = full_range_network(seed, steps=8, kinds=kinds)
    x = full_range_inputs(net, 3, seed)
    if int(net.layers[0].input_message_bits) > 0:
        x[0, 0, :2] = [2**20, -1]          # two payloads the source clips (input_clip)
    return net, x


def counters_pair(case: str) -> tuple[dict, dict]:
    """``(hwsim, Lava)`` per-layer counters (non-zero only; hwsim's lava_weight_clip left out)."""
    from silava.hwsim.simulate import simulate
    from silava.lava_models.network import run_samples

    net, x = _case(case)
    ref = simulate(net, x, timeline="logical")
    hw = {key: {k: int(v) for k, v in c.items() if v and k != "lava_weight_clip"} for key, c in ref.counters.items()}
    res = run_samples(net, x, progress=False, timeout_s=300)
    assert np.array_equal(res["readout"], ref.readout)
    return hw, res["counters"]


def test_lava_counters_equal_hwsim(shm_guard):
    seen = set()
    for case in CASES:
        hw, lava = counters_pair(case)
        assert hw == lava, f"{case}: hwsim {hw} != Lava {lava}"
        assert sum(hw["total"].values()) > 0, f"{case}: no overflow at all; the case tests nothing"
        seen |= set(hw["total"])
    assert {"saturate", "wrap", "int32_overflow", "input_clip"} <= seen, seen


# ------------------------------------------------------------------ planted counting bugs
def _sat_positive_only(monkeypatch):
    """silava's neuron models count only values clipped at the top."""
    from silava.lava_models.procs import base

    def sat(self, x):
        if self._counting:
            self.saturate[0] += np.count_nonzero(x > base.STATE_MAX)
        return base.sat(x)

    monkeypatch.setattr(base.NeuronModel, "sat", sat)


def _lif_without_wrap(monkeypatch):
    """The counting LIFReset forgets the 24-bit wrap of u."""
    from silava.lava_models.procs import counting

    original = counting.PyCountingLifResetModelBitAcc._count

    def count(self, a):
        before = int(self.wrap[0])
        original(self, a)
        self.wrap[0] = before

    monkeypatch.setattr(counting.PyCountingLifResetModelBitAcc, "_count", count)


def _dense_uncounted(monkeypatch):
    """The counting Dense counts nothing (the int32 sums of graded inputs go unreported)."""
    from silava.lava_models.procs import counting

    monkeypatch.setattr(counting.PyCountingDenseModelBitAcc, "_in_window", lambda self: False)


def _every_step(monkeypatch):
    """Counting in every step of the period, not only the in-window ones."""
    from silava.lava_models.procs import base

    monkeypatch.setattr(base, "in_window", lambda *args: True)


#: name -> (plant, case that exposes it)
MUTANTS = {"sat_positive_only": (_sat_positive_only, "dense"), "lif_without_wrap": (_lif_without_wrap, "cuba"),
           "dense_uncounted": (_dense_uncounted, "dense"), "every_step": (_every_step, "silif")}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_planted_counting_bug_is_caught(mutant, monkeypatch, shm_guard):
    plant, case = MUTANTS[mutant]
    plant(monkeypatch)
    hw, lava = counters_pair(case)
    assert hw != lava, f"{mutant}: the planted counting bug was not caught ({hw})"
