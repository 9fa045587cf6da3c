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

#endif
