"""--dask: add, gt and search on a Dask cluster give exactly the local results (the index
bytes, for add); a worker killed mid-task is survived, one killed on every try fails the
command in one line with no output; without dask.distributed, one line says what to install."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import assert_refused, clustered
from tests.io.writers import write_parquet

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c.scheduler_address


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    ws = tmp_path_factory.mktemp("dask")
    np.save(ws / "a.npy", clustered(5000, 24, seed=1))
    np.save(ws / "b.npy", clustered(3000, 24, seed=2))
    np.save(ws / "q.npy", clustered(300, 24, seed=3))
    write_parquet(ws / "p.parquet", clustered(4000, 24, seed=4), ids=np.arange(4000) * 7 + 1)
    return ws


def _same_files(*paths):
    first = paths[0].read_bytes()
    return all(p.read_bytes() == first for p in paths[1:])


@pytest.mark.parametrize("spec", ["IVF16,PQ8", "IVF16,SQ8,RFlat"])
def test_add_on_a_local_cluster_writes_the_local_bytes(data, cli, tmp_path, spec):
    assert cli("train", data / "a.npy", "--index", spec, "-o", tmp_path / "m.vti").code == 0
    inputs = [data / "a.npy", data / "b.npy"]
    assert cli("add", tmp_path / "m.vti", *inputs, "--batch-size", 1000, "-o", tmp_path / "local.vti").code == 0
    r = cli("add", tmp_path / "m.vti", *inputs, "--batch-size", 1000, "-o", tmp_path / "dask.vti",
            "--dask", "--workers", 2)
    assert r.code == 0, r
    assert "dask LocalCluster of 2 workers; dashboard http" in r.err
    (tmp_path / "scratch").mkdir()
    assert cli("add", tmp_path / "m.vti", *inputs, "--batch-size", 1000, "-o", tmp_path / "shared.vti",
               "--dask", "--workers", 2, "--scratch", tmp_path / "scratch").code == 0
    assert _same_files(tmp_path / "local.vti", tmp_path / "dask.vti", tmp_path / "shared.vti")
    assert not list((tmp_path / "scratch").iterdir())


def test_add_with_ids_and_code_files_through_a_scheduler(data, cli, tmp_path, scheduler):
    assert cli("train", data / "p.parquet", "--index", "IVF8,Flat", "-o", tmp_path / "m.vti").code == 0
    assert cli("encode", tmp_path / "m.vti", data / "a.npy", "--first-id", 100000, "-o", tmp_path / "c.npy").code == 0
    args = ["add", tmp_path / "m.vti", data / "p.parquet", tmp_path / "c.npy", "--id-column", "id",
            "--batch-size", 512]
    assert cli(*args, "-o", tmp_path / "local.vti").code == 0
    assert cli(*args, "-o", tmp_path / "dask.vti", "--scheduler", scheduler).code == 0
    assert _same_files(tmp_path / "local.vti", tmp_path / "dask.vti")


@pytest.mark.parametrize("extra", [["-k", 20], ["--radius", 300.0], ["-k", 5, "--id-column", "id"]])
def test_gt_on_a_cluster_is_the_local_gt(data, cli, tmp_path, scheduler, extra):
    base = data / ("p.parquet" if "--id-column" in extra else "a.npy")
    assert cli("gt", base, data / "q.npy", *extra, "--batch-size", 700, "-o", tmp_path / "local.npz").code == 0
    assert cli("gt", base, data / "q.npy", *extra, "-o", tmp_path / "dask.npz", "--scheduler", scheduler).code == 0
    local, dask = np.load(tmp_path / "local.npz"), np.load(tmp_path / "dask.npz")
    assert sorted(local.keys()) == sorted(dask.keys())
    for key in local.keys():
        np.testing.assert_array_equal(local[key], dask[key])
    if "--radius" in extra:
        assert local["lims"][-1] > 300  # the radius finds results


@pytest.mark.parametrize("extra", [["-k", 10, "--nprobe", 4], ["--radius", 300.0, "--nprobe", 4]])
def test_search_on_a_cluster_is_the_local_search(data, cli, tmp_path, scheduler, extra):
    assert cli("train", data / "a.npy", "--index", "IVF16,SQ8", "-o", tmp_path / "m.vti").code == 0
    assert cli("add", tmp_path / "m.vti", data / "a.npy", "-o", tmp_path / "i.vti").code == 0
    for name, more in (("local", []), ("dask", ["--scheduler", scheduler])):
        assert cli("search", tmp_path / "i.vti", data / "q.npy", *extra, *more, "-o", tmp_path / f"{name}.npz").code == 0
    local, dask = np.load(tmp_path / "local.npz"), np.load(tmp_path / "dask.npz")
    for key in local.keys():
        np.testing.assert_array_equal(local[key], dask[key])


def test_a_killed_worker_is_survived_or_fails_in_one_line(data, cli, tmp_path, monkeypatch):
    import dask

    from vtool.distributed import KILL_HOOK

    assert cli("train", data / "a.npy", "--index", "IVF16,PQ8", "-o", tmp_path / "m.vti").code == 0
    assert cli("add", tmp_path / "m.vti", data / "a.npy", "-o", tmp_path / "local.vti").code == 0
    (tmp_path / "marks").mkdir()
    monkeypatch.setenv(KILL_HOOK, f"once:{tmp_path / 'marks'}")  # the first task kills its worker
    r = cli("add", tmp_path / "m.vti", data / "a.npy", "-o", tmp_path / "dask.vti", "--dask", "--workers", 2)
    assert r.code == 0, r
    assert (tmp_path / "marks" / "killed").exists() and _same_files(tmp_path / "local.vti", tmp_path / "dask.vti")
    monkeypatch.setenv(KILL_HOOK, "always")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        r = cli("gt", data / "a.npy", data / "q.npy", "-o", tmp_path / "g.npz", "--dask", "--workers", 2)
    lines = [line for line in r.err.strip().splitlines() if "dashboard" not in line]
    assert r.code == 1 and len(lines) == 1 and "a worker died on every try of a ground truth task" in lines[0], r
    assert not (tmp_path / "g.npz").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_dask_options_are_refused_clearly(data, cli, tmp_path, monkeypatch):
    assert cli("train", data / "a.npy", "--index", "HNSW8,Flat", "-o", tmp_path / "g.vti").code == 0
    assert_refused(cli("add", tmp_path / "g.vti", data / "a.npy", "-o", tmp_path / "x.vti", "--dask"),
                   "a graph links its nodes on one machine")
    assert_refused(cli("gt", data / "a.npy", data / "q.npy", "-o", tmp_path / "x.npz", "--workers", 2),
                   "--workers is for --dask runs")
    assert_refused(cli("gt", data / "a.npy", data / "q.npy", "-o", tmp_path / "x.npz", "--scheduler",
                       "tcp://127.0.0.1:9", "--workers", 2), "--workers sizes a local cluster")
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert_refused(cli("gt", data / "a.npy", data / "q.npy", "-o", tmp_path / "x.npz", "--dask"),
                   r"--dask needs dask.distributed: pip install 'vtool\[dask\]'")
    assert not (tmp_path / "x.npz").exists()
