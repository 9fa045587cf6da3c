/* The rANS coder the ROC id codec (roc.c) and its decoder across streams (roc_lanes.c) share:
 * a 64-bit state below 2^63, 32-bit words on a stack, probabilities in units of 2^-31, and the
 * decoder's steps with their per-step constants (roc_step) tabulated once a call. roc.c's
 * opening comment describes the coding. */
#ifndef VT_ROC_ANS_H
#define VT_ROC_ANS_H
#include <stdint.h>
#include "internal.h"

#define RANS_L (1ull << 31)
#define SCALE 31

/* What popping below L does where the stack is empty: word streams pop zero words while
 * encoding (bits-back from nothing) and call it corruption while decoding; bit streams
 * leave the state small. */
enum { BORROW_ZEROS, BOTTOM_IS_ERROR, STAY_SMALL };

typedef struct {
    uint64_t x;
    uint32_t *stack;
    int64_t len, cap;
    int err, bottom;
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

/* Below L a word is pulled from the stack; where it is empty, r->bottom says what happens. */
static inline void take(rans *r, uint64_t start, uint64_t freq) {
    uint64_t slot = r->x & ((1ull << SCALE) - 1);
    uint64_t x = freq * (r->x >> SCALE) + slot - start;
    int64_t in = x < RANS_L, empty = r->len == 0, pull = in & (!empty | (r->bottom == BORROW_ZEROS));
    uint64_t w = r->stack[r->len - 1] & -(uint64_t)!empty;
    r->err |= (int)(in & empty & (r->bottom == BOTTOM_IS_ERROR));
    r->len -= pull & !empty;
    r->x = (x << (pull << 5)) | (w & -(uint64_t)pull);
}

/* Uniform over [0, range), range <= 2^31. */
static inline void enc_uniform(rans *r, uint64_t v, uint64_t range) {
    uint64_t f = (1ull << SCALE) / range, rem = (1ull << SCALE) - f * range;
    put(r, v * f + (v < rem ? v : rem), f + (v < rem));
}

static inline uint64_t dec_uniform(rans *r, uint64_t range) {
    /* 32-bit divisions: range, f + 1 and the slot are below 2^32 */
    uint64_t f = (uint32_t)(1u << SCALE) / (uint32_t)range, rem = (1ull << SCALE) - f * range;
    uint32_t slot = (uint32_t)(r->x & ((1ull << SCALE) - 1)), split = (uint32_t)(rem * (f + 1));
    uint64_t v = slot < split ? slot / (uint32_t)(f + 1) : rem + (slot - split) / (uint32_t)f;
    if (v >= range) { /* only reachable through corrupt state */
        r->err = 1;
        return 0;
    }
    take(r, v * f + (v < rem ? v : rem), f + (v < rem));
    return v;
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

/* The decoder's decode of a gap g over universe - i + 1: a multiplication by a reciprocal
 * where dec_uniform divides (the division sat on the chain of dependent operations a step is). */
static inline uint64_t dec_step(rans *r, const roc_step *st) {
    uint64_t slot = r->x & ((1ull << SCALE) - 1), low = slot < st->d_split;
    uint64_t num = low ? slot : slot - st->d_split, m = low ? st->d_m1 : st->d_m0;
    uint64_t g = (uint64_t)(((unsigned __int128)num * m) >> 62) + (low ? 0 : st->d_rem);
    take(r, g * st->d_f + (low ? g : st->d_rem), st->d_f + low);
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

/* roc.c: how many of a bit stream's first steps (its first list's) are exact arithmetic, and a
 * bit stream's stack length and final state from its bits [a, b) (0, or -2 when they disagree). */
int64_t vt_roc_exact_steps(uint64_t universe, int64_t n);
int vt_roc_stream_parts(const uint32_t *data, int64_t a, int64_t b, int64_t *nstack, uint64_t *x);

/* roc_lanes.c: bit streams decoded across SIMD lanes, 16 (AVX-512) or 8 (AVX2); the
 * sets of a batch transposed in keys and vals (a row a step, VT_ROC_LANE_MAXN rows), a stack
 * of `cap` words (and one below it) a lane. */
#define VT_ROC_LANES_MAX 16
#define VT_ROC_LANE_MAXN 1024 /* ids a list, at most, decoded across lanes */
typedef struct {
    uint32_t *keys, *vals, *stacks;
    int64_t cap;
    int lanes; /* 16 (AVX-512), 8 (AVX2), or 0 at the scalar level: no decoding across lanes */
    int avx512; /* which kernels: decided once, with lanes (a kernel chosen by the lane count ran
                   AVX-512 code at the AVX2 level, right answers on this machine, a fault on others) */
} vt_roc_lanes;
int vt_roc_lanes_init(vt_roc_lanes *w);
void vt_roc_lanes_free(vt_roc_lanes *w);
/* A bit stream for the lanes: bits [a, b) of the data (checked by the caller against it), its
 * nlists lists' lengths (each at most VT_ROC_LANE_MAXN and the steps tabulated), decoded from
 * its last list down to list `stop`, into out (the lists' ids concatenated in list order; the
 * lists below stop left unwritten). */
typedef struct {
    int64_t a, b, nlists, stop;
    const int64_t *counts;
    uint64_t *out;
} vt_roc_lane_stream;
/* Decode nl (1 .. w->lanes) bit streams (a universe up to 2^31), phase by phase: each stream's
 * last list, then the one before, across the lanes. 0, -1 (arguments), -2 (corrupt: the
 * streams roc.c's decoder refuses), -3 (memory). */
int vt_roc_decode_lanes(vt_roc_lanes *w, const uint32_t *data, const vt_roc_lane_stream *streams, int nl,
                        uint64_t universe, const roc_step *steps, int64_t nsteps);

#endif
