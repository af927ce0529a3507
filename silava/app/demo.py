"""``make demo`` / ``silava demo``: the whole pipeline end to end on a built-in task, on the CPU.

    silava demo                         # randman, C-SiLIF 2x128, about a minute on one CPU core
    silava demo --quick                 # tiny sizes, seconds (what the tests run)
    silava demo --task spoken-digits    # espeak-ng spoken digits (needs the espeak-ng program)
    silava demo --qat-epochs 3          # also quantization-aware fine-tuning before the export
    silava demo --smoke                 # only the Lava smoke check (Dense -> LIF vs numpy)

Numbered stages, each timed:

1. data    — build the task (:func:`silava.core.data.get_task`; randman is generated in memory,
             spoken-digits synthesised with espeak-ng and cached under ``$SILAVA_CACHE``);
2. train   — a small C-SiLIF SpArch network (:func:`train.train.train_run`): ``ckpt.pt``,
             ``metrics.json/csv``, ``training_curve.png``;
   (2b. QAT — only with ``--qat-epochs N``: :func:`train.train.qat_run` into ``qat/``);
3. export  — Loihi 2 fixed point (:func:`export.to_lava.export_checkpoint`): ``model.net``,
             ``model.quant.json/txt``;
4. hwsim   — bit-exact simulation of the test split (:func:`hwsim.simulate.simulate`) and the
             Loihi 2 cost report (:func:`hwsim.report.build_report`): ``hardware/``;
5. Lava    — the same network as Lava processes, fixed_pt models on Lava's CPU simulator, on a
             subset (:func:`silava.app.compare.run_lava`);
6. compare — float vs fixed point vs Lava (:func:`silava.app.compare.compare`): ``compare.json/png``.

Then it prints the comparison table, the hardware summary and the output folder (default
``runs/demo``, ``--out``), and writes the same text to ``<out>/summary.txt``. A re-run
overwrites the demo's files in that folder. Lava missing is a note (the rest still runs).
Bad input (unknown task, espeak-ng missing for spoken-digits, an unusable ``--out``, bad
numbers): one line on stderr, exit code 2.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from silava.core.cliutil import command_name, one_line_parser, run_command

PROG = "silava demo"
TASKS = ("randman", "spoken-digits")


@dataclass
class Preset:
    """Sizes of one demo run (task options, model, training, Lava subset)."""

    data: dict[str, Any]
    hidden: int
    epochs: int
    batch_size: int = 128
    lava_samples: int = 100
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


#: Default sizes. randman: a harder Randman than the CLI default (which every model solves to
#: 100 %, so float and fixed point could not differ): 20 classes on a 2-D manifold of 30 input
#: units (alpha 2), 50 steps, 300 samples per class (3600/1200/1200 train/valid/test), the
#: "randman-hard" task of bench/accuracy.py. A 2x128 C-SiLIF reaches about 92 % test accuracy
#: in 15 epochs, about 1.5 s per epoch on one CPU thread (30 s; 1-2 min on a slow or busy machine).
#: spoken-digits: 1500 samples (20 classes, 140 channels, 250 steps of 4 ms; 900/300/300), synthesised
#: once (about a minute) and cached; 2x128 C-SiLIF, 15 epochs.
PRESETS: dict[tuple[str, bool], Preset] = {
    ("randman", False): Preset(data={"n_classes": 20, "n_units": 30, "dim_manifold": 2, "alpha": 2.0,
                                     "samples_per_class": 300}, hidden=128, epochs=15, lava_samples=100),
    ("randman", True): Preset(data={"n_classes": 4, "n_units": 20, "n_steps": 30, "samples_per_class": 100},
                              hidden=32, epochs=8, batch_size=16, lava_samples=10),
    ("spoken-digits", False): Preset(data={"n_samples": 1500}, hidden=128, epochs=15, batch_size=64,
                                     lava_samples=20),
    ("spoken-digits", True): Preset(data={"n_samples": 100, "n_steps": 50}, hidden=16, epochs=1,
                                    batch_size=32, lava_samples=3),
}


class DemoError(Exception):
    """Bad input for the demo (one line: problem and fix)."""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command-line parser of ``silava demo``."""
    p = one_line_parser(DemoError, prog=prog, allow_abbrev=False,
                description="End-to-end demo: build a task, train a small C-SiLIF network on the CPU, export it to "
                            "Loihi 2 fixed point, simulate it bit-exactly with the hardware cost report, run it "
                            "in Lava, and compare float vs fixed point vs Lava.")
    p.add_argument("--task", default="randman", choices=TASKS, help="built-in task (default randman; "
                                                                      "spoken-digits needs espeak-ng)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default runs/demo, --quick: runs/demo-quick)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: the whole pipeline in seconds")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: 15 randman, 10 spoken-digits)")
    p.add_argument("--hidden", type=int, default=None, help="neurons per hidden layer (default 128; --quick 32)")
    p.add_argument("--neuron", default="csilif", help="hidden neuron type (default csilif; silif, lif, ... also work)")
    p.add_argument("--lava-samples", type=int, default=None, help="test samples run in Lava (default 100 randman, "
                                                                   "20 spoken-digits; 0 skips Lava)")
    p.add_argument("--qat-epochs", type=int, default=0, help="quantization-aware fine-tuning epochs before the "
                                                             "export (default 0: none)")
    p.add_argument("--seed", type=int, default=13, help="training seed (default 13)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: the demo's small networks gain nothing from more, and a "
                        "second thread makes training several times slower when another process keeps a core busy)")
    p.add_argument("--smoke", action="store_true", help="only the Lava smoke check (random Dense -> LIF network in "
                                                        "Lava vs numpy integer arithmetic)")
    p.add_argument("--steps", type=int, default=100, help="--smoke: time steps (default 100)")
    return p


# --------------------------------------------------------------------------- smoke check

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
    """A random fixed-point Dense -> LIF network in Lava's CPU simulator vs plain numpy integers."""
    from silava.lava_models import LavaMissingError, require_lava

    try:
        require_lava()
    except LavaMissingError as exc:
        print(f"silava demo: {exc}", file=sys.stderr)
        return 2
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from silava.lava_models.runner import run_steps, sim_config

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


# --------------------------------------------------------------------------- the demo

class Stages:
    """Numbered, timed stage lines on stdout (``[2/6] train: ...  (12.3 s)``)."""

    def __init__(self, total: int) -> None:
        self.total, self.index, self.times = total, 0, {}
        self.start = time.perf_counter()

    def begin(self, name: str, what: str) -> None:
        self.index += 1
        self.name, self.t0 = name, time.perf_counter()
        print(f"\n[{self.index}/{self.total}] {name}: {what}", flush=True)

    def end(self, result: str = "") -> None:
        dt = time.perf_counter() - self.t0
        self.times[self.name] = dt
        print(f"      {result + '  ' if result else ''}({dt:.1f} s)", flush=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def hardware_summary(report: dict[str, Any]) -> str:
    """A few lines from hwsim's report: cores, SOPs/sample, buffers, latency/step, energy/sample."""
    counts, cost = report["counts"], report["cost"]
    per = counts["total_per_sample"]
    ps = cost["per_sample"]
    step = cost["step_time_ns"]
    buf = report["buffers"]
    label = report["estimate_label"]
    return "\n".join([
        f"Loihi 2 hardware estimate (hwsim, {counts['samples']} test samples x {counts['steps']} steps; {label}):",
        f"  cores {report['mapping']['cores_used']} on {report['mapping']['chips_used']} chip(s); "
        f"{report['network']['parameters']:,} deployed parameters (weights, biases, neuron constants after "
        f"folding BatchNorm: fewer than the trainable parameters training reports); "
        f"{report['memory']['total_bytes']:,} bytes at deployed widths",
        f"  synaptic ops per sample: {per['effective_sops']:,.0f} effective (of {per['dense_sops']:,.0f} dense); "
        f"spikes per sample {per['spikes']:,.1f}; activation sparsity {counts['activation_sparsity_spiking_layers']:.3f}",
        f"  state buffers: {buf['hidden_layers']:,} in the hidden layers, {buf['all_layers']:,} in all layers",
        f"  latency: {step['mean'] / 1e3:.3g} µs per step (max {step['max'] / 1e3:.3g}), "
        f"{ps['time_ns'] / 1e3:.3g} µs per sample (estimate)",
        f"  energy per sample: {ps['energy_pj'] / 1e6:.3g} µJ (dynamic {ps['dynamic_energy_pj'] / 1e6:.3g}, "
        f"static {ps['static_energy_pj'] / 1e6:.3g}; estimate)",
    ])


def _check_args(args: argparse.Namespace) -> None:
    for flag, value, low in (("--epochs", args.epochs, 1), ("--hidden", args.hidden, 1),
                             ("--lava-samples", args.lava_samples, 0), ("--qat-epochs", args.qat_epochs, 0),
                             ("--threads", args.threads, 1), ("--steps", args.steps, 1)):
        if value is not None and value < low:
            raise DemoError(f"{flag} {value}: must be at least {low}")
    if args.task == "spoken-digits" and shutil.which("espeak-ng") is None:
        raise DemoError("--task spoken-digits needs the espeak-ng program to synthesise the digits: install it "
                        "(Debian/Ubuntu: apt-get install espeak-ng) or use --task randman")
    from silava.train.neurons import NEURONS

    spiking = sorted(k for k, cls in NEURONS.items() if getattr(cls, "spiking", True))
    if args.neuron not in spiking:
        raise DemoError(f"--neuron {args.neuron}: unknown; choose one of {', '.join(spiking)}")


def _prepare_out(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise DemoError(f"--out {path}: exists and is not a directory; choose another folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoError(f"--out {path}: cannot create ({exc.strerror or exc}); choose a writable folder") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DemoError(f"--out {path}: not writable; choose a writable folder")


def run_demo(args: argparse.Namespace) -> int:
    """The six stages (see the module docstring); returns the exit code."""
    preset = PRESETS[(args.task, bool(args.quick))]
    out = Path(args.out or ("runs/demo-quick" if args.quick else "runs/demo"))
    _prepare_out(out)
    epochs = args.epochs or preset.epochs
    hidden = args.hidden or preset.hidden
    lava_samples = preset.lava_samples if args.lava_samples is None else args.lava_samples
    qat = args.qat_epochs > 0
    stages = Stages(7 if qat else 6)
    print(f"silava demo: task {args.task}{' (quick)' if args.quick else ''}, {args.neuron} 2x{hidden} "
          f"(+ LI readout), {epochs} epochs{f' + {args.qat_epochs} QAT epochs' if qat else ''}; outputs in {out}")

    import torch

    torch.set_num_threads(args.threads)

    # 1. data ------------------------------------------------------------------------------
    stages.begin("data", f"build the {args.task} task ({', '.join(f'{k}={v}' for k, v in preset.data.items())})")
    from silava.train.data import get_task

    extra = {"progress": sys.stderr.isatty()} if args.task == "spoken-digits" else {}
    try:
        task = get_task(args.task, **preset.data, **extra)
    except (ValueError, FileNotFoundError) as exc:
        raise DemoError(f"cannot build task {args.task}: {str(exc).splitlines()[0]}") from None
    sizes = f"{len(task.train)}/{len(task.valid)}/{len(task.test)}"
    stages.end(f"{task.n_inputs} inputs, {task.n_classes} classes, {task.n_steps} steps of "
               f"{task.dt * 1e3:g} ms; train/valid/test {sizes} samples")

    # 2. train -----------------------------------------------------------------------------
    stages.begin("train", f"{args.neuron} 2x{hidden} on {torch.get_num_threads()} CPU thread(s), {epochs} epochs, "
                          f"batch {preset.batch_size}")
    from silava.train.train import build_parser as train_parser
    from silava.train.train import config_from_args, qat_run, train_run

    train_argv = ["--task", args.task, "--neuron", args.neuron, "--hidden", str(hidden), "--layers", "2",
                  "--epochs", str(epochs), "--batch-size", str(preset.batch_size), "--seed", str(args.seed),
                  "--out", str(out)] + [f"--data-opt={k}={v}" for k, v in preset.data.items()]
    train_argv += ["--threads", str(args.threads)]
    cfg = config_from_args(train_parser("silava train").parse_args(train_argv))
    summary = train_run(cfg, overwrite=True, progress=False, quiet=False)
    ckpt_path = out / "ckpt.pt"
    stages.end(f"best valid acc {summary['best_valid_acc']:.4f} (epoch {summary['best_epoch']}), test acc "
               f"{summary['test_acc']:.4f}; wrote {ckpt_path}, {out / 'training_curve.png'}")

    if qat:
        stages.begin("QAT", f"quantization-aware fine-tuning, {args.qat_epochs} epochs (forward = the chip's integer "
                            f"arithmetic)")
        from silava.train.qat import QuantSettings

        qsum = qat_run(str(ckpt_path), str(out / "qat"), QuantSettings(), epochs=args.qat_epochs, overwrite=True,
                       progress=False, quiet=False)
        ckpt_path = out / "qat" / "ckpt.pt"
        fb, fa = qsum["before_qat"]["fixed_point"], qsum["fixed_point"]
        stages.end(f"fixed-point test acc {fb['test_acc']:.4f} -> {fa['test_acc']:.4f}; wrote {ckpt_path}")

    # 3. export ----------------------------------------------------------------------------
    stages.begin("export", "quantize to Loihi 2 fixed point (8-bit weights, 12-bit decays, 24-bit states)")
    from silava.export.report import report_text
    from silava.export.to_lava import export_checkpoint

    exported = export_checkpoint(ckpt_path, output=str(out / "model.net"))
    net = exported.network
    text = report_text(exported.report)
    print("\n".join("      " + line for line in text.splitlines() if line.strip() and not line.startswith("rounding")))
    stages.end(f"wrote {exported.net}, {exported.json}, {exported.text}")

    # 4. hwsim + hardware report -------------------------------------------------------------
    stages.begin("hwsim", "bit-exact integer simulation of the test split + Loihi 2 hardware cost report")
    from silava.hwsim.report import build_report, write_report
    from silava.hwsim.simulate import simulate
    from silava.app.compare import load_inputs

    x, y, _ = load_inputs(net, dict(net.meta.task), args.task, split="test")
    t0 = time.perf_counter()
    sim = simulate(net, x, timeline="logical")
    sim_s = time.perf_counter() - t0
    report = build_report(net, sim, "davies2018", x=x)
    hw_dir = out / "hardware"
    hw_files = write_report(report, hw_dir)
    stages.end(f"{len(y)} samples in {sim_s:.2f} s, fixed-point accuracy {np.mean(sim.predictions == y):.4f}; "
               f"wrote {hw_dir}/ ({', '.join(p.name for p in hw_files)})")

    # 5. Lava ------------------------------------------------------------------------------
    from silava.app.compare import LavaRun, run_lava

    k = min(lava_samples, len(y))
    stages.begin("Lava", f"fixed_pt process models on Lava's CPU simulator, first {k} test samples")
    if k > 0:
        lava = run_lava(net, x[:k], timeout_s=600.0, progress=sys.stderr.isatty())
        if lava.status == "ok":
            stages.end(f"{k} samples in {lava.wall_s:.1f} s ({lava.extra.get('sample_steps_per_s', 0):,.0f} "
                       f"sample-steps/s); accuracy {np.mean(lava.predictions == y[:k]):.4f}")
        else:
            stages.end(f"{lava.status}: {lava.note}")
    else:
        lava = LavaRun(status="skipped", note="--lava-samples 0")
        stages.end("skipped (--lava-samples 0)")

    # 6. compare ---------------------------------------------------------------------------
    stages.begin("compare", "float (PyTorch) vs fixed point (hwsim) vs Lava on the same test samples")
    from silava.app.compare import compare

    result = compare(ckpt_path, task=args.task, net=net, net_path=str(exported.net), sim=sim, lava=lava,
                     lava_samples=k)
    table = result.table
    written = result.write(out)
    stages.end(f"wrote {', '.join(str(p) for p in written)}")

    hw_text = hardware_summary(report)
    total = stages.elapsed()
    outputs = [("ckpt.pt", "trained checkpoint (metrics.json, metrics.csv: per-epoch history)"),
               ("training_curve.png", "loss and accuracy per epoch")]
    if qat:
        outputs.append(("qat/", "QAT fine-tuned checkpoint (the one exported)"))
    outputs += [("model.net", "Loihi 2 fixed-point network (netx HDF5)"),
                ("model.quant.txt", "quantization report (also .json)"),
                ("hardware/", "Loihi 2 cost report: report.md, report.json, sops_sparsity.png, energy_breakdown.png, "
                              "core_map.png, raster.png"),
                ("compare.json", "float vs fixed point vs Lava numbers; compare.png: their plots"),
                ("summary.txt", "this summary")]
    lines = ["", "=" * 100, table.rstrip(), "", hw_text, "",
             f"outputs in {out.resolve()}:"]
    lines += [f"  {name:<20}{what}" for name, what in outputs]
    lines += ["", "stage times: " + ", ".join(f"{name} {t:.1f} s" for name, t in stages.times.items()),
              f"total runtime: {total:.1f} s"]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    from silava.core.fileio import write_text_atomic

    write_text_atomic(out / "summary.txt", text.lstrip("\n"))
    if lava.status == "failed":
        print(f"{PROG}: {lava.note}", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """Command-line entry (``silava demo``, ``make demo``); returns the exit code."""
    from silava.core.data import DataError
    from silava.export.quantize import QuantError
    from silava.export.to_lava import ExportError
    from silava.app.compare import CompareError
    from silava.train.config import ConfigError
    from silava.train.train import SetupError, TrainingError

    prog = command_name("demo", prog)

    def body() -> int:
        args = build_parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
        _check_args(args)
        if args.smoke:
            return smoke(args.steps)
        return run_demo(args)

    return run_command(prog, body, (DemoError, CompareError, ExportError, QuantError, ConfigError, SetupError,
                                    TrainingError, DataError),
                       interrupted="the files of the stages that finished are in the output folder")


if __name__ == "__main__":
    sys.exit(main())
