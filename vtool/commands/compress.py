"""Rewriting an index's ids with a lossless codec: the library behind `vtool compress-ids`."""

from __future__ import annotations

import time

import numpy as np

from vtool.codecs.codes import code_bounds, encode_codes
from vtool.codecs.ids import METHODS, RANDOM_ACCESS, encode_ids, information_bounds, open_codec
from vtool.errors import VtoolError
from vtool.index.codestore import store_class
from vtool.index.container import write_vti
from vtool.index.index import load_index
from vtool.io.atomic import check_output_path

ZSTD_LEVEL = 19


def compress_ids(index_path: str, output: str, method: str = "auto", verify: bool = False,
                 allow_full_decode: bool = False, check: bool = True, codes: str | None = None,
                 adjacency: str | None = None) -> dict:
    """Re-encode the ids (rows reordered within lists when the codec sorts them), with
    codes="ans" compress the PQ codes too, and code a graph's neighbour lists with
    `adjacency` (default ef)."""
    if method not in METHODS + ("auto",):
        raise VtoolError(f"unknown --method {method!r}; choose {', '.join(METHODS)} or auto")
    if codes not in (None, "ans"):
        raise VtoolError(f"unknown --codes {codes!r}; the code codec is ans")
    check_output_path(output)
    index = load_index(index_path, verify=check)
    if index.ntotal == 0:
        raise VtoolError(f"{index_path}: the index holds no vectors")
    if index.store.layout == "ans":  # compressed codes: decode, reorder, compress again
        codes = "ans"
    if codes and index.encoding.name != "PQ":
        raise VtoolError(f"{index_path}: --codes ans compresses PQ<m>[x<nbits>] codes; this index is {index.spec}")
    if adjacency is not None and not index.structure.is_graph:
        raise VtoolError(f"{index_path}: --adjacency is for graph indexes; this index is {index.spec}")
    ids = index.ids
    candidates = ([m for m in METHODS if m != "int64" and (allow_full_decode or m in RANDOM_ACCESS)]
                  if method == "auto" else [method])
    t0 = time.perf_counter()
    encoded = {m: encode_ids(m, ids, index.list_offsets) for m in candidates}
    chosen = min(candidates, key=lambda m: sum(a.nbytes for a in encoded[m][0].values()))
    sections, fields, order = encoded[chosen]
    encode_seconds = time.perf_counter() - t0
    graph_report = {}
    if index.structure.is_graph:
        if not np.array_equal(order, np.arange(len(order))):
            raise VtoolError(f"{index_path}: the {chosen} id codec would renumber this graph's nodes (its ids "
                             "are not ascending in row order); use --method int64 with --adjacency")
        graph_report = index.structure.compress(adjacency or "ef")
    header = {k: v for k, v in index.header.items()  # the id codec's fields are replaced whole
              if not k.startswith("id_") and k not in ("code_codec", "sections")}
    header.update(fields)
    header.update(index.structure.header_fields())
    plain = index.store.rows(order)  # every row's code, in the codec's row order
    rows = {**index.trained_arrays(), "list_offsets": index.list_offsets}
    id_bits = 8 * sum(a.nbytes for a in sections.values())
    code_report = {}
    if codes:
        enc = index.encoding
        t1 = time.perf_counter()
        rows.update(encode_codes(plain, index.list_offsets, enc.m, enc.ksub))
        header["code_codec"] = "ans"
        code_bits = 8 * (rows["codes_ans"].nbytes + rows["codes_ans_offsets"].nbytes)
        bounds = code_bounds(plain, index.list_offsets, enc.m, enc.ksub)
        code_report = {"code_bits_per_vector": code_bits / index.ntotal,
                       "raw_code_bits_per_vector": enc.m * enc.nbits,
                       "ideal_adaptive_bits_per_vector": bounds["ideal_adaptive_bits"] / index.ntotal,
                       "empirical_entropy_bits_per_vector": bounds["empirical_entropy_bits"] / index.ntotal,
                       "code_ratio_to_ideal": code_bits / bounds["ideal_adaptive_bits"],
                       "code_encode_seconds": time.perf_counter() - t1}
    else:
        rows.update(store_class(index.encoding, {}).pack(index.encoding, plain, index.list_offsets))
    rows.update(index.structure.row_arrays())
    rows.update(sections)
    if index.refiner is not None:
        rows["refine"] = np.asarray(index.refiner.vectors[order])
    write_vti(output, header, rows)
    codec = open_codec(sections, header, index.list_offsets)
    t0 = time.perf_counter()
    decoded = codec.decode_all()
    decode_seconds = time.perf_counter() - t0
    if verify and not np.array_equal(decoded, ids[order]):
        raise RuntimeError("compress-ids --verify: decoded ids differ from the input")
    if verify and codes:
        written = load_index(output)
        if not np.array_equal(written.store.rows(np.arange(written.ntotal)), plain):
            raise RuntimeError("compress-ids --verify: decoded codes differ from the input")
    n = index.ntotal
    bits = id_bits
    bounds = information_bounds(index.list_sizes)
    report = {"method": chosen, "ids": n, "bits_per_id": bits / n, "int64_bits_per_id": 64.0,
              "zstd_bits_per_id": zstd_bits_per_id(ids, index.list_offsets) / n, **bounds,
              "ratio_to_log2_binomial": (bits / n) / bounds["log2_binomial_bits_per_id"]
              if bounds["log2_binomial_bits_per_id"] else None,
              "id_table": "id_table" in sections,
              "id_table_bits_per_id": 8 * sections["id_table"].nbytes / n if "id_table" in sections else 0.0,
              "verified": verify,
              "encode_seconds": encode_seconds, "decode_seconds": decode_seconds,
              "encode_ids_per_second": n / encode_seconds if encode_seconds else None,
              "decode_ids_per_second": n / decode_seconds if decode_seconds else None, **code_report,
              **graph_report}
    if method == "auto":
        report["candidates_bits_per_id"] = {m: 8 * sum(a.nbytes for a in encoded[m][0].values()) / n
                                            for m in candidates}
    return report


def zstd_bits_per_id(ids: np.ndarray, list_offsets: np.ndarray) -> float:
    """Baseline: zstd (level 19) over each list's sorted ids as deltas (uint64), one stream."""
    import zstandard

    parts = []
    for a, b in zip(list_offsets[:-1], list_offsets[1:]):
        s = np.sort(ids[a:b]).astype(np.uint64)
        parts.append(np.diff(s, prepend=np.uint64(0)))
    raw = np.concatenate(parts).tobytes() if parts else b""
    return 8.0 * len(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw))
