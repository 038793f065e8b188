"""Every glossary entry leads a reader to a live section that uses the term.

The glossary (``book/glossary.md``) pairs each English term with its Chinese
one and links to the section where the term becomes concrete. These tests
parse its tables and check that each link target is a label some page of the
book defines, that the page holding that label uses the English term in its
prose, and that every piece of Chinese text is marked ``lang="zh-Hans"`` (else
browsers may render it in a Japanese typeface).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "book" / "glossary.md"
PAGES = sorted(
    [
        *ROOT.glob("chapters/*.ipynb"),
        *ROOT.glob("book/*.ipynb"),
        *ROOT.glob("book/*.md"),
    ]
)
LABEL = re.compile(r"^\(([A-Za-z0-9_-]+)\)=\s*$", re.M)
REF = re.compile(r"\{ref\}`([^`<]+)`")
SPAN = re.compile(r'<span lang="zh-Hans">[^<]*</span>')
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def prose(path: Path) -> str:
    """The Markdown a reader sees on a page: a .md file, or a notebook's text cells."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n".join(
        "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
    )


def labels() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for page in PAGES:
        for name in LABEL.findall(prose(page)):
            assert name not in found, f"label {name} defined twice"
            found[name] = page
    return found


def normalise(text: str) -> str:
    """Lower case, no emphasis marks, hyphens and line breaks as spaces."""
    return " ".join(re.sub(r"[-‐–]", " ", text.lower().replace("*", "")).split())


def entries() -> list[tuple[str, str, list[str]]]:
    """(English term, the whole row, link targets) for every table row."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 4 or cells[0] == "English":
            continue
        if set(cells[0]) <= set("-"):
            continue
        english = cells[0].replace("†", "").split(" (")[0].strip()
        rows.append((english, line, REF.findall(cells[3])))
    return rows


ENTRIES = entries()
LABELS = labels()


def test_the_glossary_has_entries() -> None:
    assert len(ENTRIES) > 100, f"only {len(ENTRIES)} rows parsed from {GLOSSARY}"


@pytest.mark.parametrize(
    ("english", "row", "targets"), ENTRIES, ids=[e[0] for e in ENTRIES]
)
def test_each_link_goes_to_a_live_section_that_uses_the_term(
    english: str, row: str, targets: list[str]
) -> None:
    assert targets, f"{english!r} links nowhere: {row}"
    assert "planned" not in row.lower(), f"{english!r} points to a planned page"
    for target in targets:
        assert target in LABELS, f"{english!r} links to {target!r}: no page defines it"
        page = LABELS[target]
        assert normalise(english) in normalise(prose(page)), (
            f"{english!r} links to {target!r} on {page.relative_to(ROOT)}, "
            "whose text never uses the term"
        )


def test_every_chinese_character_is_marked_zh_hans() -> None:
    text = GLOSSARY.read_text(encoding="utf-8")
    bare = CJK.findall(SPAN.sub("", text))
    assert not bare, f'Chinese text outside <span lang="zh-Hans">: {"".join(bare)}'


def test_each_term_appears_once() -> None:
    names = [normalise(e[0]) for e in ENTRIES]
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"terms listed twice: {twice}"
