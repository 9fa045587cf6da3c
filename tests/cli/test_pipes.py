"""Standard input and pipes between commands: `-o -` feeds `-`, process substitution and
FIFOs with a writer read like files, messages name `-`, and no copy is left behind."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading

import numpy as np
import pytest

from tests.conftest import clustered

VTOOL = f"{sys.executable} -c 'from vtool.cli.main import main; main()'"


def sh(command: str, ws, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, TMPDIR=str(ws / "tmp"))
    return subprocess.run(["bash", "-c", command.replace("vtool", VTOOL)], cwd=ws, capture_output=True, env=env,
                          timeout=120, **kw)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("pipes")
    (ws / "tmp").mkdir()
    np.save(ws / "b.npy", clustered(2000, 16, seed=3))
    np.save(ws / "q.npy", clustered(40, 16, seed=4))
    for command in ("vtool train b.npy --index IVF16,Flat -o m.vti -q", "vtool add m.vti b.npy -o i.vti -q",
                    "vtool gt b.npy q.npy -k 10 -o gt.ibin -q", "vtool search i.vti q.npy --nprobe 2 -o r.npz -q"):
        assert sh(command, ws).returncode == 0
    return ws


def recall(r: subprocess.CompletedProcess) -> float:
    import json

    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)["k-recall@k"]


def test_search_piped_into_eval_equals_the_files(ws):
    want = recall(sh("vtool eval r.npz --gt gt.ibin --json", ws))
    assert 0.3 < want < 1
    assert recall(sh("vtool search i.vti q.npy --nprobe 2 -o - -q | vtool eval - --gt gt.ibin --json", ws)) == want
    assert recall(sh("vtool search i.vti q.npy --nprobe 2 -o - --out-format parquet -q | vtool eval - --gt gt.ibin "
                     "--json", ws)) == want
    r = sh("vtool search i.vti q.npy --nprobe 2 -o - --out-format ibin -q | vtool eval - --gt gt.ibin", ws)
    assert r.returncode == 2 and b"standard input: cannot tell the format of a stream; pass --format" in r.stderr
    assert recall(sh("vtool search i.vti q.npy --nprobe 2 -o - --out-format ibin -q | vtool eval - --format ibin "
                     "--gt gt.ibin --json", ws)) == want
    assert recall(sh("vtool eval <(cat r.npz) --gt /dev/stdin --gt-format ibin --json < gt.ibin", ws)) == want
    assert not os.listdir(ws / "tmp")  # the copies are gone


def test_queries_and_vectors_from_standard_input(ws):
    assert sh("cat q.npy | vtool search i.vti - --nprobe 2 -o s.npz -q", ws).returncode == 0
    a, b = np.load(ws / "r.npz"), np.load(ws / "s.npz")
    np.testing.assert_array_equal(a["ids"], b["ids"])
    np.testing.assert_array_equal(a["distances"], b["distances"])
    assert sh("vtool add m.vti - -o j.vti -q < b.npy", ws).returncode == 0
    r = sh("vtool info j.vti --json", ws)
    assert b'"name": "standard input"' in r.stdout
    assert sh("cat i.vti | vtool info - --json", ws).stdout.count(b'"ntotal": 2000') == 1
    r = sh("vtool gt - - -k 5 -o g.npz -q < q.npy", ws)  # one stream, read once, for both inputs
    assert r.returncode == 0 and (np.load(ws / "g.npz")["ids"][:, 0] == np.arange(40)).all()
    assert not os.listdir(ws / "tmp")


def test_a_bad_stream_is_named_as_standard_input(ws):
    bad = np.load(ws / "q.npy")
    bad[3, 2] = np.nan
    np.save(ws / "nan.npy", bad)
    r = sh("vtool search i.vti - -o x.npz < nan.npy", ws)
    assert r.returncode == 2
    assert r.stderr.decode().strip().splitlines() == ["vtool: error: standard input: row 3 contains NaN or Inf"]
    r = sh("vtool search i.vti - -o x.npz < gt.ibin", ws)
    assert r.returncode == 2 and b"standard input: cannot tell the format of a stream; pass --format" in r.stderr
    assert not (ws / "x.npz").exists() and not os.listdir(ws / "tmp")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_with_its_writer_reads_like_a_file(ws):
    fifo = ws / "queries.fifo"
    os.mkfifo(fifo)
    data = (ws / "q.npy").read_bytes()

    def write():
        with open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        r = sh(f"vtool search i.vti {fifo} --format npy --nprobe 2 -o f.npz -q", ws)
    finally:
        writer.join(timeout=60)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(ws / "f.npz")["ids"], np.load(ws / "r.npz")["ids"])


def test_a_terminal_on_standard_input_is_refused(ws):
    leader, follower = pty.openpty()
    try:
        r = sh("vtool info -", ws, stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert r.returncode == 2
    assert r.stderr.decode().strip() == "vtool: error: standard input is a terminal: pipe the data in, or give a file"
