/* IVF-Flat scan: for each query, the distances to every vector of its probed
 * lists, folded into a top-k heap. Works on row positions; the caller maps the
 * final top-k positions to user ids through the id codec. */
#include <stdlib.h>
#include "vtool.h"
#include "internal.h"

#define SCAN_CHUNK 512

int vt_ivf_flat_scan(const float *queries, int64_t nq, int64_t d,
                     const float *vectors, const int64_t *list_offsets, int64_t nlist,
                     const int64_t *probes, int64_t nprobe, int metric, int64_t k,
                     float *out_dist, int64_t *out_pos) {
    float buf[SCAN_CHUNK];
    if (nq < 0 || d <= 0 || k <= 0 || nprobe < 0) return -1;
    vt_heap_init(out_dist, out_pos, nq, k);
    for (int64_t q = 0; q < nq; q++) {
        const float *x = queries + q * d;
        float *h = out_dist + q * k;
        int64_t *hp = out_pos + q * k;
        for (int64_t p = 0; p < nprobe; p++) {
            int64_t l = probes[q * nprobe + p];
            if (l < 0) continue; /* fewer lists than nprobe */
            if (l >= nlist) return -2;
            int64_t begin = list_offsets[l], end = list_offsets[l + 1];
            if (begin < 0 || end < begin) return -3;
            for (int64_t j0 = begin; j0 < end; j0 += SCAN_CHUNK) {
                int64_t n = end - j0 < SCAN_CHUNK ? end - j0 : SCAN_CHUNK;
                if (metric == 1) {
                    vt_ip_ny(x, vectors + j0 * d, n, d, buf);
                    for (int64_t j = 0; j < n; j++) {
                        float dist = -buf[j];
                        if (dist <= h[0]) vt_heap_push(h, hp, k, dist, j0 + j);
                    }
                } else {
                    vt_l2sqr_ny(x, vectors + j0 * d, n, d, buf);
                    for (int64_t j = 0; j < n; j++)
                        if (buf[j] <= h[0]) vt_heap_push(h, hp, k, buf[j], j0 + j);
                }
            }
        }
    }
    vt_heap_sort(out_dist, out_pos, nq, k);
    return 0;
}
