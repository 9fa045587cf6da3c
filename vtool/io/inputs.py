"""One check for every input path, before anything opens it, and standard input.

A missing file, a dangling link, a directory, a socket or a device gets one clear line
(exit 2) instead of a hang or an OSError. `-` (standard input) and pipes (`/dev/stdin`,
`<(command)`, a FIFO with its writer) are read to the end into a temp file in $TMPDIR first
(removed at exit; what a killed run left is removed by the next), so every reader gets a
regular file it can map and read twice: `vtool search IDX - -o - | vtool eval - --gt gt.ibin`.
URLs (vtool/io/remote.py) are read in ranges by the vector readers, downloaded by the others.
The copy is named with the format read from its first bytes (.npy, .parquet, .npz, .vti);
other formats (fvecs, fbin, ibin results) are named with --format. Messages name `-` or the
pipe, never the copy.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import stat
import sys
import tempfile

from vtool.errors import VtoolError

STDIN = "-"
MAGIC = ((b"\x93NUMPY", ".npy"), (b"PAR1", ".parquet"), (b"PK\x03\x04", ".npz"), (b"\x89VTI\r\n\x1a\n", ".vti"))
_copies: dict[str, str] = {}  # what the user named -> the copy read in its place
_shown: dict[str, str] = {}  # the copy -> how messages name it
_streams: set[str] = set()  # copies of standard input or a pipe (a download keeps its extension)


def check_input_file(path: str | os.PathLike, ranged: bool = False) -> str:
    """A regular, readable file holding the input: the path itself, or a copy of standard
    input or of a pipe; VtoolError (exit 2) otherwise. A URL (vtool/io/remote.py) is returned
    as it is when the caller reads it in ranges (ranged), else downloaded to a copy."""
    from vtool.io import remote

    path = remote.local_path(path)
    if path in _copies:
        return _copies[path]
    if path == STDIN:
        return _copy_stream(path)
    if remote.is_url(path):
        remote.check_url(path)
        return path if ranged else _download(path)
    if not os.path.lexists(path):
        raise VtoolError(f"{path}: no such file")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VtoolError(f"{path}: no such file (a symbolic link to nothing)") from None
    except OSError as e:
        raise VtoolError(f"{path}: cannot read it ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise VtoolError(f"{path}: is a directory, not a file")
    if stat.S_ISFIFO(mode):
        return _copy_stream(path)
    if not stat.S_ISREG(mode):
        raise VtoolError(f"{path}: not a regular file or a pipe (a socket or device); give a file on disk")
    if not os.access(path, os.R_OK):
        raise VtoolError(f"{path}: not readable")
    return path


def is_copy(path: str) -> bool:
    """Whether path is a copy of standard input or a pipe (its name says nothing of its format)."""
    return str(path) in _streams


def source_name(path: str) -> str:
    """What to call an input in records: `standard input`, a pipe's path, or the path."""
    path = str(path)
    return _shown.get(_copies.get(path, path), path)


def shown(text: str) -> str:
    """text with every copy's path replaced by what the user named (for messages)."""
    for copy, name in _shown.items():
        text = text.replace(copy, name)
    return text


def release() -> None:
    """Remove the copies made so far (a command's end; also at exit)."""
    for copy in list(_shown):
        _remove(copy)
    _copies.clear()
    _shown.clear()
    _streams.clear()


def _copy_stream(path: str) -> str:
    """Read standard input or a pipe to its end into a temp file; its path."""
    name = "standard input" if path == STDIN else path
    if path == STDIN:
        if sys.stdin is None:
            raise VtoolError("there is no standard input to read")
        if sys.stdin.isatty():
            raise VtoolError("standard input is a terminal: pipe the data in, or give a file")
        fd = os.dup(sys.stdin.fileno())
    else:
        try:  # not blocking on a FIFO without a writer: then reading finds the end at once
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            raise VtoolError(f"{path}: cannot read it ({e.strerror})") from None
        os.set_blocking(fd, True)
    from vtool.io.atomic import owner_tag, remove_stale

    folder = tempfile.gettempdir()
    remove_stale(folder)
    with os.fdopen(fd, "rb") as src:
        head = src.read(8)
        suffix = next((s for magic, s in MAGIC if head.startswith(magic)), ".tmp")
        out_fd, copy = tempfile.mkstemp(prefix=f".stdin.{owner_tag()}", suffix=suffix, dir=folder)
        atexit.register(_remove, copy)
        with os.fdopen(out_fd, "wb") as dst:
            dst.write(head)
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    _copies[path], _shown[copy] = copy, name
    _streams.add(copy)
    if os.path.getsize(copy) == 0:
        raise VtoolError(f"{name}: empty (no data came through)")
    return copy


def _download(url: str) -> str:
    """A temp copy of a remote file, named with its extension (messages name the URL)."""
    from vtool.io import remote
    from vtool.io.atomic import owner_tag, remove_stale

    folder = tempfile.gettempdir()
    remove_stale(folder)
    suffix = os.path.splitext(url.rstrip("/").rsplit("/", 1)[-1])[1]
    out_fd, copy = tempfile.mkstemp(prefix=f".remote.{owner_tag()}", suffix=suffix, dir=folder)
    os.close(out_fd)
    atexit.register(_remove, copy)
    _copies[url], _shown[copy] = copy, url
    remote.download(url, copy)
    return copy


def _remove(copy: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(copy)
