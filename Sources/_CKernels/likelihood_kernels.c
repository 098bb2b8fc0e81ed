// See include/_CKernels.h. Built without any compiler flag: the vector functions carry their own
// target attribute and are only called after `efthf_avx_fma_available()` said yes.
#include "_CKernels.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

// One scratch buffer per thread (see the header), reached through a pthread key whose destructor
// frees it when the thread ends.
typedef struct scratch_slot {
    double *memory;
    size_t capacity;
    int inUse;
} scratch_slot;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    scratch_slot *slot = p;
    free(slot->memory);
    free(slot);
}

static void scratch_key_create(void) { pthread_key_create(&scratch_key, scratch_free); }

double *efthf_scratch_acquire(size_t count) {
    pthread_once(&scratch_once, scratch_key_create);
    scratch_slot *slot = pthread_getspecific(scratch_key);
    if (!slot) {
        slot = calloc(1, sizeof *slot);
        if (!slot) return NULL;
        if (pthread_setspecific(scratch_key, slot) != 0) {
            free(slot);
            return NULL;
        }
    }
    if (slot->inUse) return NULL;
    if (slot->capacity < count) {
        const size_t capacity = count < 512 ? 512 : count;
        if (capacity > (SIZE_MAX - 63) / sizeof(double)) return NULL;
        double *memory = aligned_alloc(64, (capacity * sizeof(double) + 63) & ~(size_t)63);
        if (!memory) return NULL;
        free(slot->memory);
        slot->memory = memory;
        slot->capacity = capacity;
    }
    slot->inUse = 1;
    return slot->memory;
}

void efthf_scratch_release(double *scratch) {
    scratch_slot *slot = pthread_getspecific(scratch_key);
    if (slot && slot->memory == scratch) slot->inUse = 0;
}

// The Swift loops round every product and sum except where they call `addingProduct`; so must these
// (no contraction into FMA other than the explicit `_mm256_fmadd_pd`).
#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

int efthf_avx_fma_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX) || !(c & bit_FMA)) return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;  // XMM and YMM state saved by the OS
}

#define AVX __attribute__((target("avx,fma")))

/// One block of four code4 terms t…t+3 (coefficients a₁…a₆ at `block`, four of each) at the powers
/// X1…X6 of their x and Q_k = k·x^(k−1): f by one chain of fused multiply-adds (below), f'/f into
/// logDerivative[t…t+3] when `wantGradient`, and each f multiplied into its entry's product.
static inline __attribute__((always_inline)) AVX void code4_block(const double *block, ptrdiff_t t, const int32_t *entry, double *product,
                                                                  double *logDerivative, const int wantGradient,
                                                                  __m256d X1, __m256d X2, __m256d X3, __m256d X4, __m256d X5, __m256d X6,
                                                                  __m256d Q2, __m256d Q3, __m256d Q4, __m256d Q5, __m256d Q6) {
    const __m256d one = _mm256_set1_pd(1);
    const __m256d c1 = _mm256_load_pd(block), c2 = _mm256_load_pd(block + 4), c3 = _mm256_load_pd(block + 8);
    const __m256d c4 = _mm256_load_pd(block + 12), c5 = _mm256_load_pd(block + 16), c6 = _mm256_load_pd(block + 20);
    const __m256d f = _mm256_fmadd_pd(
        c6, X6, _mm256_fmadd_pd(c5, X5, _mm256_fmadd_pd(c4, X4, _mm256_fmadd_pd(c3, X3, _mm256_fmadd_pd(c2, X2, _mm256_fmadd_pd(c1, X1, one))))));
    if (wantGradient) {
        const __m256d df =
            _mm256_fmadd_pd(c6, Q6, _mm256_fmadd_pd(c5, Q5, _mm256_fmadd_pd(c4, Q4, _mm256_fmadd_pd(c3, Q3, _mm256_fmadd_pd(c2, Q2, c1)))));
        _mm256_storeu_pd(logDerivative + t, _mm256_div_pd(df, f));
    }
    const __m128d f01 = _mm256_castpd256_pd128(f), f23 = _mm256_extractf128_pd(f, 1);
    product[entry[t]] *= _mm_cvtsd_f64(f01);
    product[entry[t + 1]] *= _mm_cvtsd_f64(_mm_unpackhi_pd(f01, f01));
    product[entry[t + 2]] *= _mm_cvtsd_f64(f23);
    product[entry[t + 3]] *= _mm_cvtsd_f64(_mm_unpackhi_pd(f23, f23));
}

/// One code4 run with |α| < 1 (lo and hi multiples of four), as the Swift loop: one chain of fused
/// multiply-adds each, with the powers of x (and their multiples) computed once per run,
///
///     f  = fma(a₆, x⁶, fma(a₅, x⁵, fma(a₄, x⁴, fma(a₃, x³, fma(a₂, x², fma(a₁, x, 1)))))),
///     f' = fma(a₆, 6x⁵, fma(a₅, 5x⁴, fma(a₄, 4x³, fma(a₃, 3x², fma(a₂, 2x, a₁))))).
static inline __attribute__((always_inline)) AVX void code4_run(double x, const double *poly, ptrdiff_t lo, ptrdiff_t hi,
                                                                const int32_t *entry, double *product, double *logDerivative,
                                                                const int wantGradient) {
    const double x2 = x * x, x3 = x2 * x, x4 = x2 * x2, x5 = x4 * x, x6 = x3 * x3;
    const __m256d X1 = _mm256_set1_pd(x), X2 = _mm256_set1_pd(x2), X3 = _mm256_set1_pd(x3);
    const __m256d X4 = _mm256_set1_pd(x4), X5 = _mm256_set1_pd(x5), X6 = _mm256_set1_pd(x6);
    const __m256d Q2 = _mm256_set1_pd(2 * x), Q3 = _mm256_set1_pd(3 * x2), Q4 = _mm256_set1_pd(4 * x3);
    const __m256d Q5 = _mm256_set1_pd(5 * x4), Q6 = _mm256_set1_pd(6 * x5);
    const double *block = poly + 6 * lo;
    for (ptrdiff_t t = lo; t < hi; t += 4, block += 24)
        code4_block(block, t, entry, product, logDerivative, wantGradient, X1, X2, X3, X4, X5, X6, Q2, Q3, Q4, Q5, Q6);
}

/// One code4 term t of a packed run at its own x: the unpacked run's branches (the polynomial for
/// |x| < 1, α = 0 included, else the exponential), in scalar arithmetic with the same roundings.
static inline AVX void packed_term(efthf_scalar_terms terms, ptrdiff_t t, double x, double *product, double *logDerivative,
                                   const int wantGradient) {
    if (x > -1 && x < 1) {
        const double *a = terms.poly + 24 * (t / 4) + t % 4;
        const double x2 = x * x, x3 = x2 * x, x4 = x2 * x2, x5 = x4 * x, x6 = x3 * x3;
        const double f = fma(a[20], x6, fma(a[16], x5, fma(a[12], x4, fma(a[8], x3, fma(a[4], x2, fma(a[0], x, 1))))));
        if (wantGradient)
            logDerivative[t] = fma(a[20], 6 * x5, fma(a[16], 5 * x4, fma(a[12], 4 * x3, fma(a[8], 3 * x2, fma(a[4], 2 * x, a[0]))))) / f;
        product[terms.entry[t]] *= f;
    } else {
        const int up = x > 0;
        product[terms.entry[t]] *= exp((up ? x : -x) * (up ? terms.logUp[t] : terms.logDown[t]));
        if (wantGradient) logDerivative[t] = up ? terms.logUp[t] : -terms.logDown[t];
    }
}

/// A packed run: four terms at a time, as `code4_run` but with the powers of each lane's own x, where
/// all four x lie in (−1, 1); else term by term.
static inline __attribute__((always_inline)) AVX void packed_run(efthf_scalar_terms terms, const double *pars, ptrdiff_t lo, ptrdiff_t hi,
                                                                 double *product, double *logDerivative, const int wantGradient) {
    const int32_t *entry = terms.entry, *parameter = terms.parameter;
    const __m256d one = _mm256_set1_pd(1), minusOne = _mm256_set1_pd(-1);
    for (ptrdiff_t t = lo; t < hi; t += 4) {
        const __m256d X = _mm256_set_pd(pars[parameter[t + 3]], pars[parameter[t + 2]], pars[parameter[t + 1]], pars[parameter[t]]);
        const __m256d inside = _mm256_and_pd(_mm256_cmp_pd(X, minusOne, _CMP_GT_OQ), _mm256_cmp_pd(X, one, _CMP_LT_OQ));
        if (_mm256_movemask_pd(inside) != 15) {
            for (int j = 0; j < 4; j++) packed_term(terms, t + j, pars[parameter[t + j]], product, logDerivative, wantGradient);
            continue;
        }
        const __m256d X2 = _mm256_mul_pd(X, X), X3 = _mm256_mul_pd(X2, X), X4 = _mm256_mul_pd(X2, X2);
        const __m256d X5 = _mm256_mul_pd(X4, X), X6 = _mm256_mul_pd(X3, X3);
        // k·x^(k−1) for f' (unused, and left out by the compiler, without the gradient).
        const __m256d Q2 = _mm256_mul_pd(_mm256_set1_pd(2), X), Q3 = _mm256_mul_pd(_mm256_set1_pd(3), X2);
        const __m256d Q4 = _mm256_mul_pd(_mm256_set1_pd(4), X3), Q5 = _mm256_mul_pd(_mm256_set1_pd(5), X4);
        const __m256d Q6 = _mm256_mul_pd(_mm256_set1_pd(6), X5);
        code4_block(terms.poly + 6 * t, t, entry, product, logDerivative, wantGradient, X, X2, X3, X4, X5, X6, Q2, Q3, Q4, Q5, Q6);
    }
}

/// The sum of a code4 run of n ≤ 3 terms from t, as the unpacked loop adds it: one block of four lanes
/// (0 + v_j) + 0 with v_j = K_e(t+j) · f'/f (padding lanes +0), then (s₀ + s₂) + (s₁ + s₃).
static inline double packed_group_sum(const double *K, const int32_t *entry, const double *ratio, ptrdiff_t t, ptrdiff_t n) {
    const double s0 = (0 + K[entry[t]] * ratio[t]) + 0;
    const double s1 = n > 1 ? (0 + K[entry[t + 1]] * ratio[t + 1]) + 0 : 0;
    const double s2 = n > 2 ? (0 + K[entry[t + 2]] * ratio[t + 2]) + 0 : 0;
    return (s0 + s2) + (s1 + 0);
}

AVX void efthf_scalar_forward_avx(efthf_scalar_terms terms, const double *pars, double *product, double *logDerivative,
                                  int wantGradient) {
    const int32_t *entry = terms.entry;
    for (ptrdiff_t i = 0; i < terms.runCount; i++) {
        const efthf_term_run run = terms.runs[i];
        const double x = pars[run.parameter];
        const ptrdiff_t lo = run.start, hi = run.end;
        if (run.kind == 0) {
            if (x != 1)
                for (ptrdiff_t t = lo; t < hi; t++) product[entry[t]] *= x;
        } else if (run.kind == 3) {
            if (wantGradient) packed_run(terms, pars, lo, hi, product, logDerivative, 1);
            else packed_run(terms, pars, lo, hi, product, logDerivative, 0);
        } else if (run.kind == 1 && x == 0 && run.isFinite) {
            continue;  // neutral: f = 1
        } else if (run.kind == 1 && x > -1 && x < 1) {
            if (wantGradient) code4_run(x, terms.poly, lo, hi, entry, product, logDerivative, 1);
            else code4_run(x, terms.poly, lo, hi, entry, product, logDerivative, 0);
        } else {
            const int up = x > 0;
            const double *logs = up ? terms.logUp : terms.logDown;
            const double ax = up ? x : -x;
            for (ptrdiff_t t = lo; t < hi; t++) product[entry[t]] *= exp(ax * logs[t]);
            if (wantGradient)
                for (ptrdiff_t t = lo; t < hi; t++) logDerivative[t] = up ? terms.logUp[t] : -terms.logDown[t];
        }
    }
}

/// (a₀ + a₂) + (a₁ + a₃).
static inline __attribute__((always_inline)) AVX double lane_sum(__m256d a) {
    const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(pair) + _mm_cvtsd_f64(_mm_unpackhi_pd(pair, pair));
}

/// K_e for the four terms t…t+3.
static inline AVX __m256d gather4(const double *K, const int32_t *entry, ptrdiff_t t) {
    return _mm256_set_pd(K[entry[t + 3]], K[entry[t + 2]], K[entry[t + 1]], K[entry[t]]);
}

AVX void efthf_scalar_backward_avx(efthf_scalar_terms terms, const double *pars, const double *entryScale,
                                   const double *logDerivative, double *grad) {
    const int32_t *entry = terms.entry;
    const double *K = entryScale;
    for (ptrdiff_t i = 0; i < terms.runCount; i++) {
        const efthf_term_run run = terms.runs[i];
        const double x = pars[run.parameter];
        const ptrdiff_t lo = run.start, hi = run.end;
        if (run.kind == 0) {
            // Lanes (t, t + 1), as the Swift loop's SIMD2 sum.
            double s0 = 0, s1 = 0;
            for (ptrdiff_t t = lo; t < hi; t += 2) {
                s0 += K[entry[t]];
                s1 += K[entry[t + 1]];
            }
            if (x != 0) grad[run.parameter] += (s0 + s1) / x;
            continue;
        }
        if (run.kind == 3) {
            for (ptrdiff_t g = run.parameter; g < terms.groupCount && terms.groups[g].start < hi; g++) {
                const efthf_term_run group = terms.groups[g];
                grad[group.parameter] += packed_group_sum(K, entry, logDerivative, group.start, group.end - group.start);
            }
            continue;
        }
        const double *ratio = run.kind == 1 && x == 0 && run.isFinite ? terms.firstCoefficient : logDerivative;
        // Lanes t mod 4 (runs have a multiple of four terms) in two sums, of the even and the odd
        // blocks of four (two dependency chains), then (s₀ + s₂) + (s₁ + s₃) of their sum: the Swift loop's.
        __m256d even = _mm256_setzero_pd(), odd = _mm256_setzero_pd();
        ptrdiff_t t = lo;
        for (; t + 8 <= hi; t += 8) {
            even = _mm256_add_pd(even, _mm256_mul_pd(gather4(K, entry, t), _mm256_loadu_pd(ratio + t)));
            odd = _mm256_add_pd(odd, _mm256_mul_pd(gather4(K, entry, t + 4), _mm256_loadu_pd(ratio + t + 4)));
        }
        if (t < hi) even = _mm256_add_pd(even, _mm256_mul_pd(gather4(K, entry, t), _mm256_loadu_pd(ratio + t)));
        grad[run.parameter] += lane_sum(_mm256_add_pd(even, odd));
    }
}

AVX void efthf_histo_forward_avx(efthf_histo_terms terms, const double *weights, double *target) {
    const double *up = terms.up, *down = terms.down;
    const int32_t *quadBin = terms.quadBin;
    for (ptrdiff_t i = 0; i < terms.runCount; i++) {
        const efthf_histo_run run = terms.runs[i];
        const double u = weights[4 * i], l = weights[4 * i + 1];
        if (u == 0 && l == 0 && run.isFinite) continue;  // Δ = 0 and B + 0 = B
        const __m256d U = _mm256_set1_pd(u), L = _mm256_set1_pd(l);
        for (ptrdiff_t q = run.quadStart; q < run.quadEnd; q++) {
            double *b = target + quadBin[q];
            _mm256_store_pd(b, _mm256_add_pd(_mm256_load_pd(b), _mm256_add_pd(_mm256_mul_pd(U, _mm256_load_pd(up + 4 * q)),
                                                                               _mm256_mul_pd(L, _mm256_load_pd(down + 4 * q)))));
        }
    }
}

AVX void efthf_histo_backward_avx(efthf_histo_terms terms, const double *weights, const double *scale, double *grad) {
    const double *up = terms.up, *down = terms.down;
    const int32_t *quadBin = terms.quadBin;
    for (ptrdiff_t i = 0; i < terms.runCount; i++) {
        const efthf_histo_run run = terms.runs[i];
        // Two sums each, of the run's even and odd quads (two dependency chains), as the Swift loop.
        __m256d upEven = _mm256_setzero_pd(), downEven = _mm256_setzero_pd(), upOdd = _mm256_setzero_pd(), downOdd = _mm256_setzero_pd();
        ptrdiff_t q = run.quadStart;
        for (; q + 2 <= run.quadEnd; q += 2) {
            const __m256d c = _mm256_load_pd(scale + quadBin[q]), d = _mm256_load_pd(scale + quadBin[q + 1]);
            upEven = _mm256_add_pd(upEven, _mm256_mul_pd(c, _mm256_load_pd(up + 4 * q)));
            downEven = _mm256_add_pd(downEven, _mm256_mul_pd(c, _mm256_load_pd(down + 4 * q)));
            upOdd = _mm256_add_pd(upOdd, _mm256_mul_pd(d, _mm256_load_pd(up + 4 * q + 4)));
            downOdd = _mm256_add_pd(downOdd, _mm256_mul_pd(d, _mm256_load_pd(down + 4 * q + 4)));
        }
        if (q < run.quadEnd) {
            const __m256d c = _mm256_load_pd(scale + quadBin[q]);
            upEven = _mm256_add_pd(upEven, _mm256_mul_pd(c, _mm256_load_pd(up + 4 * q)));
            downEven = _mm256_add_pd(downEven, _mm256_mul_pd(c, _mm256_load_pd(down + 4 * q)));
        }
        grad[run.parameter] += weights[4 * i + 2] * lane_sum(_mm256_add_pd(upEven, upOdd)) + weights[4 * i + 3] * lane_sum(_mm256_add_pd(downEven, downOdd));
    }
}

#else

int efthf_avx_fma_available(void) { return 0; }

// Unreachable: efthf_avx_fma_available() is 0 here.
void efthf_scalar_forward_avx(efthf_scalar_terms terms, const double *pars, double *product, double *logDerivative,
                              int wantGradient) {
    __builtin_trap();
}

void efthf_scalar_backward_avx(efthf_scalar_terms terms, const double *pars, const double *entryScale,
                               const double *logDerivative, double *grad) {
    __builtin_trap();
}

void efthf_histo_forward_avx(efthf_histo_terms terms, const double *weights, double *target) { __builtin_trap(); }

void efthf_histo_backward_avx(efthf_histo_terms terms, const double *weights, const double *scale, double *grad) {
    __builtin_trap();
}

#endif
