"""Measured numbers in the book's prose come from the computation, not the keyboard.

A number a notebook computes belongs in the text through MyST-NB's
``{glue:text}`` role (or is read from a benchmark JSON by a code cell), so it
changes when the computation does. This test reads the prose of every page and
flags a *typed measurement*: a decimal number with two or more significant
digits (``0.8338``, ``95.7%``, ``2.49e-02``, ``0.91``, ``5.1 %``), outside

- a ``{glue:...}`` role, inline code or a fenced code block,
- a line that cites a paper (``{cite...}``): published numbers stand beside
  their citation,
- the protocols page, which holds the papers' settings and published numbers,
- a section reference: a number right after ``§``, ``Section``, ``section``,
  ``Chapter``, ``chapter``, ``Sec.``, ``Eq.``, ``eq.``, ``Fig.``, ``Table`` or
  ``Part`` (``§4.1``, ``Section 3.5``), or inside a ``{ref}``/``{numref}`` role,
- ``CONSTANTS`` below: mathematical constants and closed-form values a reader
  can check by hand (ln 2, 1.96 of a 95 % interval, ...).

Integers and one-significant-digit decimals (``0.5``, ``0.01``) are not
flagged: they are counts and round settings (1,797 images, 600 episodes). A
setting with more digits goes in inline code (``noise=0.25``). Numbers typed
before this test existed are listed, per page, in
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
    "0.69": "ln 2 to two digits",
    "2.3": "ln 10 to two digits",
    "0.0067": "e^-5, ELU's slope at x = -5",
    "0.0066": "the sigmoid's derivative at 5, sigma(5) (1 - sigma(5))",
}

DECIMAL = re.compile(r"(?<![\w.])[-−]?\d+(?:,\d{3})*\.\d+(?:e[-−+]?\d+)?")
SCIENTIFIC = re.compile(r"(?<![\w.])\d(?:\.\d+)?e[-−+]?\d+")
SECTION_REF = re.compile(
    r"(?:§|\b(?:Section|section|Chapter|chapter|Part)\s|(?:Sec|Eq|eq|Fig)\.\s?"
    r"|\bTable\s)\s*\(?\d+(?:\.\d+)*"
)
FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
HIDDEN = [
    re.compile(r"```.*?```"),  # a fence opened and closed on one line
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


def without_code_blocks(text: str) -> str:
    """The text with fenced code blocks (```python ... ```) removed.

    Directive fences (```{admonition}, ````{figure}) hold prose and stay; a
    fence closes on a bare line of at least as many of the same marks.
    """
    kept, stack = [], []  # stack: (marks, is_code) of the open fences
    for line in text.splitlines():
        fence = FENCE.match(line)
        if fence:
            marks, info = fence.group(1), fence.group(2).strip()
            top = stack[-1] if stack else None
            if top and not info and marks[0] == top[0][0] and len(marks) >= len(top[0]):
                stack.pop()
                continue
            if not (top and top[1]):  # inside a code block a fence is text
                code = not info.startswith("{") or info.startswith(
                    ("{code", "{literalinclude")
                )
                stack.append((marks, code))
                continue
        if not any(code for _, code in stack):
            kept.append(line)
    return "\n".join(kept)


def typed_measurements(text: str) -> list[str]:
    found = []
    for line in without_code_blocks(text).splitlines():
        if "{cite" in line:
            continue
        for pattern in [*HIDDEN, SECTION_REF]:
            line = pattern.sub(" ", line)
        for match in DECIMAL.finditer(line):
            token = match.group(0).replace("−", "-")
            if significant_digits(token) >= 2 and token.lstrip("-") not in CONSTANTS:
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


def test_detector_flags_two_digits_and_spares_section_references() -> None:
    text = (
        "Error 5.1 % and 0.91 %, loss 0.0011, accuracy 0.86.\n"
        "See §4.1, Section 3.5, chapter 2.1, Sec. 6.2, Eq. 3.4, Fig. 1.2, "
        "Table 2.3 and Part 2.1; Eq. (1.2); {ref}`sec-2.1` and {numref}`fig-1.3`.\n"
        "Round settings 0.5 and 0.01; 12 epochs; ln 2 = 0.6931.\n"
        "Section 3.5 reports 0.79.\n"
    )
    assert typed_measurements(text) == ["5.1", "0.91", "0.0011", "0.86", "0.79"]


def test_detector_skips_code_blocks_but_reads_directive_prose() -> None:
    text = (
        "````{admonition} Solution\n"
        ":class: dropdown\n"
        "The gap is 0.37.\n"
        "```python\n"
        "huber(pred, target, delta=1.0)\n"
        "```\n"
        "and the loss 0.042.\n"
        "````\n"
        "```\n"
        "x = 2.5\n"
        "```\n"
        "After the block, 0.61.\n"
    )
    assert typed_measurements(text) == ["0.37", "0.042", "0.61"]
