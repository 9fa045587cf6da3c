"""A short run of the id-decoder fuzzer under AddressSanitizer and UBSan (scripts/fuzz_ids.sh
runs the long one)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import ROOT


def test_id_decoders_survive_mutated_and_random_streams_under_sanitizers():
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    probe = subprocess.run(["gcc", "-fsanitize=address,undefined", "-x", "c", "-", "-o", "/dev/null"],
                           input="int main(void){return 0;}", capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("this gcc cannot build with AddressSanitizer/UBSan")
    run = subprocess.run([str(ROOT / "scripts" / "fuzz_ids.sh"), "400", "11"], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "400 iterations clean" in run.stdout
