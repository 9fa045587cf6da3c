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
    # the shell is found from the parent process: run under bash, whatever runs the tests
    command = " ".join(f"'{part}'" for part in VTOOL + ["--show-completion"])
    r = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "_vtool_completion" in r.stdout, r.stderr
    r = subprocess.run(VTOOL + ["--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("vtool ")


def test_help_says_what_each_option_does_there(cli):
    """Help texts fixed after users were misled: wt is listed, --no-verify speaks of lists
    only on search, train says what it learns."""
    from vtool.cli.main import app
    import typer

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="vtool")

    def helps(command):
        cmd = root.get_command(ctx, command)
        sub = cmd.context_class(cmd, info_name=command, parent=ctx)
        return {p.name: (p.get_help_record(sub) or ("", ""))[1] for p in cmd.get_params(sub)}, cmd.help

    assert "wt" in helps("compress-ids")[0]["method"]
    for command in ("add", "encode", "decode", "compress-ids", "info"):
        assert "probe" not in helps(command)[0]["no_verify"], command
    assert "probes" in helps("search")[0]["no_verify"]
    assert all(word in helps("train")[1] for word in ("OPQ", "centroids", "codebooks", "graph"))


def test_a_results_file_of_unknown_kind_names_out_format(tmp_path, cli):
    import numpy as np

    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32))
    assert cli("train", tmp_path / "x.npy", "--index", "Flat", "-o", tmp_path / "m.vti").code == 0
    assert cli("add", tmp_path / "m.vti", tmp_path / "x.npy", "-o", tmp_path / "i.vti").code == 0
    r = cli("search", tmp_path / "i.vti", tmp_path / "x.npy", "-o", tmp_path / "r.txt")
    assert r.code == 2 and "--out-format" in r.err and "--format)" not in r.err
    r = cli("search", tmp_path / "i.vti", tmp_path / "x.npy", "-o", tmp_path / "r.npz", "--json")
    from vtool import _native
    import json
    assert json.loads(r.out)["threads"] == _native.default_threads()
