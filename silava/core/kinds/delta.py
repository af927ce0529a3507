"""DELTA: lava-dl's sigma-delta input unit (netx: ``SDNN`` in an ``input`` layer -> Lava ``Delta``).

Read from lava-dl files only (``slayer.block.sigma_delta.Input``); not trained by silava. The
integer step is Lava 0.10.0's ``PyDeltaModelFixed`` with netx's ``spike_exp = state_exp = 6``
(spec lava_loihi.md §1.9, §2.6), all values int32 as in Lava (``wrap32``: two's-complement)::

    A     = wrap32(x << 12)                     x: the source payload (an input layer has no synapse)
    delta = wrap32(A − ACT + RESIDUE)
    s     = delta if |delta| ≥ VTH else 0       VTH = vThMant << 12
    RESIDUE = wrap32(delta − s) ;  ACT = A
    out   = s >> 6                              (arithmetic shift: floor; the truncation is not
                                                 fed back, v0.10.0's drift, PR #875 fixes it later)

The output is a graded payload (netx: 16 message bits). No reset (netx ignores ``reset_interval``
for sigma-delta layers); silava's Lava builder resets the state Vars per sample with Lava's
``Reset`` process, and hwsim starts each sample from zero.
"""
from silava.core.kinds import Cost, Kind, Param, Range, State

#: sigma-delta threshold mantissa: VTH = vThMant << 12 must stay an int32
SDNN_THRESHOLD = Range(0, 2**17 - 1)

KIND = Kind(
    name="DELTA",
    summary="lava-dl sigma-delta input (Delta): sends the change of its input when it exceeds vth",
    states=(State("ACT", label="act"), State("RESIDUE", label="residue")),
    params=(
        Param("vThMant", "vth", "integer", SDNN_THRESHOLD, per_layer=True,
              doc="delta threshold mantissa (VTH = vThMant << 12)"),
        Param("activation", "activation", "fixed", Range(0, 0), value="", required=False,
              doc="slayer's activation name (a Delta applies none; netx ignores it)"),
    ),
    float_params=(),
    output="graded",
    reset="none",
    input_gain="1",
    # delta = A - ACT + RESIDUE (2 adds); |delta| >= VTH (1 compare); RESIDUE = delta - s (1 add)
    cost=Cost(mults=0, adds=3, compares=1),
    membrane="ACT",
    file_type="SDNN",
    layer_types=("input",),
    trainable=False,
    equations=__doc__,
)
