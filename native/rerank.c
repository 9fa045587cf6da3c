/* Re-ranking a shortlist with exact distances (`,RFlat` and `search --refine`): each query
 * against its own rows of a float32 matrix, read where they lie (a memory-mapped section),
 * never gathered into a copy; the best k kept, ties to the smaller row. */
#include <stdlib.h>
#include "vtool.h"
#include "internal.h"

int vt_rerank(const float *queries, int64_t nq, int64_t d, const float *vectors, int64_t nrows, const int64_t *pos,
              int64_t s, int metric, int64_t k, float *out_d, int64_t *out_p) {
    if (nq < 0 || d <= 0 || s < 0 || k <= 0 || nrows < 0) return -1;
    for (int64_t i = 0; i < nq * s; i++)
        if (pos[i] >= nrows || pos[i] < -1) return -2;
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)(s ? s : 1));
    float *dist = malloc(sizeof(float) * (size_t)(s ? s : 1));
    if (!rows || !dist) {
        free(rows);
        free(dist);
        return -4;
    }
    vt_heap_init(out_d, out_p, nq, k);
    for (int64_t q = 0; q < nq; q++) {
        int64_t n = 0;
        for (int64_t j = 0; j < s; j++)
            if (pos[q * s + j] >= 0) rows[n++] = pos[q * s + j];
        vt_dist_rows64_raw(queries + q * d, vectors, rows, n, d, metric, dist);
        float *hd = out_d + q * k;
        int64_t *hi = out_p + q * k;
        for (int64_t j = 0; j < n; j++) {
            float v = metric == 1 ? -dist[j] : dist[j];
            vt_heap_push(hd, hi, k, v, rows[j]);
        }
    }
    vt_heap_sort(out_d, out_p, nq, k);
    free(rows);
    free(dist);
    return 0;
}
