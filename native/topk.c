/* Top-k selection: max-heaps of k (distance, id) pairs, and blocks of distances or inner
 * products folded into a top-k collector (collect.c: a heap, or a reservoir from k = 20).
 *
 * Exact k-NN and k-means assignment compute inner products with BLAS (numpy) in blocks,
 * then fold each block in here, turning inner products into distances on the fly so no
 * distance matrix is ever materialised twice.
 */
#include <math.h>
#include "vtool.h"
#include "internal.h"

void vt_heap_init(float *hd, int64_t *hi, int64_t nq, int64_t k) {
    for (int64_t i = 0; i < nq * k; i++) {
        hd[i] = INFINITY;
        hi[i] = -1;
    }
}

/* One query's row of inner products into its top-k: distance qn + |b|^2 - 2 ip (clamped at
 * 0: rounding can push an exact match below it) or -ip. The SIMD paths compare 16 (8)
 * distances with the collector's threshold at once and offer the ones that pass in order, so
 * the top-k sees the same offers as the scalar loop. */
static inline float fold_dist(const float *row, int64_t j, float qn, const float *bnorm, int metric) {
    if (metric == 1) return -row[j];
    float d = qn + bnorm[j] - 2.f * row[j];
    return d < 0.f ? 0.f : d;
}

static void fold_scalar(vt_collector *c, int64_t q, const float *row, int64_t nb, int64_t id0, float qn,
                        const float *bnorm, int metric) {
    for (int64_t j = 0; j < nb; j++) {
        float d = fold_dist(row, j, qn, bnorm, metric);
        if (d <= vt_collector_threshold(c, q)) vt_collector_push(c, q, d, id0 + j);
    }
}

static inline void push_lanes(vt_collector *c, int64_t q, const float *dd, unsigned mask, int64_t id0) {
    for (; mask; mask &= mask - 1) {
        int t = __builtin_ctz(mask);
        vt_collector_push(c, q, dd[t], id0 + t);
    }
}

#if VT_X86
VT_TARGET_AVX2 static void fold_avx2(vt_collector *c, int64_t q, const float *row, int64_t nb, int64_t id0, float qn,
                                     const float *bnorm, int metric) {
    const __m256 qv = _mm256_set1_ps(qn), two = _mm256_set1_ps(2.f), zero = _mm256_setzero_ps(),
                 sign = _mm256_set1_ps(-0.f);
    int64_t j = 0;
    for (; j + 8 <= nb; j += 8) {
        __m256 ipv = _mm256_loadu_ps(row + j), d;
        if (metric == 1) {
            d = _mm256_xor_ps(ipv, sign);
        } else { /* max(0, d) keeps d when d is NaN or -0, as the scalar test does */
            d = _mm256_sub_ps(_mm256_add_ps(qv, _mm256_loadu_ps(bnorm + j)), _mm256_mul_ps(two, ipv));
            d = _mm256_max_ps(zero, d);
        }
        __m256 thr = _mm256_set1_ps(vt_collector_threshold(c, q));
        unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(d, thr, _CMP_LE_OQ));
        if (!mask) continue;
        float dd[8];
        _mm256_storeu_ps(dd, d);
        push_lanes(c, q, dd, mask, id0 + j);
    }
    fold_scalar(c, q, row + j, nb - j, id0 + j, qn, bnorm ? bnorm + j : NULL, metric);
}

VT_TARGET_AVX512 static void fold_avx512(vt_collector *c, int64_t q, const float *row, int64_t nb, int64_t id0,
                                         float qn, const float *bnorm, int metric) {
    const __m512 qv = _mm512_set1_ps(qn), two = _mm512_set1_ps(2.f), zero = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= nb; j += 16) {
        __m512 ipv = _mm512_loadu_ps(row + j), d;
        if (metric == 1) {
            d = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(ipv), _mm512_set1_epi32((int)0x80000000u)));
        } else {
            d = _mm512_sub_ps(_mm512_add_ps(qv, _mm512_loadu_ps(bnorm + j)), _mm512_mul_ps(two, ipv));
            d = _mm512_max_ps(zero, d);
        }
        unsigned mask = _mm512_cmp_ps_mask(d, _mm512_set1_ps(vt_collector_threshold(c, q)), _CMP_LE_OQ);
        if (!mask) continue;
        float dd[16];
        _mm512_storeu_ps(dd, d);
        push_lanes(c, q, dd, mask, id0 + j);
    }
    fold_scalar(c, q, row + j, nb - j, id0 + j, qn, bnorm ? bnorm + j : NULL, metric);
}
#endif

static void fold_row(vt_collector *c, int64_t q, const float *row, int64_t nb, int64_t id0, float qn,
                     const float *bnorm, int metric) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: fold_avx512(c, q, row, nb, id0, qn, bnorm, metric); return;
    case VT_AVX2: fold_avx2(c, q, row, nb, id0, qn, bnorm, metric); return;
    }
#endif
    fold_scalar(c, q, row, nb, id0, qn, bnorm, metric);
}

static int bad_rows(const vt_collector *c, int64_t q0, int64_t nq, int64_t nb) {
    return !c || c->radius_mode || q0 < 0 || nq < 0 || q0 > c->nq - nq || nb < 0;
}

int vt_collector_add_block(vt_collector *c, int64_t q0, int64_t nq, const float *dist, int64_t nb, int64_t id0) {
    if (bad_rows(c, q0, nq, nb)) return -1;
    for (int64_t q = 0; q < nq; q++) vt_collector_run(c, q0 + q, dist + q * nb, nb, id0);
    return 0;
}

int vt_collector_add_ip_block(vt_collector *c, int64_t q0, int64_t nq, const float *ip, int64_t nb, int64_t id0,
                              const float *qnorm, const float *bnorm, int metric) {
    if (bad_rows(c, q0, nq, nb)) return -1;
    if (c->k == 1) { /* nearest only (k-means assignment): an argmin, then one offer */
        for (int64_t q = 0; q < nq; q++) {
            float best;
            int64_t j = vt_argmin_ip_row(ip + q * nb, nb, metric == 1 ? 0.f : qnorm[q], bnorm, metric, &best);
            if (j >= 0) vt_collector_push(c, q0 + q, best, id0 + j);
        }
        return 0;
    }
    for (int64_t q = 0; q < nq; q++)
        fold_row(c, q0 + q, ip + q * nb, nb, id0, metric == 1 ? 0.f : qnorm[q], bnorm, metric);
    return 0;
}

/* In-place heap sort of every row: ascending (distance, id), empty slots last. */
void vt_heap_sort(float *hd, int64_t *hi, int64_t nq, int64_t k) {
    for (int64_t q = 0; q < nq; q++) {
        float *h = hd + q * k;
        int64_t *ids = hi + q * k;
        for (int64_t n = k; n > 1; n--) {
            float td = h[0];
            int64_t ti = ids[0];
            vt_heap_replace_top(h, ids, n - 1, h[n - 1], ids[n - 1]);
            h[n - 1] = td;
            ids[n - 1] = ti;
        }
    }
}
