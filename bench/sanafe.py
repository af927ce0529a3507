"""hwsim's Loihi cost model against SANA-FE (sanafe 2.2.9) on the same spikes; prints the table of bench/README.md.

For each network: export it to SANA-FE (hwsim/sanafe.py), run it on SANA-FE's bundled Loihi
architecture (timing model ``detailed``, and ``simple`` for the time), and evaluate hwsim's cost
model on SANA-FE's own spike rasters with (a) hwsim's built-in ``sanafe`` constant set (SANA-FE's
arch/loihi.yaml at commit a6167a2) and (b) the numbers of the installed sanafe's examples/loihi.yaml.
Energies are dynamic (SANA-FE's Loihi file has no static power), per time step, averaged over
samples and the T + L steps of a sample.

    .venv/bin/python bench/sanafe.py                 # the table (~2-4 min on 2 busy cores)
    .venv/bin/python bench/sanafe.py --quick         # two small networks, 2 samples
    .venv/bin/python bench/sanafe.py --json out.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# This file is named like the `sanafe` package: drop its folder from the import path so that
# `import sanafe` finds the package, not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def exported_lif(sizes, steps, seed):
    """A network exported the way `silava export` does it: a random CUBA-LIF SpArchNet (active BatchNorm)
    folded and quantized with the default settings."""
    import torch

    from silava.core import netfile
    from silava.export.fold import fold_model
    from silava.export.quantize import quantize_network
    from silava.train.model import SpArchNet, active_batchnorm

    torch.manual_seed(seed)
    model = SpArchNet(sizes[0], list(sizes[1:-1]), sizes[-1], "lif")
    active_batchnorm(model, torch.Generator().manual_seed(seed + 1))
    meta = netfile.Meta(steps=steps, n_inputs=sizes[0], n_classes=sizes[-1], source_neuron="lif")
    net, _ = quantize_network(fold_model(model), meta=meta)
    return net


def cases(quick: bool):
    from silava.export.synth import random_network

    out = [
        ("exported CUBA-LIF 32-64-64-8 + LI readout", lambda: exported_lif((32, 64, 64, 8), 40, 0), 1024, 0.2),
        ("synth CUBA 40-60-40-10, all spiking, 8 neurons/core",
         lambda: random_network("CUBA", [40, 60, 40, 10], steps=40, seed=1, readout=False), 8, 0.2),
    ]
    if not quick:
        out += [
            ("synth CUBA 64-96-64-10 + LI readout", lambda: random_network("CUBA", [64, 96, 64, 10], steps=50,
                                                                          seed=1), 1024, 0.2),
            ("synth CUBA 64-96-64-10 + LI readout, input rate 0.05",
             lambda: random_network("CUBA", [64, 96, 64, 10], steps=50, seed=1), 1024, 0.05),
            ("synth CUBA 140-256-256-20 + LI readout, 64 neurons/core",
             lambda: random_network("CUBA", [140, 256, 256, 20], steps=30, seed=2), 64, 0.1),
        ]
    return out


def pct(a: float) -> str:
    return "–" if a is None else f"{100 * a:+.1f} %"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--samples", type=int, default=None, help="samples per network (default 4, quick 2)")
    p.add_argument("--json", help="write every comparison here")
    args = p.parse_args(argv)
    from silava.export.synth import random_inputs, random_network
    from silava.hwsim import sanafe as sf

    if not sf.available():
        print("sanafe is not installed: pip install sanafe==2.2.9", file=sys.stderr)
        return 2
    samples = args.samples or (2 if args.quick else 4)
    installed = sf.loihi_yaml_constants()
    rows, results = [], []
    for name, make, per_core, rate in cases(args.quick):
        net = make()
        x = random_inputs(net, samples, seed=7, rate=rate)
        start = time.perf_counter()
        a = sf.compare(net, x, constants="sanafe", neurons_per_core=per_core)
        b = sf.compare(net, x, constants=installed, neurons_per_core=per_core)
        simple = sf.compare(net, x, constants="sanafe", neurons_per_core=per_core, timing_model="simple")
        wall = time.perf_counter() - start
        s, h, hi = a["sanafe"], a["hwsim"], b["hwsim"]
        rows.append([name, f"{a['cores']} / {a['tiles']}", f"{samples} × {a['steps_per_sample']}",
                     f"{s['energy_pj_per_step'] / 1e3:.2f}", f"{h['energy_pj_per_step'] / 1e3:.2f}",
                     pct(a["hwsim_minus_sanafe"]["energy_pj_per_step"]), f"{hi['energy_pj_per_step'] / 1e3:.2f}",
                     pct(b["hwsim_minus_sanafe"]["energy_pj_per_step"]),
                     f"{s['time_ns_per_step'] / 1e3:.2f} / {simple['sanafe']['time_ns_per_step'] / 1e3:.2f}",
                     f"{h['time_ns_per_step'] / 1e3:.2f}", pct(a["hwsim_minus_sanafe"]["time_ns_per_step"]),
                     f"{hi['time_ns_per_step'] / 1e3:.2f}", pct(b["hwsim_minus_sanafe"]["time_ns_per_step"]),
                     " / ".join(f"{v:.3f}" for v in a["spikes"]["agreement_per_layer"])])
        results.append({"network": name, "neurons_per_core": per_core, "input_rate": rate, "sanafe_set": a,
                        "installed_set": b, "simple_timing": simple, "wall_s": wall})
        parts = {k: (a["sanafe"][k], a["hwsim"][k], b["hwsim"][k]) for k in
                 ("soma_pj_per_sample", "synapse_pj_per_sample", "network_pj_per_sample", "hops_per_sample")}
        print(f"{name}: {wall:.1f} s; per sample (SANA-FE / hwsim sanafe / hwsim installed): "
              + ", ".join(f"{k} {v[0]:.4g} / {v[1]:.4g} / {v[2]:.4g}" for k, v in parts.items()), file=sys.stderr)
    for kind in ("SILIF", "CSILIF"):
        reason = sf.expressible(random_network(kind, [8, 6, 3], steps=2, seed=0))
        rows.append([f"{kind} (any)", "–", "–", "not expressible", "", "", "", "", "", "", "", "", "", ""])
        print(f"{kind}: {reason}", file=sys.stderr)
    header = ["network", "cores / tiles", "samples × steps", "SANA-FE nJ/step", "hwsim `sanafe` nJ/step", "Δ",
              "hwsim installed-yaml nJ/step", "Δ", "SANA-FE µs/step (detailed / simple)", "hwsim `sanafe` µs/step",
              "Δ vs detailed", "hwsim installed-yaml µs/step", "Δ vs detailed", "spike agreement with hwsim (per layer)"]
    print(f"sanafe {sf.version()}; hwsim's cost model on SANA-FE's own spikes; Δ = hwsim / SANA-FE − 1")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if args.json:
        from silava.core.cliutil import json_safe
        from silava.core.fileio import write_json_atomic

        write_json_atomic(args.json, json_safe(results))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
