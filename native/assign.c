/* Nearest centroid of each row, fused: inner products and the running minimum are
 * computed in registers, so no n x k distance matrix is ever written.
 *
 * k-means assignment and the IVF coarse quantizer (nprobe = 1) spend their time here.
 * Centroids are packed into tiles of TILE columns (dimension-major, so one vector
 * load brings the i-th component of TILE centroids); each row block keeps
 * ROWS x TILE accumulators in registers. Padding centroids get +inf norms and never win.
 * The score minimised is |c|^2 - 2<x,c> (L2; |x|^2 is added at the end) or -<x,c> (IP);
 * ties go to the smaller centroid index on every path.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

static float score(float ip, float cnorm, int metric) { return metric == 1 ? -ip : cnorm - 2.f * ip; }

static void finish(const float *x, int64_t d, int metric, float best, int64_t best_j, int64_t *label,
                   float *dist) {
    *label = best_j;
    if (metric == 1) {
        *dist = -best;
    } else {
        float xn = 0.f;
        for (int64_t i = 0; i < d; i++) xn += x[i] * x[i];
        float v = xn + best;
        *dist = v < 0.f ? 0.f : v;
    }
}

static void assign_scalar(const float *x, int64_t n, int64_t d, const float *c, const float *cnorm,
                          int64_t k, int metric, int64_t *labels, float *dist) {
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * d;
        float best = INFINITY;
        int64_t best_j = -1;
        for (int64_t j = 0; j < k; j++) {
            float ip = 0.f;
            for (int64_t i = 0; i < d; i++) ip += xr[i] * c[j * d + i];
            float s = score(ip, cnorm[j], metric);
            if (s < best || best_j < 0) {
                best = s;
                best_j = j;
            }
        }
        finish(xr, d, metric, best, best_j, labels + r, dist + r);
    }
}

/* packed[t][i][l] = c[t*tile + l][i]; pnorm[t*tile + l] = norm (or +inf for padding). */
static void pack_tiles(const float *c, const float *cnorm, int64_t k, int64_t d, int64_t tile, int metric,
                       float *packed, float *pnorm) {
    int64_t ntiles = (k + tile - 1) / tile;
    memset(packed, 0, sizeof(float) * (size_t)(ntiles * tile * d));
    for (int64_t j = 0; j < ntiles * tile; j++) {
        int64_t t = j / tile, l = j % tile;
        if (j < k)
            for (int64_t i = 0; i < d; i++) packed[(t * d + i) * tile + l] = c[j * d + i];
        /* padding must lose for both metrics: IP scores are -ip = -0, so give them +inf via the norm
           slot, which the kernels add for both metrics */
        pnorm[j] = j < k ? (metric == 1 ? 0.f : cnorm[j]) : INFINITY;
    }
}

#if VT_X86
#define ROWS512 8
VT_TARGET_AVX512 static inline __attribute__((always_inline)) void
block_avx512(const float *x, int64_t d, int rows, const float *packed, const float *pnorm, int64_t ntiles,
             int metric, float *best, int64_t *best_j) {
    __m512 bv[ROWS512][2];
    __m512i bi[ROWS512][2];
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 m2 = _mm512_set1_ps(metric == 1 ? -1.f : -2.f);
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < 2; h++) {
            bv[r][h] = _mm512_set1_ps(INFINITY);
            bi[r][h] = _mm512_set1_epi32(0x7fffffff);
        }
    for (int64_t t = 0; t < ntiles; t++) {
        __m512 acc[ROWS512][2];
        for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        const float *p = packed + t * d * 32;
        for (int64_t i = 0; i < d; i++) {
            __m512 c0 = _mm512_loadu_ps(p + i * 32), c1 = _mm512_loadu_ps(p + i * 32 + 16);
            for (int r = 0; r < rows; r++) {
                __m512 xv = _mm512_set1_ps(x[r * d + i]);
                acc[r][0] = _mm512_fmadd_ps(xv, c0, acc[r][0]);
                acc[r][1] = _mm512_fmadd_ps(xv, c1, acc[r][1]);
            }
        }
        for (int h = 0; h < 2; h++) {
            __m512 nv = _mm512_loadu_ps(pnorm + t * 32 + h * 16);
            __m512i idx = _mm512_add_epi32(lane, _mm512_set1_epi32((int)(t * 32 + h * 16)));
            for (int r = 0; r < rows; r++) {
                __m512 s = _mm512_fmadd_ps(m2, acc[r][h], nv); /* norm - 2 ip, or 0 - ip */
                __mmask16 better = _mm512_cmp_ps_mask(s, bv[r][h], _CMP_LT_OQ);
                bv[r][h] = _mm512_mask_mov_ps(bv[r][h], better, s);
                bi[r][h] = _mm512_mask_mov_epi32(bi[r][h], better, idx);
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        __m512 v = _mm512_min_ps(bv[r][0], bv[r][1]);
        float m = _mm512_reduce_min_ps(v);
        __mmask16 e0 = _mm512_cmp_ps_mask(bv[r][0], _mm512_set1_ps(m), _CMP_EQ_OQ);
        __mmask16 e1 = _mm512_cmp_ps_mask(bv[r][1], _mm512_set1_ps(m), _CMP_EQ_OQ);
        int i0 = _mm512_mask_reduce_min_epi32(e0, bi[r][0]);
        int i1 = _mm512_mask_reduce_min_epi32(e1, bi[r][1]);
        best[r] = m;
        best_j[r] = i0 < i1 ? i0 : i1;
    }
}

VT_TARGET_AVX512 static void assign_avx512(const float *x, int64_t n, int64_t d, const float *packed,
                                           const float *pnorm, int64_t ntiles, int metric, int64_t *labels,
                                           float *dist) {
    float best[ROWS512];
    int64_t best_j[ROWS512];
    int64_t r0 = 0;
    for (; r0 + ROWS512 <= n; r0 += ROWS512) {
        block_avx512(x + r0 * d, d, ROWS512, packed, pnorm, ntiles, metric, best, best_j);
        for (int r = 0; r < ROWS512; r++)
            finish(x + (r0 + r) * d, d, metric, best[r], best_j[r], labels + r0 + r, dist + r0 + r);
    }
    for (; r0 < n; r0++) {
        block_avx512(x + r0 * d, d, 1, packed, pnorm, ntiles, metric, best, best_j);
        finish(x + r0 * d, d, metric, best[0], best_j[0], labels + r0, dist + r0);
    }
}

#define ROWS256 4
VT_TARGET_AVX2 static inline __attribute__((always_inline)) void
block_avx2(const float *x, int64_t d, int rows, const float *packed, const float *pnorm, int64_t ntiles,
           int metric, float *best, int64_t *best_j) {
    /* tiles of 16 = two 8-lane halves; per row, the best score and index per lane */
    __m256 bv[ROWS256][2];
    __m256i bi[ROWS256][2];
    const __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    const __m256 m2 = _mm256_set1_ps(metric == 1 ? -1.f : -2.f);
    for (int r = 0; r < rows; r++)
        for (int h = 0; h < 2; h++) {
            bv[r][h] = _mm256_set1_ps(INFINITY);
            bi[r][h] = _mm256_set1_epi32(0x7fffffff);
        }
    for (int64_t t = 0; t < ntiles; t++) {
        __m256 acc[ROWS256][2];
        for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        const float *p = packed + t * d * 16;
        for (int64_t i = 0; i < d; i++) {
            __m256 c0 = _mm256_loadu_ps(p + i * 16), c1 = _mm256_loadu_ps(p + i * 16 + 8);
            for (int r = 0; r < rows; r++) {
                __m256 xv = _mm256_set1_ps(x[r * d + i]);
                acc[r][0] = _mm256_fmadd_ps(xv, c0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(xv, c1, acc[r][1]);
            }
        }
        for (int h = 0; h < 2; h++) {
            __m256 nv = _mm256_loadu_ps(pnorm + t * 16 + h * 8);
            __m256i idx = _mm256_add_epi32(lane, _mm256_set1_epi32((int)(t * 16 + h * 8)));
            for (int r = 0; r < rows; r++) {
                __m256 s = _mm256_fmadd_ps(m2, acc[r][h], nv);
                __m256 better = _mm256_cmp_ps(s, bv[r][h], _CMP_LT_OQ);
                bv[r][h] = _mm256_blendv_ps(bv[r][h], s, better);
                bi[r][h] = _mm256_castps_si256(
                    _mm256_blendv_ps(_mm256_castsi256_ps(bi[r][h]), _mm256_castsi256_ps(idx), better));
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        float v[16];
        int32_t ix[16];
        _mm256_storeu_ps(v, bv[r][0]);
        _mm256_storeu_ps(v + 8, bv[r][1]);
        _mm256_storeu_si256((__m256i *)ix, bi[r][0]);
        _mm256_storeu_si256((__m256i *)(ix + 8), bi[r][1]);
        float m = v[0];
        int32_t mi = ix[0];
        for (int l = 1; l < 16; l++)
            if (v[l] < m || (v[l] == m && ix[l] < mi)) {
                m = v[l];
                mi = ix[l];
            }
        best[r] = m;
        best_j[r] = mi;
    }
}

VT_TARGET_AVX2 static void assign_avx2(const float *x, int64_t n, int64_t d, const float *packed,
                                       const float *pnorm, int64_t ntiles, int metric, int64_t *labels,
                                       float *dist) {
    float best[ROWS256];
    int64_t best_j[ROWS256];
    int64_t r0 = 0;
    for (; r0 + ROWS256 <= n; r0 += ROWS256) {
        block_avx2(x + r0 * d, d, ROWS256, packed, pnorm, ntiles, metric, best, best_j);
        for (int r = 0; r < ROWS256; r++)
            finish(x + (r0 + r) * d, d, metric, best[r], best_j[r], labels + r0 + r, dist + r0 + r);
    }
    for (; r0 < n; r0++) {
        block_avx2(x + r0 * d, d, 1, packed, pnorm, ntiles, metric, best, best_j);
        finish(x + r0 * d, d, metric, best[0], best_j[0], labels + r0, dist + r0);
    }
}
#endif

int vt_assign_nearest(const float *x, int64_t n, int64_t d, const float *c, const float *cnorm, int64_t k,
                      int metric, int64_t *labels, float *dist) {
    if (n < 0 || d <= 0 || k <= 0 || k >= 0x7fffffff) return -1;
    int level = vt_simd_level();
    if (level == VT_SCALAR || !VT_X86) {
        assign_scalar(x, n, d, c, cnorm, k, metric, labels, dist);
        return 0;
    }
#if VT_X86
    int64_t tile = level == VT_AVX512 ? 32 : 16;
    int64_t ntiles = (k + tile - 1) / tile;
    float *packed = malloc(sizeof(float) * (size_t)(ntiles * tile * d));
    float *pnorm = malloc(sizeof(float) * (size_t)(ntiles * tile));
    if (!packed || !pnorm) {
        free(packed);
        free(pnorm);
        return -2;
    }
    pack_tiles(c, cnorm, k, d, tile, metric, packed, pnorm);
    if (level == VT_AVX512)
        assign_avx512(x, n, d, packed, pnorm, ntiles, metric, labels, dist);
    else
        assign_avx2(x, n, d, packed, pnorm, ntiles, metric, labels, dist);
    free(packed);
    free(pnorm);
#endif
    return 0;
}
