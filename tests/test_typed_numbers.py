"""Measured numbers in the book's prose come from the computation, not the keyboard.

A number a notebook computes belongs in the text through MyST-NB's
``{glue:text}`` role (or is read from a benchmark JSON by a code cell), so it
changes when the computation does. This test reads the prose of every page and
flags a *typed measurement*: a decimal number with three or more significant
digits (``0.8338``, ``95.7%``, ``2.49e-02``), outside

- a ``{glue:...}`` role, inline code or a fenced code block,
- a line that cites a paper (``{cite...}``): published numbers stand beside
  their citation,
- the protocols page, which holds the papers' settings and published numbers,
- ``CONSTANTS`` below: mathematical constants and closed-form values a reader
  can check by hand (ln 2, 1.96 of a 95 % interval, ...).

Integers are not flagged: they are counts and settings (1,797 images, 600
episodes). Numbers typed before this test existed are listed, per page, in
``typed_numbers_allowlist.json``; that list may only shrink. A new typed
measurement fails the test: glue it, or, if it is not a measurement, add it to
``CONSTANTS`` with the reason.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST = Path(__file__).with_name("typed_numbers_allowlist.json")
PAGES = sorted(
    [
        *ROOT.glob("chapters/*.ipynb"),
        *ROOT.glob("book/*.ipynb"),
        *ROOT.glob("book/*.md"),
    ]
)
EXEMPT_PAGES = {"book/protocols.md", "book/api.md"}

CONSTANTS = {
    "0.6931": "ln 2",
    "1.6094": "ln 5",
    "1.4142": "sqrt 2",
    "1.96": "the normal quantile of a 95 % interval",
    "3.14159": "pi",
    "16.0": "the digits data's pixel range, in code",
}

DECIMAL = re.compile(r"(?<![\w.])[-−]?\d+(?:,\d{3})*\.\d+(?:e[-−+]?\d+)?")
SCIENTIFIC = re.compile(r"(?<![\w.])\d(?:\.\d+)?e[-−+]?\d+")
HIDDEN = [
    re.compile(r"```.*?```", re.S),  # fenced code
    re.compile(r"\{glue:[a-z]+\}`[^`]*`"),  # glued values
    re.compile(r"\{[a-z:]+\}`[^`]*`"),  # other roles: refs, labels, equations
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
]


def significant_digits(token: str) -> int:
    mantissa = token.replace(",", "").lstrip("-−").split("e")[0]
    return len(mantissa.replace(".", "").lstrip("0"))


def prose(page: Path) -> str:
    if page.suffix == ".md":
        return page.read_text(encoding="utf-8")
    cells = json.loads(page.read_text(encoding="utf-8"))["cells"]
    return "\n\n".join(
        "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
    )


def typed_measurements(text: str) -> list[str]:
    found = []
    for line in text.splitlines():
        if "{cite" in line:
            continue
        for pattern in HIDDEN:
            line = pattern.sub(" ", line)
        for match in DECIMAL.finditer(line):
            token = match.group(0).replace("−", "-")
            if significant_digits(token) >= 3 and token.lstrip("-") not in CONSTANTS:
                found.append(token)
    return found


def relative(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def allowlist() -> dict[str, list[str]]:
    return json.loads(ALLOWLIST.read_text(encoding="utf-8"))


CHECKED = [p for p in PAGES if relative(p) not in EXEMPT_PAGES]


@pytest.mark.parametrize("page", CHECKED, ids=relative)
def test_no_new_typed_measurements(page: Path) -> None:
    allowed = Counter(allowlist().get(relative(page), []))
    new = Counter(typed_measurements(prose(page))) - allowed
    assert not new, (
        f"{relative(page)}: typed measured numbers {sorted(new)}; insert them with "
        "{glue:text} from the cell that computes them (see this test's docstring)"
    )


def test_allowlist_only_shrinks() -> None:
    """An entry that is no longer in the text must leave the list."""
    stale = {}
    for name, numbers in allowlist().items():
        present = Counter(typed_measurements(prose(ROOT / name)))
        extra = Counter(numbers) - present
        if extra:
            stale[name] = sorted(extra)
    assert not stale, f"remove from {ALLOWLIST.name}: {stale}"


def test_detector_flags_measurements_and_spares_the_rest() -> None:
    text = (
        "The model scores 0.8338 and 95.7% (gap 2.49e-02).\n"
        "Glued {glue:text}`acc:.4f`, code `lr=0.0316`, ln 2 = 0.6931.\n"
        "Published 0.625 {cite:p}`yosinski2014transferable`; 1,797 images; 0.5.\n"
    )
    assert typed_measurements(text) == ["0.8338", "95.7", "2.49e-02"]
