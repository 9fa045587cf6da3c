/* Wavelet matrix over the sequence "list of the id at rank i", i = 0..N-1 (alphabet nlist):
 * the j-th smallest id of list l is select_l(j); random access in O(code length) rank and
 * select steps.
 *
 * Fixed shape, N * ceil(log2 nlist) bits: header [n, levels | WM_NO_DIR]; then per level,
 * from the top bit down: [zeros at this level] [ceil(n/64) bit words]. Level k holds bit
 * (levels-1-k) of every symbol in the order the previous levels left them (zeros first,
 * stably). Files written before WM_NO_DIR also stored, after each level's bits, a rank
 * directory (32 bits per 1024, 3.1 %) that nothing reads: it is skipped.
 *
 * Huffman shape (WM_SHAPED), about N * H(list sizes) bits: symbol s has a code of lens[s]
 * bits (Huffman lengths of the list sizes), and level k holds only the symbols whose codes
 * are longer than k: [n, levels | WM_NO_DIR | WM_SHAPED, nsym] [lens, a byte a symbol]
 * then per level [length] [zeros] [bits]. For a code to leave its level's sequence it must
 * end up last there: the codes are assigned depth by depth (assign_codes) so that the codes
 * ending at a depth have the largest reversed prefixes, which is the order a wavelet matrix
 * sorts by. All reads are checked against the buffer.
 *
 * Rank and select need no stored ranks: a reader (vt_wm_reader_new) computes, from the bits,
 * superblock and word ranks and a select sample every 128 occurrences (about half the bits
 * again, in memory), so a select is a sample pair, one compare of 8 word counts and a
 * select in one word: about 12 ns a level (GloVe IVF4096, 20,000 sorted rows: 3.3 -> 2.35 ms
 * against 1024-bit blocks searched between sparser samples).
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "bits.h"

/* The select path is compiled twice: with the popcnt instruction (every AVX2 or AVX-512
 * machine has it) and without (the scalar level, where __builtin_popcountll is a library
 * call); the helpers are always inlined so that each copy gets its own. */
#define WM_INLINE static inline __attribute__((always_inline))
#if VT_X86
#define WM_POPCNT __attribute__((target("popcnt")))
#endif

#define SUPER_WORDS 512 /* words a rank superblock spans: a word's count within it fits 15 bits */
#define SAMPLE 128      /* occurrences between select samples */
#define WINDOW 8        /* words a select compares at once */

static int assign_codes(const uint8_t *lens, int64_t nsym, int levels, uint32_t *codes);

#define WM_NO_DIR 0x100 /* in words[1]: levels without the stored directory */
#define WM_SHAPED 0x200 /* in words[1]: a code length a symbol, levels of their own lengths */

static int64_t bit_words(int64_t n) { return (n + 63) / 64; }
static int64_t dir_words(int64_t n) { return (n / 1024 + 3) / 2; } /* n/1024 + 2 uint32 entries */
static int64_t level_words(int64_t n, int stored_dir) { return 1 + bit_words(n) + (stored_dir ? dir_words(n) : 0); }

int64_t vt_wm_words(int64_t n, int levels) { return 2 + (int64_t)levels * level_words(n, 0); }

typedef struct {
    int64_t n, zeros, nw;
    const uint64_t *bits;
    const uint32_t *super;   /* ones before superblock s (words [512 s, ...)); see aid_level_size */
    const uint16_t *sub;     /* ones before word w within its superblock */
    const uint32_t *samp[2]; /* word holding the (128 t)-th zero [0] / one [1], then the last word */
} wm_level;

int vt_wm_build(const uint32_t *symbols, int64_t n, int levels, uint64_t *words, int64_t nwords) {
    if (n < 0 || levels < 0 || levels > 32 || nwords < vt_wm_words(n, levels)) return -1;
    for (int64_t i = 0; i < n; i++)
        if (levels < 32 && (symbols[i] >> levels)) return -2;
    memset(words, 0, sizeof(uint64_t) * (size_t)vt_wm_words(n, levels));
    words[0] = (uint64_t)n;
    words[1] = (uint64_t)levels | WM_NO_DIR;
    uint32_t *cur = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1)), *next = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
    if (!cur || !next) {
        free(cur);
        free(next);
        return -3;
    }
    memcpy(cur, symbols, sizeof(uint32_t) * (size_t)n);
    for (int k = 0; k < levels; k++) {
        uint64_t *base = words + 2 + k * level_words(n, 0);
        uint64_t *bits = base + 1;
        int shift = levels - 1 - k;
        int64_t zeros = 0;
        for (int64_t i = 0; i < n; i++) {
            if ((cur[i] >> shift) & 1) bits[i / 64] |= 1ull << (i % 64);
            else zeros++;
        }
        base[0] = (uint64_t)zeros;
        int64_t z = 0, o = zeros;
        for (int64_t i = 0; i < n; i++) next[((cur[i] >> shift) & 1) ? o++ : z++] = cur[i];
        uint32_t *t = cur;
        cur = next;
        next = t;
    }
    free(cur);
    free(next);
    return 0;
}

/* The Huffman shape: words needed for symbols coded with code lengths lens (nsym symbols),
 * or -1 when a symbol has no code or lies outside the alphabet. */
int64_t vt_wm_shaped_words(const uint32_t *symbols, int64_t n, const uint8_t *lens, int64_t nsym, int levels) {
    if (n < 0 || nsym < 0 || nsym > (1ll << 32) || levels < 0 || levels > 32) return -1;
    int64_t longer[33] = {0}; /* longer[k]: symbols with a code longer than k */
    for (int64_t i = 0; i < n; i++) {
        if ((int64_t)symbols[i] >= nsym || !lens[symbols[i]] || lens[symbols[i]] > levels) return -1;
        longer[lens[symbols[i]] - 1]++;
    }
    int64_t words = 3 + (nsym + 7) / 8;
    for (int k = levels - 1; k >= 0; k--) longer[k] += longer[k + 1];
    for (int k = 0; k < levels; k++) words += 2 + bit_words(longer[k]);
    return words;
}

int vt_wm_build_shaped(const uint32_t *symbols, int64_t n, const uint8_t *lens, int64_t nsym, int levels,
                       uint64_t *words, int64_t nwords) {
    int64_t need = vt_wm_shaped_words(symbols, n, lens, nsym, levels);
    if (need < 0 || nwords < need || n > (1ll << 31)) return -1;
    memset(words, 0, sizeof(uint64_t) * (size_t)need);
    words[0] = (uint64_t)n;
    words[1] = (uint64_t)levels | WM_NO_DIR | WM_SHAPED;
    words[2] = (uint64_t)nsym;
    memcpy(words + 3, lens, (size_t)nsym);
    uint32_t *codes = malloc(sizeof(uint32_t) * (size_t)(nsym ? nsym : 1));
    uint32_t *cur = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1)), *next = malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
    int rc = codes && cur && next ? assign_codes(lens, nsym, levels, codes) : -3;
    if (!rc) memcpy(cur, symbols, sizeof(uint32_t) * (size_t)n);
    int64_t m = n, at = 3 + (nsym + 7) / 8;
    for (int k = 0; k < levels && !rc; k++) {
        uint64_t *bits = words + at + 2;
        int64_t zeros = 0, ends = 0;
        for (int64_t i = 0; i < m; i++) {
            uint32_t s = cur[i];
            if ((codes[s] >> (lens[s] - 1 - k)) & 1) bits[i / 64] |= 1ull << (i % 64);
            else zeros++;
            ends += lens[s] == k + 1;
        }
        words[at] = (uint64_t)m;
        words[at + 1] = (uint64_t)zeros;
        at += 2 + bit_words(m);
        int64_t z = 0, o = zeros;
        for (int64_t i = 0; i < m; i++) next[((codes[cur[i]] >> (lens[cur[i]] - 1 - k)) & 1) ? o++ : z++] = cur[i];
        for (int64_t i = m - ends; i < m; i++) /* the codes that end here are last (assign_codes) */
            if (lens[next[i]] != k + 1) rc = -4;
        m -= ends;
        uint32_t *t = cur;
        cur = next;
        next = t;
    }
    if (!rc && m) rc = -4;
    free(codes);
    free(cur);
    free(next);
    return rc;
}

/* The aid: what rank and select need, computed from the bits when an index is opened (never
 * read from a file), about half the bits again, in memory only. Per level of n bits (nw
 * words, z zeros): super[nsuper] (ones before each superblock of 512 words), sub[nw + 8]
 * (uint16, two a uint32: ones before word w since its superblock's start, the last count
 * repeated past the end so that an 8-word window may run over it), samp1[ones / 128 + 2],
 * samp0[z / 128 + 2] (the word holding every 128th one / zero, then the last word). A
 * select reads a sample pair, compares the 8 word counts after the first sample at once
 * and selects in the word: no search loop, whose varying trip count the branch predictor
 * missed about once a select. */
static int64_t aid_nsuper(int64_t nw) { return (nw + WINDOW) / SUPER_WORDS + 2; }
static int64_t aid_nsamp(int64_t count) { return count / SAMPLE + 2; }
static int64_t aid_level_size(int64_t n, int64_t zeros) {
    int64_t nw = bit_words(n);
    return aid_nsuper(nw) + (nw + WINDOW + 1) / 2 + aid_nsamp(n - zeros) + aid_nsamp(zeros);
}

/* Where each level lies, checked against the buffer (fixed shape: every level n long). */
typedef struct {
    int64_t n, nsym;
    int levels, shaped;
    const uint8_t *lens;      /* shaped: each symbol's code length, 0 when absent */
    const uint64_t *base[32]; /* level k: [zeros] [bits] */
    int64_t len[32];          /* level k's length */
} wm_layout;

static int wm_open(const uint64_t *words, int64_t nwords, wm_layout *o) {
    if (nwords < 2 || words[0] > (1ull << 31)) return -1;
    uint64_t flags = words[1] & ~(uint64_t)0xff;
    if ((words[1] & 0xff) > 32 || (flags & ~(uint64_t)(WM_NO_DIR | WM_SHAPED))) return -1;
    o->n = (int64_t)words[0];
    o->levels = (int)(words[1] & 0xff);
    o->shaped = (flags & WM_SHAPED) != 0;
    o->nsym = 0;
    o->lens = NULL;
    if (!o->shaped) {
        int64_t stride = level_words(o->n, !(flags & WM_NO_DIR));
        if (2 + o->levels * stride > nwords) return -1;
        for (int k = 0; k < o->levels; k++) {
            o->base[k] = words + 2 + k * stride;
            o->len[k] = o->n;
            if (o->base[k][0] > (uint64_t)o->n) return -1; /* more zeros than bits */
        }
        return 0;
    }
    if (nwords < 3 || words[2] > (1ull << 32)) return -1;
    o->nsym = (int64_t)words[2];
    o->lens = (const uint8_t *)(words + 3);
    int64_t at = 3 + (o->nsym + 7) / 8;
    for (int k = 0; k < o->levels; k++) {
        if (at + 2 > nwords) return -1;
        uint64_t lk = words[at];
        if (lk > (uint64_t)(k ? o->len[k - 1] : o->n) || (k == 0 && lk != (uint64_t)o->n)) return -1;
        o->len[k] = (int64_t)lk;
        o->base[k] = words + at + 1;
        if (o->base[k][0] > lk) return -1; /* more zeros than bits */
        at += 2 + bit_words(o->len[k]);
    }
    return at > nwords ? -1 : 0;
}

static int64_t level_zeros(const wm_layout *o, int k) { return (int64_t)o->base[k][0]; } /* <= len[k]: wm_open */

/* Codes from code lengths, depth by depth: the children of the depth t - 1 internal nodes,
 * in the order a wavelet matrix leaves them at level t (the newest bit first, then the
 * parent's order), largest first; the first L_t are the codes of length t (to the symbols
 * of that length in index order), the next ones the internal nodes. -1 if the lengths do
 * not fit (Kraft) or pass `levels`. */
static int assign_codes(const uint8_t *lens, int64_t nsym, int levels, uint32_t *codes) {
    int64_t count[34] = {0}, first[34] = {0}, deeper = 0;
    for (int64_t s = 0; s < nsym; s++) {
        if (lens[s] > levels) return -1;
        count[lens[s]]++;
    }
    for (int t = 1; t <= levels; t++) deeper += count[t];
    for (int t = 1; t <= 33; t++) first[t] = first[t - 1] + count[t - 1];
    uint32_t *cur = malloc(sizeof(uint32_t) * (size_t)(nsym + 1)), *nxt = malloc(sizeof(uint32_t) * (size_t)(nsym + 1));
    uint32_t *bylen = malloc(sizeof(uint32_t) * (size_t)(nsym + 1)); /* the symbols by length, in index order */
    int rc = cur && nxt && bylen ? 0 : -3;
    int64_t ni = 1;
    if (cur) cur[0] = 0;
    for (int64_t s = 0; s < nsym && !rc; s++) bylen[first[lens[s]]++] = (uint32_t)s; /* leaves first[t] at t's end */
    for (int t = 1; t <= levels && !rc; t++) {
        if (count[t] > 2 * ni) {
            rc = -1;
            break;
        }
        deeper -= count[t];
#define CHILD(i) ((i) < ni ? (cur[(i)] << 1 | 1u) : (cur[(i) - ni] << 1))
        for (int64_t leaf = 0; leaf < count[t]; leaf++) codes[bylen[first[t] - count[t] + leaf]] = CHILD(leaf);
        int64_t nint = 2 * ni - count[t] < deeper ? 2 * ni - count[t] : deeper;
        for (int64_t i = 0; i < nint; i++) nxt[i] = CHILD(count[t] + i);
#undef CHILD
        uint32_t *tmp = cur;
        cur = nxt;
        nxt = tmp;
        ni = nint;
    }
    for (int64_t s = 0; s < nsym && !rc; s++)
        if (!lens[s]) codes[s] = 0;
    free(cur);
    free(nxt);
    free(bylen);
    return rc;
}

static int64_t aid_total(const wm_layout *o) {
    int64_t size = o->nsym;
    for (int k = 0; k < o->levels; k++) size += aid_level_size(o->len[k], level_zeros(o, k));
    return size;
}

/* One level's aid (layout: aid_level_size) from its bits; -2 if its zeros count disagrees.
 * The sample due next, occurrence 128 t with t = ceil(count before the word / 128), is set
 * to every word in turn: the last word to set it is the one holding it (a word holds at
 * most 64 bits, so never two samples of a kind). No chain of compares a word, no branch but
 * the superblock loop's: opening a reader 1.10-1.30x against counters advanced by compares.
 * The slot is clamped, as the header's zero count may not be the bits'. */
WM_INLINE int level_aid_core(const uint64_t *bits, int64_t n, int64_t zeros, uint32_t *at) {
    const int64_t nw = bit_words(n), nsuper = aid_nsuper(nw), ns1 = aid_nsamp(n - zeros), ns0 = aid_nsamp(zeros);
    uint32_t *super = at;
    uint16_t *sub = (uint16_t *)(super + nsuper);
    uint32_t *samp1 = super + nsuper + (nw + WINDOW + 1) / 2, *samp0 = samp1 + ns1;
    const uint64_t last1 = (uint64_t)ns1 - 1, last0 = (uint64_t)ns0 - 1;
    int64_t ones = 0, sb = 0;
    for (int64_t s0 = 0; s0 < nw; s0 += SUPER_WORDS) {
        const int64_t end = s0 + SUPER_WORDS < nw ? s0 + SUPER_WORDS : nw;
        super[s0 / SUPER_WORDS] = (uint32_t)(sb = ones);
        for (int64_t w = s0; w < end; w++) {
            uint64_t word = bits[w];
            if (w == nw - 1 && (n & 63)) word &= (1ull << (n & 63)) - 1; /* nothing past n */
            uint64_t t1 = ((uint64_t)ones + SAMPLE - 1) / SAMPLE, t0 = ((uint64_t)(64 * w - ones) + SAMPLE - 1) / SAMPLE;
            sub[w] = (uint16_t)(ones - sb);
            samp1[t1 < last1 ? t1 : last1] = (uint32_t)w;
            samp0[t0 < last0 ? t0 : last0] = (uint32_t)w;
            ones += __builtin_popcountll(word);
        }
    }
    for (int64_t w = nw; w < nw + WINDOW; w++) { /* the window's run past the end */
        if (w % SUPER_WORDS == 0) super[w / SUPER_WORDS] = (uint32_t)(sb = ones);
        sub[w] = (uint16_t)(ones - sb);
    }
    for (int64_t s = (nw + WINDOW - 1) / SUPER_WORDS + 1; s < nsuper; s++) super[s] = (uint32_t)ones;
    if (zeros != n - ones) return -2;
    const uint64_t nw1 = nw ? (uint64_t)nw - 1 : 0;
    for (uint64_t t = ((uint64_t)ones + SAMPLE - 1) / SAMPLE; t <= last1; t++) samp1[t] = (uint32_t)nw1; /* then the last word */
    for (uint64_t t = ((uint64_t)zeros + SAMPLE - 1) / SAMPLE; t <= last0; t++) samp0[t] = (uint32_t)nw1;
    return 0;
}

static int level_aid_generic(const uint64_t *bits, int64_t n, int64_t zeros, uint32_t *at) {
    return level_aid_core(bits, n, zeros, at);
}

#if VT_X86
WM_POPCNT static int level_aid_popcnt(const uint64_t *bits, int64_t n, int64_t zeros, uint32_t *at) {
    return level_aid_core(bits, n, zeros, at);
}
#endif

static int level_aid(const uint64_t *bits, int64_t n, int64_t zeros, uint32_t *at) {
#if VT_X86
    if (vt_simd_level() != VT_SCALAR) return level_aid_popcnt(bits, n, zeros, at);
#endif
    return level_aid_generic(bits, n, zeros, at);
}

typedef struct {
    int64_t n, nsym;
    int levels, shaped;
    const uint8_t *lens;
    const uint32_t *codes;
    wm_level lv[32];
} wm_view;

/* The aid of every level (and, shaped, the codes after them) into aid[aid_total], and the view
 * that reads the levels through it; -2 when a level's zero count disagrees with its bits. */
static int wm_aid(const wm_layout *o, uint32_t *aid, wm_view *w) {
    w->n = o->n;
    w->levels = o->levels;
    w->shaped = o->shaped;
    w->nsym = o->nsym;
    w->lens = o->lens;
    uint32_t *at = aid;
    for (int k = 0; k < o->levels; k++) {
        wm_level *lv = &w->lv[k];
        const int64_t n = o->len[k], zeros = level_zeros(o, k), nw = bit_words(n), nsuper = aid_nsuper(nw);
        if (level_aid(o->base[k] + 1, n, zeros, at)) return -2;
        lv->n = n;
        lv->nw = nw;
        lv->zeros = zeros;
        lv->bits = o->base[k] + 1;
        lv->super = at;
        lv->sub = (const uint16_t *)(at + nsuper);
        lv->samp[1] = at + nsuper + (nw + WINDOW + 1) / 2;
        lv->samp[0] = lv->samp[1] + aid_nsamp(n - zeros);
        at += aid_level_size(n, zeros);
    }
    w->codes = at;
    return o->shaped && assign_codes(o->lens, o->nsym, o->levels, at) ? -2 : 0;
}

/* A symbol's code (MSB first) and length; -1 outside the alphabet. */
static inline int sym_code(const wm_view *w, uint32_t symbol, uint32_t *code, int *len) {
    if (!w->shaped) {
        if (w->levels < 32 && (symbol >> w->levels)) return -1;
        *code = symbol;
        *len = w->levels;
        return 0;
    }
    if ((int64_t)symbol >= w->nsym || w->lens[symbol] > w->levels) return -1;
    *code = w->codes[symbol];
    *len = w->lens[symbol];
    return 0;
}

static inline int64_t rank1(const wm_level *lv, int64_t p) { /* ones in [0, p), 0 <= p <= n */
    int64_t r = (int64_t)lv->super[p / 64 / SUPER_WORDS] + lv->sub[p / 64];
    if (p & 63) r += vt_popcount_swar(lv->bits[p / 64] & ((1ull << (p & 63)) - 1)); /* no library call */
    return r;
}

/* A select in three steps, so that a batch can issue each step's loads for all its rows
 * before it needs any (each step reads what the previous one found: a sample pair, then the
 * word counts, then the word):
 *   sel_sample: the words the j-th one (bit = 1) or zero (bit = 0) lies between;
 *   sel_word: the word holding it and its rank there; sel_in_word: its position.
 * No step checks its input: a reader's selects stay inside the ranges its starts checked
 * (vt_wm_reader_new), where the aid, made from these bits, is exact. The checks a step
 * made were a fifth of the selects' time (GloVe IVF4096, 10,240 sorted rows: 1.25x). */
typedef struct {
    int64_t j, lo, hi;
} sel_state;

WM_INLINE void sel_sample(const wm_level *lv, int bit, int64_t j, sel_state *s) {
    s->j = j;
    s->hi = lv->samp[bit][(uint64_t)j / SAMPLE + 1];
    s->lo = lv->samp[bit][(uint64_t)j / SAMPLE];
    __builtin_prefetch(lv->sub + s->lo);
}

/* Ones before (bit = 1) or zeros before (bit = 0) a point with `ones` ones among `total` bits,
 * without a branch on the bit: m is all ones for a zero bit. */
WM_INLINE int64_t count_of(int64_t ones, int64_t total, int64_t m) { return (total & m) + ((ones ^ m) - m); }

/* Of 8 consecutive words of one superblock, the first `off` bits into it, how many after the
 * first have a count before them (ones, or zeros: m all ones) <= left: a loop, or (vec, x86)
 * one SSE2 compare of the 8. The counts grow, so this is the word holding occurrence left.
 * 128 occurrences span about 4 words where both kinds are common: 8 words, not 16, made the
 * selects 1.07-1.10x (GloVe, synthetic 1M IVF4096, AVX-512 and AVX2); samples every 64
 * occurrences on top of that were 0.93-1.0x. */
WM_INLINE int word_in_window(const uint16_t *sub, int64_t off, int64_t left, int64_t m, int vec) {
#if VT_X86
    if (vec) {
        const __m128i vm = _mm_set1_epi16((short)m), lim = _mm_set1_epi16((short)left);
        const __m128i bits = _mm_add_epi16(_mm_set1_epi16((short)off), _mm_setr_epi16(0, 64, 128, 192, 256, 320, 384, 448));
        __m128i a = _mm_loadu_si128((const __m128i *)sub);
        a = _mm_add_epi16(_mm_and_si128(bits, vm), _mm_sub_epi16(_mm_xor_si128(a, vm), vm));
        int above = _mm_movemask_epi8(_mm_cmpgt_epi16(a, lim));
        return 7 - __builtin_popcount((unsigned)above) / 2; /* the first count is <= left */
    }
#endif
    int i = 0;
    for (int t = 1; t < WINDOW; t++) i += count_of(sub[t], off + 64 * t, m) <= left;
    return i;
}

WM_INLINE int64_t count_before_word(const wm_level *lv, int64_t w, int64_t m) {
    return count_of((int64_t)lv->super[(uint64_t)w / SUPER_WORDS] + lv->sub[w], 64 * w, m);
}

WM_INLINE int64_t sel_word(const wm_level *lv, int bit, sel_state *s, int vec) {
    int64_t lo = s->lo, j = s->j, m = (int64_t)bit - 1, w;
    if (s->hi - lo < WINDOW && (uint64_t)lo % SUPER_WORDS <= SUPER_WORDS - WINDOW) { /* the usual case: one compare */
        int64_t sb = (int64_t)((uint64_t)lo / SUPER_WORDS), off = 64 * (int64_t)((uint64_t)lo % SUPER_WORDS);
        int64_t left = j - count_of(lv->super[sb], 64 * SUPER_WORDS * sb, m); /* < 2^15 in the window */
        w = lo + word_in_window(lv->sub + lo, off, left, m, vec);
        s->j = left - count_of(lv->sub[w], 64 * (int64_t)((uint64_t)w % SUPER_WORDS), m);
    } else { /* a sparse stretch, or the window would leave the superblock: the last word in [lo, hi] whose count is <= j */
        for (int64_t span = s->hi - lo, step; span > 0; span -= step) {
            step = (span + 1) / 2;
            lo = count_before_word(lv, lo + step, m) <= j ? lo + step : lo;
        }
        w = lo;
        s->j = j - count_before_word(lv, w, m);
    }
    __builtin_prefetch(lv->bits + w);
    return w;
}

/* The r-th set bit of x by BMI2's pdep (a deposit of bit r onto x's set bits), for the copy
 * compiled for it: written in assembly, as the intrinsic cannot be inlined into helpers that
 * the other copies share. */
WM_INLINE int select64_pdep(uint64_t x, int r) {
#if VT_X86
    uint64_t one = 1ull << r, at;
    __asm__("pdep %2, %1, %0" : "=r"(at) : "r"(one), "r"(x));
    return __builtin_ctzll(at);
#else
    return vt_select64(x, r);
#endif
}

WM_INLINE int64_t sel_in_word(const wm_level *lv, int bit, int64_t w, int64_t left, int vec) {
    uint64_t word = lv->bits[w] ^ ((uint64_t)bit - 1); /* the bits, or their complement: no branch on a coin flip */
    return w * 64 + (vec >= 2 ? select64_pdep(word, (int)left) : vt_select64(word, (int)left));
}

/* The lists sym[a, b), whose codes share their first k bits, lie at [p, end) of level k:
 * each node of the code tree is ranked once (two ranks), its lists partitioned by their
 * next bit (an MSD radix sort as it goes), where one descent a list ranked each of its
 * levels again (0.5 ms at IVF4096, 1 % of a search that opened the index). */
typedef struct {
    uint32_t sym, code; /* a list and its code, aligned to the top of 32 bits: bit k is bit 31 - k */
    int len;
} wm_leaf;

static int starts_below(const wm_view *w, wm_leaf *leaf, int64_t a, int64_t b, int k, int64_t p, int64_t end,
                        int64_t *starts, int64_t *counts) {
    if (a == b) return 0;
    if (leaf[a].len == k) { /* a leaf: its code is nobody's prefix */
        if (b - a != 1) return -1;
        starts[leaf[a].sym] = p;
        counts[leaf[a].sym] = end - p;
        return 0;
    }
    if (k >= w->levels || end > w->lv[k].n || p > end) return -1;
    int64_t m = a; /* the lists whose next bit is 0 first: a branch-free Lomuto pass (the bits are coin flips) */
    for (int64_t i = a; i < b; i++) {
        wm_leaf t = leaf[i];
        if (t.len <= k) return -1;
        leaf[i] = leaf[m];
        leaf[m] = t;
        m += !((t.code << k) >> 31);
    }
    const wm_level *lv = &w->lv[k];
    int64_t rp = rank1(lv, p), re = rank1(lv, end);
    if (starts_below(w, leaf, a, m, k + 1, p - rp, end - re, starts, counts)) return -1;
    return starts_below(w, leaf, m, b, k + 1, lv->zeros + rp, lv->zeros + re, starts, counts);
}

/* Where each list starts below its last level, and its length (starts[l], counts[l], l < nlist):
 * the lists' codes looked up once (a lookup a list and level was a third of opening a reader). */
static int wm_starts(const wm_view *w, int64_t nlist, int64_t *starts, int64_t *counts) {
    wm_leaf *leaf = malloc(sizeof(wm_leaf) * (size_t)(nlist ? nlist : 1));
    if (!leaf) return -3;
    int64_t coded = 0;
    for (int64_t l = 0; l < nlist; l++) {
        uint32_t code;
        int len;
        if (sym_code(w, (uint32_t)l, &code, &len)) {
            free(leaf);
            return -1;
        }
        if (w->shaped && !len) { /* no code: an empty list */
            starts[l] = counts[l] = 0;
            continue;
        }
        leaf[coded++] = (wm_leaf){(uint32_t)l, len ? code << (32 - len) : 0, len};
    }
    int rc = starts_below(w, leaf, 0, coded, 0, 0, w->n, starts, counts);
    free(leaf);
    return rc;
}

/* A wavelet matrix opened for selects: the aid, each list's start below its last level and
 * its length, all computed from the words (which it reads in place: they must outlive it)
 * and owned here, so that no caller can hand a select an aid or a start of other bits. */
struct vt_wm_reader {
    wm_view w;
    uint32_t *aid;
    int64_t nlist;
    int64_t *starts, *offsets; /* offsets[l]: the rows before list l (its length: offsets[l + 1] - offsets[l]) */
    int fast_pdep;             /* vt_cpu_fast_pdep(), asked once */
};

void vt_wm_reader_free(vt_wm_reader *r) {
    if (!r) return;
    free(r->aid);
    free(r->starts);
    free(r->offsets);
    free(r);
}

vt_wm_reader *vt_wm_reader_new(const uint64_t *words, int64_t nwords, int64_t nlist, int64_t *counts, int *err) {
    wm_layout o;
    *err = -1;
    if (nlist < 1 || nlist > 0x100000000ll || wm_open(words, nwords, &o)) return NULL;
    vt_wm_reader *r = calloc(1, sizeof *r);
    if (r) {
        r->nlist = nlist;
        r->aid = malloc(sizeof(uint32_t) * (size_t)(aid_total(&o) + 1));
        r->starts = malloc(sizeof(int64_t) * (size_t)nlist);
        r->offsets = malloc(sizeof(int64_t) * (size_t)(nlist + 1));
    }
    *err = !r || !r->aid || !r->starts || !r->offsets ? -3 : wm_aid(&o, r->aid, &r->w);
    if (!*err) *err = wm_starts(&r->w, nlist, r->starts, counts);
    if (*err) {
        vt_wm_reader_free(r);
        return NULL;
    }
    r->offsets[0] = 0;
    for (int64_t l = 0; l < nlist; l++) r->offsets[l + 1] = r->offsets[l] + counts[l];
    r->fast_pdep = vt_cpu_fast_pdep();
    return r;
}

#define WM_LANES 256 /* rows taken level by level together, so their loads overlap (against 64: 1.02-1.04x; 32: 0.96x) */

WM_INLINE int select_rows_core(const vt_wm_reader *rd, const int64_t *rows, int64_t count, int64_t *positions,
                               int vec) {
    const wm_view *w = &rd->w;
    const int64_t *offsets = rd->offsets, nlist = rd->nlist;
    int64_t prev_row = 0, prev_list = 0; /* offsets[0] = 0 <= every row */
    for (int64_t t0 = 0; t0 < count; t0 += WM_LANES) {
        int lanes = count - t0 < WM_LANES ? (int)(count - t0) : WM_LANES;
        int64_t pos[WM_LANES];
        uint32_t code[WM_LANES];
        int len[WM_LANES], order[WM_LANES], deeper[34] = {0}; /* deeper[k]: lanes with codes longer than k */
        for (int i = 0; i < lanes; i++) {
            int64_t r = rows[t0 + i], lo = 0;
            if (r < 0 || r >= offsets[nlist]) return -1;
            if (r >= prev_row) { /* rows in order (a search's): the list by a walk, O(rows + lists) a call */
                for (lo = prev_list; offsets[lo + 1] <= r;) lo++;
            } else
                vt_lists_of_rows(offsets, nlist, &r, 1, &lo);
            prev_row = r;
            prev_list = lo;
            sym_code(w, (uint32_t)lo, &code[i], &len[i]); /* a list with rows has a code (wm_starts) */
            pos[i] = rd->starts[lo] + r - offsets[lo];
            deeper[len[i]]++;
        }
        /* the lanes longest code first (a counting sort), so that the lanes a level holds
           are a prefix of `order`: no per-lane test of the code length */
        for (int k = 32; k >= 0; k--) deeper[k] += deeper[k + 1];
        for (int i = 0; i < lanes; i++) order[--deeper[len[i]]] = i; /* leaves deeper[k] = lanes longer than k */
        for (int k = w->levels - 1; k >= 0; k--) { /* the lanes in lockstep up the levels, a select step at a time */
            const wm_level *lv = &w->lv[k];
            const int active = deeper[k];
            sel_state st[WM_LANES];
            int64_t word[WM_LANES];
            int bit[WM_LANES];
            for (int a = 0; a < active; a++) {
                int i = order[a];
                bit[a] = (code[i] >> (len[i] - 1 - k)) & 1;
                sel_sample(lv, bit[a], pos[i] - (lv->zeros & -(int64_t)bit[a]), &st[a]);
            }
            for (int a = 0; a < active; a++) word[a] = sel_word(lv, bit[a], &st[a], vec);
            for (int a = 0; a < active; a++) pos[order[a]] = sel_in_word(lv, bit[a], word[a], st[a].j, vec);
        }
        for (int i = 0; i < lanes; i++) positions[t0 + i] = pos[i];
    }
    return 0;
}

static int select_rows_generic(const vt_wm_reader *rd, const int64_t *rows, int64_t count, int64_t *positions) {
    return select_rows_core(rd, rows, count, positions, 0);
}

#if VT_X86
WM_POPCNT static int select_rows_popcnt(const vt_wm_reader *rd, const int64_t *rows, int64_t count,
                                        int64_t *positions) {
    return select_rows_core(rd, rows, count, positions, 1);
}

/* With a fast pdep (vt_cpu_fast_pdep: not AMD before Zen 3), at the AVX2 level too: every
 * AVX-512 CPU has one. At the AVX2 level on this Xeon, pdep made the selects 1.4x as fast. */
__attribute__((target("popcnt,bmi2"))) static int select_rows_bmi2(const vt_wm_reader *rd, const int64_t *rows,
                                                                  int64_t count, int64_t *positions) {
    return select_rows_core(rd, rows, count, positions, 2);
}
#endif

static int select_rows(const void *ctx, const int64_t *rows, int64_t count, uint64_t *out) {
    const vt_wm_reader *rd = ctx;
    int64_t *positions = (int64_t *)out;
#if VT_X86
    if (vt_simd_level() == VT_AVX512 || (vt_simd_level() == VT_AVX2 && rd->fast_pdep))
        return select_rows_bmi2(rd, rows, count, positions);
    if (vt_simd_level() != VT_SCALAR) return select_rows_popcnt(rd, rows, count, positions);
#endif
    return select_rows_generic(rd, rows, count, positions);
}

/* Ids (ranks) of rows of an inverted file whose lists have the reader's lengths: row r of
 * list l is occurrence r - offsets[l] of symbol l, at bottom position starts[l] + that; -1
 * for a row < 0 (a search's empty slot). Rows are selected in order (vt_rows_in_order): a
 * list's occurrences sit together at every level and nearby rows read nearby words (10,240
 * rows of GloVe IVF4096: 2.8 ms in a search's order, 1.4 sorted). */
int vt_wm_reader_rows(const vt_wm_reader *rd, const int64_t *rows, int64_t count, int64_t *positions) {
    return vt_rows_in_order(rows, count, rd->offsets[rd->nlist], (uint64_t *)positions, select_rows, rd);
}

/* One level's stable partition of what its positions hold, from position p on (c0 and c1: where
 * the next value of each bit goes): the values at bit-0 positions to [0, zeros) in order, the
 * others to [zeros, n). The reader checked the zero count against the bits, so neither run
 * passes its end. The scalar reference. */
static void partition_from(const uint64_t *bits, int64_t n, int64_t p, int64_t c0, int64_t c1, const uint32_t *cur,
                           uint32_t *next) {
    while (p < n) {
        uint64_t word = bits[p / 64] >> (p % 64);
        int64_t end = n - p < 64 - p % 64 ? n - p : 64 - p % 64;
        for (int64_t t = 0; t < end; t++) { /* a coin flip a position: a conditional move, no branch */
            int64_t b = (int64_t)((word >> t) & 1), at = c0 + ((c1 - c0) & -b); /* the compiler branched on ?: */
            next[at] = cur[p + t];
            c0 += 1 - b;
            c1 += b;
        }
        p += end;
    }
}

#if VT_X86
/* 16 positions a step: each run's values packed by a compress, stored masked to their count
 * (decode_all 1.5-2x the scalar pass: 96-129 M ids/s, GloVe 200k and synthetic 1M). */
VT_TARGET_AVX512 static void partition_avx512(const uint64_t *bits, int64_t n, int64_t zeros, const uint32_t *cur,
                                              uint32_t *next) {
    int64_t c0 = 0, c1 = zeros, p = 0;
    for (; p + 16 <= n; p += 16) {
        __mmask16 ones = (__mmask16)(bits[p / 64] >> (p % 64));
        __m512i v = _mm512_loadu_si512(cur + p);
        int k1 = __builtin_popcount((unsigned)ones), k0 = 16 - k1;
        _mm512_mask_storeu_epi32(next + c0, (__mmask16)((1u << k0) - 1), _mm512_maskz_compress_epi32((__mmask16)~ones, v));
        _mm512_mask_storeu_epi32(next + c1, (__mmask16)((1u << k1) - 1), _mm512_maskz_compress_epi32(ones, v));
        c0 += k0;
        c1 += k1;
    }
    partition_from(bits, n, p, c0, c1, cur, next);
}
#endif

static void partition_level(const uint64_t *bits, int64_t n, int64_t zeros, const uint32_t *cur, uint32_t *next) {
#if VT_X86
    if (vt_simd_level() == VT_AVX512) {
        partition_avx512(bits, n, zeros, cur, next);
        return;
    }
#endif
    partition_from(bits, n, 0, 0, zeros, cur, next);
}

/* Every row's rank (out[r] for the reader's rows): the levels' stable partitions applied to
 * 0 .. n-1, a pass a level, leave each list's ranks together and in order where its start
 * says (a code that ends at depth d is final after level d - 1, in the buffer that level
 * wrote, past the positions the deeper levels rewrite). O(n) a level, sequential, where a
 * select a row and level reads three scattered words. -3: no memory. */
int vt_wm_reader_decode_all(const vt_wm_reader *rd, int64_t *out) {
    const wm_view *w = &rd->w;
    const int64_t n = w->n;
    uint32_t *buf[2] = {malloc(sizeof(uint32_t) * (size_t)(n ? n : 1)), malloc(sizeof(uint32_t) * (size_t)(n ? n : 1))};
    if (!buf[0] || !buf[1]) {
        free(buf[0]);
        free(buf[1]);
        return -3;
    }
    for (int64_t i = 0; i < n; i++) buf[0][i] = (uint32_t)i; /* n <= 2^31 (wm_open) */
    for (int k = 0; k < w->levels; k++)
        partition_level(w->lv[k].bits, w->lv[k].n, w->lv[k].zeros, buf[k & 1], buf[(k + 1) & 1]);
    for (int64_t l = 0; l < rd->nlist; l++) {
        int64_t count = rd->offsets[l + 1] - rd->offsets[l];
        uint32_t code;
        int len;
        if (!count || sym_code(w, (uint32_t)l, &code, &len)) continue; /* a list with rows has a code (wm_starts) */
        const uint32_t *final = buf[len & 1] + rd->starts[l];
        for (int64_t j = 0; j < count; j++) out[rd->offsets[l] + j] = final[j];
    }
    free(buf[0]);
    free(buf[1]);
    return 0;
}

