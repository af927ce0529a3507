"""CSILIF: C-SiLIF, the complex-state SiLIF (train neuron ``csilif``).

Integer step (A = a << 6, B = bias << 6, VTH = vThMant << 6, D = decayBits; λ = r e^{iφ} with
cosDecay = rnd(r cos φ · 2^D), sinDecay = rnd(r sin φ · 2^D); each product truncated separately)::

    Xr = X − P·VTH
    X' = sat( mul(cosDecay, Xr, D) − mul(sinDecay, Y, D) + A + B )
    Y' = sat( mul(sinDecay, Xr, D) + mul(cosDecay, Y, D) )
    s  = X' > VTH ;  P ← s

Float (folded): ``x_r = x − 0.5 s'``; ``x = Re(λ) x_r − Im(λ) y + I'``; ``y = Im(λ) x_r + Re(λ) y``;
spike ``x > 0.5``; the input gain b is folded into the rows and the bias. The threshold is 0.5
(vThMant = 2^s / 128, so s ≥ 7) and the half reset subtracts it one step later.
"""
from silava.core.kinds import (DECAY_BITS_RANGE, SIGNED_UNIT, STATE_FRAC_BITS_RANGE, THRESHOLD_RANGE, Cost, Kind,
                               Param, State)

KIND = Kind(
    name="CSILIF",
    summary="C-SiLIF: complex membrane (Re u, Im u) rotating by λ, half reset",
    states=(State("X", label="Re u"), State("Y", label="Im u"), State("P", bits=1, label="previous spike")),
    params=(
        Param("cosDecay", "cos_decay", "constant", SIGNED_UNIT, source="lam_re", doc="Re λ · 2^D"),
        Param("sinDecay", "sin_decay", "constant", SIGNED_UNIT, source="lam_im", doc="Im λ · 2^D"),
        Param("vThMant", "vth", "threshold", THRESHOLD_RANGE, doc="threshold mantissa (θ = 0.5: 2^s / 128)"),
        Param("decayBits", "decay_bits", "decay_bits", DECAY_BITS_RANGE, doc="decay grid width D"),
        Param("stateFracBits", "state_frac_bits", "state_frac_bits", STATE_FRAC_BITS_RANGE,
              doc="state scale S = 2^s"),
    ),
    float_params=("lam_re", "lam_im"),
    threshold=0.5,
    output="binary",
    reset="subtract",
    input_gain="b",
    # Xr = X - P*VTH; X' = mul(c,Xr) - mul(s,Y) + A + B; Y' = mul(s,Xr) + mul(c,Y)
    cost=Cost(mults=4, adds=5, compares=1),
    membrane="X",
    complex_pair=("cosDecay", "sinDecay"),
    dt_rule="rotation",
    equations=__doc__,
)
