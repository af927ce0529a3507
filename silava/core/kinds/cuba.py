"""CUBA: Lava's own current-based LIF (netx type ``CUBA``; train neuron ``lif``).

Integer step (Lava ``PyLifModelBitAcc``; A = a << 6, B = bias << 6, VTH = vThMant << 6)::

    U = wrap( mul(4096 − iDecay, U, 12) + A )
    V = sat ( mul(4096 − vDecay, V, 12) + U + B )
    s = V > VTH ;  V[s] = 0                (U is not reset)

Float (folded): ``u = (1 − δu) u + I``, ``v = (1 − δv) v + u + c``, spike ``v > 1``, ``v ← 0``.
netx builds ``LIF(du = iDecay − 1, dv = vDecay)`` and Lava adds ``ds_offset = 1``, so the
effective current decay is exactly ``iDecay`` (≥ 1). netx derives its own weight exponent, so
the exporter folds ours into the state scale (``s ← s − e``) and a layer may not be all zero.
"""
from silava.core.kinds import (STATE_FRAC_BITS_RANGE, THRESHOLD_RANGE, Cost, Kind, Param, Range, State)

KIND = Kind(
    name="CUBA",
    summary="Lava's LIF: current u and voltage v, hard reset of v",
    states=(State("U", label="u"), State("V", label="v")),
    params=(
        Param("iDecay", "du", "constant", Range(1, 4096), source="cur_decay",
              doc="current decay δu·4096 (fraction lost per step; ≥ 1: Lava's du is unsigned)",
              collapse_at_one="to_full"),
        Param("vDecay", "dv", "constant", Range(0, 4096), source="vol_decay", doc="voltage decay δv·4096",
              collapse_at_one="to_full"),
        Param("vThMant", "vth", "threshold", THRESHOLD_RANGE, doc="threshold mantissa (θ = 1: 2^s / 64)"),
        Param("refDelay", "ref_delay", "fixed", Range(1, 1), value=1, doc="netx refractory delay (1: none)"),
        Param("gradedSpike", "graded_spike", "fixed", Range(0, 0), value=False, doc="netx: binary spikes"),
        Param("stateFracBits", "state_frac_bits", "state_frac_bits", STATE_FRAC_BITS_RANGE, required=False,
              doc="the float scale 2^s after folding the exponent (informational for netx)"),
        Param("decayBits", "decay_bits", "decay_bits", Range(12, 12), required=False,
              doc="always 12 (Lava's LIF)"),
    ),
    float_params=("cur_decay", "vol_decay"),
    threshold=1.0,
    output="binary",
    reset="zero",
    input_gain="1",
    # U = wrap(mul(4096-iDecay, U) + A); V = sat(mul(4096-vDecay, V) + U + B); s = V > VTH
    cost=Cost(mults=2, adds=3, compares=1),
    membrane="V",
    netx_native=True,
    equations=__doc__,
)
