"""The example Makefile pipeline in scripts/ runs, and its recall gate fails the make."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import DEMO_DATA, ROOT, bin_dir


def run_make(out, **variables):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    vtool = os.path.join(bin_dir(), "vtool")
    args = ["make", "--no-print-directory", "-f", str(ROOT / "scripts" / "pipeline.mk"), f"DATA={DEMO_DATA}",
            f"OUT={out}", f"VTOOL={vtool}"] + [f"{k}={v}" for k, v in variables.items()]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True)


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
