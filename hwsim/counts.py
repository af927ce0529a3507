"""Activity and size counts of a network run: SOPs (NeuroBench 2.3.0), spikes, messages, buffers.

Everything is counted on the T in-window steps of each sample (the logical timeline of
docs/fixed_point.md §5), per layer, per sample and per time step, from the bit-exact run
(:func:`counts_from_sim`) or from per-step arrays (:func:`count_activity`).

Synaptic operations exactly as NeuroBench 2.3.0 ``SynapticOperations`` defines them
(Yik et al., Nat. Commun. 16, 2025; spec lava_loihi.md §5), for layer l with input x_t
(what its Dense receives: 0/1 spikes, or clipped graded payloads for a counts layer)::

    effective ops(l, t) = Σ_{j: x_j(t) ≠ 0} nnz(W_l[:, j])        (bias never counted)
    an AC if every x_j(t) ∈ {−1, 0, 1}, else a MAC                (graded payloads > 1 → MACs)
    dense ops(l, t)     = in_features · out_features

NeuroBench classifies AC/MAC per recorded call of the layer; we classify per sample and
step, i.e. NeuroBench run with batch size 1 (with larger batches NeuroBench counts a whole
batch-step as MACs as soon as one sample in it carries a payload > 1). Totals are reported
per sample (NeuroBench divides the accumulated total by the number of samples).

Other counts (per layer l, sample, step):

* output events: spikes (spiking types) or non-zero graded outputs (LI readout, sent every step);
* activation sparsity = zeros / total neuron outputs (NeuroBench ``ActivationSparsity``);
* membrane updates (NeuroBench 2.3.0 ``MembraneUpdates``): per neuron and step, 1 if the
  membrane state (the kind's ``membrane``: CUBA V, SILIF U, CSILIF X, LI V) after the step differs
  from the one before it; every neuron counts at the first step (NeuroBench counts the whole
  first call). From the recorded states, or a second, recording run (:func:`membrane_updates`);
* effective ops on the float model's weights ("NeuroBench on the float model"): the same
  count with ``nnz`` of the file's ``float`` weights (before quantization) on the same input
  rasters; quantization rounds some small weights to zero, so the deployed count is lower;
* neuron updates: every neuron every step (Loihi services all compartments); an update is
  *active* when the neuron received at least one synaptic event (an input j with x_j ≠ 0 and
  W_ij ≠ 0) or has a non-zero bias — SANA-FE's rule (sim.c: ``spike_count || bias || force``);
* messages: one per (output event, destination core that needs it) — Loihi sends a spike
  once per destination core, not per synapse; the input layer's events come from the host and
  the last layer's outputs go to it. Tile hops by X–Y routing between the placed cores;
* per core (with a :class:`hwsim.mapper.Mapping`): effective synaptic ops, MACs, active
  neurons, output events and messages sent.

State buffers as the SiLIF paper counts them (appendix A.3, "#buffers" = states per neuron ×
neurons): SiLIF 2 (u, w), C-SiLIF 2 (Re u, Im u), RF 2, CUBA 2 (u, v), LI 1 (v), a multi-output
layer N (its state words); the previous-spike bit of SiLIF / C-SiLIF / RF (a multi-output
neuron: M previous outputs and the reset flag) is reported separately. A multi-output layer
sends M output channels per neuron: its output events, activation sparsity and messages count
channels (n·M), its neuron updates count neurons, each with the operations of its matrices
(``silava.core.kinds.multiout.cost_of``: N² multiply-accumulates for a dense N-word transition,
2N for a complex diagonal). Memory at deployed widths:
weights 8-bit mantissa (+ 4-bit exponent per layer), states 24-bit, parameters at their widths.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from silava.core.kinds import BIAS_BITS, KINDS, STATE_BITS, Kind  # noqa: F401  (24-bit states, 13-bit bias)

if TYPE_CHECKING:  # pragma: no cover
    from silava.core.netfile import Layer, Network
    from silava.hwsim.mapper import Mapping

WEIGHT_MANTISSA_BITS = 8           # signed 8-bit weight mantissa (w = 2m)
WEIGHT_EXP_BITS = 4                # weight exponent in [-8, 7]
_F32_EXACT = 2**24


# --------------------------------------------------------------------------- per neuron type

@dataclass(frozen=True)
class NeuronCost:
    """Cost entry of one neuron kind, from its declaration (:mod:`silava.core.kinds`).

    ``state_words``: 24-bit states per neuron (the SiLIF paper's "buffers"); ``prev_spike_bits``:
    the stored previous spike P; ``mults``/``adds``/``compares``: integer operations of one
    update (a conditional add of a constant on P counts as an add).
    """

    type_name: str
    state_words: int
    state_labels: tuple[str, ...]
    prev_spike_bits: int
    spiking: bool
    mults: int
    adds: int
    compares: int

    @property
    def ops_per_update(self) -> int:
        return self.mults + self.adds + self.compares

    outputs_per_neuron: int = 1

    @classmethod
    def of(cls, kind: Kind) -> "NeuronCost":
        return cls(kind.name, kind.state_words, kind.state_labels, kind.prev_spike_bits, kind.spiking,
                   mults=kind.cost.mults, adds=kind.cost.adds, compares=kind.cost.compares)

    @classmethod
    def for_layer(cls, layer: "Layer") -> "NeuronCost":
        """The entry of one layer: a kind whose sizes vary per layer (a multi-output neuron: N state words,
        M outputs, the operations of its matrices) takes them from the layer's ``neuron`` keys."""
        kind = KINDS[layer.neuron_type]
        if not kind.dims:
            return NEURON_COSTS[layer.neuron_type]
        cost = kind.cost_for(layer.neuron)
        return cls(kind.name, kind.state_words_for(layer.neuron), kind.state_labels,
                   kind.prev_spike_bits_for(layer.neuron), kind.spiking, mults=cost.mults, adds=cost.adds,
                   compares=cost.compares, outputs_per_neuron=kind.outputs_per_neuron(layer.neuron))


#: one entry per model.net neuron kind
NEURON_COSTS: dict[str, NeuronCost] = {name: NeuronCost.of(kind) for name, kind in KINDS.items()}


def param_bits(kind: Kind, key: str, decay_bits: int) -> int:
    """Stored width of one value of neuron key ``key`` (its range in the kind declaration)."""
    return kind.param(key).bits(decay_bits)


def layer_name(net: "Network", i: int) -> str:
    """``layer/i (TYPE in->out)``: how reports and error messages name a layer (``conv``,
    ``dense_rec`` and ``input`` layers say so: ``layer/0 (CUBA conv 2x6x6->4x6x6)``)."""
    layer = net.layers[i]
    if layer.layer_type == "dense":
        return f"layer/{i} ({layer.neuron_type} {layer.in_features}->{layer.out_features})"

    def dims(shape: tuple) -> str:
        return "x".join(str(int(v)) for v in shape)
    return f"layer/{i} ({layer.neuron_type} {layer.layer_type} {dims(layer.in_shape)}->{dims(layer.neuron_shape)})"


def neuron_memory_bits(layer: "Layer") -> dict[str, int]:
    """Neuron-side memory of one layer at deployed widths.

    ``state_bits_per_neuron = 24 · state_words + prev_spike_bits``; ``param_bits_per_neuron`` =
    widths of the per-neuron (array) keys and the bias; ``shared_param_bits`` = widths of the
    keys given as one value for the layer (stored once per core).
    """
    cost = NeuronCost.for_layer(layer)
    kind = KINDS[layer.neuron_type]
    d = kind.default_decay_bits(layer.neuron.get("decayBits"))
    per_neuron = 0
    shared = 0
    for key, value in layer.neuron.items():
        if isinstance(value, np.ndarray) and value.ndim > 1:
            # a per-neuron matrix (multi-output neuron): its entries at the width its values need
            v = value.astype(np.int64)
            top = int(np.max(np.where(v >= 0, v, -v - 1))) if v.size else 0
            width = max(1, top.bit_length() + (1 if kind.param(key).range.lo < 0 else 0))
            per_neuron += int(np.prod(value.shape[1:])) * width
        elif isinstance(value, np.ndarray) and value.ndim == 1:
            per_neuron += param_bits(kind, key, d)
        else:
            shared += param_bits(kind, key, d)
    if layer.bias is not None:
        per_neuron += BIAS_BITS
    return {"state_words": cost.state_words, "prev_spike_bits": cost.prev_spike_bits,
            "state_bits_per_neuron": STATE_BITS * cost.state_words + cost.prev_spike_bits,
            "param_bits_per_neuron": per_neuron, "shared_param_bits": shared}


def stored_weights(layer: "Layer") -> tuple[int, int]:
    """``(weights, non-zero weights)`` a layer stores: a dense matrix (and the recurrent one), a
    conv layer's kernel (shared by every position), none for an input layer."""
    mats = [m for m in (layer.weight, layer.weight_rec) if m is not None]
    return (sum(int(np.size(m)) for m in mats), sum(int(np.count_nonzero(m)) for m in mats))


def dense_ops_per_step(layer: "Layer") -> int:
    """Synaptic operations of one step computed densely: every synapse of every neuron (a conv
    neuron has ``in/groups · kh · kw`` of them; a recurrent layer ``in + out``; an input layer none)."""
    if layer.layer_type == "input":
        return 0
    if layer.layer_type == "conv":
        w = np.shape(layer.weight)
        return layer.out_features * int(w[1] * w[2] * w[3])
    return layer.out_features * (layer.in_features + (layer.out_features if layer.recurrent else 0))


def static_counts(net: "Network") -> list[dict[str, Any]]:
    """Per layer: sizes, parameters, connection sparsity, buffers and memory at deployed widths."""
    out = []
    for i, layer in enumerate(net.layers):
        n_out, n_in = layer.out_features, layer.in_features
        n_w, nnz = stored_weights(layer)
        cost = NeuronCost.for_layer(layer)
        mem = neuron_memory_bits(layer)
        n_params_neuron = sum(int(np.size(v)) for k, v in layer.neuron.items()
                              if isinstance(v, np.ndarray) and v.ndim >= 1)
        weight_bits = n_w * WEIGHT_MANTISSA_BITS + (WEIGHT_EXP_BITS if n_w else 0)
        bias_bits = n_out * BIAS_BITS if layer.bias is not None else 0
        param_bits_total = mem["param_bits_per_neuron"] * n_out + mem["shared_param_bits"] - bias_bits
        state_bits = STATE_BITS * cost.state_words * n_out
        spike_bits = cost.prev_spike_bits * n_out
        out.append({
            "index": i, "name": layer_name(net, i), "neuron_type": layer.neuron_type,
            "layer_type": layer.layer_type, "shape": list(layer.neuron_shape),
            "in_features": n_in, "out_features": n_out, "graded_input": int(layer.input_message_bits) > 0,
            "input_message_bits": int(layer.input_message_bits), "weight_exp": int(layer.weight_exp),
            "weights": n_w, "nonzero_weights": nnz,
            "connection_sparsity": round(1.0 - nnz / float(n_w), 4) if n_w else 0.0,
            "bias": n_out if layer.bias is not None else 0,
            "neuron_params": n_params_neuron,
            "parameters": n_w + (n_out if layer.bias is not None else 0) + n_params_neuron,
            "dense_ops_per_step": dense_ops_per_step(layer),
            "outputs_per_neuron": cost.outputs_per_neuron, "output_width": n_out * cost.outputs_per_neuron,
            "state_words_per_neuron": cost.state_words, "state_labels": list(cost.state_labels),
            "buffers": cost.state_words * n_out,
            "prev_spike_bits": spike_bits,
            "neuron_ops_per_update": cost.ops_per_update,
            "memory_bits": {"weights": weight_bits, "bias": bias_bits, "neuron_params": param_bits_total,
                            "states": state_bits, "prev_spike": spike_bits,
                            "total": weight_bits + bias_bits + param_bits_total + state_bits + spike_bits},
        })
    return out


# --------------------------------------------------------------------------- activity

@dataclass
class LayerCounts:
    """Activity of one layer: ``[B, T]`` int64 arrays per sample and step, ``[B, T, k]`` per core."""

    index: int
    name: str
    neuron_type: str
    n_in: int
    n_out: int
    graded_input: bool
    spiking: bool
    dense_ops: int
    input_events: np.ndarray
    effective_acs: np.ndarray
    effective_macs: np.ndarray
    output_events: np.ndarray
    active_neurons: np.ndarray
    messages: np.ndarray              # sent by this layer's cores (to the next layer or the host)
    hops_x: np.ndarray                # Σ over those messages of their east-west tile hops
    hops_y: np.ndarray
    core_synops: np.ndarray           # [B, T, k] effective ops performed by each core of the layer
    core_macs: np.ndarray             # [B, T, k] of which MACs
    core_active: np.ndarray
    core_output_events: np.ndarray
    core_messages: np.ndarray         # [B, T, k] messages sent by each core
    outputs_per_neuron: int = 1       # M of a multi-output layer: it sends n_out · M values per step
    ops_per_update: Optional[int] = None   # the layer's own (multi-output neuron); None: the kind's
    #: [B, T] effective ACs / MACs with the float model's weights (None without a float group)
    float_effective_acs: Optional[np.ndarray] = None
    float_effective_macs: Optional[np.ndarray] = None
    #: [B, T] neurons whose membrane changed at each step (None unless counted, :func:`membrane_updates`)
    membrane_updates: Optional[np.ndarray] = None

    @property
    def effective_ops(self) -> np.ndarray:
        return self.effective_acs + self.effective_macs

    @property
    def dense_ops_per_step(self) -> int:
        return self.dense_ops

    @property
    def n_outputs(self) -> int:
        """Output channels: ``n_out`` neurons × outputs per neuron."""
        return self.n_out * self.outputs_per_neuron

    @property
    def zeros(self) -> np.ndarray:
        """Zero neuron outputs per sample and step."""
        return self.n_outputs - self.output_events


@dataclass
class Counts:
    """Activity of a whole run over ``samples`` × ``steps`` (in-window steps)."""

    layers: list[LayerCounts]
    samples: int
    steps: int
    host_messages: np.ndarray         # [B, T] input messages host -> first layer's cores
    host_hops_x: np.ndarray
    host_hops_y: np.ndarray
    mapping: "Mapping"
    notes: list[str] = field(default_factory=list)


def _exact_float(bound: int) -> type:
    """float32 when every partial sum stays below 2^24 (exact), else float64."""
    return np.float32 if bound < _F32_EXACT else np.float64


def _delivered(x: np.ndarray, bits: int) -> np.ndarray:
    """What the first Dense receives: 0/1 (binary) or payloads clipped to [0, 2^bits - 1]."""
    from silava.hwsim.kernels import clip_graded  # the golden rule (numpy only)

    return clip_graded(x, bits)


def _chunk_samples(steps: int, width: int, rows: int = 1 << 15) -> int:
    return max(1, rows // max(1, steps) // max(1, width // 512))


def count_activity(net: "Network", x: np.ndarray, outputs: Sequence[np.ndarray],
                   mapping: "Optional[Mapping]" = None,
                   membranes: Optional[Sequence[np.ndarray]] = None) -> Counts:
    """Count the activity of a run from its per-step arrays.

    ``x``: int ``[B, T, F]`` network input (raw: binary layers take ``x ≠ 0``, graded layers the
    payload clipped to ``[0, 2^bits − 1]``); ``outputs[l]``: layer l's output ``[B, T, n_l]``
    (spikes 0/1, or V for an LI readout) on the same T steps. ``mapping`` defaults to
    :func:`hwsim.mapper.map_network` with default limits. ``membranes[l]`` (optional): layer l's
    membrane state after each of the T steps, for the membrane-update count.
    """
    from silava.hwsim.mapper import map_network

    if mapping is None:
        mapping = map_network(net)
    n_layers = len(net.layers)
    if len(outputs) != n_layers:
        raise ValueError(f"count_activity: expected {n_layers} output arrays (one per layer), got {len(outputs)}")
    x = np.asarray(x)
    batch, steps = x.shape[0], x.shape[1]
    for i, out in enumerate(outputs):
        if out.shape != (batch, steps, net.layers[i].output_width):
            raise ValueError(f"count_activity: {layer_name(net, i)} output has shape {tuple(out.shape)}, "
                             f"expected {(batch, steps, net.layers[i].output_width)}")

    def zeros(*shape: int, dtype=np.int64) -> np.ndarray:
        return np.zeros((batch, steps) + shape, dtype=dtype)

    layers: list[LayerCounts] = []
    for i, layer in enumerate(net.layers):
        k = len(mapping.layer_cores[i])
        layers.append(LayerCounts(
            index=i, name=layer_name(net, i), neuron_type=layer.neuron_type, n_in=layer.in_features,
            n_out=layer.out_features, graded_input=int(layer.input_message_bits) > 0,
            dense_ops=dense_ops_per_step(layer),
            spiking=NEURON_COSTS[layer.neuron_type].spiking,
            input_events=zeros(), effective_acs=zeros(), effective_macs=zeros(), output_events=zeros(),
            active_neurons=zeros(), messages=zeros(), hops_x=zeros(), hops_y=zeros(),
            core_synops=zeros(k), core_macs=zeros(k), core_active=zeros(k), core_output_events=zeros(k),
            core_messages=zeros(k), outputs_per_neuron=NeuronCost.for_layer(layer).outputs_per_neuron,
            ops_per_update=NeuronCost.for_layer(layer).ops_per_update))
    host = {"messages": zeros(), "hops_x": zeros(), "hops_y": zeros()}

    for i, layer in enumerate(net.layers):
        lc = layers[i]
        src = x if i == 0 else outputs[i - 1]
        _count_layer(net, i, mapping, src, outputs[i], lc, layers[i - 1] if i > 0 else None, host)
        if membranes is not None:
            lc.membrane_updates = count_membrane_updates(membranes[i])
    last = layers[-1]
    _count_host_output(mapping, outputs[-1], last)
    return Counts(layers=layers, samples=batch, steps=steps, host_messages=host["messages"],
                  host_hops_x=host["hops_x"], host_hops_y=host["hops_y"], mapping=mapping)


def _slice_onehot(bounds: np.ndarray, n: int) -> np.ndarray:
    """int [n, k]: neuron j belongs to slice c."""
    k = len(bounds) - 1
    owner = np.searchsorted(bounds, np.arange(n), side="right") - 1
    onehot = np.zeros((n, k), dtype=np.float32)
    onehot[np.arange(n), owner] = 1.0
    return onehot


def _shift_one(out: np.ndarray) -> np.ndarray:
    """``out [B, T, n]`` one step later (zeros at the first step): a recurrent layer's own input."""
    shifted = np.zeros_like(out)
    shifted[:, 1:] = out[:, :-1]
    return shifted


def _count_layer(net: "Network", i: int, mapping: "Mapping", src: np.ndarray, out: np.ndarray,
                 lc: LayerCounts, prev: Optional[LayerCounts], host: dict) -> None:
    """Fill ``lc`` (inputs, SOPs, active, outputs) and the senders' messages, chunk by chunk.

    The layer's inputs are the previous layer's outputs (or the network input) and, for a
    ``dense_rec`` layer, its own outputs of the step before (:mod:`hwsim.synapses`).
    """
    from silava.hwsim.synapses import synapses

    layer = net.layers[i]
    syn = synapses(layer)
    n_out, n_in, n_tot = layer.out_features, syn.n_in, syn.n_total
    bounds = mapping.bounds[i]
    k = len(bounds) - 1
    graded = int(layer.input_message_bits) > 0
    ftype = _exact_float(max(n_tot, 1) * max(n_out, 1))
    # synapses of each input per core slice: [n_tot, k]
    nnz_slices = np.stack([syn.col_nnz(a, b) for a, b in zip(bounds[:-1], bounds[1:])], axis=1).astype(ftype)
    if not syn.ops:                                   # an input layer: no synaptic operations
        nnz_slices[:] = 0
    nnz_col = nnz_slices.sum(axis=1)
    float_w = (layer.float_params or {}).get("weight")
    nnz_col_float = None
    if float_w is not None and layer.layer_type == "dense" and np.shape(float_w) == np.shape(layer.weight):
        nnz_col_float = (np.asarray(float_w) != 0).sum(axis=0).astype(ftype)
        lc.float_effective_acs = np.zeros_like(lc.effective_acs)
        lc.float_effective_macs = np.zeros_like(lc.effective_macs)
    bias = np.zeros(n_out, dtype=bool) if layer.bias is None else np.asarray(layer.bias) != 0
    biased_per_core = np.add.reduceat(bias.astype(np.int64), bounds[:-1]) if n_out else np.zeros(k, np.int64)
    quiet = np.flatnonzero(~bias)                     # neurons whose activity depends on input
    quiet_nz = syn.rows(quiet).astype(np.float32) if quiet.size else None     # [q, n_tot]
    quiet_onehot = _slice_onehot(bounds, n_out)[quiet] if quiet.size else None  # [q, k]
    conn = mapping.conn[i].astype(np.float32)          # [n_tot, k]
    # senders: the previous layer's cores (or the host), and a recurrent layer's own cores
    parts = []
    if prev is None:
        hx, hy = mapping.hop_matrix(None, mapping.layer_cores[i])
        parts.append((0, n_in, np.array([0, n_in]), hx, hy, None))
    else:
        hx, hy = mapping.hop_matrix(mapping.layer_cores[i - 1], mapping.layer_cores[i])
        # the previous layer's neuron slices -> their output channels (M per neuron of a multi-output layer)
        parts.append((0, n_in, mapping.bounds[i - 1] * prev.outputs_per_neuron, hx, hy, prev))
    own = None
    if syn.n_rec:
        hx, hy = mapping.hop_matrix(mapping.layer_cores[i], mapping.layer_cores[i])
        parts.append((n_in, n_tot, bounds, hx, hy, lc))
        own = _shift_one(np.asarray(out))
    batch, steps = lc.input_events.shape
    per = _chunk_samples(steps, max(n_tot, n_out))
    for s0 in range(0, batch, per):
        s1 = min(batch, s0 + per)
        rows = (s1 - s0) * steps
        xin = np.asarray(src[s0:s1]).reshape(rows, n_in)
        if prev is None:                                  # the network input, as the first layer receives it
            xin = _delivered(xin, int(layer.input_message_bits))
        is_ac = (xin.max(axis=1, initial=0) <= 1) & (xin.min(axis=1, initial=0) >= -1) if graded \
            else np.ones(rows, dtype=bool)
        if own is not None:
            mine = own[s0:s1].reshape(rows, n_out)
            is_ac &= (mine.max(axis=1, initial=0) <= 1) & (mine.min(axis=1, initial=0) >= -1)
            xin = np.concatenate([xin != 0, mine != 0], axis=1)
        xb = (xin != 0).astype(ftype)
        shape = (s1 - s0, steps)
        lc.input_events[s0:s1] = xb.sum(axis=1, dtype=np.float64).reshape(shape)
        eff = (xb @ nnz_col).reshape(shape)
        core_syn = xb @ nnz_slices                                        # [rows, k]
        is_ac2 = is_ac.reshape(shape)
        lc.effective_acs[s0:s1] = np.where(is_ac2, eff, 0)
        lc.effective_macs[s0:s1] = np.where(is_ac2, 0, eff)
        if nnz_col_float is not None:
            eff_f = (xb @ nnz_col_float).reshape(shape)
            lc.float_effective_acs[s0:s1] = np.where(is_ac2, eff_f, 0)
            lc.float_effective_macs[s0:s1] = np.where(is_ac2, 0, eff_f)
        lc.core_synops[s0:s1] = core_syn.reshape(shape + (k,))
        lc.core_macs[s0:s1] = np.where(is_ac[:, None], 0, core_syn).reshape(shape + (k,))
        # active neurons: biased ones always, the others when they received a synaptic event
        active = np.broadcast_to(biased_per_core.astype(np.float64), (rows, k)).copy()
        if quiet_nz is not None:
            got = np.asarray(quiet_nz @ xb.astype(np.float32, copy=False).T).T > 0       # [rows, q]
            active += got.astype(np.float32) @ quiet_onehot
        lc.core_active[s0:s1] = active.reshape(shape + (k,))
        lc.active_neurons[s0:s1] = active.sum(axis=1).reshape(shape)
        # messages from each sender core (a slice of the inputs) to this layer's cores
        xb32 = xb.astype(np.float32, copy=False)
        for lo, hi, src_bounds, hx, hy, sender in parts:
            sent = np.zeros((rows, len(src_bounds) - 1))
            hops_x = np.zeros(rows)
            hops_y = np.zeros(rows)
            for c, (a, b) in enumerate(zip(src_bounds[:-1], src_bounds[1:])):
                m = xb32[:, lo + a:lo + b] @ conn[lo + a:lo + b]                 # [rows, k] messages c -> d
                sent[:, c] = m.sum(axis=1)
                hops_x += m @ hx[c].astype(np.float64)
                hops_y += m @ hy[c].astype(np.float64)
            if sender is None:
                host["messages"][s0:s1] += sent.sum(axis=1).reshape(shape).astype(np.int64)
                host["hops_x"][s0:s1] += hops_x.reshape(shape).astype(np.int64)
                host["hops_y"][s0:s1] += hops_y.reshape(shape).astype(np.int64)
            else:
                sender.core_messages[s0:s1] += sent.reshape(shape + (len(src_bounds) - 1,)).astype(np.int64)
                sender.messages[s0:s1] += sent.sum(axis=1).reshape(shape).astype(np.int64)
                sender.hops_x[s0:s1] += hops_x.reshape(shape).astype(np.int64)
                sender.hops_y[s0:s1] += hops_y.reshape(shape).astype(np.int64)
        # outputs
        onz = (np.asarray(out[s0:s1]).reshape(rows, lc.n_outputs) != 0).view(np.uint8)
        core_out = np.add.reduceat(onz, bounds[:-1] * lc.outputs_per_neuron, axis=1, dtype=np.int64)
        lc.core_output_events[s0:s1] = core_out.reshape(shape + (k,))
        lc.output_events[s0:s1] = core_out.sum(axis=1).reshape(shape)


def _count_host_output(mapping: "Mapping", out: np.ndarray, last: LayerCounts) -> None:
    """The last layer sends each output event to the host (one message each)."""
    i = last.index
    hx, hy = mapping.hop_matrix(mapping.layer_cores[i], None)          # [k, 1]
    last.core_messages[...] += last.core_output_events
    last.messages[...] += last.output_events
    last.hops_x[...] += (last.core_output_events * hx[:, 0]).sum(axis=-1)
    last.hops_y[...] += (last.core_output_events * hy[:, 0]).sum(axis=-1)


def count_membrane_updates(membrane: np.ndarray) -> np.ndarray:
    """NeuroBench 2.3.0 ``MembraneUpdates`` per sample and step (int64 ``[B, T]``).

    ``membrane``: ``[B, T, n]`` the membrane state after each step (``[B, T, n, N]`` for a neuron with
    N membrane words: it counts as updated when any word changed). Step 0 counts every neuron
    (NeuroBench adds the size of the first call's membrane); step t > 0 counts the neurons
    whose membrane differs from step t − 1 (``count_nonzero(pre_fire_mem − post_fire_mem)``).
    """
    m = np.asarray(membrane)
    m = m.reshape(m.shape[:3] + (-1,))        # [B, T, n, words]: a multi-output neuron's N state words
    out = np.empty(m.shape[:2], dtype=np.int64)
    if m.shape[1]:
        out[:, 0] = m.shape[2]
        out[:, 1:] = np.count_nonzero((m[:, 1:] != m[:, :-1]).any(axis=-1), axis=-1)
    return out


def _in_window_membranes(net: "Network", sim: Any, steps: int) -> list[np.ndarray]:
    offsets = list(getattr(sim, "offsets", []) or [0] * len(net.layers))
    return [sim.states[i][KINDS[layer.neuron_type].membrane][:, offsets[i]:offsets[i] + steps]
            for i, layer in enumerate(net.layers)]


def membrane_updates(net: "Network", x: np.ndarray, sim: Any = None, *, batch_size: int = 32) -> list[np.ndarray]:
    """Per layer ``[B, T]`` membrane updates (:func:`count_membrane_updates`) of ``net`` on ``x``.

    Uses ``sim.states`` when the run recorded them; otherwise runs the bit-exact simulation
    again with ``record=True`` in batches of ``batch_size`` samples (logical timeline: its
    in-window states are those of either timeline), keeping only the counts.
    """
    steps = int(getattr(sim, "steps", 0) or net.meta.steps)
    if sim is not None and getattr(sim, "states", None) is not None:
        return [count_membrane_updates(m) for m in _in_window_membranes(net, sim, steps)]
    from silava.hwsim.simulate import simulate

    x = np.asarray(x)
    parts: list[list[np.ndarray]] = [[] for _ in net.layers]
    for start in range(0, x.shape[0], batch_size):
        run = simulate(net, x[start:start + batch_size], record=True, threads=1)
        for i, m in enumerate(_in_window_membranes(net, run, steps)):
            parts[i].append(count_membrane_updates(m))
    return [np.concatenate(p, axis=0) if p else np.zeros((0, steps), np.int64) for p in parts]


def counts_from_sim(net: "Network", x: np.ndarray, sim: Any, mapping: "Optional[Mapping]" = None, *,
                    membrane: bool = False) -> Counts:
    """Counts of a :class:`hwsim.simulate.SimResult` on input ``x`` (the same ``x`` given to ``simulate``).

    Works for both timelines: each layer's in-window steps (``sim.offsets``) are used, so the
    counts are those of the T logical steps per sample. Membrane updates are counted when the
    run recorded its states, or with ``membrane=True`` (which re-runs the simulation if needed).
    """
    steps = int(getattr(sim, "steps", 0) or net.meta.steps)
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[0] != sim.readout.shape[0]:
        raise ValueError(f"counts_from_sim: x must be [samples, steps, features] with "
                         f"{sim.readout.shape[0]} samples, got shape {tuple(x.shape)}")
    if x.shape[1] < steps:      # simulate() zero-pads short inputs to meta.steps
        x = np.concatenate([x, np.zeros((x.shape[0], steps - x.shape[1], x.shape[2]), dtype=x.dtype)], axis=1)
    x = x[:, :steps]
    offsets = list(getattr(sim, "offsets", []) or [0] * len(net.layers))
    all_outputs = list(getattr(sim, "outputs", []) or [])
    spikes = iter(sim.spikes)
    outputs = []
    for i, layer in enumerate(net.layers):
        last = i == len(net.layers) - 1
        if all_outputs:
            arr = all_outputs[i]
        else:
            arr = next(spikes) if NEURON_COSTS[layer.neuron_type].spiking else None
            if arr is None:
                if not last:
                    raise ValueError(f"counts_from_sim: {layer_name(net, i)} is non-spiking but not the last layer")
                arr = sim.readout
        outputs.append(arr[:, offsets[i]:offsets[i] + steps])
    counts = count_activity(net, x, outputs, mapping)
    if membrane or getattr(sim, "states", None) is not None:
        for lc, updates in zip(counts.layers, membrane_updates(net, x, sim)):
            lc.membrane_updates = updates
    return counts


# --------------------------------------------------------------------------- summaries

def layer_summary(lc: LayerCounts) -> dict[str, Any]:
    """Per-sample means of one layer's counts (NeuroBench: total / samples) and per-step means."""
    b, t = lc.input_events.shape
    eff = lc.effective_ops
    total_outputs = lc.n_outputs * t * b
    zeros = int(total_outputs - lc.output_events.sum())
    ops_per_update = lc.ops_per_update if lc.ops_per_update is not None else NEURON_COSTS[lc.neuron_type].ops_per_update
    updates = lc.n_out * t

    def per_sample(a: np.ndarray) -> float:
        return float(a.sum()) / b

    def maybe(a: Optional[np.ndarray]) -> Optional[float]:
        return None if a is None else per_sample(a)

    float_ops = (None if lc.float_effective_acs is None or lc.float_effective_macs is None
                 else lc.float_effective_acs + lc.float_effective_macs)

    return {
        "name": lc.name, "neuron_type": lc.neuron_type, "graded_input": lc.graded_input,
        "per_sample": {
            "effective_acs": per_sample(lc.effective_acs), "effective_macs": per_sample(lc.effective_macs),
            "effective_sops": per_sample(eff), "dense_sops": float(lc.dense_ops_per_step * t),
            "input_events": per_sample(lc.input_events), "output_events": per_sample(lc.output_events),
            "spikes": per_sample(lc.output_events) if lc.spiking else 0.0,
            "messages": per_sample(lc.messages),
            "hops": per_sample(lc.hops_x + lc.hops_y),
            "neuron_updates": float(updates), "active_neuron_updates": per_sample(lc.active_neurons),
            "neuron_ops": float(updates * ops_per_update),
            "membrane_updates": maybe(lc.membrane_updates),
            "float_effective_acs": maybe(lc.float_effective_acs),
            "float_effective_macs": maybe(lc.float_effective_macs),
            "float_effective_sops": maybe(float_ops),
        },
        "activation_sparsity": zeros / total_outputs if total_outputs else 0.0,
        "zeros": zeros, "outputs": int(total_outputs),
        "spike_rate": float(lc.output_events.sum()) / total_outputs if lc.spiking and total_outputs else 0.0,
        "per_step_mean": {
            "effective_sops": eff.mean(axis=0).tolist(),
            "output_events": lc.output_events.mean(axis=0).tolist(),
            "messages": lc.messages.mean(axis=0).tolist(),
        },
        "per_sample_total": {
            "effective_sops": eff.sum(axis=1).tolist(),
            "output_events": lc.output_events.sum(axis=1).tolist(),
        },
    }


def _total(values: list[Optional[float]]) -> Optional[float]:
    """Sum over layers; None if any layer lacks the figure (no float group, membranes not counted)."""
    return None if any(v is None for v in values) else float(sum(values))


def summarize(counts: Counts) -> dict[str, Any]:
    """Per-layer summaries and network totals (per sample), NeuroBench-style names."""
    layers = [layer_summary(lc) for lc in counts.layers]
    keys = layers[0]["per_sample"].keys() if layers else []
    total = {k: _total([s["per_sample"][k] for s in layers]) for k in keys}
    zeros = sum(s["zeros"] for s in layers)
    outputs = sum(s["outputs"] for s in layers)
    hidden = [s for s, lc in zip(layers, counts.layers) if lc.spiking]
    hz = sum(s["zeros"] for s in hidden)
    ho = sum(s["outputs"] for s in hidden)
    host = float(counts.host_messages.sum()) / max(1, counts.samples)
    total["messages"] += host
    total["hops"] += float((counts.host_hops_x + counts.host_hops_y).sum()) / max(1, counts.samples)
    return {
        "samples": counts.samples, "steps": counts.steps,
        "layers": layers,
        "total_per_sample": total,
        "host_input_messages_per_sample": host,
        "activation_sparsity": zeros / outputs if outputs else 0.0,
        "activation_sparsity_spiking_layers": hz / ho if ho else 0.0,
        "per_sample_total_effective_sops": np.sum([lc.effective_ops.sum(axis=1) for lc in counts.layers],
                                                  axis=0).tolist(),
        "per_step_mean_effective_sops": np.sum([lc.effective_ops.mean(axis=0) for lc in counts.layers],
                                               axis=0).tolist(),
        "definitions": {
            "effective_sops": "NeuroBench 2.3.0 SynapticOperations: per layer call (here: per sample and step), "
                              "sum over non-zero inputs j of nnz(W[:, j]); AC if every input is in {-1,0,1}, else MAC",
            "dense_sops": "in_features x out_features per step",
            "activation_sparsity": "zeros / total neuron outputs over all layers (NeuroBench ActivationSparsity)",
            "active_neuron_updates": "neuron updates with >= 1 synaptic event or a non-zero bias (SANA-FE rule)",
            "messages": "one per (output event, destination core); host input and readout output included",
            "neuron_ops": "neuron updates x integer ops per update of docs/fixed_point.md §3",
            "membrane_updates": "NeuroBench 2.3.0 MembraneUpdates: neurons whose membrane state changed in a step "
                                "(every neuron at the first step), per sample",
            "float_effective_sops": "NeuroBench on the float model: the same count with the non-zero weights of the "
                                    "float model (model.net float group, before quantization) on this run's input "
                                    "rasters; 'effective_sops' is the deployed count (quantized weights, some of "
                                    "which round to zero)",
        },
    }


__all__ = ["NEURON_COSTS", "Counts", "LayerCounts", "NeuronCost", "count_activity", "counts_from_sim",
           "layer_name", "layer_summary", "neuron_memory_bits", "param_bits", "static_counts", "summarize"]
