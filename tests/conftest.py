"""Shared pytest fixtures and markers."""
from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HAVE_LAVA = importlib.util.find_spec("lava") is not None
HAVE_ESPEAK = shutil.which("espeak-ng") is not None

needs_lava = pytest.mark.skipif(not HAVE_LAVA, reason="lava-nc not installed (run scripts/bootstrap.sh)")
needs_espeak = pytest.mark.skipif(not HAVE_ESPEAK, reason="espeak-ng not installed (Debian package espeak-ng)")


def _mapped_shm_names() -> set[str]:
    """Names of /dev/shm segments that some live process has mapped."""
    names: set[str] = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if "/dev/shm/" in line:
                names.add(line.rsplit("/dev/shm/", 1)[1].split()[0])
    return names


@pytest.fixture
def shm_guard():
    """Fail if a test leaves shared-memory segments behind (Lava runtime leaks).

    A segment counts as leaked if it appeared during the test and no live process maps
    it any more: segments of other test processes running at the same time are in use.
    """
    base = Path("/dev/shm")
    before = set(os.listdir(base)) if base.is_dir() else set()
    yield
    if not base.is_dir():
        return
    new = {n for n in set(os.listdir(base)) - before if n.startswith(("psm_", "wnsm_"))}
    deadline = time.monotonic() + 5.0
    while new and time.monotonic() < deadline:
        # let exiting processes unmap and their managers unlink; other test processes on the same machine
        # (parallel sessions) create and remove segments of their own while this test runs
        time.sleep(0.5)
        new &= set(os.listdir(base))
        new -= _mapped_shm_names()
    assert not new, f"leaked shared memory segments: {sorted(new)}"


@pytest.fixture
def one_thread():
    """Small tensors: one intra-op thread avoids oversubscription stalls on a busy 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def active_batchnorm(model, gen):
    """``silava.train.model.active_batchnorm``: random BatchNorm statistics from ``gen``, eval mode."""
    from silava.train.model import active_batchnorm as randomize

    return randomize(model, gen)
