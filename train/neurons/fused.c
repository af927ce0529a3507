/* Fused neuron kernels in C (float32, CPU): the time loops of the *Scan classes of train/neurons/.
 *
 * Built by silava.train.neurons.native (a shared library loaded with ctypes; no Python or torch
 * headers). Every function works on a block of batch items [b0, b1) so that Python threads can run
 * blocks in parallel (ctypes releases the GIL). Layouts are torch's contiguous ones:
 *   inputs / outputs / saved states  [B, T, H],  initial states  [B, H],  per-neuron constants [H],
 *   parameter-gradient partial sums  acc [B, K, H]  (summed over B by the caller),
 *   adjoint carries  work [B, K, H]  (at the end: the gradients of the initial states).
 * A gradient of an output that did not get one is passed as NULL (read as zeros from `zeros`, [H]).
 *
 * Forward: the same float operations in the same order as the pure step functions (module
 * docstrings of adlif.py, csilif.py, lif.py, readout.py): products by a constant, then the sums
 * left to right, so the spikes and states are bit-identical to the step functions. The file must
 * be compiled without floating-point contraction (-ffp-contract=off: no fused multiply-add) and
 * without -ffast-math.
 *
 * Backward: the hand-written BPTT of the *Scan classes (equations in their docstrings), one batch
 * item at a time walking back in time, the adjoint carries in [H] rows.
 *
 * Each time step of a batch item is one call of an inlined per-step function over H neurons whose
 * pointers are `restrict` (rows of different steps never overlap), so the compiler vectorises it;
 * the surrogate kind is a compile-time constant of each instance.
 * Surrogate kinds: 0 = box-car (scale on (-0.5, 0.5]), 1 = fast-sigmoid (1 / (scale |x| + 1)^2).
 */
#include <stddef.h>
#include <math.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define VEC __attribute__((target_clones("avx2", "default")))
#else
#define VEC
#endif
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif
#define R restrict

typedef float f32;
typedef long long i64;

INLINE f32 surrogate(f32 x, const int kind, f32 scale) {
    if (kind == 0) return (f32)((x > -0.5f) & (x <= 0.5f)) * scale;   /* branch-free: vectorises */
    f32 d = scale * fabsf(x) + 1.0f;
    return 1.0f / (d * d);
}

#define ROW(p, present, o) ((p) ? (p) + (o) : (present))

/* ------------------------------------------------------------------ SiLIF / AdLIF / cAdLIF
 * w_t = beta*w + a*u + b*s ;  u_t = alpha*(u - s) + (1 - alpha)*(I_t - w_t) ;  s_t = u_t > 1
 * oma = (1 - alpha) as the caller computed it (float32). */
INLINE void adlif_fwd_step(i64 H, const f32 *R It, const f32 *R alpha, const f32 *R oma, const f32 *R beta,
                           const f32 *R a, const f32 *R bb, const f32 *R up, const f32 *R wp, const f32 *R sp,
                           f32 *R Ut, f32 *R Wt, f32 *R St) {
    for (i64 h = 0; h < H; h++) {
        f32 u = up[h], w = wp[h], s = sp[h];
        f32 wn = beta[h] * w + a[h] * u;
        wn = wn + bb[h] * s;
        f32 un = alpha[h] * (u - s) + oma[h] * (It[h] - wn);
        Wt[h] = wn;
        Ut[h] = un;
        St[h] = un > 1.0f ? 1.0f : 0.0f;
    }
}

VEC void adlif_forward(i64 b0, i64 b1, i64 T, i64 H, const f32 *I, const f32 *alpha, const f32 *oma,
                       const f32 *beta, const f32 *a, const f32 *bb, const f32 *u0, const f32 *w0,
                       const f32 *s0, f32 *U, f32 *W, f32 *S) {
    for (i64 b = b0; b < b1; b++) {
        const f32 *up = u0 + b * H, *wp = w0 + b * H, *sp = s0 + b * H;
        for (i64 t = 0; t < T; t++) {
            i64 o = (b * T + t) * H;
            adlif_fwd_step(H, I + o, alpha, oma, beta, a, bb, up, wp, sp, U + o, W + o, S + o);
            up = U + o; wp = W + o; sp = S + o;
        }
    }
}

INLINE void adlif_bwd_step(i64 H, const int kind, f32 scale, const f32 *R It, const f32 *R alpha,
                           const f32 *R oma, const f32 *R beta, const f32 *R a, const f32 *R bb,
                           const f32 *R up, const f32 *R wp, const f32 *R sp, const f32 *R Ut, const f32 *R Wt,
                           const f32 *R gSt, const f32 *R gUt, const f32 *R gWt, f32 *R gIt, f32 *R gu,
                           f32 *R gw, f32 *R ds, f32 *R ga, f32 *R gbeta, f32 *R gca, f32 *R gcb) {
    for (i64 h = 0; h < H; h++) {
        f32 gs = gSt[h] + ds[h];
        f32 guh = gu[h] + gs * surrogate(Ut[h] - 1.0f, kind, scale);
        guh = guh + gUt[h];
        f32 gwh = gw[h] + gWt[h];
        gwh = gwh - oma[h] * guh;
        gIt[h] = oma[h] * guh;
        f32 u = up[h], w = wp[h], s = sp[h];
        ga[h] += guh * ((u - s) - (It[h] - Wt[h]));
        gbeta[h] += gwh * w;
        gca[h] += gwh * u;
        gcb[h] += gwh * s;
        gu[h] = alpha[h] * guh + a[h] * gwh;
        gw[h] = beta[h] * gwh;
        ds[h] = bb[h] * gwh - alpha[h] * guh;
    }
}

/* acc [B, 4, H]: (alpha, beta, a, b); work [B, 3, H]: (gu, gw, gs) carries -> gradients of (u0, w0, s0). */
VEC void adlif_backward(i64 b0, i64 b1, i64 T, i64 H, int kind, f32 scale, const f32 *I, const f32 *alpha,
                        const f32 *oma, const f32 *beta, const f32 *a, const f32 *bb, const f32 *u0,
                        const f32 *w0, const f32 *s0, const f32 *U, const f32 *W, const f32 *S,
                        const f32 *gS, const f32 *gU, const f32 *gW, const f32 *zeros, f32 *gI, f32 *acc,
                        f32 *work) {
    for (i64 b = b0; b < b1; b++) {
        f32 *gu = work + b * 3 * H, *gw = gu + H, *ds = gw + H;
        f32 *ga = acc + b * 4 * H, *gbeta = ga + H, *gca = gbeta + H, *gcb = gca + H;
        for (i64 h = 0; h < H; h++) {
            gu[h] = 0.0f; gw[h] = 0.0f; ds[h] = 0.0f;
            ga[h] = 0.0f; gbeta[h] = 0.0f; gca[h] = 0.0f; gcb[h] = 0.0f;
        }
        for (i64 t = T - 1; t >= 0; t--) {
            i64 o = (b * T + t) * H;
            const f32 *up = t ? U + o - H : u0 + b * H;
            const f32 *wp = t ? W + o - H : w0 + b * H;
            const f32 *sp = t ? S + o - H : s0 + b * H;
            const f32 *gSt = ROW(gS, zeros, o), *gUt = ROW(gU, zeros, o), *gWt = ROW(gW, zeros, o);
            if (kind == 0)
                adlif_bwd_step(H, 0, scale, I + o, alpha, oma, beta, a, bb, up, wp, sp, U + o, W + o, gSt, gUt,
                               gWt, gI + o, gu, gw, ds, ga, gbeta, gca, gcb);
            else
                adlif_bwd_step(H, 1, scale, I + o, alpha, oma, beta, a, bb, up, wp, sp, U + o, W + o, gSt, gUt,
                               gWt, gI + o, gu, gw, ds, ga, gbeta, gca, gcb);
        }
    }
}

/* ------------------------------------------------------------------ C-SiLIF
 * x' = x - 0.5*s ; x_t = lr*x' - li*y + bI_t ; y_t = li*x' + lr*y ; s_t = x_t > 0.5
 * bI = b * I precomputed by the caller (as the Python kernel does). X, Y, XP [B, T, H]:
 * x_t, y_t and x'_t (saved for backward). */
INLINE void csilif_fwd_step(i64 H, const f32 *R bIt, const f32 *R lr, const f32 *R li, const f32 *R xp,
                            const f32 *R yp, const f32 *R sp, f32 *R Xt, f32 *R Yt, f32 *R XPt, f32 *R St) {
    for (i64 h = 0; h < H; h++) {
        f32 xr = xp[h] - 0.5f * sp[h];
        f32 y = yp[h];
        f32 xn = lr[h] * xr - li[h] * y;
        xn = xn + bIt[h];
        f32 yn = li[h] * xr + lr[h] * y;
        XPt[h] = xr;
        Xt[h] = xn;
        Yt[h] = yn;
        St[h] = xn > 0.5f ? 1.0f : 0.0f;
    }
}

VEC void csilif_forward(i64 b0, i64 b1, i64 T, i64 H, const f32 *bI, const f32 *lr, const f32 *li,
                        const f32 *x0, const f32 *y0, const f32 *s0, f32 *X, f32 *Y, f32 *XP, f32 *S) {
    for (i64 b = b0; b < b1; b++) {
        const f32 *xp = x0 + b * H, *yp = y0 + b * H, *sp = s0 + b * H;
        for (i64 t = 0; t < T; t++) {
            i64 o = (b * T + t) * H;
            csilif_fwd_step(H, bI + o, lr, li, xp, yp, sp, X + o, Y + o, XP + o, S + o);
            xp = X + o; yp = Y + o; sp = S + o;
        }
    }
}

INLINE void csilif_bwd_step(i64 H, const int kind, f32 scale, const f32 *R It, const f32 *R lr, const f32 *R li,
                            const f32 *R bb, const f32 *R yp, const f32 *R Xt, const f32 *R XPt,
                            const f32 *R gSt, const f32 *R gXt, const f32 *R gYt, f32 *R gIt, f32 *R gx,
                            f32 *R gy, f32 *R ds, f32 *R gre, f32 *R gim, f32 *R gb) {
    for (i64 h = 0; h < H; h++) {
        f32 gs = gSt[h] + ds[h];
        f32 sg = 2.0f * surrogate(2.0f * Xt[h] - 1.0f, kind, scale);
        f32 gxh = gx[h] + gs * sg;
        gxh = gxh + gXt[h];
        f32 gyh = gy[h] + gYt[h];
        gIt[h] = bb[h] * gxh;
        gb[h] += gxh * It[h];
        f32 xr = XPt[h], y = yp[h];
        gre[h] += gxh * xr + gyh * y;
        gim[h] += gyh * xr - gxh * y;
        gx[h] = lr[h] * gxh + li[h] * gyh;
        gy[h] = lr[h] * gyh - li[h] * gxh;
        ds[h] = -0.5f * (lr[h] * gxh + li[h] * gyh);
    }
}

/* acc [B, 3, H]: (lam_re, lam_im, b); work [B, 3, H]: (gx, gy, gs) carries -> gradients of (x0, y0, s0). */
VEC void csilif_backward(i64 b0, i64 b1, i64 T, i64 H, int kind, f32 scale, const f32 *I, const f32 *lr,
                         const f32 *li, const f32 *bb, const f32 *y0, const f32 *X, const f32 *Y,
                         const f32 *XP, const f32 *gS, const f32 *gX, const f32 *gY, const f32 *zeros,
                         f32 *gI, f32 *acc, f32 *work) {
    for (i64 b = b0; b < b1; b++) {
        f32 *gx = work + b * 3 * H, *gy = gx + H, *ds = gy + H;
        f32 *gre = acc + b * 3 * H, *gim = gre + H, *gb = gim + H;
        for (i64 h = 0; h < H; h++) {
            gx[h] = 0.0f; gy[h] = 0.0f; ds[h] = 0.0f;
            gre[h] = 0.0f; gim[h] = 0.0f; gb[h] = 0.0f;
        }
        for (i64 t = T - 1; t >= 0; t--) {
            i64 o = (b * T + t) * H;
            const f32 *yp = t ? Y + o - H : y0 + b * H;
            const f32 *gSt = ROW(gS, zeros, o), *gXt = ROW(gX, zeros, o), *gYt = ROW(gY, zeros, o);
            if (kind == 0)
                csilif_bwd_step(H, 0, scale, I + o, lr, li, bb, yp, X + o, XP + o, gSt, gXt, gYt, gI + o, gx, gy,
                                ds, gre, gim, gb);
            else
                csilif_bwd_step(H, 1, scale, I + o, lr, li, bb, yp, X + o, XP + o, gSt, gXt, gYt, gI + o, gx, gy,
                                ds, gre, gim, gb);
        }
    }
}

/* ------------------------------------------------------------------ CUBA LIF (Lava LIF)
 * u_t = cu*u + I_t ; v'_t = cv*v + u_t + bias ; s_t = v'_t > 1 ; v_t = v'_t * (1 - s_t)
 * cu = 1 - cur_decay, cv = 1 - vol_decay (float32, by the caller). P [B,T,H]: v'_t. */
INLINE void lif_fwd_step(i64 H, const f32 *R It, const f32 *R cu, const f32 *R cv, const f32 *R bias,
                         const f32 *R up, const f32 *R vp, f32 *R Ut, f32 *R Vt, f32 *R Pt, f32 *R St) {
    for (i64 h = 0; h < H; h++) {
        f32 u = cu[h] * up[h] + It[h];
        f32 p = cv[h] * vp[h] + u;
        p = p + bias[h];
        int fire = p > 1.0f;
        Ut[h] = u;
        Pt[h] = p;
        St[h] = fire ? 1.0f : 0.0f;
        Vt[h] = fire ? 0.0f : p;   /* = p * (1 - s) exactly (p > 1 > 0 where s = 1) */
    }
}

VEC void lif_forward(i64 b0, i64 b1, i64 T, i64 H, const f32 *I, const f32 *cu, const f32 *cv,
                     const f32 *bias, const f32 *u0, const f32 *v0, f32 *U, f32 *V, f32 *P, f32 *S) {
    for (i64 b = b0; b < b1; b++) {
        const f32 *up = u0 + b * H, *vp = v0 + b * H;
        for (i64 t = 0; t < T; t++) {
            i64 o = (b * T + t) * H;
            lif_fwd_step(H, I + o, cu, cv, bias, up, vp, U + o, V + o, P + o, S + o);
            up = U + o; vp = V + o;
        }
    }
}

INLINE void lif_bwd_step(i64 H, const int kind, f32 scale, const f32 *R cu, const f32 *R cv, const f32 *R up,
                         const f32 *R vp, const f32 *R Pt, const f32 *R St, const f32 *R gSt, const f32 *R gUt,
                         const f32 *R gVt, f32 *R gIt, f32 *R gu, f32 *R gv, f32 *R gcu, f32 *R gcv,
                         f32 *R gbias) {
    for (i64 h = 0; h < H; h++) {
        f32 gvh = gv[h] + gVt[h];
        f32 guh = gu[h] + gUt[h];
        f32 gs = gSt[h] - Pt[h] * gvh;
        f32 gp = gvh * (1.0f - St[h]) + gs * surrogate(Pt[h] - 1.0f, kind, scale);
        guh = guh + gp;
        gIt[h] = guh;
        gcu[h] -= guh * up[h];
        gcv[h] -= gp * vp[h];
        gbias[h] += gp;
        gv[h] = cv[h] * gp;
        gu[h] = cu[h] * guh;
    }
}

/* acc [B, 3, H]: (cur_decay, vol_decay, bias); work [B, 2, H]: (gu, gv) carries -> gradients of (u0, v0). */
VEC void lif_backward(i64 b0, i64 b1, i64 T, i64 H, int kind, f32 scale, const f32 *cu, const f32 *cv,
                      const f32 *u0, const f32 *v0, const f32 *U, const f32 *V, const f32 *P, const f32 *S,
                      const f32 *gS, const f32 *gU, const f32 *gV, const f32 *zeros, f32 *gI, f32 *acc,
                      f32 *work) {
    for (i64 b = b0; b < b1; b++) {
        f32 *gu = work + b * 2 * H, *gv = gu + H;
        f32 *gcu = acc + b * 3 * H, *gcv = gcu + H, *gbias = gcv + H;
        for (i64 h = 0; h < H; h++) {
            gu[h] = 0.0f; gv[h] = 0.0f;
            gcu[h] = 0.0f; gcv[h] = 0.0f; gbias[h] = 0.0f;
        }
        for (i64 t = T - 1; t >= 0; t--) {
            i64 o = (b * T + t) * H;
            const f32 *up = t ? U + o - H : u0 + b * H;
            const f32 *vp = t ? V + o - H : v0 + b * H;
            const f32 *gSt = ROW(gS, zeros, o), *gUt = ROW(gU, zeros, o), *gVt = ROW(gV, zeros, o);
            if (kind == 0)
                lif_bwd_step(H, 0, scale, cu, cv, up, vp, P + o, S + o, gSt, gUt, gVt, gI + o, gu, gv, gcu, gcv,
                             gbias);
            else
                lif_bwd_step(H, 1, scale, cu, cv, up, vp, P + o, S + o, gSt, gUt, gVt, gI + o, gu, gv, gcu, gcv,
                             gbias);
        }
    }
}

/* ------------------------------------------------------------------ LI readout
 * v_t = alpha*v + (1 - alpha)*z_t, with zs = (1 - alpha)*z precomputed by the caller. */
INLINE void li_fwd_step(i64 H, const f32 *R zt, const f32 *R alpha, const f32 *R vp, f32 *R Vt) {
    for (i64 h = 0; h < H; h++) Vt[h] = alpha[h] * vp[h] + zt[h];
}

VEC void li_forward(i64 b0, i64 b1, i64 T, i64 H, const f32 *zs, const f32 *alpha, const f32 *v0, f32 *V) {
    for (i64 b = b0; b < b1; b++) {
        const f32 *vp = v0 + b * H;
        for (i64 t = 0; t < T; t++) {
            i64 o = (b * T + t) * H;
            li_fwd_step(H, zs + o, alpha, vp, V + o);
            vp = V + o;
        }
    }
}

INLINE void li_bwd_step(i64 H, const f32 *R alpha, const f32 *R oma, const f32 *R vp, const f32 *R Zt,
                        const f32 *R gVt, f32 *R gzt, f32 *R gv, f32 *R ga) {
    for (i64 h = 0; h < H; h++) {
        f32 g = alpha[h] * gv[h] + gVt[h];
        gzt[h] = oma[h] * g;
        ga[h] += g * (vp[h] - Zt[h]);
        gv[h] = g;
    }
}

/* gz [B,T,H] = (1 - alpha) * gv_t ; acc [B, 1, H]: alpha; g0 [B, H]: alpha * gv_0; work [B, H]. */
VEC void li_backward(i64 b0, i64 b1, i64 T, i64 H, const f32 *alpha, const f32 *oma, const f32 *Z,
                     const f32 *v0, const f32 *V, const f32 *gV, const f32 *zeros, f32 *gz, f32 *acc, f32 *g0,
                     f32 *work) {
    for (i64 b = b0; b < b1; b++) {
        f32 *gv = work + b * H, *ga = acc + b * H;
        for (i64 h = 0; h < H; h++) { gv[h] = 0.0f; ga[h] = 0.0f; }
        for (i64 t = T - 1; t >= 0; t--) {
            i64 o = (b * T + t) * H;
            const f32 *vp = t ? V + o - H : v0 + b * H;
            li_bwd_step(H, alpha, oma, vp, Z + o, ROW(gV, zeros, o), gz + o, gv, ga);
        }
        for (i64 h = 0; h < H; h++) g0[b * H + h] = alpha[h] * gv[h];
    }
}
