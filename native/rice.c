/* Rice codes of signed integers around a center: v = zigzag(x - center) as v >> k one bits, a
 * zero, then v's k low bits, LSB-first in uint64 words. For values that are mostly near the
 * center with a few far out (the lengths of ROC bit streams against their prediction: most
 * within a few bits, a list of small ids 40 below), where a shift to the least value and
 * Elias-Fano of the sums paid the far one's distance in every value's low bits. Decoding
 * reads every value in order and checks every read against the words. */
#include "vtool.h"
#include "bits.h"

#define RICE_MAX_ONES 4096 /* a longer run is corruption (an encoder never writes one: values below 2^63, k chosen) */

static uint64_t zigzag(int64_t x) { return x >= 0 ? (uint64_t)x << 1 : (((uint64_t)(-(x + 1))) << 1) | 1; }
static int64_t unzigzag(uint64_t v) { return v & 1 ? -(int64_t)(v >> 1) - 1 : (int64_t)(v >> 1); }

/* Words used by count values, or -1 (a value's run of ones past RICE_MAX_ONES, or cap too small). */
int64_t vt_rice_encode(const int64_t *values, int64_t count, int64_t center, int k, uint64_t *out, int64_t cap) {
    int64_t pos = 0;
    if (k < 0 || k > 62 || count < 0) return -1;
    for (int64_t i = 0; i < cap; i++) out[i] = 0;
    for (int64_t i = 0; i < count; i++) {
        uint64_t v = zigzag(values[i] - center), ones = v >> k;
        if (ones > RICE_MAX_ONES || (pos + (int64_t)ones + 1 + k + 63) / 64 > cap) return -1;
        for (uint64_t r = 0; r < ones; r += 64)
            vt_bits_put(out, (uint64_t)pos + r, ones - r < 64 ? (int)(ones - r) : 64, ~0ull);
        pos += (int64_t)ones + 1; /* the zero ending the run */
        vt_bits_put(out, (uint64_t)pos, k, v);
        pos += k;
    }
    return (pos + 63) / 64;
}

/* count values into out; 0, or -1 when the words end early or a run is too long. */
int vt_rice_decode(const uint64_t *words, int64_t nwords, int64_t count, int64_t center, int k, int64_t *out) {
    int64_t pos = 0, end = 64 * nwords;
    if (k < 0 || k > 62 || count < 0 || nwords < 0) return -1;
    for (int64_t i = 0; i < count; i++) {
        uint64_t ones = 0;
        for (;;) { /* the run: whole words of ones at a time */
            if (pos >= end) return -1;
            uint64_t rest = words[pos >> 6] >> (pos & 63); /* the bits from pos to the word's end */
            int avail = 64 - (int)(pos & 63), run = rest == ~0ull >> (64 - avail) ? avail : __builtin_ctzll(~rest);
            ones += (uint64_t)run;
            pos += run;
            if (ones > RICE_MAX_ONES) return -1;
            if (run < avail) break; /* the zero is in this word */
        }
        pos += 1;
        if (pos + k > end) return -1;
        uint64_t low = vt_bits_get(words, (uint64_t)end, (uint64_t)pos, k); /* in the words: checked above */
        pos += k;
        out[i] = unzigzag(ones << k | low) + center;
    }
    return 0;
}
