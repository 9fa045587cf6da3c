/* Fuzz harness for the id decoders, the graph adjacency decoder and the graph search, built
 * with AddressSanitizer and UBSan by scripts/fuzz_ids.sh (and, briefly, by the test suite):
 * valid streams are mutated or replaced by random words and decoded, graphs are filled with
 * arbitrary neighbours and searched; any out-of-bounds access or undefined behaviour aborts
 * the run. Usage: fuzz_ids ITERATIONS SEED */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vtool.h"

static uint64_t rng_state;
static uint64_t next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* n distinct sorted values below universe */
static int64_t random_set(uint64_t *out, int64_t n, uint64_t universe) {
    for (int64_t i = 0; i < n; i++) out[i] = next() % universe;
    qsort(out, (size_t)n, sizeof(uint64_t), cmp_u64);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!m || out[i] != out[m - 1]) out[m++] = out[i];
    return m;
}

/* Neighbour lists coded and decoded, then their stream mutated and read at random places. */
static int fuzz_adjacency(long it) {
    enum { MAXL = 40, MAXS = 64 };
    int codec = (int)(next() % 3) + VT_ADJ_PACKED; /* packed, ef, roc */
    int64_t universe = 1 + (int64_t)(next() % 100000), nl = (int64_t)(next() % MAXL), stride = 1 + (int64_t)(next() % MAXS);
    int32_t lists[MAXL * MAXS], back[MAXL * MAXS];
    uint8_t sizes[MAXL];
    int64_t pos[MAXL + 1];
    uint64_t vals[MAXS];
    pos[0] = 0;
    for (int64_t i = 0; i < nl; i++) {
        int64_t n = random_set(vals, (int64_t)(next() % (uint64_t)(stride + 1)) % (universe + 1), (uint64_t)universe);
        sizes[i] = (uint8_t)n;
        for (int64_t j = 0; j < stride; j++) lists[i * stride + j] = j < n ? (int32_t)vals[j] : -1;
        pos[i + 1] = pos[i] + vt_adj_bits(codec, n, universe);
    }
    if (codec == VT_ADJ_ROC) { /* sizes measured, each list at the sum of those before it */
        int64_t bits[MAXL];
        if (vt_adj_roc_lengths(lists, nl, stride, sizes, universe, bits)) {
            fprintf(stderr, "roc lengths failed at iteration %ld\n", it);
            return 1;
        }
        for (int64_t i = 0; i < nl; i++) pos[i + 1] = pos[i] + bits[i];
    }
    int64_t nwords = (pos[nl] + 63) / 64;
    uint64_t *w = calloc((size_t)(nwords + 1), sizeof(uint64_t));
    int encoded = codec == VT_ADJ_ROC ? vt_adj_roc_encode(lists, nl, stride, sizes, universe, pos, (uint8_t *)w, nwords * 8)
                                      : vt_adj_encode(codec, lists, nl, stride, sizes, universe, w, nwords);
    if (encoded ||
        vt_adj_decode_rows(codec, w, nwords * 64, pos, sizes, nl, universe, back, stride) ||
        (nl && memcmp(lists, back, sizeof(int32_t) * (size_t)(nl * stride)))) {
        fprintf(stderr, "adjacency round trip failed at iteration %ld\n", it);
        free(w);
        return 1;
    }
    int mode = (int)(next() % 3);
    int64_t len = mode == 1 ? (int64_t)(next() % (uint64_t)(nwords + 1)) : nwords;
    for (int k = 0; k < 4 && len > 0; k++) w[next() % (uint64_t)len] ^= 1ull << (next() % 64);
    if (mode == 2)
        for (int64_t k = 0; k < len; k++) w[k] = next();
    for (int k = 0; k < 8; k++) {
        int64_t at = (int64_t)(next() % (uint64_t)(64 * len + 130)) - 2, n = (int64_t)(next() % 300) - 2;
        vt_adj_decode(codec, w, 64 * len, at, n, universe, back);
    }
    free(w);
    return 0;
}

/* A graph of arbitrary neighbours (in and out of range, levels that do not match), plain or
 * with a coded level 0 read from random words, searched from an arbitrary entry. */
static void fuzz_graph(void) {
    enum { MAXN = 120, D = 5 };
    int64_t n = 1 + (int64_t)(next() % MAXN), m = 1 + (int64_t)(next() % 6), r0 = 1 + (int64_t)(next() % 12);
    uint8_t levels[MAXN], degree[MAXN];
    int64_t offsets[MAXN + 1], pos[MAXN];
    offsets[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        levels[i] = (uint8_t)(next() % 4 == 0 ? next() % 3 : 0);
        offsets[i + 1] = offsets[i] + levels[i] * m;
        degree[i] = (uint8_t)(next() % (uint64_t)(r0 + 3));
        pos[i] = (int64_t)(next() % 4000) - 10;
    }
    int32_t *level0 = malloc(sizeof(int32_t) * (size_t)(n * r0));
    int32_t *upper = malloc(sizeof(int32_t) * (size_t)(offsets[n] + 1));
    for (int64_t i = 0; i < n * r0; i++) level0[i] = (int32_t)(next() % (uint64_t)(n + 6)) - 2;
    for (int64_t i = 0; i < offsets[n]; i++) upper[i] = (int32_t)(next() % (uint64_t)(n + 6)) - 2;
    uint64_t words[64];
    for (int k = 0; k < 64; k++) words[k] = next();
    float codes[MAXN * D], queries[3 * D], dist[3 * 4];
    for (int64_t i = 0; i < n * D; i++) codes[i] = (float)(next() % 1000) / 100.f;
    for (int i = 0; i < 3 * D; i++) queries[i] = (float)(next() % 1000) / 100.f;
    int64_t ids[3 * 4];
    vt_hnsw g = {n, m, r0, levels, level0, upper, offsets, (int64_t)(next() % (uint64_t)(n + 3)) - 1,
                 (int64_t)(next() % 4) - 1, 0, NULL, 0, NULL, NULL};
    if (next() % 2) {
        g.level0_codec = (int)(next() % 3) + VT_ADJ_PACKED;
        g.level0_words = words;
        g.level0_nbits = 64 * 64;
        g.level0_pos = pos;
        g.degree = degree;
    }
    vt_collector *c = vt_topk_collector(3, 4, dist, ids, 1);
    vt_hnsw_search(&g, VT_SCAN_FLAT, queries, 3, D, (const uint8_t *)codes, n, D * 4, NULL, 0, 0,
                   (int)(next() % 2), 1 + (int64_t)(next() % 20), c);
    vt_collector_free(c);
    free(level0);
    free(upper);
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 1000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    enum { MAXN = 3000 };
    uint64_t *set = malloc(sizeof(uint64_t) * MAXN), *out = malloc(sizeof(uint64_t) * MAXN);
    int64_t idx[16];
    for (long it = 0; it < iters; it++) {
        uint64_t universe = 1 + next() % (it % 3 == 0 ? (1ull << 40) : 100000);
        int64_t n = random_set(set, (int64_t)(next() % MAXN) % (int64_t)(universe < MAXN ? universe : MAXN), universe);
        int64_t cap = vt_roc_max_words(n, universe);
        uint32_t *roc = malloc(sizeof(uint32_t) * (size_t)cap);
        int64_t one[1] = {n};
        int64_t len = vt_roc_encode(set, one, 1, universe, roc, cap);
        int64_t ewords = vt_ef_words(n, universe);
        uint64_t *ef = calloc((size_t)ewords, sizeof(uint64_t));
        vt_ef_encode(set, n, universe, ef, ewords);
        int64_t pwords = vt_packed_words(n, 40);
        uint64_t *packed = calloc((size_t)pwords, sizeof(uint64_t));
        vt_packed_encode(set, n, 40, packed, pwords);
        if (len < 0 || vt_roc_decode(roc, len, one, 1, universe, out) != 0 || (n && memcmp(out, set, 8 * (size_t)n))) {
            fprintf(stderr, "round trip failed at iteration %ld\n", it);
            return 1;
        }
        { /* the same ids as two lists chained in one stream */
            int64_t two[2] = {n / 3, n - n / 3};
            uint32_t *chain = malloc(sizeof(uint32_t) * (size_t)cap);
            int64_t clen = vt_roc_encode(set, two, 2, universe, chain, cap);
            if (clen < 0 || vt_roc_decode(chain, clen, two, 2, universe, out) != 0 ||
                (n && memcmp(out, set, 8 * (size_t)n))) {
                fprintf(stderr, "chained round trip failed at iteration %ld\n", it);
                return 1;
            }
            free(chain);
        }
        { /* bit streams: the ids as two lists, a stream each or both in one, read back by rows; then
             the words mutated and the offsets crafted (refused or read, never out of bounds) */
            int64_t two[2] = {n / 3, n - n / 3}, loff[3] = {0, n / 3, n}, each[3] = {0, 1, 2}, both[2] = {0, 2};
            int64_t bcap = cap + 4, boff[3], rows[16], *starts = (it & 1) ? both : each, ng = (it & 1) ? 1 : 2;
            uint32_t *bits = malloc(sizeof(uint32_t) * (size_t)bcap);
            int64_t blen = vt_roc_encode_bits(set, two, 2, starts, ng, universe, bits, bcap, boff);
            for (int k = 0; k < 16; k++) rows[k] = n ? (int64_t)(next() % (uint64_t)n) : 0;
            if (blen < 0 || (n && vt_roc_get_rows_bits(bits, blen, boff, starts, ng, loff, 2, universe, rows, 16, out))) {
                fprintf(stderr, "bit stream round trip failed at iteration %ld\n", it);
                return 1;
            }
            for (int k = 0; k < 16 && n; k++)
                if (out[k] != set[rows[k]]) {
                    fprintf(stderr, "bit stream rows wrong at iteration %ld\n", it);
                    return 1;
                }
            for (int k = 0; k < 4 && blen > 0; k++) bits[next() % (uint64_t)blen] ^= (uint32_t)1 << (next() % 32);
            if (next() & 1) boff[1] = (int64_t)(next() % (uint64_t)(32 * blen + 64)) - 8;
            if (next() & 1) boff[ng] = (int64_t)(next() % (uint64_t)(32 * blen + 64));
            vt_roc_get_rows_bits(bits, blen, boff, starts, ng, loff, 2, universe, rows, 16, out);
            free(bits);
            /* Rice-coded lengths: values back, then random words read as them (refused or read) */
            int64_t vals[16], back[16], k = (int64_t)(next() % 16), center = (int64_t)(next() % 64) - 32;
            uint64_t rw[64];
            for (int t = 0; t < 16; t++) vals[t] = center + (int64_t)(next() % 200) - 100;
            int64_t rn = vt_rice_encode(vals, 16, center, (int)k, rw, 64);
            if (rn < 0 || vt_rice_decode(rw, rn, 16, center, (int)k, back) || memcmp(vals, back, sizeof vals)) {
                fprintf(stderr, "rice round trip failed at iteration %ld\n", it);
                return 1;
            }
            for (int t = 0; t < 64; t++) rw[t] = next() & next();
            vt_rice_decode(rw, (int64_t)(next() % 65), 16, center, (int)k, back);
        }
        { /* bit streams of up to 40 lists grouped by a random min_ids: up to 16 streams a batch across
             the SIMD lanes, chained lists among them; every row read back, then the words mutated
             and read again (refused or read, never out of bounds) */
            int64_t nl = 1 + (int64_t)(next() % 40), counts[40], loff[41], starts[41], boff[41], left = n;
            loff[0] = 0;
            for (int64_t l = 0; l < nl; l++) {
                counts[l] = l == nl - 1 ? left : (int64_t)(next() % (uint64_t)(left + 1)) / (1 + (int64_t)(next() % 8));
                left -= counts[l];
                loff[l + 1] = loff[l] + counts[l];
            }
            int64_t ng = vt_roc_groups(counts, nl, 1 + (int64_t)(next() % 300), starts), bcap = cap + 2 * nl + 8;
            uint32_t *bits = malloc(sizeof(uint32_t) * (size_t)bcap);
            int64_t *rows = malloc(sizeof(int64_t) * (size_t)(n + 1));
            for (int64_t k = 0; k < n; k++) rows[k] = k;
            int64_t blen = vt_roc_encode_bits(set, counts, nl, starts, ng, universe, bits, bcap, boff);
            if (blen < 0 || (n && vt_roc_get_rows_bits(bits, blen, boff, starts, ng, loff, nl, universe, rows, n, out)) ||
                (n && memcmp(out, set, 8 * (size_t)n))) {
                fprintf(stderr, "bit streams of many lists failed at iteration %ld\n", it);
                return 1;
            }
            for (int k = 0; k < 6 && blen > 0; k++) bits[next() % (uint64_t)blen] ^= (uint32_t)1 << (next() % 32);
            if (n) vt_roc_get_rows_bits(bits, blen, boff, starts, ng, loff, nl, universe, rows, n, out);
            free(rows);
            free(bits);
        }
        /* mutate: flip bits, truncate, or replace with random words; wrong n and universe too */
        int mode = (int)(next() % 4);
        int64_t rlen = mode == 1 ? (int64_t)(next() % (uint64_t)(len + 1)) : len;
        for (int k = 0; k < 4 && rlen > 0; k++)
            if (mode != 1) roc[next() % (uint64_t)rlen] ^= (uint32_t)1 << (next() % 32);
        if (mode == 3)
            for (int64_t k = 0; k < rlen; k++) roc[k] = (uint32_t)next();
        int64_t dn = mode == 2 ? (int64_t)(next() % MAXN) : n;
        int64_t dcounts[1] = {dn};
        vt_roc_decode(roc, rlen, dcounts, 1, universe, out);
        { /* the same stream as two lists of an inverted file, offsets crafted as well */
            int64_t cut = rlen ? (int64_t)(next() % (uint64_t)(rlen + 1)) : 0, split = dn ? (int64_t)(next() % (uint64_t)(dn + 1)) : 0;
            int64_t woff[3] = {0, cut, mode == 2 ? rlen + 3 : rlen}, loff[3] = {0, split, dn}, rows[16];
            for (int k = 0; k < 16; k++) rows[k] = (int64_t)(next() % (uint64_t)(dn + 2)) - 1;
            vt_roc_get_rows(roc, rlen, woff, loff, 2, 1, universe, rows, 16, out);
            int64_t goff[2] = {0, mode == 2 ? rlen + 3 : rlen}; /* both lists in one stream */
            vt_roc_get_rows(roc, rlen, goff, loff, 2, 2, universe, rows, 16, out);
        }
        int64_t elen = mode == 1 ? (int64_t)(next() % (uint64_t)(ewords + 1)) : ewords;
        for (int k = 0; k < 4 && elen > 0; k++) ef[next() % (uint64_t)elen] ^= 1ull << (next() % 64);
        if (mode == 3)
            for (int64_t k = 0; k < elen; k++) ef[k] = next();
        vt_ef_decode(ef, elen, mode == 2 ? (int64_t)(next() % MAXN) : n, universe, out);
        for (int k = 0; k < 16; k++) idx[k] = (int64_t)(next() % (MAXN + 10)) - 5;
        vt_ef_get(ef, elen, n, universe, idx, 16, out);
        { /* the same words as two lists of an inverted file, offsets crafted (out of order too) */
            int64_t en = mode == 2 ? (int64_t)(next() % MAXN) : n, cut = (int64_t)(next() % (uint64_t)(elen + 1));
            int64_t split = (int64_t)(next() % (uint64_t)(en + 3)) - (mode == 3);
            int64_t woff[3] = {0, cut, mode == 2 ? elen + 3 : elen}, loff[3] = {mode == 3, split, en}, rows[16];
            for (int k = 0; k < 16; k++) rows[k] = (int64_t)(next() % (uint64_t)(en + 2)) - 1;
            if (it & 16) loff[2] += 1ll << 33; /* a total past 2^32: rows taken as they come */
            vt_ef_get_rows(ef, elen, woff, loff, 2, universe, rows, 16, out);
        }
        vt_packed_get(packed, mode == 1 ? (int64_t)(next() % (uint64_t)(pwords + 1)) : pwords, 40, n, idx, 16, out);

        /* wavelet matrix over random list labels */
        int levels = (int)(next() % 9);
        int64_t wn = (int64_t)(next() % MAXN);
        uint32_t *sym = malloc(sizeof(uint32_t) * (size_t)(wn + 1));
        for (int64_t t = 0; t < wn; t++) sym[t] = levels ? (uint32_t)(next() % (1ull << levels)) : 0;
        int64_t wwords = vt_wm_words(wn, levels);
        uint8_t lens[64];
        int shaped = (int)(it & 1), nsym = 1 + (int)(next() % 40);
        if (shaped) { /* a random complete code: split random leaves of a binary tree */
            int have = nsym > 1 ? 2 : 1;
            lens[0] = lens[1] = 1;
            for (; have < nsym; have++) {
                int leaf = (int)(next() % (uint64_t)have);
                if (lens[leaf] >= 20) break;
                lens[have] = ++lens[leaf];
            }
            nsym = have;
            for (int64_t t = 0; t < wn; t++) sym[t] = (uint32_t)(next() % (uint64_t)nsym);
            int64_t need = vt_wm_shaped_words(sym, wn, lens, nsym, 20);
            wwords = need > 0 ? need : 2;
        }
        uint64_t *wm = calloc((size_t)wwords, sizeof(uint64_t));
        if (shaped) {
            if (vt_wm_build_shaped(sym, wn, lens, nsym, 20, wm, wwords) && wn) {
                fprintf(stderr, "shaped wavelet build failed at iteration %ld\n", it);
                return 1;
            }
        } else {
            vt_wm_build(sym, wn, levels, wm, wwords);
        }
        int64_t wlen = mode == 1 ? (int64_t)(next() % (uint64_t)(wwords + 1)) : wwords;
        for (int k = 0; k < 4 && wlen > 0; k++) wm[next() % (uint64_t)wlen] ^= 1ull << (next() % 64);
        if (mode == 3)
            for (int64_t k = 0; k < wlen; k++) wm[k] = next();
        int64_t nl = 1 + (int64_t)(next() % 300), *counts = malloc(sizeof(int64_t) * (size_t)nl), err;
        int rc_reader;
        vt_wm_reader *reader = vt_wm_reader_new(wm, wlen, nl, counts, &rc_reader);
        if (reader) { /* rows of the lists the reader found (a row past them is refused) */
            int64_t rows[16], total = 0;
            for (int64_t l = 0; l < nl; l++) total += counts[l];
            for (int k = 0; k < 16; k++) rows[k] = (int64_t)(next() % (uint64_t)(total + 1)) - (k == 15 && (it & 4));
            if (it & 8) rows[next() % 16] = -1; /* a search's empty slot: -1 back */
            if (next() & 1) /* in order half the time: their lists found by a walk */
                for (int k = 1; k < 16; k++)
                    for (int t = k; t > 0 && rows[t - 1] > rows[t]; t--) {
                        int64_t r = rows[t];
                        rows[t] = rows[t - 1];
                        rows[t - 1] = r;
                    }
            err = vt_wm_reader_rows(reader, rows, 16, (int64_t *)out);
            int beyond = 0;
            for (int k = 0; k < 16; k++) beyond |= rows[k] >= total;
            for (int k = 0; k < 16 && !err; k++)
                if ((rows[k] < 0) != (out[k] == (uint64_t)-1)) {
                    fprintf(stderr, "wavelet rows: an empty slot not kept at iteration %ld\n", it);
                    return 1;
                }
            if (!err != !beyond) {
                fprintf(stderr, "wavelet rows %s at iteration %ld\n", beyond ? "past the lists accepted" : "refused", it);
                return 1;
            }
            int64_t *all = malloc(sizeof(int64_t) * (size_t)(total + 1)); /* every row: ranks below the matrix's n */
            if (vt_wm_reader_decode_all(reader, all)) {
                fprintf(stderr, "wavelet decode_all failed at iteration %ld\n", it);
                return 1;
            }
            for (int64_t t = 0; t < total; t++)
                if (all[t] < 0 || (uint64_t)all[t] >= wm[0]) {
                    fprintf(stderr, "wavelet decode_all: a rank past the matrix at iteration %ld\n", it);
                    return 1;
                }
            free(all);
            vt_wm_reader_free(reader);
        }
        free(counts);

        /* ANS-compressed codes */
        int64_t cn = (int64_t)(next() % 600), cm = 1 + (int64_t)(next() % 16), ck = 1 + (int64_t)(next() % 256);
        uint8_t *codes = malloc((size_t)(cn * cm + 1)), *back = malloc((size_t)(600 * cm + 1)); /* room for any n tried */
        for (int64_t t = 0; t < cn * cm; t++) codes[t] = (uint8_t)(next() % (uint64_t)ck);
        int64_t ccap = vt_code_ans_max_words(cn, cm);
        uint32_t *cs = malloc(sizeof(uint32_t) * (size_t)ccap);
        int64_t clen = vt_code_ans_encode(codes, cn, cm, cm, ck, cs, ccap);
        if (clen < 0 || vt_code_ans_decode(cs, clen, cn, cm, cm, ck, back) || memcmp(codes, back, (size_t)(cn * cm))) {
            fprintf(stderr, "code round trip failed at iteration %ld\n", it);
            return 1;
        }
        int64_t cl = mode == 1 ? (int64_t)(next() % (uint64_t)(clen + 1)) : clen;
        for (int k = 0; k < 4 && cl > 0; k++) cs[next() % (uint64_t)cl] ^= (uint32_t)1 << (next() % 32);
        if (mode == 3)
            for (int64_t k = 0; k < cl; k++) cs[k] = (uint32_t)next();
        vt_code_ans_decode(cs, cl, mode == 2 ? (int64_t)(next() % 600) : cn, cm, cm, ck, back);
        if (fuzz_adjacency(it)) return 1;
        fuzz_graph();
        free(sym);
        free(wm);
        free(codes);
        free(back);
        free(cs);
        free(roc);
        free(ef);
        free(packed);
    }
    printf("fuzz_ids: %ld iterations clean\n", iters);
    free(set);
    free(out);
    return 0;
}
