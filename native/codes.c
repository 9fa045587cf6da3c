/* Distances from one query to n encoded vectors, one function per encoding.
 *
 *   SQ8   component i decodes to vmin[i] + (code + 0.5) * step[i], step = vdiff / 255 (Faiss QT_8bit)
 *   fp16  IEEE half precision
 *   ADC   PQ / RQ: the sum over sub-codes of a lookup table entry, lut[j * ksub + code[j]]
 *
 * The scalar functions are the references; SIMD paths decode with the same formula.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

/* SQ8 against a query prepared once per call (so the inner loop is one multiply-add per
 * component): L2 uses xs = x - vmin - step/2, |xs - c * step|^2; IP uses a = x * step and
 * bias = <x, vmin + step/2>, bias + <a, c>. */
/* Components from..d-1 of one code against the prepared query (the scalar path and the
 * AVX2 tail). */
static inline float sq8_sum(const float *xs, const uint8_t *c, const float *step, int64_t from, int64_t d,
                            int metric) {
    float s = 0.f;
    for (int64_t i = from; i < d; i++) {
        if (metric == 1) {
            s += xs[i] * (float)c[i];
        } else {
            float t = xs[i] - (float)c[i] * step[i];
            s += t * t;
        }
    }
    return s;
}

static void sq8_ny_scalar(const float *xs, const uint8_t *codes, int64_t n, int64_t d, const float *step,
                          int metric, float bias, float *out) {
    for (int64_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * d;
        out[j] = bias + sq8_sum(xs, c, step, 0, d, metric);
    }
}

/* IEEE half -> float, portable. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void fp16_ny_scalar(const float *x, const uint16_t *codes, int64_t n, int64_t d, int metric, float *out) {
    for (int64_t j = 0; j < n; j++) {
        const uint16_t *c = codes + j * d;
        float s = 0.f;
        for (int64_t i = 0; i < d; i++) {
            float v = half_to_float(c[i]);
            s += metric == 1 ? x[i] * v : (x[i] - v) * (x[i] - v);
        }
        out[j] = s;
    }
}

#if VT_X86
VT_TARGET_AVX512 static void sq8_ny_avx512(const float *xs, const uint8_t *codes, int64_t n, int64_t d,
                                           const float *step, int metric, float bias, float *out) {
    const int64_t tail = d & 15, body = d - tail;
    const __mmask16 m = (__mmask16)((1u << tail) - 1u);
    for (int64_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * d;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(); /* two chains hide the FMA latency */
        int64_t i = 0;
        for (; i + 32 <= body; i += 32) {
            __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i))));
            __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(c + i + 16))));
            if (metric == 1) {
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xs + i), c0, a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xs + i + 16), c1, a1);
            } else {
                __m512 t0 = _mm512_fnmadd_ps(c0, _mm512_loadu_ps(step + i), _mm512_loadu_ps(xs + i));
                __m512 t1 = _mm512_fnmadd_ps(c1, _mm512_loadu_ps(step + i + 16), _mm512_loadu_ps(xs + i + 16));
                a0 = _mm512_fmadd_ps(t0, t0, a0);
                a1 = _mm512_fmadd_ps(t1, t1, a1);
            }
        }
        for (; i < d; i += 16) {
            __mmask16 mk = i < body ? (__mmask16)0xffff : m;
            __m512 cv = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mk, c + i)));
            if (metric == 1) {
                a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, xs + i), cv, a0);
            } else {
                __m512 t = _mm512_fnmadd_ps(cv, _mm512_maskz_loadu_ps(mk, step + i), _mm512_maskz_loadu_ps(mk, xs + i));
                a0 = _mm512_fmadd_ps(t, t, a0);
            }
        }
        out[j] = bias + _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
}

VT_TARGET_AVX512 static void fp16_ny_avx512(const float *x, const uint16_t *codes, int64_t n, int64_t d,
                                            int metric, float *out) {
    const int64_t tail = d & 15, body = d - tail;
    const __mmask16 m = (__mmask16)((1u << tail) - 1u);
    for (int64_t j = 0; j < n; j++) {
        const uint16_t *c = codes + j * d;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t i = 0; i <= body; i += 16) {
            __mmask16 mk = i < body ? (__mmask16)0xffff : m;
            if (!mk) break;
            __m512 v = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, c + i));
            __m512 xv = _mm512_maskz_loadu_ps(mk, x + i);
            if (metric == 1) {
                acc = _mm512_fmadd_ps(xv, v, acc);
            } else {
                __m512 t = _mm512_sub_ps(xv, v);
                acc = _mm512_fmadd_ps(t, t, acc);
            }
        }
        out[j] = _mm512_reduce_add_ps(acc);
    }
}


__attribute__((target("avx2,fma,f16c"))) static void fp16_ny_avx2(const float *x, const uint16_t *codes, int64_t n,
                                                                 int64_t d, int metric, float *out) {
    const int64_t body = d & ~(int64_t)7;
    for (int64_t j = 0; j < n; j++) {
        const uint16_t *c = codes + j * d;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8) {
            __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(c + i)));
            __m256 xv = _mm256_loadu_ps(x + i);
            if (metric == 1) {
                acc = _mm256_fmadd_ps(xv, v, acc);
            } else {
                __m256 t = _mm256_sub_ps(xv, v);
                acc = _mm256_fmadd_ps(t, t, acc);
            }
        }
        float s = vt_hsum256(acc);
        for (int64_t i = body; i < d; i++) {
            float v = half_to_float(c[i]);
            s += metric == 1 ? x[i] * v : (x[i] - v) * (x[i] - v);
        }
        out[j] = s;
    }
}

VT_TARGET_AVX2 static void sq8_ny_avx2(const float *xs, const uint8_t *codes, int64_t n, int64_t d,
                                       const float *step, int metric, float bias, float *out) {
    const int64_t body = d & ~(int64_t)7;
    for (int64_t j = 0; j < n; j++) {
        const uint8_t *c = codes + j * d;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8) {
            __m256 cv = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + i))));
            if (metric == 1) {
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(xs + i), cv, acc);
            } else {
                __m256 t = _mm256_fnmadd_ps(cv, _mm256_loadu_ps(step + i), _mm256_loadu_ps(xs + i));
                acc = _mm256_fmadd_ps(t, t, acc);
            }
        }
        out[j] = bias + vt_hsum256(acc) + sq8_sum(xs, c, step, body, d, metric);
    }
}
#endif

void vt_sq_run(const float *x, const uint8_t *codes, int64_t n, int64_t d, const float *vmin, const float *step,
               int metric, float *out, const vt_sq_kernel kernels[3]) {
    float local[1024], *xs = d <= 1024 ? local : malloc(sizeof(float) * (size_t)d);
    if (!xs) return;
    float bias = 0.f;
    for (int64_t i = 0; i < d; i++) {
        if (metric == 1) {
            xs[i] = x[i] * step[i];
            bias += x[i] * (vmin[i] + 0.5f * step[i]);
        } else {
            xs[i] = x[i] - vmin[i] - 0.5f * step[i];
        }
    }
    kernels[vt_simd_level()](xs, codes, n, d, step, metric, bias, out);
    if (xs != local) free(xs);
}

void vt_sq8_ny(const float *x, const uint8_t *codes, int64_t n, int64_t d, const float *vmin, const float *step,
               int metric, float *out) {
#if VT_X86
    static const vt_sq_kernel kernels[3] = {sq8_ny_scalar, sq8_ny_avx2, sq8_ny_avx512};
#else
    static const vt_sq_kernel kernels[3] = {sq8_ny_scalar, sq8_ny_scalar, sq8_ny_scalar};
#endif
    vt_sq_run(x, codes, n, d, vmin, step, metric, out, kernels);
}

void vt_fp16_ny(const float *x, const uint16_t *codes, int64_t n, int64_t d, int metric, float *out) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: fp16_ny_avx512(x, codes, n, d, metric, out); return;
    case VT_AVX2: fp16_ny_avx2(x, codes, n, d, metric, out); return;
    }
#endif
    fp16_ny_scalar(x, codes, n, d, metric, out);
}

/* A sub-code indexes its table through a mask of ksub - 1 (ksub a power of two, checked by
 * the callers): a corrupt code byte above ksub reads a wrong entry, never past the table.
 * ADC: out[i] = bias + sum_j lut[j * ksub + code_i[j]] (+ the float stored after the m code
 * bytes when extra_norm, for RQ). Codes are read with a byte stride, so any layout works. */
static float adc_finish(float s0, float s1, float s2, float s3, const uint8_t *c, int64_t m, float bias,
                        int extra_norm) {
    float s = bias + ((s0 + s1) + (s2 + s3));
    if (extra_norm) {
        float nrm;
        memcpy(&nrm, c + m, 4);
        s += nrm;
    }
    return s;
}

static inline __attribute__((always_inline)) float adc_one(const float *lut, int64_t m, int64_t ksub, const uint8_t *c,
                                                           float bias, int extra_norm, unsigned km) {
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    int64_t j = 0;
    for (; j + 4 <= m; j += 4) {
        s0 += lut[j * ksub + (c[j] & km)];
        s1 += lut[(j + 1) * ksub + (c[j + 1] & km)];
        s2 += lut[(j + 2) * ksub + (c[j + 2] & km)];
        s3 += lut[(j + 3) * ksub + (c[j + 3] & km)];
    }
    for (; j < m; j++) s0 += lut[j * ksub + (c[j] & km)];
    return adc_finish(s0, s1, s2, s3, c, m, bias, extra_norm);
}

/* Two rows at a time through one walk of the table (a pointer moved a sub-quantizer at a
 * time, not an index computed per lookup): each row's sums in adc_one's order. */
static inline __attribute__((always_inline)) void adc_ny_core(const float *lut, int64_t m, int64_t ksub,
                                                              const uint8_t *codes, int64_t n, int64_t code_size,
                                                              float bias, int extra_norm, unsigned km, float *out) {
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const uint8_t *a = codes + i * code_size, *b = a + code_size;
        const float *t = lut;
        float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f, b0 = 0.f, b1 = 0.f, b2 = 0.f, b3 = 0.f;
        int64_t j = 0;
        for (; j + 4 <= m; j += 4, t += 4 * ksub) {
            a0 += t[a[j] & km];
            b0 += t[b[j] & km];
            a1 += t[ksub + (a[j + 1] & km)];
            b1 += t[ksub + (b[j + 1] & km)];
            a2 += t[2 * ksub + (a[j + 2] & km)];
            b2 += t[2 * ksub + (b[j + 2] & km)];
            a3 += t[3 * ksub + (a[j + 3] & km)];
            b3 += t[3 * ksub + (b[j + 3] & km)];
        }
        for (; j < m; j++, t += ksub) {
            a0 += t[a[j] & km];
            b0 += t[b[j] & km];
        }
        out[i] = adc_finish(a0, a1, a2, a3, a, m, bias, extra_norm);
        out[i + 1] = adc_finish(b0, b1, b2, b3, b, m, bias, extra_norm);
    }
    for (; i < n; i++) out[i] = adc_one(lut, m, ksub, codes + i * code_size, bias, extra_norm, km);
}

void vt_adc_ny(const float *lut, int64_t m, int64_t ksub, const uint8_t *codes, int64_t n, int64_t code_size,
               float bias, int extra_norm, float *out) {
    /* No SIMD path: AVX-512 gathers measured 2x slower than these scalar lookups inside a
       list scan (table and codes stay in L1; the loads pipeline well). A byte always fits a
       table of 256: the mask (20 % of an IVF-PQ48 scan) only for smaller tables. */
    if (ksub == 256)
        adc_ny_core(lut, m, 256, codes, n, code_size, bias, extra_norm, 0xff, out);
    else
        adc_ny_core(lut, m, ksub, codes, n, code_size, bias, extra_norm, (unsigned)ksub - 1, out);
}
