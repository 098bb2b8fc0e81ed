// Hand-vectorised inner loops of the likelihood kernel for x86-64 CPUs with AVX and FMA, chosen at
// run time. Implementation detail of the HistFactory module: nothing here appears in a public Swift
// signature. The portable implementation of each loop is the Swift one in
// Sources/HistFactory/_LikelihoodKernel.swift; these give exactly the same doubles (same operations
// in the same order per term, fused multiply-adds exactly where the Swift loop has `addingProduct`),
// four terms per instruction instead of two.
#ifndef EFTHF_CKERNELS_H
#define EFTHF_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// A run of scalar terms `start..<end` (length a multiple of four, starting at one) that all belong to
/// one parameter and one kind: 0 the parameter itself (f = α), 1 code4, 2 code1; or 3, packed: code4
/// runs of fewer than four terms one after the other, each term with its own parameter, `parameter`
/// then the index of the first of them in `efthf_scalar_terms.groups`.
typedef struct efthf_term_run {
    int32_t parameter;
    uint8_t kind;
    /// Every polynomial coefficient of the run is finite, so that code4 at α = 0 is exactly
    /// neutral: f = 1 + Σₖ aₖ·0 = 1 and f'/f = a₁.
    uint8_t isFinite;
    int32_t start;
    int32_t end;
} efthf_term_run;

/// The model's scalar terms, read by both passes: runs, entry of each term, code4's a₁…a₆ in blocks
/// of four terms (aₖ of term t at `poly[24·⌊t/4⌋ + 4(k − 1) + t mod 4]`, 32-byte aligned), a₁ alone
/// (`firstCoefficient[t]`), and ln δ₊, ln δ₋.
typedef struct efthf_scalar_terms {
    const efthf_term_run *runs;
    ptrdiff_t runCount;
    const int32_t *entry;
    const double *poly;
    const double *firstCoefficient;
    const double *logUp;
    const double *logDown;
    /// The parameter of each term.
    const int32_t *parameter;
    /// The code4 runs inside packed runs, in order (kind 1, `start..<end` within their packed run).
    const efthf_term_run *groups;
    ptrdiff_t groupCount;
} efthf_scalar_terms;

/// 1 when the CPU and the operating system support AVX and FMA (CPUID.1:ECX.AVX, FMA and OSXSAVE,
/// XCR0 enabling the SSE and AVX states), else 0; always 0 on other architectures.
int efthf_avx_fma_available(void);

/// Forward pass over every scalar run, with α = `pars[run.parameter]`:
///
///     kind 0:              product[e] *= α (skipped when α = 1);
///     code4 at α = 0:      skipped when the run is finite (f = 1; the backward pass reads a₁);
///     code4, |α| < 1:      f = 1 + Σₖ aₖ αᵏ,  product[e] *= f,  logDerivative[t] = f'/f
///                          (one chain of fused multiply-adds each, as the Swift loop);
///     else (code1, code4): f = exp(|α| ln δ±), product[e] *= f,  logDerivative[t] = ±ln δ±,
///     packed:              each term as code4 with its own α, the general branch at α = 0 too
///                          (f = 1 and f'/f = a₁ exactly for finite coefficients),
///
/// logDerivative only when `wantGradient`. The same doubles as `LikelihoodKernel.forward`'s Swift
/// loop. Only call when `efthf_avx_fma_available()` returned 1.
void efthf_scalar_forward_avx(efthf_scalar_terms terms, const double *pars, double *product, double *logDerivative,
                              int wantGradient);

/// Backward pass over every scalar run, given K_e = P_e Σ_l w G B per entry (K = 0 for entries
/// that take the exact route; the padding entry included):
///
///     kind 0:  grad[p] += (Σ_t K_e(t)) / α  (unless α = 0);
///     packed:  per code4 run inside it, the sum of its (at most three) terms as an unpacked run's;
///     else:    grad[p] += Σ_t K_e(t) · f_t'/f_t,  f'/f from logDerivative, or a₁ for a neutral run;
///
/// with the sums in the lane order of `LikelihoodKernel.backward`'s Swift loop. Only call when
/// `efthf_avx_fma_available()` returned 1.
void efthf_scalar_backward_avx(efthf_scalar_terms terms, const double *pars, const double *entryScale,
                               const double *logDerivative, double *grad);

/// The histosys pairs of one parameter and code (0 code0, 2 code2, 4 code4p): the quads
/// `quadStart..<quadEnd`.
typedef struct efthf_histo_run {
    int32_t parameter;
    uint8_t kind;
    /// Every Δ± of the run is finite, so that at α = 0 (u = l = 0) it adds exactly 0.
    uint8_t isFinite;
    int32_t quadStart, quadEnd;
} efthf_histo_run;

/// The model's histosys pairs in quads: quad q covers the four entry bins `quadBin[q] ..< quadBin[q] + 4`
/// (`quadBin[q]` a multiple of four), with Δ₊ and Δ₋ of its bin `quadBin[q] + j` at `up[4q + j]` and
/// `down[4q + j]` (zero where the parameter does not reach the bin); `up` and `down` are 32-byte aligned.
typedef struct efthf_histo_terms {
    const efthf_histo_run *runs;
    ptrdiff_t runCount;
    const int32_t *quadBin;
    const double *up;
    const double *down;
} efthf_histo_terms;

/// `target[l] += u Δ₊ + l Δ₋` for every histosys pair, run by run, a quad at a time (`target` 32-byte
/// aligned, with room for every quad's bins), with run i's (u, l, u', l') at `weights[4i ..< 4i + 4]`;
/// runs with u = l = 0 and finite Δ± are skipped. The same doubles as
/// `LikelihoodKernel.addHistosysDeltas`' Swift loop. Only call when `efthf_avx_fma_available()`
/// returned 1.
void efthf_histo_forward_avx(efthf_histo_terms terms, const double *weights, double *target);

/// A thread's scratch memory for one likelihood evaluation: at least `count` doubles, 64-byte
/// aligned, kept for the thread's next evaluations (freed when the thread ends), or NULL when the
/// thread's scratch is in use already (an evaluation inside an evaluation) or memory is short.
/// Hand it back with `efthf_scratch_release`.
double *efthf_scratch_acquire(size_t count);

/// Marks the thread's scratch as free again (`scratch` from `efthf_scratch_acquire`).
void efthf_scratch_release(double *scratch);

/// `grad[α] += u' Σ_l c_l Δ₊ + l' Σ_l c_l Δ₋` for every histosys run, with c = `scale` per entry bin
/// (32-byte aligned, with room for every quad's bins) and the sums in the lane order of `LikelihoodKernel.backward`'s Swift loop. Only call when
/// `efthf_avx_fma_available()` returned 1.
void efthf_histo_backward_avx(efthf_histo_terms terms, const double *weights, const double *scale, double *grad);

#endif

// The bin assignment of the smoothed per-event kernel (Sources/_CKernels/event_kernels.c,
// Specs/event-database.md "Evaluation of the logistic"), for the EventDatabase module.
#ifndef EFTHF_EVENT_KERNELS_H
#define EFTHF_EVENT_KERNELS_H

/// Events per call of `efthf_smoothed_block` at most.
#define EFTHF_SMOOTHED_BLOCK 128

/// A binning with smoothing width h > 0, prepared once per kernel.
typedef struct efthf_smoothing {
    /// B.
    ptrdiff_t binCount;
    /// e_0 … e_B.
    const double *edges;
    /// B + 9 values: e_k for the edges that can be evaluated (1 ≤ k < B when folding, else all),
    /// +∞ for the others and beyond e_B.
    const double *windowEdges;
    /// D_{a,j} = exp((e_a − e_{a+j})/h) at [8a + j] for a + j ≤ B, else 1; a = 0 … B + 1, j < 8.
    const double *ratios;
    /// h, fl(1/h), fl(40h).
    double width, inverseWidth, reach;
    int fold;
} efthf_smoothing;

/// The terms and systematics of one evaluation for `efthf_event_sums`.
typedef struct efthf_event_terms {
    /// The T terms read: m_t; term t's non-zero ∂m_t/∂c_i are `derivativeValue[j]` for
    /// i = `derivativeCoefficient[j]`, j in `derivativeStart[t] ..< derivativeStart[t + 1]`.
    ptrdiff_t terms;
    const double *m;
    const ptrdiff_t *derivativeStart;
    const ptrdiff_t *derivativeCoefficient;
    const double *derivativeValue;
    /// C and K; (α₊, α₋, α₊′, α₋′) of code4p per systematic, and whether it is a shift.
    ptrdiff_t coefficients, systematics;
    const double *alpha;
    const _Bool *isShift;
    /// The parameter q of each of the Q record slots; Q and its multiple of four.
    const ptrdiff_t *slotParameter;
    ptrdiff_t slots, paddedSlots;
} efthf_event_terms;

/// The per-event sums of `n ≤ EFTHF_SMOOTHED_BLOCK` events, with term t's coefficients at
/// `termRows[t][i]`, the observable at `x[i]` and the K up then K down rows (δ±) at
/// `systematicRows[(k or K + k)·EFTHF_SMOOTHED_BLOCK + i]`:
///
///     w = Σ_t a_t m_t,   f = 1 + Σ_{weight} (α₊δ₊ + α₋δ₋),   shifted = x + Σ_{shift} (α₊δ₊ + α₋δ₋),   W = w f
///
/// in the order t = 0, 1, …, k = 0, 1, …; with `jacobian`, `dW[i·paddedSlots + r]` = ∂(w f)/∂c_q = f Σ_t a_t ∂m_t/∂c_q,
/// w (α₊′δ₊ + α₋′δ₋) for a weight θ_q, or ∂x/∂θ_q = α₊′δ₊ + α₋′δ₋ for a shift (q = slotParameter[r]).
/// `scratch` holds (2 + C + K)·EFTHF_SMOOTHED_BLOCK doubles. The AVX2 instantiation (`useAVX2`) gives the same doubles.
void efthf_event_sums(const efthf_event_terms *terms, ptrdiff_t n, const double *const *termRows, const double *x,
                      const double *systematicRows, double *scratch, double *W, double *shifted, double *dW, int jacobian,
                      int useAVX2);

/// 1 when the CPU and the operating system support AVX2, else 0; always 0 on other architectures.
int efthf_avx2_available(void);

/// Adds the shares of `n ≤ EFTHF_SMOOTHED_BLOCK` events with weights `W[i]` and observables `x[i]`:
///
///     values[2(b + 1)] += W p_b,   values[2(b + 1) + 1] += (W p_b)²                       (b = −1 … B)
///
/// and with `jacobian`, per touched bin, `d_r = dW[iQ + r] · (r < P ? p_b : W ∂p_b/∂x)` for r < Q
/// (Q a multiple of four): `derivatives[2Q(b + 1) + r] += d_r`, `derivatives[2Q(b + 1) + Q + r] += 2 W p_b d_r`;
/// every bin receives the events in order. Bins −1 and B are padding; `values` and `derivatives` have
/// room for bins up to B + 3 (bins −1 … B + 3 may receive exactly ±0 from an event that does not touch
/// them, which changes no sum: they start at +0). The AVX2 instantiation (`useAVX2`, only when `efthf_avx2_available()`
/// returned 1) gives the same doubles as the other.
void efthf_smoothed_block(const efthf_smoothing *s, ptrdiff_t n, const double *W, const double *x, int jacobian, const double *dW,
                          ptrdiff_t Q, ptrdiff_t P, double *values, double *derivatives, int useAVX2);

/// `out[i] = e^{in[i]}` for `i < n` (n a multiple of four, |in[i]| ≤ 700) as `efthf_smoothed_block`
/// evaluates it (Specs/event-database.md, "Evaluation of the logistic"), for its accuracy test; the
/// AVX2 instantiation (`useAVX2`) gives the same doubles.
void efthf_smoothing_exp(const double *in, ptrdiff_t n, double *out, int useAVX2);

#endif
