"""silava.core.fileio (atomic output) and silava.core.cliutil (shared CLI pieces)."""
from __future__ import annotations

import json
import os
import stat

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
