/* k-means centroid update: per-cluster sums (in double, so millions of points
 * do not lose precision) and counts from an assignment. Assignment itself is a
 * 1-NN search (BLAS inner products + vt_collector_add_ip_block). */
#include <string.h>
#include "vtool.h"

void vt_kmeans_accumulate(const float *x, int64_t n, int64_t d, const int64_t *assign,
                          int64_t k, double *sums, int64_t *counts) {
    memset(sums, 0, sizeof(double) * (size_t)(k * d));
    memset(counts, 0, sizeof(int64_t) * (size_t)k);
    for (int64_t i = 0; i < n; i++) {
        int64_t c = assign[i];
        if (c < 0 || c >= k) continue;
        double *s = sums + c * d;
        const float *xi = x + i * d;
        for (int64_t j = 0; j < d; j++) s[j] += xi[j];
        counts[c]++;
    }
}
