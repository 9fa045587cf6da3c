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
/* norms.c: squared norms accumulated in float64 (NaN or Inf where a component is). */
void vt_norms_sqr_f64(const float *x, int64_t n, int64_t d, double *out);
/* rerank.c: exact distances of each query to its own shortlist rows pos (nq x s, -1 = none) of
 * vectors (nrows x d), best k per query into out_d / out_p (minimised; -1 / inf when fewer).
 * -2 when a row is out of range. */
int vt_rerank(const float *queries, int64_t nq, int64_t d, const float *vectors, int64_t nrows, const int64_t *pos,
              int64_t s, int metric, int64_t k, float *out_d, int64_t *out_p);
/* Distances from x to rows[0..n) of y (nrows x d); -2 when a row is out of range. */
int vt_dist_rows(const float *x, const float *y, int64_t nrows, int64_t d, const int32_t *rows, int64_t n,
                 int metric, float *out);

/* topk.c */
void vt_heap_init(float *hd, int64_t *hi, int64_t nq, int64_t k);
void vt_heap_sort(float *hd, int64_t *hi, int64_t nq, int64_t k);

/* assign.c: nearest centroid of each row (fused inner products + minimum, no n x k
 * matrix); labels and distances (squared L2, or inner product for metric 1). */
int vt_assign_nearest(const float *x, int64_t n, int64_t d, const float *c, const float *cnorm, int64_t k,
                      int metric, int64_t *labels, float *dist);
/* The nprobe nearest centroids of each row (chosen by fused products, ties to the smaller
 * index), nearest first by their distances computed directly: labels and distances
 * n x nprobe (squared L2, or -inner product for metric 1; -1 / inf past k). */
int vt_nearest_centroids(const float *x, int64_t n, int64_t d, const float *c, const float *cnorm, int64_t k,
                         int metric, int64_t nprobe, int64_t *labels, float *dist);
/* The same with the centroids packed once (for the SIMD level in use then) and kept by the
 * caller with c and cnorm, which must outlive it: an IVF search's chunks share one. */
typedef struct vt_centroid_tiles vt_centroid_tiles;
vt_centroid_tiles *vt_centroid_tiles_new(const float *c, const float *cnorm, int64_t k, int64_t d, int metric);
void vt_centroid_tiles_free(vt_centroid_tiles *ct);
int vt_probe_tiles(const vt_centroid_tiles *ct, const float *x, int64_t n, int64_t nprobe, int64_t *labels,
                   float *dist);

/* kmeans.c */
void vt_kmeans_accumulate(const float *x, int64_t n, int64_t d, const int64_t *assign,
                          int64_t k, double *sums, int64_t *counts);

/* Scan kinds: how codes are compared with a query, one per family of encodings. The
 * Python side reads these names through cffi (never repeats the numbers).
 *   FLAT  float32 rows                 SQ8  params vmin[d], step[d] = vdiff / 255
 *   FP16  IEEE half rows               PQ   params codebooks m x ksub x d/m
 *   RQ    params codebooks m x ksub x d; m code bytes then the float32 |reconstruction|^2
 *   SQ4   params vmin[d], step[d] = vdiff / 15; two components a byte, low nibble first
 *   BF16  bfloat16 rows (the high half of a float32) */
enum vt_scan_kind { VT_SCAN_FLAT = 0, VT_SCAN_SQ8 = 1, VT_SCAN_FP16 = 2, VT_SCAN_PQ = 3, VT_SCAN_RQ = 4,
                    VT_SCAN_SQ4 = 5, VT_SCAN_BF16 = 6 };

/* codes.c (and sq4.c, bf16.c): distances from one query to n encoded vectors. */
void vt_sq8_ny(const float *x, const uint8_t *codes, int64_t n, int64_t d, const float *vmin, const float *step,
               int metric, float *out);
void vt_fp16_ny(const float *x, const uint16_t *codes, int64_t n, int64_t d, int metric, float *out);
void vt_adc_ny(const float *lut, int64_t m, int64_t ksub, const uint8_t *codes, int64_t n, int64_t code_size,
               float bias, int extra_norm, float *out);
void vt_sq4_ny(const float *x, const uint8_t *codes, int64_t n, int64_t d, const float *vmin, const float *step,
               int metric, float *out);
void vt_bf16_ny(const float *x, const uint16_t *codes, int64_t n, int64_t d, int metric, float *out);

/* collect.c: result collectors, one per query. A top-k collector keeps the k best
 * (distance, position) of each query (ties to the smaller position), written to the
 * caller's arrays at the end, sorted when `ordered` (else in any order, empty slots
 * -1 / inf: a shortlist to re-rank); a radius collector keeps every result with distance
 * <= radius (minimised distances: for inner product the caller passes -R). */
typedef struct vt_collector vt_collector;
vt_collector *vt_topk_collector(int64_t nq, int64_t k, float *dist, int64_t *pos, int ordered);
vt_collector *vt_radius_collector(int64_t nq, float radius);
/* Write every query's results (sorted: ascending distance, ties to the smaller position). */
int vt_collector_finish(vt_collector *c);
/* topk.c: a block of distances, or of inner products turned into distances (squared L2 from
 * the norms, or -ip for metric 1), offered to queries q0 .. q0 + nq - 1 of a top-k collector
 * (rows = queries, columns = ids id0..); -1 for a radius collector or rows out of range. */
int vt_collector_add_block(vt_collector *c, int64_t q0, int64_t nq, const float *dist, int64_t nb, int64_t id0);
int vt_collector_add_ip_block(vt_collector *c, int64_t q0, int64_t nq, const float *ip, int64_t nb, int64_t id0,
                              const float *qnorm, const float *bnorm, int metric);
/* Radius collectors: results of all queries; lims has nq + 1 entries. */
int64_t vt_radius_total(const vt_collector *c);
int vt_radius_results(const vt_collector *c, int64_t *lims, float *dist, int64_t *pos, int64_t total);
void vt_collector_free(vt_collector *c);

/* scan.c: one query against encoded vectors, whatever the encoding: the query prepared
 * once (tables, transposed codebooks), then per list (residual terms), then distances to
 * a run of codes or to arbitrary rows (what a graph search needs). centroids may be NULL
 * (no IVF). precomputed (L2 by residual): nlist x m x ksub, PQ: |codeword|^2 + 2<c_l,
 * codeword>; RQ: 2<c_l, codeword> (|r|^2 is stored with each code). */
typedef struct vt_scanner vt_scanner;
/* row_terms (with precomputed tables): lists are scanned with each row's part of its list's
 * table given to vt_scanner_run (vt_list_terms), instead of a table composed per list. */
vt_scanner *vt_scanner_new(int kind, int64_t d, const float *centroids, int64_t nlist, int by_residual,
                           int64_t code_size, const float *params, int64_t m, int64_t ksub,
                           const float *precomputed, int row_terms, int metric);
void vt_scanner_free(vt_scanner *s);
void vt_scanner_set_query(vt_scanner *s, const float *x);
/* coarse_dist: |q - c_l|^2 when known (saves a pass), else NaN. */
int vt_scanner_set_list(vt_scanner *s, int64_t list, float coarse_dist);
/* terms: the rows' terms when the scanner was made with row_terms, else NULL. */
void vt_scanner_run(const vt_scanner *s, const uint8_t *codes, int64_t n, const float *terms, float *out);
int vt_scanner_rows(const vt_scanner *s, const uint8_t *codes, int64_t ncodes, const int64_t *rows, int64_t n,
                    float *out);

/* ivf_scan.c: scan the probed lists of an inverted file into a collector (positions are
 * row numbers; the caller maps the final results to user ids through the id map).
 * A scan is a job: made once (its queries cut into batches for `threads` threads), run
 * by any number of threads at once (each takes batches until none is left; results do
 * not depend on which thread takes which), freed when every run has returned. The
 * collector is finished batch by batch. new and run return 0, -1 (bad arguments), -2 / -3
 * (a probe or list offsets out of range), -4 (no memory). */
typedef struct vt_scan_job vt_scan_job;
int vt_scan_job_new(int kind, const float *queries, int64_t nq, int64_t d, const float *centroids, int by_residual,
                    const uint8_t *codes, int64_t code_size, const int64_t *list_offsets, int64_t nlist,
                    const int64_t *probes, const float *coarse_dist, int64_t nprobe, const float *params, int64_t m,
                    int64_t ksub, const float *precomputed, const float *terms, int metric, vt_collector *out,
                    int threads, vt_scan_job **job);
int vt_scan_job_run(vt_scan_job *job);
void vt_scan_job_free(vt_scan_job *job);
/* terms[r] = sum_j precomputed[l][j][code_j] for the rows r of the given lists: the part of
 * a row's distance that depends on its list, not on the query. 0, or -2 for a bad list. */
int vt_list_terms(const float *precomputed, int64_t m, int64_t ksub, const uint8_t *codes, int64_t code_size,
                  const int64_t *list_offsets, int64_t nlist, const int64_t *lists, int64_t nlists, float *terms);
void vt_build_lut(int kind, const float *qv, int64_t d, const float *codebooks, int64_t m, int64_t ksub,
                  int metric, float *lut);

/* fastscan.c: 4-bit PQ in blocks of 32 vectors (16 * m bytes a block, padding rows code 0),
 * 8-bit tables; vt_fs_accumulate writes 32 uint16 sums per block. An IVF fast-scan search
 * is a job, made, run and freed as a vt_scan_job (ivf_scan.c). */
void vt_fs_pack_blocks(const uint8_t *codes, int64_t n, int64_t m, uint8_t *blocks);
void vt_fs_accumulate(const uint8_t *blocks, int64_t nblocks, int64_t m, const uint8_t *lut, uint16_t *out);
int vt_fs_quantize_lut(const float *lut, int64_t m, uint8_t *qlut, float *bias, float *scale);
typedef struct vt_fs_job vt_fs_job;
int vt_fs_job_new(const float *queries, int64_t nq, int64_t d, const float *centroids, int by_residual,
                  const uint8_t *blocks, const int64_t *block_offsets, const int64_t *list_offsets, int64_t nlist,
                  const int64_t *probes, const vt_centroid_tiles *tiles, int64_t nprobe, const float *codebooks,
                  const float *precomputed, int64_t m, int metric, vt_collector *out, int threads, vt_fs_job **job);
int vt_fs_job_run(vt_fs_job *job);
void vt_fs_job_free(vt_fs_job *job);

/* hnsw.c: a navigable small-world graph over row numbers. Level 0 holds up to r0 (2m for
 * HNSW, R for NSG; at most 512) neighbours a node (level0: n x r0), levels 1..levels[i] up to m each (upper, from
 * upper_offsets[i]); a list ends at its first -1. entry is a node of level max_level
 * (-1: an empty graph). Functions return 0, -1 (bad arguments), -2 (node out of range),
 * -3 (a list names a node outside the graph or without that level), -4 (no memory). */
typedef struct {
    int64_t n, m, r0;
    const uint8_t *levels;
    int32_t *level0;
    int32_t *upper;
    const int64_t *upper_offsets;
    int64_t entry, max_level;
    /* level 0 compressed (search only): level0_codec a VT_ADJ_* codec (0: level0 is used),
     * list i of degree[i] nodes at bit level0_pos[i] of level0_words (level0_nbits bits) */
    int level0_codec;
    const uint64_t *level0_words;
    int64_t level0_nbits;
    const int64_t *level0_pos;
    const uint8_t *degree;
} vt_hnsw;
typedef struct vt_hnsw_ctx vt_hnsw_ctx;
/* Per-thread scratch of a build over n nodes (visited marks, heaps). */
vt_hnsw_ctx *vt_hnsw_ctx_new(int64_t n);
void vt_hnsw_ctx_free(vt_hnsw_ctx *c);
/* The ef best rows of each query, into a collector (top-k or radius), distances from the
 * encoded rows through a scanner (any kind; no coarse quantizer). */
int vt_hnsw_search(const vt_hnsw *g, int kind, const float *queries, int64_t nq, int64_t d, const uint8_t *codes,
                   int64_t ncodes, int64_t code_size, const float *params, int64_t m, int64_t ksub, int metric, int64_t ef,
                   vt_collector *out);
/* Build, one batch of new nodes at a time: first each new node's own lists, found in the
 * graph as it is (entry and max_level as before the batch); then, per level, the reverse
 * links: (target << 32 | source) pairs of the batch, sorted, handed out so that each
 * target's pairs go to one call. vectors: n x d float32 rows. */
int vt_hnsw_link_new(vt_hnsw *g, const float *vectors, int64_t d, int metric, const int32_t *nodes, int64_t nb,
                     int64_t ef_construction, vt_hnsw_ctx *c);
int64_t vt_hnsw_reverse_pairs(const vt_hnsw *g, const int32_t *nodes, int64_t nb, int64_t level, uint64_t *pairs,
                              int64_t cap);
int vt_hnsw_add_reverse(vt_hnsw *g, const float *vectors, int64_t d, int metric, int64_t level,
                        const uint64_t *pairs, int64_t npairs, vt_hnsw_ctx *c);
/* NSG: each node's list (at most g->r0) chosen by the same heuristic among what a search of
 * the k-NN graph `knn` from its entry finds with search_l candidates, and the node's own
 * k-NN, at most pool_cap nearest; only the nodes' own lists are written. The reverse links
 * then go through vt_hnsw_reverse_pairs / vt_hnsw_add_reverse at level 0. */
int vt_nsg_link(const vt_hnsw *knn, vt_hnsw *g, const float *vectors, int64_t d, int metric, const int32_t *nodes,
                int64_t nb, int64_t search_l, int64_t pool_cap, vt_hnsw_ctx *c);

/* adjacency.c: neighbour lists (sorted sets of node ids below universe) coded back to back
 * in one bit stream; a list's size in bits follows from its length (vt_adj_bits). encode
 * takes nlists rows of `stride` slots, sizes[i] used; decode returns 0, or -3 on a stream
 * inconsistent with its size. */
enum vt_adj_codec { VT_ADJ_PACKED = 1, VT_ADJ_EF = 2, VT_ADJ_ROC = 3 };
int64_t vt_adj_bits(int codec, int64_t n, int64_t universe);
int vt_adj_encode(int codec, const int32_t *lists, int64_t nlists, int64_t stride, const uint8_t *sizes,
                  int64_t universe, uint64_t *words, int64_t nwords);
int vt_adj_decode(int codec, const uint64_t *words, int64_t nbits, int64_t pos, int64_t n, int64_t universe,
                  int32_t *out);
/* adjacency_set.c, VT_ADJ_ROC: lists coded as sets near log2 C(universe, n) bits; sizes vary
 * by a bit or two, so the writer measures them (lengths), places list i at pos[i] (bits) and
 * encodes; a reader takes pos from the stored size per degree. The stream is MSB-first bytes
 * (vt_adj_decode takes it as words, nbits a multiple of 8). */
int vt_adj_roc_lengths(const int32_t *lists, int64_t nlists, int64_t stride, const uint8_t *sizes,
                       int64_t universe, int64_t *bits);
int vt_adj_roc_encode(const int32_t *lists, int64_t nlists, int64_t stride, const uint8_t *sizes, int64_t universe,
                      const int64_t *pos, uint8_t *bytes, int64_t nbytes);
int vt_adj_roc_decode(const uint8_t *bytes, int64_t nbytes, int64_t pos, int64_t n, int64_t universe, int32_t *out);
/* Every list into rows of `stride` slots, -1 after the last entry (list i at bit pos[i]). */
int vt_adj_decode_rows(int codec, const uint64_t *words, int64_t nbits, const int64_t *pos, const uint8_t *sizes,
                       int64_t nlists, int64_t universe, int32_t *out, int64_t stride);

/* Id codecs (packed.c, eliasfano.c, roc.c, wavelet.c): lossless codes for list ids.
 * Every decoder takes its buffer's size and returns < 0 on inconsistent input. */
int64_t vt_packed_words(int64_t n, int bits);
int vt_packed_encode(const uint64_t *values, int64_t n, int bits, uint64_t *words, int64_t nwords);
/* values[k] = element idx[k], all ones for idx[k] < 0 (an empty slot); -1: an index past n. */
int vt_packed_get(const uint64_t *words, int64_t nwords, int bits, int64_t n, const int64_t *idx, int64_t count,
                  uint64_t *values);
int vt_take_int64(const int64_t *table, int64_t n, const int64_t *pos, int64_t count, int64_t *out);
int64_t vt_ef_words(int64_t n, uint64_t universe);
int vt_ef_encode(const uint64_t *values, int64_t n, uint64_t universe, uint64_t *words, int64_t nwords);
int vt_ef_get(const uint64_t *words, int64_t nwords, int64_t n, uint64_t universe, const int64_t *idx,
              int64_t count, uint64_t *values);
int64_t vt_ef_decode(const uint64_t *words, int64_t nwords, int64_t n, uint64_t universe, uint64_t *values);
/* Values of rows of an inverted file of Elias-Fano lists; all ones for a row < 0 (an empty slot). */
int vt_ef_get_rows(const uint64_t *words, int64_t nwords, const int64_t *word_offsets, const int64_t *list_offsets,
                   int64_t nlist, uint64_t universe, const int64_t *rows, int64_t count, uint64_t *values);
int64_t vt_roc_max_words(int64_t n, uint64_t universe);
/* ROC: lists (counts[l] sorted ids each, concatenated) coded one after another in one stream. */
int64_t vt_roc_encode(const uint64_t *ids, const int64_t *counts, int64_t nlists, uint64_t universe, uint32_t *out,
                      int64_t cap);
int vt_roc_decode(const uint32_t *stream, int64_t nwords, const int64_t *counts, int64_t nlists, uint64_t universe,
                  uint64_t *ids);
int vt_roc_get_rows(const uint32_t *data, int64_t ndata, const int64_t *word_offsets, const int64_t *list_offsets,
                    int64_t nlist, int64_t group, uint64_t universe, const int64_t *rows, int64_t count,
                    uint64_t *values);
/* Bit streams: groups of lists (starts[g] .. starts[g + 1] - 1), each at bit_offsets[g] of out,
 * its stack words then its final state's significant bits; returns the words used, or < 0. */
int64_t vt_roc_encode_bits(const uint64_t *ids, const int64_t *counts, int64_t nlists, const int64_t *starts,
                           int64_t ngroups, uint64_t universe, uint32_t *out, int64_t cap, int64_t *bit_offsets);
/* rice.c: signed integers around a center, Rice-coded (parameter k) in uint64 words. */
int64_t vt_rice_encode(const int64_t *values, int64_t count, int64_t center, int k, uint64_t *out, int64_t cap);
int vt_rice_decode(const uint64_t *words, int64_t nwords, int64_t count, int64_t center, int k, int64_t *out);
int64_t vt_roc_groups(const int64_t *counts, int64_t nlists, int64_t min_ids, int64_t *starts);
int vt_roc_predicted_bits(uint64_t universe, const int64_t *counts, int64_t nlists, const int64_t *starts,
                          int64_t ngroups, int64_t *out);
int vt_roc_get_rows_bits(const uint32_t *data, int64_t ndata, const int64_t *bit_offsets, const int64_t *starts,
                         int64_t ngroups, const int64_t *list_offsets, int64_t nlist, uint64_t universe,
                         const int64_t *rows, int64_t count, uint64_t *values);
/* Where to cut sorted rows of ROC-coded lists (streams: starts) into `parts` pieces of about
 * equal ids to decode, never inside a stream: each stream weighs the ids from the list of its
 * first row to its end, and goes to the piece that holds its midpoint. cuts[0 .. parts] (the
 * last = count). 0, or -1 for a row in a list before the previous row's, or past the lists. */
int vt_roc_cuts(const int64_t *list_offsets, int64_t nlist, const int64_t *starts, int64_t ngroups, const int64_t *rows,
                int64_t count, int64_t parts, int64_t *cuts);
/* Sorted rows of lists of which some are coded in parts (split_of[l] = s >= 0: part p of split
 * list s holds its rows first[s (parts + 1) + p] .. first[s (parts + 1) + p + 1] - 1): each
 * row's place among the other lists' rows (main_offsets, the split lists empty) with part -1,
 * or among the parts' rows (part_offsets, list s parts + p) with its part p. 0, or -1 for a
 * row in a list before the previous row's, or past the lists. */
int vt_roc_place_rows(const int64_t *list_offsets, int64_t nlist, const int64_t *split_of, const int64_t *main_offsets,
                      const int64_t *first, int64_t parts, const int64_t *part_offsets, const int64_t *rows,
                      int64_t count, int64_t *placed, int8_t *part);
int64_t vt_wm_words(int64_t n, int levels);
int vt_wm_build(const uint32_t *symbols, int64_t n, int levels, uint64_t *words, int64_t nwords);
/* Huffman-shaped: symbol s has a code of lens[s] bits (0: no code), at most `levels`. */
int64_t vt_wm_shaped_words(const uint32_t *symbols, int64_t n, const uint8_t *lens, int64_t nsym, int levels);
int vt_wm_build_shaped(const uint32_t *symbols, int64_t n, const uint8_t *lens, int64_t nsym, int levels,
                       uint64_t *words, int64_t nwords);
/* A wavelet matrix opened for selects (its aid and list starts made from the words, which must
 * outlive it); counts[l] gets list l's length; NULL with *err -1 (corrupt) or -3 (memory). */
typedef struct vt_wm_reader vt_wm_reader;
vt_wm_reader *vt_wm_reader_new(const uint64_t *words, int64_t nwords, int64_t nlist, int64_t *counts, int *err);
void vt_wm_reader_free(vt_wm_reader *reader);
/* Ranks of rows of an inverted file whose lists have the reader's lengths, any order, -1 for a
 * row < 0 (a search's empty slot); -1: a row past the lists, -3: no memory. */
int vt_wm_reader_rows(const vt_wm_reader *reader, const int64_t *rows, int64_t count, int64_t *positions);
/* Every row's rank, in row order (out: the rows' total); -3: no memory. */
int vt_wm_reader_decode_all(const vt_wm_reader *reader, int64_t *out);

/* code_ans.c: PQ codes of one list, rANS with adaptive (Laplace) tables per sub-quantizer. */
int64_t vt_code_ans_max_words(int64_t n, int64_t m);
int64_t vt_code_ans_encode(const uint8_t *codes, int64_t n, int64_t m, int64_t stride, int64_t k, uint32_t *out,
                           int64_t cap);
int vt_code_ans_decode(const uint32_t *stream, int64_t nwords, int64_t n, int64_t m, int64_t stride, int64_t k,
                       uint8_t *codes);

/* radix.c: the rows >= 0 (each below bound <= 2^32, count <= 2^32) into out as (row << 32 |
 * index), by row, stably; tmp holds count words. Returns how many (rows < 0 are left out),
 * -1 for a row at or past bound. */
int64_t vt_sort_rows(const int64_t *rows, int64_t count, int64_t bound, uint64_t *out, uint64_t *tmp);

/* crc32c.c: CRC-32C (Castagnoli), the checksum of .vti sections. */
uint32_t vt_crc32c(uint32_t crc, const uint8_t *data, int64_t n);

#endif
