"""LI: the leaky-integrator readout (train neuron ``li``). No threshold, no spikes: the state V
is the output, a graded value sent every step.

Integer step (A = a << 6, B = bias << 6, D = decayBits)::

    V = sat( mul(alpha, V, D) + A + B )

Float (folded): ``v_t = α v + I'_t`` with ``I' = (1 − α)(W'h + c)`` (the gain folded into the rows).

model.net writes an LI layer in netx's own vocabulary, as a CUBA layer with a full current decay
and a threshold out of reach, when that is exact (:mod:`silava.core.netxform`); otherwise as type
``LI``, which netx loads through silava's extension (``silava.lava_models.netx.Network``).
"""
from silava.core.kinds import DECAY_BITS_RANGE, RETENTION, STATE_FRAC_BITS_RANGE, Cost, Kind, Param, State

KIND = Kind(
    name="LI",
    summary="leaky-integrator readout: state v is the output",
    states=(State("V", label="v"),),
    params=(
        Param("alpha", "alpha", "constant", RETENTION, source="alpha", doc="retention α·2^D",
              collapse_at_one="to_integrator"),
        Param("decayBits", "decay_bits", "decay_bits", DECAY_BITS_RANGE, doc="decay grid width D"),
        Param("stateFracBits", "state_frac_bits", "state_frac_bits", STATE_FRAC_BITS_RANGE,
              doc="state scale S = 2^s"),
    ),
    float_params=("alpha",),
    output="graded",
    reset="none",
    input_gain="1-alpha",
    # V = sat(mul(alpha, V) + A + B)
    cost=Cost(mults=1, adds=2, compares=0),
    membrane="V",
    dt_rule="leaky",
    # written as a CUBA layer that cannot spike when that is exact (silava.core.netxform)
    netx_form="CUBA",
    equations=__doc__,
)
