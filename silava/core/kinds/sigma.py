"""SIGMA: lava-dl's sigma-delta output unit (netx: ``SDNN`` with ``sigma_output`` -> Lava ``Sigma``).

Read from lava-dl files only (``slayer.block.sigma_delta.Output``); not trained by silava. A pure
accumulator (Lava 0.10.0 ``PySigmaModelFixed``, int32)::

    SIGMA = wrap32(SIGMA + a) ;  out = SIGMA    (sent every step, a graded value)

Its state is in slayer's units of 2^12 per activation 1.0 (64-scaled weights times 64-scaled
payloads); a readout decision divides by 2^12.
"""
from silava.core.kinds import Cost, Kind, Param, Range, State

KIND = Kind(
    name="SIGMA",
    summary="lava-dl sigma-delta output (Sigma): accumulates its input, sends the sum every step",
    states=(State("SIGMA", label="sigma"),),
    params=(
        Param("sigma_output", "sigma_output", "fixed", Range(1, 1), value=True,
              doc="netx builds a Sigma (an accumulator) for this layer"),
        Param("activation", "activation", "fixed", Range(0, 0), value="", required=False,
              doc="slayer's activation name (a Sigma applies none)"),
        Param("vThMant", "vth", "integer", Range(0, 2**17 - 1), per_layer=True, required=False,
              doc="slayer writes its threshold; a Sigma does not use it"),
    ),
    float_params=(),
    output="graded",
    reset="none",
    input_gain="1",
    cost=Cost(mults=0, adds=1, compares=0),
    membrane="SIGMA",
    file_type="SDNN",
    layer_types=("dense", "dense_rec", "conv"),
    trainable=False,
    equations=__doc__,
)
