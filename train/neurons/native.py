"""The fused neuron kernels in C (``fused.c``), compiled once and loaded with ctypes.

Why: the Python fused kernels (the ``*Scan`` autograd functions) issue about 16 small tensor
operations per time step; from H ≈ 512 their cost is the same memory traffic as the plain autograd
loop's and they stop winning (bench/README.md, "train_step"). The C loops run the whole time axis of
a batch item with the state in a few ``[H]`` buffers: one pass over the input, the states and the
gradients, no per-step dispatch. Same float operations in the same order as the step functions
(compiled without contraction), so the spikes and states are bit-identical; the backward is the same
BPTT as the Python kernels (gradients equal to float rounding).

Build: the first use compiles ``fused.c`` with the system C compiler into the cache
(:mod:`silava.core.cbuild`: ``$SILAVA_CACHE/native/``, keyed by a hash of the source, compiler and
flags; under a second). ``scripts/bootstrap.sh`` builds it at install time
(``python -m silava.train.neurons.native``). Without a compiler, or with ``SILAVA_NATIVE=0``,
everything runs the Python kernels (:func:`status` says which and why). Only float32 CPU tensors
take the C path; float64, CUDA and the rest use the Python kernels.

Threads: a call splits the batch into blocks run on up to ``torch.get_num_threads()`` Python
threads (ctypes releases the GIL), when the work is large enough to pay for it.
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import torch

from silava.core import cbuild

SOURCE = Path(__file__).with_name("fused.c")
#: the exported functions (``VEC void name(...)`` in fused.c); their ctypes argument types are read
#: from the declarations (:func:`signatures`)
FUNCTIONS = ("adlif_forward", "adlif_backward", "csilif_forward", "csilif_backward", "lif_forward",
             "lif_backward", "li_forward", "li_backward")
#: element-steps below which a call runs on the calling thread only
PARALLEL_MIN = 1 << 18
SURROGATE_CODES = {"boxcar": 0, "fast-sigmoid": 1}

_library = cbuild.Library(SOURCE, FUNCTIONS)
_pool: dict[str, Any] = {"pool": None}
#: use the C kernels (True, the default unless ``SILAVA_NATIVE=0``) or the Python ones; returns the previous setting
set_enabled = _library.set_enabled
#: True when the C kernels are enabled and loaded (compiling them on first use)
available = _library.available
#: one line: which kernels run and, for the Python fallback, why
status = _library.status


def build(force: bool = False) -> Path:
    """Compile ``fused.c`` into the cache (if not there yet); returns the library's path
    (:class:`silava.core.cbuild.BuildError` without a compiler)."""
    return cbuild.build(SOURCE, force=force)


def signatures(source: Optional[str] = None) -> dict[str, list[Any]]:
    """ctypes argument types of the exported functions, from their C declarations."""
    return cbuild.signatures(SOURCE.read_text() if source is None else source, FUNCTIONS)


def usable(*tensors: Optional[torch.Tensor]) -> bool:
    """True when every given tensor is a float32 CPU tensor and the C kernels are available."""
    for t in tensors:
        if t is not None and (t.dtype != torch.float32 or t.device.type != "cpu"):
            return False
    return available()


def c(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """``t`` as a contiguous float32 tensor (``None`` stays ``None``)."""
    return None if t is None else t.contiguous()


def _ptr(x: Any) -> Any:
    return x.data_ptr() if isinstance(x, torch.Tensor) else x


def call(name: str, batch: int, work: int, *args: Any) -> None:
    """``name(b0, b1, *args)`` over batch blocks ``[b0, b1)`` of ``batch`` items (``work`` element-steps
    in all), in parallel on up to ``torch.get_num_threads()`` threads when it pays off. Tensors are
    passed as pointers (they must be contiguous float32), ``None`` as NULL."""
    fn = getattr(_library.load(), name)
    cargs = [_ptr(a) for a in args]
    if len(cargs) + 2 != len(fn.argtypes):
        raise TypeError(f"{name} takes {len(fn.argtypes) - 2} arguments after the batch block, got {len(cargs)}")
    threads = min(batch, torch.get_num_threads()) if work >= PARALLEL_MIN else 1
    if threads <= 1:
        fn(0, batch, *cargs)
        return
    pool = _pool["pool"]
    if pool is None or pool._max_workers < threads:
        pool = _pool["pool"] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="silava-fused")
    edges = [batch * i // threads for i in range(threads + 1)]
    futures = [pool.submit(fn, edges[i], edges[i + 1], *cargs) for i in range(1, threads)]
    fn(edges[0], edges[1], *cargs)
    for f in futures:
        f.result()


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m silava.train.neurons.native``: build the library now (``scripts/bootstrap.sh``)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        path = build(force="--force" in args)
    except cbuild.BuildError as exc:
        print(f"silava native kernels: {exc}", file=sys.stderr)
        return 0   # not an error: the Python kernels are used
    print(f"silava native kernels: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
