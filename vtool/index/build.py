"""Training a model and adding vectors to it: the library behind `vtool train` and `vtool add`.

`add` streams its inputs twice with memory bounded by the batch size: pass 1 assigns
every vector to a list (labels spill to a temp file), pass 2 scatters each batch to
its final row in the output file's memory map, so lists come out contiguous without
ever holding the data in RAM.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vtool import __version__, log
from vtool.errors import VtoolError
from vtool.index.container import SectionSpec, VtiWriter, write_vti
from vtool.index.ivf import Index, load_index
from vtool.index.spec import parse_spec
from vtool.io.atomic import atomic_path, check_output_path
from vtool.io.vectors import VectorFile, open_vectors
from vtool.quant.kmeans import assign, kmeans

METRICS = ("l2", "ip")
POINTS_PER_CENTROID = 256  # default training sample: 256 x nlist rows, as Faiss


def _input_record(vf: VectorFile, hashed: bool = True) -> dict:
    """Provenance of one input. hashed=False gives a same-length placeholder (reserves header room)."""
    return {"name": os.path.basename(vf.path), "rows": vf.n, "sha256": vf.content_hash() if hashed else "0" * 64}


def train(input_path: str, output: str, spec_text: str, metric: str = "l2", seed: int = 0,
          max_train: int | None = None, niter: int = 25, init: str = "random",
          fmt: str | None = None, column: str | None = None) -> dict:
    """Learn the coarse quantizer from a random sample of the input; write a model .vti."""
    spec = parse_spec(spec_text)
    if metric not in METRICS:
        raise VtoolError(f"unknown metric {metric!r}; choose l2 or ip")
    check_output_path(output)
    vf = open_vectors(input_path, fmt, column)
    report = {"spec": str(spec), "d": vf.d, "metric": metric, "seed": seed, "input_rows": vf.n}
    sections: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    train_params: dict = {"seed": seed}
    if spec.nlist is not None:
        cap = max_train if max_train is not None else POINTS_PER_CENTROID * spec.nlist
        if cap < spec.nlist:
            raise VtoolError(f"--max-train {cap} is below the number of lists {spec.nlist}")
        if vf.n < spec.nlist:
            raise VtoolError(f"{input_path}: {vf.n} vectors cannot train {spec.nlist} lists")
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(vf.n, cap, replace=False)) if vf.n > cap else np.arange(vf.n)
        log.info(f"training {spec} on {len(rows)} of {vf.n} vectors")
        sample = vf.read_rows(rows)
        result = kmeans(sample, spec.nlist, niter=niter, seed=seed, init=init, metric=metric)
        sections["centroids"] = result.centroids
        train_params.update(niter=niter, init=init, max_train=cap, sample_rows=len(rows))
        report.update(train_rows=len(rows), kmeans_objective=result.objective[-1], empty_splits=result.splits)
    nlists = spec.nlist or 1
    sections["list_offsets"] = np.zeros(nlists + 1, dtype=np.int64)
    sections["vectors"] = np.zeros((0, vf.d), dtype=np.float32)
    sections["ids"] = np.zeros(0, dtype=np.int64)
    header = _header("model", str(spec), vf.d, metric, 0,
                     {"train": {"inputs": [_input_record(vf)], **train_params}})
    write_vti(output, header, sections)
    report["seconds"] = time.perf_counter() - t0
    return report


def _header(kind: str, spec: str, d: int, metric: str, ntotal: int, provenance: dict) -> dict:
    return {"format": "vti", "kind": kind, "spec": spec, "d": d, "metric": metric, "ntotal": ntotal,
            "id_codec": "int64", "vtool_version": __version__, "provenance": provenance}


def add(model_path: str, inputs: list[str], output: str, id_column: str | None = None,
        batch_size: int = 65536, fmt: str | None = None, column: str | None = None,
        verify: bool = True) -> dict:
    """Assign and store the vectors of every input; the model may already hold vectors."""
    if batch_size <= 0:
        raise VtoolError("--batch-size must be positive")
    check_output_path(output)
    model = load_index(model_path, verify=verify)
    files = [open_vectors(p, fmt, column, id_column) for p in inputs]
    for vf in files:
        if vf.d != model.d:
            raise VtoolError(f"{vf.path}: vectors have dimension {vf.d}, the model expects {model.d}")
    n_new = sum(vf.n for vf in files)
    t0 = time.perf_counter()
    # Hash the inputs for the provenance record while the passes run (hashlib releases the GIL).
    hasher = ThreadPoolExecutor(1)
    records = hasher.submit(lambda: [_input_record(vf) for vf in files])
    out_dir = Path(output).parent if str(Path(output).parent) else Path(".")
    try:
        with tempfile.TemporaryDirectory(prefix=".vtool-add-", dir=out_dir) as scratch:
            labels = np.lib.format.open_memmap(os.path.join(scratch, "labels.npy"), mode="w+",
                                               dtype=np.int32, shape=(n_new,)) if n_new else np.zeros(0, np.int32)
            counts = _assign_pass(model, files, labels, batch_size)
            with atomic_path(output) as tmp:
                report = _write_pass(model, files, labels, counts, tmp, batch_size, id_column, records)
    finally:
        hasher.shutdown(wait=False, cancel_futures=True)
    report.update(added=n_new, ntotal=model.ntotal + n_new, seconds=time.perf_counter() - t0)
    report["vectors_per_second"] = n_new / report["seconds"] if report["seconds"] > 0 else None
    return report


def _assign_pass(model: Index, files: list[VectorFile], labels: np.ndarray, batch_size: int) -> np.ndarray:
    counts = np.zeros(model.nlist, dtype=np.int64)
    row = 0
    with log.progress("assigning", len(labels)) as advance:
        for vf in files:
            for _, batch, _ in vf.batches(batch_size):
                if model.centroids is None:
                    lab = np.zeros(len(batch), dtype=np.int64)
                else:
                    lab, _ = assign(batch, model.centroids, model.metric)
                labels[row:row + len(batch)] = lab
                counts += np.bincount(lab, minlength=model.nlist)
                row += len(batch)
                advance(len(batch))
    return counts


def _write_pass(model: Index, files: list[VectorFile], labels: np.ndarray, counts: np.ndarray, tmp: Path,
                batch_size: int, id_column: str | None, records: Future) -> dict:
    old_sizes = model.list_sizes
    offsets = np.zeros(model.nlist + 1, dtype=np.int64)
    np.cumsum(old_sizes + counts, out=offsets[1:])
    ntotal = int(offsets[-1])
    provenance = dict(model.header.get("provenance", {}))
    provenance["add"] = list(provenance.get("add", [])) + [
        {"inputs": [_input_record(vf, hashed=False) for vf in files], "id_column": id_column}]
    header = _header("index", str(model.spec), model.d, model.metric, ntotal, provenance)
    specs = [SectionSpec("list_offsets", "<i8", (model.nlist + 1,)),
             SectionSpec("vectors", "<f4", (ntotal, model.d)),
             SectionSpec("ids", "<i8", (ntotal,))]
    if model.centroids is not None:
        specs.insert(0, SectionSpec("centroids", "<f4", model.centroids.shape))
    w = VtiWriter(tmp, header, specs)
    if model.centroids is not None:
        w.section("centroids")[...] = model.centroids
    w.section("list_offsets")[...] = offsets
    vectors, ids = w.section("vectors"), w.section("ids")
    for lst in np.flatnonzero(old_sizes):  # existing rows first in each list
        a, b = model.list_offsets[lst], model.list_offsets[lst + 1]
        vectors[offsets[lst]:offsets[lst] + b - a] = model.vectors[a:b]
        ids[offsets[lst]:offsets[lst] + b - a] = model.ids[a:b]
    cursor = offsets[:-1] + old_sizes
    next_id = int(model.ids.max()) + 1 if model.ntotal else 0
    row = 0
    with log.progress("writing", len(labels)) as advance:
        for vf in files:
            for _, batch, batch_ids in vf.batches(batch_size):
                lab = labels[row:row + len(batch)].astype(np.int64)
                if batch_ids is None:
                    batch_ids = np.arange(next_id + row, next_id + row + len(batch), dtype=np.int64)
                elif len(batch_ids) and batch_ids.min() < 0:
                    raise VtoolError(f"{vf.path}: negative id {int(batch_ids.min())} in column {id_column!r} "
                                     "(ids must be >= 0; -1 means 'no result')")
                order = np.argsort(lab, kind="stable")
                sorted_lab = lab[order]
                first_of_group = np.searchsorted(sorted_lab, sorted_lab, side="left")
                pos = np.empty(len(batch), dtype=np.int64)
                pos[order] = cursor[sorted_lab] + np.arange(len(batch)) - first_of_group
                vectors[pos] = batch
                ids[pos] = batch_ids
                cursor += np.bincount(lab, minlength=model.nlist)
                row += len(batch)
                advance(len(batch))
    if id_column is not None or model.ntotal:
        _check_unique(ids)
    provenance["add"][-1]["inputs"] = records.result()
    w.header = _header("index", str(model.spec), model.d, model.metric, ntotal, provenance)
    w.finish()
    return {"spec": str(model.spec), "nlist": model.nlist, "list_size_max": int((old_sizes + counts).max()),
            "list_size_min": int((old_sizes + counts).min())}


def _check_unique(ids: np.ndarray) -> None:
    """Duplicate ids are refused (a search could not tell the vectors apart).

    This holds one sorted copy of the ids in memory (8 bytes per vector)."""
    s = np.sort(ids)
    dup = np.flatnonzero(s[1:] == s[:-1])
    if len(dup):
        raise VtoolError(f"duplicate id {int(s[dup[0]])} ({len(dup)} duplicates in all); ids must be unique")
