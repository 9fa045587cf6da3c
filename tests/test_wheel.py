"""The package as users install it: a wheel built from the sources, installed (not editable)
into a fresh venv, runs train -> add -> search -> eval. An editable install once hid a
package missing from the wheel; this test would have caught it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, clustered


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with vtool installed from a freshly built wheel; its bin directory."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
                            str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    wheels = list(dist.glob("vtool-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = work / "venv"
    # site packages of this interpreter (numpy, typer, ...) are reused, so the test needs no
    # network; vtool itself comes only from the wheel
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run([sys.executable, "-c", "import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "host-site.pth").write_text(site + "\n")
    inst = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheels[0])],
                          capture_output=True, text=True)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return env_dir / "bin", wheels[0]


def test_wheel_holds_every_package_and_the_extension(installed):
    import zipfile

    _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    packages = {str(p.parent.relative_to(ROOT)).replace(os.sep, "/") for p in (ROOT / "vtool").rglob("__init__.py")}
    for pkg in packages:
        assert f"{pkg}/__init__.py" in names, f"{pkg} missing from the wheel"
    assert any(n.startswith("vtool/_native_lib") and n.endswith(".so") for n in names)


def test_installed_wheel_runs_the_pipeline(installed, tmp_path):
    bindir, _ = installed
    vtool = str(bindir / "vtool")
    base, queries = clustered(2000, 16, seed=3), clustered(20, 16, seed=4)
    np.save(tmp_path / "b.npy", base)
    np.save(tmp_path / "q.npy", queries)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}

    def run(*args):
        r = subprocess.run([vtool, *map(str, args)], capture_output=True, text=True, cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout

    assert run("--version").strip().startswith("vtool ")
    run("train", "b.npy", "--index", "IVF16,PQ4", "-o", "m.vti", "-q")
    run("add", "m.vti", "b.npy", "-o", "i.vti", "-q")
    run("search", "i.vti", "q.npy", "-k", "5", "--nprobe", "16", "-o", "r.npz", "-q")
    run("gt", "b.npy", "q.npy", "-k", "5", "-o", "gt.ibin", "-q")
    report = json.loads(run("eval", "r.npz", "--gt", "gt.ibin", "--json"))
    assert report["k-recall@k"] > 0.3
    # the module imported is the installed one, not the source tree
    where = subprocess.run([str(bindir / "python"), "-c", "import vtool; print(vtool.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=True).stdout
    assert str(ROOT / "vtool") not in where
