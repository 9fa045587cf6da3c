"""Shared fixtures: small synthetic datasets, the shared real datasets, and a CLI runner."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from vtool.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEMO_DATA = ROOT / "scripts" / "demo_data" / "glove-50-20k"


def shared_dataset(name: str) -> Path:
    """Path of a dataset in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not (path / "base.npy").is_file():
        pytest.skip(f"shared dataset {name} not available at {path}")
    return path


def clustered(n: int, d: int, seed: int = 0, centers: int = 20) -> np.ndarray:
    """Gaussian blobs: realistic enough for k-means and IVF, quick to make."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d)).astype(np.float32) * 4
    return (c[rng.integers(centers, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CliResult(code={self.code}, out={self.out[:200]!r}, err={self.err[:500]!r})"


def assert_refused(result: CliResult, pattern: str) -> None:
    """Bad input: exit code 2, one line on stderr naming the problem, nothing on stdout."""
    import re

    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vtool: error: "), result
    assert re.search(pattern, lines[0]), (pattern, lines[0])
    assert result.out == ""


@pytest.fixture
def cli(capsys):
    """Run `vtool ARGS...` in-process; returns exit code, stdout and stderr."""

    def run(*args) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def small_data(tmp_path):
    """3000 x 16 clustered base and 50 queries as .npy files."""
    base = clustered(3000, 16, seed=1)
    queries = clustered(50, 16, seed=2)
    np.save(tmp_path / "base.npy", base)
    np.save(tmp_path / "queries.npy", queries)
    return tmp_path, base, queries


def bin_dir() -> str:
    return os.path.dirname(sys.executable)


def rewrite_index(src, dst, header_changes: dict | None = None, **sections):
    """A copy of an index file with header fields and sections replaced (a callable maps the old
    section, None removes it), every checksum recomputed: what a crafted file looks like."""
    from vtool.index.container import VtiFile, write_vti

    f = VtiFile(str(src))
    arrays = {name: np.array(f.array(name)) for name in f.sections}
    for name, value in sections.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value(arrays[name]) if callable(value) else value
    header = {k: v for k, v in f.header.items() if k != "sections"} | (header_changes or {})
    write_vti(str(dst), header, arrays)
    return dst


def run_ok(*args) -> None:
    """Run `vtool ARGS...` in-process where the cli fixture cannot (module-scoped fixtures),
    and require exit 0."""
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    assert e.value.code == 0, args
