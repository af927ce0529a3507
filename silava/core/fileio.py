"""Atomic file output shared by every command (standard library only).

Every file silava writes goes through :func:`atomic_path`: the data goes into a temp file in
the destination directory (same file system), which replaces the destination with
``os.replace`` only once it is complete. An error (or Ctrl-C) removes the temp file, so a
destination is either untouched or complete — never half written. The new file gets the
permissions ``open()`` would give it (``0o666`` minus the umask; ``mkstemp`` alone gives 0600).

Destinations that are not regular files are never replaced:

* a symlink is followed: its target is written (atomically), the link stays;
* a character device, FIFO or socket (``/dev/null``, ``/dev/stdout``, a shell's ``>(...)``) is
  written through in place by the stream writers (:func:`atomic_write` and friends); writers that
  need a seekable file (:func:`atomic_path`, e.g. HDF5) refuse it with :class:`OutputPathError`.

Several outputs of one command are committed as a unit with :func:`atomic_group`: either all
are replaced or none is. :func:`check_outputs` refuses an output that is one of the command's
inputs (or another output) before any work starts.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


class OutputPathError(OSError):
    """An output path that cannot be written safely (one line naming the path and the fix)."""


def _special(path: Path) -> bool:
    """True if ``path`` exists and (after following symlinks) is not a regular file or directory."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    import stat

    return not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))


def is_special(path: str | os.PathLike) -> bool:
    """True if ``path`` exists and is a device, FIFO or socket (after following symlinks): written through."""
    return _special(Path(path))


def resolve_output(path: str | os.PathLike) -> Path:
    """The file an output path really names: a symlink's final target (the link itself is kept)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _make_parents(parent: Path) -> list[Path]:
    """``parent.mkdir(parents=True)``; returns the folders it created, deepest first (to remove on failure)."""
    created = []
    probe = parent
    while not probe.exists() and probe != probe.parent:
        created.append(probe)
        probe = probe.parent
    parent.mkdir(parents=True, exist_ok=True)
    return created


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break


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
    path = resolve_output(path)
    if _special(path):
        raise OutputPathError(f"{path}: not a regular file (a device, FIFO or socket); this output needs a "
                              f"seekable file: choose a file path")
    parent = path.parent if str(path.parent) else Path(".")
    created = _make_parents(parent) if make_parents else []
    try:
        fd, name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except BaseException as exc:
        _remove_empty(created)
        name_output(exc, path)
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        _remove_empty(created)      # folders made for this output only
        name_output(exc, path)
        raise


def name_output(exc: BaseException, path: str | os.PathLike) -> None:
    """Give an ``OSError`` without a file name (a ``write`` that hit a full disk) the output's ``path``,
    so that its one-line message says which file could not be written."""
    if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None and exc.strerror:
        exc.filename = os.fspath(path)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, binary: bool = True) -> Path:
    """Write ``path`` through ``write(file_object)`` atomically; flushed and fsync'ed before the rename."""
    path = Path(path)
    text_args = {} if binary else {"encoding": "utf-8", "newline": ""}
    if _special(path):   # /dev/null, a pipe, a terminal: write through, never replace it
        try:
            with open(path, "wb" if binary else "w", **text_args) as fh:
                write(fh)
        except OSError as exc:
            name_output(exc, path)
            raise
        return path
    with atomic_path(path) as tmp:
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
                        create_parents: bool = False, seekable: bool = False) -> Path:
    """Check up front that ``path`` can be created as a file; raise ``error`` (one line) if not.

    With ``create_parents`` a missing parent directory is fine when it could be created
    (the writers create it); without, it is an error naming the directory. A symlink is
    checked as its target. A device, FIFO or socket is accepted for stream outputs (written
    through) and refused when the writer needs a ``seekable`` file (HDF5, checkpoints).
    """
    out = resolve_output(path)
    if _special(out):
        if seekable:
            raise error(f"{flag} {path}: not a regular file (a device, FIFO or socket); this output needs a "
                        f"seekable file: choose a file path")
        return out
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


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` name the same file (symlinks and hard links included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_outputs(outputs: dict[str, Any], inputs: dict[str, Any], error: type[Exception] = ValueError) -> None:
    """Refuse an output that is one of the inputs, or the same file as another output.

    ``outputs``/``inputs`` map a label (``"-o"``, ``"checkpoint"``) to a path (None entries are
    skipped). Raises ``error`` with one line naming both, before any work is done.
    """
    outs = [(flag, p) for flag, p in outputs.items() if p is not None]
    for flag, out in outs:
        for name, src in inputs.items():
            if src is not None and same_file(out, src):
                raise error(f"{flag} {out}: is the {name} ({src}); writing it would destroy the input: "
                            f"choose another output path")
    for i, (flag, out) in enumerate(outs):
        for flag2, out2 in outs[i + 1:]:
            if same_file(out, out2):
                raise error(f"{flag} {out} and {flag2} {out2} are the same file; give them different paths")


class atomic_group:
    """Commit several outputs as a unit: all of them are replaced, or none is.

    ``with atomic_group() as group: tmp = group.path("model.net"); ...`` — each :meth:`path` is
    a temp file beside its destination. On a clean exit every existing destination is first
    moved aside (a hard link, so it stays in place until replaced), then every temp file is
    renamed over its destination; if a rename fails, the destinations already replaced are
    restored from their backups and the error is raised. On an error inside the block no
    destination is touched. Backups and temp files are always removed.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Path, Path]] = []   # (temp, destination)
        self._created: list[Path] = []              # folders made for the outputs (removed on failure)

    def __enter__(self) -> "atomic_group":
        return self

    def path(self, dest: str | os.PathLike, *, make_parents: bool = True) -> Path:
        dest = resolve_output(dest)
        if _special(dest):
            raise OutputPathError(f"{dest}: not a regular file (a device, FIFO or socket); choose a file path")
        parent = dest.parent if str(dest.parent) else Path(".")
        if make_parents:
            self._created += _make_parents(parent)
        fd, name = tempfile.mkstemp(dir=parent, prefix=f".{dest.name}.", suffix=".tmp")
        os.close(fd)
        self._items.append((Path(name), dest))
        return Path(name)

    def _cleanup(self, paths) -> None:
        for p in paths:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    def __exit__(self, exc_type, exc, tb) -> bool:
        temps = [t for t, _ in self._items]
        if exc_type is not None:
            self._cleanup(temps)
            _remove_empty(self._created)
            return False
        backups: list[tuple[Path, Path]] = []    # (backup, destination)
        done: list[Path] = []
        mode = _file_mode()
        try:
            for tmp, dest in self._items:
                if dest.exists() and not dest.is_dir():
                    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".bak")
                    os.close(fd)
                    try:
                        os.unlink(name)
                        os.link(dest, name)
                    except OSError:          # no hard links here: a copy does the same job
                        import shutil

                        shutil.copy2(dest, name)
                    backups.append((Path(name), dest))
            for tmp, dest in self._items:
                os.chmod(tmp, mode)
                os.replace(tmp, dest)
                done.append(dest)
        except BaseException:
            for backup, dest in backups:
                if dest in done:
                    os.replace(backup, dest)
            for dest in done:
                if not any(dest == d for _, d in backups):
                    self._cleanup([dest])
            self._cleanup(temps)
            self._cleanup([b for b, _ in backups])
            _remove_empty(self._created)
            raise
        self._cleanup([b for b, _ in backups])
        return False


def write_group(files: "dict[str | os.PathLike, bytes]") -> list[Path]:
    """Write every ``path: bytes`` of ``files`` (rendered in memory first) as one :class:`atomic_group`:
    each flushed and fsync'ed, then all of them replaced or none. An ``OSError`` from a write names the
    file it hit (:func:`name_output`); a device or FIFO destination is an :class:`OutputPathError`."""
    path = None
    try:
        with atomic_group() as group:
            for path, data in files.items():
                with open(group.path(path), "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
    except OSError as exc:
        name_output(exc, path)
        raise
    return [Path(p) for p in files]


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
