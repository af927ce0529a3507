"""HYBRID: the hybrid recurrent layer (train ``silava.train.hybrid``, spec ``neurons.md`` §7): per
neuron a spiking LIF, a graded LIF ("nsn") or a tanh unit, all sending graded payloads.

Per-neuron ``unit`` (0 graded LIF, 1 spiking LIF, 2 tanh) and ``softReset`` (1: the LIF unit's
membrane is multiplied by ``1 − output`` of the step, 0: no reset; spiking units always 1).
With ``A = a << 6`` (the Dense outputs of the feed-forward and the recurrent synapses summed),
``B = bias << 6``, ``VTH = vThMant << 6 = S`` (θ = 1), ``S = 2^s``, ``D = decayBits``,
``q = payloadFracBits`` (payload 1.0 = 2^q)::

    output from the state carried in (the reference order, spec §7.1):
      spiking  s = V > VTH ;        G = S·s ;                 payload = 2^q · s
      graded   g = clip(V, 0, S) ;  G = g · softReset ;       payload = (g + 2^(s−q−1)) >> (s−q)
      tanh     payload = tanh_q(A + B) (table below) ;        G = 0
    then the LIF state integrates (tanh units keep U = V = 0):
      Vn = sat( mul(beta, V, D) + mul(2^D − beta, U, D) )
      V' = mul(S − G, Vn, s)                   multiplicative reset (exact 0 after a spike)
      U' = sat( mul(alpha, U, D) + A + B )

Float (folded): ``mem' = (β·mem + (1−β)·syn)(1 − r)``, ``syn' = α·syn + J``, ``J = W x + W_rec o``;
the input gain is 1 (nothing folded into the rows).

tanh on the neurocore (no tanh instruction): odd symmetry, a 49-entry table
:data:`TANH_TABLE` ``T[k] = rnd(tanh(k/8)·2^16)`` (k = 0..48, |x| < 6) and linear interpolation,
integer only: with ``a = |x|`` (state units, ``s ≥ 3``), ``h = s − 3``, ``k = a >> h``::

    y16 = T[48]                                         if k ≥ 48
    y16 = T[k] + (((T[k+1] − T[k]) · (a − (k << h))) >> h)   otherwise
    tanh_q(x) = sign(x) · ((y16 + 2^(15−q)) >> (16 − q))     (q ≤ 16)

Its error against float tanh is below 1.6e-3 before the payload rounding (2^−q−1);
tests/test_hybrid_kernels.py measures it.
"""
from silava.core.kinds import (DECAY_BITS_RANGE, RETENTION, STATE_FRAC_BITS_RANGE, THRESHOLD_RANGE, Cost, Kind,
                               Param, Range, State)

#: unit codes of the per-neuron ``unit`` key
UNIT_GRADED, UNIT_SPIKING, UNIT_TANH = 0, 1, 2
#: tanh table: T[k] = rnd(tanh(k / 8) · 2^16), k = 0..48 (segment width 2^-TANH_STEP_BITS)
TANH_TABLE = (0, 8150, 16051, 23485, 30285, 36346, 41625, 46131, 49912, 53038, 55593, 57660, 59320, 60643,
              61694, 62524, 63179, 63693, 64096, 64412, 64659, 64852, 65003, 65120, 65212, 65283, 65339, 65383,
              65417, 65443, 65464, 65480, 65492, 65502, 65509, 65515, 65520, 65523, 65526, 65528, 65530, 65531,
              65532, 65533, 65534, 65534, 65535, 65535, 65535)
TANH_TABLE_BITS = 16
TANH_STEP_BITS = 3
#: payload fraction bits: 1.0 = 2^q; q ≤ 16 (the tanh table's precision) and q ≤ s
PAYLOAD_BITS_RANGE = Range(1, TANH_TABLE_BITS)

KIND = Kind(
    name="HYBRID",
    summary="hybrid layer: spiking LIF, graded LIF and tanh units, graded payloads",
    states=(State("U", label="syn"), State("V", label="mem")),
    params=(
        Param("unit", "unit", "constant", Range(0, 2), source="unit", grid="unit",
              doc="unit type: 0 graded LIF (nsn), 1 spiking LIF, 2 tanh"),
        Param("softReset", "soft_reset", "constant", Range(0, 1), source="reset", grid="unit",
              doc="1: membrane × (1 − output) after each step; 0: no reset"),
        Param("alpha", "alpha", "constant", RETENTION, source="alpha", doc="synaptic retention α·2^D",
              collapse_at_one="to_integrator"),
        Param("beta", "beta", "constant", RETENTION, source="beta", doc="membrane retention β·2^D",
              collapse_at_one="to_integrator"),
        Param("vThMant", "vth", "threshold", THRESHOLD_RANGE, doc="threshold mantissa (θ = 1: 2^s / 64)"),
        Param("payloadFracBits", "payload_bits", "setting", PAYLOAD_BITS_RANGE,
              doc="payload fraction bits q (graded 1.0 = 2^q)"),
        Param("decayBits", "decay_bits", "decay_bits", DECAY_BITS_RANGE, doc="decay grid width D"),
        Param("stateFracBits", "state_frac_bits", "state_frac_bits", STATE_FRAC_BITS_RANGE,
              doc="state scale S = 2^s"),
    ),
    float_params=("alpha", "beta", "unit", "reset"),
    threshold=1.0,
    output="mixed",
    reset="zero",
    input_gain="1",
    # LIF unit: mul(alpha,U), mul(beta,V), mul(2^D-beta,U), mul(S-G,Vn); adds A, B, Vn; compare; payload shift
    cost=Cost(mults=4, adds=4, compares=1),
    membrane="V",
    layer_types=("dense", "dense_rec"),
    equations=__doc__,
)
