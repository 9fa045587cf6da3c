"""Crafted, checksum-valid index files (issue 11, items 2 and 3): a short round of the
structured fuzzer (scripts/fuzz_index.py runs the long one), and the header cases it cannot
reach through the writer."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import vtool
from tests.conftest import ROOT, assert_refused, rewrite_index
from vtool import _native
from vtool.index.container import FIXED, MAGIC


def test_a_short_fuzz_round_finds_nothing():
    r = subprocess.run([sys.executable, "-W", "ignore", str(ROOT / "scripts" / "fuzz_index.py"), "--cases", "600",
                        "--seed", "7"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "600 crafted files" in r.stdout and ", 0 bad" in r.stdout


@pytest.fixture
def crafted(tmp_path):
    """Write an index whose JSON header is replaced (checksums recomputed)."""
    x = np.random.default_rng(0).random((300, 8)).astype(np.float32)
    index = vtool.train(x, "IVF4,PQ2")
    index.add(x)
    index.save(str(tmp_path / "base.vti"))
    np.save(tmp_path / "q.npy", x[:3])
    raw = (tmp_path / "base.vti").read_bytes()
    _, version, _, hlen, _, _ = FIXED.unpack(raw[:FIXED.size])
    header = json.loads(raw[FIXED.size:FIXED.size + hlen])

    first = min(e["offset"] for e in header["sections"])

    def write(blob: bytes):
        """The sections stay where they are: a header that outgrows its room shifts into them."""
        fixed = FIXED.pack(MAGIC, version, 0, len(blob), 0, 0)
        crc = _native.crc32c(blob, _native.crc32c(fixed[:24]))
        head = FIXED.pack(MAGIC, version, 0, len(blob), crc, 0) + blob
        body = raw[first:] if len(head) <= first else raw[FIXED.size + hlen:]
        (tmp_path / "bad.vti").write_bytes(head + bytes(max(0, first - len(head))) + body)
        return tmp_path / "bad.vti"

    return tmp_path, header, write


@pytest.mark.parametrize("change, message", [
    (lambda h: {"x": json.loads("[" * 50 + "]" * 50), **h}, None),
    (lambda h: h | {"sections": [dict(h["sections"][0], shape=[2 ** 32, 2 ** 32])] + h["sections"][1:]},
     "bad layout"),
    (lambda h: h | {"sections": [dict(h["sections"][0], offset="64")] + h["sections"][1:]}, "malformed section"),
    (lambda h: h | {"sections": [dict(h["sections"][0], dtype="|O")] + h["sections"][1:]}, "malformed section"),
    (lambda h: h | {"sections": [dict(h["sections"][0], dtype=">f4")] + h["sections"][1:]}, "malformed section"),
    (lambda h: h | {"d": 2 ** 64 + 5}, "'d' is not an integer"),
    (lambda h: h | {"metric": "hamming"}, "'metric' is 'hamming'"),  # cosine is a metric now
    (lambda h: h | {"ntotal": "300"}, "'ntotal' is not a count"),
    (lambda h: h | {"id_codec": ["x"]}, "'id_codec' is not a string"),
    (lambda h: h | {"spec": 5}, "'spec' is not a string"),
])
def test_crafted_headers_are_refused_in_one_line(crafted, cli, change, message):
    d, header, write = crafted
    path = write(json.dumps(change(header), separators=(",", ":")).encode())
    for args in (["info", path], ["search", path, d / "q.npy", "-o", d / "r.npz", "--no-verify"]):
        r = cli(*args)
        if message is None:  # an unknown nested field is harmless
            assert r.code == 0, r
        else:
            assert_refused(r, message)


def test_a_header_nested_deeper_than_the_parser_allows_is_refused(crafted, cli):
    d, header, write = crafted
    deep = "{\"a\":" * 200000 + "1" + "}" * 200000
    path = write(("{\"x\":" + deep + "," + json.dumps(header)[1:]).encode())
    assert_refused(cli("info", path), "unreadable JSON header")


@pytest.fixture
def pq_files(tmp_path, cli):
    x = np.random.default_rng(3).random((2000, 20)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "q.npy", x[:4])
    cli("train", tmp_path / "x.npy", "--index", "IVF8,PQ10", "-o", tmp_path / "m.vti")
    cli("add", tmp_path / "m.vti", tmp_path / "x.npy", "-o", tmp_path / "i.vti")
    cli("compress-ids", tmp_path / "i.vti", "-o", tmp_path / "ans.vti", "--method", "roc", "--codes", "ans")
    return tmp_path


@pytest.mark.parametrize("name, header, sections, message", [
    # item 2: d raised and the codebooks replaced by a tiny array (segfaulted the scan)
    ("i", {"d": 100000}, {"pq_codebooks": np.zeros((1, 1, 1), np.float32)}, r"corrupt index: section '\w+' is"),
    ("i", {"d": 50}, {"pq_codebooks": np.zeros((1, 1, 1), np.float32)}, r"corrupt index: section '\w+' is"),
    ("i", {}, {"pq_codebooks": np.zeros((1, 1, 1), np.float32)}, "section 'pq_codebooks' is"),
    # centroids of another dtype (handed to the scan raw before)
    ("i", {}, {"centroids": lambda a: a.astype(np.uint8)}, "centroids"),
    ("i", {}, {"centroids": lambda a: a.astype(np.float16)}, "centroids"),
    # item 3: an id codec named without its sections, an id universe past 64 bits
    ("i", {"id_codec": "ef"}, {}, "id codec's section 'id_ef' is missing"),
    ("ans", {"id_universe": 2 ** 64 + 5}, {}, "'id_universe' is not a count"),
    # item 3: list_offsets[-1] = 2^40 on an ANS-coded index (tried to allocate 10 TiB)
    ("ans", {}, {"list_offsets": lambda a: np.concatenate([a[:-1], [2 ** 40]])}, "corrupt index"),
    ("i", {}, {"list_offsets": lambda a: a[:0]}, "list_offsets"),
])
def test_crafted_sections_are_refused_before_any_pointer_reaches_c(pq_files, cli, name, header, sections, message):
    bad = rewrite_index(pq_files / f"{name}.vti", pq_files / "bad.vti", header, **sections)
    for extra in ([], ["--no-verify"]):
        assert_refused(cli("search", bad, pq_files / "q.npy", "-o", pq_files / "r.npz", *extra), message)
    assert_refused(cli("info", bad), message)
