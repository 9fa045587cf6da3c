/* Squared norms of float32 rows accumulated in float64: the input check's one pass (a NaN or
 * Inf component makes its row's norm NaN or Inf, and no float32 row overflows float64; the
 * norm then decides whether distances could overflow float32). The scalar loop is the
 * reference the SIMD paths are tested against; they widen 8 floats a step into float64
 * lanes (two accumulators), which sums in another order: equal to a few ulps. */
#include "vtool.h"
#include "internal.h"

static void norms_f64_scalar(const float *x, int64_t n, int64_t d, double *out) {
    for (int64_t i = 0; i < n; i++, x += d) {
        double s = 0.0;
        for (int64_t k = 0; k < d; k++) s += (double)x[k] * (double)x[k];
        out[i] = s;
    }
}

#if VT_X86
VT_TARGET_AVX2 static void norms_f64_avx2(const float *x, int64_t n, int64_t d, double *out) {
    for (int64_t i = 0; i < n; i++, x += d) {
        __m256d a0 = _mm256_setzero_pd(), a1 = a0;
        int64_t k = 0;
        for (; k + 8 <= d; k += 8) {
            __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + k)), hi = _mm256_cvtps_pd(_mm_loadu_ps(x + k + 4));
            a0 = _mm256_fmadd_pd(lo, lo, a0);
            a1 = _mm256_fmadd_pd(hi, hi, a1);
        }
        __m256d a = _mm256_add_pd(a0, a1);
        __m128d h = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
        double s = _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
        for (; k < d; k++) s += (double)x[k] * (double)x[k];
        out[i] = s;
    }
}

VT_TARGET_AVX512 static void norms_f64_avx512(const float *x, int64_t n, int64_t d, double *out) {
    const int64_t tail = d & 15, body = d - tail;
    for (int64_t i = 0; i < n; i++, x += d) {
        __m512d a0 = _mm512_setzero_pd(), a1 = a0;
        for (int64_t k = 0; k < body; k += 16) {
            __m512d lo = _mm512_cvtps_pd(_mm256_loadu_ps(x + k)), hi = _mm512_cvtps_pd(_mm256_loadu_ps(x + k + 8));
            a0 = _mm512_fmadd_pd(lo, lo, a0);
            a1 = _mm512_fmadd_pd(hi, hi, a1);
        }
        if (tail) { /* masked loads: no read past the row */
            __m512d lo = _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)((1u << (tail < 8 ? tail : 8)) - 1u), x + body));
            __m512d hi = _mm512_cvtps_pd(_mm256_maskz_loadu_ps((__mmask8)((1u << (tail > 8 ? tail - 8 : 0)) - 1u),
                                                               x + body + 8));
            a0 = _mm512_fmadd_pd(lo, lo, a0);
            a1 = _mm512_fmadd_pd(hi, hi, a1);
        }
        out[i] = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    }
}
#endif

void vt_norms_sqr_f64(const float *x, int64_t n, int64_t d, double *out) {
#if VT_X86
    if (vt_simd_level() == VT_AVX512) {
        norms_f64_avx512(x, n, d, out);
        return;
    }
    if (vt_simd_level() == VT_AVX2) {
        norms_f64_avx2(x, n, d, out);
        return;
    }
#endif
    norms_f64_scalar(x, n, d, out);
}
