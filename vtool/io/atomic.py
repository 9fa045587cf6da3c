"""Atomic outputs: write to a temp file beside the target, fsync, rename.

A failed or killed run therefore never leaves a half-written file under the
output name, and never damages a file that was already there. Temp files and scratch
folders carry the host and process id (`.NAME.vtool-HOST-PID-XXXX.tmp`,
`.vtool-add-HOST-PID-XXXX/`): what a killed run (SIGKILL, power loss) left behind is removed
by the next run writing to the same folder once that process is gone; other hosts' files
(a shared file system) are left alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from vtool import memory
from vtool.errors import VtoolError

STDOUT = "-"
HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "host"
_OWNED = re.compile(r"^\..*vtool(?:-add)?-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]+(?:\.[a-z0-9]+)?$")


def owner_tag(kind: str = "vtool") -> str:
    """The start of a temp name this process owns: `KIND-HOST-PID-`."""
    return f"{kind}-{HOST}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale(directory: str | os.PathLike) -> list[str]:
    """Remove the temp files and scratch folders that dead vtool processes of this host left
    in directory; the names removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            m = _OWNED.match(entry.name)
            if not m or m["host"] != HOST or _alive(int(m["pid"])):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def check_output_path(path: str | os.PathLike) -> None:
    """Fail early (before any work) when the output could not be written."""
    if str(path) == STDOUT:
        return
    if "://" in str(path):
        raise VtoolError(f"{path}: outputs are local files (written atomically); copy the result afterwards")
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise VtoolError(f"output directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VtoolError(f"output directory {str(parent)!r} is not writable")
    if p.is_dir():
        raise VtoolError(f"output {str(p)!r} is a directory")


def reserve(path: str | os.PathLike, size: int) -> None:
    """Allocate the blocks of a file about to be written through a memory map. Stores into a
    map of a sparse file that meets a full disk kill the process (SIGBUS); an allocation that
    cannot be made fails here instead, as an OSError (ENOSPC: one line, exit 1)."""
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise OSError(e.errno, e.strerror, str(Path(path).parent)) from None  # name the folder
            f.seek(0, os.SEEK_END)  # no fallocate on this file system: write the zeros
            zeros = bytes(1 << 20)
            left = size - f.tell()
            while left > 0:
                left -= f.write(zeros[:min(left, len(zeros))])
            f.flush()


def open_memmap(path: str | os.PathLike, dtype, shape: tuple) -> np.ndarray:
    """A new .npy file mapped for writing, its blocks reserved (see reserve)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    reserve(path, os.path.getsize(path))
    if getattr(out, "_mmap", None) is not None:  # an empty array has no map
        memory.populate(out._mmap, out.nbytes)
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path in the target's directory; on success it replaces the target."""
    check_output_path(path)
    target = Path(path)
    remove_stale(target.parent if str(target.parent) else ".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{owner_tag()}", suffix=".tmp", dir=target.parent or ".")
    except OSError as e:
        raise VtoolError(f"cannot create {str(target)!r}: {e.strerror}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o644 & ~_umask())
        os.replace(tmp_path, target)
        _fsync_dir(target.parent if str(target.parent) else Path("."))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def terminate_as_exception() -> None:
    """Turn SIGTERM into SystemExit so atomic outputs clean their temp files up."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
