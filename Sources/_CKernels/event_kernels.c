// The bin assignment of the smoothed per-event kernel (Sources/EventDatabase/SmoothedReweightingKernel.swift,
// Specs/event-database.md "Evaluation of the logistic"). One implementation, written with generic
// vector types and compiled twice: for AVX2 (chosen at run time) and for the baseline x86-64 / other
// architectures. Both give the same doubles: every operation is an IEEE operation in the same order
// (no contraction into fused multiply-adds), only the width of the instructions differs.
#include "_CKernels.h"

#pragma clang fp contract(off)

typedef double v4d __attribute__((vector_size(32)));
typedef double v4d_unaligned __attribute__((vector_size(32), aligned(8)));
typedef int64_t v4i __attribute__((vector_size(32)));
typedef double v2d_unaligned __attribute__((vector_size(16), aligned(8)));

#define INLINE static inline __attribute__((always_inline))

// Macros, not functions: a 32-byte vector passed by value changes the ABI without AVX (-Wpsabi).
#define load4(p) (*(const v4d_unaligned *)(p))
#define store4(p, v) (*(v4d_unaligned *)(p) = (v))
#define splat4(x) ((v4d){(x), (x), (x), (x)})
/// `mask ? a : b` per lane (mask lanes all ones or all zeros).
#define select4(mask, a, b) ((v4d)((((v4i)(a)) & (mask)) | (((v4i)(b)) & ~(mask))))

/// The number of the `count` sorted `edges` that are `< value` (`≤ value` when `inclusive`),
/// branch free (the outcome of each step is unpredictable).
INLINE ptrdiff_t count_below(const double *edges, ptrdiff_t count, double value, int inclusive) {
    ptrdiff_t base = 0, length = count;
    while (length > 1) {
        const ptrdiff_t half = length >> 1;
        const double e = edges[base + half];
        base += half & -(ptrdiff_t)(inclusive ? e <= value : e < value);
        length -= half;
    }
    const double e = edges[base];
    return base + (inclusive ? e <= value : e < value);
}

/// `out[j] = e^{in[j]}` for four values with |in[j]| ≤ 700 (Specs/event-database.md, "Evaluation of the
/// logistic"): k = nearest integer to x log₂e, r = (x − k ln2_hi) − k ln2_lo (ln2_hi has 32 significant
/// bits, so k ln2_hi and the subtraction are exact), e^r = 1 + (r + r² P(r)) with P of degree 9 near
/// the minimax approximation of (e^r − 1 − r)/r² on |r| ≤ ln2/2 (relative error 1.6·10⁻¹⁷ in exact
/// arithmetic), times 2^k built from its bits. IEEE operations only, so lane j gives the same double
/// in every build and at every vector width; below 1.35 ulp and 2⁻⁵² relative of e^x (tested against
/// `expl` on [−41, 41] and [−700, 700]).
INLINE void exp4(const double *in, double *out) {
    const v4d x = load4(in), shifter = splat4(0x1.8p52);
    const v4d y = x * splat4(0x1.71547652b82fep0) + shifter;
    const v4d k = y - shifter;
    const v4i scale = (((v4i)y - (v4i)shifter) + 1023) << 52;
    const v4d r = (x - k * splat4(0x1.62e42fee00000p-1)) - k * splat4(0x1.a39ef35793c76p-33);
    v4d P = splat4(0x1.af38a71a18cb9p-26);
    P = P * r + splat4(0x1.2891834686c7ep-22);
    P = P * r + splat4(0x1.71de0daf7a6ccp-19);
    P = P * r + splat4(0x1.a019b90eefe8ep-16);
    P = P * r + splat4(0x1.a01a01a7c3d59p-13);
    P = P * r + splat4(0x1.6c16c1788b646p-10);
    P = P * r + splat4(0x1.11111111109b4p-7);
    P = P * r + splat4(0x1.5555555553d64p-5);
    P = P * r + splat4(0x1.5555555555556p-3);
    P = P * r + splat4(0x1.0000000000001p-1);
    store4(out, (splat4(1) + (r + (r * r) * P)) * (v4d)scale);
}

/// One bin's record of an event: `r0[r] += d_r`, `r0[Q + r] += 2 W p d_r` with
/// `d_r = dW_r · (r < P ? p : W ∂p/∂x)`, r < Q (a macro: 32-byte vectors are not passed by value).
#define add_records(r0_, d_, Q_, lastShareSlot_, w_, p_, dpdx_)                                       \
    do {                                                                                            \
        double *restrict r0 = (r0_);                                                                \
        const double Wp_ = (w_) * (p_);                                                             \
        const v4d twiceWp = splat4(2 * Wp_), byP = splat4(p_), Wdp = splat4((w_) * (dpdx_));        \
        v4i slot = {0, 1, 2, 3};                                                                    \
        for (ptrdiff_t r = 0; r < (Q_); r += 4, slot += 4) {                                        \
            const v4i scaledByShare = (v4i)(slot < (lastShareSlot_));                               \
            const v4d dd = load4((d_) + r) * select4(scaledByShare, byP, Wdp);                      \
            store4(r0 + r, load4(r0 + r) + dd);                                                     \
            store4(r0 + (Q_) + r, load4(r0 + (Q_) + r) + twiceWp * dd);                             \
        }                                                                                           \
    } while (0)

/// One block (see the header). `jacobian` is a compile-time constant in each instantiation.
INLINE void smoothed_block(const efthf_smoothing *restrict s, ptrdiff_t n, const double *restrict W, const double *restrict x,
                           const double *restrict dW, ptrdiff_t Q, ptrdiff_t P, double *restrict values,
                           double *restrict derivatives, const int jacobian) {
    const ptrdiff_t B = s->binCount, lo = s->fold ? 1 : 0, hi = s->fold ? B : B + 1;
    const double *restrict edges = s->edges;
    const double reach = s->reach, h = s->width;
    double low[EFTHF_SMOOTHED_BLOCK], high[EFTHF_SMOOTHED_BLOCK], t[EFTHF_SMOOTHED_BLOCK];
    int64_t first[EFTHF_SMOOTHED_BLOCK], end[EFTHF_SMOOTHED_BLOCK];

    // The evaluated edges [a, c) of each event: a = #{e_k < fl(x − 40h)}, c = #{e_k ≤ fl(x + 40h)},
    // clamped to [lo, hi], that is lo + the count among e_lo … e_{hi−1} (the edges are sorted).
    // Few edges: counted edge by edge over the block (vector compares); many: two binary searches
    // per event.
    for (ptrdiff_t i = 0; i < n; i++) {
        low[i] = x[i] - reach;
        high[i] = x[i] + reach;
    }
    if (hi - lo <= 32) {
        for (ptrdiff_t i = 0; i < n; i++) first[i] = end[i] = lo;
        for (ptrdiff_t k = lo; k < hi; k++) {
            const double e = edges[k];
            for (ptrdiff_t i = 0; i < n; i++) {
                first[i] += e < low[i];
                end[i] += e <= high[i];
            }
        }
    } else {
        for (ptrdiff_t i = 0; i < n; i++) {
            first[i] = lo + count_below(edges + lo, hi - lo, low[i], 0);
            end[i] = lo + count_below(edges + lo, hi - lo, high[i], 1);
        }
    }
    // t_a = exp((x − e_a)/h), one exp per event with an evaluated edge; the others (and the padding
    // to four) take e^{0/h} = 1 exactly.
    for (ptrdiff_t i = 0; i < n; i++) t[i] = first[i] < end[i] ? x[i] - edges[first[i]] : 0;
    for (ptrdiff_t i = n; i < ((n + 3) & ~(ptrdiff_t)3); i++) t[i] = 0;
    for (ptrdiff_t i = 0; i < n; i += 4) {
        store4(t + i, load4(t + i) / splat4(h));
        exp4(t + i, t + i);
    }

    // The shares p_j (and ∂p_j/∂x) of bins a − 1 + j, j < 8, of every event of the block first (the
    // events are independent: their divisions overlap), then the sums, event by event.
    const v4d one = splat4(1), zero = splat4(0), inverseWidth = splat4(s->inverseWidth);
    const v4i lastShareSlot = {P, P, P, P}, lane = {0, 1, 2, 3};
    const double *restrict ratios = s->ratios, *restrict windowEdges = s->windowEdges;
    double share[EFTHF_SMOOTHED_BLOCK][8], slope[jacobian ? EFTHF_SMOOTHED_BLOCK : 1][8];
    // G and g of lane 7, the carry into edges beyond the eighth (windows of more than 8 edges).
    double lastG[EFTHF_SMOOTHED_BLOCK], lastg[EFTHF_SMOOTHED_BLOCK];
    for (ptrdiff_t i = 0; i < n; i++) {
        const ptrdiff_t a = first[i], c = end[i];
        // Lane j holds edge a + j: G = 1/(1 + t_a D_{a,j}) inside [a, c), 1 from c on; the edge
        // below a (G = 0, g = 0) is the carry into lane 0. Lanes 4…7 are needed only for windows of
        // four or more edges (p_j for j ≤ c − a).
        const v4d ta = splat4(t[i]), limit = splat4(high[i]);
        v4d carryG = zero, carryg = zero;
        for (ptrdiff_t v = 0; v < (c - a >= 4 ? 8 : 4); v += 4) {
            const v4d tk = ta * load4(ratios + 8 * a + v);
            const v4i inside = (v4i)(load4(windowEdges + a + v) <= limit);
            const v4d logistic = one / (one + tk);
            const v4d G = select4(inside, logistic, one);
            store4(share[i] + v, G - __builtin_shufflevector(carryG, G, 3, 4, 5, 6));
            carryG = G;
            if (jacobian) {
                const v4d g = select4(inside, tk * logistic * logistic, zero);
                store4(slope[i] + v, (__builtin_shufflevector(carryg, g, 3, 4, 5, 6) - g) * inverseWidth);
                carryg = g;
            }
        }
        lastG[i] = carryG[3];
        lastg[i] = carryg[3];
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        const ptrdiff_t a = first[i], c = end[i], bins = c - a + 1;
        const double w = W[i];
        // Bins a − 1 … c − 1, at [b + 1] (bin −1 and bin B are padding): lanes 0…7 from above, and for
        // windows of more than 7 edges (rare: only when more than 7 edges lie within 80h) each further
        // edge with its own exp.
        double *restrict nu = values + 2 * a, *restrict record = jacobian ? derivatives + a * 2 * Q : 0;
        const double *restrict d = jacobian ? dW + i * Q : 0;
        // Bins a − 1 … a + 2 without a branch: lanes j ≥ bins have p_j = 1 − 1 and add exactly +0
        // (the sums start at +0, so they never hold −0). (W p, (W p)²) pairs of bins: even, odd.
        {
            const v4i touched = lane < (v4i){bins, bins, bins, bins};
            const v4d Wp = select4(touched, splat4(w) * load4(share[i]), zero), Wp2 = Wp * Wp;
            const v4d even = __builtin_shufflevector(Wp, Wp2, 0, 4, 2, 6), odd = __builtin_shufflevector(Wp, Wp2, 1, 5, 3, 7);
            *(v2d_unaligned *)nu += __builtin_shufflevector(even, even, 0, 1);
            *(v2d_unaligned *)(nu + 2) += __builtin_shufflevector(odd, odd, 0, 1);
            *(v2d_unaligned *)(nu + 4) += __builtin_shufflevector(even, even, 2, 3);
            *(v2d_unaligned *)(nu + 6) += __builtin_shufflevector(odd, odd, 2, 3);
        }
        // The records of bins a − 1 … a + 2 without a branch (lanes j ≥ bins have p_j = ∂p_j/∂x = +0
        // and add exactly ±0), then those of bins a + 3 … c − 1.
        if (jacobian)
            for (ptrdiff_t j = 0; j < 4; j++) add_records(record + j * 2 * Q, d, Q, lastShareSlot, w, share[i][j], slope[i][j]);
        double G = lastG[i], g = lastg[i];
        for (ptrdiff_t j = 4; j < bins; j++) {
            double p, dpdx = 0;
            if (j < 8) {
                p = share[i][j];
                if (jacobian) dpdx = slope[i][j];
            } else {
                const ptrdiff_t k = a + j;
                double Gk = 1, gk = 0;
                if (k < c) {
                    double tk[4] = {(x[i] - edges[k]) / h, 0, 0, 0};
                    exp4(tk, tk);
                    const double logistic = 1 / (1 + tk[0]);
                    Gk = logistic;
                    gk = tk[0] * logistic * logistic;
                }
                p = Gk - G;
                if (jacobian) dpdx = (g - gk) * s->inverseWidth;
                G = Gk;
                g = gk;
            }
            const double Wp = w * p;
            nu[2 * j] += Wp;
            nu[2 * j + 1] += Wp * Wp;
            if (jacobian) add_records(record + j * 2 * Q, d, Q, lastShareSlot, w, p, dpdx);
        }
    }
}

/// The per-event sums of one block (see the header), in the order of the formulae: terms t = 0, 1, …
/// (four per sweep, added one after the other), systematics k = 0, 1, ….
INLINE void event_sums(const efthf_event_terms *restrict p, ptrdiff_t n, const double *const *rows, const double *restrict x,
                       const double *restrict systematicRows, double *restrict scratch, double *restrict W, double *restrict shifted,
                       double *restrict dW, const int jacobian) {
    const ptrdiff_t T = p->terms, C = p->coefficients, K = p->systematics, L = EFTHF_SMOOTHED_BLOCK;
    const double *restrict m = p->m;
    double *restrict w = scratch, *restrict f = w + L, *restrict dw = f + L, *restrict slopes = dw + C * L;
    for (ptrdiff_t i = 0; i < n; i++) w[i] = 0;
    ptrdiff_t t = 0;
    for (; t + 4 <= T; t += 4) {
        const double *restrict a1 = rows[t], *restrict a2 = rows[t + 1], *restrict a3 = rows[t + 2], *restrict a4 = rows[t + 3];
        const double m1 = m[t], m2 = m[t + 1], m3 = m[t + 2], m4 = m[t + 3];
        for (ptrdiff_t i = 0; i < n; i++) w[i] = w[i] + a1[i] * m1 + a2[i] * m2 + a3[i] * m3 + a4[i] * m4;
    }
    for (; t < T; t++) {
        const double *restrict a = rows[t];
        const double mt = m[t];
        for (ptrdiff_t i = 0; i < n; i++) w[i] = w[i] + a[i] * mt;
    }
    if (jacobian) {
        for (ptrdiff_t i = 0; i < C * L; i++) dw[i] = 0;
        for (t = 0; t < T; t++) {
            const double *restrict a = rows[t];
            for (ptrdiff_t j = p->derivativeStart[t]; j < p->derivativeStart[t + 1]; j++) {
                double *restrict row = dw + p->derivativeCoefficient[j] * L;
                const double d = p->derivativeValue[j];
                for (ptrdiff_t i = 0; i < n; i++) row[i] = row[i] + a[i] * d;
            }
        }
    }
    for (ptrdiff_t i = 0; i < n; i++) {
        f[i] = 1;
        shifted[i] = x[i];
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        const double *restrict up = systematicRows + k * L, *restrict down = systematicRows + (K + k) * L;
        double *restrict target = p->isShift[k] ? shifted : f;
        const double ap = p->alpha[4 * k], am = p->alpha[4 * k + 1];
        for (ptrdiff_t i = 0; i < n; i++) target[i] = target[i] + (ap * up[i] + am * down[i]);
        if (jacobian) {
            // Weight: ∂W/∂θ_k = w ∂I/∂θ_k; shift: ∂x/∂θ_k = ∂I/∂θ_k (times W ∂p/∂x per bin).
            double *restrict row = slopes + k * L;
            const double dp = p->alpha[4 * k + 2], dm = p->alpha[4 * k + 3];
            if (p->isShift[k])
                for (ptrdiff_t i = 0; i < n; i++) row[i] = dp * up[i] + dm * down[i];
            else
                for (ptrdiff_t i = 0; i < n; i++) row[i] = w[i] * (dp * up[i] + dm * down[i]);
        }
    }
    for (ptrdiff_t i = 0; i < n; i++) W[i] = w[i] * f[i];
    if (!jacobian) return;
    // ∂W/∂q per event in record-slot order: ∂w/∂c_i · f, or the slope row of θ_k.
    const ptrdiff_t Q = p->slots, stride = p->paddedSlots;
    for (ptrdiff_t r = 0; r < Q; r++) {
        const ptrdiff_t q = p->slotParameter[r];
        if (q < C) {
            const double *restrict row = dw + q * L;
            for (ptrdiff_t i = 0; i < n; i++) dW[i * stride + r] = row[i] * f[i];
        } else {
            const double *restrict row = slopes + (q - C) * L;
            for (ptrdiff_t i = 0; i < n; i++) dW[i * stride + r] = row[i];
        }
    }
}

static void sums_portable(const efthf_event_terms *p, ptrdiff_t n, const double *const *rows, const double *x, const double *sys,
                          double *scratch, double *W, double *shifted, double *dW, int jacobian) {
    if (jacobian) event_sums(p, n, rows, x, sys, scratch, W, shifted, dW, 1);
    else event_sums(p, n, rows, x, sys, scratch, W, shifted, dW, 0);
}

static void block_values_portable(const efthf_smoothing *s, ptrdiff_t n, const double *W, const double *x, double *values) {
    smoothed_block(s, n, W, x, 0, 0, 0, values, 0, 0);
}

/// The bin assignment with Jacobians, with the record loop unrolled for Q = 4, 8, 12, 16.
#define JACOBIAN_BLOCK                                                           \
    switch (Q) {                                                                 \
    case 4: smoothed_block(s, n, W, x, dW, 4, P, values, derivatives, 1); break;   \
    case 8: smoothed_block(s, n, W, x, dW, 8, P, values, derivatives, 1); break;   \
    case 12: smoothed_block(s, n, W, x, dW, 12, P, values, derivatives, 1); break; \
    case 16: smoothed_block(s, n, W, x, dW, 16, P, values, derivatives, 1); break; \
    default: smoothed_block(s, n, W, x, dW, Q, P, values, derivatives, 1);         \
    }

static void block_jacobian_portable(const efthf_smoothing *s, ptrdiff_t n, const double *W, const double *x, const double *dW,
                                    ptrdiff_t Q, ptrdiff_t P, double *values, double *derivatives) {
    JACOBIAN_BLOCK
}

#if defined(__x86_64__)
#include <cpuid.h>

int efthf_avx2_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;  // XMM and YMM state saved by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX2) != 0;
}

__attribute__((target("avx2"))) static void block_values_avx2(const efthf_smoothing *s, ptrdiff_t n, const double *W,
                                                               const double *x, double *values) {
    smoothed_block(s, n, W, x, 0, 0, 0, values, 0, 0);
}

__attribute__((target("avx2"))) static void block_jacobian_avx2(const efthf_smoothing *s, ptrdiff_t n, const double *W,
                                                                 const double *x, const double *dW, ptrdiff_t Q, ptrdiff_t P,
                                                                 double *values, double *derivatives) {
    JACOBIAN_BLOCK
}
__attribute__((target("avx2"))) static void sums_avx2(const efthf_event_terms *p, ptrdiff_t n, const double *const *rows, const double *x,
                                                       const double *sys, double *scratch, double *W, double *shifted, double *dW,
                                                       int jacobian) {
    if (jacobian) event_sums(p, n, rows, x, sys, scratch, W, shifted, dW, 1);
    else event_sums(p, n, rows, x, sys, scratch, W, shifted, dW, 0);
}
#else
int efthf_avx2_available(void) { return 0; }
#endif

void efthf_event_sums(const efthf_event_terms *terms, ptrdiff_t n, const double *const *termRows, const double *x,
                      const double *systematicRows, double *scratch, double *W, double *shifted, double *dW, int jacobian,
                      int useAVX2) {
#if defined(__x86_64__)
    if (useAVX2) {
        sums_avx2(terms, n, termRows, x, systematicRows, scratch, W, shifted, dW, jacobian);
        return;
    }
#endif
    (void)useAVX2;
    sums_portable(terms, n, termRows, x, systematicRows, scratch, W, shifted, dW, jacobian);
}

static void exp_portable(const double *in, ptrdiff_t n, double *out) {
    for (ptrdiff_t i = 0; i < n; i += 4) exp4(in + i, out + i);
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void exp_avx2(const double *in, ptrdiff_t n, double *out) {
    for (ptrdiff_t i = 0; i < n; i += 4) exp4(in + i, out + i);
}
#endif

void efthf_smoothing_exp(const double *in, ptrdiff_t n, double *out, int useAVX2) {
#if defined(__x86_64__)
    if (useAVX2) {
        exp_avx2(in, n, out);
        return;
    }
#endif
    (void)useAVX2;
    exp_portable(in, n, out);
}

void efthf_smoothed_block(const efthf_smoothing *s, ptrdiff_t n, const double *W, const double *x, int jacobian, const double *dW,
                          ptrdiff_t Q, ptrdiff_t P, double *values, double *derivatives, int useAVX2) {
#if defined(__x86_64__)
    if (useAVX2) {
        if (jacobian) block_jacobian_avx2(s, n, W, x, dW, Q, P, values, derivatives);
        else block_values_avx2(s, n, W, x, values);
        return;
    }
#endif
    (void)useAVX2;
    if (jacobian) block_jacobian_portable(s, n, W, x, dW, Q, P, values, derivatives);
    else block_values_portable(s, n, W, x, values);
}
