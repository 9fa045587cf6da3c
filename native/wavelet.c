/* Wavelet matrix over the sequence "list of the id at rank i", i = 0..N-1 (alphabet nlist):
 * the j-th smallest id of list l is select_l(j). N * ceil(log2 nlist) bits and a word a
 * level, random access in O(levels) rank/select steps.
 *
 * Layout (64-bit words): header [n, levels | WM_NO_DIR]; then per level, from the top bit
 * down: [zeros at this level] [ceil(n/64) bit words]. Level k holds bit (levels-1-k) of
 * every symbol in the order the previous levels left them (zeros first, stably). Files
 * written before WM_NO_DIR also stored, after each level's bits, a rank directory (32 bits
 * per 1024, 3.1 %) that nothing reads: it is skipped. All reads are checked against the buffer.
 *
 * Rank and select need no stored ranks: vt_wm_aid computes, from the bits, block and
 * quarter ranks and a select sample every 1024 occurrences (about 3 % of the bits), so a
 * select is a sample, a short search over block ranks, a quarter, at most four words and a
 * broadword select in one: tens of cycles a level, not a binary search and a bit loop.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* The select path is compiled twice: with the popcnt instruction (every AVX2 or AVX-512
 * machine has it) and without (the scalar level, where __builtin_popcountll is a library
 * call); the helpers are always inlined so that each copy gets its own. */
#define WM_INLINE static inline __attribute__((always_inline))
#if VT_X86
#define WM_POPCNT __attribute__((target("popcnt")))
#endif

#define DIR_BITS 1024

static void fill_select_table(void);

#define WM_NO_DIR 0x100 /* in words[1]: levels without the stored directory */

static int64_t bit_words(int64_t n) { return (n + 63) / 64; }
static int64_t dir_words(int64_t n) { return (n / DIR_BITS + 3) / 2; } /* n/1024 + 2 uint32 entries */
static int64_t level_words(int64_t n, int stored_dir) { return 1 + bit_words(n) + (stored_dir ? dir_words(n) : 0); }

int64_t vt_wm_words(int64_t n, int levels) { return 2 + (int64_t)levels * level_words(n, 0); }

typedef struct {
    int64_t n, zeros, nblk;
    const uint64_t *bits;
    const uint32_t *rank;    /* ones before block b (1024 bits), b = 0..nblk */
    const uint16_t *sub;     /* ones before word i of block b, in the block: [16 b + i] */
    const uint32_t *samp[2]; /* block holding the (1024 t)-th zero [0] / one [1] */
} wm_level;

int vt_wm_build(const uint32_t *symbols, int64_t n, int levels, uint64_t *words, int64_t nwords) {
    if (n < 0 || levels < 0 || levels > 32 || nwords < vt_wm_words(n, levels)) return -1;
    for (int64_t i = 0; i < n; i++)
        if (levels < 32 && (symbols[i] >> levels)) return -2;
    memset(words, 0, sizeof(uint64_t) * (size_t)vt_wm_words(n, levels));
    words[0] = (uint64_t)n;
    words[1] = (uint64_t)levels | WM_NO_DIR;
    uint32_t *cur = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1)), *next = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
    if (!cur || !next) {
        free(cur);
        free(next);
        return -3;
    }
    memcpy(cur, symbols, sizeof(uint32_t) * (size_t)n);
    for (int k = 0; k < levels; k++) {
        uint64_t *base = words + 2 + k * level_words(n, 0);
        uint64_t *bits = base + 1;
        int shift = levels - 1 - k;
        int64_t zeros = 0;
        for (int64_t i = 0; i < n; i++) {
            if ((cur[i] >> shift) & 1) bits[i / 64] |= 1ull << (i % 64);
            else zeros++;
        }
        base[0] = (uint64_t)zeros;
        int64_t z = 0, o = zeros;
        for (int64_t i = 0; i < n; i++) next[((cur[i] >> shift) & 1) ? o++ : z++] = cur[i];
        uint32_t *t = cur;
        cur = next;
        next = t;
    }
    free(cur);
    free(next);
    return 0;
}

/* The aid: what rank and select need, computed from the bits when an index is opened (never
 * read from a file): per level, block ranks, word ranks within the block (uint16) and a
 * select sample every 1024 occurrences, about 40 % of the bits, in memory only. Layout
 * (uint32): [n, levels], then per level rank[nblk + 1], sub[16 nblk] (uint16, two a uint32),
 * samp1[nsamp], samp0[nsamp], with nblk = n / 1024 + 1 and nsamp = n / 1024 + 2. */
static int64_t aid_level_size(int64_t n) {
    int64_t nblk = n / DIR_BITS + 1;
    return (nblk + 1) + 8 * nblk + 2 * (n / DIR_BITS + 2);
}

/* n, levels and the words a level takes (with or without a stored directory), checked. */
static int wm_open(const uint64_t *words, int64_t nwords, int64_t *n, int *levels, int64_t *stride) {
    if (nwords < 2 || words[0] > (1ull << 31) || (words[1] & ~(uint64_t)WM_NO_DIR) > 32) return -1;
    *n = (int64_t)words[0];
    *levels = (int)(words[1] & ~(uint64_t)WM_NO_DIR);
    *stride = level_words(*n, !(words[1] & WM_NO_DIR));
    if (2 + *levels * *stride > nwords) return -1;
    return 0;
}

int64_t vt_wm_aid_size(const uint64_t *words, int64_t nwords) {
    int64_t n, stride;
    int levels;
    if (wm_open(words, nwords, &n, &levels, &stride)) return -1;
    return 2 + (int64_t)levels * aid_level_size(n);
}

WM_INLINE uint64_t level_word(const wm_level *lv, int64_t w, int bit) { /* word w of the bits, or of their complement */
    uint64_t word = bit ? lv->bits[w] : ~lv->bits[w];
    if (w == lv->n / 64 && (lv->n & 63)) word &= (1ull << (lv->n & 63)) - 1; /* nothing past n */
    return word;
}

int vt_wm_aid(const uint64_t *words, int64_t nwords, uint32_t *aid, int64_t naid) {
    int64_t n, stride;
    int levels;
    fill_select_table();
    if (wm_open(words, nwords, &n, &levels, &stride) || naid < 2 + (int64_t)levels * aid_level_size(n)) return -1;
    aid[0] = (uint32_t)n;
    aid[1] = (uint32_t)levels;
    int64_t nblk = n / DIR_BITS + 1, nsamp = n / DIR_BITS + 2, nw = bit_words(n);
    for (int k = 0; k < levels; k++) {
        const uint64_t *base = words + 2 + k * stride, *bits = base + 1;
        uint32_t *rank = aid + 2 + k * aid_level_size(n), *samp1 = rank + nblk + 1 + 8 * nblk, *samp0 = samp1 + nsamp;
        uint16_t *sub = (uint16_t *)(rank + nblk + 1);
        uint64_t ones = 0;
        int64_t next1 = 0, next0 = 0; /* the next sample to set: occurrence 1024 t */
        for (int64_t b = 0; b < nblk; b++) {
            rank[b] = (uint32_t)ones;
            for (int64_t w = b * 16; w < b * 16 + 16; w++) {
                sub[w] = (uint16_t)(ones - rank[b]);
                if (w >= nw) continue;
                uint64_t word = bits[w];
                if (w == n / 64 && (n & 63)) word &= (1ull << (n & 63)) - 1;
                int64_t o = __builtin_popcountll(word), z = (w == n / 64 && (n & 63) ? (n & 63) : 64) - o;
                int64_t zeros_before = w * 64 - (int64_t)ones;
                while (next1 * DIR_BITS < (int64_t)ones + o) samp1[next1++] = (uint32_t)b;
                while (next0 * DIR_BITS < zeros_before + z) samp0[next0++] = (uint32_t)b;
                ones += (uint64_t)o;
            }
        }
        rank[nblk] = (uint32_t)ones;
        if ((int64_t)base[0] != n - (int64_t)ones) return -2; /* the zeros count disagrees with the bits */
        while (next1 < nsamp) samp1[next1++] = (uint32_t)(nblk - 1);
        while (next0 < nsamp) samp0[next0++] = (uint32_t)(nblk - 1);
    }
    return 0;
}

typedef struct {
    int64_t n;
    int levels;
    wm_level lv[32];
} wm_view;

static int wm_prepare(const uint64_t *words, int64_t nwords, const uint32_t *aid, int64_t naid, wm_view *w) {
    int64_t stride;
    if (wm_open(words, nwords, &w->n, &w->levels, &stride)) return -1;
    if (naid < 2 + (int64_t)w->levels * aid_level_size(w->n) || aid[0] != (uint32_t)w->n ||
        aid[1] != (uint32_t)w->levels)
        return -1;
    int64_t nblk = w->n / DIR_BITS + 1, nsamp = w->n / DIR_BITS + 2;
    for (int k = 0; k < w->levels; k++) {
        wm_level *lv = &w->lv[k];
        const uint64_t *base = words + 2 + k * stride;
        lv->n = w->n;
        lv->nblk = nblk;
        lv->zeros = (int64_t)base[0];
        lv->bits = base + 1;
        lv->rank = aid + 2 + k * aid_level_size(w->n);
        lv->sub = (const uint16_t *)(lv->rank + nblk + 1);
        lv->samp[1] = lv->rank + nblk + 1 + 8 * nblk;
        lv->samp[0] = lv->samp[1] + nsamp;
        if (lv->zeros < 0 || lv->zeros > w->n || lv->zeros != w->n - (int64_t)lv->rank[nblk]) return -1;
    }
    return 0;
}

WM_INLINE int64_t rank1(const wm_level *lv, int64_t p) { /* ones in [0, p), 0 <= p <= n */
    int64_t r = (int64_t)lv->rank[p / DIR_BITS] + lv->sub[p / 64];
    if (p & 63) r += __builtin_popcountll(lv->bits[p / 64] & ((1ull << (p & 63)) - 1));
    return r;
}

/* select_in_byte[256 k + b]: the position of the k-th set bit of byte b (8 if none). */
static uint8_t select_in_byte[2048];
static volatile int select_table_ready;

static void fill_select_table(void) {
    if (select_table_ready) return;
    for (int b = 0; b < 256; b++) {
        int k = 0;
        for (int i = 0; i < 8; i++)
            if (b >> i & 1) select_in_byte[256 * k++ + b] = (uint8_t)i;
        for (; k < 8; k++) select_in_byte[256 * k + b] = 8;
    }
    select_table_ready = 1;
}

/* Position of the r-th (0-based) set bit of x (x has more than r set bits), without
 * branches: byte prefix counts by a multiply, the byte found by a bytewise compare, then a
 * table (broadword select, as in Vigna's rank9/select9). */
WM_INLINE int select64(uint64_t x, int r) {
    const uint64_t ones = 0x0101010101010101ull, msbs = 0x8080808080808080ull;
    uint64_t s = x - ((x >> 1) & 0x5555555555555555ull);
    s = (s & 0x3333333333333333ull) + ((s >> 2) & 0x3333333333333333ull);
    s = (s + (s >> 4)) & 0x0f0f0f0f0f0f0f0full;
    uint64_t prefix = s * ones;                       /* byte i: set bits in bytes 0..i (<= 64) */
    uint64_t le = ((((uint64_t)r * ones) | msbs) - prefix) & msbs; /* byte i: prefix_i <= r */
    int byte = (int)((le >> 7) * ones >> 56);          /* how many bytes end at or before the r-th bit */
    int before = (int)(((prefix << 8) >> (8 * byte)) & 0xff);
    return 8 * byte + select_in_byte[256 * (r - before) + ((x >> (8 * byte)) & 0xff)];
}

/* Position of the j-th (0-based) one (bit = 1) or zero (bit = 0); -1 if there is none. */
WM_INLINE int64_t select_bit(const wm_level *lv, int bit, int64_t j) {
    int64_t total = bit ? lv->n - lv->zeros : lv->zeros;
    if (j < 0 || j >= total) return -1;
    int64_t lo = lv->samp[bit][j / DIR_BITS], hi = lv->samp[bit][j / DIR_BITS + 1];
    if (hi >= lv->nblk) hi = lv->nblk - 1;
#define BEFORE(b) (bit ? (int64_t)lv->rank[b] : (int64_t)(b) * DIR_BITS - (int64_t)lv->rank[b])
    while (lo < hi) { /* the last block whose count before it is <= j: usually one or two steps */
        int64_t mid = (lo + hi + 1) / 2;
        if (BEFORE(mid) <= j) lo = mid;
        else hi = mid - 1;
    }
    int64_t left = j - BEFORE(lo);
#undef BEFORE
    const uint16_t *sub = lv->sub + 16 * lo; /* the word, without branches: counts only grow */
    int i = 0;
    for (int t = 1; t < 16; t++) i += (bit ? (int64_t)sub[t] : 64 * t - (int64_t)sub[t]) <= left;
    left -= bit ? (int64_t)sub[i] : 64 * i - (int64_t)sub[i];
    int64_t w = lo * 16 + i;
    if (w >= bit_words(lv->n)) return -1; /* not reached: the aid was computed from these bits */
    uint64_t word = level_word(lv, w, bit);
    if (left >= __builtin_popcountll(word)) return -1;
    return w * 64 + select64(word, (int)left);
}

/* The symbol's range [p, end) at the bottom level. */
static int wm_range(const wm_view *w, uint32_t symbol, int64_t *p_out, int64_t *end_out) {
    if (w->levels < 32 && (symbol >> w->levels)) return -1;
    int64_t p = 0, end = w->n;
    for (int k = 0; k < w->levels; k++) {
        int bit = (symbol >> (w->levels - 1 - k)) & 1;
        int64_t rp = rank1(&w->lv[k], p), re = rank1(&w->lv[k], end);
        p = bit ? w->lv[k].zeros + rp : p - rp;
        end = bit ? w->lv[k].zeros + re : end - re;
    }
    *p_out = p;
    *end_out = end;
    return 0;
}

WM_INLINE int64_t wm_up(const wm_view *w, uint32_t symbol, int64_t pos) {
    for (int k = w->levels - 1; k >= 0; k--) {
        int bit = (symbol >> (w->levels - 1 - k)) & 1;
        pos = bit ? select_bit(&w->lv[k], 1, pos - w->lv[k].zeros) : select_bit(&w->lv[k], 0, pos);
        if (pos < 0) return -1;
    }
    return pos;
}

/* positions[t] = select_symbol(j[t]): the rank of the j-th smallest id of list `symbol`. */
int vt_wm_select(const uint64_t *words, int64_t nwords, const uint32_t *aid, int64_t naid, uint32_t symbol,
                 const int64_t *j, int64_t count, int64_t *positions) {
    wm_view w;
    int64_t p, end;
    if (wm_prepare(words, nwords, aid, naid, &w) || wm_range(&w, symbol, &p, &end)) return -1;
    for (int64_t t = 0; t < count; t++) {
        if (j[t] < 0 || j[t] >= end - p || (positions[t] = wm_up(&w, symbol, p + j[t])) < 0) return -1;
    }
    return 0;
}

/* Where each list starts at the bottom level, and its length (starts[l], counts[l], l < nlist). */
int vt_wm_starts(const uint64_t *words, int64_t nwords, const uint32_t *aid, int64_t naid, int64_t nlist,
                 int64_t *starts, int64_t *counts) {
    wm_view w;
    if (wm_prepare(words, nwords, aid, naid, &w)) return -1;
    for (int64_t l = 0; l < nlist; l++) {
        int64_t p, end;
        if (l > 0xffffffffll || wm_range(&w, (uint32_t)l, &p, &end)) return -1;
        starts[l] = p;
        counts[l] = end - p;
    }
    return 0;
}

#define WM_LANES 16 /* rows taken level by level together: their loads overlap */

WM_INLINE int select_rows_core(const wm_view *w, const int64_t *starts, const int64_t *list_offsets, int64_t nlist,
                               const int64_t *rows, int64_t count, int64_t *positions) {
    for (int64_t t0 = 0; t0 < count; t0 += WM_LANES) {
        int lanes = count - t0 < WM_LANES ? (int)(count - t0) : WM_LANES;
        int64_t pos[WM_LANES];
        uint32_t sym[WM_LANES];
        for (int i = 0; i < lanes; i++) {
            int64_t r = rows[t0 + i], lo = 0, hi = nlist;
            if (r < 0 || r >= list_offsets[nlist]) return -1;
            while (hi - lo > 1) {
                int64_t mid = (lo + hi) / 2;
                if (list_offsets[mid] <= r) lo = mid;
                else hi = mid;
            }
            pos[i] = starts[lo] + r - list_offsets[lo];
            sym[i] = (uint32_t)lo;
            if (pos[i] < 0 || pos[i] >= w->n) return -1;
        }
        for (int k = w->levels - 1; k >= 0; k--) { /* wm_up, the lanes in lockstep */
            const wm_level *lv = &w->lv[k];
            int shift = w->levels - 1 - k;
            for (int i = 0; i < lanes; i++) {
                int bit = (sym[i] >> shift) & 1;
                pos[i] = select_bit(lv, bit, bit ? pos[i] - lv->zeros : pos[i]);
                if (pos[i] < 0) return -1;
            }
        }
        for (int i = 0; i < lanes; i++) positions[t0 + i] = pos[i];
    }
    return 0;
}

static int select_rows_generic(const wm_view *w, const int64_t *starts, const int64_t *list_offsets, int64_t nlist,
                               const int64_t *rows, int64_t count, int64_t *positions) {
    return select_rows_core(w, starts, list_offsets, nlist, rows, count, positions);
}

#if VT_X86
WM_POPCNT static int select_rows_popcnt(const wm_view *w, const int64_t *starts, const int64_t *list_offsets,
                                        int64_t nlist, const int64_t *rows, int64_t count, int64_t *positions) {
    return select_rows_core(w, starts, list_offsets, nlist, rows, count, positions);
}
#endif

/* Ids (ranks) of rows of an inverted file: row r of list l is occurrence r - list_offsets[l]
 * of symbol l, found at bottom position starts[l] + that (the caller checked that list l
 * has list_offsets[l + 1] - list_offsets[l] occurrences, with vt_wm_starts). */
int vt_wm_select_rows(const uint64_t *words, int64_t nwords, const uint32_t *aid, int64_t naid,
                      const int64_t *starts, const int64_t *list_offsets, int64_t nlist, const int64_t *rows,
                      int64_t count, int64_t *positions) {
    wm_view w;
    if (wm_prepare(words, nwords, aid, naid, &w) || nlist <= 0) return -1;
#if VT_X86
    if (vt_simd_level() != VT_SCALAR) return select_rows_popcnt(&w, starts, list_offsets, nlist, rows, count, positions);
#endif
    return select_rows_generic(&w, starts, list_offsets, nlist, rows, count, positions);
}
