"""The seed FAQ page answers every question of both seeds with a live section.

Seed A ends with six questions (A1-A6) and four challenges (A7-A10), seed B
with three questions (B1-B3). Each row of ``book/seed_faq.md`` must link to at
least one section label that some page of the book defines, so that no answer
points to a section that was renamed or removed.
"""

from __future__ import annotations

import re
from pathlib import Path

from test_glossary import LABELS, REF

ROOT = Path(__file__).resolve().parents[1]
FAQ = (ROOT / "book" / "seed_faq.md").read_text(encoding="utf-8")
EXPECTED = [f"A{i}" for i in range(1, 11)] + ["B1", "B2", "B3"]


def rows() -> dict[str, str]:
    found = {}
    for line in FAQ.splitlines():
        m = re.match(r"\|\s*([AB]\d+)\s*\|", line)
        if m:
            found[m.group(1)] = line
    return found


def test_every_seed_question_has_a_row() -> None:
    assert list(rows()) == EXPECTED


def test_every_answer_links_to_a_live_section() -> None:
    for qid, line in rows().items():
        targets = REF.findall(line)
        assert targets, f"{qid} links nowhere"
        missing = [t for t in targets if t not in LABELS]
        assert not missing, f"{qid} links to labels no page defines: {missing}"


def test_every_link_on_the_page_resolves() -> None:
    missing = sorted({t for t in REF.findall(FAQ) if t not in LABELS})
    assert not missing, f"seed_faq.md links to labels no page defines: {missing}"
