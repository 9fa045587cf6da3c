/* Lookup tables of PQ and RQ codes: the distance (or inner product) of a query to every
 * codeword. The codewords are first transposed (dimension-major, codewords contiguous),
 * so the table is built by broadcasting one query component against many codewords: an
 * element-wise loop that vectorises over codewords, with no horizontal reductions. All
 * SIMD levels compute the same operations in the same order (no FMA contraction), so the
 * tables agree bit for bit with the scalar path.
 */
#include "vtool.h"
#include "internal.h"

/* PQ: (m, ksub, dsub) -> (m, dsub, ksub); RQ: (m * ksub, d) -> (d, m * ksub). */
void vt_lut_transpose(int kind, const float *codebooks, int64_t d, int64_t m, int64_t ksub, float *out) {
    if (kind == VT_SCAN_PQ) {
        int64_t dsub = d / m;
        for (int64_t j = 0; j < m; j++)
            for (int64_t c = 0; c < ksub; c++)
                for (int64_t t = 0; t < dsub; t++)
                    out[(j * dsub + t) * ksub + c] = codebooks[(j * ksub + c) * dsub + t];
    } else {
        for (int64_t c = 0; c < m * ksub; c++)
            for (int64_t t = 0; t < d; t++) out[t * m * ksub + c] = codebooks[c * d + t];
    }
}

/* out[c], c < w, from n query components q and a transposed table whose rows (one a
 * component) are `stride` apart: the sum of (q_t - row_t[c])^2 (l2), or minus the sum of
 * q_t row_t[c]. Each SIMD level keeps a block of columns in registers over the n rows and
 * stores it once; per element the operations and their order are the scalar loop's. */
typedef void (*rows_fn)(const float *q, int64_t n, const float *tab, int64_t stride, int64_t w, int l2, float *out);

static void rows_scalar(const float *q, int64_t n, const float *tab, int64_t stride, int64_t w, int l2, float *out) {
    for (int64_t c = 0; c < w; c++) {
        float acc = 0.f;
        for (int64_t t = 0; t < n; t++) {
            float r = tab[t * stride + c];
            if (l2) {
                float diff = q[t] - r;
                acc += diff * diff;
            } else {
                acc -= q[t] * r;
            }
        }
        out[c] = acc;
    }
}

#if VT_X86
#define ROWS_STEP_512(A, R)                                                 \
    if (l2) {                                                               \
        __m512 diff = _mm512_sub_ps(qt, R);                                 \
        A = _mm512_add_ps(A, _mm512_mul_ps(diff, diff));                    \
    } else {                                                                \
        A = _mm512_sub_ps(A, _mm512_mul_ps(qt, R));                         \
    }

VT_TARGET_AVX512 static inline __attribute__((always_inline)) void
rows_avx512_l(const float *q, int64_t n, const float *tab, int64_t stride, int64_t w, const int l2, float *out) {
    int64_t c0 = 0;
    for (; c0 + 64 <= w; c0 += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t t = 0; t < n; t++) {
            const __m512 qt = _mm512_set1_ps(q[t]);
            const float *row = tab + t * stride + c0;
            __m512 r0 = _mm512_loadu_ps(row), r1 = _mm512_loadu_ps(row + 16), r2 = _mm512_loadu_ps(row + 32),
                   r3 = _mm512_loadu_ps(row + 48);
            ROWS_STEP_512(a0, r0) ROWS_STEP_512(a1, r1) ROWS_STEP_512(a2, r2) ROWS_STEP_512(a3, r3)
        }
        _mm512_storeu_ps(out + c0, a0);
        _mm512_storeu_ps(out + c0 + 16, a1);
        _mm512_storeu_ps(out + c0 + 32, a2);
        _mm512_storeu_ps(out + c0 + 48, a3);
    }
    for (; c0 < w; c0 += 16) {
        const __mmask16 k = w - c0 >= 16 ? 0xffff : (__mmask16)((1u << (w - c0)) - 1);
        __m512 a0 = _mm512_setzero_ps();
        for (int64_t t = 0; t < n; t++) {
            const __m512 qt = _mm512_set1_ps(q[t]);
            __m512 r0 = _mm512_maskz_loadu_ps(k, tab + t * stride + c0);
            ROWS_STEP_512(a0, r0)
        }
        _mm512_mask_storeu_ps(out + c0, k, a0);
    }
}

VT_TARGET_AVX512 static void rows_avx512(const float *q, int64_t n, const float *tab, int64_t stride, int64_t w,
                                         int l2, float *out) {
    if (l2)
        rows_avx512_l(q, n, tab, stride, w, 1, out);
    else
        rows_avx512_l(q, n, tab, stride, w, 0, out);
}

#define ROWS_STEP_256(A, R)                                                 \
    if (l2) {                                                               \
        __m256 diff = _mm256_sub_ps(qt, R);                                 \
        A = _mm256_add_ps(A, _mm256_mul_ps(diff, diff));                    \
    } else {                                                                \
        A = _mm256_sub_ps(A, _mm256_mul_ps(qt, R));                         \
    }

VT_TARGET_AVX2 static inline __attribute__((always_inline)) void
rows_avx2_l(const float *q, int64_t n, const float *tab, int64_t stride, int64_t w, const int l2, float *out) {
    int64_t c0 = 0;
    for (; c0 + 32 <= w; c0 += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t t = 0; t < n; t++) {
            const __m256 qt = _mm256_set1_ps(q[t]);
            const float *row = tab + t * stride + c0;
            __m256 r0 = _mm256_loadu_ps(row), r1 = _mm256_loadu_ps(row + 8), r2 = _mm256_loadu_ps(row + 16),
                   r3 = _mm256_loadu_ps(row + 24);
            ROWS_STEP_256(a0, r0) ROWS_STEP_256(a1, r1) ROWS_STEP_256(a2, r2) ROWS_STEP_256(a3, r3)
        }
        _mm256_storeu_ps(out + c0, a0);
        _mm256_storeu_ps(out + c0 + 8, a1);
        _mm256_storeu_ps(out + c0 + 16, a2);
        _mm256_storeu_ps(out + c0 + 24, a3);
    }
    for (; c0 + 8 <= w; c0 += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int64_t t = 0; t < n; t++) {
            const __m256 qt = _mm256_set1_ps(q[t]);
            __m256 r0 = _mm256_loadu_ps(tab + t * stride + c0);
            ROWS_STEP_256(a0, r0)
        }
        _mm256_storeu_ps(out + c0, a0);
    }
    if (c0 < w) rows_scalar(q, n, tab + c0, stride, w - c0, l2, out + c0);
}

VT_TARGET_AVX2 static void rows_avx2(const float *q, int64_t n, const float *tab, int64_t stride, int64_t w, int l2,
                                     float *out) {
    if (l2)
        rows_avx2_l(q, n, tab, stride, w, 1, out);
    else
        rows_avx2_l(q, n, tab, stride, w, 0, out);
}
#endif

/* PQ: one table row per sub-quantizer, over its dsub components; RQ: -2 <q, codeword>
 * (L2) or -<q, codeword> (IP) over all d components. */
static void build(int kind, const float *qv, int64_t d, const float *cbt, int64_t m, int64_t ksub, int metric,
                  float *lut, rows_fn rows) {
    if (kind == VT_SCAN_PQ) {
        const int64_t dsub = d / m;
        for (int64_t j = 0; j < m; j++) rows(qv + j * dsub, dsub, cbt + j * dsub * ksub, ksub, ksub, metric != 1,
                                             lut + j * ksub);
        return;
    }
    const int64_t w = m * ksub;
    rows(qv, d, cbt, w, w, 0, lut);
    if (metric != 1)
        for (int64_t c = 0; c < w; c++) lut[c] *= 2.f;
}

void vt_lut_from_transposed(int kind, const float *qv, int64_t d, const float *cbt, int64_t m, int64_t ksub,
                            int metric, float *lut) {
    rows_fn rows = rows_scalar;
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: rows = rows_avx512; break;
    case VT_AVX2: rows = rows_avx2; break;
    }
#endif
    build(kind, qv, d, cbt, m, ksub, metric, lut, rows);
}
