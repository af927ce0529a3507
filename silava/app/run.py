"""``silava run``: the Lava stage's runner (``lava_models/run.py``) plus ``--compare-hwsim``.

The comparison with hwsim spans two stages, so it lives here in the application: the Lava
runner calls :func:`compare_with_hwsim` after its run when ``--compare-hwsim`` is given.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

import numpy as np


def compare_with_hwsim(net, x: np.ndarray, y: np.ndarray, tag: str, res: dict) -> dict:
    """Run hwsim on the same inputs; print prediction agreement and, for fixed_pt, readout identity and hwsim's
    overflow counters next to Lava's (both count the in-window steps of the logical timeline)."""
    from silava.hwsim.simulate import simulate
    from silava.lava_models.run import format_counters

    ref = simulate(net, x)
    agree = float(np.mean(ref.predictions == res["predictions"]))
    out = {"hwsim_agreement": agree, "hwsim_accuracy": float(np.mean(ref.predictions == y))}
    line = f"agreement with hwsim predictions: {agree:.4f}"
    if tag == "fixed_pt":
        same = bool(np.array_equal(ref.readout, res["readout"]))
        line += f"   readout bit-identical: {'yes' if same else 'NO'}"
        out["hwsim_readout_identical"] = same
        hw = hwsim_counters(ref.counters)
        lava = (res.get("counters") or {}).get("total", {})
        out["hwsim_counters"] = hw
        out["counters_identical"] = {k: v for k, v in hw["total"].items() if k in LAVA_COUNTERS} == lava
        print(line)
        print(f"hwsim counters: {format_counters(hw['total'])}   same as Lava's: "
              f"{'yes' if out['counters_identical'] else 'NO'}")
        return out
    print(line)
    return out


#: the counters both simulators report (hwsim's lava_weight_clip is a note about loading weights into Lava)
LAVA_COUNTERS = ("saturate", "wrap", "int32_overflow", "input_clip")


def hwsim_counters(counters: dict) -> dict:
    """hwsim's ``{"layer/i" | "total": Counters}`` as plain dicts of the non-zero counts."""
    return {key: {k: int(v) for k, v in sorted(c.items()) if v} for key, c in counters.items()}


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """``silava run``; returns the exit code."""
    from silava.lava_models.run import run_cli

    return run_cli(argv, check=compare_with_hwsim, prog=prog)


if __name__ == "__main__":
    sys.exit(main())
