"""Run many samples through one built Lava network (docs/fixed_point.md §5).

One network is built for all samples (:func:`lava_models.builder.build_network`); sample
``n`` occupies global steps ``nP + 1 … (n + 1)P`` (``P = T + L``) and every layer's state is
reset at its offset ``i + 2`` of each period, so the in-window values of each sample equal a
single-sample run. The network runs in chunks of ``chunk`` samples (``chunk · P`` steps per
Lava ``run``), with a progress bar, a wall-clock budget and a clean stop
(:class:`lava_models.runner.LavaSession`); after each chunk the output channels are drained.

Aligned outputs (the logical timeline): layer ``i``'s outputs at in-period steps
``d_i + 1 … d_i + T`` (``d_i`` = synapses on its path, ``i + 1`` without an input layer;
:func:`lava_models.builder.window`): the readout at ``L+1 … L+T``, hidden layer ``i``'s spikes
at ``i+2 … i+T+1``.
"""
from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np

from .builder import build_network, period, window

#: aim for about this many global steps per Lava run (a few seconds on the CPU simulator)
CHUNK_STEPS = 2048


def default_chunk(net, n_samples: int) -> int:
    """Samples per chunk: about :data:`CHUNK_STEPS` global steps, at least 1, at most ``n_samples``."""
    return max(1, min(int(n_samples), CHUNK_STEPS // period(net)))


def decisions(net, readout: np.ndarray, tag: str = "fixed_pt") -> tuple[np.ndarray, np.ndarray, str]:
    """``(predictions, predictions_sum_v, rule)`` on the aligned readout ``[N, T, C]``.

    The same rules as ``hwsim.simulate``: ``meta.decision`` (``softmax_sum``: ``argmax Σ_t
    softmax(V_t / S)``) for an LI readout, the spike count for a spiking last layer. Under
    ``floating_pt`` the readout is already in float units (``S = 1``).
    """
    from silava.core.decision import decide
    from silava.core.kinds import get_kind

    if get_kind(net.layers[-1].neuron_type).spiking:
        pred = decide(readout, 1, "sum_v")
        return pred, pred.copy(), "spike_count"
    scale = net.state_scale(len(net.layers) - 1) if tag == "fixed_pt" else 1.0
    return decide(readout, scale, net.meta.decision), decide(readout, 1, "sum_v"), net.meta.decision


def run_samples(net, x: np.ndarray, tag: str = "fixed_pt", chunk: Optional[int] = None,
                timeout_s: float = 600.0, progress: bool = True, record: bool = False,
                run_cfg=None) -> dict:
    """Run ``x [N, T, F]`` through ``net`` as Lava processes (one network, samples back to back).

    Args:
        net: ``silava.core.netfile.Network``.
        x: integer inputs (spikes or counts), ``T ≤ meta.steps`` (zero padded).
        tag: ``"fixed_pt"`` or ``"floating_pt"``.
        chunk: samples per Lava run (default :func:`default_chunk`).
        timeout_s: wall-clock budget for the whole run (compile included; ``inf``: none); on expiry
            the network is stopped and :class:`lava_models.runner.LavaTimeoutError` raised (checked
            before every chunk and while a chunk runs, so ``0.001`` stops right after compiling).
        progress: show a tqdm progress bar (samples).
        record: also return every spiking layer's aligned spikes.
        run_cfg: a Lava RunConfig to use instead of ``Loihi2SimCfg(select_tag=tag)``
            (e.g. ``Loihi2HwCfg`` on a Loihi 2 host).

    Returns a dict: ``readout`` ``[N, T, C]`` (int64 V under fixed_pt, float64 under
    floating_pt; spikes if the last layer spikes), ``spikes`` (list of uint8 ``[N, T, H]`` per
    layer but the last, if ``record``), ``predictions``, ``predictions_sum_v`` (int64 ``[N]``),
    ``decision``, ``wall_s``, ``sample_steps_per_s`` (``N · T / wall_s``), ``global_steps``, ``counters``
    (the Lava models' overflow counters, :meth:`lava_models.builder.LavaNetwork.read_counters`, plus the
    source's ``input_clip``; the names and in-window steps of hwsim's logical-timeline counters; empty
    under ``floating_pt``).
    """
    from tqdm import tqdm

    from .runner import LavaTimeoutError

    if not (isinstance(timeout_s, (int, float)) and float(timeout_s) > 0):   # nan, 0, negative
        raise ValueError(f"timeout_s must be a positive number of seconds (inf: no limit), got {timeout_s!r}")
    x = np.asarray(x)
    n = int(x.shape[0]) if x.ndim == 3 else 0
    P = period(net)
    L = len(net.layers)
    T = int(net.meta.steps)
    k = default_chunk(net, n) if chunk is None else max(1, min(int(chunk), max(n, 1)))
    start_time = time.monotonic()
    deadline = start_time + float(timeout_s)
    lnet = build_network(net, tag, inputs=x, record_spikes=record, buffer_steps=k * P)
    if run_cfg is not None:
        lnet.run_cfg = run_cfg
    n = lnet.n_samples
    last_shape = (n, T, net.layers[-1].output_width)
    readout = np.zeros(last_shape, dtype=np.int64 if tag == "fixed_pt" else np.float64)
    from silava.core.kinds import get_kind

    spikes = [np.zeros((n, T, layer.output_width), np.uint8 if get_kind(layer.neuron_type).spiking else np.int64)
              for layer in net.layers[:-1]] if record else None
    with lnet.session(timeout_s=timeout_s) as session, \
            tqdm(total=n, unit="sample", desc=f"lava {tag}", disable=not progress, leave=False) as bar:
        for first in range(0, n, k):
            count = min(k, n - first)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LavaTimeoutError(f"Lava run did not finish within {float(timeout_s):g} s ({first} of {n} "
                                       f"samples done; network stopped)")
            session.run(count * P, timeout_s=remaining)
            last, taps = lnet.read(count * P)
            readout[first:first + count] = last.reshape(count, P, -1)[:, window(L - 1, T, net)]
            if record:
                for i, tap in enumerate(taps):
                    spikes[i][first:first + count] = tap.reshape(count, P, -1)[:, window(i, T, net)]
            bar.update(count)
        counters = lnet.read_counters()
    if counters and int(net.layers[0].input_message_bits) > 0:      # the source clips graded payloads
        top = (1 << int(net.layers[0].input_message_bits)) - 1
        clipped = int(np.count_nonzero(x > top) + np.count_nonzero(x < 0))
        if clipped:
            for key in ("layer/0", "total"):
                counters[key]["input_clip"] = counters[key].get("input_clip", 0) + clipped
    wall = time.monotonic() - start_time
    pred, pred_sum_v, rule = decisions(net, readout, tag)
    return {
        "readout": readout, "spikes": spikes, "predictions": pred, "predictions_sum_v": pred_sum_v,
        "decision": rule, "wall_s": wall, "global_steps": n * P, "counters": counters,
        "sample_steps_per_s": (n * T / wall) if wall > 0 else math.inf,
    }
