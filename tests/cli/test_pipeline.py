"""The commands end to end: outputs, stdout, JSON, gates, ground truth, info, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_refused
from vtool.exact import knn
from vtool.io.results import read_results


def test_train_add_search_eval_pipeline(small_data, cli):
    d, base, queries = small_data
    assert cli("train", d / "base.npy", "--index", "IVF16,Flat", "-o", d / "m.vti", "--seed", 3).code == 0
    assert cli("add", d / "m.vti", d / "base.npy", "-o", d / "i.vti").code == 0
    r = cli("search", d / "i.vti", d / "queries.npy", "-o", d / "r.parquet", "-k", 5, "--nprobe", 16,
            "--timing", d / "t.json")
    assert r.code == 0 and r.out == ""
    assert cli("gt", d / "base.npy", d / "queries.npy", "-k", 20, "-o", d / "gt.ibin").code == 0
    r = cli("eval", d / "r.parquet", "--gt", d / "gt.ibin", "--timing", d / "t.json", "--index", d / "i.vti", "--json")
    assert r.code == 0
    report = json.loads(r.out)
    assert report["k-recall@k"] == pytest.approx(1.0)
    assert report["qps"] > 0 and report["id_bits_per_vector"] == 64
    r = cli("eval", d / "r.parquet", "--gt", d / "gt.ibin")
    assert r.code == 0 and "5-recall@5" in r.out and "1.0000" in r.out


def test_ground_truth_matches_brute_force_and_streams(small_data, cli):
    d, base, queries = small_data
    assert cli("gt", d / "base.npy", d / "queries.npy", "-k", 7, "-o", d / "gt.npz", "--batch-size", 333).code == 0
    ids, dist = read_results(str(d / "gt.npz"))
    want_d, want_i = knn(queries, base, 7)
    np.testing.assert_array_equal(ids, want_i)
    direct = ((queries[:, None, :].astype(np.float64) - base[None]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, np.take_along_axis(direct, ids, 1), rtol=1e-3, atol=1e-3)


def test_json_report_and_stdout_results_cannot_share_stdout(small_data, cli):
    d, _, _ = small_data
    cli("train", d / "base.npy", "--index", "Flat", "-o", d / "m.vti")
    cli("add", d / "m.vti", d / "base.npy", "-o", d / "i.vti")
    r = cli("search", d / "i.vti", d / "queries.npy", "-o", "-", "--json")
    assert r.code == 2 and "both want stdout" in r.err


def test_stdout_results_are_a_valid_file(small_data, tmp_path):
    import subprocess
    import sys

    d, _, _ = small_data
    vtool = [sys.executable, "-c", "from vtool.cli.main import main; main()"]
    subprocess.run(vtool + ["train", str(d / "base.npy"), "--index", "Flat", "-o", str(d / "m.vti")], check=True)
    subprocess.run(vtool + ["add", str(d / "m.vti"), str(d / "base.npy"), "-o", str(d / "i.vti")], check=True)
    for fmt in ("npz", "ibin", "parquet"):
        out = subprocess.run(vtool + ["search", str(d / "i.vti"), str(d / "queries.npy"), "-o", "-", "-k", "4",
                                      "--out-format", fmt], check=True, capture_output=True)
        assert out.stderr == b""  # quiet when not a TTY
        (tmp_path / f"r.{fmt}").write_bytes(out.stdout)
        ids, _ = read_results(str(tmp_path / f"r.{fmt}"))
        assert ids.shape == (50, 4)
        assert (ids[:, 0] >= 0).all()


def test_json_reports(small_data, cli):
    d, _, _ = small_data
    r = cli("train", d / "base.npy", "--index", "IVF8,Flat", "-o", d / "m.vti", "--json")
    assert json.loads(r.out)["spec"] == "IVF8,Flat"
    r = cli("add", d / "m.vti", d / "base.npy", "-o", d / "i.vti", "--json")
    assert json.loads(r.out)["ntotal"] == 3000
    r = cli("info", d / "i.vti", "--json")
    info = json.loads(r.out)
    assert info["ntotal"] == 3000 and info["nlist"] == 8 and info["sections"]["ids"] == 3000 * 8
    assert sum(b["lists"] for b in info["list_sizes"]["histogram"]) == 8
    r = cli("info", d / "base.npy", "--json")
    assert json.loads(r.out) | {"file": None, "bytes": None} == {
        "file": None, "bytes": None, "type": "vectors", "format": "npy", "rows": 3000, "dim": 16, "dtype": "float32"}
    r = cli("info", "--cpu", "--json")
    assert json.loads(r.out)["simd_level"] in ("scalar", "avx2", "avx512")


def test_info_human_output_shows_list_histogram(small_data, cli):
    d, _, _ = small_data
    cli("train", d / "base.npy", "--index", "IVF8,Flat", "-o", d / "m.vti")
    cli("add", d / "m.vti", d / "base.npy", "-o", d / "i.vti")
    r = cli("info", d / "i.vti")
    assert r.code == 0 and "list sizes: min" in r.out and "IVF8,Flat" in r.out and "codes" in r.out


def test_eval_gate_fails_with_exit_3(small_data, cli):
    d, _, _ = small_data
    cli("train", d / "base.npy", "--index", "IVF64,Flat", "-o", d / "m.vti")
    cli("add", d / "m.vti", d / "base.npy", "-o", d / "i.vti")
    cli("search", d / "i.vti", d / "queries.npy", "-o", d / "r.npz", "--nprobe", 1, "-k", 10)
    r = cli("eval", d / "r.npz", "--base", d / "base.npy", "--queries", d / "queries.npy", "--fail-below", 0.999,
            "--json")
    assert r.code == 3
    assert json.loads(r.out)["gate"]["passed"] is False
    r = cli("eval", d / "r.npz", "--base", d / "base.npy", "--queries", d / "queries.npy", "--fail-below", 0.01)
    assert r.code == 0


def test_eval_counts_distance_ties_as_big_ann_does():
    from vtool.commands.evaluate import recalls

    gt_ids = np.array([[0, 1, 2, 3, 4]])
    gt_dist = np.array([[0.0, 1.0, 2.0, 2.0, 3.0]], np.float32)
    # 2-NN truth is {0,1}; at k=3 the third neighbour ties with the fourth, so id 3 counts.
    r = recalls(np.array([[0, 1, 3]]), gt_ids, gt_dist)
    assert r["k-recall@k"] == 1.0
    r = recalls(np.array([[0, 1, 3]]), gt_ids, None)  # without distances, no tie extension
    assert r["k-recall@k"] == pytest.approx(2 / 3)
    r = recalls(np.array([[4, 1, 0]]), gt_ids, gt_dist)
    assert r["recall@1"] == 0.0 and r["1-recall@k"] == 1.0


def test_eval_with_ground_truth_from_npy_and_distances(small_data, cli):
    d, base, queries = small_data
    dist, ids = knn(queries, base, 10)
    np.save(d / "gt.npy", ids)
    np.save(d / "gt_dist.npy", dist)
    cli("train", d / "base.npy", "--index", "Flat", "-o", d / "m.vti")
    cli("add", d / "m.vti", d / "base.npy", "-o", d / "i.vti")
    cli("search", d / "i.vti", d / "queries.npy", "-o", d / "r.ibin", "-k", 10)
    r = cli("eval", d / "r.ibin", "--gt", d / "gt.npy", "--gt-distances", d / "gt_dist.npy", "--json")
    assert json.loads(r.out)["k-recall@k"] == 1.0


def test_search_is_deterministic_across_runs(small_data, cli):
    d, _, _ = small_data
    for run in ("a", "b"):
        cli("train", d / "base.npy", "--index", "IVF8,Flat", "-o", d / f"m{run}.vti", "--seed", 9)
        cli("add", d / f"m{run}.vti", d / "base.npy", "-o", d / f"i{run}.vti")
        cli("search", d / f"i{run}.vti", d / "queries.npy", "-o", d / f"r{run}.npz", "--nprobe", 2)
    assert (d / "ma.vti").read_bytes() == (d / "mb.vti").read_bytes()
    assert (d / "ia.vti").read_bytes() == (d / "ib.vti").read_bytes()
    assert (d / "ra.npz").read_bytes() == (d / "rb.npz").read_bytes()


def test_help_lists_every_command(cli):
    r = cli("--help")
    assert r.code == 0
    for command in ("train", "add", "search", "gt", "eval", "info"):
        assert command in r.out


def test_info_describes_every_file_vtool_writes(small_data, cli):
    """Results in each layout, ground truth (.ibin, which used to be refused as "trailing
    bytes"), code files, an ids .npy, and --format for a file whose extension says nothing."""
    d, _, _ = small_data
    for args in (["train", d / "base.npy", "--index", "IVF8,PQ4", "-o", d / "m.vti"],
                 ["add", d / "m.vti", d / "base.npy", "-o", d / "i.vti"],
                 ["encode", d / "m.vti", d / "base.npy", "-o", d / "c.npy"],
                 ["encode", d / "m.vti", d / "base.npy", "-o", d / "c.parquet"],
                 ["gt", d / "base.npy", d / "queries.npy", "-k", 7, "-o", d / "gt.ibin"]):
        assert cli(*args).code == 0
    for fmt in ("npz", "parquet", "ibin"):
        assert cli("search", d / "i.vti", d / "queries.npy", "-k", 5, "-o", d / f"r.{fmt}").code == 0

    def info(path, *extra):
        r = cli("info", path, "--json", *extra)
        assert r.code == 0, r
        return {k: v for k, v in json.loads(r.out).items() if k not in ("file", "bytes", "distance_range")}

    for fmt in ("npz", "parquet", "ibin"):
        assert info(d / f"r.{fmt}") | {"ids": None} == {"type": "results", "format": fmt, "queries": 50, "k": 5,
                                                         "distances": True, "ids": None, "missing": 0}
    gt = info(d / "gt.ibin")
    assert gt["type"] == "results" and (gt["queries"], gt["k"]) == (50, 7)
    for suffix in ("npy", "parquet"):
        codes = info(d / f"c.{suffix}")
        assert codes | {"model_fingerprint": None} == {"type": "codes", "format": suffix, "rows": 3000,
                                                        "code_size": 4, "lists": 8, "model_fingerprint": None}
    np.save(d / "ids.npy", np.load(d / "r.npz")["ids"])
    assert info(d / "ids.npy")["type"] == "ids"
    (d / "gt.bin").write_bytes((d / "gt.ibin").read_bytes())
    assert_refused(cli("info", d / "gt.bin"), "pass --format")
    assert info(d / "gt.bin", "--format", "ibin") == gt | {"format": "ibin"}
    assert_refused(cli("info", d / "gt.bin", "--format", "xyz"), "unknown format 'xyz'")
