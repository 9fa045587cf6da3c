/* Nearest of a row of candidates given as inner products: the k = 1 case of top-k,
 * which k-means assignment and the coarse quantizer hit millions of times.
 *
 * Two passes over a row that sits in L1: the distances (same arithmetic on every
 * path, no FMA contraction, so all levels agree bit for bit), a SIMD minimum, then
 * the first position holding it.
 */
#include "vtool.h"
#include "internal.h"

#define ROW_CHUNK 1024

static void row_distances(const float *ip, int64_t n, float qn, const float *bn, int metric, float *out) {
    if (metric == 1) {
        for (int64_t j = 0; j < n; j++) out[j] = -ip[j];
    } else {
        for (int64_t j = 0; j < n; j++) {
            float d = (qn + bn[j]) - 2.f * ip[j];
            out[j] = d < 0.f ? 0.f : d;
        }
    }
}

static float min_scalar(const float *x, int64_t n) {
    float m = x[0];
    for (int64_t j = 1; j < n; j++) m = x[j] < m ? x[j] : m;
    return m;
}

#if VT_X86
VT_TARGET_AVX512 static float min_avx512(const float *x, int64_t n) {
    __m512 m = _mm512_set1_ps(x[0]);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) m = _mm512_min_ps(m, _mm512_loadu_ps(x + j));
    float r = _mm512_reduce_min_ps(m);
    for (; j < n; j++) r = x[j] < r ? x[j] : r;
    return r;
}

VT_TARGET_AVX2 static float min_avx2(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(x[0]);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) m = _mm256_min_ps(m, _mm256_loadu_ps(x + j));
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    float r = min_scalar(lanes, 8);
    for (; j < n; j++) r = x[j] < r ? x[j] : r;
    return r;
}
#endif

static float row_min(const float *x, int64_t n) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: return min_avx512(x, n);
    case VT_AVX2: return min_avx2(x, n);
    }
#endif
    return min_scalar(x, n);
}

int64_t vt_argmin_ip_row(const float *ip, int64_t nb, float qnorm, const float *bnorm, int metric,
                         float *best) {
    float buf[ROW_CHUNK];
    int64_t best_j = -1;
    for (int64_t j0 = 0; j0 < nb; j0 += ROW_CHUNK) {
        int64_t n = nb - j0 < ROW_CHUNK ? nb - j0 : ROW_CHUNK;
        row_distances(ip + j0, n, qnorm, metric == 1 ? 0 : bnorm + j0, metric, buf);
        float m = row_min(buf, n);
        if (best_j >= 0 && !(m < *best)) continue; /* ties keep the earlier position */
        int64_t j = 0;
        while (buf[j] != m) j++;
        *best = m;
        best_j = j0 + j;
    }
    return best_j;
}
