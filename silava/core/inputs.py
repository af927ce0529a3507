"""Inputs for a model.net network: the checks both simulators (hwsim, Lava) apply (numpy only)."""
from __future__ import annotations

import numpy as np

from silava.core.netfile import Network


#: largest |input| accepted: a spike message's payload is an int32 (Lava ``SpikeDataloader`` / ports)
INPUT_LIMIT = 2**31 - 1


class InputError(ValueError):
    """Inputs that do not fit the network (one-line message naming the problem and the fix)."""


def check_inputs(net: Network, x) -> np.ndarray:
    """Validate ``x [B, T, F]`` for ``net`` (T ≤ meta.steps, integer values); returns it as an array.

    Raises :class:`InputError` with one line naming the problem and the fix. Shorter inputs
    are zero-padded to ``meta.steps`` by ``silava.hwsim.simulate.simulate``.
    """
    arr = np.asarray(x)
    meta = net.meta
    if arr.ndim != 3:
        raise InputError(f"inputs must have shape [samples, steps, features], got {arr.ndim} dimensions "
                         f"{tuple(arr.shape)}")
    b, t, f = arr.shape
    if f != meta.n_inputs:
        raise InputError(f"inputs have {f} features but the network expects {meta.n_inputs}; "
                         "use the data the network was trained on")
    if t > meta.steps:
        raise InputError(f"inputs have {t} steps but the network runs {meta.steps}; crop them to {meta.steps}")
    if b == 0:
        raise InputError("inputs hold no samples; pass at least one")
    if t == 0:
        raise InputError("inputs have 0 steps; pass at least one step per sample")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputError("inputs must be integers (spikes or spike counts); round or bin them first")
    elif arr.dtype.kind not in "biu":
        raise InputError(f"inputs must be integers (spikes or spike counts), got dtype {arr.dtype}")
    if arr.dtype.kind != "b" and arr.size and (arr.max() > INPUT_LIMIT or arr.min() < -INPUT_LIMIT):
        raise InputError(f"inputs hold values up to {max(abs(arr.max()), abs(arr.min())):g}, beyond what a spike "
                         f"message carries (|x| <= {INPUT_LIMIT}); pass spikes or spike counts")
    return arr
