/* Private helpers shared by the native sources (not part of the cffi API). */
#ifndef VTOOL_INTERNAL_H
#define VTOOL_INTERNAL_H
#include <stdatomic.h>
#include <stdint.h>
#include "vtool.h"

#if defined(__x86_64__) || defined(_M_X64)
#define VT_X86 1
#include <immintrin.h>
#else
#define VT_X86 0
#endif

enum { VT_SCALAR = 0, VT_AVX2 = 1, VT_AVX512 = 2 };

int vt_cpu_fast_pdep(void); /* dispatch.c: BMI2 whose pdep is not microcode (not AMD before Zen 3) */

/* radix.c: a codec's reader of rows in order (count rows >= 0, in order; results into out,
 * which may be the rows' own memory: a reader reads a row before it writes that row's
 * result), and the call that gives it a search's rows in order and puts the results back. */
typedef int (*vt_rows_fn)(const void *ctx, const int64_t *rows, int64_t count, uint64_t *out);
int vt_rows_in_order(const int64_t *rows, int64_t count, int64_t bound, uint64_t *out, vt_rows_fn get,
                     const void *ctx);

#define VT_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define VT_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

#if VT_X86
/* Sum of the 8 lanes of an AVX register. */
VT_TARGET_AVX2 static inline float vt_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* Rows [begin, end) of probed list l, checked: 0, or -2 (l past nlist) / -3 (bad offsets).
 * l < 0 (fewer lists than nprobe) gives an empty range. */
static inline int vt_list_range(const int64_t *list_offsets, int64_t nlist, int64_t l, int64_t *begin,
                                int64_t *end) {
    *begin = *end = 0;
    if (l < 0) return 0;
    if (l >= nlist) return -2;
    *begin = list_offsets[l];
    *end = list_offsets[l + 1];
    return *begin < 0 || *end < *begin ? -3 : 0;
}

/* The lists holding rows of an inverted file (lists[t]: list_offsets[l] <= rows[t] <
 * list_offsets[l + 1], the last such l past empty lists), every row inside [0,
 * list_offsets[nlist]): binary searches whose steps are conditional moves, taken for all the
 * rows together so that their loads overlap (one search is a chain of dependent loads, and
 * rows in result order are coin flips to a branch). */
#define VT_ROW_BATCH 32 /* rows a caller searches together */
static inline void vt_lists_of_rows(const int64_t *list_offsets, int64_t nlist, const int64_t *rows, int64_t count,
                                    int64_t *lists) {
    for (int64_t t = 0; t < count; t++) lists[t] = 0;
    for (int64_t span = nlist - 1, step; span > 0; span -= step) {
        step = (span + 1) / 2;
        for (int64_t t = 0; t < count; t++) lists[t] += step & -(int64_t)(list_offsets[lists[t] + step] <= rows[t]);
    }
}

/* (distance, id) order: is a worse than b? Ties go to the smaller id. */
static inline int vt_worse(float da, int64_t ia, float db, int64_t ib) {
    return da > db || (da == db && ia > ib);
}

/* Replace the top (worst) of a max-heap of size k and restore the heap. */
static inline void vt_heap_replace_top(float *hd, int64_t *hi, int64_t k, float d, int64_t id) {
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        float wd = d;
        int64_t wi = id;
        if (l < k && vt_worse(hd[l], hi[l], wd, wi)) { w = l; wd = hd[l]; wi = hi[l]; }
        if (r < k && vt_worse(hd[r], hi[r], wd, wi)) { w = r; }
        if (w == i) break;
        hd[i] = hd[w];
        hi[i] = hi[w];
        i = w;
    }
    hd[i] = d;
    hi[i] = id;
}

/* Offer one candidate to a heap: kept only when better than the current worst. */
static inline void vt_heap_push(float *hd, int64_t *hi, int64_t k, float d, int64_t id) {
    if (vt_worse(hd[0], hi[0], d, id)) vt_heap_replace_top(hd, hi, k, d, id);
}

/* Ascending (distance, id), ties to the smaller id: for a few entries (a probe's lists, a
 * short top-k). */
static inline void vt_insertion_sort(float *d, int64_t *p, int64_t n) {
    for (int64_t j = 1; j < n; j++) {
        float v = d[j];
        int64_t id = p[j], i = j;
        for (; i > 0 && vt_worse(d[i - 1], p[i - 1], v, id); i--) {
            d[i] = d[i - 1];
            p[i] = p[i - 1];
        }
        d[i] = v;
        p[i] = id;
    }
}

/* The lanes of a SIMD compare that passed, pushed in lane order (each checked again: the
 * heap's worst moves as they go in), so the heap sees the same pushes as a scalar loop. */
static inline void vt_push_masked(float *h, int64_t *ids, int64_t k, const float *dd, unsigned mask, int64_t id0) {
    for (; mask; mask &= mask - 1) {
        int t = __builtin_ctz(mask);
        if (dd[t] <= h[0]) vt_heap_push(h, ids, k, dd[t], id0 + t);
    }
}

/* collect.c: a collector takes results query by query (positions, minimised distances). */
typedef struct {
    float *d;
    int64_t *p;
    int64_t n, cap;
} vt_rlist;

struct vt_collector {
    int radius_mode;
    int ordered; /* top-k: each query's results sorted at the end (0: a shortlist to re-rank) */
    int64_t nq, k;
    float *hd; /* top-k: the caller's arrays, nq x k (a heap per query, or the reservoir's output) */
    int64_t *hi;
    /* top-k with a reservoir (k >= VT_RESERVOIR_K): cap = 2k slots a query, filled up to rn[q]
       with results <= rthr[q]; when full, the k best stay and rthr[q] becomes the worst of them */
    int64_t cap, *rn, *rp;
    float *rd, *rthr;
    float radius;
    vt_rlist *lists; /* radius: one growable list per query */
};

/* From this k on, a top-k collector appends to a reservoir instead of pushing into a heap: a
 * search whose first lists fill the top-k (a shortlist of 40 for RFlat) pays an append a
 * candidate instead of a sift through the heap. */
#define VT_RESERVOIR_K 20

int vt_rlist_grow(vt_rlist *r);
int vt_collector_finish_queries(vt_collector *c, int64_t q0, int64_t n);
void vt_reservoir_shrink(vt_collector *c, int64_t q);
void vt_collector_drop_reservoir(vt_collector *c);

/* The distance a result must not exceed to be kept for query q. */
static inline float vt_collector_threshold(const vt_collector *c, int64_t q) {
    return c->radius_mode ? c->radius : c->cap ? c->rthr[q] : c->hd[q * c->k];
}

static inline void vt_reservoir_push(vt_collector *c, int64_t q, float d, int64_t pos) {
    if (!(d <= c->rthr[q])) return;
    int64_t at = q * c->cap + c->rn[q];
    c->rd[at] = d;
    c->rp[at] = pos;
    if (++c->rn[q] == c->cap) vt_reservoir_shrink(c, q);
}

/* Offer one result; 0, or -4 when a radius list cannot grow. */
static inline int vt_collector_push(vt_collector *c, int64_t q, float d, int64_t pos) {
    if (!c->radius_mode) {
        if (c->cap)
            vt_reservoir_push(c, q, d, pos);
        else
            vt_heap_push(c->hd + q * c->k, c->hi + q * c->k, c->k, d, pos);
        return 0;
    }
    if (!(d <= c->radius)) return 0;
    vt_rlist *r = c->lists + q;
    if (r->n == r->cap && vt_rlist_grow(r)) return -4;
    r->d[r->n] = d;
    r->p[r->n++] = pos;
    return 0;
}

/* Which of dist[0..16) are <= t, a bit each: four SSE2 compares (every x86-64 has them), so
 * that the scan of a run costs a compare per 16 results where a scalar compare, a branch
 * and the reload of the threshold each took about 7 cycles (a sixth of an IVF-PQ16 scan). */
static inline unsigned vt_le_mask16(const float *dist, float t) {
#if VT_X86
    const __m128 vt = _mm_set1_ps(t);
    unsigned m = 0;
    for (int i = 0; i < 4; i++) m |= (unsigned)_mm_movemask_ps(_mm_cmple_ps(_mm_loadu_ps(dist + 4 * i), vt)) << (4 * i);
    return m;
#else
    unsigned m = 0;
    for (int i = 0; i < 16; i++) m |= (unsigned)(dist[i] <= t) << i;
    return m;
#endif
}

/* Offer a run of n results at positions pos0.. The mode is tested once; runs of 16 are
 * screened against the threshold at once (a threshold only falls, so the screen keeps every
 * result the one-by-one test would take, and that test still decides, in the same order). */
static inline int vt_collector_run(vt_collector *c, int64_t q, const float *dist, int64_t n, int64_t pos0) {
    int64_t j = 0;
    if (!c->radius_mode && c->cap) {
        for (; j + 16 <= n; j += 16)
            for (unsigned m = vt_le_mask16(dist + j, c->rthr[q]); m; m &= m - 1) {
                const int64_t t = j + __builtin_ctz(m);
                vt_reservoir_push(c, q, dist[t], pos0 + t);
            }
        for (; j < n; j++) vt_reservoir_push(c, q, dist[j], pos0 + j);
        return 0;
    }
    if (!c->radius_mode) {
        const int64_t k = c->k;
        float *h = c->hd + q * k;
        int64_t *hi = c->hi + q * k;
        for (; j + 16 <= n; j += 16) vt_push_masked(h, hi, k, dist + j, vt_le_mask16(dist + j, h[0]), pos0 + j);
        for (; j < n; j++)
            if (dist[j] <= h[0]) vt_heap_push(h, hi, k, dist[j], pos0 + j);
        return 0;
    }
    const float radius = c->radius;
    for (int64_t j = 0; j < n; j++)
        if (dist[j] <= radius && vt_collector_push(c, q, dist[j], pos0 + j)) return -4;
    return 0;
}

/* A job's n items (queries) shared by the threads that run it: each claims the next batch,
 * so the work is done whatever number of threads come, and whenever they come. On several
 * threads a batch is a share of what is left (left / 2 threads, between least and most):
 * batches shrink towards the end and the threads finish together (a last batch of 250
 * queries left one thread idle for 1-2 ms of a 10 ms search). */
typedef struct {
    _Atomic int64_t next;
    int64_t n, threads, least, most;
} vt_batches;

static inline void vt_batches_init(vt_batches *b, int64_t n, int64_t threads, int64_t least, int64_t most) {
    atomic_init(&b->next, 0);
    b->n = n;
    b->threads = threads;
    b->most = most < 1 ? 1 : most;
    b->least = least < 1 ? 1 : least > b->most ? b->most : least;
}

/* The next batch: its first item in *first, its size returned (0 when none is left). */
static inline int64_t vt_batch_claim(vt_batches *b, int64_t *first) {
    int64_t at = atomic_load_explicit(&b->next, memory_order_relaxed), size;
    do {
        if (at >= b->n) return 0;
        size = b->threads > 1 ? (b->n - at) / (2 * b->threads) : b->most;
        size = size < b->least ? b->least : size > b->most ? b->most : size;
        if (size > b->n - at) size = b->n - at;
    } while (!atomic_compare_exchange_weak_explicit(&b->next, &at, at + size, memory_order_relaxed,
                                                    memory_order_relaxed));
    *first = at;
    return size;
}

/* No batch is claimed after this (a thread failed: the others stop at their next claim). */
static inline void vt_batches_stop(vt_batches *b) {
    atomic_store_explicit(&b->next, b->n, memory_order_relaxed);
}

/* rankset.c: the ROC decoder's sorted set of 32-bit ids: insert the g-th value missing from
 * the set and learn its rank (blocks counted with SIMD compares at the level in use). */
typedef struct vt_rankset {
    int flat_ok, flat;             /* values below 2^31: lists up to RS_FLAT_MAX may be flat; this one is */
    int64_t size;                  /* values in the flat list */
    uint32_t *flat_keys, *flat_values; /* per value, in insertion order: e - t, e */
    uint32_t **blocks, *pool;      /* blocks in order, pointing into the pool */
    uint32_t *key, *cum;           /* per block: e_t - t of its last value; values before it (whole vectors) */
    int64_t *sizes, nblocks, maxblocks, cap, used;
    int64_t (*insert_gap)(struct vt_rankset *s, uint32_t g); /* this list's kernel */
    int64_t (*flat_kernel)(struct vt_rankset *s, uint32_t g);
    int64_t (*block_kernel)(struct vt_rankset *s, uint32_t g);
} vt_rankset;
int vt_rankset_init(vt_rankset *s, int64_t n, uint64_t universe);
void vt_rankset_reset(vt_rankset *s, int64_t n);
void vt_rankset_free(vt_rankset *s);
/* Insert the g-th value not in the set (below 2^32) and return its rank t (the value is g + t);
 * -1: more values than the set was made for. */
static inline int64_t vt_rankset_insert_gap(vt_rankset *s, uint32_t g) {
    return s->insert_gap(s, g);
}
int64_t vt_rankset_read(const vt_rankset *s, uint64_t *out);

/* codes.c: a min/max scalar quantizer (SQ8, SQ4) scans with the query prepared once per call,
 * so the inner loop is one multiply-add per component: L2 uses xs = x - vmin - step/2 and
 * |xs - c * step|^2; IP uses xs = x * step, bias + <xs, c>. vt_sq_run prepares the query and
 * calls the kernel of the SIMD level in use (kernels indexed by VT_SCALAR, VT_AVX2, VT_AVX512). */
typedef void (*vt_sq_kernel)(const float *xs, const uint8_t *codes, int64_t n, int64_t d, const float *step,
                             int metric, float bias, float *out);
void vt_sq_run(const float *x, const uint8_t *codes, int64_t n, int64_t d, const float *vmin, const float *step,
               int metric, float *out, const vt_sq_kernel kernels[3]);

/* lut.c: codebooks transposed once, then tables built from them. */
void vt_lut_transpose(int kind, const float *codebooks, int64_t d, int64_t m, int64_t ksub, float *out);
void vt_lut_from_transposed(int kind, const float *qv, int64_t d, const float *cbt, int64_t m, int64_t ksub,
                            int metric, float *lut);

/* distance.c: squared L2 (metric 0) or inner product (1) from x to rows[j] of y (row j when
 * rows is NULL); rows are not checked (vt_dist_rows checks them). */
void vt_dist_rows_raw(const float *x, const float *y, const int32_t *rows, int64_t ny, int64_t d, int metric,
                      float *out);
void vt_dist_rows64_raw(const float *x, const float *y, const int64_t *rows, int64_t ny, int64_t d, int metric,
                        float *out);

/* scan.c: minimised distances from the scanner's query to the codes of rows nodes[0..n)
 * (unchecked: the graph search checks its nodes). */
void vt_scanner_nodes(const vt_scanner *s, const uint8_t *codes, const int32_t *nodes, int64_t n, float *out);

/* argmin.c: index of the smallest distance in a row of inner products (first one on
 * ties), the distance itself in *best; -1 for an empty row. */
int64_t vt_argmin_ip_row(const float *ip, int64_t nb, float qnorm, const float *bnorm, int metric,
                         float *best);

#endif
