/* Nearest centroid(s) of each row, fused: inner products and the running minimum (or the
 * nprobe nearest, in a heap per row) are computed in registers, so no n x k distance
 * matrix is ever written.
 *
 * k-means assignment and the IVF coarse quantizer spend their time here.
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

static float row_norm(const float *x, int64_t d) {
    float xn = 0.f;
    for (int64_t i = 0; i < d; i++) xn += x[i] * x[i];
    return xn;
}

/* A row's distance from its score: |x|^2 + score clamped at 0 (L2), or the score, -ip. */
static float distance(float xn, float s, int metric) {
    if (metric == 1) return s;
    float v = xn + s;
    return v < 0.f ? 0.f : v;
}

static void finish(const float *x, int64_t d, int metric, float best, int64_t best_j, int64_t *label,
                   float *dist) {
    *label = best_j;
    *dist = metric == 1 ? -best : distance(row_norm(x, d), best, metric);
}

/* The nprobe nearest of each row into its heap (hd, hi: n x nprobe, initialised). */
static void topn_scalar(const float *x, int64_t n, int64_t d, const float *c, const float *cnorm, int64_t k,
                        int metric, int64_t nprobe, float *hd, int64_t *hi) {
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * d;
        float xn = metric == 1 ? 0.f : row_norm(xr, d);
        for (int64_t j = 0; j < k; j++) {
            float ip = 0.f;
            for (int64_t i = 0; i < d; i++) ip += xr[i] * c[j * d + i];
            vt_heap_push(hd + r * nprobe, hi + r * nprobe, nprobe, distance(xn, score(ip, cnorm[j], metric), metric), j);
        }
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
#define ROWS512 12 /* 24 accumulators and 2 centroid vectors of the 32 registers (8 rows: 100-120 GFLOP/s, 12: 160) */
/* Inner products of `rows` rows with the 32 centroids of a packed tile. */
VT_TARGET_AVX512 static inline __attribute__((always_inline)) void
tile_avx512(const float *x, int64_t d, int rows, const float *p, __m512 acc[ROWS512][2]) {
    for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t i = 0; i < d; i++) {
        __m512 c0 = _mm512_loadu_ps(p + i * 32), c1 = _mm512_loadu_ps(p + i * 32 + 16);
        for (int r = 0; r < rows; r++) {
            __m512 xv = _mm512_set1_ps(x[r * d + i]);
            acc[r][0] = _mm512_fmadd_ps(xv, c0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(xv, c1, acc[r][1]);
        }
    }
}

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
        tile_avx512(x, d, rows, packed + t * d * 32, acc);
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
    for (int64_t r0 = 0; r0 < n;) {
        /* blocks of a constant height (each call its own unrolled copy): 12 rows, then a tail
           of 8, 4 and single rows (a chunk of 250 queries left 10 rows, at a quarter the speed
           one by one) */
        int rows = n - r0 >= ROWS512 ? ROWS512 : n - r0 >= 8 ? 8 : n - r0 >= 4 ? 4 : 1;
        if (rows == ROWS512) block_avx512(x + r0 * d, d, ROWS512, packed, pnorm, ntiles, metric, best, best_j);
        else if (rows == 8) block_avx512(x + r0 * d, d, 8, packed, pnorm, ntiles, metric, best, best_j);
        else if (rows == 4) block_avx512(x + r0 * d, d, 4, packed, pnorm, ntiles, metric, best, best_j);
        else block_avx512(x + r0 * d, d, 1, packed, pnorm, ntiles, metric, best, best_j);
        for (int r = 0; r < rows; r++)
            finish(x + (r0 + r) * d, d, metric, best[r], best_j[r], labels + r0 + r, dist + r0 + r);
        r0 += rows;
    }
}

/* Rows of a block scored against every tile; the lanes at or below a row's worst kept
 * distance go to its heap in order (the same pushes as the scalar loop). */
VT_TARGET_AVX512 static inline __attribute__((always_inline)) void
topn_block_avx512(const float *x, int64_t d, int rows, const float *packed, const float *pnorm, int64_t ntiles,
                  int64_t k, int metric, int64_t nprobe, float *hd, int64_t *hi) {
    const __m512 m2 = _mm512_set1_ps(metric == 1 ? -1.f : -2.f), zero = _mm512_setzero_ps();
    __m512 xn[ROWS512];
    for (int r = 0; r < rows; r++) xn[r] = _mm512_set1_ps(metric == 1 ? 0.f : row_norm(x + r * d, d));
    for (int64_t t = 0; t < ntiles; t++) {
        __m512 acc[ROWS512][2];
        tile_avx512(x, d, rows, packed + t * d * 32, acc);
        for (int h = 0; h < 2; h++) {
            int64_t j0 = t * 32 + h * 16;
            if (j0 >= k) break;
            __mmask16 valid = k - j0 >= 16 ? 0xffff : (__mmask16)((1u << (k - j0)) - 1);
            __m512 nv = _mm512_loadu_ps(pnorm + j0);
            for (int r = 0; r < rows; r++) {
                __m512 s = _mm512_fmadd_ps(m2, acc[r][h], nv);
                if (metric != 1) s = _mm512_max_ps(zero, _mm512_add_ps(xn[r], s));
                float *h0 = hd + r * nprobe;
                unsigned mask = _mm512_mask_cmp_ps_mask(valid, s, _mm512_set1_ps(h0[0]), _CMP_LE_OQ);
                if (!mask) continue;
                float dd[16];
                _mm512_storeu_ps(dd, s);
                vt_push_masked(h0, hi + r * nprobe, nprobe, dd, mask, j0);
            }
        }
    }
}

VT_TARGET_AVX512 static void topn_avx512(const float *x, int64_t n, int64_t d, const float *packed,
                                         const float *pnorm, int64_t ntiles, int64_t k, int metric, int64_t nprobe,
                                         float *hd, int64_t *hi) {
    for (int64_t r0 = 0; r0 < n;) { /* 12 rows a block, then a tail of 8, 4 and single rows (see assign_avx512) */
        int rows = n - r0 >= ROWS512 ? ROWS512 : n - r0 >= 8 ? 8 : n - r0 >= 4 ? 4 : 1;
        float *h = hd + r0 * nprobe;
        int64_t *hx = hi + r0 * nprobe;
        if (rows == ROWS512) topn_block_avx512(x + r0 * d, d, ROWS512, packed, pnorm, ntiles, k, metric, nprobe, h, hx);
        else if (rows == 8) topn_block_avx512(x + r0 * d, d, 8, packed, pnorm, ntiles, k, metric, nprobe, h, hx);
        else if (rows == 4) topn_block_avx512(x + r0 * d, d, 4, packed, pnorm, ntiles, k, metric, nprobe, h, hx);
        else topn_block_avx512(x + r0 * d, d, 1, packed, pnorm, ntiles, k, metric, nprobe, h, hx);
        r0 += rows;
    }
}

#define ROWS256 6 /* 12 accumulators, 2 centroid vectors and a broadcast of the 16 registers */
/* Inner products of `rows` rows with the 16 centroids of a packed tile. */
VT_TARGET_AVX2 static inline __attribute__((always_inline)) void
tile_avx2(const float *x, int64_t d, int rows, const float *p, __m256 acc[ROWS256][2]) {
    for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t i = 0; i < d; i++) {
        __m256 c0 = _mm256_loadu_ps(p + i * 16), c1 = _mm256_loadu_ps(p + i * 16 + 8);
        for (int r = 0; r < rows; r++) {
            __m256 xv = _mm256_set1_ps(x[r * d + i]);
            acc[r][0] = _mm256_fmadd_ps(xv, c0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(xv, c1, acc[r][1]);
        }
    }
}

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
        tile_avx2(x, d, rows, packed + t * d * 16, acc);
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
    for (int64_t r0 = 0; r0 < n;) { /* 6 rows a block, then a tail of 4 and single rows (see assign_avx512) */
        int rows = n - r0 >= ROWS256 ? ROWS256 : n - r0 >= 4 ? 4 : 1;
        if (rows == ROWS256) block_avx2(x + r0 * d, d, ROWS256, packed, pnorm, ntiles, metric, best, best_j);
        else if (rows == 4) block_avx2(x + r0 * d, d, 4, packed, pnorm, ntiles, metric, best, best_j);
        else block_avx2(x + r0 * d, d, 1, packed, pnorm, ntiles, metric, best, best_j);
        for (int r = 0; r < rows; r++)
            finish(x + (r0 + r) * d, d, metric, best[r], best_j[r], labels + r0 + r, dist + r0 + r);
        r0 += rows;
    }
}
VT_TARGET_AVX2 static inline __attribute__((always_inline)) void
topn_block_avx2(const float *x, int64_t d, int rows, const float *packed, const float *pnorm, int64_t ntiles,
                int64_t k, int metric, int64_t nprobe, float *hd, int64_t *hi) {
    const __m256 m2 = _mm256_set1_ps(metric == 1 ? -1.f : -2.f), zero = _mm256_setzero_ps();
    const __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    __m256 xn[ROWS256];
    for (int r = 0; r < rows; r++) xn[r] = _mm256_set1_ps(metric == 1 ? 0.f : row_norm(x + r * d, d));
    for (int64_t t = 0; t < ntiles; t++) {
        __m256 acc[ROWS256][2];
        tile_avx2(x, d, rows, packed + t * d * 16, acc);
        for (int h = 0; h < 2; h++) {
            int64_t j0 = t * 16 + h * 8;
            if (j0 >= k) break;
            __m256 valid = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k - j0)), lane));
            __m256 nv = _mm256_loadu_ps(pnorm + j0);
            for (int r = 0; r < rows; r++) {
                __m256 s = _mm256_fmadd_ps(m2, acc[r][h], nv);
                if (metric != 1) s = _mm256_max_ps(zero, _mm256_add_ps(xn[r], s));
                float *h0 = hd + r * nprobe;
                __m256 pass = _mm256_and_ps(valid, _mm256_cmp_ps(s, _mm256_set1_ps(h0[0]), _CMP_LE_OQ));
                unsigned mask = (unsigned)_mm256_movemask_ps(pass);
                if (!mask) continue;
                float dd[8];
                _mm256_storeu_ps(dd, s);
                vt_push_masked(h0, hi + r * nprobe, nprobe, dd, mask, j0);
            }
        }
    }
}

VT_TARGET_AVX2 static void topn_avx2(const float *x, int64_t n, int64_t d, const float *packed, const float *pnorm,
                                     int64_t ntiles, int64_t k, int metric, int64_t nprobe, float *hd, int64_t *hi) {
    for (int64_t r0 = 0; r0 < n;) { /* 6 rows a block, then a tail of 4 and single rows */
        int rows = n - r0 >= ROWS256 ? ROWS256 : n - r0 >= 4 ? 4 : 1;
        float *h = hd + r0 * nprobe;
        int64_t *hx = hi + r0 * nprobe;
        if (rows == ROWS256) topn_block_avx2(x + r0 * d, d, ROWS256, packed, pnorm, ntiles, k, metric, nprobe, h, hx);
        else if (rows == 4) topn_block_avx2(x + r0 * d, d, 4, packed, pnorm, ntiles, k, metric, nprobe, h, hx);
        else topn_block_avx2(x + r0 * d, d, 1, packed, pnorm, ntiles, k, metric, nprobe, h, hx);
        r0 += rows;
    }
}
#endif

/* Centroids packed for the SIMD level's tiles (NULL tiles when the scalar path runs). */
typedef struct {
    int level;
    int64_t ntiles;
    float *packed, *pnorm;
} tiles;

static int tiles_make(tiles *t, const float *c, const float *cnorm, int64_t k, int64_t d, int metric) {
    t->level = VT_X86 ? vt_simd_level() : VT_SCALAR;
    t->packed = t->pnorm = NULL;
    t->ntiles = 0;
    if (t->level == VT_SCALAR) return 0;
    int64_t tile = t->level == VT_AVX512 ? 32 : 16;
    t->ntiles = (k + tile - 1) / tile;
    t->packed = malloc(sizeof(float) * (size_t)(t->ntiles * tile * d));
    t->pnorm = malloc(sizeof(float) * (size_t)(t->ntiles * tile));
    if (!t->packed || !t->pnorm) {
        free(t->packed);
        free(t->pnorm);
        return -2;
    }
    pack_tiles(c, cnorm, k, d, tile, metric, t->packed, t->pnorm);
    return 0;
}

static void tiles_free(tiles *t) {
    free(t->packed);
    free(t->pnorm);
}

int vt_assign_nearest(const float *x, int64_t n, int64_t d, const float *c, const float *cnorm, int64_t k,
                      int metric, int64_t *labels, float *dist) {
    if (n < 0 || d <= 0 || k <= 0 || k >= 0x7fffffff) return -1;
    tiles t;
    if (tiles_make(&t, c, cnorm, k, d, metric)) return -2;
    if (t.level == VT_SCALAR) assign_scalar(x, n, d, c, cnorm, k, metric, labels, dist);
#if VT_X86
    else if (t.level == VT_AVX512) assign_avx512(x, n, d, t.packed, t.pnorm, t.ntiles, metric, labels, dist);
    else assign_avx2(x, n, d, t.packed, t.pnorm, t.ntiles, metric, labels, dist);
#endif
    tiles_free(&t);
    return 0;
}

/* The probe's distances, computed directly from each row and its chosen centroids (|x|^2 +
 * |c|^2 - 2<x,c> loses digits to cancellation, and a by-residual scan adds the coarse
 * distance to every result), then the row's centroids put in that order (a heap's, any
 * order before; empty slots last). */
static void exact_order(const float *x, int64_t n, int64_t d, const float *c, int metric, int64_t nprobe,
                        int64_t *labels, float *dist) {
    for (int64_t r = 0; r < n; r++) {
        int64_t *lr = labels + r * nprobe;
        float *dr = dist + r * nprobe;
        int64_t kept = 0;
        for (int64_t j = 0; j < nprobe; j++)
            if (lr[j] >= 0) lr[kept++] = lr[j];
        for (int64_t j = kept; j < nprobe; j++) {
            lr[j] = -1;
            dr[j] = INFINITY;
        }
        vt_dist_rows64_raw(x + r * d, c, lr, kept, d, metric, dr);
        if (metric == 1)
            for (int64_t j = 0; j < kept; j++) dr[j] = -dr[j];
        vt_insertion_sort(dr, lr, kept);
    }
}

/* Centroids packed once for a run of probes (an IVF search's chunks share them): the
 * tiles of the SIMD level in use when made, and the caller's centroids and norms. */
struct vt_centroid_tiles {
    tiles t;
    const float *c, *cnorm;
    int64_t k, d;
    int metric;
};

vt_centroid_tiles *vt_centroid_tiles_new(const float *c, const float *cnorm, int64_t k, int64_t d, int metric) {
    if (d <= 0 || k <= 0 || k >= 0x7fffffff) return NULL;
    vt_centroid_tiles *ct = calloc(1, sizeof *ct);
    if (!ct) return NULL;
    if (tiles_make(&ct->t, c, cnorm, k, d, metric)) {
        free(ct);
        return NULL;
    }
    ct->c = c;
    ct->cnorm = cnorm;
    ct->k = k;
    ct->d = d;
    ct->metric = metric;
    return ct;
}

void vt_centroid_tiles_free(vt_centroid_tiles *ct) {
    if (!ct) return;
    tiles_free(&ct->t);
    free(ct);
}

int vt_probe_tiles(const vt_centroid_tiles *ct, const float *x, int64_t n, int64_t nprobe, int64_t *labels,
                   float *dist) {
    if (!ct || n < 0 || nprobe <= 0) return -1;
    const tiles *t = &ct->t;
    const float *c = ct->c, *cnorm = ct->cnorm;
    const int64_t k = ct->k, d = ct->d;
    const int metric = ct->metric;
    if (nprobe == 1) {
        if (t->level == VT_SCALAR) assign_scalar(x, n, d, c, cnorm, k, metric, labels, dist);
#if VT_X86
        else if (t->level == VT_AVX512) assign_avx512(x, n, d, t->packed, t->pnorm, t->ntiles, metric, labels, dist);
        else assign_avx2(x, n, d, t->packed, t->pnorm, t->ntiles, metric, labels, dist);
#endif
    } else {
        vt_heap_init(dist, labels, n, nprobe);
        if (t->level == VT_SCALAR) topn_scalar(x, n, d, c, cnorm, k, metric, nprobe, dist, labels);
#if VT_X86
        else if (t->level == VT_AVX512)
            topn_avx512(x, n, d, t->packed, t->pnorm, t->ntiles, k, metric, nprobe, dist, labels);
        else topn_avx2(x, n, d, t->packed, t->pnorm, t->ntiles, k, metric, nprobe, dist, labels);
#endif
    }
    exact_order(x, n, d, c, metric, nprobe, labels, dist);
    return 0;
}

int vt_nearest_centroids(const float *x, int64_t n, int64_t d, const float *c, const float *cnorm, int64_t k,
                         int metric, int64_t nprobe, int64_t *labels, float *dist) {
    if (n < 0 || d <= 0 || k <= 0 || k >= 0x7fffffff || nprobe <= 0) return -1;
    vt_centroid_tiles *ct = vt_centroid_tiles_new(c, cnorm, k, d, metric);
    if (!ct) return -2;
    int rc = vt_probe_tiles(ct, x, n, nprobe, labels, dist);
    vt_centroid_tiles_free(ct);
    return rc;
}
