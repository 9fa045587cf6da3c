/* HNSW (Malkov & Yashunin): a navigable small-world graph in levels, searched greedily from
 * the top level's entry point down to level 0, where a best-first search keeps the ef best.
 *
 * Nodes are row numbers (int32). Level 0 holds up to 2M neighbours a node, levels >= 1 up
 * to M; a list ends at its first -1. The search takes distances from a scanner (any
 * encoding, scan.c); the build from float32 vectors.
 *
 * The build is deterministic and parallel: nodes are inserted in batches, each batch
 * against the graph as it was before the batch (vt_hnsw_link_new only reads the old graph
 * and writes the new nodes' own lists), then the reverse links are added target by
 * target (vt_hnsw_add_reverse: one caller owns each target). Neither step depends on how
 * the batch is split between threads, so the graph bytes do not depend on the thread count.
 */
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

#define VT_MAX_DEGREE 512 /* level-0 slots: 2M with M <= 256, or NSG's R */

typedef struct {
    float d;
    int32_t id;
} cand;

struct vt_hnsw_ctx {
    uint16_t *visited; /* visited[i] == tag: seen in the current search (16 bits: half the cache) */
    uint16_t tag;
    int64_t n;
    cand *res, *cands, *sel; /* result max-heap, candidate min-heap, a sorted copy */
    int64_t res_cap, cands_cap, sel_cap;
    int32_t *ids;            /* a batch of nodes to score */
    int32_t nbuf[VT_MAX_DEGREE]; /* a decoded level-0 list */
    float *dist;
    int64_t ids_cap, dist_cap;
};

/* Where distances come from: a scanner over codes (search) or float32 rows (build). */
typedef struct {
    const vt_scanner *s;
    const uint8_t *codes;
    const float *vectors;
    const float *x;
    int64_t d;
    int metric;
    int64_t row_bytes;
} source;

#define PREFETCH_BYTES 128 /* of each row about to be read: a random row the hardware cannot guess */

static void score(const source *src, const int32_t *nodes, int64_t n, float *out) {
    const uint8_t *rows = src->s ? src->codes : (const uint8_t *)src->vectors;
    const int64_t span = src->row_bytes < PREFETCH_BYTES ? src->row_bytes : PREFETCH_BYTES;
    for (int64_t j = 0; j < n; j++)
        for (int64_t b = 0; b < span; b += 64) __builtin_prefetch(rows + (int64_t)nodes[j] * src->row_bytes + b);
    if (src->s) vt_scanner_nodes(src->s, src->codes, nodes, n, out);
    else {
        vt_dist_rows_raw(src->x, src->vectors, nodes, n, src->d, src->metric, out);
        if (src->metric == 1)
            for (int64_t j = 0; j < n; j++) out[j] = -out[j];
    }
}

static int grow(void **p, int64_t *cap, int64_t need, size_t size) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return -4;
    *p = q;
    *cap = c;
    return 0;
}

vt_hnsw_ctx *vt_hnsw_ctx_new(int64_t n) {
    vt_hnsw_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n = n;
    c->visited = calloc((size_t)(n ? n : 1), sizeof(uint16_t));
    if (!c->visited) {
        free(c);
        return NULL;
    }
    return c;
}

void vt_hnsw_ctx_free(vt_hnsw_ctx *c) {
    if (!c) return;
    free(c->visited);
    free(c->res);
    free(c->cands);
    free(c->sel);
    free(c->ids);
    free(c->dist);
    free(c);
}

static void new_search(vt_hnsw_ctx *c) {
    if (++c->tag == 0) { /* wrapped: forget every old tag */
        memset(c->visited, 0, sizeof(uint16_t) * (size_t)c->n);
        c->tag = 1;
    }
}

/* ---- heaps of (distance, node): results a max-heap (worst on top), candidates a min-heap ---- */
static int better(cand a, cand b) { return a.d < b.d || (a.d == b.d && a.id < b.id); }

static void sift_up(cand *h, int64_t i, int max_heap) {
    cand v = h[i];
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (max_heap ? !better(h[p], v) : !better(v, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static void sift_down(cand *h, int64_t n, int64_t i, int max_heap) {
    cand v = h[i];
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        cand wv = v;
        if (l < n && (max_heap ? better(wv, h[l]) : better(h[l], wv))) { w = l; wv = h[l]; }
        if (r < n && (max_heap ? better(wv, h[r]) : better(h[r], wv))) { w = r; wv = h[r]; }
        if (w == i) break;
        h[i] = h[w];
        i = w;
    }
    h[i] = v;
}

static int cmp_cand(const void *a, const void *b) {
    cand x = *(const cand *)a, y = *(const cand *)b;
    return better(x, y) ? -1 : better(y, x) ? 1 : 0;
}

/* The writable list of a node of an uncompressed graph (the build), its capacity in *cap;
 * NULL when the node has no such level. */
static int32_t *list_of(const vt_hnsw *g, int64_t node, int64_t level, int64_t *cap) {
    if (level == 0) {
        *cap = g->r0;
        return g->level0 + node * g->r0;
    }
    if (level > g->levels[node]) return NULL;
    *cap = g->m;
    return g->upper + g->upper_offsets[node] + (level - 1) * g->m;
}

/* The neighbour list of node at level (*count entries at most, ending at the first -1); a
 * compressed level 0 is decoded into c->nbuf. NULL when the node has no such level or its
 * coded list is inconsistent (a corrupt graph). */
static const int32_t *neighbours(const vt_hnsw *g, vt_hnsw_ctx *c, int64_t node, int64_t level, int64_t *count) {
    if (level == 0 && g->level0_codec) {
        int64_t n = g->degree[node];
        if (n > g->r0 || vt_adj_decode(g->level0_codec, g->level0_words, g->level0_nbits, g->level0_pos[node], n,
                                          g->n, c->nbuf)) return NULL;
        *count = n;
        return c->nbuf;
    }
    return list_of(g, node, level, count);
}

/* Unvisited neighbours of node at level into c->ids (marked visited); their count, or -3
 * when the list names a node outside the graph or one without that level. */
static int64_t unvisited(const vt_hnsw *g, vt_hnsw_ctx *c, int64_t node, int64_t level) {
    int64_t cap;
    const int32_t *nb = neighbours(g, c, node, level, &cap);
    if (!nb) return -3;
    int64_t k = 0;
    for (int64_t j = 0; j < cap; j++) {
        int32_t v = nb[j];
        if (v < 0) break;
        if (v >= g->n || (level > 0 && g->levels[v] < level)) return -3;
        if (j + 1 < cap && nb[j + 1] >= 0) __builtin_prefetch(c->visited + nb[j + 1]);
        if (c->visited[v] == c->tag) continue;
        c->visited[v] = c->tag;
        c->ids[k++] = v;
    }
    return k;
}

static int reserve(vt_hnsw_ctx *c, int64_t cap) {
    return grow((void **)&c->ids, &c->ids_cap, cap, sizeof(int32_t)) ||
           grow((void **)&c->dist, &c->dist_cap, cap, sizeof(float)) ? -4 : 0;
}

/* Greedy walk at one level: move to the best neighbour while it improves (ef = 1). */
static int greedy(const vt_hnsw *g, const source *src, vt_hnsw_ctx *c, int64_t level, cand *cur) {
    for (int changed = 1; changed;) {
        changed = 0;
        new_search(c);
        int64_t n = unvisited(g, c, cur->id, level);
        if (n < 0) return (int)n;
        score(src, c->ids, n, c->dist);
        for (int64_t j = 0; j < n; j++) {
            cand v = {c->dist[j], c->ids[j]};
            if (better(v, *cur)) {
                *cur = v;
                changed = 1;
            }
        }
    }
    return 0;
}

/* Best-first search of one level from `start`: the ef best found, in c->res (max-heap of
 * *nres entries). */
static int search_level(const vt_hnsw *g, const source *src, vt_hnsw_ctx *c, int64_t level, cand start,
                        int64_t ef, int64_t *nres) {
    if (grow((void **)&c->res, &c->res_cap, ef + 1, sizeof(cand))) return -4;
    new_search(c);
    c->visited[start.id] = c->tag;
    int64_t nr = 0, nc = 0;
    c->res[nr++] = start;
    if (grow((void **)&c->cands, &c->cands_cap, 1, sizeof(cand))) return -4;
    c->cands[nc++] = start;
    while (nc) {
        cand best = c->cands[0];
        if (nr == ef && better(c->res[0], best)) break;
        c->cands[0] = c->cands[--nc];
        if (nc) sift_down(c->cands, nc, 0, 0);
        int64_t n = unvisited(g, c, best.id, level);
        if (n < 0) return (int)n;
        score(src, c->ids, n, c->dist);
        for (int64_t j = 0; j < n; j++) {
            cand v = {c->dist[j], c->ids[j]};
            if (nr == ef && !better(v, c->res[0])) continue;
            if (grow((void **)&c->cands, &c->cands_cap, nc + 1, sizeof(cand))) return -4;
            c->cands[nc] = v;
            sift_up(c->cands, nc++, 0);
            if (nr == ef) {
                c->res[0] = v;
                sift_down(c->res, nr, 0, 1);
            } else {
                c->res[nr] = v;
                sift_up(c->res, nr++, 1);
            }
        }
    }
    *nres = nr;
    return 0;
}

/* Descend from the entry point to level 0 and search it with ef: the results in c->res. */
static int search_graph(const vt_hnsw *g, const source *src, vt_hnsw_ctx *c, int64_t ef, int64_t *nres) {
    *nres = 0;
    if (g->entry < 0 || g->n == 0) return 0;
    if (g->entry >= g->n || g->max_level < 0 || g->levels[g->entry] < g->max_level) return -3;
    if (reserve(c, g->r0 > g->m ? g->r0 : g->m)) return -4;
    cand cur = {0.f, (int32_t)g->entry};
    score(src, &cur.id, 1, &cur.d);
    for (int64_t l = g->max_level; l > 0; l--) {
        int rc = greedy(g, src, c, l, &cur);
        if (rc) return rc;
    }
    return search_level(g, src, c, 0, cur, ef, nres);
}

int vt_hnsw_search(const vt_hnsw *g, int kind, const float *queries, int64_t nq, int64_t d, const uint8_t *codes,
                   int64_t ncodes, int64_t code_size, const float *params, int64_t m, int64_t ksub, int metric, int64_t ef,
                   vt_collector *out) {
    if (nq < 0 || d <= 0 || ef < 1 || !out || out->nq != nq || g->n < 0 || g->m < 1 || g->r0 < 1 || ncodes < g->n ||
        g->r0 > VT_MAX_DEGREE) return -1;
    vt_scanner *s = vt_scanner_new(kind, d, NULL, 0, 0, code_size, params, m, ksub, NULL, 0, metric);
    vt_hnsw_ctx *c = vt_hnsw_ctx_new(g->n);
    int rc = s && c ? 0 : -4;
    source src = {s, codes, NULL, NULL, d, metric, code_size};
    for (int64_t q = 0; q < nq && !rc; q++) {
        vt_scanner_set_query(s, queries + q * d);
        int64_t nres;
        rc = search_graph(g, &src, c, ef, &nres);
        for (int64_t j = 0; j < nres && !rc; j++) rc = vt_collector_push(out, q, c->res[j].d, c->res[j].id);
    }
    vt_scanner_free(s);
    vt_hnsw_ctx_free(c);
    if (!rc) rc = vt_collector_finish(out);
    return rc;
}

/* ---- build ---- */

/* Malkov's heuristic: keep a candidate (nearest first) only when it is closer to the base
 * node than to every neighbour kept so far, up to max_out. cs is sorted; returns the count. */
static int64_t select_neighbours(const source *src, const cand *cs, int64_t n, int64_t max_out, int32_t *out,
                                 float *tmp) {
    int64_t k = 0;
    for (int64_t i = 0; i < n && k < max_out; i++) {
        const float *xi = src->vectors + (int64_t)cs[i].id * src->d;
        vt_dist_rows_raw(xi, src->vectors, out, k, src->d, src->metric, tmp);
        int keep = 1;
        for (int64_t j = 0; j < k && keep; j++) {
            float dij = src->metric == 1 ? -tmp[j] : tmp[j];
            if (dij < cs[i].d) keep = 0;
        }
        if (keep) out[k++] = cs[i].id;
    }
    return k;
}

/* Sorted copy of the result heap in c->sel. */
static int sorted_results(vt_hnsw_ctx *c, int64_t nres) {
    if (grow((void **)&c->sel, &c->sel_cap, nres, sizeof(cand))) return -4;
    memcpy(c->sel, c->res, sizeof(cand) * (size_t)nres);
    qsort(c->sel, (size_t)nres, sizeof(cand), cmp_cand);
    return 0;
}

int vt_hnsw_link_new(vt_hnsw *g, const float *vectors, int64_t d, int metric, const int32_t *nodes, int64_t nb,
                     int64_t ef_construction, vt_hnsw_ctx *c) {
    if (d <= 0 || ef_construction < 1 || !c || c->n < g->n || g->level0_codec) return -1;
    if (g->entry < 0) return 0; /* the first node has nobody to link to */
    if (reserve(c, g->r0 + 1)) return -4;
    float *tmp = malloc(sizeof(float) * (size_t)(g->r0 + 1));
    if (!tmp) return -4;
    int rc = 0;
    for (int64_t b = 0; b < nb && !rc; b++) {
        int64_t p = nodes[b];
        if (p < 0 || p >= g->n) { rc = -2; break; }
        source src = {NULL, NULL, vectors, vectors + p * d, d, metric, d * 4};
        int64_t top = g->levels[p] < g->max_level ? g->levels[p] : g->max_level;
        cand cur = {0.f, (int32_t)g->entry};
        score(&src, &cur.id, 1, &cur.d);
        for (int64_t l = g->max_level; l > top && !rc; l--) rc = greedy(g, &src, c, l, &cur);
        for (int64_t l = top; l >= 0 && !rc; l--) {
            int64_t nres, cap;
            if ((rc = search_level(g, &src, c, l, cur, ef_construction, &nres))) break;
            if ((rc = sorted_results(c, nres))) break;
            int32_t *list = list_of(g, p, l, &cap);
            /* fewer candidates than slots: keep them all (denser lists, as Faiss does) */
            int64_t k = nres < cap ? nres : select_neighbours(&src, c->sel, nres, cap, list, tmp);
            if (nres < cap)
                for (int64_t j = 0; j < nres; j++) list[j] = c->sel[j].id;
            for (int64_t j = k; j < cap; j++) list[j] = -1;
            cur = c->sel[0];
        }
    }
    free(tmp);
    return rc;
}

int64_t vt_hnsw_reverse_pairs(const vt_hnsw *g, const int32_t *nodes, int64_t nb, int64_t level, uint64_t *pairs,
                              int64_t cap) {
    int64_t k = 0;
    if (g->level0_codec) return -1;
    for (int64_t b = 0; b < nb; b++) {
        int64_t p = nodes[b], lcap;
        if (p < 0 || p >= g->n) return -2;
        if (level > g->levels[p]) continue;
        const int32_t *list = list_of(g, p, level, &lcap);
        for (int64_t j = 0; j < lcap && list[j] >= 0; j++) {
            if (k == cap) return -1;
            pairs[k++] = (uint64_t)(uint32_t)list[j] << 32 | (uint32_t)p;
        }
    }
    return k;
}

int vt_hnsw_add_reverse(vt_hnsw *g, const float *vectors, int64_t d, int metric, int64_t level,
                        const uint64_t *pairs, int64_t npairs, vt_hnsw_ctx *c) {
    int rc = 0;
    if (g->level0_codec) return -1;
    float *tmp = NULL;
    int64_t tmp_cap = 0;
    for (int64_t a = 0; a < npairs && !rc;) {
        int64_t t = (int64_t)(pairs[a] >> 32), e = a, cap, cnt = 0;
        while (e < npairs && (int64_t)(pairs[e] >> 32) == t) e++;
        if (t >= g->n) { rc = -2; break; }
        int32_t *list = list_of(g, t, level, &cap);
        if (!list) { rc = -3; break; }
        while (cnt < cap && list[cnt] >= 0) cnt++;
        /* candidates: the list, then the sources not already in it (a mutual link) */
        if (reserve(c, cnt + (e - a)) || grow((void **)&c->sel, &c->sel_cap, cnt + (e - a), sizeof(cand)) ||
            grow((void **)&tmp, &tmp_cap, cnt + (e - a), sizeof(float))) { rc = -4; break; }
        for (int64_t j = 0; j < cnt; j++) c->ids[j] = list[j];
        int64_t total = cnt;
        for (int64_t j = a; j < e; j++) {
            int32_t s_id = (int32_t)(pairs[j] & 0xffffffffu), seen = 0;
            for (int64_t i = 0; i < cnt && !seen; i++) seen = list[i] == s_id;
            if (!seen) c->ids[total++] = s_id;
        }
        if (total <= cap) {
            for (int64_t j = cnt; j < total; j++) list[j] = c->ids[j];
        } else { /* full: keep the heuristic's choice among old and new neighbours */
            source src = {NULL, NULL, vectors, vectors + t * d, d, metric, d * 4};
            score(&src, c->ids, total, c->dist);
            for (int64_t j = 0; j < total; j++) c->sel[j] = (cand){c->dist[j], c->ids[j]};
            qsort(c->sel, (size_t)total, sizeof(cand), cmp_cand);
            int64_t k = select_neighbours(&src, c->sel, total, cap, list, tmp);
            for (int64_t j = k; j < cap; j++) list[j] = -1;
        }
        a = e;
    }
    free(tmp);
    return rc;
}

/* ---- NSG (Fu et al.): one level, linked from a k-NN graph ---- */

int vt_nsg_link(const vt_hnsw *knn, vt_hnsw *g, const float *vectors, int64_t d, int metric, const int32_t *nodes,
                int64_t nb, int64_t search_l, int64_t pool_cap, vt_hnsw_ctx *c) {
    if (d <= 0 || search_l < 1 || pool_cap < 1 || !c || c->n < g->n || knn->n != g->n || knn->entry < 0 ||
        knn->entry >= knn->n || g->level0_codec || knn->level0_codec)
        return -1;
    if (reserve(c, knn->r0 + g->r0 + 1)) return -4;
    float *tmp = malloc(sizeof(float) * (size_t)(g->r0 + 1));
    if (!tmp) return -4;
    int rc = 0;
    for (int64_t b = 0; b < nb && !rc; b++) {
        int64_t p = nodes[b], nres, cap;
        if (p < 0 || p >= g->n) { rc = -2; break; }
        source src = {NULL, NULL, vectors, vectors + p * d, d, metric, d * 4};
        cand start = {0.f, (int32_t)knn->entry};
        score(&src, &start.id, 1, &start.d);
        /* the pool: what a search of the k-NN graph for p finds, and p's own k-NN */
        if ((rc = search_level(knn, &src, c, 0, start, search_l, &nres))) break;
        int64_t k = unvisited(knn, c, p, 0);
        if (k < 0) { rc = (int)k; break; }
        score(&src, c->ids, k, c->dist);
        if (grow((void **)&c->sel, &c->sel_cap, nres + k, sizeof(cand))) { rc = -4; break; }
        int64_t np_ = 0;
        for (int64_t j = 0; j < nres; j++)
            if (c->res[j].id != p) c->sel[np_++] = c->res[j];
        for (int64_t j = 0; j < k; j++)
            if (c->ids[j] != p) c->sel[np_++] = (cand){c->dist[j], c->ids[j]};
        qsort(c->sel, (size_t)np_, sizeof(cand), cmp_cand);
        if (np_ > pool_cap) np_ = pool_cap;
        int32_t *list = list_of(g, p, 0, &cap);
        int64_t kept = select_neighbours(&src, c->sel, np_, cap, list, tmp);
        for (int64_t j = kept; j < cap; j++) list[j] = -1;
    }
    free(tmp);
    return rc;
}
