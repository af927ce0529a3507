"""Golden integer kernels: Dense synapses and the neuron types of model.net.

numpy only (no torch, no lava). This module is the golden reference of the integer semantics
of docs/fixed_point.md, which hwsim's simulator loops over. Two independent implementations
are tested against it: the torch integer emulation (``silava.train.intsim``) and the Lava
``fixed_pt`` ProcessModels (``silava.lava_models.procs``, their own numpy steps in Lava's idiom).

Primitives (docs/fixed_point.md §1):

* ``mul(k, x, D) = sign(k·x) · (|k·x| >> D)`` — product by a constant on the 2^D grid,
  truncated toward zero (Lava ``lif/models.py``: ``np.sign(p) * np.right_shift(np.abs(p), 12)``);
* ``sat(x) = clip(x, −(2^23 − 1), 2^23 − 1)`` — 24-bit saturation (counted: ``"saturate"``);
* ``wrap(x)`` — Lava LIF current wrap: ``x − 2^24`` if ``x > 2^23``, ``x + 2^24`` if ``x ≤ −2^23``
  (one wrap, not a modulo; counted: ``"wrap"``).

Counter names (per layer, :class:`Counters`):

* ``saturate`` — state elements clipped to ±(2^23 − 1);
* ``wrap`` — CUBA current elements wrapped;
* ``int32_overflow`` — a value wrapped to 32 bits where Lava 0.10.0 computes in int32: the Dense
  output (Lava's Dense ``a_out`` port is int32) and, for CUBA, ``a << 6`` and the two sums of
  ``PyLifModelBitAcc`` (``decayed_curr += activation_in`` and ``decayed_volt + u + bias`` are int32
  arrays there). Never happens in a sane network; counted when it does;
* ``input_clip`` — graded payloads clipped to ``[0, 2^bits − 1]`` (:func:`clip_graded`).

Neuron kernels: ``step(a, state, params, counters)``; ``a`` is the Dense output (int64 ``[..., n]``,
before ``<< 6``), ``params`` the layer's ``neuron`` dict (file keys, docs/fixed_point.md §3) plus
``"bias"`` (int64 ``(n,)`` or 0, input units). ``step`` is pure: it never mutates ``a``, ``state`` or
``params``. For loops, call :meth:`NeuronKernel.prepare` once and :meth:`NeuronKernel.step_prepared`
per step (``step`` does exactly that).

Integer carriers. The equations are written once; the arithmetic runs on int64 arrays (the
public API) or, for the batched simulator, on float64 arrays holding integers: every value
stays below 2^53 in magnitude (states are 24-bit, constants ≤ 2^24, products ≤ 2^48), so
float64 sums, products by powers of two, comparisons and clips are exact, and
``trunc((k / 2^D) · x)`` equals ``mul(k, x, D)`` exactly (``k·x`` is exact and scaling by 2^−D only
changes the exponent). ``prepare(params, dtype=np.float64)`` pre-scales the constants; the float
path is about 3x faster (no sign/shift passes). Tests check both carriers against each other
and against hand-computed integers.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from silava.core.kinds import KINDS, Kind

#: 24-bit signed state range of Loihi (Lava ``AbstractPyLifModelFixed.uv_bitwidth = 24``)
MAX_STATE = 2**23 - 1
#: Lava LIF ``max_uv_val = 2 ** 23`` (wrap bound of the current)
WRAP_BOUND = 2**23
#: synaptic input and threshold MSB alignment (Lava ``act_shift = vth_shift = 6``)
ACT_SHIFT = 6
#: Lava LIF decay grid (``decay_shift = 12``, ``decay_unity = 4096``)
LIF_DECAY_BITS = 12

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1
#: float32 sums are exact integers below 2^24; float64 below 2^53
F32_EXACT = 2**24
F64_EXACT = 2**53


class Counters(dict):
    """Event counts of one layer (or a total): name -> int. Zero counts are not stored."""

    def add(self, name: str, n: int) -> None:
        """Add ``n`` events of kind ``name``."""
        n = int(n)
        if n:
            self[name] = self.get(name, 0) + n

    def merge(self, other: dict) -> "Counters":
        """Add every count of ``other`` into this one; returns self."""
        for name, n in other.items():
            self.add(name, n)
        return self


# ---------------------------------------------------------------------------
# arithmetic primitives
# ---------------------------------------------------------------------------
def _shr0(p: np.ndarray, d: int) -> np.ndarray:
    """In place: ``p = trunc(p / 2^d)`` (toward zero) for int64 ``p``; returns ``p``.

    Same as ``sign(p) · (|p| >> d)``: a negative ``p`` gets ``2^d − 1`` added before the
    arithmetic (floor) shift, which turns the floor into a ceiling.
    """
    if d:
        neg = p >> 63                      # -1 where p < 0, else 0
        neg &= (1 << d) - 1
        p += neg
        p >>= d
    return p


def mul(k, x, d: int) -> np.ndarray:
    """``mul(k, x, D) = sign(k·x) · (|k·x| >> D)``: a new int64 array (``k`` broadcasts)."""
    p = np.multiply(k, x, dtype=np.int64)
    return _shr0(p, int(d))


def _mul(kc, x: np.ndarray, d: int, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``mul`` on either carrier: float64 ``x`` with ``kc = k / 2^d`` (prepared), or int64 with ``kc = k``."""
    if x.dtype == np.float64:
        r = np.multiply(kc, x, out=out)
        return np.trunc(r, out=r)
    r = np.multiply(kc, x, out=out) if out is not None else np.multiply(kc, x, dtype=np.int64)
    return _shr0(r, d)


def _act(a, dtype) -> np.ndarray:
    """``A = a << 6`` as a new array of the carrier type."""
    if dtype == np.float64:
        return np.multiply(a, float(1 << ACT_SHIFT), dtype=np.float64)
    return np.left_shift(np.asarray(a, dtype=np.int64), ACT_SHIFT)


def sat(x: np.ndarray, counters: Optional[Counters] = None) -> np.ndarray:
    """In place: clip ``x`` to ±(2^23 − 1); clipped elements counted as ``"saturate"``; returns ``x``."""
    if x.size:
        hi, lo = x.max(), x.min()
        if hi > MAX_STATE:
            if counters is not None:
                counters.add("saturate", np.count_nonzero(x > MAX_STATE))
            np.minimum(x, MAX_STATE, out=x)
        if lo < -MAX_STATE:
            if counters is not None:
                counters.add("saturate", np.count_nonzero(x < -MAX_STATE))
            np.maximum(x, -MAX_STATE, out=x)
    return x


def wrap24(x: np.ndarray, counters: Optional[Counters] = None) -> np.ndarray:
    """In place: Lava's LIF current wrap (``x − 2^24`` if ``x > 2^23``; ``x + 2^24`` if ``x ≤ −2^23``)."""
    if x.size and (x.max() > WRAP_BOUND or x.min() <= -WRAP_BOUND):
        hi = x > WRAP_BOUND
        lo = x <= -WRAP_BOUND
        if counters is not None:
            counters.add("wrap", np.count_nonzero(hi) + np.count_nonzero(lo))
        x[hi] -= 2 * WRAP_BOUND
        x[lo] += 2 * WRAP_BOUND
    return x


def wrap32(x: np.ndarray, counters: Optional[Counters] = None) -> np.ndarray:
    """In place: two's-complement wrap to int32 (what int32 numpy arithmetic does in Lava); returns ``x``."""
    if x.size and (x.max() > I32_MAX or x.min() < I32_MIN):
        xi = x.astype(np.int64)
        if counters is not None:
            counters.add("int32_overflow", np.count_nonzero(xi > I32_MAX) + np.count_nonzero(xi < I32_MIN))
        xi += 2**31
        xi &= 2**32 - 1
        xi -= 2**31
        x[...] = xi
    return x


def _as_int64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _scalar(params: dict, key: str, default: Optional[int] = None) -> int:
    """A per-layer scalar key (e.g. ``decayBits``) as int."""
    if key not in params:
        if default is None:
            raise KeyError(f"neuron parameter {key!r} is missing")
        return default
    value = np.asarray(params[key]).reshape(-1)
    if value.size == 0 or np.any(value != value[0]):
        raise ValueError(f"neuron parameter {key!r} must be one value per layer")
    return int(value[0])


def _param(params: dict, key: str) -> np.ndarray:
    if key not in params:
        raise KeyError(f"neuron parameter {key!r} is missing")
    return _as_int64(params[key])


# ---------------------------------------------------------------------------
# Dense synapses (docs/fixed_point.md §2; Lava PyDenseModelBitAcc)
# ---------------------------------------------------------------------------
def clip_graded(x: np.ndarray, bits: int, counters: Optional[Counters] = None) -> np.ndarray:
    """Source payloads as Lava's Dense sees them (a new int64 array).

    ``bits > 0`` (graded): clipped to ``[0, 2^bits − 1]``, clipped elements counted as
    ``"input_clip"``. ``bits = 0`` (binary): ``x != 0`` as 0/1.
    """
    x = _as_int64(x)
    if bits <= 0:
        return (x != 0).astype(np.int64)
    top = (1 << int(bits)) - 1
    if x.size and (x.max() > top or x.min() < 0):
        if counters is not None:
            counters.add("input_clip", np.count_nonzero(x > top) + np.count_nonzero(x < 0))
        return np.clip(x, 0, top)
    return x.copy()


def dense_bound(weight: np.ndarray, x_max: int) -> int:
    """Upper bound of ``|Σ_j w_ij x_j|`` over rows for inputs in ``[−x_max, x_max]``."""
    w = np.asarray(weight, dtype=np.int64)
    return int(np.abs(w).sum(axis=1).max(initial=0)) * int(x_max)


def dense_float(weight: np.ndarray, x: np.ndarray, weight_exp: int, graded: bool,
                counters: Optional[Counters] = None, *, spikes01: bool = False) -> np.ndarray:
    """:func:`dense` with the result as exact integers in a float array (float32 where exact).

    ``x [..., in]``: binary (any non-zero counts as 1; with ``spikes01`` a float array that
    already holds only 0/1 is used as is) or graded integers. The sum goes through BLAS in
    float32 when every partial sum is below 2^24 (bound ``max_i Σ_j |w_ij| · max|x|``, so the
    summation order does not matter), else float64;
    the exponent is a multiplication by 2^e and, for e < 0, ``floor`` (exact: it only moves the
    binary point). When the bound allows an int32 overflow the exact int64 route with Lava's
    wraps is taken.
    """
    w = np.asarray(weight)
    x = np.asarray(x)
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"dense: input has {x.shape[-1]} features, weight expects {w.shape[1]}")
    e = int(weight_exp)
    shape = x.shape[:-1] + (w.shape[0],)
    x2 = x.reshape(-1, x.shape[-1])
    if graded:
        x_max = int(np.abs(x2).max()) if x2.size else 0
    else:
        x_max = 1
        if not (spikes01 and x2.dtype in (np.float32, np.float64)):
            x2 = x2 != 0
    bound = dense_bound(w, x_max)
    if bound * 2 ** max(e, 0) > I32_MAX:
        return _dense_int(w, x2, e, graded, counters).astype(np.float64).reshape(shape)
    ftype = np.float32 if bound < F32_EXACT else np.float64
    acc = np.matmul(x2 if x2.dtype == ftype else x2.astype(ftype), w.astype(ftype).T)
    if e:
        acc *= ftype(2.0**e)
        if e < 0:
            np.floor(acc, out=acc)
    return acc.reshape(shape)


def _dense_int(w: np.ndarray, x2: np.ndarray, e: int, graded: bool, counters: Optional[Counters]) -> np.ndarray:
    """Exact int64 Dense with Lava's int32 wraps (only for extreme ranges)."""
    xs = x2.astype(np.int64)
    acc = np.zeros((xs.shape[0], w.shape[0]), dtype=np.int64)
    wt = np.asarray(w, dtype=np.int64).T
    for start in range(0, xs.shape[1], 64):    # int64 matmul without BLAS, in column blocks
        acc += xs[:, start:start + 64] @ wt[start:start + 64]
    if graded:
        wrap32(acc, counters)                  # Lava: int32 weights.dot(int32 s_in)
    if e > 0:
        acc <<= e
    elif e < 0:
        acc >>= -e
    return wrap32(acc, counters)               # Lava's Dense a_out port is int32


def dense(weight: np.ndarray, x: np.ndarray, weight_exp: int, graded: bool,
          counters: Optional[Counters] = None) -> np.ndarray:
    """Lava Dense (bit-accurate): ``x [..., in] -> a int64 [..., out]``.

    ``acc = Σ_j w_ij · x_j`` (binary: ``x_j ≠ 0`` counts as 1; graded: the integer payload,
    already clipped, see :func:`clip_graded`), then the weight exponent after accumulation:
    ``a = acc << e`` if ``e > 0``, else ``a = acc >> −e`` (arithmetic shift: floor toward −∞ of
    the *sum*). Lava sends ``a`` through an int32 port, so a value outside int32 wraps (counted
    as ``"int32_overflow"``; graded sums are int32 in Lava too and wrap before a right shift).
    """
    return dense_float(weight, x, weight_exp, graded, counters).astype(np.int64)


# ---------------------------------------------------------------------------
# Conv synapses (docs/fixed_point.md §2; Lava 0.10.0 PyConvModelFixed)
# ---------------------------------------------------------------------------
def wrap24_conv(x: np.ndarray, counters: Optional[Counters] = None) -> np.ndarray:
    """In place: Lava's Conv ``signed_clamp(x, 24) = ((x + 2^23) mod 2^24) − 2^23`` — a two's-complement
    *wrap* to 24 bits despite its name (``lava/proc/conv/utils.py``); wrapped elements counted as
    ``"conv_wrap"``."""
    if x.size and (x.max() > WRAP_BOUND - 1 or x.min() < -WRAP_BOUND):
        xi = x.astype(np.int64)
        if counters is not None:
            counters.add("conv_wrap", np.count_nonzero((xi > WRAP_BOUND - 1) | (xi < -WRAP_BOUND)))
        xi += WRAP_BOUND
        xi &= 2 * WRAP_BOUND - 1
        xi -= WRAP_BOUND
        x[...] = xi
    return x


def conv_bound(weight: np.ndarray, x_max: int) -> int:
    """Upper bound of ``|acc|`` of one conv output for inputs in ``[−x_max, x_max]``."""
    w = np.abs(np.asarray(weight, dtype=np.int64))
    return int(w.reshape(w.shape[0], -1).sum(axis=1).max(initial=0)) * int(x_max)


def conv_taps(spec, kernel: tuple[int, int]):
    """For each kernel tap ``(ky, kx)``: the slices of the padded input it reads at every output position."""
    ho, wo = spec.out_hw(kernel)
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    for ky in range(kernel[0]):
        for kx in range(kernel[1]):
            y0, x0 = ky * dh, kx * dw
            yield ky, kx, slice(y0, y0 + sh * (ho - 1) + 1, sh), slice(x0, x0 + sw * (wo - 1) + 1, sw)


def conv_float(weight: np.ndarray, x: np.ndarray, spec, graded: bool, counters: Optional[Counters] = None,
               *, spikes01: bool = False) -> np.ndarray:
    """Lava's fixed-point Conv (bit-accurate): ``x [..., C·H·W] -> [..., C_out·H_out·W_out]`` as exact
    integers in a float array (float32 where exact).

    Inputs and outputs are flat in C order of [C, H, W] (PyTorch's layout). Binary input: any
    non-zero counts as 1 (Lava casts to bool); graded: the integer payload. The output is the
    cross-correlation (PyTorch ``conv2d``, which netx's kernel flip turns Lava's convolution into)
    with zero padding, stride, dilation and groups, **without** the weight exponent (Lava's Conv
    declares ``weight_exp`` but does not apply it); Lava computes it in float64 and casts to int32
    (a value outside int32 is counted as ``int32_overflow`` and wrapped), then wraps it to 24 bits
    (:func:`wrap24_conv`).
    """
    w = np.asarray(weight)
    x = np.asarray(x)
    c, h, wd = spec.in_shape
    if x.shape[-1] != c * h * wd:
        raise ValueError(f"conv: input has {x.shape[-1]} features, the layer expects {c}x{h}x{wd}")
    lead = x.shape[:-1]
    x4 = x.reshape(-1, c, h, wd)
    if graded:
        x_max = int(np.abs(x4).max()) if x4.size else 0
    else:
        x_max = 1
        if not (spikes01 and x4.dtype in (np.float32, np.float64)):
            x4 = x4 != 0
    bound = conv_bound(w, x_max)
    big = bound > I32_MAX
    ftype = np.float32 if bound < F32_EXACT else np.float64
    ctype = np.int64 if big else ftype
    kernel = (w.shape[2], w.shape[3])
    ho, wo = spec.out_hw(kernel)
    ph, pw = spec.padding
    xp = np.zeros((x4.shape[0], c, h + 2 * ph, wd + 2 * pw), dtype=ctype)
    xp[:, :, ph:ph + h, pw:pw + wd] = x4
    g = spec.groups
    og, cg = w.shape[0] // g, c // g
    out = np.zeros((x4.shape[0], w.shape[0], ho, wo), dtype=ctype)
    wc = w.astype(ctype)
    for ky, kx, ys, xs in conv_taps(spec, kernel):
        for k in range(g):
            tap = wc[k * og:(k + 1) * og, :, ky, kx]                       # (og, cg)
            if not np.any(tap):
                continue
            patch = xp[:, k * cg:(k + 1) * cg, ys, xs]                     # (N, cg, ho, wo)
            out[:, k * og:(k + 1) * og] += np.einsum("oc,nchw->nohw", tap, patch)
    out = out.reshape(lead + (w.shape[0] * ho * wo,))
    if big:
        wrap32(out, counters)                          # float64 -> int32 cast in Lava
        wrap24_conv(out, counters)
        return out.astype(np.float64)
    return wrap24_conv(out, counters)


def conv(weight: np.ndarray, x: np.ndarray, spec, graded: bool, counters: Optional[Counters] = None) -> np.ndarray:
    """:func:`conv_float` as int64."""
    return conv_float(weight, x, spec, graded, counters).astype(np.int64)


# ---------------------------------------------------------------------------
# neurons (docs/fixed_point.md §3)
# ---------------------------------------------------------------------------
class NeuronKernel:
    """Integer step of one neuron kind. Subclasses set :attr:`kind` (the declaration in
    :mod:`silava.core.kinds`: state names, output, membrane) and write the step."""

    kind: Kind
    #: prepared constants that are decay constants on the 2^D grid (pre-scaled on the float carrier)
    _grid_keys: tuple[str, ...] = ()

    @property
    def type_name(self) -> str:
        return self.kind.name

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.kind.state_names

    @property
    def spiking(self) -> bool:
        """True for a binary spike output (else the graded state, e.g. LI's V, is the output)."""
        return self.kind.spiking

    @property
    def membrane(self) -> str:
        """The membrane state (what a spiking last layer would be read from)."""
        return self.kind.membrane

    def init_state(self, shape: tuple[int, ...], dtype=np.int64, prep: Optional[dict] = None) -> dict[str, np.ndarray]:
        """Zero state, ``shape = (..., n)``; int64 (or the float64 carrier). ``prep`` (from :meth:`prepare`)
        gives the layer's sizes to a kind whose states hold several words per neuron."""
        return {name: np.zeros(shape, dtype=dtype) for name in self.state_names}

    def output_width(self, n: int, prep: Optional[dict] = None) -> int:
        """Values one step outputs for ``n`` neurons (M·n for a multi-output layer)."""
        return n

    def _constants(self, params: dict) -> dict:
        raise NotImplementedError

    def prepare(self, params: dict, dtype=np.int64, shape: Optional[tuple[int, ...]] = None) -> dict:
        """Derived constants of one layer for :meth:`step_prepared` on the ``dtype`` carrier.

        ``shape`` (e.g. ``(batch, n)``): broadcast every constant to it once (contiguous), which
        makes the per-step products of a batched loop faster; the results are the same.
        """
        prep = self._constants(params)
        if dtype not in (np.int64, np.float64):
            raise ValueError(f"carrier dtype must be int64 or float64, got {dtype}")
        scale = 2.0 ** -prep["d"]
        for key, value in prep.items():
            if key == "d":
                continue
            if dtype == np.float64:
                value = np.asarray(value, dtype=np.float64)
                value = value * scale if key in self._grid_keys else value
            if shape is not None:
                value = np.ascontiguousarray(np.broadcast_to(value, shape))
            prep[key] = value
        prep["dtype"] = np.dtype(dtype)
        return prep

    def step_prepared(self, a: np.ndarray, state: dict, prep: dict,
                      counters: Optional[Counters] = None) -> tuple[np.ndarray, dict]:
        """One step with constants from :meth:`prepare`; the state must be on the same carrier."""
        raise NotImplementedError

    def step(self, a: np.ndarray, state: dict, params: dict,
             counters: Optional[Counters] = None) -> tuple[np.ndarray, dict]:
        """One time step on int64: returns ``(output, new_state)``.

        ``output`` = spikes 0/1 (int64) or V for LI; it may be the same array as
        ``new_state["P"]`` (LI: ``new_state["V"]``). Pure: inputs are never modified.
        """
        return self.step_prepared(a, state, self.prepare(params), counters)

    @staticmethod
    def _bias(params: dict) -> np.ndarray:
        """``B = bias << 6`` (bias in input units, like Lava's ``bias_mant`` with ``bias_exp = 6``)."""
        return _as_int64(params.get("bias", 0)) << ACT_SHIFT


class CubaKernel(NeuronKernel):
    """CUBA: Lava's own LIF, exactly ``PyLifModelBitAcc`` (lava-nc 0.10.0 ``lif/models.py``).

    File keys: ``iDecay`` (δu·4096, ≥ 1), ``vDecay`` (δv·4096), ``vThMant``. With ``A = a << 6``,
    ``B = bias << 6``, ``VTH = vThMant << 6``::

        U = wrap( mul(4096 − iDecay, U, 12) + A )
        V = sat ( mul(4096 − vDecay, V, 12) + U + B )
        s = V > VTH ;  V[s] = 0            (U is not reset)

    (netx builds ``LIF(du = iDecay − 1, dv = vDecay)`` and Lava adds ``ds_offset = 1``.)
    Lava's int32 arithmetic is reproduced: ``a << 6``, ``decayed_u + A`` and ``decayed_v + U + B``
    wrap to 32 bits (``"int32_overflow"``) before the 24-bit wrap / saturation.
    """

    kind = KINDS["CUBA"]
    _grid_keys = ("ku", "kv")

    def _constants(self, params: dict) -> dict:
        return {
            "d": LIF_DECAY_BITS,
            "ku": (1 << LIF_DECAY_BITS) - _param(params, "iDecay"),
            "kv": (1 << LIF_DECAY_BITS) - _param(params, "vDecay"),
            "vth": _param(params, "vThMant") << ACT_SHIFT,
            "b": self._bias(params),
        }

    def step_prepared(self, a, state, prep, counters=None):
        d = prep["d"]
        act = _act(a, prep["dtype"])
        wrap32(act, counters)              # np.left_shift(int32 a_in, 6)
        u = _mul(prep["ku"], state["U"], d)
        u += act
        wrap32(u, counters)                # int32: decayed_curr += activation_in
        wrap24(u, counters)
        v = _mul(prep["kv"], state["V"], d)
        v += u
        v += prep["b"]
        wrap32(v, counters)                # int32: decayed_volt + u + effective_bias
        sat(v, counters)
        s = v > prep["vth"]
        v[s] = 0
        return s.astype(v.dtype), {"U": u, "V": v}


class SilifKernel(NeuronKernel):
    """SILIF (SiLIF; also AdLIF / cAdLIF), docs/fixed_point.md §3.

    Keys: ``alpha``, ``beta`` (retention on the 2^D grid), ``coupling`` (a·2^D), ``spikeAdapt``
    (b·S), ``vThMant``, ``decayBits`` (D). State ``U``, ``W``, ``P`` (previous spike)::

        W' = sat( mul(beta, W, D) + mul(coupling, U, D) + spikeAdapt · P )
        U' = sat( mul(alpha, U − P·VTH, D) − mul(2^D − alpha, W', D) + A + B )
        s  = U' > VTH ;  P ← s
    """

    kind = KINDS["SILIF"]
    _grid_keys = ("alpha", "alpha_c", "beta", "coupling")

    def _constants(self, params: dict) -> dict:
        d = _scalar(params, "decayBits", LIF_DECAY_BITS)
        alpha = _param(params, "alpha")
        return {
            "d": d,
            "alpha": alpha,
            "alpha_c": (1 << d) - alpha,
            "beta": _param(params, "beta"),
            "coupling": _param(params, "coupling"),
            "adapt": _param(params, "spikeAdapt"),
            "vth": _param(params, "vThMant") << ACT_SHIFT,
            "b": self._bias(params),
        }

    def step_prepared(self, a, state, prep, counters=None):
        d = prep["d"]
        u, w, p = state["U"], state["W"], state["P"]
        w_new = _mul(prep["beta"], w, d)
        tmp = _mul(prep["coupling"], u, d)
        w_new += tmp
        np.multiply(prep["adapt"], p, out=tmp)
        w_new += tmp
        sat(w_new, counters)
        np.multiply(p, prep["vth"], out=tmp)
        np.subtract(u, tmp, out=tmp)       # U − P·VTH
        u_new = _mul(prep["alpha"], tmp, d)
        u_new -= _mul(prep["alpha_c"], w_new, d, out=tmp)
        u_new += _act(a, prep["dtype"])
        u_new += prep["b"]
        sat(u_new, counters)
        s = (u_new > prep["vth"]).astype(u_new.dtype)
        return s, {"U": u_new, "W": w_new, "P": s}


class CsilifKernel(NeuronKernel):
    """CSILIF (C-SiLIF), docs/fixed_point.md §3.

    Keys: ``cosDecay`` = rnd(r cosφ·2^D), ``sinDecay`` = rnd(r sinφ·2^D), ``vThMant``, ``decayBits``.
    State ``X`` (Re u), ``Y`` (Im u), ``P`` (previous spike); each product truncated separately::

        Xr = X − P·VTH
        X' = sat( mul(cosDecay, Xr, D) − mul(sinDecay, Y, D) + A + B )
        Y' = sat( mul(sinDecay, Xr, D) + mul(cosDecay, Y, D) )
        s  = X' > VTH ;  P ← s
    """

    kind = KINDS["CSILIF"]
    _grid_keys = ("cos", "sin")

    def _constants(self, params: dict) -> dict:
        return {
            "d": _scalar(params, "decayBits", LIF_DECAY_BITS),
            "cos": _param(params, "cosDecay"),
            "sin": _param(params, "sinDecay"),
            "vth": _param(params, "vThMant") << ACT_SHIFT,
            "b": self._bias(params),
        }

    def step_prepared(self, a, state, prep, counters=None):
        d = prep["d"]
        x, y, p = state["X"], state["Y"], state["P"]
        xr = np.multiply(p, prep["vth"], dtype=prep["dtype"])
        np.subtract(x, xr, out=xr)         # Xr = X − P·VTH
        x_new = _mul(prep["cos"], xr, d)
        x_new -= _mul(prep["sin"], y, d)
        x_new += _act(a, prep["dtype"])
        x_new += prep["b"]
        sat(x_new, counters)
        y_new = _mul(prep["sin"], xr, d)
        y_new += _mul(prep["cos"], y, d, out=xr)
        sat(y_new, counters)
        s = (x_new > prep["vth"]).astype(x_new.dtype)
        return s, {"X": x_new, "Y": y_new, "P": s}


class LiKernel(NeuronKernel):
    """LI readout (no threshold, no spikes; the output is the state ``V``), docs/fixed_point.md §3::

        V = sat( mul(alpha, V, D) + A + B )
    """

    kind = KINDS["LI"]
    _grid_keys = ("alpha",)

    def _constants(self, params: dict) -> dict:
        return {
            "d": _scalar(params, "decayBits", LIF_DECAY_BITS),
            "alpha": _param(params, "alpha"),
            "b": self._bias(params),
        }

    def step_prepared(self, a, state, prep, counters=None):
        v = _mul(prep["alpha"], state["V"], prep["d"])
        v += _act(a, prep["dtype"])
        v += prep["b"]
        sat(v, counters)
        return v, {"V": v}


class RfKernel(CsilifKernel):
    """RF (resonate-and-fire), docs/fixed_point.md §3.

    Keys and prepared constants as C-SiLIF's (inherited): ``cosDecay`` = rnd(re·2^D), ``sinDecay`` =
    rnd(im·2^D), ``vThMant``, ``decayBits``. State ``X``, ``Y``, ``P``; unlike C-SiLIF the reset subtracts
    VTH after the rotation (``Y`` sees the un-reset ``X``)::

        X' = sat( mul(cosDecay, X, D) − mul(sinDecay, Y, D) − P·VTH + A + B )
        Y' = sat( mul(sinDecay, X, D) + mul(cosDecay, Y, D) )
        s  = X' > VTH ;  P ← s
    """

    kind = KINDS["RF"]

    def step_prepared(self, a, state, prep, counters=None):
        d = prep["d"]
        x, y, p = state["X"], state["Y"], state["P"]
        x_new = _mul(prep["cos"], x, d)
        x_new -= _mul(prep["sin"], y, d)
        x_new -= np.multiply(p, prep["vth"], dtype=prep["dtype"])
        x_new += _act(a, prep["dtype"])
        x_new += prep["b"]
        sat(x_new, counters)
        y_new = _mul(prep["sin"], x, d)
        y_new += _mul(prep["cos"], y, d)
        sat(y_new, counters)
        s = (x_new > prep["vth"]).astype(x_new.dtype)
        return s, {"X": x_new, "Y": y_new, "P": s}


def _mul_sum(k: np.ndarray, x: np.ndarray, d: int) -> np.ndarray:
    """``Σ_j mul(k[..., i, j], x[..., j], D)``: every product truncated toward zero, then summed (int64)."""
    p = np.multiply(k, x[..., None, :], dtype=np.int64)
    return _shr0(p, d).sum(axis=-1)


class MultioutKernel(NeuronKernel):
    """MULTIOUT (the multi-output neuron), docs/fixed_point.md §3; always on the int64 carrier.

    Keys: ``nStates`` (N), ``nOutputs`` (M), ``transition`` (n, N, N), ``inputVec`` (n, N), ``readout``
    (n, M, N), ``resetVec`` (n, N), optional ``resetMat`` (n, N, M), ``resetRead`` (n, N), ``stateRaw``
    (n, N, N), ``stateNew`` (n, N, N, strictly lower), ``spikeFeedback`` (n, N, M); ``vThMant``,
    ``decayBits``. State ``X`` (..., n, N), ``P`` (..., n, M), ``R`` (..., n); output ``s`` (..., n·M),
    neuron-major::

        Z    = X − R·(resetVec + resetMat·P)
        X'_k = sat( Σ_j mul(T_kj, Z_j) + Σ_j mul(G_kj, X_j) + Σ_{j<k} mul(L_kj, X'_j) + F_k·P
                    + mul(inputVec_k, A + B) )                       k = 0 … N−1 in order
        Y    = sat( Σ_k mul(C_mk, X'_k) );  s = Y > VTH
        R'   = any(s)  |  sat( Σ_k mul(resetRead_k, X'_k) ) > VTH ;  P ← s ;  R ← R'

    Products can reach 2^49 and the input term 2^61, beyond float64's exact integers, so this kernel
    computes in int64 whatever carrier the caller asks for (the simulator then runs it in int64).
    """

    kind = KINDS["MULTIOUT"]
    _optional = ("resetMat", "resetRead", "stateRaw", "stateNew", "spikeFeedback")

    def _constants(self, params: dict) -> dict:
        prep = {
            "d": _scalar(params, "decayBits", LIF_DECAY_BITS),
            "N": _scalar(params, "nStates"),
            "M": _scalar(params, "nOutputs"),
            "T": _param(params, "transition"),
            "Bv": _param(params, "inputVec"),
            "C": _param(params, "readout"),
            "rho": _param(params, "resetVec"),
            "vth": _param(params, "vThMant") << ACT_SHIFT,
            "b": self._bias(params),
        }
        for key in self._optional:
            prep[key] = _param(params, key) if key in params else None
        return prep

    def prepare(self, params: dict, dtype=np.int64, shape: Optional[tuple[int, ...]] = None) -> dict:
        """Constants of one layer on the int64 carrier (``dtype`` and ``shape`` are accepted and ignored:
        the matrices broadcast over the batch as they are)."""
        prep = self._constants(params)
        prep["vth_n"] = np.asarray(prep["vth"], dtype=np.int64)
        prep["vth"] = prep["vth_n"][..., None] if prep["vth_n"].ndim else prep["vth_n"]   # against [..., n, M]
        prep["dtype"] = np.dtype(np.int64)
        return prep

    def init_state(self, shape, dtype=np.int64, prep=None):
        if prep is None:
            raise ValueError("MULTIOUT: init_state needs prep (the layer's N and M)")
        return {"X": np.zeros((*shape, prep["N"]), dtype=np.int64), "P": np.zeros((*shape, prep["M"]), dtype=np.int64),
                "R": np.zeros(shape, dtype=np.int64)}

    def output_width(self, n, prep=None):
        return n * int(prep["M"])

    def step_prepared(self, a, state, prep, counters=None):
        d, N = prep["d"], prep["N"]
        x, p, r = state["X"], state["P"], state["R"]
        act = np.asarray(a).astype(np.int64) << ACT_SHIFT
        act += prep["b"]                                    # A + B (exact in int64)
        rv = np.broadcast_to(prep["rho"], x.shape).copy()
        if prep["resetMat"] is not None:
            rv += np.einsum("...km,...m->...k", prep["resetMat"], p)
        z = x - r[..., None] * rv                           # the reset action, one step late
        pre = _mul_sum(prep["T"], z, d)
        if prep["stateRaw"] is not None:
            pre += _mul_sum(prep["stateRaw"], x, d)
        if prep["spikeFeedback"] is not None:
            pre += np.einsum("...km,...m->...k", prep["spikeFeedback"], p)
        inp = np.multiply(prep["Bv"], act[..., None], dtype=np.int64)
        pre += _shr0(inp, d)
        L = prep["stateNew"]
        if L is None:
            x_new = sat(pre, counters)
        else:                                               # row k reads rows j < k of this step
            x_new = pre
            for k in range(N):
                if k:
                    x_new[..., k] += _mul_sum(L[..., k:k + 1, :k], x_new[..., :k], d)[..., 0]
                col = x_new[..., k].copy()
                x_new[..., k] = sat(col, counters)
        y = sat(_mul_sum(prep["C"], x_new, d), counters)
        s = (y > prep["vth"]).astype(np.int64)
        if prep["resetRead"] is not None:
            q = sat(_mul_sum(prep["resetRead"][..., None, :], x_new, d)[..., 0], counters)
            r_new = (q > prep["vth_n"]).astype(np.int64)
        else:
            r_new = s.max(axis=-1)
        return s.reshape(*s.shape[:-2], -1), {"X": x_new, "P": s, "R": r_new}
#: netx's sigma-delta exponents (``Network(spike_exp=6)``, ``state_exp = 6``)
SDNN_SPIKE_EXP = 6
SDNN_STATE_EXP = 6


def _abs32(x: np.ndarray) -> np.ndarray:
    """``|x|`` as int32 numpy computes it: ``|−2^31| = −2^31``."""
    mag = np.abs(x)
    return np.where(x == I32_MIN, I32_MIN, mag) if x.size and x.min() == I32_MIN else mag


def _delta(act: np.ndarray, state: dict, vth, counters: Optional[Counters]) -> tuple[np.ndarray, np.ndarray]:
    """Lava 0.10.0 ``delta_dynamics`` (cum_error off) in int32: returns ``(payload, residue)``."""
    delta = act - state["ACT"]
    delta += state["RESIDUE"]
    wrap32(delta, counters)
    s = np.where(_abs32(delta) >= vth, delta, 0).astype(delta.dtype)
    residue = wrap32(delta - s, counters)
    return np.floor(s / (1 << SDNN_STATE_EXP)) if s.dtype == np.float64 else s >> SDNN_STATE_EXP, residue


class DeltaKernel(NeuronKernel):
    """DELTA: lava-dl's sigma-delta input, exactly Lava 0.10.0 ``PyDeltaModelFixed`` (int32) with
    netx's ``spike_exp = state_exp = 6``::

        A = wrap32(a << 12);  delta = wrap32(A − ACT + RESIDUE);  s = delta if |delta| ≥ vThMant << 12
        RESIDUE = wrap32(delta − s);  ACT = A;  output = s >> 6
    """

    kind = KINDS["DELTA"]

    def _constants(self, params: dict) -> dict:
        return {"d": 0, "vth": _param(params, "vThMant") << (SDNN_SPIKE_EXP + SDNN_STATE_EXP)}

    def step_prepared(self, a, state, prep, counters=None):
        act = np.multiply(a, float(1 << (SDNN_SPIKE_EXP + SDNN_STATE_EXP)), dtype=prep["dtype"]) \
            if prep["dtype"] == np.float64 else np.left_shift(np.asarray(a, np.int64), SDNN_SPIKE_EXP + SDNN_STATE_EXP)
        wrap32(act, counters)
        out, residue = _delta(act, state, prep["vth"], counters)
        return out, {"ACT": act, "RESIDUE": residue}


class SigmaDeltaKernel(NeuronKernel):
    """SIGMA_DELTA: lava-dl's sigma-delta ReLU, exactly Lava 0.10.0 ``PySigmaDeltaModelFixed`` (int32,
    ReLU) with netx's ``spike_exp = state_exp = 6``::

        SIGMA = wrap32(SIGMA + a);  act = max(wrap32(SIGMA + (bias << 12)), 0)
        delta = wrap32(act − ACT + RESIDUE);  s = delta if |delta| ≥ vThMant << 12
        RESIDUE = wrap32(delta − s);  ACT = act;  output = s >> 6
    """

    kind = KINDS["SIGMA_DELTA"]

    def _constants(self, params: dict) -> dict:
        shift = SDNN_SPIKE_EXP + SDNN_STATE_EXP
        return {"d": 0, "vth": _param(params, "vThMant") << shift,
                "b": _as_int64(params.get("bias", 0)) << shift}

    def step_prepared(self, a, state, prep, counters=None):
        sigma = np.add(state["SIGMA"], a, dtype=prep["dtype"])
        wrap32(sigma, counters)
        act = sigma + prep["b"]
        wrap32(act, counters)
        np.maximum(act, 0, out=act)
        out, residue = _delta(act, state, prep["vth"], counters)
        return out, {"SIGMA": sigma, "ACT": act, "RESIDUE": residue}


class SigmaKernel(NeuronKernel):
    """SIGMA: lava-dl's sigma-delta output, Lava 0.10.0 ``PySigmaModelFixed``:
    ``SIGMA = wrap32(SIGMA + a)``, sent every step."""

    kind = KINDS["SIGMA"]

    def _constants(self, params: dict) -> dict:
        return {"d": 0}

    def step_prepared(self, a, state, prep, counters=None):
        sigma = np.add(state["SIGMA"], a, dtype=prep["dtype"])
        wrap32(sigma, counters)
        return sigma, {"SIGMA": sigma}


# ---------------------------------------------------------------------------
# the hybrid network's kinds: HYBRID (the hybrid recurrent layer) and LI2 (its two-filter readout),
# silava/core/kinds/hybrid.py and li2.py. HYBRID's output is the integer payload every unit sends
# (spiking: 2^q or 0; graded LIF and tanh: the value rounded on the 2^q grid).
# ---------------------------------------------------------------------------
from silava.core.kinds.hybrid import (TANH_STEP_BITS, TANH_TABLE, TANH_TABLE_BITS, UNIT_GRADED,  # noqa: E402
                                      UNIT_SPIKING, UNIT_TANH)

_TABLE = np.asarray(TANH_TABLE + (TANH_TABLE[-1],), dtype=np.int64)


def tanh_payload(x: np.ndarray, state_frac_bits: int, payload_bits: int) -> np.ndarray:
    """The fixed-point tanh of ``x`` (state units, scale ``2^s``) as a payload on the ``2^q`` grid (int64).

    Table ``T[k] = rnd(tanh(k/8)·2^16)``, ``h = s − 3``, ``k = |x| >> h``; ``y16 = T[k] +
    (((T[k+1] − T[k])·(|x| − (k << h))) >> h)`` (``T[48]`` for ``k ≥ 48``); payload
    ``sign(x)·((y16 + 2^(15−q)) >> (16 − q))``.
    """
    s, q = int(state_frac_bits), int(payload_bits)
    h = s - TANH_STEP_BITS
    xi = np.asarray(x).astype(np.int64)
    mag = np.abs(xi)
    k = mag >> h
    big = k >= len(TANH_TABLE) - 1
    k = np.minimum(k, len(TANH_TABLE) - 1)
    frac = np.where(big, 0, mag - (k << h))
    y16 = _TABLE[k] + (((_TABLE[k + 1] - _TABLE[k]) * frac) >> h)
    shift = TANH_TABLE_BITS - q
    if shift:
        y16 = (y16 + (1 << (shift - 1))) >> shift
    return np.where(xi < 0, -y16, y16)


class HybridKernel(NeuronKernel):
    """HYBRID (silava/core/kinds/hybrid.py)::

        spiking  s = V > VTH,  G = S·s,            payload = 2^q·s
        graded   g = clip(V, 0, S),  G = g·softReset,  payload = (g + 2^(s−q−1)) >> (s−q)
        tanh     payload = tanh_q(A + B),  U = V = 0
        Vn = sat(mul(beta, V, D) + mul(2^D − beta, U, D));  V' = mul(S − G, Vn, s)
        U' = sat(mul(alpha, U, D) + A + B)
    """

    kind = KINDS["HYBRID"]
    _grid_keys = ("alpha", "beta", "beta_c")
    _ints = ("s", "q")

    def _constants(self, params: dict) -> dict:
        d = _scalar(params, "decayBits", LIF_DECAY_BITS)
        s = _scalar(params, "stateFracBits")
        q = _scalar(params, "payloadFracBits")
        if not 1 <= q <= min(s, TANH_TABLE_BITS) or s < TANH_STEP_BITS:
            raise ValueError(f"HYBRID: payloadFracBits {q} must be in [1, min(stateFracBits {s}, 16)]")
        unit = _param(params, "unit")
        beta = _param(params, "beta")
        return {"d": d, "s": s, "q": q, "alpha": _param(params, "alpha"), "beta": beta, "beta_c": (1 << d) - beta,
                "vth": _param(params, "vThMant") << ACT_SHIFT, "b": self._bias(params),
                "spk": (unit == UNIT_SPIKING).astype(np.int64), "grd": (unit == UNIT_GRADED).astype(np.int64),
                "tnh": (unit == UNIT_TANH).astype(np.int64),
                "reset": _param(params, "softReset") * (unit == UNIT_GRADED)}

    def prepare(self, params: dict, dtype=np.int64, shape: Optional[tuple[int, ...]] = None) -> dict:
        ints = {k: self._constants(params)[k] for k in self._ints}
        prep = super().prepare(params, dtype, shape)
        prep.update(ints)
        return prep

    def step_prepared(self, a, state, prep, counters: Optional[Counters] = None):
        dt, d, s, q = prep["dtype"], prep["d"], prep["s"], prep["q"]
        S = float(1 << s) if dt == np.float64 else 1 << s
        U, V = state["U"], state["V"]
        spike = (V > prep["vth"]) * prep["spk"]
        g = np.clip(V, 0, S)
        G = spike * S + g * prep["reset"]
        A = _act(a, dt)
        A += prep["b"]
        if s > q:
            graded = g + (1 << (s - q - 1))
            graded = np.floor(graded / float(1 << (s - q))) if dt == np.float64 else graded >> (s - q)
        else:
            graded = g.copy()
        payload = spike * (1 << q) + graded * prep["grd"]
        if np.any(prep["tnh"]):
            payload = payload + tanh_payload(A, s, q).astype(dt) * prep["tnh"]
        vn = _mul(prep["beta"], V, d)
        vn += _mul(prep["beta_c"], U, d)
        sat(vn, counters)
        p = (S - G) * vn
        if dt == np.float64:
            v_new = np.trunc(p * 2.0 ** -s)
        else:
            v_new = _shr0(p.astype(np.int64), s)
        u_new = _mul(prep["alpha"], U, d)
        u_new += A
        sat(u_new, counters)
        keep = 1 - prep["tnh"]
        return payload, {"U": u_new * keep, "V": v_new * keep}


class Li2Kernel(NeuronKernel):
    """LI2 (silava/core/kinds/li2.py)::

        U = sat(mul(alpha, U, D) + A + B);  V = sat(mul(beta, V, D) + mul(2^D − beta, U, D))
    """

    kind = KINDS["LI2"]
    _grid_keys = ("alpha", "beta", "beta_c")

    def _constants(self, params: dict) -> dict:
        d = _scalar(params, "decayBits", LIF_DECAY_BITS)
        beta = _param(params, "beta")
        return {"d": d, "alpha": _param(params, "alpha"), "beta": beta, "beta_c": (1 << d) - beta,
                "b": self._bias(params)}

    def step_prepared(self, a, state, prep, counters: Optional[Counters] = None):
        d = prep["d"]
        u = _mul(prep["alpha"], state["U"], d)
        u += _act(a, prep["dtype"])
        u += prep["b"]
        sat(u, counters)
        v = _mul(prep["beta"], state["V"], d)
        v += _mul(prep["beta_c"], u, d)
        sat(v, counters)
        return v, {"U": u, "V": v}


#: neuron type name (as stored in model.net) -> kernel; one per kind declaration (tests check both lists)
KERNELS: dict[str, NeuronKernel] = {k.type_name: k for k in (CubaKernel(), SilifKernel(), CsilifKernel(), LiKernel(),
                                                              RfKernel(), MultioutKernel(),
                                                              DeltaKernel(), SigmaDeltaKernel(), SigmaKernel(),
                                                              HybridKernel(), Li2Kernel())}
