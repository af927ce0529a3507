"""Shared pytest fixtures and markers."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HAVE_LAVA = importlib.util.find_spec("lava") is not None
HAVE_ESPEAK = shutil.which("espeak-ng") is not None

needs_lava = pytest.mark.skipif(not HAVE_LAVA, reason="lava-nc not installed (run scripts/bootstrap.sh)")
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng not installed (Debian package espeak-ng)")


@pytest.fixture
def shm_guard():
    """Fail if a test leaves shared-memory segments behind (Lava runtime leaks)."""
    base = Path("/dev/shm")
    before = set(os.listdir(base)) if base.is_dir() else set()
    yield
    after = set(os.listdir(base)) if base.is_dir() else set()
    leaked = {n for n in after - before if n.startswith(("psm_", "wnsm_"))}
    assert not leaked, f"leaked shared memory segments: {sorted(leaked)}"
