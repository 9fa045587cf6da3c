/* bfloat16 distances: a component is the high 16 bits of a float32, so decoding is a shift
 * (no rounding). The scalar function is the reference. */
#include <string.h>
#include "vtool.h"
#include "internal.h"

static inline float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float bf16_sum(const float *x, const uint16_t *c, int64_t from, int64_t d, int metric) {
    float s = 0.f;
    for (int64_t i = from; i < d; i++) {
        float v = bf16_to_float(c[i]);
        s += metric == 1 ? x[i] * v : (x[i] - v) * (x[i] - v);
    }
    return s;
}

static void bf16_ny_scalar(const float *x, const uint16_t *codes, int64_t n, int64_t d, int metric, float *out) {
    for (int64_t j = 0; j < n; j++) out[j] = bf16_sum(x, codes + j * d, 0, d, metric);
}

#if VT_X86
VT_TARGET_AVX512 static void bf16_ny_avx512(const float *x, const uint16_t *codes, int64_t n, int64_t d,
                                            int metric, float *out) {
    const int64_t tail = d & 15, body = d - tail;
    const __mmask16 m = (__mmask16)((1u << tail) - 1u);
    for (int64_t j = 0; j < n; j++) {
        const uint16_t *c = codes + j * d;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= body; i += 32) {
            __m512 v0 = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(c + i))), 16));
            __m512 v1 = _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(c + i + 16))), 16));
            __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
            if (metric == 1) {
                a0 = _mm512_fmadd_ps(x0, v0, a0);
                a1 = _mm512_fmadd_ps(x1, v1, a1);
            } else {
                __m512 t0 = _mm512_sub_ps(x0, v0), t1 = _mm512_sub_ps(x1, v1);
                a0 = _mm512_fmadd_ps(t0, t0, a0);
                a1 = _mm512_fmadd_ps(t1, t1, a1);
            }
        }
        for (; i < d; i += 16) {
            __mmask16 mk = i < body ? (__mmask16)0xffff : m;
            __m512 v = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, c + i)), 16));
            __m512 xv = _mm512_maskz_loadu_ps(mk, x + i);
            if (metric == 1) {
                a0 = _mm512_fmadd_ps(xv, v, a0);
            } else {
                __m512 t = _mm512_sub_ps(xv, v);
                a0 = _mm512_fmadd_ps(t, t, a0);
            }
        }
        out[j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

VT_TARGET_AVX2 static void bf16_ny_avx2(const float *x, const uint16_t *codes, int64_t n, int64_t d, int metric,
                                        float *out) {
    const int64_t body = d & ~(int64_t)15;
    for (int64_t j = 0; j < n; j++) {
        const uint16_t *c = codes + j * d;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 16) {
            __m256 v0 = _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(c + i))), 16));
            __m256 v1 = _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(c + i + 8))), 16));
            __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
            if (metric == 1) {
                a0 = _mm256_fmadd_ps(x0, v0, a0);
                a1 = _mm256_fmadd_ps(x1, v1, a1);
            } else {
                __m256 t0 = _mm256_sub_ps(x0, v0), t1 = _mm256_sub_ps(x1, v1);
                a0 = _mm256_fmadd_ps(t0, t0, a0);
                a1 = _mm256_fmadd_ps(t1, t1, a1);
            }
        }
        out[j] = vt_hsum256(_mm256_add_ps(a0, a1)) + bf16_sum(x, c, body, d, metric);
    }
}
#endif

void vt_bf16_ny(const float *x, const uint16_t *codes, int64_t n, int64_t d, int metric, float *out) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: bf16_ny_avx512(x, codes, n, d, metric, out); return;
    case VT_AVX2: bf16_ny_avx2(x, codes, n, d, metric, out); return;
    }
#endif
    bf16_ny_scalar(x, codes, n, d, metric, out);
}
