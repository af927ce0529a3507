"""notebooks/01_end_to_end.ipynb: a valid nbformat-4 notebook, stored with its outputs, that runs top to bottom.

The notebook is executed through ``nbclient`` with an IPython kernel (the project's own Python, so the
installed silava), exactly as Jupyter runs it; an error names the failing cell. The committed file
keeps the outputs of its last run (so it reads on GitHub without running it); the test executes a
copy, never the committed file, and checks that the run gave the same kind of outputs.
"""
from __future__ import annotations

import json
import os

import pytest

from conftest import ROOT, needs_lava

NOTEBOOK = ROOT / "notebooks" / "01_end_to_end.ipynb"
CELL_TYPES = {"markdown", "code", "raw"}


def load() -> dict:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def test_notebook_is_valid_nbformat_4_with_outputs():
    import nbformat

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    nbformat.validate(nb)                                     # the nbformat 4 JSON schema
    raw = load()
    assert raw["nbformat"] == 4 and raw["nbformat_minor"] >= 5
    assert raw["metadata"]["kernelspec"]["language"] == "python"
    ids = [c["id"] for c in raw["cells"]]
    assert len(set(ids)) == len(ids)
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    kinds = [c["cell_type"] for c in raw["cells"]]
    assert kinds[0] == "markdown" and len(code) >= 6 and kinds.count("markdown") >= 6
    assert all(c["execution_count"] is not None and c["outputs"] for c in code), \
        "store the notebook with its outputs (run it: python scripts/run_notebook.py)"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "outputs of one top-to-bottom run"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figures are stored too"


def test_notebook_code_compiles():
    for i, cell in enumerate(load()["cells"]):
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            assert not [ln for ln in source.splitlines() if ln.lstrip().startswith(("%", "!"))], i
            compile(source, f"<cell {i}>", "exec")


def execute(path, cwd, env: dict) -> "object":
    """Run the notebook at ``path`` with nbclient (fresh kernel); returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)          # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


@needs_lava
def test_notebook_executes(tmp_path, shm_guard):
    out = tmp_path / "out"
    nb = execute(NOTEBOOK, ROOT / "notebooks", {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
                                                 "SILAVA_NB_OUT": str(out)})
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not [o for o in c.outputs if o.output_type == "error"] for c in code)
    stored = [c for c in load()["cells"] if c["cell_type"] == "code"]
    for ran, kept in zip(code, stored):        # the same kinds of output as the committed run
        assert {o.output_type for o in ran.outputs} == {o["output_type"] for o in kept["outputs"]}
    for name in ("ckpt.pt", "model.net", "compare.json", "compare.png", "hardware/report.json"):
        assert (out / name).is_file(), name
    res = json.loads((out / "compare.json").read_text())
    assert res["comparison"]["agreement"]["hwsim_lava"] == 1.0


def test_a_failing_cell_is_reported(tmp_path):
    import nbformat
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("assert x == 2, 'boom'")]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(CellExecutionError, match="boom"):
        execute(path, tmp_path, {})
