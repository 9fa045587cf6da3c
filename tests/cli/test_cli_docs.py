"""docs/cli.md is current with the app; shell completion and --version answer."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests.conftest import ROOT

VTOOL = [sys.executable, "-c", "from vtool.cli.main import main; main()"]


def test_the_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "cli.md").read_text() == module.render(), \
        "docs/cli.md is stale: run scripts/cli_docs.py"


def test_completion_and_version():
    r = subprocess.run(VTOOL + ["--show-completion", "bash"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "_vtool_completion" in r.stdout, r.stderr
    r = subprocess.run(VTOOL + ["--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("vtool ")
