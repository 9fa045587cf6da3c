/* Wavelet matrix over the sequence "list of the id at rank i", i = 0..N-1 (alphabet nlist):
 * the j-th smallest id of list l is select_l(j). N * ceil(log2 nlist) bits plus a rank
 * directory of 32 bits per 1024 (3.1 %), random access in O(levels) rank/select steps.
 *
 * Layout (64-bit words): header [n, levels]; then per level, from the top bit down:
 * [zeros at this level] [ceil(n/64) bit words] [ceil(n/1024) + 1 uint32 ranks of ones,
 * two per word]. Level k holds bit (levels-1-k) of every symbol in the order the previous
 * levels left them (zeros first, stably). All reads are checked against the buffer.
 */
#include <stdlib.h>
#include <string.h>
#include "vtool.h"

#define DIR_BITS 1024

static int64_t bit_words(int64_t n) { return (n + 63) / 64; }
static int64_t dir_words(int64_t n) { return (n / DIR_BITS + 3) / 2; } /* n/1024 + 2 uint32 entries */
static int64_t level_words(int64_t n) { return 1 + bit_words(n) + dir_words(n); }

int64_t vt_wm_words(int64_t n, int levels) { return 2 + (int64_t)levels * level_words(n); }

typedef struct {
    int64_t n, zeros;
    const uint64_t *bits;
    const uint32_t *dir;
} wm_level;

static uint64_t rank1(const wm_level *lv, int64_t p) { /* ones in [0, p), p <= n */
    int64_t blk = p / DIR_BITS;
    uint64_t r = lv->dir[blk];
    for (int64_t w = blk * (DIR_BITS / 64); w < p / 64; w++) r += (uint64_t)__builtin_popcountll(lv->bits[w]);
    if (p & 63) r += (uint64_t)__builtin_popcountll(lv->bits[p / 64] & ((1ull << (p & 63)) - 1));
    return r;
}

/* Position of the j-th (0-based) one (bit = 1) or zero (bit = 0); -1 if there is none. */
static int64_t select_bit(const wm_level *lv, int bit, int64_t j) {
    int64_t nblk = lv->n / DIR_BITS + 1, lo = 0, hi = nblk; /* last block whose start count <= j */
    while (hi - lo > 1) {
        int64_t mid = (lo + hi) / 2;
        int64_t before = bit ? (int64_t)lv->dir[mid] : mid * DIR_BITS - (int64_t)lv->dir[mid];
        if (before <= j) lo = mid;
        else hi = mid;
    }
    int64_t left = j - (bit ? (int64_t)lv->dir[lo] : lo * DIR_BITS - (int64_t)lv->dir[lo]);
    if (left < 0) return -1;
    for (int64_t w = lo * (DIR_BITS / 64); w < bit_words(lv->n); w++) {
        uint64_t word = bit ? lv->bits[w] : ~lv->bits[w];
        if (w == bit_words(lv->n) - 1 && (lv->n & 63)) word &= (1ull << (lv->n & 63)) - 1;
        int c = __builtin_popcountll(word);
        if (left < c) {
            for (int64_t k = 0; k < left; k++) word &= word - 1;
            return w * 64 + __builtin_ctzll(word);
        }
        left -= c;
    }
    return -1;
}

int vt_wm_build(const uint32_t *symbols, int64_t n, int levels, uint64_t *words, int64_t nwords) {
    if (n < 0 || levels < 0 || levels > 32 || nwords < vt_wm_words(n, levels)) return -1;
    for (int64_t i = 0; i < n; i++)
        if (levels < 32 && (symbols[i] >> levels)) return -2;
    memset(words, 0, sizeof(uint64_t) * (size_t)vt_wm_words(n, levels));
    words[0] = (uint64_t)n;
    words[1] = (uint64_t)levels;
    uint32_t *cur = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1)), *next = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
    if (!cur || !next) {
        free(cur);
        free(next);
        return -3;
    }
    memcpy(cur, symbols, sizeof(uint32_t) * (size_t)n);
    for (int k = 0; k < levels; k++) {
        uint64_t *base = words + 2 + k * level_words(n);
        uint64_t *bits = base + 1;
        uint32_t *dir = (uint32_t *)(bits + bit_words(n));
        int shift = levels - 1 - k;
        int64_t zeros = 0, ones = 0;
        for (int64_t i = 0; i < n; i++) {
            if (i % DIR_BITS == 0) dir[i / DIR_BITS] = (uint32_t)ones;
            if ((cur[i] >> shift) & 1) {
                bits[i / 64] |= 1ull << (i % 64);
                ones++;
            } else {
                zeros++;
            }
        }
        if (n % DIR_BITS == 0) dir[n / DIR_BITS] = (uint32_t)ones; /* rank at p = n */
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

static int wm_open(const uint64_t *words, int64_t nwords, int64_t *n, int *levels) {
    if (nwords < 2 || words[0] > (1ull << 31) || words[1] > 32) return -1;
    *n = (int64_t)words[0];
    *levels = (int)words[1];
    if (vt_wm_words(*n, *levels) > nwords) return -1;
    return 0;
}

static int level_at(const uint64_t *words, int64_t n, int k, wm_level *lv) {
    const uint64_t *base = words + 2 + k * level_words(n);
    lv->n = n;
    lv->zeros = (int64_t)base[0];
    lv->bits = base + 1;
    lv->dir = (const uint32_t *)(base + 1 + bit_words(n));
    if (lv->zeros < 0 || lv->zeros > n) return -1;
    for (int64_t b = 0; b <= n / DIR_BITS; b++) /* counts must be plausible for select's search */
        if (lv->dir[b] > (uint64_t)(b * DIR_BITS) || (b && lv->dir[b] < lv->dir[b - 1])) return -1;
    return 0;
}

typedef struct {
    int64_t n;
    int levels;
    wm_level lv[32];
} wm_view;

static int wm_prepare(const uint64_t *words, int64_t nwords, wm_view *w) {
    if (wm_open(words, nwords, &w->n, &w->levels)) return -1;
    for (int k = 0; k < w->levels; k++)
        if (level_at(words, w->n, k, &w->lv[k])) return -1;
    return 0;
}

/* The symbol's range [p, end) at the bottom level. */
static int wm_range(const wm_view *w, uint32_t symbol, int64_t *p_out, int64_t *end_out) {
    if (w->levels < 32 && (symbol >> w->levels)) return -1;
    int64_t p = 0, end = w->n;
    for (int k = 0; k < w->levels; k++) {
        int bit = (symbol >> (w->levels - 1 - k)) & 1;
        int64_t rp = (int64_t)rank1(&w->lv[k], p), re = (int64_t)rank1(&w->lv[k], end);
        if (rp > p || re > end || re < rp) return -1;
        p = bit ? w->lv[k].zeros + rp : p - rp;
        end = bit ? w->lv[k].zeros + re : end - re;
        if (p < 0 || end > w->n || p > end) return -1;
    }
    *p_out = p;
    *end_out = end;
    return 0;
}

static int64_t wm_up(const wm_view *w, uint32_t symbol, int64_t pos) {
    for (int k = w->levels - 1; k >= 0; k--) {
        int bit = (symbol >> (w->levels - 1 - k)) & 1;
        pos = bit ? select_bit(&w->lv[k], 1, pos - w->lv[k].zeros) : select_bit(&w->lv[k], 0, pos);
        if (pos < 0 || pos >= w->n) return -1;
    }
    return pos;
}

/* positions[t] = select_symbol(j[t]): the rank of the j-th smallest id of list `symbol`. */
int vt_wm_select(const uint64_t *words, int64_t nwords, uint32_t symbol, const int64_t *j, int64_t count,
                 int64_t *positions) {
    wm_view w;
    int64_t p, end;
    if (wm_prepare(words, nwords, &w) || wm_range(&w, symbol, &p, &end)) return -1;
    for (int64_t t = 0; t < count; t++) {
        if (j[t] < 0 || j[t] >= end - p || (positions[t] = wm_up(&w, symbol, p + j[t])) < 0) return -1;
    }
    return 0;
}

/* Ids (ranks) of rows of an inverted file: row -> (list, offset) through list_offsets. */
int vt_wm_select_rows(const uint64_t *words, int64_t nwords, const int64_t *list_offsets, int64_t nlist,
                      const int64_t *rows, int64_t count, int64_t *positions) {
    wm_view w;
    if (wm_prepare(words, nwords, &w) || nlist <= 0) return -1;
    for (int64_t t = 0; t < count; t++) {
        int64_t r = rows[t], lo = 0, hi = nlist, p, end;
        if (r < 0 || r >= list_offsets[nlist]) return -1;
        while (hi - lo > 1) {
            int64_t mid = (lo + hi) / 2;
            if (list_offsets[mid] <= r) lo = mid;
            else hi = mid;
        }
        if (wm_range(&w, (uint32_t)lo, &p, &end)) return -1;
        int64_t j = r - list_offsets[lo];
        if (j >= end - p || (positions[t] = wm_up(&w, (uint32_t)lo, p + j)) < 0) return -1;
    }
    return 0;
}

/* How many times `symbol` occurs (the size of its list); -1 on an inconsistent buffer. */
int64_t vt_wm_count(const uint64_t *words, int64_t nwords, uint32_t symbol) {
    wm_view w;
    int64_t p, end;
    if (wm_prepare(words, nwords, &w) || wm_range(&w, symbol, &p, &end)) return -1;
    return end - p;
}
