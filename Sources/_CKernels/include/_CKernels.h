// Hand-vectorised inner loops of the likelihood kernel for x86-64 CPUs with AVX, chosen at run
// time. Implementation detail of the HistFactory module: nothing here appears in a public Swift
// signature. The portable implementation of each loop is the Swift one in
// Sources/HistFactory/_LikelihoodKernel.swift; these give exactly the same doubles (same operations
// in the same order per term, no fused multiply-add), four terms per instruction instead of two.
#ifndef EFTHF_CKERNELS_H
#define EFTHF_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

/// 1 when the CPU and the operating system support AVX (CPUID.1:ECX.AVX and OSXSAVE, XCR0 enabling
/// the SSE and AVX states), else 0; always 0 on other architectures.
int efthf_avx_available(void);

/// One run of code4 scalar factors sharing α = `x`, terms `lo..<hi` (hi − lo even):
///
///     f_t = 1 + Σ_{k=1..6} a_kt xᵏ,   f_t' = Σ_k k a_kt xᵏ⁻¹,
///     product[entry[t]] *= f_t,       logDerivative[t] = f_t'/f_t (when wantGradient),
///
/// with a_kt at `poly[(k − 1)·planeStride + t]` and the sums taken in the tree order of the Swift
/// loop. Only call when `efthf_avx_available()` returned 1.
void efthf_code4_run_avx(double x, const double *poly, ptrdiff_t planeStride, ptrdiff_t lo, ptrdiff_t hi,
                         const int32_t *entry, double *product, double *logDerivative, int wantGradient);

#endif
