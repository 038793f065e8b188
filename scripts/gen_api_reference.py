"""Write book/api.md: one section per public module of mtlbook, from its docstrings.

A module is public when no part of its dotted name starts with an underscore.
Run it after adding or renaming a module; tests/test_api_reference.py fails
while book/api.md is out of date.  Usage: python scripts/gen_api_reference.py
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import mtlbook

API_PAGE = Path(__file__).resolve().parent.parent / "book" / "api.md"

HEADER = """\
(api)=
# API reference

Every public module of the `mtlbook` package, generated from its docstrings
(the same text `help()` prints). Import paths are the ones shown in each
heading; names starting with an underscore are private and may change.
"""


def public_modules() -> list[str]:
    """Dotted names of the public modules, subpackages before their children."""
    names = ["mtlbook"]
    for info in pkgutil.walk_packages(mtlbook.__path__, "mtlbook."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def shadowed_submodules(module: str) -> list[str]:
    """Names in a package's ``__all__`` that are also the names of its submodules.

    ``mtlbook.transfer`` re-exports the function ``freeze`` of the submodule
    ``mtlbook.transfer.freeze``: documented in the package's section, the
    function would get the module's full name (a duplicate object description).
    Such a function is left to its own module's section.
    """
    package = importlib.import_module(module)
    if not hasattr(package, "__path__"):
        return []
    submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    return sorted(set(getattr(package, "__all__", ())) & submodules)


def section(module: str) -> str:
    """A heading plus an automodule directive listing the module's own names."""
    level = "#" * min(2 + module.count(".") - 1, 4) if module != "mtlbook" else "##"
    shadowed = shadowed_submodules(module)
    exclude = f"   :exclude-members: {', '.join(shadowed)}\n" if shadowed else ""
    return (
        f"{level} `{module}`\n\n"
        "```{eval-rst}\n"
        f".. automodule:: {module}\n"
        "   :members:\n"
        f"{exclude}"
        "   :show-inheritance:\n"
        "```\n"
    )


def render() -> str:
    """The whole page's text."""
    return HEADER + "".join("\n" + section(name) for name in public_modules())


def main() -> int:
    API_PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {API_PAGE.name}: {len(public_modules())} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
