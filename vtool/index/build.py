"""Training a model and adding vectors (or precomputed codes) to it: the library behind
`vtool train` and `vtool add`.

`add` streams its inputs with memory bounded by the batch size: pass 1 assigns and
encodes every batch and spills (list, code, id) to scratch files; pass 2 scatters each
spilled batch to its final row in the output file's memory map, so lists come out
contiguous without ever holding the data in RAM. RFlat indexes re-read the inputs in
pass 2 for the raw vectors.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vtool import __version__, _native, log
from vtool.errors import VtoolError
from vtool.index.container import SectionSpec, VtiWriter, write_vti
from vtool.index.ivf import Index, load_index
from vtool.index.spec import IndexSpec, parse_spec
from vtool.io.atomic import atomic_path, check_output_path
from vtool.io.codes import CodesFile, is_codes_file, open_codes
from vtool.io.vectors import VectorFile, open_vectors
from vtool.quant.factory import make_encoding
from vtool.quant.kmeans import assign, kmeans
from vtool.quant.opq import OPQ

METRICS = ("l2", "ip")
POINTS_PER_CENTROID = 256  # default training sample: 256 per centroid, as Faiss


def _input_record(path: str, rows: int, hashed: bool = True) -> dict:
    """Provenance of one input. hashed=False gives a same-length placeholder (reserves header room)."""
    return {"name": os.path.basename(path), "rows": rows, "sha256": _sha256(path) if hashed else "0" * 64}


def _sha256(path: str) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def _default_max_train(spec: IndexSpec) -> int:
    needs = [POINTS_PER_CENTROID * spec.nlist] if spec.nlist else []
    if spec.encoding in ("PQ", "PQfs", "RQ"):
        needs.append(POINTS_PER_CENTROID * (1 << spec.nbits))
    if spec.opq_m or spec.encoding in ("SQ8", "SQfp16"):
        needs.append(65536)
    return max(needs, default=0)


def train(input_path: str, output: str, spec_text: str, metric: str = "l2", seed: int = 0,
          max_train: int | None = None, niter: int = 25, init: str = "random", beam: int = 1,
          fmt: str | None = None, column: str | None = None) -> dict:
    """Learn the rotation, coarse quantizer and codebooks from a random sample; write a model."""
    spec = parse_spec(spec_text)
    if metric not in METRICS:
        raise VtoolError(f"unknown metric {metric!r}; choose l2 or ip")
    if beam < 1:
        raise VtoolError("--beam must be at least 1")
    check_output_path(output)
    vf = open_vectors(input_path, fmt, column)
    spec.check_dimension(vf.d)
    encoding = make_encoding(spec, spec.vector_dim(vf.d), beam=beam)
    report = {"spec": str(spec), "d": vf.d, "metric": metric, "seed": seed, "input_rows": vf.n}
    t0 = time.perf_counter()
    params: dict = {"seed": seed}
    sections: dict[str, np.ndarray] = {}
    cap = max_train if max_train is not None else _default_max_train(spec)
    if cap:
        if spec.nlist is not None and (vf.n < spec.nlist or cap < spec.nlist):
            raise VtoolError(f"{input_path}: {min(vf.n, cap)} training vectors cannot train {spec.nlist} lists")
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(vf.n, cap, replace=False)) if vf.n > cap else np.arange(vf.n)
        log.info(f"training {spec} on {len(rows)} of {vf.n} vectors")
        x = vf.read_rows(rows)
        params.update(max_train=cap, sample_rows=len(rows))
        if spec.opq_m:
            opq = OPQ(vf.d, spec.opq_m, spec.opq_dout)
            report.update(opq.train(x, seed=seed))
            sections.update(opq.arrays())
            x = opq.apply(x)
        if spec.nlist is not None:
            result = kmeans(x, spec.nlist, niter=niter, seed=seed, init=init, metric=metric)
            sections["centroids"] = result.centroids
            params.update(niter=niter, init=init)
            report.update(kmeans_objective=result.objective[-1], empty_splits=result.splits)
            if encoding.by_residual:
                labels, _ = assign(x, result.centroids, metric)
                x = x - result.centroids[labels]
        report.update(encoding.train(x, seed=seed))
        sections.update(encoding.arrays())
    if spec.encoding == "RQ":
        params["beam"] = beam
    fingerprint = model_fingerprint(str(spec), vf.d, metric, sections)
    nlists = spec.nlist or 1
    sections["list_offsets"] = np.zeros(nlists + 1, dtype=np.int64)
    if spec.encoding == "PQfs":
        sections["block_offsets"] = np.zeros(nlists + 1, dtype=np.int64)
        sections["codes"] = np.zeros((0, 16 * spec.m), dtype=np.uint8)
    else:
        sections["codes"] = np.zeros((0, encoding.code_size), dtype=np.uint8)
    sections["ids"] = np.zeros(0, dtype=np.int64)
    if spec.refine:
        sections["refine"] = np.zeros((0, vf.d), dtype=np.float32)
    header = _header("model", str(spec), vf.d, metric, 0, fingerprint,
                     {"train": {"inputs": [_input_record(vf.path, vf.n)], **params}},
                     beam if spec.encoding == "RQ" else None)
    write_vti(output, header, sections)
    report["seconds"] = time.perf_counter() - t0
    report["model_fingerprint"] = fingerprint
    return report


def model_fingerprint(spec: str, d: int, metric: str, trained: dict[str, np.ndarray]) -> str:
    """CRC-32C of what a model learned: codes made with one model are refused by another."""
    crc = _native.crc32c(f"{spec}|{d}|{metric}".encode())
    for name in sorted(trained):
        crc = _native.crc32c(np.ascontiguousarray(trained[name]).view(np.uint8).reshape(-1), crc)
    return f"{crc:08x}"


def _header(kind: str, spec: str, d: int, metric: str, ntotal: int, fingerprint: str, provenance: dict,
            beam: int | None = None) -> dict:
    header = {"format": "vti", "kind": kind, "spec": spec, "d": d, "metric": metric, "ntotal": ntotal,
              "id_codec": "int64", "model_fingerprint": fingerprint, "vtool_version": __version__,
              "provenance": provenance}
    if beam is not None:  # RQ: the beam width `add` and `encode` use
        header["rq_beam"] = beam
    return header


class _Source:
    """One input of `add`: a vector file, or a code file from `vtool encode`."""

    def __init__(self, path: str, model: Index, fmt, column, id_column):
        self.path = path
        if is_codes_file(path):
            self.codes: CodesFile | None = open_codes(path)
            self.vectors: VectorFile | None = None
            check_codes_match(model, self.codes, path)
            if model.spec.refine:
                raise VtoolError(f"{path}: an RFlat index keeps the raw vectors; add vectors, not codes")
            self.n = self.codes.n
        else:
            self.codes = None
            self.vectors = open_vectors(path, fmt, column, id_column)
            if self.vectors.d != model.d:
                raise VtoolError(f"{path}: vectors have dimension {self.vectors.d}, the model expects {model.d}")
            self.n = self.vectors.n


def check_codes_match(model: Index, cf: CodesFile, path: str) -> None:
    """Codes from `vtool encode` must come from this very model, at its code width."""
    if cf.fingerprint != model.header.get("model_fingerprint"):
        raise VtoolError(f"{path}: codes were made by another model (fingerprint {cf.fingerprint}, "
                         f"this model {model.header.get('model_fingerprint')})")
    if cf.code_size != model.encoding.code_size:
        raise VtoolError(f"{path}: codes are {cf.code_size} bytes wide, the model's are {model.encoding.code_size}")


def code_lists(model: Index, lists: np.ndarray, path: str) -> np.ndarray:
    """The list numbers of a code file, checked against the model (all 0 without IVF)."""
    if model.centroids is None:
        return np.zeros(len(lists), dtype=np.int64)
    if len(lists) and (lists.min() < 0 or lists.max() >= model.nlist):
        raise VtoolError(f"{path}: list number out of range for this model")
    return lists


def add(model_path: str, inputs: list[str], output: str, id_column: str | None = None,
        batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
        verify: bool = True) -> dict:
    """Assign, encode and store every input; the model may already hold vectors."""
    if batch_size <= 0:
        raise VtoolError("--batch-size must be positive")
    check_output_path(output)
    model = load_index(model_path, verify=verify)
    sources = [_Source(p, model, fmt, column, id_column) for p in inputs]
    n_new = sum(s.n for s in sources)
    t0 = time.perf_counter()
    hasher = ThreadPoolExecutor(1)  # provenance hashes while the passes run (hashlib releases the GIL)
    records = hasher.submit(lambda: [_input_record(s.path, s.n) for s in sources])
    out_dir = Path(output).parent if str(Path(output).parent) else Path(".")
    try:
        with tempfile.TemporaryDirectory(prefix=".vtool-add-", dir=out_dir) as scratch:
            spill = _Spill(scratch, n_new, model.encoding.code_size)
            counts = _encode_pass(model, sources, spill, batch_size)
            with atomic_path(output) as tmp:
                report = _write_pass(model, sources, spill, counts, tmp, batch_size, id_column, records, scratch)
    finally:
        hasher.shutdown(wait=False, cancel_futures=True)
    report.update(added=n_new, ntotal=model.ntotal + n_new, seconds=time.perf_counter() - t0)
    report["vectors_per_second"] = n_new / report["seconds"] if report["seconds"] > 0 else None
    return report


class _Spill:
    """Scratch memory maps holding pass 1's (list, code, id) of every new vector."""

    def __init__(self, scratch: str, n: int, code_size: int):
        def mm(name, dtype, shape):
            if not n:
                return np.zeros(shape, dtype)
            return np.lib.format.open_memmap(os.path.join(scratch, name), mode="w+", dtype=dtype, shape=shape)

        self.labels = mm("labels.npy", np.int32, (n,))
        self.codes = mm("codes.npy", np.uint8, (n, code_size))
        self.ids = mm("ids.npy", np.int64, (n,))


def encode_batch(model: Index, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(list numbers, codes) of a batch of input vectors under a trained model."""
    xt = model.transform(x)
    if model.centroids is None:
        labels = np.zeros(len(x), dtype=np.int64)
    else:
        labels, _ = assign(xt, model.centroids, model.metric)
    if model.encoding.by_residual and model.centroids is not None:
        xt = xt - model.centroids[labels]
    return labels, model.encoding.encode(xt)


def _encode_pass(model: Index, sources: list[_Source], spill: _Spill, batch_size: int) -> np.ndarray:
    counts = np.zeros(model.nlist, dtype=np.int64)
    row = 0
    next_id = int(model.ids.max()) + 1 if model.ntotal else 0
    with log.progress("encoding", len(spill.ids)) as advance:
        for src in sources:
            for lab, codes, ids in _source_batches(model, src, batch_size, next_id + row):
                if len(ids) and ids.min() < 0:
                    raise VtoolError(f"{src.path}: negative id {int(ids.min())} (ids must be >= 0; "
                                     "-1 means 'no result')")
                spill.labels[row:row + len(lab)] = lab
                spill.codes[row:row + len(lab)] = codes
                spill.ids[row:row + len(lab)] = ids
                counts += np.bincount(lab, minlength=model.nlist)
                row += len(lab)
                advance(len(lab))
    return counts


def _source_batches(model: Index, src: _Source, batch_size: int, first_id: int):
    if src.codes is not None:
        for ids, lists, codes in src.codes.batches(batch_size):
            yield code_lists(model, lists, src.path), codes, ids
        return
    for start, batch, batch_ids in src.vectors.batches(batch_size):
        lab, codes = encode_batch(model, batch)
        if batch_ids is None:
            batch_ids = np.arange(first_id + start, first_id + start + len(batch), dtype=np.int64)
        yield lab, codes, batch_ids


def _write_pass(model: Index, sources: list[_Source], spill: _Spill, counts: np.ndarray, tmp: Path,
                batch_size: int, id_column: str | None, records: Future, scratch: str) -> dict:
    old_sizes = model.list_sizes
    offsets = np.zeros(model.nlist + 1, dtype=np.int64)
    np.cumsum(old_sizes + counts, out=offsets[1:])
    ntotal = int(offsets[-1])
    enc = model.encoding
    provenance = dict(model.header.get("provenance", {}))
    provenance["add"] = list(provenance.get("add", [])) + [
        {"inputs": [_input_record(s.path, s.n, hashed=False) for s in sources], "id_column": id_column}]
    header = _header("index", str(model.spec), model.d, model.metric, ntotal, model.header.get("model_fingerprint", ""),
                     provenance, model.header.get("rq_beam"))
    fast_scan = model.fast_scan
    block_offsets = np.zeros(model.nlist + 1, dtype=np.int64)
    np.cumsum((old_sizes + counts + 31) // 32, out=block_offsets[1:])
    specs = [SectionSpec(name, a.dtype.str, a.shape) for name, a in _trained_sections(model).items()]
    specs.append(SectionSpec("list_offsets", "<i8", (model.nlist + 1,)))
    if fast_scan:
        specs.append(SectionSpec("block_offsets", "<i8", (model.nlist + 1,)))
        specs.append(SectionSpec("codes", "|u1", (int(block_offsets[-1]), 16 * enc.m)))
    else:
        specs.append(SectionSpec("codes", "|u1", (ntotal, enc.code_size)))
    specs.append(SectionSpec("ids", "<i8", (ntotal,)))
    if model.spec.refine:
        specs.append(SectionSpec("refine", "<f4", (ntotal, model.d)))
    w = VtiWriter(tmp, header, specs)
    for name, a in _trained_sections(model).items():
        w.section(name)[...] = a
    w.section("list_offsets")[...] = offsets
    ids = w.section("ids")
    refine = w.section("refine") if model.spec.refine else None
    # fast-scan lists are re-blocked at the end from row-ordered codes in a scratch map
    row_codes = (np.lib.format.open_memmap(os.path.join(scratch, "rows.npy"), mode="w+", dtype=np.uint8,
                                           shape=(ntotal, enc.code_size)) if fast_scan and ntotal
                 else w.section("codes") if not fast_scan else np.zeros((0, enc.code_size), np.uint8))
    if model.codes_source is not None:
        model.codes_source.ensure(np.arange(model.nlist))
    for lst in np.flatnonzero(old_sizes):  # existing rows first in each list
        a, b = model.list_offsets[lst], model.list_offsets[lst + 1]
        dst = slice(offsets[lst], offsets[lst] + b - a)
        row_codes[dst] = model._fast_scan_row_codes(np.arange(a, b)) if fast_scan else model.codes[a:b]
        ids[dst] = model.ids[a:b]
        if refine is not None:
            refine[dst] = model.refine[a:b]
    cursor = offsets[:-1] + old_sizes
    n_new = len(spill.ids)
    positions = (np.lib.format.open_memmap(os.path.join(scratch, "positions.npy"), mode="w+", dtype=np.int64,
                                           shape=(n_new,)) if refine is not None and n_new else None)
    with log.progress("writing", n_new) as advance:
        for a in range(0, n_new, batch_size):
            lab = spill.labels[a:a + batch_size].astype(np.int64)
            order = np.argsort(lab, kind="stable")
            sorted_lab = lab[order]
            first_of_group = np.searchsorted(sorted_lab, sorted_lab, side="left")
            pos = np.empty(len(lab), dtype=np.int64)
            pos[order] = cursor[sorted_lab] + np.arange(len(lab)) - first_of_group
            row_codes[pos] = spill.codes[a:a + batch_size]
            ids[pos] = spill.ids[a:a + batch_size]
            if positions is not None:
                positions[a:a + len(lab)] = pos
            cursor += np.bincount(lab, minlength=model.nlist)
            advance(len(lab))
    if refine is not None:  # raw vectors, re-read in input order
        row = 0
        for src in sources:
            for _, batch, _ in src.vectors.batches(batch_size):
                refine[positions[row:row + len(batch)]] = batch
                row += len(batch)
    if fast_scan:
        w.section("block_offsets")[...] = block_offsets
        blocks = w.section("codes")
        for lst in np.flatnonzero(old_sizes + counts):
            blocks[block_offsets[lst]:block_offsets[lst + 1]] = enc.to_blocks(row_codes[offsets[lst]:offsets[lst + 1]])
    if id_column is not None or model.ntotal or any(s.codes is not None for s in sources):
        _check_unique(ids)
    provenance["add"][-1]["inputs"] = records.result()
    w.header = _header("index", str(model.spec), model.d, model.metric, ntotal, model.header.get("model_fingerprint", ""),
                       provenance, model.header.get("rq_beam"))
    w.finish()
    sizes = old_sizes + counts
    return {"spec": str(model.spec), "nlist": model.nlist, "list_size_max": int(sizes.max()),
            "list_size_min": int(sizes.min())}


def _trained_sections(model: Index) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if model.opq is not None:
        out.update(model.opq.arrays())
    if model.centroids is not None:
        out["centroids"] = model.centroids
    out.update(model.encoding.arrays())
    return out


def _check_unique(ids: np.ndarray) -> None:
    """Duplicate ids are refused (a search could not tell the vectors apart).

    This holds one sorted copy of the ids in memory (8 bytes per vector)."""
    s = np.sort(ids)
    dup = np.flatnonzero(s[1:] == s[:-1])
    if len(dup):
        raise VtoolError(f"duplicate id {int(s[dup[0]])} ({len(dup)} duplicates in all); ids must be unique")
