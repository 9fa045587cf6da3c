/* Scan the probed lists of an inverted file into a collector, whatever the encoding: the
 * scanner (scan.c) computes the distances, the collector (collect.c) keeps the results.
 * Results are row positions; the caller maps the final ones to user ids. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

#define SCAN_CHUNK 512

/* Lookup table of a PQ (sub-vector distances) or RQ (-2<q, codeword>, or -<q, codeword>),
 * from codebooks in their natural layout (transposed here; the scans transpose once). */
void vt_build_lut(int kind, const float *qv, int64_t d, const float *codebooks, int64_t m, int64_t ksub,
                  int metric, float *lut) {
    int64_t size = kind == VT_SCAN_PQ ? m * ksub * (d / m) : m * ksub * d;
    float *cbt = malloc(sizeof(float) * (size_t)(size ? size : 1));
    if (!cbt) return;
    vt_lut_transpose(kind, codebooks, d, m, ksub, cbt);
    vt_lut_from_transposed(kind, qv, d, cbt, m, ksub, metric, lut);
    free(cbt);
}

/* The order a scan takes its units in: the queries by their first probed list (by_pair 0),
 * or every (query, probe) pair, q * nprobe + p, by its list (by_pair 1); stable, a probe
 * outside the lists last. Units sharing a list then scan it one after another while it is
 * in cache, and the results do not depend on the order: each query has its own heap (or
 * reservoir, or radius list) and keeps the best by (distance, row) whatever order its rows
 * come in. NULL (the given order) when out of memory. */
static int64_t *by_list(const int64_t *probes, int64_t nq, int64_t nprobe, int64_t nlist, int by_pair) {
    int64_t units = by_pair ? nq * nprobe : nq, step = by_pair ? 1 : nprobe;
    int64_t *order = malloc(sizeof(int64_t) * (size_t)(units ? units : 1)), *start = calloc((size_t)nlist + 2, sizeof(int64_t));
    if (!order || !start) {
        free(order);
        free(start);
        return NULL;
    }
    for (int64_t u = 0; u < units; u++) {
        int64_t l = probes[u * step];
        start[(l >= 0 && l < nlist ? l : nlist) + 1]++;
    }
    for (int64_t l = 0; l <= nlist; l++) start[l + 1] += start[l];
    for (int64_t u = 0; u < units; u++) {
        int64_t l = probes[u * step];
        order[start[l >= 0 && l < nlist ? l : nlist]++] = u;
    }
    free(start);
    return order;
}

/* A search's arguments and the batches of queries its threads share. */
struct vt_scan_job {
    int kind, metric, by_residual;
    const float *queries, *centroids, *coarse_dist, *params, *precomputed, *terms;
    const uint8_t *codes;
    const int64_t *list_offsets, *probes;
    int64_t nq, d, code_size, nlist, nprobe, m, ksub;
    vt_collector *out;
    int64_t *order;     /* the queries by their first probed list (NULL: as given), batched in this order */
    vt_batches batches; /* of queries */
};
typedef struct vt_scan_job scan_job;

/* The batch of queries at q0 .. q0 + nb_q - 1 of the job's order, in the order by_list gives
 * them. Encodings whose scans need no table a query (flat vectors, scalar quantizers) take
 * the (query, list) pairs by list: a query costs nothing to switch to. PQ and RQ build a table
 * a query, so they take each query whole, the queries by their first list. */
static int scan_batch(const scan_job *j, vt_scanner *s, float *buf, int64_t q0, int64_t nb_q) {
    const int by_pair = j->kind != VT_SCAN_PQ && j->kind != VT_SCAN_RQ;
    const int64_t nprobe = j->nprobe, units = by_pair ? nb_q * nprobe : nb_q, d = j->d;
    const int64_t *qs = j->order ? j->order + q0 : NULL; /* the batch's queries, or q0 .. */
    int64_t *gathered = qs && nprobe ? malloc(sizeof(int64_t) * (size_t)(nb_q * nprobe)) : NULL;
    if (qs && nprobe && !gathered) return -4;
    for (int64_t i = 0; gathered && i < nb_q; i++)
        memcpy(gathered + i * nprobe, j->probes + qs[i] * nprobe, sizeof(int64_t) * (size_t)nprobe);
    const int64_t *probes = gathered ? gathered : j->probes + q0 * nprobe;
    /* with fewer units than a quarter of the lists (a few queries: one query's search) they
       seldom share a list, and the sort's pass over the lists would cost more than it saves */
    int64_t *order = nprobe && units > 1 && units >= j->nlist / 4 ? by_list(probes, nb_q, nprobe, j->nlist, by_pair)
                                                                   : NULL;
    int rc = 0;
    for (int64_t t = 0; t < units && !rc; t++) {
        int64_t u = order ? order[t] : t, i = by_pair ? u / nprobe : u, q = qs ? qs[i] : q0 + i;
        int64_t p0 = by_pair ? u % nprobe : 0, p1 = by_pair ? p0 + 1 : nprobe;
        vt_scanner_set_query(s, j->queries + q * d);
        for (int64_t p = p0; p < p1 && !rc; p++) {
            int64_t l = probes[i * nprobe + p], begin, end;
            if ((rc = vt_list_range(j->list_offsets, j->nlist, l, &begin, &end)) || begin == end) continue;
            if ((rc = vt_scanner_set_list(s, l, j->coarse_dist ? j->coarse_dist[q * nprobe + p] : NAN))) break;
            for (int64_t j0 = begin; j0 < end && !rc; j0 += SCAN_CHUNK) {
                int64_t n = end - j0 < SCAN_CHUNK ? end - j0 : SCAN_CHUNK;
                vt_scanner_run(s, j->codes + j0 * j->code_size, n, j->terms ? j->terms + j0 : NULL, buf);
                rc = vt_collector_run(j->out, q, buf, n, j0);
            }
        }
    }
    free(order);
    free(gathered);
    for (int64_t i = 0; qs && i < nb_q && !rc; i++) rc = vt_collector_finish_queries(j->out, qs[i], 1);
    return rc || qs ? rc : vt_collector_finish_queries(j->out, q0, nb_q);
}

int vt_scan_job_run(vt_scan_job *j) {
    if (!j) return -1;
    vt_scanner *s = vt_scanner_new(j->kind, j->d, j->centroids, j->nlist, j->by_residual, j->code_size, j->params,
                                   j->m, j->ksub, j->precomputed, j->terms != NULL, j->metric);
    float *buf = malloc(sizeof(float) * SCAN_CHUNK);
    int rc = s && buf ? 0 : -4;
    for (int64_t q0, size; !rc && (size = vt_batch_claim(&j->batches, &q0));) rc = scan_batch(j, s, buf, q0, size);
    if (rc) vt_batches_stop(&j->batches);
    free(buf);
    if (s) vt_scanner_free(s);
    return rc;
}

void vt_scan_job_free(vt_scan_job *j) {
    if (j) free(j->order);
    free(j);
}

/* Queries in one batch for one thread (the lists shared across all of them); for more,
 * batches shrinking from nq / 2 threads (vt_batches), none under SCAN_BATCH_MIN queries, cut
 * from the queries ordered by their first probed list: each thread's batch then holds a range
 * of the lists, which it reads once for all its queries, where batches of queries as given
 * each read nearly every list (MiniLM IVF256,Flat, nprobe 1, two threads: 17.9 -> 10.3 ms,
 * no faster than one thread before: the scan waits on memory). */
#define SCAN_BATCH_MIN 16

int vt_scan_job_new(int kind, const float *queries, int64_t nq, int64_t d, const float *centroids, int by_residual,
                    const uint8_t *codes, int64_t code_size, const int64_t *list_offsets, int64_t nlist,
                    const int64_t *probes, const float *coarse_dist, int64_t nprobe, const float *params, int64_t m,
                    int64_t ksub, const float *precomputed, const float *terms, int metric, vt_collector *out,
                    int threads, vt_scan_job **job) {
    *job = NULL;
    if (nq < 0 || d <= 0 || nprobe < 0 || code_size <= 0 || !out || out->nq != nq || threads < 1) return -1;
    scan_job *j = calloc(1, sizeof *j);
    if (!j) return -4;
    *j = (scan_job){.kind = kind, .metric = metric, .by_residual = by_residual, .queries = queries,
                    .centroids = centroids, .coarse_dist = coarse_dist, .params = params,
                    .precomputed = precomputed, .terms = terms, .codes = codes, .list_offsets = list_offsets,
                    .probes = probes, .nq = nq, .d = d, .code_size = code_size, .nlist = nlist, .nprobe = nprobe,
                    .m = m, .ksub = ksub, .out = out};
    j->order = threads > 1 && nprobe && nq > SCAN_BATCH_MIN ? by_list(probes, nq, nprobe, nlist, 0) : NULL;
    vt_batches_init(&j->batches, nq, threads, SCAN_BATCH_MIN, nq);
    *job = j;
    return 0;
}

int vt_list_terms(const float *precomputed, int64_t m, int64_t ksub, const uint8_t *codes, int64_t code_size,
                  const int64_t *list_offsets, int64_t nlist, const int64_t *lists, int64_t nlists, float *terms) {
    if (m <= 0 || ksub <= 0 || ksub > 256 || (ksub & (ksub - 1)) || code_size < m) return -1;
    const unsigned km = (unsigned)ksub - 1; /* a corrupt code byte reads a wrong entry, not past the table */
    for (int64_t i = 0; i < nlists; i++) {
        int64_t l = lists[i], begin, end;
        if (l < 0 || l >= nlist) return -2;
        int rc = vt_list_range(list_offsets, nlist, l, &begin, &end);
        if (rc) return rc;
        const float *table = precomputed + l * m * ksub;
        for (int64_t r = begin; r < end; r++) { /* summed in double, rounded once */
            const uint8_t *c = codes + r * code_size;
            double t = 0.;
            for (int64_t j = 0; j < m; j++) t += table[j * ksub + (c[j] & km)];
            terms[r] = (float)t;
        }
    }
    return 0;
}
