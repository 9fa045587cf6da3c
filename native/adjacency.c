/* A graph's neighbour lists coded one after another in one bit stream. A list is a set (its
 * order carries no information), so it is coded sorted; its size in bits depends only on its
 * length n and the universe (the node count), so a reader finds list i at the sum of the
 * sizes of the lists before it, with no per-list offset stored.
 *
 *   VT_ADJ_PACKED  n fields of w bits, w = bit width of (universe - 1)
 *   VT_ADJ_EF      Elias-Fano: n low fields of l = floor(log2(universe / n)) bits, then
 *                  n + ((universe - 1) >> l) high bits (element i sets bit (v >> l) + i)
 *   VT_ADJ_ROC     a set code at the bound (adjacency_set.c); its size per length is stored
 *
 * Every read is checked against the stream's size: arbitrary bytes make a decoder return -3,
 * never read out of bounds.
 */
#include <string.h>
#include "vtool.h"
#include "bits.h"

/* Up to 56 bits at bit pos, read as one unaligned 64-bit load: the caller has checked that
 * 64 bits from pos lie inside the stream. */
static inline uint64_t peek(const uint64_t *w, uint64_t pos, int width) {
    uint64_t v;
    memcpy(&v, (const uint8_t *)w + (pos >> 3), 8);
    return (v >> (pos & 7)) & ((1ull << width) - 1);
}

static int ef_low(int64_t n, int64_t universe) {
    if (n <= 0 || universe <= n) return 0;
    return vt_bit_width((uint64_t)(universe / n)) - 1;
}

int64_t vt_adj_bits(int codec, int64_t n, int64_t universe) {
    if (n < 0 || universe < 1) return -1;
    if (n == 0) return 0;
    if (codec == VT_ADJ_PACKED) return n * vt_bit_width((uint64_t)(universe - 1));
    if (codec == VT_ADJ_EF) {
        int l = ef_low(n, universe);
        return n * l + n + ((universe - 1) >> l);
    }
    return -1;
}

int vt_adj_encode(int codec, const int32_t *lists, int64_t nlists, int64_t stride, const uint8_t *sizes,
                  int64_t universe, uint64_t *words, int64_t nwords) {
    uint64_t pos = 0, nbits = (uint64_t)nwords * 64;
    for (int64_t i = 0; i < nwords; i++) words[i] = 0;
    for (int64_t i = 0; i < nlists; i++) {
        const int32_t *v = lists + i * stride;
        int64_t n = sizes[i], bits = vt_adj_bits(codec, n, universe);
        if (n > stride || bits < 0 || pos + (uint64_t)bits > nbits) return -1;
        for (int64_t j = 0; j < n; j++)
            if (v[j] < 0 || v[j] >= universe || (j && v[j] <= v[j - 1])) return -2; /* sorted sets */
        if (codec == VT_ADJ_PACKED) {
            int w = vt_bit_width((uint64_t)(universe - 1));
            for (int64_t j = 0; j < n; j++) vt_bits_put(words, pos + (uint64_t)(j * w), w, (uint64_t)v[j]);
        } else {
            int l = ef_low(n, universe);
            uint64_t high = pos + (uint64_t)(n * l);
            for (int64_t j = 0; j < n; j++) {
                vt_bits_put(words, pos + (uint64_t)(j * l), l, (uint64_t)v[j]);
                uint64_t b = high + ((uint64_t)v[j] >> l) + (uint64_t)j;
                words[b >> 6] |= 1ull << (b & 63);
            }
        }
        pos += (uint64_t)bits;
    }
    return 0;
}

int vt_adj_decode(int codec, const uint64_t *words, int64_t nbits, int64_t pos, int64_t n, int64_t universe,
                  int32_t *out) {
    if (codec == VT_ADJ_ROC)
        return nbits < 0 || vt_adj_roc_decode((const uint8_t *)words, nbits / 8, pos, n, universe, out) ? -3 : 0;
    int64_t bits = vt_adj_bits(codec, n, universe);
    if (bits < 0 || pos < 0 || nbits < 0 || pos > nbits - bits) return -3;
    if (codec == VT_ADJ_PACKED) {
        int w = vt_bit_width((uint64_t)(universe - 1));
        const int fast = pos + bits + 64 <= nbits && w > 0;
        for (int64_t j = 0; j < n; j++) {
            uint64_t at = (uint64_t)(pos + j * w);
            uint64_t v = fast ? peek(words, at, w) : vt_bits_get(words, (uint64_t)nbits, at, w);
            if (v >= (uint64_t)universe) return -3;
            out[j] = (int32_t)v;
        }
        return 0;
    }
    int l = ef_low(n, universe);
    const uint64_t high = (uint64_t)(pos + n * l), high_len = (uint64_t)(bits - n * l);
    int64_t j = 0;
    if (pos + bits + 64 <= nbits) { /* the list and a word past it inside the stream: unchecked loads */
        for (uint64_t off = 0; off < high_len && j < n; off += 56) {
            int width = high_len - off < 56 ? (int)(high_len - off) : 56;
            uint64_t chunk = peek(words, high + off, width);
            while (chunk && j < n) {
                uint64_t v = (off + (uint64_t)__builtin_ctzll(chunk) - (uint64_t)j) << l |
                             (l ? peek(words, (uint64_t)(pos + j * l), l) : 0);
                if (v >= (uint64_t)universe) return -3;
                out[j++] = (int32_t)v;
                chunk &= chunk - 1;
            }
        }
        return j == n ? 0 : -3;
    }
    for (uint64_t off = 0; off < high_len && j < n; off += 64) {
        int width = high_len - off < 64 ? (int)(high_len - off) : 64;
        uint64_t chunk = vt_bits_get(words, (uint64_t)nbits, high + off, width);
        while (chunk && j < n) {
            uint64_t b = off + (uint64_t)__builtin_ctzll(chunk);
            uint64_t v = (b - (uint64_t)j) << l | vt_bits_get(words, (uint64_t)nbits, (uint64_t)(pos + j * l), l);
            if (v >= (uint64_t)universe) return -3;
            out[j++] = (int32_t)v;
            chunk &= chunk - 1;
        }
    }
    return j == n ? 0 : -3;
}

int vt_adj_decode_rows(int codec, const uint64_t *words, int64_t nbits, const int64_t *pos, const uint8_t *sizes,
                       int64_t nlists, int64_t universe, int32_t *out, int64_t stride) {
    for (int64_t i = 0; i < nlists; i++) {
        int32_t *row = out + i * stride;
        if (sizes[i] > stride || vt_adj_decode(codec, words, nbits, pos[i], sizes[i], universe, row)) return -3;
        for (int64_t j = sizes[i]; j < stride; j++) row[j] = -1;
    }
    return 0;
}
