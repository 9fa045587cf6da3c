"""Shard merges: the library behind `vtool merge` and `vtool merge-results`.

merge: indexes made from one model (same fingerprint) become one index, list by list in one
streaming pass: list l holds shard 1's rows of l, then shard 2's, ... — exactly what one
`vtool add` of all the inputs in that order gives. Compressed ids and codes are read decoded;
the result's ids are coded again as the first input's (or `method`). With id_offset="auto"
each shard's ids are shifted past the previous shard's largest (shards built independently all
start at 0); the offsets go into the provenance. Otherwise duplicate ids are refused, naming
the first one and both files.

merge-results: per-shard search results become one: the k best of each query (ties to the
smaller id), or for range results every result, nearest first.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from vtool import log, memory
from vtool.errors import VtoolError
from vtool.index.container import SectionSpec, VtiWriter
from vtool.index.index import find_duplicates, load_index
from vtool.index.codestore import store_class
from vtool.io.atomic import atomic_path, check_output_path, open_memmap, owner_tag, remove_stale


def merge(inputs: list[str], output: str, id_offset: str | None = None, method: str | None = None,
          batch_size: int = 65536, verify: bool = True) -> dict:
    """Merge indexes of one model into output; returns a report. Under memory.limited: pieces
    sized to the budget, memory maps kept out of RSS (recoding the ids to a compressed codec
    afterwards is not bounded by it)."""
    if len(inputs) < 1:
        raise VtoolError("give the indexes to merge")
    if id_offset not in (None, "auto"):
        raise VtoolError(f"--id-offset takes 'auto', got {id_offset!r}")
    if batch_size < 1:
        raise VtoolError("--batch-size must be positive")
    check_output_path(output)
    t0 = time.perf_counter()
    shards = [load_index(p, verify=verify) for p in inputs]
    first = shards[0]
    for path, shard in zip(inputs[1:], shards[1:]):
        if shard.header.get("model_fingerprint") != first.header.get("model_fingerprint"):
            raise VtoolError(f"{path}: made from another model than {inputs[0]} (fingerprint "
                             f"{shard.header.get('model_fingerprint')} against {first.header.get('model_fingerprint')}); "
                             "only shards of one model merge")
    if first.structure.is_graph:
        raise VtoolError(f"{inputs[0]}: a graph index ({first.spec}) does not merge list by list; add every input "
                         "to one graph instead")
    out_dir = Path(output).parent if str(Path(output).parent) else Path(".")
    offsets = _id_offsets(inputs, shards, id_offset, out_dir)
    sizes = sum(s.list_sizes for s in shards)
    ntotal = int(sizes.sum())
    list_offsets = np.zeros(first.nlist + 1, np.int64)
    np.cumsum(sizes, out=list_offsets[1:])
    recode = method or (first.header.get("id_codec") if first.header.get("id_codec", "int64") != "int64" else None)
    codes = first.header.get("code_codec")  # ANS-coded codes are coded again too
    if codes and not recode:
        recode = "int64"
    remove_stale(out_dir)
    with tempfile.TemporaryDirectory(prefix="." + owner_tag("vtool-add"), dir=out_dir) as scratch:
        plain = os.path.join(scratch, "merged.vti")
        if recode:
            _write(shards, inputs, offsets, list_offsets, Path(plain), scratch, batch_size)
            from vtool.commands.compress import compress_ids

            compress_ids(plain, output, method=recode, check=False, codes=codes)
        else:
            with atomic_path(output) as tmp:
                _write(shards, inputs, offsets, list_offsets, tmp, scratch, batch_size)
    return {"inputs": len(inputs), "ntotal": ntotal, "spec": str(first.spec), "id_offsets": offsets,
            "id_codec": recode or "int64", "seconds": time.perf_counter() - t0}


def _id_offsets(inputs: list[str], shards, id_offset: str | None, scratch_dir) -> list[int]:
    """Each shard's id shift: past the previous shard's largest (auto), else none, once the
    ids are known to be unique across shards (the first duplicate named with both files)."""
    if id_offset == "auto":
        offsets, top = [], -1
        for shard in shards:
            low = int(shard.ids.min()) if shard.ntotal else 0
            shift = max(0, top + 1 - low)
            offsets.append(shift)
            if shard.ntotal:
                top = int(shard.ids.max()) + shift
        if top >= 2**63 - 1:
            raise VtoolError("shifted ids would pass the largest int64")
        return offsets
    with tempfile.TemporaryDirectory(prefix="." + owner_tag("vtool-add"), dir=scratch_dir) as scratch:
        n = sum(s.ntotal for s in shards)
        everything = open_memmap(os.path.join(scratch, "ids.npy"), np.int64, (n,)) if n else np.zeros(0, np.int64)
        at = 0
        for shard in shards:
            everything[at:at + shard.ntotal] = shard.ids
            at += shard.ntotal
        value, count = find_duplicates(everything, scratch)
        if count:
            holders = [p for p, shard in zip(inputs, shards) if np.any(shard.ids == value)]
            where = f"{holders[0]} and {holders[1]}" if len(holders) > 1 else f"{holders[0]} (twice)"
            raise VtoolError(f"duplicate id {value} in {where} ({count} duplicates in all); give --id-offset auto "
                             "to shift each shard's ids past the previous one's")
        del everything
    return [0] * len(shards)


def _write(shards, inputs, offsets, list_offsets, tmp: Path, scratch: str, batch_size: int) -> None:
    first = shards[0]
    enc = first.encoding
    sizes = np.diff(list_offsets)
    ntotal = int(list_offsets[-1])
    store = store_class(enc, {})  # plain layout: compressed codes are read decoded
    trained = first.trained_arrays()
    specs = [SectionSpec(name, a.dtype.str, a.shape) for name, a in trained.items()]
    specs.append(SectionSpec("list_offsets", "<i8", (first.nlist + 1,)))
    specs += [SectionSpec(*s) for s in store.section_specs(enc, sizes)]
    specs.append(SectionSpec("ids", "<i8", (ntotal,)))
    if first.refiner is not None:
        specs.append(SectionSpec("refine", "<f4", (ntotal, first.d)))
    provenance = dict(first.header.get("provenance", {}))
    provenance["merge"] = [{"name": os.path.basename(p), "ntotal": s.ntotal, "id_offset": o,
                            "provenance": s.header.get("provenance", {}).get("add", [])}
                           for p, s, o in zip(inputs, shards, offsets)]
    w = VtiWriter(tmp, first.make_header(ntotal, provenance), specs)
    for name, a in trained.items():
        w.section(name)[...] = a
    w.section("list_offsets")[...] = list_offsets
    sections = {s.name: w.section(s.name) for s in specs}
    row_codes = store.row_target(sections, scratch, ntotal, enc)
    ids, refine = sections["ids"], sections.get("refine")
    batch_size = memory.rows(2 * (enc.code_size + 8 + (4 * first.d if refine is not None else 0)), batch_size)
    pace = memory.Releaser(row_codes, ids, refine, *(s.mapping for s in shards))
    with log.progress("merging", ntotal) as advance:
        for lst in np.flatnonzero(sizes):
            at = int(list_offsets[lst])
            for shard, shift in zip(shards, offsets):
                a, b = int(shard.list_offsets[lst]), int(shard.list_offsets[lst + 1])
                for c in range(a, b, batch_size):  # a long list in pieces: memory bounded by batch_size
                    d = min(b, c + batch_size)
                    rows = np.arange(c, d)
                    with shard.decoding():
                        row_codes[at:at + d - c] = shard.store.rows(rows)
                        ids[at:at + d - c] = shard.id_codec.ids_of(rows) + shift
                    if refine is not None:
                        refine[at:at + d - c] = shard.refiner.vectors[c:d]
                    at += d - c
                    advance(d - c)
                    pace((d - c) * (enc.code_size + 8))
    store.finish(enc, sections, row_codes, list_offsets)
    w.finish()


def merge_results(inputs: list[str], output: str, k: int | None = None, metric: str = "l2",
                  fmt: str | None = None, out_format: str | None = None) -> dict:
    """Per-shard results of the same queries into one: the k best (k-NN) or all, nearest first
    (range). Ties go to the smaller id."""
    from vtool.io.results import (read_range_results, read_results, result_format, range_format,
                                  results_kind, write_range_results, write_results)

    if not inputs:
        raise VtoolError("give the results to merge")
    if metric not in ("l2", "ip", "cosine"):
        raise VtoolError(f"unknown metric {metric!r}; choose l2, ip or cosine")
    kinds = {results_kind(p, fmt) for p in inputs}
    if len(kinds) > 1:
        raise VtoolError("k-NN and range results do not merge together")
    sign = 1.0 if metric == "l2" else -1.0
    if kinds == {"range"}:
        range_format(output, out_format)
        check_output_path(output)
        parts = [read_range_results(p, fmt) for p in inputs]
        nq = {len(lims) - 1 for lims, _, _ in parts}
        if len(nq) > 1:
            raise VtoolError(f"the results are for different numbers of queries ({sorted(nq)})")
        q_of = np.concatenate([np.repeat(np.arange(len(lims) - 1), np.diff(lims)) for lims, _, _ in parts])
        ids = np.concatenate([i for _, i, _ in parts])
        dist = np.concatenate([d for _, _, d in parts])
        order = np.lexsort((ids, sign * dist.astype(np.float64), q_of))
        lims = np.zeros(nq.pop() + 1, np.int64)
        np.cumsum(np.bincount(q_of, minlength=len(lims) - 1), out=lims[1:])
        write_range_results(output, lims, ids[order], dist[order], out_format)
        return {"inputs": len(inputs), "kind": "range", "queries": len(lims) - 1, "results": int(lims[-1])}
    result_format(output, out_format)
    check_output_path(output)
    parts = [read_results(p, fmt=fmt) for p in inputs]
    shapes = {ids.shape[0] for ids, _ in parts}
    if len(shapes) > 1:
        raise VtoolError(f"the results are for different numbers of queries ({sorted(shapes)})")
    if any(d is None for _, d in parts):
        raise VtoolError("results without distances cannot be merged (nothing to rank by)")
    ids = np.concatenate([i for i, _ in parts], axis=1)
    dist = np.concatenate([d for _, d in parts], axis=1).astype(np.float64)
    k = k or max(i.shape[1] for i, _ in parts)
    if k < 1:
        raise VtoolError("-k must be at least 1")
    key = np.where(ids >= 0, sign * dist, np.inf)
    order = np.lexsort((np.where(ids >= 0, ids, np.iinfo(np.int64).max), key), axis=1)[:, :k]
    out_ids = np.take_along_axis(ids, order, 1)
    out_dist = np.take_along_axis(dist, order, 1).astype(np.float32)
    if out_ids.shape[1] < k:  # fewer results than k in all the shards together
        pad = k - out_ids.shape[1]
        out_ids = np.pad(out_ids, ((0, 0), (0, pad)), constant_values=-1)
        out_dist = np.pad(out_dist, ((0, 0), (0, pad)), constant_values=np.inf if metric == "l2" else -np.inf)
    write_results(output, out_ids, out_dist, out_format)
    return {"inputs": len(inputs), "kind": "knn", "queries": int(out_ids.shape[0]), "k": k}
