"""Lava side of silava: Processes, ProcessModels, the network builder and the runner.

Importing this package installs :mod:`lava_models.compat` (the Python 3.11 import
fixes for lava-nc 0.10.0 / lava-dl 0.6.0). Lava itself is imported lazily: use
:func:`require_lava` where Lava is needed; it raises :class:`LavaMissingError` with
one line saying what to install.
"""
from __future__ import annotations

import importlib.util

from . import compat

compat.install()

INSTALL_HINT = (
    "pip install --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0 "
    "(or run `make test` / scripts/bootstrap.sh, which does it)"
)


class LavaMissingError(ImportError):
    """Lava (lava-nc) or lava-dl is not installed."""


def lava_available() -> bool:
    """True if lava-nc is installed (does not import it)."""
    try:
        return importlib.util.find_spec("lava") is not None and importlib.util.find_spec("lava.magma") is not None
    except (ImportError, ValueError):  # lava blocked or broken in sys.modules
        return False


def require_lava(dl: bool = False) -> None:
    """Raise :class:`LavaMissingError` unless lava-nc (and lava-dl if ``dl``) can be imported."""
    if not lava_available():
        raise LavaMissingError(f"Lava is not installed: {INSTALL_HINT}")
    try:
        has_dl = importlib.util.find_spec("lava.lib.dl") is not None
    except (ImportError, ValueError):
        has_dl = False
    if dl and not has_dl:
        raise LavaMissingError(f"lava-dl is not installed: {INSTALL_HINT}")
