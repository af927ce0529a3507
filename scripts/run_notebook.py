#!/usr/bin/env python3
"""Execute notebooks/01_end_to_end.ipynb top to bottom (nbclient, IPython kernel) and store it with its outputs.

    .venv/bin/python scripts/run_notebook.py [NOTEBOOK]

Outputs of the run go to a temporary folder ($SILAVA_NB_OUT), so the repository gets only the notebook.
The notebook's cell metadata (execution timings) is dropped so a re-run only changes the outputs.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else ROOT / "notebooks" / "01_end_to_end.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    with tempfile.TemporaryDirectory() as out:
        os.environ["SILAVA_NB_OUT"] = out
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    print(f"wrote {path} with its outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
