"""Run Lava networks safely: timeouts, clean stops, visible errors, no leaks.

Everything in silava that runs Lava goes through :class:`LavaSession` (or the
one-shot :func:`run_steps`). It addresses the known Lava 0.10 runtime problems
(see docs/lava.md):

* a ProcessModel exception surfaces only as ``RuntimeError: 1 Exception(s)
  occurred. See output above`` and its traceback is logged below INFO level:
  we read each actor's exception and put the text into :class:`LavaRunError`;
* after such an error ``stop()`` hangs (the runtime services are gone), and a
  process model that never returns hangs ``run()``: we wait with a wall-clock
  timeout, and on error or timeout kill the actor processes, shut down the
  shared-memory manager (which unlinks every segment) and mark the runtime as
  stopped so that its ``__del__`` does not hang either;
* a healthy run is always stopped, also when the caller's code raises; on Ctrl-C or SIGTERM
  (``KeyboardInterrupt`` / :class:`silava.core.cliutil.Terminated` in the main thread) it is torn
  down at once (actors killed, shared memory unlinked);
* nothing is left behind when the process is killed outright (SIGKILL, the OOM killer): every
  process Lava forks during a session's start gets ``PR_SET_PDEATHSIG = SIGKILL`` (Linux), so the
  kernel kills it with its parent, and ignores SIGINT (a Ctrl-C at the terminal reaches the whole
  process group; the parent alone tears the network down, so the actors print no traceback);
  the shared-memory segments of a session are recorded in a small file under the temp folder
  (:data:`REGISTRY_DIR`) and removed by the next session (:func:`cleanup_stale_segments`) if their
  owner died without removing them.

Time limits: ``timeout_s`` is a wall-clock budget enforced to the second's fraction (``0.001`` stops
the run at the first check after compiling); ``inf`` means no limit.
"""
from __future__ import annotations

import json
import math
import os
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from . import require_lava

#: where each running session records its shared-memory segments (removed when it ends)
REGISTRY_DIR = Path(tempfile.gettempdir()) / f"silava-lava-{os.getuid() if hasattr(os, 'getuid') else 0}"
SHM_DIR = Path("/dev/shm")
#: ``prctl`` option: signal sent to this process when its parent thread dies (linux/prctl.h)
_PR_SET_PDEATHSIG = 1

_fork_guard: dict[str, Any] = {"active": 0, "parent": None}


def _before_fork() -> None:
    _fork_guard["parent"] = os.getpid()


def _after_fork_in_child() -> None:
    """In a process Lava forks during a session's start: die with the parent, leave Ctrl-C to it."""
    if not _fork_guard["active"]:
        return
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):  # pragma: no cover
        pass
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the registry cleans up instead
        return
    if os.getppid() != _fork_guard["parent"]:   # the parent died between fork and prctl
        os._exit(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


@contextmanager
def _children_die_with_parent() -> Iterator[None]:
    """Processes forked inside the block (from the main thread) are killed by the kernel with this one."""
    main = threading.current_thread() is threading.main_thread()
    if main:   # PDEATHSIG fires when the forking *thread* exits: only the main thread lives long enough
        _fork_guard["active"] += 1
    try:
        yield
    finally:
        if main:
            _fork_guard["active"] -= 1


# --------------------------------------------------------------------------- shared-memory registry
def _mapped_segments(pids) -> set[str]:
    """Names of /dev/shm segments mapped by the processes ``pids`` (``None``: every process)."""
    names: set[str] = set()
    maps = [Path(f"/proc/{pid}/maps") for pid in pids] if pids is not None else Path("/proc").glob("[0-9]*/maps")
    for path in maps:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if "/dev/shm/" in line:
                names.add(line.rsplit("/dev/shm/", 1)[1].split()[0])
    return names


def _start_time(pid: int) -> Optional[str]:
    """The kernel's start time of ``pid`` (field 22 of /proc/pid/stat), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _registry_file(pid: int) -> Path:
    return REGISTRY_DIR / f"{pid}.json"


def _record_segments(runtime) -> Optional[Path]:
    """Write the segments this session maps (this process and its actors) to :data:`REGISTRY_DIR`."""
    if not SHM_DIR.is_dir():
        return None
    infra = getattr(runtime, "_messaging_infrastructure", None)
    pids = [os.getpid()] + [a.pid for a in (getattr(infra, "actors", []) or []) if getattr(a, "pid", None)]
    segments = sorted(n for n in _mapped_segments(pids) if n.startswith("psm_"))
    try:
        REGISTRY_DIR.mkdir(mode=0o700, exist_ok=True)
        path = _registry_file(os.getpid())
        old = json.loads(path.read_text()).get("segments", []) if path.exists() else []
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "start": _start_time(os.getpid()),
                                   "segments": sorted(set(old) | set(segments))}))
        os.replace(tmp, path)
        return path
    except (OSError, ValueError):
        return None


def _forget_segments() -> None:
    try:
        _registry_file(os.getpid()).unlink()
    except OSError:
        pass


def cleanup_stale_segments() -> int:
    """Remove the shared memory of silava Lava sessions whose process died without removing it.

    Reads :data:`REGISTRY_DIR`; a session is stale when its pid is gone (or now belongs to another
    process). Its segments are unlinked unless a live process still maps them. Returns how many
    segments were removed.
    """
    removed = 0
    try:
        files = sorted(REGISTRY_DIR.glob("*.json"))
    except OSError:
        return 0
    stale = []
    for path in files:
        try:
            info = json.loads(path.read_text())
            pid, start = int(info["pid"]), info.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            stale.append((path, []))
            continue
        if pid == os.getpid() or (_start_time(pid) is not None and _start_time(pid) == start):
            continue   # alive: its own session removes them
        stale.append((path, [str(n) for n in info.get("segments", []) if str(n).startswith("psm_")]))
    if not stale:
        return 0
    in_use = _mapped_segments(None)
    for path, segments in stale:
        for name in segments:
            if name in in_use or "/" in name:
                continue
            try:
                (SHM_DIR / name).unlink()
                removed += 1
            except OSError:
                pass
        try:
            path.unlink()
        except OSError:
            pass
    return removed


class LavaRunError(RuntimeError):
    """A Lava run failed; the message carries the process model's exception."""


class LavaTimeoutError(LavaRunError):
    """A Lava run did not finish within its wall-clock limit."""


def sim_config(tag: str = "fixed_pt", exception_proc_model_map: Optional[dict] = None):
    """``Loihi2SimCfg`` selecting ``tag`` models (``fixed_pt`` or ``floating_pt``)."""
    require_lava()
    from lava.magma.core.run_configs import Loihi2SimCfg

    return Loihi2SimCfg(select_tag=tag, exception_proc_model_map=exception_proc_model_map or {})


def _actor_errors(runtime) -> list[str]:
    """Exception texts reported by the runtime's actor processes."""
    texts = []
    infra = getattr(runtime, "_messaging_infrastructure", None)
    for actor in getattr(infra, "actors", []) or []:
        try:
            exc = actor.exception
        except Exception:  # closed pipe
            exc = getattr(actor, "_exception", None)
        if exc:
            err, tb = exc
            last = [ln for ln in tb.strip().splitlines() if ln.strip()]
            where = next((ln.strip() for ln in reversed(last) if ln.strip().startswith("File ")), "")
            texts.append(f"{type(err).__name__}: {err}" + (f" ({where})" if where else ""))
    return texts


def _force_cleanup(runtime, grace_s: float = 2.0) -> None:
    """Kill actor processes and release shared memory without the stop handshake."""
    infra = getattr(runtime, "_messaging_infrastructure", None)
    actors = list(getattr(infra, "actors", []) or [])
    for actor in actors:
        try:
            if not actor._is_done and actor.is_alive():
                actor.kill()
        except Exception:
            pass
    deadline = time.monotonic() + grace_s
    for actor in actors:
        try:
            if not actor._is_done:
                actor._popen.wait(max(0.0, deadline - time.monotonic()))
                actor.join()
        except Exception:
            pass
    try:
        if infra is not None and infra.smm is not None:
            infra.smm.shutdown()
    except Exception:
        pass
    try:
        runtime.join()  # releases the host-side channel threads
    except Exception:
        pass
    try:
        runtime._watchdog_manager.stop()
    except Exception:
        pass
    runtime._is_started = False  # Runtime.__del__ would otherwise call stop() and hang
    runtime._is_running = False


def _join_limit(limit: float) -> Optional[float]:
    """A ``Thread.join`` timeout for a limit in seconds: ``None`` for no limit (``inf``), never above
    ``threading.TIMEOUT_MAX`` (``1e300`` would raise ``OverflowError``), never below 0."""
    if math.isinf(limit) or limit >= threading.TIMEOUT_MAX:
        return None
    return max(0.0, limit)


class LavaSession:
    """One compiled Lava network, run in one or more chunks, always cleaned up.

    >>> with LavaSession(net, sim_config("fixed_pt"), timeout_s=60) as s:   # doctest: +SKIP
    ...     s.run(100)
    ...     data = sink.data.get()

    ``proc`` is any process of the network (Lava compiles the connected graph).
    ``run`` raises :class:`LavaRunError` with the process model's exception text, or
    :class:`LavaTimeoutError`; in both cases the network is torn down first.
    """

    def __init__(self, proc, run_cfg=None, timeout_s: float = 120.0, stop_timeout_s: float = 30.0):
        require_lava()
        self.proc = proc
        self.run_cfg = run_cfg if run_cfg is not None else sim_config()
        self.timeout_s = float(timeout_s)
        self.stop_timeout_s = float(stop_timeout_s)
        self.steps_done = 0
        self._broken = False
        self._closed = False
        self._registry: Optional[Path] = None

    # -- running -------------------------------------------------------------
    def run(self, num_steps: int, timeout_s: Optional[float] = None) -> None:
        """Run ``num_steps`` more steps; block until done or the timeout."""
        from lava.magma.core.run_conditions import RunSteps

        if self._closed or self._broken:
            raise LavaRunError("this Lava network was stopped; build a new one")
        limit = self.timeout_s if timeout_s is None else float(timeout_s)
        if math.isnan(limit):
            raise ValueError("timeout_s must be a number of seconds (inf: no limit), got nan")
        start = time.monotonic()
        first = getattr(self.proc, "runtime", None) is None
        if first:
            cleanup_stale_segments()
        try:
            with _children_die_with_parent():
                self.proc.run(condition=RunSteps(num_steps=int(num_steps), blocking=False), run_cfg=self.run_cfg)
        except Exception as exc:
            self._fail()
            raise LavaRunError(f"Lava could not compile or start the network: {type(exc).__name__}: {exc}") from exc
        except BaseException:   # Ctrl-C / SIGTERM while compiling: tear down what was started
            self._fail()
            raise
        if first:
            self._registry = _record_segments(self.proc.runtime)
        self._wait(limit - (time.monotonic() - start), what=f"{num_steps} steps", limit=limit)
        self.steps_done += int(num_steps)

    def _wait(self, remaining: float, what: str, limit: Optional[float] = None) -> None:
        runtime = self.proc.runtime
        limit = remaining if limit is None else limit
        box: dict[str, Any] = {}

        def waiter():
            try:
                runtime.wait()
            except BaseException as exc:  # noqa: BLE001 - reported below
                box["error"] = exc

        thread = threading.Thread(target=waiter, name="silava-lava-wait", daemon=True)
        thread.start()
        try:
            thread.join(_join_limit(remaining))
        except BaseException:   # Ctrl-C / SIGTERM while waiting: tear the network down at once
            self._fail()
            raise
        if thread.is_alive():
            errors = _actor_errors(runtime)
            self._fail()
            detail = f"; process model error: {'; '.join(errors)}" if errors else ""
            raise LavaTimeoutError(
                f"Lava run of {what} did not finish within {limit:g} s (network stopped){detail}"
            )
        if "error" in box:
            errors = _actor_errors(runtime)
            self._fail()
            detail = "; ".join(errors) if errors else f"{type(box['error']).__name__}: {box['error']}"
            raise LavaRunError(f"Lava process model failed: {detail}")

    # -- stopping ------------------------------------------------------------
    def _fail(self) -> None:
        self._broken = True
        runtime = getattr(self.proc, "runtime", None)
        if runtime is not None:
            _force_cleanup(runtime)
        self._closed = True
        self._forget()

    def _forget(self) -> None:
        if self._registry is not None:
            _forget_segments()
            self._registry = None

    def close(self) -> None:
        """Stop the network (gracefully if healthy, by force otherwise). Idempotent."""
        if self._closed:
            return
        self._closed = True
        runtime = getattr(self.proc, "runtime", None)
        if runtime is None or not getattr(runtime, "_is_started", False):
            return
        done = threading.Event()
        box: dict[str, Any] = {}

        def stopper():
            try:
                self.proc.stop()
            except BaseException as exc:  # noqa: BLE001
                box["error"] = exc
            done.set()

        threading.Thread(target=stopper, name="silava-lava-stop", daemon=True).start()
        try:
            if not done.wait(self.stop_timeout_s) or "error" in box:
                _force_cleanup(runtime)
        except BaseException:
            _force_cleanup(runtime)
            raise
        finally:
            self._forget()

    def __enter__(self) -> "LavaSession":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and not issubclass(exc_type, Exception):
            self._fail()       # Ctrl-C, SIGTERM: no graceful stop handshake, kill and unlink now
        else:
            self.close()


def run_steps(proc, num_steps: int, run_cfg=None, timeout_s: float = 120.0,
              read: Optional[Callable[[], Any]] = None) -> Any:
    """Run a network for ``num_steps``, call ``read()`` before stopping, return its value."""
    with LavaSession(proc, run_cfg, timeout_s=timeout_s) as session:
        session.run(num_steps)
        return read() if read is not None else None
