/* Result collectors: what a scan does with the distances it computes, kept apart from how
 * they are computed. Top-k heaps live in the caller's arrays; radius results grow per query
 * and are sorted and copied out at the end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

vt_collector *vt_topk_collector(int64_t nq, int64_t k, float *dist, int64_t *pos, int ordered) {
    if (nq < 0 || k <= 0 || k > INT64_MAX / 2) return NULL;
    vt_collector *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->nq = nq;
    c->k = k;
    c->hd = dist;
    c->hi = pos;
    c->ordered = ordered;
    vt_heap_init(dist, pos, nq, k);
    if (k >= VT_RESERVOIR_K && nq > 0) {
        c->cap = 2 * k;
        size_t slots = (size_t)nq * (size_t)c->cap;
        c->rd = malloc(sizeof(float) * slots);
        c->rp = malloc(sizeof(int64_t) * slots);
        c->rn = calloc((size_t)nq, sizeof(int64_t));
        c->rthr = malloc(sizeof(float) * (size_t)nq);
        if (!c->rd || !c->rp || !c->rn || !c->rthr) {
            vt_collector_free(c);
            return NULL;
        }
        for (int64_t q = 0; q < nq; q++) c->rthr[q] = INFINITY;
    }
    return c;
}

/* A top-k collector that keeps heaps from here on instead of its reservoirs (a scan that holds
 * larger top-k lists itself, before any result). */
void vt_collector_drop_reservoir(vt_collector *c) {
    free(c->rd);
    free(c->rp);
    free(c->rn);
    free(c->rthr);
    c->rd = c->rthr = NULL;
    c->rp = c->rn = NULL;
    c->cap = 0;
}

vt_collector *vt_radius_collector(int64_t nq, float radius) {
    if (nq < 0) return NULL;
    vt_collector *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->radius_mode = 1;
    c->nq = nq;
    c->radius = radius;
    c->lists = calloc((size_t)(nq ? nq : 1), sizeof(vt_rlist));
    if (!c->lists) {
        free(c);
        return NULL;
    }
    return c;
}

int vt_rlist_grow(vt_rlist *r) {
    int64_t cap = r->cap ? 2 * r->cap : 16;
    float *d = realloc(r->d, sizeof(float) * (size_t)cap);
    if (!d) return -4;
    r->d = d;
    int64_t *p = realloc(r->p, sizeof(int64_t) * (size_t)cap);
    if (!p) return -4;
    r->p = p;
    r->cap = cap;
    return 0;
}

static inline void swap(float *d, int64_t *p, int64_t a, int64_t b) {
    float td = d[a];
    int64_t tp = p[a];
    d[a] = d[b];
    p[a] = p[b];
    d[b] = td;
    p[b] = tp;
}

/* Sift-down for a heap ordered "worse on top" over parallel arrays (heap sort of a list). */
static void sift(float *d, int64_t *p, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && vt_worse(d[l], p[l], d[w], p[w])) w = l;
        if (r < n && vt_worse(d[r], p[r], d[w], p[w])) w = r;
        if (w == i) return;
        swap(d, p, i, w);
        i = w;
    }
}

static void sort_results(float *d, int64_t *p, int64_t n) {
    for (int64_t i = n / 2 - 1; i >= 0; i--) sift(d, p, n, i);
    for (int64_t end = n - 1; end > 0; end--) {
        swap(d, p, 0, end);
        sift(d, p, end, 0);
    }
}

/* Reorder n results so that the k best by (distance, position) come first, in any order
 * (quickselect with a median-of-three pivot; positions are distinct, so no key repeats). */
static void select_best(float *d, int64_t *p, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (vt_worse(d[lo], p[lo], d[mid], p[mid])) swap(d, p, lo, mid);
        if (vt_worse(d[mid], p[mid], d[hi], p[hi])) swap(d, p, mid, hi);
        if (vt_worse(d[lo], p[lo], d[mid], p[mid])) swap(d, p, lo, mid);
        swap(d, p, mid, hi); /* the median of three as the pivot, at hi */
        /* branch-free Lomuto: every element swapped with the first not better than the
           pivot, which advances only past better ones ([lo, at) better, [at, j] not) */
        const float pd = d[hi];
        const int64_t pp = p[hi];
        int64_t at = lo;
        for (int64_t j = lo; j < hi; j++) { /* swap() here measured 2x slower (d[at] reloaded) */
            float x = d[j];
            int64_t xp = p[j];
            d[j] = d[at];
            p[j] = p[at];
            d[at] = x;
            p[at] = xp;
            at += (x < pd) | ((x == pd) & (xp < pp));
        }
        swap(d, p, at, hi);
        if (at == k - 1 || at == k) return;
        if (at < k) lo = at + 1;
        else hi = at - 1;
    }
}

/* Ascending (distance, position): insertion for up to 256 (the k best after a quickselect
 * are partly in order: 100 of them sort in a third of a heap sort's time), else heap sort. */
static void sort_short(float *d, int64_t *p, int64_t n) {
    if (n > 256)
        sort_results(d, p, n);
    else
        vt_insertion_sort(d, p, n);
}

/* Reorder n distinct keys so that a[t] is the t-th smallest, the smaller ones before it. */
static uint64_t nth_key(uint64_t *a, int64_t n, int64_t t) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        uint64_t x;
#define KEY_SWAP(i, j) (x = a[i], a[i] = a[j], a[j] = x)
        if (a[lo] > a[mid]) KEY_SWAP(lo, mid);
        if (a[mid] > a[hi]) KEY_SWAP(mid, hi);
        if (a[lo] > a[mid]) KEY_SWAP(lo, mid);
        KEY_SWAP(mid, hi); /* the median of three as the pivot, at hi */
        const uint64_t pivot = a[hi];
        int64_t at = lo;
        for (int64_t j = lo; j < hi; j++) { /* branch-free Lomuto, as in select_best */
            x = a[j];
            a[j] = a[at];
            a[at] = x;
            at += x < pivot;
        }
        KEY_SWAP(at, hi);
#undef KEY_SWAP
        if (at == t) break;
        if (at < t) lo = at + 1;
        else hi = at - 1;
    }
    return a[t];
}

#define KEY_SCRATCH 4096 /* reservoirs up to this size (k up to 2,048) select on keys on the stack */

/* The k best of n results by (distance, position) moved to the front, in any order; returns
 * the worst of them. A quickselect over one array of keys (the distance's order bits, then
 * the slot) finds the k-th distance t, one branch-free pass keeps what lies below t and the
 * positions tied at t, the smallest of which are kept. */
static float keep_best(float *d, int64_t *p, int64_t n, int64_t k) {
    if (n > KEY_SCRATCH) {
        select_best(d, p, n, k);
        float worst = d[0];
        for (int64_t j = 1; j < k; j++) worst = d[j] > worst ? d[j] : worst;
        return worst;
    }
    uint64_t keys[KEY_SCRATCH];
    for (int64_t j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, d + j, sizeof u);
        u ^= (uint32_t)((int32_t)u >> 31) | 0x80000000u; /* float order as unsigned order (no NaN here) */
        keys[j] = (uint64_t)u << 32 | (uint64_t)j;
    }
    const float t = d[nth_key(keys, n, k - 1) & 0xffffffffu];
    int64_t below = 0, tied = 0;
    for (int64_t j = 0; j < n; j++) { /* keys[] now gathers the tied positions */
        float x = d[j];
        int64_t pj = p[j];
        d[below] = x;
        p[below] = pj;
        keys[tied] = (uint64_t)pj;
        below += x < t;
        tied += x == t;
    }
    int64_t need = k - below; /* 1 <= need <= tied: t is the k-th distance */
    if (tied > need) nth_key(keys, tied, need - 1);
    for (int64_t j = 0; j < need; j++) {
        d[below + j] = t;
        p[below + j] = (int64_t)keys[j];
    }
    return t;
}

void vt_reservoir_shrink(vt_collector *c, int64_t q) {
    float *d = c->rd + q * c->cap;
    int64_t *p = c->rp + q * c->cap;
    c->rthr[q] = keep_best(d, p, c->rn[q], c->k);
    c->rn[q] = c->k;
}

/* Queries q0 .. q0 + n - 1 made final: the k best of each reservoir into the caller's
 * arrays, heaps (if ordered) and radius lists sorted. Threads may finish disjoint ranges. */
int vt_collector_finish_queries(vt_collector *c, int64_t q0, int64_t n) {
    if (!c || q0 < 0 || n < 0 || n > c->nq - q0) return -1;
    if (!c->radius_mode && c->cap) {
        for (int64_t q = q0; q < q0 + n; q++) {
            float *d = c->rd + q * c->cap, *hd = c->hd + q * c->k;
            int64_t *p = c->rp + q * c->cap, *hi = c->hi + q * c->k, got = c->rn[q];
            if (got > c->k) {
                keep_best(d, p, got, c->k);
                got = c->k;
            }
            if (c->ordered) sort_short(d, p, got);
            for (int64_t j = 0; j < got; j++) {
                hd[j] = d[j];
                hi[j] = p[j];
            }
        }
        return 0;
    }
    if (!c->radius_mode) {
        if (c->ordered) vt_heap_sort(c->hd + q0 * c->k, c->hi + q0 * c->k, n, c->k);
        return 0;
    }
    for (int64_t q = q0; q < q0 + n; q++) sort_results(c->lists[q].d, c->lists[q].p, c->lists[q].n);
    return 0;
}

int vt_collector_finish(vt_collector *c) {
    return c ? vt_collector_finish_queries(c, 0, c->nq) : -1;
}

int64_t vt_radius_total(const vt_collector *c) {
    if (!c || !c->radius_mode) return -1;
    int64_t total = 0;
    for (int64_t q = 0; q < c->nq; q++) total += c->lists[q].n;
    return total;
}

int vt_radius_results(const vt_collector *c, int64_t *lims, float *dist, int64_t *pos, int64_t total) {
    if (!c || !c->radius_mode || vt_radius_total(c) != total) return -1;
    int64_t at = 0;
    lims[0] = 0;
    for (int64_t q = 0; q < c->nq; q++) {
        const vt_rlist *r = c->lists + q;
        for (int64_t j = 0; j < r->n; j++) {
            dist[at + j] = r->d[j];
            pos[at + j] = r->p[j];
        }
        at += r->n;
        lims[q + 1] = at;
    }
    return 0;
}

void vt_collector_free(vt_collector *c) {
    if (!c) return;
    free(c->rd);
    free(c->rp);
    free(c->rn);
    free(c->rthr);
    if (c->lists) {
        for (int64_t q = 0; q < c->nq; q++) {
            free(c->lists[q].d);
            free(c->lists[q].p);
        }
        free(c->lists);
    }
    free(c);
}
