/* The ROC decoder across streams: 16 (AVX-512) or 8 (AVX2) bit streams decoded in lockstep, a
 * stream a lane, with the same arithmetic as roc.c's decoder (the same ids, or the same
 * refusal, from the same bytes).
 *
 * One stream's steps are a chain of dependent scalar operations (state, gap, rank, state) and
 * a pass over its set: 23-25 ns an id on 1M ids in 4096 lists, 17 of them the chain's. Across
 * lanes the state, gap and rank are vector operations on 64-bit lanes (a division by a
 * reciprocal in doubles, corrected to the exact quotient), and the sets lie transposed, key t of
 * every lane in one row: a step compares the lanes' gaps with each key row once, so a row costs
 * one compare, two adds and a store for a vector of ids. Not kept: AVX2 with 16 lanes (a row
 * two vectors, the states four: 0.94x, the 16 registers spill) and two batches a step of each in
 * turn, one's chain meant to run under the other's pass (32 lanes: 0.79-0.84x at AVX-512,
 * 0.90-0.95x at AVX2, also with the steps past the shortest table by vector).
 *
 * A batch decodes phase by phase, each stream's last list first (a stream of chained lists
 * passes its state from list to list). In a phase every lane runs the table's steps up to the
 * shortest list's `last` (a bit stream's first list ends in exact arithmetic, roc.c:
 * vt_roc_exact_steps); from there each lane steps alone in scalar code while the set's rows
 * still move across lanes (a lane past its list gets a gap above every key: it changes
 * nothing). The caller batches streams alike in lists and lengths.
 *
 * Keys are stored as key ^ 2^31, so that a signed compare orders them (AVX2 has no unsigned
 * one); a row past a lane's values holds NONE, above every gap, and stays so for the at most
 * VT_ROC_LANE_MAXN steps that may take one from it. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "roc_ans.h"

#define KEY_BIAS 0x80000000u
#define NONE_KEY 0x7FFFFFFFu /* 2^32 - 1, biased */

int vt_roc_lanes_init(vt_roc_lanes *w) {
    memset(w, 0, sizeof *w);
#if VT_X86
    w->avx512 = vt_simd_level() == VT_AVX512;
    w->lanes = w->avx512 ? 16 : vt_simd_level() == VT_AVX2 ? 8 : 0;
#endif
    if (!w->lanes) return 0;
    w->keys = aligned_alloc(64, sizeof(uint32_t) * VT_ROC_LANE_MAXN * VT_ROC_LANES_MAX);
    w->vals = aligned_alloc(64, sizeof(uint32_t) * VT_ROC_LANE_MAXN * VT_ROC_LANES_MAX);
    return w->keys && w->vals ? 0 : -3;
}

void vt_roc_lanes_free(vt_roc_lanes *w) {
    free(w->keys);
    free(w->vals);
    free(w->stacks);
    memset(w, 0, sizeof *w);
}

/* Per lane, what the steps past the shared table need. */
typedef struct {
    uint64_t x[VT_ROC_LANES_MAX];
    int64_t len[VT_ROC_LANES_MAX], last[VT_ROC_LANES_MAX], n[VT_ROC_LANES_MAX];
    uint32_t *stack[VT_ROC_LANES_MAX];
} lanes_state;

#if VT_X86
/* floor(num m / 2^62) for num < 2^31, m < 2^62, from 32-bit products (no 64-bit high product
 * in either instruction set). */
VT_TARGET_AVX512 static inline __m512i mulhi62_512(__m512i num, __m512i mhi, __m512i mlo) {
    __m512i a = _mm512_mul_epu32(num, mhi), b = _mm512_mul_epu32(num, mlo);
    return _mm512_srli_epi64(_mm512_add_epi64(a, _mm512_srli_epi64(b, 32)), 30);
}

/* One step of the sets: every lane's gap g (biased) against rows [0, size) of keys; each key
 * above its lane's gap loses one; the lanes in `act` append their gap as key and g + rank as
 * value at row size; the ranks (size less the keys above) into rank. */
VT_TARGET_AVX512 static inline __m512i set_step_512(uint32_t *keys, uint32_t *vals, int64_t size, __m512i gb,
                                                     __mmask16 act) {
    const __m512i one = _mm512_set1_epi32(1);
    __m512i c[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    int64_t t = 0;
    for (; t + 4 <= size; t += 4) /* four counts, not one chain of adds (four rows a turn: 1.10x over two) */
        for (int u = 0; u < 4; u++) {
            __m512i k = _mm512_load_si512(keys + 16 * (t + u));
            __mmask16 gt = _mm512_cmpgt_epi32_mask(k, gb);
            c[u] = _mm512_mask_add_epi32(c[u], gt, c[u], one);
            _mm512_store_si512(keys + 16 * (t + u), _mm512_mask_sub_epi32(k, gt, k, one));
        }
    for (; t < size; t++) {
        __m512i k = _mm512_load_si512(keys + 16 * t);
        __mmask16 gt = _mm512_cmpgt_epi32_mask(k, gb);
        c[0] = _mm512_mask_add_epi32(c[0], gt, c[0], one);
        _mm512_store_si512(keys + 16 * t, _mm512_mask_sub_epi32(k, gt, k, one));
    }
    __m512i rank = _mm512_sub_epi32(_mm512_set1_epi32((int)size), _mm512_add_epi32(_mm512_add_epi32(c[0], c[1]),
                                                                                     _mm512_add_epi32(c[2], c[3])));
    _mm512_mask_store_epi32(keys + 16 * size, act, gb);
    _mm512_mask_store_epi32(vals + 16 * size, act,
                            _mm512_add_epi32(_mm512_xor_si512(gb, _mm512_set1_epi32((int)KEY_BIAS)), rank));
    return rank;
}

VT_TARGET_AVX512 static void set_row_512(uint32_t *keys, uint32_t *vals, int64_t size, const uint32_t *g,
                                         uint32_t act, uint32_t *rank) {
    __m512i gb = _mm512_xor_si512(_mm512_loadu_si512(g), _mm512_set1_epi32((int)KEY_BIAS));
    _mm512_storeu_si512(rank, set_step_512(keys, vals, size, gb, (__mmask16)act));
}

/* Table steps first .. last of the lanes in `lanes` (a bit each; the others keep their state and
 * set). */
VT_TARGET_AVX512 static void table_steps_512(lanes_state *ls, uint32_t *keys, uint32_t *vals, const roc_step *steps,
                                             int64_t first, int64_t last, uint32_t lanes) {
    __m512i x[2] = {_mm512_loadu_si512(ls->x), _mm512_loadu_si512(ls->x + 8)};
    __m512i len[2] = {_mm512_loadu_si512(ls->len), _mm512_loadu_si512(ls->len + 8)};
    const __m512i base[2] = {_mm512_loadu_si512(ls->stack), _mm512_loadu_si512(ls->stack + 8)};
    const __m512i mask31 = _mm512_set1_epi64(0x7FFFFFFF), low_bound = _mm512_set1_epi64((long long)RANS_L),
                  one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512(), q_max = _mm512_set1_epi64(0xFFFFFFFF);
    const __mmask8 in[2] = {(__mmask8)lanes, (__mmask8)(lanes >> 8)};
    for (int64_t i = first; i <= last; i++) {
        const roc_step *st = steps + i;
        const __m512i d_split = _mm512_set1_epi64((long long)st->d_split), d_rem = _mm512_set1_epi64((long long)st->d_rem),
                      d_f = _mm512_set1_epi64((long long)st->d_f), m1hi = _mm512_set1_epi64((long long)(st->d_m1 >> 32)),
                      m1lo = _mm512_set1_epi64((long long)(st->d_m1 & 0xFFFFFFFFu)),
                      m0hi = _mm512_set1_epi64((long long)(st->d_m0 >> 32)),
                      m0lo = _mm512_set1_epi64((long long)(st->d_m0 & 0xFFFFFFFFu));
        __m512i g[2];
        for (int h = 0; h < 2; h++) { /* dec_step: the gap, then take with a word pulled where the state fell below L */
            __m512i slot = _mm512_and_si512(x[h], mask31);
            __mmask8 low = _mm512_cmplt_epu64_mask(slot, d_split);
            __m512i num = _mm512_mask_mov_epi64(_mm512_sub_epi64(slot, d_split), low, slot);
            __m512i q = mulhi62_512(num, _mm512_mask_mov_epi64(m0hi, low, m1hi), _mm512_mask_mov_epi64(m0lo, low, m1lo));
            g[h] = _mm512_mask_add_epi64(q, (__mmask8)~low, q, d_rem);
            __m512i start = _mm512_add_epi64(_mm512_mul_epu32(g[h], d_f), _mm512_mask_mov_epi64(d_rem, low, g[h]));
            __m512i freq = _mm512_mask_add_epi64(d_f, low, d_f, one);
            __m512i x1 = _mm512_sub_epi64(_mm512_add_epi64(_mm512_mul_epu32(freq, _mm512_srli_epi64(x[h], 31)), slot), start);
            __mmask8 pull = _mm512_cmplt_epu64_mask(x1, low_bound) & _mm512_cmpgt_epi64_mask(len[h], zero) & in[h];
            __m512i at = _mm512_add_epi64(base[h], _mm512_slli_epi64(_mm512_sub_epi64(len[h], one), 2));
            __m256i w = _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), pull, at, NULL, 1);
            len[h] = _mm512_mask_sub_epi64(len[h], pull, len[h], one);
            x[h] = _mm512_mask_mov_epi64(x[h], in[h], _mm512_mask_or_epi64(x1, pull, _mm512_slli_epi64(x1, 32),
                                                                            _mm512_cvtepu32_epi64(w)));
        }
        __m512i gb = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(g[0])),
                                                         _mm512_cvtepi64_epi32(g[1]), 1),
                                      _mm512_set1_epi32((int)KEY_BIAS));
        gb = _mm512_mask_mov_epi32(_mm512_set1_epi32((int)NONE_KEY), (__mmask16)lanes, gb); /* the others: no key moves */
        __m512i rank32 = set_step_512(keys, vals, i - 1, gb, (__mmask16)lanes);
        const __m512i e_f = _mm512_set1_epi64((long long)st->e_f), e_rem = _mm512_set1_epi64((long long)st->e_rem);
        const __m512d inv_f = _mm512_set1_pd(1.0 / (double)st->e_f), inv_fa = _mm512_set1_pd(1.0 / (double)(st->e_f + 1));
        for (int h = 0; h < 2; h++) { /* enc_step: the rank among i, with a frequency of f + 1 below rem, else f */
            __m512i rank = _mm512_cvtepu32_epi64(h ? _mm512_extracti64x4_epi64(rank32, 1) : _mm512_castsi512_si256(rank32));
            __mmask8 sel = _mm512_cmplt_epu64_mask(rank, e_rem), out;
            __m512i fr = _mm512_mask_add_epi64(e_f, sel, e_f, one);
            out = _mm512_cmpge_epu64_mask(x[h], _mm512_slli_epi64(fr, 32)) & in[h];
            __m512i at = _mm512_add_epi64(base[h], _mm512_slli_epi64(len[h], 2));
            _mm512_mask_i64scatter_epi32(NULL, out, at, _mm512_cvtepi64_epi32(x[h]), 1);
            len[h] = _mm512_mask_add_epi64(len[h], out, len[h], one);
            __m512i xs = _mm512_mask_srli_epi64(x[h], out, x[h], 32); /* below fr 2^32: the quotient below 2^32 */
            __m512i q = _mm512_cvttpd_epu64(_mm512_mul_pd(_mm512_cvtepu64_pd(xs), _mm512_mask_mov_pd(inv_f, sel, inv_fa)));
            q = _mm512_min_epu64(q, q_max); /* within one of the quotient: corrected below */
            __m512i r = _mm512_sub_epi64(xs, _mm512_mul_epu32(q, fr));
            __mmask8 neg = _mm512_cmplt_epi64_mask(r, zero);
            q = _mm512_mask_sub_epi64(q, neg, q, one);
            r = _mm512_mask_add_epi64(r, neg, r, fr);
            __mmask8 over = _mm512_cmpge_epu64_mask(r, fr);
            q = _mm512_mask_add_epi64(q, over, q, one);
            r = _mm512_mask_sub_epi64(r, over, r, fr);
            __m512i start = _mm512_add_epi64(_mm512_mul_epu32(rank, e_f), _mm512_mask_mov_epi64(e_rem, sel, rank));
            x[h] = _mm512_mask_mov_epi64(x[h], in[h], _mm512_add_epi64(_mm512_add_epi64(_mm512_slli_epi64(q, SCALE), r), start));
        }
    }
    for (int h = 0; h < 2; h++) {
        _mm512_storeu_si512(ls->x + 8 * h, x[h]);
        _mm512_storeu_si512(ls->len + 8 * h, len[h]);
    }
}

/* AVX2: 8 lanes, the states in two vectors of 4; 64-bit compares are signed (every value
 * compared is below 2^63 but fr 2^32, which is compared biased); no scatter: the low word
 * is stored at the stack's top regardless and the length moves where a word went out. */
VT_TARGET_AVX2 static inline __m256i mulhi62_256(__m256i num, __m256i mhi, __m256i mlo) {
    __m256i a = _mm256_mul_epu32(num, mhi), b = _mm256_mul_epu32(num, mlo);
    return _mm256_srli_epi64(_mm256_add_epi64(a, _mm256_srli_epi64(b, 32)), 30);
}

/* Exactly representable doubles from v < 2^52 and back (a value >= 0 below 2^52, integral). */
VT_TARGET_AVX2 static inline __m256d u52_to_pd(__m256i v) {
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000ll);
    return _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(v, magic)), _mm256_castsi256_pd(magic));
}

VT_TARGET_AVX2 static inline __m256i pd_to_u52(__m256d d) {
    const __m256d magic = _mm256_castsi256_pd(_mm256_set1_epi64x(0x4330000000000000ll));
    return _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(d, magic)), _mm256_castpd_si256(magic));
}

VT_TARGET_AVX2 static inline __m256i set_step_256(uint32_t *keys, uint32_t *vals, int64_t size, __m256i gb,
                                                   __m256i act) {
    __m256i c[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    int64_t t = 0;
    for (; t + 4 <= size; t += 4) /* a key above the gap: -1 to it and to the count */
        for (int u = 0; u < 4; u++) {
            __m256i k = _mm256_load_si256((const __m256i *)(keys + 8 * (t + u))), gt = _mm256_cmpgt_epi32(k, gb);
            c[u] = _mm256_add_epi32(c[u], gt);
            _mm256_store_si256((__m256i *)(keys + 8 * (t + u)), _mm256_add_epi32(k, gt));
        }
    for (; t < size; t++) {
        __m256i k = _mm256_load_si256((const __m256i *)(keys + 8 * t)), gt = _mm256_cmpgt_epi32(k, gb);
        c[0] = _mm256_add_epi32(c[0], gt);
        _mm256_store_si256((__m256i *)(keys + 8 * t), _mm256_add_epi32(k, gt));
    }
    __m256i rank = _mm256_add_epi32(_mm256_set1_epi32((int)size),
                                    _mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3])));
    _mm256_maskstore_epi32((int *)(keys + 8 * size), act, gb);
    _mm256_maskstore_epi32((int *)(vals + 8 * size), act,
                           _mm256_add_epi32(_mm256_xor_si256(gb, _mm256_set1_epi32((int)KEY_BIAS)), rank));
    return rank;
}

VT_TARGET_AVX2 static void set_row_256(uint32_t *keys, uint32_t *vals, int64_t size, const uint32_t *g,
                                       uint32_t act, uint32_t *rank) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i mask = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)act), bit), bit);
    __m256i gb = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)g), _mm256_set1_epi32((int)KEY_BIAS));
    _mm256_storeu_si256((__m256i *)rank, set_step_256(keys, vals, size, gb, mask));
}

VT_TARGET_AVX2 static void table_steps_256(lanes_state *ls, uint32_t *keys, uint32_t *vals, const roc_step *steps,
                                           int64_t first, int64_t last, uint32_t lanes) {
    __m256i x[2] = {_mm256_loadu_si256((const __m256i *)ls->x), _mm256_loadu_si256((const __m256i *)(ls->x + 4))};
    __m256i len[2] = {_mm256_loadu_si256((const __m256i *)ls->len), _mm256_loadu_si256((const __m256i *)(ls->len + 4))};
    const __m256i base[2] = {_mm256_loadu_si256((const __m256i *)ls->stack), _mm256_loadu_si256((const __m256i *)(ls->stack + 4))};
    const __m256i mask31 = _mm256_set1_epi64x(0x7FFFFFFF), low_bound = _mm256_set1_epi64x((long long)RANS_L),
                  zero = _mm256_setzero_si256(), q_max = _mm256_set1_epi64x(0xFFFFFFFF), b63 = _mm256_set1_epi64x(INT64_MIN),
                  thirty_two = _mm256_set1_epi64x(32), evens = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    __m256i in[2]; /* all ones for the lanes stepping */
    for (int h = 0; h < 2; h++)
        in[h] = _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x((long long)(lanes >> (4 * h))),
                                                    _mm256_setr_epi64x(1, 2, 4, 8)),
                                   _mm256_setr_epi64x(1, 2, 4, 8));
    const __m256i act = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)lanes),
                                                            _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128)),
                                           _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128)); /* the same, for the sets */
    for (int64_t i = first; i <= last; i++) {
        const roc_step *st = steps + i;
        const __m256i d_split = _mm256_set1_epi64x((long long)st->d_split), d_rem = _mm256_set1_epi64x((long long)st->d_rem),
                      d_f = _mm256_set1_epi64x((long long)st->d_f), m1hi = _mm256_set1_epi64x((long long)(st->d_m1 >> 32)),
                      m1lo = _mm256_set1_epi64x((long long)(st->d_m1 & 0xFFFFFFFFu)),
                      m0hi = _mm256_set1_epi64x((long long)(st->d_m0 >> 32)),
                      m0lo = _mm256_set1_epi64x((long long)(st->d_m0 & 0xFFFFFFFFu));
        __m256i g[2];
        for (int h = 0; h < 2; h++) {
            __m256i slot = _mm256_and_si256(x[h], mask31), low = _mm256_cmpgt_epi64(d_split, slot); /* -1 lanes */
            __m256i num = _mm256_blendv_epi8(_mm256_sub_epi64(slot, d_split), slot, low);
            __m256i q = mulhi62_256(num, _mm256_blendv_epi8(m0hi, m1hi, low), _mm256_blendv_epi8(m0lo, m1lo, low));
            g[h] = _mm256_add_epi64(q, _mm256_andnot_si256(low, d_rem));
            __m256i start = _mm256_add_epi64(_mm256_mul_epu32(g[h], d_f), _mm256_blendv_epi8(d_rem, g[h], low));
            __m256i freq = _mm256_sub_epi64(d_f, low);
            __m256i x1 = _mm256_sub_epi64(_mm256_add_epi64(_mm256_mul_epu32(freq, _mm256_srli_epi64(x[h], 31)), slot), start);
            __m256i pull = _mm256_and_si256(_mm256_and_si256(_mm256_cmpgt_epi64(low_bound, x1), _mm256_cmpgt_epi64(len[h], zero)),
                                            in[h]);
            __m256i at = _mm256_add_epi64(base[h], _mm256_slli_epi64(_mm256_add_epi64(len[h], _mm256_set1_epi64x(-1)), 2));
            __m128i pull32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(pull, evens));
            __m128i w = _mm256_mask_i64gather_epi32(_mm_setzero_si128(), (const int *)0, at, pull32, 1);
            len[h] = _mm256_add_epi64(len[h], pull);
            x[h] = _mm256_blendv_epi8(x[h], _mm256_blendv_epi8(x1, _mm256_or_si256(_mm256_slli_epi64(x1, 32),
                                                                                    _mm256_cvtepu32_epi64(w)), pull), in[h]);
        }
        __m256i g32 = _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(g[0], evens),
                                                _mm256_permutevar8x32_epi32(g[1], evens), 0x20);
        __m256i gb = _mm256_blendv_epi8(_mm256_set1_epi32((int)NONE_KEY), /* the others: no key moves */
                                        _mm256_xor_si256(g32, _mm256_set1_epi32((int)KEY_BIAS)), act);
        __m256i rank32 = set_step_256(keys, vals, i - 1, gb, act);
        const __m256i e_f = _mm256_set1_epi64x((long long)st->e_f), e_rem = _mm256_set1_epi64x((long long)st->e_rem);
        const __m256d inv_f = _mm256_set1_pd(1.0 / (double)st->e_f), inv_fa = _mm256_set1_pd(1.0 / (double)(st->e_f + 1));
        for (int h = 0; h < 2; h++) {
            __m256i rank = _mm256_cvtepu32_epi64(h ? _mm256_extracti128_si256(rank32, 1) : _mm256_castsi256_si128(rank32));
            __m256i sel = _mm256_cmpgt_epi64(e_rem, rank), fr = _mm256_sub_epi64(e_f, sel);
            /* out: x >= fr 2^32, compared biased (fr 2^32 may be 2^63) */
            __m256i out = _mm256_xor_si256(_mm256_cmpgt_epi64(_mm256_xor_si256(_mm256_slli_epi64(fr, 32), b63),
                                                              _mm256_xor_si256(x[h], b63)),
                                           _mm256_set1_epi64x(-1));
            int64_t at[4];
            uint64_t xv[4];
            _mm256_storeu_si256((__m256i *)at, _mm256_add_epi64(base[h], _mm256_slli_epi64(len[h], 2)));
            _mm256_storeu_si256((__m256i *)xv, x[h]);
            for (int k = 0; k < 4; k++) *(uint32_t *)(intptr_t)at[k] = (uint32_t)xv[k]; /* kept where it went out */
            out = _mm256_and_si256(out, in[h]);
            len[h] = _mm256_sub_epi64(len[h], out);
            __m256i xs = _mm256_srlv_epi64(x[h], _mm256_and_si256(out, thirty_two));
            __m256d xd = _mm256_add_pd(_mm256_mul_pd(u52_to_pd(_mm256_srli_epi64(xs, 32)), _mm256_set1_pd(4294967296.0)),
                                       u52_to_pd(_mm256_and_si256(xs, q_max)));
            __m256d qd = _mm256_round_pd(_mm256_mul_pd(xd, _mm256_blendv_pd(inv_f, inv_fa, _mm256_castsi256_pd(sel))),
                                         _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __m256i q = pd_to_u52(qd);
            q = _mm256_blendv_epi8(q, q_max, _mm256_cmpgt_epi64(q, q_max)); /* within one of the quotient */
            __m256i r = _mm256_sub_epi64(xs, _mm256_mul_epu32(q, fr)), neg = _mm256_cmpgt_epi64(zero, r);
            q = _mm256_add_epi64(q, neg);
            r = _mm256_add_epi64(r, _mm256_and_si256(neg, fr));
            __m256i over = _mm256_xor_si256(_mm256_cmpgt_epi64(fr, r), _mm256_set1_epi64x(-1));
            q = _mm256_sub_epi64(q, over);
            r = _mm256_sub_epi64(r, _mm256_and_si256(over, fr));
            __m256i start = _mm256_add_epi64(_mm256_mul_epu32(rank, e_f), _mm256_blendv_epi8(e_rem, rank, sel));
            x[h] = _mm256_blendv_epi8(x[h], _mm256_add_epi64(_mm256_add_epi64(_mm256_slli_epi64(q, SCALE), r), start), in[h]);
        }
    }
    for (int h = 0; h < 2; h++) {
        _mm256_storeu_si256((__m256i *)(ls->x + 4 * h), x[h]);
        _mm256_storeu_si256((__m256i *)(ls->len + 4 * h), len[h]);
    }
}
#endif

/* A stack of `words` for each lane; -3 without memory. */
static int lanes_stacks(vt_roc_lanes *w, int64_t words) {
    if (words <= w->cap) return 0;
    uint32_t *grown = realloc(w->stacks, sizeof(uint32_t) * (size_t)(words + 1) * VT_ROC_LANES_MAX);
    if (!grown) return -3;
    w->stacks = grown;
    w->cap = words;
    return 0;
}

/* The table's steps first .. last of the lanes in `with`, at the SIMD level's width. */
static void table_steps(vt_roc_lanes *w, lanes_state *ls, const roc_step *steps, int64_t first, int64_t last,
                        uint32_t with) {
#if VT_X86
    if (w->avx512) table_steps_512(ls, w->keys, w->vals, steps, first, last, with);
    else table_steps_256(ls, w->keys, w->vals, steps, first, last, with);
#endif
}

/* One phase: every lane's list in hand (ls->n[l] ids, 0 for none: its state kept) decoded
 * into dst[l]. 0, or -2 (corrupt). */
static int lanes_phase(vt_roc_lanes *w, lanes_state *ls, uint64_t universe, const roc_step *steps,
                       uint64_t *const *dst) {
    const int lanes = w->lanes;
    int64_t steps_all = INT64_MAX, longest = 0;
    uint32_t with = 0; /* the lanes with a list */
    for (int l = 0; l < lanes; l++) {
        if (!ls->n[l]) continue;
        with |= 1u << l;
        steps_all = ls->last[l] < steps_all ? ls->last[l] : steps_all;
        longest = ls->n[l] > longest ? ls->n[l] : longest;
    }
    if (!longest) return 0;
    uint32_t *keys = w->keys, *vals = w->vals;
    for (int64_t k = 0; k < (int64_t)lanes * longest; k++) keys[k] = NONE_KEY;
    table_steps(w, ls, steps, 1, steps_all, with);
    for (int64_t i = steps_all + 1; i <= longest; i++) { /* each lane at its own step, the sets across lanes */
        uint32_t g[VT_ROC_LANES_MAX], rank[VT_ROC_LANES_MAX], act = 0, table = 0, exact = 0;
        for (int l = 0; l < lanes; l++) {
            table |= (uint32_t)(i <= ls->last[l]) << l;
            exact |= (uint32_t)(i > ls->last[l] && i <= ls->n[l]) << l;
        }
        if (!exact) { /* the lanes still in their tables, by vector: lists of a phase differ in length */
            table_steps(w, ls, steps, i, i, table);
            continue;
        }
        for (int l = 0; l < lanes; l++) {
            g[l] = UINT32_MAX; /* above every key: changes nothing */
            if (i > ls->n[l]) continue;
            act |= 1u << l;
            rans r = {ls->x[l], ls->stack[l], ls->len[l], w->cap, 0, STAY_SMALL};
            if (i <= ls->last[l]) g[l] = (uint32_t)dec_step(&r, steps + i);
            else { /* exact: the stack is spent by now */
                uint64_t range = universe - (uint64_t)i + 1;
                g[l] = (uint32_t)(r.x % range);
                r.x /= range;
                if (r.len) return -2;
            }
            ls->x[l] = r.x;
            ls->len[l] = r.len;
        }
#if VT_X86
        if (w->avx512) set_row_512(keys, vals, i - 1, g, act, rank);
        else set_row_256(keys, vals, i - 1, g, act, rank);
#endif
        for (int l = 0; l < lanes; l++) {
            if (i > ls->n[l]) continue;
            if (i <= ls->last[l]) {
                rans r = {ls->x[l], ls->stack[l], ls->len[l], w->cap, 0, STAY_SMALL};
                enc_step(&r, rank[l], steps + i);
                if (r.err) return -2;
                ls->x[l] = r.x;
                ls->len[l] = r.len;
            } else
                ls->x[l] = ls->x[l] * (uint64_t)i + rank[l]; /* wraps only on corrupt bytes: the end check fails */
        }
    }
    for (int l = 0; l < lanes; l++) { /* each value at its rank */
        const uint32_t n = (uint32_t)ls->n[l];
        uint64_t *out = dst[l];
        uint32_t bad = 0;
        for (uint32_t t = 0; t < n; t++) {
            uint32_t v = vals[(size_t)t * lanes + l], pos = v - (keys[(size_t)t * lanes + l] ^ KEY_BIAS);
            bad |= pos >= n;
            out[pos < n ? pos : 0] = v;
        }
        if (bad) return -2;
    }
    return 0;
}

int vt_roc_decode_lanes(vt_roc_lanes *w, const uint32_t *data, const vt_roc_lane_stream *streams, int nl,
                        uint64_t universe, const roc_step *steps, int64_t nsteps) {
    const int lanes = w->lanes;
    lanes_state ls;
    int64_t nstack[VT_ROC_LANES_MAX] = {0}, at[VT_ROC_LANES_MAX], list[VT_ROC_LANES_MAX], phases = 0, words = 0;
    if (nl < 1 || nl > lanes || universe > (1ull << SCALE)) return -1;
    for (int l = 0; l < nl; l++) {
        const vt_roc_lane_stream *s = streams + l;
        int64_t total = 0;
        if (s->nlists < 1 || s->stop < 0 || s->stop >= s->nlists) return -1;
        for (int64_t k = 0; k < s->nlists; k++) {
            if (s->counts[k] < 0 || s->counts[k] > VT_ROC_LANE_MAXN || s->counts[k] > nsteps ||
                (uint64_t)s->counts[k] > universe)
                return -1;
            total += s->counts[k];
        }
        if (vt_roc_stream_parts(data, s->a, s->b, &nstack[l], &ls.x[l])) return -2;
        at[l] = total;
        list[l] = s->nlists;
        phases = s->nlists - s->stop > phases ? s->nlists - s->stop : phases;
        words = nstack[l] + total > words ? nstack[l] + total : words;
    }
    if (lanes_stacks(w, words + 2)) return -3; /* a lane's stack: its words and a word pushed a step */
    for (int l = 0; l < lanes; l++) {
        uint32_t *below = w->stacks + (size_t)l * (size_t)(w->cap + 1);
        below[0] = 0; /* a readable word below the stack */
        ls.stack[l] = below + 1;
        ls.len[l] = l < nl ? nstack[l] : 0;
        if (l >= nl) { /* no stream: no step */
            ls.x[l] = 1;
            continue;
        }
        const uint32_t *src = data + (streams[l].a >> 5); /* word k at bit a + 32 k */
        int off = (int)(streams[l].a & 31);
        for (int64_t k = 0; k < nstack[l]; k++)
            ls.stack[l][k] = off ? (uint32_t)((src[k] | (uint64_t)src[k + 1] << 32) >> off) : src[k];
    }
    for (int64_t p = 0; p < phases; p++) { /* phase p: each stream's list p from its last, down to its stop */
        uint64_t *dst[VT_ROC_LANES_MAX];
        for (int l = 0; l < lanes; l++) {
            ls.n[l] = ls.last[l] = 0;
            dst[l] = NULL;
            if (l >= nl) continue;
            while (list[l] > streams[l].stop && !streams[l].counts[list[l] - 1]) list[l]--; /* empty: no step */
            if (list[l] <= streams[l].stop) continue; /* done: its state kept for the end's check */
            int64_t k = --list[l], n = streams[l].counts[k];
            at[l] -= n;
            ls.n[l] = n;
            ls.last[l] = n - (k == 0 ? vt_roc_exact_steps(universe, n) : 0); /* a bit stream's first list ends exact */
            dst[l] = streams[l].out + at[l];
        }
        int rc = lanes_phase(w, &ls, universe, steps, dst);
        if (rc) return rc;
    }
    for (int l = 0; l < nl; l++) /* a whole stream ends where its encoding began */
        if (!streams[l].stop && (ls.x[l] != 1 || ls.len[l])) return -2;
    return 0;
}
