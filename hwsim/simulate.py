"""Bit-exact batched simulation of a model.net network (numpy only), and its CLI.

    python hwsim/simulate.py model.net --task randman [--samples N] [--split test]
                             [--json out.json] [--timeline logical|lava]
    python hwsim/simulate.py model.net --inputs data.npz        # arrays x [N, T, F], y [N]

Timelines (docs/fixed_point.md §5), for a batch ``x [B, T, F]``:

* ``logical``: ``T`` steps, layer ℓ at data step t sees layer ℓ−1's output at the same t,
  all states start at zero;
* ``lava``: what Lava computes for one sample from a fresh network, ``P = T + L`` global steps:
  the source sends ``x[k−1]`` for k ≤ T and zeros after; every Dense (and Conv) delivers at step k
  what it received at step k−1 (zeros at k = 1); layer i (0-based) resets all its state at the start
  of step ``k = i + 2``. Layer i at global step ``t + i + 1`` equals the logical layer i at data
  step t. (An input layer has no synapse and so no delay: in general layer i's offset is
  ``d_i = Network.delays()[i]``, its reset step ``d_i + 1`` and ``P = T + d_{L−1}``.)

A ``dense_rec`` layer's recurrent Dense adds its own output of the step before (inside the time
loop; cleared at the reset step); a ``conv`` layer's synapses are Lava's Conv
(:func:`hwsim.kernels.conv_float`); graded layers feed the next one their payloads as they are.

The network is fed forward, so each layer runs over the whole time axis before the next one:
one Dense matrix product per layer for all steps and samples, then a Python loop over time
only for the neuron update (vectorised over samples and neurons, see :mod:`hwsim.kernels`).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

if __name__ == "__main__" and __package__ in (None, ""):
    # Run as a file (`python hwsim/simulate.py`): Python put this folder first on sys.path, but its
    # modules are parts of the `silava` package (installed by scripts/bootstrap.sh), not
    # top-level modules; drop it so that none of them shadows another module.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np

from silava.core.netfile import Network
from silava.core.decision import decide
from silava.core.inputs import InputError as SimInputError  # noqa: F401  (re-exported)
from silava.core.inputs import check_inputs
from silava.hwsim.kernels import F32_EXACT, KERNELS, Counters, clip_graded, conv_float, dense_float, wrap32

TIMELINES = ("logical", "lava")


@dataclass
class SimResult:
    """Outputs of :func:`simulate` (``T'`` = T for ``logical``, P = T + L for ``lava``).

    ``readout``: the last layer's output per step, int64 ``[B, T', C]`` (LI: its state V;
    a spiking last layer: its spikes 0/1). ``spikes``: per spiking layer uint8 ``[B, T', H]``.
    ``outputs``: every layer's output ``[B, T', n]`` (uint8 spikes, or int64 graded payloads of a
    non-spiking layer, e.g. a sigma-delta layer); a [C, H, W] layer's are flat in C order. ``states``: per layer ``{name: int64 [B, T', n]}`` (state
    after each step) if ``record``. ``counters``: ``{"layer/i": Counters, ..., "total": Counters}``.
    Counter names: see :mod:`hwsim.kernels`, plus ``lava_weight_clip`` (:func:`lava_weight_clips`).
    ``predictions``: the decision rule ``decision`` on the in-window readout; ``predictions_sum_v``:
    ``argmax_c Σ_t V`` (a spiking last layer: both are the argmax of its spike counts).
    ``offsets[i]``: index along ``T'`` of data step 1 for layer i (0 logical, i + 1 lava), so layer
    i's in-window steps are ``offsets[i] : offsets[i] + steps`` (:meth:`in_window`).
    ``input_events[i]``: int64 ``[B, T']`` non-zero inputs (layer 0: clipped source payloads) whose
    synaptic input reaches layer i's neurons at each step (lava: its Dense processed them one step
    earlier). ``output_events[i]``: int64 ``[B, T']`` spikes (LI: non-zero values) emitted by
    layer i at each step. Both are the per-step counts a cost model needs.
    """

    readout: np.ndarray
    spikes: list[np.ndarray]
    states: Optional[list[dict]]
    counters: dict
    predictions: np.ndarray
    predictions_sum_v: np.ndarray
    timeline: str = "logical"
    steps: int = 0
    decision: str = "softmax_sum"
    offsets: list[int] = field(default_factory=list)
    input_events: list[np.ndarray] = field(default_factory=list)
    output_events: list[np.ndarray] = field(default_factory=list)
    outputs: list[np.ndarray] = field(default_factory=list)

    def in_window(self, array: np.ndarray, layer: int) -> np.ndarray:
        """The ``steps`` in-window steps of a ``[B, T', ...]`` array of layer ``layer``."""
        start = self.offsets[layer]
        return array[:, start:start + self.steps]


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------
# core
# ---------------------------------------------------------------------------
def lava_weight_clips(weight: Optional[np.ndarray]) -> int:
    """Weights Lava's Dense changes when it loads them: in an all-non-positive matrix (sign mode
    INHIBITORY, ``lava/utils/weightutils.py::clip_weights``) −256 becomes −255.

    The simulation keeps the file's value (docs/fixed_point.md §2); a non-zero count means the
    Lava run of this layer differs from it, so it is reported (counter ``lava_weight_clip``,
    once per simulation).
    """
    if weight is None:
        return 0
    w = np.asarray(weight)
    if w.size == 0 or w.max() > 0 or w.min() >= 0:
        return 0
    return int(np.count_nonzero(w == -256))


def synaptic_output(layer, x: np.ndarray, graded: bool, counters: Counters, *, spikes01: bool = False) -> np.ndarray:
    """What a layer's synapses deliver for inputs ``x [..., in]``: the Dense or Conv output as exact
    integers in a float array; an input layer's neurons take the payload itself."""
    if layer.layer_type == "conv":
        return conv_float(layer.weight, x, layer.conv, graded, counters, spikes01=spikes01)
    if layer.layer_type == "input":
        return x
    return dense_float(layer.weight, x, layer.weight_exp, graded, counters, spikes01=spikes01)


def _run_neurons(kernel, prep: dict, acc: np.ndarray, delay: int, reset_at: Optional[int], record: bool,
                 feed_next: bool, counters: Counters, rec: Optional[tuple] = None
                 ) -> tuple[Optional[np.ndarray], np.ndarray, Optional[dict]]:
    """Neuron loop over time. The synaptic output ``acc [T', B, n]`` (time-major, exact integers in
    a float array) reaches the neurons ``delay`` steps later (zeros before); the state is zeroed
    before step ``reset_at``.

    ``rec = (weight_rec, weight_exp, graded)``: a recurrent Dense from the layer's own output
    (docs/fixed_point.md §2): at each step it adds ``Dense(weight_rec, out[j − 1])`` (one step of
    delay, as Lava's Dense), the sum wrapped to int32 (Lava's InPort adds the two int32 messages);
    its buffer is cleared with the state at ``reset_at``.

    Returns ``(feed, out, rec)``: ``feed`` ``[T', B, n]`` outputs for the next layer (float32 spikes
    0/1 or exact graded values in float64, if ``feed_next``), ``out`` batch-major ``[B, T', n]``
    (uint8 spikes, int64 graded values) and, if ``record``, the states ``{name: int64 [B, T', n]}``.
    """
    steps, batch, n = acc.shape
    carrier = prep["dtype"]
    state = kernel.init_state((batch, n), carrier)
    feed_type = np.float32 if kernel.spiking else np.float64
    feed = np.empty((steps, batch, n), dtype=feed_type) if feed_next else None
    out = np.empty((batch, steps, n), dtype=np.uint8 if kernel.spiking else np.int64)
    states = {name: np.empty((batch, steps, n), dtype=np.int64) for name in kernel.state_names} if record else None
    zeros = np.zeros((batch, n), dtype=acc.dtype)
    step = kernel.step_prepared
    last = None                                     # the layer's previous output (recurrent input)
    for j in range(steps):
        if j == reset_at:
            state = kernel.init_state((batch, n), carrier)
            last = None
        a = acc[j - delay] if j >= delay else zeros
        if rec is not None and last is not None:
            w_rec, e, graded = rec
            a = np.asarray(a, dtype=np.float64) + dense_float(w_rec, last, e, graded, counters,
                                                               spikes01=not graded).astype(np.float64)
            wrap32(a, counters)
        o, state = step(a, state, prep, counters)
        last = o
        if feed is not None:
            feed[j] = o
        out[:, j] = o
        if states is not None:
            for name, arr in states.items():
                arr[:, j] = state[name]
    return feed, out, states


def _source(x: np.ndarray, bits: int, total: int, counters: Counters) -> np.ndarray:
    """Time-major source payloads ``[total, B, F]`` as exact floats (binary 0/1, graded clipped;
    zeros after the T data steps)."""
    batch, steps, f = x.shape
    dtype = np.float32 if bits <= 0 or (1 << bits) <= F32_EXACT else np.float64
    src = np.zeros((total, batch, f), dtype=dtype)
    payload = (x != 0) if bits <= 0 else clip_graded(x, bits, counters)
    src[:steps] = payload.transpose(1, 0, 2)
    return src


def _simulate_chunk(net: Network, x: np.ndarray, timeline: str, record: bool,
                    counters: list[Counters]) -> dict:
    """Simulate ``x [B, T, F]`` (checked); returns per-layer outputs ``[B, T', n]`` and event counts.

    Internally time-major (``[T', B, n]``): the synaptic outputs of a layer for all steps are one
    matrix product (or one convolution) and every per-step slice is contiguous. On the ``lava``
    timeline layer i's synapses deliver one step late (``delay``; an input layer has none) and
    its state is zeroed at its reset step ``d_i + 1`` (``d_i = Network.delays()[i]``).
    """
    n_layers = len(net.layers)
    lava = timeline == "lava"
    steps = net.meta.steps
    delays = net.delays()
    total = steps + delays[-1] if lava else steps
    batch = x.shape[0]
    prev = _source(x, int(net.layers[0].input_message_bits), total, counters[0])
    outs, states, in_events, out_events = [], [], [], []
    for i, layer in enumerate(net.layers):
        kernel = KERNELS[layer.neuron_type]
        params = dict(layer.neuron)
        params["bias"] = layer.bias if layer.bias is not None else 0
        prep = kernel.prepare(params, np.float64, shape=(batch, layer.out_features))
        graded = int(layer.input_message_bits) > 0
        delay = 1 if (lava and layer.synaptic) else 0
        events = np.count_nonzero(prev, axis=-1).T.astype(np.int64)        # [B, T']
        if delay:  # events reach the neurons one step after the synapses processed them
            events = np.concatenate([np.zeros_like(events[:, :1]), events[:, :-1]], axis=1)
        acc = synaptic_output(layer, prev, graded, counters[i], spikes01=not graded)
        rec = None
        if layer.recurrent:
            rec = (layer.weight_rec, layer.weight_exp, not kernel.spiking)
        prev, out, st = _run_neurons(kernel, prep, acc, delay, delays[i] if lava else None, record,
                                     i + 1 < n_layers, counters[i], rec)
        if layer.recurrent:      # its own previous outputs are inputs too (cleared at the reset step)
            own = np.count_nonzero(out, axis=-1).astype(np.int64)
            own = np.concatenate([np.zeros_like(own[:, :1]), own[:, :-1]], axis=1)
            if lava:
                own[:, delays[i]] = 0
            events = events + own
        in_events.append(events)
        del acc
        outs.append(out)
        states.append(st)
        out_events.append(np.count_nonzero(out, axis=-1).astype(np.int64))
    return {"outs": outs, "states": states, "in_events": in_events, "out_events": out_events}


def simulate(net: Network, x: np.ndarray, *, timeline: str = "logical", record: bool = False,
             batch_size: int = 256, threads: Optional[int] = None,
             progress: Optional[Callable[[int], None]] = None) -> SimResult:
    """Run ``net`` on ``x [B, T, F]`` (T ≤ meta.steps, zero-padded) bit-exactly.

    ``timeline``: ``"logical"`` (T' = T) or ``"lava"`` (T' = T + L, see the module docstring).
    Samples are independent (each from a fresh network); ``batch_size`` bounds memory only;
    ``threads`` (default: up to 2) batches run at once (the results do not depend on it).
    ``record``: also return every state at every step. ``progress(n)`` is called after each
    batch of ``n`` samples (e.g. a tqdm bar's ``update``).
    """
    if timeline not in TIMELINES:
        raise ValueError(f"unknown timeline {timeline!r}; use one of {', '.join(TIMELINES)}")
    x = check_inputs(net, x)
    n_layers = len(net.layers)
    steps = net.meta.steps
    counters = [Counters() for _ in range(n_layers)]
    for c, layer in zip(counters, net.layers):
        if layer.layer_type in ("dense", "dense_rec"):
            c.add("lava_weight_clip", lava_weight_clips(layer.weight) + lava_weight_clips(layer.weight_rec))
    batch = x.shape[0]
    workers = max(1, int(threads if threads is not None else min(2, os.cpu_count() or 1)))
    size = max(1, min(int(batch_size), -(-batch // workers)))
    starts = list(range(0, batch, size))

    def run(start: int) -> tuple[dict, list[Counters]]:
        own = [Counters() for _ in range(n_layers)]
        part = _simulate_chunk(net, x[start:start + size], timeline, record, own)
        if progress is not None:
            progress(min(size, batch - start))
        return part, own

    if workers > 1 and len(starts) > 1:   # numpy releases the GIL inside its loops: chunks overlap
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, starts))
    else:
        results = [run(start) for start in starts]
    chunks = [part for part, _ in results]
    for _, own in results:
        for c, o in zip(counters, own):
            c.merge(o)

    def gather(parts: list[np.ndarray]) -> np.ndarray:
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    outs = [gather([c["outs"][i] for c in chunks]) for i in range(n_layers)]
    states = None
    if record:
        states = [{name: gather([c["states"][i][name] for c in chunks])
                   for name in KERNELS[layer.neuron_type].state_names} for i, layer in enumerate(net.layers)]
    in_events = [gather([c["in_events"][i] for c in chunks]) for i in range(n_layers)]
    out_events = [gather([c["out_events"][i] for c in chunks]) for i in range(n_layers)]
    chunks.clear()

    last = net.layers[-1]
    offsets = net.delays() if timeline == "lava" else [0] * n_layers
    readout = outs[-1].astype(np.int64, copy=False)
    spikes = [o for o, layer in zip(outs, net.layers) if KERNELS[layer.neuron_type].spiking]
    window = readout[:, offsets[-1]:offsets[-1] + steps]
    if KERNELS[last.neuron_type].spiking:
        decision = "spike_count"
        predictions = decide(window, 1, "sum_v")
        predictions_sum_v = predictions.copy()
    else:
        decision = net.meta.decision
        predictions = decide(window, net.state_scale(n_layers - 1), decision)
        predictions_sum_v = decide(window, 1, "sum_v")
    all_counters: dict = {f"layer/{i}": c for i, c in enumerate(counters)}
    all_counters["total"] = Counters()
    for c in counters:
        all_counters["total"].merge(c)
    return SimResult(readout=readout, spikes=spikes, states=states, counters=all_counters,
                     predictions=predictions, predictions_sum_v=predictions_sum_v, timeline=timeline,
                     steps=steps, decision=decision, offsets=offsets, input_events=in_events,
                     output_events=out_events, outputs=outs)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
class CliError(Exception):
    """Bad command-line input: printed as one line on stderr, exit code 2."""


def _parser():
    from silava.core.cliutil import add_input_arguments, one_line_parser

    p = one_line_parser(CliError, prog="simulate.py",
                        description="Bit-exact integer simulation of a model.net network (hwsim, numpy only): "
                                    "accuracy, decision agreement, spikes, overflow counters.")
    p.add_argument("model", help="model.net written by export/to_lava.py")
    add_input_arguments(p)
    p.add_argument("--json", metavar="FILE", help="write predictions, labels, accuracy, spike counts, counters")
    p.add_argument("--timeline", default="logical", choices=TIMELINES,
                   help="logical (default; no delays) or lava (one step of delay per layer, as Lava runs it)")
    p.add_argument("--batch-size", type=int, default=256, help="samples simulated at once (memory bound)")
    from silava.hwsim.report import add_report_arguments

    add_report_arguments(p)
    return p


def _layer_name(layer) -> str:
    return f"{layer.neuron_type} {layer.in_features}->{layer.out_features}"


def _format_counters(c: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(c.items())) if c else "none"


def summarize(net: Network, result: SimResult, labels: np.ndarray) -> dict:
    """Accuracy, agreement, per-layer spike counts and counters of a run (JSON-able)."""
    n = len(labels)
    layers = []
    for i, layer in enumerate(net.layers):
        spiking = KERNELS[layer.neuron_type].spiking
        events = result.in_window(result.output_events[i], i)
        total = int(events.sum())
        layers.append({
            "layer": i, "type": layer.neuron_type, "neurons": layer.out_features,
            "spikes_total" if spiking else "nonzero_outputs_total": total,
            "per_sample": total / n,
            "rate": total / (n * result.steps * layer.out_features),
            "input_events_per_sample": float(result.in_window(result.input_events[i], i).sum()) / n,
            "counters": dict(result.counters[f"layer/{i}"]),
        })
    return {
        "samples": n,
        "decision": result.decision,
        "accuracy": float(np.mean(result.predictions == labels)),
        "accuracy_sum_v": float(np.mean(result.predictions_sum_v == labels)),
        "decision_agreement": float(np.mean(result.predictions == result.predictions_sum_v)),
        "layers": layers,
        "counters": dict(result.counters["total"]),
    }


def run_cli(argv: Optional[Sequence[str]] = None, loader: Optional[Callable[[str], Network]] = None) -> int:
    """``silava sim``. ``loader(path)`` reads the network (default :func:`silava.core.netfile.read`;
    the application passes one that also reads lava-dl netx files). A network whose
    ``meta.task["steps_from_inputs"]`` is set (a foreign file) runs for the inputs' length."""
    import time

    from silava.core.netfile import NetFileError, read
    from silava.core.cliutil import check_input_arguments, load_inputs
    from silava.core.fileio import check_outputs, check_writable_file, write_json_atomic

    launcher = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("")
    prog = "silava sim" if "silava" in launcher.parts[-2:] or launcher.name == "silava" else "simulate.py"
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        check_input_arguments(args, CliError)
        if args.batch_size < 1:
            raise CliError(f"--batch-size {args.batch_size}: must be at least 1")
        json_path = check_writable_file(args.json, "--json", CliError) if args.json else None
        report_files = ({f"--report {args.report}/{name}": Path(args.report) / name
                         for name in ("report.json", "report.md")} if getattr(args, "report", None) else {})
        check_outputs({"--json": json_path, **report_files},
                      {"network": args.model, "inputs": getattr(args, "inputs", None),
                       "constants file": getattr(args, "constants", None)}, CliError)
        if not Path(args.model).is_file():
            raise CliError(f"{args.model}: no such file; pass a model.net written by export/to_lava.py")
        try:
            net = (loader or read)(args.model)
        except NetFileError as exc:
            raise CliError(f"{exc}") from None
        from silava.hwsim.report import check_report_arguments, run_report

        problem = check_report_arguments(args, net)
        if problem:
            raise CliError(problem)
        x, y, source = load_inputs(args, net.meta, CliError)
        if net.meta.task.get("steps_from_inputs") and np.ndim(x) == 3:
            net.meta.steps = max(1, int(np.shape(x)[1]))
        try:
            xs = check_inputs(net, x)
        except SimInputError as exc:
            raise CliError(f"{source}: {exc}") from None
        from tqdm import tqdm

        start = time.perf_counter()
        with tqdm(total=len(xs), unit="sample", desc="hwsim", disable=None, leave=False) as bar:
            result = simulate(net, xs, timeline=args.timeline, batch_size=args.batch_size, progress=bar.update)
        elapsed = time.perf_counter() - start
        summary = summarize(net, result, y)
        sample_steps = len(y) * (result.readout.shape[1])
        print(f"{Path(args.model).name}: {len(net.layers)} layers ({', '.join(_layer_name(l) for l in net.layers)}), "
              f"T={net.meta.steps}, timeline {args.timeline}")
        print(f"inputs: {source}, {len(y)} samples")
        print(f"accuracy: {summary['accuracy']:.4f} ({summary['decision']})   "
              f"sum_v: {summary['accuracy_sum_v']:.4f}   "
              f"decision agreement: {summary['decision_agreement']:.4f}")
        if np.isfinite(net.meta.float_accuracy):
            print(f"float model accuracy at export: {net.meta.float_accuracy:.4f}")
        print("layer  type    neurons  events/sample  rate      in-events/sample  counters")
        for info in summary["layers"]:
            total = info.get("spikes_total", info.get("nonzero_outputs_total"))
            print(f"{info['layer']:<6} {info['type']:<7} {info['neurons']:<8} {info['per_sample']:<14.1f} "
                  f"{info['rate']:<9.4f} {info['input_events_per_sample']:<17.1f} "
                  f"{_format_counters(info['counters'])}  (total {total})")
        print(f"counters: {_format_counters(summary['counters'])}")
        print(f"time: {elapsed:.2f} s ({sample_steps / max(elapsed, 1e-9):,.0f} sample-steps/s)")
        if json_path is not None:
            payload = {
                "model": str(args.model), "inputs": source, "timeline": args.timeline, "steps": net.meta.steps,
                **summary,
                "predictions": result.predictions.tolist(),
                "predictions_sum_v": result.predictions_sum_v.tolist(),
                "labels": y.tolist(),
                "elapsed_s": elapsed,
            }
            try:
                write_json_atomic(json_path, payload)
            except OSError as exc:
                raise CliError(f"--json {json_path}: cannot write ({exc.strerror or exc}); choose another path") from None
            print(f"wrote {json_path}")
        report_rc = run_report(args, net, xs, result)
        if report_rc:
            return report_rc
    except CliError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI entry point (``python hwsim/simulate.py`` and ``silava sim``); returns the exit code."""
    return run_cli(argv)


if __name__ == "__main__":
    from silava.hwsim.simulate import main as _main  # the package's module, not this file's __main__ copy

    sys.exit(_main())
