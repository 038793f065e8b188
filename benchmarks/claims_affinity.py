"""Claims on task grouping by lookahead affinity, from ``task_affinity_glyphs.json``.

Fifty et al. (2021) group tasks by the inter-task affinity measured in one
multi-task run and report that the groups beat training all tasks in one
model. Registered by ``claims.py`` through ``BENCHMARKS`` and ``SOURCE_OF``;
its rules hold here: nothing is typed but the published statements, and every
verdict is the paired 95 % CI over the seeds (``difference``): above 0 holds,
below 0 does not hold, across 0 is inconclusive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from claims import FAILS, HOLDS, Claim, _ci, _seeds, difference

FIFTY = "fifty2021efficiently"
NAMES = {
    "all_in_one": "all tasks in one model",
    "grouped": "best-affinity groups",
    "worst_grouped": "worst-affinity groups",
}


def _groups(rows: list[dict[str, Any]], key: str, tasks: list[str]) -> str:
    """The groupings the seeds chose, most common first, with their counts."""
    counts = Counter(
        " | ".join("{" + ", ".join(tasks[k] for k in g) + "}" for g in r[key])
        for r in rows
    )
    return "; ".join(f"{g} ({n}×)" for g, n in counts.most_common())


def task_affinity_glyphs_claims(result: dict[str, Any]) -> list[Claim]:
    """Best-affinity groups against all-in-one, and against the worst groups."""
    src = "ch-multitask"
    acc, s, rows = result["mean_accuracy_per_seed"], result["settings"], result["rows"]
    regime = (
        f"glyph attributes ({', '.join(s['tasks'])}), a small conv trunk shared "
        f"by all tasks, {s['steps_all_in_one']} Adam steps for the all-in-one "
        f"model; {s['n_groups']} groups at equal compute (steps split by group "
        f"size); lookahead rate {s['lookahead_lr']:g}; {_seeds(result)}. "
        f"Chosen groups: {_groups(rows, 'best_grouping', s['tasks'])}"
    )

    def claim(text: str, published: str, a: str, b: str, why_fail: str) -> Claim:
        v = difference(acc[a], acc[b])
        paired = [x - y for x, y in zip(acc[a], acc[b], strict=True)]
        ours = (
            f"mean test accuracy: {NAMES[a]} {_ci(acc[a])}, {NAMES[b]} "
            f"{_ci(acc[b])}; paired difference {_ci(paired)}"
        )
        chosen = {str(r["best_grouping"]) for r in rows}
        undecided = (
            "the paired 95 % CI of the difference over the seeds contains 0 "
            f"(the {len(rows)} seeds chose {len(chosen)} different groupings)"
        )
        why = {HOLDS: "", FAILS: why_fail}.get(v, undecided)
        return Claim(
            src, text, published, f"{FIFTY}, experiments", ours, v, regime, why
        )

    return [
        claim(
            "Grouping tasks by lookahead affinity beats training all tasks together",
            "the groups TAG selects are more accurate than one all-task model "
            "(CelebA, Taskonomy)",
            "grouped",
            "all_in_one",
            "the all-in-one model is more accurate than the groups over the seeds",
        ),
        claim(
            "The highest-affinity grouping beats the lowest-affinity one",
            "inter-task affinity predicts which groups train well together (the "
            "premise of TAG's selection)",
            "grouped",
            "worst_grouped",
            "the lowest-affinity groups are more accurate over the seeds",
        ),
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Claim]]] = {
    "task_affinity_glyphs": task_affinity_glyphs_claims,
}
SOURCE_OF = {"task_affinity_glyphs": "ch-multitask"}
__all__ = ["BENCHMARKS", "SOURCE_OF", "task_affinity_glyphs_claims"]
