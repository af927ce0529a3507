"""Build a small C file into a shared library once, cache it, and load it with ctypes (stdlib only).

Used by the fast loops of training (``silava.train.neurons.native``, ``train/neurons/fused.c``) and
of hwsim (``silava.hwsim.native``, ``hwsim/loops.c``). No Python or numpy/torch headers: the C
functions take plain pointers and integers, and their ctypes argument types are read from the
declarations (``EXPORT void name(...)`` where ``EXPORT`` is the file's marker macro).

The library is compiled with the system C compiler (``$CC``, else ``cc``/``gcc``/``clang``; well under
a second for these files) into ``$SILAVA_CACHE/native/`` (default ``~/.cache/silava/native``), named by
a hash of the source, the compiler's version, the flags and the platform, so an edited source or
another compiler builds anew; several processes may build at once (each writes its own temporary
file, the rename is atomic). Without a compiler, :func:`build` raises :class:`BuildError` and the
callers use their numpy / torch code instead.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional, Sequence

#: no contraction (no fused multiply-add) and no fast-math: the loops must round exactly like the
#: step-by-step code they replace
FLAGS = ("-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-std=c99")
_TYPES = {"i64": ctypes.c_int64, "int": ctypes.c_int, "f32": ctypes.c_float, "f64": ctypes.c_double}


class BuildError(RuntimeError):
    """No C compiler, or the compilation failed (one line)."""


def cache_dir() -> Path:
    """``$SILAVA_CACHE/native`` (default ``$XDG_CACHE_HOME/silava/native`` or ``~/.cache/silava/native``)."""
    root = os.environ.get("SILAVA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "silava")
    return Path(os.path.expanduser(root)) / "native"


def compiler() -> Optional[str]:
    """The C compiler to use, or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _version(cc: str) -> str:
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def build(source: Path, *, force: bool = False, flags: Sequence[str] = FLAGS) -> Path:
    """Compile ``source`` into the cache (if not there yet); returns the library's path."""
    cc = compiler()
    if cc is None:
        raise BuildError("no C compiler found (set $CC or install gcc)")
    source = Path(source)
    key = hashlib.sha256(source.read_bytes() + _version(cc).encode() + " ".join(flags).encode()
                         + sys.platform.encode()).hexdigest()[:16]
    path = cache_dir() / f"silava_{source.stem}_{key}.so"
    if path.is_file() and not force:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp.so", dir=path.parent)
    os.close(fd)
    try:
        proc = subprocess.run([cc, *flags, "-o", tmp, str(source), "-lm"], capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["unknown error"])[0]
            raise BuildError(f"compiling {source.name} failed ({first})")
        os.replace(tmp, path)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError(f"compiling {source.name} failed ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def signatures(text: str, names: Sequence[str], marker: str = "VEC") -> dict[str, list[Any]]:
    """ctypes argument types of the functions ``names`` declared as ``<marker> void name(...)`` in the C
    ``text``: a pointer is ``c_void_p``; ``i64``, ``int``, ``f32``, ``f64`` the matching ctypes type."""
    out: dict[str, list[Any]] = {}
    for name in names:
        m = re.search(marker + r" void " + name + r"\((.*?)\)\s*\{", text, re.S)
        if m is None:
            raise BuildError(f"the C source does not define {name}")
        types = []
        for arg in m.group(1).split(","):
            arg = " ".join(arg.split())
            if "*" in arg:
                types.append(ctypes.c_void_p)
                continue
            kind = arg.replace("const ", "").split(" ")[0]
            if kind not in _TYPES:
                raise BuildError(f"{name}: unknown argument type in {arg!r}")
            types.append(_TYPES[kind])
        out[name] = types
    return out


def load(source: Path, names: Sequence[str], marker: str = "VEC") -> ctypes.CDLL:
    """Build (if needed) and load ``source``; every function of ``names`` gets its argument types."""
    return load_path(build(source), signatures(Path(source).read_text(), names, marker))


def load_path(path: Path, sigs: dict[str, list[Any]]) -> ctypes.CDLL:
    """Load the built library ``path`` and give its functions the argument types ``sigs``."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise BuildError(f"cannot load {Path(path).name} ({exc})") from None
    for name, types in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = types
        fn.restype = None
    return lib


class Library:
    """A C file built and loaded on first use, with an on/off switch: what the C loops of hwsim and the
    fused training kernels share. ``SILAVA_NATIVE=0`` starts it switched off; ``fallback`` names what runs
    instead in :meth:`status` ("numpy loop"), ``note`` the end of the reason it is used ("the numpy loop is
    used"), ``kind`` what this is ("C loops")."""

    def __init__(self, source: Path, names: Sequence[str], *, marker: str = "VEC", flags: Sequence[str] = FLAGS,
                 kind: str = "C kernels", fallback: str = "python kernels",
                 note: str = "the Python kernels are used", show_path: bool = True) -> None:
        self.source, self.names, self.marker, self.flags = Path(source), tuple(names), marker, tuple(flags)
        self.kind, self.fallback, self.note, self.show_path = kind, fallback, note, show_path
        self.enabled = os.environ.get("SILAVA_NATIVE", "1") != "0"
        self.path: Optional[Path] = None
        self.reason = "not loaded yet"
        self._lib: Optional[ctypes.CDLL] = None
        self._tried = False
        self._lock = threading.Lock()

    def load(self) -> Optional[ctypes.CDLL]:
        """The loaded library (compiling it on first use), or None when it cannot be built."""
        with self._lock:
            if not self._tried:
                self._tried = True
                try:
                    sigs = signatures(self.source.read_text(), self.names, self.marker)
                    self.path = build(self.source, flags=self.flags)
                    self._lib, self.reason = load_path(self.path, sigs), ""
                except BuildError as exc:
                    self.reason = f"{' '.join(str(exc).split())}; {self.note}"
            return self._lib

    def set_enabled(self, flag: bool) -> bool:
        """Switch the C code on (True) or off; returns the previous setting."""
        old, self.enabled = self.enabled, bool(flag)
        return old

    def available(self) -> bool:
        """True when switched on and loaded (compiling on first use)."""
        return self.enabled and self.load() is not None

    def status(self) -> str:
        """One line: which code runs and, for the fallback, why."""
        if not self.enabled:
            return f"{self.fallback} ({self.kind} disabled: SILAVA_NATIVE=0 or set_enabled(False))"
        if self.load() is None:
            return f"{self.fallback} ({self.reason})"
        return f"{self.kind} ({self.path})" if self.show_path else self.kind
