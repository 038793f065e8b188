"""Claims on aggregators and on model merging, from two benchmarks' JSON.

Quinton & Rey (2024) on aggregators, judged on ``aggregator_properties.json``;
task arithmetic and TIES-merging, judged on ``merging_glyphs.json``.

Registered by ``claims.py`` through ``BENCHMARKS`` and ``SOURCE_OF``. The rules
of ``claims.py`` hold here: the only things typed are the published table
(Quinton & Rey 2024, Table 1: which aggregator has which property) and a test
tolerance; every verdict comes from the measured counterexample search. A
property the paper proves for an aggregator fails if our search found a
counterexample; a property the paper denies holds once a counterexample is
found, and is undecided (inconclusive) if none was.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Claim,
    _ci,
    _seeds,
    combine,
    difference,
    verdict_of,
)

QUINTON = "quinton2024jacobian, Table 1"
# Quinton & Rey (2024), Table 1, for the aggregators mtlbook has (RGW is a loss
# scalarizer here, GradDrop is absent): property -> those that have it
TABLE_1 = {
    "non-conflicting": {"MGDA", "DualProj", "Nash-MTL", "UPGrad"},
    "linear under scaling": {"Mean", "PCGrad", "UPGrad"},
    "weighted": {
        "Mean",
        "MGDA",
        "DualProj",
        "PCGrad",
        "IMTL-G",
        "CAGrad",
        "Nash-MTL",
        "Aligned-MTL",
        "UPGrad",
    },
}
EXACT = 1e-9  # PCGrad = 2 × UPGrad to this relative gap (float64 solvers)


def aggregator_properties_claims(result: dict[str, Any]) -> list[Claim]:
    """Table 1's three columns, and PCGrad = 2 × UPGrad for two tasks (§4)."""
    src = "ch-multitask"
    summary, s = result["summary"], result["settings"]
    trials = s["trials_per_seed"] * len(s["seeds"])
    regime = (
        f"{trials} random matrices per aggregator ({_seeds(result)} × "
        f"{s['trials_per_seed']}), {s['matrices']}; a violation counts above "
        f"{s['tolerance']:.0e} (relative); CAGrad with c = {s['cagrad_c']}"
    )
    claims = []
    for prop, having in TABLE_1.items():
        verdicts, found, missed, unproved = [], [], [], []
        for name, cells in summary.items():
            holds = cells[prop]["holds"]
            if name in having:
                verdicts.append(HOLDS if holds else FAILS)
                if not holds:
                    found.append(name)
            else:
                verdicts.append(INCONCLUSIVE if holds else HOLDS)
                if holds:
                    unproved.append(name)
                else:
                    missed.append(name)
        v = combine(*verdicts)
        why = ""
        if found:
            why = f"a counterexample was found for {', '.join(found)}"
        elif unproved:
            why = (
                f"no counterexample found for {', '.join(unproved)} in {trials} "
                "random matrices"
            )
        ours = (
            "has it: "
            + ", ".join(n for n, c in summary.items() if c[prop]["holds"])
            + "; counterexample found: "
            + (", ".join(missed + found) or "none")
        )
        claims.append(
            Claim(
                src,
                f"Which aggregators are {prop}",
                "✓ for " + ", ".join(sorted(having)) + "; ✗ for the others",
                QUINTON,
                ours,
                v,
                regime,
                why,
            )
        )
    pair = result["pcgrad_twice_upgrad"]
    v = verdict_of(pair["max_relative_gap"] <= EXACT and pair["conflicting"] > 0)
    claims.append(
        Claim(
            src,
            "For two tasks PCGrad is 2 × UPGrad",
            "A_PCGrad = m · A_UPGrad when m = 2",
            "quinton2024jacobian, §4",
            f"largest relative gap {pair['max_relative_gap']:.1e} over "
            f"{pair['matrices']} matrices ({pair['conflicting']} conflicting)",
            v,
            "K = 2, P in [2, 8], row norms 10^U(-2, 2), float64",
            "" if v == HOLDS else f"gap above {EXACT:.0e} or no conflicting pair",
        )
    )
    return claims


def merging_glyphs_claims(result: dict[str, Any]) -> list[Claim]:
    """Task arithmetic and TIES-merging against the base, each other and joint."""
    src = "ch-multitask"
    acc, s = result["mean_accuracy_per_seed"], result["settings"]
    regime = (
        f"glyph attributes ({', '.join(s['tasks'])}), a small conv trunk "
        f"pre-trained on the character task, {s['finetune_epochs']} fine-tuning "
        f"epochs per task, λ chosen on validation from {s['lambdas']}, "
        f"{_seeds(result)}; the papers merge large pre-trained models (CLIP, T5)"
    )
    labels = {
        "task_arithmetic": "task arithmetic",
        "ties": "TIES",
        "base": "θ0 with the fine-tuned heads",
        "joint": "joint training",
        "separate": "separate fine-tunes",
    }

    def claim(text, published, citation, a, others, why_fail) -> Claim:
        verdicts = [difference(acc[a], acc[b]) for b in others]
        v = combine(*verdicts)
        ours = f"mean test accuracy {labels[a]} {_ci(acc[a])}; " + "; ".join(
            f"{labels[b]} {_ci(acc[b])} (paired difference: {d})"
            for b, d in zip(others, verdicts, strict=True)
        )
        why = {
            HOLDS: "",
            FAILS: why_fail,
            INCONCLUSIVE: "the paired 95 % CI of the difference over the seeds "
            "contains 0",
        }[v]
        return Claim(src, text, published, citation, ours, v, regime, why)

    return [
        claim(
            "Adding task vectors to the initialisation gives a multi-task model",
            "θ0 + λ Σ τ_k beats θ0 on the tasks",
            "ilharco2023editing, §3",
            "task_arithmetic",
            ("base",),
            "the merged trunk is worse than θ0 over the seeds",
        ),
        claim(
            "TIES-merging beats task arithmetic",
            "higher average accuracy than task arithmetic",
            "yadav2023ties, Table 1",
            "ties",
            ("task_arithmetic",),
            "TIES is below task arithmetic over the seeds",
        ),
        claim(
            "Joint multi-task training beats merging",
            "the multitask model is above every merging method",
            "yadav2023ties, Table 1",
            "joint",
            ("task_arithmetic", "ties"),
            "a merged trunk is above joint training over the seeds",
        ),
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Claim]]] = {
    "aggregator_properties": aggregator_properties_claims,
    "merging_glyphs": merging_glyphs_claims,
}
SOURCE_OF = {
    "aggregator_properties": "ch-multitask",
    "merging_glyphs": "ch-multitask",
}
__all__ = [
    "BENCHMARKS",
    "SOURCE_OF",
    "aggregator_properties_claims",
    "merging_glyphs_claims",
]
