"""Random valid integer networks and inputs, for tests and benchmarks (numpy only).

:func:`random_network` draws each layer the way an exported network looks: a float
"folded" layer (weights ``W'``, bias ``c'`` in float units, threshold 1) is drawn so that
the layer is active, then put on the integer grid with the rules of docs/fixed_point.md §4::

    e    = ceil(log2(max|W'| * S / (127 * 2^7)))          (or the given weight_exp)
    w    = 2 * clip(rnd(W' * S / 2^(e+7)), -127, 127)
    bias = clip(rnd(c' * S / 64), -4096, 4095)
    constants = rnd(value * 2^D);  CUBA: s <- s - e, e <- 0, vThMant = 2^s / 64

with ``rnd`` = round half away from zero. The per-row input gain is scaled to the neuron's
dynamics (``(1 - alpha)`` for SILIF/LI, ``(1 - |lambda|)`` for CSILIF, ``du * dv`` for CUBA)
so that a reasonable fraction of neurons spikes. A few percent of neurons get edge-case
constants (pure integrators ``alpha, beta = 2^D``, no memory ``alpha = 0``, ``|lambda| >= 1``,
CUBA ``iDecay = 1`` / ``vDecay = 0`` or ``4096``, extreme biases, all-maximal weight rows),
and about 1 % are "runaways" (a pure integrator with an extreme bias) that saturate within a
few dozen steps, so saturation, wrap and decay corner cases occur with small probability.
"""
from __future__ import annotations

import math

import numpy as np

from silava.core.kinds import folds_exponent
from silava.core.netfile import (NEURON_TYPES, STATE_FRAC_BITS_MAX, STATE_FRAC_BITS_MIN, WEIGHT_EXP_MAX,
                                 WEIGHT_EXP_MIN, ConvSpec, Layer, Meta, Network, validate)

EDGE_PROB = 0.03          # per neuron and per kind of edge case
BIAS_EDGE_PROB = 0.01
HOT_ROW_PROB = 0.01       # a row of all-maximal weights
RUNAWAY_PROB = 0.01       # a neuron driven into saturation (pure integrator + extreme bias)
HIDDEN_RATE = 0.15        # assumed spike rate of hidden layers when scaling weights


def rnd(x: np.ndarray | float) -> np.ndarray:
    """Round half away from zero: ``sign(x) * floor(|x| + 0.5)`` (Lava's loihi2round)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _grid(values: np.ndarray, bits: int, lo: int, hi: int) -> np.ndarray:
    return np.clip(rnd(values * 2.0**bits), lo, hi).astype(np.int64)


def _edge(rng: np.random.Generator, n: int, p: float = EDGE_PROB) -> np.ndarray:
    return rng.random(n) < p


def _input_moments(first: bool, input_message_bits: int, rate: float,
                   hidden_rate: float = HIDDEN_RATE) -> tuple[float, float]:
    """(E[x], E[x^2]) of one input element per step."""
    if not first:
        return hidden_rate, hidden_rate
    if input_message_bits > 0:
        # random_inputs: nonzero with prob `rate`, value ~ geometric(0.4) >= 1 (mean 2.5, E[v^2] = 10)
        return rate * 2.5, rate * 10.0
    return rate, rate


def _float_layer(rng: np.random.Generator, n_in: int, n_out: int, mean_x: float, mean_x2: float,
                 gain: np.ndarray, bias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Float folded weights and bias: per-step drive ~ N(0.4, 1) (threshold units) times the row gain."""
    sigma = 1.0 / math.sqrt(max(n_in * mean_x2, 1e-9))
    mu = 0.4 / max(n_in * mean_x, 1e-9)
    w = rng.normal(mu, sigma, (n_out, n_in))
    c = rng.normal(0.05, 0.1, n_out) if bias else np.zeros(n_out)
    return w * gain[:, None], c * gain


def _weights(rng: np.random.Generator, w: np.ndarray, s: int, weight_exp: int | None) -> tuple[np.ndarray, int]:
    """Integer weights (even, [-254, 254]) and exponent for float folded weights ``w`` at scale 2^s."""
    peak = float(np.max(np.abs(w)))
    if weight_exp is None:
        e = 0 if peak == 0 else math.ceil(math.log2(peak * 2.0**s / (127 * 2**7)))
        e = int(min(max(e, WEIGHT_EXP_MIN), WEIGHT_EXP_MAX))
    else:
        e = int(weight_exp)
    m = np.clip(rnd(w * 2.0**s / 2.0 ** (e + 7)), -127, 127).astype(np.int64)
    hot = _edge(rng, m.shape[0], HOT_ROW_PROB)
    m[hot] = 127
    return 2 * m, e


def _bias(rng: np.random.Generator, c: np.ndarray, s: int) -> np.ndarray:
    b = np.clip(rnd(c * 2.0**s / 64), -4096, 4095).astype(np.int64)
    edge = _edge(rng, b.size, BIAS_EDGE_PROB)
    b[edge] = rng.choice([-4096, 4095], size=int(edge.sum()))
    return b


def _neuron(rng: np.random.Generator, ntype: str, n: int, D: int, s: int) -> tuple[dict, np.ndarray]:
    """Integer neuron constants and the per-row input gain for ``ntype``."""
    one = 2**D
    if ntype == "SILIF":
        alpha = rng.uniform(0.37, 0.96, n)
        beta = rng.uniform(0.96, 0.995, n)
        a = rng.uniform(-0.2, 1.0, n)
        b = rng.uniform(0.0, 2.0, n)
        neuron = {"alpha": _grid(alpha, D, 0, one), "beta": _grid(beta, D, 0, one),
                  "coupling": _grid(a, D, -one, one),
                  "spikeAdapt": np.clip(rnd(b * 2.0**s), -(2**23 - 1), 2**23 - 1).astype(np.int64)}
        gain = (1.0 - alpha) * 2.5
        for key, choices in (("alpha", [0, one]), ("beta", [one]), ("coupling", [-one, one])):
            e = _edge(rng, n)
            neuron[key][e] = rng.choice(choices, size=int(e.sum()))
            if key == "alpha":
                gain[e] = 0.3
        neuron.update(vThMant=2**s // 64, decayBits=D, stateFracBits=s)
        return neuron, gain
    if ntype == "CSILIF":
        r = rng.uniform(0.78, 0.995, n)
        phi = rng.uniform(0.03, 1.57, n) * rng.choice([-1.0, 1.0], n, p=[0.1, 0.9])
        e1, e0 = _edge(rng, n), _edge(rng, n)
        r[e1] = rng.choice([1.0, 1.02], size=int(e1.sum()))
        r[e0] = 0.0
        cos = _grid(r * np.cos(phi), D, -one, one)
        sin = _grid(r * np.sin(phi), D, -one, one)
        gain = np.maximum(1.0 - np.minimum(r, 1.0), 0.05) * 2.0
        return {"cosDecay": cos, "sinDecay": sin, "vThMant": 2**s // 128, "decayBits": D,
                "stateFracBits": s}, gain
    if ntype == "LI":
        alpha = rng.uniform(0.82, 0.96, n)
        a = _grid(alpha, D, 0, one)
        e = _edge(rng, n)
        a[e] = rng.choice([0, one], size=int(e.sum()))
        return {"alpha": a, "decayBits": D, "stateFracBits": s}, np.maximum(1.0 - alpha, 0.05)
    if ntype == "CUBA":
        du = rng.uniform(0.1, 0.6, n)
        dv = rng.uniform(0.1, 0.6, n)
        i_decay = np.clip(rnd(du * 4096), 1, 4096).astype(np.int64)
        v_decay = np.clip(rnd(dv * 4096), 0, 4096).astype(np.int64)
        e = _edge(rng, n)
        i_decay[e] = rng.choice([1, 4096], size=int(e.sum()))
        e = _edge(rng, n)
        v_decay[e] = rng.choice([0, 4096], size=int(e.sum()))
        # vThMant and stateFracBits are set once the weight exponent is folded in
        return {"iDecay": i_decay, "vDecay": v_decay, "refDelay": 1, "gradedSpike": False}, du * dv * 2.0
    if ntype == "RF":
        r = rng.uniform(0.9, 0.999, n)
        phi = rng.uniform(0.02, 0.3, n)
        e1 = _edge(rng, n)
        r[e1] = 1.003                          # the Euler form may exceed |λ| = 1 slightly
        cos = _grid(r * np.cos(phi), D, -one, one)
        sin = _grid(r * np.sin(phi), D, -one, one)
        gain = np.maximum(1.0 - r, 0.02) * 3.0
        return {"cosDecay": cos, "sinDecay": sin, "vThMant": 2**s // 64, "decayBits": D,
                "stateFracBits": s}, gain
    if ntype == "MULTIOUT":
        return multiout_constants(rng, n, D, s)
    raise ValueError(f"unknown neuron type {ntype!r} (choose one of {', '.join(NEURON_TYPES)})")


def multiout_constants(rng: np.random.Generator, n: int, D: int, s: int, n_states: int = 4, n_outputs: int = 2,
                       *, complex_diag: bool | None = None, reset: str | None = None, action: str | None = None,
                       extras: bool | None = None) -> tuple[dict, np.ndarray]:
    """Integer constants of a random MULTIOUT layer and the per-row input gain.

    The float matrices are drawn first: a transition with spectral radius mostly in [0.7, 0.99]
    (some neurons slightly unstable, 1.02), a complex diagonal (2×2 rotation blocks, ``n_states``
    even) or a dense real matrix; ``inputVec`` with max |entry| = 1 (one entry exactly ±1);
    readouts C of norm about 2; the reset condition any output / a dedicated readout / never
    (zero action); the action a vector ρ (the minimum-norm state change that lowers readout 0 by
    θ) or a matrix R (one such column per output). ``extras`` adds the optional ``stateRaw``,
    ``stateNew`` (strictly lower) and ``spikeFeedback`` with small random entries. ``None``: drawn.
    """
    N, M = int(n_states), int(n_outputs)
    if complex_diag is None:
        complex_diag = N % 2 == 0 and bool(rng.random() < 0.5)
    reset = reset or str(rng.choice(["any", "readout", "never"], p=[0.5, 0.3, 0.2]))
    action = action or str(rng.choice(["vector", "matrix"]))
    extras = bool(rng.random() < 0.3) if extras is None else extras
    r = rng.uniform(0.7, 0.99, (n, N))
    r[_edge(rng, n, 0.05)] = 1.02
    if complex_diag:
        A = np.zeros((n, N, N))
        phi = rng.uniform(0.0, 1.2, (n, N // 2))
        for k in range(N // 2):
            rk = r[:, k]
            c, sn = rk * np.cos(phi[:, k]), rk * np.sin(phi[:, k])
            A[:, 2 * k, 2 * k], A[:, 2 * k, 2 * k + 1], A[:, 2 * k + 1, 2 * k], A[:, 2 * k + 1, 2 * k + 1] = c, -sn, sn, c
    else:
        A = np.zeros((n, N, N))
        A[:, np.arange(N), np.arange(N)] = r
        A += rng.normal(0.0, 0.15 / max(N, 1) ** 0.5, (n, N, N))
    B = rng.uniform(-1.0, 1.0, (n, N))
    B[np.arange(n), rng.integers(0, N, n)] = rng.choice([-1.0, 1.0], n, p=[0.2, 0.8])
    B /= np.max(np.abs(B), axis=1, keepdims=True)
    C = rng.normal(0.0, 1.0, (n, M, N))
    C *= 2.0 / np.maximum(np.linalg.norm(C, axis=2, keepdims=True), 1e-9)
    classic = C / np.sum(C**2, axis=2, keepdims=True)            # θ = 1: lowers readout m by exactly 1
    one = 2**D
    neuron: dict = {"nStates": N, "nOutputs": M, "transition": _grid(A, D, -(2**23 - 1), 2**23 - 1),
                    "inputVec": _grid(B, D, -one, one), "readout": _grid(C, D, -(2**23 - 1), 2**23 - 1)}
    rho = np.zeros((n, N))
    if reset != "never":
        if action == "vector":
            rho = classic[:, 0, :] * rng.uniform(0.5, 1.5, (n, 1))
        else:
            neuron["resetMat"] = _grid(np.transpose(classic, (0, 2, 1)), s, -(2**23 - 1), 2**23 - 1)
        if reset == "readout":
            neuron["resetRead"] = _grid(C[:, 0, :] * rng.uniform(0.8, 1.2, (n, 1)), D, -(2**23 - 1), 2**23 - 1)
    neuron["resetVec"] = _grid(rho, s, -(2**23 - 1), 2**23 - 1)
    if extras:
        neuron["stateRaw"] = _grid(rng.normal(0, 0.05, (n, N, N)), D, -(2**23 - 1), 2**23 - 1)
        neuron["stateNew"] = _grid(np.tril(rng.normal(0, 0.1, (n, N, N)), -1), D, -(2**23 - 1), 2**23 - 1)
        neuron["spikeFeedback"] = _grid(rng.normal(0, 0.2, (n, N, M)), s, -(2**23 - 1), 2**23 - 1)
    neuron.update(vThMant=2**s // 64, decayBits=D, stateFracBits=s)
    gain = np.clip(1.0 - r.max(axis=1), 0.03, 1.0) * 3.0
    return neuron, gain


def _runaway(rng: np.random.Generator, ntype: str, neuron: dict, w: np.ndarray, b: np.ndarray) -> None:
    """Turn a few neurons into runaways that saturate within a few dozen steps (in place)."""
    hit = _edge(rng, b.size, RUNAWAY_PROB)
    if not hit.any():
        return
    if ntype == "CUBA":                      # V integrates a large negative bias; U integrates hot input
        neuron["vDecay"][hit], neuron["iDecay"][hit], b[hit], w[hit] = 0, 1, -4096, 254
        return
    one = 2 ** int(neuron["decayBits"])
    b[hit] = 4095
    if ntype == "SILIF":
        neuron["alpha"][hit], neuron["coupling"][hit] = one, 0
    elif ntype == "CSILIF":
        neuron["cosDecay"][hit], neuron["sinDecay"][hit] = one, 0
    elif ntype == "LI":
        neuron["alpha"][hit] = one
    elif ntype == "RF":
        neuron["cosDecay"][hit], neuron["sinDecay"][hit] = one, 0
    elif ntype == "MULTIOUT":
        N = int(neuron["nStates"])
        neuron["transition"][hit] = one * np.eye(N, dtype=np.int64)


def random_network(neuron_type: str, sizes: list[int], steps: int, seed: int, *, readout: bool = True,
                   input_message_bits: int = 0, decay_bits: int = 12, state_frac_bits: int = 12,
                   bias: bool = True, weight_exp: int | None = None, recurrent: bool = False,
                   hidden_rate: float = HIDDEN_RATE, input_rate: float = 0.2, n_states: int = 4,
                   n_outputs: int = 2, multiout: dict | None = None) -> Network:
    """A random, valid, active integer network.

    ``sizes = [n_inputs, hidden..., n_classes]``; hidden layers are ``neuron_type``; the last
    layer is an LI readout if ``readout`` (else ``neuron_type`` too). ``neuron_type="LI"``
    gives a single LI layer (``len(sizes) == 2``). ``input_message_bits > 0`` makes the first
    layer take graded counts. ``weight_exp=None`` picks each layer's exponent from its
    largest weight; CUBA layers fold the exponent into the state scale (``s - e``, ``e = 0``).
    MULTIOUT layers have ``n_states`` state words and ``n_outputs`` outputs per neuron (the next layer
    then takes ``n_outputs × size`` inputs); ``multiout`` passes options to :func:`multiout_constants`.
    ``recurrent``: the hidden layers are ``dense_rec`` (a recurrent weight matrix on the same
    exponent as the input weights, drawn so that the recurrence is a fraction of the drive; not for
    MULTIOUT layers, which are dense only).
    ``input_rate`` / ``hidden_rate``: the spike rates the weights are scaled for (network input,
    hidden layers).
    """
    ntype = neuron_type.upper()
    if ntype not in NEURON_TYPES:
        raise ValueError(f"unknown neuron type {neuron_type!r} (choose one of {', '.join(NEURON_TYPES)})")
    if len(sizes) < 2 or any(int(n) < 1 for n in sizes):
        raise ValueError(f"sizes must be [n_inputs, ..., n_classes] with positive entries, got {sizes}")
    if ntype == "LI" and len(sizes) != 2:
        raise ValueError("LI is a non-spiking readout: random_network('LI', ...) builds a single layer; "
                         "use a spiking type with readout=True for deeper networks")
    if ntype == "CSILIF" and state_frac_bits < 7:
        raise ValueError("CSILIF needs state_frac_bits >= 7 (vThMant = 2^s / 128)")
    rng = np.random.default_rng(seed)
    n_layers = len(sizes) - 1
    layers = []
    width = int(sizes[0])
    for i in range(n_layers):
        n_in, n_out = width, int(sizes[i + 1])
        ltype = "LI" if (readout and i == n_layers - 1) or ntype == "LI" else ntype
        s = int(state_frac_bits)
        D = 12 if ltype == "CUBA" else int(decay_bits)
        if ltype == "MULTIOUT":
            neuron, gain = multiout_constants(rng, n_out, D, s, n_states, n_outputs, **(multiout or {}))
        else:
            neuron, gain = _neuron(rng, ltype, n_out, D, s)
        mean_x, mean_x2 = _input_moments(i == 0, input_message_bits, input_rate, hidden_rate)
        w_f, c_f = _float_layer(rng, n_in, n_out, mean_x, mean_x2, gain, bias)
        rec = recurrent and ltype not in ("LI", "MULTIOUT")
        if rec:   # the recurrence: about a third of the drive, mixed signs
            wr_f = rng.normal(0.0, 0.35 / math.sqrt(max(n_out * HIDDEN_RATE, 1e-9)), (n_out, n_out)) * gain[:, None]
            w_f = np.concatenate([w_f, wr_f], axis=1)
        types = [ltype if j == i else ntype for j in range(i + 1)]
        w, e = _weights(rng, w_f, s, weight_exp)
        if folds_exponent(types, i) and (ltype == "CUBA" or e <= 0):   # CUBA, or an LI readout behind CUBA
            s = int(min(max(s - e, STATE_FRAC_BITS_MIN), STATE_FRAC_BITS_MAX))
            w, _ = _weights(rng, w_f, s, 0)
            if not np.any(w):
                w[0, 0] = 2
            e = 0
            neuron.update(stateFracBits=s)
            if ltype == "CUBA":
                neuron["vThMant"] = 2**s // 64
        w_rec = None
        if rec:
            w, w_rec = w[:, :n_in], w[:, n_in:]
        b = _bias(rng, c_f, s) if bias else None
        if b is not None:
            _runaway(rng, ltype, neuron, w, b)
        layers.append(Layer(neuron_type=ltype, weight=w, neuron=neuron, bias=b, weight_exp=e,
                            input_message_bits=int(input_message_bits) if i == 0 else 0,
                            layer_type="dense_rec" if rec else "dense", weight_rec=w_rec))
        width = layers[-1].output_width
    meta = Meta(steps=int(steps), n_inputs=int(sizes[0]), n_classes=width,
                input_encoding="counts" if input_message_bits else "binary", source_neuron=ntype.lower(),
                task={"name": "synth", "seed": int(seed), "sizes": [int(n) for n in sizes]},
                quantization={"synth": True, "decay_bits": int(decay_bits),
                              "state_frac_bits": int(state_frac_bits)})
    net = Network(layers=layers, meta=meta)
    validate(net)
    return net


def random_inputs(net: Network, batch: int, seed: int, rate: float = 0.2) -> np.ndarray:
    """Random inputs int64 ``[B, T, F]`` for ``net``.

    Binary input: Bernoulli(``rate``) spikes. Graded input (first layer
    ``input_message_bits > 0``): nonzero with probability ``rate``, value ~ geometric(0.4)
    (mean 2.5) and, with probability 0.002, the largest payload ``2^bits - 1``; always
    within ``[0, 2^bits - 1]``.
    """
    rng = np.random.default_rng(seed)
    shape = (int(batch), int(net.meta.steps), int(net.meta.n_inputs))
    active = rng.random(shape) < rate
    bits = int(net.layers[0].input_message_bits)
    if bits == 0:
        return active.astype(np.int64)
    top = 2**bits - 1
    values = np.minimum(rng.geometric(0.4, shape), top)
    values[rng.random(shape) < 0.002] = top
    return np.where(active, values, 0).astype(np.int64)


def full_range_network(seed: int, *, n_layers: int | None = None, steps: int = 12,
                       kinds: tuple[str, ...] | None = None) -> Network:
    """A valid network with every integer drawn uniformly from its whole legal range.

    Not a realistic network (most neurons saturate or never fire): a stress test of the
    arithmetic. Every key comes from the kind declarations (:mod:`silava.core.kinds`): constants
    uniform in their range at a random ``decayBits``, ``vThMant`` uniform in [1, 2^17 − 1], a random
    ``stateFracBits``; weights even in [−256, 254] with a random exponent in [−8, 7] (a netx-native
    kind keeps ``weightExp = 0``); biases in [−4096, 4095]; the first layer takes graded inputs
    of up to 16 bits half of the time, so the int32 wraps of Lava's Dense and LIF are reached.
    The last layer is a graded (non-spiking) kind; hidden layers are spiking kinds (of ``kinds``,
    default the kinds silava trains; :func:`random_sdnn_network` draws lava-dl's sigma-delta ones).
    """
    from silava.core.kinds import KINDS

    rng = np.random.default_rng(seed)
    kinds = kinds or tuple(k for k, kind in KINDS.items() if kind.trainable)   # lava-dl's kinds: their own synth
    spiking = [k for k in kinds if KINDS[k].spiking]
    graded = [k for k in kinds if KINDS[k].output == "graded"]   # readouts (not the hybrid layer)
    n_layers = int(n_layers or rng.integers(1, 4))
    sizes = [int(n) for n in rng.integers(1, 24, n_layers + 1)]
    bits = int(rng.choice([0, int(rng.integers(1, 17))]))
    layers = []
    width = sizes[0]
    for i in range(n_layers):
        last = i == n_layers - 1
        kind = KINDS[str(rng.choice(graded if last and graded else spiking))]
        n_in, n_out = width, sizes[i + 1]
        D = kind.fixed_decay_bits or int(rng.integers(8, 25))
        s = int(rng.integers(STATE_FRAC_BITS_MIN, STATE_FRAC_BITS_MAX + 1))
        neuron = {}
        dims = {letter: int(rng.integers(1, 5 if letter != kind.output_dim else 4)) for letter in kind.dims}
        for p in kind.params:
            lo, hi = p.range.at(D)
            if p.role == "constant" and (p.required or rng.random() < 0.5):
                value = rng.integers(lo, hi + 1, (n_out, *kind.extra_shape(p, dims))).astype(np.int64)
                neuron[p.key] = np.tril(value, -1) if p.strictly_lower else value
            elif p.role == "dim":
                neuron[p.key] = dims[p.dim]
            elif p.role == "threshold":
                neuron[p.key] = rng.integers(lo, hi + 1, n_out).astype(np.int64)
            elif p.role == "decay_bits":
                neuron[p.key] = int(D)
            elif p.role == "state_frac_bits":
                neuron[p.key] = s
            elif p.role == "fixed":
                neuron[p.key] = p.value
        w = 2 * rng.integers(-128, 128, (n_out, n_in)).astype(np.int64)
        w[w == 0] = 2                                  # netx-native kinds refuse all-zero matrices
        e = 0 if kind.netx_native else int(rng.integers(WEIGHT_EXP_MIN, WEIGHT_EXP_MAX + 1))
        bias = rng.integers(-4096, 4096, n_out).astype(np.int64)
        layers.append(Layer(neuron_type=kind.name, weight=w, neuron=neuron, bias=bias, weight_exp=e,
                            input_message_bits=bits if i == 0 else 0))
        width = layers[-1].output_width
    meta = Meta(steps=int(steps), n_inputs=sizes[0], n_classes=width,
                input_encoding="counts" if bits else "binary", source_neuron="synth",
                task={"name": "synth-full-range", "seed": int(seed)}, quantization={"synth": True})
    net = Network(layers=layers, meta=meta)
    validate(net)
    return net


def full_range_inputs(net: Network, batch: int, seed: int) -> np.ndarray:
    """Inputs ``[B, T, F]``: binary spikes (rate 0.5) or graded payloads uniform in [0, 2^bits − 1]."""
    rng = np.random.default_rng(seed)
    shape = (int(batch), int(net.meta.steps), int(net.meta.n_inputs))
    bits = int(net.layers[0].input_message_bits)
    if bits == 0:
        return (rng.random(shape) < 0.5).astype(np.int64)
    return rng.integers(0, 2**bits, shape).astype(np.int64)


def random_conv_network(neuron_type: str, in_shape: tuple[int, int, int], channels: list[int], steps: int,
                        seed: int, *, kernel: int = 3, stride: int = 1, padding: int = 1, dilation: int = 1,
                        groups: int = 1, dense: list[int] | None = None, readout: bool = True,
                        input_message_bits: int = 0, state_frac_bits: int = 12, decay_bits: int = 12,
                        bias: bool = True) -> Network:
    """A random active network of ``conv`` layers (then optional dense layers), like :func:`random_network`.

    ``in_shape = (C, H, W)``; ``channels``: output channels of each conv layer (``kernel``,
    ``stride``, ``padding``, ``dilation``, ``groups`` for all of them); ``dense``: sizes of the
    dense layers after them (the last one is an LI readout if ``readout``; without dense layers
    the last conv layer is ``neuron_type`` too). Neuron constants are drawn per channel (as slayer
    shares them), biases per channel with a few per-neuron edge values. Conv layers have no
    weight exponent (Lava's Conv ignores it): like CUBA, the exponent is folded into the state
    scale (``s - e``).
    """
    ntype = neuron_type.upper()
    if ntype not in NEURON_TYPES or ntype == "LI":
        raise ValueError(f"neuron_type must be a spiking kind ({', '.join(NEURON_TYPES)}), got {neuron_type!r}")
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    shape = tuple(int(v) for v in in_shape)
    for i, c_out in enumerate(channels):
        spec = ConvSpec(in_shape=shape, stride=stride, padding=padding, dilation=dilation, groups=groups)
        c_in = shape[0]
        cg = c_in // groups
        s = int(state_frac_bits)
        D = 12 if ntype == "CUBA" else int(decay_bits)
        neuron, gain = _neuron(rng, ntype, int(c_out), D, s)
        mean_x, mean_x2 = _input_moments(i == 0, input_message_bits, 0.25, 0.08)
        fan_in = cg * kernel * kernel
        w_f, c_f = _float_layer(rng, fan_in, int(c_out), mean_x, mean_x2, gain, bias)
        _, e = _weights(rng, w_f, s, None)
        s = int(min(max(s - e, STATE_FRAC_BITS_MIN + (1 if ntype == "CSILIF" else 0)), STATE_FRAC_BITS_MAX))
        w, _ = _weights(rng, w_f, s, 0)
        w = w.reshape(int(c_out), cg, kernel, kernel)
        if ntype == "CSILIF":
            neuron.update(vThMant=2**s // 128, stateFracBits=s)
        else:
            neuron.update(vThMant=2**s // 64)
            if "stateFracBits" in neuron or ntype == "CUBA":
                neuron["stateFracBits"] = s
        layer = Layer(neuron_type=ntype, weight=w, neuron={}, layer_type="conv", conv=spec,
                      input_message_bits=int(input_message_bits) if i == 0 else 0)
        hw = int(np.prod(layer.neuron_shape[1:]))
        layer.neuron = {k: (np.repeat(v, hw) if isinstance(v, np.ndarray) else v) for k, v in neuron.items()}
        if bias:
            b = np.repeat(np.clip(rnd(c_f * 2.0**s / 64), -4096, 4095).astype(np.int64), hw)
            edge = _edge(rng, b.size, BIAS_EDGE_PROB)
            b[edge] = rng.choice([-4096, 4095], size=int(edge.sum()))
            layer.bias = b
        layers.append(layer)
        shape = layer.neuron_shape
    n_in = int(np.prod(shape))
    if dense:
        tail = random_network(ntype, [n_in] + list(dense), steps, seed + 7919, readout=readout,
                              decay_bits=decay_bits, state_frac_bits=state_frac_bits, bias=bias,
                              input_rate=0.04, hidden_rate=0.1)
        for layer in tail.layers:
            layer.input_message_bits = 0
        layers += tail.layers
    meta = Meta(steps=int(steps), n_inputs=int(np.prod(in_shape)), n_classes=layers[-1].out_features,
                input_encoding="counts" if input_message_bits else "binary", source_neuron=ntype.lower(),
                task={"name": "synth-conv", "seed": int(seed), "in_shape": [int(v) for v in in_shape]},
                quantization={"synth": True})
    net = Network(layers=layers, meta=meta)
    validate(net)
    return net


def random_sdnn_network(sizes: list[int], steps: int, seed: int, *, conv_shape: tuple[int, int, int] | None = None,
                        conv_channels: tuple[int, ...] = (), recurrent: bool = False, input_bits: int = 8,
                        vth: tuple[int, int] = (1, 12)) -> Network:
    """A random lava-dl style sigma-delta network: a ``DELTA`` input layer, ``SIGMA_DELTA`` (ReLU)
    hidden layers and a ``SIGMA`` output, graded payloads between all of them.

    ``sizes = [n_inputs, hidden..., n_out]`` for the dense part; with ``conv_shape = (C, H, W)`` the
    input layer has that shape and ``conv_channels`` 3x3 sigma-delta conv layers (padding 1)
    come first, then the dense layers (``sizes[0]`` is ignored). ``recurrent``: dense hidden
    layers are ``dense_rec``. Thresholds ``vThMant`` uniform in ``vth``; weights even integers
    with a spread of about ±48/√fan-in (the ±256 limits on a few); inputs graded with ``input_bits``.
    """
    rng = np.random.default_rng(seed)

    def weights(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        w = 2 * np.round(rng.normal(0.0, 48.0 / math.sqrt(max(fan_in, 1)), shape) / 2).astype(np.int64)
        w = np.clip(w, -256, 254)
        hot = rng.random(shape) < 0.002
        w[hot] = rng.choice([-256, 254], size=int(hot.sum()))
        return w

    def vthm() -> int:
        return int(rng.integers(vth[0], vth[1] + 1))

    layers: list[Layer] = []
    in_shape = tuple(conv_shape) if conv_shape is not None else (int(sizes[0]),)
    layers.append(Layer("DELTA", None, {"vThMant": vthm(), "activation": "relu"}, layer_type="input",
                        shape=in_shape, input_message_bits=int(input_bits)))
    shape = in_shape
    for c_out in conv_channels:
        spec = ConvSpec(in_shape=shape, padding=1)
        w = weights((int(c_out), shape[0], 3, 3), shape[0] * 9)
        layer = Layer("SIGMA_DELTA", w, {"vThMant": vthm(), "activation": "relu"}, layer_type="conv", conv=spec,
                      input_message_bits=16)
        layer.bias = np.repeat(rng.integers(-8, 9, int(c_out)), int(np.prod(layer.neuron_shape[1:]))).astype(np.int64)
        layers.append(layer)
        shape = layer.neuron_shape
    dense_sizes = [int(np.prod(shape))] + [int(n) for n in sizes[1:]]
    for i in range(len(dense_sizes) - 1):
        n_in, n_out = dense_sizes[i], dense_sizes[i + 1]
        last = i == len(dense_sizes) - 2
        kind = "SIGMA" if last else "SIGMA_DELTA"
        neuron = {"sigma_output": True} if last else {"vThMant": vthm(), "activation": "relu"}
        rec = recurrent and not last
        layers.append(Layer(kind, weights((n_out, n_in), n_in), neuron,
                            bias=None if last else rng.integers(-8, 9, n_out).astype(np.int64),
                            input_message_bits=16, layer_type="dense_rec" if rec else "dense",
                            weight_rec=weights((n_out, n_out), 4 * n_out) if rec else None))
    meta = Meta(steps=int(steps), n_inputs=int(np.prod(in_shape)), n_classes=layers[-1].out_features,
                input_encoding="graded", source_neuron="sdnn", decision="sum_v",
                task={"name": "synth-sdnn", "seed": int(seed)}, quantization={"synth": True})
    net = Network(layers=layers, meta=meta)
    validate(net)
    return net


def random_graded_inputs(net: Network, batch: int, seed: int, smooth: float = 0.8) -> np.ndarray:
    """Slowly varying graded inputs ``[B, T, F]`` in ``[0, 2^bits − 1]`` (a sigma-delta network's
    input): a random walk with persistence ``smooth``, a few features held at the top value."""
    rng = np.random.default_rng(seed)
    bits = max(1, int(net.layers[0].input_message_bits))
    top = (1 << min(bits, 8)) - 1
    shape = (int(batch), int(net.meta.steps), int(net.meta.n_inputs))
    base = rng.integers(0, top + 1, (shape[0], 1, shape[2])).astype(np.float64)
    noise = rng.normal(0.0, top * 0.15, shape)
    x = np.empty(shape)
    prev = base[:, 0]
    for t in range(shape[1]):
        prev = smooth * prev + (1 - smooth) * rng.integers(0, top + 1, (shape[0], shape[2])) + noise[:, t] * 0.2
        x[:, t] = prev
    x = np.clip(np.rint(x), 0, top).astype(np.int64)
    x[:, :, :: max(1, shape[2] // 3)][rng.random((shape[0], shape[1], len(range(0, shape[2], max(1, shape[2] // 3))))) < 0.01] = top
    return x


def random_hybrid_network(nonspiking: str, recurrent: str, seed: int, *, n_in: int = 7, n_hidden: int = 9,
                          n_classes: int = 3, steps: int = 12):
    """A random hybrid network (``silava.train.hybrid``; torch): ``(model, net, config, payload_bits)``.

    Random spiking ratio (0 … 1, a shuffled mask), nsn reset, time constants, weight scale and readout
    rule; quantized by ``silava.export.hybrid`` with a random state scale ``s`` in [9, 14], decay grid
    ``D`` in [10, 14] and payload bits ``q`` in [2, min(s, 9)]. For the equivalence ladder of the hybrid
    kinds (tests/test_hybrid_deploy.py).
    """
    import torch

    from silava.core.fixedpoint import QuantConfig
    from silava.export.hybrid import fold, quantize
    from silava.train.hybrid import HybridNet

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = HybridNet(n_in, n_hidden, n_classes, spiking_ratio=float(rng.choice([0.0, 0.25, 0.5, 0.75, 1.0])),
                      nonspiking=nonspiking, recurrent=recurrent, shuffle=True, mask_seed=seed,
                      nsn_reset=bool(rng.integers(0, 2)), tau_mem=float(rng.uniform(2e-3, 3e-2)),
                      tau_syn=float(rng.uniform(1e-3, 2e-2)), tau_readout=float(rng.uniform(5e-3, 5e-2)),
                      weight_scale=float(rng.uniform(1.0, 6.0)), readout=str(rng.choice(["max", "sum"])))
    s = int(rng.integers(9, 15))
    q = int(rng.integers(2, min(s, 9) + 1))
    config = QuantConfig(state_frac_bits=s, decay_bits=int(rng.integers(10, 15)))
    net, _ = quantize(fold(model), config, payload_bits=q)
    net.meta.steps = int(steps)
    return model, net, config, q
