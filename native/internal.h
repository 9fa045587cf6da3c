/* Private helpers shared by the native sources (not part of the cffi API). */
#ifndef VTOOL_INTERNAL_H
#define VTOOL_INTERNAL_H
#include <stdint.h>

#if defined(__x86_64__) || defined(_M_X64)
#define VT_X86 1
#include <immintrin.h>
#else
#define VT_X86 0
#endif

enum { VT_SCALAR = 0, VT_AVX2 = 1, VT_AVX512 = 2 };
enum { VT_ENC_FLAT = 0, VT_ENC_SQ8 = 1, VT_ENC_FP16 = 2, VT_ENC_PQ = 3, VT_ENC_RQ = 4 };

#define VT_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define VT_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

#if VT_X86
/* Sum of the 8 lanes of an AVX register. */
VT_TARGET_AVX2 static inline float vt_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* Rows [begin, end) of probed list l, checked: 0, or -2 (l past nlist) / -3 (bad offsets).
 * l < 0 (fewer lists than nprobe) gives an empty range. */
static inline int vt_list_range(const int64_t *list_offsets, int64_t nlist, int64_t l, int64_t *begin,
                                int64_t *end) {
    *begin = *end = 0;
    if (l < 0) return 0;
    if (l >= nlist) return -2;
    *begin = list_offsets[l];
    *end = list_offsets[l + 1];
    return *begin < 0 || *end < *begin ? -3 : 0;
}

/* (distance, id) order: is a worse than b? Ties go to the smaller id. */
static inline int vt_worse(float da, int64_t ia, float db, int64_t ib) {
    return da > db || (da == db && ia > ib);
}

/* Replace the top (worst) of a max-heap of size k and restore the heap. */
static inline void vt_heap_replace_top(float *hd, int64_t *hi, int64_t k, float d, int64_t id) {
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        float wd = d;
        int64_t wi = id;
        if (l < k && vt_worse(hd[l], hi[l], wd, wi)) { w = l; wd = hd[l]; wi = hi[l]; }
        if (r < k && vt_worse(hd[r], hi[r], wd, wi)) { w = r; }
        if (w == i) break;
        hd[i] = hd[w];
        hi[i] = hi[w];
        i = w;
    }
    hd[i] = d;
    hi[i] = id;
}

/* Offer one candidate to a heap: kept only when better than the current worst. */
static inline void vt_heap_push(float *hd, int64_t *hi, int64_t k, float d, int64_t id) {
    if (vt_worse(hd[0], hi[0], d, id)) vt_heap_replace_top(hd, hi, k, d, id);
}

/* lut.c: codebooks transposed once, then tables built from them. */
void vt_lut_transpose(int kind, const float *codebooks, int64_t d, int64_t m, int64_t ksub, float *out);
void vt_lut_from_transposed(int kind, const float *qv, int64_t d, const float *cbt, int64_t m, int64_t ksub,
                            int metric, float *lut);

/* argmin.c: index of the smallest distance in a row of inner products (first one on
 * ties), the distance itself in *best; -1 for an empty row. */
int64_t vt_argmin_ip_row(const float *ip, int64_t nb, float qnorm, const float *bnorm, int metric,
                         float *best);

#endif
