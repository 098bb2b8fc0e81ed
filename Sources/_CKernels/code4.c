// See include/_CKernels.h. Built without any compiler flag: the AVX function carries its own
// target attribute and is only called after `efthf_avx_available()` said yes.
#include "_CKernels.h"

// The Swift loop rounds every product and sum; so must this one (no contraction into FMA).
#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

int efthf_avx_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;  // XMM and YMM state saved by the OS
}

__attribute__((target("avx")))
void efthf_code4_run_avx(double x, const double *poly, ptrdiff_t planeStride, ptrdiff_t lo, ptrdiff_t hi,
                         const int32_t *entry, double *product, double *logDerivative, int wantGradient) {
    const double x2 = x * x, x3 = x2 * x, x4 = x2 * x2, x5 = x4 * x, x6 = x3 * x3;
    const double q2 = 2 * x, q3 = 3 * x2, q4 = 4 * x3, q5 = 5 * x4, q6 = 6 * x5;
    const double *a1 = poly, *a2 = poly + planeStride, *a3 = poly + 2 * planeStride;
    const double *a4 = poly + 3 * planeStride, *a5 = poly + 4 * planeStride, *a6 = poly + 5 * planeStride;
    const __m256d X1 = _mm256_set1_pd(x), X2 = _mm256_set1_pd(x2), X3 = _mm256_set1_pd(x3);
    const __m256d X4 = _mm256_set1_pd(x4), X5 = _mm256_set1_pd(x5), X6 = _mm256_set1_pd(x6);
    const __m256d Q2 = _mm256_set1_pd(q2), Q3 = _mm256_set1_pd(q3), Q4 = _mm256_set1_pd(q4);
    const __m256d Q5 = _mm256_set1_pd(q5), Q6 = _mm256_set1_pd(q6), one = _mm256_set1_pd(1);
    ptrdiff_t t = lo;
    for (; t + 4 <= hi; t += 4) {
        const __m256d c1 = _mm256_loadu_pd(a1 + t), c2 = _mm256_loadu_pd(a2 + t), c3 = _mm256_loadu_pd(a3 + t);
        const __m256d c4 = _mm256_loadu_pd(a4 + t), c5 = _mm256_loadu_pd(a5 + t), c6 = _mm256_loadu_pd(a6 + t);
        // ((c1 x + c2 x²) + (c3 x³ + c4 x⁴)) + ((c5 x⁵ + c6 x⁶) + 1)
        const __m256d f = _mm256_add_pd(
            _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(c1, X1), _mm256_mul_pd(c2, X2)),
                          _mm256_add_pd(_mm256_mul_pd(c3, X3), _mm256_mul_pd(c4, X4))),
            _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(c5, X5), _mm256_mul_pd(c6, X6)), one));
        if (wantGradient) {
            // ((c1 + c2 q2) + (c3 q3 + c4 q4)) + (c5 q5 + c6 q6)
            const __m256d df = _mm256_add_pd(
                _mm256_add_pd(_mm256_add_pd(c1, _mm256_mul_pd(c2, Q2)),
                              _mm256_add_pd(_mm256_mul_pd(c3, Q3), _mm256_mul_pd(c4, Q4))),
                _mm256_add_pd(_mm256_mul_pd(c5, Q5), _mm256_mul_pd(c6, Q6)));
            _mm256_storeu_pd(logDerivative + t, _mm256_div_pd(df, f));
        }
        double fv[4];
        _mm256_storeu_pd(fv, f);
        product[entry[t]] *= fv[0];
        product[entry[t + 1]] *= fv[1];
        product[entry[t + 2]] *= fv[2];
        product[entry[t + 3]] *= fv[3];
    }
    if (t < hi) {  // the last two terms, with the same operations on two lanes
        const __m128d c1 = _mm_loadu_pd(a1 + t), c2 = _mm_loadu_pd(a2 + t), c3 = _mm_loadu_pd(a3 + t);
        const __m128d c4 = _mm_loadu_pd(a4 + t), c5 = _mm_loadu_pd(a5 + t), c6 = _mm_loadu_pd(a6 + t);
        const __m128d f = _mm_add_pd(
            _mm_add_pd(_mm_add_pd(_mm_mul_pd(c1, _mm_set1_pd(x)), _mm_mul_pd(c2, _mm_set1_pd(x2))),
                       _mm_add_pd(_mm_mul_pd(c3, _mm_set1_pd(x3)), _mm_mul_pd(c4, _mm_set1_pd(x4)))),
            _mm_add_pd(_mm_add_pd(_mm_mul_pd(c5, _mm_set1_pd(x5)), _mm_mul_pd(c6, _mm_set1_pd(x6))), _mm_set1_pd(1)));
        if (wantGradient) {
            const __m128d df = _mm_add_pd(
                _mm_add_pd(_mm_add_pd(c1, _mm_mul_pd(c2, _mm_set1_pd(q2))),
                           _mm_add_pd(_mm_mul_pd(c3, _mm_set1_pd(q3)), _mm_mul_pd(c4, _mm_set1_pd(q4)))),
                _mm_add_pd(_mm_mul_pd(c5, _mm_set1_pd(q5)), _mm_mul_pd(c6, _mm_set1_pd(q6))));
            _mm_storeu_pd(logDerivative + t, _mm_div_pd(df, f));
        }
        double fv[2];
        _mm_storeu_pd(fv, f);
        product[entry[t]] *= fv[0];
        product[entry[t + 1]] *= fv[1];
    }
}

#else

int efthf_avx_available(void) { return 0; }

void efthf_code4_run_avx(double x, const double *poly, ptrdiff_t planeStride, ptrdiff_t lo, ptrdiff_t hi,
                         const int32_t *entry, double *product, double *logDerivative, int wantGradient) {
    __builtin_trap();  // unreachable: efthf_avx_available() is 0 here
}

#endif
