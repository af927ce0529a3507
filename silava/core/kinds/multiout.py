"""MULTIOUT: the multi-output neuron with a generalised, learnable reset (train neuron ``multiout``).

Karilanova, Dey & Özçelikkale (IEEE JSTSP 2025, arXiv 2508.06292) describe a neuron with a general
linear state, several binary outputs and a reset split into a spiking function, a reset condition
and a reset action. Their exact equations were not available; this is the neutral
parametrisation of the project's spec (neurons.md §8), with every choice written down here, in
``train/neurons/multiout.py`` and in docs/fixed_point.md §3.

Per neuron: N real state words X (a complex state of N/2 components is stored as (Re, Im)
pairs), M binary outputs P (the previous ones are kept), a reset flag R. Layer sizes are the
scalar keys ``nStates`` (N) and ``nOutputs`` (M); the matrices are per-neuron arrays
``(n, N, N)``, ``(n, N)``, ``(n, M, N)``, ``(n, N, M)``. The layer has n neurons (n weight rows)
and sends M·n outputs, neuron-major (output ``h·M + m``), so the next layer's ``inFeatures`` is
M × n.

Integer step (A = a << 6, B = bias << 6, VTH = vThMant << 6, D = decayBits; ``mul(k, x, D) =
sign(k·x)·(|k·x| >> D)``; every product truncated separately and summed exactly in ≥ 64 bits)::

    Z_j  = X_j − R·( resetVec_j + Σ_m resetMat_jm·P_m )                 reset action, one step late
    for k = 0 … N−1 (in order):
      X'_k = sat( Σ_j mul(transition_kj, Z_j, D) + Σ_j mul(stateRaw_kj, X_j, D)
                  + Σ_{j<k} mul(stateNew_kj, X'_j, D) + Σ_m spikeFeedback_km·P_m
                  + mul(inputVec_k, A + B, D) )
    Y_m  = sat( Σ_k mul(readout_mk, X'_k, D) ) ;  s_m = Y_m > VTH          M outputs
    R'   = s_0 ∨ … ∨ s_{M−1}                         (no resetRead: "any output fires")
    R'   = sat( Σ_k mul(resetRead_k, X'_k, D) ) > VTH (resetRead given: a dedicated readout)
    P ← s ;  R ← R'

``stateRaw`` (reads the state before the reset), ``stateNew`` (strictly lower triangular: row k
reads the rows updated before it in the same step), ``spikeFeedback`` (a constant added per
previous output) and ``resetMat`` are optional (absent = zero); a trained multi-output network
uses only ``transition``, ``inputVec``, ``readout``, ``resetVec`` / ``resetMat`` and
``resetRead``. The optional keys make SiLIF, C-SiLIF and RF exact special cases of this step,
bit for bit (``silava.export.special.as_multiout``, proven by tests). A reset condition "never"
is a zero reset action (``resetVec`` = 0, no ``resetMat``).

Float (folded): the same with ``z = x − r (ρ + R s')``, ``x = A z + G x_prev + L x + F s' + B(I' )``,
``y = C x``, ``s = y > 1``; the trained neuron's x is the post-reset state z of the next step.
The input gain b = max_k |B_k| is folded into the rows and the bias (``inputVec`` = B / b, so the
largest entry is ±2^D exactly, and an entry of 2^D adds A + B unchanged).

Fixed-point rules (docs/fixed_point.md §4): ``transition``, ``readout``, ``resetRead``,
``stateRaw``, ``stateNew`` on the 2^D grid, ``resetVec``, ``resetMat``, ``spikeFeedback`` in state
units (2^s), each a 24-bit signed word; a value that does not fit is an error (lower D or s), not
a clip, because the learned matrices may be unstable (|λ| > 1) and clipping would change them.
The width each matrix actually needs is reported from the data.
"""
from silava.core.kinds import (DECAY_BITS_RANGE, SIGNED_UNIT, STATE_FRAC_BITS_RANGE, STATE_RANGE, THRESHOLD_RANGE,
                               Cost, Kind, Param, Range, State)

#: largest N (real state words) and M (outputs) per neuron
MAX_STATES = 16
MAX_OUTPUTS = 16

#: product terms per update, by key (the step's multiplications; each summed: one add)
_PRODUCTS = ("transition", "stateRaw", "stateNew", "inputVec", "readout", "resetRead")
#: constant additions per update, by key (one add each where non-zero)
_ADDS = ("resetVec", "resetMat", "spikeFeedback")


def _nnz(value) -> int:
    """Non-zero entries of a numpy array / torch tensor / int (no numpy import here)."""
    if isinstance(value, (int, bool)):
        return int(value != 0)
    return int((value != 0).sum())


def cost_of(neuron: dict) -> Cost:
    """Integer operations of one update, the mean over the layer's neurons (rounded up).

    Multiplies: the non-zero entries of the transition, stateRaw, stateNew, inputVec, readout and
    resetRead arrays (a dense N-state transition: N² multiply-accumulates; a complex diagonal of
    N/2 components: 2N); adds: one per product, plus the non-zero reset and feedback constants and
    the N subtractions of the reset; compares: M outputs (+ 1 for a dedicated reset readout).
    """
    n = int(neuron["transition"].shape[0])
    mults = sum(_nnz(neuron[k]) for k in _PRODUCTS if k in neuron)
    adds = mults + sum(_nnz(neuron[k]) for k in _ADDS if k in neuron) + n * int(neuron["nStates"])
    compares = n * (int(neuron["nOutputs"]) + (1 if "resetRead" in neuron else 0))
    return Cost(mults=-(-mults // n), adds=-(-adds // n), compares=-(-compares // n))


KIND = Kind(
    # M outputs per neuron feed a Dense (in = M x n); no conv or recurrent form
    layer_types=("dense",),
    name="MULTIOUT",
    summary="multi-output neuron: N-word linear state, M spike readouts, learnable reset condition and action",
    states=(State("X", label="x", shape=("N",)), State("P", bits=1, label="previous outputs", shape=("M",)),
            State("R", bits=1, label="previous reset")),
    params=(
        Param("nStates", "n_states", "dim", Range(1, MAX_STATES), dim="N", doc="N: real state words per neuron"),
        Param("nOutputs", "n_outputs", "dim", Range(1, MAX_OUTPUTS), dim="M", doc="M: outputs per neuron"),
        Param("transition", "transition", "constant", STATE_RANGE, source="A", shape=("N", "N"), on_range="error",
              doc="transition A · 2^D (reads the reset state Z)"),
        Param("inputVec", "input_vec", "constant", SIGNED_UNIT, source="B", shape=("N",),
              doc="input vector B / max|B| · 2^D"),
        Param("readout", "readout", "constant", STATE_RANGE, source="C", shape=("M", "N"), on_range="error",
              doc="output readouts C · 2^D"),
        Param("resetVec", "reset_vec", "constant", STATE_RANGE, source="rho", grid="state", shape=("N",),
              on_range="error", doc="reset subtraction vector ρ · S (state units)"),
        Param("resetMat", "reset_mat", "constant", STATE_RANGE, source="R", grid="state", shape=("N", "M"),
              required=False, on_range="error", doc="reset action per output R · S (ρ = R·s)"),
        Param("resetRead", "reset_read", "constant", STATE_RANGE, source="c_r", shape=("N",), required=False,
              on_range="error", doc="dedicated reset readout c_r · 2^D (reset condition c_r·x > θ)"),
        Param("stateRaw", "state_raw", "constant", STATE_RANGE, source="G", shape=("N", "N"), required=False,
              on_range="error", doc="transition part reading the state before the reset, · 2^D"),
        Param("stateNew", "state_new", "constant", STATE_RANGE, source="L", shape=("N", "N"), required=False,
              on_range="error", strictly_lower=True,
              doc="strictly lower triangular part reading this step's new rows, · 2^D"),
        Param("spikeFeedback", "spike_feedback", "constant", STATE_RANGE, source="F", grid="state",
              shape=("N", "M"), required=False, on_range="error",
              doc="constant added per previous output, · S (state units)"),
        Param("vThMant", "vth", "threshold", THRESHOLD_RANGE, doc="threshold mantissa (θ = 1: 2^s / 64)"),
        Param("decayBits", "decay_bits", "decay_bits", DECAY_BITS_RANGE, doc="grid width D of the matrices"),
        Param("stateFracBits", "state_frac_bits", "state_frac_bits", STATE_FRAC_BITS_RANGE,
              doc="state scale S = 2^s"),
    ),
    float_params=("A", "B", "C", "rho", "R", "c_r", "G", "L", "F"),
    threshold=1.0,
    output="binary",
    reset="learned",
    input_gain="b",
    cost=Cost(mults=6, adds=9, compares=1),   # N = 2, M = 1, dense; a layer's own: cost_of
    membrane="X",
    output_dim="M",
    cost_of=cost_of,
    dt_rule="ssm",
    equations=__doc__,
)
