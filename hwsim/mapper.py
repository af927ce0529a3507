"""Place a network on Loihi 2 neurocores under per-core limits, with named rule checks.

Each layer's neurons go onto one or more cores. A layer that exceeds a per-core limit is
split into ``k`` contiguous, nearly equal neuron slices (sizes ``ceil(n/k)`` and
``floor(n/k)``); every core holds its slice with the slice's full fan-in. The mapper picks
the smallest ``k`` for which every core passes every rule. Layers are mapped from the last
to the first, because a core's fan-out depends on how the next layer is split.

Per core (docs/fixed_point.md widths; ``wb`` = deployed weight width, 8-bit mantissa; a layer's
inputs are its synapses' inputs, :mod:`hwsim.synapses`: a ``dense_rec`` layer's own outputs count)::

    neurons       = slice size n_s
    synapse bits  = n_s · in_features · wb                       ("dense" encoding, default)
                  = nnz(W[slice]) · (wb + ceil(log2 in_features)) ("sparse": index per synapse)
                  conv: one kernel copy per output channel the core holds neurons of (weight sharing):
                  channels · (in/groups · kh · kw) · wb (sparse: the kernels' non-zeros with an index)
                  input layer: none (its neurons take the source payload)
    state bits    = n_s · (24 · state words + previous-spike bit)  (silava.hwsim.counts.NEURON_COSTS)
    param bits    = Σ per-neuron parameter widths · n_s + shared (scalar) parameter widths
    fan-in        = input axons: in_features (dense encoding of a dense layer) or the inputs with a
                    synapse into the slice (sparse; always for conv: a conv neuron's receptive field)
    fan-out       = output axons: Σ_{neurons j of the slice} #destination cores of j
                    (a neuron sends one message per destination core, its own layer's cores for a
                    recurrent layer included; the last layer: one to the host; a multi-output
                    neuron: summed over its M output channels)

Rule checks (:data:`RULES`) are plain functions ``rule(usage, limits) -> str | None``; a
failure message names the layer, the limit and the amount over, e.g.
``layer/1 (SILIF 512->512) core 0: neurons per core 8193 > limit 8192 (over by 1)``.

Placement: cores are numbered layer by layer; core ``k`` is on chip ``k // cores_per_chip``;
on a chip, cores fill 2×2 tiles (4 cores per tile) and tiles go row-major over the chip's
8×4 tile grid (16×8 cores, 128 per chip). Chips are placed side by side along x (an
assumption: Loihi 2 boards connect chips in 2-D/3-D meshes). Messages use dimension-order
(X–Y) routing between tiles: ``hops_x = |Δtile_x|``, ``hops_y = |Δtile_y|``; cores of one
tile talk without hops. The host (input source and readout sink) is attached at tile (0, 0)
of chip 0 (assumption).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from silava.hwsim.counts import layer_name, neuron_memory_bits

if TYPE_CHECKING:  # pragma: no cover
    from silava.core.netfile import Network
    from silava.hwsim.synapses import Synapses

#: where each default limit comes from (shown in the report); "assumption" marks guesses
LIMIT_SOURCES: dict[str, str] = {
    "neurons_per_core": "8192 = 1,048,576 neurons / 128 cores per Loihi 2 chip (Intel Loihi 2 brief 2021, "
                        "WikiChip); observed PilotNet mappings use <= 3168 per core",
    "synapse_bits_per_core": "assumption: Loihi 1's 128 KB synaptic memory per core (Davies et al. 2018); "
                             "Loihi 2's per-core partition is flexible and not published",
    "state_bits_per_core": "assumption: sized for 8192 neurons x (2 x 24-bit states + previous-spike bit); "
                           "no published Loihi 2 number",
    "fan_in_per_core": "assumption: Loihi 1's 4096 input axons per core (Davies et al. 2018)",
    "fan_out_per_core": "assumption: Loihi 1's 4096 output axons per core (Davies et al. 2018)",
    "weight_bits": "8-bit signed weight mantissa (Lava Dense, docs/fixed_point.md §2)",
    "cores_per_chip": "128 neurocores per Loihi 2 chip (Intel Loihi 2 brief 2021)",
    "mesh": "16x8 cores per chip in 2x2-core tiles (8x4 tiles, like Loihi 1's 32 tiles of 4 cores; "
            "Davies et al. 2018); Loihi 2's exact floorplan is not published - assumption",
}

SYNAPSE_ENCODINGS = ("dense", "sparse")


class MappingError(ValueError):
    """The network cannot be placed under the limits (one line: layer, limit, amount over, fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class CoreLimits:
    """Per-core limits and the chip geometry (defaults: see :data:`LIMIT_SOURCES`)."""

    neurons_per_core: int = 8192
    synapse_bits_per_core: int = 128 * 1024 * 8
    state_bits_per_core: int = 8192 * (2 * 24 + 1)
    fan_in_per_core: int = 4096
    fan_out_per_core: int = 4096
    weight_bits: int = 8
    synapse_encoding: str = "dense"
    cores_per_chip: int = 128
    chip_width: int = 16          # cores along x on one chip
    chip_height: int = 8          # cores along y on one chip
    tile_width: int = 2           # cores along x in one tile
    tile_height: int = 2          # cores along y in one tile
    max_chips: Optional[int] = None
    split: bool = True            # split layers over several cores when a limit is exceeded

    def __post_init__(self) -> None:
        for name in ("neurons_per_core", "synapse_bits_per_core", "state_bits_per_core", "fan_in_per_core",
                     "fan_out_per_core", "weight_bits", "cores_per_chip", "chip_width", "chip_height",
                     "tile_width", "tile_height"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise MappingError(f"limit {name}: expected a positive integer, got {value!r}")
        if self.synapse_encoding not in SYNAPSE_ENCODINGS:
            raise MappingError(f"limit synapse_encoding: expected one of {', '.join(SYNAPSE_ENCODINGS)}, "
                               f"got {self.synapse_encoding!r}")
        if self.chip_width % self.tile_width or self.chip_height % self.tile_height:
            raise MappingError("limit chip_width/chip_height: must be multiples of tile_width/tile_height")
        if self.chip_width * self.chip_height != self.cores_per_chip:
            raise MappingError(f"limit cores_per_chip: {self.cores_per_chip} != chip_width x chip_height "
                               f"= {self.chip_width * self.chip_height}")
        if self.max_chips is not None and (not isinstance(self.max_chips, (int, np.integer)) or self.max_chips < 1):
            raise MappingError(f"limit max_chips: expected a positive integer or None, got {self.max_chips!r}")

    @property
    def cores_per_tile(self) -> int:
        return self.tile_width * self.tile_height

    @property
    def tiles_x(self) -> int:
        return self.chip_width // self.tile_width

    @property
    def tiles_y(self) -> int:
        return self.chip_height // self.tile_height


@dataclass
class CoreUsage:
    """What one core holds (input of the rule checks)."""

    layer: str
    core: int                     # index of the core within its layer
    neurons: int
    synapse_bits: int
    state_bits: int
    param_bits: int
    fan_in: int
    fan_out: int


# --------------------------------------------------------------------------- rule checks

def _over(usage: CoreUsage, what: str, value: int, limit: int, unit: str = "") -> Optional[str]:
    if value <= limit:
        return None
    u = f" {unit}" if unit else ""
    return (f"{usage.layer} core {usage.core}: {what} {value}{u} > limit {limit}{u} "
            f"(over by {value - limit}{u})")


def check_neurons_per_core(usage: CoreUsage, limits: CoreLimits) -> Optional[str]:
    """Neurons on the core ≤ ``neurons_per_core``."""
    return _over(usage, "neurons per core", usage.neurons, limits.neurons_per_core)


def check_synapse_memory(usage: CoreUsage, limits: CoreLimits) -> Optional[str]:
    """Synaptic memory (weights at the deployed width) ≤ ``synapse_bits_per_core``."""
    return _over(usage, f"synaptic memory ({limits.weight_bits}-bit weights, {limits.synapse_encoding})",
                 usage.synapse_bits, limits.synapse_bits_per_core, "bits")


def check_state_memory(usage: CoreUsage, limits: CoreLimits) -> Optional[str]:
    """Neuron state memory (24-bit states + previous-spike bits) ≤ ``state_bits_per_core``."""
    return _over(usage, "state memory", usage.state_bits, limits.state_bits_per_core, "bits")


def check_fan_in(usage: CoreUsage, limits: CoreLimits) -> Optional[str]:
    """Input axons of the core ≤ ``fan_in_per_core``."""
    return _over(usage, "fan-in (input axons)", usage.fan_in, limits.fan_in_per_core)


def check_fan_out(usage: CoreUsage, limits: CoreLimits) -> Optional[str]:
    """Output axons of the core ≤ ``fan_out_per_core``."""
    return _over(usage, "fan-out (output axons)", usage.fan_out, limits.fan_out_per_core)


RuleCheck = Callable[[CoreUsage, CoreLimits], Optional[str]]
#: every per-core rule, in the order they are reported
RULES: tuple[RuleCheck, ...] = (check_neurons_per_core, check_synapse_memory, check_state_memory,
                                check_fan_in, check_fan_out)
#: rules that splitting a layer over more cores cannot fix once a core holds one neuron
_UNSPLITTABLE_HINT = {
    check_fan_in: "a neuron's fan-in cannot be split over cores; reduce the layer's inputs or raise fan_in_per_core",
    check_synapse_memory: "one neuron's synapses exceed a core; use sparse encoding, fewer inputs or a larger limit",
}


def check_core(usage: CoreUsage, limits: CoreLimits) -> list[str]:
    """Messages of every rule that ``usage`` violates (empty: the core fits)."""
    return [m for m in (rule(usage, limits) for rule in RULES) if m]


def check_total_cores(n_cores: int, limits: CoreLimits) -> Optional[str]:
    """Cores in use ≤ ``max_chips × cores_per_chip`` (no limit when ``max_chips`` is None)."""
    if limits.max_chips is None:
        return None
    cap = limits.max_chips * limits.cores_per_chip
    if n_cores <= cap:
        return None
    return (f"network: cores {n_cores} > limit {cap} ({limits.max_chips} chip(s) x {limits.cores_per_chip}) "
            f"(over by {n_cores - cap})")


# --------------------------------------------------------------------------- mapping result

@dataclass
class Core:
    """One placed core: a neuron slice ``[start, stop)`` of a layer, its usage and mesh position."""

    index: int                    # global core index
    layer: int
    slice_index: int              # index of the core within its layer
    start: int
    stop: int
    chip: int
    x: int                        # core coordinates on its chip
    y: int
    tile_x: int                   # global tile coordinates (chips side by side along x)
    tile_y: int
    usage: CoreUsage

    @property
    def neurons(self) -> int:
        return self.stop - self.start

    def to_dict(self, limits: CoreLimits) -> dict:
        u = self.usage
        return {
            "index": self.index, "layer": self.layer, "slice": self.slice_index,
            "neurons": [self.start, self.stop], "chip": self.chip, "x": self.x, "y": self.y,
            "tile": [self.tile_x, self.tile_y],
            "usage": {"neurons": u.neurons, "synapse_bits": u.synapse_bits, "state_bits": u.state_bits,
                      "param_bits": u.param_bits, "fan_in": u.fan_in, "fan_out": u.fan_out},
            "occupancy": {
                "neurons": u.neurons / limits.neurons_per_core,
                "synapse_bits": u.synapse_bits / limits.synapse_bits_per_core,
                "state_bits": u.state_bits / limits.state_bits_per_core,
                "fan_in": u.fan_in / limits.fan_in_per_core,
                "fan_out": u.fan_out / limits.fan_out_per_core,
            },
        }


@dataclass
class Mapping:
    """Result of :func:`map_network`.

    ``layer_cores[l]``: global indices of layer l's cores. ``bounds[l]``: slice boundaries
    ``[0, s1, ..., n_out]``. ``conn[l]``: bool ``[in_features, k_l]``, whether input j of
    layer l reaches (needs a message to) core c of that layer.
    """

    limits: CoreLimits
    cores: list[Core]
    layer_cores: list[list[int]]
    bounds: list[np.ndarray]
    conn: list[np.ndarray]
    layer_names: list[str]
    host_tile: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)
    #: per layer, the rows of ``conn`` (its last ones) that are its own outputs (a recurrent layer)
    rec_rows: list[int] = field(default_factory=list)

    @property
    def n_cores(self) -> int:
        return len(self.cores)

    @property
    def n_chips(self) -> int:
        return 1 + max((c.chip for c in self.cores), default=0)

    @property
    def tiles_used(self) -> int:
        return len({(c.tile_x, c.tile_y) for c in self.cores})

    def hops(self, a: "Core | None", b: "Core | None") -> tuple[int, int]:
        """Tile hops ``(x, y)`` of a message from core ``a`` to core ``b`` (None = the host)."""
        ta = (a.tile_x, a.tile_y) if a is not None else self.host_tile
        tb = (b.tile_x, b.tile_y) if b is not None else self.host_tile
        return abs(ta[0] - tb[0]), abs(ta[1] - tb[1])

    def hop_matrix(self, src: "list[int] | None", dst: "list[int] | None") -> tuple[np.ndarray, np.ndarray]:
        """Hops ``(x, y)`` as int64 ``[len(src), len(dst)]`` between global core lists (None = host)."""
        srcs = [None] if src is None else [self.cores[i] for i in src]
        dsts = [None] if dst is None else [self.cores[i] for i in dst]
        hx = np.zeros((len(srcs), len(dsts)), dtype=np.int64)
        hy = np.zeros_like(hx)
        for i, a in enumerate(srcs):
            for j, b in enumerate(dsts):
                hx[i, j], hy[i, j] = self.hops(a, b)
        return hx, hy

    def to_dict(self) -> dict:
        lim = self.limits
        return {
            "cores_used": self.n_cores, "chips_used": self.n_chips, "tiles_used": self.tiles_used,
            "limits": {k: v for k, v in asdict(lim).items()},
            "limit_sources": dict(LIMIT_SOURCES),
            "geometry": {"chip_cores": [lim.chip_width, lim.chip_height], "tile_cores": [lim.tile_width, lim.tile_height],
                         "chip_tiles": [lim.tiles_x, lim.tiles_y], "host_tile": list(self.host_tile),
                         "placement": "layer by layer; 4 cores per 2x2 tile, tiles row-major on each chip, "
                                      "chips side by side along x; X-Y routing between tiles"},
            "layers": [{"name": self.layer_names[i], "cores": idx, "bounds": self.bounds[i].tolist()}
                       for i, idx in enumerate(self.layer_cores)],
            "cores": [c.to_dict(lim) for c in self.cores],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- mapping

def _bounds(n: int, k: int) -> np.ndarray:
    """``k`` contiguous slices of ``n`` neurons, sizes differ by at most one: boundaries [0, ..., n]."""
    base, extra = divmod(n, k)
    sizes = np.full(k, base, dtype=np.int64)
    sizes[:extra] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


def _slice_sums(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    c = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
    return c[bounds[1:]] - c[bounds[:-1]]


@dataclass
class _LayerInfo:
    name: str
    n_in: int                     # inputs of the connectivity (a recurrent layer's own outputs included)
    n_out: int
    syn: "Synapses"               # hwsim.synapses: the connectivity (dense bool or sparse)
    layer_type: str
    row_nnz: np.ndarray           # int64 (out,)
    state_bits: np.ndarray        # int64 (out,) per neuron
    param_bits: np.ndarray        # int64 (out,) per neuron
    shared_param_bits: int
    channel_size: int = 1         # conv: neurons per output channel
    kernel_words: int = 0         # conv: weights stored per output channel
    kernel_nnz: Optional[np.ndarray] = None   # conv: non-zero weights per output channel

    @property
    def n_rec(self) -> int:
        return self.syn.n_rec


def _layer_info(net: "Network", i: int) -> _LayerInfo:
    from silava.hwsim.synapses import kernel_words, synapses

    layer = net.layers[i]
    syn = synapses(layer)
    mem = neuron_memory_bits(layer)
    n = layer.out_features
    info = _LayerInfo(name=layer_name(net, i), n_in=syn.n_total, n_out=n, syn=syn, layer_type=layer.layer_type,
                      row_nnz=syn.row_nnz(),
                      state_bits=np.full(n, mem["state_bits_per_neuron"], dtype=np.int64),
                      param_bits=np.full(n, mem["param_bits_per_neuron"], dtype=np.int64),
                      shared_param_bits=int(mem["shared_param_bits"]))
    if layer.layer_type == "conv":
        w = np.asarray(layer.weight)
        info.channel_size = int(np.prod(layer.neuron_shape[1:]))
        info.kernel_words = kernel_words(layer)
        info.kernel_nnz = np.count_nonzero(w.reshape(w.shape[0], -1), axis=1).astype(np.int64)
    return info


def _channels(info: _LayerInfo, bounds: np.ndarray) -> list[np.ndarray]:
    """Output channels each slice of a conv layer holds neurons of."""
    first = bounds[:-1] // info.channel_size
    last = (np.maximum(bounds[1:], bounds[:-1] + 1) - 1) // info.channel_size
    return [np.arange(a, b + 1) for a, b in zip(first, last)]


def _usages_arrays(info: _LayerInfo, bounds: np.ndarray, fanout: np.ndarray,
                   limits: CoreLimits) -> dict[str, np.ndarray]:
    """Per-slice usage arrays for slices ``bounds`` (fanout: int64 (out,) destinations per neuron).

    Synaptic memory: dense layers store every synapse of the slice (dense encoding: ``n_s · in ·
    wb``; sparse: non-zero synapses with an input index); a conv slice stores one kernel copy per
    output channel it holds (weight sharing); an input layer none. Fan-in: dense encoding, every
    input (a recurrent layer's own outputs too); otherwise, and always for conv and input
    layers, the inputs with a synapse into the slice.
    """
    sizes = np.diff(bounds)
    wb = limits.weight_bits
    idx_bits = max(1, math.ceil(math.log2(max(info.n_in, 2))))
    single = len(sizes) == info.n_out

    def hit_columns() -> np.ndarray:
        if single:
            return info.row_nnz.copy()
        return np.array([int(np.count_nonzero(info.syn.cols_hit(int(a), int(b))))
                         for a, b in zip(bounds[:-1], bounds[1:])], dtype=np.int64)

    if info.layer_type == "input":
        syn = np.zeros(len(sizes), dtype=np.int64)
        fan_in = sizes.astype(np.int64)
    elif info.layer_type == "conv":
        chans = _channels(info, bounds)
        if limits.synapse_encoding == "dense":
            syn = np.array([len(c) * info.kernel_words * wb for c in chans], dtype=np.int64)
        else:
            syn = np.array([int(info.kernel_nnz[c].sum()) * (wb + idx_bits) for c in chans], dtype=np.int64)
        fan_in = hit_columns()
    elif limits.synapse_encoding == "dense":
        syn = sizes * info.n_in * wb
        fan_in = np.full(len(sizes), info.n_in, dtype=np.int64)
    else:
        syn = _slice_sums(info.row_nnz, bounds) * (wb + idx_bits)
        fan_in = hit_columns()
    return {"neurons": sizes.astype(np.int64), "synapse_bits": np.asarray(syn, dtype=np.int64),
            "state_bits": _slice_sums(info.state_bits, bounds),
            "param_bits": _slice_sums(info.param_bits, bounds) + info.shared_param_bits,
            "fan_in": fan_in, "fan_out": _slice_sums(fanout, bounds)}


def _usage_at(info: _LayerInfo, arrays: dict[str, np.ndarray], c: int) -> CoreUsage:
    return CoreUsage(layer=info.name, core=c, **{k: int(v[c]) for k, v in arrays.items()})


def _usages(info: _LayerInfo, bounds: np.ndarray, fanout: np.ndarray, limits: CoreLimits) -> list[CoreUsage]:
    """Usage of each slice of ``bounds``."""
    arrays = _usages_arrays(info, bounds, fanout, limits)
    return [_usage_at(info, arrays, c) for c in range(len(bounds) - 1)]


def _connectivity(info: _LayerInfo, bounds: np.ndarray, limits: CoreLimits) -> np.ndarray:
    """bool [in, k]: input j needs a message to core c (dense encoding of a dense layer: always;
    otherwise, and for conv and input layers: a synapse from j into the core's slice)."""
    k = len(bounds) - 1
    if limits.synapse_encoding == "dense" and info.layer_type in ("dense", "dense_rec"):
        return np.ones((info.n_in, k), dtype=bool)
    return np.stack([info.syn.cols_hit(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])], axis=1)


def _fanout(info: _LayerInfo, bounds: np.ndarray, next_fanout: np.ndarray, limits: CoreLimits) -> np.ndarray:
    """Destination cores per neuron: the next layer's (or the host) plus, for a recurrent layer, its
    own cores that its recurrent synapses reach."""
    if not info.n_rec:
        return next_fanout
    conn = _connectivity(info, bounds, limits)[info.n_in - info.n_rec:]
    return next_fanout + conn.sum(axis=1).astype(np.int64)


def _lower_bound(info: _LayerInfo, fanout: np.ndarray, limits: CoreLimits) -> int:
    """Fewest slices that the totals allow (a start for the search)."""
    n = info.n_out
    k = math.ceil(n / limits.neurons_per_core)
    k = max(k, math.ceil(int(info.state_bits.sum()) / limits.state_bits_per_core))
    k = max(k, math.ceil(int(fanout.sum()) / limits.fan_out_per_core))
    if limits.synapse_encoding == "dense" and info.layer_type in ("dense", "dense_rec"):
        k = max(k, math.ceil(n * info.n_in * limits.weight_bits / limits.synapse_bits_per_core))
    return int(min(max(k, 1), n))


def _map_layer(info: _LayerInfo, fanout: np.ndarray, limits: CoreLimits) -> tuple[np.ndarray, list[CoreUsage]]:
    """Smallest split of one layer whose every core passes every rule; MappingError otherwise.

    ``fanout``: destinations per neuron in the next layer (a recurrent layer adds its own cores
    for each split it tries).
    """
    n = info.n_out
    if not limits.split:
        bounds = _bounds(n, 1)
        usages = _usages(info, bounds, _fanout(info, bounds, fanout, limits), limits)
        problems = check_core(usages[0], limits)
        if problems:
            raise MappingError(f"{problems[0]}; allow splitting (split=True) or raise the limit")
        return bounds, usages
    # a single neuron must fit on its own, or no split helps: check the worst neuron of each quantity
    single = np.arange(n + 1)
    per_neuron = _usages_arrays(info, single, _fanout(info, single, fanout, limits), limits)
    worst = sorted({int(np.argmax(v)) for v in per_neuron.values()})
    for j in worst:
        usage = _usage_at(info, per_neuron, j)
        for rule in RULES:
            message = rule(usage, limits)
            if message:
                hint = _UNSPLITTABLE_HINT.get(rule, "a single neuron does not fit one core; raise the limit")
                raise MappingError(f"{message.replace(f' core {j}:', f' neuron {j}:')}; {hint}")
    k = _lower_bound(info, fanout, limits)
    while True:
        bounds = _bounds(n, k)
        usages = _usages(info, bounds, _fanout(info, bounds, fanout, limits), limits)
        if not any(check_core(u, limits) for u in usages):
            return bounds, usages
        k += 1                      # terminates: k = n passes (checked above)


def _place(index: int, limits: CoreLimits) -> tuple[int, int, int, int, int]:
    """(chip, x, y, global tile_x, tile_y) of global core ``index``."""
    chip, i = divmod(index, limits.cores_per_chip)
    tile, sub = divmod(i, limits.cores_per_tile)
    ty, tx = divmod(tile, limits.tiles_x)
    dy, dx = divmod(sub, limits.tile_width)
    x = tx * limits.tile_width + dx
    y = ty * limits.tile_height + dy
    return chip, x, y, chip * limits.tiles_x + tx, ty


def map_network(net: "Network", limits: Optional[CoreLimits] = None) -> Mapping:
    """Place every layer of ``net`` on cores under ``limits`` (default :class:`CoreLimits`).

    Raises :class:`MappingError` when a rule cannot be satisfied (splitting disabled, a single
    neuron over a limit, or more cores than ``max_chips`` allow).
    """
    limits = limits or CoreLimits()
    n_layers = len(net.layers)
    infos = [_layer_info(net, i) for i in range(n_layers)]
    bounds: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * n_layers
    usages: list[list[CoreUsage]] = [[] for _ in range(n_layers)]
    conn: list[np.ndarray] = [np.zeros((0, 0), dtype=bool)] * n_layers
    for i in reversed(range(n_layers)):
        info = infos[i]
        m = net.layers[i].output_width // max(info.n_out, 1)    # output channels per neuron (multi-output: M)
        if i == n_layers - 1:
            fanout = np.full(info.n_out, m, dtype=np.int64)        # one axon per channel to the host
        else:   # destination cores per output channel, summed over a neuron's M channels
            fanout = conn[i + 1][:info.n_out * m].sum(axis=1).astype(np.int64).reshape(info.n_out, m).sum(axis=1)
        bounds[i], usages[i] = _map_layer(info, fanout, limits)
        conn[i] = _connectivity(info, bounds[i], limits)
    cores: list[Core] = []
    layer_cores: list[list[int]] = []
    for i in range(n_layers):
        idx = []
        for c, usage in enumerate(usages[i]):
            g = len(cores)
            chip, x, y, tx, ty = _place(g, limits)
            cores.append(Core(index=g, layer=i, slice_index=c, start=int(bounds[i][c]), stop=int(bounds[i][c + 1]),
                              chip=chip, x=x, y=y, tile_x=tx, tile_y=ty, usage=usage))
            idx.append(g)
        layer_cores.append(idx)
    problem = check_total_cores(len(cores), limits)
    if problem:
        raise MappingError(f"{problem}; raise max_chips or shrink the network")
    notes = []
    if len({c.chip for c in cores}) > 1:
        notes.append("multi-chip: inter-chip links are counted as ordinary tile hops (assumption; real "
                     "chip-to-chip links cost more)")
    return Mapping(limits=limits, cores=cores, layer_cores=layer_cores, bounds=bounds, conn=conn,
                   layer_names=[info.name for info in infos], notes=notes, rec_rows=[info.n_rec for info in infos])


__all__ = ["LIMIT_SOURCES", "RULES", "Core", "CoreLimits", "CoreUsage", "Mapping", "MappingError",
           "check_core", "check_fan_in", "check_fan_out", "check_neurons_per_core", "check_state_memory",
           "check_synapse_memory", "check_total_cores", "map_network"]
