"""silava.core.kinds: the one declaration per neuron kind, and that the stages read it."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from silava.core import netfile
from silava.core.kinds import KINDS, RETENTION, SIGNED_UNIT, STATE_RANGE, Cost, Kind, Param, Range, State


def test_ranges_and_widths():
    assert RETENTION.at(12) == (0, 4096) and RETENTION.bits(12) == 13
    assert SIGNED_UNIT.at(12) == (-4096, 4096) and SIGNED_UNIT.bits(12) == 14
    assert STATE_RANGE.bits(12) == 24
    assert Range(1, 2**17 - 1).bits(0) == 17 and Range(0, 0).bits(0) == 1


def test_declarations_are_consistent():
    for name, kind in KINDS.items():
        assert kind.name == name
        assert (kind.output != "graded") == (kind.threshold is not None)   # binary or mixed (hybrid) outputs
        for p in kind.params:
            if p.role == "constant":
                assert p.source in kind.float_params, f"{name}/{p.key}: source {p.source} not a float constant"
        assert kind.state_words >= 1 and kind.cost.ops >= 1
    assert KINDS["CUBA"].fixed_decay_bits == 12 and KINDS["SILIF"].fixed_decay_bits is None
    assert KINDS["CSILIF"].vth_mant(12) == 32 and KINDS["SILIF"].vth_mant(12) == 64


def test_every_stage_has_every_kind():
    from silava.hwsim.counts import NEURON_COSTS
    from silava.hwsim.kernels import KERNELS
    from silava.train import intsim
    from silava.train.neurons import NEURONS

    trainable = {name for name, kind in KINDS.items() if kind.trainable}
    assert set(KERNELS) == set(KINDS) == set(NEURON_COSTS)
    assert trainable <= set(intsim.STEPS) <= set(KINDS)
    for name, kernel in KERNELS.items():
        assert kernel.state_names == KINDS[name].state_names and kernel.spiking == KINDS[name].spiking
    from silava.train.hybrid import KINDS_USED

    deployable = {cls.kind for cls in NEURONS.values() if cls.kind} | set(KINDS_USED)
    assert deployable == trainable, "every trainable kind has a torch neuron, and every neuron's kind exists"
    assert {"DELTA", "SIGMA_DELTA", "SIGMA"} == set(KINDS) - trainable   # lava-dl's units: read, not trained
    assert NEURONS["rf"].kind == "RF" and NEURONS["multiout"].kind == "MULTIOUT"


def toy_kind() -> Kind:
    """A made-up kind: one retention constant on the decay grid, one spike-triggered jump in state units."""
    return Kind(name="TOY", summary="test only", states=(State("V"), State("P", bits=1)),
                params=(Param("leak", "leak", "constant", RETENTION, source="lam"),
                        Param("jump", "jump", "constant", STATE_RANGE, source="j", grid="state"),
                        Param("vThMant", "vth", "threshold", Range(1, 2**17 - 1)),
                        Param("decayBits", "decay_bits", "decay_bits", Range(8, 24)),
                        Param("stateFracBits", "state_frac_bits", "state_frac_bits", Range(6, 22))),
                float_params=("lam", "j"), threshold=0.25, output="binary", reset="subtract", input_gain="1",
                cost=Cost(1, 2, 1), membrane="V")


def test_a_new_declaration_drives_validation_quantization_and_costs(monkeypatch):
    """Registering a kind is enough for model.net validation, the exporter's keys and the cost tables."""
    from silava.export.quantize import quantize_constants
    from silava.hwsim.counts import NeuronCost

    kind = toy_kind()
    monkeypatch.setitem(KINDS, "TOY", kind)
    neuron, clipped = quantize_constants(kind, {"lam": np.array([0.5, 1.5]), "j": np.array([0.25, -1.0])},
                                         D=10, s=8)
    assert neuron["leak"].tolist() == [512, 1024] and clipped["leak"] == 1        # 1.5 clipped to 2^D
    assert neuron["jump"].tolist() == [64, -256] and neuron["vThMant"] == 1       # 0.25 * 2^8 / 64
    assert neuron["decayBits"] == 10 and neuron["stateFracBits"] == 8
    layer = netfile.Layer("TOY", np.full((2, 3), 2), neuron)
    netfile._check_layer(0, layer)                                               # valid as declared
    bad = dataclasses.replace(layer, neuron={**neuron, "leak": np.array([0, 2048])})
    with pytest.raises(netfile.NetFileError, match=r"neuron/leak: value 2048 out of range \[0, 1024\]"):
        netfile._check_layer(0, bad)
    with pytest.raises(netfile.NetFileError, match="neuron/jump: missing key"):
        netfile._check_layer(0, dataclasses.replace(layer, neuron={k: v for k, v in neuron.items() if k != "jump"}))
    cost = NeuronCost.of(kind)
    assert (cost.state_words, cost.prev_spike_bits, cost.ops_per_update) == (1, 1, 4)


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="needs its float source"):
        Param("x", "x", "constant", RETENTION)
    with pytest.raises(ValueError, match="membrane"):
        dataclasses.replace(toy_kind(), membrane="Q")
    with pytest.raises(ValueError, match="threshold"):
        dataclasses.replace(toy_kind(), threshold=None)
