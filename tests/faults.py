"""The fault corpus of issue 15 (items 1-5): bad inputs, clashing outputs, full disks, for every command.

A :class:`Case` names a command (``silava <cmd>``), how to break its inputs (``setup(ws)`` writes
the bad file into the case's own copy of the workspace and returns the argv), the exit code and a
phrase the one error line must contain. :func:`run_case` runs it in-process (``silava.app.cli.main``)
and :func:`problems` lists every way the outcome breaks the contract:

* the exit code is the documented one (2 for bad input and unwritable outputs);
* stderr is exactly one line, ``silava <cmd>: ...``, naming the problem (the phrase), no traceback;
* every file of the workspace is byte-for-byte as before (inputs untouched, nothing destroyed);
* no file or folder appeared (no partial output, no temp file).

The workspace (:func:`build_workspace`): a tiny trained-shape C-SiLIF checkpoint (16 -> 12 -> 10 -> 4,
randman facts), its model.net, inputs ``in.npz`` (5 samples x 30 steps x 16 inputs), a good SHD-format
data folder and the built-in constants. Used by tests/test_faults.py.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

DATA = {"name": "randman", "n_units": 16, "n_classes": 4, "n_steps": 30, "dt": 2e-3}


def build_workspace(root: Path) -> Path:
    """The files every case starts from (a copy per case)."""
    import torch

    from silava.core.data.shd import write_spike_h5
    from silava.export.to_lava import main as export_main
    from silava.train.checkpoint import save_checkpoint
    from silava.train.model import SpArchNet

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = SpArchNet(16, [12, 10], 4, "csilif")
    (root / "run").mkdir()
    save_checkpoint(root / "run" / "ckpt.pt", model, data_config=dict(DATA),
                    train_config={"task": "randman", "lr": 0.01,
                                  "task_facts": {"n_inputs": 16, "n_classes": 4, "n_steps": 30, "dt": 2e-3,
                                                 "encoding": "binary"}},
                    metrics={"test_acc": 0.8, "best_valid_acc": 0.8, "history": []}, seed=1)
    buf = io.StringIO()
    old = sys.stdout
    sys.stdout = buf
    try:
        assert export_main([str(root / "run" / "ckpt.pt"), "-q", "--no-timestamp"]) == 0
    finally:
        sys.stdout = old
    rng = np.random.default_rng(0)
    x = (rng.random((5, 30, 16)) < 0.2).astype(np.int64)
    np.savez(root / "in.npz", x=x, y=np.arange(5) % 4)
    rng = np.random.default_rng(1)
    times = [np.sort(rng.random(30)).astype(np.float32) for _ in range(12)]
    units = [rng.integers(0, 700, 30) for _ in range(12)]
    (root / "shd").mkdir()
    for split in ("train", "test"):
        write_spike_h5(root / "shd" / f"shd_{split}.h5", times, units, [i % 20 for i in range(12)])
    from silava.hwsim.constants import HERE

    shutil.copy(HERE / "davies2018.json", root / "constants.json")
    return root


# --------------------------------------------------------------------------- running a case

@dataclass
class Case:
    """One fault: ``setup(ws) -> argv`` (after the command name), the error phrase, the exit code."""

    id: str
    cmd: str
    setup: Callable[[Path], list[str]]
    phrase: str
    rc: int = 2
    inject: Optional[str] = None          # "enospc" | "erofs" (+ ":N": the first N files succeed)
    needs_lava: bool = False


@dataclass
class Outcome:
    rc: int
    out: str
    err: str
    before: dict[str, str]
    after: dict[str, str]
    error: Optional[BaseException] = None
    extra: dict = field(default_factory=dict)


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` -> sha256 of its bytes (``"dir"`` for a folder)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            out[rel] = "special"
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class _FailingFile:
    """A file object whose writes fail like a full disk (or a read-only file system)."""

    def __init__(self, fh, code: int) -> None:
        self._fh, self._code = fh, code

    def write(self, data):
        raise OSError(self._code, os.strerror(self._code))

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()
        return False

    def __iter__(self):
        return iter(self._fh)


def failing_writes(monkeypatch, root: Path, code: int = errno.ENOSPC, skip: int = 0) -> None:
    """From now on every file opened for writing under ``root`` fails at its first write with ``code``
    (after ``skip`` files that are written normally)."""
    import builtins

    real_open = builtins.open
    root = str(root.resolve())
    left = [int(skip)]

    def fake_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") \
                and os.path.realpath(os.fspath(file)).startswith(root):
            if left[0] > 0:
                left[0] -= 1
                return fh
            return _FailingFile(fh, code)
        return fh

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)


def run_case(case: Case, base: Path, tmp: Path, capsys, monkeypatch) -> Outcome:
    """Copy the workspace, break it, run the command in-process; returns what happened."""
    from silava.app.cli import main

    ws = tmp / "ws"
    shutil.copytree(base, ws, symlinks=True)
    monkeypatch.chdir(ws)
    monkeypatch.setenv("SILAVA_CACHE", str(tmp / "cache"))   # task caches outside the workspace
    argv = case.setup(ws)
    before = snapshot(ws)
    capsys.readouterr()
    if case.inject:
        kind, _, skip = case.inject.partition(":")
        failing_writes(monkeypatch, ws, {"enospc": errno.ENOSPC, "erofs": errno.EROFS}[kind], int(skip or 0))
    error = None
    try:
        rc = main([case.cmd, *argv])
    except BaseException as exc:  # noqa: BLE001 - reported as a problem
        rc, error = -1, exc
    monkeypatch.undo()
    out, err = capsys.readouterr()
    return Outcome(rc=rc, out=out, err=err, before=before, after=snapshot(ws), error=error)


def problems(case: Case, res: Outcome) -> list[str]:
    """Every way the outcome breaks the contract (empty: the case passes)."""
    found = []
    if res.error is not None:
        found.append(f"raised {type(res.error).__name__}: {res.error}")
    if res.rc != case.rc:
        found.append(f"exit code {res.rc}, expected {case.rc}")
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    if len(lines) != 1:
        found.append(f"{len(lines)} lines on stderr: {res.err[-500:]!r}")
    if "Traceback" in res.err:
        found.append("a traceback on stderr")
    if lines and not lines[0].startswith(f"silava {case.cmd}: "):
        found.append(f"the line does not start with 'silava {case.cmd}: ': {lines[0]!r}")
    if lines and case.phrase.lower() not in lines[-1].lower():
        found.append(f"{case.phrase!r} not in {lines[-1]!r}")
    changed = [p for p in res.before if p in res.after and res.after[p] != res.before[p]]
    gone = [p for p in res.before if p not in res.after]
    new = [p for p in res.after if p not in res.before]
    if changed:
        found.append(f"inputs changed: {changed}")
    if gone:
        found.append(f"files destroyed: {gone}")
    if new:
        found.append(f"left behind: {new}")
    return found


# --------------------------------------------------------------------------- helpers for setups

def put(ws: Path, name: str, data: bytes | str) -> Path:
    path = ws / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def npz(ws: Path, name: str, **arrays) -> str:
    np.savez(ws / name, **arrays)
    return str(ws / name)


def shd_files(ws: Path, folder: str, *, times=None, units=None, labels=None, raw: bool = False,
              drop: Optional[str] = None) -> str:
    """An SHD data folder (shd_train.h5 bad as given, shd_test.h5 good); ``raw`` writes with h5py directly
    (values ``write_spike_h5`` refuses), ``drop`` leaves a dataset out."""
    import h5py

    from silava.core.data.shd import write_spike_h5

    d = ws / folder
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    good_t = [np.sort(rng.random(20)).astype(np.float32) for _ in range(6)]
    good_u = [rng.integers(0, 700, 20) for _ in range(6)]
    write_spike_h5(d / "shd_test.h5", good_t, good_u, list(range(6)))
    times = good_t if times is None else times
    units = good_u if units is None else units
    labels = list(range(6)) if labels is None else labels
    with h5py.File(d / "shd_train.h5", "w") as f:
        if drop != "times":
            ds = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
            for i, t in enumerate(times):
                ds[i] = np.asarray(t, np.float32)
        if drop != "units":
            ds = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.int32))
            for i, u in enumerate(units):
                ds[i] = np.asarray(u, np.int32)
        if drop != "labels":
            f.create_dataset("labels", data=np.asarray(labels))
    return str(d)


def yaml_bomb(levels: int = 7, width: int = 9) -> str:
    """A "billion laughs" YAML: ``width ** levels`` values once the aliases are expanded."""
    items = ", ".join(["x"] * width)
    parts = [f"&a0 [{items}]"]
    for i in range(1, levels):
        parts.append(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "task: randman\nnotes: [" + ", ".join(parts) + "]\n"


def constants_with(ws: Path, edit: Callable[[dict], object]) -> str:
    doc = json.loads((ws / "constants.json").read_text())
    result = edit(doc)
    text = json.dumps(doc if result is None else result)
    return str(put(ws, "bad_constants.json", text))
