"""The claim tests of benchmarks/claims.py, and the claims on the stored results."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from claims import (  # noqa: E402
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    TOY_NUMBERS,
    VERDICTS,
    Claim,
    all_claims,
    combine,
    difference,
    difference_ci,
    random_below_anb_claim,
    trend,
    within,
    within_ci,
    within_seeds,
)

LOCATOR = re.compile(r"(Table|Fig\.|Figure|§|App\.|Appendix|abstract|eq\.)")
# Published numbers whose table or figure the book's sources do not give yet.
UNLOCATED = {TOY_NUMBERS}


def test_within_is_two_sided() -> None:
    assert within(1.05, 1.0, 0.10) == HOLDS
    assert within(0.95, 1.0, 0.10) == HOLDS
    assert within(1.15, 1.0, 0.10) == FAILS  # 15 % above
    assert within(0.85, 1.0, 0.10) == FAILS  # 15 % below
    assert within(-1.15, -1.0, 0.10) == FAILS  # negative targets too


def test_within_ci_band() -> None:
    assert within_ci(1.0, 0.02, 1.0, rel=0.10) == HOLDS
    assert within_ci(1.5, 0.02, 1.0, rel=0.10) == FAILS
    assert within_ci(1.09, 0.05, 1.0, rel=0.10) == INCONCLUSIVE  # across the edge
    assert within_ci(0.01, 0.005, 0.0, abs_tol=0.02) == HOLDS


def test_within_seeds_underpowered() -> None:
    assert within_seeds([1.0, 1.01, 0.99], 1.0, 0.10) == HOLDS
    assert within_seeds([0.4, 5.5, 0.4], 0.38, 0.10) == INCONCLUSIVE
    assert within_seeds([2.0, 2.01, 1.99], 1.0, 0.10) == FAILS


def test_difference_three_ways() -> None:
    assert difference([1.0, 1.1, 1.05], [0.5, 0.52, 0.49]) == HOLDS
    assert difference([0.5, 0.52, 0.49], [1.0, 1.1, 1.05]) == FAILS
    # the CI of the mean difference straddles zero
    assert difference([1.0, 0.5, 1.2], [0.9, 0.8, 0.7]) == INCONCLUSIVE
    # a margin moves the bar; one seed cannot decide
    assert difference([1.0, 1.1, 1.05], [0.5, 0.52, 0.49], margin=1.0) == FAILS
    assert difference([1.0], [0.0]) == INCONCLUSIVE
    # "at least as good": exact ties hold only when not strict
    assert difference([0.0, 0.0], [0.0, 0.0]) == FAILS
    assert difference([0.0, 0.0], [0.0, 0.0], strict=False) == HOLDS


def test_difference_ci() -> None:
    assert difference_ci(0.69, 0.06, 0.46, 0.05) == HOLDS
    assert difference_ci(0.80, 0.01, 0.79, 0.01) == INCONCLUSIVE
    assert difference_ci(0.35, 0.01, 0.80, 0.01) == FAILS


def test_trend() -> None:
    falling = {1: [0.60, 0.62, 0.61], 2: [0.55, 0.58, 0.56], 3: [0.50, 0.51, 0.52]}
    assert trend(falling) == HOLDS
    assert trend(falling, falls=False) == FAILS
    flat = {1: [0.46, 0.48, 0.44], 2: [0.49, 0.46, 0.47], 3: [0.44, 0.49, 0.46]}
    assert trend(flat) == INCONCLUSIVE
    # one difference would say "falls"; the trend with its spread does not
    noisy = {1: [0.50, 0.40, 0.45], 2: [0.30, 0.55, 0.44], 3: [0.45, 0.47, 0.40]}
    assert trend(noisy) == INCONCLUSIVE


def test_combine() -> None:
    assert combine(HOLDS, HOLDS) == HOLDS
    assert combine(HOLDS, INCONCLUSIVE) == INCONCLUSIVE
    assert combine(INCONCLUSIVE, FAILS) == FAILS


def test_random_below_anb_is_tested_at_each_cut() -> None:
    # AnB above random at n = 1 on every seed, below at n = 2, tied-ish at n = 3
    anb = {1: [0.9, 0.91, 0.92], 2: [0.5, 0.52, 0.51], 3: [0.6, 0.7, 0.5]}
    rnd = {1: [0.8, 0.80, 0.81], 2: [0.7, 0.71, 0.72], 3: [0.65, 0.55, 0.62]}
    rows = [
        {"condition": c, "n": n, "seed": k, "accuracy": acc[n][k]}
        for c, acc in (("AnB", anb), ("random", rnd))
        for n in (1, 2, 3)
        for k in range(3)
    ]
    settings = {"depths": [1, 2, 3], "seeds": [0, 1, 2], "model": "m"}
    claim = random_below_anb_claim({"settings": settings, "rows": rows}, "toy")
    assert claim.verdict == FAILS
    assert "random frozen layers beat AnB at n = 2 " in claim.why
    assert "do not separate random from AnB at n = 3" in claim.why
    fine = [
        {**r, "accuracy": r["accuracy"] + 0.5 * (r["condition"] == "AnB")}
        for r in rows
        if r["n"] == 1
    ]
    settings = {**settings, "depths": [1]}
    claim = random_below_anb_claim({"settings": settings, "rows": fine}, "toy")
    assert claim.verdict == HOLDS and not claim.why


def test_claim_needs_a_why_unless_it_holds() -> None:
    with pytest.raises(ValueError, match="needs a why"):
        Claim("ch-transfer", "c", "1", "k, Table 1", "2", FAILS, "r")
    with pytest.raises(ValueError, match="is not one of"):
        Claim("ch-transfer", "c", "1", "k, Table 1", "2", "partly", "r", "w")


@pytest.fixture(scope="module")
def stored() -> list[Claim]:
    return all_claims(ROOT / "benchmarks" / "results")


def test_stored_claims_have_three_verdicts_and_reasons(stored: list[Claim]) -> None:
    assert len(stored) > 20
    assert {c.verdict for c in stored} <= set(VERDICTS)
    for c in stored:
        if c.verdict != HOLDS:
            assert c.why, c.claim
        assert c.part in ("multi-task", "transfer", "meta-learning")


def test_published_values_are_cited_with_a_locator(stored: list[Claim]) -> None:
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    for c in stored:
        if c.published in ("—", ""):
            continue
        assert c.citation, c.claim
        for part in c.citation.split(";"):
            key = part.split(",")[0].strip()
            assert "{" + key + "," in bib, f"{c.claim}: {key} is not in the bib"
        if re.search(r"\d", c.published) and c.citation not in UNLOCATED:
            assert LOCATOR.search(c.citation), f"{c.claim}: {c.citation}"


def test_the_claims_the_book_discusses_are_there(stored: list[Claim]) -> None:
    text = " ".join(c.claim for c in stored)
    for needle in (
        "Nash-MTL reaches the front balanced",
        "First-order MAML close to MAML",
        "ANIL close to MAML",
        "BnB dips",
        "digits: random frozen layers",
        "digits: random frozen layers are worse than AnB at each n",
        "LP-FT at least as good as fine-tuning in distribution",
        "Uncertainty weighting",
        "MMoE",
        "25× cheaper",
        "DANN",
        "Meta-SGD",
        "ProtoNets",
        "torchjd",
    ):
        assert needle in text, needle
