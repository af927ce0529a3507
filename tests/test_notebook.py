"""notebooks/01_end_to_end.ipynb: a valid nbformat-4 notebook whose code cells run top to bottom.

Jupyter is not a dependency: a small executor (below) reads the notebook's JSON and executes
its code cells in order in one namespace, in a fresh Python process with matplotlib's Agg
backend, and reports the failing cell's index and traceback.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, needs_lava

NOTEBOOK = ROOT / "notebooks" / "01_end_to_end.ipynb"
CELL_TYPES = {"markdown", "code", "raw"}

#: The executor, run with ``python -c EXECUTOR path.ipynb``.
EXECUTOR = r'''
import json, sys, time, traceback
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

path = sys.argv[1]
with open(path, encoding="utf-8") as fh:
    nb = json.load(fh)
namespace = {"__name__": "__main__"}
for index, cell in enumerate(nb["cells"]):
    if cell["cell_type"] != "code":
        continue
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    magic = [ln for ln in source.splitlines() if ln.lstrip().startswith(("%", "!"))]
    if magic:
        print(f"cell {index}: IPython magic or shell line not supported: {magic[0]!r}", file=sys.stderr)
        sys.exit(1)
    start = time.perf_counter()
    try:
        exec(compile(source, f"<cell {index}>", "exec"), namespace)
    except BaseException:
        print(f"cell {index} failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    finally:
        plt.close("all")
    print(f"[cell {index} ok, {time.perf_counter() - start:.1f} s]", flush=True)
print("notebook ok")
'''


def load() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def test_notebook_is_valid_nbformat_4():
    nb = load()
    assert set(nb) == {"nbformat", "nbformat_minor", "metadata", "cells"}
    assert nb["nbformat"] == 4 and isinstance(nb["nbformat_minor"], int) and nb["nbformat_minor"] >= 5
    assert nb["metadata"]["kernelspec"]["language"] == "python"
    assert nb["metadata"]["language_info"]["name"] == "python"
    ids = set()
    for i, cell in enumerate(nb["cells"]):
        assert cell["cell_type"] in CELL_TYPES, i
        assert isinstance(cell["metadata"], dict), i
        src = cell["source"]
        assert isinstance(src, str) or (isinstance(src, list) and all(isinstance(s, str) for s in src)), i
        assert isinstance(cell["id"], str) and 1 <= len(cell["id"]) <= 64 and cell["id"] not in ids, i
        ids.add(cell["id"])
        if cell["cell_type"] == "code":
            assert set(cell) == {"cell_type", "id", "metadata", "source", "execution_count", "outputs"}, i
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"cell {i}: clear outputs before committing"
        else:
            assert set(cell) <= {"cell_type", "id", "metadata", "source", "attachments"}, i
    kinds = [c["cell_type"] for c in nb["cells"]]
    assert kinds[0] == "markdown" and kinds.count("code") >= 6 and kinds.count("markdown") >= 6


def test_notebook_code_compiles():
    for i, cell in enumerate(load()["cells"]):
        if cell["cell_type"] == "code":
            compile("".join(cell["source"]), f"<cell {i}>", "exec")


@needs_lava
def test_notebook_executes(tmp_path, shm_guard):
    env = {**os.environ, "MPLBACKEND": "Agg", "SILAVA_NB_OUT": str(tmp_path / "out")}
    proc = subprocess.run([sys.executable, "-c", EXECUTOR, str(NOTEBOOK)], cwd=ROOT / "notebooks", env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert "notebook ok" in proc.stdout
    out = tmp_path / "out"
    for name in ("ckpt.pt", "model.net", "compare.json", "compare.png", "hardware/report.json"):
        assert (out / name).is_file(), name
    res = json.loads((out / "compare.json").read_text())
    assert res["comparison"]["agreement"]["hwsim_lava"] == 1.0


def test_executor_reports_the_failing_cell(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# t"]},
        {"cell_type": "code", "id": "b", "metadata": {}, "source": ["x = 1\n"], "outputs": [], "execution_count": None},
        {"cell_type": "code", "id": "c", "metadata": {}, "source": ["assert x == 2, 'boom'\n"], "outputs": [],
         "execution_count": None}]}
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(nb))
    proc = subprocess.run([sys.executable, "-c", EXECUTOR, str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 1
    assert "cell 2 failed" in proc.stderr and "boom" in proc.stderr and "<cell 2>" in proc.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
