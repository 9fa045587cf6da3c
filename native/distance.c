/* Distances between float32 vectors: one query against many rows.
 *
 * The scalar functions are the reference the tests compare the SIMD paths with.
 * The SIMD paths handle four rows at a time (independent accumulators hide the
 * FMA latency) and any dimension (masked tails, no padding required).
 */
#include "vtool.h"
#include "internal.h"

/* Row j of y: the j-th row, or row rows[j] (rows64[j]) when a row list is given (a graph
 * search or a re-ranking visits arbitrary rows, and gathering them first would copy every
 * vector once more). */
#define ROW(j) (y + (rows ? (int64_t)rows[j] : rows64 ? rows64[j] : (int64_t)(j)) * d)

static void l2sqr_ny_scalar(const float *x, const float *y, const int32_t *rows, const int64_t *rows64, int64_t ny,
                            int64_t d, float *out) {
    for (int64_t j = 0; j < ny; j++) {
        const float *yj = ROW(j);
        float s = 0.f;
        for (int64_t i = 0; i < d; i++) {
            float t = x[i] - yj[i];
            s += t * t;
        }
        out[j] = s;
    }
}

static void ip_ny_scalar(const float *x, const float *y, const int32_t *rows, const int64_t *rows64, int64_t ny,
                         int64_t d, float *out) {
    for (int64_t j = 0; j < ny; j++) {
        const float *yj = ROW(j);
        float s = 0.f;
        for (int64_t i = 0; i < d; i++) s += x[i] * yj[i];
        out[j] = s;
    }
}

#if VT_X86
/* ---- AVX-512: 16 lanes, masked tail ---- */
#define DEF_NY_AVX512(NAME, TERM)                                                        \
    VT_TARGET_AVX512 static void NAME(const float *x, const float *y, const int32_t *rows, const int64_t *rows64, \
                                      int64_t ny, int64_t d, float *out) {              \
        const int64_t tail = d & 15, body = d - tail;                                   \
        const __mmask16 m = (__mmask16)((1u << tail) - 1u);                             \
        int64_t j = 0;                                                                  \
        for (; j + 4 <= ny; j += 4) {                                                   \
            const float *y0 = ROW(j), *y1 = ROW(j + 1), *y2 = ROW(j + 2), *y3 = ROW(j + 3); \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                 \
            for (int64_t i = 0; i < body; i += 16) {                                    \
                __m512 xv = _mm512_loadu_ps(x + i);                                     \
                TERM(a0, xv, _mm512_loadu_ps(y0 + i));                                  \
                TERM(a1, xv, _mm512_loadu_ps(y1 + i));                                  \
                TERM(a2, xv, _mm512_loadu_ps(y2 + i));                                  \
                TERM(a3, xv, _mm512_loadu_ps(y3 + i));                                  \
            }                                                                           \
            if (tail) {                                                                 \
                __m512 xv = _mm512_maskz_loadu_ps(m, x + body);                         \
                TERM(a0, xv, _mm512_maskz_loadu_ps(m, y0 + body));                      \
                TERM(a1, xv, _mm512_maskz_loadu_ps(m, y1 + body));                      \
                TERM(a2, xv, _mm512_maskz_loadu_ps(m, y2 + body));                      \
                TERM(a3, xv, _mm512_maskz_loadu_ps(m, y3 + body));                      \
            }                                                                           \
            out[j] = _mm512_reduce_add_ps(a0);                                          \
            out[j + 1] = _mm512_reduce_add_ps(a1);                                      \
            out[j + 2] = _mm512_reduce_add_ps(a2);                                      \
            out[j + 3] = _mm512_reduce_add_ps(a3);                                      \
        }                                                                               \
        for (; j < ny; j++) {                                                           \
            const float *yj = ROW(j);                                                   \
            __m512 a0 = _mm512_setzero_ps();                                            \
            for (int64_t i = 0; i < body; i += 16)                                      \
                TERM(a0, _mm512_loadu_ps(x + i), _mm512_loadu_ps(yj + i));              \
            if (tail)                                                                   \
                TERM(a0, _mm512_maskz_loadu_ps(m, x + body),                            \
                     _mm512_maskz_loadu_ps(m, yj + body));                              \
            out[j] = _mm512_reduce_add_ps(a0);                                          \
        }                                                                               \
    }

#define L2_TERM_512(acc, xv, yv) do { __m512 t_ = _mm512_sub_ps(xv, yv); acc = _mm512_fmadd_ps(t_, t_, acc); } while (0)
#define IP_TERM_512(acc, xv, yv) do { acc = _mm512_fmadd_ps(xv, yv, acc); } while (0)
DEF_NY_AVX512(l2sqr_ny_avx512, L2_TERM_512)
DEF_NY_AVX512(ip_ny_avx512, IP_TERM_512)

/* ---- AVX2: 8 lanes, masked tail through maskload ---- */

VT_TARGET_AVX2 static inline __m256i tail_mask256(int64_t tail) {
    static const int32_t ones_then_zeros[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};
    return _mm256_loadu_si256((const __m256i *)(ones_then_zeros + 8 - tail));
}

#define DEF_NY_AVX2(NAME, TERM)                                                          \
    VT_TARGET_AVX2 static void NAME(const float *x, const float *y, const int32_t *rows, const int64_t *rows64, \
                                    int64_t ny, int64_t d, float *out) {                \
        const int64_t tail = d & 7, body = d - tail;                                    \
        const __m256i m = tail_mask256(tail);                                           \
        int64_t j = 0;                                                                  \
        for (; j + 4 <= ny; j += 4) {                                                   \
            const float *y0 = ROW(j), *y1 = ROW(j + 1), *y2 = ROW(j + 2), *y3 = ROW(j + 3); \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                 \
            for (int64_t i = 0; i < body; i += 8) {                                     \
                __m256 xv = _mm256_loadu_ps(x + i);                                     \
                TERM(a0, xv, _mm256_loadu_ps(y0 + i));                                  \
                TERM(a1, xv, _mm256_loadu_ps(y1 + i));                                  \
                TERM(a2, xv, _mm256_loadu_ps(y2 + i));                                  \
                TERM(a3, xv, _mm256_loadu_ps(y3 + i));                                  \
            }                                                                           \
            if (tail) {                                                                 \
                __m256 xv = _mm256_maskload_ps(x + body, m);                            \
                TERM(a0, xv, _mm256_maskload_ps(y0 + body, m));                         \
                TERM(a1, xv, _mm256_maskload_ps(y1 + body, m));                         \
                TERM(a2, xv, _mm256_maskload_ps(y2 + body, m));                         \
                TERM(a3, xv, _mm256_maskload_ps(y3 + body, m));                         \
            }                                                                           \
            out[j] = vt_hsum256(a0);                                                       \
            out[j + 1] = vt_hsum256(a1);                                                   \
            out[j + 2] = vt_hsum256(a2);                                                   \
            out[j + 3] = vt_hsum256(a3);                                                   \
        }                                                                               \
        for (; j < ny; j++) {                                                           \
            const float *yj = ROW(j);                                                   \
            __m256 a0 = _mm256_setzero_ps();                                            \
            for (int64_t i = 0; i < body; i += 8)                                       \
                TERM(a0, _mm256_loadu_ps(x + i), _mm256_loadu_ps(yj + i));              \
            if (tail)                                                                   \
                TERM(a0, _mm256_maskload_ps(x + body, m), _mm256_maskload_ps(yj + body, m)); \
            out[j] = vt_hsum256(a0);                                                       \
        }                                                                               \
    }

#define L2_TERM_256(acc, xv, yv) do { __m256 t_ = _mm256_sub_ps(xv, yv); acc = _mm256_fmadd_ps(t_, t_, acc); } while (0)
#define IP_TERM_256(acc, xv, yv) do { acc = _mm256_fmadd_ps(xv, yv, acc); } while (0)
DEF_NY_AVX2(l2sqr_ny_avx2, L2_TERM_256)
DEF_NY_AVX2(ip_ny_avx2, IP_TERM_256)
#endif

static void dist_rows(const float *x, const float *y, const int32_t *rows, const int64_t *rows64, int64_t ny,
                      int64_t d, int metric, float *out) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: (metric == 1 ? ip_ny_avx512 : l2sqr_ny_avx512)(x, y, rows, rows64, ny, d, out); return;
    case VT_AVX2: (metric == 1 ? ip_ny_avx2 : l2sqr_ny_avx2)(x, y, rows, rows64, ny, d, out); return;
    }
#endif
    (metric == 1 ? ip_ny_scalar : l2sqr_ny_scalar)(x, y, rows, rows64, ny, d, out);
}

void vt_dist_rows_raw(const float *x, const float *y, const int32_t *rows, int64_t ny, int64_t d, int metric,
                      float *out) {
    dist_rows(x, y, rows, NULL, ny, d, metric, out);
}

void vt_dist_rows64_raw(const float *x, const float *y, const int64_t *rows, int64_t ny, int64_t d, int metric,
                        float *out) {
    dist_rows(x, y, NULL, rows, ny, d, metric, out);
}

void vt_l2sqr_ny(const float *x, const float *y, int64_t ny, int64_t d, float *out) {
    vt_dist_rows_raw(x, y, NULL, ny, d, 0, out);
}

void vt_ip_ny(const float *x, const float *y, int64_t ny, int64_t d, float *out) {
    vt_dist_rows_raw(x, y, NULL, ny, d, 1, out);
}

int vt_dist_rows(const float *x, const float *y, int64_t nrows, int64_t d, const int32_t *rows, int64_t n,
                 int metric, float *out) {
    for (int64_t j = 0; j < n; j++)
        if (rows[j] < 0 || rows[j] >= nrows) return -2;
    vt_dist_rows_raw(x, y, rows, n, d, metric, out);
    return 0;
}

void vt_pairwise(const float *x, int64_t nx, const float *y, int64_t ny, int64_t d,
                 int metric, float *out) {
    for (int64_t i = 0; i < nx; i++) {
        if (metric == 1)
            vt_ip_ny(x + i * d, y, ny, d, out + i * ny);
        else
            vt_l2sqr_ny(x + i * d, y, ny, d, out + i * ny);
    }
}

void vt_norms_sqr(const float *x, int64_t n, int64_t d, float *out) {
    for (int64_t i = 0; i < n; i++) vt_ip_ny(x + i * d, x + i * d, 1, d, out + i);
}
