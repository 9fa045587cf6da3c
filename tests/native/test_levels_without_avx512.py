"""The AVX2 level on a CPU without AVX-512.

On an AVX-512 machine a kernel of the wrong level gives the right answer: session 34 shipped
AVX-512 ROC lane kernels at the AVX2 level for three commits, every test green, and an
AVX2-only CPU (AMD before Zen 4) would have died of SIGILL. So the kernels' tests at the AVX2
level run again on an emulated CPU that has AVX2 and no AVX-512 (qemu-user, Haswell), where an
AVX-512 instruction is an illegal one. Skipped where qemu-x86_64 is missing (scripts/test.sh
installs it when it can).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

QEMU = shutil.which("qemu-x86_64")
ROOT = Path(__file__).resolve().parents[2]
# every test parametrized by SIMD level, at the AVX2 level, but one instance of each ROC grid
# (their 17 and 35 instances took 38 of 64 s emulated, every one the same kernels)
SELECTION = ("avx2 and not test_roc_streams_across_simd_lanes and not test_roc_decodes_the_same_sets "
             "or test_roc_streams_across_simd_lanes_give_the_ids_or_refusals_of_one_at_a_time[avx2-1000000-64] "
             "or test_roc_decodes_the_same_sets_at_every_level[avx2-6000-1000000]")


@pytest.mark.skipif(platform.machine() != "x86_64" or QEMU is None or os.environ.get("VTOOL_EMULATED"),
                    reason="needs qemu-x86_64 on an x86-64 machine (apt-get install qemu-user)")
def test_avx2_kernels_run_on_a_cpu_without_avx512():
    env = {**{k: v for k, v in os.environ.items() if k != "VTOOL_SIMD"}, "VTOOL_EMULATED": "1"}  # the CPU's own level
    cpu = [QEMU, "-cpu", "Haswell", sys.executable]
    level = subprocess.run(cpu + ["-c", "from vtool import _native; print(_native.cpu_max_level())"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=120)
    assert level.stdout.split() == ["avx2"], level.stderr[-2000:]  # the emulated CPU has AVX2, not AVX-512
    run = subprocess.run(cpu + ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/native", "tests/codecs",
                                "-k", SELECTION], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
