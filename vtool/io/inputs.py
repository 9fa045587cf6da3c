"""One check for every input path, before anything opens it: a clear line for a missing
file, a dangling link, a directory, standard input where a command cannot read it, or a
FIFO / socket / device (which would block or cannot be memory-mapped), instead of a hang or
an OSError's exit 1."""

from __future__ import annotations

import os
import stat

from vtool.errors import VtoolError


def check_input_file(path: str | os.PathLike) -> str:
    """The path, when it names a readable regular file; VtoolError (exit 2) otherwise."""
    path = str(path)
    if path == "-":
        raise VtoolError("-: this command reads a file, not standard input")
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
    if not stat.S_ISREG(mode):
        raise VtoolError(f"{path}: not a regular file (a FIFO, socket or device); give a file on disk")
    if not os.access(path, os.R_OK):
        raise VtoolError(f"{path}: not readable")
    return path
