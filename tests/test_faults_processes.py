"""The process-level part of the fault corpus (issue 15, items 1-3, 6): signals, Lava teardown, time limits,
a real full disk, concurrent exports, special output files, reproducible exports.

* Ctrl-C (SIGINT to the whole process group, as a terminal sends it), SIGTERM and SIGKILL of
  ``silava run`` mid-run: one line (130 / 143), no process of the run left, no /dev/shm segment left;
* Ctrl-C / SIGTERM inside export and training (in-process): one line, nothing written;
* stale shared memory of a dead session is removed by the next session;
* ``--timeout 0.001`` stops the run (exit 1, one line), ``inf`` and ``1e300`` run normally;
* a real small tmpfs (when this machine lets us mount one): exporting over an existing model.net on
  a nearly full disk exits 2 with one line and leaves the old file intact (it crashed HDF5, rc -11);
* two exports to the same path at once: both succeed, the result is one complete file;
* symlinks are followed, devices and FIFOs are written through (streams) or refused (model.net);
* two exports of the same checkpoint are byte-identical with ``SOURCE_DATE_EPOCH`` or ``--no-timestamp``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import needs_lava
from faults import build_workspace

SILAVA = [sys.executable, "-m", "silava"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = build_workspace(tmp_path_factory.mktemp("procs") / "base")
    # a Lava run of about a minute (the tests stop it after about a second)
    x = (np.random.default_rng(5).random((2000, 30, 16)) < 0.2).astype(np.int8)
    np.savez(ws / "many.npz", x=x, y=np.arange(2000) % 4)
    return ws


def _group(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (zombies excluded)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _segments_of(pids) -> set[str]:
    """/dev/shm segments mapped by the processes ``pids``."""
    names = set()
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        names |= {ln.rsplit("/dev/shm/", 1)[1].split()[0] for ln in text.splitlines() if "/dev/shm/" in ln}
    return names


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _wait_for_children(pid: int, want: int, timeout: float = 120.0) -> int:
    """Wait until the process group of ``pid`` has ``want`` processes (the Lava actors are up)."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n = len(_group(pid))
        if n >= want:
            return n
        time.sleep(0.2)
    return n


def _interactive_signals() -> None:
    """In the child before exec: SIGINT as a terminal's foreground job has it. A suite started in the
    background (``make test &``, CI runners, nohup) hands its children SIGINT ignored, and Python then
    never installs its KeyboardInterrupt handler, so Ctrl-C could not be tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@needs_lava
@pytest.mark.parametrize("how", ["sigint_group", "sigterm", "sigkill"])
def test_signals_leave_no_processes_or_shared_memory(how, workspace, tmp_path):
    out_json = tmp_path / "r.json"
    proc = subprocess.Popen([*SILAVA, "run", str(workspace / "run" / "model.net"), "--inputs",
                             str(workspace / "many.npz"), "--json", str(out_json)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"}, preexec_fn=_interactive_signals)
    try:
        started = _wait_for_children(proc.pid, 8)
        assert started >= 8, f"the Lava processes did not start ({started})"
        time.sleep(1.0)
        ours = _segments_of(_group(proc.pid))      # the run's own shared memory (other sessions may run too)
        assert ours, "the Lava run maps no shared memory segment"
        if how == "sigint_group":
            os.killpg(proc.pid, signal.SIGINT)          # what Ctrl-C in a terminal does
        else:
            os.kill(proc.pid, signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 10
    while _group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group(proc.pid) == [], "processes of the Lava run were left behind"
    deadline = time.monotonic() + 10
    while ours & _shm() and time.monotonic() < deadline:     # the resource tracker may take a moment
        time.sleep(0.2)
    leaked = ours & _shm()
    assert not leaked, f"shared memory left behind: {sorted(leaked)}"
    assert not out_json.exists(), f"rc {proc.returncode}; stdout {out[-300:]!r}; stderr {err[-500:]!r}"
    if how == "sigkill":
        assert proc.returncode == -signal.SIGKILL
        return
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    if how == "sigint_group":
        assert proc.returncode == 130 and lines[0].startswith("silava run: interrupted"), err
    else:
        assert proc.returncode == 143 and lines[0].startswith("silava run: terminated by SIGTERM"), err


@needs_lava
def test_stale_segments_of_a_dead_session_are_removed(tmp_path, monkeypatch):
    from silava.lava_models import runner

    monkeypatch.setattr(runner, "REGISTRY_DIR", tmp_path / "registry")
    runner.REGISTRY_DIR.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    name = f"psm_silavatest{os.getpid()}"
    segment = Path("/dev/shm") / name
    segment.write_bytes(b"\0" * 64)
    (runner.REGISTRY_DIR / f"{dead.pid}.json").write_text(json.dumps({"pid": dead.pid, "start": "1",
                                                                       "segments": [name]}))
    alive = runner.REGISTRY_DIR / f"{os.getpid()}.json"        # a live session's entry stays
    alive.write_text(json.dumps({"pid": os.getpid(), "start": runner._start_time(os.getpid()), "segments": []}))
    try:
        assert runner.cleanup_stale_segments() == 1
        assert not segment.exists()
        assert sorted(p.name for p in runner.REGISTRY_DIR.iterdir()) == [alive.name]
    finally:
        segment.unlink(missing_ok=True)


def _run_cli(argv, capsys):
    from silava.app.cli import main

    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@needs_lava
@pytest.mark.parametrize("timeout,rc", [("0.001", 1), ("inf", 0), ("1e300", 0)])
def test_run_timeouts(timeout, rc, workspace, capsys, shm_guard):
    code, out, err = _run_cli(["run", str(workspace / "run" / "model.net"), "--inputs", str(workspace / "in.npz"),
                               "--samples", "2", "--timeout", timeout], capsys)
    assert code == rc, err
    assert "Traceback" not in err
    if rc:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and "did not finish within 0.001 s" in lines[0], err
    else:
        assert "accuracy:" in out


def _interrupting(exc_factory):
    def boom(*args, **kwargs):
        raise exc_factory()
    return boom


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_signal_during_export_writes_nothing(signal_name, workspace, tmp_path, capsys, monkeypatch):
    import silava.export.to_lava as to_lava

    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    before = (ws / "run" / "model.net").read_bytes()
    real = to_lava.quantize_model

    def quantize_then_signal(*args, **kwargs):
        result = real(*args, **kwargs)
        if signal_name == "SIGINT":
            raise KeyboardInterrupt
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler) and handler is not saved, "run_command did not install its SIGTERM handler"
        os.kill(os.getpid(), signal.SIGTERM)       # the handler run_command installed raises Terminated
        time.sleep(5)
        return result

    saved = signal.getsignal(signal.SIGTERM)

    monkeypatch.setattr(to_lava, "quantize_model", quantize_then_signal)
    rc, out, err = _run_cli(["export", str(ws / "run" / "ckpt.pt"), "-o", str(ws / "run" / "model.net")], capsys)
    assert rc == (130 if signal_name == "SIGINT" else 143), err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("silava export: interrupted" if signal_name == "SIGINT" else
                               "silava export: terminated by SIGTERM")
    assert (ws / "run" / "model.net").read_bytes() == before
    assert sorted(p.name for p in (ws / "run").iterdir()) == ["ckpt.pt", "model.net", "model.quant.json",
                                                              "model.quant.txt"]
    assert signal.getsignal(signal.SIGTERM) is saved      # the command put the previous handler back


def test_interrupted_first_training_epoch_leaves_nothing(tmp_path, capsys, monkeypatch):
    import silava.train.loop as loop

    monkeypatch.setattr(loop, "run_epoch", _interrupting(KeyboardInterrupt))
    out = tmp_path / "o"
    rc, _, err = _run_cli(["train", "--task", "randman", "--data-opt", "n_units=8", "--data-opt", "n_classes=2",
                           "--data-opt", "samples_per_class=10", "--data-opt", "n_steps=10", "--hidden", "4",
                           "--epochs", "1", "--threads", "1", "--quiet", "--out", str(out)], capsys)
    assert rc == 130 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "silava train: interrupted" in err and not out.exists()


# --------------------------------------------------------------------------- a real full disk

def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if not shutil.which("mount"):
        return False
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return res.returncode == 0


def test_export_over_existing_file_on_a_full_disk(workspace, tmp_path):
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "64k"):
        pytest.skip("cannot mount a tmpfs here (needs root); tests/test_faults.py injects the full disk instead")
    try:
        shutil.copy(workspace / "run" / "ckpt.pt", mnt / "ckpt.pt")
        shutil.copy(workspace / "run" / "model.net", mnt / "model.net")
        old = (mnt / "model.net").read_bytes()
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        (mnt / "fill").write_bytes(b"\0" * max(0, free - 6 * 1024))     # leave 6 KiB: HDF5 used to crash here
        proc = subprocess.run([*SILAVA, "export", str(mnt / "ckpt.pt"), "-q"], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "no space left on device" in lines[0], proc.stderr
        assert (mnt / "model.net").read_bytes() == old
        assert sorted(os.listdir(mnt)) == ["ckpt.pt", "fill", "model.net"]
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# --------------------------------------------------------------------------- concurrency

def test_two_exports_to_the_same_path_at_once(workspace, tmp_path):
    out = tmp_path / "shared" / "model.net"
    cmd = [*SILAVA, "export", str(workspace / "run" / "ckpt.pt"), "-q", "--no-timestamp", "-o", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    from silava.core import netfile

    net = netfile.read(out)                         # one complete file, not a mix
    assert len(net.layers) == 3
    single = tmp_path / "single.net"
    subprocess.run([*SILAVA, "export", str(workspace / "run" / "ckpt.pt"), "-q", "--no-timestamp", "-o",
                    str(single)], check=True, capture_output=True)
    assert out.read_bytes() == single.read_bytes()
    assert sorted(os.listdir(out.parent)) == ["model.net", "model.quant.json", "model.quant.txt"]


def test_two_writers_in_threads_leave_one_complete_file(tmp_path):
    from silava.core.fileio import atomic_group

    target = tmp_path / "out.bin"
    errors = []

    def writer(byte: bytes) -> None:
        try:
            for _ in range(20):
                with atomic_group() as group:
                    group.path(target).write_bytes(byte * 100_000)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(b,)) for b in (b"a", b"b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    data = target.read_bytes()
    assert len(data) == 100_000 and data in (b"a" * 100_000, b"b" * 100_000)
    assert os.listdir(tmp_path) == ["out.bin"]


# --------------------------------------------------------------------------- special files (item 2)

def test_symlink_output_is_followed(workspace, tmp_path, capsys):
    real = tmp_path / "real" / "model.net"
    real.parent.mkdir()
    link = tmp_path / "link.net"
    os.symlink(real, link)
    rc, _, err = _run_cli(["export", str(workspace / "run" / "ckpt.pt"), "-q", "-o", str(link)], capsys)
    assert rc == 0, err
    assert link.is_symlink() and real.is_file()
    from silava.core import netfile

    assert len(netfile.read(link).layers) == 3


def test_json_to_a_device_or_fifo_is_written_through(workspace, tmp_path, capsys):
    rc, _, err = _run_cli(["sim", str(workspace / "run" / "model.net"), "--inputs", str(workspace / "in.npz"),
                           "--json", os.devnull], capsys)
    assert rc == 0, err
    assert Path(os.devnull).exists() and not Path(os.devnull).is_file()      # still the device
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    got = {}

    def reader():
        with open(fifo, encoding="utf-8") as fh:
            got["text"] = fh.read()

    t = threading.Thread(target=reader)
    t.start()
    rc, _, err = _run_cli(["sim", str(workspace / "run" / "model.net"), "--inputs", str(workspace / "in.npz"),
                           "--json", str(fifo)], capsys)
    t.join(60)
    assert rc == 0, err
    assert json.loads(got["text"])["samples"] == 5
    assert fifo.exists() and not fifo.is_file()


# --------------------------------------------------------------------------- determinism (item 6)

def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_exports_are_byte_identical(workspace, tmp_path, capsys, monkeypatch):
    ckpt = str(workspace / "run" / "ckpt.pt")
    outs = []
    for i in range(2):
        assert _run_cli(["export", ckpt, "-q", "--no-timestamp", "-o", str(tmp_path / f"a{i}" / "model.net")],
                        capsys)[0] == 0
        outs.append(tmp_path / f"a{i}" / "model.net")
        time.sleep(1.1)                     # a timestamp would now differ
    assert _sha(outs[0]) == _sha(outs[1])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    for i in range(2):
        assert _run_cli(["export", ckpt, "-q", "-o", str(tmp_path / f"b{i}" / "model.net")], capsys)[0] == 0
        time.sleep(1.1)
    assert _sha(tmp_path / "b0" / "model.net") == _sha(tmp_path / "b1" / "model.net")
    from silava.core import netfile

    assert netfile.read(tmp_path / "b0" / "model.net").meta.created == "2023-11-14T22:13:20+00:00"
    assert netfile.read(outs[0]).meta.created == ""
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert _run_cli(["export", ckpt, "-q", "-o", str(tmp_path / "c" / "model.net")], capsys)[0] == 0
    assert netfile.read(tmp_path / "c" / "model.net").meta.created.endswith("+00:00")   # the default: now, UTC
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    rc, _, err = _run_cli(["export", ckpt, "-q", "-o", str(tmp_path / "d" / "model.net")], capsys)
    assert rc == 2 and "SOURCE_DATE_EPOCH='yesterday'" in err and not (tmp_path / "d").exists()
