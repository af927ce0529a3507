"""LI2: the two-filter leaky-integrator readout of the hybrid network (train ``silava.train.hybrid``;
spec ``neurons.md`` §7.1 ``_apply_readout_layer``). No threshold, no spikes: V is the output, a graded
value sent every step.

Integer step (A = a << 6, B = bias << 6, D = decayBits)::

    U = sat( mul(alpha, U, D) + A + B )
    V = sat( mul(beta, V, D) + mul(2^D − beta, U, D) )

Float (folded): ``flt_t = α·flt + h_t``, ``v_t = β_out·v + (1 − β_out)·flt_t`` (input gain 1).
"""
from silava.core.kinds import DECAY_BITS_RANGE, RETENTION, STATE_FRAC_BITS_RANGE, Cost, Kind, Param, State

KIND = Kind(
    name="LI2",
    summary="two-filter leaky-integrator readout: current u and output v",
    states=(State("U", label="flt"), State("V", label="v")),
    params=(
        Param("alpha", "alpha", "constant", RETENTION, source="alpha", doc="current retention α·2^D",
              collapse_at_one="to_integrator"),
        Param("beta", "beta", "constant", RETENTION, source="beta", doc="output retention β_out·2^D",
              collapse_at_one="to_integrator"),
        Param("decayBits", "decay_bits", "decay_bits", DECAY_BITS_RANGE, doc="decay grid width D"),
        Param("stateFracBits", "state_frac_bits", "state_frac_bits", STATE_FRAC_BITS_RANGE,
              doc="state scale S = 2^s"),
    ),
    float_params=("alpha", "beta"),
    output="graded",
    reset="none",
    input_gain="1",
    # U = sat(mul(alpha,U) + A + B); V = sat(mul(beta,V) + mul(2^D-beta,U))
    cost=Cost(mults=3, adds=3, compares=0),
    membrane="V",
    layer_types=("dense",),
    equations=__doc__,
)
