/* Little-endian bit reading and writing over 64-bit words, bounds-checked (internal). */
#ifndef VTOOL_BITS_H
#define VTOOL_BITS_H
#include <stdint.h>

/* The `width`-bit field (width <= 64) starting at bit `pos`; 0 when it runs past nbits. */
static inline uint64_t vt_bits_get(const uint64_t *w, uint64_t nbits, uint64_t pos, int width) {
    if (width == 0 || pos + (uint64_t)width > nbits || pos + (uint64_t)width < pos) return 0;
    uint64_t i = pos >> 6, off = pos & 63;
    uint64_t v = w[i] >> off;
    if (off + (uint64_t)width > 64) v |= w[i + 1] << (64 - off);
    return width == 64 ? v : v & ((1ull << width) - 1);
}

/* OR a `width`-bit value into zeroed words at bit `pos` (caller guarantees room). */
static inline void vt_bits_put(uint64_t *w, uint64_t pos, int width, uint64_t v) {
    if (width == 0) return;
    if (width < 64) v &= (1ull << width) - 1;
    uint64_t i = pos >> 6, off = pos & 63;
    w[i] |= v << off;
    if (off + (uint64_t)width > 64) w[i + 1] |= v >> (64 - off);
}

static inline int vt_bit_width(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

/* Position of the r-th (0-based) set bit of x, which has more than r: broadword, no branch and
 * no table (Vigna's select in a word, the byte's bits spread to bytes for the last step). The
 * popcounts of the bytes by SWAR, their prefix sums by a multiply; the bytes whose prefix is
 * at most r are counted by a bytewise compare. */
static inline int vt_select64(uint64_t x, int r) {
    const uint64_t ones = 0x0101010101010101ull, msbs = 0x8080808080808080ull;
    uint64_t s = x - ((x >> 1) & 0x5555555555555555ull);
    s = (s & 0x3333333333333333ull) + ((s >> 2) & 0x3333333333333333ull);
    s = (s + (s >> 4)) & 0x0f0f0f0f0f0f0f0full;
    uint64_t prefix = s * ones;                                    /* byte i: set bits in bytes 0..i */
    uint64_t le = ((((uint64_t)r * ones) | msbs) - prefix) & msbs; /* byte i: prefix_i <= r */
    int byte = (int)((le >> 7) * ones >> 56);                       /* bytes wholly before the bit */
    uint64_t left = (uint64_t)r - (((prefix << 8) >> (8 * byte)) & 0xff);
    uint64_t b = (x >> (8 * byte)) & 0xff;
    uint64_t spread = (b * ones) & 0x8040201008040201ull;                      /* byte i: bit i of b, in place */
    uint64_t bit = (((spread + 0x7f7f7f7f7f7f7f7full) | spread) & msbs) >> 7; /* byte i: 1 if bit i of b */
    uint64_t within = ((((left * ones) | msbs) - bit * ones) & msbs) >> 7;    /* byte i: bits 0..i of b <= left */
    return 8 * byte + (int)((within * ones) >> 56);
}

#endif
