"""SIGMA_DELTA: lava-dl's sigma-delta ReLU unit (netx: ``SDNN`` -> Lava ``SigmaDelta``, ReLU).

Read from lava-dl files only (``slayer.block.sigma_delta.Dense`` / ``Conv``); not trained by
silava. The integer step is Lava 0.10.0's ``PySigmaDeltaModelFixed`` with netx's
``spike_exp = state_exp = 6`` (spec lava_loihi.md §1.9, §2.6); every value is int32 as in Lava
(``wrap32``)::

    SIGMA   = wrap32(SIGMA + a)                 a: the Dense/Conv output (graded payloads in)
    act     = max(wrap32(SIGMA + B), 0)         B = bias << 12 (netx passes the file bias)
    delta   = wrap32(act − ACT + RESIDUE)
    s       = delta if |delta| ≥ VTH else 0     VTH = vThMant << 12
    RESIDUE = wrap32(delta − s) ;  ACT = act
    out     = s >> 6                            (floor; the truncation is not fed back: v0.10.0)

netx always builds the ReLU activation (``act_mode`` default), whatever slayer's ``activation``
name says, so a file naming another activation is refused.
"""
from silava.core.kinds import Cost, Kind, Param, Range, State
from silava.core.kinds.delta import SDNN_THRESHOLD

KIND = Kind(
    name="SIGMA_DELTA",
    summary="lava-dl sigma-delta ReLU: integrates its input, sends the change of relu(sigma + bias)",
    states=(State("SIGMA", label="sigma"), State("ACT", label="act"), State("RESIDUE", label="residue")),
    params=(
        Param("vThMant", "vth", "integer", SDNN_THRESHOLD, per_layer=True,
              doc="delta threshold mantissa (VTH = vThMant << 12)"),
        Param("activation", "activation", "fixed", Range(0, 0), value="relu", required=False,
              doc="netx runs every sigma-delta layer as ReLU"),
    ),
    float_params=(),
    output="graded",
    reset="none",
    input_gain="1",
    # SIGMA += a; act = relu(SIGMA + B); delta = act - ACT + RESIDUE; |delta| >= VTH; RESIDUE = delta - s
    cost=Cost(mults=0, adds=5, compares=2),
    membrane="SIGMA",
    file_type="SDNN",
    layer_types=("dense", "dense_rec", "conv"),
    trainable=False,
    equations=__doc__,
)
