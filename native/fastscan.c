/* 4-bit PQ fast-scan: lookup tables quantized to 8 bits, held in SIMD registers and
 * indexed with byte shuffles, 32 vectors at a time (as Faiss's fast-scan, our layout).
 *
 * Block layout (32 vectors, m sub-quantizers): for each sub-quantizer j, 16 bytes;
 * byte t holds the code of vector t (low nibble) and of vector t + 16 (high nibble).
 * A block is 16 * m bytes. Sums are exact uint16 (m <= 257), so every path agrees
 * bit for bit with the scalar reference.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

void vt_fs_pack_blocks(const uint8_t *codes, int64_t n, int64_t m, uint8_t *blocks) {
    int64_t nblocks = (n + 31) / 32;
    memset(blocks, 0, (size_t)(nblocks * 16 * m));
    for (int64_t v = 0; v < n; v++) {
        int64_t b = v / 32, t = v % 32;
        uint8_t *blk = blocks + b * 16 * m;
        for (int64_t j = 0; j < m; j++) {
            uint8_t c = codes[v * m + j] & 15;
            if (t < 16) blk[j * 16 + t] |= c;
            else blk[j * 16 + t - 16] |= (uint8_t)(c << 4);
        }
    }
}

static void accumulate_scalar(const uint8_t *blocks, int64_t nblocks, int64_t m, const uint8_t *lut,
                              uint16_t *out) {
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = blocks + b * 16 * m;
        uint16_t *o = out + b * 32;
        for (int t = 0; t < 32; t++) o[t] = 0;
        for (int64_t j = 0; j < m; j++)
            for (int t = 0; t < 16; t++) {
                uint8_t byte = blk[j * 16 + t];
                o[t] += lut[j * 16 + (byte & 15)];
                o[t + 16] += lut[j * 16 + (byte >> 4)];
            }
    }
}

#if VT_X86
VT_TARGET_AVX2 static void accumulate_avx2(const uint8_t *blocks, int64_t nblocks, int64_t m, const uint8_t *lut,
                                           uint16_t *out) {
    const __m256i low4 = _mm256_set1_epi8(15), zero = _mm256_setzero_si256();
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = blocks + b * 16 * m;
        __m256i acc_lo = zero, acc_hi = zero; /* 16-bit sums, in unpack order */
        for (int64_t j = 0; j < m; j++) {
            __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + j * 16)));
            __m256i idx = _mm256_blend_epi32(_mm256_and_si256(bytes, low4),
                                             _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4), 0xF0);
            __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(lut + j * 16)));
            __m256i val = _mm256_shuffle_epi8(table, idx); /* lane 0: vectors 0..15, lane 1: 16..31 */
            acc_lo = _mm256_add_epi16(acc_lo, _mm256_unpacklo_epi8(val, zero));
            acc_hi = _mm256_add_epi16(acc_hi, _mm256_unpackhi_epi8(val, zero));
        }
        /* unpacklo holds vectors 0-7 (lane 0) and 16-23 (lane 1); unpackhi 8-15 and 24-31 */
        uint16_t lo[16], hi[16];
        _mm256_storeu_si256((__m256i *)lo, acc_lo);
        _mm256_storeu_si256((__m256i *)hi, acc_hi);
        uint16_t *o = out + b * 32;
        memcpy(o, lo, 16);
        memcpy(o + 8, hi, 16);
        memcpy(o + 16, lo + 8, 16);
        memcpy(o + 24, hi + 8, 16);
    }
}

VT_TARGET_AVX512 static void accumulate_avx512(const uint8_t *blocks, int64_t nblocks, int64_t m,
                                               const uint8_t *lut, uint16_t *out) {
    /* two sub-quantizers per register: 128-bit lanes (j: 0-15, j: 16-31, j+1: 0-15, j+1: 16-31) */
    const __m512i low4 = _mm512_set1_epi8(15), zero = _mm512_setzero_si512();
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = blocks + b * 16 * m;
        __m512i acc_lo = zero, acc_hi = zero;
        int64_t j = 0;
        for (; j + 2 <= m; j += 2) {
            __m256i two = _mm256_loadu_si256((const __m256i *)(blk + j * 16)); /* j, j+1 */
            __m512i bytes = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0),
                                                     _mm512_castsi256_si512(two));
            __m512i lo4 = _mm512_and_si512(bytes, low4);
            __m512i hi4 = _mm512_and_si512(_mm512_srli_epi16(bytes, 4), low4);
            __m512i idx = _mm512_mask_blend_epi64(0xCC, lo4, hi4);
            __m256i tl = _mm256_loadu_si256((const __m256i *)(lut + j * 16));
            __m512i table = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0),
                                                     _mm512_castsi256_si512(tl));
            __m512i val = _mm512_shuffle_epi8(table, idx);
            acc_lo = _mm512_add_epi16(acc_lo, _mm512_unpacklo_epi8(val, zero));
            acc_hi = _mm512_add_epi16(acc_hi, _mm512_unpackhi_epi8(val, zero));
        }
        /* fold the j+1 half (upper 256 bits) onto the j half */
        __m256i lo = _mm256_add_epi16(_mm512_castsi512_si256(acc_lo), _mm512_extracti64x4_epi64(acc_lo, 1));
        __m256i hi = _mm256_add_epi16(_mm512_castsi512_si256(acc_hi), _mm512_extracti64x4_epi64(acc_hi, 1));
        if (j < m) { /* odd m: the last sub-quantizer on 256 bits */
            const __m256i low4y = _mm256_set1_epi8(15), zy = _mm256_setzero_si256();
            __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(blk + j * 16)));
            __m256i idx = _mm256_blend_epi32(_mm256_and_si256(bytes, low4y),
                                             _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4y), 0xF0);
            __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(lut + j * 16)));
            __m256i val = _mm256_shuffle_epi8(table, idx);
            lo = _mm256_add_epi16(lo, _mm256_unpacklo_epi8(val, zy));
            hi = _mm256_add_epi16(hi, _mm256_unpackhi_epi8(val, zy));
        }
        uint16_t l16[16], h16[16];
        _mm256_storeu_si256((__m256i *)l16, lo);
        _mm256_storeu_si256((__m256i *)h16, hi);
        uint16_t *o = out + b * 32;
        memcpy(o, l16, 16);
        memcpy(o + 8, h16, 16);
        memcpy(o + 16, l16 + 8, 16);
        memcpy(o + 24, h16 + 8, 16);
    }
}
#endif

void vt_fs_accumulate(const uint8_t *blocks, int64_t nblocks, int64_t m, const uint8_t *lut, uint16_t *out) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: accumulate_avx512(blocks, nblocks, m, lut, out); return;
    case VT_AVX2: accumulate_avx2(blocks, nblocks, m, lut, out); return;
    }
#endif
    accumulate_scalar(blocks, nblocks, m, lut, out);
}

/* Positions t < count whose sum is <= thr, in increasing order; returns how many. */
static int64_t candidates_scalar(const uint16_t *sums, int64_t count, uint32_t thr, int32_t *idx) {
    int64_t n = 0;
    for (int64_t t = 0; t < count; t++)
        if (sums[t] <= thr) idx[n++] = (int32_t)t;
    return n;
}

#if VT_X86
VT_TARGET_AVX512 static int64_t candidates_avx512(const uint16_t *sums, int64_t count, uint32_t thr, int32_t *idx) {
    if (thr >= 0xFFFF) return candidates_scalar(sums, count, thr, idx);
    const __m512i th = _mm512_set1_epi16((short)thr);
    int64_t n = 0, t = 0;
    for (; t + 32 <= count; t += 32) {
        uint32_t mask = _mm512_cmple_epu16_mask(_mm512_loadu_si512((const void *)(sums + t)), th);
        while (mask) {
            idx[n++] = (int32_t)(t + __builtin_ctz(mask));
            mask &= mask - 1;
        }
    }
    for (; t < count; t++)
        if (sums[t] <= thr) idx[n++] = (int32_t)t;
    return n;
}
#endif

static int64_t candidates(const uint16_t *sums, int64_t count, uint32_t thr, int32_t *idx) {
#if VT_X86
    if (vt_simd_level() == VT_AVX512) return candidates_avx512(sums, count, thr, idx);
#endif
    return candidates_scalar(sums, count, thr, idx);
}

/* Float table (m x 16) -> uint8 table: per sub-quantizer minimum removed, one global scale.
 * The distance of a vector is then about bias + sum / scale. */
void vt_fs_quantize_lut(const float *lut, int64_t m, uint8_t *qlut, float *bias, float *scale) {
    float span = 0.f, b = 0.f;
    for (int64_t j = 0; j < m; j++) {
        float mn = lut[j * 16], mx = lut[j * 16];
        for (int c = 1; c < 16; c++) {
            mn = lut[j * 16 + c] < mn ? lut[j * 16 + c] : mn;
            mx = lut[j * 16 + c] > mx ? lut[j * 16 + c] : mx;
        }
        b += mn;
        span = mx - mn > span ? mx - mn : span;
    }
    float a = span > 0.f ? 255.f / span : 1.f;
    for (int64_t j = 0; j < m; j++) {
        float mn = lut[j * 16];
        for (int c = 1; c < 16; c++) mn = lut[j * 16 + c] < mn ? lut[j * 16 + c] : mn;
        for (int c = 0; c < 16; c++) {
            float v = floorf((lut[j * 16 + c] - mn) * a + 0.5f);
            qlut[j * 16 + c] = (uint8_t)(v > 255.f ? 255.f : v);
        }
    }
    *bias = b;
    *scale = a;
}

/* Candidates of a radius search (kept out of line: the top-k loop stays as small as it was). */
__attribute__((noinline)) static int radius_push(vt_collector *out, int64_t q, const int32_t *cand, int64_t nc,
                                                 const uint16_t *sums, float bias, float inv, int64_t first) {
    for (int64_t c = 0; c < nc; c++) {
        float dist = bias + (float)sums[cand[c]] * inv;
        if (vt_collector_push(out, q, dist, first + cand[c])) return -4;
    }
    return 0;
}

int vt_ivf_fs_scan(const float *queries, int64_t nq, int64_t d, const float *centroids, int by_residual,
                   const uint8_t *blocks, const int64_t *block_offsets, const int64_t *list_offsets, int64_t nlist,
                   const int64_t *probes, int64_t nprobe, const float *codebooks, const float *precomputed, int64_t m,
                   int metric, vt_collector *out) {
    if (nq < 0 || d <= 0 || m <= 0 || nprobe < 0 || !out || out->nq != nq) return -1;
    float *qv = malloc(sizeof(float) * (size_t)d);
    float *lut = malloc(sizeof(float) * (size_t)(m * 16));
    float *qterm = malloc(sizeof(float) * (size_t)(m * 16));
    float *cbt = malloc(sizeof(float) * (size_t)(16 * d));
    uint8_t *qlut = malloc((size_t)(m * 16));
    uint16_t *sums = malloc(sizeof(uint16_t) * 32 * 64);
    int32_t *cand = malloc(sizeof(int32_t) * 32 * 64);
    int rc = 0;
    if (!qv || !lut || !qterm || !cbt || !qlut || !sums || !cand) {
        rc = -4;
        goto done;
    }
    vt_lut_transpose(VT_SCAN_PQ, codebooks, d, m, 16, cbt);
    int residual_l2 = by_residual && centroids && metric != 1;
    int residual_ip = by_residual && centroids && metric == 1;
    const int topk = !out->radius_mode;
    const int64_t k = out->k;
    for (int64_t q = 0; q < nq; q++) {
        const float *x = queries + q * d;
        float *h = topk ? out->hd + q * k : NULL; /* the heap read directly in the hot loop */
        int64_t *hp = topk ? out->hi + q * k : NULL;
        float tbias = 0.f, scale = 1.f;
        if (!residual_l2) {
            vt_lut_from_transposed(VT_SCAN_PQ, x, d, cbt, m, 16, metric, lut);
            vt_fs_quantize_lut(lut, m, qlut, &tbias, &scale);
        } else if (precomputed) { /* -2 <x_j, codeword>, shared by every list */
            vt_lut_from_transposed(VT_SCAN_PQ, x, d, cbt, m, 16, 1, qterm);
            for (int64_t c = 0; c < m * 16; c++) qterm[c] *= 2.f;
        }
        for (int64_t p = 0; p < nprobe; p++) {
            int64_t l = probes[q * nprobe + p], begin, end;
            if ((rc = vt_list_range(list_offsets, nlist, l, &begin, &end))) goto done;
            if (l < 0) continue;
            int64_t b0 = block_offsets[l], nb = block_offsets[l + 1] - b0;
            if (nb != (end - begin + 31) / 32) {
                rc = -3;
                goto done;
            }
            if (begin == end) continue;
            float lbias = 0.f;
            if (residual_l2) {
                const float *c = centroids + l * d;
                for (int64_t i = 0; i < d; i++) qv[i] = x[i] - c[i];
                if (precomputed) { /* |q - c|^2 + (|r|^2 + 2<c, r>) - 2<q, r> */
                    const float *t2 = precomputed + l * m * 16;
                    for (int64_t c2 = 0; c2 < m * 16; c2++) lut[c2] = t2[c2] + qterm[c2];
                    float s2 = 0.f;
                    for (int64_t i = 0; i < d; i++) s2 += qv[i] * qv[i];
                    lbias = s2;
                } else {
                    vt_lut_from_transposed(VT_SCAN_PQ, qv, d, cbt, m, 16, metric, lut);
                }
                vt_fs_quantize_lut(lut, m, qlut, &tbias, &scale);
            } else if (residual_ip) {
                const float *c = centroids + l * d;
                float s = 0.f;
                for (int64_t i = 0; i < d; i++) s += x[i] * c[i];
                lbias = -s;
            }
            float inv = 1.f / scale;
            for (int64_t bb = 0; bb < nb; bb += 64) {
                int64_t nblk = nb - bb < 64 ? nb - bb : 64;
                vt_fs_accumulate(blocks + (b0 + bb) * 16 * m, nblk, m, qlut, sums);
                int64_t first = begin + bb * 32, count = end - first < nblk * 32 ? end - first : nblk * 32;
                /* integer pre-filter against the heap's worst (one unit of slack for rounding),
                   then the exact float test */
                float room = ((topk ? h[0] : out->radius) - tbias - lbias) * scale;
                uint32_t thr = room >= 65535.f ? 0xFFFFu : room < 0.f ? 0u : (uint32_t)room + 1u;
                int64_t nc = candidates(sums, count, thr, cand);
                if (!topk) {
                    if ((rc = radius_push(out, q, cand, nc, sums, tbias + lbias, inv, first))) goto done;
                    continue;
                }
                for (int64_t c = 0; c < nc; c++) {
                    int64_t t = cand[c];
                    float dist = tbias + lbias + (float)sums[t] * inv;
                    if (dist <= h[0]) vt_heap_push(h, hp, k, dist, first + t);
                }
            }
        }
    }
    rc = vt_collector_finish(out);
done:
    free(qv);
    free(lut);
    free(qterm);
    free(cbt);
    free(qlut);
    free(sums);
    free(cand);
    return rc;
}
