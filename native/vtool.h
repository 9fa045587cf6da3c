/* vtool native core: the one public header.
 *
 * This file is also the cffi cdef: build_native.py drops the preprocessor lines
 * and hands the rest to cffi, so keep declarations plain C (no macros).
 *
 * Conventions: sizes travel with their pointers as int64_t; matrices are
 * row-major float32; a "metric" is 0 for squared L2 and 1 for inner product.
 * Every "distance" a kernel returns is minimised: for inner product it is
 * the negated similarity, so one top-k selector serves both metrics.
 * Top-k state is a max-heap per query (worst kept result on top), ordered by
 * (distance, id) so that ties always resolve to the smaller id.
 */
#ifndef VTOOL_H
#define VTOOL_H
#include <stdint.h>

/* dispatch.c: runtime SIMD level (0 scalar, 1 AVX2+FMA, 2 AVX-512). */
int vt_cpu_max_level(void);
int vt_simd_level(void);
int vt_set_simd_level(int level);

/* distance.c */
void vt_l2sqr_ny(const float *x, const float *y, int64_t ny, int64_t d, float *out);
void vt_ip_ny(const float *x, const float *y, int64_t ny, int64_t d, float *out);
void vt_pairwise(const float *x, int64_t nx, const float *y, int64_t ny, int64_t d,
                 int metric, float *out);
void vt_norms_sqr(const float *x, int64_t n, int64_t d, float *out);

/* topk.c */
void vt_heap_init(float *hd, int64_t *hi, int64_t nq, int64_t k);
void vt_heap_add_block(float *hd, int64_t *hi, int64_t nq, int64_t k,
                       const float *dist, int64_t nb, int64_t id0);
void vt_heap_add_ip_block(float *hd, int64_t *hi, int64_t nq, int64_t k,
                          const float *ip, int64_t nb, int64_t id0,
                          const float *qnorm, const float *bnorm, int metric);
void vt_heap_sort(float *hd, int64_t *hi, int64_t nq, int64_t k);

/* assign.c: nearest centroid of each row (fused inner products + minimum, no n x k
 * matrix); labels and distances (squared L2, or inner product for metric 1). */
int vt_assign_nearest(const float *x, int64_t n, int64_t d, const float *c, const float *cnorm, int64_t k,
                      int metric, int64_t *labels, float *dist);

/* kmeans.c */
void vt_kmeans_accumulate(const float *x, int64_t n, int64_t d, const int64_t *assign,
                          int64_t k, double *sums, int64_t *counts);

/* ivf_scan.c: scan the probed lists of an IVF-Flat index (vectors stored row-major,
 * lists contiguous, list l = rows list_offsets[l] .. list_offsets[l+1]-1).
 * Writes k results per query, sorted, as (distance, row position); -1 = none. */
int vt_ivf_flat_scan(const float *queries, int64_t nq, int64_t d,
                     const float *vectors, const int64_t *list_offsets, int64_t nlist,
                     const int64_t *probes, int64_t nprobe, int metric, int64_t k,
                     float *out_dist, int64_t *out_pos);

/* crc32c.c: CRC-32C (Castagnoli), the checksum of .vti sections. */
uint32_t vt_crc32c(uint32_t crc, const uint8_t *data, int64_t n);

#endif
