/* 4-bit PQ fast-scan: lookup tables quantized to 8 bits, held in SIMD registers and
 * indexed with byte shuffles, 32 vectors at a time (as Faiss's fast-scan, our layout).
 *
 * Block layout (32 vectors, m sub-quantizers): for each sub-quantizer j, 16 bytes;
 * byte t holds the code of vector t (low nibble) and of vector t + 16 (high nibble).
 * A block is 16 * m bytes. Tables are scaled so that a vector's sum fits in uint16 at any
 * m; sums are exact integers, and table quantization and the distance terms use one
 * fixed order of float operations, so every SIMD path agrees bit for bit with the
 * scalar reference.
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

/* The integer pre-filter: sums that can give a distance <= limit (one unit of slack for the
 * rounding); the exact float test follows. */
static inline uint32_t int_threshold(float limit, float bias, float scale) {
    float room = (limit - bias) * scale;
    return room >= 65535.f ? 0xFFFFu : room < 0.f ? 0u : (uint32_t)room + 1u;
}

/* The candidates of a list's block: none from the padding past its last row. */
static inline uint32_t in_list(uint32_t mask, int64_t first, int64_t end) {
    return end - first < 32 ? mask & ((1u << (end - first)) - 1) : mask;
}

/* The fused kernel: from block b on, the sums of each block, compared with thr where they
 * were computed; returns the first block holding a sum <= thr (its 32 sums in vector order
 * in sums, the candidates' bits in *mask), or nb. The scan calls it again after the block
 * with its bound updated, so a block without candidates never leaves the registers. */
static void block_sums_scalar(const uint8_t *blk, int64_t m, const uint8_t *lut, uint16_t *o) {
    for (int t = 0; t < 32; t++) o[t] = 0;
    for (int64_t j = 0; j < m; j++)
        for (int t = 0; t < 16; t++) {
            uint8_t byte = blk[j * 16 + t];
            o[t] += lut[j * 16 + (byte & 15)];
            o[t + 16] += lut[j * 16 + (byte >> 4)];
        }
}

static int64_t next_scalar(const uint8_t *blocks, int64_t b, int64_t nb, int64_t m, const uint8_t *lut, uint32_t thr,
                           uint16_t *sums, uint32_t *mask) {
    for (; b < nb; b++) {
        block_sums_scalar(blocks + b * 16 * m, m, lut, sums);
        uint32_t mk = 0;
        for (int t = 0; t < 32; t++) mk |= (uint32_t)(sums[t] <= thr) << t;
        if (mk) {
            *mask = mk;
            return b;
        }
    }
    return nb;
}

/* Two queries over the same blocks (each its table and bound): the first block where
 * either has a candidate, with both queries' sums and masks (a mask may be 0). The codes of
 * a block are loaded and split into nibbles once for both. */
static int64_t next2_scalar(const uint8_t *blocks, int64_t b, int64_t nb, int64_t m, const uint8_t *const luts[2],
                            const uint32_t thr[2], uint16_t *const sums[2], uint32_t masks[2]) {
    for (; b < nb; b++) {
        uint32_t any = 0;
        for (int q = 0; q < 2; q++) {
            block_sums_scalar(blocks + b * 16 * m, m, luts[q], sums[q]);
            masks[q] = 0;
            for (int t = 0; t < 32; t++) masks[q] |= (uint32_t)(sums[q][t] <= thr[q]) << t;
            any |= masks[q];
        }
        if (any) return b;
    }
    return nb;
}

#if VT_X86
/* The SIMD paths look up 16 vectors per 128-bit lane and sub-quantizer (low nibbles: vectors
 * 0-15, high nibbles: 16-31) and add the looked-up bytes as 16-bit words, without unpacking:
 * even += word (even vector + 256 * odd vector, mod 2^16) and odd += word >> 8. The even
 * vectors' sums are then even - (odd << 8), exact since every sum is below 2^16; unpacking
 * even and odd words gives the sums in vector order. */
VT_TARGET_AVX2 static inline __m128i fold256(__m256i v) {
    return _mm_add_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

/* 16 bits, one a vector: which of the 16 sums (vectors in order, two registers) are <= thr. */
VT_TARGET_AVX2 static inline uint32_t le_mask16(__m128i a, __m128i b, __m128i th) {
    __m128i ca = _mm_cmpeq_epi16(_mm_min_epu16(a, th), a), cb = _mm_cmpeq_epi16(_mm_min_epu16(b, th), b);
    return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(ca, cb));
}

/* The four folded accumulators -> the 32 sums in vector order (v[0]: vectors 0-7, ... v[3]: 24-31). */
VT_TARGET_AVX2 static inline void sums_in_order(__m128i fe0, __m128i fo0, __m128i fe1, __m128i fo1, __m128i v[4]) {
    fe0 = _mm_sub_epi16(fe0, _mm_slli_epi16(fo0, 8));
    fe1 = _mm_sub_epi16(fe1, _mm_slli_epi16(fo1, 8));
    v[0] = _mm_unpacklo_epi16(fe0, fo0);
    v[1] = _mm_unpackhi_epi16(fe0, fo0);
    v[2] = _mm_unpacklo_epi16(fe1, fo1);
    v[3] = _mm_unpackhi_epi16(fe1, fo1);
}

VT_TARGET_AVX2 static inline void store_sums(const __m128i v[4], uint16_t *sums) {
    for (int i = 0; i < 4; i++) _mm_storeu_si128((__m128i *)(sums + 8 * i), v[i]);
}

/* Looked-up bytes of a table t at the low (i0) and high (i1) nibble indices, added to the
 * even / odd accumulators of vectors 0-15 (e0, o0) and 16-31 (e1, o1). */
VT_TARGET_AVX2 static inline __attribute__((always_inline)) void
acc256(__m256i t, __m256i i0, __m256i i1, __m256i *e0, __m256i *o0, __m256i *e1, __m256i *o1) {
    __m256i r0 = _mm256_shuffle_epi8(t, i0), r1 = _mm256_shuffle_epi8(t, i1);
    *e0 = _mm256_add_epi16(*e0, r0);
    *o0 = _mm256_add_epi16(*o0, _mm256_srli_epi16(r0, 8));
    *e1 = _mm256_add_epi16(*e1, r1);
    *o1 = _mm256_add_epi16(*o1, _mm256_srli_epi16(r1, 8));
}

VT_TARGET_AVX2 static inline __attribute__((always_inline)) void
acc128(__m128i t, __m128i i0, __m128i i1, __m128i *e0, __m128i *o0, __m128i *e1, __m128i *o1) {
    __m128i r0 = _mm_shuffle_epi8(t, i0), r1 = _mm_shuffle_epi8(t, i1);
    *e0 = _mm_add_epi16(*e0, r0);
    *o0 = _mm_add_epi16(*o0, _mm_srli_epi16(r0, 8));
    *e1 = _mm_add_epi16(*e1, r1);
    *o1 = _mm_add_epi16(*o1, _mm_srli_epi16(r1, 8));
}

/* One or two queries (nq, a constant once inlined) over the same blocks: the codes of a block
 * are loaded and split into nibbles once; each query's sums and mask at the first block
 * where any query has a candidate. */
VT_TARGET_AVX2 static inline __attribute__((always_inline)) int64_t
blocks_avx2(const uint8_t *blocks, int64_t b, int64_t nb, int64_t m, const int nq, const uint8_t *const *luts,
            const uint32_t *thr, uint16_t *const *sums, uint32_t *masks) {
    /* two sub-quantizers per register, one per 128-bit lane */
    const __m256i low4 = _mm256_set1_epi8(15), zero = _mm256_setzero_si256();
    const __m128i l4 = _mm_set1_epi8(15);
    __m128i th[2];
    for (int q = 0; q < nq; q++) th[q] = _mm_set1_epi16((short)(thr[q] > 0xFFFF ? 0xFFFF : thr[q]));
    for (; b < nb; b++) {
        const uint8_t *blk = blocks + b * 16 * m;
        __m256i e0[2], o0[2], e1[2], o1[2]; /* vectors 0-15, 16-31 */
        for (int q = 0; q < nq; q++) e0[q] = o0[q] = e1[q] = o1[q] = zero;
        int64_t j = 0;
        for (; j + 2 <= m; j += 2) {
            __m256i c = _mm256_loadu_si256((const __m256i *)(blk + j * 16));
            __m256i i0 = _mm256_and_si256(c, low4), i1 = _mm256_and_si256(_mm256_srli_epi16(c, 4), low4);
            for (int q = 0; q < nq; q++)
                acc256(_mm256_loadu_si256((const __m256i *)(luts[q] + j * 16)), i0, i1, &e0[q], &o0[q], &e1[q],
                       &o1[q]);
        }
        __m128i fe0[2], fo0[2], fe1[2], fo1[2], v[2][4];
        for (int q = 0; q < nq; q++) {
            fe0[q] = fold256(e0[q]);
            fo0[q] = fold256(o0[q]);
            fe1[q] = fold256(e1[q]);
            fo1[q] = fold256(o1[q]);
        }
        if (j < m) { /* odd m: the last sub-quantizer on 128 bits */
            __m128i c = _mm_loadu_si128((const __m128i *)(blk + j * 16));
            __m128i i0 = _mm_and_si128(c, l4), i1 = _mm_and_si128(_mm_srli_epi16(c, 4), l4);
            for (int q = 0; q < nq; q++)
                acc128(_mm_loadu_si128((const __m128i *)(luts[q] + j * 16)), i0, i1, &fe0[q], &fo0[q], &fe1[q],
                       &fo1[q]);
        }
        uint32_t mk[2], any = 0;
        for (int q = 0; q < nq; q++) {
            sums_in_order(fe0[q], fo0[q], fe1[q], fo1[q], v[q]);
            mk[q] = le_mask16(v[q][0], v[q][1], th[q]) | le_mask16(v[q][2], v[q][3], th[q]) << 16;
            any |= mk[q];
        }
        if (any) {
            for (int q = 0; q < nq; q++) {
                store_sums(v[q], sums[q]);
                masks[q] = mk[q];
            }
            return b;
        }
    }
    return nb;
}

VT_TARGET_AVX2 static int64_t next_avx2(const uint8_t *blocks, int64_t b, int64_t nb, int64_t m, const uint8_t *lut,
                                        uint32_t thr, uint16_t *sums, uint32_t *mask) {
    return blocks_avx2(blocks, b, nb, m, 1, &lut, &thr, &sums, mask);
}

VT_TARGET_AVX2 static int64_t next2_avx2(const uint8_t *blocks, int64_t b, int64_t nb, int64_t m,
                                         const uint8_t *const luts[2], const uint32_t thr[2], uint16_t *const sums[2],
                                         uint32_t masks[2]) {
    return blocks_avx2(blocks, b, nb, m, 2, luts, thr, sums, masks);
}

VT_TARGET_AVX512 static inline __m128i fold512(__m512i v) {
    __m256i h = _mm256_add_epi16(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    return _mm_add_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

VT_TARGET_AVX512 static inline __attribute__((always_inline)) void
acc512(__m512i t, __m512i i0, __m512i i1, __m512i *e0, __m512i *o0, __m512i *e1, __m512i *o1) {
    __m512i r0 = _mm512_shuffle_epi8(t, i0), r1 = _mm512_shuffle_epi8(t, i1);
    *e0 = _mm512_add_epi16(*e0, r0);
    *o0 = _mm512_add_epi16(*o0, _mm512_srli_epi16(r0, 8));
    *e1 = _mm512_add_epi16(*e1, r1);
    *o1 = _mm512_add_epi16(*o1, _mm512_srli_epi16(r1, 8));
}

/* As blocks_avx2: four sub-quantizers per register, one per 128-bit lane; the last 1-3 by
 * masked loads (a zero table and zero codes add nothing). */
VT_TARGET_AVX512 static inline __attribute__((always_inline)) int64_t
blocks_avx512(const uint8_t *blocks, int64_t b, int64_t nb, int64_t m, const int nq, const uint8_t *const *luts,
              const uint32_t *thr, uint16_t *const *sums, uint32_t *masks) {
    const __m512i low4 = _mm512_set1_epi8(15), zero = _mm512_setzero_si512();
    __m128i th[2];
    for (int q = 0; q < nq; q++) th[q] = _mm_set1_epi16((short)(thr[q] > 0xFFFF ? 0xFFFF : thr[q]));
    const int64_t full = m & ~(int64_t)3;
    const __mmask64 tail = m > full ? (((__mmask64)1 << (16 * (m - full))) - 1) : 0;
    for (; b < nb; b++) {
        const uint8_t *blk = blocks + b * 16 * m;
        __m512i e0[2], o0[2], e1[2], o1[2];
        for (int q = 0; q < nq; q++) e0[q] = o0[q] = e1[q] = o1[q] = zero;
        for (int64_t j = 0; j < full; j += 4) {
            __m512i c = _mm512_loadu_si512((const void *)(blk + j * 16));
            __m512i i0 = _mm512_and_si512(c, low4), i1 = _mm512_and_si512(_mm512_srli_epi16(c, 4), low4);
            for (int q = 0; q < nq; q++)
                acc512(_mm512_loadu_si512((const void *)(luts[q] + j * 16)), i0, i1, &e0[q], &o0[q], &e1[q], &o1[q]);
        }
        if (tail) {
            __m512i c = _mm512_maskz_loadu_epi8(tail, blk + full * 16);
            __m512i i0 = _mm512_and_si512(c, low4), i1 = _mm512_and_si512(_mm512_srli_epi16(c, 4), low4);
            for (int q = 0; q < nq; q++)
                acc512(_mm512_maskz_loadu_epi8(tail, luts[q] + full * 16), i0, i1, &e0[q], &o0[q], &e1[q], &o1[q]);
        }
        __m128i v[2][4];
        uint32_t mk[2], any = 0;
        for (int q = 0; q < nq; q++) {
            sums_in_order(fold512(e0[q]), fold512(o0[q]), fold512(e1[q]), fold512(o1[q]), v[q]);
            mk[q] = 0;
            for (int i = 0; i < 4; i++) mk[q] |= (uint32_t)_mm_cmple_epu16_mask(v[q][i], th[q]) << (8 * i);
            any |= mk[q];
        }
        if (any) {
            for (int q = 0; q < nq; q++) {
                store_sums(v[q], sums[q]);
                masks[q] = mk[q];
            }
            return b;
        }
    }
    return nb;
}

VT_TARGET_AVX512 static int64_t next_avx512(const uint8_t *blocks, int64_t b, int64_t nb, int64_t m,
                                            const uint8_t *lut, uint32_t thr, uint16_t *sums, uint32_t *mask) {
    return blocks_avx512(blocks, b, nb, m, 1, &lut, &thr, &sums, mask);
}

VT_TARGET_AVX512 static int64_t next2_avx512(const uint8_t *blocks, int64_t b, int64_t nb, int64_t m,
                                             const uint8_t *const luts[2], const uint32_t thr[2],
                                             uint16_t *const sums[2], uint32_t masks[2]) {
    return blocks_avx512(blocks, b, nb, m, 2, luts, thr, sums, masks);
}

/* Top-k lists in registers. A query's top-k (2 <= k <= FS_REG_K, FS_REG_K_AVX512 at that
 * level) is loaded once a list, kept in registers while the list's candidates go in and
 * stored when the list is done: sorted worst first (a valid max-heap for the collector's top
 * and its final sort), and a candidate goes in by compares, a count and blends, without a
 * branch on the data. The heap's sift-down mispredicted at about every level: ~100 cycles a
 * push, a quarter of the fast-scan's time at nprobe 1 (61 pushes a query on synthetic 1M,
 * IVF1024, k 10); from k = 20 the reservoir's selects took a sixth of an RFlat search (its
 * shortlist of 40). The job is the only writer of its collector, and every push goes through
 * here, so the lists stay sorted from the collector's start (every slot empty) to its end.
 * Past the limits the registers no longer pay: AVX-512 k 48 0.97-1.03x, k 64 0.93x (two
 * queries' lists and the block kernel's accumulators spill). */
#define FS_REG_K 16        /* AVX2: two registers of distances, four of ids */
#define FS_REG_K_AVX512 40 /* three registers of distances, six of ids */

/* One (query, list) scan, or two queries sharing the list's code loads; each query's top-k
 * in and out of hd[q], hi[q] (k entries, sorted worst first). */
typedef void (*list_topk_fn)(const uint8_t *lb, int64_t nb, int64_t begin, int64_t end, int64_t m, int nq,
                             const uint8_t *const *luts, const float *fb, const float *scale, float *const *hd,
                             int64_t *const *hi, int64_t k);

/* What a register scan keeps a query besides its registers: the worst entry (the bound), the
 * table's inverse scale, the integer threshold, and the block's sums. */
typedef struct {
    float worst[2], inv[2];
    int64_t worst_id[2];
    uint32_t thr[2];
    uint16_t s0[32], s1[32];
} reg_scan;

static inline void reg_scan_bound(reg_scan *st, int q, float worst, int64_t worst_id, float fb, float scale) {
    st->worst[q] = worst;
    st->worst_id[q] = worst_id;
    st->thr[q] = int_threshold(worst, fb, scale);
}

/* The list's blocks through a level's kernel (BLOCKS), each query's candidates that beat its
 * worst entry put in by INSERT(q, d, id), which refreshes st.worst[q] and st.worst_id[q];
 * the bound follows each block with candidates. Shared by the levels' register scans. */
#define REG_SCAN_BLOCKS(BLOCKS, INSERT)                                                                       \
    do {                                                                                                      \
        uint16_t *const sums[2] = {st.s0, st.s1};                                                             \
        for (int64_t b = 0; b < nb; b++) {                                                                    \
            uint32_t masks[2] = {0, 0};                                                                       \
            if ((b = BLOCKS(lb, b, nb, m, nq, luts, st.thr, sums, masks)) == nb) break;                       \
            const int64_t first = begin + b * 32;                                                             \
            for (int q = 0; q < nq; q++) {                                                                    \
                for (uint32_t mask = in_list(masks[q], first, end); mask; mask &= mask - 1) {                 \
                    const float d = fb[q] + (float)sums[q][__builtin_ctz(mask)] * st.inv[q];                  \
                    const int64_t id = first + __builtin_ctz(mask);                                           \
                    if (vt_worse(st.worst[q], st.worst_id[q], d, id)) INSERT(q, d, id);                       \
                }                                                                                             \
                st.thr[q] = int_threshold(st.worst[q], fb[q], scale[q]);                                      \
            }                                                                                                 \
        }                                                                                                     \
    } while (0)

/* AVX-512: fr registers of 16 distances, 2 fr of 8 ids (k <= 16 fr). The entries worse than
 * the candidate lead: they move down one (entry i + 1 into lane i, across registers) and it
 * takes the last one's place. */
VT_TARGET_AVX512 static inline __attribute__((always_inline)) void
insert_avx512(__m512 *a, __m512i *ids, const int fr, uint64_t km, float d, int64_t id) {
    const __m512 vd = _mm512_set1_ps(d);
    const __m512i vid = _mm512_set1_epi64(id);
    uint64_t worse = 0;
    for (int r = 0; r < fr; r++) {
        __mmask16 gt = _mm512_cmp_ps_mask(a[r], vd, _CMP_GT_OQ), eq = _mm512_cmp_ps_mask(a[r], vd, _CMP_EQ_OQ);
        __mmask16 idgt = (__mmask16)(_mm512_cmpgt_epi64_mask(ids[2 * r], vid) |
                                     (unsigned)_mm512_cmpgt_epi64_mask(ids[2 * r + 1], vid) << 8);
        worse |= (uint64_t)(uint16_t)(gt | (eq & idgt)) << (16 * r);
    }
    const uint64_t put = 1ull << (__builtin_popcountll(worse & km) - 1), down = put - 1;
    for (int r = 0; r < fr; r++) {
        __m512i cur = _mm512_castps_si512(a[r]);
        __m512 moved =
            _mm512_castsi512_ps(_mm512_alignr_epi32(r + 1 < fr ? _mm512_castps_si512(a[r + 1]) : cur, cur, 1));
        a[r] = _mm512_mask_mov_ps(_mm512_mask_mov_ps(a[r], (__mmask16)(down >> (16 * r)), moved),
                                  (__mmask16)(put >> (16 * r)), vd);
    }
    for (int r = 0; r < 2 * fr; r++) {
        __m512i moved = _mm512_alignr_epi64(r + 1 < 2 * fr ? ids[r + 1] : ids[r], ids[r], 1);
        ids[r] = _mm512_mask_mov_epi64(_mm512_mask_mov_epi64(ids[r], (__mmask8)(down >> (8 * r)), moved),
                                       (__mmask8)(put >> (8 * r)), vid);
    }
}

VT_TARGET_AVX512 static inline __attribute__((always_inline)) void
list_topk_avx512_n(const uint8_t *lb, int64_t nb, int64_t begin, int64_t end, int64_t m, const int nq, const int fr,
                   const uint8_t *const *luts, const float *fb, const float *scale, float *const *hd,
                   int64_t *const *hi, int64_t k) {
    const uint64_t km = (1ull << k) - 1;
    __m512 a[2][3];
    __m512i ids[2][6];
    reg_scan st;
    for (int q = 0; q < nq; q++) {
        for (int r = 0; r < fr; r++) a[q][r] = _mm512_maskz_loadu_ps((__mmask16)(km >> (16 * r)), hd[q] + 16 * r);
        for (int r = 0; r < 2 * fr; r++)
            ids[q][r] = _mm512_maskz_loadu_epi64((__mmask8)(km >> (8 * r)), hi[q] + 8 * r);
        st.inv[q] = 1.f / scale[q];
        reg_scan_bound(&st, q, hd[q][0], hi[q][0], fb[q], scale[q]);
    }
#define INSERT_AVX512(q, d, id)                                                                                \
    (insert_avx512(a[q], ids[q], fr, km, d, id), st.worst[q] = _mm512_cvtss_f32(a[q][0]),                     \
     st.worst_id[q] = _mm_cvtsi128_si64(_mm512_castsi512_si128(ids[q][0])))
    REG_SCAN_BLOCKS(blocks_avx512, INSERT_AVX512);
#undef INSERT_AVX512
    for (int q = 0; q < nq; q++) {
        for (int r = 0; r < fr; r++) _mm512_mask_storeu_ps(hd[q] + 16 * r, (__mmask16)(km >> (16 * r)), a[q][r]);
        for (int r = 0; r < 2 * fr; r++)
            _mm512_mask_storeu_epi64(hi[q] + 8 * r, (__mmask8)(km >> (8 * r)), ids[q][r]);
    }
}

/* The kernel for nq queries and the registers k needs (a constant each, once inlined). */
#define FS_AVX512_FR(nq, fr) list_topk_avx512_n(lb, nb, begin, end, m, nq, fr, luts, fb, scale, hd, hi, k)
VT_TARGET_AVX512 static void list_topk_avx512(const uint8_t *lb, int64_t nb, int64_t begin, int64_t end, int64_t m,
                                              int nq, const uint8_t *const *luts, const float *fb, const float *scale,
                                              float *const *hd, int64_t *const *hi, int64_t k) {
    switch ((k + 15) / 16 + 3 * (nq == 2)) {
    case 1: FS_AVX512_FR(1, 1); break;
    case 2: FS_AVX512_FR(1, 2); break;
    case 3: FS_AVX512_FR(1, 3); break;
    case 4: FS_AVX512_FR(2, 1); break;
    case 5: FS_AVX512_FR(2, 2); break;
    default: FS_AVX512_FR(2, 3); break;
    }
}
#undef FS_AVX512_FR

/* AVX2: fr registers of 8 distances, 2 fr of 4 ids (k <= 8 fr); as insert_avx512. */
VT_TARGET_AVX2 static inline __attribute__((always_inline)) void
insert_avx2(__m256 *a, __m256i *ids, const int fr, unsigned km, float d, int64_t id) {
    const __m256i next8 = _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7), lane8 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                  eight = _mm256_set1_epi32(8), lane4 = _mm256_setr_epi64x(0, 1, 2, 3), four = _mm256_set1_epi64x(4);
    const __m256 vd = _mm256_set1_ps(d);
    const __m256i vid = _mm256_set1_epi64x(id);
    unsigned gt = 0, eq = 0, idgt = 0;
    for (int r = 0; r < fr; r++) {
        gt |= (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a[r], vd, _CMP_GT_OQ)) << (8 * r);
        eq |= (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a[r], vd, _CMP_EQ_OQ)) << (8 * r);
    }
    for (int r = 0; r < 2 * fr; r++)
        idgt |= (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(ids[r], vid))) << (4 * r);
    const int at = __builtin_popcount((gt | (eq & idgt)) & km) - 1; /* the candidate's place */
    const __m256i at8 = _mm256_set1_epi32(at), at4 = _mm256_set1_epi64x(at);
    __m256i l8 = lane8, l4 = lane4;
    for (int r = 0; r < fr; r++, l8 = _mm256_add_epi32(l8, eight)) {
        __m256 moved = _mm256_permutevar8x32_ps(a[r], next8);
        if (r + 1 < fr) /* the next register's first entry into lane 7 */
            moved = _mm256_blend_ps(moved, _mm256_permutevar8x32_ps(a[r + 1], _mm256_setzero_si256()), 0x80);
        __m256 down = _mm256_castsi256_ps(_mm256_cmpgt_epi32(at8, l8)),
               put = _mm256_castsi256_ps(_mm256_cmpeq_epi32(at8, l8));
        a[r] = _mm256_blendv_ps(_mm256_blendv_ps(a[r], moved, down), vd, put);
    }
    for (int r = 0; r < 2 * fr; r++, l4 = _mm256_add_epi64(l4, four)) {
        __m256i moved = _mm256_permute4x64_epi64(ids[r], 0xF9); /* lanes 1, 2, 3, 3 */
        if (r + 1 < 2 * fr) /* the next register's first id into lane 3 */
            moved = _mm256_blend_epi32(moved, _mm256_permute4x64_epi64(ids[r + 1], 0x00), 0xC0);
        __m256i down = _mm256_cmpgt_epi64(at4, l4), put = _mm256_cmpeq_epi64(at4, l4);
        ids[r] = _mm256_blendv_epi8(_mm256_blendv_epi8(ids[r], moved, down), vid, put);
    }
}

VT_TARGET_AVX2 static inline __attribute__((always_inline)) void
list_topk_avx2_n(const uint8_t *lb, int64_t nb, int64_t begin, int64_t end, int64_t m, const int nq, const int fr,
                 const uint8_t *const *luts, const float *fb, const float *scale, float *const *hd,
                 int64_t *const *hi, int64_t k) {
    const unsigned km = (1u << k) - 1;
    __m256 a[2][2];
    __m256i ids[2][4];
    reg_scan st;
    for (int q = 0; q < nq; q++) {
        float fbuf[16] = {0};
        int64_t ibuf[16] = {0};
        memcpy(fbuf, hd[q], sizeof(float) * (size_t)k);
        memcpy(ibuf, hi[q], sizeof(int64_t) * (size_t)k);
        for (int r = 0; r < fr; r++) a[q][r] = _mm256_loadu_ps(fbuf + 8 * r);
        for (int r = 0; r < 2 * fr; r++) ids[q][r] = _mm256_loadu_si256((const __m256i *)(ibuf + 4 * r));
        st.inv[q] = 1.f / scale[q];
        reg_scan_bound(&st, q, fbuf[0], ibuf[0], fb[q], scale[q]);
    }
#define INSERT_AVX2(q, d, id)                                                                                  \
    (insert_avx2(a[q], ids[q], fr, km, d, id), st.worst[q] = _mm256_cvtss_f32(a[q][0]),                       \
     st.worst_id[q] = _mm_cvtsi128_si64(_mm256_castsi256_si128(ids[q][0])))
    REG_SCAN_BLOCKS(blocks_avx2, INSERT_AVX2);
#undef INSERT_AVX2
    for (int q = 0; q < nq; q++) {
        float fbuf[16];
        int64_t ibuf[16];
        for (int r = 0; r < fr; r++) _mm256_storeu_ps(fbuf + 8 * r, a[q][r]);
        for (int r = 0; r < 2 * fr; r++) _mm256_storeu_si256((__m256i *)(ibuf + 4 * r), ids[q][r]);
        memcpy(hd[q], fbuf, sizeof(float) * (size_t)k);
        memcpy(hi[q], ibuf, sizeof(int64_t) * (size_t)k);
    }
}

VT_TARGET_AVX2 static void list_topk_avx2(const uint8_t *lb, int64_t nb, int64_t begin, int64_t end, int64_t m,
                                          int nq, const uint8_t *const *luts, const float *fb, const float *scale,
                                          float *const *hd, int64_t *const *hi, int64_t k) {
    if (k <= 8) {
        if (nq == 2) list_topk_avx2_n(lb, nb, begin, end, m, 2, 1, luts, fb, scale, hd, hi, k);
        else list_topk_avx2_n(lb, nb, begin, end, m, 1, 1, luts, fb, scale, hd, hi, k);
    } else if (nq == 2) list_topk_avx2_n(lb, nb, begin, end, m, 2, 2, luts, fb, scale, hd, hi, k);
    else list_topk_avx2_n(lb, nb, begin, end, m, 1, 2, luts, fb, scale, hd, hi, k);
}
#endif

typedef int64_t (*next_fn)(const uint8_t *, int64_t, int64_t, int64_t, const uint8_t *, uint32_t, uint16_t *,
                           uint32_t *);

static next_fn next_kernel(void) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: return next_avx512;
    case VT_AVX2: return next_avx2;
    }
#endif
    return next_scalar;
}

typedef int64_t (*next2_fn)(const uint8_t *, int64_t, int64_t, int64_t, const uint8_t *const[2], const uint32_t[2],
                            uint16_t *const[2], uint32_t[2]);

static next2_fn next2_kernel(void) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: return next2_avx512;
    case VT_AVX2: return next2_avx2;
    }
#endif
    return next2_scalar;
}

/* The level's list scan with the top-k in registers, for a top-k collector with 2 <= k <=
 * the level's limit (NULL: the generic scan and the collector's own push; at k = 1 a push is
 * one store, and the registers' loads and stores a list cost 2-3 % more). A collector made
 * with reservoirs (k >= VT_RESERVOIR_K) drops them for heaps when the registers take its k. */
static list_topk_fn list_topk_kernel(const vt_collector *out) {
    if (out->radius_mode || out->k < 2) return NULL;
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: return out->k <= FS_REG_K_AVX512 ? list_topk_avx512 : NULL;
    case VT_AVX2: return out->k <= FS_REG_K && !out->cap ? list_topk_avx2 : NULL;
    }
#endif
    return NULL;
}

/* Every block's 32 sums (the kernel with a bound that every sum meets). */
void vt_fs_accumulate(const uint8_t *blocks, int64_t nblocks, int64_t m, const uint8_t *lut, uint16_t *out) {
    next_fn next = next_kernel();
    uint32_t mask;
    for (int64_t b = 0; b < nblocks; b++) next(blocks, b, b + 1, m, lut, 0xFFFF, out + b * 32, &mask);
}

/* Table quantization: t = lut (+ add, the per-list terms of a residual search) -> uint8.
 * Pass 1 finds each sub-quantizer's minimum and span, pass 2 rounds (t - min) * scale.
 * One scale per table: 255 over the largest span, lowered when m is so large that a sum
 * could pass 65535. A vector's distance is then about bias + sum / scale. */
static void span_scalar(const float *lut, const float *add, int64_t m, float *mins, float *spans) {
    for (int64_t j = 0; j < m; j++) {
        float t[16];
        for (int c = 0; c < 16; c++) t[c] = add ? lut[j * 16 + c] + add[j * 16 + c] : lut[j * 16 + c];
        float mn = t[0], mx = t[0];
        for (int c = 1; c < 16; c++) {
            mn = t[c] < mn ? t[c] : mn;
            mx = t[c] > mx ? t[c] : mx;
        }
        mins[j] = mn;
        spans[j] = mx - mn;
    }
}

static void round_scalar(const float *lut, const float *add, int64_t m, const float *mins, float a, uint8_t *qlut) {
    for (int64_t j = 0; j < m; j++)
        for (int c = 0; c < 16; c++) {
            float t = add ? lut[j * 16 + c] + add[j * 16 + c] : lut[j * 16 + c];
            float v = floorf((t - mins[j]) * a + 0.5f);
            qlut[j * 16 + c] = (uint8_t)(v > 255.f ? 255.f : v);
        }
}

#if VT_X86
VT_TARGET_AVX2 static inline void load16_avx2(const float *lut, const float *add, int64_t j, __m256 *t0, __m256 *t1) {
    *t0 = _mm256_loadu_ps(lut + j * 16);
    *t1 = _mm256_loadu_ps(lut + j * 16 + 8);
    if (add) {
        *t0 = _mm256_add_ps(*t0, _mm256_loadu_ps(add + j * 16));
        *t1 = _mm256_add_ps(*t1, _mm256_loadu_ps(add + j * 16 + 8));
    }
}

VT_TARGET_AVX2 static void span_avx2(const float *lut, const float *add, int64_t m, float *mins, float *spans) {
    for (int64_t j = 0; j < m; j++) {
        __m256 t0, t1;
        load16_avx2(lut, add, j, &t0, &t1);
        __m256 lo = _mm256_min_ps(t0, t1), hi = _mm256_max_ps(t0, t1);
        __m128 l = _mm_min_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps(lo, 1));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(hi), _mm256_extractf128_ps(hi, 1));
        l = _mm_min_ps(l, _mm_movehl_ps(l, l));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        l = _mm_min_ss(l, _mm_movehdup_ps(l));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        mins[j] = _mm_cvtss_f32(l);
        spans[j] = _mm_cvtss_f32(h) - mins[j];
    }
}

VT_TARGET_AVX2 static void round_avx2(const float *lut, const float *add, int64_t m, const float *mins, float a,
                                      uint8_t *qlut) {
    const __m256 va = _mm256_set1_ps(a), half = _mm256_set1_ps(0.5f), top = _mm256_set1_ps(255.f);
    for (int64_t j = 0; j < m; j++) {
        __m256 t0, t1, mn = _mm256_set1_ps(mins[j]);
        load16_avx2(lut, add, j, &t0, &t1);
        t0 = _mm256_min_ps(_mm256_floor_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(t0, mn), va), half)), top);
        t1 = _mm256_min_ps(_mm256_floor_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(t1, mn), va), half)), top);
        __m256i w = _mm256_packus_epi32(_mm256_cvttps_epi32(t0), _mm256_cvttps_epi32(t1)); /* 0-3 8-11 4-7 12-15 */
        __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        /* b: 0-3 8-11 4-7 12-15 as 32-bit groups -> in order */
        _mm_storeu_si128((__m128i *)(qlut + j * 16), _mm_shuffle_epi32(b, _MM_SHUFFLE(3, 1, 2, 0)));
    }
}

VT_TARGET_AVX512 static inline __m512 load16_avx512(const float *lut, const float *add, int64_t j) {
    __m512 t = _mm512_loadu_ps(lut + j * 16);
    return add ? _mm512_add_ps(t, _mm512_loadu_ps(add + j * 16)) : t;
}

VT_TARGET_AVX512 static void span_avx512(const float *lut, const float *add, int64_t m, float *mins, float *spans) {
    for (int64_t j = 0; j < m; j++) {
        __m512 t = load16_avx512(lut, add, j);
        mins[j] = _mm512_reduce_min_ps(t);
        spans[j] = _mm512_reduce_max_ps(t) - mins[j];
    }
}

VT_TARGET_AVX512 static void round_avx512(const float *lut, const float *add, int64_t m, const float *mins, float a,
                                          uint8_t *qlut) {
    const __m512 va = _mm512_set1_ps(a), half = _mm512_set1_ps(0.5f), top = _mm512_set1_ps(255.f);
    for (int64_t j = 0; j < m; j++) {
        __m512 t = load16_avx512(lut, add, j);
        t = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(t, _mm512_set1_ps(mins[j])), va), half);
        t = _mm512_min_ps(_mm512_floor_ps(t), top);
        _mm_storeu_si128((__m128i *)(qlut + j * 16), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(t)));
    }
}
#endif

static void spans_of(const float *lut, const float *add, int64_t m, float *mins, float *spans) {
#if VT_X86
    if (vt_simd_level() == VT_AVX512) span_avx512(lut, add, m, mins, spans);
    else if (vt_simd_level() == VT_AVX2) span_avx2(lut, add, m, mins, spans);
    else
#endif
        span_scalar(lut, add, m, mins, spans);
}

/* The scale of a table's own quantization: 255 over its widest sub-table span, less where m
 * sub-tables could overflow a 16-bit sum. Leaves the sub-tables' minima in scratch (2 m floats)
 * and their sum, the table's bias, in *bias. */
static float own_scale(const float *lut, const float *add, int64_t m, float *scratch, float *bias) {
    float *mins = scratch, *spans = scratch + m, widest = 0.f, total = 0.f, b = 0.f;
    spans_of(lut, add, m, mins, spans);
    for (int64_t j = 0; j < m; j++) {
        b += mins[j];
        widest = spans[j] > widest ? spans[j] : widest;
        total += spans[j];
    }
    *bias = b;
    float a = widest > 0.f ? 255.f / widest : 1.f;
    /* sum <= a * total + m / 2 (rounding) must stay below 2^16 */
    if (m > 257 && total > 0.f && a * total + 0.5f * (float)m > 65535.f) a = (65535.f - 0.5f * (float)m - 1.f) / total;
    return a;
}

/* A table (lut + add) in bytes at scale a, its sub-tables' minima given. */
static void round_lut(const float *lut, const float *add, int64_t m, const float *mins, float a, uint8_t *qlut) {
#if VT_X86
    if (vt_simd_level() == VT_AVX512) round_avx512(lut, add, m, mins, a, qlut);
    else if (vt_simd_level() == VT_AVX2) round_avx2(lut, add, m, mins, a, qlut);
    else
#endif
        round_scalar(lut, add, m, mins, a, qlut);
}

/* A table in bytes at its own scale; the bias is its minima's sum. */
static void quantize_lut(const float *lut, const float *add, int64_t m, uint8_t *qlut, float *bias, float *scale,
                         float *scratch) {
    float a = own_scale(lut, add, m, scratch, bias);
    round_lut(lut, add, m, scratch, a, qlut);
    *scale = a;
}

int vt_fs_quantize_lut(const float *lut, int64_t m, uint8_t *qlut, float *bias, float *scale) {
    float *scratch = m > 0 ? malloc(sizeof(float) * (size_t)(2 * m)) : NULL;
    if (!scratch) return m > 0 ? -4 : -1;
    quantize_lut(lut, NULL, m, qlut, bias, scale, scratch);
    free(scratch);
    return 0;
}

/* |x - c|^2 (l2) or <x, c> summed in 16 lanes, then 8 + 8, 4 + 4, 2 + 2, 1 + 1: one order of
 * float operations at every SIMD level (a query's bias per list, so every path ranks alike). */
static float lanes16_scalar(const float *x, const float *c, int64_t d, int l2) {
    float acc[16] = {0};
    for (int64_t i = 0; i < d; i++) {
        float t = l2 ? x[i] - c[i] : x[i];
        acc[i % 16] += t * (l2 ? t : c[i]);
    }
    for (int w = 8; w; w /= 2)
        for (int l = 0; l < w; l++) acc[l] += acc[l + w];
    return acc[0];
}

#if VT_X86
VT_TARGET_AVX2 static inline float fold8(__m256 s8) {
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

VT_TARGET_AVX2 static float lanes16_avx2(const float *x, const float *c, int64_t d, int l2) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= d; i += 16) {
        __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
        __m256 c0 = _mm256_loadu_ps(c + i), c1 = _mm256_loadu_ps(c + i + 8);
        if (l2) {
            x0 = _mm256_sub_ps(x0, c0);
            x1 = _mm256_sub_ps(x1, c1);
            c0 = x0;
            c1 = x1;
        }
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(x0, c0));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(x1, c1));
    }
    if (i < d) { /* the tail through a zero-padded copy: a zero term leaves a lane as it is */
        float xt[16] = {0}, ct[16] = {0};
        memcpy(xt, x + i, sizeof(float) * (size_t)(d - i));
        memcpy(ct, c + i, sizeof(float) * (size_t)(d - i));
        __m256 x0 = _mm256_loadu_ps(xt), x1 = _mm256_loadu_ps(xt + 8);
        __m256 c0 = _mm256_loadu_ps(ct), c1 = _mm256_loadu_ps(ct + 8);
        if (l2) {
            x0 = _mm256_sub_ps(x0, c0);
            x1 = _mm256_sub_ps(x1, c1);
            c0 = x0;
            c1 = x1;
        }
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(x0, c0));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(x1, c1));
    }
    return fold8(_mm256_add_ps(a0, a1));
}

VT_TARGET_AVX512 static float lanes16_avx512(const float *x, const float *c, int64_t d, int l2) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < d; i += 16) {
        __mmask16 k = d - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (d - i)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(k, x + i), cv = _mm512_maskz_loadu_ps(k, c + i);
        if (l2) {
            xv = _mm512_sub_ps(xv, cv);
            cv = xv;
        }
        acc = _mm512_add_ps(acc, _mm512_mul_ps(xv, cv));
    }
    return fold8(_mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
}
#endif

static float lanes16(const float *x, const float *c, int64_t d, int l2) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: return lanes16_avx512(x, c, d, l2);
    case VT_AVX2: return lanes16_avx2(x, c, d, l2);
    }
#endif
    return lanes16_scalar(x, c, d, l2);
}

/* Candidates into a radius list or a reservoir (kept out of line: the heap's loop stays as
 * small as it was). */
__attribute__((noinline)) static int push_all(vt_collector *out, int64_t q, uint32_t mask, const uint16_t *sums,
                                              float bias, float inv, int64_t first) {
    for (; mask; mask &= mask - 1) {
        int t = __builtin_ctz(mask);
        if (vt_collector_push(out, q, bias + (float)sums[t] * inv, first + t)) return -4;
    }
    return 0;
}

/* A block's candidates for query q: its heap in a tight loop, else push_all. */
static inline int offer_block(vt_collector *out, int64_t q, uint32_t mask, const uint16_t *sums, float fb, float inv,
                              int64_t first) {
    if (out->radius_mode || out->cap) return push_all(out, q, mask, sums, fb, inv, first);
    const int64_t k = out->k;
    float *h = out->hd + q * k;
    int64_t *hp = out->hi + q * k;
    for (; mask; mask &= mask - 1) {
        int t = __builtin_ctz(mask);
        float dist = fb + (float)sums[t] * inv;
        if (dist <= h[0]) vt_heap_push(h, hp, k, dist, first + t);
    }
    return 0;
}

/* One list scanned for one query with its table: candidates into the query's top-k (or radius
 * list); the bound is refreshed after each block with candidates. */
static int scan_list(const next_fn next, const uint8_t *lb, int64_t nb, int64_t begin, int64_t end, int64_t m,
                     const uint8_t *qlut, float fb, float scale, vt_collector *out, int64_t q) {
    uint16_t sums[32];
    for (int64_t b = 0; b < nb; b++) {
        uint32_t mask = 0, thr = int_threshold(vt_collector_threshold(out, q), fb, scale);
        if ((b = next(lb, b, nb, m, qlut, thr, sums, &mask)) == nb) break;
        int64_t first = begin + b * 32;
        if (offer_block(out, q, in_list(mask, first, end), sums, fb, 1.f / scale, first)) return -4;
    }
    return 0;
}

/* The same list for two queries at once (codes read once): each query sees the bounds and
 * candidates it would alone, so the results do not change. */
static int scan_list2(const next2_fn next2, const uint8_t *lb, int64_t nb, int64_t begin, int64_t end, int64_t m,
                      const uint8_t *const luts[2], const float fb[2], const float scale[2], const int64_t q[2],
                      vt_collector *out) {
    uint16_t s0[32], s1[32];
    uint16_t *const sums[2] = {s0, s1};
    for (int64_t b = 0; b < nb; b++) {
        uint32_t masks[2] = {0, 0}, thr[2];
        for (int i = 0; i < 2; i++) thr[i] = int_threshold(vt_collector_threshold(out, q[i]), fb[i], scale[i]);
        if ((b = next2(lb, b, nb, m, luts, thr, sums, masks)) == nb) break;
        int64_t first = begin + b * 32;
        for (int i = 0; i < 2; i++)
            if (offer_block(out, q[i], in_list(masks[i], first, end), sums[i], fb[i], 1.f / scale[i], first)) return -4;
    }
    return 0;
}

static int by_key(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Queries are taken QUERY_BATCH at a time, list by list (as Faiss's fast-scan does): a list's
 * codes are read once for every query of the batch that probes it and stay in cache
 * (synthetic 1M, IVF1024, PQ32x4fsnp, nprobe 64: +11 % with AVX-512, +16 % with AVX2).
 * The threads of a search share one job and claim its batches in turn (vt_batches), none
 * smaller than QUERY_BATCH_MIN. */
#define QUERY_BATCH 256
#define QUERY_BATCH_MIN 32
#define PAIR_MINIMA_MAX (1 << 22) /* floats of (query, list) table minima a batch keeps (16 MB): fewer queries past it */

/* A search's arguments and the batches its threads share. */
struct vt_fs_job {
    const float *queries, *centroids, *codebooks, *precomputed, *cbt;
    const uint8_t *blocks;
    const int64_t *block_offsets, *list_offsets, *probes;
    const vt_centroid_tiles *tiles; /* without probes: each batch finds its queries' nearest lists */
    int64_t nq, d, nlist, nprobe, m, qb;
    int metric, residual_l2, residual_ip;
    next_fn next;
    next2_fn next2;
    list_topk_fn list_topk; /* or NULL */
    vt_collector *out;
    vt_batches batches; /* of queries, at most qb each */
};
typedef struct vt_fs_job fs_job;

/* A thread's working memory: the tables and pairs of one batch. */
typedef struct {
    float *qv, *lut, *scratch, *qbias, *qscale, *qterms, *pmins, *pbias, *pdist;
    uint8_t *lqluts, *qluts;
    int64_t *pairs, *probes;
} fs_buffers;

static void fs_buffers_free(fs_buffers *b) {
    free(b->qv);
    free(b->lut);
    free(b->scratch);
    free(b->qbias);
    free(b->qscale);
    free(b->qterms);
    free(b->pmins);
    free(b->pbias);
    free(b->lqluts);
    free(b->qluts);
    free(b->pairs);
    free(b->probes);
    free(b->pdist);
}

static int fs_buffers_alloc(const fs_job *j, fs_buffers *b) {
    const int64_t qb = j->qb, tsize = j->m * 16, precomputed = j->residual_l2 && j->precomputed;
    memset(b, 0, sizeof *b);
    b->qv = malloc(sizeof(float) * (size_t)j->d);
    b->lut = malloc(sizeof(float) * (size_t)tsize);
    b->scratch = malloc(sizeof(float) * (size_t)(2 * j->m));
    b->lqluts = malloc((size_t)(2 * tsize)); /* (query, list) tables, by residual */
    b->qluts = malloc((size_t)(qb * tsize)); /* tables of the batch's queries */
    b->qbias = malloc(sizeof(float) * (size_t)qb);
    b->qscale = malloc(sizeof(float) * (size_t)qb);
    b->pairs = malloc(sizeof(int64_t) * (size_t)(qb * j->nprobe > 0 ? qb * j->nprobe : 1));
    if (j->tiles) { /* the batch's probes */
        b->probes = malloc(sizeof(int64_t) * (size_t)(qb * j->nprobe + 1));
        b->pdist = malloc(sizeof(float) * (size_t)(qb * j->nprobe + 1));
    }
    if (precomputed) {
        b->qterms = malloc(sizeof(float) * (size_t)(qb * tsize));
        b->pmins = malloc(sizeof(float) * (size_t)(qb * j->nprobe * j->m + 1)); /* (query, probe) minima */
        b->pbias = malloc(sizeof(float) * (size_t)(qb * j->nprobe + 1));
    }
    if (!b->qv || !b->lut || !b->scratch || !b->lqluts || !b->qluts || !b->qbias || !b->qscale || !b->pairs ||
        (precomputed && (!b->qterms || !b->pmins || !b->pbias)) || (j->tiles && (!b->probes || !b->pdist)))
        return -4; /* the caller frees what was allocated */
    return 0;
}

/* Queries q0 .. q0 + nb_q - 1: their tables, their (query, list) pairs by list, the scans. */
static int fs_batch(const fs_job *j, fs_buffers *b, int64_t q0, int64_t nb_q) {
    const int64_t d = j->d, m = j->m, nprobe = j->nprobe, nlist = j->nlist, tsize = m * 16;
    const int64_t *list_offsets = j->list_offsets, *block_offsets = j->block_offsets;
    const float *precomputed = j->precomputed;
    const int64_t *probes = j->probes ? j->probes + q0 * nprobe : b->probes; /* the batch's, query i at i * nprobe */
    int64_t npairs = 0;
    int rc = 0;
    if (!j->probes && nprobe && vt_probe_tiles(j->tiles, j->queries + q0 * d, nb_q, nprobe, b->probes, b->pdist))
        return -1;
    for (int64_t i = 0; i < nb_q; i++) { /* each query's own table, and its probes by list */
        const float *x = j->queries + (q0 + i) * d;
        if (!j->residual_l2) {
            vt_lut_from_transposed(VT_SCAN_PQ, x, d, j->cbt, m, 16, j->metric, b->lut);
            quantize_lut(b->lut, NULL, m, b->qluts + i * tsize, &b->qbias[i], &b->qscale[i], b->scratch);
        } else if (precomputed) { /* -2 <x_j, codeword>, shared by every list */
            float *qt = b->qterms + i * tsize;
            vt_lut_from_transposed(VT_SCAN_PQ, x, d, j->cbt, m, 16, 1, qt);
            for (int64_t c = 0; c < tsize; c++) qt[c] *= 2.f;
            /* one scale for all the query's lists, the smallest of their own (as Faiss's),
               so that their sums count in the same units: on the synthetic 1M set the
               top-40 then holds as many true neighbours as float ADC's (0.4721-0.4724 at
               nprobe 2-16, against 0.4712 with a scale a (query, list)) */
            b->qscale[i] = 0.f;
            for (int64_t p = 0; p < nprobe; p++) { /* each pair's minima and their sum kept for its scan */
                int64_t l = probes[i * nprobe + p], at = i * nprobe + p;
                if (l < 0 || l >= nlist || list_offsets[l + 1] == list_offsets[l]) continue; /* not scanned */
                float a = own_scale(precomputed + l * tsize, qt, m, b->scratch, &b->pbias[at]);
                memcpy(b->pmins + at * m, b->scratch, sizeof(float) * (size_t)m);
                b->qscale[i] = b->qscale[i] == 0.f || a < b->qscale[i] ? a : b->qscale[i];
            }
        }
        for (int64_t p = 0; p < nprobe; p++) {
            int64_t l = probes[i * nprobe + p], begin, end;
            if ((rc = vt_list_range(list_offsets, nlist, l, &begin, &end))) return rc;
            if (l < 0 || begin == end) continue;
            if (block_offsets[l + 1] - block_offsets[l] != (end - begin + 31) / 32) return -3;
            b->pairs[npairs++] = l << 32 | (i * nprobe + p); /* by list, then query */
        }
    }
    /* each query's nearest list first (its heap gets a tight bound early), then the other
       lists; both groups by list, so that queries probing the same list meet and two at a
       time share the loads of its codes (scan_list2). The results do not depend on the
       order: the heaps keep the least (distance, id). */
    int64_t *pairs = b->pairs, first = 0;
    for (int64_t t = 0; t < npairs; t++)
        if ((pairs[t] & 0xffffffff) % nprobe == 0) {
            int64_t tmp = pairs[first];
            pairs[first++] = pairs[t];
            pairs[t] = tmp;
        }
    qsort(pairs, (size_t)first, sizeof(int64_t), by_key);
    qsort(pairs + first, (size_t)(npairs - first), sizeof(int64_t), by_key);
    for (int64_t t = 0; t < npairs && !rc;) {
        const int64_t l = pairs[t] >> 32;
        const int two = t + 1 < npairs && pairs[t + 1] >> 32 == l;
        const uint8_t *luts[2];
        float fb[2], sc[2];
        int64_t qs[2];
        for (int s = 0; s <= two; s++) { /* the table, bias and scale of each query on list l */
            const int64_t i = (pairs[t + s] & 0xffffffff) / nprobe;
            const float *x = j->queries + (q0 + i) * d;
            luts[s] = b->qluts + i * tsize;
            fb[s] = b->qbias[i];
            sc[s] = b->qscale[i];
            qs[s] = q0 + i;
            if (j->residual_l2) { /* a table for the (query, list) pair */
                const float *c = j->centroids + l * d;
                uint8_t *own = b->lqluts + s * tsize;
                luts[s] = own;
                if (precomputed) { /* |q - c|^2 + (|r|^2 + 2<c, r>) - 2<q, r> */
                    const int64_t at = pairs[t + s] & 0xffffffff;
                    round_lut(precomputed + l * tsize, b->qterms + i * tsize, m, b->pmins + at * m, b->qscale[i], own);
                    fb[s] = b->pbias[at] + lanes16(x, c, d, 1);
                } else {
                    for (int64_t k = 0; k < d; k++) b->qv[k] = x[k] - c[k];
                    vt_lut_from_transposed(VT_SCAN_PQ, b->qv, d, j->cbt, m, 16, j->metric, b->lut);
                    quantize_lut(b->lut, NULL, m, own, &fb[s], &sc[s], b->scratch); /* made pair by pair: its own scale */
                }
            } else if (j->residual_ip) {
                fb[s] -= lanes16(x, j->centroids + l * d, d, 0);
            }
        }
        const int64_t b0 = block_offsets[l], nb = block_offsets[l + 1] - b0;
        if (j->list_topk) {
            float *hd[2];
            int64_t *hi[2];
            for (int s = 0; s <= two; s++) {
                hd[s] = j->out->hd + qs[s] * j->out->k;
                hi[s] = j->out->hi + qs[s] * j->out->k;
            }
            j->list_topk(j->blocks + b0 * tsize, nb, list_offsets[l], list_offsets[l + 1], m, 1 + two, luts, fb, sc,
                         hd, hi, j->out->k);
        } else if (two)
            rc = scan_list2(j->next2, j->blocks + b0 * tsize, nb, list_offsets[l], list_offsets[l + 1], m, luts, fb, sc,
                            qs, j->out);
        else
            rc = scan_list(j->next, j->blocks + b0 * tsize, nb, list_offsets[l], list_offsets[l + 1], m, luts[0], fb[0],
                           sc[0], j->out, qs[0]);
        t += 1 + two;
    }
    return rc ? rc : vt_collector_finish_queries(j->out, q0, nb_q);
}

int vt_fs_job_run(vt_fs_job *j) {
    if (!j) return -1;
    fs_buffers b;
    int rc = fs_buffers_alloc(j, &b);
    for (int64_t q0, size; !rc && (size = vt_batch_claim(&j->batches, &q0));) rc = fs_batch(j, &b, q0, size);
    if (rc) vt_batches_stop(&j->batches);
    fs_buffers_free(&b);
    return rc;
}

void vt_fs_job_free(vt_fs_job *j) {
    if (!j) return;
    free((void *)j->cbt);
    free(j);
}

int vt_fs_job_new(const float *queries, int64_t nq, int64_t d, const float *centroids, int by_residual,
                  const uint8_t *blocks, const int64_t *block_offsets, const int64_t *list_offsets, int64_t nlist,
                  const int64_t *probes, const vt_centroid_tiles *tiles, int64_t nprobe, const float *codebooks,
                  const float *precomputed, int64_t m, int metric, vt_collector *out, int threads, vt_fs_job **job) {
    *job = NULL;
    if (nq < 0 || d <= 0 || m <= 0 || nprobe < 0 || nlist < 0 || nlist > INT32_MAX || !out || out->nq != nq ||
        threads < 1 || (!probes && !tiles))
        return -1;
    const int residual_l2 = by_residual && centroids && metric != 1;
    int64_t qb = nq < QUERY_BATCH ? (nq ? nq : 1) : QUERY_BATCH;
    if (nprobe && qb > 0xffffffffll / nprobe) qb = 0xffffffffll / nprobe; /* a pair's index fits 32 bits */
    while (qb > 1 && residual_l2 && precomputed && qb * nprobe * m > PAIR_MINIMA_MAX) qb /= 2;
    if (qb < 1) return -1;
    fs_job *j = calloc(1, sizeof *j);
    float *cbt = malloc(sizeof(float) * (size_t)(16 * d));
    if (!j || !cbt) {
        free(j);
        free(cbt);
        return -4;
    }
    *j = (fs_job){.queries = queries, .centroids = centroids, .codebooks = codebooks,
                  .precomputed = residual_l2 ? precomputed : NULL, .cbt = cbt, .blocks = blocks,
                  .block_offsets = block_offsets, .list_offsets = list_offsets, .probes = probes, .tiles = tiles,
                  .nq = nq, .d = d,
                  .nlist = nlist, .nprobe = nprobe, .m = m, .qb = qb, .metric = metric, .residual_l2 = residual_l2,
                  .residual_ip = by_residual && centroids && metric == 1, .next = next_kernel(),
                  .next2 = next2_kernel(), .list_topk = list_topk_kernel(out), .out = out};
    if (j->list_topk && out->cap) vt_collector_drop_reservoir(out); /* k from 20 to 64: registers, not a reservoir */
    vt_lut_transpose(VT_SCAN_PQ, codebooks, d, m, 16, cbt);
    vt_batches_init(&j->batches, nq, threads, QUERY_BATCH_MIN, qb);
    *job = j;
    return 0;
}
