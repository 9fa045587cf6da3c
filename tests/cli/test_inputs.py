"""Input paths that are not plain files, and the rough edges of issue 11 (items 5, 7, 8, 9):
each a clear line and exit 2, or the right result — never a hang or a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import assert_refused, clustered
from tests.io.writers import write_vecs

VTOOL = [sys.executable, "-c", "from vtool.cli.main import main; main()"]


@pytest.fixture
def flat_pq(tmp_path, cli):
    """A one-list PQ index (no IVF) and its inputs."""
    base = clustered(1500, 16, seed=5)
    np.save(tmp_path / "b.npy", base)
    np.save(tmp_path / "q.npy", base[:7])
    assert cli("train", tmp_path / "b.npy", "--index", "PQ4", "-o", tmp_path / "m.vti").code == 0
    assert cli("add", tmp_path / "m.vti", tmp_path / "b.npy", "-o", tmp_path / "i.vti").code == 0
    return tmp_path, base


@pytest.mark.parametrize("method", ["ef", "roc", "packed", "wt"])
def test_compress_ids_on_a_single_list_index_reports_and_exits_0(flat_pq, cli, method):
    ws, _ = flat_pq
    r = cli("compress-ids", ws / "i.vti", "-o", ws / "c.vti", "--method", method)
    assert r.code == 0, r
    assert "one list" in r.out
    assert cli("search", ws / "c.vti", ws / "q.npy", "-o", ws / "r.npz").code == 0


def test_compress_ids_quiet_prints_nothing(flat_pq, cli):
    ws, _ = flat_pq
    r = cli("compress-ids", ws / "i.vti", "-o", ws / "c.vti", "--method", "ef", "-q")
    assert r.code == 0 and r.out == "" and r.err == ""


@pytest.mark.parametrize("suffix,dtype", [(".fvecs", np.float32), (".bvecs", np.uint8)])
def test_refine_from_vecs_files_equals_refine_from_npy(flat_pq, cli, suffix, dtype):
    ws, base = flat_pq
    raw = np.clip(base * 10 + 128, 0, 255).astype(dtype) if dtype == np.uint8 else base
    write_vecs(ws / f"b{suffix}", raw)
    np.save(ws / "raw.npy", raw)
    assert cli("search", ws / "i.vti", ws / "q.npy", "-o", ws / "a.npz", "--refine", ws / f"b{suffix}").code == 0
    assert cli("search", ws / "i.vti", ws / "q.npy", "-o", ws / "b.npz", "--refine", ws / "raw.npy").code == 0
    a, b = np.load(ws / "a.npz"), np.load(ws / "b.npz")
    np.testing.assert_array_equal(a["ids"], b["ids"])
    np.testing.assert_array_equal(a["distances"], b["distances"])


def test_info_refuses_a_directory_a_dangling_link_and_an_empty_stdin(tmp_path, cli):
    assert_refused(cli("info", tmp_path), "is a directory")
    os.symlink(tmp_path / "nowhere.npy", tmp_path / "dangling.npy")
    assert_refused(cli("info", tmp_path / "dangling.npy"), "no such file")
    r = subprocess.run(VTOOL + ["info", "-"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == ["vtool: error: standard input: empty (no data "
                                                                   "came through)"], r.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("command", ["info", "add", "search", "train", "eval"])
def test_a_fifo_without_a_writer_is_refused_instead_of_blocking(flat_pq, command):
    """A pipe is read like standard input (tests/cli/test_pipes.py); a FIFO nobody writes to
    ends at once: one line, exit 2, no hang."""
    ws, _ = flat_pq
    fifo = ws / "fifo.npy"
    os.mkfifo(fifo)
    args = {"info": ["info", fifo], "add": ["add", ws / "m.vti", fifo, "-o", ws / "x.vti"],
            "search": ["search", ws / "i.vti", fifo, "-o", ws / "x.npz"],
            "train": ["train", fifo, "--index", "Flat", "-o", ws / "x.vti"],
            "eval": ["eval", fifo, "--gt", fifo]}[command]
    r = subprocess.run(VTOOL + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"vtool: error: {fifo}: empty (no data came through)"]
    assert not (ws / "x.vti").exists() and not (ws / "x.npz").exists()


@pytest.mark.parametrize("command", ["gt", "train", "search"])
def test_vectors_whose_distances_would_overflow_are_refused_with_their_row(flat_pq, command):
    """Finite but huge values (x 1e20) passed the NaN check, then gt returned every id -1 or
    segfaulted and train raised IndexError (issue 11, item 6). Run as a subprocess: a
    regression may crash the interpreter."""
    ws, base = flat_pq
    huge = base.copy()
    huge[3] *= np.float32(1e20)
    np.save(ws / "huge.npy", huge)
    args = {"gt": ["gt", ws / "huge.npy", ws / "huge.npy", "-k", "1", "-o", ws / "g.ibin"],
            "train": ["train", ws / "huge.npy", "--index", "IVF8,Flat", "-o", ws / "x.vti"],
            "search": ["search", ws / "i.vti", ws / "huge.npy", "-o", ws / "x.npz"]}[command]
    r = subprocess.run(VTOOL + [str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "row 3 is too large" in lines[0], lines
    assert not any((ws / name).exists() for name in ("g.ibin", "x.vti", "x.npz"))


def test_the_python_api_refuses_overflowing_vectors_too():
    import vtool

    x = clustered(500, 8, seed=1)
    x[9] *= np.float32(1e20)
    with pytest.raises(vtool.VtoolError, match="row 9 is too large"):
        vtool.train(x, "IVF4,Flat")


@pytest.mark.parametrize("command", ["add", "train", "info", "search", "encode"])
def test_an_npz_renamed_npy_is_refused_in_one_line(flat_pq, cli, command):
    ws, _ = flat_pq
    np.savez(ws / "archive.npz", x=np.zeros((10, 16), np.float32))
    os.replace(ws / "archive.npz", ws / "a.npy")
    args = {"add": ["add", ws / "m.vti", ws / "a.npy", "-o", ws / "x.vti"],
            "train": ["train", ws / "a.npy", "--index", "Flat", "-o", ws / "x.vti"],
            "info": ["info", ws / "a.npy"],
            "search": ["search", ws / "i.vti", ws / "a.npy", "-o", ws / "x.npz"],
            "encode": ["encode", ws / "m.vti", ws / "a.npy", "-o", ws / "x.npy"]}[command]
    assert_refused(cli(*args), "expected a single array, found an archive")
    assert not (ws / "x.vti").exists() and not (ws / "x.npz").exists() and not (ws / "x.npy").exists()
