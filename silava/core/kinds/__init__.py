"""Neuron kinds: one declaration per model.net neuron type, read by every stage (numpy-free).

A *kind* is what a layer's ``neuron/type`` names in model.net (``CUBA``, ``SILIF``, ``CSILIF``,
``LI``, and lava-dl's sigma-delta units ``DELTA``, ``SIGMA_DELTA``, ``SIGMA``, which the file
names ``SDNN`` as netx does). Its declaration (one module per kind in this package, :data:`KINDS` collects them)
holds the facts every stage needs and nothing else:

* the state names (with their widths: a 24-bit state or the 1-bit previous spike);
* the integer parameters: model.net key, Lava Var name, range and bit width, and how the
  exporter gets the value (a float constant on the 2^D or 2^S grid, the threshold, a layer
  setting, or a fixed netx value);
* the float constants of the folded model (the file's ``float`` group) and how the neuron's
  input gain is folded into the weight rows;
* the threshold, the reset rule, whether the output is a binary spike or a graded value;
* the cost of one update (multiplies, adds, compares) for the hardware model.

Readers: the model.net schema and validation (:mod:`silava.core.netfile`), the exporter and
the QAT quantizer, hwsim's kernel table, counts and mapper, the Lava Processes and their
attribute lists, the integer emulation's tables. The *math* is not here: each kind's float step
(train), integer step (hwsim, the golden reference), Lava ProcessModels and torch integer
emulation are separate implementations, tested against each other.

Adding a kind: a module here with its ``KIND`` (and its name in :data:`_MODULES`), its torch
neuron in ``train/neurons`` (with ``kind = "NAME"``), its integer step in ``hwsim/kernels.py``,
its Lava Process module in ``lava_models/procs``, its step in ``train/intsim.py``, and tests.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Union

from silava.core.fixedpoint import (DECAY_BITS_MAX, DECAY_BITS_MIN, STATE_FRAC_BITS_MAX, STATE_FRAC_BITS_MIN,
                                    STATE_MAX, VTH_MAX, VTH_MIN)

#: bits of one neuron state word (Lava ``uv_bitwidth = 24``)
STATE_BITS = 24
#: bits of the bias mantissa (13-bit signed, [-4096, 4095])
BIAS_BITS = 13

ROLES = ("constant", "threshold", "decay_bits", "state_frac_bits", "fixed", "dim", "integer", "setting")
GRIDS = ("decay", "state", "unit")
OUTPUTS = ("binary", "graded", "mixed")
RESETS = ("subtract", "zero", "none", "learned")
#: the input gain folded into a layer's rows: none, ``1 − alpha``, or a float constant of the kind
#: named here (``b``: C-SiLIF's input gain and the multi-output neuron's, ``dt``: RF's Euler step)
GAINS = ("1", "1-alpha", "b", "dt")
#: what a range violation of a constant does in the quantizers: clip it (counted in the report), or
#: refuse the layer (a one-line error naming the fix) — for values whose clipping changes the model
ON_RANGE = ("clip", "error")
#: model.net layer types (docs/fixed_point.md §7): a Dense, a Dense plus a recurrent Dense from the
#: layer's own output, a convolution, or an input layer (the neurons take the source payload as is)
LAYER_TYPES = ("dense", "dense_rec", "conv", "input")
#: the layer types with synapses of their own (all but ``input``)
SYNAPTIC_LAYER_TYPES = ("dense", "dense_rec", "conv")


@dataclass(frozen=True)
class Range:
    """An inclusive integer range; with ``unit`` the bounds are multiples of 2^D (the grid's 1.0)."""

    lo: int
    hi: int
    unit: bool = False

    def at(self, decay_bits: int) -> tuple[int, int]:
        """The bounds for decay grid width ``D``."""
        if self.unit:
            return self.lo << int(decay_bits), self.hi << int(decay_bits)
        return self.lo, self.hi

    def bits(self, decay_bits: int) -> int:
        """Stored width: unsigned if ``lo >= 0``, else two's complement; at least 1."""
        lo, hi = self.at(decay_bits)
        if lo >= 0:
            return max(1, int(hi).bit_length())
        return max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1


RETENTION = Range(0, 1, unit=True)          # a retention factor in [0, 1] on the 2^D grid
SIGNED_UNIT = Range(-1, 1, unit=True)       # a signed factor in [-1, 1] on the 2^D grid
STATE_RANGE = Range(-STATE_MAX, STATE_MAX)  # a value in state units (24-bit signed)
THRESHOLD_RANGE = Range(VTH_MIN, VTH_MAX)   # vThMant: 17-bit unsigned
DECAY_BITS_RANGE = Range(DECAY_BITS_MIN, DECAY_BITS_MAX)
STATE_FRAC_BITS_RANGE = Range(STATE_FRAC_BITS_MIN, STATE_FRAC_BITS_MAX)


@dataclass(frozen=True)
class Param:
    """One integer key of a layer's ``neuron`` group in model.net.

    ``role``:

    * ``constant`` — a per-neuron constant, ``clip(rnd(source · 2^G), range)`` with ``G = D``
      (``grid="decay"``), ``G = s`` (``grid="state"``) or ``G = 0`` (``grid="unit"``: an integer
      code of the model, e.g. a hybrid unit's type); ``source`` names the float constant;
    * ``threshold`` — ``vThMant = threshold · 2^s / 64`` (must be an integer in range);
    * ``decay_bits`` / ``state_frac_bits`` — the layer's D and s (one value per layer);
    * ``fixed`` — a value netx expects (``value``: an int, a bool, or a string; the string ``""``
      accepts any string, e.g. slayer's ``activation`` name that netx ignores), one per layer;
    * ``dim`` — a size of the layer (one value per layer) named by the letter ``dim`` (e.g. ``N``
      states per neuron); the quantizers read it off the first constant whose ``shape`` has it;
    * ``setting`` — a layer setting the exporter chooses (e.g. a graded layer's payload fraction
      bits), one per layer, passed to :meth:`Kind.integer_params` in ``settings``;
    * ``integer`` — an integer read from the file as it is (kinds trained elsewhere, e.g. the
      sigma-delta threshold ``vThMant`` written by lava-dl); no float source.

    ``shape``: a constant or state holds, per neuron, an array of these sizes (dim letters), e.g.
    ``("N", "N")`` for a transition matrix: the layer's array is ``(n, N, N)``. Empty (the default):
    one value per neuron. ``required=False``: the key may be absent (a constant then reads as zero).

    ``per_layer``: one value for the layer even for a ``threshold``/``constant``/``integer`` key
    (where Lava's Process holds a single value, e.g. ``Delta.vth``).
    """

    key: str
    var: str
    role: str
    range: Range
    source: str = ""
    grid: str = "decay"
    value: Union[int, bool, str] = 0
    required: bool = True
    doc: str = ""
    #: a constant on the decay grid whose value 1.0 (2^D) changes the neuron's nature: the
    #: quantization report counts floats strictly inside (−1, 1) that land there under this name
    #: (e.g. "to_integrator" for a retention factor, "to_full" for a fraction lost per step)
    collapse_at_one: str = ""
    #: extra per-neuron axes, named by dim letters (see the class docstring)
    shape: tuple[str, ...] = ()
    #: the dim letter a ``dim`` parameter defines
    dim: str = ""
    #: ``clip`` (count the clipped values) or ``error`` (refuse the layer) when a constant is out of range
    on_range: str = "clip"
    #: a per-neuron square matrix that must be strictly lower triangular (entries j ≥ i are zero)
    strictly_lower: bool = False
    per_layer: bool = False

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"{self.key}: role must be one of {ROLES}, got {self.role!r}")
        if self.grid not in GRIDS:
            raise ValueError(f"{self.key}: grid must be one of {GRIDS}, got {self.grid!r}")
        if (self.role == "constant") != bool(self.source):
            raise ValueError(f"{self.key}: a constant needs its float source (and only a constant has one)")
        if (self.role == "dim") != bool(self.dim):
            raise ValueError(f"{self.key}: a dim parameter names its letter (and only a dim has one)")
        if self.shape and self.role != "constant":
            raise ValueError(f"{self.key}: only a constant may have a per-neuron shape")
        if self.on_range not in ON_RANGE:
            raise ValueError(f"{self.key}: on_range must be one of {ON_RANGE}, got {self.on_range!r}")
        if self.strictly_lower and (len(self.shape) != 2 or self.shape[0] != self.shape[1]):
            raise ValueError(f"{self.key}: strictly_lower needs a square per-neuron shape")

    @property
    def per_neuron(self) -> bool:
        """True if the key may hold one value per neuron (else one value per layer)."""
        return self.role in ("constant", "threshold", "integer") and not self.per_layer

    @property
    def is_bool(self) -> bool:
        return isinstance(self.value, bool)

    @property
    def is_str(self) -> bool:
        return isinstance(self.value, str)

    def bits(self, decay_bits: int) -> int:
        """Stored width of one value at decay grid width ``D`` (the D and s fields are always 5 bits,
        whatever values a kind allows)."""
        if self.role == "decay_bits":
            return DECAY_BITS_RANGE.bits(0)
        if self.role == "state_frac_bits":
            return STATE_FRAC_BITS_RANGE.bits(0)
        return self.range.bits(decay_bits)

    def scale_bits(self, decay_bits: int, state_frac_bits: int) -> int:
        """``G`` of a constant: the exponent of its grid (``D``, ``s`` or 0)."""
        return {"decay": int(decay_bits), "state": int(state_frac_bits), "unit": 0}[self.grid]


@dataclass(frozen=True)
class State:
    """One state of a neuron: model.net/hwsim name (``U``), width, and a label for reports.

    ``shape``: per-neuron axes named by dim letters (``("N",)``: N words per neuron); empty: one value.
    """

    name: str
    bits: int = STATE_BITS
    label: str = ""
    shape: tuple[str, ...] = ()

    @property
    def var(self) -> str:
        """The Lava Var name (lower case)."""
        return self.name.lower()


@dataclass(frozen=True)
class Cost:
    """Integer operations of one neuron update (a conditional add of a constant counts as an add)."""

    mults: int
    adds: int
    compares: int

    @property
    def ops(self) -> int:
        return self.mults + self.adds + self.compares


@dataclass(frozen=True)
class Kind:
    """The declaration of one neuron kind (see the module docstring)."""

    name: str
    summary: str
    states: tuple[State, ...]
    params: tuple[Param, ...]
    float_params: tuple[str, ...]
    output: str
    reset: str
    input_gain: str
    cost: Cost
    membrane: str
    threshold: Optional[float] = None
    #: a layer plain lava-dl netx loads: no weight exponent (it is folded into s), no all-zero weights
    netx_native: bool = False
    #: (Re, Im) keys of a complex decay λ (C-SiLIF): the report checks |λ| on the grid jointly
    complex_pair: Optional[tuple[str, str]] = None
    #: the dim letter of the outputs per neuron (a multi-output neuron sends M = that size per neuron;
    #: the next layer's inputs are M × this layer's neurons, neuron-major: index h·M + m); "" = one
    output_dim: str = ""
    #: the cost of one update from a layer's ``neuron`` keys (when it depends on them), else ``cost``
    cost_of: Optional[Callable[[dict], "Cost"]] = field(default=None, repr=False, compare=False)
    #: how ``silava export --dt-scale`` re-discretises the kind (a rule of ``silava.export.dtscale``;
    #: "" = the kind has no continuous-time parametrisation)
    dt_rule: str = ""
    #: what the file's ``neuron/type`` holds (default: ``name``); several kinds may share one
    #: (lava-dl's ``SDNN``), told apart by the layer type and their ``fixed`` keys
    file_type: str = ""
    #: the layer types this kind may sit in (:data:`LAYER_TYPES`)
    layer_types: tuple[str, ...] = LAYER_TYPES
    #: trained by silava (a torch neuron in ``train/neurons`` names it); False for kinds that are
    #: only read from lava-dl files (the sigma-delta units)
    trainable: bool = True
    #: the netx-native kind this kind can be written as when that is exact (LI -> ``CUBA``, see
    #: :mod:`silava.core.netxform`); None: only silava's netx extension loads it
    netx_form: Optional[str] = None
    #: 2^s of a kind without a ``stateFracBits`` key or threshold scale (the sigma-delta units:
    #: slayer's state scale 2^12 of an activation 1.0)
    default_state_frac_bits: int = 12
    equations: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"{self.name}: output must be one of {OUTPUTS}")
        if self.reset not in RESETS:
            raise ValueError(f"{self.name}: reset must be one of {RESETS}")
        if self.input_gain not in GAINS:
            raise ValueError(f"{self.name}: input_gain must be one of {GAINS}")
        if self.membrane not in self.state_names:
            raise ValueError(f"{self.name}: membrane {self.membrane!r} is not a state")
        if (self.threshold is None) != (self.output == "graded"):
            raise ValueError(f"{self.name}: a binary- or mixed-output kind has a threshold, a graded one has none")
        keys = [p.key for p in self.params]
        if len(set(keys)) != len(keys) or len({p.var for p in self.params}) != len(keys):
            raise ValueError(f"{self.name}: duplicate parameter keys or Var names")
        letters = set(self.dims)
        for item in (*self.params, *self.states):
            unknown = set(item.shape) - letters
            if unknown:
                raise ValueError(f"{self.name}: {getattr(item, 'key', getattr(item, 'name', ''))} uses "
                                 f"undeclared dims {sorted(unknown)}")
        if self.output_dim and self.output_dim not in letters:
            raise ValueError(f"{self.name}: output_dim {self.output_dim!r} is not a declared dim")
        for letter in letters:
            if not any(letter in p.shape for p in self.params if p.required):
                raise ValueError(f"{self.name}: dim {letter} is not the size of any required constant")
        if not self.layer_types or any(t not in LAYER_TYPES for t in self.layer_types):
            raise ValueError(f"{self.name}: layer_types must be a non-empty subset of {LAYER_TYPES}")

    # ------------------------------------------------------------------ derived facts
    @property
    def netx_type(self) -> str:
        """The file's ``neuron/type`` string."""
        return self.file_type or self.name

    @property
    def markers(self) -> dict[str, Any]:
        """The ``fixed`` keys set to True that a file of this kind holds (how kinds sharing a type are
        told apart, e.g. ``sigma_output``)."""
        return {p.key: p.value for p in self.params if p.role == "fixed" and p.value is True and p.required}

    @property
    def spiking(self) -> bool:
        """True if the output is a binary spike (else a graded value sent every step; a ``mixed``
        kind — the hybrid layer — sends graded payloads, its spiking units a constant one)."""
        return self.output == "binary"

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def state_words(self) -> int:
        """24-bit states per neuron (the SiLIF paper's "buffers")."""
        return sum(1 for s in self.states if s.bits == STATE_BITS)

    @property
    def state_labels(self) -> tuple[str, ...]:
        return tuple(s.label or s.name for s in self.states if s.bits == STATE_BITS)

    @property
    def prev_spike_bits(self) -> int:
        """Bits of the narrow states (the stored previous spike)."""
        return sum(s.bits for s in self.states if s.bits != STATE_BITS)

    # ------------------------------------------------------------------ sizes of a layer
    @property
    def dims(self) -> dict[str, "Param"]:
        """Dim letter -> its ``dim`` parameter (empty for a kind with one value per neuron)."""
        return {p.dim: p for p in self.params if p.role == "dim"}

    def layer_dims(self, neuron: dict) -> dict[str, int]:
        """The sizes of a layer (``{"N": 4, "M": 2}``) from its ``neuron`` keys."""
        return {letter: int(neuron[p.key]) for letter, p in self.dims.items()}

    def extra_shape(self, item: "Union[Param, State]", dims: dict[str, int]) -> tuple[int, ...]:
        """The per-neuron shape of a parameter or state for a layer of sizes ``dims``."""
        return tuple(int(dims[letter]) for letter in item.shape)

    def outputs_per_neuron(self, neuron: dict) -> int:
        """Outputs each neuron sends (M of a multi-output layer, else 1)."""
        if not self.output_dim:
            return 1
        return int(neuron[self.dims[self.output_dim].key])

    def state_words_for(self, neuron: dict) -> int:
        """24-bit state words per neuron of a layer (``state_words`` with the layer's sizes)."""
        dims = self.layer_dims(neuron)
        return sum(_prod(self.extra_shape(s, dims)) for s in self.states if s.bits == STATE_BITS)

    def prev_spike_bits_for(self, neuron: dict) -> int:
        """Bits of the narrow states per neuron of a layer (previous outputs, reset flag)."""
        dims = self.layer_dims(neuron)
        return sum(s.bits * _prod(self.extra_shape(s, dims)) for s in self.states if s.bits != STATE_BITS)

    def cost_for(self, neuron: dict) -> "Cost":
        """Integer operations of one update of a layer's neuron (``cost_of`` if declared, else ``cost``)."""
        return self.cost_of(neuron) if self.cost_of is not None else self.cost

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.params if p.required)

    @property
    def optional_keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.params if not p.required)

    def param(self, key: str) -> Param:
        for p in self.params:
            if p.key == key:
                return p
        raise KeyError(f"{self.name} has no parameter {key!r}")

    def role(self, role: str) -> Optional[Param]:
        """The parameter with ``role`` (``threshold``, ``decay_bits``, ...), or None."""
        return next((p for p in self.params if p.role == role), None)

    @property
    def fixed_decay_bits(self) -> Optional[int]:
        """D when the kind allows one value only (CUBA: 12, Lava's LIF), else None."""
        p = self.role("decay_bits")
        if p is not None and p.range.lo == p.range.hi:
            return p.range.lo
        return None

    def default_decay_bits(self, layer_value: Optional[int] = None) -> int:
        """D of a layer: its ``decayBits`` key, else the kind's fixed D, else 12 (the Loihi grid)."""
        if layer_value is not None:
            return int(layer_value)
        return self.fixed_decay_bits or 12

    def vth_mant(self, state_frac_bits: int) -> float:
        """``vThMant = threshold · 2^s / 64`` (a float; the range check wants an integer)."""
        if self.threshold is None:
            raise ValueError(f"{self.name} has no threshold")
        return self.threshold * 2.0 ** int(state_frac_bits) / 64

    def integer_params(self, decay_bits: int, state_frac_bits: int,
                       constant: Callable[[Param, int, int, int], Any],
                       settings: Optional[dict[str, int]] = None) -> dict[str, Any]:
        """A quantized layer's ``neuron`` keys, in declaration order.

        ``constant(param, G, lo, hi)`` quantizes one float constant (``clip(rnd(source · 2^G), lo,
        hi)``, with ``G = D`` on the decay grid or ``s`` in state units): the exporter (numpy) and
        QAT (torch) each pass their own rounding; it returns None for an optional constant the
        layer does not have (the key is left out). The rest is set here: ``vThMant`` from the
        threshold, the layer settings D and s (an optional D is left out), netx's fixed keys, the
        exporter's ``settings`` (role ``setting``; a missing one is an error), and each ``dim`` from
        the shape of the first constant that has it.
        """
        D, s = int(decay_bits), int(state_frac_bits)
        out: dict[str, Any] = {}
        for p in self.params:
            if p.role == "constant":
                lo, hi = p.range.at(D)
                value = constant(p, p.scale_bits(D, s), lo, hi)
                if value is not None:
                    out[p.key] = value
            elif p.role == "dim":
                owner = next(q for q in self.params if p.dim in q.shape and q.required)
                out[p.key] = None, owner, 1 + owner.shape.index(p.dim)   # filled below
            elif p.role == "threshold":
                out[p.key] = int(self.vth_mant(s))
            elif p.role == "fixed":
                out[p.key] = p.value
            elif p.role == "state_frac_bits":
                out[p.key] = s
            elif p.role == "decay_bits" and p.required:
                out[p.key] = D
            elif p.role == "setting":
                if not settings or p.key not in settings:
                    raise ValueError(f"{self.name}: the layer setting {p.key!r} ({p.doc}) is needed")
                out[p.key] = int(settings[p.key])
        for p in self.params:
            if p.role == "dim":
                _, owner, axis = out[p.key]
                out[p.key] = int(out[owner.key].shape[axis])
        return out

    def float_keys(self) -> tuple[str, ...]:
        """Keys of the file's ``float`` group: weight, bias, threshold and the float constants."""
        return ("weight", "bias", "threshold") + self.float_params


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for n in shape:
        out *= int(n)
    return out


# --------------------------------------------------------------------------- registry
#: the modules of this package that declare a kind (each defines ``KIND``)
_MODULES = ("cuba", "silif", "csilif", "li", "rf", "multiout", "delta", "sigma_delta", "sigma", "hybrid", "li2")


def _load() -> dict[str, Kind]:
    kinds = {}
    for mod in _MODULES:
        kind = importlib.import_module(f"{__name__}.{mod}").KIND
        if kind.name in kinds:
            raise ValueError(f"kind {kind.name} declared twice")
        kinds[kind.name] = kind
    return kinds


#: model.net neuron type -> its declaration
KINDS: dict[str, Kind] = _load()


def folds_exponent(types: "list[str] | tuple[str, ...]", i: int) -> bool:
    """Whether layer ``i`` of a network with neuron types ``types`` may have its weight exponent
    folded into its state scale (``s <- s - e``, ``e <- 0``): a netx-native kind always (netx derives
    its own exponent), and a kind with a netx-native form (the LI readout) behind netx-native layers,
    so that an all-CUBA network, readout included, loads in plain netx. For the readout the
    quantizers fold only when it refines the state (``e <= 0``: the same weight mantissas, no floor
    after the sum) and the folded layer provably stays below the CUBA threshold (and so never
    saturates; :func:`silava.core.netxform.readout_bound_problem`); docs/fixed_point.md §4, §7."""
    kind = KINDS[types[i]]
    if kind.netx_native:
        return True
    return kind.netx_form is not None and i > 0 and all(KINDS[t].netx_native for t in types[:i])


def get_kind(name: str) -> Kind:
    """The declaration of ``name``; ``KeyError`` with the list of kinds if unknown."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown neuron kind {name!r} (kinds: {', '.join(KINDS)})") from None


def spiking_kinds() -> tuple[str, ...]:
    return tuple(k.name for k in KINDS.values() if k.spiking)


def kind_for_file(file_type: str, layer_type: str, keys: Any = ()) -> Optional[Kind]:
    """The kind a file's layer holds: its ``neuron/type`` string, the layer type and its neuron keys.

    Kinds that share a file type (lava-dl's ``SDNN``: ``DELTA`` in an input layer, ``SIGMA`` with
    ``sigma_output``, ``SIGMA_DELTA`` otherwise, as netx decides) are told apart by the layer
    types they allow and their marker keys; the one with the most markers present wins.
    None if no kind matches.
    """
    keys = set(keys)
    found = [k for k in KINDS.values() if k.netx_type == file_type and layer_type in k.layer_types
             and set(k.markers) <= keys]
    if not found:
        return None
    return max(found, key=lambda k: (len(k.markers), -len(k.layer_types)))


def iter_kinds() -> Iterator[Kind]:
    return iter(KINDS.values())


__all__ = ["BIAS_BITS", "Cost", "KINDS", "Kind", "LAYER_TYPES", "Param", "Range", "State", "STATE_BITS",
           "SYNAPTIC_LAYER_TYPES", "folds_exponent", "get_kind", "iter_kinds", "kind_for_file", "spiking_kinds", "RETENTION", "SIGNED_UNIT", "STATE_RANGE", "THRESHOLD_RANGE",
           "DECAY_BITS_RANGE", "STATE_FRAC_BITS_RANGE"]
