"""hwsim's per-step neuron loops in C (``loops.c``), compiled once and loaded with ctypes (numpy only).

The numpy loop of :func:`silava.hwsim.simulate._run_neurons` issues about 20 array operations per time
step and layer; at small batches (64 samples) their dispatch, not the arithmetic, sets the speed, far
above the floor of the network's dense products (bench/README.md, "sim_speed"). ``loops.c`` runs the
same integer step (the golden :mod:`silava.hwsim.kernels` on the float64 carrier: exact integers,
``mul(k, x, D) = trunc((k / 2^D)·x)``) over the whole time axis of a block of samples, writing the
spikes, the next Dense's input and the per-step event counts directly: bit-identical results and
saturation counts (``tests/test_hwsim_native.py`` compares it with the numpy loop and the kernels).

Kinds with a C loop: SILIF, CSILIF, LI (:data:`LOOPS`); others (CUBA, with Lava's wraps), runs that
record every state, and machines without a C compiler use the numpy loop. ``SILAVA_NATIVE=0`` (or
:func:`set_enabled`) switches the C loops off. Built by :mod:`silava.core.cbuild` into
``$SILAVA_CACHE/native/`` on first use (``python -m silava.hwsim.native`` builds it ahead).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from silava.core import cbuild

SOURCE = Path(__file__).with_name("loops.c")
#: kind -> (C function, prepared constants it takes, in order); the constants come from
#: ``NeuronKernel.prepare(params, np.float64)`` (already scaled by 2^-D where they are decays)
LOOPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "SILIF": ("silif_loop", ("alpha", "alpha_c", "beta", "coupling", "adapt", "vth", "b")),
    "CSILIF": ("csilif_loop", ("cos", "sin", "vth", "b")),
    "LI": ("li_loop", ("alpha", "b")),
}
#: -fno-trapping-math lets the compiler vectorise trunc(); it changes no result (no trap is enabled)
FLAGS = (*cbuild.FLAGS, "-fno-trapping-math")

_library = cbuild.Library(SOURCE, [fn for fn, _ in LOOPS.values()], marker="EXPORT", flags=FLAGS, kind="C loops",
                          fallback="numpy loop", note="the numpy loop is used", show_path=False)
#: switch the C loops on (True, the default unless ``SILAVA_NATIVE=0``) or off; returns the previous setting
set_enabled = _library.set_enabled
#: True when the C loops are enabled and loaded (compiling them on first use)
available = _library.available
#: one line: which loop runs and, for the numpy fallback, why
status = _library.status


def supports(kind: str) -> bool:
    """True when ``kind`` has a C loop and the C loops are available."""
    return kind in LOOPS and available()


def _vector(value: Any, n: int) -> np.ndarray:
    """A prepared constant as a contiguous float64 ``[n]`` (prepared arrays may be broadcast to (B, n))."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[0]
    return np.ascontiguousarray(np.broadcast_to(arr, (n,)))


def run_layer(kind: str, prep: dict, acc: Optional[np.ndarray], delay: int, reset_at: Optional[int],
              feed_next: bool, spiking: bool, steps: int, batch_major: bool = False, weight_exp: int = 0,
              inputs: Optional[np.ndarray] = None, weight: Optional[np.ndarray] = None
              ) -> tuple[Optional[np.ndarray], np.ndarray, np.ndarray, int]:
    """The neuron loop of one layer in C over ``steps`` steps; same arguments and outputs as the numpy
    loop (``_run_neurons``: ``acc [Tin, B, n]``, or ``[B, Tin, n]`` with ``batch_major``) plus the event
    counts ``[B, steps]`` and the saturated-element count. ``weight_exp``: the Dense's exponent when
    ``acc`` holds the sums before it (applied here exactly as ``hwsim.kernels.dense_float`` does).

    Event-driven Dense: with ``inputs [B, Tin, n_in]`` (uint8 spikes or int64 payloads, batch-major)
    and ``weight [n, n_in]`` instead of ``acc``, the loop sums the weight columns of the non-zero
    inputs itself (int16 weights, int32 sums: exact integers; the caller checks that no sum can pass
    int32), so no ``[Tin, B, n]`` product is formed at all: the work follows the spikes."""
    fn_name, keys = LOOPS[kind]
    wt = None
    if inputs is not None:
        if inputs.dtype not in (np.uint8, np.int64):
            inputs = inputs.astype(np.int64)
        inputs = np.ascontiguousarray(inputs)
        batch, t_in, n_in = inputs.shape
        w = np.asarray(weight)
        if w.size and (w.min() < -32768 or w.max() > 32767 or np.any(w != np.round(w))):
            raise ValueError("run_layer: the event-driven Dense takes integer weights within int16 "
                             "(model.net weights are even integers in [-256, 254])")
        wt = np.ascontiguousarray(w.astype(np.int16).T)      # int16: the whole matrix stays in cache
        n = wt.shape[1]
        acc = None
    else:
        n_in = 0
        if batch_major:
            batch, t_in, n = acc.shape
        else:
            t_in, batch, n = acc.shape
        if acc.dtype not in (np.float32, np.float64):
            acc = acc.astype(np.float64)
        acc = np.ascontiguousarray(acc)
    consts = [_vector(prep[k], n) for k in keys]
    out = np.empty((batch, steps, n), dtype=np.uint8 if spiking else np.int64)
    feed = np.empty((steps, batch, n), dtype=np.float32) if feed_next else None
    events = np.empty((batch, steps), dtype=np.int64)
    satn = np.zeros(batch, dtype=np.int64)
    work = np.empty((batch, 4, n), dtype=np.float64)
    fn = getattr(_library.load(), fn_name)
    ptr = lambda a: None if a is None else a.ctypes.data   # noqa: E731
    fn(0, batch, steps, batch, n, int(delay), -1 if reset_at is None else int(reset_at), t_in, int(batch_major),
       ptr(acc), int(acc is not None and acc.dtype == np.float64), ptr(inputs),
       int(inputs is not None and inputs.dtype == np.int64), n_in, ptr(wt), 2.0 ** int(weight_exp), int(weight_exp < 0), *map(ptr, consts), ptr(out), ptr(feed), ptr(events), ptr(satn),
       ptr(work))
    return feed, out, events, int(satn.sum())


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m silava.hwsim.native``: build the library now."""
    try:
        path = cbuild.build(SOURCE, force="--force" in (sys.argv[1:] if argv is None else argv), flags=FLAGS)
    except cbuild.BuildError as exc:
        print(f"silava hwsim C loops: {exc}; the numpy loop is used", file=sys.stderr)
        return 0
    print(f"silava hwsim C loops: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
