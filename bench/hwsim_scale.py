"""Benchmark: how the hwsim pipeline (simulate -> counts -> cost -> report) scales.

A random SILIF network 140-512-512-20 (``export.synth``), T = 250 steps, over 1, 100 and
1000 samples: throughput of each stage in sample-steps per second and its peak traced memory
(``tracemalloc``, which numpy reports its buffers to; measured in a second, untimed pass),
plus the process's peak RSS. ``report`` is ``build_report`` on the simulation result (it
recounts), ``write`` renders the four PNG plots and writes the files. Then
linearity: stage times for 100 -> 1000 samples (should grow ~10x), and counts/cost time and
the estimated dynamic energy against the spike count when the input rate changes (should be
linear in the events: the ratios are printed).

Usage::

    .venv/bin/python bench/hwsim_scale.py                      # 1, 100, 1000 samples
    .venv/bin/python bench/hwsim_scale.py --samples 1 20 --rates 0.1 0.2   # quick run
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from silava.export.synth import random_inputs, random_network  # noqa: E402
from silava.hwsim.cost import estimate_cost  # noqa: E402
from silava.hwsim.counts import counts_from_sim  # noqa: E402
from silava.hwsim.mapper import map_network  # noqa: E402
from silava.hwsim.report import build_report, write_report  # noqa: E402
from silava.hwsim.simulate import simulate  # noqa: E402


def timed(fn, *args, trace: bool = False, **kw):
    """(result, seconds, peak traced MiB or nan) of one call; time is measured without tracemalloc."""
    if trace:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    dt = time.perf_counter() - t0
    timed.cpu = time.process_time() - c0          # CPU seconds of the last call (all threads)
    peak = float("nan")
    if trace:
        peak = (tracemalloc.get_traced_memory()[1] - base) / 2**20
        tracemalloc.stop()
    return out, dt, peak


def run(net, x, trace: bool = False, with_plots: bool = False) -> dict:
    """Every stage on inputs x; seconds (and peak traced MiB if ``trace``) per stage."""
    res = {}
    sim, res["simulate_s"], res["simulate_mib"] = timed(simulate, net, x, trace=trace)
    res["simulate_cpu"] = timed.cpu
    mapping = map_network(net)
    counts, res["counts_s"], res["counts_mib"] = timed(counts_from_sim, net, x, sim, mapping, trace=trace)
    res["counts_cpu"] = timed.cpu
    cost, res["cost_s"], res["cost_mib"] = timed(estimate_cost, counts, "davies2018", trace=trace)
    res["cost_cpu"] = timed.cpu
    report, res["report_s"], res["report_mib"] = timed(build_report, net, sim, "davies2018", mapping, x=x,
                                                       trace=trace)
    res["report_cpu"] = timed.cpu
    if with_plots:
        with tempfile.TemporaryDirectory() as tmp:
            _, res["write_s"], _ = timed(write_report, report, Path(tmp) / "r")
    res["spikes"] = float(sum(lc.output_events.sum() for lc in counts.layers if lc.spiking))
    res["sops"] = float(sum(lc.effective_ops.sum() for lc in counts.layers))
    res["dynamic_pj"] = float(cost.dynamic_energy_pj.sum())
    res["time_ns"] = float(cost.step_time_ns.sum())
    return res


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.4],
                        help="input spike rates for the spike-count sweep")
    parser.add_argument("--sweep-samples", type=int, default=100)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per size; the fastest is reported "
                        "(the machine is shared and noisy)")
    args = parser.parse_args(argv)

    net = random_network("SILIF", [140, 512, 512, 20], steps=args.steps, seed=0)
    mapping = map_network(net)
    print(f"# hwsim scale: SILIF 140-512-512-20, T={args.steps}, {mapping.n_cores} cores; "
          f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    stages = ("simulate", "counts", "cost", "report")
    print("\nwall s / CPU s (thousand sample-steps per wall second, peak traced MiB); fastest of --repeat runs")
    print("\n| samples | " + " | ".join(f"{s}" for s in stages)
          + " | write (plots) s |")
    print("|---|" + "---|" * (len(stages) + 1))
    results = {}
    for n in args.samples:
        x = random_inputs(net, n, seed=1)
        runs = [run(net, x, with_plots=True) for _ in range(max(1, args.repeat))]   # times, no tracemalloc
        r = {k: min(rr[k] for rr in runs) if k.endswith(("_s", "_cpu")) else runs[0][k] for k in runs[0]}
        mem = run(net, x, trace=True)                           # peak memory per stage, separately
        r.update({k: v for k, v in mem.items() if k.endswith("_mib")})
        results[n] = r
        ss = n * args.steps
        cells = [f"{r[s + '_s']:.3f} / {r[s + '_cpu']:.3f} ({ss / r[s + '_s'] / 1e3:.1f}, {r[s + '_mib']:.0f})"
                 for s in stages]
        print(f"| {n} | " + " | ".join(cells) + f" | {r['write_s']:.2f} |")
        del x
    if len(args.samples) >= 2:
        a, b = sorted(args.samples)[-2:]
        print(f"\nscaling {a} -> {b} samples (x{b / a:g}): "
              + ", ".join(f"{s} wall x{results[b][s + '_s'] / results[a][s + '_s']:.2f} "
                          f"CPU x{results[b][s + '_cpu'] / max(results[a][s + '_cpu'], 1e-9):.2f}, "
                          f"memory x{results[b][s + '_mib'] / max(results[a][s + '_mib'], 1e-9):.2f}"
                          for s in stages))

    print(f"\n# spike-count sweep, {args.sweep_samples} samples: input rate -> events, counts+cost time, "
          "estimated dynamic energy")
    print("| input rate | hidden spikes | effective SOPs | counts+cost s (wall / CPU) | dynamic energy µJ/sample "
          "| energy / SOP pJ | time / SOP ns |")
    print("|---|---|---|---|---|---|---|")
    sweep = []
    for rate in args.rates:
        x = random_inputs(net, args.sweep_samples, seed=2, rate=rate)
        runs = [run(net, x) for _ in range(max(1, args.repeat))]
        r = {k: min(rr[k] for rr in runs) if k.endswith(("_s", "_cpu")) else runs[0][k] for k in runs[0]}
        sweep.append((rate, r))
        print(f"| {rate} | {r['spikes']:.3g} | {r['sops']:.3g} | {r['counts_s'] + r['cost_s']:.3f} / "
              f"{r['counts_cpu'] + r['cost_cpu']:.3f} "
              f"| {r['dynamic_pj'] / args.sweep_samples / 1e6:.1f} | {r['dynamic_pj'] / r['sops']:.2f} "
              f"| {r['time_ns'] / r['sops']:.3f} |")
    if len(sweep) >= 2:
        (r0, a), (r1, b) = sweep[0], sweep[-1]
        print(f"\nrate {r0} -> {r1}: spikes x{b['spikes'] / a['spikes']:.2f}, SOPs x{b['sops'] / a['sops']:.2f}, "
              f"dynamic energy x{b['dynamic_pj'] / a['dynamic_pj']:.2f}, estimated time x{b['time_ns'] / a['time_ns']:.2f}, "
              f"counts+cost CPU time x{(b['counts_cpu'] + b['cost_cpu']) / (a['counts_cpu'] + a['cost_cpu']):.2f}")
        sops = np.array([r["sops"] for _, r in sweep])
        energy = np.array([r["dynamic_pj"] for _, r in sweep])
        slope, icpt = np.polyfit(sops, energy, 1)
        resid = np.max(np.abs(energy - (slope * sops + icpt)) / energy)
        print(f"linear fit over the sweep: dynamic energy = {icpt / args.sweep_samples / 1e6:.2f} µJ/sample "
              f"+ {slope:.2f} pJ x effective SOPs (max relative residual {resid:.1e}); the intercept is the "
              "neuron updates of every step, the slope the synaptic op plus its share of spikes and messages")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the process: {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
