"""Atomic file output shared by every command (standard library only).

Every file silava writes goes through :func:`atomic_path`: the data goes into a temp file in
the destination directory (same file system), which replaces the destination with
``os.replace`` only once it is complete. An error (or Ctrl-C) removes the temp file, so a
destination is either untouched or complete — never half written. The new file gets the
permissions ``open()`` would give it (``0o666`` minus the umask; ``mkstemp`` alone gives 0600).
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike, *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on a clean exit it replaces ``path``, on an error it is removed.

    For writers that want a file name (``h5py.File(tmp, "w")``)::

        with atomic_path("model.net") as tmp:
            with h5py.File(tmp, "w") as f: ...
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if make_parents:
        parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, binary: bool = True) -> Path:
    """Write ``path`` through ``write(file_object)`` atomically; flushed and fsync'ed before the rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        text_args = {} if binary else {"encoding": "utf-8", "newline": ""}
        with open(tmp, "wb" if binary else "w", **text_args) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """``path.write_bytes(data)``, atomically."""
    return atomic_write(path, lambda fh: fh.write(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """``path.write_text(text)`` (UTF-8), atomically."""
    return atomic_write(path, lambda fh: fh.write(text), binary=False)


def write_json_atomic(path: str | os.PathLike, payload: Any, *, indent: int = 1) -> Path:
    """``payload`` as indented JSON, atomically (callers pass plain, JSON-able data)."""
    def write(fh) -> None:
        json.dump(payload, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")

    return atomic_write(path, write, binary=False)


def check_writable_file(path: str | os.PathLike, flag: str, error: type[Exception] = ValueError, *,
                        create_parents: bool = False) -> Path:
    """Check up front that ``path`` can be created as a file; raise ``error`` (one line) if not.

    With ``create_parents`` a missing parent directory is fine when it could be created
    (the writers create it); without, it is an error naming the directory.
    """
    out = Path(path)
    if out.is_dir():
        raise error(f"{flag} {path}: is a directory; give a file name")
    parent = out.parent if str(out.parent) else Path(".")
    if not create_parents and not parent.is_dir():
        raise error(f"{flag} {path}: directory {parent} does not exist; create it or choose another path")
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise error(f"{flag} {path}: {probe} is not a directory; choose another path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise error(f"{flag} {path}: directory {probe} is not writable; choose another path")
    return out


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
