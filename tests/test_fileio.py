"""silava.core.fileio (atomic output) and silava.core.cliutil (shared CLI pieces)."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from silava.core.cliutil import load_npz_inputs, parse_layer_bits
from silava.core.fileio import atomic_path, check_writable_file, sha256_file, write_json_atomic, write_text_atomic


class Oops(Exception):
    pass


def test_atomic_path_error_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(Oops):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise Oops
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_mode_follows_umask(tmp_path):
    path = write_text_atomic(tmp_path / "sub" / "x.txt", "hi")
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_text() == "hi"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_write_json_and_sha(tmp_path):
    path = write_json_atomic(tmp_path / "a.json", {"x": [1, 2]})
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    import hashlib

    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_check_writable_file(tmp_path):
    with pytest.raises(Oops, match="is a directory"):
        check_writable_file(tmp_path, "--json", Oops)
    with pytest.raises(Oops, match="does not exist"):
        check_writable_file(tmp_path / "missing" / "x.json", "--json", Oops)
    assert check_writable_file(tmp_path / "missing" / "x.json", "--json", Oops, create_parents=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(Oops, match="not a directory"):
        check_writable_file(tmp_path / "file" / "x.json", "--out", Oops, create_parents=True)


def test_parse_layer_bits():
    assert parse_layer_bits(["1=16", "0=14"], "--layer-decay-bits") == {1: 16, 0: 14}
    assert parse_layer_bits(None, "--x") == {}
    with pytest.raises(Oops, match="expected LAYER=BITS"):
        parse_layer_bits(["1:16"], "--layer-decay-bits", Oops)


def test_load_npz_inputs(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((3, 4, 2), np.int8), y=np.array([0, 1, 2]))
    x, y = load_npz_inputs(good, 2, Oops)
    assert x.shape == (2, 4, 2) and y.dtype == np.int64
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((3, 4, 2)))
    with pytest.raises(Oops, match="needs arrays 'x'"):
        load_npz_inputs(bad, None, Oops)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(Oops, match="not a readable .npz"):
        load_npz_inputs(tmp_path / "junk.npz", None, Oops)
    with pytest.raises(Oops, match="no such file"):
        load_npz_inputs(tmp_path / "nope.npz", None, Oops)


# --------------------------------------------------------------------------- special files, inputs, groups
from silava.core.fileio import OutputPathError, atomic_group, check_outputs  # noqa: E402


def test_symlink_output_writes_the_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_json_atomic(link, {"a": 1})
    assert link.is_symlink() and json.loads(target.read_text()) == {"a": 1}
    assert check_writable_file(link, "--json") == target


def test_device_output_is_written_through_never_replaced(tmp_path):
    devnull = Path(os.devnull)
    before = os.stat(devnull)
    write_text_atomic(devnull, "discarded")
    assert check_writable_file(devnull, "--json") == devnull
    after = os.stat(devnull)
    assert (after.st_ino, after.st_rdev, after.st_mode) == (before.st_ino, before.st_rdev, before.st_mode)
    with pytest.raises(ValueError, match="not a regular file"):
        check_writable_file(devnull, "-o", seekable=True)
    with pytest.raises(OutputPathError, match="not a regular file"):
        with atomic_path(devnull):
            pass


def test_fifo_output_is_written_through(tmp_path):
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    write_json_atomic(fifo, {"x": 2})
    reader.join(10)
    assert json.loads(got[0]) == {"x": 2} and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_check_outputs_refuses_inputs_and_duplicates(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"x")
    alias = tmp_path / "alias.pt"
    alias.symlink_to(ckpt)
    with pytest.raises(ValueError, match=r"-o .*alias.pt: is the checkpoint .*choose another output path"):
        check_outputs({"-o": alias}, {"checkpoint": ckpt})
    hard = tmp_path / "hard.pt"
    os.link(ckpt, hard)
    with pytest.raises(ValueError, match="is the checkpoint"):
        check_outputs({"--json": hard}, {"checkpoint": ckpt})
    with pytest.raises(ValueError, match="are the same file"):
        check_outputs({"-o": tmp_path / "a.net", "--report": tmp_path / "sub" / ".." / "a.net"}, {})
    check_outputs({"-o": tmp_path / "new.net", "--json": None}, {"checkpoint": ckpt})   # fine


def test_group_commits_all_or_nothing(tmp_path, monkeypatch):
    a, b = tmp_path / "model.net", tmp_path / "model.quant.json"
    a.write_text("old a")
    b.write_text("old b")
    with atomic_group() as group:
        group.path(a).write_text("new a")
        group.path(b).write_text("new b")
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    # the second rename fails: the first destination is restored, nothing is left behind
    real_replace = os.replace
    calls = []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 2 and str(dst) == str(b):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError, match="No space"):
        with atomic_group() as group:
            group.path(a).write_text("newer a")
            group.path(b).write_text("newer b")
    monkeypatch.undo()
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.net", "model.quant.json"]


def test_group_error_inside_touches_nothing(tmp_path):
    a = tmp_path / "x.txt"
    a.write_text("keep")
    with pytest.raises(RuntimeError):
        with atomic_group() as group:
            group.path(a).write_text("half")
            raise RuntimeError("boom")
    assert a.read_text() == "keep" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_group_new_files_are_removed_when_a_later_rename_fails(tmp_path, monkeypatch):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    real_replace = os.replace

    def flaky(src, dst):
        if str(dst) == str(b):
            raise OSError(5, "I/O error")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(OSError):
        with atomic_group() as group:
            group.path(a).write_text("1")
            group.path(b).write_text("2")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
