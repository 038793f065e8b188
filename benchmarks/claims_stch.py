"""Claims of smooth Tchebycheff scalarisation on a concave front, from its results.

stch_concave.json: sweeps of 19 preferences from 10 starts on chapter 5's
two-task toy with a concave Pareto front, for STCH and for weighted sums.

Registered by ``claims.py`` through ``BENCHMARKS`` and ``SOURCE_OF``. The
rules of ``claims.py`` hold here: the only numbers typed are test tolerances;
the verdicts are exact tests on counts and gaps of every start (the toy is
deterministic given the start, so there is no spread to test against).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claims import HOLDS, Claim, verdict_of

LIN = "lin2024smooth, §1 and §3"
GAP = 0.25  # "traces the front": no stretch longer than 1/8 of it left unreached


def stch_concave_claims(result: dict[str, Any]) -> list[Claim]:
    """STCH's sweep covers the concave front; the weighted sums' does not."""
    s, r = result["settings"], result["results"]
    regime = (
        f"two-task toy with a concave front, {len(s['preferences'])} preferences, "
        f"{len(result['seeds'])} starts, {s['optimiser']}, μ = {s['stch']['mu']}"
    )
    stch, linear = r["stch"], r["weighted_sum"]
    covers = verdict_of(
        min(stch["middle_third"]) >= 1 and max(stch["largest_gap"]) <= GAP
    )
    misses = verdict_of(max(linear["middle_third"]) == 0)
    return [
        Claim(
            "ch-multitask",
            "Concave front: a sweep of STCH preferences reaches its middle and "
            "traces it from every start",
            "STCH can find all Pareto solutions",
            LIN,
            f"runs in the middle third per start: {min(stch['middle_third'])} to "
            f"{max(stch['middle_third'])} of {len(s['preferences'])}; largest "
            f"unreached stretch of t ∈ [−1, 1]: {max(stch['largest_gap']):.3f}",
            covers,
            regime + f"; traces: no gap above {GAP}",
            "" if covers == HOLDS else "the STCH sweep leaves part of the front",
        ),
        Claim(
            "ch-multitask",
            "Concave front: a sweep of weighted sums reaches only its ends",
            "linear scalarisation cannot find Pareto solutions on non-convex "
            "parts of the front",
            LIN,
            f"runs in the middle third per start: {min(linear['middle_third'])} to "
            f"{max(linear['middle_third'])}; largest unreached stretch: "
            f"{min(linear['largest_gap']):.3f} to {max(linear['largest_gap']):.3f}",
            misses,
            regime,
            "" if misses == HOLDS else "a weighted sum ended inside the front",
        ),
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Claim]]] = {
    "stch_concave": stch_concave_claims,
}
SOURCE_OF = {"stch_concave": "ch-multitask"}
__all__ = ["BENCHMARKS", "SOURCE_OF", "stch_concave_claims"]
