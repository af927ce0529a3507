"""hwsim golden kernels: primitives, Dense, and the integer step of every neuron type.

Expected values are worked out here from docs/fixed_point.md (explicit integers), or come
from independent re-statements (plain Python ints; Lava's own LIF code path with int32
arrays) and from a real Lava fixed_pt run.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from conftest import needs_lava
from silava.hwsim.kernels import (KERNELS, MAX_STATE, Counters, clip_graded, dense, dense_float, mul, sat, wrap24,
                           wrap32)

MAX = 2**23 - 1


# --------------------------------------------------------------------------- primitives

def test_mul_truncates_toward_zero():
    assert mul(3, 5, 1)[()] == 7            # 15/2 = 7.5 -> 7
    assert mul(3, -5, 1)[()] == -7          # -7.5 -> -7 (floor would give -8)
    assert mul(-3, 5, 1)[()] == -7
    assert mul(-3, -5, 1)[()] == 7
    assert mul(4095, -1, 12)[()] == 0       # -4095/4096 -> 0 (floor: -1)
    assert mul(1096, -400, 12)[()] == -107  # -438400/4096 = -107.03
    np.testing.assert_array_equal(mul(np.array([4096, 2048]), np.array([-3, -3]), 12), [-3, -1])


def test_mul_matches_sign_abs_shift_and_float_carrier():
    rng = np.random.default_rng(0)
    for d in (8, 12, 16, 24):
        k = rng.integers(-(2**d), 2**d + 1, 5000)
        x = rng.integers(-(2**24), 2**24, 5000)
        p = k * x
        ref = np.sign(p) * (np.abs(p) >> d)            # Lava's formula
        np.testing.assert_array_equal(mul(k, x, d), ref)
        # the float64 carrier: trunc((k / 2^d) * x) is exact
        got = np.trunc((k * 2.0**-d) * x.astype(np.float64))
        np.testing.assert_array_equal(got.astype(np.int64), ref)


def test_sat_wrap_and_counts():
    c = Counters()
    x = np.array([MAX, MAX + 1, -MAX, -MAX - 5, 0], dtype=np.int64)
    sat(x, c)
    np.testing.assert_array_equal(x, [MAX, MAX, -MAX, -MAX, 0])
    assert c == {"saturate": 2}

    c = Counters()
    u = np.array([2**23, 2**23 + 1, -(2**23) + 1, -(2**23), 2**24 + 2**23 + 5], dtype=np.int64)
    wrap24(u, c)
    # 2^23 is kept (strict >), 2^23+1 -> -2^23+1, -2^23 -> +2^23, one wrap only (not a modulo)
    np.testing.assert_array_equal(u, [2**23, -(2**23) + 1, -(2**23) + 1, 2**23, 2**23 + 5])
    assert c == {"wrap": 3}

    c = Counters()
    v = np.array([2**31 - 1, 2**31, -(2**31) - 1, 2**32 + 7], dtype=np.int64)
    wrap32(v, c)
    np.testing.assert_array_equal(v, [2**31 - 1, -(2**31), 2**31 - 1, 7])
    assert c == {"int32_overflow": 3}
    vf = np.array([2**31, 5.0])                       # same on the float carrier
    wrap32(vf)
    np.testing.assert_array_equal(vf, [-(2**31), 5])


def test_counters_add_and_merge():
    c = Counters()
    c.add("saturate", 0)
    assert c == {}
    c.add("saturate", 2)
    c.merge({"saturate": 1, "wrap": 4})
    assert c == {"saturate": 3, "wrap": 4}


# --------------------------------------------------------------------------- Dense

def test_dense_binary_counts_any_nonzero_as_one():
    w = np.array([[2, -4, 6], [254, -256, 0]])
    x = np.array([[1, 0, 3], [-1, 5, 0]])                 # 3 and -1 and 5 count as 1
    np.testing.assert_array_equal(dense(w, x, 0, graded=False), [[8, 254], [-2, -2]])
    np.testing.assert_array_equal(dense(w, x.astype(np.float32) * 0.5, 0, graded=False), [[8, 254], [-2, -2]])
    np.testing.assert_array_equal(dense(w, x.astype(bool), 0, graded=False), [[8, 254], [-2, -2]])


def test_dense_graded_and_positive_exponent():
    w = np.array([[2, -4, 6], [254, -256, 0]])
    x = np.array([3, 0, 255])
    # acc = [2*3 + 6*255, 254*3] = [1536, 762];  << 2
    np.testing.assert_array_equal(dense(w, x, 2, graded=True), [1536 * 4, 762 * 4])


def test_dense_negative_exponent_floors_the_sum():
    w = np.array([[2, 2, 2], [-2, -2, -2], [2, 2, -2]])
    x = np.array([1, 1, 1])
    # sums 6, -6, 2; >> 2 (floor): 1, -2, 0.  Per-synapse shifts would give 0, -3, -1;
    # truncation of the sum toward zero would give 1, -1, 0.
    np.testing.assert_array_equal(dense(w, x, -2, graded=False), [1, -2, 0])
    np.testing.assert_array_equal(dense(w, x * 3, -3, graded=True), [2, -3, 0])   # 18>>3, -18>>3, 6>>3


def test_dense_matches_int64_reference_on_random_data():
    rng = np.random.default_rng(1)
    for graded, bits, n_in in ((False, 0, 300), (True, 8, 50), (True, 8, 2000), (True, 16, 40)):
        w = rng.integers(-128, 128, (17, n_in)) * 2
        x = rng.integers(0, 2**bits, (4, 9, n_in)) if graded else rng.integers(-1, 3, (4, 9, n_in))
        for e in (-8, -3, 0, 3, 7):
            xi = x if graded else (x != 0).astype(np.int64)
            acc = np.einsum("btj,ij->bti", xi.astype(np.int64), w.astype(np.int64))
            ref = acc << e if e > 0 else acc >> -e
            if np.abs(ref).max() > 2**31 - 1:
                continue                                  # int32 wrap: tested separately
            got = dense(w, x, e, graded)
            assert got.dtype == np.int64 and got.shape == (4, 9, 17)
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_array_equal(dense_float(w, x, e, graded), ref)


def test_dense_wraps_to_int32_like_lavas_port():
    w = np.full((2, 300), 254)
    w[1] = -256
    x = np.full(300, 255)
    c = Counters()
    got = dense(w, x, 7, graded=True, counters=c)
    exact = np.array([254 * 255 * 300 << 7, -256 * 255 * 300 << 7])   # 2_487_168_000, -2_506_752_000
    np.testing.assert_array_equal(got, exact - np.sign(exact) * 2**32)
    assert c == {"int32_overflow": 2}
    # graded sums are int32 in Lava before a right shift, too
    c = Counters()
    big = np.full(40_000, 255)
    got = dense(np.full((1, 40_000), 254), big, -1, graded=True, counters=c)
    acc = 254 * 255 * 40_000                                           # 2_590_800_000 > 2^31 - 1
    assert int(got[0]) == (acc - 2**32) >> 1 and c == {"int32_overflow": 1}


def test_clip_graded_counts():
    c = Counters()
    x = np.array([[0, 3, 255, 256, 1000, -2]])
    np.testing.assert_array_equal(clip_graded(x, 8, c), [[0, 3, 255, 255, 255, 0]])
    assert c == {"input_clip": 3}
    np.testing.assert_array_equal(clip_graded(x, 0), [[0, 1, 1, 1, 1, 1]])


# --------------------------------------------------------------------------- hand-computed traces

def _run(kind: str, params: dict, inputs: list[int], n: int = 1):
    kernel = KERNELS[kind]
    state = kernel.init_state((n,))
    trace = []
    for a in inputs:
        out, state = kernel.step(np.full(n, a, dtype=np.int64), state, params)
        trace.append((int(out[0]), {k: int(v[0]) for k, v in state.items()}))
    return trace


def test_cuba_hand_trace():
    # iDecay 1000 -> retention 3096; vDecay 300 -> 3796; VTH = 10 << 6 = 640; B = 1 << 6 = 64
    params = {"iDecay": 1000, "vDecay": 300, "vThMant": 10, "refDelay": 1, "gradedSpike": False, "bias": 1}
    trace = _run("CUBA", params, [4, 0, -3, 5])
    # t1: U = 0 + 4<<6 = 256;            V = 0 + 256 + 64 = 320
    # t2: U = 3096*256/4096 = 193.5 -> 193;  V = 3796*320/4096 = 296.6 -> 296; 296+193+64 = 553
    # t3: U = 3096*193/4096 = 145.9 -> 145; 145 - 192 = -47;  V = 3796*553/4096 = 512.5 -> 512; 512-47+64 = 529
    # t4: U = 3096*(-47)/4096 = -35.5 -> -35 (toward zero); -35 + 320 = 285
    #     V = 3796*529/4096 = 490.3 -> 490; 490 + 285 + 64 = 839 > 640: spike, V = 0 (U kept)
    assert trace == [(0, {"U": 256, "V": 320}), (0, {"U": 193, "V": 553}),
                     (0, {"U": -47, "V": 529}), (1, {"U": 285, "V": 0})]


def test_cuba_wrap_saturation_and_int32_by_hand():
    kernel = KERNELS["CUBA"]
    params = {"iDecay": 1, "vDecay": 0, "vThMant": 2**17 - 1, "refDelay": 1, "gradedSpike": False, "bias": 0}
    c = Counters()
    state = {"U": np.array([2**23 - 10, 0]), "V": np.array([MAX - 5, 0])}
    out, new = kernel.step(np.array([100, 2**25 + 1]), state, params, c)
    # neuron 0: U = 4095*(2^23-10)/4096 = 8388598 - 2047.997 = 8386550.002 -> 8386550; + 6400 = 8392950
    #           > 2^23 -> wrap: 8392950 - 2^24 = -8384266;  V = (MAX-5) + U = 8388602 - 8384266 = 4336
    # neuron 1: a << 6 = 2^31 + 64 wraps in int32 to -2^31 + 64 = -2147483584; one 24-bit wrap:
    #           -2147483584 + 2^24 = -2130706368 (Lava's single wrap); V = sat(U) = -MAX
    np.testing.assert_array_equal(new["U"], [-8384266, -2130706368])
    np.testing.assert_array_equal(new["V"], [4336, -MAX])
    np.testing.assert_array_equal(out, [0, 0])
    assert c == {"wrap": 2, "int32_overflow": 1, "saturate": 1}
    # saturation from above, then the spike resets V
    params2 = dict(params, vThMant=1)
    out, new = kernel.step(np.array([0, 0]), {"U": np.array([2**23, 0]), "V": np.array([MAX, 0])}, params2, c)
    np.testing.assert_array_equal(out, [1, 0])
    np.testing.assert_array_equal(new["V"], [0, 0])


def test_silif_hand_trace():
    # D = 12, alpha 3000 (1 - alpha = 1096), beta 4000, coupling -800, spikeAdapt 500,
    # VTH = 64 << 6 = 4096, B = 2 << 6 = 128
    params = {"alpha": 3000, "beta": 4000, "coupling": -800, "spikeAdapt": 500, "vThMant": 64,
              "decayBits": 12, "stateFracBits": 12, "bias": 2}
    trace = _run("SILIF", params, [70, 0, -30, 40])
    # t1: W = 0;  U = 0 - 0 + 70<<6 + 128 = 4608 > 4096: spike, P = 1
    # t2: W = 0 + (-800*4608/4096 = -900) + 500*1 = -400
    #     U = 3000*(4608-4096)/4096 = 375;  1096*(-400)/4096 = -107.03 -> -107;  375 + 107 + 0 + 128 = 610
    # t3: W = 4000*(-400)/4096 = -390.6 -> -390;  -800*610/4096 = -119.1 -> -119;  W = -509
    #     U = 3000*610/4096 = 446.8 -> 446;  1096*(-509)/4096 = -136.2 -> -136;  446 + 136 - 1920 + 128 = -1210
    # t4: W = 4000*(-509)/4096 = -497.07 -> -497;  -800*(-1210)/4096 = 236.3 -> 236;  W = -261
    #     U = 3000*(-1210)/4096 = -886.2 -> -886;  1096*(-261)/4096 = -69.8 -> -69; -886 + 69 + 2560 + 128 = 1871
    assert trace == [(1, {"U": 4608, "W": 0, "P": 1}), (0, {"U": 610, "W": -400, "P": 0}),
                     (0, {"U": -1210, "W": -509, "P": 0}), (0, {"U": 1871, "W": -261, "P": 0})]


def test_csilif_hand_trace():
    # D = 12, cos 3500, sin -1200, VTH = 32 << 6 = 2048, B = -1 << 6 = -64
    params = {"cosDecay": 3500, "sinDecay": -1200, "vThMant": 32, "decayBits": 12, "stateFracBits": 12,
              "bias": -1}
    trace = _run("CSILIF", params, [50, 10, 0, -20])
    # t1: X = 3200 - 64 = 3136 > 2048: spike;  Y = 0
    # t2: Xr = 3136 - 2048 = 1088;  X = 3500*1088/4096 = 929.7 -> 929;  - (-1200*0) + 640 - 64 = 1505
    #     Y = -1200*1088/4096 = -318.75 -> -318 (toward zero) + 0 = -318
    # t3: Xr = 1505;  X = 3500*1505/4096 = 1286.0 -> 1286;  -1200*(-318)/4096 = 93.2 -> 93;  1286 - 93 - 64 = 1129
    #     Y = -1200*1505/4096 = -440.9 -> -440;  3500*(-318)/4096 = -271.7 -> -271;  Y = -711
    # t4: X = 3500*1129/4096 = 964.7 -> 964;  -1200*(-711)/4096 = 208.3 -> 208;  964 - 208 - 1280 - 64 = -588
    #     Y = -1200*1129/4096 = -330.8 -> -330;  3500*(-711)/4096 = -607.5 -> -607;  Y = -937
    assert trace == [(1, {"X": 3136, "Y": 0, "P": 1}), (0, {"X": 1505, "Y": -318, "P": 0}),
                     (0, {"X": 1129, "Y": -711, "P": 0}), (0, {"X": -588, "Y": -937, "P": 0})]


def test_li_hand_trace_and_saturation():
    params = {"alpha": 3900, "decayBits": 12, "stateFracBits": 12, "bias": -3}
    trace = _run("LI", params, [5, -7, 0])
    # t1: V = 0 + 320 - 192 = 128;  t2: 3900*128/4096 = 121.9 -> 121; 121 - 448 - 192 = -519
    # t3: 3900*(-519)/4096 = -494.2 -> -494; -494 - 192 = -686
    assert trace == [(128, {"V": 128}), (-519, {"V": -519}), (-686, {"V": -686})]
    c = Counters()
    out, state = KERNELS["LI"].step(np.array([2**20]), {"V": np.array([0])}, {"alpha": 4096, "decayBits": 12}, c)
    assert int(out[0]) == MAX and c == {"saturate": 1}


def test_wide_decay_grid():
    # D = 16: mul(alpha, U, 16); alpha = 65535 keeps 65535/65536 of U
    params = {"alpha": 65535, "decayBits": 16, "stateFracBits": 16, "bias": 0}
    out, _ = KERNELS["LI"].step(np.array([0]), {"V": np.array([-100000])}, params)
    assert int(out[0]) == -99998                      # -100000*65535/65536 = -99998.47 -> -99998


# --------------------------------------------------------------------------- independent references

def _py_mul(k: int, x: int, d: int) -> int:
    p = k * x
    return -((-p) >> d) if p < 0 else p >> d


def _py_sat(x: int) -> int:
    return max(-MAX, min(MAX, x))


def _py_step(kind: str, p: dict, a: int, st: dict) -> tuple[int, dict]:
    """Plain-int statement of docs/fixed_point.md §3 (one neuron)."""
    A, B = a * 64, p["bias"] * 64
    if kind == "SILIF":
        d, vth = p["decayBits"], p["vThMant"] * 64
        w = _py_sat(_py_mul(p["beta"], st["W"], d) + _py_mul(p["coupling"], st["U"], d) + p["spikeAdapt"] * st["P"])
        u = _py_sat(_py_mul(p["alpha"], st["U"] - st["P"] * vth, d) - _py_mul(2**d - p["alpha"], w, d) + A + B)
        s = int(u > vth)
        return s, {"U": u, "W": w, "P": s}
    if kind == "CSILIF":
        d, vth = p["decayBits"], p["vThMant"] * 64
        xr = st["X"] - st["P"] * vth
        x = _py_sat(_py_mul(p["cosDecay"], xr, d) - _py_mul(p["sinDecay"], st["Y"], d) + A + B)
        y = _py_sat(_py_mul(p["sinDecay"], xr, d) + _py_mul(p["cosDecay"], st["Y"], d))
        s = int(x > vth)
        return s, {"X": x, "Y": y, "P": s}
    if kind == "LI":
        v = _py_sat(_py_mul(p["alpha"], st["V"], p["decayBits"]) + A + B)
        return v, {"V": v}
    raise AssertionError(kind)


def _random_params(kind: str, rng, n: int) -> dict:
    d = int(rng.choice([8, 12, 16, 24]))
    one = 2**d
    s = int(rng.integers(8, 20))
    edge = lambda lo, hi: np.where(rng.random(n) < 0.1, rng.choice([lo, hi], n), rng.integers(lo, hi + 1, n))
    p = {"decayBits": d, "stateFracBits": s, "bias": rng.integers(-4096, 4096, n)}
    if kind == "SILIF":
        p.update(alpha=edge(0, one), beta=edge(0, one), coupling=edge(-one, one),
                 spikeAdapt=rng.integers(-(2**s), 2**s * 3, n), vThMant=2**s // 64)
    elif kind == "CSILIF":
        p.update(cosDecay=edge(-one, one), sinDecay=edge(-one, one), vThMant=max(1, 2**s // 128))
    else:
        p.update(alpha=edge(0, one))
    return p


@pytest.mark.parametrize("kind", ["SILIF", "CSILIF", "LI"])
def test_kernel_matches_plain_int_reference(kind):
    rng = np.random.default_rng({"SILIF": 3, "CSILIF": 4, "LI": 5}[kind])
    n, steps = 24, 60
    kernel = KERNELS[kind]
    sat_seen = 0
    for trial in range(3):
        params = _random_params(kind, rng, n)
        inputs = rng.integers(-(2**17), 2**17, (steps, n)) * (rng.random((steps, n)) < 0.5)
        state = kernel.init_state((n,))
        ref_states = [{name: 0 for name in kernel.state_names} for _ in range(n)]
        per_neuron = [{k: int(v[i]) if np.ndim(v) else int(v) for k, v in params.items()} for i in range(n)]
        for t in range(steps):
            out, state = kernel.step(inputs[t], state, params)
            for i, p_i in enumerate(per_neuron):
                o, ref_states[i] = _py_step(kind, p_i, int(inputs[t, i]), ref_states[i])
                assert int(out[i]) == o, (trial, t, i)
                for name in kernel.state_names:
                    assert int(state[name][i]) == ref_states[i][name], (trial, t, i, name)
                    sat_seen += abs(ref_states[i][name]) == MAX
    assert sat_seen > 0, "the random parameters should drive some neurons into saturation"


class _LavaLifCodePath:
    """Lava 0.10.0 ``AbstractPyLifModelFixed.subthr_dynamics`` + ``PyLifModelBitAcc.run_spk``,
    re-stated with the same numpy int32 arrays (u, v are int32 Vars; a_in arrives int32)."""

    def __init__(self, n, du, dv, vth, bias_mant, bias_exp=6):
        self.u = np.zeros(n, np.int32)
        self.v = np.zeros(n, np.int32)
        self.du, self.dv, self.vth = du, dv, vth
        self.bias_mant = np.asarray(bias_mant, np.int16)
        self.bias_exp = bias_exp

    def run_spk(self, a_in: np.ndarray) -> np.ndarray:
        a_in = a_in.astype(np.int32)                       # the int32 port buffer (wraps)
        effective_bias = np.left_shift(self.bias_mant.astype(np.int32), self.bias_exp)
        decayed_curr = np.int64(self.u) * (4096 - (self.du + 1))
        decayed_curr = np.sign(decayed_curr) * np.right_shift(np.abs(decayed_curr), 12)
        decayed_curr = np.int32(decayed_curr)
        decayed_curr += np.left_shift(a_in, 6)
        wrapped = np.where(decayed_curr > 2**23, decayed_curr - 2**24, decayed_curr)
        wrapped = np.where(wrapped <= -(2**23), decayed_curr + 2**24, wrapped)
        self.u[:] = wrapped
        decayed_volt = np.int64(self.v) * (4096 - self.dv)
        decayed_volt = np.sign(decayed_volt) * np.right_shift(np.abs(decayed_volt), 12)
        decayed_volt = np.int32(decayed_volt)
        self.v[:] = np.clip(decayed_volt + self.u + effective_bias, -(2**23) + 1, 2**23 - 1)
        s = self.v > (self.vth << 6)
        self.v[s] = 0
        return s.astype(np.int32)


def test_cuba_matches_lava_lif_code_path_with_overflows():
    rng = np.random.default_rng(11)
    n, steps = 64, 80
    with np.errstate(over="ignore"):
        for trial in range(4):
            i_decay, v_decay = int(rng.integers(1, 4097)), int(rng.integers(0, 4097))
            vth = int(rng.integers(1, 2**17))
            bias = rng.integers(-4096, 4096, n)
            scale = [2**10, 2**16, 2**22, 2**27][trial]          # the last ones overflow int32 in a << 6
            inputs = rng.integers(-scale, scale, (steps, n))
            lava = _LavaLifCodePath(n, i_decay - 1, v_decay, vth, bias)
            params = {"iDecay": i_decay, "vDecay": v_decay, "vThMant": vth, "refDelay": 1,
                      "gradedSpike": False, "bias": bias}
            kernel = KERNELS["CUBA"]
            st_i = kernel.init_state((n,))
            prep_f = kernel.prepare(params, np.float64)
            st_f = kernel.init_state((n,), np.float64)
            c = Counters()
            for t in range(steps):
                s_ref = lava.run_spk(inputs[t])
                out_i, st_i = kernel.step(inputs[t], st_i, params, c)
                out_f, st_f = kernel.step_prepared(inputs[t].astype(np.float32 if scale < 2**24 else np.float64),
                                                   st_f, prep_f)
                for out, st in ((out_i, st_i), (out_f, st_f)):
                    np.testing.assert_array_equal(out, s_ref)
                    np.testing.assert_array_equal(st["U"], lava.u)
                    np.testing.assert_array_equal(st["V"], lava.v)
            if scale >= 2**22:
                assert c.get("wrap", 0) > 0 and c.get("saturate", 0) > 0
            if scale >= 2**27:
                assert c.get("int32_overflow", 0) > 0


@pytest.mark.parametrize("kind", ["CUBA", "SILIF", "CSILIF", "LI"])
def test_int_and_float_carriers_agree_and_step_is_pure(kind):
    rng = np.random.default_rng(21)
    kernel = KERNELS[kind]
    n, batch, steps = 32, 5, 120
    if kind == "CUBA":
        params = {"iDecay": rng.integers(1, 4097, n), "vDecay": rng.integers(0, 4097, n),
                  "vThMant": rng.integers(1, 400, n), "refDelay": 1, "gradedSpike": False,
                  "bias": rng.integers(-4096, 4096, n)}
    else:
        params = _random_params(kind, rng, n)
    prep_f = kernel.prepare(params, np.float64)
    st_i, st_f = kernel.init_state((batch, n)), kernel.init_state((batch, n), np.float64)
    ci, cf = Counters(), Counters()
    for t in range(steps):
        a = rng.integers(-3000, 3000, (batch, n)) * (rng.random((batch, n)) < 0.4)
        before = (a.copy(), copy.deepcopy(st_i), copy.deepcopy(params))
        out_i, new_i = kernel.step(a, st_i, params, ci)
        np.testing.assert_array_equal(a, before[0])                    # pure
        for name in kernel.state_names:
            np.testing.assert_array_equal(st_i[name], before[1][name])
        for key in params:
            np.testing.assert_array_equal(params[key], before[2][key])
        out_f, st_f = kernel.step_prepared(a.astype(np.float32), st_f, prep_f, cf)
        assert out_i.dtype == np.int64 and out_i.shape == (batch, n)
        np.testing.assert_array_equal(out_f, out_i)
        # int32 state and input arrays (what a Lava ProcessModel holds in its Vars)
        st_32 = {name: v.astype(np.int32) for name, v in st_i.items()}
        out_32, new_32 = kernel.step(a.astype(np.int32), st_32, params)
        np.testing.assert_array_equal(out_32, out_i)
        for name in kernel.state_names:
            np.testing.assert_array_equal(new_32[name], new_i[name])
        for name in kernel.state_names:
            assert new_i[name].dtype == np.int64
            np.testing.assert_array_equal(st_f[name], new_i[name])
        st_i = new_i
    assert ci == cf


def test_kernels_registry_and_shapes():
    assert set(KERNELS) == {"CUBA", "SILIF", "CSILIF", "LI", "RF", "MULTIOUT", "DELTA", "SIGMA_DELTA", "SIGMA", "HYBRID", "LI2"}
    assert [k.spiking for k in KERNELS.values()] == [True, True, True, False, True, True, False, False, False, False, False]
    for kernel in KERNELS.values():
        if kernel.kind.dims:                     # MULTIOUT: its states need the layer's N and M
            continue
        st = kernel.init_state((3, 7))
        assert set(st) == set(kernel.state_names)
        assert all(v.dtype == np.int64 and v.shape == (3, 7) and not v.any() for v in st.values())
    mo = KERNELS["MULTIOUT"]
    st = mo.init_state((3, 7), prep={"N": 4, "M": 2})
    assert {k: v.shape for k, v in st.items()} == {"X": (3, 7, 4), "P": (3, 7, 2), "R": (3, 7)}
    assert mo.output_width(7, {"M": 2}) == 14
    assert MAX_STATE == MAX


# --------------------------------------------------------------------------- real Lava

@needs_lava
@pytest.mark.lava
def test_dense_and_cuba_match_a_real_lava_run(shm_guard):
    """Source -> Dense -> LIF in Lava fixed_pt, three branches: binary with a negative weight
    exponent, graded with a positive one, and graded so large that ``a << 6`` overflows int32."""
    from silava import lava_models  # noqa: F401  (compat layer)
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    from silava.lava_models.runner import run_steps, sim_config

    rng = np.random.default_rng(5)
    steps, n_in, n_out = 40, 10, 6
    data = (rng.integers(0, 256, (n_in, steps)) * (rng.random((n_in, steps)) < 0.4)).astype(np.int32)
    branches = []
    for graded, e, wmax, vth in ((False, -2, 128, 40), (True, 1, 32, 3000), (True, 7, 128, 90000)):
        w = rng.integers(-wmax, wmax, (n_out, n_in)) * 2
        w[0] = 254                                        # one all-excitatory row
        params = {"iDecay": int(rng.integers(1, 4097)), "vDecay": int(rng.integers(0, 4097)), "vThMant": vth,
                  "refDelay": 1, "gradedSpike": False, "bias": rng.integers(-4096, 4096, n_out)}
        branches.append((graded, e, w, params))

    src = Source(data=data)
    procs = []
    for graded, e, w, p in branches:
        dense_p = Dense(weights=w.astype(np.int32), weight_exp=e, num_message_bits=8 if graded else 0)
        lif = LIF(shape=(n_out,), du=p["iDecay"] - 1, dv=p["vDecay"], vth=p["vThMant"],
                  bias_mant=p["bias"].astype(np.int32), bias_exp=6)
        sink = Sink(shape=(n_out,), buffer=steps)
        src.s_out.connect(dense_p.s_in)
        dense_p.a_out.connect(lif.a_in)
        lif.s_out.connect(sink.a_in)
        procs.append((lif, sink))

    def read():
        return [(sink.data.get().copy(), lif.u.get().copy(), lif.v.get().copy()) for lif, sink in procs]

    got = run_steps(procs[0][0], steps, sim_config("fixed_pt"), timeout_s=120, read=read)

    x = data.T.astype(np.int64)                            # [T, F]
    overflow = Counters()
    for (graded, e, w, p), (spikes, u_end, v_end) in zip(branches, got):
        a = dense(w, x, e, graded)                         # Dense output of each input step
        kernel = KERNELS["CUBA"]
        state = kernel.init_state((n_out,))
        expected = np.zeros((n_out, steps), np.int64)
        for k in range(steps):                             # one step of delay: zeros at step 1
            a_k = a[k - 1] if k >= 1 else np.zeros(n_out, np.int64)
            out, state = kernel.step(a_k, state, p, overflow)
            expected[:, k] = out
        np.testing.assert_array_equal(spikes.astype(np.int64), expected)
        np.testing.assert_array_equal(u_end.astype(np.int64), state["U"])
        np.testing.assert_array_equal(v_end.astype(np.int64), state["V"])
    assert sum(int(s.sum()) for s, _, _ in got) > 10, "the test network should spike"
    assert overflow.get("int32_overflow", 0) > 0, "the third branch should overflow int32"
