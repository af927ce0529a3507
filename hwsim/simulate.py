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
from silava.hwsim.kernels import (F32_EXACT, I32_MAX, KERNELS, Counters, clip_graded, conv_float, dense_bound,
                                  dense_float, wrap32)
from silava.hwsim import native

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
                 feed_next: bool, counters: Counters, steps: Optional[int] = None, batch_major: bool = False,
                 weight_exp: int = 0, rec: Optional[tuple] = None
                 ) -> tuple[Optional[np.ndarray], np.ndarray, Optional[dict], np.ndarray]:
    """Neuron loop over ``steps`` steps (default: the rows of ``acc``). The synaptic output ``acc [Tin, B, n]``
    (time-major; ``[B, Tin, n]`` with ``batch_major``; exact integers in a float array) reaches the neurons
    ``delay`` steps later (zeros before, and after its ``Tin`` steps); the state is zeroed before step
    ``reset_at``. ``weight_exp``: the Dense exponent still to apply to ``acc`` (see :func:`_dense`).

    ``rec = (weight_rec, weight_exp, graded)``: a recurrent Dense from the layer's own output
    (docs/fixed_point.md §2): at each step it adds ``Dense(weight_rec, out[j − 1])`` (one step of
    delay, as Lava's Dense), the sum wrapped to int32 (Lava's InPort adds the two int32 messages);
    its buffer is cleared with the state at ``reset_at``.

    Returns ``(feed, out, states, events)``: ``feed`` ``[T', B, n]`` outputs for the next layer's
    synapses (float32 spikes 0/1, or exact graded values in float64; if ``feed_next``), ``out``
    batch-major ``[B, T', n]`` (uint8 spikes, int64 graded values), if ``record`` the states
    ``{name: int64 [B, T', n]}``, and ``events`` int64 ``[B, T']``, the non-zero outputs per step.

    Kinds with a C loop (:mod:`silava.hwsim.native`, ``hwsim/loops.c``: the same integer step on
    the same float64 carrier, bit-identical) run it unless ``record`` or ``rec`` is set.
    """
    acc_tm = acc.transpose(1, 0, 2) if batch_major else acc      # time-major view
    t_in, batch, n = acc_tm.shape
    steps = t_in if steps is None else int(steps)
    if not record and rec is None and native.supports(kernel.type_name):   # the same loop in C (hwsim/loops.c)
        feed, out, events, saturated = native.run_layer(kernel.type_name, prep, acc, delay, reset_at, feed_next,
                                                        kernel.spiking, steps, batch_major, weight_exp)
        counters.add("saturate", saturated)
        if feed is not None and not kernel.spiking:
            feed = feed.astype(np.float64)
        return feed, out, None, events
    if weight_exp:
        acc = _apply_exponent(acc, weight_exp)
        acc_tm = acc.transpose(1, 0, 2) if batch_major else acc
    carrier = prep["dtype"]
    state = kernel.init_state((batch, n), carrier, prep)
    width = kernel.output_width(n, prep)                 # M·n for a multi-output layer
    feed = np.empty((steps, batch, width), dtype=np.float32 if kernel.spiking else np.float64) if feed_next else None
    out = np.empty((batch, steps, width), dtype=np.uint8 if kernel.spiking else np.int64)
    states = ({name: np.empty((batch, steps) + value.shape[1:], dtype=np.int64) for name, value in state.items()}
              if record else None)
    zeros = np.zeros((batch, n), dtype=acc.dtype)
    step = kernel.step_prepared
    last = None                                     # the layer's previous output (recurrent input)
    for j in range(steps):
        if j == reset_at:
            state = kernel.init_state((batch, n), carrier, prep)
            last = None
        a = acc_tm[j - delay] if 0 <= j - delay < t_in else zeros
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
    return feed, out, states, np.count_nonzero(out, axis=-1).astype(np.int64)


def _dense(layer, prev: np.ndarray, graded: bool, counters: Counters, defer: bool) -> tuple[np.ndarray, int]:
    """The layer's Dense output for all steps: ``(acc, e)`` where ``e`` is the weight exponent still to
    apply (``defer``: the C loop applies it while it reads ``acc``, saving two passes; only where
    :func:`hwsim.kernels.dense_float` would take its exact float path), else 0."""
    e = int(layer.weight_exp)
    if defer and e:
        x_max = int(np.abs(prev).max()) if graded and prev.size else 1
        if dense_bound(layer.weight, x_max) * 2 ** max(e, 0) <= I32_MAX:
            return dense_float(layer.weight, prev, 0, graded, counters, spikes01=not graded), e
    return dense_float(layer.weight, prev, e, graded, counters, spikes01=not graded), 0


def _apply_exponent(acc: np.ndarray, e: int) -> np.ndarray:
    """``acc · 2^e``, floored for ``e < 0`` (exact), as :func:`hwsim.kernels.dense_float` does."""
    acc = acc * acc.dtype.type(2.0 ** e)
    return np.floor(acc, out=acc) if e < 0 else acc


def _event_driven(layer, kernel, record: bool, payload: Optional[np.ndarray]) -> bool:
    """True when layer's Dense and neurons run as one C loop (:func:`hwsim.native.run_layer` with
    ``inputs``): a plain dense layer of a kind with a C loop, no state recording, its input given
    batch-major as spikes or integer payloads, and every partial Dense sum below 2^24 (exact in the
    loop's float32 sums; it also rules out the int32 wraps, which need the exact int64 route)."""
    if record or payload is None or layer.layer_type != "dense" or not native.supports(kernel.type_name):
        return False
    x_max = 1 if payload.dtype == np.uint8 else (int(np.abs(payload).max()) if payload.size else 0)
    bound = dense_bound(layer.weight, x_max)
    return bound < F32_EXACT and bound * 2 ** max(int(layer.weight_exp), 0) <= I32_MAX


def _time_major(payload: np.ndarray, total: int, bits: int) -> np.ndarray:
    """The batch-major source payloads ``[B, T, F]`` as a time-major ``[total, B, F]`` exact float array
    (zeros after the T data steps)."""
    batch, steps, f = payload.shape
    dtype = np.float32 if bits <= 0 or (1 << bits) <= F32_EXACT else np.float64
    src = np.zeros((total, batch, f), dtype=dtype)
    src[:steps] = payload.transpose(1, 0, 2)
    return src


def _simulate_chunk(net: Network, x: np.ndarray, timeline: str, record: bool,
                    counters: list[Counters]) -> dict:
    """Simulate ``x [B, T, F]`` (checked); returns per-layer outputs ``[B, T', n]`` and event counts.

    A plain dense layer runs as one C loop where it can (:func:`_event_driven`: the Dense summed from
    the input events inside the neuron loop, every array batch-major, no product array); otherwise
    the synaptic outputs of a layer for all steps are one matrix product (or one convolution) —
    layer 0's on the source, the others' on the time-major ``[T', B, n]`` outputs the previous
    layer's loop writes (``feed``) — followed by the neuron loop (in C or numpy, :func:`_run_neurons`;
    numpy for a recurrent layer). On the ``lava`` timeline layer i's synapses deliver one step late
    (``delay``; an input layer has none) and its state is zeroed at its reset step ``d_i + 1``
    (``d_i = Network.delays()[i]``).
    """
    n_layers = len(net.layers)
    lava = timeline == "lava"
    steps = net.meta.steps
    delays = net.delays()
    total = steps + delays[-1] if lava else steps
    batch = x.shape[0]
    bits = int(net.layers[0].input_message_bits)
    # the source payloads, batch-major [B, T, F]: 0/1 as uint8, or graded integers (clipped)
    payload = np.not_equal(x, 0).view(np.uint8) if bits <= 0 else clip_graded(x, bits, counters[0])
    kernels = [KERNELS[layer.neuron_type] for layer in net.layers]
    prev = None       # time-major [T', B, n] input of the next layer's synapses, when one is needed
    outs, states, in_events, out_events = [], [], [], []
    for i, layer in enumerate(net.layers):
        kernel = kernels[i]
        params = dict(layer.neuron)
        params["bias"] = layer.bias if layer.bias is not None else 0
        prep = kernel.prepare(params, np.float64, shape=(batch, layer.out_features))
        graded = int(layer.input_message_bits) > 0
        delay = 1 if (lava and layer.synaptic) else 0
        reset_at = delays[i] if lava else None
        # [B, T'] non-zero inputs: the source's (none after its T steps), then the previous layer's outputs
        if i == 0:
            events = np.zeros((batch, total), dtype=np.int64)
            events[:, :payload.shape[1]] = np.count_nonzero(payload, axis=-1)
        else:
            events = out_events[-1]
        if delay:  # events reach the neurons one step after the synapses processed them
            events = np.concatenate([np.zeros_like(events[:, :1]), events[:, :-1]], axis=1)
        nxt = i + 1 < n_layers
        # does the next layer need a time-major input (not an event-driven C loop)?
        feed_next = nxt and not (kernel.spiking and _event_driven(net.layers[i + 1], kernels[i + 1], record,
                                                                  np.zeros((0, 0, 0), np.uint8)))
        rec = (layer.weight_rec, layer.rec_exp, not kernel.spiking) if layer.recurrent else None
        if rec is None and _event_driven(layer, kernel, record, payload):
            feed, out, own, saturated = native.run_layer(
                kernel.type_name, prep, None, delay, reset_at, feed_next, kernel.spiking, total,
                weight_exp=int(layer.weight_exp), inputs=payload, weight=layer.weight)
            counters[i].add("saturate", saturated)
            prev, st = feed, None
        elif layer.layer_type == "dense" and rec is None:
            if i == 0:
                src = payload.astype(np.float32 if bits <= 0 or (1 << bits) <= F32_EXACT else np.float64)
            else:
                src = prev if prev is not None else _feed_of(outs[-1])
            acc, exp_left = _dense(layer, src, graded, counters[i],
                                   defer=not record and native.supports(kernel.type_name))
            del src
            prev, out, st, own = _run_neurons(kernel, prep, acc, delay, reset_at, record, nxt, counters[i],
                                              steps=total, batch_major=i == 0, weight_exp=exp_left)
            del acc
        else:   # conv, dense_rec, input layers: the synaptic output time-major, then the neuron loop
            src = _time_major(payload, total, bits) if i == 0 else (prev if prev is not None else _feed_of(outs[-1]))
            acc = synaptic_output(layer, src, graded, counters[i], spikes01=not graded)
            del src
            prev, out, st, own = _run_neurons(kernel, prep, acc, delay, reset_at, record, nxt, counters[i], rec=rec)
            del acc
        if rec is not None:      # its own previous outputs are inputs too (cleared at the reset step)
            back = np.concatenate([np.zeros_like(own[:, :1]), own[:, :-1]], axis=1)
            if lava:
                back[:, delays[i]] = 0
            events = events + back
        in_events.append(events)
        outs.append(out)
        states.append(st)
        out_events.append(own)
        # the next layer's batch-major input for an event-driven Dense: this layer's spikes
        payload = out if kernel.spiking else None
    return {"outs": outs, "states": states, "in_events": in_events, "out_events": out_events}


def _feed_of(out: np.ndarray) -> np.ndarray:
    """Time-major ``[T', B, n]`` input of the next synapses from a layer's batch-major output:
    float32 spikes, or float64 graded values (exact)."""
    return np.ascontiguousarray(out.transpose(1, 0, 2), dtype=np.float32 if out.dtype == np.uint8 else np.float64)


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


def _parser(prog: str = "silava sim"):
    from silava.core.cliutil import add_input_arguments, one_line_parser

    p = one_line_parser(CliError, prog=prog,
                        description="Bit-exact integer simulation of a model.net network (hwsim, numpy only): "
                                    "accuracy, decision agreement, spikes, overflow counters.")
    p.add_argument("model", help="model.net written by silava export")
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
            "rate": total / (n * result.steps * layer.output_width),
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


def run_cli(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None,
            loader: Optional[Callable[[str], Network]] = None) -> int:
    """``silava sim``: returns the exit status (:func:`silava.core.cliutil.run_command`). ``loader(path)``
    reads the network (default :func:`silava.core.netfile.read`; the application passes one that also
    reads lava-dl netx files). A network whose ``meta.task["steps_from_inputs"]`` is set (a foreign
    file) runs for the inputs' length."""
    from silava.core.cliutil import command_name, run_command

    prog = command_name("sim", prog)
    from silava.hwsim.report import ReportError

    return run_command(prog, lambda: _run_cli(argv, prog, loader), (CliError, ReportError),
                       interrupted="no output written; the outputs are as they were")


def _run_cli(argv: Optional[Sequence[str]], prog: str, loader: Optional[Callable[[str], Network]] = None) -> int:
    import time

    from silava.core.netfile import NetFileError, read
    from silava.core.cliutil import check_input_arguments, check_model_file, load_inputs, progress_enabled
    from silava.core.fileio import check_outputs, check_writable_file, write_json_atomic

    args = _parser(prog).parse_args(argv)
    check_input_arguments(args, CliError)
    if args.batch_size < 1:
        raise CliError(f"--batch-size {args.batch_size}: must be at least 1")
    json_path = check_writable_file(args.json, "--json", CliError) if args.json else None
    report_files = ({f"--report {args.report}/{name}": Path(args.report) / name
                     for name in ("report.json", "report.md")} if getattr(args, "report", None) else {})
    check_outputs({"--json": json_path, **report_files},
                  {"network": args.model, "inputs": getattr(args, "inputs", None),
                   "constants file": getattr(args, "constants", None)}, CliError)
    model = check_model_file(args.model, CliError)
    try:
        net = (loader or read)(model)
    except NetFileError as exc:
        raise CliError(f"{exc}") from None
    from silava.hwsim.report import check_report_arguments

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
    if len(y) and int(y.max()) >= net.meta.n_classes:
        raise CliError(f"{source}: labels go up to {int(y.max())} but the network has {net.meta.n_classes} classes; "
                       f"pass the data the network was trained on")
    from tqdm import tqdm

    start = time.perf_counter()
    with tqdm(total=len(xs), unit="sample", desc="hwsim", disable=not progress_enabled(), leave=False) as bar:
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
        write_json_atomic(json_path, payload)
        print(f"wrote {json_path}")
    if getattr(args, "report", None) is not None:
        from silava.hwsim.constants import ConstantsError
        from silava.hwsim.mapper import MappingError
        from silava.hwsim.report import ReportError, report_from_args

        try:
            report_from_args(args, net, xs, result, labels=y)
        except (ConstantsError, MappingError, ReportError) as exc:
            text = str(exc)
            raise CliError(text if text.startswith("--report") else f"--report: {text}") from None
    return 0


def main(argv: Optional[Sequence[str]] = None, prog: Optional[str] = None) -> int:
    """CLI entry point (``silava sim``, also ``python hwsim/simulate.py``); returns the exit code."""
    return run_cli(argv, prog)


if __name__ == "__main__":
    from silava.hwsim.simulate import main as _main  # the package's module, not this file's __main__ copy

    sys.exit(_main())
