"""Simulation speed: hwsim (numpy, batched) vs Lava fixed_pt, and our SiLIF vs Lava's own LIF.

    python bench/sim_speed.py [--steps 250] [--hwsim-batch 64 1024] [--no-lava] [--lava-samples 6] [--repeat 3] [--json FILE]

Networks (random, from ``export.synth.random_network``, seed 1), 140-128-128-20, T = 250:

* ``silif``: SILIF hidden layers + LI readout — the network measured against hwsim;
* ``lif``: the same shape with CUBA hidden layers, i.e. Lava's own ``LIFReset`` process
  (+ the same Dense, source, LI readout and output taps), to isolate the cost of our
  SILIF ProcessModel against Lava's LIF model.

Throughput is in sample-steps/s (samples × T per second of wall time; T = logical steps, so
the L extra Lava steps per sample period are paid by Lava). hwsim: ``simulate`` on a batch
(logical timeline). **Floor**: the same network's dense products alone, in numpy on the same batch
(every layer's input for all steps and samples, time-major float32 — the source payloads, then the
spikes hwsim produced — times the layer's float32 weights, one ``matmul`` per layer, as hwsim's
Dense does): what any simulator of this network computes at least; reported as hwsim / floor
(time ratio) at each ``--hwsim-batch``. Lava: one network (:func:`lava_models.builder.build_network`), the first
sample period is a warm-up (compile, process start), then ``lava-samples − 1`` periods are
timed, output draining included. Each measurement is the best of ``--repeat`` runs (the
machine is shared and noisy), the two Lava networks are measured alternately.
Results are recorded in bench/README.md ("sim_speed").
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

SIZES = [140, 128, 128, 20]


def _best(fn, repeat: int) -> tuple[float, float]:
    """``(wall, cpu)``: the smallest wall time and the smallest process CPU time (all threads) of ``fn()``."""
    wall = cpu = np.inf
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu


def hwsim_seconds(net, x: np.ndarray, repeat: int) -> tuple[float, float]:
    """Best ``(wall, cpu)`` seconds of ``hwsim.simulate`` on the batch ``x``."""
    from silava.hwsim.simulate import simulate

    return _best(lambda: simulate(net, x, timeline="logical"), repeat)


def hwsim_rate(net, x: np.ndarray, repeat: int) -> float:
    """Best sample-steps/s (wall) of ``hwsim.simulate`` on the batch ``x``."""
    return x.shape[0] * x.shape[1] / hwsim_seconds(net, x, repeat)[0]


def dense_inputs(net, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's Dense input for the whole batch, time-major float32 ``[T·B, F]``: the source
    payloads (binary inputs: ``x != 0``), then the spikes hwsim produced (one untimed run)."""
    from silava.hwsim.simulate import simulate

    sim = simulate(net, x, timeline="logical")
    steps = x.shape[1]
    first = (x != 0).transpose(1, 0, 2).reshape(steps * len(x), -1).astype(np.float32)
    rest = [s.transpose(1, 0, 2).reshape(steps * len(x), -1).astype(np.float32) for s in sim.spikes]
    return [first, *rest[:len(net.layers) - 1]]


def floor_seconds(net, x: np.ndarray, repeat: int) -> tuple[float, float]:
    """Best ``(wall, cpu)`` seconds of the network's dense products alone on the batch ``x`` (docstring)."""
    inputs = dense_inputs(net, x)
    weights = [np.ascontiguousarray(layer.weight.astype(np.float32).T) for layer in net.layers]

    def products() -> None:
        for inp, w in zip(inputs, weights):
            np.matmul(inp, w)
    return _best(products, repeat)


def lava_rate(net, x: np.ndarray) -> tuple[float, float]:
    """``(sample-steps/s, first-period seconds)`` of Lava fixed_pt on ``x`` (first sample = warm-up)."""
    from silava import lava_models  # noqa: F401
    from silava.lava_models.builder import build_network

    lnet = build_network(net, "fixed_pt", inputs=x, buffer_steps=lnet_steps(net, len(x)))
    P = lnet.period
    with lnet.session(timeout_s=1200) as session:
        t0 = time.perf_counter()
        session.run(P)
        lnet.read(P)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        session.run((len(x) - 1) * P)
        lnet.read((len(x) - 1) * P)
        wall = time.perf_counter() - t0
    return (len(x) - 1) * x.shape[1] / wall, warm


def lnet_steps(net, n: int) -> int:
    from silava.lava_models.builder import period

    return n * period(net)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--hwsim-batch", type=int, nargs="+", default=[64, 1024],
                   help="hwsim batch sizes (default 64 1024)")
    p.add_argument("--no-lava", action="store_true", help="hwsim and its floor only")
    p.add_argument("--lava-samples", type=int, default=6)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", help="write the results as JSON")
    args = p.parse_args(argv)

    from silava.export.synth import random_inputs, random_network

    silif = random_network("SILIF", SIZES, args.steps, seed=1)
    lif = random_network("CUBA", SIZES, args.steps, seed=1)
    x = random_inputs(silif, max(*args.hwsim_batch, args.lava_samples), seed=2)
    load0 = os.getloadavg()
    res: dict = {"sizes": SIZES, "steps": args.steps, "hwsim_batch": args.hwsim_batch,
                 "lava_samples": args.lava_samples, "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                 "python": platform.python_version(), "numpy": np.__version__, "load_start": load0}
    print(f"load average at start: {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f}")
    res["hwsim"] = {}
    for batch in args.hwsim_batch:
        xb = x[:batch]
        work = xb.shape[0] * xb.shape[1]
        (hw_w, hw_c), (fl_w, fl_c) = hwsim_seconds(silif, xb, args.repeat), floor_seconds(silif, xb, args.repeat)
        res["hwsim"][batch] = {"sample_steps_per_s": work / hw_w, "floor_sample_steps_per_s": work / fl_w,
                               "hwsim_over_floor": hw_w / fl_w, "hwsim_cpu_s": hw_c, "floor_cpu_s": fl_c,
                               "hwsim_over_floor_cpu": hw_c / fl_c}
        print(f"hwsim (SILIF, batch {batch}): {work / hw_w:10,.0f} sample-steps/s; floor (dense products alone) "
              f"{work / fl_w:10,.0f}; hwsim / floor = {hw_w / fl_w:.2f}x wall, {hw_c / fl_c:.2f}x CPU (goal <= 2; "
              f"CPU {hw_c * 1e3:.0f} vs {fl_c * 1e3:.0f} ms)")
    res["hwsim_sample_steps_per_s"] = res["hwsim"][args.hwsim_batch[0]]["sample_steps_per_s"]
    if args.no_lava:
        res["load_end"] = os.getloadavg()
        print(f"load average at the end: {res['load_end'][0]:.1f} / {res['load_end'][1]:.1f} / {res['load_end'][2]:.1f}")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
        return 0

    rates = {"silif": [], "lif": []}
    warm = {"silif": [], "lif": []}
    for _ in range(args.repeat):
        for name, net in (("silif", silif), ("lif", lif)):
            r, w = lava_rate(net, x[:args.lava_samples])
            rates[name].append(r)
            warm[name].append(w)
    for name in rates:
        res[f"lava_{name}_sample_steps_per_s"] = max(rates[name])
        res[f"lava_{name}_runs"] = rates[name]
        res[f"lava_{name}_first_period_s"] = min(warm[name])
    P = args.steps + len(SIZES) - 1
    for name, label in (("silif", "SILIF (ours)"), ("lif", "LIF (Lava's LIFReset)")):
        r = res[f"lava_{name}_sample_steps_per_s"]
        print(f"Lava fixed_pt, {label:<22} {r:12,.0f} sample-steps/s  ({r * P / args.steps:,.0f} Lava steps/s; "
              f"runs {', '.join(f'{v:,.0f}' for v in rates[name])}; first period {res[f'lava_{name}_first_period_s']:.2f} s)")
    res["ratio_hwsim_over_lava_silif"] = res["hwsim_sample_steps_per_s"] / res["lava_silif_sample_steps_per_s"]
    res["ratio_silif_over_lif"] = res["lava_silif_sample_steps_per_s"] / res["lava_lif_sample_steps_per_s"]
    for batch, h in res["hwsim"].items():
        print(f"hwsim (batch {batch}) / Lava SILIF:  {h['sample_steps_per_s'] / res['lava_silif_sample_steps_per_s']:8.0f}x"
              f"   (goal >= 200x at batch 64)")
    print(f"Lava SILIF / Lava LIF: {res['ratio_silif_over_lif']:6.2f}x   (goal >= 0.8x)")
    res["load_end"] = os.getloadavg()
    print(f"load average at the end: {res['load_end'][0]:.1f} / {res['load_end'][1]:.1f} / {res['load_end'][2]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
