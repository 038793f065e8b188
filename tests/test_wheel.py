"""The package stands alone: its wheel, installed on its own, imports everywhere.

The wheel is built from a copy of the repository (so the build leaves nothing
in the working tree), installed with ``pip --no-deps --target`` into a fresh
folder, and imported by an interpreter that sees that folder and the
environment's third-party packages, but neither the checkout nor its editable
install (``python -S``: no ``.pth`` files, so no editable finder). Nothing is
downloaded: torch and the rest come from the environment, not from an index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def repository_files() -> list[str]:
    """Tracked files and untracked ones git does not ignore."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def pip(*args: str, cwd: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the test reads the return code and output itself
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    for rel in repository_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    dist = work / "dist"
    pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        str(dist),
        str(src),
        cwd=work,
    )
    (wheel,) = dist.glob("mtlbook-*.whl")
    site = work / "site"
    pip(
        "install",
        "--no-deps",
        "--no-index",
        "--target",
        str(site),
        str(wheel),
        cwd=work,
    )
    run = work / "run"
    run.mkdir()
    return {"src": src, "wheel": wheel, "site": site, "run": run}


def test_wheel_holds_the_package_and_nothing_else(build: dict[str, Path]) -> None:
    with zipfile.ZipFile(build["wheel"]) as zf:
        names = set(zf.namelist())
    outside = {n for n in names if n.split("/")[0] != "mtlbook"}
    assert all(n.split("/")[0].endswith(".dist-info") for n in outside), sorted(outside)
    # every module and data file of the package is in it (new subpackages too)
    source = build["src"] / "mtlbook"
    wanted = {
        p.relative_to(build["src"]).as_posix()
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert wanted, "no package files copied?"
    assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"
    # and no test, chapter, book, benchmark or script file rides along
    extra = {n for n in names - wanted if not n.split("/")[0].endswith(".dist-info")}
    assert not extra, f"the wheel carries files that are not package source: {extra}"


_IMPORT_ALL = r"""
import importlib, json, pkgutil, sys
site = sys.argv[1]
import mtlbook
assert mtlbook.__file__.startswith(site), mtlbook.__file__
walk = pkgutil.walk_packages(mtlbook.__path__, "mtlbook.")
names = ["mtlbook"] + [m.name for m in walk]
failed = {}
for name in names:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = repr(exc)
elsewhere = {
    n: m.__file__ for n, m in list(sys.modules.items())
    if n.split(".")[0] == "mtlbook" and not (m.__file__ or site).startswith(site)
}
# the data the glyph modules read is there: the fonts shipped with matplotlib
from mtlbook.data.glyphs.fonts import FACES, font_path
fonts = [str(font_path(f)) for f in FACES if not font_path(f).is_file()]
print(json.dumps({"modules": names, "failed": failed, "elsewhere": elsewhere,
                  "missing_fonts": fonts, "version": mtlbook.__version__}))
"""


def test_installed_wheel_imports_every_module(build: dict[str, Path]) -> None:
    site = str(build["site"].resolve())
    third_party = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "COV_"))}
    env["PYTHONPATH"] = os.pathsep.join([site, *sorted(third_party)])
    env["MPLBACKEND"] = "Agg"
    out = subprocess.run(
        [sys.executable, "-S", "-P", "-c", _IMPORT_ALL, site],
        cwd=build["run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,  # the test reads the return code and output itself
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.splitlines()[-1])
    assert not report["failed"], report["failed"]
    assert not report["elsewhere"], f"imported from outside the wheel: {report}"
    assert not report["missing_fonts"], report["missing_fonts"]
    assert len(report["modules"]) > 40, report["modules"]
    assert report["version"] == _project_version()


def _project_version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
