/* Random Order Coding (bits-back ANS) of lists of distinct ids: a set of n ids below N costs
 * about log2 C(N, n) bits, the n! orders being paid back (Severo et al.). Lists are coded in
 * groups, one stream a group: the start-up and the final state are paid once a group.
 *
 * Compression, for i = n .. 1: decode a position j uniform in [0, i) from the ANS state
 * (taking bits back), remove the j-th smallest remaining id v, and encode v among the ids
 * not left in the set: v - j, uniform in [0, N - i + 1). Decompression runs the steps
 * backwards: decode v - j, recover v and j from the set, insert v, encode j. The total is
 * log2 C(N, n) bits plus the ANS state and start-up (a few dozen bits a stream).
 *
 * rANS: 64-bit state in [2^31, 2^63), 32-bit words on a stack, probabilities in units of
 * 2^-31 (a uniform over R <= 2^31 gives R - r symbols 2^31 div R and r symbols one more).
 * A universe above 2^31 is split into a uniform high part below 2^24 and exact low bits.
 * Stream of a group (32-bit words): final state (low, high), then the stack, bottom first.
 * Decoders check every read: corrupt bytes give an error, never an out-of-bounds access.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "bits.h"

#define RANS_L (1ull << 31)
#define SCALE 31

typedef struct {
    uint64_t x;
    uint32_t *stack;
    int64_t len, cap;
    int err;
} rans;

/* x's low word onto the stack when out is 1 (stored regardless, kept by the length moving by
 * out); returns the words pushed, 0 when the stack is full (only a wrong word count gets there). */
static inline int64_t push_low_word(rans *r, uint64_t x, int64_t out) {
    if (r->len >= r->cap) {
        r->err |= (int)out;
        return 0;
    }
    r->stack[r->len] = (uint32_t)x;
    r->len += out;
    return out;
}

/* Renormalisation without branches (whether a word moves is a coin flip, a mispredicted
 * branch every other id): the word is stored or read regardless and the length moves by 0
 * or 1. The stack has a readable word below its bottom (stack[-1]). */
static inline void put(rans *r, uint64_t start, uint64_t freq) {
    uint64_t x = r->x;
    int64_t out = push_low_word(r, x, x >= (freq << 32));
    x >>= out << 5;
    r->x = ((x / freq) << SCALE) + (x % freq) + start;
}

/* Popping past the bottom yields zeros while compressing (bits-back on an empty stack);
 * while decompressing it is corruption. */
static inline void take(rans *r, uint64_t start, uint64_t freq, int bottom_is_error) {
    uint64_t slot = r->x & ((1ull << SCALE) - 1);
    uint64_t x = freq * (r->x >> SCALE) + slot - start;
    int64_t in = x < RANS_L, empty = r->len == 0;
    uint64_t w = r->stack[r->len - 1] & -(uint64_t)!empty;
    r->err |= (int)(in & empty & bottom_is_error);
    r->len -= in & !empty;
    r->x = (x << (in << 5)) | (w & -(uint64_t)in);
}

/* Uniform over [0, range), range <= 2^31. */
static inline void enc_uniform(rans *r, uint64_t v, uint64_t range) {
    uint64_t f = (1ull << SCALE) / range, rem = (1ull << SCALE) - f * range;
    put(r, v * f + (v < rem ? v : rem), f + (v < rem));
}

static inline uint64_t dec_uniform(rans *r, uint64_t range, int bottom_is_error) {
    /* 32-bit divisions: range, f + 1 and the slot are below 2^32 */
    uint64_t f = (uint32_t)(1u << SCALE) / (uint32_t)range, rem = (1ull << SCALE) - f * range;
    uint32_t slot = (uint32_t)(r->x & ((1ull << SCALE) - 1)), split = (uint32_t)(rem * (f + 1));
    uint64_t v = slot < split ? slot / (uint32_t)(f + 1) : rem + (slot - split) / (uint32_t)f;
    if (v >= range) { /* only reachable through corrupt state */
        r->err = 1;
        return 0;
    }
    take(r, v * f + (v < rem ? v : rem), f + (v < rem), bottom_is_error);
    return v;
}

static int split_bits(uint64_t universe) {
    int w = vt_bit_width(universe - 1);
    return w > 31 ? w - 24 : 0;
}

/* Uniform over [0, range) for any range: above 2^31, a high part below 2^24 and exact low bits
 * (the unused top of the last high bucket costs at most 2^-24 of a bit). */
static void enc_big(rans *r, uint64_t v, uint64_t range) {
    int k = split_bits(range);
    if (k) enc_uniform(r, v & ((1ull << k) - 1), 1ull << k);
    enc_uniform(r, v >> k, ((range - 1) >> k) + 1);
}

static uint64_t dec_big(rans *r, uint64_t range) {
    int k = split_bits(range);
    uint64_t hi = dec_uniform(r, ((range - 1) >> k) + 1, 1);
    uint64_t lo = k ? dec_uniform(r, 1ull << k, 1) : 0;
    return (hi << k) | lo;
}

/* What the decoder's step i needs that depends on i alone, made once a call for every i: the
 * uniform over universe - i + 1 it decodes (f, rem, where the slots of the f + 1 wide symbols
 * end, and reciprocals of f + 1 and f: floor(a / d) = (a * (floor(2^62 / d) + 1)) >> 62 for
 * a d < 2^62, and here a < 2^31, d <= 2^31) and the uniform over i it encodes (f, rem and
 * floor((2^64 - 1) / d) for d = f + 1 and f, whose product with x < 2^63 is floor(x / d) or
 * one less). Universes up to 2^31 (one uniform a gap). */
typedef struct {
    uint64_t d_f, d_rem, d_split, d_m1, d_m0, e_f, e_rem, e_m1, e_m0;
} roc_step;

#define STEP_TABLE_MAX (1 << 16) /* steps tabulated (longer lists compute the rest as they go) */

static inline roc_step step_of(uint64_t universe, uint64_t i) {
    roc_step s;
    uint64_t range = universe - i + 1;
    s.d_f = (1ull << SCALE) / range;
    s.d_rem = (1ull << SCALE) - s.d_f * range;
    s.d_split = s.d_rem * (s.d_f + 1);
    s.d_m1 = (1ull << 62) / (s.d_f + 1) + 1;
    s.d_m0 = (1ull << 62) / s.d_f + 1;
    s.e_f = (1ull << SCALE) / i;
    s.e_rem = (1ull << SCALE) - s.e_f * i;
    s.e_m1 = UINT64_MAX / (s.e_f + 1);
    s.e_m0 = UINT64_MAX / s.e_f;
    return s;
}

/* steps[i] for i = 1 .. *nsteps = min(longest, STEP_TABLE_MAX), or NULL and 0 (a universe past
 * 2^31 or below the longest list, or no memory). */
static roc_step *step_table(uint64_t universe, int64_t longest, int64_t *nsteps) {
    int64_t n = longest < STEP_TABLE_MAX ? longest : STEP_TABLE_MAX;
    roc_step *t = universe <= (1ull << SCALE) && n > 0 && (uint64_t)n <= universe ? malloc(sizeof(roc_step) * (size_t)(n + 1)) : NULL;
    if (t)
        for (int64_t i = 1; i <= n; i++) t[i] = step_of(universe, (uint64_t)i);
    *nsteps = t ? n : 0;
    return t;
}

/* The decoder's decode of a gap g over universe - i + 1: a multiplication by a reciprocal
 * where dec_uniform divides (the division sat on the chain of dependent operations a step is). */
static inline uint64_t dec_step(rans *r, const roc_step *st) {
    uint64_t slot = r->x & ((1ull << SCALE) - 1), low = slot < st->d_split;
    uint64_t num = low ? slot : slot - st->d_split, m = low ? st->d_m1 : st->d_m0;
    uint64_t g = (uint64_t)(((unsigned __int128)num * m) >> 62) + (low ? 0 : st->d_rem);
    take(r, g * st->d_f + (low ? g : st->d_rem), st->d_f + low, 1);
    return g;
}

/* floor(x / d) for x < 2^63, given m = floor((2^64 - 1) / d): the high product is it or one less. */
static inline uint64_t div_by(uint64_t x, uint64_t d, uint64_t m, uint64_t *rem) {
    uint64_t q = (uint64_t)(((unsigned __int128)x * m) >> 64), r = x - q * d, more = r >= d;
    *rem = r - (d & -more);
    return q + more;
}

/* The decoder's encode of a rank among i: put with a frequency of f + 1 below rem, else f. Both
 * candidates (renormalisation, quotient, remainder) come from the state alone, so they are
 * computed while the set counts the rank, which then only picks one (two divisions a step
 * were a third of the decoder's time: reciprocals instead). */
static inline void enc_step(rans *r, uint64_t rank, const roc_step *st) {
    uint64_t x = r->x, f = st->e_f, fa = f + 1, sel = -(uint64_t)(rank < st->e_rem);
    uint64_t out_a = x >= (fa << 32), out_b = x >= (f << 32);
    uint64_t xa = x >> (out_a << 5), xb = x >> (out_b << 5), ra, rb;
    uint64_t qa = div_by(xa, fa, st->e_m1, &ra), qb = div_by(xb, f, st->e_m0, &rb);
    push_low_word(r, x, (int64_t)((out_a & sel) | (out_b & ~sel)));
    uint64_t start = rank * f + (sel ? rank : st->e_rem);
    r->x = ((((qa & sel) | (qb & ~sel))) << SCALE) + ((ra & sel) | (rb & ~sel)) + start;
}

/* The set of ids coded so far, sorted, in blocks of at most `cap` values (cap grows with the
 * list, about 2 sqrt(n), at least 64): a block scan, a branch-free search in one block and a
 * short move a step, O(sqrt n), where one big block moved kilobytes an id. The blocks' sizes
 * and last values are kept apart so that the scan reads two small arrays. */
typedef struct {
    uint64_t **blocks;
    int64_t *sizes;
    uint64_t *last;
    int64_t nblocks, maxblocks, cap;
} blocked;

static int bl_init(blocked *b, int64_t n) {
    b->cap = 64;
    while (b->cap < 4096 && b->cap * b->cap < 4 * n) b->cap *= 2;
    b->maxblocks = n / (b->cap / 2) + 2;
    b->blocks = calloc((size_t)b->maxblocks, sizeof(uint64_t *));
    b->sizes = calloc((size_t)b->maxblocks, sizeof(int64_t));
    b->last = calloc((size_t)b->maxblocks, sizeof(uint64_t));
    b->nblocks = 0;
    return b->blocks && b->sizes && b->last ? 0 : -1;
}

static void bl_free(blocked *b) {
    if (b->blocks)
        for (int64_t i = 0; i < b->maxblocks; i++) free(b->blocks[i]);
    free(b->blocks);
    free(b->sizes);
    free(b->last);
}

/* Append a block holding sorted values (count <= cap / 2): the encoder's starting set. */
static int bl_append(blocked *b, const uint64_t *values, int64_t count) {
    int64_t k = b->nblocks;
    if (k >= b->maxblocks || !(b->blocks[k] = malloc(sizeof(uint64_t) * (size_t)b->cap))) return -1;
    if (count) memcpy(b->blocks[k], values, sizeof(uint64_t) * (size_t)count);
    b->sizes[k] = count;
    b->last[k] = count ? values[count - 1] : 0;
    b->nblocks++;
    return 0;
}

/* How many of the first n values e_t of a block, t counted from `before`, have e_t - t <= g:
 * the keys e_t - t never decrease; a binary search whose steps are conditional moves. */
static int64_t count_le(const uint64_t *e, int64_t n, int64_t before, uint64_t g) {
    int64_t pos = 0, step = 1;
    if (!n) return 0;
    while (step * 2 <= n) step *= 2;
    for (; step; step >>= 1) {
        int64_t at = pos + step, probe = (at <= n ? at : n) - 1;
        int64_t ok = (at <= n) & (e[probe] - (uint64_t)(before + probe) <= g);
        pos += step & -ok;
    }
    return pos;
}

/* Insert the g-th value below the universe that is not in the set (the values e_t - t of the
 * set's members never decrease, so it is g + #{t : e_t - t <= g}) and return its rank in the
 * set; its value in *value. -1: out of memory. */
static int64_t bl_insert_gap(blocked *b, uint64_t g, uint64_t *value) {
    if (b->nblocks == 0 && bl_append(b, NULL, 0)) return -1;
    int64_t k = 0, c = 0;
    for (; k < b->nblocks - 1; k++) { /* whole blocks below the value; the last block takes the rest */
        int64_t sz = b->sizes[k];
        if (sz && b->last[k] - (uint64_t)(c + sz - 1) > g) break;
        c += sz;
    }
    uint64_t *blk = b->blocks[k];
    int64_t sz = b->sizes[k], lo = count_le(blk, sz, c, g);
    uint64_t v = g + (uint64_t)(c + lo);
    memmove(blk + lo + 1, blk + lo, sizeof(uint64_t) * (size_t)(sz - lo));
    blk[lo] = v;
    b->sizes[k] = ++sz;
    b->last[k] = blk[sz - 1];
    if (sz == b->cap) { /* split in halves */
        int64_t half = sz / 2;
        uint64_t *upper = b->nblocks < b->maxblocks ? malloc(sizeof(uint64_t) * (size_t)b->cap) : NULL;
        if (!upper) return -1;
        int64_t move = b->nblocks - k - 1;
        memmove(b->blocks + k + 2, b->blocks + k + 1, sizeof(uint64_t *) * (size_t)move);
        memmove(b->sizes + k + 2, b->sizes + k + 1, sizeof(int64_t) * (size_t)move);
        memmove(b->last + k + 2, b->last + k + 1, sizeof(uint64_t) * (size_t)move);
        memcpy(upper, blk + half, sizeof(uint64_t) * (size_t)(sz - half));
        b->blocks[k + 1] = upper;
        b->sizes[k + 1] = sz - half;
        b->last[k + 1] = upper[sz - half - 1];
        b->sizes[k] = half;
        b->last[k] = blk[half - 1];
        b->nblocks++;
    }
    *value = v;
    return c + lo;
}

/* Remove and return the j-th smallest value (j below the set's size). */
static uint64_t bl_take(blocked *b, int64_t j) {
    int64_t k = 0;
    while (j >= b->sizes[k]) j -= b->sizes[k++];
    uint64_t *blk = b->blocks[k], v = blk[j];
    int64_t sz = --b->sizes[k];
    memmove(blk + j, blk + j + 1, sizeof(uint64_t) * (size_t)(sz - j));
    if (sz) b->last[k] = blk[sz - 1];
    return v;
}

/* Upper bound on the stream length in words for n ids (in any number of lists). */
int64_t vt_roc_max_words(int64_t n, uint64_t universe) {
    int64_t per = (vt_bit_width(universe) + 31) / 32 + 1;
    return 2 + n * (per + 1);
}

/* The lists' total length, or -1 when a count is negative or the sum overflows. */
static int64_t total_count(const int64_t *counts, int64_t nlists) {
    int64_t total = 0;
    for (int64_t l = 0; l < nlists; l++) {
        if (counts[l] < 0 || counts[l] > INT64_MAX / 4 - total) return -1;
        total += counts[l];
    }
    return total;
}

/* Compress nlists lists (counts[l] distinct sorted ids below universe each, concatenated) into
 * one stream, list after list: a list's bits-back start-up takes its bits from the lists coded
 * before it, so the group pays one start-up and one final state, not one a list. Returns the
 * stream length in words, or < 0. */
int64_t vt_roc_encode(const uint64_t *ids, const int64_t *counts, int64_t nlists, uint64_t universe, uint32_t *out,
                      int64_t cap) {
    int64_t total = nlists >= 0 ? total_count(counts, nlists) : -1;
    if (total < 0 || universe < 1 || universe > (1ull << 55) || cap < 2) return -1;
    for (int64_t l = 0, at = 0; l < nlists; at += counts[l++])
        for (int64_t i = at; i < at + counts[l]; i++)
            if (ids[i] >= universe || (i > at && ids[i] <= ids[i - 1])) return -2;
    rans r = {RANS_L, out + 2, 0, cap - 2, 0}; /* out[1], below the stack, is readable */
    for (int64_t l = 0, at = 0; l < nlists && !r.err; at += counts[l++]) {
        int64_t n = counts[l];
        blocked set = {0};
        if (bl_init(&set, n)) {
            bl_free(&set);
            return -3;
        }
        for (int64_t i = 0; i < n; i += set.cap / 2) /* the sorted ids in half-full blocks */
            if (bl_append(&set, ids + at + i, n - i < set.cap / 2 ? n - i : set.cap / 2)) {
                bl_free(&set);
                return -3;
            }
        for (int64_t i = n; i >= 1 && !r.err; i--) {
            int64_t j = (int64_t)dec_uniform(&r, (uint64_t)i, 0);
            uint64_t v = bl_take(&set, j);
            enc_big(&r, v - (uint64_t)j, universe - (uint64_t)i + 1);
        }
        bl_free(&set);
    }
    if (r.err) return -4;
    out[0] = (uint32_t)r.x;
    out[1] = (uint32_t)(r.x >> 32);
    return r.len + 2;
}

/* The decoder's set: ids below 2^32 at a SIMD level in SIMD-counted blocks (rankset.c), others
 * in the encoder's blocks (the reference the SIMD set is tested against); made for the longest
 * list of a stream and emptied for each. */
typedef struct {
    vt_rankset simd;
    blocked wide;
    int64_t n;
    int is_wide;
} id_set;

static int id_set_init(id_set *s, int64_t n, uint64_t universe) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->is_wide = universe > (1ull << 32) || vt_simd_level() == VT_SCALAR;
    return s->is_wide ? bl_init(&s->wide, n) : vt_rankset_init(&s->simd, n, universe);
}

static void id_set_free(id_set *s) {
    if (s->is_wide) bl_free(&s->wide);
    else vt_rankset_free(&s->simd);
    memset(s, 0, sizeof *s);
}

/* Empty the set for a list of n values. */
static int id_set_reset(id_set *s, int64_t n) {
    if (!s->is_wide) {
        vt_rankset_reset(&s->simd, n);
        return 0;
    }
    bl_free(&s->wide);
    return bl_init(&s->wide, s->n);
}

static inline int64_t id_set_insert_gap(id_set *s, uint64_t g, uint64_t *value) {
    if (s->is_wide) return bl_insert_gap(&s->wide, g, value);
    uint32_t v;
    int64_t rank = vt_rankset_insert_gap(&s->simd, (uint32_t)g, &v);
    *value = v;
    return rank;
}

static int64_t id_set_read(const id_set *s, uint64_t *out) {
    if (!s->is_wide) return vt_rankset_read(&s->simd, out);
    int64_t p = 0;
    for (int64_t k = 0; k < s->wide.nblocks; k++)
        for (int64_t t = 0; t < s->wide.sizes[k]; t++) out[p++] = s->wide.blocks[k][t];
    return p;
}

static int64_t longest_count(const int64_t *counts, int64_t nlists) {
    int64_t longest = 0;
    for (int64_t l = 0; l < nlists; l++) longest = counts[l] > longest ? counts[l] : longest;
    return longest;
}

/* Decompress a stream of nlists lists (the last coded comes out first) into their sorted ids,
 * concatenated in list order, with the steps tabulated for the lists' lengths (or NULL); 0 on
 * success, < 0 if the stream is corrupt. Lists below `stop` are left undecoded: only a whole
 * stream is checked to end where its encoding began (a partial one is read, like the
 * random-access codecs, as its bytes say). One function with its state in locals: decoding
 * two streams side by side, a step of each in turn, was slower (24.7 -> 30 ns an id; and
 * with 2, 4 or 8 streams, at lists of 122-366 ids, 24-33 ns against 20-25 for one). */
static int decode_stream(const uint32_t *stream, int64_t nwords, const int64_t *counts, int64_t nlists,
                         uint64_t universe, uint64_t *ids, const roc_step *steps, int64_t nsteps, int64_t stop) {
    int64_t total = nlists >= 0 ? total_count(counts, nlists) : -1, longest = total > 0 ? longest_count(counts, nlists) : 0;
    if (total < 0 || nwords < 2 || universe < 1 || universe > (1ull << 55) || (uint64_t)longest > universe) return -1;
    int64_t cap = nwords + total + 2;
    uint32_t *below = malloc(sizeof(uint32_t) * (size_t)(cap + 1)), *stack = below + 1;
    id_set set;
    int rc = below ? 0 : -3;
    if (!rc && id_set_init(&set, longest, universe)) rc = -3;
    else if (rc) memset(&set, 0, sizeof set);
    if (rc) {
        id_set_free(&set);
        free(below);
        return rc;
    }
    below[0] = 0;
    memcpy(stack, stream + 2, sizeof(uint32_t) * (size_t)(nwords - 2));
    rans r = {(uint64_t)stream[0] | ((uint64_t)stream[1] << 32), stack, nwords - 2, cap, 0};
    if (r.x < RANS_L || r.x >= (1ull << 63)) rc = -2;
    if (longest < nsteps) nsteps = longest;
    for (int64_t l = nlists - 1, at = total; l >= stop && !rc; l--) {
        int64_t n = counts[l], i = 1;
        at -= n;
        if (!n) continue;
        if (id_set_reset(&set, n)) rc = -3;
        for (; i <= nsteps && i <= n && !rc; i++) { /* one id: decode its gap, insert it, encode its rank */
            const roc_step *st = steps + i;
            uint64_t g = dec_step(&r, st), v;
            int64_t rank = g <= universe - (uint64_t)i ? id_set_insert_gap(&set, g, &v) : -2; /* v < universe */
            if (rank < 0 || r.err) rc = rank == -1 ? -3 : -2;
            else enc_step(&r, (uint64_t)rank, st);
        }
        for (; i <= n && !rc; i++) { /* past the table (or without one): the same, dividing */
            uint64_t g = dec_big(&r, universe - (uint64_t)i + 1), v;
            int64_t rank = !r.err && g <= universe - (uint64_t)i ? id_set_insert_gap(&set, g, &v) : -2;
            if (rank < 0) rc = rank == -1 ? -3 : -2;
            else enc_uniform(&r, (uint64_t)rank, (uint64_t)i);
        }
        if (!rc && (r.err || id_set_read(&set, ids + at) != n)) rc = -2; /* read the set out in order */
    }
    /* decoding undoes the encoding exactly: the state is back where encoding began and only
       the zero words the start-up borrowed are left (anything else: wrong counts or bytes) */
    if (!rc && !stop && r.x != RANS_L) rc = -2;
    for (int64_t k = 0; k < r.len && !rc && !stop; k++)
        if (stack[k]) rc = -2;
    id_set_free(&set);
    free(below);
    return rc;
}

int vt_roc_decode(const uint32_t *stream, int64_t nwords, const int64_t *counts, int64_t nlists, uint64_t universe,
                  uint64_t *ids) {
    int64_t longest = nlists > 0 ? longest_count(counts, nlists) : 0, nsteps;
    roc_step *steps = step_table(universe, longest, &nsteps);
    int rc = decode_stream(stream, nwords, counts, nlists, universe, ids, steps, nsteps, 0);
    free(steps);
    return rc;
}

/* Values of rows of an inverted file whose lists are ROC coded in groups of `group` lists (one
 * stream a group, word_offsets[g]..word_offsets[g + 1]), in one call: the group a row falls
 * in is decoded from its last list down to the row's (the lists coded before it come out
 * after it, and sorted rows need none of them), once while consecutive rows stay in what was
 * decoded (give rows sorted and every group is decoded once, as far as its first row); the
 * steps are tabulated once for the longest list. */
int vt_roc_get_rows(const uint32_t *data, int64_t ndata, const int64_t *word_offsets, const int64_t *list_offsets,
                    int64_t nlist, int64_t group, uint64_t universe, const int64_t *rows, int64_t count,
                    uint64_t *values) {
    uint64_t *ids = NULL;
    int64_t *counts = NULL, cap = 0, decoded = 0, base = 0, first = 0, end = 0, rc = 0, longest = 0, nsteps = 0;
    if (group < 1 || nlist < 0) return -1;
    /* a group holds at most nlist lists (the header's group is read as written: a crafted one
       may be any size, and files of fewer lists than a group are ordinary) */
    if (!(counts = malloc(sizeof(int64_t) * (size_t)(group < nlist ? group : nlist > 0 ? nlist : 1)))) return -3;
    for (int64_t l = 0; l < nlist; l++)
        longest = list_offsets[l + 1] - list_offsets[l] > longest ? list_offsets[l + 1] - list_offsets[l] : longest;
    roc_step *steps = step_table(universe, longest, &nsteps);
    for (int64_t t = 0; t < count && !rc; t++) {
        int64_t r = rows[t], lo;
        if (decoded && r >= first && r - first < end - first) { /* in the lists decoded last */
            values[t] = ids[r - base];
            continue;
        }
        if (r < 0 || nlist <= 0 || r >= list_offsets[nlist]) {
            rc = -1;
            break;
        }
        vt_lists_of_rows(list_offsets, nlist, &r, 1, &lo);
        int64_t g = lo / group, l0 = g * group, l1 = l0 + group < nlist ? l0 + group : nlist;
        int64_t a = word_offsets[g], b = word_offsets[g + 1], n = list_offsets[l1] - list_offsets[l0];
        if (a < 0 || b < a || b > ndata || n < 0) {
            rc = -1;
            break;
        }
        for (int64_t l = l0; l < l1; l++) counts[l - l0] = list_offsets[l + 1] - list_offsets[l];
        if (n > cap) {
            uint64_t *grown = realloc(ids, sizeof(uint64_t) * (size_t)n);
            if (!grown) {
                rc = -3;
                break;
            }
            ids = grown;
            cap = n;
        }
        if (decode_stream(data + a, b - a, counts, l1 - l0, universe, ids, steps, nsteps, lo - l0)) {
            rc = -2;
            break;
        }
        decoded = 1;
        base = list_offsets[l0];
        first = list_offsets[lo];
        end = list_offsets[l1];
        values[t] = ids[r - base];
    }
    free(ids);
    free(counts);
    free(steps);
    return (int)rc;
}
