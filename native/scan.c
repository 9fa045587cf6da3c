/* One query against encoded vectors, whatever the encoding (Faiss's InvertedListScanner
 * and DistanceComputer in one): prepared per query, then per list, then asked for the
 * distances to a run of codes (a list scan) or to arbitrary rows (a graph search).
 *
 * Per (query, list): the vector the codes are compared with (the residual q - c_l for L2
 * by-residual encodings), a constant bias (-<q, c_l> for inner product by residual; |q|^2
 * or |q - c_l|^2 for RQ and precomputed PQ tables), and for PQ / RQ a lookup table. With
 * precomputed tables, |q - c_l - r|^2 = |q - c_l|^2 + T_l(r) - 2<q, r>: the list's table
 * T_l plus the query's, composed per (query, list) (m * ksub additions, 40 % of an IVF-PQ48
 * search at d = 384), or (row_terms) the query's table alone, each row adding its T_l(r),
 * summed once per index (vt_list_terms).
 * Distances are minimised: for inner product the negated similarity.
 */
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

#define ROWS_CHUNK 64

struct vt_scanner {
    int kind, metric, has_lut, residual_l2, residual_ip, use_pre, row_terms;
    int64_t d, m, ksub, code_size, nlist;
    const float *centroids, *params, *precomputed;
    float *cbt;  /* transposed codebooks (PQ, RQ) */
    float *qv;   /* residual query */
    float *lut;  /* the table in use for the current list */
    float *qlut; /* the part of the table that does not depend on the list */
    uint8_t *gather;
    const float *x, *qvec, *tab;
    float bias;
};

static int is_lut_kind(int kind) { return kind == VT_SCAN_PQ || kind == VT_SCAN_RQ; }

vt_scanner *vt_scanner_new(int kind, int64_t d, const float *centroids, int64_t nlist, int by_residual,
                           int64_t code_size, const float *params, int64_t m, int64_t ksub,
                           const float *precomputed, int row_terms, int metric) {
    if (d <= 0 || code_size <= 0 || kind < VT_SCAN_FLAT || kind > VT_SCAN_BF16) return NULL;
    if (is_lut_kind(kind) && (m <= 0 || ksub <= 0 || ksub > 256 || (ksub & (ksub - 1)) || (kind == VT_SCAN_PQ && d % m)))
        return NULL; /* ksub a power of two: codes index tables through a mask (codes.c) */
    vt_scanner *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->metric = metric;
    s->d = d;
    s->m = m;
    s->ksub = ksub;
    s->code_size = code_size;
    s->nlist = nlist;
    s->centroids = centroids;
    s->params = params;
    s->has_lut = is_lut_kind(kind);
    s->residual_l2 = by_residual && centroids && metric != 1;
    s->residual_ip = by_residual && centroids && metric == 1;
    s->use_pre = precomputed && s->residual_l2 && s->has_lut;
    s->precomputed = s->use_pre ? precomputed : NULL;
    s->row_terms = s->use_pre && row_terms;
    s->qv = malloc(sizeof(float) * (size_t)d);
    s->gather = malloc((size_t)(ROWS_CHUNK * code_size));
    int ok = s->qv && s->gather;
    if (s->has_lut) {
        int64_t tsize = kind == VT_SCAN_PQ ? m * ksub * (d / m) : m * ksub * d;
        s->cbt = malloc(sizeof(float) * (size_t)tsize);
        s->lut = malloc(sizeof(float) * (size_t)(m * ksub));
        s->qlut = malloc(sizeof(float) * (size_t)(m * ksub));
        ok = ok && s->cbt && s->lut && s->qlut;
        if (ok) vt_lut_transpose(kind, params, d, m, ksub, s->cbt);
    }
    if (!ok) {
        vt_scanner_free(s);
        return NULL;
    }
    return s;
}

void vt_scanner_free(vt_scanner *s) {
    if (!s) return;
    free(s->qv);
    free(s->gather);
    free(s->cbt);
    free(s->lut);
    free(s->qlut);
    free(s);
}

static float sqr_norm(const float *v, int64_t d) {
    float s = 0.f;
    for (int64_t i = 0; i < d; i++) s += v[i] * v[i];
    return s;
}

void vt_scanner_set_query(vt_scanner *s, const float *x) {
    s->x = x;
    s->qvec = x;
    s->tab = s->qlut;
    s->bias = 0.f;
    /* a table that does not depend on the list: PQ/RQ without residual, inner-product
       residual (bias per list), and the -2<q, r> term of precomputed L2 tables */
    if (s->has_lut && !(s->residual_l2 && !s->use_pre)) {
        if (s->kind == VT_SCAN_PQ && s->use_pre) { /* -2 <q_j, codeword>, as -<2 q_j, codeword> (exact) */
            float *q2 = s->qv;
            for (int64_t i = 0, d = s->d; i < d; i++) q2[i] = 2.f * x[i];
            vt_lut_from_transposed(s->kind, q2, s->d, s->cbt, s->m, s->ksub, 1, s->qlut);
        } else {
            vt_lut_from_transposed(s->kind, x, s->d, s->cbt, s->m, s->ksub, s->metric, s->qlut);
        }
    }
    if (s->kind == VT_SCAN_RQ && s->metric != 1 && !s->residual_l2) s->bias = sqr_norm(x, s->d);
}

/* out = a + b: a list's table from its precomputed part and the query's part, on every
 * list a query probes (up to m * 256 floats), so at the widest vectors the machine has. */
static void add_tables_scalar(const float *a, const float *b, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

#if VT_X86
VT_TARGET_AVX2 static void add_tables_avx2(const float *a, const float *b, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

VT_TARGET_AVX512 static void add_tables_avx512(const float *a, const float *b, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
#endif

static void add_tables(const float *a, const float *b, int64_t n, float *out) {
#if VT_X86
    switch (vt_simd_level()) {
    case VT_AVX512: add_tables_avx512(a, b, n, out); return;
    case VT_AVX2: add_tables_avx2(a, b, n, out); return;
    }
#endif
    add_tables_scalar(a, b, n, out);
}

int vt_scanner_set_list(vt_scanner *s, int64_t l, float coarse_dist) {
    /* loops over local pointers: the build has -fno-strict-aliasing, so stores through a
       field of s would make the compiler reload s's fields at every step (no vectorising) */
    const int64_t d = s->d, size = s->m * s->ksub;
    if (!s->centroids || !(s->residual_l2 || s->residual_ip)) return 0;
    if (l < 0 || l >= s->nlist) return -2;
    const float *c = s->centroids + l * d, *x = s->x;
    if (s->residual_ip) {
        float dot = 0.f;
        for (int64_t i = 0; i < d; i++) dot += x[i] * c[i];
        s->bias = -dot;
        return 0;
    }
    float *qv = s->qv, *lut = s->lut;
    if (s->use_pre) { /* |q - c|^2 + (2<c, r> [+ |r|^2 for PQ]) - 2<q, r>: no residual needed */
        if (s->row_terms) {
            s->tab = s->qlut; /* the list's part comes with each row */
        } else {
            add_tables(s->precomputed + l * size, s->qlut, size, lut);
            s->tab = lut;
        }
        if (coarse_dist == coarse_dist) {
            s->bias = coarse_dist;
        } else { /* NaN: not known */
            for (int64_t i = 0; i < d; i++) qv[i] = x[i] - c[i];
            s->bias = sqr_norm(qv, d);
        }
        return 0;
    }
    for (int64_t i = 0; i < d; i++) qv[i] = x[i] - c[i];
    s->qvec = qv;
    if (s->has_lut) {
        vt_lut_from_transposed(s->kind, qv, d, s->cbt, s->m, s->ksub, s->metric, lut);
        s->tab = lut;
        s->bias = s->kind == VT_SCAN_RQ ? sqr_norm(qv, d) : 0.f; /* |q - c|^2 + |r|^2 - 2<q - c, r> */
    }
    return 0;
}

void vt_scanner_run(const vt_scanner *s, const uint8_t *codes, int64_t n, const float *terms, float *out) {
    const int64_t d = s->d;
    const int metric = s->metric;
    switch (s->kind) {
    case VT_SCAN_FLAT:
        if (metric == 1) vt_ip_ny(s->qvec, (const float *)codes, n, d, out);
        else vt_l2sqr_ny(s->qvec, (const float *)codes, n, d, out);
        break;
    case VT_SCAN_SQ8: vt_sq8_ny(s->qvec, codes, n, d, s->params, s->params + d, metric, out); break;
    case VT_SCAN_SQ4: vt_sq4_ny(s->qvec, codes, n, d, s->params, s->params + d, metric, out); break;
    case VT_SCAN_FP16: vt_fp16_ny(s->qvec, (const uint16_t *)codes, n, d, metric, out); break;
    case VT_SCAN_BF16: vt_bf16_ny(s->qvec, (const uint16_t *)codes, n, d, metric, out); break;
    case VT_SCAN_PQ: vt_adc_ny(s->tab, s->m, s->ksub, codes, n, s->code_size, 0.f, 0, out); break;
    case VT_SCAN_RQ: vt_adc_ny(s->tab, s->m, s->ksub, codes, n, s->code_size, 0.f, metric != 1, out); break;
    }
    const float bias = s->bias;
    if (!s->has_lut && metric == 1)
        for (int64_t j = 0; j < n; j++) out[j] = -out[j];
    if (s->row_terms && terms)
        for (int64_t j = 0; j < n; j++) out[j] += terms[j];
    if (bias != 0.f)
        for (int64_t j = 0; j < n; j++) out[j] += bias;
}

int vt_scanner_rows(const vt_scanner *s, const uint8_t *codes, int64_t ncodes, const int64_t *rows, int64_t n,
                    float *out) {
    for (int64_t a = 0; a < n; a += ROWS_CHUNK) {
        int64_t len = n - a < ROWS_CHUNK ? n - a : ROWS_CHUNK;
        for (int64_t j = 0; j < len; j++) {
            int64_t r = rows[a + j];
            if (r < 0 || r >= ncodes) return -2;
            memcpy(s->gather + j * s->code_size, codes + r * s->code_size, (size_t)s->code_size);
        }
        vt_scanner_run(s, s->gather, len, NULL, out + a);
    }
    return 0;
}

void vt_scanner_nodes(const vt_scanner *s, const uint8_t *codes, const int32_t *nodes, int64_t n, float *out) {
    if (s->kind == VT_SCAN_FLAT) { /* no copy: distances straight from the rows */
        vt_dist_rows_raw(s->qvec, (const float *)codes, nodes, n, s->d, s->metric, out);
        if (s->metric == 1)
            for (int64_t j = 0; j < n; j++) out[j] = -out[j];
        const float bias = s->bias;
        if (bias != 0.f)
            for (int64_t j = 0; j < n; j++) out[j] += bias;
        return;
    }
    const int64_t cs = s->code_size;
    for (int64_t a = 0; a < n; a += ROWS_CHUNK) {
        int64_t len = n - a < ROWS_CHUNK ? n - a : ROWS_CHUNK;
        for (int64_t j = 0; j < len; j++) memcpy(s->gather + j * cs, codes + (int64_t)nodes[a + j] * cs, (size_t)cs);
        vt_scanner_run(s, s->gather, len, NULL, out + a);
    }
}
