"""Every notebook the book renders is stored the way nbval can check it.

The book build does not execute notebooks; it renders their stored outputs.
These tests make sure those outputs are trustworthy: produced by one run from
top to bottom, free of unexpected errors, and not hiding behind ignore markers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted(
    (ROOT / "book").glob("*.ipynb")
)
MAX_IGNORED_CELLS = 2
IGNORE_MARKER = "# NBVAL_IGNORE_OUTPUT"


def code_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks found under chapters/ or book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_in_order_in_one_run(path: Path) -> None:
    counts = [c["execution_count"] for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts}; re-run the notebook top to "
        "bottom (make execute)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_unexpected_errors(path: Path) -> None:
    for cell in code_cells(path):
        tags = cell.get("metadata", {}).get("tags", [])
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        if errors:
            assert "raises-exception" in tags, (
                f"{path.name}: stored error {errors[0]['ename']} in a cell not "
                "tagged raises-exception"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_svg_outputs(path: Path) -> None:
    for cell in code_cells(path):
        for out in cell["outputs"]:
            assert "image/svg+xml" not in out.get("data", {}), (
                f"{path.name}: SVG output (random ids make it non-deterministic); "
                "call setup_notebook() first so figures are PNG"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ignored_outputs_are_rare_and_explained(path: Path) -> None:
    ignored = [c for c in code_cells(path) if IGNORE_MARKER in source(c)]
    assert len(ignored) <= MAX_IGNORED_CELLS, (
        f"{path.name}: {len(ignored)} cells ignore their output "
        f"(at most {MAX_IGNORED_CELLS})"
    )
    for cell in ignored:
        line = next(ln for ln in source(cell).splitlines() if IGNORE_MARKER in ln)
        reason = line.split(IGNORE_MARKER, 1)[1].strip(" :-")
        assert len(reason) >= 10, (
            f"{path.name}: '{line.strip()}' gives no reason; write it on the same line"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_sets_up_the_notebook(path: Path) -> None:
    first = source(code_cells(path)[0])
    assert "setup_notebook(" in first, (
        f"{path.name}: the first code cell must call setup_notebook(seed)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_lax_markers_or_absolute_paths(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "NBVAL_SKIP" not in text, f"{path.name}: NBVAL_SKIP hides a cell"
    home = str(Path.home())
    assert home not in text and str(ROOT) not in text, (
        f"{path.name}: contains an absolute path of this machine"
    )


def _markdown(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join(source(c) for c in cells if c["cell_type"] == "markdown")


def _glued(path: Path) -> dict[str, str]:
    """name -> the text/plain MyST-NB renders for each glued value."""
    values = {}
    for cell in code_cells(path):
        for out in cell["outputs"]:
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                prefix = out["metadata"]["scrapbook"]["mime_prefix"]
                values[name] = out["data"].get(f"{prefix}text/plain", "")
    return values


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_number_is_stored_and_formattable(path: Path) -> None:
    """A {glue:text} role needs its value stored, as a plain Python literal.

    MyST-NB formats glued values from their stored text/plain with
    ast.literal_eval; a numpy scalar's repr (np.float64(...)) fails there, so
    glue float(x) or int(x).
    """
    import ast
    import re

    glued = _glued(path)
    for name in re.findall(r"\{glue:text\}`([\w-]+)", _markdown(path)):
        assert name in glued, f"{path.name}: {{glue:text}}`{name}` has no stored value"
        try:
            ast.literal_eval(glued[name])
        except (ValueError, SyntaxError):
            pytest.fail(f"{path.name}: glued {name} = {glued[name]!r}; glue float()")
