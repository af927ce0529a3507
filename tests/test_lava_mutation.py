"""The hwsim == Lava rung catches arithmetic errors on the Lava side (mutation test).

The Lava ``fixed_pt`` ProcessModels compute their own integer step (they do not call
``hwsim.kernels``), so a bug in them must show up as a difference from hwsim. Each case
plants one bug in one ProcessModel's ``step`` (monkeypatched on the class; Lava forks its
model processes at run time, so they inherit the patch), runs a small random network
(``export.synth``) through Lava and through ``hwsim.simulate(timeline="lava", record=True)``
and lists the (layer, output/state) pairs that differ. The unmodified models give none;
every planted bug gives some, first in the mutated layer.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_lava

pytestmark = [needs_lava, pytest.mark.lava]

SIZES = [10, 8, 6, 3]
STEPS = 16
SAMPLES = 2


def mismatches(net, x: np.ndarray) -> list[tuple[int, str]]:
    """``(layer, "output" | state name)`` wherever Lava fixed_pt differs from hwsim (Lava timeline).

    Sample 0 is compared at every step, later samples from each layer's reset step on
    (as in tests/test_lava_equivalence.py).
    """
    from test_lava_equivalence import lava_full

    from silava.hwsim.simulate import simulate

    outs, states = lava_full(net, x)
    ref = simulate(net, x, timeline="lava", record=True)
    ref_outs = [s.astype(np.int64) for s in ref.spikes]
    if len(ref_outs) < len(net.layers):
        ref_outs.append(ref.readout)
    found = set()
    for i in range(len(net.layers)):
        for n in range(x.shape[0]):
            start = 0 if n == 0 else i + 1
            if not np.array_equal(outs[i][n, start:], ref_outs[i][n, start:]):
                found.add((i, "output"))
            for name, arr in ref.states[i].items():
                if not np.array_equal(states[i][name][n, start:], arr[n, start:]):
                    found.add((i, name))
    return sorted(found)


def _network(ntype: str, seed: int = 11):
    from silava.export.synth import random_inputs, random_network

    net = random_network(ntype, SIZES, STEPS, seed=seed)
    return net, random_inputs(net, SAMPLES, seed=seed + 1000)


# ------------------------------------------------------------------ planted bugs
def _li_plus_one(original):
    """LI: V gains +1 every step."""
    def step(self, a):
        original(self, a)
        self.v[:] = self.v + 1
        return self.v.copy()
    return step


def _csilif_sin_sign(original):
    """CSILIF: X' = ... + mul(sin, Y) (the sign of the rotation's sin term in Re flipped)."""
    from silava.lava_models.procs.base import ACT_SHIFT, VTH_SHIFT, mul, sat

    def step(self, a):
        d = self.decay_bits
        act = np.left_shift(a.astype(np.int64), ACT_SHIFT)
        bias = np.left_shift(self.bias, ACT_SHIFT)
        vth = np.left_shift(self.vth, VTH_SHIFT)
        xr = self.x - self.p * vth
        x = sat(mul(self.cos_decay, xr, d) + mul(self.sin_decay, self.y, d) + act + bias)
        y = sat(mul(self.sin_decay, xr, d) + mul(self.cos_decay, self.y, d))
        s = x > vth
        self.x[:], self.y[:], self.p[:] = x, y, s
        return s
    return step


def _silif_step(drop_w: bool = False, floor: bool = False):
    """SILIF with U' lacking −mul(2^D − α, W') (``drop_w``) or every product floored instead of
    truncated toward zero (``floor``: ``k·x >> D``, a rounding-mode bug off by one on negatives)."""
    from silava.lava_models.procs.base import ACT_SHIFT, VTH_SHIFT, mul, sat

    def prod(k, x, d):
        return np.right_shift(np.multiply(k, x, dtype=np.int64), d) if floor else mul(k, x, d)

    def step(self, a):
        d = self.decay_bits
        act = np.left_shift(a.astype(np.int64), ACT_SHIFT)
        bias = np.left_shift(self.bias, ACT_SHIFT)
        vth = np.left_shift(self.vth, VTH_SHIFT)
        w = sat(prod(self.beta, self.w, d) + prod(self.coupling, self.u, d) + self.spike_adapt * self.p)
        leak = 0 if drop_w else prod(np.left_shift(np.int64(1), d) - self.alpha, w, d)
        u = sat(prod(self.alpha, self.u - self.p * vth, d) - leak + act + bias)
        s = u > vth
        self.w[:], self.u[:], self.p[:] = w, u, s
        return s
    return step


#: name -> (network type, ProcessModel to patch (module, class), step factory, first mutated layer)
MUTANTS = {
    "li_plus_one": ("SILIF", ("li", "PyLiModelFixed"), _li_plus_one, 2),
    "csilif_sin_sign": ("CSILIF", ("csilif", "PyCsilifModelFixed"), _csilif_sin_sign, 0),
    "silif_drop_w": ("SILIF", ("silif", "PySilifModelFixed"), lambda _: _silif_step(drop_w=True), 0),
    "silif_floor": ("SILIF", ("silif", "PySilifModelFixed"), lambda _: _silif_step(floor=True), 0),
}


@pytest.mark.parametrize("ntype", ["SILIF", "CSILIF"])
def test_unmodified_models_equal_hwsim(ntype, shm_guard):
    net, x = _network(ntype)
    assert mismatches(net, x) == []


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_planted_bug_is_caught(mutant, monkeypatch, shm_guard):
    import importlib

    ntype, (module, cls_name), factory, layer = MUTANTS[mutant]
    model = getattr(importlib.import_module(f"silava.lava_models.procs.{module}"), cls_name)
    monkeypatch.setattr(model, "step", factory(model.step))
    net, x = _network(ntype)
    found = mismatches(net, x)
    assert found, f"{mutant}: the planted bug was not caught"
    assert found[0][0] == layer, f"{mutant}: first difference in layer {found[0][0]}, expected {layer}: {found}"
