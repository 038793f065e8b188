"""Importing the package is cheap, and what it imports is what it declares.

* Importing an algorithm module loads no plotting or glyph-rendering library
  (matplotlib, Pillow, fontTools) and no scipy / scikit-learn: those are
  imported inside the functions that use them. Only :mod:`mtlbook.plot` draws.
* Every third-party name imported anywhere in ``mtlbook/`` (lazy imports inside
  functions included) is a distribution declared in ``pyproject.toml``, and
  every declared distribution is imported somewhere and pinned exactly in
  ``requirements.txt``.
* Every ``mtlbook`` name a chapter imports exists.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mtlbook"

#: Libraries no module may load at import time, except the modules listed in
#: ALLOWED: a figure, a glyph or a scipy solver is only needed when drawn/called.
HEAVY = ("matplotlib", "PIL", "fontTools", "scipy", "sklearn")
ALLOWED: dict[str, set[str]] = {
    # the plotting module: matplotlib (which itself loads Pillow and fontTools)
    "mtlbook.plot": {"matplotlib", "PIL", "fontTools"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def public_modules() -> list[str]:
    names = (module_name(p) for p in source_files())
    return sorted(n for n in names if not any(s.startswith("_") for s in n.split(".")))


# One interpreter imports numpy and torch (which load none of HEAVY; checked),
# then forks once per module, so each module is imported into a fresh copy of
# that interpreter: the same check as `python -c "import mod"` per module,
# without paying torch's start-up 60 times on a 2-core machine.
_PROBE = r"""
import importlib, json, os, sys
import numpy, torch
heavy, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
baseline = [h for h in heavy if h in sys.modules]
assert not baseline, f"numpy/torch already load {baseline}"
result = {}
for mod in modules:
    if not hasattr(os, "fork"):
        code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
                "heavy = json.loads(sys.argv[2]); "
                "print(json.dumps([h for h in heavy if h in sys.modules]))")
        out = __import__("subprocess").run(
            [sys.executable, "-c", code, mod, json.dumps(heavy)],
            capture_output=True, text=True)
        result[mod] = (json.loads(out.stdout) if out.returncode == 0
                       else {"error": out.stderr[-2000:]})
        continue
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(mod)
            msg = [h for h in heavy if h in sys.modules]
        except BaseException as exc:
            msg = {"error": repr(exc)}
        os.write(write, json.dumps(msg).encode())
        os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    result[mod] = json.loads(data)
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def loaded_at_import() -> dict[str, list[str] | dict[str, str]]:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(HEAVY), json.dumps(public_modules())],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=False,  # the test reads the return code and output itself
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_modules_are_found() -> None:
    modules = public_modules()
    for expected in ("mtlbook", "mtlbook.meta.maml", "mtlbook.plot", "mtlbook.nb"):
        assert expected in modules


@pytest.mark.parametrize("module", public_modules())
def test_import_loads_no_plotting_or_rendering(
    module: str, loaded_at_import: dict[str, list[str] | dict[str, str]]
) -> None:
    loaded = loaded_at_import[module]
    assert isinstance(loaded, list), f"import {module} failed: {loaded}"
    unexpected = set(loaded) - ALLOWED.get(module, set())
    assert not unexpected, (
        f"`import {module}` loads {sorted(unexpected)}; import them inside the "
        "function that needs them (run `python -X importtime -c 'import "
        f"{module}'` to find the chain)"
    )


# --- declared dependencies ---------------------------------------------------


def _catches_import_error(handler: ast.expr | None) -> bool:
    if handler is None:  # a bare `except:`
        return True
    if isinstance(handler, ast.Tuple):
        return any(_catches_import_error(e) for e in handler.elts)
    name = handler.id if isinstance(handler, ast.Name) else None
    return name in {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


class _Imports(ast.NodeVisitor):
    """Top-level names of every absolute import, and whether it is optional
    (inside a ``try`` whose handler catches ImportError)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, bool, int]] = []
        self._guards = 0

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(_catches_import_error(h.type) for h in node.handlers)
        self._guards += guarded
        for stmt in node.body:
            self.visit(stmt)
        self._guards -= guarded
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    visit_TryStar = visit_Try

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node.lineno)

    def _add(self, name: str, lineno: int) -> None:
        self.found.append((name.split(".")[0], self._guards > 0, lineno))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_distributions() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(required, optional): distribution -> where it is imported."""
    owners = importlib.metadata.packages_distributions()
    required: dict[str, list[str]] = {}
    optional: dict[str, list[str]] = {}
    for path in source_files():
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for top, guarded, lineno in visitor.found:
            if top in sys.stdlib_module_names or top == "mtlbook":
                continue
            where = f"{path.relative_to(ROOT)}:{lineno} ({top})"
            assert top in owners, f"{where}: no installed distribution provides it"
            for dist in owners[top]:
                (optional if guarded else required).setdefault(
                    canonical(dist), []
                ).append(where)
    return required, optional


def declared() -> tuple[dict[str, Requirement], dict[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {canonical((r := Requirement(s)).name): r for s in project["dependencies"]}
    extra = {
        canonical((r := Requirement(s)).name): r
        for group in project.get("optional-dependencies", {}).values()
        for s in group
    }
    return core, extra


def pins() -> dict[str, str]:
    result = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            result[canonical(name)] = version.strip()
    return result


def test_required_imports_are_the_declared_dependencies() -> None:
    required, _ = imported_distributions()
    core, _ = declared()
    missing = {d: required[d][:3] for d in set(required) - set(core)}
    unused = set(core) - set(required)
    assert not missing, f"imported but not in [project] dependencies: {missing}"
    assert not unused, (
        f"declared in [project] dependencies but never imported: {unused}"
    )


def test_optional_imports_are_an_optional_dependency_group() -> None:
    # imports guarded by `except ImportError` (mtlbook.nb's Jupyter niceties)
    required, optional = imported_distributions()
    core, extra = declared()
    only_optional = set(optional) - set(required)
    assert only_optional - set(core) == set(extra) - set(core), (
        "[project.optional-dependencies] must list exactly the distributions "
        f"imported only under `except ImportError`: {sorted(only_optional)}"
    )


def test_declared_dependencies_are_pinned_and_installed() -> None:
    core, extra = declared()
    pinned = pins()
    for name, req in {**extra, **core}.items():
        assert name in pinned, f"{name} is a dependency but not pinned in requirements"
        assert Version(pinned[name]) in req.specifier, (
            f"requirements.txt pins {name}=={pinned[name]}, outside {req}"
        )
        installed = importlib.metadata.version(name)
        # `==2.13.0` matches the local build 2.13.0+cpu (PEP 440)
        assert Version(installed) in SpecifierSet(f"=={pinned[name]}"), (
            f"{name} {installed} is installed but requirements.txt pins "
            f"{pinned[name]}; run `make` again (it reinstalls from the pins)"
        )


# --- the names the chapters import -------------------------------------------


def chapter_imports() -> list[tuple[str, str, str | None]]:
    """(notebook, module, name or None) for every mtlbook import in a chapter."""
    found = []
    for nb in sorted([*ROOT.glob("chapters/*.ipynb"), *ROOT.glob("book/*.ipynb")]):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            # IPython magics and shell escapes are not Python
            source = re.sub(r"^(\s*)[%!]", r"\1#", source, flags=re.MULTILINE)
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "mtlbook"
                ):
                    found += [(nb.name, node.module, a.name) for a in node.names]
                elif isinstance(node, ast.Import):
                    found += [
                        (nb.name, a.name, None)
                        for a in node.names
                        if a.name.split(".")[0] == "mtlbook"
                    ]
    return found


def test_every_name_a_chapter_imports_exists() -> None:
    imports = chapter_imports()
    assert imports, "no chapter imports mtlbook?"
    broken = []
    for nb, module, name in imports:
        mod = importlib.import_module(module)
        if name is not None and not hasattr(mod, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                broken.append(f"{nb}: from {module} import {name}")
    assert not broken, broken
