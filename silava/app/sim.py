"""``silava sim``: hwsim's CLI (``hwsim/simulate.py``) reading lava-dl netx files too.

Reading a foreign file is the export stage's job (:mod:`silava.export.netx_import`), which hwsim
may not import; the application passes hwsim a loader that detects a lava-dl netx file (an HDF5
file with a ``layer`` group and no silava ``format`` attribute) and converts it in memory.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """``silava sim``; returns the exit code."""
    from silava.export.netx_import import load_any
    from silava.hwsim.simulate import run_cli

    return run_cli(argv, prog, loader=load_any)


if __name__ == "__main__":
    sys.exit(main())
