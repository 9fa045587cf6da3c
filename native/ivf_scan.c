/* Scan the probed lists of an inverted file, whatever the encoding, into top-k heaps.
 *
 * Per (query, list): the query vector the codes are compared with (the residual
 * q - c_l for L2 by-residual encodings), a constant bias (-<q, c_l> for inner
 * product by residual), and for PQ / RQ a lookup table. Results are row positions;
 * the caller maps the final top-k to user ids through the id codec.
 */
#include <stdlib.h>
#include <string.h>
#include "vtool.h"
#include "internal.h"

#define SCAN_CHUNK 512

static void list_distances(int kind, const float *qv, int64_t d, const uint8_t *codes, int64_t code_size,
                           int64_t n, const float *params, int64_t m, int64_t ksub, const float *lut, float bias,
                           int metric, float *out) {
    switch (kind) {
    case VT_ENC_FLAT:
        if (metric == 1) vt_ip_ny(qv, (const float *)codes, n, d, out);
        else vt_l2sqr_ny(qv, (const float *)codes, n, d, out);
        break;
    case VT_ENC_SQ8: vt_sq8_ny(qv, codes, n, d, params, params + d, metric, out); break;
    case VT_ENC_FP16: vt_fp16_ny(qv, (const uint16_t *)codes, n, d, metric, out); break;
    case VT_ENC_PQ: vt_adc_ny(lut, m, ksub, codes, n, code_size, 0.f, 0, out); break;
    case VT_ENC_RQ: vt_adc_ny(lut, m, ksub, codes, n, code_size, 0.f, metric != 1, out); break;
    }
    if (kind <= VT_ENC_FP16 && metric == 1)
        for (int64_t j = 0; j < n; j++) out[j] = -out[j];
    if (bias != 0.f)
        for (int64_t j = 0; j < n; j++) out[j] += bias;
}

/* Lookup table of a PQ (sub-vector distances) or RQ (-2<q, codeword>, or -<q, codeword>),
 * from codebooks in their natural layout (transposed here; the scans transpose once). */
void vt_build_lut(int kind, const float *qv, int64_t d, const float *codebooks, int64_t m, int64_t ksub,
                  int metric, float *lut) {
    int64_t size = kind == VT_ENC_PQ ? m * ksub * (d / m) : m * ksub * d;
    float *cbt = malloc(sizeof(float) * (size_t)(size ? size : 1));
    if (!cbt) return;
    vt_lut_transpose(kind, codebooks, d, m, ksub, cbt);
    vt_lut_from_transposed(kind, qv, d, cbt, m, ksub, metric, lut);
    free(cbt);
}

int vt_ivf_scan(int kind, const float *queries, int64_t nq, int64_t d, const float *centroids, int by_residual,
                const uint8_t *codes, int64_t code_size, const int64_t *list_offsets, int64_t nlist,
                const int64_t *probes, const float *coarse_dist, int64_t nprobe, const float *params, int64_t m,
                int64_t ksub, const float *precomputed, int metric, int64_t k, float *out_dist,
                int64_t *out_pos) {
    if (nq < 0 || d <= 0 || k <= 0 || nprobe < 0 || code_size <= 0) return -1;
    if ((kind == VT_ENC_PQ || kind == VT_ENC_RQ) && (m <= 0 || ksub <= 0 || ksub > 256)) return -1;
    int has_lut = kind == VT_ENC_PQ || kind == VT_ENC_RQ;
    float *qv = malloc(sizeof(float) * (size_t)d);
    float *lut = has_lut ? malloc(sizeof(float) * (size_t)(m * ksub)) : NULL;
    float *qlut = has_lut ? malloc(sizeof(float) * (size_t)(m * ksub)) : NULL;
    int64_t tsize = kind == VT_ENC_PQ ? m * ksub * (d / m) : m * ksub * d;
    float *cbt = has_lut ? malloc(sizeof(float) * (size_t)tsize) : NULL;
    float buf[SCAN_CHUNK];
    int rc = 0;
    if (!qv || (has_lut && (!lut || !qlut || !cbt))) {
        rc = -4;
        goto done;
    }
    if (has_lut) vt_lut_transpose(kind, params, d, m, ksub, cbt);
    int residual_l2 = by_residual && centroids && metric != 1;
    int residual_ip = by_residual && centroids && metric == 1;
    int use_pre = precomputed && residual_l2 && has_lut;
    vt_heap_init(out_dist, out_pos, nq, k);
    for (int64_t q = 0; q < nq; q++) {
        const float *x = queries + q * d;
        float *h = out_dist + q * k;
        int64_t *hp = out_pos + q * k;
        /* a table that does not depend on the list: PQ/RQ without residual, inner-product
           residual (bias per list), and the -2<q, r> term of precomputed L2 tables */
        int lut_per_list = has_lut && residual_l2 && !use_pre;
        if (has_lut && !lut_per_list) {
            if (kind == VT_ENC_PQ && use_pre) { /* -2 <q_j, codeword> */
                vt_lut_from_transposed(kind, x, d, cbt, m, ksub, 1, qlut);
                for (int64_t c = 0; c < m * ksub; c++) qlut[c] *= 2.f;
            } else {
                vt_lut_from_transposed(kind, x, d, cbt, m, ksub, metric, qlut);
            }
        }
        for (int64_t p = 0; p < nprobe; p++) {
            int64_t l = probes[q * nprobe + p], begin, end;
            if ((rc = vt_list_range(list_offsets, nlist, l, &begin, &end))) goto done;
            if (begin == end) continue;
            const float *qvec = x;
            float bias = 0.f;
            const float *tab = qlut;
            if (residual_l2) {
                const float *c = centroids + l * d;
                for (int64_t i = 0; i < d; i++) qv[i] = x[i] - c[i];
                qvec = qv;
                if (use_pre) { /* |q - c|^2 + (2<c, r> [+ |r|^2 for PQ]) - 2<q, r> */
                    const float *t2 = precomputed + l * m * ksub;
                    for (int64_t c2 = 0; c2 < m * ksub; c2++) lut[c2] = t2[c2] + qlut[c2];
                    bias = coarse_dist ? coarse_dist[q * nprobe + p] : 0.f;
                    if (!coarse_dist) {
                        float s = 0.f;
                        for (int64_t i = 0; i < d; i++) s += qv[i] * qv[i];
                        bias = s;
                    }
                    tab = lut;
                } else if (has_lut) {
                    vt_lut_from_transposed(kind, qv, d, cbt, m, ksub, metric, lut);
                    tab = lut;
                    if (kind == VT_ENC_RQ) { /* |q - c|^2 + |r|^2 - 2<q - c, r> */
                        float s = 0.f;
                        for (int64_t i = 0; i < d; i++) s += qv[i] * qv[i];
                        bias = s;
                    }
                }
            } else if (residual_ip) {
                float s = 0.f;
                const float *c = centroids + l * d;
                for (int64_t i = 0; i < d; i++) s += x[i] * c[i];
                bias = -s;
            } else if (kind == VT_ENC_RQ && metric != 1) {
                float s = 0.f;
                for (int64_t i = 0; i < d; i++) s += x[i] * x[i];
                bias = s;
            }
            for (int64_t j0 = begin; j0 < end; j0 += SCAN_CHUNK) {
                int64_t n = end - j0 < SCAN_CHUNK ? end - j0 : SCAN_CHUNK;
                list_distances(kind, qvec, d, codes + j0 * code_size, code_size, n, params, m, ksub, tab, bias,
                               metric, buf);
                for (int64_t j = 0; j < n; j++)
                    if (buf[j] <= h[0]) vt_heap_push(h, hp, k, buf[j], j0 + j);
            }
        }
    }
    vt_heap_sort(out_dist, out_pos, nq, k);
done:
    free(qv);
    free(lut);
    free(qlut);
    free(cbt);
    return rc;
}
