"""vtool merge and merge-results: shards of one model merged equal one build of all inputs,
per-shard results merged equal searching the merged index, and what is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_refused, clustered
from tests.io.writers import write_parquet
from vtool.io.results import read_range_results


@pytest.fixture
def shards(tmp_path, cli):
    x = clustered(3000, 16, seed=41)
    q = clustered(40, 16, seed=42)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "a.npy", x[:1800])
    np.save(tmp_path / "b.npy", x[1800:])
    np.save(tmp_path / "q.npy", q)
    return tmp_path, x, q


def build(cli, ws, spec, *extra_adds):
    assert cli("train", ws / "x.npy", "--index", spec, "-o", ws / "m.vti").code == 0
    for name, args in extra_adds:
        assert cli("add", ws / "m.vti", *args, "-o", ws / name).code == 0, name


def same_search(cli, ws, a, b, *args):
    cli("search", ws / a, ws / "q.npy", *args, "-o", ws / "ra.npz")
    cli("search", ws / b, ws / "q.npy", *args, "-o", ws / "rb.npz")
    ra, rb = np.load(ws / "ra.npz"), np.load(ws / "rb.npz")
    np.testing.assert_array_equal(ra["ids"], rb["ids"])
    np.testing.assert_array_equal(ra["distances"], rb["distances"])


@pytest.mark.parametrize("spec", ["IVF16,Flat", "IVF16,PQ4x4fs,RFlat", "IVF16,SQ8", "Flat"])
def test_merged_shards_equal_one_build_of_all_inputs(shards, cli, spec):
    ws, _, _ = shards
    build(cli, ws, spec, ("all.vti", [ws / "x.npy"]), ("a.vti", [ws / "a.npy"]), ("b.vti", [ws / "b.npy"]))
    r = cli("merge", ws / "a.vti", ws / "b.vti", "--id-offset", "auto", "-o", ws / "merged.vti", "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["id_offsets"] == [0, 1800]
    nprobe = [] if spec == "Flat" else ["--nprobe", 4]
    same_search(cli, ws, "all.vti", "merged.vti", "-k", 10, *nprobe)
    info = json.loads(cli("info", ws / "merged.vti", "--json").out)
    assert info["ntotal"] == 3000 and [m["id_offset"] for m in info["provenance"]["merge"]] == [0, 1800]


def test_compressed_shards_merge_and_keep_their_codec(shards, cli):
    ws, _, _ = shards
    build(cli, ws, "IVF16,PQ4", ("all.vti", [ws / "x.npy"]), ("a.vti", [ws / "a.npy"]), ("b.vti", [ws / "b.npy"]))
    for name in ("a", "b"):
        assert cli("compress-ids", ws / f"{name}.vti", "-o", ws / f"{name}.c.vti", "--method", "roc",
                   "--codes", "ans").code == 0
    assert cli("merge", ws / "a.c.vti", ws / "b.c.vti", "--id-offset", "auto", "-o", ws / "m.c.vti").code == 0
    info = json.loads(cli("info", ws / "m.c.vti", "--json").out)
    assert info["id_codec"] == "roc"
    assert cli("compress-ids", ws / "all.vti", "-o", ws / "all.c.vti", "--method", "roc", "--codes", "ans").code == 0
    same_search(cli, ws, "all.c.vti", "m.c.vti", "-k", 10, "--nprobe", 16)


def test_merge_refuses_duplicates_other_models_and_graphs(shards, cli):
    ws, x, _ = shards
    build(cli, ws, "IVF16,Flat", ("a.vti", [ws / "a.npy"]), ("b.vti", [ws / "b.npy"]))
    r = cli("merge", ws / "a.vti", ws / "b.vti", "-o", ws / "o.vti")
    assert_refused(r, f"duplicate id 0 in {ws / 'a.vti'} and {ws / 'b.vti'}")
    assert "--id-offset auto" in r.err
    assert cli("train", ws / "x.npy", "--index", "IVF16,Flat", "--seed", 7, "-o", ws / "m7.vti").code == 0
    assert cli("add", ws / "m7.vti", ws / "b.npy", "-o", ws / "b7.vti").code == 0
    assert_refused(cli("merge", ws / "a.vti", ws / "b7.vti", "--id-offset", "auto", "-o", ws / "o.vti"),
                   "made from another model")
    assert cli("train", ws / "x.npy", "--index", "HNSW8,Flat", "-o", ws / "g.vti").code == 0
    assert cli("add", ws / "g.vti", ws / "a.npy", "-o", ws / "ga.vti").code == 0
    assert_refused(cli("merge", ws / "ga.vti", ws / "ga.vti", "-o", ws / "o.vti"), "graph index")
    assert not (ws / "o.vti").exists()


def test_merge_results_equals_searching_the_merged_index(shards, cli):
    """Shards with their own ids (a column): search each, merge the results."""
    ws, x, q = shards
    ids = np.arange(3000) * 5 + 3
    write_parquet(ws / "pa.parquet", x[:1800], ids=ids[:1800])
    write_parquet(ws / "pb.parquet", x[1800:], ids=ids[1800:])
    build(cli, ws, "IVF16,PQ4", ("a.vti", [ws / "pa.parquet", "--id-column", "id"]),
          ("b.vti", [ws / "pb.parquet", "--id-column", "id"]))
    assert cli("merge", ws / "a.vti", ws / "b.vti", "-o", ws / "m.vti").code == 0  # ids unique already
    for name in ("a", "b", "m"):
        assert cli("search", ws / f"{name}.vti", ws / "q.npy", "-k", 10, "--nprobe", 3, "-o", ws / f"r{name}.npz").code == 0
    assert cli("merge-results", ws / "ra.npz", ws / "rb.npz", "-o", ws / "rab.npz").code == 0
    got, want = np.load(ws / "rab.npz"), np.load(ws / "rm.npz")
    np.testing.assert_array_equal(got["ids"], want["ids"])
    np.testing.assert_array_equal(got["distances"], want["distances"])
    radius = float(np.median(want["distances"][:, 5]))
    for name in ("a", "b", "m"):
        assert cli("search", ws / f"{name}.vti", ws / "q.npy", "--radius", radius, "--nprobe", 3,
                   "-o", ws / f"g{name}.rbin").code == 0
    assert cli("merge-results", ws / "ga.rbin", ws / "gb.rbin", "-o", ws / "gab.rbin").code == 0
    for a, b in zip(read_range_results(str(ws / "gab.rbin")), read_range_results(str(ws / "gm.rbin"))):
        np.testing.assert_array_equal(a, b)
    assert_refused(cli("merge-results", ws / "ra.npz", ws / "ga.rbin", "-o", ws / "x.npz"), "do not merge together")


@pytest.mark.parametrize("suffix", ["npy", "parquet"])
def test_add_shard_takes_a_part_of_the_rows_with_their_numbers(shards, cli, suffix):
    ws, x, _ = shards
    if suffix == "parquet":
        write_parquet(ws / "x.parquet", x)
    build(cli, ws, "IVF16,Flat", ("all.vti", [ws / f"x.{suffix}"]))
    parts = []
    for i in range(3):
        assert cli("add", ws / "m.vti", ws / f"x.{suffix}", "--shard", f"{i}/3", "--batch-size", 700,
                   "-o", ws / f"s{i}.vti").code == 0
        parts.append(json.loads(cli("info", ws / f"s{i}.vti", "--json").out)["ntotal"])
    assert parts == [1000, 1000, 1000]
    assert cli("merge", *(ws / f"s{i}.vti" for i in range(3)), "-o", ws / "m3.vti").code == 0  # no collision
    same_search(cli, ws, "all.vti", "m3.vti", "-k", 10, "--nprobe", 16)
    assert_refused(cli("add", ws / "m.vti", ws / f"x.{suffix}", "--shard", "3/3", "-o", ws / "o.vti"), "I must be")
    assert_refused(cli("add", ws / "m.vti", ws / f"x.{suffix}", "--shard", "1-3", "-o", ws / "o.vti"), "takes I/N")
    assert_refused(cli("add", ws / "m.vti", ws / "a.npy", ws / "b.npy", "--shard", "0/2", "-o", ws / "o.vti"),
                   "one vector file")


def test_the_duplicate_check_on_disk_finds_what_the_one_in_memory_finds(shards, cli, monkeypatch, tmp_path):
    """Above UNIQUE_IN_RAM ids the check splits them on disk by hash; the same smallest
    duplicate and count come out, for add and for merge."""
    import vtool.index.index as index_module
    from vtool.index.index import find_duplicates

    rng = np.random.default_rng(9)
    ids = rng.permutation(10**6)[:5000].astype(np.int64)
    ids[[10, 4000, 4500]] = ids[[20, 30, 30]]
    want = find_duplicates(ids)
    monkeypatch.setattr(index_module, "UNIQUE_IN_RAM", 700)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert find_duplicates(ids, str(scratch)) == want == (int(min(ids[20], ids[30])), 3)
    assert not list(scratch.iterdir())  # the parts are removed
    ws, x, _ = shards
    write_parquet(ws / "dup.parquet", x[:2000], ids=np.r_[np.arange(1999), [5]])
    build(cli, ws, "IVF16,Flat", ("a.vti", [ws / "a.npy"]), ("b.vti", [ws / "b.npy"]))
    assert_refused(cli("add", ws / "m.vti", ws / "dup.parquet", "--id-column", "id", "-o", ws / "d.vti"),
                   "duplicate id 5 \\(1 duplicates in all\\)")
    assert_refused(cli("merge", ws / "a.vti", ws / "b.vti", "-o", ws / "o.vti"),
                   f"duplicate id 0 in {ws / 'a.vti'} and {ws / 'b.vti'} \\(1200 duplicates in all\\)")
