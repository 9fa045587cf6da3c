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

#define LUT_BODY                                                                          \
    if (kind == VT_SCAN_PQ) {                                                              \
        int64_t dsub = d / m;                                                             \
        for (int64_t j = 0; j < m; j++) {                                                 \
            float *out = lut + j * ksub;                                                  \
            for (int64_t c = 0; c < ksub; c++) out[c] = 0.f;                              \
            for (int64_t t = 0; t < dsub; t++) {                                          \
                const float qt = qv[j * dsub + t], *row = cbt + (j * dsub + t) * ksub;    \
                if (metric == 1)                                                          \
                    for (int64_t c = 0; c < ksub; c++) out[c] -= qt * row[c];             \
                else                                                                      \
                    for (int64_t c = 0; c < ksub; c++) {                                  \
                        float diff = qt - row[c];                                         \
                        out[c] += diff * diff;                                            \
                    }                                                                     \
            }                                                                             \
        }                                                                                 \
    } else { /* RQ: -2 <q, codeword> (L2) or -<q, codeword> (IP) */                      \
        int64_t w = m * ksub;                                                             \
        for (int64_t c = 0; c < w; c++) lut[c] = 0.f;                                     \
        for (int64_t t = 0; t < d; t++) {                                                 \
            const float qt = qv[t], *row = cbt + t * w;                                   \
            for (int64_t c = 0; c < w; c++) lut[c] += qt * row[c];                        \
        }                                                                                 \
        const float f = metric == 1 ? -1.f : -2.f;                                        \
        for (int64_t c = 0; c < w; c++) lut[c] *= f;                                      \
    }

static void lut_scalar(int kind, const float *qv, int64_t d, const float *cbt, int64_t m, int64_t ksub, int metric,
                       float *lut) {
    LUT_BODY
}

#if VT_X86
VT_TARGET_AVX2 static void lut_avx2(int kind, const float *qv, int64_t d, const float *cbt, int64_t m, int64_t ksub,
                                    int metric, float *lut) {
    LUT_BODY
}

VT_TARGET_AVX512 static void lut_avx512(int kind, const float *qv, int64_t d, const float *cbt, int64_t m,
                                        int64_t ksub, int metric, float *lut) {
    LUT_BODY
}
#endif

void vt_lut_from_transposed(int kind, const float *qv, int64_t d, const float *cbt, int64_t m, int64_t ksub,
                            int metric, float *lut) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: lut_avx512(kind, qv, d, cbt, m, ksub, metric, lut); return;
    case VT_AVX2: lut_avx2(kind, qv, d, cbt, m, ksub, metric, lut); return;
    }
#endif
    lut_scalar(kind, qv, d, cbt, m, ksub, metric, lut);
}
