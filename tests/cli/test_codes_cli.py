"""encode / decode / add-from-codes / eval --mse through the CLI, and their bad inputs."""

from __future__ import annotations

import json
import numpy as np
import pytest

from tests.conftest import assert_refused, clustered
from vtool.index.container import write_vti


@pytest.fixture
def ws(tmp_path, cli):
    np.save(tmp_path / "base.npy", clustered(2000, 16, seed=1))
    np.save(tmp_path / "queries.npy", clustered(20, 16, seed=2))
    for name, spec in (("pq", "IVF8,PQ4"), ("other", "IVF8,PQ4"), ("sq", "IVF8,SQ8")):
        seed = 2 if name == "other" else 1
        r = cli("train", tmp_path / "base.npy", "--index", spec, "-o", tmp_path / f"{name}.vti", "--seed", seed)
        assert r.code == 0, r
    return tmp_path


@pytest.mark.parametrize("suffix", ["npy", "parquet"])
def test_encode_add_decode_and_mse(ws, cli, suffix):
    assert cli("encode", ws / "pq.vti", ws / "base.npy", "-o", ws / f"codes.{suffix}").code == 0
    assert cli("add", ws / "pq.vti", ws / f"codes.{suffix}", "-o", ws / "i.vti").code == 0
    assert cli("decode", ws / "pq.vti", ws / f"codes.{suffix}", "-o", ws / "recon.npy").code == 0
    recon, base = np.load(ws / "recon.npy"), np.load(ws / "base.npy")
    direct = ((recon - base) ** 2).sum(1).mean()
    r = cli("eval", "--mse", "--base", ws / "base.npy", "--index", ws / "i.vti", "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["mse"] == pytest.approx(direct, rel=1e-5)
    r = cli("eval", "--mse", "--base", ws / "base.npy", "--codes", ws / f"codes.{suffix}", "--model", ws / "pq.vti",
            "--json")
    assert json.loads(r.out)["mse"] == pytest.approx(direct, rel=1e-5)
    r = cli("search", ws / "i.vti", ws / "queries.npy", "-o", ws / "r.npz", "--nprobe", 8)
    assert r.code == 0


def test_encode_shards_then_add_them_together(ws, cli):
    base = np.load(ws / "base.npy")
    np.save(ws / "s1.npy", base[:1200])
    np.save(ws / "s2.npy", base[1200:])
    assert cli("encode", ws / "pq.vti", ws / "s1.npy", "-o", ws / "c1.npy").code == 0
    assert cli("encode", ws / "pq.vti", ws / "s2.npy", "-o", ws / "c2.npy", "--first-id", 1200).code == 0
    assert cli("add", ws / "pq.vti", ws / "c1.npy", ws / "c2.npy", "-o", ws / "sharded.vti").code == 0
    assert cli("add", ws / "pq.vti", ws / "base.npy", "-o", ws / "direct.vti").code == 0
    a = cli("info", ws / "sharded.vti", "--json")
    b = cli("info", ws / "direct.vti", "--json")
    assert json.loads(a.out)["sections"] == json.loads(b.out)["sections"]
    assert cli("add", ws / "pq.vti", ws / "c1.npy", ws / "c1.npy", "-o", ws / "dup.vti").code == 2


def no_codebooks_model(ws):
    write_vti(ws / "bare.vti", {"kind": "model", "spec": "PQ4", "d": 16, "metric": "l2", "ntotal": 0,
                                "model_fingerprint": "00000000"},
              {"list_offsets": np.zeros(2, np.int64), "codes": np.zeros((0, 4), np.uint8), "ids": np.zeros(0, np.int64)})
    return ws / "bare.vti"


CASES = {
    "codes from another model": (lambda ws, cli: ["add", ws / "other.vti", encoded(ws, cli), "-o", ws / "out.vti"],
                                 "codes were made by another model"),
    "decode with another model": (lambda ws, cli: ["decode", ws / "other.vti", encoded(ws, cli), "-o", ws / "out.npy"],
                                  "codes were made by another model"),
    "codes of the wrong width": (lambda ws, cli: ["add", ws / "pq.vti", wrong_width(ws, cli), "-o", ws / "out.vti"],
                                 "codes are 5 bytes wide, the model's are 4"),
    "m does not divide d": (lambda ws, cli: ["train", ws / "base.npy", "--index", "PQ5", "-o", ws / "out.vti"],
                            "m=5 does not divide the dimension 16"),
    "nbits out of range": (lambda ws, cli: ["train", ws / "base.npy", "--index", "PQ4x9", "-o", ws / "out.vti"],
                           "nbits must be between 4 and 8"),
    "unknown suffix": (lambda ws, cli: ["train", ws / "base.npy", "--index", "IVF8,PQ4xz", "-o", ws / "out.vti"],
                       "unknown encoding 'PQ4xz'"),
    "OPQ larger than d": (lambda ws, cli: ["train", ws / "base.npy", "--index", "OPQ4_32,PQ4", "-o", ws / "out.vti"],
                          "OPQ output dimension 32 is larger than d=16"),
    "RFlat on Flat": (lambda ws, cli: ["train", ws / "base.npy", "--index", "Flat,RFlat", "-o", ws / "out.vti"],
                      "RFlat"),
    "model without codebooks": (lambda ws, cli: ["encode", no_codebooks_model(ws), ws / "base.npy", "-o", ws / "out.npy"],
                                "no 'pq_codebooks' section"),
    "codes output format": (lambda ws, cli: ["encode", ws / "pq.vti", ws / "base.npy", "-o", ws / "out.fbin"],
                            "codes are written as .npy or .parquet"),
    "vectors as codes": (lambda ws, cli: ["decode", ws / "pq.vti", ws / "base.npy", "-o", ws / "out.npy"],
                         "not a code file"),
    "encode dimension": (lambda ws, cli: ["encode", ws / "pq.vti", d9(ws), "-o", ws / "out.npy"],
                         "dimension 9, the model expects 16"),
}


def encoded(ws, cli):
    assert cli("encode", ws / "pq.vti", ws / "base.npy", "-o", ws / "codes.npy").code == 0
    return ws / "codes.npy"


def wrong_width(ws, cli):
    from vtool.index.container import VtiFile
    from vtool.io.codes import codes_dtype

    fingerprint = VtiFile(ws / "pq.vti").header["model_fingerprint"]
    arr = np.zeros(3, dtype=codes_dtype(5, fingerprint))
    np.save(ws / "wide.npy", arr)
    return ws / "wide.npy"


def d9(ws):
    np.save(ws / "d9.npy", clustered(10, 9))
    return ws / "d9.npy"


@pytest.mark.parametrize("case", list(CASES))
def test_bad_code_inputs_are_refused_cleanly(ws, cli, case):
    make_args, message = CASES[case]
    args = make_args(ws, cli)
    out = next(a for a, prev in zip(args[1:], args) if prev == "-o")
    out.write_bytes(b"previous")
    before = sorted(p.name for p in ws.iterdir())
    assert_refused(cli(*args), message)
    assert sorted(p.name for p in ws.iterdir()) == before
    assert out.read_bytes() == b"previous"


def test_decode_writes_every_vector_format_and_bytes_stay_bytes(ws, cli, tmp_path):
    from vtool.io.vectors import open_vectors

    assert cli("encode", ws / "pq.vti", ws / "base.npy", "-o", tmp_path / "codes.npy").code == 0
    assert cli("decode", ws / "pq.vti", tmp_path / "codes.npy", "-o", tmp_path / "r.npy").code == 0
    want = np.load(tmp_path / "r.npy")
    for suffix in ("fbin", "fvecs", "parquet", "hdf5"):
        if suffix == "hdf5":
            pytest.importorskip("h5py")
        assert cli("decode", ws / "pq.vti", tmp_path / "codes.npy", "-o", tmp_path / f"r.{suffix}").code == 0
        np.testing.assert_array_equal(open_vectors(str(tmp_path / f"r.{suffix}")).read_all(), want)
    r = cli("decode", ws / "pq.vti", tmp_path / "codes.npy", "-o", tmp_path / "r.u8bin")
    assert r.code == 2 and ".u8bin holds uint8; the input is float32" in r.err
    x = np.random.default_rng(3).integers(0, 256, size=(300, 16)).astype(np.uint8)
    (tmp_path / "b.u8bin").write_bytes(np.array([300, 16], "<u4").tobytes() + x.tobytes())
    for args in (["train", tmp_path / "b.u8bin", "--index", "SQ8_direct", "-o", tmp_path / "d.vti"],
                 ["encode", tmp_path / "d.vti", tmp_path / "b.u8bin", "-o", tmp_path / "dc.npy"],
                 ["decode", tmp_path / "d.vti", tmp_path / "dc.npy", "-o", tmp_path / "back.u8bin"]):
        assert cli(*args).code == 0, args
    assert (tmp_path / "back.u8bin").read_bytes() == (tmp_path / "b.u8bin").read_bytes()
