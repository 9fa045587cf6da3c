/* Top-k selection: one max-heap of k (distance, id) pairs per query.
 *
 * Exact k-NN and k-means assignment compute inner products with BLAS (numpy)
 * in blocks, then fold each block into the heaps here, turning inner products
 * into distances on the fly so no distance matrix is ever materialised twice.
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

void vt_heap_add_block(float *hd, int64_t *hi, int64_t nq, int64_t k,
                       const float *dist, int64_t nb, int64_t id0) {
    for (int64_t q = 0; q < nq; q++) {
        float *h = hd + q * k;
        int64_t *ids = hi + q * k;
        const float *row = dist + q * nb;
        for (int64_t j = 0; j < nb; j++) vt_heap_push(h, ids, k, row[j], id0 + j);
    }
}

void vt_heap_add_ip_block(float *hd, int64_t *hi, int64_t nq, int64_t k,
                          const float *ip, int64_t nb, int64_t id0,
                          const float *qnorm, const float *bnorm, int metric) {
    if (k == 1) { /* nearest only (k-means assignment, coarse quantizer) */
        for (int64_t q = 0; q < nq; q++) {
            float best;
            int64_t j = vt_argmin_ip_row(ip + q * nb, nb, metric == 1 ? 0.f : qnorm[q], bnorm, metric, &best);
            if (j >= 0 && vt_worse(hd[q], hi[q], best, id0 + j)) {
                hd[q] = best;
                hi[q] = id0 + j;
            }
        }
        return;
    }
    for (int64_t q = 0; q < nq; q++) {
        float *h = hd + q * k;
        int64_t *ids = hi + q * k;
        const float *row = ip + q * nb;
        if (metric == 1) {
            for (int64_t j = 0; j < nb; j++) {
                float d = -row[j];
                if (d <= h[0]) vt_heap_push(h, ids, k, d, id0 + j);
            }
        } else {
            const float qn = qnorm[q];
            for (int64_t j = 0; j < nb; j++) {
                float d = qn + bnorm[j] - 2.f * row[j];
                if (d < 0.f) d = 0.f; /* rounding can push an exact match below 0 */
                if (d <= h[0]) vt_heap_push(h, ids, k, d, id0 + j);
            }
        }
    }
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
