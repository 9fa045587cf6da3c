/* Result collectors: what a scan does with the distances it computes, kept apart from how
 * they are computed. Top-k heaps live in the caller's arrays; radius results grow per query
 * and are sorted and copied out at the end. */
#include <stdlib.h>
#include "vtool.h"
#include "internal.h"

vt_collector *vt_topk_collector(int64_t nq, int64_t k, float *dist, int64_t *pos) {
    if (nq < 0 || k <= 0) return NULL;
    vt_collector *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->nq = nq;
    c->k = k;
    c->hd = dist;
    c->hi = pos;
    vt_heap_init(dist, pos, nq, k);
    return c;
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

/* Sift-down for a heap ordered "worse on top" over parallel arrays (heap sort of a list). */
static void sift(float *d, int64_t *p, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && vt_worse(d[l], p[l], d[w], p[w])) w = l;
        if (r < n && vt_worse(d[r], p[r], d[w], p[w])) w = r;
        if (w == i) return;
        float td = d[i];
        int64_t tp = p[i];
        d[i] = d[w];
        p[i] = p[w];
        d[w] = td;
        p[w] = tp;
        i = w;
    }
}

static void sort_results(float *d, int64_t *p, int64_t n) {
    for (int64_t i = n / 2 - 1; i >= 0; i--) sift(d, p, n, i);
    for (int64_t end = n - 1; end > 0; end--) {
        float td = d[0];
        int64_t tp = p[0];
        d[0] = d[end];
        p[0] = p[end];
        d[end] = td;
        p[end] = tp;
        sift(d, p, end, 0);
    }
}

int vt_collector_finish(vt_collector *c) {
    if (!c) return -1;
    if (!c->radius_mode) {
        vt_heap_sort(c->hd, c->hi, c->nq, c->k);
        return 0;
    }
    for (int64_t q = 0; q < c->nq; q++) sort_results(c->lists[q].d, c->lists[q].p, c->lists[q].n);
    return 0;
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
    if (c->lists) {
        for (int64_t q = 0; q < c->nq; q++) {
            free(c->lists[q].d);
            free(c->lists[q].p);
        }
        free(c->lists);
    }
    free(c);
}
