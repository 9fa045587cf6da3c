"""Vector readers: every format round-trips, streams in batches, and rejects bad files clearly."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import assert_refused
from tests.io.writers import write_any, write_bin, write_parquet, write_vecs
from vtool.errors import VtoolError
from vtool.io.vectors import open_vectors

FORMATS = [("npy", np.float32), ("npy", np.float64), ("npy", np.uint8), ("npy", np.float16),
           ("fvecs", np.float32), ("bvecs", np.uint8), ("ivecs", np.int32),
           ("fbin", np.float32), ("u8bin", np.uint8), ("i8bin", np.int8), ("ibin", np.int32),
           ("parquet", np.float32)]


@pytest.mark.parametrize("suffix,dtype", FORMATS)
def test_every_format_round_trips_in_batches(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(-100 if np.dtype(dtype).kind != "u" else 0, 100, size=(103, 7)).astype(dtype)
    path = tmp_path / f"v.{suffix}"
    write_any(path, x)
    vf = open_vectors(path)
    assert (vf.n, vf.d) == (103, 7)
    starts, parts = [], []
    for start, batch, ids in vf.batches(batch_size=10):
        assert batch.dtype == np.float32 and ids is None
        starts.append(start)
        parts.append(batch)
    assert starts == list(range(0, 103, 10))
    np.testing.assert_array_equal(np.concatenate(parts), x.astype(np.float32))
    rows = np.array([0, 5, 50, 102])
    np.testing.assert_array_equal(vf.read_rows(rows, batch_size=9), x[rows].astype(np.float32))


def test_parquet_fixed_size_list_and_id_column(tmp_path):
    x = np.arange(60, dtype=np.float32).reshape(12, 5)
    write_parquet(tmp_path / "v.parquet", x, ids=np.arange(100, 112), fixed=True)
    vf = open_vectors(tmp_path / "v.parquet", id_column="id")
    got = list(vf.batches(5))
    np.testing.assert_array_equal(np.concatenate([b for _, b, _ in got]), x)
    np.testing.assert_array_equal(np.concatenate([i for _, _, i in got]), np.arange(100, 112))


def expect_error(match, fn, *args, **kwargs):
    with pytest.raises(VtoolError, match=match) as e:
        fn(*args, **kwargs)
    assert "\n" not in e.value.message
    return e.value


@pytest.mark.parametrize("suffix", ["npy", "fvecs", "fbin"])
def test_truncated_files_are_refused(tmp_path, suffix):
    path = tmp_path / f"v.{suffix}"
    write_any(path, np.ones((50, 8), np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:-7])
    expect_error("truncated", open_vectors, path)


@pytest.mark.parametrize("suffix", ["npy", "fvecs", "fbin", "parquet"])
def test_empty_inputs_are_refused(tmp_path, suffix):
    path = tmp_path / f"v.{suffix}"
    if suffix in ("npy", "parquet", "fbin"):
        write_any(path, np.ones((0, 8), np.float32))
    else:
        path.write_bytes(b"")
    expect_error("empty|no vectors", open_vectors, path)


def test_zero_byte_npy_is_refused(tmp_path):
    (tmp_path / "v.npy").write_bytes(b"")
    expect_error("not a valid .npy|truncated", open_vectors, tmp_path / "v.npy")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("suffix", ["npy", "fvecs", "fbin", "parquet"])
def test_nan_and_inf_are_refused_with_the_row(tmp_path, suffix, bad):
    x = np.ones((40, 6), np.float32)
    x[23, 4] = bad
    path = tmp_path / f"v.{suffix}"
    write_any(path, x)
    err = expect_error("row 23 contains NaN or Inf", lambda: list(open_vectors(path).batches(10)))
    assert str(path) in err.message


def test_float64_values_beyond_float32_range_are_refused(tmp_path):
    x = np.ones((4, 3))
    x[2, 1] = 1e300
    np.save(tmp_path / "v.npy", x)
    expect_error("row 2", lambda: open_vectors(tmp_path / "v.npy").read_all())


@pytest.mark.parametrize("dtype", [np.int64, np.complex64, np.bool_, np.uint16])
def test_unsupported_dtypes_are_refused(tmp_path, dtype):
    np.save(tmp_path / "v.npy", np.ones((4, 3), dtype=dtype))
    expect_error("dtype", open_vectors, tmp_path / "v.npy")


def test_object_npy_is_refused(tmp_path):
    np.save(tmp_path / "v.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    expect_error("object", open_vectors, tmp_path / "v.npy")


def test_one_dimensional_npy_is_refused(tmp_path):
    np.save(tmp_path / "v.npy", np.ones(5, np.float32))
    expect_error("2-d", open_vectors, tmp_path / "v.npy")


def test_fvecs_with_inconsistent_row_dimension_is_refused(tmp_path):
    path = tmp_path / "v.fvecs"
    write_vecs(path, np.ones((10, 4), np.float32))
    data = bytearray(path.read_bytes())
    data[5 * 20:5 * 20 + 4] = np.int32(3).tobytes()
    path.write_bytes(bytes(data))
    expect_error("dimension 3", lambda: open_vectors(path).read_all())


def test_bin_with_trailing_bytes_is_refused(tmp_path):
    path = tmp_path / "v.fbin"
    write_bin(path, np.ones((3, 4), np.float32))
    path.write_bytes(path.read_bytes() + b"xx")
    expect_error("trailing", open_vectors, path)


def test_parquet_missing_column(tmp_path):
    write_parquet(tmp_path / "v.parquet", np.ones((5, 3), np.float32))
    expect_error("no column 'vec'", open_vectors, tmp_path / "v.parquet", column="vec")


def test_parquet_column_that_is_not_a_list(tmp_path):
    pq.write_table(pa.table({"emb": pa.array([1.0, 2.0]), "other": pa.array(["a", "b"])}), tmp_path / "v.parquet")
    expect_error("not a list of numbers", open_vectors, tmp_path / "v.parquet", column="other")
    expect_error("no list columns", open_vectors, tmp_path / "v.parquet")


def test_parquet_list_of_strings(tmp_path):
    pq.write_table(pa.table({"emb": pa.array([["a", "b"], ["c", "d"]])}), tmp_path / "v.parquet")
    expect_error("not of numbers", open_vectors, tmp_path / "v.parquet")


def test_parquet_ragged_column(tmp_path):
    pq.write_table(pa.table({"emb": pa.array([[1.0, 2.0], [1.0, 2.0], [3.0]])}), tmp_path / "v.parquet")
    expect_error("ragged: row 2 has 1 values, expected 2", lambda: open_vectors(tmp_path / "v.parquet").read_all())


def test_parquet_null_vector(tmp_path):
    pq.write_table(pa.table({"emb": pa.array([[1.0, 2.0], None])}), tmp_path / "v.parquet")
    expect_error("null vector at row 1", lambda: open_vectors(tmp_path / "v.parquet").read_all())


def test_unknown_extension_asks_for_format(tmp_path):
    (tmp_path / "v.txt").write_text("1 2 3")
    expect_error("--format", open_vectors, tmp_path / "v.txt")


def test_missing_file(tmp_path):
    expect_error("no such file", open_vectors, tmp_path / "nope.npy")


def test_a_corrupt_parquet_page_is_caught_by_its_checksum(tmp_path, cli):
    """Pages written with CRCs (as vtool writes them) are verified: a flipped byte inside the
    values, undetectable otherwise in an uncompressed file, is one line and exit 2."""

    x = np.arange(4000 * 8, dtype=np.float32).reshape(4000, 8)
    table = pa.table({"v": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 8)})
    pq.write_table(table, tmp_path / "x.parquet", compression="none", write_page_checksum=True)
    assert cli("train", tmp_path / "x.parquet", "--index", "Flat", "-o", tmp_path / "m.vti").code == 0
    data = bytearray((tmp_path / "x.parquet").read_bytes())
    data[len(data) // 2] ^= 0x40  # inside the values of the one data page
    (tmp_path / "x.parquet").write_bytes(bytes(data))
    r = cli("add", tmp_path / "m.vti", tmp_path / "x.parquet", "-o", tmp_path / "i.vti")
    assert_refused(r, r"x\.parquet: corrupt parquet data \(.*[Cc]hecksum")
    assert not (tmp_path / "i.vti").exists()


def test_parquet_results_vtool_writes_carry_page_checksums(tmp_path):
    """A byte flipped inside a page of a results file: read back without verification the
    values silently change; with it (vtool's reader) the file is refused."""
    from vtool.io.results import read_results, write_results

    rng = np.random.default_rng(5)
    write_results(str(tmp_path / "r.parquet"), rng.integers(0, 10**6, (200, 10)), rng.random((200, 10), np.float32))
    clean = bytes((tmp_path / "r.parquet").read_bytes())
    silent = 0
    for at in range(len(clean) // 4, len(clean) // 2, 7):
        data = bytearray(clean)
        data[at] ^= 0x01
        (tmp_path / "c.parquet").write_bytes(bytes(data))
        try:
            unverified = pq.read_table(tmp_path / "c.parquet", page_checksum_verification=False)
        except (OSError, pa.ArrowException):
            continue
        if unverified.equals(pq.read_table(tmp_path / "r.parquet")):
            continue
        silent += 1  # a change nothing but the page checksum can see
        with pytest.raises(VtoolError, match="corrupt parquet data"):
            read_results(str(tmp_path / "c.parquet"))
    assert silent > 0
