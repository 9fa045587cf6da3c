"""Atomic outputs: write to a temp file beside the target, fsync, rename.

A failed or killed run therefore never leaves a half-written file under the
output name, and never damages a file that was already there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from pathlib import Path
from typing import Iterator

from vtool.errors import VtoolError

STDOUT = "-"


def check_output_path(path: str | os.PathLike) -> None:
    """Fail early (before any work) when the output could not be written."""
    if str(path) == STDOUT:
        return
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise VtoolError(f"output directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise VtoolError(f"output directory {str(parent)!r} is not writable")
    if p.is_dir():
        raise VtoolError(f"output {str(p)!r} is a directory")


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
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
