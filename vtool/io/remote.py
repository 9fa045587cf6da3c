"""Inputs named by fsspec URLs (`s3://…`, `gs://…`, `https://…`; `memory://` in tests).

Vector files are read where they lie, batch by batch, with ranged reads: npy, fbin / u8bin /
i8bin / ibin and fvecs / bvecs / ivecs by byte offset (`RangeRows`), parquet by row group,
HDF5 through h5py's file-object driver. Every other input (results, ground truth, code runs,
indexes) is downloaded to a temp file first (removed at exit), like standard input. `file://`
is a local path. Outputs stay local (and atomic). fsspec is the extra `vtool[remote]`; a
scheme's own package (s3fs, gcsfs, ...) is named when missing.
"""

from __future__ import annotations

import os

import numpy as np

from vtool.errors import VtoolError

LOCAL_SCHEME = "file://"


def is_url(path) -> bool:
    """A URL read through fsspec (file:// URLs are local paths: see local_path)."""
    text = str(path)
    return "://" in text and not text.startswith(LOCAL_SCHEME)


def local_path(path) -> str:
    text = str(path)
    return text[len(LOCAL_SCHEME):] if text.startswith(LOCAL_SCHEME) else text


def filesystem(url: str):
    """(fsspec filesystem, path within it); one line when fsspec or the scheme's package is missing."""
    try:
        import fsspec
    except ImportError:
        raise VtoolError(f"{url}: remote inputs need fsspec: pip install 'vtool[remote]'") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as e:
        raise VtoolError(f"{url}: {str(e).splitlines()[0]}") from None
    except ValueError as e:
        raise VtoolError(f"{url}: not a URL fsspec knows ({e})") from None


def check_url(url: str) -> int:
    """The size of the file at url; VtoolError when it is missing or a directory."""
    fs, path = filesystem(url)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise VtoolError(f"{url}: no such file") from None
    except OSError as e:
        raise VtoolError(f"{url}: cannot read it ({e})") from None
    if info.get("type") == "directory":
        raise VtoolError(f"{url}: is a directory, not a file")
    return int(info.get("size") or 0)


def open_url(url: str):
    """A seekable binary file object reading url in ranges."""
    fs, path = filesystem(url)
    try:
        return fs.open(path, "rb")
    except OSError as e:
        raise VtoolError(f"{url}: cannot read it ({e})") from None


def download(url: str, target: str) -> None:
    """Copy url into the local file target, 1 MiB at a time."""
    with open_url(url) as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)


def read_at(f, offset: int, size: int, url: str) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise VtoolError(f"{url}: truncated (short read at byte {offset})")
    return data


class RangeRows:
    """(n, row_bytes) rows of a remote file from byte `offset`, viewed as `dtype` with `width`
    values a row; indexed by a slice or an integer array, each read as few ranged reads."""

    def __init__(self, f, url: str, offset: int, n: int, width: int, dtype: np.dtype):
        self.f, self.url, self.offset = f, url, offset
        self.dtype = np.dtype(dtype)
        self.shape = (n, width)
        self.row_bytes = width * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, a: int, b: int) -> np.ndarray:
        data = read_at(self.f, self.offset + a * self.row_bytes, (b - a) * self.row_bytes, self.url)
        return np.frombuffer(data, self.dtype).reshape(b - a, self.shape[1])

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            a, b, step = index.indices(self.shape[0])
            if step != 1:
                raise IndexError("ranged rows read with step 1")
            return self._rows(a, max(a, b))
        index = np.asarray(index, np.int64)
        flat = index.ravel()
        out = np.empty((flat.size, self.shape[1]), self.dtype)
        order = np.argsort(flat, kind="stable")
        rows = flat[order]
        if rows.size and (rows[0] < 0 or rows[-1] >= self.shape[0]):
            raise IndexError("row out of range")
        breaks = np.flatnonzero(np.diff(rows) > 1) + 1  # runs of neighbouring rows: one read each
        for run in np.split(np.arange(rows.size), breaks):
            if run.size:
                a, b = int(rows[run[0]]), int(rows[run[-1]]) + 1
                out[order[run]] = self._rows(a, b)[rows[run] - a]
        return out.reshape(*index.shape, self.shape[1])


def npy_header(f, url: str) -> tuple[tuple, np.dtype, bool, int]:
    """(shape, dtype, fortran order, data offset) of a remote .npy, read from its header."""
    from numpy.lib import format as npy_format

    try:
        version = npy_format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f".npy format version {version} (read it locally)")
        reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran, dtype = reader(f)
    except (ValueError, EOFError) as e:
        raise VtoolError(f"{url}: not a valid .npy file or truncated ({str(e).splitlines()[0]})") from None
    return shape, np.dtype(dtype), fortran, f.tell()


def size_of(f) -> int:
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    return size
