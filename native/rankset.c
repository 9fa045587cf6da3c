/* The ROC decoder's set at the SIMD levels: sorted 32-bit ids under "insert the g-th value
 * not in the set, and tell its rank". With e_t the set's t-th smallest value, e_t - t never
 * decreases and counts the values missing below e_t, so the g-th missing value is
 * g + #{t : e_t - t <= g}.
 *
 * Values sit in blocks of `cap` (16 … 64, by the set's size: a block is a few vectors, and
 * the blocks' keys a few vectors too), split in halves when full. Each block keeps the key
 * e_t - t of its last value and the count of values before it, in vectors: a step counts the
 * keys <= g to find its block, counts in the block with SIMD compares (every lane, masked to
 * its size), rewrites the block with the new value in place (each lane takes itself, the
 * value or its lower neighbour) and moves the later blocks' keys and counts by one. No branch
 * depends on the data: the loops' trip counts change only when a block splits. Blocks come
 * from one pool made with the set; a reset empties the set for the next list.
 *
 * Short lists (up to RS_FLAT_MAX values, values below 2^31; chosen list by list) keep no order
 * at all: each value's key e - t, unsorted, in one array, and a step is one pass over it:
 * count the keys <= g (the rank), take one from the others (the values the new one goes
 * below), append g. Its chain of dependent operations is a compare and a popcount, where the
 * blocks' is a search, two dependent loads and a count; the values are put in order once, at
 * the end (t = e - key). A vector is a signed compare, a masked subtract and a mask count
 * (the keys biased so that AVX2 needs no unsigned compare; g's lane blended into the last
 * vector alone): three vector operations where there were seven, 1M ids at IVF4096 decoded
 * 3-5 % faster. The scalar level's binary search of 64-bit blocks (roc.c) is the reference
 * these kernels are tested against.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define RS_MIN_CAP 16  /* values a block, at least: one AVX-512 vector */
#define RS_MAX_CAP 64 /* at most: the number of blocks grows past this, not the blocks */
#define RS_PAD 16      /* lanes readable before a block (the shift reads one vector below) and after */
#define RS_LANES 16    /* the per-block arrays are whole AVX-512 vectors long */
#define RS_FLAT_MAX 512 /* sets kept as unsorted keys, at most */
/* A flat set stores its keys (below 2^31) with the top bit flipped, so that a signed compare
 * orders them (AVX2 has no unsigned one) and a key past the values, RS_NONE, is above every
 * key and every g, and stays so after the 512 steps that may take one from it. */
#define RS_BIAS 0x80000000u
#define RS_NONE 0x7FFFFFFFu

static int split(vt_rankset *s, int64_t k);

static void fill_none(uint32_t *keys, int64_t n) {
    for (int64_t i = 0; i < n; i++) keys[i] = RS_NONE;
}

#if VT_X86
/* Per level: locate g's block (the keys <= g among every block but the last, which takes the
 * rest), insert into it, return the rank (the value is g + rank). */
VT_TARGET_AVX512 static int64_t insert_gap_avx512(vt_rankset *s, uint32_t g) {
    const __m512i vg = _mm512_set1_epi32((int)g),
                  lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                  sixteen = _mm512_set1_epi32(16);
    int64_t nb = s->nblocks - 1, k = 0, cap = s->cap;
    for (int64_t i = 0; i < nb; i += 16) {
        __mmask16 valid = (__mmask16)(nb - i < 16 ? (1u << (nb - i)) - 1 : 0xFFFFu);
        k += __builtin_popcount(_mm512_mask_cmple_epu32_mask(valid, _mm512_load_si512(s->key + i), vg));
    }
    uint32_t *e = s->blocks[k], c = s->cum[k];
    int64_t n = s->sizes[k], lo = 0; /* n < cap */
    __m512i t = _mm512_add_epi32(lane, _mm512_set1_epi32((int)c));
    for (int64_t i = 0; i < cap; i += 16) { /* independent counts, masked to the block's size */
        __mmask16 valid = (__mmask16)(n - i >= 16 ? 0xFFFFu : n - i > 0 ? (1u << (n - i)) - 1 : 0u);
        lo += __builtin_popcount(_mm512_mask_cmple_epu32_mask(valid, _mm512_sub_epi32(_mm512_load_si512(e + i), t), vg));
        t = _mm512_add_epi32(t, sixteen);
    }
    uint32_t v = g + c + (uint32_t)lo, old_last = e[n - 1]; /* e[-1] (padding) when empty */
    const __m512i vlo = _mm512_set1_epi32((int)lo), vv = _mm512_set1_epi32((int)v);
    __m512i low = _mm512_load_si512(e - 16), at = lane;
    for (int64_t i = 0; i < cap; i += 16) { /* low to high: each vector is read before it is written */
        __m512i cur = _mm512_load_si512(e + i);
        __m512i out = _mm512_mask_blend_epi32(_mm512_cmpgt_epi32_mask(at, vlo), cur, _mm512_alignr_epi32(cur, low, 15));
        _mm512_store_si512(e + i, _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(at, vlo), out, vv));
        low = cur;
        at = _mm512_add_epi32(at, sixteen);
    }
    s->sizes[k] = n + 1;
    /* block k's new key and the later blocks' counts and keys, written as whole vectors (a
       scalar store under the next vector load of the keys stalled it: a quarter of the time) */
    const __m512i vk = _mm512_set1_epi32((int)k), one = _mm512_set1_epi32(1),
                  key_k = _mm512_set1_epi32((int)((lo == n ? v : old_last) - (c + (uint32_t)n)));
    at = lane;
    for (int64_t i = 0; i <= nb; i += 16) {
        __m512i cum = _mm512_load_si512(s->cum + i), key = _mm512_load_si512(s->key + i);
        __mmask16 after = _mm512_cmpgt_epi32_mask(at, vk);
        _mm512_store_si512(s->cum + i, _mm512_mask_add_epi32(cum, after, cum, one));
        key = _mm512_mask_sub_epi32(key, after, key, one);
        _mm512_store_si512(s->key + i, _mm512_mask_blend_epi32(_mm512_cmpeq_epi32_mask(at, vk), key, key_k));
        at = _mm512_add_epi32(at, sixteen);
    }
    if (n + 1 == cap && split(s, k)) return -1;
    return c + lo;
}

VT_TARGET_AVX512 static int64_t insert_flat_avx512(vt_rankset *s, uint32_t g) {
    const __m512i vg = _mm512_set1_epi32((int)(g ^ RS_BIAS)), one = _mm512_set1_epi32(1);
    int64_t size = s->size, last = size & ~(int64_t)15, above = 0;
    uint32_t *keys = s->flat_keys;
    if (size >= RS_FLAT_MAX) return -1;
    for (int64_t i = 0; i < last; i += 16) { /* whole vectors of values */
        __m512i k = _mm512_load_si512(keys + i);
        __mmask16 gt = _mm512_cmpgt_epi32_mask(k, vg);
        above += __builtin_popcount(gt);
        _mm512_store_si512(keys + i, _mm512_mask_sub_epi32(k, gt, k, one));
    }
    __m512i k = _mm512_load_si512(keys + last); /* the vector g's key goes into, at lane size - last */
    __mmask16 gt = _mm512_cmpgt_epi32_mask(k, vg);
    above += __builtin_popcount(gt);
    k = _mm512_mask_sub_epi32(k, gt, k, one);
    _mm512_store_si512(keys + last, _mm512_mask_mov_epi32(k, (__mmask16)(1u << (size - last)), vg));
    int64_t rank = last + 16 - above; /* the lanes from size on hold RS_NONE: all above g */
    s->flat_values[size] = g + (uint32_t)rank;
    s->size = size + 1;
    return rank;
}

VT_TARGET_AVX2 static inline unsigned le_mask_epu32(__m256i a, __m256i b) { /* lanes with a <= b, unsigned */
    return (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_min_epu32(a, b), a)));
}

VT_TARGET_AVX2 static int64_t insert_gap_avx2(vt_rankset *s, uint32_t g) {
    const __m256i vg = _mm256_set1_epi32((int)g), lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                  eight = _mm256_set1_epi32(8);
    int64_t nb = s->nblocks - 1, k = 0, cap = s->cap;
    for (int64_t i = 0; i < nb; i += 8) {
        unsigned valid = nb - i < 8 ? (1u << (nb - i)) - 1 : 0xFFu;
        k += __builtin_popcount(le_mask_epu32(_mm256_load_si256((const __m256i *)(s->key + i)), vg) & valid);
    }
    uint32_t *e = s->blocks[k], c = s->cum[k];
    int64_t n = s->sizes[k], lo = 0; /* n < cap */
    __m256i t = _mm256_add_epi32(lane, _mm256_set1_epi32((int)c));
    for (int64_t i = 0; i < cap; i += 8) {
        unsigned valid = n - i >= 8 ? 0xFFu : n - i > 0 ? (1u << (n - i)) - 1 : 0u;
        lo += __builtin_popcount(le_mask_epu32(_mm256_sub_epi32(_mm256_load_si256((const __m256i *)(e + i)), t), vg) & valid);
        t = _mm256_add_epi32(t, eight);
    }
    uint32_t v = g + c + (uint32_t)lo, old_last = e[n - 1]; /* e[-1] (padding) when empty */
    const __m256i vlo = _mm256_set1_epi32((int)lo), vv = _mm256_set1_epi32((int)v);
    __m256i low = _mm256_load_si256((const __m256i *)(e - 8)), at = lane;
    for (int64_t i = 0; i < cap; i += 8) { /* low to high: each vector is read before it is written */
        __m256i cur = _mm256_load_si256((const __m256i *)(e + i));
        __m256i up = _mm256_alignr_epi8(cur, _mm256_permute2x128_si256(low, cur, 0x21), 12); /* cur up a lane */
        __m256i out = _mm256_blendv_epi8(cur, up, _mm256_cmpgt_epi32(at, vlo));
        _mm256_store_si256((__m256i *)(e + i), _mm256_blendv_epi8(out, vv, _mm256_cmpeq_epi32(at, vlo)));
        low = cur;
        at = _mm256_add_epi32(at, eight);
    }
    s->sizes[k] = n + 1;
    /* block k's new key and the later blocks' counts and keys, as whole vectors (see avx512) */
    const __m256i vk = _mm256_set1_epi32((int)k),
                  key_k = _mm256_set1_epi32((int)((lo == n ? v : old_last) - (c + (uint32_t)n)));
    at = lane;
    for (int64_t i = 0; i <= nb; i += 8) {
        __m256i after = _mm256_cmpgt_epi32(at, vk); /* -1 lanes */
        __m256i *cp = (__m256i *)(s->cum + i), *kp = (__m256i *)(s->key + i);
        _mm256_store_si256(cp, _mm256_sub_epi32(_mm256_load_si256(cp), after));
        _mm256_store_si256(kp, _mm256_blendv_epi8(_mm256_add_epi32(_mm256_load_si256(kp), after), key_k,
                                                  _mm256_cmpeq_epi32(at, vk)));
        at = _mm256_add_epi32(at, eight);
    }
    if (n + 1 == cap && split(s, k)) return -1;
    return c + lo;
}

VT_TARGET_AVX2 static int64_t insert_flat_avx2(vt_rankset *s, uint32_t g) {
    const __m256i vg = _mm256_set1_epi32((int)(g ^ RS_BIAS));
    int64_t size = s->size, last = size & ~(int64_t)7, above = 0;
    uint32_t *keys = s->flat_keys;
    if (size >= RS_FLAT_MAX) return -1;
    for (int64_t i = 0; i < last; i += 8) { /* whole vectors of values: a lane above g adds -1 */
        __m256i k = _mm256_load_si256((const __m256i *)(keys + i)), gt = _mm256_cmpgt_epi32(k, vg);
        above += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(gt)));
        _mm256_store_si256((__m256i *)(keys + i), _mm256_add_epi32(k, gt));
    }
    __m256i k = _mm256_load_si256((const __m256i *)(keys + last)), gt = _mm256_cmpgt_epi32(k, vg);
    above += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(gt)));
    __m256i at = _mm256_cmpeq_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)(size - last)));
    _mm256_store_si256((__m256i *)(keys + last), _mm256_blendv_epi8(_mm256_add_epi32(k, gt), vg, at));
    int64_t rank = last + 8 - above; /* the lanes from size on hold RS_NONE: all above g */
    s->flat_values[size] = g + (uint32_t)rank;
    s->size = size + 1;
    return rank;
}
#endif

/* A set for lists of up to n values below `universe`, counted by the kernels of the SIMD level
 * in use (AVX2 or AVX-512; -1 at the scalar level, which the decoder serves from its own
 * blocks). Each list chooses at its reset: flat up to RS_FLAT_MAX values below 2^31 (the keys,
 * a vector of RS_NONE past them, and the values), else blocks of cap values, each with a vector
 * of padding on either side (the kernels read one lane below the first value), all from one
 * pool, the per-block arrays whole vectors long. Empty until the first reset. */
int vt_rankset_init(vt_rankset *s, int64_t n, uint64_t universe) {
    memset(s, 0, sizeof *s);
#if VT_X86
    if (vt_simd_level() == VT_SCALAR) return -1;
    int avx512 = vt_simd_level() == VT_AVX512;
    s->flat_kernel = avx512 ? insert_flat_avx512 : insert_flat_avx2;
    s->block_kernel = avx512 ? insert_gap_avx512 : insert_gap_avx2;
#else
    return -1;
#endif
    s->flat_ok = universe <= (1ull << 31);
    if (s->flat_ok) {
        s->flat_keys = aligned_alloc(64, sizeof(uint32_t) * (RS_FLAT_MAX + RS_LANES));
        s->flat_values = malloc(sizeof(uint32_t) * RS_FLAT_MAX);
        if (!s->flat_keys || !s->flat_values) return -1;
        fill_none(s->flat_keys, RS_FLAT_MAX + RS_LANES);
    }
    if (s->flat_ok && n <= RS_FLAT_MAX) return 0;
    s->cap = RS_MIN_CAP;
    while (s->cap < RS_MAX_CAP && s->cap * s->cap < 4 * n) s->cap *= 2; /* about 2 sqrt(n) */
    s->maxblocks = n / (s->cap / 2) + 2;
    size_t lanes = (size_t)((s->maxblocks + RS_LANES - 1) / RS_LANES * RS_LANES);
    s->blocks = malloc(sizeof(uint32_t *) * (size_t)s->maxblocks);
    s->sizes = malloc(sizeof(int64_t) * (size_t)s->maxblocks);
    s->key = aligned_alloc(64, sizeof(uint32_t) * lanes);
    s->cum = aligned_alloc(64, sizeof(uint32_t) * lanes);
    s->pool = aligned_alloc(64, sizeof(uint32_t) * (size_t)(s->cap + 2 * RS_PAD) * (size_t)s->maxblocks);
    if (!s->blocks || !s->sizes || !s->key || !s->cum || !s->pool) return -1;
    memset(s->key, 0, sizeof(uint32_t) * lanes);
    memset(s->cum, 0, sizeof(uint32_t) * lanes);
    memset(s->pool, 0, sizeof(uint32_t) * (size_t)(s->cap + 2 * RS_PAD) * (size_t)s->maxblocks);
    return 0;
}

/* Empty the set for a list of n values (at most the n it was made for): flat or blocks. */
void vt_rankset_reset(vt_rankset *s, int64_t n) {
    if (s->flat) /* the keys the last list's steps read (and took one from), and a vector more */
        fill_none(s->flat_keys, (s->size + 1 + RS_LANES) / RS_LANES * RS_LANES);
    s->size = 0;
    s->flat = s->flat_ok && n <= RS_FLAT_MAX;
    s->insert_gap = s->flat ? s->flat_kernel : s->block_kernel;
    if (s->flat) return;
    s->nblocks = 1;
    s->used = 1;
    s->blocks[0] = s->pool + RS_PAD;
    s->sizes[0] = 0;
    s->cum[0] = 0;
}

void vt_rankset_free(vt_rankset *s) {
    free(s->flat_keys);
    free(s->flat_values);
    free(s->blocks);
    free(s->sizes);
    free(s->key);
    free(s->cum);
    free(s->pool);
    memset(s, 0, sizeof *s);
}

/* Split full block k in halves (its key and count, and the later blocks', are up to date);
 * -1 when out of blocks. */
static int split(vt_rankset *s, int64_t k) {
    if (s->nblocks >= s->maxblocks) return -1;
    int64_t sz = s->sizes[k], half = sz / 2, move = s->nblocks - k - 1;
    uint32_t *upper = s->pool + (size_t)(s->cap + 2 * RS_PAD) * (size_t)s->used++ + RS_PAD, *lower = s->blocks[k];
    memmove(s->blocks + k + 2, s->blocks + k + 1, sizeof(uint32_t *) * (size_t)move);
    memmove(s->sizes + k + 2, s->sizes + k + 1, sizeof(int64_t) * (size_t)move);
    memmove(s->key + k + 2, s->key + k + 1, sizeof(uint32_t) * (size_t)move);
    memmove(s->cum + k + 2, s->cum + k + 1, sizeof(uint32_t) * (size_t)move);
    memcpy(upper, lower + half, sizeof(uint32_t) * (size_t)(sz - half));
    s->blocks[k + 1] = upper;
    s->sizes[k + 1] = sz - half;
    s->sizes[k] = half;
    s->cum[k + 1] = s->cum[k] + (uint32_t)half;
    s->key[k] = lower[half - 1] - (s->cum[k] + (uint32_t)half - 1);
    s->key[k + 1] = upper[sz - half - 1] - (s->cum[k + 1] + (uint32_t)(sz - half) - 1);
    s->nblocks++;
    return 0;
}

/* The set's values in ascending order; returns how many (-1: a flat set's keys and values
 * disagree, which exact arithmetic never gives). */
int64_t vt_rankset_read(const vt_rankset *s, uint64_t *out) {
    int64_t p = 0;
    if (s->flat) { /* each value's rank is its value less its key */
        for (int64_t j = 0; j < s->size; j++) {
            uint32_t t = s->flat_values[j] - (s->flat_keys[j] ^ RS_BIAS);
            if (t >= (uint64_t)s->size) return -1;
            out[t] = s->flat_values[j];
        }
        return s->size;
    }
    for (int64_t k = 0; k < s->nblocks; k++)
        for (int64_t t = 0; t < s->sizes[k]; t++) out[p++] = s->blocks[k][t];
    return p;
}
