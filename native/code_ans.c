/* Lossless compression of one list's PQ codes with rANS and adaptive frequency tables:
 * one model per sub-quantizer, every count starting at 1 (Laplace), so a sub-quantizer's n
 * codes cost log2(K (K+1) ... (K+n-1)) - sum_s log2(c_s!) bits: the ideal adaptive code
 * length of the paper. Probabilities are (c_s + 1) / (t + K) scaled to 2^31 with exact
 * integer arithmetic, so encoder and decoder agree bit for bit. Prefix sums live in a
 * Fenwick tree (O(log K) per symbol).
 *
 * Stream (32-bit words): final state (low, high), then the stack, bottom first.
 */
#include <stdlib.h>
#include <string.h>
#include "vtool.h"

#define RANS_L (1ull << 31)
#define SCALE 31

typedef unsigned __int128 u128;

typedef struct {
    int64_t k;
    uint32_t *tree; /* Fenwick tree of counts + 1 */
} model;

static int model_init(model *m, int64_t k) {
    m->k = k;
    m->tree = calloc((size_t)k + 1, sizeof(uint32_t));
    if (!m->tree) return -1;
    for (int64_t i = 1; i <= k; i++) { /* all ones */
        m->tree[i] += 1;
        int64_t j = i + (i & -i);
        if (j <= k) m->tree[j] += m->tree[i];
    }
    return 0;
}

static void model_add(model *m, int64_t s) {
    for (int64_t i = s + 1; i <= m->k; i += i & -i) m->tree[i]++;
}

static uint64_t model_prefix(const model *m, int64_t s) { /* counts of symbols < s */
    uint64_t r = 0;
    for (int64_t i = s; i > 0; i -= i & -i) r += m->tree[i];
    return r;
}

/* Scaled cumulative frequency of symbols below s, total T = t + K. */
static uint64_t scaled(uint64_t prefix, uint64_t total) { return (uint64_t)(((u128)prefix << SCALE) / total); }

/* Largest s with scaled(prefix(s)) <= slot (Fenwick descent on the monotone prefix). */
static int64_t model_find(const model *m, uint64_t slot, uint64_t total, uint64_t *prefix_out) {
    int64_t pos = 0;
    uint64_t acc = 0;
    int64_t step = 1;
    while (step * 2 <= m->k) step *= 2;
    for (; step; step /= 2) {
        int64_t nxt = pos + step;
        if (nxt <= m->k && scaled(acc + m->tree[nxt], total) <= slot) {
            pos = nxt;
            acc += m->tree[nxt];
        }
    }
    *prefix_out = acc;
    return pos; /* symbols 0..pos-1 have cumulative <= slot: the symbol is pos */
}

int64_t vt_code_ans_max_words(int64_t n, int64_t m) { return 2 + n * m + 4; }

/* Compress n codes of m bytes (sub-codes below k <= 256, at a byte stride); returns words or < 0. */
int64_t vt_code_ans_encode(const uint8_t *codes, int64_t n, int64_t m, int64_t stride, int64_t k, uint32_t *out,
                           int64_t cap) {
    if (n < 0 || m <= 0 || k < 1 || k > 256 || stride < m || cap < 2 || (uint64_t)(n + k) > (1ull << 31)) return -1;
    int64_t total_syms = n * m;
    uint32_t *start = malloc(sizeof(uint32_t) * (size_t)(total_syms ? total_syms : 1));
    uint32_t *freq = malloc(sizeof(uint32_t) * (size_t)(total_syms ? total_syms : 1));
    model *models = calloc((size_t)m, sizeof(model));
    int64_t rc = 0;
    if (!start || !freq || !models) rc = -3;
    for (int64_t j = 0; j < m && !rc; j++)
        if (model_init(&models[j], k)) rc = -3;
    for (int64_t i = 0; i < n && !rc; i++) /* forward: the model's (start, freq) of every symbol */
        for (int64_t j = 0; j < m; j++) {
            int64_t s = codes[i * stride + j];
            if (s >= k) {
                rc = -2;
                break;
            }
            uint64_t total = (uint64_t)(i + k), p = model_prefix(&models[j], s);
            uint64_t lo = scaled(p, total), hi = scaled(model_prefix(&models[j], s + 1), total);
            start[i * m + j] = (uint32_t)lo;
            freq[i * m + j] = (uint32_t)(hi - lo);
            model_add(&models[j], s);
        }
    if (!rc) { /* backward into rANS, so the decoder runs forward */
        uint64_t x = RANS_L;
        int64_t len = 0;
        for (int64_t t = total_syms - 1; t >= 0; t--) {
            uint64_t f = freq[t];
            if (x >= (f << 32)) {
                if (2 + len >= cap) {
                    rc = -4;
                    break;
                }
                out[2 + len++] = (uint32_t)x;
                x >>= 32;
            }
            x = ((x / f) << SCALE) + (x % f) + start[t];
        }
        if (!rc) {
            out[0] = (uint32_t)x;
            out[1] = (uint32_t)(x >> 32);
            rc = len + 2;
        }
    }
    if (models)
        for (int64_t j = 0; j < m; j++) free(models[j].tree);
    free(models);
    free(start);
    free(freq);
    return rc;
}

/* Decompress into n codes at a byte stride; 0 on success, < 0 on a corrupt stream. */
int vt_code_ans_decode(const uint32_t *stream, int64_t nwords, int64_t n, int64_t m, int64_t stride, int64_t k,
                       uint8_t *codes) {
    if (n < 0 || m <= 0 || k < 1 || k > 256 || stride < m || nwords < 2 || (uint64_t)(n + k) > (1ull << 31)) return -1;
    model *models = calloc((size_t)m, sizeof(model));
    int rc = models ? 0 : -3;
    for (int64_t j = 0; j < m && !rc; j++)
        if (model_init(&models[j], k)) rc = -3;
    uint64_t x = (uint64_t)stream[0] | ((uint64_t)stream[1] << 32);
    int64_t top = nwords; /* the stack is read from its top, which is the end of the stream */
    if (x < RANS_L || x >= (1ull << 63)) rc = -2;
    for (int64_t i = 0; i < n && !rc; i++)
        for (int64_t j = 0; j < m; j++) {
            uint64_t total = (uint64_t)(i + k), slot = x & ((1ull << SCALE) - 1), p;
            int64_t s = model_find(&models[j], slot, total, &p);
            if (s >= k) {
                rc = -2;
                break;
            }
            uint64_t lo = scaled(p, total), hi = scaled(model_prefix(&models[j], s + 1), total);
            if (hi <= lo || slot < lo || slot >= hi) {
                rc = -2;
                break;
            }
            x = (hi - lo) * (x >> SCALE) + slot - lo;
            if (x < RANS_L) {
                if (top <= 2) {
                    rc = -2;
                    break;
                }
                x = (x << 32) | stream[--top];
            }
            codes[i * stride + j] = (uint8_t)s;
            model_add(&models[j], s);
        }
    if (!rc && top != 2) rc = -2; /* every word must have been used */
    for (int64_t j = 0; j < m && models; j++) free(models[j].tree);
    free(models);
    return rc;
}
