/* Elias-Fano coding of one sorted list: n values below `universe`, about 2 + log2(universe / n)
 * bits each, with random access (select on the high bits through a sampled directory).
 *
 * Layout (64-bit words): n * l low bits; H = n + (universe >> l) + 1 (0 if n = 0) high bits
 * (element i sets bit (v >> l) + i); then one word per 256 elements giving the position of
 * the high bit of element 256 k. n and the universe are the caller's (an index knows its
 * list sizes), and l = floor(log2(universe / n)). Every read is checked against the
 * buffer, so arbitrary bytes never make a decoder read or write out of bounds.
 */
#include "internal.h"
#include "bits.h"

#define EF_SAMPLE 256

static int low_bits(int64_t n, uint64_t universe) {
    if (n <= 0 || universe <= (uint64_t)n) return 0;
    int l = vt_bit_width(universe) - vt_bit_width((uint64_t)n); /* floor(log2(universe / n)), or one more: no division */
    return ((uint64_t)n << l) > universe ? l - 1 : l;
}

static int64_t words_for(int64_t n, int l, uint64_t high_bits) {
    return ((uint64_t)n * (uint64_t)l + 63) / 64 + (int64_t)((high_bits + 63) / 64) + (n + EF_SAMPLE - 1) / EF_SAMPLE;
}

static uint64_t high_bits_for(int64_t n, int l, uint64_t universe) {
    return n > 0 ? (uint64_t)n + (universe >> l) + 1 : 0;
}

int64_t vt_ef_words(int64_t n, uint64_t universe) {
    int l = low_bits(n, universe);
    return words_for(n, l, high_bits_for(n, l, universe));
}

int vt_ef_encode(const uint64_t *values, int64_t n, uint64_t universe, uint64_t *words, int64_t nwords) {
    if (n < 0) return -1;
    int l = low_bits(n, universe);
    uint64_t high_bits = high_bits_for(n, l, universe);
    int64_t need = words_for(n, l, high_bits);
    if (nwords < need) return -1;
    for (int64_t i = 0; i < need; i++) words[i] = 0;
    uint64_t *low = words;
    uint64_t *high = low + ((uint64_t)n * (uint64_t)l + 63) / 64;
    uint64_t *dir = high + (high_bits + 63) / 64;
    for (int64_t i = 0; i < n; i++) {
        if (values[i] >= universe || (i && values[i] < values[i - 1])) return -2;
        vt_bits_put(low, (uint64_t)i * (uint64_t)l, l, values[i]);
        uint64_t pos = (values[i] >> l) + (uint64_t)i;
        high[pos >> 6] |= 1ull << (pos & 63);
        if (i % EF_SAMPLE == 0) dir[i / EF_SAMPLE] = pos;
    }
    return 0;
}

typedef struct {
    int64_t n;
    int l;
    uint64_t high_bits, low_words, high_words;
    const uint64_t *low, *high, *dir;
} ef_view;

static int ef_open(const uint64_t *words, int64_t nwords, int64_t n, uint64_t universe, ef_view *v) {
    if (n < 0 || n > (1ll << 40) || universe > (1ull << 62) || (n > 0 && (uint64_t)n > universe)) return -1;
    v->n = n;
    v->l = low_bits(n, universe);
    v->high_bits = high_bits_for(n, v->l, universe);
    v->low_words = ((uint64_t)n * (uint64_t)v->l + 63) / 64;
    v->high_words = (v->high_bits + 63) / 64;
    if (words_for(n, v->l, v->high_bits) > nwords) return -1;
    v->low = words;
    v->high = v->low + v->low_words;
    v->dir = v->high + v->high_words;
    return 0;
}

/* Position of the high bit of element i, or -1 if the bits are inconsistent: from the sampled
 * one, whole words skipped by their counts, then a select in the word. */
static inline __attribute__((always_inline)) int64_t ef_select(const ef_view *v, int64_t i) {
    uint64_t pos = v->dir[i / EF_SAMPLE];
    if (pos >= v->high_bits) return -1;
    int64_t left = i % EF_SAMPLE; /* ones to skip after the sampled one */
    uint64_t w = pos >> 6, bits = v->high[w] & (~0ull << (pos & 63));
    for (int64_t c; left >= (c = __builtin_popcountll(bits)); bits = v->high[w]) {
        left -= c;
        if (++w >= v->high_words) return -1;
    }
    uint64_t p = (w << 6) + (uint64_t)vt_select64(bits, (int)left);
    return p < v->high_bits ? (int64_t)p : -1;
}

/* Element i: its high part from the select, its low bits from the low words; -1 if i is not
 * an element or the bits are inconsistent. */
static inline __attribute__((always_inline)) int ef_element(const ef_view *v, int64_t i, uint64_t *value) {
    int64_t p = i >= 0 && i < v->n ? ef_select(v, i) : -1;
    if (p < i) return -1;
    uint64_t high = (uint64_t)(p - i);
    *value = (v->l ? high << v->l : high) | vt_bits_get(v->low, v->low_words * 64, (uint64_t)i * (uint64_t)v->l, v->l);
    return 0;
}

int vt_ef_get(const uint64_t *words, int64_t nwords, int64_t n, uint64_t universe, const int64_t *idx,
              int64_t count, uint64_t *values) {
    ef_view v;
    if (ef_open(words, nwords, n, universe, &v)) return -1;
    for (int64_t k = 0; k < count; k++)
        if (ef_element(&v, idx[k], values + k)) return -1;
    return 0;
}

/* All values in order; returns n, or -1 if the buffer is inconsistent or cap too small. */
int64_t vt_ef_decode(const uint64_t *words, int64_t nwords, int64_t n, uint64_t universe, uint64_t *values) {
    ef_view v;
    if (ef_open(words, nwords, n, universe, &v)) return -1;
    int64_t i = 0;
    for (uint64_t w = 0; w < v.high_words && i < v.n; w++) {
        uint64_t bits = v.high[w];
        while (bits && i < v.n) {
            uint64_t p = (w << 6) + (uint64_t)__builtin_ctzll(bits);
            if (p >= v.high_bits || p < (uint64_t)i) return -1;
            values[i] = ((p - (uint64_t)i) << v.l) | vt_bits_get(v.low, v.low_words * 64, (uint64_t)i * (uint64_t)v.l, v.l);
            i++;
            bits &= bits - 1;
        }
    }
    return i == v.n ? v.n : -1;
}

/* Ids of rows of an inverted file whose lists are Elias-Fano coded: row -> (list, offset)
 * through list_offsets, the list's words through word_offsets (nlist + 1 each). Compiled
 * twice, as wavelet.c's selects: with the popcnt instruction, and without (a library call). */
static inline __attribute__((always_inline)) int
ef_rows_core(const uint64_t *words, int64_t nwords, const int64_t *word_offsets, const int64_t *list_offsets,
             int64_t nlist, uint64_t universe, const int64_t *rows, int64_t count, uint64_t *values) {
    if (nlist <= 0) return count ? -1 : 0;
    for (int64_t t0 = 0; t0 < count; t0 += VT_ROW_BATCH) {
        const int64_t *r = rows + t0, lanes = count - t0 < VT_ROW_BATCH ? count - t0 : VT_ROW_BATCH;
        int64_t lists[VT_ROW_BATCH];
        for (int64_t t = 0; t < lanes; t++)
            if (r[t] < 0 || r[t] >= list_offsets[nlist]) return -1;
        vt_lists_of_rows(list_offsets, nlist, r, lanes, lists);
        for (int64_t t = 0; t < lanes; t++) {
            int64_t l = lists[t], a = word_offsets[l], b = word_offsets[l + 1];
            ef_view v;
            if (a < 0 || b < a || b > nwords || ef_open(words + a, b - a, list_offsets[l + 1] - list_offsets[l], universe, &v) ||
                ef_element(&v, r[t] - list_offsets[l], values + t0 + t))
                return -1;
        }
    }
    return 0;
}

static int ef_rows_generic(const uint64_t *words, int64_t nwords, const int64_t *word_offsets,
                           const int64_t *list_offsets, int64_t nlist, uint64_t universe, const int64_t *rows,
                           int64_t count, uint64_t *values) {
    return ef_rows_core(words, nwords, word_offsets, list_offsets, nlist, universe, rows, count, values);
}

#if VT_X86
__attribute__((target("popcnt"))) static int ef_rows_popcnt(const uint64_t *words, int64_t nwords,
                                                            const int64_t *word_offsets, const int64_t *list_offsets,
                                                            int64_t nlist, uint64_t universe, const int64_t *rows,
                                                            int64_t count, uint64_t *values) {
    return ef_rows_core(words, nwords, word_offsets, list_offsets, nlist, universe, rows, count, values);
}
#endif

typedef struct {
    const uint64_t *words;
    const int64_t *word_offsets, *list_offsets;
    int64_t nwords, nlist;
    uint64_t universe;
} ef_lists;

static int ef_rows(const void *ctx, const int64_t *rows, int64_t count, uint64_t *values) {
    const ef_lists *e = ctx;
#if VT_X86
    if (vt_simd_level() != VT_SCALAR)
        return ef_rows_popcnt(e->words, e->nwords, e->word_offsets, e->list_offsets, e->nlist, e->universe, rows,
                              count, values);
#endif
    return ef_rows_generic(e->words, e->nwords, e->word_offsets, e->list_offsets, e->nlist, e->universe, rows, count,
                           values);
}

/* Rows in order (vt_rows_in_order): a list's rows together read its words once (a search's
 * 10,240 rows, GloVe IVF4096: 0.51 ms as they come, 0.33 sorted, the sort 0.06). */
int vt_ef_get_rows(const uint64_t *words, int64_t nwords, const int64_t *word_offsets, const int64_t *list_offsets,
                   int64_t nlist, uint64_t universe, const int64_t *rows, int64_t count, uint64_t *values) {
    if (nlist <= 0) return count ? -1 : 0;
    ef_lists e = {words, word_offsets, list_offsets, nwords, nlist, universe};
    return vt_rows_in_order(rows, count, list_offsets[nlist], values, ef_rows, &e);
}
