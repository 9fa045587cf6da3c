"""The .vti container: one self-describing, checksummed, memory-mappable file.

Layout (all integers little-endian):

    offset  size  field
    0       8     magic  b"\\x89VTI\\r\\n\\x1a\\n"
    8       4     format version (uint32), currently 1
    12      4     flags (uint32), 0
    16      8     header length H (uint64), bytes of UTF-8 JSON
    24      4     CRC-32C of bytes 0..23 followed by the JSON header
    28      4     reserved, 0
    32      H     JSON header; then zero bytes up to a multiple of 64
    ...           sections, each at a 64-byte-aligned offset, zero padding between

The JSON header lists the sections: name, offset, nbytes, dtype (numpy string,
little-endian), shape and crc32c (8 hex digits, CRC-32C of the section's bytes).
Every byte of the file is covered: the fixed part and JSON by the header CRC, the
sections by theirs, and the padding must be zero. The file ends with the last
section's padding. A reader must refuse a version above the one it knows.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from vtool import _native, memory
from vtool.errors import VtoolError
from vtool.io.atomic import atomic_path, reserve
from vtool.io.inputs import check_input_file

MAGIC = b"\x89VTI\r\n\x1a\n"
FORMAT_VERSION = 1
FIXED = struct.Struct("<8sIIQII")  # magic, version, flags, header length, header crc, reserved
ALIGN = 64
CRC_CHUNK = 1 << 24


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass(frozen=True)
class SectionSpec:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


def _section_crc(view: np.ndarray) -> int:
    flat = view.reshape(-1).view(np.uint8)
    crc = 0
    for i in range(0, flat.size, CRC_CHUNK):
        crc = _native.crc32c(flat[i:i + CRC_CHUNK], crc)
        memory.release(flat)
    return crc


def _layout(header: dict, specs: list[SectionSpec]) -> tuple[bytes, list[dict], int]:
    """Place the sections after the header; returns (json bytes, table, file size)."""
    table = [{"name": s.name, "offset": 0, "nbytes": s.nbytes, "dtype": np.dtype(s.dtype).str,
              "shape": list(s.shape), "crc32c": "00000000"} for s in specs]
    region = _align(FIXED.size + 256)
    while True:
        pos = region
        for entry in table:
            entry["offset"] = pos
            pos = _align(pos + entry["nbytes"])
        blob = json.dumps({**header, "sections": table}, sort_keys=True).encode()
        if FIXED.size + len(blob) <= region:
            return blob, table, max(pos, region)
        region = _align(FIXED.size + len(blob))


class VtiWriter:
    """Fill sections through writable memory maps, then commit atomically."""

    def __init__(self, tmp_path: Path, header: dict, specs: list[SectionSpec]):
        self.header = dict(header)
        self.specs = specs
        self.tmp_path = tmp_path
        _, self.table, size = _layout(self.header, specs)
        with open(tmp_path, "wb") as f:
            f.truncate(size)
        reserve(tmp_path, size)  # a full disk fails here, not as SIGBUS in a store to the map
        self._map = np.memmap(tmp_path, dtype=np.uint8, mode="r+", shape=(size,)) if size else None
        if self._map is not None:
            memory.populate(self._map._mmap, size)

    def section(self, name: str) -> np.ndarray:
        entry = next(e for e in self.table if e["name"] == name)
        raw = self._map[entry["offset"]:entry["offset"] + entry["nbytes"]]
        return raw.view(np.dtype(entry["dtype"])).reshape(entry["shape"])

    def finish(self) -> None:
        for entry in self.table:
            entry["crc32c"] = f"{_section_crc(self.section(entry['name'])):08x}"
        # CRCs are fixed-width hex, so the JSON keeps the length the layout reserved.
        blob = json.dumps({**self.header, "sections": self.table}, sort_keys=True).encode()
        if self.table and FIXED.size + len(blob) > self.table[0]["offset"]:
            raise RuntimeError("the .vti header grew past the room reserved for it")
        fixed = FIXED.pack(MAGIC, FORMAT_VERSION, 0, len(blob), 0, 0)
        crc = _native.crc32c(blob, _native.crc32c(fixed[:24]))
        fixed = FIXED.pack(MAGIC, FORMAT_VERSION, 0, len(blob), crc, 0)
        self._map[:len(fixed)] = np.frombuffer(fixed, dtype=np.uint8)
        self._map[len(fixed):len(fixed) + len(blob)] = np.frombuffer(blob, dtype=np.uint8)
        self._map.flush()
        del self._map


def write_vti(path: str | os.PathLike, header: dict, sections: dict[str, np.ndarray]) -> None:
    """Write a small .vti whose sections are already in memory."""
    specs = [SectionSpec(name, a.dtype.str, a.shape) for name, a in sections.items()]
    with atomic_path(path) as tmp:
        w = VtiWriter(tmp, header, specs)
        for name, a in sections.items():
            w.section(name)[...] = a
        w.finish()


DTYPES = ("|u1", "|i1", "<u2", "<i2", "<f2", "<u4", "<i4", "<f4", "<u8", "<i8", "<f8")  # what sections hold


def _entry_ok(e) -> bool:
    """A section table entry of the right types (the layout check then checks the values)."""
    return (isinstance(e, dict) and isinstance(e.get("name"), str) and e.get("dtype") in DTYPES
            and all(type(e.get(k)) is int and e[k] >= 0 for k in ("offset", "nbytes"))
            and isinstance(e.get("shape"), list) and all(type(v) is int and v >= 0 for v in e["shape"])
            and isinstance(e.get("crc32c"), str))


class VtiFile:
    """A .vti opened read-only by memory map; header checked, sections verified on demand."""

    def __init__(self, path: str | os.PathLike):
        self.path = check_input_file(str(path))
        size = os.path.getsize(self.path)
        if size < FIXED.size:
            raise VtoolError(f"{self.path}: not a vtool index (too short, {size} bytes)")
        self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
        magic, version, flags, hlen, hcrc, reserved = FIXED.unpack(bytes(self._map[:FIXED.size]))
        if magic != MAGIC:
            raise VtoolError(f"{self.path}: not a vtool index (bad magic)")
        if hlen > size - FIXED.size:
            raise VtoolError(f"{self.path}: corrupt or truncated index (header runs past the end)")
        blob = bytes(self._map[FIXED.size:FIXED.size + hlen])
        if _native.crc32c(blob, _native.crc32c(bytes(self._map[:24]))) != hcrc:
            raise VtoolError(f"{self.path}: corrupt index: header checksum mismatch")
        if version > FORMAT_VERSION:
            raise VtoolError(f"{self.path}: written in .vti format version {version}; this vtool reads "
                             f"up to version {FORMAT_VERSION}: upgrade vtool")
        if flags or reserved:
            raise VtoolError(f"{self.path}: corrupt index: reserved header fields are not zero")
        try:
            self.header = json.loads(blob)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than a header has
            raise VtoolError(f"{self.path}: corrupt index: unreadable JSON header") from None
        table = self.header.get("sections") if isinstance(self.header, dict) else None
        if not isinstance(table, list) or not all(_entry_ok(e) for e in table):
            raise VtoolError(f"{self.path}: corrupt index: malformed section table in the header")
        self.sections = {e["name"]: e for e in table}
        self._check_layout(size, FIXED.size + hlen)
        self._verified: set[str] = set()

    def _check_layout(self, size: int, header_end: int) -> None:
        pos = header_end
        for e in self.header["sections"]:
            expected = math.prod(e["shape"]) * np.dtype(e["dtype"]).itemsize  # Python ints: no overflow
            if e["offset"] < pos or e["offset"] % ALIGN or e["nbytes"] != expected:
                raise VtoolError(f"{self.path}: corrupt index: bad layout of section {e['name']!r}")
            pos = e["offset"] + e["nbytes"]
        if size != max(_align(pos), _align(header_end)):
            raise VtoolError(f"{self.path}: truncated or corrupt index: {size} bytes, "
                             f"layout needs {max(_align(pos), _align(header_end))}")

    def verify(self, names: Iterable[str] | None = None) -> None:
        """Check the CRCs of the named sections (all by default) and the zero padding."""
        names = list(self.sections) if names is None else list(names)
        for name in names:
            if name in self._verified:
                continue
            e = self.sections[name]
            if f"{_section_crc(self.raw(name)):08x}" != e["crc32c"]:
                raise VtoolError(f"{self.path}: corrupt index: checksum mismatch in section {name!r}")
            self._verified.add(name)
        if "<padding>" not in self._verified:
            gaps = []
            pos = FIXED.size + self.header_length
            for e in self.header["sections"]:
                gaps.append((pos, e["offset"]))
                pos = e["offset"] + e["nbytes"]
            gaps.append((pos, self._map.size))
            if any(self._map[a:b].any() for a, b in gaps if b > a):
                raise VtoolError(f"{self.path}: corrupt index: non-zero bytes in padding")
            self._verified.add("<padding>")

    @property
    def raw_map(self) -> np.ndarray:
        """The whole file, memory-mapped (memory.release drops its resident pages)."""
        return self._map

    @property
    def header_length(self) -> int:
        return FIXED.unpack(bytes(self._map[:FIXED.size]))[3]

    def raw(self, name: str) -> np.ndarray:
        e = self.sections[name]
        return self._map[e["offset"]:e["offset"] + e["nbytes"]]

    def array(self, name: str) -> np.ndarray:
        """A read-only view of a section (no copy)."""
        if name not in self.sections:
            raise VtoolError(f"{self.path}: the index has no {name!r} section")
        e = self.sections[name]
        return self.raw(name).view(np.dtype(e["dtype"])).reshape(e["shape"])

    def section_sizes(self) -> dict[str, int]:
        return {name: e["nbytes"] for name, e in self.sections.items()}
