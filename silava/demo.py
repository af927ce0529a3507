"""`silava demo` / `make demo`: the end-to-end demo.

Until the full pipeline lands this runs the smoke pipeline: a random fixed-point
Dense -> LIF network in Lava's CPU simulator, checked against the same network in
plain numpy integer arithmetic.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

import numpy as np


def _numpy_lif(data, weights, du, dv, vth, bias):
    u = np.zeros(weights.shape[0], np.int64)
    v = np.zeros_like(u)
    prev = np.zeros(data.shape[0], np.int64)
    out = np.zeros((weights.shape[0], data.shape[1]), np.int64)
    for t in range(data.shape[1]):
        p = u * (4096 - du - 1)
        u = np.sign(p) * (np.abs(p) >> 12) + ((weights @ prev) << 6)
        p = v * (4096 - dv)
        v = np.clip(np.sign(p) * (np.abs(p) >> 12) + u + (bias << 6), -(2**23 - 1), 2**23 - 1)
        out[:, t] = v > (vth << 6)
        v[out[:, t] > 0] = 0
        prev = data[:, t].astype(np.int64)
    return out


def smoke(steps: int = 100, seed: int = 0) -> int:
    from lava_models import LavaMissingError, require_lava

    try:
        require_lava()
    except LavaMissingError as exc:
        print(f"silava demo: {exc}", file=sys.stderr)
        return 2
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from lava_models.runner import run_steps, sim_config

    rng = np.random.default_rng(seed)
    data = (rng.random((32, steps)) < 0.25).astype(np.int32)
    weights = rng.integers(-128, 128, (16, 32)) * 2
    params = dict(du=409, dv=205, vth=300, bias=10)
    src, dense = Source(data=data), Dense(weights=weights)
    lif = LIF(shape=(16,), du=params["du"], dv=params["dv"], vth=params["vth"], bias_mant=params["bias"], bias_exp=6)
    sink = Sink(shape=(16,), buffer=steps)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    start = time.perf_counter()
    got = run_steps(lif, steps, sim_config("fixed_pt"), timeout_s=120, read=lambda: sink.data.get())
    wall = time.perf_counter() - start
    ref = _numpy_lif(data, weights, **params)
    same = bool(np.array_equal(got.astype(np.int64), ref))
    print(f"smoke: 32 -> 16 Dense/LIF network, {steps} steps in Lava fixed_pt ({wall:.2f} s): "
          f"{int(got.sum())} spikes; numpy integer reference {int(ref.sum())} spikes; identical: {same}")
    return 0 if same else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="silava demo", description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    return smoke(args.steps)


if __name__ == "__main__":
    sys.exit(main())
