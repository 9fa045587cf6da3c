"""Result and ground-truth files: every layout round-trips; writes are atomic."""

from __future__ import annotations

import numpy as np
import pytest

from vtool.errors import VtoolError
from vtool.io.atomic import atomic_path
from vtool.io.results import read_results, write_results


@pytest.mark.parametrize("suffix", ["npz", "parquet", "ibin"])
def test_results_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 1000, size=(17, 5))
    ids[3, 4] = -1
    dist = rng.random((17, 5)).astype(np.float32)
    path = str(tmp_path / f"r.{suffix}")
    write_results(path, ids, dist)
    got_ids, got_dist = read_results(path)
    np.testing.assert_array_equal(got_ids, ids)
    np.testing.assert_array_equal(got_dist, dist)


def test_ibin_layout_is_big_ann(tmp_path):
    ids = np.array([[1, 2], [3, 4], [5, 6]])
    dist = np.arange(6, dtype=np.float32).reshape(3, 2)
    write_results(str(tmp_path / "r.ibin"), ids, dist)
    raw = (tmp_path / "r.ibin").read_bytes()
    assert np.frombuffer(raw[:8], "<u4").tolist() == [3, 2]
    assert np.frombuffer(raw[8:32], "<i4").tolist() == [1, 2, 3, 4, 5, 6]
    assert np.frombuffer(raw[32:], "<f4").tolist() == [0, 1, 2, 3, 4, 5]


def test_ids_too_large_for_ibin_are_refused(tmp_path):
    with pytest.raises(VtoolError, match="int32"):
        write_results(str(tmp_path / "r.ibin"), np.array([[2**40]]), np.zeros((1, 1), np.float32))
    assert not (tmp_path / "r.ibin").exists()


def test_ground_truth_from_npy_with_distances_and_ivecs(tmp_path):
    from tests.io.writers import write_vecs

    ids = np.arange(12).reshape(3, 4)
    np.save(tmp_path / "gt.npy", ids)
    np.save(tmp_path / "gt_dist.npy", np.ones((3, 4), np.float32))
    got, dist = read_results(str(tmp_path / "gt.npy"), str(tmp_path / "gt_dist.npy"))
    np.testing.assert_array_equal(got, ids)
    assert dist.shape == (3, 4)
    write_vecs(tmp_path / "gt.ivecs", ids.astype(np.int32))
    got, dist = read_results(str(tmp_path / "gt.ivecs"))
    np.testing.assert_array_equal(got, ids)
    assert dist is None


def test_truncated_ibin_results_are_refused(tmp_path):
    write_results(str(tmp_path / "r.ibin"), np.ones((4, 4), int), np.ones((4, 4), np.float32))
    (tmp_path / "r.ibin").write_bytes((tmp_path / "r.ibin").read_bytes()[:-3])
    with pytest.raises(VtoolError, match="header says"):
        read_results(str(tmp_path / "r.ibin"))


def test_atomic_path_keeps_previous_file_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_missing_output_directory_is_refused_before_writing(tmp_path):
    with pytest.raises(VtoolError, match="does not exist"):
        with atomic_path(tmp_path / "missing" / "out.bin"):
            pass
