"""SILIF: SiLIF, and AdLIF / cAdLIF, which share its dynamics (train neurons ``silif``, ``adlif``, ``cadlif``).

Integer step (A = a << 6, B = bias << 6, VTH = vThMant << 6, D = decayBits)::

    W' = sat( mul(beta, W, D) + mul(coupling, U, D) + spikeAdapt · P )
    U' = sat( mul(alpha, U − P·VTH, D) − mul(2^D − alpha, W', D) + A + B )
    s  = U' > VTH ;  P ← s

Float (folded): ``w_t = βw + a·u + b·s_{t−1}``, ``u_t = α(u − s_{t−1}) − (1−α)w_t + I'_t`` with
``I' = (1−α)(W'x + c)``: the (1 − α) input gain is folded into the weight rows and the bias.
The reset subtracts the threshold one step later (through the stored previous spike P).
"""
from silava.core.kinds import (DECAY_BITS_RANGE, RETENTION, SIGNED_UNIT, STATE_FRAC_BITS_RANGE, STATE_RANGE,
                               THRESHOLD_RANGE, Cost, Kind, Param, State)

KIND = Kind(
    name="SILIF",
    summary="SiLIF / AdLIF: membrane u with adaptation w, subtractive reset",
    states=(State("U", label="u"), State("W", label="w"), State("P", bits=1, label="previous spike")),
    params=(
        Param("alpha", "alpha", "constant", RETENTION, source="alpha", doc="membrane retention α·2^D",
              collapse_at_one="to_integrator"),
        Param("beta", "beta", "constant", RETENTION, source="beta", doc="adaptation retention β·2^D",
              collapse_at_one="to_integrator"),
        Param("coupling", "coupling", "constant", SIGNED_UNIT, source="a", doc="coupling a·2^D"),
        Param("spikeAdapt", "spike_adapt", "constant", STATE_RANGE, source="b", grid="state",
              doc="spike-triggered adaptation b·S (state units)"),
        Param("vThMant", "vth", "threshold", THRESHOLD_RANGE, doc="threshold mantissa (θ = 1: 2^s / 64)"),
        Param("decayBits", "decay_bits", "decay_bits", DECAY_BITS_RANGE, doc="decay grid width D"),
        Param("stateFracBits", "state_frac_bits", "state_frac_bits", STATE_FRAC_BITS_RANGE,
              doc="state scale S = 2^s"),
    ),
    float_params=("alpha", "beta", "a", "b"),
    threshold=1.0,
    output="binary",
    reset="subtract",
    input_gain="1-alpha",
    # W' = mul(beta,W) + mul(coupling,U) + spikeAdapt*P; U' = mul(alpha, U - P*VTH) - mul(2^D-alpha, W') + A + B
    cost=Cost(mults=4, adds=6, compares=1),
    membrane="U",
    dt_rule="silif",
    equations=__doc__,
)
