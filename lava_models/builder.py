"""model.net -> a Lava network of Processes (docs/fixed_point.md §5, the Lava timeline).

Per layer ``i`` (0-based, ``L`` layers, ``T = meta.steps``, period ``P = T + L``)::

    Dense(weights=w, weight_exp=e, num_message_bits=inputMessageBits) -> neuron i
    dense_rec: the same, plus neuron.s_out -> Dense(weight_rec, e) -> neuron.a_in (a Lava ``Reset``
               clears that Dense's ``a_buff`` before the layer's reset step)
    conv:      Lava Conv(weight in netx's order, input (W, H, C)) -> neuron i ((W, H, C) Vars)
    input:     the source -> neuron i directly (no synapse, no delay: ``P = T + d_{L-1}``)

The neuron comes from the layer's kind declaration (``silava.core.kinds.KINDS[type]``):

* a netx-native kind (CUBA): Lava's own ``LIFReset(du = iDecay − 1, dv = vDecay, vth = vThMant,
  bias_mant = bias, bias_exp = 6, reset_interval = P, reset_offset = i + 2)``;
  ``floating_pt``: ``LIFReset(du = cur_decay, dv = vol_decay, vth = threshold, bias_mant = bias)``
  from the float group (Lava's float LIF computes ``u = u(1−du) + a``, ``v = v(1−dv) + u + bias_mant``,
  spike ``v > vth``, ``v ← 0``; ``bias_exp`` is ignored there) — the same equations as train's ``lif``;
* lava-dl's sigma-delta units: Lava's own ``Delta`` / ``SigmaDelta`` (ReLU) / ``Sigma`` with netx's
  ``spike_exp = state_exp = 6``; they have no reset, so Lava ``Reset`` processes zero their states
  before the layer's reset step;
* any other kind (SILIF / CSILIF / RF / MULTIOUT / LI / HYBRID / LI2): its Process in :mod:`lava_models.procs`
  (``reset_interval = P``, ``reset_offset = i + 2``), whose Vars are filled from the model.net
  keys (``FILE_KEYS``) under ``fixed_pt`` or the float group (``FLOAT_KEYS``) under ``floating_pt``.

Synapses under ``fixed_pt`` are Lava's bit-accurate Dense with ``sign_mode = MIXED`` (clip to
[−256, 255], drop 1 LSB: exact for our even weights; Lava's automatic sign mode would clip an
all-negative matrix to [−255, 0]). Under ``floating_pt`` the Dense holds ``float.weight``.

Input: Lava's ``SpikeDataloader`` with one sample per period (``interval = P``): its data Var
starts as sample 0 and it loads sample ``n + 1`` in the management phase of the last step of
period ``n`` (offset ``P − 1``), so sample ``n`` is sent at global steps ``nP + 1 … nP + T`` and
zeros for the ``L`` remaining steps. The samples live in the (forked) loader process: nothing
is copied through Lava's element-by-element Var channel (``Var.set`` of a 140 × 2540 source
buffer takes ~11 s on the 2-core CI machine, more than running it).
Overflow counters (``fixed_pt``): every neuron Process counts its saturations (Var ``saturate``),
the synapses are :class:`lava_models.procs.counting.CountingDense` (Var ``int32_overflow``) and a CUBA
layer is a :class:`lava_models.procs.counting.CountingLIFReset` (``int32_overflow``, ``wrap``,
``saturate``): Lava's own models, counting beside their arithmetic. Each counts only the ``T``
in-window steps of every period (synapse ``i`` from in-period step ``i + 1``, neuron ``i`` from its
reset step ``i + 2``), so :meth:`LavaNetwork.read_counters` equals hwsim's logical-timeline counters.
Outputs: Lava ``Extractor`` s (one array message per step, drained by :meth:`LavaNetwork.read`):
the last layer's ``s_out`` (the LI readout state V, or spikes when the last layer spikes) and,
with ``record_spikes``, every other layer's spikes. ``record_states`` adds one Lava ``Monitor``
per state of the kind (``State.var``, e.g. Lava LIF's ``u``, ``v`` for CUBA; slow: for tests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from silava.core.kinds import KINDS, get_kind

#: bits of a graded payload on a Dense input (Lava's 24-bit neuron output)
A_IN_BITS = 24

from . import require_lava

TAGS = ("fixed_pt", "floating_pt")
#: default capacity (steps) of the output channels: run at most this many steps between reads
DEFAULT_BUFFER_STEPS = 4096


class BuildError(ValueError):
    """The network cannot be built as Lava processes (one line naming the problem and the fix)."""


def period(net) -> int:
    """``P = T + d_last``: global steps per sample on the Lava timeline (docs/fixed_point.md §5);
    ``d_last`` = synapses on the path to the last layer (``T + L`` when every layer has synapses)."""
    return int(net.meta.steps) + int(net.delays()[-1])


def reset_offset(i: int, net=None) -> int:
    """Reset step of layer ``i`` within a period (1-based): ``d_i + 1`` (``i + 2`` without input layers)."""
    return (int(net.delays()[i]) if net is not None else i + 1) + 1


def window(i: int, steps: int, net=None) -> slice:
    """0-based in-period indices where layer ``i`` holds logical data steps ``1 … T``.

    Layer ``i`` at global step ``t + d_i`` equals the logical layer at data step ``t``
    (``d_i = i + 1`` when every layer has synapses), so the 0-based indices are ``d_i … d_i + T − 1``.
    """
    d = int(net.delays()[i]) if net is not None else i + 1
    return slice(d, d + int(steps))


def xyz(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Lava's shape of a layer: (W, H, C) for a [C, H, W] layer (netx's order), else the same."""
    return tuple(shape[::-1]) if len(shape) == 3 else tuple(shape)


def to_lava_order(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A flat C-order array of a [C, H, W] layer -> Lava's (W, H, C); other shapes unchanged."""
    arr = np.asarray(values)
    if len(shape) != 3 or arr.ndim == 0:
        return arr
    return arr.reshape(shape).transpose(2, 1, 0)


def from_lava_order(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``[..., W, H, C]`` (Lava) -> ``[..., C·H·W]`` flat in C order of [C, H, W]."""
    arr = np.asarray(values)
    if len(shape) != 3:
        return arr.reshape(arr.shape[:arr.ndim - len(shape)] + (-1,))
    lead = arr.ndim - 3
    perm = tuple(range(lead)) + (lead + 2, lead + 1, lead)
    return arr.transpose(perm).reshape(arr.shape[:lead] + (-1,))


class SampleFeed:
    """The dataset behind the ``SpikeDataloader``: item ``n`` is sample ``n + 1`` as ``[*shape, P]``.

    Lava's loader sends its initial data Var (sample 0) during period 0 and asks the dataset
    for the next sample at the end of every period, starting with index 0; hence the shift.
    Samples past the end are zeros. Graded inputs (``bits > 0``) are clipped to
    ``[0, 2^bits − 1]`` like ``hwsim.kernels.clip_graded``; binary inputs are sent as they
    are (Dense counts any nonzero as 1), or as 0/1 with ``binarize`` (an input layer's neurons
    take the payload itself). ``shape``: the first layer's input shape; a [C, H, W] input is
    sent in Lava's (W, H, C) order.
    """

    def __init__(self, x: np.ndarray, period_steps: int, bits: int = 0, dtype=np.int32,
                 shape: Optional[tuple[int, ...]] = None, binarize: bool = False) -> None:
        self.x = x
        self.period = int(period_steps)
        self.bits = int(bits)
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else (x.shape[2],)
        self.binarize = bool(binarize)

    def __len__(self) -> int:
        return max(1, len(self.x))

    def sample(self, n: int) -> np.ndarray:
        """Sample ``n`` as ``[*xyz(shape), P]`` (zero padded; zeros past the end)."""
        out = np.zeros((self.x.shape[2], self.period), dtype=self.dtype)
        if 0 <= n < len(self.x):
            xs = self.x[n]
            if self.bits > 0 and np.issubdtype(self.dtype, np.integer):
                xs = np.clip(xs, 0, (1 << self.bits) - 1)
            elif self.bits <= 0 and self.binarize:
                xs = xs != 0
            out[:, : xs.shape[0]] = xs.T
        if len(self.shape) == 3:                 # (C·H·W, P) -> (W, H, C, P)
            out = out.reshape(self.shape + (self.period,)).transpose(2, 1, 0, 3)
        return np.ascontiguousarray(out)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.sample(int(i) + 1), 0


@dataclass
class LavaNetwork:
    """A model.net built as Lava processes, ready to run (see :func:`build_network`)."""

    net: Any
    tag: str
    n_samples: int
    period: int
    source: Any
    synapses: list
    neurons: list
    readout_tap: Any
    spike_taps: Optional[list]
    monitors: Optional[list]
    run_cfg: Any
    buffer_steps: int
    state_names: list = field(default_factory=list)
    #: Lava ``Reset`` processes clearing state Lava's own Processes do not reset (sigma-delta
    #: states, recurrent Dense buffers) at each layer's reset step
    resets: list = field(default_factory=list)

    @property
    def n_layers(self) -> int:
        return len(self.neurons)

    @property
    def steps(self) -> int:
        return int(self.net.meta.steps)

    @property
    def total_steps(self) -> int:
        """Steps to run all samples: ``n_samples · P``."""
        return self.n_samples * self.period

    def session(self, timeout_s: float = 120.0):
        """A :class:`lava_models.runner.LavaSession` on this network (compiles at the first run)."""
        from .runner import LavaSession

        return LavaSession(self.neurons[-1], self.run_cfg, timeout_s=timeout_s)

    def read(self, steps: int) -> tuple[np.ndarray, Optional[list[np.ndarray]]]:
        """Drain the output channels after running ``steps`` steps (≤ ``buffer_steps``).

        Returns ``(last [steps, C], outputs)``: the last layer's payload per step (int64 under
        ``fixed_pt``, float64 under ``floating_pt``) and, with ``record_spikes``, a list of
        ``[steps, H]`` per other layer (uint8 spikes, or int64 payloads of a graded layer), else
        None. A [C, H, W] layer's values are flat in C order (Lava holds them as (W, H, C)).
        """
        steps = int(steps)
        if steps > self.buffer_steps:
            raise ValueError(f"read({steps}) exceeds the output buffer of {self.buffer_steps} steps")
        dtype = np.int64 if self.tag == "fixed_pt" else np.float64
        layers = self.net.layers
        last = from_lava_order(_drain(self.readout_tap, steps, dtype), layers[-1].neuron_shape)
        spikes = None
        if self.spike_taps is not None:
            spikes = []
            for layer, tap in zip(layers, self.spike_taps):
                spiking = get_kind(layer.neuron_type).spiking
                arr = _drain(tap, steps, np.float64 if spiking else dtype)
                arr = from_lava_order(arr, layer.neuron_shape)
                spikes.append(arr.astype(np.uint8) if spiking else arr)
        return last, spikes

    def read_counters(self) -> dict[str, dict[str, int]]:
        """The overflow counters of the Lava models so far (call before stop): ``{"layer/i": {name: n}, "total": ...}``
        with the names of hwsim's counters (``saturate``, ``wrap``, ``int32_overflow``); empty under ``floating_pt``."""
        out: dict[str, dict[str, int]] = {}
        if self.tag != "fixed_pt":
            return out
        total: dict[str, int] = {}
        for i, (dense, neuron) in enumerate(zip(self.synapses, self.neurons)):
            layer: dict[str, int] = {}
            for proc in (dense, neuron):
                for name in _counter_names(proc):
                    n = int(np.asarray(getattr(proc, name).get()).reshape(-1)[0])
                    if n:
                        layer[name] = layer.get(name, 0) + n
            out[f"layer/{i}"] = layer
            for name, n in layer.items():
                total[name] = total.get(name, 0) + n
        out["total"] = total
        return out

    def read_states(self) -> list[dict[str, np.ndarray]]:
        """With ``record_states``: per layer ``{state name (State.name, e.g. "U"): [total_steps, n]}`` (call before stop)."""
        if self.monitors is None:
            raise ValueError("build the network with record_states=True to read states")
        dtype = np.int64 if self.tag == "fixed_pt" else np.float64
        out = []
        for mons in self.monitors:
            layer = {}
            for name, (mon, proc, var, shape) in mons.items():
                data = mon.get_data()[proc.name][var]
                data = np.rint(data).astype(dtype) if dtype is np.int64 else np.asarray(data, dtype)
                layer[name] = from_lava_order(data, shape)
            out.append(layer)
        return out


def _counter_names(proc) -> tuple[str, ...]:
    """The overflow counter Vars of a Process built here (none on a plain Lava Process)."""
    from .procs.base import COUNTER_VARS, NeuronProcess
    from .procs.counting import COUNTERS

    if isinstance(proc, NeuronProcess):
        return COUNTER_VARS
    return COUNTERS.get(type(proc).__name__, ())


def _drain(tap, steps: int, dtype) -> np.ndarray:
    rows = [tap.receive() for _ in range(steps)]
    if not rows:
        return np.zeros((0,) + tuple(tap.in_port.shape), dtype=dtype)
    arr = np.stack(rows)
    return np.rint(arr).astype(dtype) if np.issubdtype(dtype, np.integer) else arr.astype(dtype)


def _float_param(layer, i: int, key: str) -> np.ndarray:
    fp = layer.float_params
    if fp is None or key not in fp:
        raise BuildError(f"layer/{i}/float/{key}: missing; floating_pt needs the float group "
                         f"(export the checkpoint with export/to_lava.py, which writes it)")
    return np.asarray(fp[key], dtype=np.float64)


def _kind(layer, i: int):
    """The kind declaration of layer ``i`` (``BuildError`` if the type is unknown)."""
    try:
        return get_kind(layer.neuron_type)
    except KeyError:
        raise BuildError(f"layer/{i}/neuron/type: unknown neuron type {layer.neuron_type!r} "
                         f"(kinds: {', '.join(KINDS)})") from None


def _lava_lif(layer, i: int, tag: str, kw: dict, steps: int = 0):
    """A netx-native kind (CUBA) as Lava's own ``LIFReset`` (``fixed_pt``: counting its overflows in the
    ``steps`` in-window steps); parameters as netx sets them."""
    from lava.proc.lif.process import LIFReset

    n = layer.out_features
    nd = layer.neuron
    shape = layer.neuron_shape
    if tag == "fixed_pt":
        from .procs.counting import CountingLIFReset

        bias = np.zeros(n, np.int64) if layer.bias is None else np.asarray(layer.bias, np.int64)
        # Lava adds ds_offset = 1 to du: du = iDecay − 1 gives the effective current decay iDecay
        return CountingLIFReset(du=to_lava_order(np.asarray(nd["iDecay"]) - 1, shape),
                                dv=to_lava_order(np.asarray(nd["vDecay"]), shape),
                                vth=to_lava_order(np.asarray(nd["vThMant"]), shape),
                                bias_mant=to_lava_order(bias, shape), bias_exp=6, count_first=kw["reset_offset"],
                                count_interval=kw["reset_interval"], count_steps=steps, **kw)
    return LIFReset(du=_float_param(layer, i, "cur_decay"), dv=_float_param(layer, i, "vol_decay"),
                    vth=_float_param(layer, i, "threshold"), bias_mant=_float_bias(layer, i, n),
                    bias_exp=0, **kw)


def _lava_delta(layer, i: int, tag: str, kw: dict):
    """DELTA as Lava's own ``Delta`` with netx's parameters (``spike_exp = state_exp = 6``)."""
    from lava.proc.sdn.process import Delta

    return Delta(shape=kw["shape"], vth=int(layer.neuron["vThMant"]), spike_exp=6, state_exp=6)


def _lava_sigma_delta(layer, i: int, tag: str, kw: dict):
    """SIGMA_DELTA as Lava's own ``SigmaDelta`` (ReLU) with netx's parameters; bias per neuron."""
    from lava.proc.sdn.process import ActivationMode, SigmaDelta

    bias = 0 if layer.bias is None else to_lava_order(np.asarray(layer.bias, np.int64), layer.neuron_shape)
    return SigmaDelta(shape=kw["shape"], vth=int(layer.neuron["vThMant"]), bias=bias, spike_exp=6, state_exp=6,
                      act_mode=ActivationMode.RELU)


def _lava_sigma(layer, i: int, tag: str, kw: dict):
    """SIGMA as Lava's own ``Sigma`` (an accumulator)."""
    from lava.proc.sdn.process import Sigma

    return Sigma(shape=kw["shape"])


#: kinds that Lava itself implements: kind -> builder of the Process (``reset_interval`` /
#: ``reset_offset`` in ``kw``); the others are silava's Processes (:data:`procs.PROCESSES`)
LAVA_PROCESSES = {"CUBA": _lava_lif, "DELTA": _lava_delta, "SIGMA_DELTA": _lava_sigma_delta, "SIGMA": _lava_sigma}
#: of those, the kinds whose Lava Process has no per-sample reset: the builder adds Lava
#: ``Reset`` processes on their state Vars (netx ignores ``reset_interval`` for them)
NO_RESET = ("DELTA", "SIGMA_DELTA", "SIGMA")


def _neuron(layer, i: int, tag: str, reset_interval: int, net=None, steps: int = 0):
    """The neuron Process of layer ``i``: Lava's own Process for a kind Lava implements, else ours;
    ``steps``: the in-window steps per period its overflow counters count (0: every step)."""
    shape = xyz(layer.neuron_shape)
    kw = dict(shape=shape, reset_interval=reset_interval, reset_offset=reset_offset(i, net))
    kind = _kind(layer, i)
    if kind.name in LAVA_PROCESSES:
        if tag != "fixed_pt" and kind.name in NO_RESET:
            raise BuildError(f"layer/{i}/neuron/type: {kind.name} runs under fixed_pt only (a lava-dl file has no "
                             f"float group)")
        if kind.name == "CUBA":
            return _lava_lif(layer, i, tag, kw, steps)
        return LAVA_PROCESSES[kind.name](layer, i, tag, kw)
    from .procs import PROCESSES

    proc = PROCESSES.get(kind.name)
    if proc is None:
        raise BuildError(f"layer/{i}/neuron/type: no Lava process for {kind.name!r} "
                         f"(supported: {', '.join(LAVA_PROCESSES)}, {', '.join(PROCESSES)})")
    if tag == "fixed_pt":
        values = {}
        for var, key in proc.FILE_KEYS.items():
            if key == "bias":
                values[var] = 0 if layer.bias is None else to_lava_order(np.asarray(layer.bias, np.int64),
                                                                         layer.neuron_shape)
            elif key in layer.neuron:          # an optional key falls back to the Process default
                values[var] = to_lava_order(layer.neuron[key], layer.neuron_shape)
    else:
        n = layer.out_features
        optional = {p.source for p in kind.params if p.role == "constant" and not p.required}
        fp = layer.float_params or {}
        values = {var: (_float_bias(layer, i, n) if key == "bias" else _float_param(layer, i, key))
                  for var, key in proc.FLOAT_KEYS.items() if key not in optional or key in fp}
        values.update({p.var: layer.neuron[p.key] for p in kind.dims.values()})   # sizes (e.g. N, M)
    return proc(**values, count_steps=steps, **kw)


def _float_bias(layer, i: int, n: int) -> np.ndarray:
    fp = layer.float_params or {}
    if "bias" in fp:
        return np.broadcast_to(np.asarray(fp["bias"], np.float64), (n,)).copy()
    _float_param(layer, i, "weight")  # raises the missing-group error if there is no float group
    return np.zeros(n)


def _dense(weights: np.ndarray, weight_exp: int, bits: int, count: Optional[tuple[int, int, int]] = None):
    """Lava's bit-accurate Dense; with ``count = (first, interval, steps)`` a :class:`CountingDense` that
    counts int32 overflows in the ``steps`` in-window steps of each ``interval`` (from in-period step ``first``)."""
    from lava.proc.dense.process import Dense
    from lava.utils.weightutils import SignMode

    kw = dict(weights=np.asarray(weights, dtype=np.int32), weight_exp=int(weight_exp), num_weight_bits=8,
              sign_mode=SignMode.MIXED, num_message_bits=int(bits))
    if count is not None:
        from .procs.counting import CountingDense

        first, interval, steps = count
        return CountingDense(**kw, count_first=int(first), count_interval=int(interval), count_steps=int(steps))
    return Dense(**kw)


def lava_conv_weight(weight: np.ndarray) -> np.ndarray:
    """A PyTorch-order conv weight (out, in/groups, kh, kw) as netx hands it to Lava's Conv:
    flipped in space (Lava convolves, PyTorch correlates) and in Lava's (out, kw, kh, in) order."""
    w = np.asarray(weight)[:, :, ::-1, ::-1]
    return np.ascontiguousarray(w.transpose(0, 3, 2, 1))


def _synapse(layer, i: int, tag: str, count: Optional[tuple[int, int, int]] = None):
    """Layer ``i``'s synapses: a Dense (dense, dense_rec), Lava's Conv, or None (an input layer);
    ``count = (first, interval, steps)``: the fixed_pt Dense counts its int32 overflows in that window."""
    bits = int(layer.input_message_bits)
    if layer.layer_type == "input":
        return None
    float_rec = layer.layer_type == "dense_rec" and "weight_rec" in (layer.float_params or {})
    if tag != "fixed_pt" and layer.layer_type != "dense" and not float_rec:
        raise BuildError(f"layer/{i}/type: floating_pt runs dense layers only (a {layer.layer_type} layer has "
                         f"no float group); use fixed_pt")
    if layer.layer_type == "conv":
        from lava.proc.conv.process import Conv

        spec = layer.conv
        return Conv(weight=lava_conv_weight(layer.weight).astype(np.int32), input_shape=xyz(spec.in_shape),
                    padding=tuple(spec.padding[::-1]), stride=tuple(spec.stride[::-1]),
                    dilation=tuple(spec.dilation[::-1]), groups=int(spec.groups), num_message_bits=bits)
    if tag == "fixed_pt":
        return _dense(layer.weight, layer.weight_exp, bits, count=count)
    from lava.proc.dense.process import Dense

    return Dense(weights=_float_param(layer, i, "weight"), num_message_bits=bits)


def _reset(var, interval: int, offset: int):
    """A Lava ``Reset`` that zeroes ``var`` in the management phase of steps ``t`` with
    ``(t − 1) % interval == offset``, i.e. before step ``offset + 2`` integrates."""
    from lava.proc.io.reset import Reset

    r = Reset(reset_value=0, interval=int(interval), offset=int(offset) % int(interval))
    r.connect_var(var)
    return r


def _inputs(net, inputs: Optional[np.ndarray]) -> np.ndarray:
    T, F = int(net.meta.steps), net.layers[0].in_features
    if inputs is None:
        return np.zeros((1, T, F), dtype=np.int64)
    x = np.asarray(inputs)
    if x.ndim != 3 or x.shape[2] != F:
        raise BuildError(f"inputs: expected shape [N, T, {F}] (the network has {F} inputs), got {list(x.shape)}")
    if x.shape[1] > T:
        raise BuildError(f"inputs: {x.shape[1]} steps but the network was exported for T = {T}; "
                         f"pass at most {T} steps (shorter samples are zero padded)")
    if len(x) == 0:
        raise BuildError("inputs: no samples")
    return x


def build_network(net, tag: str = "fixed_pt", *, inputs: Optional[np.ndarray] = None,
                  record_spikes: bool = False, record_states: bool = False,
                  buffer_steps: Optional[int] = None) -> LavaNetwork:
    """Build ``net`` (an ``silava.core.netfile.Network``) as Lava processes.

    Args:
        net: the network (``silava.core.netfile.read(path)``).
        tag: ``"fixed_pt"`` (integer, bit-exact with hwsim) or ``"floating_pt"`` (float group).
        inputs: ``[N, T, F]`` samples to feed back to back (default: one all-zero sample);
            one sample per period of ``P = T + L`` steps.
        record_spikes: also tap the spikes of every layer but the last.
        record_states: also monitor every state Var (``LavaNetwork.read_states``; slow, tests).
        buffer_steps: output channel capacity in steps (run at most this many between reads).
    """
    require_lava()
    from silava import lava_models  # noqa: F401  (compat layer before any lava import)
    from lava.proc.io.dataloader import SpikeDataloader
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel

    from .runner import sim_config

    if tag not in TAGS:
        raise BuildError(f"tag: expected one of {', '.join(TAGS)}, got {tag!r}")
    if not net.layers:
        raise BuildError("layer: the network has no layers")
    x = _inputs(net, inputs)
    P = period(net)
    first = net.layers[0]
    bits = int(first.input_message_bits)
    if tag == "fixed_pt":
        feed = SampleFeed(x, P, bits, np.int32, shape=first.in_shape, binarize=first.layer_type == "input")
    else:
        feed = SampleFeed(x, P, 0, np.float64, shape=first.in_shape, binarize=first.layer_type == "input")
    source = SpikeDataloader(dataset=feed, interval=P, offset=P - 1)
    source.data.init = feed.sample(0)

    synapses, neurons, resets = [], [], []
    prev, prev_shape = source.s_out, first.in_shape
    delays = net.delays()
    T = int(net.meta.steps)
    for i, layer in enumerate(net.layers):
        syn = _synapse(layer, i, tag, count=(delays[i], P, T))
        neuron = _neuron(layer, i, tag, P, net, T)
        target = syn.s_in if syn is not None else neuron.a_in
        if len(prev_shape) == 3 and layer.layer_type in ("dense", "dense_rec"):
            prev.transpose([2, 1, 0]).flatten().connect(target)     # (W, H, C) -> C-order [C, H, W]
        else:
            prev.connect(target)
        if syn is not None:
            syn.a_out.connect(neuron.a_in)
        offset = delays[i] - 1                                     # zero after step d_i: clear at d_i + 1
        if layer.recurrent:
            rec_bits = 0 if get_kind(layer.neuron_type).spiking else A_IN_BITS
            if tag == "fixed_pt":
                rec = _dense(layer.weight_rec, layer.rec_exp, rec_bits)
            else:                                    # the float recurrent weights (a hybrid layer's float group)
                from lava.proc.dense.process import Dense

                rec = Dense(weights=_float_param(layer, i, "weight_rec"), num_message_bits=rec_bits)
            neuron.s_out.connect(rec.s_in)
            rec.a_out.connect(neuron.a_in)           # Lava's InPort adds both Dense outputs (int32)
            resets.append(_reset(rec.a_buff, P, offset))
            synapses.append((syn, rec))
        else:
            synapses.append(syn)
        if get_kind(layer.neuron_type).name in NO_RESET:
            for state in get_kind(layer.neuron_type).states:
                resets.append(_reset(getattr(neuron, state.var), P, offset))
        neurons.append(neuron)
        prev, prev_shape = neuron.s_out, layer.neuron_shape

    cap = int(buffer_steps) if buffer_steps else min(DEFAULT_BUFFER_STEPS, len(x) * P)
    readout_tap = Extractor(shape=neurons[-1].s_out.shape, buffer_size=cap)
    neurons[-1].s_out.connect(readout_tap.in_port)
    spike_taps = None
    if record_spikes:
        spike_taps = []
        for neuron in neurons[:-1]:
            tap = Extractor(shape=neuron.s_out.shape, buffer_size=cap)
            neuron.s_out.connect(tap.in_port)
            spike_taps.append(tap)
    monitors = None
    state_names = []
    if record_states:
        from lava.proc.monitor.process import Monitor

        monitors = []
        for layer, neuron in zip(net.layers, neurons):
            mons = {}
            for state in get_kind(layer.neuron_type).states:   # CUBA: Lava LIF's u, v
                mon = Monitor()
                mon.probe(getattr(neuron, state.var), len(x) * P)
                mons[state.name] = (mon, neuron, state.var, layer.neuron_shape)
            monitors.append(mons)
            state_names.append(tuple(mons))
    run_cfg = sim_config(tag, {Extractor: PyLoihiExtractorModel})
    return LavaNetwork(net=net, tag=tag, n_samples=len(x), period=P, source=source, synapses=synapses,
                       neurons=neurons, readout_tap=readout_tap, spike_taps=spike_taps, monitors=monitors,
                       run_cfg=run_cfg, buffer_steps=cap, state_names=state_names, resets=resets)
