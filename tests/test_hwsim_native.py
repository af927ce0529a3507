"""hwsim's C loops (hwsim/loops.c via silava.hwsim.native) against the numpy loop over the golden kernels
(silava.hwsim.kernels), the independent reference: the same readout, spikes, predictions, per-step event
counts and counters (saturations, clips, wraps) on random and full-range networks, both timelines,
binary and graded inputs, positive and negative weight exponents; record=True and kinds without a C
loop take the numpy loop."""
from __future__ import annotations

import numpy as np
import pytest

from silava.core import cbuild
from silava.export.synth import full_range_inputs, full_range_network, random_inputs, random_network
from silava.hwsim import native
from silava.hwsim.simulate import simulate

needs_c = pytest.mark.skipif(not native.available(), reason=f"C loops not available: {native.status()}")


@pytest.fixture(autouse=True)
def _restore():
    old = native.set_enabled(True)
    yield
    native.set_enabled(old)


def both(net, x, **kw):
    native.set_enabled(True)
    fast = simulate(net, x, **kw)
    native.set_enabled(False)
    ref = simulate(net, x, **kw)
    native.set_enabled(True)
    return fast, ref


def assert_same(a, b):
    assert np.array_equal(a.readout, b.readout)
    assert len(a.spikes) == len(b.spikes) and all(np.array_equal(p, q) for p, q in zip(a.spikes, b.spikes))
    assert all(p.dtype == q.dtype for p, q in zip(a.spikes, b.spikes))
    assert np.array_equal(a.predictions, b.predictions) and np.array_equal(a.predictions_sum_v, b.predictions_sum_v)
    for name in ("input_events", "output_events"):
        assert all(np.array_equal(p, q) for p, q in zip(getattr(a, name), getattr(b, name))), name
    assert a.counters == b.counters


@needs_c
@pytest.mark.parametrize("kind", ["SILIF", "CSILIF", "CUBA"])
@pytest.mark.parametrize("bits", [0, 3])
@pytest.mark.parametrize("timeline", ["logical", "lava"])
def test_c_loops_equal_the_numpy_loop(kind, bits, timeline):
    for seed, exp in ((3, None), (4, -3), (5, 2)):
        net = random_network(kind, [40, 48, 24, 5], 30, seed=seed, input_message_bits=bits, weight_exp=exp)
        x = random_inputs(net, 11, seed=seed + 10)
        fast, ref = both(net, x, timeline=timeline, batch_size=4)
        assert_same(fast, ref)
        assert sum(s.sum() for s in fast.spikes) > 0


@needs_c
@pytest.mark.parametrize("seed", range(6))
def test_full_range_networks(seed):
    """Every integer from its whole range: saturations on every path, the int32 route where needed."""
    net = full_range_network(seed)
    x = full_range_inputs(net, 6, seed)
    for timeline in ("logical", "lava"):
        fast, ref = both(net, x, timeline=timeline)
        assert_same(fast, ref)


@needs_c
def test_record_and_fallbacks_use_the_numpy_loop(monkeypatch):
    net = random_network("SILIF", [20, 16, 4], 12, seed=1)
    x = random_inputs(net, 3, seed=2)
    calls = []
    real = native.run_layer
    monkeypatch.setattr(native, "run_layer", lambda *a, **k: (calls.append(a[0]), real(*a, **k))[1])
    simulate(net, x, threads=1)
    assert calls == ["SILIF", "LI"]
    calls.clear()
    rec = simulate(net, x, record=True)
    assert calls == [] and rec.states is not None
    assert_same(simulate(net, x), rec)
    calls.clear()
    native.set_enabled(False)
    simulate(net, x)
    assert calls == [] and native.status().startswith("numpy loop")


def test_loop_signatures_parse():
    sigs = cbuild.signatures(native.SOURCE.read_text(), [fn for fn, _ in native.LOOPS.values()], marker="EXPORT")
    assert set(sigs) == {"silif_loop", "csilif_loop", "li_loop"}
    assert all(len(types) > 20 for types in sigs.values())
