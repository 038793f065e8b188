"""Claims of R2D2, the pre-train-then-probe papers and iMAML, from their results.

fewshot_heads.json: R2D2 and the baselines of Chen et al. and Tian et al.
against ProtoNets; imaml_memory.json: the memory of iMAML's meta-gradient.

Registered by ``claims.py`` through ``BENCHMARKS`` and ``SOURCE_OF``. The
rules of ``claims.py`` hold here: the only numbers typed are test tolerances
(the papers state these claims in words); every verdict comes from a paired
test over seeds on the measured accuracies (mean over 600 evaluation episodes
per seed, the same episodes for every method and seed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claims import (
    HOLDS,
    INCONCLUSIVE,
    Claim,
    _ci,
    _seeds,
    combine,
    difference,
    verdict_of,
)

BERTINETTO = "bertinetto2019meta, abstract and Table 1"
CHEN = "chen2019closer, abstract and §4.3"
TIAN = "tian2020rethinking, abstract"
RAJESWARAN = "rajeswaran2019meta, Table 1 and §3"
FLAT = 0.1  # "does not grow": at most 10 % more at the most steps than at one
GROWS = 5.0  # MAML's peak at the most steps at least 5 times that at one step
COMPETITIVE = 0.02  # "competitive": the paired CI of (a - b) stays above -2 points
FIVE_WAY = ("5way1shot", "5way5shot")


def fewshot_heads_claims(result: dict[str, Any]) -> list[Claim]:
    """R2D2, Baseline, Baseline++ and logistic regression against ProtoNets."""
    src = "ch-meta-learning"
    res = result["results"]
    regime = (
        f"glyphs 28×28, {result['settings']['model'].split(',')[0]} 32-d embedding, "
        f"{_seeds(result)}, 600 evaluation episodes per seed; meta-learners "
        "trained on 5-way 1-shot episodes"
    )

    def seeds(method: str, setting: str) -> list[float]:
        return res[method][setting]["per_seed"]

    def claim(
        text: str,
        published: str,
        citation: str,
        a: str,
        b: str,
        settings: tuple[str, ...],
        *,
        margin: float,
        why_fail: str,
    ) -> Claim:
        verdicts = [
            difference(seeds(a, s), seeds(b, s), margin=margin) for s in settings
        ]
        v = combine(*verdicts)
        ours = "; ".join(
            f"{s}: {a} {_ci(seeds(a, s))}, {b} {_ci(seeds(b, s))} ({d})"
            for s, d in zip(settings, verdicts, strict=True)
        )
        extra = f"; competitive: at most {COMPETITIVE} below" if margin < 0 else ""
        return Claim(
            src,
            text,
            published,
            citation,
            ours,
            v,
            regime + extra,
            ""
            if v == HOLDS
            else "the seeds do not separate the two"
            if v == INCONCLUSIVE
            else why_fail,
        )

    return [
        claim(
            "Glyphs: R2D2 is competitive with ProtoNets (5-way and 20-way)",
            "competitive performance on Omniglot",
            BERTINETTO,
            "r2d2",
            "protonets",
            tuple(result["settings_list"]),
            margin=-COMPETITIVE,
            why_fail="R2D2 is more than 2 points below ProtoNets",
        ),
        claim(
            "Glyphs: Baseline++ beats Baseline on a shallow backbone (5-way)",
            "reducing intra-class variation matters for shallow backbones",
            CHEN,
            "baseline_pp",
            "baseline",
            FIVE_WAY,
            margin=0.0,
            why_fail="the linear-head baseline is better",
        ),
        claim(
            "Glyphs: Baseline++ is competitive with ProtoNets (5-way)",
            "a baseline with a distance-based classifier is competitive with "
            "meta-learning",
            CHEN,
            "baseline_pp",
            "protonets",
            FIVE_WAY,
            margin=-COMPETITIVE,
            why_fail="Baseline++ is more than 2 points below ProtoNets",
        ),
        claim(
            "Glyphs: logistic regression on a pre-trained embedding beats ProtoNets "
            "(5-way)",
            "a linear classifier on a supervised embedding outperforms "
            "meta-learning methods",
            TIAN,
            "logistic",
            "protonets",
            FIVE_WAY,
            margin=0.0,
            why_fail="ProtoNets is better at this budget",
        ),
    ]


def imaml_memory_claims(result: dict[str, Any]) -> list[Claim]:
    """iMAML's meta-gradient memory against MAML's, 1 to 50 inner steps."""
    s = result["settings"]
    steps = s["inner_steps"]
    m = result["methods"]
    regime = (
        f"sinusoid, {s['model']}, meta-batch {s['meta_batch']}, inner steps "
        f"{steps[0]} to {steps[-1]}, λ = {s['imaml']['lambda']}, "
        f"{s['imaml']['cg_steps']} CG steps; peak from torch.profiler's CPU "
        "memory timeline"
    )
    imaml = [b / m["imaml"]["peak_bytes"][0] for b in m["imaml"]["peak_bytes"]]
    maml = m["maml"]["peak_bytes"][-1] / m["maml"]["peak_bytes"][0]
    flat = max(imaml) <= 1 + FLAT
    v = verdict_of(flat and maml >= GROWS)
    return [
        Claim(
            "ch-meta-learning",
            "iMAML's meta-gradient memory does not grow with the inner steps, "
            "MAML's does",
            "memory independent of the number of inner steps (MAML: linear)",
            RAJESWARAN,
            f"peak at {steps[-1]} / at {steps[0]} steps: iMAML {imaml[-1]:.2f} "
            f"(largest {max(imaml):.2f}), MAML {maml:.1f}",
            v,
            regime + f"; flat: within {FLAT:.0%}; grows: at least {GROWS:g}×",
            ""
            if v == HOLDS
            else "iMAML's peak grows with the steps"
            if not flat
            else "MAML's peak does not grow as expected",
        )
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Claim]]] = {
    "fewshot_heads": fewshot_heads_claims,
    "imaml_memory": imaml_memory_claims,
}
SOURCE_OF = {"fewshot_heads": "ch-meta-learning", "imaml_memory": "ch-meta-learning"}
__all__ = ["BENCHMARKS", "SOURCE_OF", "fewshot_heads_claims", "imaml_memory_claims"]
