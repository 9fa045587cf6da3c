/* Packed ids: every value in a fixed number of bits (ceil(log2 universe)); random access. */
#include "vtool.h"
#include "bits.h"

int64_t vt_packed_words(int64_t n, int bits) { return (n * (int64_t)bits + 63) / 64 + 1; }

int vt_packed_encode(const uint64_t *values, int64_t n, int bits, uint64_t *words, int64_t nwords) {
    if (n < 0 || bits < 0 || bits > 64 || nwords < vt_packed_words(n, bits)) return -1;
    for (int64_t i = 0; i < nwords; i++) words[i] = 0;
    for (int64_t i = 0; i < n; i++) {
        if (bits < 64 && (values[i] >> bits)) return -2;
        vt_bits_put(words, (uint64_t)i * (uint64_t)bits, bits, values[i]);
    }
    return 0;
}

/* values[k] = element idx[k], all ones for idx[k] < 0 (a search's empty slot); -1 if an index
 * is past n (nothing past the words is read). */
int vt_packed_get(const uint64_t *words, int64_t nwords, int bits, int64_t n, const int64_t *idx, int64_t count,
                  uint64_t *values) {
    if (n < 0 || bits < 0 || bits > 64 || nwords < vt_packed_words(n, bits)) return -1;
    uint64_t nbits = (uint64_t)nwords * 64;
    for (int64_t k = 0; k < count; k++) {
        if (idx[k] >= n) return -1;
        values[k] = idx[k] < 0 ? UINT64_MAX : vt_bits_get(words, nbits, (uint64_t)idx[k] * (uint64_t)bits, bits);
    }
    return 0;
}

/* The int64 codec's rows, 64 bits each without packing: out[k] = table[pos[k]], a negative
 * position (a search's empty slot) giving -1; -1 if a position is past the table. One pass
 * where numpy took a mask, a compress, the gather and a scatter. */
int vt_take_int64(const int64_t *table, int64_t n, const int64_t *pos, int64_t count, int64_t *out) {
    for (int64_t k = 0; k < count; k++) {
        int64_t p = pos[k];
        if (p >= n) return -1;
        out[k] = p < 0 ? -1 : table[p];
    }
    return 0;
}
