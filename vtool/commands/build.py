"""The file drivers behind `vtool train` and `vtool add`: the same parts as the Python API
(vtool/index/index.py), fed from vector files larger than RAM.

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

from vtool import log, memory
from vtool.distributed import DaskOptions
from vtool.errors import VtoolError
from vtool.index.codestore import store_class
from vtool.index.container import SectionSpec, VtiWriter
from vtool.index.index import Index, check_unique, load_index, model_options, sample_rows
from vtool.index.spec import parse_spec
from vtool.io.atomic import atomic_path, check_output_path, open_memmap, owner_tag, remove_stale
from vtool.io.codes import CodesFile, is_codes_file, open_codes
from vtool.io.inputs import check_input_file, source_name
from vtool.io.vectors import VectorFile, open_vectors
from vtool.workers import row_ranges


def metric_for(path: str, metric: str | None, fmt: str | None = None) -> tuple[str, str | None]:
    """(the metric, a note when it came from the file): as given, else what an ann-benchmarks
    HDF5 file's `distance` attribute names (angular: cosine), else l2."""
    if metric is not None:
        return metric, None
    from vtool.io.vectors import detect_format

    if str(path) != "-" and detect_format(path, fmt) == "hdf5":
        from vtool.io import hdf5

        found = hdf5.metric_of(check_input_file(path, ranged=True))
        if found:
            note = f"metric {found}, from the file's distance attribute"
            log.info(note)
            return found, note
    return "l2", None


def _input_record(path: str, rows: int, hashed: bool = True) -> dict:
    """Provenance of one input. hashed=False gives a same-length placeholder (reserves header room)."""
    return {"name": os.path.basename(source_name(path)), "rows": rows,
            "sha256": _sha256(check_input_file(path, ranged=True)) if hashed else "0" * 64}


def _sha256(path: str) -> str:
    """The file's SHA-256 (a URL's read through once, not kept)."""
    import hashlib

    from vtool.io import remote

    h = hashlib.sha256()
    with (remote.open_url(path) if remote.is_url(path) else open(path, "rb")) as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def train(input_path: str, output: str, spec_text: str, metric: str | None = None, seed: int = 0,
          max_train: int | None = None, niter: int = 25, init: str = "random", beam: int = 1,
          fmt: str | None = None, column: str | None = None, ef_construction: int | None = None) -> dict:
    """Learn the transform, coarse quantizer and codebooks from a random sample; write a model.
    metric: as given, else the input's (an ann-benchmarks HDF5 file names it), else l2."""
    spec = parse_spec(spec_text)
    metric, note = metric_for(input_path, metric, fmt)
    options = model_options(spec, seed, beam, ef_construction)
    check_output_path(output)
    vf = open_vectors(input_path, fmt, column)
    model = Index(spec, vf.d, metric, options=options)
    report = {"spec": str(spec), "d": vf.d, "metric": metric, "seed": seed, "input_rows": vf.n}
    if note:
        report["metric_note"] = note
    t0 = time.perf_counter()
    params: dict = {"seed": seed}
    cap = max_train if max_train is not None else model.default_max_train()
    if cap and memory.budget() is not None:
        fits = memory.rows(3 * 4 * model.d + 256, cap, share=0.5)  # the sample, its residuals, k-means blocks
        if fits < min(cap, vf.n):
            log.warning(f"training on {fits} rows instead of {min(cap, vf.n)} to stay under the memory budget")
            cap = fits
    if cap:
        if spec.nlist is not None and min(vf.n, cap) < spec.nlist:
            raise VtoolError(f"{input_path}: {min(vf.n, cap)} training vectors cannot train {spec.nlist} lists")
        rows = sample_rows(vf.n, cap, seed)
        log.info(f"training {spec} on {len(rows)} of {vf.n} vectors")
        params.update(max_train=cap, sample_rows=len(rows))
        if spec.nlist is not None:
            params.update(niter=niter, init=init)
        sample = vf.read_rows(rows)
        memory.release(vf.random_access() if vf.has_random_access else None)
        report.update(model.train(sample, seed=seed, niter=niter, init=init))
    params.update(model.encoding.header_fields())
    model.header = {"provenance": {"train": {"inputs": [_input_record(vf.path, vf.n)], **params}}}
    model.save(output)
    report["seconds"] = time.perf_counter() - t0
    report["model_fingerprint"] = model.fingerprint()
    return report


class _Source:
    """One input of `add`: a vector file, or a code file from `vtool encode`."""

    def __init__(self, path: str, model: Index, fmt, column, id_column):
        self.path = path
        if is_codes_file(path):
            self.codes: CodesFile | None = open_codes(path)
            self.vectors: VectorFile | None = None
            check_codes_match(model, self.codes, path)
            if model.refiner is not None:
                raise VtoolError(f"{path}: an RFlat index keeps the raw vectors; add vectors, not codes")
            self.n = self.codes.n
        else:
            self.codes = None
            self.vectors = open_vectors(path, fmt, column, id_column, normalize=model.cosine)
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
    if not model.structure.has_centroids:
        return np.zeros(len(lists), dtype=np.int64)
    if len(lists) and (lists.min() < 0 or lists.max() >= model.nlist):
        raise VtoolError(f"{path}: list number out of range for this model")
    return lists


def add(model_path: str, inputs: list[str], output: str, id_column: str | None = None,
        batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
        verify: bool = True, threads: int | None = None, shard: str | None = None,
        dask: DaskOptions | None = None) -> dict:
    """Assign, encode and store every input; the model may already hold vectors. A graph
    links the new vectors after they are stored (threads: all cores by default; the graph
    does not depend on it). shard "I/N": only the I-th of N equal parts of one input's rows,
    its ids the rows' numbers in the file (shards then merge without collisions). dask: the
    vector inputs are encoded on a Dask cluster in row ranges, the index written here; the
    bytes are those of a local add. Under memory.limited: batches sized to the budget and memory
    maps kept out of RSS (not bounded: the model, and a graph's vectors, N x d x 4 bytes)."""
    if batch_size <= 0:
        raise VtoolError("--batch-size must be positive")
    if threads is not None and threads < 1:
        raise VtoolError("--threads must be at least 1")
    check_output_path(output)
    model = load_index(model_path, verify=verify)
    sources = [_Source(p, model, fmt, column, id_column) for p in inputs]
    if shard is not None:
        if len(sources) != 1 or sources[0].vectors is None:
            raise VtoolError("--shard takes one vector file (the shards of one input)")
        if model.ntotal:
            raise VtoolError("--shard builds a shard from a model; this model already holds vectors")
        sources[0].vectors = sources[0].vectors.shard(shard)
        sources[0].n = sources[0].vectors.n
    n_new = sum(s.n for s in sources)
    batch_size = memory.rows(_add_bytes_per_row(model), batch_size)
    if dask is not None and model.structure.is_graph:
        raise VtoolError("--dask encodes on workers, but a graph links its nodes on one machine: add to "
                         f"{model.spec} without --dask")
    graph = _GraphInput(model, n_new, threads) if model.structure.is_graph else None
    t0 = time.perf_counter()
    hasher = ThreadPoolExecutor(1)  # provenance hashes while the passes run (hashlib releases the GIL)
    records = hasher.submit(lambda: [_input_record(s.path, s.n) for s in sources])
    out_dir = Path(output).parent if str(Path(output).parent) else Path(".")
    try:
        remove_stale(out_dir)
        with tempfile.TemporaryDirectory(prefix="." + owner_tag("vtool-add"), dir=out_dir) as scratch:
            spill = _Spill(scratch, n_new, model.encoding.code_size)
            if dask is None:
                counts = _encode_pass(model, sources, spill, batch_size, graph)
            else:
                counts = _encode_pass_dask(model_path, verify, model, sources, spill, batch_size, dask)
            with atomic_path(output) as tmp:
                report = _write_pass(model, sources, spill, counts, tmp, batch_size, id_column, records, scratch,
                                     graph)
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
            return open_memmap(os.path.join(scratch, name), dtype=dtype, shape=shape)

        self.labels = mm("labels.npy", np.int32, (n,))
        self.codes = mm("codes.npy", np.uint8, (n, code_size))
        self.ids = mm("ids.npy", np.int64, (n,))

    def put(self, row: int, lab, codes, ids, counts: np.ndarray, path: str) -> None:
        """Vectors from row on (ids checked), counted into their lists."""
        if len(ids) and ids.min() < 0:
            raise VtoolError(f"{path}: negative id {int(ids.min())} (ids must be >= 0; -1 means 'no result')")
        self.labels[row:row + len(lab)] = lab
        self.codes[row:row + len(lab)] = codes
        self.ids[row:row + len(lab)] = ids
        counts += np.bincount(lab, minlength=len(counts))
        memory.release(self.labels, self.codes, self.ids)


class _GraphInput:
    """What linking a graph needs: the float32 vectors of every node, old and new (as decoded
    when they come as codes), held in RAM (N x d x 4 bytes), and the new nodes' levels."""

    def __init__(self, model: Index, n_new: int, threads: int | None):
        from vtool import _native

        n_old = model.ntotal
        self.threads = threads or _native.default_threads()
        self.levels = model.structure.draw_levels(n_old, n_new)
        dv = model.spec.vector_dim(model.d)
        self.vectors = np.empty((n_old + n_new, dv), dtype=np.float32)
        for a in range(0, n_old, 65536):
            b = min(n_old, a + 65536)
            self.vectors[a:b] = model.encoding.decode(model.store.rows(np.arange(a, b)))
        self.n_old = n_old

    def put(self, model: Index, row: int, batch: np.ndarray | None, codes: np.ndarray) -> None:
        """New vectors from row on: as given, or decoded from codes (an input from `vtool encode`)."""
        at = self.n_old + row
        self.vectors[at:at + len(codes)] = (model.apply_transform(batch) if batch is not None
                                            else model.encoding.decode(codes))


def _encode_pass(model: Index, sources: list[_Source], spill: _Spill, batch_size: int,
                 graph: _GraphInput | None) -> np.ndarray:
    counts = np.zeros(model.nlist, dtype=np.int64)
    row = 0
    next_id = _next_id(model)
    with log.progress("encoding", len(spill.ids)) as advance:
        for src in sources:
            for lab, codes, ids, batch in _source_batches(model, src, batch_size, next_id + row):
                if graph is not None:
                    graph.put(model, row, batch, codes)
                spill.put(row, lab, codes, ids, counts, src.path)
                row += len(lab)
                advance(len(lab))
    return counts


def _add_bytes_per_row(model: Index) -> int:
    """Working memory of one row of an add batch: the vector as read, in float32, transformed
    and as a residual, its coarse distances (a block of lists at a time), code and id."""
    return 4 * model.d * 4 + 4 * min(model.nlist, 1024) + 2 * model.encoding.code_size + 32


def _next_id(model: Index) -> int:
    """The first id of vectors added without ids: past the largest the model holds."""
    return int(model.ids.max()) + 1 if model.ntotal else 0


def _encode_pass_dask(model_path: str, verify: bool, model: Index, sources: list[_Source], spill: _Spill,
                      batch_size: int, options: DaskOptions) -> np.ndarray:
    """Pass 1 on a Dask cluster: each vector input in row ranges of whole batches (so every
    batch is the one a local pass reads), encoded on workers; code-file inputs are read here."""
    from vtool import distributed

    counts = np.zeros(model.nlist, dtype=np.int64)
    next_id, row, tasks, places = _next_id(model), 0, [], []
    with distributed.cluster(options) as cluster:
        for src in sources:
            if src.vectors is None:
                for lab, codes, ids, _ in _source_batches(model, src, batch_size, 0):
                    spill.put(row, lab, codes, ids, counts, src.path)
                    row += len(lab)
                continue
            vf = src.vectors
            for a, b in row_ranges(vf.n, cluster.workers * options.tasks_per_worker, batch_size):
                tasks.append((distributed.worker_path(model_path), verify, distributed.worker_path(vf.path),
                              vf.format, vf.column, vf.id_column, vf.window, a, b, batch_size, next_id + row,
                              options.scratch))
                places.append((row + a, src.path))
            row += src.n
        for i, run in cluster.map(encode_rows, tasks, "encoding", sizes=[t[8] - t[7] for t in tasks]):
            lab, codes, ids = _read_run(run)
            spill.put(places[i][0], lab, codes, ids, counts, places[i][1])
    return counts


def encode_rows(model_path: str, verify: bool, path: str, fmt, column, id_column, window, a: int, b: int,
                batch_size: int, first_id: int, scratch: str | None):
    """A Dask task: (lists int32, codes, ids) of rows [a, b) of a vector input (of its window),
    or the path of an .npz holding them in the shared scratch directory."""
    from vtool.distributed import worker_index

    model = worker_index(model_path, verify)
    vf = open_vectors(path, fmt, column, id_column, normalize=model.cosine)
    if window is not None:
        vf = vf.rows_between(window[0], window[1])
    parts = list(_vector_batches(model, vf.rows_between(a, b), batch_size, first_id))
    lab = np.concatenate([p[0] for p in parts]).astype(np.int32)
    codes = np.concatenate([p[1] for p in parts])
    ids = np.concatenate([p[2] for p in parts]).astype(np.int64)
    if scratch is None:
        return lab, codes, ids
    out = os.path.join(scratch, f"vtool-run-{os.getpid()}-{first_id}-{a}.npz")
    np.savez(out, lists=lab, codes=codes, ids=ids)
    return out


def _read_run(run):
    if not isinstance(run, str):
        return run
    with np.load(run) as f:
        parts = f["lists"], f["codes"], f["ids"]
    os.unlink(run)
    return parts


def _source_batches(model: Index, src: _Source, batch_size: int, first_id: int):
    if src.codes is not None:
        for ids, lists, codes in src.codes.batches(batch_size):
            yield code_lists(model, lists, src.path), codes, ids, None
        return
    yield from _vector_batches(model, src.vectors, batch_size, first_id)


def _vector_batches(model: Index, vf: VectorFile, batch_size: int, first_id: int):
    """(lists, codes, ids, batch) of each batch; ids from the file, else first_id + row number."""
    for start, batch, batch_ids in vf.batches(batch_size):
        lab, codes = model.encode(batch)
        if batch_ids is None:
            batch_ids = np.arange(first_id + start, first_id + start + len(batch), dtype=np.int64)
        yield lab, codes, batch_ids, batch


def _write_pass(model: Index, sources: list[_Source], spill: _Spill, counts: np.ndarray, tmp: Path,
                batch_size: int, id_column: str | None, records: Future, scratch: str,
                graph: _GraphInput | None) -> dict:
    old_sizes = model.list_sizes
    offsets = np.zeros(model.nlist + 1, dtype=np.int64)
    np.cumsum(old_sizes + counts, out=offsets[1:])
    ntotal = int(offsets[-1])
    enc = model.encoding
    provenance = dict(model.header.get("provenance", {}))
    provenance["add"] = list(provenance.get("add", [])) + [
        {"inputs": [_input_record(s.path, s.n, hashed=False) for s in sources], "id_column": id_column}
        | ({"shard": f"{sources[0].vectors.window[0]}:{sources[0].vectors.window[1]}"}
           if sources and sources[0].vectors is not None and sources[0].vectors.window else {})]
    store = store_class(enc, {})  # plain layout again: compressed codes are decoded
    trained = model.trained_arrays()
    specs = [SectionSpec(name, a.dtype.str, a.shape) for name, a in trained.items()]
    specs.append(SectionSpec("list_offsets", "<i8", (model.nlist + 1,)))
    specs += [SectionSpec(*s) for s in store.section_specs(enc, old_sizes + counts)]
    if graph is not None:
        all_levels = np.concatenate([model.structure.levels, graph.levels])
        specs += [SectionSpec(*s) for s in model.structure.row_section_specs(all_levels)]
    specs.append(SectionSpec("ids", "<i8", (ntotal,)))
    if model.refiner is not None:
        specs.append(SectionSpec("refine", "<f4", (ntotal, model.d)))
    w = VtiWriter(tmp, model.make_header(ntotal, provenance), specs)
    for name, a in trained.items():
        w.section(name)[...] = a
    w.section("list_offsets")[...] = offsets
    sections = {s.name: w.section(s.name) for s in specs}
    ids = sections["ids"]
    refine = sections.get("refine")
    row_codes = store.row_target(sections, scratch, ntotal, enc)
    for lst in np.flatnonzero(old_sizes):  # existing rows first in each list
        a, b = model.list_offsets[lst], model.list_offsets[lst + 1]
        dst = slice(offsets[lst], offsets[lst] + b - a)
        row_codes[dst] = model.store.rows(np.arange(a, b))
        ids[dst] = model.ids[a:b]
        if refine is not None:
            refine[dst] = model.refiner.vectors[a:b]
    cursor = offsets[:-1] + old_sizes
    n_new = len(spill.ids)
    positions = (open_memmap(os.path.join(scratch, "positions.npy"), dtype=np.int64,
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
            memory.release(row_codes, ids, spill.labels, spill.codes, spill.ids, positions)
            advance(len(lab))
    if refine is not None:  # raw vectors, re-read in input order
        row = 0
        for src in sources:
            for _, batch, _ in src.vectors.batches(batch_size):
                refine[positions[row:row + len(batch)]] = batch
                row += len(batch)
                memory.release(refine, positions)
    store.finish(enc, sections, row_codes, offsets)
    if graph is not None:
        model.structure.grow(graph.levels, out=sections)
        model.structure.link(graph.vectors, graph.n_old, model.metric, graph.threads)
    if id_column is not None or model.ntotal or any(s.codes is not None for s in sources):
        check_unique(ids, scratch)
    provenance["add"][-1]["inputs"] = records.result()
    w.header = model.make_header(ntotal, provenance)
    w.finish()
    sizes = old_sizes + counts
    return {"spec": str(model.spec), "nlist": model.nlist, "list_size_max": int(sizes.max()),
            "list_size_min": int(sizes.min())}
