"""Structured fuzzer for .vti index files: mutate the header fields and the sections (dtype,
shape, contents) of real index files of every kind, recompute the checksums, and open,
describe, search, compress and add to each one (with and without checksum verification) in
a worker process. The only acceptable outcomes are
success or a VtoolError (one line, exit 2 from the CLI); any other exception, a signal, a hang
(timeout) or a memory blow-up (RSS cap) is reported with the mutation that caused it.

    .venv/bin/python scripts/fuzz_index.py [--cases 100000] [--seed 1] [--workers 2]

The test suite runs a short round (tests/index/test_fuzz_index.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor

import numpy as np

SPECS = ["Flat", "IVF8,Flat", "IVF8,PQ4", "IVF8,PQ4x4fs,RFlat", "OPQ4,IVF8,SQ8", "IVF8,SQ4", "IVF4,RQ2",
         "PQ4np", "IVF8,SQfp16", "HNSW4,Flat", "HNSW4,SQ8", "NSG6,Flat", "IVF8_HNSW4,PQ4",
         "IVF4,RQ12x4"]  # 16-byte codes: scanned by row terms
COMPRESS = [None, ("ef", None), ("roc", None), ("packed", "ans"), ("wt", None)]
RSS_CAP = 2 << 30  # bytes a worker may map before it counts as a blow-up
D = 8


def build_corpus(folder: str, seed: int) -> list[str]:
    """Small real indexes of every kind (and compressed variants) to mutate."""
    import vtool
    from vtool.commands.compress import compress_ids
    from vtool.errors import VtoolError

    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(400, D)) + rng.integers(0, 4, size=(400, 1)) * 3).astype(np.float32)
    paths = []
    for i, spec in enumerate(SPECS):
        index = vtool.train(x, spec, seed=seed)
        index.add(x)
        path = os.path.join(folder, f"base{i}.vti")
        index.save(path)
        paths.append(path)
        for method, codes in COMPRESS[1:]:
            out = os.path.join(folder, f"base{i}_{method}.vti")
            try:
                graph = spec.startswith(("HNSW", "NSG"))  # level 0 coded alike: packed, ef, roc
                compress_ids(path, out, method=method, codes=codes if "PQ4" in spec and "fs" not in spec else None,
                             adjacency=(method if method in ("packed", "roc") else "ef") if graph else None)
                paths.append(out)
            except VtoolError:
                pass  # e.g. a sorting id codec on a graph with custom ids
    np.save(os.path.join(folder, "queries.npy"), x[:5])
    return paths


# -- mutations --------------------------------------------------------------------------------
def odd_value(rng):
    choices = [2 ** 64 + 5, -1, -(2 ** 63), 2 ** 40, 0, 1, 3.5, float("nan"), "hamming", "", None, True, [1, 2],
               {"a": 1}, "x" * 300, 2 ** 31, 255, 65536]
    return choices[rng.integers(len(choices))]


def mutate(header: dict, arrays: dict, rng) -> tuple[dict, dict, str]:
    header = json.loads(json.dumps(header))
    header.pop("sections", None)
    arrays = dict(arrays)
    kind = rng.integers(7)
    if kind == 0:  # a header field gets an odd value
        key = sorted(header)[rng.integers(len(header))]
        header[key] = odd_value(rng)
        return header, arrays, f"header[{key!r}] = {header[key]!r}"[:200]
    if kind == 1:  # a header field goes
        key = sorted(header)[rng.integers(len(header))]
        del header[key]
        return header, arrays, f"del header[{key!r}]"
    name = sorted(arrays)[rng.integers(len(arrays))]
    a = np.asarray(arrays[name])
    if kind == 2:  # another dtype (same bytes where sizes allow)
        dt = [np.uint8, np.int8, np.float16, ">f4", np.int64, np.int32, np.float64, np.uint64][rng.integers(8)]
        arrays[name] = a.astype(dt) if a.size < 10 ** 6 else a
        return header, arrays, f"{name} as {np.dtype(dt).str}"
    if kind == 3:  # another shape
        flat = a.reshape(-1)
        choice = rng.integers(4)
        if choice == 0:
            arrays[name] = flat[: max(0, len(flat) - 1 - rng.integers(max(1, len(flat))))]
        elif choice == 1:
            arrays[name] = np.concatenate([flat, flat[:1 + rng.integers(8)]]) if len(flat) else np.zeros(3, a.dtype)
        elif choice == 2:
            arrays[name] = flat[:1].reshape(1, 1, -1) if len(flat) else np.zeros((1, 1, 1), a.dtype)
        else:
            arrays[name] = np.zeros((0,) + a.shape[1:], a.dtype)
        return header, arrays, f"{name} reshaped to {arrays[name].shape}"
    if kind == 4:  # contents: a few values changed to extremes
        b = np.array(a, copy=True).reshape(-1)
        if b.size:
            idx = rng.integers(b.size, size=min(b.size, 1 + rng.integers(4)))
            if b.dtype.kind == "f":
                b[idx] = np.array([np.nan, np.inf, -np.inf, 1e38, -1e38, 0])[rng.integers(6, size=len(idx))]
            elif b.dtype.kind in "iu":
                info = np.iinfo(b.dtype)
                b[idx] = np.array([info.max, info.min, 0, 1, info.max // 2], dtype=b.dtype)[rng.integers(5, size=len(idx))]
                if b.dtype.kind == "i":
                    b[idx[:1]] = -1
        arrays[name] = b.reshape(a.shape)
        return header, arrays, f"{name} values changed"
    if kind == 5:  # contents: random bytes
        raw = np.array(a, copy=True)
        if raw.size:
            view = raw.reshape(-1).view(np.uint8)
            view[:] = rng.integers(0, 256, size=view.size, dtype=np.uint8)
        arrays[name] = raw
        return header, arrays, f"{name} random bytes"
    if rng.integers(2):  # a section goes
        del arrays[name]
        return header, arrays, f"del section {name}"
    arrays["unknown_section"] = np.zeros(3, np.float32)
    return header, arrays, "unknown section added"


# -- one case in a worker ---------------------------------------------------------------------------
def run_case(args) -> tuple[str, str] | None:
    base, case_seed, folder = args
    from vtool.commands.build import add
    from vtool.commands.compress import compress_ids
    from vtool.commands.info import describe_index
    from vtool.errors import VtoolError
    from vtool.index.container import VtiFile, write_vti
    from vtool.index.index import load_index

    if "asan" not in os.environ.get("LD_PRELOAD", ""):  # ASan reserves terabytes of address space
        resource.setrlimit(resource.RLIMIT_AS, (RSS_CAP, RSS_CAP))
    rng = np.random.default_rng(case_seed)
    f = VtiFile(base)
    arrays = {name: np.array(f.array(name)) for name in f.sections}
    header, arrays, what = mutate(f.header, arrays, rng)
    path = os.path.join(folder, f"case{case_seed}.vti")
    out = os.path.join(folder, f"case{case_seed}.out.vti")
    try:
        try:
            write_vti(path, header, arrays)
        except (VtoolError, ValueError, TypeError, OverflowError):
            return None  # the writer refused what it was given: not a file to test
        q = np.load(os.path.join(folder, "queries.npy"))
        for verify in (True, False):
            try:
                describe_index(path, verify=verify)
                index = load_index(path, verify=verify)
                if index.ntotal:
                    index.search(q, min(3, index.ntotal))
                    compress_ids(path, out, method="packed", check=verify)
                add(path, [os.path.join(folder, "queries.npy")], out, verify=verify, threads=1)
            except VtoolError:
                pass
            except MemoryError:
                return (what, f"MemoryError (over the {RSS_CAP >> 20} MiB cap)")
            except Exception as e:  # noqa: BLE001 — exactly what the fuzzer is looking for
                tb = traceback.extract_tb(e.__traceback__)[-1]
                return (what, f"{type(e).__name__}: {str(e)[:200]} at {os.path.basename(tb.filename)}:{tb.lineno}")
    finally:
        for p in (path, out):
            if os.path.exists(p):
                os.unlink(p)
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a case may take")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        corpus = build_corpus(folder, args.seed)
        jobs = [(corpus[i % len(corpus)], args.seed * 10 ** 7 + i, folder) for i in range(args.cases)]
        bad: dict[str, list] = {}
        done = 0
        with ProcessPoolExecutor(args.workers) as pool:
            futures = [pool.submit(run_case, j) for j in jobs]
            for job, fut in zip(jobs, futures):
                try:
                    result = fut.result(timeout=args.timeout)
                except Exception as e:  # noqa: BLE001 — a worker killed by a signal, or a hang
                    result = ("(worker)", f"{type(e).__name__}: {e}")
                done += 1
                if result:
                    bad.setdefault(result[1], []).append((os.path.basename(job[0]), job[1], result[0]))
        print(f"fuzz_index: {done} crafted files over {len(corpus)} index kinds, {sum(map(len, bad.values()))} bad")
        for outcome, cases in sorted(bad.items(), key=lambda kv: -len(kv[1])):
            base, seed, what = cases[0]
            print(f"  {len(cases):6d} x {outcome}\n         e.g. {base} seed {seed}: {what}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
