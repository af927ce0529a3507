"""RF: the resonate-and-fire neuron of the SiLIF paper's baseline (train neuron ``rf``; spec §5).

Integer step (A = a << 6, B = bias << 6, VTH = vThMant << 6, D = decayBits; ``cosDecay`` =
rnd(re · 2^D), ``sinDecay`` = rnd(im · 2^D) with ``re = 1 + dt·ω_re``, ``im = dt·ω_im``; each
product truncated separately)::

    X' = sat( mul(cosDecay, X, D) − mul(sinDecay, Y, D) − P·VTH + A + B )
    Y' = sat( mul(sinDecay, X, D) + mul(cosDecay, Y, D) )
    s  = X' > VTH ;  P ← s

Float (folded): ``x = re·x − im·y − s' + I'``; ``y = im·x_prev + re·y``; spike ``x > 1``; the Euler
step ``dt`` (the input gain) is folded into the rows and the bias. Unlike C-SiLIF the reset
subtracts the threshold *after* the rotation (Y sees the un-reset X), and the threshold is 1.

Not Lava's own ``lava.proc.rf.RF``: that process spikes on a phase crossing (``real ≥ vth`` and
``imag`` going from negative to ≥ 0), never resets, and takes separate real and imaginary
inputs, so it computes a different neuron. RF is our own kind with its own Process.
"""
from silava.core.kinds import (DECAY_BITS_RANGE, SIGNED_UNIT, STATE_FRAC_BITS_RANGE, THRESHOLD_RANGE, Cost, Kind,
                               Param, State)

KIND = Kind(
    name="RF",
    summary="resonate-and-fire: complex membrane (Re u, Im u), Euler rotation, reset after the rotation",
    states=(State("X", label="Re u"), State("Y", label="Im u"), State("P", bits=1, label="previous spike")),
    params=(
        Param("cosDecay", "cos_decay", "constant", SIGNED_UNIT, source="re", doc="(1 + dt·ω_re) · 2^D"),
        Param("sinDecay", "sin_decay", "constant", SIGNED_UNIT, source="im", doc="dt·ω_im · 2^D"),
        Param("vThMant", "vth", "threshold", THRESHOLD_RANGE, doc="threshold mantissa (θ = 1: 2^s / 64)"),
        Param("decayBits", "decay_bits", "decay_bits", DECAY_BITS_RANGE, doc="decay grid width D"),
        Param("stateFracBits", "state_frac_bits", "state_frac_bits", STATE_FRAC_BITS_RANGE,
              doc="state scale S = 2^s"),
    ),
    float_params=("re", "im"),
    threshold=1.0,
    output="binary",
    reset="subtract",
    input_gain="dt",
    # X' = mul(c,X) - mul(s,Y) - P*VTH + A + B; Y' = mul(s,X) + mul(c,Y)
    cost=Cost(mults=4, adds=5, compares=1),
    membrane="X",
    complex_pair=("cosDecay", "sinDecay"),
    dt_rule="euler",
    equations=__doc__,
)
