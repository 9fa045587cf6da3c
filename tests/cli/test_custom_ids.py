"""Custom ids end to end: ground truth in the index's ids (gt --id-column), and eval saying
so when results and ground truth cannot hold the same ids."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import assert_refused, clustered
from tests.io.writers import write_parquet


def test_gt_with_an_id_column_evaluates_an_index_with_custom_ids(tmp_path, cli):
    x, q = clustered(1500, 12, seed=7), clustered(30, 12, seed=8)
    ids = 10**12 + np.random.default_rng(0).permutation(1500) * 7  # far from any row number
    write_parquet(tmp_path / "b.parquet", x, ids=ids)
    np.save(tmp_path / "q.npy", q)
    for args in (["train", tmp_path / "b.parquet", "--index", "IVF8,Flat", "-o", tmp_path / "m.vti"],
                 ["add", tmp_path / "m.vti", tmp_path / "b.parquet", "--id-column", "id", "-o", tmp_path / "i.vti"],
                 ["search", tmp_path / "i.vti", tmp_path / "q.npy", "--nprobe", 8, "-k", 10, "-o", tmp_path / "r.npz"],
                 ["gt", tmp_path / "b.parquet", tmp_path / "q.npy", "-k", 10, "--id-column", "id",
                  "-o", tmp_path / "gt.npz"],
                 ["gt", tmp_path / "b.parquet", tmp_path / "q.npy", "-k", 10, "-o", tmp_path / "rows.npz"]):
        r = cli(*args)
        assert r.code == 0, r
    gt, rows = np.load(tmp_path / "gt.npz"), np.load(tmp_path / "rows.npz")
    np.testing.assert_array_equal(gt["ids"], ids[rows["ids"]])
    np.testing.assert_array_equal(gt["distances"], rows["distances"])

    r = cli("eval", tmp_path / "r.npz", "--gt", tmp_path / "gt.npz", "--json")
    assert r.code == 0 and json.loads(r.out)["k-recall@k"] == 1.0 and "warning" not in r.err

    r = cli("eval", tmp_path / "r.npz", "--gt", tmp_path / "rows.npz", "--json")  # custom ids against rows
    report = json.loads(r.out)
    assert r.code == 0 and report["k-recall@k"] == 0.0
    assert "do not overlap" in r.err and "vtool gt --id-column" in r.err and len(report["warnings"]) == 1
    assert_refused(cli("eval", tmp_path / "r.npz", "--gt", tmp_path / "rows.npz", "--strict"), "do not overlap")


def test_eval_warns_when_overlapping_id_ranges_share_no_id(tmp_path, cli):
    ids = np.arange(0, 200, 2).reshape(10, 10)
    np.savez(tmp_path / "r.npz", ids=ids, distances=np.zeros(ids.shape, np.float32))
    np.savez(tmp_path / "g.npz", ids=ids + 1, distances=np.zeros(ids.shape, np.float32))
    r = cli("eval", tmp_path / "r.npz", "--gt", tmp_path / "g.npz")
    assert r.code == 0 and "share no id" in r.err
    assert_refused(cli("eval", tmp_path / "r.npz", "--gt", tmp_path / "g.npz", "--strict"), "share no id")


def test_refine_from_a_parquet_file_with_an_id_column(tmp_path, cli):
    """search --refine base.parquet maps the index's ids to the file's rows through its id
    column; the results equal re-ranking against an .npy in id order."""
    x, q = clustered(1200, 16, seed=11), clustered(20, 16, seed=12)
    perm = np.random.default_rng(2).permutation(1200)
    ids = perm.astype(np.int64) * 3 + 5
    write_parquet(tmp_path / "b.parquet", x, ids=ids)  # rows in any order, ids in a column
    for args in (["train", tmp_path / "b.parquet", "--index", "IVF8,PQ4", "-o", tmp_path / "m.vti"],
                 ["add", tmp_path / "m.vti", tmp_path / "b.parquet", "--id-column", "id", "-o", tmp_path / "i.vti"]):
        assert cli(*args).code == 0
    np.save(tmp_path / "q.npy", q)
    r = cli("search", tmp_path / "i.vti", tmp_path / "q.npy", "-k", 5, "--nprobe", 8, "--refine",
            tmp_path / "b.parquet", "--refine-id-column", "id", "-o", tmp_path / "r.npz")
    assert r.code == 0, r
    got = np.load(tmp_path / "r.npz")
    unrefined = cli("search", tmp_path / "i.vti", tmp_path / "q.npy", "-k", 20, "--nprobe", 8,
                    "-o", tmp_path / "s.npz")
    assert unrefined.code == 0
    shortlist = np.load(tmp_path / "s.npz")["ids"]
    by_id = {int(i): x[row] for row, i in enumerate(ids)}
    for qi in range(len(q)):
        exact = np.array([((by_id[int(i)] - q[qi]) ** 2).sum() for i in shortlist[qi]])
        order = np.lexsort((shortlist[qi], exact))[:5]
        np.testing.assert_array_equal(got["ids"][qi], shortlist[qi][order])
        np.testing.assert_allclose(got["distances"][qi], exact[order], rtol=1e-5)
    write_parquet(tmp_path / "part.parquet", x[:600], ids=ids[:600])
    assert_refused(cli("search", tmp_path / "i.vti", tmp_path / "q.npy", "--refine", tmp_path / "part.parquet",
                       "--refine-id-column", "id", "-o", tmp_path / "t.npz"), "holds no vector for id")
