"""faiss index files out and in: vtool -> faiss -> the same results, faiss -> vtool -> the same
results, ids kept (IndexIDMap for a flat index with custom ids), and what is refused."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import assert_refused, clustered, shared_dataset

faiss = pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    ws = tmp_path_factory.mktemp("faiss")
    path = shared_dataset("glove-50-l2")
    np.save(ws / "b.npy", np.load(path / "base.npy")[:20000])
    np.save(ws / "q.npy", np.load(path / "queries.npy")[:200])
    return ws


def faiss_search(path, q, k=10, nprobe=8):
    ix = faiss.read_index(str(path))
    try:  # through wrappers (OPQ, refine) too
        faiss.ParameterSpace().set_index_parameter(ix, "nprobe", nprobe)
    except RuntimeError:  # a flat index has no nprobe
        pass
    return ix.search(q, k)


@pytest.mark.parametrize("spec", ["Flat", "IVF64,Flat", "IVF64,PQ10", "IVF64,PQ10np", "IVF64,SQ8", "IVF64,SQfp16",
                                  "OPQ10,IVF64,PQ10", "OPQ10_40,IVF64,PQ10,RFlat", "IVF64,SQ8,RFlat"])
def test_vtool_to_faiss_and_back_gives_the_same_results(data, cli, spec):
    ws = data
    for args in (["train", ws / "b.npy", "--index", spec, "-o", ws / "m.vti"],
                 ["add", ws / "m.vti", ws / "b.npy", "-o", ws / "i.vti"],
                 ["export", ws / "i.vti", "-o", ws / "i.faiss"],
                 ["import", ws / "i.faiss", "-o", ws / "j.vti"]):
        assert cli(*args).code == 0, args
    q = np.load(ws / "q.npy")
    nprobe = [] if spec == "Flat" else ["--nprobe", 8]
    for name in ("i", "j"):
        assert cli("search", ws / f"{name}.vti", ws / "q.npy", "-k", 10, *nprobe, "-o", ws / f"r{name}.npz").code == 0
    mine, back = np.load(ws / "ri.npz"), np.load(ws / "rj.npz")
    np.testing.assert_array_equal(mine["ids"], back["ids"])
    np.testing.assert_array_equal(mine["distances"], back["distances"])
    dist, ids = faiss_search(ws / "i.faiss", q)
    assert (ids == mine["ids"]).mean() >= 0.999  # float rounding may swap a near tie
    np.testing.assert_allclose(dist, mine["distances"], rtol=1e-5, atol=1e-4)


def test_custom_and_compressed_ids_survive_export(data, cli, tmp_path):
    from tests.io.writers import write_parquet

    x = np.load(data / "b.npy")[:3000]
    ids = np.arange(3000) * 11 + 7
    write_parquet(tmp_path / "b.parquet", x, ids=ids)
    np.save(tmp_path / "q.npy", np.load(data / "q.npy")[:50])
    for spec, name in (("Flat", "flat"), ("IVF16,Flat", "ivf")):
        assert cli("train", tmp_path / "b.parquet", "--index", spec, "-o", tmp_path / "m.vti").code == 0
        assert cli("add", tmp_path / "m.vti", tmp_path / "b.parquet", "--id-column", "id",
                   "-o", tmp_path / f"{name}.vti").code == 0
    assert cli("compress-ids", tmp_path / "ivf.vti", "-o", tmp_path / "ivfc.vti", "--method", "roc").code == 0
    for name, expect in (("flat", "IndexIDMap"), ("ivfc", "IndexIVFFlat")):
        assert cli("export", tmp_path / f"{name}.vti", "-o", tmp_path / f"{name}.faiss").code == 0
        assert type(faiss.downcast_index(faiss.read_index(str(tmp_path / f"{name}.faiss")))).__name__ == expect
        assert cli("search", tmp_path / f"{name}.vti", tmp_path / "q.npy", "-k", 5, "--nprobe" if name != "flat"
                   else "-k", 16 if name != "flat" else 5, "-o", tmp_path / "r.npz").code == 0
        dist, got = faiss_search(tmp_path / f"{name}.faiss", np.load(tmp_path / "q.npy"), 5, 16)
        np.testing.assert_array_equal(got, np.load(tmp_path / "r.npz")["ids"])
        assert cli("import", tmp_path / f"{name}.faiss", "-o", tmp_path / f"{name}.back.vti").code == 0
        assert cli("search", tmp_path / f"{name}.back.vti", tmp_path / "q.npy", "-k", 5,
                   *(["--nprobe", 16] if name != "flat" else []), "-o", tmp_path / "s.npz").code == 0
        np.testing.assert_array_equal(np.load(tmp_path / "s.npz")["ids"], got)


def test_an_index_faiss_built_imports_with_the_same_results(data, cli):
    ws = data
    x, q = np.load(ws / "b.npy"), np.load(ws / "q.npy")
    quantizer = faiss.IndexFlatL2(50)
    ix = faiss.IndexIVFPQ(quantizer, 50, 64, 10, 8)
    ix.train(x[:10000])
    ix.add(x)
    ix.nprobe = 8
    faiss.write_index(ix, str(ws / "f.faiss"))
    dist, ids = ix.search(q, 10)
    assert cli("import", ws / "f.faiss", "-o", ws / "f.vti").code == 0
    assert cli("search", ws / "f.vti", ws / "q.npy", "-k", 10, "--nprobe", 8, "-o", ws / "rf.npz").code == 0
    mine = np.load(ws / "rf.npz")
    assert (mine["ids"] == ids).mean() >= 0.999
    np.testing.assert_allclose(mine["distances"], dist, rtol=1e-5, atol=1e-4)


def test_unsupported_types_and_missing_faiss_are_one_line(data, cli, tmp_path, monkeypatch):
    faiss.write_index(faiss.IndexLSH(8, 16), str(tmp_path / "h.faiss"))
    assert_refused(cli("import", tmp_path / "h.faiss", "-o", tmp_path / "h.vti"), "faiss IndexLSH: not imported")
    (tmp_path / "junk.faiss").write_bytes(b"not a faiss file at all")
    assert_refused(cli("import", tmp_path / "junk.faiss", "-o", tmp_path / "h.vti"), "not a faiss index file")
    np.save(tmp_path / "x.npy", clustered(500, 8))
    assert cli("train", tmp_path / "x.npy", "--index", "HNSW8,SQ8", "-o", tmp_path / "g.vti").code == 0
    assert cli("add", tmp_path / "g.vti", tmp_path / "x.npy", "-o", tmp_path / "gi.vti").code == 0
    assert_refused(cli("export", tmp_path / "gi.vti", "-o", tmp_path / "g.faiss"), "not exported to faiss yet")
    from tests.io.writers import write_parquet

    write_parquet(tmp_path / "c.parquet", clustered(500, 8), ids=np.arange(500) * 3)
    assert cli("train", tmp_path / "c.parquet", "--index", "IVF4,SQ8,RFlat", "-o", tmp_path / "cm.vti").code == 0
    assert cli("add", tmp_path / "cm.vti", tmp_path / "c.parquet", "--id-column", "id", "-o", tmp_path / "ci.vti").code == 0
    assert_refused(cli("export", tmp_path / "ci.vti", "-o", tmp_path / "g.faiss"), "ids must be 0..n-1")
    import sys

    monkeypatch.setitem(sys.modules, "faiss", None)
    assert_refused(cli("export", tmp_path / "gi.vti", "-o", tmp_path / "g.faiss"),
                   r"faiss files need faiss: pip install 'vtool\[faiss\]'")
    assert not (tmp_path / "g.faiss").exists() and not (tmp_path / "h.vti").exists()


def test_info_describes_a_faiss_file_without_converting_it(data, cli):
    import json

    ws = data
    quantizer = faiss.IndexFlatL2(50)
    ix = faiss.IndexIVFFlat(quantizer, 50, 16)
    x = np.load(ws / "b.npy")[:2000]
    ix.train(x)
    ix.add(x)
    faiss.write_index(ix, str(ws / "info.faiss"))
    report = json.loads(cli("info", ws / "info.faiss", "--json").out)
    assert report["faiss_type"] == "IndexIVFFlat" and report["ntotal"] == 2000 and report["nlist"] == 16
    assert report["code_size"] == 200 and report["vtool_import"] == "supported" and report["dim"] == 50
    faiss.write_index(faiss.IndexLSH(8, 16), str(ws / "h.faiss"))
    report = json.loads(cli("info", ws / "h.faiss", "--json").out)
    assert report["faiss_type"] == "IndexLSH" and "not imported yet" in report["vtool_import"]


def test_hnsw_graphs_go_both_ways_with_the_same_results(data, cli, tmp_path):
    """vtool's HNSW exported as faiss's IndexHNSWFlat (the same graph) and back, a faiss-built
    graph imported, custom ids in an IndexIDMap: the same ids and distances at ef >= k."""
    from tests.io.writers import write_parquet

    x, q = np.load(data / "b.npy")[:4000], np.load(data / "q.npy")[:100]
    np.save(tmp_path / "b.npy", x)
    np.save(tmp_path / "q.npy", q)
    write_parquet(tmp_path / "c.parquet", x, ids=np.arange(4000) * 7 + 1)
    assert cli("train", tmp_path / "b.npy", "--index", "HNSW12,Flat", "-o", tmp_path / "m.vti").code == 0
    assert cli("add", tmp_path / "m.vti", tmp_path / "b.npy", "-o", tmp_path / "g.vti").code == 0
    assert cli("add", tmp_path / "m.vti", tmp_path / "c.parquet", "--id-column", "id", "-o", tmp_path / "c.vti").code == 0
    for name in ("g", "c"):
        assert cli("export", tmp_path / f"{name}.vti", "-o", tmp_path / f"{name}.faiss").code == 0
        assert cli("import", tmp_path / f"{name}.faiss", "-o", tmp_path / f"{name}.back.vti").code == 0
        ix = faiss.read_index(str(tmp_path / f"{name}.faiss"))
        for ef in (16, 64):
            faiss.ParameterSpace().set_index_parameter(ix, "efSearch", ef)
            dist, ids = ix.search(q, 10)
            for vti in (f"{name}.vti", f"{name}.back.vti"):
                assert cli("search", tmp_path / vti, tmp_path / "q.npy", "-k", 10, "--ef", ef,
                           "-o", tmp_path / "r.npz").code == 0
                mine = np.load(tmp_path / "r.npz")
                np.testing.assert_array_equal(mine["ids"], ids)
                np.testing.assert_allclose(mine["distances"], dist, rtol=1e-6)
    built = faiss.IndexHNSWFlat(50, 12)
    built.add(x)
    faiss.write_index(built, str(tmp_path / "f.faiss"))
    assert cli("import", tmp_path / "f.faiss", "-o", tmp_path / "f.vti").code == 0
    built.hnsw.efSearch = 32
    dist, ids = built.search(q, 10)
    assert cli("search", tmp_path / "f.vti", tmp_path / "q.npy", "-k", 10, "--ef", 32, "-o", tmp_path / "r.npz").code == 0
    np.testing.assert_array_equal(np.load(tmp_path / "r.npz")["ids"], ids)


@pytest.mark.parametrize("spec,metric", [("IVF32,PQ10x4fs", "l2"), ("IVF32,PQ10x4fs", "ip"),
                                         ("IVF32,PQ10x4fsnp", "l2")])
def test_fast_scan_goes_both_ways_with_the_same_codes(data, cli, tmp_path, spec, metric):
    """faiss quantizes fast-scan tables its own way, so the check is on what both must share:
    faiss's file holds, for every id, the code vtool's encoder gives that vector; its search
    scores ids as vtool's decoded codes do (to its table rounding) and finds what vtool's finds;
    the file comes back to the same vtool index."""
    ws = tmp_path
    x, q = np.load(data / "b.npy")[:10000], np.load(data / "q.npy")[:100]
    np.save(ws / "b.npy", x)
    np.save(ws / "q.npy", q)
    for args in (["train", ws / "b.npy", "--index", spec, "--metric", metric, "-o", ws / "m.vti"],
                 ["add", ws / "m.vti", ws / "b.npy", "-o", ws / "i.vti"],
                 ["export", ws / "i.vti", "-o", ws / "i.faiss"],
                 ["import", ws / "i.faiss", "-o", ws / "j.vti"],
                 ["decode", ws / "m.vti", ws / "codes.npy", "-o", ws / "dec.npy"]):
        if args[0] == "decode":
            assert cli("encode", ws / "m.vti", ws / "b.npy", "-o", ws / "codes.npy").code == 0
        assert cli(*args).code == 0, args
    for name in ("i", "j"):
        assert cli("search", ws / f"{name}.vti", ws / "q.npy", "-k", 10, "--nprobe", 8,
                   "-o", ws / f"r{name}.npz").code == 0
    mine, back = np.load(ws / "ri.npz"), np.load(ws / "rj.npz")
    np.testing.assert_array_equal(mine["ids"], back["ids"])
    np.testing.assert_array_equal(mine["distances"], back["distances"])
    ix = faiss.read_index(str(ws / "i.faiss"))
    assert type(ix).__name__ == "IndexIVFPQFastScan"
    ix.nprobe = 8
    _, theirs = ix.search(q, 10)
    shared = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(theirs, mine["ids"])])
    assert shared >= 0.9, shared  # both approximate, each rounding its tables its own way
    run, packer = np.load(ws / "codes.npy"), ix.get_CodePacker()
    codes = np.empty((len(run), ix.code_size), np.uint8)
    codes[run["id"]] = run[run.dtype.names[2]]
    for lst in range(ix.nlist):
        n = ix.invlists.list_size(lst)
        list_ids = faiss.rev_swig_ptr(ix.invlists.get_ids(lst), n).copy()
        blocks = faiss.rev_swig_ptr(ix.invlists.get_codes(lst), -(-n // 32) * packer.block_size).copy()
        got = np.empty((-(-n // 32) * 32, ix.code_size), np.uint8)
        for b in range(-(-n // 32)):
            packer.unpack_all(faiss.swig_ptr(blocks[b * packer.block_size:]), faiss.swig_ptr(got[b * 32:]))
        np.testing.assert_array_equal(got[:n], codes[list_ids])
    dist, ids = ix.search(q, 10)
    dec = np.load(ws / "dec.npy")[ids]
    exact = ((q[:, None] - dec) ** 2).sum(-1) if metric == "l2" else (q[:, None] * dec).sum(-1)
    assert np.abs(dist - exact).max() <= 0.01 * np.abs(exact).max(), np.abs(dist - exact).max()


def test_a_fast_scan_index_faiss_built_comes_back_the_same(data, cli, tmp_path):
    x, q = np.load(data / "b.npy")[:10000], np.load(data / "q.npy")[:100]
    ix = faiss.index_factory(50, "IVF32,PQ10x4fs")
    ix.train(x)
    ix.add(x)
    faiss.write_index(ix, str(tmp_path / "f.faiss"))
    np.save(tmp_path / "q.npy", q)
    for args in (["import", tmp_path / "f.faiss", "-o", tmp_path / "f.vti"],
                 ["export", tmp_path / "f.vti", "-o", tmp_path / "g.faiss"],
                 ["search", tmp_path / "f.vti", tmp_path / "q.npy", "-k", 10, "--nprobe", 8, "-o", tmp_path / "r.npz"]):
        assert cli(*args).code == 0, args
    back = faiss.read_index(str(tmp_path / "g.faiss"))
    for lst in range(ix.nlist):
        n = ix.invlists.list_size(lst)
        assert back.invlists.list_size(lst) == n
        for a, b in ((ix.invlists.get_ids(lst), back.invlists.get_ids(lst)),):
            np.testing.assert_array_equal(faiss.rev_swig_ptr(a, n), faiss.rev_swig_ptr(b, n))
        size = -(-n // 32) * ix.get_CodePacker().block_size
        np.testing.assert_array_equal(faiss.rev_swig_ptr(ix.invlists.get_codes(lst), size),
                                      faiss.rev_swig_ptr(back.invlists.get_codes(lst), size))
    ix.nprobe = 8
    _, theirs = ix.search(q, 10)
    mine = np.load(tmp_path / "r.npz")["ids"]
    assert np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(theirs, mine)]) >= 0.9


@pytest.mark.parametrize("spec,dtype", [("SQ8_direct", np.uint8), ("IVF8,SQ8_direct_signed", np.int8),
                                        ("SQ8", np.uint8)])
def test_byte_vectors_and_flat_scalar_quantizers_go_both_ways(cli, tmp_path, spec, dtype):
    """uint8 / int8 bases kept as bytes (faiss QT_8bit_direct[_signed]), and a flat SQ8 with
    custom ids (IndexIDMap around IndexScalarQuantizer): exact integer distances both ways."""
    from tests.io.writers import write_parquet

    rng = np.random.default_rng(5)
    lo = -128 if dtype == np.int8 else 0
    x = rng.integers(lo, lo + 256, size=(2000, 32)).astype(dtype)
    q = rng.integers(lo, lo + 256, size=(30, 32)).astype(dtype)
    np.save(tmp_path / "q.npy", q)
    write_parquet(tmp_path / "b.parquet", x.astype(np.float32), ids=np.arange(2000) * 5 + 3)
    for args in (["train", tmp_path / "b.parquet", "--index", spec, "-o", tmp_path / "m.vti"],
                 ["add", tmp_path / "m.vti", tmp_path / "b.parquet", "--id-column", "id", "-o", tmp_path / "i.vti"],
                 ["export", tmp_path / "i.vti", "-o", tmp_path / "i.faiss"],
                 ["import", tmp_path / "i.faiss", "-o", tmp_path / "j.vti"]):
        assert cli(*args).code == 0, args
    for name in ("i", "j"):
        assert cli("search", tmp_path / f"{name}.vti", tmp_path / "q.npy", "-k", 10, "--nprobe" if "IVF" in spec
                   else "-k", 8 if "IVF" in spec else 10, "-o", tmp_path / f"r{name}.npz").code == 0
    mine, back = np.load(tmp_path / "ri.npz"), np.load(tmp_path / "rj.npz")
    np.testing.assert_array_equal(mine["ids"], back["ids"])
    np.testing.assert_array_equal(mine["distances"], back["distances"])
    ix = faiss.read_index(str(tmp_path / "i.faiss"))
    if "IVF" in spec:
        ix.nprobe = 8
    dist, ids = ix.search(q.astype(np.float32), 10)
    np.testing.assert_array_equal(ids, mine["ids"])
    np.testing.assert_allclose(dist, mine["distances"], rtol=1e-6)
    if "direct" in spec:  # the bytes themselves: exact integer distances
        rows = (mine["ids"] - 3) // 5
        want = ((q[:, None].astype(np.int64) - x[rows].astype(np.int64)) ** 2).sum(-1)
        np.testing.assert_array_equal(mine["distances"].astype(np.int64), want)
