"""The closing numbers of the interop work (issue 11), with their mismatch counts.

1. "An ONNX file of the integer network matches hwsim bit for bit": random networks of every kind (binary and
   graded inputs, LI or spiking readout) and full-range stress networks, through ``onnx_io.integer_model`` in
   onnxruntime against ``hwsim.simulate``: elements compared and mismatches. Also the float graph against the
   torch model (max |difference|, spike mismatches).
2. "A snnTorch user's NIR file runs on our Lava processes": a snnTorch network (Leaky, Synaptic, Linear)
   exported by snnTorch's own ``export_to_nir``, imported with ``silava.export.nir_io``; spike mismatches of
   the imported float network against snnTorch, the fixed-point agreement, and Lava ``fixed_pt`` against
   hwsim on the same inputs (needs lava-nc).

    .venv/bin/python bench/interop.py            # ~1-2 min on 2 cores
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def onnx_numbers() -> None:
    import torch

    from silava.export import onnx_io
    from silava.export.fold import fold_model
    from silava.export.synth import full_range_inputs, full_range_network, random_inputs, random_network
    from silava.hwsim.simulate import simulate
    from silava.train.model import SpArchNet, active_batchnorm

    nets = []
    for kind in ("SILIF", "CSILIF", "CUBA"):
        for bits in (0, 8):
            for readout in (True, False):
                for seed in range(4):
                    net = random_network(kind, [24, 20, 16, 5], steps=30, seed=seed, input_message_bits=bits,
                                         readout=readout)
                    nets.append((net, random_inputs(net, 6, seed=seed + 50)))
    for seed in range(40):
        net = full_range_network(seed, kinds=tuple(onnx_io.INTEGER_STEPS))   # the kinds ONNX holds
        nets.append((net, full_range_inputs(net, 4, seed + 100)))
    compared = bad = 0
    counters: dict = {}
    start = time.perf_counter()
    for net, x in nets:
        sim = simulate(net, x)
        got = onnx_io.run(onnx_io.integer_model(net), x)
        bad += int(np.sum(got["readout"] != sim.readout))
        compared += sim.readout.size
        for i, s in enumerate(sim.spikes[: len(net.layers) - 1]):
            bad += int(np.sum(got[f"spikes_{i}"] != s))
            compared += s.size
        for k, v in sim.counters["total"].items():
            counters[k] = counters.get(k, 0) + v
    print(f"ONNX integer graph vs hwsim: {len(nets)} networks, {compared:,} readout values and spikes compared, "
          f"{bad} mismatches (hwsim counters over these runs: {counters}; {time.perf_counter() - start:.1f} s)")
    worst, flips = 0.0, 0
    for neuron in ("silif", "csilif", "lif", "adlif", "cadlif"):
        for seed in range(3):
            torch.manual_seed(seed)
            model = SpArchNet(12, [20, 14], 5, neuron)
            active_batchnorm(model, torch.Generator().manual_seed(seed + 1))
            x = (torch.rand(4, 40, 12, generator=torch.Generator().manual_seed(seed + 10)) < 0.3).float()
            with torch.no_grad():
                ref = model(x, record=True)
            got = onnx_io.run(onnx_io.float_model(fold_model(model)), x.numpy())
            worst = max(worst, float(np.abs(got["readout"] - ref["readout_v"].numpy()).max()),
                        float(np.abs(got["out"] - ref["out"].numpy()).max()))
            flips += sum(int(np.sum(got[f"spikes_{i}"] != s.numpy())) for i, s in enumerate(ref["spikes"]))
    print(f"ONNX float32 graph vs the torch model: 15 random models (5 neuron types x 3 seeds), max |difference| "
          f"{worst:.2e} (readout v and sum_t softmax), {flips} spike mismatches")


def nir_numbers(tmp: Path) -> None:
    import nir
    import snntorch as snn
    import torch
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    from silava.export import nir_io
    from silava.hwsim.simulate import simulate

    f, h1, h2, c, steps = 40, 32, 24, 6, 50
    for leaky_reset, reset in (("zero", {"*": "zero"}), ("subtract", {"*": "subtract", "3": "zero"})):
        torch.manual_seed(0)

        def uniform(n, lo, hi):
            return torch.empty(n).uniform_(lo, hi)

        kw = dict(init_hidden=True, reset_mechanism=leaky_reset)
        net = torch.nn.Sequential(
            torch.nn.Linear(f, h1), snn.Leaky(beta=uniform(h1, 0.8, 0.95), threshold=uniform(h1, 0.8, 1.2), **kw),
            torch.nn.Linear(h1, h2, bias=False),
            snn.Synaptic(alpha=uniform(h2, 0.5, 0.9), beta=uniform(h2, 0.7, 0.95), threshold=torch.ones(h2),
                         init_hidden=True, reset_mechanism="zero", reset_delay=False),
            torch.nn.Linear(h2, c), snn.Leaky(beta=uniform(c, 0.8, 0.95), threshold=torch.ones(c), output=True, **kw))
        with torch.no_grad():
            for m in net:
                if isinstance(m, torch.nn.Linear):
                    m.weight.mul_(2.0)
        path = tmp / f"snn_{leaky_reset}.nir"
        nir.write(str(path), export_to_nir(net, torch.zeros(f)))
        x = (np.random.default_rng(3).random((32, steps, f)) < 0.2).astype(np.int64)
        utils.reset(net)
        ref: list[list] = [[], [], []]
        with torch.no_grad():
            for t in range(steps):
                hcur, k = torch.tensor(x[:, t], dtype=torch.float32), 0
                for m in net:
                    hcur = m(hcur)
                    if isinstance(m, snn.SpikingNeuron):
                        hcur = hcur[0] if isinstance(hcur, tuple) else hcur
                        ref[k].append(hcur.numpy().copy())
                        k += 1
        spikes = [np.stack(r, 1) for r in ref]
        q, info, _ = nir_io.import_nir(path, dt=1e-4, steps=steps, reset=reset)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from folded_reference import simulate_folded

        from silava.export.fold import folded_from_network

        fl = simulate_folded(folded_from_network(q), x.astype(np.float64))
        float_bad = sum(int(np.sum(a != b)) for a, b in zip(fl["spikes"], spikes))
        sim = simulate(q, x)
        agree = [float(np.mean(a == b)) for a, b in zip(sim.spikes, spikes)]
        print(f"snnTorch NIR ({leaky_reset} reset; kinds {[layer.neuron_type for layer in q.layers]}): imported float "
              f"network vs snnTorch {float_bad} spike mismatches of {sum(s.size for s in spikes):,}; hwsim (fixed point) "
              f"agreement with snnTorch per layer {[round(a, 4) for a in agree]}")
        try:
            from silava.lava_models.network import run_samples
        except ImportError:
            print("  Lava: lava-nc not installed, skipped")
            continue
        xs = x[:4, :20]
        q.meta.steps = 20
        lava = run_samples(q, xs, record=True, progress=False, timeout_s=600)
        sim20 = simulate(q, xs)
        outs = [*lava["spikes"], lava["readout"]]
        bad = sum(int(np.sum(a != b)) for a, b in zip(outs, sim20.spikes))
        agree = [float(np.mean(a == b[:4, :20])) for a, b in zip(outs, spikes)]
        print(f"  Lava fixed_pt on the imported file (4 samples x 20 steps): {bad} spike mismatches with hwsim of "
              f"{sum(o.size for o in outs):,}; agreement with snnTorch per layer {[round(a, 4) for a in agree]}")


def main() -> int:
    import tempfile

    onnx_numbers()
    with tempfile.TemporaryDirectory() as tmp:
        nir_numbers(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
