"""The example Makefile pipeline in scripts/ runs, and its recall gate fails the make."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import DEMO_DATA, ROOT, bin_dir


def run_make(out, *flags, env=None, **variables):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    variables.setdefault("VTOOL", os.path.join(bin_dir(), "vtool"))
    args = ["make", "--no-print-directory", *flags, "-f", str(ROOT / "scripts" / "pipeline.mk"), f"DATA={DEMO_DATA}",
            f"OUT={out}"] + [f"{k}={v}" for k, v in variables.items() if v is not None]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env)


def steps(result) -> list[str]:
    """The vtool commands a make run ran, in order."""
    return [line.split()[1] for line in result.stdout.splitlines() if line.split()[:1] and
            line.split()[0].endswith("vtool")]


def test_makefile_pipeline_passes_its_recall_gate(tmp_path):
    result = run_make(tmp_path / "run", SPEC="IVF64,Flat", NPROBE=16, MIN_RECALL=0.85)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert report["gate"]["passed"] and report["k-recall@k"] >= 0.85 and report["qps"] > 0
    again = run_make(tmp_path / "run", SPEC="IVF64,Flat", NPROBE=16, MIN_RECALL=0.85)
    assert "vtool" not in again.stdout  # everything is up to date: nothing re-run


def test_makefile_recall_gate_fails_the_build(tmp_path):
    result = run_make(tmp_path / "run", SPEC="IVF64,Flat", NPROBE=1, MIN_RECALL=0.99)
    assert result.returncode != 0
    assert not (tmp_path / "run" / "eval.json").exists()
    assert (tmp_path / "run" / "index.vti").exists()


def test_makefile_reruns_what_a_changed_parameter_touches(tmp_path):
    """Stamp files: the gate, the search, the model each re-run when their parameters change,
    and only they (and what follows them)."""
    run = tmp_path / "run"
    base = dict(SPEC="IVF64,Flat", NPROBE=16, MIN_RECALL=0.85)
    assert sorted(steps(run_make(run, **base))) == ["add", "eval", "gt", "search", "train"]
    assert steps(run_make(run, **base)) == []
    stricter = run_make(run, **{**base, "MIN_RECALL": 0.9999})
    assert stricter.returncode != 0 and steps(stricter) == ["eval"] and not (run / "eval.json").exists()
    assert steps(run_make(run, **{**base, "NPROBE": 8})) == ["search", "eval"]
    assert steps(run_make(run, **{**base, "NPROBE": 8, "SPEC": "IVF32,Flat"})) == ["train", "add", "search", "eval"]
    assert steps(run_make(run, **{**base, "NPROBE": 8, "SPEC": "IVF32,Flat", "K": 5})) == ["search", "eval"]
    assert (run / "eval.json").exists()


def test_makefile_finds_the_project_vtool_without_path(tmp_path):
    env = dict(os.environ, PATH="/usr/bin:/bin")
    dry = run_make(tmp_path / "run", "-n", env=env, VTOOL=None)
    assert dry.returncode == 0, dry.stderr
    assert ".venv/bin/vtool train" in dry.stdout


def test_makefile_sharded_build_equals_the_single_index(tmp_path):
    """make -j: shards added in parallel (add --shard I/N), merged, searched, gated; the results
    equal the single index's, and SHARDS re-runs the shards."""
    import numpy as np

    run = tmp_path / "run"
    base = dict(SPEC="IVF64,Flat", NPROBE=16, MIN_RECALL=0.85)
    assert run_make(run, **base).returncode == 0
    sharded = run_make(run, "-j", "3", "sharded", SHARDS=3, **base)
    assert sharded.returncode == 0, sharded.stderr
    assert sorted(steps(sharded)) == ["add", "add", "add", "eval", "merge", "search"]
    a, b = np.load(run / "results.npz"), np.load(run / "sharded-results.npz")
    np.testing.assert_array_equal(a["ids"], b["ids"])
    np.testing.assert_array_equal(a["distances"], b["distances"])
    assert json.loads((run / "sharded-eval.json").read_text())["gate"]["passed"]
    assert steps(run_make(run, "sharded", SHARDS=3, **base)) == []
    assert sorted(steps(run_make(run, "sharded", SHARDS=2, **base))) == ["add", "add", "eval", "merge", "search"]
