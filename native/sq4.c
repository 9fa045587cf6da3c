/* SQ4 distances: 4 bits per component (Faiss QT_4bit), two components a byte, the even
 * component in the low nibble. Component i decodes to vmin[i] + (code + 0.5) * step[i],
 * step = vdiff / 15. The query is prepared once per call as for SQ8 (codes.c): L2 uses
 * xs = x - vmin - step/2 and |xs - c * step|^2; IP uses a = x * step and bias = <x, vmin +
 * step/2>, bias + <a, c>. The scalar function is the reference.
 */
#include "vtool.h"
#include "internal.h"

#define PREFETCH_ROWS 8 /* rows ahead: lists stream from L3 or memory faster than the prefetcher alone */

static inline unsigned nibble(const uint8_t *c, int64_t i) { return (c[i >> 1] >> ((i & 1) << 2)) & 15u; }

/* Components from..d-1 of one code (the scalar path and the SIMD tails). */
static inline float sq4_sum(const float *xs, const uint8_t *c, const float *step, int64_t from, int64_t d,
                            int metric) {
    float s = 0.f;
    for (int64_t i = from; i < d; i++) {
        float v = (float)nibble(c, i);
        if (metric == 1) {
            s += xs[i] * v;
        } else {
            float t = xs[i] - v * step[i];
            s += t * t;
        }
    }
    return s;
}

static void sq4_ny_scalar(const float *xs, const uint8_t *codes, int64_t n, int64_t d, const float *step,
                          int metric, float bias, float *out) {
    const int64_t size = (d + 1) / 2;
    for (int64_t j = 0; j < n; j++) out[j] = bias + sq4_sum(xs, codes + j * size, step, 0, d, metric);
}

#if VT_X86
/* 16 components from 8 code bytes, as 16 bytes in component order. */
VT_TARGET_AVX2 static inline __m128i unpack16(__m128i bytes) {
    const __m128i low = _mm_set1_epi8(15);
    return _mm_unpacklo_epi8(_mm_and_si128(bytes, low), _mm_and_si128(_mm_srli_epi16(bytes, 4), low));
}

VT_TARGET_AVX512 static void sq4_ny_avx512(const float *xs, const uint8_t *codes, int64_t n, int64_t d,
                                           const float *step, int metric, float bias, float *out) {
    const int64_t size = (d + 1) / 2, body = d & ~(int64_t)15, tail = d - body;
    const __mmask16 m = (__mmask16)((1u << tail) - 1u);
    const __mmask16 mbytes = (__mmask16)((1u << ((tail + 1) / 2)) - 1u);
    for (int64_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * size;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= body; i += 32) {
            _mm_prefetch((const char *)(c + PREFETCH_ROWS * size + i / 2), _MM_HINT_T0);
            __m128i b = _mm_loadu_si128((const __m128i *)(c + i / 2));
            const __m128i low = _mm_set1_epi8(15);
            __m128i lo = _mm_and_si128(b, low), hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
            __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)));
            __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpackhi_epi8(lo, hi)));
            if (metric == 1) {
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xs + i), c0, a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xs + i + 16), c1, a1);
            } else {
                __m512 t0 = _mm512_fnmadd_ps(c0, _mm512_loadu_ps(step + i), _mm512_loadu_ps(xs + i));
                __m512 t1 = _mm512_fnmadd_ps(c1, _mm512_loadu_ps(step + i + 16), _mm512_loadu_ps(xs + i + 16));
                a0 = _mm512_fmadd_ps(t0, t0, a0);
                a1 = _mm512_fmadd_ps(t1, t1, a1);
            }
        }
        for (; i < d; i += 16) {
            int full = i < body;
            __mmask16 mk = full ? (__mmask16)0xffff : m;
            __m128i b = full ? _mm_loadl_epi64((const __m128i *)(c + i / 2)) : _mm_maskz_loadu_epi8(mbytes, c + i / 2);
            __m512 cv = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(unpack16(b)));
            if (metric == 1) {
                a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, xs + i), cv, a0);
            } else {
                __m512 t = _mm512_fnmadd_ps(cv, _mm512_maskz_loadu_ps(mk, step + i), _mm512_maskz_loadu_ps(mk, xs + i));
                a0 = _mm512_fmadd_ps(t, t, a0);
            }
        }
        out[j] = bias + _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

VT_TARGET_AVX2 static void sq4_ny_avx2(const float *xs, const uint8_t *codes, int64_t n, int64_t d,
                                       const float *step, int metric, float bias, float *out) {
    const int64_t size = (d + 1) / 2, body = d & ~(int64_t)15;
    for (int64_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * size;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 16) {
            _mm_prefetch((const char *)(c + PREFETCH_ROWS * size + i / 2), _MM_HINT_T0);
            __m128i comp = unpack16(_mm_loadl_epi64((const __m128i *)(c + i / 2)));
            __m256 c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(comp));
            __m256 c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(comp, 8)));
            if (metric == 1) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xs + i), c0, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xs + i + 8), c1, a1);
            } else {
                __m256 t0 = _mm256_fnmadd_ps(c0, _mm256_loadu_ps(step + i), _mm256_loadu_ps(xs + i));
                __m256 t1 = _mm256_fnmadd_ps(c1, _mm256_loadu_ps(step + i + 8), _mm256_loadu_ps(xs + i + 8));
                a0 = _mm256_fmadd_ps(t0, t0, a0);
                a1 = _mm256_fmadd_ps(t1, t1, a1);
            }
        }
        out[j] = bias + vt_hsum256(_mm256_add_ps(a0, a1)) + sq4_sum(xs, c, step, body, d, metric);
    }
}
#endif

void vt_sq4_ny(const float *x, const uint8_t *codes, int64_t n, int64_t d, const float *vmin, const float *step,
               int metric, float *out) {
#if VT_X86
    static const vt_sq_kernel kernels[3] = {sq4_ny_scalar, sq4_ny_avx2, sq4_ny_avx512};
#else
    static const vt_sq_kernel kernels[3] = {sq4_ny_scalar, sq4_ny_scalar, sq4_ny_scalar};
#endif
    vt_sq_run(x, codes, n, d, vmin, step, metric, out, kernels);
}
