"""Simulation speed: hwsim (numpy, batched) vs Lava fixed_pt, and our SiLIF vs Lava's own LIF.

    python bench/sim_speed.py [--steps 250] [--hwsim-batch 64] [--lava-samples 6] [--repeat 3] [--json FILE]

Networks (random, from ``export.synth.random_network``, seed 1), 140-128-128-20, T = 250:

* ``silif``: SILIF hidden layers + LI readout — the network measured against hwsim;
* ``lif``: the same shape with CUBA hidden layers, i.e. Lava's own ``LIFReset`` process
  (+ the same Dense, source, LI readout and output taps), to isolate the cost of our
  SILIF ProcessModel against Lava's LIF model.

Throughput is in sample-steps/s (samples × T per second of wall time; T = logical steps, so
the L extra Lava steps per sample period are paid by Lava). hwsim: ``simulate`` on a batch
(logical timeline). Lava: one network (:func:`lava_models.builder.build_network`), the first
sample period is a warm-up (compile, process start), then ``lava-samples − 1`` periods are
timed, output draining included. Each measurement is the best of ``--repeat`` runs (the
machine is shared and noisy), the two Lava networks are measured alternately.
Results are recorded in bench/README.md ("sim_speed").
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

SIZES = [140, 128, 128, 20]


def hwsim_rate(net, x: np.ndarray, repeat: int) -> float:
    """Best sample-steps/s of ``hwsim.simulate`` on the batch ``x``."""
    from silava.hwsim.simulate import simulate

    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        simulate(net, x, timeline="logical")
        best = min(best, time.perf_counter() - t0)
    return x.shape[0] * x.shape[1] / best


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
    p.add_argument("--hwsim-batch", type=int, default=64)
    p.add_argument("--lava-samples", type=int, default=6)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", help="write the results as JSON")
    args = p.parse_args(argv)

    from silava.export.synth import random_inputs, random_network

    silif = random_network("SILIF", SIZES, args.steps, seed=1)
    lif = random_network("CUBA", SIZES, args.steps, seed=1)
    x = random_inputs(silif, max(args.hwsim_batch, args.lava_samples), seed=2)
    res: dict = {"sizes": SIZES, "steps": args.steps, "hwsim_batch": args.hwsim_batch,
                 "lava_samples": args.lava_samples, "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                 "python": platform.python_version()}

    res["hwsim_sample_steps_per_s"] = hwsim_rate(silif, x[:args.hwsim_batch], args.repeat)
    print(f"hwsim (SILIF, batch {args.hwsim_batch}):  {res['hwsim_sample_steps_per_s']:12,.0f} sample-steps/s")

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
    print(f"hwsim / Lava SILIF:  {res['ratio_hwsim_over_lava_silif']:8.0f}x   (goal >= 200x)")
    print(f"Lava SILIF / Lava LIF: {res['ratio_silif_over_lif']:6.2f}x   (goal >= 0.8x)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
