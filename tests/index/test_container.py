"""The .vti container: round trip, every single-byte corruption detected, truncation, versions."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from vtool import _native
from vtool.errors import VtoolError
from vtool.commands.build import add, train
from vtool.index.container import FIXED, VtiFile, write_vti
from vtool.index.index import load_index


def small_index(tmp_path) -> str:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "v.npy", rng.normal(size=(40, 4)).astype(np.float32))
    train(str(tmp_path / "v.npy"), str(tmp_path / "m.vti"), "IVF3,Flat")
    add(str(tmp_path / "m.vti"), [str(tmp_path / "v.npy")], str(tmp_path / "i.vti"))
    return str(tmp_path / "i.vti")


def test_sections_round_trip_and_are_aligned(tmp_path):
    a = np.arange(10, dtype=np.float32).reshape(5, 2)
    b = np.arange(3, dtype=np.int64)
    write_vti(tmp_path / "x.vti", {"kind": "test"}, {"a": a, "b": b, "empty": np.zeros(0, np.int64)})
    f = VtiFile(tmp_path / "x.vti")
    f.verify()
    np.testing.assert_array_equal(f.array("a"), a)
    np.testing.assert_array_equal(f.array("b"), b)
    assert all(e["offset"] % 64 == 0 for e in f.header["sections"])
    assert f.header["kind"] == "test"


def test_every_single_byte_flip_is_detected(tmp_path):
    path = small_index(tmp_path)
    original = open(path, "rb").read()
    load_index(path)  # the intact file loads
    for pos in range(len(original)):
        corrupted = bytearray(original)
        corrupted[pos] ^= 0x01 if pos % 2 else 0x80
        open(path, "wb").write(bytes(corrupted))
        with pytest.raises(VtoolError):
            load_index(path)
    open(path, "wb").write(original)


@pytest.mark.parametrize("keep", [0, 10, 31, 32, 100, -1, -64, -65])
def test_truncated_index_is_refused(tmp_path, keep):
    path = small_index(tmp_path)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:keep] if keep >= 0 else data[:len(data) + keep])
    with pytest.raises(VtoolError, match="truncated|too short|not a vtool index|corrupt"):
        load_index(path)


def test_a_newer_format_version_is_refused_clearly(tmp_path):
    path = small_index(tmp_path)
    data = bytearray(open(path, "rb").read())
    magic, version, flags, hlen, _, reserved = FIXED.unpack(bytes(data[:FIXED.size]))
    blob = bytes(data[FIXED.size:FIXED.size + hlen])
    head = struct.pack("<8sIIQ", magic, 2, flags, hlen)
    crc = _native.crc32c(blob, _native.crc32c(head))
    data[:FIXED.size] = FIXED.pack(magic, 2, flags, hlen, crc, reserved)
    open(path, "wb").write(bytes(data))
    with pytest.raises(VtoolError, match="format version 2.*upgrade vtool"):
        load_index(path)


def test_no_verify_skips_section_checksums(tmp_path):
    path = small_index(tmp_path)
    f = VtiFile(path)
    pos = f.sections["codes"]["offset"] + 3
    data = bytearray(open(path, "rb").read())
    data[pos] ^= 0x10
    open(path, "wb").write(bytes(data))
    load_index(path, verify=False)
    with pytest.raises(VtoolError, match="checksum mismatch in section 'codes'"):
        load_index(path, verify=True)
