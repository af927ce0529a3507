"""Make lava-nc 0.10.0 and lava-dl 0.6.0 importable on Python 3.11.

This is the one place that knows about the two import-time defects below. It is
installed when :mod:`lava_models` is imported and edits no file on disk.

1. ``lava.magma.compiler.var_model`` (lava-nc 0.10.0) declares dataclasses
   (``CoreEncoder``, ``ChipEncoder``, ``AxonEncoder``) whose field defaults are
   instances of the plain dataclass ``ByteEncoder``. Python 3.11 rejects an
   unhashable dataclass instance as a default (``ValueError: mutable default
   <class 'ByteEncoder'> ... use default_factory``), so ``import lava`` of the
   compiler, hence of every Process, fails.

   Fix: a :data:`sys.meta_path` finder wraps the loader of that one module. While
   the module body executes, ``dataclasses.dataclass`` is replaced by a wrapper that
   builds ``ByteEncoder`` with ``unsafe_hash=True`` (a value hash). Nothing else
   changes: the class stays mutable and its instances compare as before, so the
   module behaves exactly as it does on Python 3.10, where the shared default
   instance was accepted. ``ByteEncoder`` is only used by Loihi hardware encoders.

2. ``lava.lib.dl.slayer`` imports its ``object_detection`` subpackage, which needs
   torchvision and cv2. There is no CPU torchvision for our torch, so
   ``import lava.lib.dl.slayer`` and therefore ``from lava.lib.dl import netx``
   fail, although neither uses object detection.

   Fix: when ``lava.lib.dl.slayer.object_detection`` is imported and torchvision or
   cv2 cannot be imported, a placeholder module is returned instead. Touching any of
   its attributes raises ``ImportError`` naming what is missing. Where torchvision
   and cv2 do import, the real subpackage is loaded.

3. ``lava.magma.runtime.message_infrastructure.multiprocessing`` calls
   ``multiprocessing.set_start_method('fork')`` at import time. That raises
   ``RuntimeError: context has already been set`` once anything in the process has
   fixed the start method, e.g. any tqdm progress bar (tqdm creates a multiprocessing
   lock), so Lava cannot be imported after a progress bar has been shown.

   Fix: while that one module executes, ``set_start_method(m)`` is a no-op if the start
   method already is ``m``; any other case behaves as before (a ``spawn`` context still
   raises, since Lava needs ``fork``).

Each fix is a no-op where it is not needed: the ``ByteEncoder`` fix applies only on
Python >= 3.11 and leaves an already hashable ``ByteEncoder`` (a fixed Lava) untouched
(the wrapper only adds ``unsafe_hash`` to an unhashable class); the placeholder is used
only when torchvision or cv2 fails to import; the start-method tolerance only skips a
call that would set the method it already has.
"""
from __future__ import annotations

import dataclasses
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any, Sequence

VAR_MODEL = "lava.magma.compiler.var_model"
OBJECT_DETECTION = "lava.lib.dl.slayer.object_detection"
LAVA_MULTIPROCESSING = "lava.magma.runtime.message_infrastructure.multiprocessing"

_installed = False


def needed() -> bool:
    """True where the ``ByteEncoder`` fix is needed (Python >= 3.11)."""
    return sys.version_info >= (3, 11)


class _HashableByteEncoderLoader(importlib.abc.Loader):
    """Runs ``var_model`` with ``ByteEncoder`` built as a hashable dataclass."""

    def __init__(self, inner: importlib.abc.Loader):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        original = dataclasses.dataclass

        def patched(cls=None, /, **kwargs: Any):
            def wrap(c):
                if c.__name__ == "ByteEncoder" and not kwargs:
                    return original(c, unsafe_hash=True)
                return original(c, **kwargs)

            return wrap if cls is None else wrap(cls)

        dataclasses.dataclass = patched
        try:
            self.inner.exec_module(module)
        finally:
            dataclasses.dataclass = original


class _TolerantStartMethodLoader(importlib.abc.Loader):
    """Runs Lava's multiprocessing module with ``set_start_method`` tolerant of an equal method."""

    def __init__(self, inner: importlib.abc.Loader):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        import multiprocessing

        original = multiprocessing.set_start_method

        def tolerant(method, force=False):
            if not force and multiprocessing.get_start_method(allow_none=True) == method:
                return None
            return original(method, force=force)

        multiprocessing.set_start_method = tolerant
        try:
            self.inner.exec_module(module)
        finally:
            multiprocessing.set_start_method = original


class _ObjectDetectionPlaceholder(types.ModuleType):
    """Stands in for slayer's object-detection subpackage when it cannot load."""

    def __init__(self, name: str, reason: str):
        super().__init__(name)
        self.__dict__["_reason"] = reason
        self.__dict__["__path__"] = []  # a package, so `import x.y` fails cleanly

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise ImportError(
            f"lava.lib.dl.slayer.object_detection is unavailable ({self._reason}); "
            "silava does not use it. Install torchvision and opencv matching your torch to use it."
        )


class _PlaceholderLoader(importlib.abc.Loader):
    def __init__(self, reason: str):
        self.reason = reason

    def create_module(self, spec):
        return _ObjectDetectionPlaceholder(spec.name, self.reason)

    def exec_module(self, module) -> None:
        return None


def _object_detection_blocker() -> str | None:
    """Why slayer's object detection cannot be imported, or None if it can."""
    for name in ("torchvision", "cv2"):
        if name in sys.modules:
            continue
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed"
        try:
            importlib.import_module(name)
        except Exception as exc:  # a torchvision built for another torch raises RuntimeError
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                del sys.modules[key]
            return f"{name} failed to import: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


class LavaCompatFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that applies the fixes described in the module docstring."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target=None):
        if fullname not in (VAR_MODEL, OBJECT_DETECTION, LAVA_MULTIPROCESSING):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        if fullname == VAR_MODEL:
            if not needed():
                return None
            spec.loader = _HashableByteEncoderLoader(spec.loader)
            return spec
        if fullname == LAVA_MULTIPROCESSING:
            spec.loader = _TolerantStartMethodLoader(spec.loader)
            return spec
        reason = _object_detection_blocker()
        if reason is None:
            return spec
        return importlib.util.spec_from_loader(fullname, _PlaceholderLoader(reason), is_package=True)


def install() -> bool:
    """Install the import hook once (idempotent). Returns True."""
    global _installed
    if _installed:
        return True
    sys.meta_path.insert(0, LavaCompatFinder())
    _installed = True
    return True


def installed() -> bool:
    return _installed
