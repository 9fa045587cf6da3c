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
 * rANS: 64-bit state below 2^63, 32-bit words on a stack, probabilities in units of 2^-31
 * (a uniform over R <= 2^31 gives R - r symbols 2^31 div R and r symbols one more). A
 * universe above 2^31 is split into a uniform high part below 2^24 and exact low bits.
 *
 * Bit streams (what files hold now; vt_roc_encode_bits): the state starts at 1 and may sit
 * below 2^31 while the stack is empty (nothing to pull; the decoder mirrors it), so a
 * stream is its stack words then the final state's significant bits, T = 32 W + bitlen(x)
 * bits, back to back at bit offsets: a list coded alone costs log2 C(N, n) plus about one
 * bit (the first position popped from a state of 1 is the smallest id, which then costs
 * about log2 n bits less), so lists need no chaining to share a start-up, only groups
 * large enough to pay their offset. Word streams (files before; vt_roc_encode): the state
 * starts at 2^31 and stays in [2^31, 2^63), the encoder pops zero words past the bottom,
 * and a stream is the final state (low, high) then the stack, in whole words (about 90
 * bits a stream). Decoders check every read: corrupt bytes give an error, never an
 * out-of-bounds access.
 *
 * Decoding rows (get_rows): bit streams whose lists all hold at most VT_ROC_LANE_MAXN ids go
 * 16 (AVX-512) or 8 (AVX2) at a time across SIMD lanes (roc_lanes.c); the others, and all at
 * the scalar level, one stream at a time here (decode_stream), which the lanes match id for
 * id and refusal for refusal.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "bits.h"
#include "roc_ans.h"

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
    uint64_t hi = dec_uniform(r, ((range - 1) >> k) + 1);
    uint64_t lo = k ? dec_uniform(r, 1ull << k) : 0;
    return (hi << k) | lo;
}


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
 * set's members never decrease, so it is g + #{t : e_t - t <= g}) and return its rank t in the
 * set (the value is g + t). -1: out of memory. */
static int64_t bl_insert_gap(blocked *b, uint64_t g) {
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

/* The lists' ids checked: distinct, sorted within each list, below universe; their total, or < 0. */
static int64_t checked_total(const uint64_t *ids, const int64_t *counts, int64_t nlists, uint64_t universe) {
    int64_t total = nlists >= 0 ? total_count(counts, nlists) : -1;
    if (total < 0 || universe < 1 || universe > (1ull << 55)) return -1;
    for (int64_t l = 0, at = 0; l < nlists; at += counts[l++])
        for (int64_t i = at; i < at + counts[l]; i++)
            if (ids[i] >= universe || (i > at && ids[i] <= ids[i - 1])) return -2;
    return total;
}

/* A bit stream's first steps, while its state is small, are exact arithmetic: a position j
 * among i is x mod i (x div i remains) and a gap g among R makes x R + g. Quantized to 2^-31,
 * a state of 1 gave nothing back for the first positions and paid 31 - log2 R bits of
 * headroom for the first gap: 17-22 bits a stream, where exact steps leave 1-3 (lists of
 * 49-977 ids among 35k-1M). The steps stay exact while a bound on the state's width stays
 * within 63 bits: a function of the universe and the first list's length alone, so the
 * decoder counts the same steps. */
int64_t vt_roc_exact_steps(uint64_t universe, int64_t n) {
    int64_t width = 1, k = 0; /* bitlen(x) <= width */
    for (; k < n; k++) {
        uint64_t i = (uint64_t)(n - k), range = universe - i + 1;
        int64_t left = width - (vt_bit_width(i) - 1), next = (left > 0 ? left : 0) + vt_bit_width(range);
        if (next > 63) break;
        width = next;
    }
    return k;
}

/* Code nlists lists (counts[l] checked ids each, concatenated) onto r, list after list: a
 * list's bits-back takes its bits from the lists coded before it; the first list's first
 * `exact` steps in exact arithmetic (bit streams). 0, or -3 (memory), -4. */
static int encode_lists(rans *r, const uint64_t *ids, const int64_t *counts, int64_t nlists, uint64_t universe,
                        int64_t exact) {
    for (int64_t l = 0, at = 0; l < nlists && !r->err; at += counts[l++]) {
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
        for (int64_t i = n; i >= 1 && !r->err; i--) {
            int is_exact = l == 0 && n - i < exact; /* the state has no word under it yet */
            uint64_t range = universe - (uint64_t)i + 1;
            int64_t j = is_exact ? (int64_t)(r->x % (uint64_t)i) : (int64_t)dec_uniform(r, (uint64_t)i);
            if (is_exact) r->x /= (uint64_t)i;
            uint64_t v = bl_take(&set, j);
            if (is_exact) r->x = r->x * range + (v - (uint64_t)j); /* below 2^63: vt_roc_exact_steps */
            else enc_big(r, v - (uint64_t)j, range);
        }
        bl_free(&set);
    }
    return r->err ? -4 : 0;
}

/* A word stream (the layout of files before bit streams) of nlists lists: the group pays one
 * start-up and one final state. Returns the stream length in words, or < 0. */
int64_t vt_roc_encode(const uint64_t *ids, const int64_t *counts, int64_t nlists, uint64_t universe, uint32_t *out,
                      int64_t cap) {
    int64_t total = checked_total(ids, counts, nlists, universe);
    if (total < 0 || cap < 2) return total < 0 ? total : -1;
    rans r = {RANS_L, out + 2, 0, cap - 2, 0, BORROW_ZEROS}; /* out[1], below the stack, is readable */
    int rc = encode_lists(&r, ids, counts, nlists, universe, 0);
    if (rc) return rc;
    out[0] = (uint32_t)r.x;
    out[1] = (uint32_t)(r.x >> 32);
    return r.len + 2;
}

/* The low n (<= 64) bits of v into words (zeroed beyond what was written) at bit pos. */
static void put_bits(uint32_t *words, int64_t pos, uint64_t v, int n) {
    for (int done = 0; done < n;) {
        int64_t at = pos + done;
        int off = (int)(at & 31), take_n = n - done < 32 - off ? n - done : 32 - off;
        uint64_t part = (v >> done) & ((1ull << take_n) - 1);
        words[at >> 5] |= (uint32_t)(part << off);
        done += take_n;
    }
}

/* n (<= 64) bits at bit pos of words (the caller checked pos + n against their length). */
static uint64_t get_bits(const uint32_t *words, int64_t pos, int n) {
    uint64_t v = 0;
    for (int done = 0; done < n;) {
        int64_t at = pos + done;
        int off = (int)(at & 31), take_n = n - done < 32 - off ? n - done : 32 - off;
        v |= (uint64_t)((words[at >> 5] >> off) & (uint32_t)((1ull << take_n) - 1)) << done;
        done += take_n;
    }
    return v;
}

/* Bit streams' groups: lists chained in order until a stream holds min_ids ids (a list that
 * long alone), starts[g] the first list of group g, then nlists; returns the groups, or -1. */
int64_t vt_roc_groups(const int64_t *counts, int64_t nlists, int64_t min_ids, int64_t *starts) {
    int64_t g = 0, held = 0;
    if (nlists < 0 || min_ids < 1) return -1;
    starts[0] = 0;
    for (int64_t l = 0; l < nlists; l++) {
        if (counts[l] < 0) return -1;
        held += counts[l];
        if (held >= min_ids || l == nlists - 1) {
            starts[++g] = l + 1;
            held = 0;
        }
    }
    return g;
}

/* floor(2^16 log2 m), m >= 1, by squaring the mantissa (integer arithmetic alone: the same
 * on every machine, as the lengths it predicts must be). */
static int64_t log2_q16(uint64_t m) {
    int e = vt_bit_width(m) - 1;
    uint64_t y = e >= 31 ? m >> (e - 31) : m << (31 - e); /* 1.f in Q31, below 2^32 */
    int64_t r = (int64_t)e << 16;
    for (int b = 15; b >= 0; b--) {
        y = (y * y) >> 31;
        if (y >> 32) {
            y >>= 1;
            r |= 1ll << b;
        }
    }
    return r;
}

#define PREDICT_TABLE 65536 /* lists up to this long predicted by the exact sum, longer ones by its leading terms */
#define LOG2E_Q16 94548      /* 2^16 log2 e */

/* The length a bit stream of group g is predicted to take, floor(sum over its lists of
 * log2 C(universe, n) in 2^-16 steps) bits, into out[g]: a file stores each stream's length
 * as its difference from this (a few bits), not as an offset (a dozen). Past PREDICT_TABLE
 * ids a list is predicted n (log2(universe / n) + log2 e), which costs its stream a longer
 * difference, not a table as long as the list. 0, -1 (arguments: starts as in
 * vt_roc_encode_bits, counts at most the universe), -3 (memory). */
int vt_roc_predicted_bits(uint64_t universe, const int64_t *counts, int64_t nlists, const int64_t *starts,
                          int64_t ngroups, int64_t *out) {
    int64_t longest = 0;
    if (nlists < 0 || ngroups < 0 || starts[0] != 0 || starts[ngroups] != nlists || universe < 1 ||
        universe > (1ull << 55))
        return -1;
    for (int64_t l = 0; l < nlists; l++) {
        if (counts[l] < 0 || (uint64_t)counts[l] > universe) return -1;
        longest = counts[l] > longest ? counts[l] : longest;
    }
    for (int64_t g = 0; g < ngroups; g++)
        if (starts[g + 1] < starts[g]) return -1;
    int64_t table = longest < PREDICT_TABLE ? longest : PREDICT_TABLE;
    int64_t *q = malloc(sizeof(int64_t) * (size_t)(table + 1)); /* q[n]: 2^16 log2 C(universe, n) */
    if (!q) return -3;
    q[0] = 0;
    for (int64_t n = 1; n <= table; n++) q[n] = q[n - 1] + log2_q16(universe - (uint64_t)n + 1) - log2_q16((uint64_t)n);
    const int64_t log_universe = log2_q16(universe);
    for (int64_t g = 0; g < ngroups; g++) {
        __int128 sum = 0; /* n < 2^55 times a per-id term below 2^23, lists below 2^63 */
        for (int64_t l = starts[g]; l < starts[g + 1]; l++) {
            int64_t n = counts[l], per_id = log_universe - log2_q16((uint64_t)(n > 0 ? n : 1)) + LOG2E_Q16;
            sum += n <= table ? (__int128)q[n] : (__int128)n * per_id;
        }
        out[g] = (int64_t)((sum < ((__int128)1 << 78) ? sum : ((__int128)1 << 78)) >> 16); /* a length, not a sum, past 2^62 */
    }
    free(q);
    return 0;
}

/* Bit streams: the lists in groups (group g: lists starts[g] .. starts[g + 1] - 1), each group
 * a stream started at a state of 1, its stack words then its final state's bitlen(x) bits, at
 * bit_offsets[g] of out (ngroups + 1 offsets, the last the total). Returns the words used, or
 * < 0 (-1 arguments, -2 ids not sorted sets below universe, -3 memory, -4 out too small). */
int64_t vt_roc_encode_bits(const uint64_t *ids, const int64_t *counts, int64_t nlists, const int64_t *starts,
                           int64_t ngroups, uint64_t universe, uint32_t *out, int64_t cap, int64_t *bit_offsets) {
    int64_t total = checked_total(ids, counts, nlists, universe), longest = 0, pos = 0;
    if (total < 0) return total;
    if (ngroups < 0 || starts[0] != 0 || starts[ngroups] != nlists) return -1;
    for (int64_t g = 0; g < ngroups; g++) {
        int64_t n = 0;
        if (starts[g + 1] < starts[g]) return -1;
        for (int64_t l = starts[g]; l < starts[g + 1]; l++) n += counts[l];
        longest = n > longest ? n : longest;
    }
    int64_t scratch_cap = vt_roc_max_words(longest, universe);
    uint32_t *below = malloc(sizeof(uint32_t) * (size_t)(scratch_cap + 1));
    if (!below) return -3;
    memset(out, 0, sizeof(uint32_t) * (size_t)cap);
    int rc = 0;
    for (int64_t g = 0, at = 0; g < ngroups && !rc; g++) {
        int64_t first = starts[g], nl = starts[g + 1] - first, n = 0;
        for (int64_t l = first; l < first + nl; l++) n += counts[l];
        below[0] = 0;
        rans r = {1, below + 1, 0, scratch_cap, 0, STAY_SMALL};
        rc = encode_lists(&r, ids + at, counts + first, nl, universe, nl ? vt_roc_exact_steps(universe, counts[first]) : 0);
        int width = vt_bit_width(r.x);
        if (!rc && (pos + 32 * r.len + width + 31) / 32 > cap) rc = -4;
        bit_offsets[g] = pos;
        for (int64_t k = 0; k < r.len && !rc; k++, pos += 32) put_bits(out, pos, r.stack[k], 32);
        if (!rc) put_bits(out, pos, r.x, width);
        pos += width;
        at += n;
    }
    free(below);
    if (rc) return rc;
    bit_offsets[ngroups] = pos;
    return (pos + 31) / 32;
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

static inline int64_t id_set_insert_gap(id_set *s, uint64_t g) {
    return s->is_wide ? bl_insert_gap(&s->wide, g) : vt_rankset_insert_gap(&s->simd, (uint32_t)g);
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

/* Where a stream lies: words [a, b) of a word stream, or bits [a, b) of a bit stream (the
 * caller checked the range against the data). */
typedef struct {
    const uint32_t *data;
    int64_t a, b;
    int bits;
} roc_span;

/* A bit stream's stack words and final state from its length T = 32 W + bitlen(x): with words
 * on the stack the state is at least 2^31 (32 to 63 bits), without it has at most 63, so T
 * says W; -2 if the state's width disagrees. */
int vt_roc_stream_parts(const uint32_t *data, int64_t a, int64_t b, int64_t *nstack, uint64_t *x) {
    int64_t t = b - a, w = t < 64 ? 0 : (t - 32) / 32, width = t - 32 * w;
    if (width > 63 || (w && width < 32)) return -2;
    *nstack = w;
    *x = get_bits(data, a + 32 * w, (int)width);
    return vt_bit_width(*x) == width ? 0 : -2;
}

/* What decoding needs, made once a call for its longest list and reused stream after stream
 * (made a stream, for thousands of one-list bit streams, it cost 6-7 % of a search's ids). */
typedef struct {
    id_set set;
    uint32_t *below; /* the stack, with a readable word below it */
    int64_t cap;     /* words the stack holds */
} roc_work;

static int work_init(roc_work *w, int64_t longest, uint64_t universe) {
    w->below = NULL;
    w->cap = 0;
    return id_set_init(&w->set, longest, universe);
}

static void work_free(roc_work *w) {
    id_set_free(&w->set);
    free(w->below);
}

/* A stack of at least `words`; -3 without memory. */
static int work_stack(roc_work *w, int64_t words) {
    if (words <= w->cap) return 0;
    uint32_t *grown = realloc(w->below, sizeof(uint32_t) * (size_t)(words + 1));
    if (!grown) return -3;
    w->below = grown;
    w->cap = words;
    return 0;
}

/* Decompress a stream of nlists lists (the last coded comes out first) into their sorted ids,
 * concatenated in list order, with the steps tabulated for the lists' lengths (or NULL); 0 on
 * success, < 0 if the stream is corrupt. Lists below `stop` are left undecoded: only a whole
 * stream is checked to end where its encoding began (a partial one is read, like the
 * random-access codecs, as its bytes say). One function with its state in locals: decoding
 * two streams side by side, a step of each in turn, was slower (24.7 -> 30 ns an id; and
 * with 2, 4 or 8 streams, at lists of 122-366 ids, 24-33 ns against 20-25 for one); with
 * the flat set's kernel inlined into a loop over two one-list bit streams (1M ids, 4096
 * lists), 1.03-1.08x, not worth a second copy of the loop. A step is bound by its work as
 * much as by its chain: with the set replaced by a multiplication the ANS steps alone take
 * 17 ns an id of the 23-25, and 13-16 on two streams. */
static int decode_stream(const roc_span *sp, const int64_t *counts, int64_t nlists, uint64_t universe, uint64_t *ids,
                         const roc_step *steps, int64_t nsteps, int64_t stop, roc_work *w) {
    int64_t total = nlists >= 0 ? total_count(counts, nlists) : -1, longest = total > 0 ? longest_count(counts, nlists) : 0;
    if (total < 0 || universe < 1 || universe > (1ull << 55) || (uint64_t)longest > universe || longest > w->set.n)
        return -1;
    int64_t nstack = sp->b - sp->a - 2;
    uint64_t x0 = 0;
    if (sp->bits) {
        if (vt_roc_stream_parts(sp->data, sp->a, sp->b, &nstack, &x0)) return -2;
    } else {
        if (nstack < 0) return -1;
        x0 = (uint64_t)sp->data[sp->a] | ((uint64_t)sp->data[sp->a + 1] << 32);
        if (x0 < RANS_L || x0 >= (1ull << 63)) return -2;
    }
    int64_t cap = nstack + total + 2;
    if (work_stack(w, cap)) return -3;
    uint32_t *stack = w->below + 1;
    id_set *set = &w->set;
    int rc = 0;
    w->below[0] = 0;
    if (sp->bits) { /* word k at bit a + 32 k: from two words, or one where the stream starts on a word */
        const uint32_t *src = sp->data + (sp->a >> 5);
        int off = (int)(sp->a & 31);
        for (int64_t k = 0; k < nstack; k++)
            stack[k] = off ? (uint32_t)((src[k] | (uint64_t)src[k + 1] << 32) >> off) : src[k];
    }
    else
        memcpy(stack, sp->data + sp->a + 2, sizeof(uint32_t) * (size_t)nstack);
    rans r = {x0, stack, nstack, cap, 0, sp->bits ? STAY_SMALL : BOTTOM_IS_ERROR};
    if (longest < nsteps) nsteps = longest;
    for (int64_t l = nlists - 1, at = total; l >= stop && !rc; l--) {
        int64_t n = counts[l], i = 1, exact = sp->bits && l == 0 ? vt_roc_exact_steps(universe, n) : 0, last = n - exact;
        at -= n;
        if (!n) continue;
        if (id_set_reset(set, n)) rc = -3;
        for (; i <= nsteps && i <= last && !rc; i++) { /* one id: decode its gap, insert it, encode its rank */
            const roc_step *st = steps + i;
            uint64_t g = dec_step(&r, st);
            int64_t rank = g <= universe - (uint64_t)i ? id_set_insert_gap(set, g) : -2; /* g + rank < universe */
            if (rank < 0 || r.err) rc = rank == -1 ? -3 : -2;
            else enc_step(&r, (uint64_t)rank, st);
        }
        for (; i <= last && !rc; i++) { /* past the table (or without one): the same, dividing */
            uint64_t g = dec_big(&r, universe - (uint64_t)i + 1);
            int64_t rank = !r.err && g <= universe - (uint64_t)i ? id_set_insert_gap(set, g) : -2;
            if (rank < 0) rc = rank == -1 ? -3 : -2;
            else enc_uniform(&r, (uint64_t)rank, (uint64_t)i);
        }
        for (; i <= n && !rc; i++) { /* a bit stream's first steps, exact (the stack is spent by now) */
            uint64_t range = universe - (uint64_t)i + 1, g = r.x % range;
            r.x /= range;
            int64_t rank = !r.len && g <= universe - (uint64_t)i ? id_set_insert_gap(set, g) : -2;
            if (rank < 0) rc = rank == -1 ? -3 : -2;
            else r.x = r.x * (uint64_t)i + (uint64_t)rank; /* wraps only on corrupt bytes: the end check fails */
        }
        if (!rc && (r.err || id_set_read(set, ids + at) != n)) rc = -2; /* read the set out in order */
    }
    /* decoding undoes the encoding exactly: the state is back where encoding began (1 for a bit
       stream, with nothing left; L for a word stream, with only the zero words its start-up
       borrowed); anything else: wrong counts or bytes */
    if (!rc && !stop && (sp->bits ? r.x != 1 || r.len : r.x != RANS_L)) rc = -2;
    for (int64_t k = 0; k < r.len && !rc && !stop; k++)
        if (stack[k]) rc = -2;
    return rc;
}

int vt_roc_decode(const uint32_t *stream, int64_t nwords, const int64_t *counts, int64_t nlists, uint64_t universe,
                  uint64_t *ids) {
    int64_t longest = nlists > 0 ? longest_count(counts, nlists) : 0, nsteps;
    roc_step *steps = step_table(universe, longest, &nsteps);
    roc_span sp = {stream, 0, nwords, 0};
    roc_work w;
    int rc = work_init(&w, longest, universe) ? -3 : decode_stream(&sp, counts, nlists, universe, ids, steps, nsteps, 0, &w);
    work_free(&w);
    free(steps);
    return rc;
}

/* Which lists a stream holds: `group` lists a stream (word streams), or, for bit streams, the
 * lists starts[g] .. starts[g + 1] - 1 (ngroups + 1 starts, checked: 0, nondecreasing, nlist). */
typedef struct {
    int64_t group, ngroups;
    const int64_t *starts;
    int bits;
} roc_layout;

static int64_t group_of(const roc_layout *lay, int64_t list, int64_t *l0, int64_t *l1, int64_t nlist) {
    if (!lay->starts) {
        int64_t g = list / lay->group;
        *l0 = g * lay->group;
        *l1 = *l0 + lay->group < nlist ? *l0 + lay->group : nlist;
        return g;
    }
    int64_t lo = 0, hi = lay->ngroups; /* the last group starting at or before the list */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (lay->starts[mid] <= list) lo = mid;
        else hi = mid;
    }
    *l0 = lay->starts[lo];
    *l1 = lay->starts[lo + 1];
    return lo;
}

/* A run of the call's rows t0 .. t1 - 1 in one stream (group g, lists l0 .. l1 - 1), decoded
 * down to list lo; n ids decoded, total in the stream. */
typedef struct {
    int64_t t0, t1, g, l0, l1, lo, n, total, first;
} lane_run;

/* Lists decoded, then the first list's length (a batch's phase 1 alike), then ids; then row
 * order (any order decodes alike). */
static int by_phases_and_length(const void *p, const void *q) {
    const lane_run *a = p, *b = q;
    int64_t pa = a->l1 - a->lo, pb = b->l1 - b->lo;
    if (pa != pb) return pa < pb ? -1 : 1;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    return (a->t0 > b->t0) - (a->t0 < b->t0);
}

/* The rows of bit streams whose lists all have 1 .. VT_ROC_LANE_MAXN ids (or none), decoded
 * across SIMD lanes (roc_lanes.c) in batches alike in lists and lengths (the lanes step
 * together through a list each, up to the shortest one's last table step); done[t] = 1 for each
 * row answered, the others left to get_rows. 0, or < 0 as get_rows (a corrupt stream gives -2
 * here as there). */
static int rows_across_lanes(const uint32_t *data, int64_t limit, const int64_t *offsets, const int64_t *list_offsets,
                             int64_t nlist, const roc_layout *lay, uint64_t universe, const roc_step *steps,
                             int64_t nsteps, const int64_t *rows, int64_t count, uint64_t *values, uint8_t *done) {
    vt_roc_lanes w;
    lane_run *runs = NULL;
    uint64_t *ids = NULL;
    int64_t nruns = 0, cap = 0, ids_cap = 0, rc = vt_roc_lanes_init(&w);
    int64_t *sizes = !rc && w.lanes ? malloc(sizeof(int64_t) * (size_t)(nlist > 0 ? nlist : 1)) : NULL; /* the lists' */
    if (!rc && w.lanes && !sizes) rc = -3;
    for (int64_t l = 0; sizes && l < nlist; l++) sizes[l] = list_offsets[l + 1] - list_offsets[l];
    for (int64_t t = 0; t < count && !rc && w.lanes;) {
        int64_t r = rows[t], lo, l0, l1;
        if (r < 0 || nlist <= 0 || r >= list_offsets[nlist]) { /* get_rows reports it */
            t++;
            continue;
        }
        vt_lists_of_rows(list_offsets, nlist, &r, 1, &lo);
        int64_t g = group_of(lay, lo, &l0, &l1, nlist), begin = list_offsets[l0], end = list_offsets[l1], t0 = t;
        for (t++; t < count && rows[t] >= begin && rows[t] < end; t++)
            if (rows[t] < list_offsets[lo]) vt_lists_of_rows(list_offsets, nlist, rows + t, 1, &lo);
        int fits = offsets[g] >= 0 && offsets[g + 1] >= offsets[g] && offsets[g + 1] <= limit;
        for (int64_t l = l0; l < l1 && fits; l++) fits = list_offsets[l + 1] - list_offsets[l] <= VT_ROC_LANE_MAXN;
        if (!fits) continue;
        if (nruns == cap) {
            lane_run *grown = realloc(runs, sizeof(lane_run) * (size_t)(cap = cap ? 2 * cap : 64));
            if (!grown) {
                rc = -3;
                break;
            }
            runs = grown;
        }
        runs[nruns++] = (lane_run){t0, t, g, l0, l1, lo, end - list_offsets[lo], end - begin, end - list_offsets[l1 - 1]};
    }
    if (nruns && !rc) qsort(runs, (size_t)nruns, sizeof(lane_run), by_phases_and_length);
    for (int64_t k = 0; k < nruns && !rc; k += w.lanes) {
        int nl = nruns - k < w.lanes ? (int)(nruns - k) : w.lanes;
        int64_t widest = 0;
        for (int l = 0; l < nl; l++) widest = runs[k + l].total > widest ? runs[k + l].total : widest;
        if (widest * w.lanes > ids_cap) {
            uint64_t *grown = realloc(ids, sizeof(uint64_t) * (size_t)(ids_cap = widest * w.lanes));
            if (!grown) {
                rc = -3;
                break;
            }
            ids = grown;
        }
        vt_roc_lane_stream streams[VT_ROC_LANES_MAX];
        for (int l = 0; l < nl; l++) {
            const lane_run *u = runs + k + l;
            streams[l] = (vt_roc_lane_stream){offsets[u->g], offsets[u->g + 1], u->l1 - u->l0, u->lo - u->l0,
                                              sizes + u->l0, ids + (size_t)l * (size_t)widest};
        }
        rc = vt_roc_decode_lanes(&w, data, streams, nl, universe, steps, nsteps);
        if (rc) {
            rc = rc == -3 ? -3 : -2;
            break;
        }
        for (int l = 0; l < nl; l++)
            for (int64_t t = runs[k + l].t0, base = list_offsets[runs[k + l].l0]; t < runs[k + l].t1; t++) {
                values[t] = streams[l].out[rows[t] - base];
                done[t] = 1;
            }
    }
    vt_roc_lanes_free(&w);
    free(sizes);
    free(runs);
    free(ids);
    return (int)rc;
}

/* Values of rows of an inverted file whose lists are ROC coded in streams (offsets[g] ..
 * offsets[g + 1], in words or bits), in one call: the stream a row falls in is decoded from
 * its last list down to the row's (the lists coded before it come out after it, and sorted
 * rows need none of them), once while consecutive rows stay in what was decoded (give rows
 * sorted and every stream is decoded once, as far as its first row); the steps are
 * tabulated once for the longest list. */
static int get_rows(const uint32_t *data, int64_t ndata, const int64_t *offsets, const int64_t *list_offsets,
                    int64_t nlist, const roc_layout *lay, uint64_t universe, const int64_t *rows, int64_t count,
                    uint64_t *values) {
    uint64_t *ids = NULL;
    int64_t *counts = NULL, cap = 0, decoded = 0, base = 0, first = 0, end = 0, rc = 0, longest = 0, nsteps = 0;
    int64_t widest = lay->starts ? 1 : lay->group < nlist ? lay->group : nlist; /* lists a stream holds, at most */
    if (nlist < 0 || (!lay->starts && lay->group < 1) || (lay->starts && (lay->ngroups < 1 || lay->starts[0] != 0 ||
                                                                            lay->starts[lay->ngroups] != nlist)))
        return -1;
    for (int64_t g = 0; lay->starts && g < lay->ngroups; g++) {
        if (lay->starts[g + 1] < lay->starts[g]) return -1;
        widest = lay->starts[g + 1] - lay->starts[g] > widest ? lay->starts[g + 1] - lay->starts[g] : widest;
    }
    /* (a word layout's group is read as written: a crafted one may be any size, and files of
       fewer lists than a group are ordinary) */
    if (!(counts = malloc(sizeof(int64_t) * (size_t)(widest > 0 ? widest : 1)))) return -3;
    for (int64_t l = 0; l < nlist; l++)
        longest = list_offsets[l + 1] - list_offsets[l] > longest ? list_offsets[l + 1] - list_offsets[l] : longest;
    roc_step *steps = step_table(universe, longest, &nsteps);
    const int64_t limit = lay->bits ? 32 * ndata : ndata;
    roc_work work;
    uint8_t *done = NULL;
    if (work_init(&work, longest, universe)) rc = -3;
    if (!rc && lay->bits && steps && count && vt_simd_level() != VT_SCALAR) { /* streams across SIMD lanes first */
        if (!(done = calloc((size_t)count, 1))) rc = -3;
        else rc = rows_across_lanes(data, limit, offsets, list_offsets, nlist, lay, universe, steps, nsteps, rows, count,
                                    values, done);
    }
    for (int64_t t = 0; t < count && !rc; t++) {
        int64_t r = rows[t], lo, l0, l1;
        if (done && done[t]) continue;
        if (decoded && r >= first && r - first < end - first) { /* in the lists decoded last */
            values[t] = ids[r - base];
            continue;
        }
        if (r < 0 || nlist <= 0 || r >= list_offsets[nlist]) {
            rc = -1;
            break;
        }
        vt_lists_of_rows(list_offsets, nlist, &r, 1, &lo);
        int64_t g = group_of(lay, lo, &l0, &l1, nlist);
        int64_t a = offsets[g], b = offsets[g + 1], n = list_offsets[l1] - list_offsets[l0];
        if (a < 0 || b < a || b > limit || n < 0) {
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
        roc_span sp = {data, a, b, lay->bits};
        if (decode_stream(&sp, counts, l1 - l0, universe, ids, steps, nsteps, lo - l0, &work)) {
            rc = -2;
            break;
        }
        decoded = 1;
        base = list_offsets[l0];
        first = list_offsets[lo];
        end = list_offsets[l1];
        values[t] = ids[r - base];
    }
    work_free(&work);
    free(done);
    free(ids);
    free(counts);
    free(steps);
    return (int)rc;
}

int vt_roc_get_rows(const uint32_t *data, int64_t ndata, const int64_t *word_offsets, const int64_t *list_offsets,
                    int64_t nlist, int64_t group, uint64_t universe, const int64_t *rows, int64_t count,
                    uint64_t *values) {
    roc_layout lay = {group, 0, NULL, 0};
    return get_rows(data, ndata, word_offsets, list_offsets, nlist, &lay, universe, rows, count, values);
}

int vt_roc_get_rows_bits(const uint32_t *data, int64_t ndata, const int64_t *bit_offsets, const int64_t *starts,
                         int64_t ngroups, const int64_t *list_offsets, int64_t nlist, uint64_t universe,
                         const int64_t *rows, int64_t count, uint64_t *values) {
    roc_layout lay = {0, ngroups, starts, 1};
    return get_rows(data, ndata, bit_offsets, list_offsets, nlist, &lay, universe, rows, count, values);
}

int vt_roc_place_rows(const int64_t *list_offsets, int64_t nlist, const int64_t *split_of, const int64_t *main_offsets,
                      const int64_t *first, int64_t parts, const int64_t *part_offsets, const int64_t *rows,
                      int64_t count, int64_t *placed, int8_t *part) {
    int64_t l = 0;
    for (int64_t i = 0; i < count; i++) {
        const int64_t r = rows[i];
        if (r < list_offsets[l] || r >= list_offsets[nlist]) return -1;
        while (r >= list_offsets[l + 1]) l++; /* rows in order: the lists walked once */
        const int64_t at = r - list_offsets[l], s = split_of[l];
        if (s < 0) {
            placed[i] = main_offsets[l] + at;
            part[i] = -1;
            continue;
        }
        const int64_t *f = first + s * (parts + 1);
        int64_t p = 0;
        while (p + 1 < parts && at >= f[p + 1]) p++;
        placed[i] = part_offsets[s * parts + p] + at - f[p];
        part[i] = (int8_t)p;
    }
    return 0;
}

int vt_roc_cuts(const int64_t *list_offsets, int64_t nlist, const int64_t *starts, int64_t ngroups, const int64_t *rows,
                int64_t count, int64_t parts, int64_t *cuts) {
    if (parts < 1 || ngroups < 1 || starts[0] != 0 || starts[ngroups] != nlist) return -1;
    for (int64_t k = 0; k < ngroups; k++)
        if (starts[k + 1] < starts[k]) return -1;
    int64_t total = 0, l = 0, g = 0, last = -1;
    for (int pass = 0; pass < 2; pass++) { /* the total first, then the cuts at its shares */
        int64_t work = 0, next = 1;
        l = g = 0;
        last = -1;
        for (int64_t i = 0; i < count; i++) {
            const int64_t r = rows[i];
            if (r < list_offsets[l] || r >= list_offsets[nlist]) return -1;
            while (r >= list_offsets[l + 1]) l++;
            while (l >= starts[g + 1]) g++;
            if (g == last) continue;
            last = g; /* a stream's first row: a cut falls before it where its midpoint passes a share */
            const int64_t w = list_offsets[starts[g + 1]] - list_offsets[l];
            for (; pass && next < parts && (2 * work + w) * parts >= 2 * total * next; next++) cuts[next] = i;
            work += w;
        }
        if (pass)
            for (; next < parts; next++) cuts[next] = count;
        total = work;
    }
    cuts[0] = 0;
    cuts[parts] = count;
    return 0;
}
