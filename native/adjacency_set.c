/* VT_ADJ_ROC: a neighbour list coded as a set near its information bound, log2 C(N, n) bits,
 * with no per-list state to store.
 *
 * Bits-back ANS (the paper's ROC) must store its final state with every list: 32-64 bits a
 * node, most of the gain at degree 16. Here the sorted list is arithmetic-coded gap by gap
 * under the law of a uniform n-subset of [0, N): with r ids left among the u positions after
 * the previous one, the next gap g has survival P(gap >= g) ~ (1 - g/u')^r, u' = u - (r-1)/2
 * (the smallest of r uniform draws; close to the exact C(u-g, r) / C(u, r)). Under the exact
 * law every set of n ids costs the same; under this one, a list of n ids costs within a bit
 * or two of the others, so the writer stores one size per length (the longest), and list i
 * sits at the sum of the sizes of the lists before it, as in adjacency.c.
 *
 * Levels. A gap owns a run of "levels", integers in [0, 2^48) read as survival times 2^48.
 * Levels are cut by octave ([2^a, 2^(a+1))) into 16 pieces; a piece's gaps are those whose
 * survival falls in it (bounds from a table of roots of 2 and of 1 + m/16), each with an
 * equal part. The decoder finds the piece from the level's leading bits: one division, no
 * logarithm. Levels below 2^A, the tail, lead to the same cut of the tail's own levels (up to
 * 4 times), so rare far gaps cost what they should. Steps with few positions a gap
 * (u' < 64 r) take levels from the survival itself, gap by gap.
 *
 * Coder: 64-bit range, renormalised bit by bit (range kept in [2^63, 2^64)), carries
 * propagated into the bits already written, ended with the 0-2 bits that pin the final
 * interval, so whatever follows the list (the next list) does not change its decoding. The
 * stream is MSB-first bits over bytes. Levels come from IEEE products and bisection in a fixed
 * order (built with -ffp-contract=off), the same on every machine; libm only guesses.
 *
 * Arbitrary bytes decode to some sorted set inside [0, N) and reads never leave the stream.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "vtool.h"

#define SCALE_BITS 48
#define TOTAL (1ull << SCALE_BITS)
#define MAX_R 255     /* coded lists keep their length in a byte */
#define PART_BITS 4   /* an octave of levels is cut in 16 pieces */
#define PARTS (1 << PART_BITS)
#define DENSE_GAPS 64 /* a step is dense when u' < 64 r: its first pieces would hold a few gaps */
#define MAX_STAGES 4  /* the tail's levels are cut again at most this many times */

/* root2[r][j] = 2^(-j/r), rootm[r][m] = (1 + m/PARTS)^(1/r): where the survival reaches a
 * level, computed once with IEEE products and bisection only. */
static double root2[MAX_R + 1][SCALE_BITS + 1], rootm[MAX_R + 1][PARTS];
static uint8_t tail_floor[MAX_R + 1][64]; /* floor((47 - L) / (r - 1)), L < 64 (see tail_bits) */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static double ipow(double b, int e) {
    double p = 1.0;
    for (;;) {
        if (e & 1) p *= b;
        e >>= 1;
        if (!e) return p;
        b *= b;
    }
}

static double root(double c, int r) { /* the largest y found by bisection with y^r <= c */
    double lo = 0.0, hi = 2.0;
    for (int i = 0; i < 64; i++) {
        double mid = 0.5 * (lo + hi);
        if (ipow(mid, r) <= c) lo = mid;
        else hi = mid;
    }
    return lo;
}

static void tables_init(void) {
    for (int r = 1; r <= MAX_R; r++) {
        double step = root(0.5, r);
        root2[r][0] = 1.0;
        for (int j = 1; j <= SCALE_BITS; j++) root2[r][j] = root2[r][j - 1] * step;
        for (int m = 0; m < PARTS; m++) rootm[r][m] = m ? root(1.0 + (double)m / PARTS, r) : 1.0;
        for (int l = 0; l < 64; l++) tail_floor[r][l] = r > 1 && l < SCALE_BITS ? (uint8_t)((SCALE_BITS - 1 - l) / (r - 1)) : 0;
    }
}

/* The lowest octave cut into pieces, 2^A (below it, the tail). A piece needs at least as many
 * levels as gaps. One at octave a spans at most u'/(16 r) + 1 gaps (the survival's slope), so
 * 2^A >= u'/r + 16; the tail spans at most u' 2^((A-48)/r) + 1, so with L = bit width of u',
 * (r - 1) A >= r (L + 1) - 48, i.e. A >= L + 1 - floor((47 - L) / (r - 1)) (tail_floor). */
static inline int tail_bits(double up, int64_t r) {
    int a = 64 - __builtin_clzll((uint64_t)(up / (double)r) + 16), log_up = 64 - __builtin_clzll((uint64_t)up + 1);
    if (r > 1 && log_up + 1 - tail_floor[r][log_up] > a) a = log_up + 1 - tail_floor[r][log_up];
    return a < 12 ? 12 : a > SCALE_BITS ? SCALE_BITS : a;
}

/* The law of the next gap with r ids left among u positions, in one stage of its levels. */
typedef struct {
    double up, inv_up;   /* u' = u - (r-1)/2 and its inverse */
    double mass;         /* dense steps: TOTAL - (g_max + 1) */
    double reach;        /* u' times the survival at this stage's top, 2^((A-48) stage) */
    const double *r2, *rm; /* root2[r], rootm[r] */
    int64_t r, g_max;    /* gaps 0..g_max */
    int64_t g_top;       /* this stage's first gap */
    int64_t pieces;      /* pieces of a stage, the tail last */
    int tail_bits, dense, stage;
} gap_law;

static inline void law_init(gap_law *s, int64_t universe, int64_t prev, int64_t r) {
    int64_t u = universe - 1 - prev; /* positions prev + 1 .. universe - 1 */
    s->r = r;
    s->g_max = u - r;
    s->up = (double)u - 0.5 * (double)(r - 1);
    s->inv_up = 1.0 / s->up;
    s->mass = (double)(TOTAL - (uint64_t)(s->g_max + 1));
    s->reach = s->up;
    s->r2 = root2[r], s->rm = rootm[r];
    s->g_top = 0;
    s->tail_bits = tail_bits(s->up, r);
    s->pieces = PARTS * (SCALE_BITS - s->tail_bits) + 1;
    s->dense = s->up < DENSE_GAPS * (double)r;
    s->stage = 0;
}

/* Dense steps: TOTAL times the survival at g, rounded down, plus one level per gap left, so
 * every gap has one: TOTAL at 0, 0 past g_max, strictly decreasing between. */
static inline uint64_t dense_survival(const gap_law *s, int64_t g) {
    if (g <= 0) return TOTAL;
    if (g > s->g_max) return 0;
    return (uint64_t)(ipow((s->up - (double)g) * s->inv_up, (int)s->r) * s->mass) + (uint64_t)(s->g_max + 1 - g);
}

/* The gap, rounded to the nearest, where the survival falls to level 2^a (1 + m/PARTS) of this
 * stage (a up to 48, m < PARTS). */
static inline int64_t level_gap(const gap_law *s, int a, int m) {
    if (a >= SCALE_BITS) return s->g_top;
    double g = s->up - s->reach * s->r2[SCALE_BITS - a] * s->rm[m] + 0.5;
    if (!(g > (double)s->g_top)) return s->g_top;
    return g >= (double)(s->g_max + 1) ? s->g_max + 1 : (int64_t)g;
}

/* A piece: levels [qlo, qlo + dq) shared by gaps [g0, g1). */
typedef struct {
    uint64_t qlo, dq;
    int64_t g0, g1;
} piece;

/* Pieces are numbered from the top (level near TOTAL, the stage's first gap): k < PARTS (48 -
 * tail_bits) is octave a = 47 - k / PARTS, part m = PARTS - 1 - k % PARTS; the last
 * (s->pieces - 1) is the tail. */
static inline piece piece_k(const gap_law *s, int64_t k) {
    piece p;
    if (k == s->pieces - 1) {
        p.qlo = 0, p.dq = 1ull << s->tail_bits;
        p.g0 = level_gap(s, s->tail_bits, 0), p.g1 = s->g_max + 1;
        return p;
    }
    int a = SCALE_BITS - 1 - (int)(k / PARTS), m = PARTS - 1 - (int)(k % PARTS);
    p.dq = 1ull << (a - PART_BITS);
    p.qlo = (1ull << a) + (uint64_t)m * p.dq;
    p.g0 = m == PARTS - 1 ? level_gap(s, a + 1, 0) : level_gap(s, a, m + 1);
    p.g1 = level_gap(s, a, m);
    return p;
}

/* Is piece k the tail, coded as one symbol (then the tail's own levels say the gap)? */
static inline int escapes(const gap_law *s, int64_t k) {
    return k == s->pieces - 1 && s->stage < MAX_STAGES - 1;
}

/* Go into the tail's levels. */
static inline void descend(gap_law *s) {
    s->g_top = level_gap(s, s->tail_bits, 0);
    s->reach *= s->r2[SCALE_BITS - s->tail_bits];
    s->stage++;
}

/* Levels [*qb, *qt) of symbol i of piece k: gap g0 + i, each an equal part (the last the
 * remainder), or the whole tail when it escapes. A piece too narrow to hold a gap gives its
 * levels to the symbol at its place, the first of the next piece that has one (below the last
 * gap, to the last). */
static inline void symbol_levels(const gap_law *s, int64_t k, const piece *p, int64_t i, uint64_t *qb, uint64_t *qt) {
    int64_t n = escapes(s, k) ? 1 : p->g1 - p->g0;
    uint64_t f = p->dq / (uint64_t)n;
    if (!f) f = 1; /* never, by tail_bits' bound; kept so that no input divides by zero */
    *qt = p->qlo + p->dq - (uint64_t)i * f;
    *qb = i == n - 1 ? p->qlo : *qt - f;
    if (i == n - 1 && p->g1 == s->g_max + 1) *qb = 0;
    if (i == 0)
        for (int64_t j = k - 1; j >= 0; j--) {
            piece above = piece_k(s, j);
            if (above.g0 != p->g0) break;
            *qt = above.qlo + above.dq;
        }
}

/* Encoder side: the levels of gap g, or of the tail (returns 1: s has gone into the tail). */
static inline int gap_levels(gap_law *s, int64_t g, uint64_t *qb, uint64_t *qt) {
    if (s->dense) {
        *qt = dense_survival(s, g), *qb = dense_survival(s, g + 1);
        return 0;
    }
    int64_t lo = 0, hi = s->pieces - 1; /* the last piece whose g0 <= g */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (piece_k(s, mid).g0 <= g) lo = mid;
        else hi = mid - 1;
    }
    piece p = piece_k(s, lo);
    int tail = escapes(s, lo);
    symbol_levels(s, lo, &p, tail ? 0 : g - p.g0, qb, qt);
    if (tail) descend(s);
    return tail;
}

/* ---- writer: one list into a bit-per-byte buffer (carries ripple back through it) ---- */
typedef struct {
    uint8_t *bit;
    int64_t len, cap;
    uint64_t low, range;
} writer;

static int carry(writer *w) {
    int64_t i = w->len - 1;
    while (i >= 0 && w->bit[i]) w->bit[i--] = 0;
    if (i < 0) return -1;
    w->bit[i] = 1;
    return 0;
}

static int put_bits(writer *w, uint64_t v, int count) { /* the top `count` bits of v */
    if (w->len + count > w->cap) return -1;
    for (int i = 0; i < count; i++) w->bit[w->len++] = (uint8_t)(v >> (63 - i) & 1);
    return 0;
}

static int put_levels(writer *w, uint64_t qb, uint64_t qt) {
    if (qt <= qb || qt > TOTAL) return -1; /* a symbol without levels: the model is broken */
    uint64_t unit = w->range >> SCALE_BITS, add = unit * (TOTAL - qt);
    w->low += add;
    if (w->low < add && carry(w)) return -1;
    w->range = unit * (qt - qb);
    int shift = __builtin_clzll(w->range);
    if (shift) {
        if (put_bits(w, w->low, shift)) return -1;
        w->low <<= shift;
        w->range <<= shift;
    }
    return 0;
}

/* The fewest bits (0-2, range >= 2^63) naming a block of values inside [low, low + range). */
static int finish(writer *w) {
    unsigned __int128 low = w->low, high = low + w->range;
    for (int t = 0; t <= 2; t++) {
        unsigned __int128 unit = (unsigned __int128)1 << (64 - t);
        unsigned __int128 v = (low + unit - 1) / unit;
        if ((v + 1) * unit > high) continue;
        if (v >> t) {
            if (carry(w)) return -1;
            v -= (unsigned __int128)1 << t;
        }
        return t ? put_bits(w, (uint64_t)v << (64 - t), t) : 0;
    }
    return -1;
}

/* Code one sorted list into w (bit per byte); returns its length in bits or < 0. */
static int64_t code_list(writer *w, const int32_t *v, int64_t n, int64_t universe) {
    w->len = 0;
    w->low = 0;
    w->range = ~0ull;
    if (n > MAX_R) return -1;
    int64_t prev = -1;
    for (int64_t j = 0; j < n; j++) {
        if (v[j] <= prev || v[j] >= universe) return -2; /* sorted sets inside the universe */
        gap_law s;
        law_init(&s, universe, prev, n - j);
        uint64_t qb, qt;
        int more;
        do {
            more = gap_levels(&s, v[j] - prev - 1, &qb, &qt);
            if (put_levels(w, qb, qt)) return -1;
        } while (more);
        prev = v[j];
    }
    if (n && finish(w)) return -1;
    return w->len;
}

static int writer_open(writer *w, int64_t stride) {
    w->cap = (SCALE_BITS * MAX_STAGES + 2) * stride + 64;
    w->bit = malloc((size_t)w->cap);
    return w->bit ? 0 : -4;
}

int vt_adj_roc_lengths(const int32_t *lists, int64_t nlists, int64_t stride, const uint8_t *sizes,
                       int64_t universe, int64_t *bits) {
    pthread_once(&tables_once, tables_init);
    if (nlists < 0 || stride < 0 || universe < 1 || universe > INT32_MAX + 1ll) return -1;
    writer w;
    if (writer_open(&w, stride)) return -4;
    int rc = 0;
    for (int64_t i = 0; i < nlists && !rc; i++) {
        int64_t len = sizes[i] > stride ? -1 : code_list(&w, lists + i * stride, sizes[i], universe);
        if (len < 0) rc = (int)len;
        else bits[i] = len;
    }
    free(w.bit);
    return rc;
}

int vt_adj_roc_encode(const int32_t *lists, int64_t nlists, int64_t stride, const uint8_t *sizes, int64_t universe,
                      const int64_t *pos, uint8_t *bytes, int64_t nbytes) {
    pthread_once(&tables_once, tables_init);
    if (nlists < 0 || stride < 0 || universe < 1 || universe > INT32_MAX + 1ll || nbytes < 0) return -1;
    writer w;
    if (writer_open(&w, stride)) return -4;
    memset(bytes, 0, (size_t)nbytes);
    int rc = 0;
    for (int64_t i = 0; i < nlists && !rc; i++) {
        int64_t len = sizes[i] > stride ? -1 : code_list(&w, lists + i * stride, sizes[i], universe);
        if (len < 0 || pos[i] < 0 || pos[i] + len > nbytes * 8) {
            rc = len < 0 ? (int)len : -1;
            break;
        }
        for (int64_t b = 0; b < len; b++) {
            uint64_t at = (uint64_t)(pos[i] + b);
            if (w.bit[b]) bytes[at >> 3] |= (uint8_t)(0x80u >> (at & 7));
        }
    }
    free(w.bit);
    return rc;
}

/* ---- reader ---- */

/* The 64 bits from bit pos, MSB-first; zeros past the end of the stream. */
static inline uint64_t window(const uint8_t *bytes, uint64_t nbytes, uint64_t pos) {
    uint64_t at = pos >> 3, off = pos & 7, v = 0;
    if (at + 9 <= nbytes) {
        memcpy(&v, bytes + at, 8);
        v = __builtin_bswap64(v);
        return off ? v << off | bytes[at + 8] >> (8 - off) : v;
    }
    for (uint64_t i = 0; i < 8; i++) v = v << 8 | (at + i < nbytes ? bytes[at + i] : 0);
    uint64_t ninth = at + 8 < nbytes ? bytes[at + 8] : 0;
    return off ? v << off | ninth >> (8 - off) : v;
}

/* Dense steps: the gap g with survival(g + 1) <= q < survival(g), guessed from the survival's
 * inverse (libm: a guess only), then checked, by bisection when far off. */
static int64_t dense_gap(const gap_law *s, uint64_t q, uint64_t *qb, uint64_t *qt) {
    double guess = q ? s->up * -expm1(log(((double)q + 0.5) / (double)TOTAL) / (double)s->r) : (double)s->g_max;
    int64_t g = guess < 0 ? 0 : guess > (double)s->g_max ? s->g_max : (int64_t)guess;
    for (int step = 0; step < 4; step++) {
        uint64_t hi = dense_survival(s, g), lo = dense_survival(s, g + 1);
        if (q >= hi) g--;
        else if (q < lo) g++;
        else {
            *qt = hi, *qb = lo;
            return g;
        }
    }
    int64_t a = 0, b = s->g_max; /* the largest g with q < survival(g) */
    while (a < b) {
        int64_t mid = a + (b - a + 1) / 2;
        if (q < dense_survival(s, mid)) a = mid;
        else b = mid - 1;
    }
    *qt = dense_survival(s, a), *qb = dense_survival(s, a + 1);
    return a;
}

/* Decoder side: the symbol whose levels hold q: its gap, or -1 for the tail (s has gone into
 * it). The piece comes from q's leading bits. Arbitrary input may leave q past every level:
 * the last gap is returned. */
static inline int64_t find_symbol(gap_law *s, uint64_t q, uint64_t *qb, uint64_t *qt) {
    if (s->dense) return dense_gap(s, q, qb, qt);
    int64_t k = s->pieces - 1, last = k;
    if (q >= 1ull << s->tail_bits) {
        int a = 63 - __builtin_clzll(q);
        k = PARTS * (SCALE_BITS - 1 - a) + PARTS - 1 - (int64_t)(q >> (a - PART_BITS) & (PARTS - 1));
    }
    piece p = piece_k(s, k);
    int64_t i;
    if (p.g1 == p.g0) { /* a piece without gaps: its levels belong to the symbol at its place */
        while (k < last && p.g0 <= s->g_max && p.g1 == p.g0) p = piece_k(s, ++k);
        while (k > 0 && p.g1 == p.g0) p = piece_k(s, --k); /* below the last gap: back to it */
        i = p.g0 <= s->g_max && q >= p.qlo + p.dq ? 0 : p.g1 - 1 - p.g0;
    } else {
        uint64_t n = (uint64_t)(p.g1 - p.g0), f = p.dq / n ? p.dq / n : 1;
        i = (int64_t)((p.qlo + p.dq - 1 - q) / f);
        if (i > (int64_t)n - 1) i = (int64_t)n - 1;
    }
    if (escapes(s, k)) {
        symbol_levels(s, k, &p, 0, qb, qt);
        descend(s);
        return -1;
    }
    symbol_levels(s, k, &p, i, qb, qt);
    return p.g0 + i;
}

int vt_adj_roc_decode(const uint8_t *bytes, int64_t nbytes, int64_t pos, int64_t n, int64_t universe, int32_t *out) {
    if (n < 0 || n > MAX_R || universe < 1 || universe > INT32_MAX + 1ll || n > universe || pos < 0 ||
        nbytes < 0 || pos > nbytes * 8)
        return -3;
    pthread_once(&tables_once, tables_init);
    uint64_t range = ~0ull, used = 0, x = window(bytes, (uint64_t)nbytes, (uint64_t)pos);
    int64_t prev = -1;
    for (int64_t j = 0; j < n; j++) {
        gap_law s;
        law_init(&s, universe, prev, n - j);
        int64_t g;
        do {
            uint64_t unit = range >> SCALE_BITS, c = x / unit, qb, qt;
            g = find_symbol(&s, c >= TOTAL ? 0 : TOTAL - 1 - c, &qb, &qt);
            x -= unit * (TOTAL - qt); /* arbitrary bytes may leave x out of range: ids stay valid */
            range = unit * (qt - qb);
            int shift = __builtin_clzll(range);
            if (shift) {
                used += (uint64_t)shift;
                range <<= shift;
                x = x << shift | (window(bytes, (uint64_t)nbytes, (uint64_t)pos + used) & ((1ull << shift) - 1));
            }
        } while (g < 0);
        prev += g + 1;
        out[j] = (int32_t)prev;
    }
    return 0;
}
