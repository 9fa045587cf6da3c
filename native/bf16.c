/* bfloat16 distances: a component is the high 16 bits of a float32, so decoding is a shift
 * (no rounding). The scalar function is the reference. */
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

#define PREFETCH_ROWS 8 /* rows ahead: lists stream from L3 or memory faster than the prefetcher alone */

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
/* A 32-bit lane of codes holds components 2j (low half) and 2j+1 (high half): masking gives
 * the odd component as a float and a shift the even one, with no widening shuffle. The query
 * is split once into its even and odd components (xe, xo) to match. */
/* Lanes of codes v (pairs of components) against the query's even / odd parts, into acc. */
VT_TARGET_AVX512 static inline void bf16_acc512(__m512i v, __m512 ve, __m512 vo, int metric, __m512 *a0,
                                                __m512 *a1) {
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(v, high));
    __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    if (metric == 1) {
        *a0 = _mm512_fmadd_ps(ve, even, *a0);
        *a1 = _mm512_fmadd_ps(vo, odd, *a1);
    } else {
        __m512 te = _mm512_sub_ps(ve, even), to = _mm512_sub_ps(vo, odd);
        *a0 = _mm512_fmadd_ps(te, te, *a0);
        *a1 = _mm512_fmadd_ps(to, to, *a1);
    }
}

/* Two codes at a time, so each load of the query serves both. */
VT_TARGET_AVX512 static void bf16_ny_avx512(const float *xe, const float *xo, const float *x, const uint16_t *codes,
                                            int64_t n, int64_t d, int metric, float *out) {
    const int64_t pairs = d / 2, body = pairs & ~(int64_t)15;
    const __mmask16 m = (__mmask16)((1u << (pairs - body)) - 1u);
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
        const uint16_t *c0 = codes + j * d, *c1 = c0 + d;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), b0 = a0, b1 = a0;
        for (int64_t i = 0; i <= body; i += 16) {
            __mmask16 mk = i < body ? (__mmask16)0xffff : m;
            if (!mk) break;
            __m512 ve = _mm512_maskz_loadu_ps(mk, xe + i), vo = _mm512_maskz_loadu_ps(mk, xo + i);
            _mm_prefetch((const char *)(c0 + PREFETCH_ROWS * d + 2 * i), _MM_HINT_T0);
            _mm_prefetch((const char *)(c1 + PREFETCH_ROWS * d + 2 * i), _MM_HINT_T0);
            bf16_acc512(_mm512_maskz_loadu_epi32(mk, c0 + 2 * i), ve, vo, metric, &a0, &a1);
            bf16_acc512(_mm512_maskz_loadu_epi32(mk, c1 + 2 * i), ve, vo, metric, &b0, &b1);
        }
        out[j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + bf16_sum(x, c0, 2 * pairs, d, metric);
        out[j + 1] = _mm512_reduce_add_ps(_mm512_add_ps(b0, b1)) + bf16_sum(x, c1, 2 * pairs, d, metric);
    }
    for (; j < n; j++) {
        const uint16_t *c = codes + j * d;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        for (int64_t i = 0; i <= body; i += 16) {
            __mmask16 mk = i < body ? (__mmask16)0xffff : m;
            if (!mk) break;
            bf16_acc512(_mm512_maskz_loadu_epi32(mk, c + 2 * i), _mm512_maskz_loadu_ps(mk, xe + i),
                        _mm512_maskz_loadu_ps(mk, xo + i), metric, &a0, &a1);
        }
        out[j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + bf16_sum(x, c, 2 * pairs, d, metric);
    }
}

VT_TARGET_AVX2 static inline void bf16_acc256(__m256i v, __m256 ve, __m256 vo, int metric, __m256 *a0,
                                             __m256 *a1) {
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    __m256 odd = _mm256_castsi256_ps(_mm256_and_si256(v, high));
    __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    if (metric == 1) {
        *a0 = _mm256_fmadd_ps(ve, even, *a0);
        *a1 = _mm256_fmadd_ps(vo, odd, *a1);
    } else {
        __m256 te = _mm256_sub_ps(ve, even), to = _mm256_sub_ps(vo, odd);
        *a0 = _mm256_fmadd_ps(te, te, *a0);
        *a1 = _mm256_fmadd_ps(to, to, *a1);
    }
}

VT_TARGET_AVX2 static void bf16_ny_avx2(const float *xe, const float *xo, const float *x, const uint16_t *codes,
                                        int64_t n, int64_t d, int metric, float *out) {
    const int64_t pairs = d / 2, body = pairs & ~(int64_t)7;
    int64_t j = 0;
    for (; j + 2 <= n; j += 2) {
        const uint16_t *c0 = codes + j * d, *c1 = c0 + d;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
        for (int64_t i = 0; i < body; i += 8) {
            __m256 ve = _mm256_loadu_ps(xe + i), vo = _mm256_loadu_ps(xo + i);
            _mm_prefetch((const char *)(c0 + PREFETCH_ROWS * d + 2 * i), _MM_HINT_T0);
            _mm_prefetch((const char *)(c1 + PREFETCH_ROWS * d + 2 * i), _MM_HINT_T0);
            bf16_acc256(_mm256_loadu_si256((const __m256i *)(c0 + 2 * i)), ve, vo, metric, &a0, &a1);
            bf16_acc256(_mm256_loadu_si256((const __m256i *)(c1 + 2 * i)), ve, vo, metric, &b0, &b1);
        }
        out[j] = vt_hsum256(_mm256_add_ps(a0, a1)) + bf16_sum(x, c0, 2 * body, d, metric);
        out[j + 1] = vt_hsum256(_mm256_add_ps(b0, b1)) + bf16_sum(x, c1, 2 * body, d, metric);
    }
    for (; j < n; j++) {
        const uint16_t *c = codes + j * d;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8)
            bf16_acc256(_mm256_loadu_si256((const __m256i *)(c + 2 * i)), _mm256_loadu_ps(xe + i),
                        _mm256_loadu_ps(xo + i), metric, &a0, &a1);
        out[j] = vt_hsum256(_mm256_add_ps(a0, a1)) + bf16_sum(x, c, 2 * body, d, metric);
    }
}
#endif

void vt_bf16_ny(const float *x, const uint16_t *codes, int64_t n, int64_t d, int metric, float *out) {
#if VT_X86
    int level = vt_simd_level();
    if (level != VT_SCALAR) {
        float local[2048], *xe = d + 1 <= 2048 ? local : malloc(sizeof(float) * (size_t)(d + 1));
        if (!xe) return;
        float *xo = xe + (d + 1) / 2;
        for (int64_t i = 0; i < d / 2; i++) {
            xe[i] = x[2 * i];
            xo[i] = x[2 * i + 1];
        }
        if (level == VT_AVX512) bf16_ny_avx512(xe, xo, x, codes, n, d, metric, out);
        else bf16_ny_avx2(xe, xo, x, codes, n, d, metric, out);
        if (xe != local) free(xe);
        return;
    }
#endif
    bf16_ny_scalar(x, codes, n, d, metric, out);
}
