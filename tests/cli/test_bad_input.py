"""Every bad input: one-line error naming the problem, exit code 2, nothing written, nothing damaged."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import assert_refused, clustered
from tests.io.writers import write_any, write_parquet

PREVIOUS = b"previous output, must survive"


@pytest.fixture
def ws(tmp_path, cli):
    """A workspace with base/queries, a model and an index built through the CLI."""
    np.save(tmp_path / "base.npy", clustered(500, 8, seed=1))
    np.save(tmp_path / "queries.npy", clustered(20, 8, seed=2))
    assert cli("train", tmp_path / "base.npy", "-o", tmp_path / "model.vti", "--index", "IVF4,Flat").code == 0
    assert cli("add", tmp_path / "model.vti", tmp_path / "base.npy", "-o", tmp_path / "index.vti").code == 0
    return tmp_path


def bad_file(ws, name, maker):
    path = ws / name
    maker(path)
    return path


def nan_npy(path):
    x = clustered(100, 8)
    x[7, 3] = np.nan
    np.save(path, x)


def truncated(path):
    write_any(path, clustered(100, 8))
    path.write_bytes(path.read_bytes()[:-5])


def corrupt_index(ws):
    data = bytearray((ws / "index.vti").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (ws / "bad.vti").write_bytes(bytes(data))
    return ws / "bad.vti"


def truncated_index(ws):
    (ws / "bad.vti").write_bytes((ws / "index.vti").read_bytes()[:-100])
    return ws / "bad.vti"


CASES = {
    "add: dimension mismatch": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "d9.npy", lambda p: np.save(p, clustered(10, 9))), "-o", ws / "out.vti"],
                                "dimension 9, the model expects 8"),
    "add: NaN": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "nan.npy", nan_npy), "-o", ws / "out.vti"], "row 7 contains NaN or Inf"),
    "train: NaN": (lambda ws: ["train", bad_file(ws, "nan.npy", nan_npy), "--index", "IVF4,Flat", "-o", ws / "out.vti"], "row 7 contains NaN"),
    "search: Inf in queries": (lambda ws: ["search", ws / "index.vti", bad_file(ws, "inf.npy", lambda p: np.save(p, np.full((3, 8), np.inf, np.float32))), "-o", ws / "out.npz"], "contains NaN or Inf"),
    "add: empty input": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "e.npy", lambda p: np.save(p, np.zeros((0, 8), np.float32))), "-o", ws / "out.vti"], "no vectors"),
    "add: empty fvecs": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "e.fvecs", lambda p: p.write_bytes(b"")), "-o", ws / "out.vti"], "empty"),
    "add: truncated npy": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "t.npy", truncated), "-o", ws / "out.vti"], "truncated"),
    "add: truncated fvecs": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "t.fvecs", truncated), "-o", ws / "out.vti"], "truncated"),
    "add: truncated fbin": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "t.fbin", truncated), "-o", ws / "out.vti"], "truncated"),
    "add: parquet column missing": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "p.parquet", lambda p: write_parquet(p, clustered(10, 8))), "--column", "nope", "-o", ws / "out.vti"], "no column 'nope'"),
    "add: parquet column not a list": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "p.parquet", lambda p: pq.write_table(pa.table({"x": [1.0, 2.0]}), p)), "--column", "x", "-o", ws / "out.vti"], "not a list of numbers"),
    "add: parquet ragged": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "p.parquet", lambda p: pq.write_table(pa.table({"x": [[1.0] * 8, [1.0] * 7]}), p)), "-o", ws / "out.vti"], "ragged"),
    "add: wrong dtype": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "i.npy", lambda p: np.save(p, np.ones((5, 8), np.int64))), "-o", ws / "out.vti"], "dtype int64"),
    "add: duplicate ids": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "p.parquet", lambda p: write_parquet(p, clustered(10, 8), ids=[0] * 10)), "--id-column", "id", "-o", ws / "out.vti"], "duplicate id 0"),
    "add: negative ids": (lambda ws: ["add", ws / "model.vti", bad_file(ws, "p.parquet", lambda p: write_parquet(p, clustered(10, 8), ids=range(-1, 9))), "--id-column", "id", "-o", ws / "out.vti"], "negative id -1"),
    "add: id column on npy": (lambda ws: ["add", ws / "model.vti", ws / "base.npy", "--id-column", "id", "-o", ws / "out.vti"], "--id-column needs a parquet input"),
    "search: k larger than the index": (lambda ws: ["search", ws / "index.vti", ws / "queries.npy", "-k", 501, "-o", ws / "out.npz"], "k=501 is larger than the number of indexed vectors \\(500\\)"),
    "search: query dimension": (lambda ws: ["search", ws / "index.vti", bad_file(ws, "q9.npy", lambda p: np.save(p, clustered(3, 9))), "-o", ws / "out.npz"], "dimension 9, the index has 8"),
    "search: corrupt index": (lambda ws: ["search", corrupt_index(ws), ws / "queries.npy", "-o", ws / "out.npz"], "corrupt index"),
    "search: truncated index": (lambda ws: ["search", truncated_index(ws), ws / "queries.npy", "-o", ws / "out.npz"], "truncated or corrupt"),
    "search: not an index": (lambda ws: ["search", ws / "base.npy", ws / "queries.npy", "-o", ws / "out.npz"], "not a vtool index"),
    "search: empty model": (lambda ws: ["search", ws / "model.vti", ws / "queries.npy", "-o", ws / "out.npz"], "holds no vectors"),
    "search: bad result extension": (lambda ws: ["search", ws / "index.vti", ws / "queries.npy", "-o", ws / "out.txt"], "results are written as"),
    "train: unknown spec": (lambda ws: ["train", ws / "base.npy", "--index", "HNSW32", "-o", ws / "out.vti"], "unknown or unsupported index spec 'HNSW32'"),
    "train: malformed spec": (lambda ws: ["train", ws / "base.npy", "--index", "IVF,Flat", "-o", ws / "out.vti"], "index spec 'IVF,Flat'"),
    "train: more lists than vectors": (lambda ws: ["train", ws / "base.npy", "--index", "IVF1000,Flat", "-o", ws / "out.vti"], "cannot train 1000 lists"),
    "train: unknown metric": (lambda ws: ["train", ws / "base.npy", "--index", "Flat", "--metric", "cos", "-o", ws / "out.vti"], "unknown metric 'cos'"),
    "train: unknown parameter": (lambda ws: ["train", ws / "base.npy", "--index", "Flat", "--bogus", "-o", ws / "out.vti"], "No such option: --bogus"),
    "train: missing input": (lambda ws: ["train", ws / "nope.npy", "--index", "Flat", "-o", ws / "out.vti"], "no such file"),
    "gt: k larger than base": (lambda ws: ["gt", ws / "base.npy", ws / "queries.npy", "-k", 1000, "-o", ws / "out.ibin"], "k=1000 is larger"),
    "eval: no ground truth": (lambda ws: ["eval", ws / "index.vti"], "cannot read results|ground truth"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_cleanly(ws, cli, case):
    make_args, message = CASES[case]
    args = make_args(ws)
    out = next((a for a, prev in zip(args[1:], args) if prev == "-o"), None)
    if out is not None:
        out.write_bytes(PREVIOUS)
    before = sorted(p.name for p in ws.iterdir())
    assert_refused(cli(*args), message)
    assert sorted(p.name for p in ws.iterdir()) == before  # no temp or partial files
    if out is not None:
        assert out.read_bytes() == PREVIOUS


@pytest.mark.parametrize("command", ["train", "search"])
def test_output_in_a_missing_directory_is_refused(ws, cli, command):
    args = (["train", ws / "base.npy", "--index", "Flat"] if command == "train"
            else ["search", ws / "index.vti", ws / "queries.npy"])
    result = cli(*args, "-o", ws / "missing" / "out.vti" if command == "train" else ws / "missing" / "out.npz")
    assert result.code == 2 and "does not exist" in result.err
    assert not (ws / "missing").exists()


def test_output_in_an_unwritable_directory_is_refused(ws, cli):
    import os

    if os.geteuid() == 0:
        target = "/proc/vtool-test.vti"  # root may write anywhere a mode allows; /proc refuses new files
    else:
        (ws / "ro").mkdir()
        (ws / "ro").chmod(0o555)
        target = ws / "ro" / "out.vti"
    result = cli("train", ws / "base.npy", "--index", "Flat", "-o", target)
    assert result.code == 2, result
    assert result.err.startswith("vtool: error: ") and len(result.err.strip().splitlines()) == 1
    assert not os.path.exists(target)


def test_nprobe_above_nlist_is_clamped_with_a_warning(ws, cli):
    result = cli("search", ws / "index.vti", ws / "queries.npy", "-o", ws / "r.npz", "--nprobe", 99)
    assert result.code == 0
    assert "nprobe 99 is larger than the number of lists (4); using 4" in result.err
