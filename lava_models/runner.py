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
* a healthy run is always stopped, also when the caller's code raises.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from . import require_lava


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

    # -- running -------------------------------------------------------------
    def run(self, num_steps: int, timeout_s: Optional[float] = None) -> None:
        """Run ``num_steps`` more steps; block until done or the timeout."""
        from lava.magma.core.run_conditions import RunSteps

        if self._closed or self._broken:
            raise LavaRunError("this Lava network was stopped; build a new one")
        limit = self.timeout_s if timeout_s is None else float(timeout_s)
        try:
            self.proc.run(condition=RunSteps(num_steps=int(num_steps), blocking=False), run_cfg=self.run_cfg)
        except Exception as exc:
            self._fail()
            raise LavaRunError(f"Lava could not compile or start the network: {type(exc).__name__}: {exc}") from exc
        self._wait(limit, what=f"{num_steps} steps")
        self.steps_done += int(num_steps)

    def _wait(self, limit: float, what: str) -> None:
        runtime = self.proc.runtime
        box: dict[str, Any] = {}

        def waiter():
            try:
                runtime.wait()
            except BaseException as exc:  # noqa: BLE001 - reported below
                box["error"] = exc

        thread = threading.Thread(target=waiter, name="silava-lava-wait", daemon=True)
        thread.start()
        thread.join(limit)
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
        if not done.wait(self.stop_timeout_s) or "error" in box:
            _force_cleanup(runtime)

    def __enter__(self) -> "LavaSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_steps(proc, num_steps: int, run_cfg=None, timeout_s: float = 120.0,
              read: Optional[Callable[[], Any]] = None) -> Any:
    """Run a network for ``num_steps``, call ``read()`` before stopping, return its value."""
    with LavaSession(proc, run_cfg, timeout_s=timeout_s) as session:
        session.run(num_steps)
        return read() if read is not None else None
