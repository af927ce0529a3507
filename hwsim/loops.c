/* hwsim's per-step neuron loops in C: the whole time axis of one layer for a block of samples.
 *
 * Built and loaded by silava.hwsim.native (ctypes; no Python or numpy headers). Each function runs
 * the integer step of one neuron kind (docs/fixed_point.md section 3, the golden numpy kernels of
 * hwsim/kernels.py) on the float64 carrier exactly as the numpy loop does (kernels.py, "Integer
 * carriers"): every value is an integer below 2^53 held in a double, the constants are pre-scaled
 * by 2^-D, mul(k, x, D) = trunc((k / 2^D) * x), so every sum, product and comparison is exact and
 * the results (spikes, states, saturation counts) are bit-identical to the numpy loop.
 *
 * Layouts (as hwsim/simulate.py's _run_neurons): the Dense output acc [Tin, B, n] time-major, or
 * [B, Tin, n] batch-major when bm (float32, or float64 when acc64, holding integers), reaching the
 * neurons `delay` steps later (zeros before, and after its Tin steps); or, when inp is given, the
 * Dense computed here from its input inp [B, Tin, nin] (uint8, or int64 when in64: spikes, counts)
 * and the transposed weights wt [nin, n] (float64): the weight rows of the non-zero inputs summed,
 * exact integers (the caller checks the int32 bound), so the same numbers as the matrix product; the state is zeroed before step `reset_at` (-1: never); outputs
 * out [B, T, n] (uint8 spikes; LI: int64 V), feed [T, B, n] float32 (the next Dense's input, or
 * NULL), events [B, T] (non-zero outputs per sample and step), sat [B] (saturated elements per
 * sample; the caller zeroes it), work [B, 4, n] (the state and A = a << 6 of the current step).
 * Samples advance in blocks of BLOCK, step by step, so the rows of a time-major acc and feed that
 * one step touches are contiguous. Constants are [n] float64 arrays. Samples [b0, b1) only.
 */
#include <math.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define EXPORT __attribute__((target_clones("avx2", "default")))
#else
#define EXPORT
#endif
#define R restrict
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

typedef long long i64;
typedef double f64;
typedef float f32;
typedef short v8s __attribute__((vector_size(16)));    /* 8 int16 (GCC/clang vector extensions) */
typedef int v8i __attribute__((vector_size(32)));      /* 8 int32 */
typedef unsigned char u8;

#define MAX_STATE 8388607.0   /* 2^23 - 1 */
#define ACT 64.0              /* a << 6 */
#define BLOCK 8               /* samples advanced together step by step (their state stays in cache) */

static inline f64 sat(f64 x, i64 *R count) {   /* clip to +-(2^23 - 1), counting (this form vectorises) */
    f64 c = x > MAX_STATE ? MAX_STATE : x;
    c = c < -MAX_STATE ? -MAX_STATE : c;
    *count += c != x;
    return c;
}

/* A = a << 6 of sample b at step t into arow [n]: acc row t - delay (zeros outside [0, Tin)) of the
 * time-major acc [Tin, B, n], or of the batch-major acc [B, Tin, n] when bm. The Dense's weight
 * exponent, when the caller left it (escale = 2^e != 1): a = acc * 2^e, floored for e < 0 (efloor) --
 * exact, as in hwsim.kernels.dense_float. */
INLINE void act_row(i64 t, i64 b, i64 B, i64 n, i64 delay, i64 Tin, int bm, const void *acc, int acc64,
                    const void *inp, int in64, i64 nin, const short *R wt, f64 escale, int efloor, f64 *R arow) {
    i64 k = t - delay;
    if (k < 0 || k >= Tin) {
        for (i64 h = 0; h < n; h++) arow[h] = 0.0;
        return;
    }
    if (inp) {   /* event-driven Dense: sum the weight rows of the non-zero inputs (exact integer sums) */
        i64 o = (b * Tin + k) * nin, na = 0;
        i64 idx[nin];
        f64 val[nin];
        if (in64) {
            for (i64 j = 0; j < nin; j++) {        /* the events of this step, without branches */
                f64 v = (f64)((const i64 *)inp)[o + j];
                idx[na] = j;
                val[na] = v;
                na += v != 0.0;
            }
        } else {                                   /* spikes: skip 8 silent inputs at a time */
            const u8 *R row = (const u8 *)inp + o;
            i64 j = 0;
            for (; j + 8 <= nin; j += 8) {
                uint64_t word;
                __builtin_memcpy(&word, row + j, sizeof word);
                if (!word)
                    continue;
                for (i64 q = j; q < j + 8; q++) {
                    idx[na] = q;
                    val[na] = 1.0;
                    na += row[q] != 0;
                }
            }
            for (; j < nin; j++) {
                idx[na] = j;
                val[na] = 1.0;
                na += row[j] != 0;
            }
        }
        /* int32 sums of the int16 weights (exact: the caller checked that no sum can pass int32, and the
         * weights are even integers in [-256, 254]), 32 outputs at a time in four vector registers
         * (independent sums, GCC vector extensions), then 8 at a time, then one by one */
        i64 h0 = 0;
        for (; h0 + 32 <= n; h0 += 32) {
            v8i r0 = {0}, r1 = {0}, r2 = {0}, r3 = {0};
            for (i64 e = 0; e < na; e++) {
                const short *R wj = wt + idx[e] * n + h0;
                v8s w0, w1, w2, w3;
                __builtin_memcpy(&w0, wj, sizeof w0);
                __builtin_memcpy(&w1, wj + 8, sizeof w1);
                __builtin_memcpy(&w2, wj + 16, sizeof w2);
                __builtin_memcpy(&w3, wj + 24, sizeof w3);
                int v = in64 ? (int)val[e] : 1;
                r0 += v * __builtin_convertvector(w0, v8i);
                r1 += v * __builtin_convertvector(w1, v8i);
                r2 += v * __builtin_convertvector(w2, v8i);
                r3 += v * __builtin_convertvector(w3, v8i);
            }
            for (int q = 0; q < 8; q++) {
                arow[h0 + q] = (f64)r0[q];
                arow[h0 + 8 + q] = (f64)r1[q];
                arow[h0 + 16 + q] = (f64)r2[q];
                arow[h0 + 24 + q] = (f64)r3[q];
            }
        }
        for (; h0 + 8 <= n; h0 += 8) {
            v8i r = {0};
            for (i64 e = 0; e < na; e++) {
                v8s w;
                __builtin_memcpy(&w, wt + idx[e] * n + h0, sizeof w);
                r += (in64 ? (int)val[e] : 1) * __builtin_convertvector(w, v8i);
            }
            for (int q = 0; q < 8; q++) arow[h0 + q] = (f64)r[q];
        }
        for (i64 h = h0; h < n; h++) {
            i64 r = 0;
            for (i64 e = 0; e < na; e++) r += (i64)val[e] * wt[idx[e] * n + h];
            arow[h] = (f64)r;
        }
    } else {
        i64 o = (bm ? b * Tin + k : k * B + b) * n;
        if (acc64) {
            const f64 *R a = (const f64 *)acc + o;
            for (i64 h = 0; h < n; h++) arow[h] = a[h];
        } else {
            const f32 *R a = (const f32 *)acc + o;
            for (i64 h = 0; h < n; h++) arow[h] = (f64)a[h];
        }
    }
    if (escale != 1.0) {
        for (i64 h = 0; h < n; h++) arow[h] *= escale;
        if (efloor)
            for (i64 h = 0; h < n; h++) arow[h] = floor(arow[h]);
    }
    for (i64 h = 0; h < n; h++) arow[h] *= ACT;
}

INLINE void spike_row(u8 *R o, i64 n, const f64 *R p) {
    for (i64 h = 0; h < n; h++) o[h] = p[h] != 0.0;
}

INLINE void feed_row(f32 *feed, i64 t, i64 b, i64 B, i64 n, const f64 *R v) {
    if (feed) {
        f32 *R f = feed + (t * B + b) * n;
        for (i64 h = 0; h < n; h++) f[h] = (f32)v[h];
    }
}

/* SILIF: W' = sat(mul(beta, W) + mul(coupling, U) + adapt*P);
 *        U' = sat(mul(alpha, U - P*VTH) - mul(2^D - alpha, W') + A + B);  s = U' > VTH; P <- s
 * (one step over the n neurons; every pointer restrict, so the loop vectorises) */
INLINE void silif_step(i64 n, const f64 *R alpha, const f64 *R alpha_c, const f64 *R beta,
                       const f64 *R coupling, const f64 *R adapt, const f64 *R vth, const f64 *R bias,
                       const f64 *R arow, f64 *R u, f64 *R w, f64 *R p, i64 *R cntp, i64 *R evp) {
    i64 cnt = 0, ev = 0;
    for (i64 h = 0; h < n; h++) {
        f64 wn = trunc(beta[h] * w[h]) + trunc(coupling[h] * u[h]);
        wn = sat(wn + adapt[h] * p[h], &cnt);
        f64 un = trunc(alpha[h] * (u[h] - p[h] * vth[h])) - trunc(alpha_c[h] * wn);
        un = sat(un + arow[h] + bias[h], &cnt);
        ev += un > vth[h];
        u[h] = un; w[h] = wn; p[h] = un > vth[h] ? 1.0 : 0.0;
    }
    *cntp += cnt;
    *evp = ev;
}

EXPORT void silif_loop(i64 b0, i64 b1, i64 T, i64 B, i64 n, i64 delay, i64 reset_at, i64 Tin, int bm,
                       const void *acc, int acc64, const void *inp, int in64, i64 nin, const short *wt,
                       f64 escale, int efloor,
                       const f64 *alpha, const f64 *alpha_c, const f64 *beta, const f64 *coupling,
                       const f64 *adapt, const f64 *vth, const f64 *bias, u8 *out, f32 *feed, i64 *events,
                       i64 *satn, f64 *work) {
    for (i64 blk = b0; blk < b1; blk += BLOCK) {
        i64 end = blk + BLOCK < b1 ? blk + BLOCK : b1;
        for (i64 t = 0; t < T; t++) {
            for (i64 b = blk; b < end; b++) {
                f64 *R u = work + b * 4 * n, *R w = u + n, *R p = w + n, *R arow = p + n;
                if (t == 0 || t == reset_at)
                    for (i64 h = 0; h < n; h++) { u[h] = 0.0; w[h] = 0.0; p[h] = 0.0; }
                act_row(t, b, B, n, delay, Tin, bm, acc, acc64, inp, in64, nin, wt, escale, efloor, arow);
                i64 ev = 0;
                silif_step(n, alpha, alpha_c, beta, coupling, adapt, vth, bias, arow, u, w, p, satn + b, &ev);
                spike_row(out + (b * T + t) * n, n, p);
                feed_row(feed, t, b, B, n, p);
                events[b * T + t] = ev;
            }
        }
    }
}

/* CSILIF: Xr = X - P*VTH; X' = sat(mul(cos, Xr) - mul(sin, Y) + A + B); Y' = sat(mul(sin, Xr) + mul(cos, Y));
 *         s = X' > VTH; P <- s */
INLINE void csilif_step(i64 n, const f64 *R cosd, const f64 *R sind, const f64 *R vth, const f64 *R bias,
                        const f64 *R arow, f64 *R x, f64 *R y, f64 *R p, i64 *R cntp, i64 *R evp) {
    i64 cnt = 0, ev = 0;
    for (i64 h = 0; h < n; h++) {
        f64 xr = x[h] - p[h] * vth[h];
        f64 xn = trunc(cosd[h] * xr) - trunc(sind[h] * y[h]);
        xn = sat(xn + arow[h] + bias[h], &cnt);
        f64 yn = sat(trunc(sind[h] * xr) + trunc(cosd[h] * y[h]), &cnt);
        ev += xn > vth[h];
        x[h] = xn; y[h] = yn; p[h] = xn > vth[h] ? 1.0 : 0.0;
    }
    *cntp += cnt;
    *evp = ev;
}

EXPORT void csilif_loop(i64 b0, i64 b1, i64 T, i64 B, i64 n, i64 delay, i64 reset_at, i64 Tin, int bm,
                       const void *acc, int acc64, const void *inp, int in64, i64 nin, const short *wt,
                       f64 escale, int efloor,
                        const f64 *cosd, const f64 *sind, const f64 *vth, const f64 *bias, u8 *out, f32 *feed,
                        i64 *events, i64 *satn, f64 *work) {
    for (i64 blk = b0; blk < b1; blk += BLOCK) {
        i64 end = blk + BLOCK < b1 ? blk + BLOCK : b1;
        for (i64 t = 0; t < T; t++) {
            for (i64 b = blk; b < end; b++) {
                f64 *R x = work + b * 4 * n, *R y = x + n, *R p = y + n, *R arow = p + n;
                if (t == 0 || t == reset_at)
                    for (i64 h = 0; h < n; h++) { x[h] = 0.0; y[h] = 0.0; p[h] = 0.0; }
                act_row(t, b, B, n, delay, Tin, bm, acc, acc64, inp, in64, nin, wt, escale, efloor, arow);
                i64 ev = 0;
                csilif_step(n, cosd, sind, vth, bias, arow, x, y, p, satn + b, &ev);
                spike_row(out + (b * T + t) * n, n, p);
                feed_row(feed, t, b, B, n, p);
                events[b * T + t] = ev;
            }
        }
    }
}

/* LI: V = sat(mul(alpha, V) + A + B); the output is V (int64) */
INLINE void li_step(i64 n, const f64 *R alpha, const f64 *R bias, const f64 *R arow, f64 *R v, i64 *R cntp,
                    i64 *R evp) {
    i64 cnt = 0, ev = 0;
    for (i64 h = 0; h < n; h++) {
        f64 vn = sat(trunc(alpha[h] * v[h]) + arow[h] + bias[h], &cnt);
        v[h] = vn;
        ev += vn != 0.0;
    }
    *cntp += cnt;
    *evp = ev;
}

EXPORT void li_loop(i64 b0, i64 b1, i64 T, i64 B, i64 n, i64 delay, i64 reset_at, i64 Tin, int bm,
                       const void *acc, int acc64, const void *inp, int in64, i64 nin, const short *wt,
                       f64 escale, int efloor,
                    const f64 *alpha, const f64 *bias, i64 *out, f32 *feed, i64 *events, i64 *satn, f64 *work) {
    for (i64 blk = b0; blk < b1; blk += BLOCK) {
        i64 end = blk + BLOCK < b1 ? blk + BLOCK : b1;
        for (i64 t = 0; t < T; t++) {
            for (i64 b = blk; b < end; b++) {
                f64 *R v = work + b * 4 * n, *R arow = v + 3 * n;
                if (t == 0 || t == reset_at)
                    for (i64 h = 0; h < n; h++) v[h] = 0.0;
                act_row(t, b, B, n, delay, Tin, bm, acc, acc64, inp, in64, nin, wt, escale, efloor, arow);
                i64 ev = 0;
                li_step(n, alpha, bias, arow, v, satn + b, &ev);
                i64 *R o = out + (b * T + t) * n;
                for (i64 h = 0; h < n; h++) o[h] = (i64)v[h];
                feed_row(feed, t, b, B, n, v);
                events[b * T + t] = ev;
            }
        }
    }
}
