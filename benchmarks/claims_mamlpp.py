"""Claims of MAML++ (Antoniou et al. 2019), from mamlpp_ablation.json.

Two claims, both stated in words by the paper (no published number is typed
here): the multi-step loss and learned per-step rates raise MAML's accuracy,
and they make training stable where plain MAML's fails.

Registered by ``claims.py`` through ``BENCHMARKS`` and ``SOURCE_OF``. The rules
of ``claims.py`` hold: accuracy claims are paired tests over seeds (each seed's
mean over the same fixed evaluation episodes); the stability claim compares
counts of failed runs (diverged: NaN/inf or a meta-loss above 10× its first;
collapsed: the last epoch's loss at a uniform guess, ln 5), which the
benchmark measured per run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claims import FAILS, HOLDS, INCONCLUSIVE, Claim, _ci, _seeds, difference

ANTONIOU = "antoniou2019train, §3–4"
SRC = "ch-meta-learning"


def _runs(result: dict[str, Any], variant: str, regime: str) -> dict[int, dict]:
    return {
        r["seed"]: r
        for r in result["runs"]
        if r["variant"] == variant and r["regime"] == regime
    }


def _paired(result: dict[str, Any], a: str, b: str, regime: str) -> tuple[list, list]:
    """Test accuracies of a and b on the seeds where both could be scored."""
    ra, rb = _runs(result, a, regime), _runs(result, b, regime)
    seeds = sorted(
        s
        for s in ra.keys() & rb.keys()
        if ra[s]["test_acc"] is not None and rb[s]["test_acc"] is not None
    )
    return [ra[s]["test_acc"] for s in seeds], [rb[s]["test_acc"] for s in seeds]


def _failed(run: dict[str, Any]) -> bool:
    return bool(run["diverged"] or run["collapsed"])


def _regime_text(result: dict[str, Any], regime: str) -> str:
    s = result["settings"]
    r = s["regimes"][regime]
    return (
        f"glyphs 5-way 1-shot, {s['model'].split(',')[0]}, {s['inner_steps']} "
        f"second-order inner steps, outer lr {r['outer_lr']:g}, inner lr "
        f"{r['inner_lr']:g}, {s['iterations']} outer steps, {_seeds(result)}, "
        f"{s['n_test']} test episodes per seed"
    )


def accuracy_claim(result: dict[str, Any], variant: str, text: str) -> Claim:
    """variant beats plain MAML at the standard rates: paired CI over seeds."""
    a, b = _paired(result, variant, "maml", "standard")
    v = difference(a, b) if len(a) >= 2 else INCONCLUSIVE
    gap = [x - y for x, y in zip(a, b, strict=True)]
    ours = (
        f"{variant} {_ci(a)}, MAML {_ci(b)}; paired gap {_ci(gap)}"
        if len(a) >= 2
        else f"only {len(a)} seed(s) scored for both"
    )
    return Claim(
        SRC,
        text,
        "MSL and LSLR each improve MAML's generalisation (ablation, Omniglot "
        "and Mini-ImageNet)",
        ANTONIOU,
        ours,
        v,
        _regime_text(result, "standard"),
        ""
        if v == HOLDS
        else "the seeds do not separate the two"
        if v == INCONCLUSIVE
        else "plain MAML is more accurate at this budget",
    )


def stability_claim(result: dict[str, Any]) -> Claim:
    """MAML++ (MSL + LSLR) fails on fewer seeds than MAML at the fragile rates.

    Holds: MAML fails on at least one seed and MSL + LSLR on none. Does not
    hold: MSL + LSLR fails at least as often. Inconclusive: MAML never fails
    (the regime does not test the claim) or both fail, MAML++ less often.
    """
    maml = _runs(result, "maml", "fragile")
    pp = _runs(result, "msl_lslr", "fragile")
    msl = _runs(result, "msl", "fragile")
    n_maml = sum(_failed(r) for r in maml.values())
    n_pp = sum(_failed(r) for r in pp.values())
    n_msl = sum(_failed(r) for r in msl.values())

    def detail(runs: dict[int, dict]) -> str:
        d = sum(r["diverged"] for r in runs.values())
        c = sum(r["collapsed"] and not r["diverged"] for r in runs.values())
        return f"{d} diverged, {c} collapsed"

    if n_maml == 0:
        v, why = INCONCLUSIVE, "plain MAML did not fail here: the regime is not fragile"
    elif n_pp >= n_maml:
        v, why = FAILS, "MSL + LSLR failed on as many seeds as MAML"
    elif n_pp == 0:
        v, why = HOLDS, ""
    else:
        v, why = INCONCLUSIVE, "MSL + LSLR failed less often than MAML, but failed"
    ours = (
        f"failed runs of {len(maml)}: MAML {n_maml} ({detail(maml)}), MSL {n_msl} "
        f"({detail(msl)}), MSL + LSLR {n_pp} ({detail(pp)})"
    )
    return Claim(
        SRC,
        "MAML++'s multi-step loss and per-step rates train stably where MAML fails "
        "(5 inner steps, high rates)",
        "MAML's training is unstable (gradient explosion or collapse, by seed and "
        "architecture); MSL and LSLR stabilise it",
        ANTONIOU,
        ours,
        v,
        _regime_text(result, "fragile")
        + f"; failed: diverged (NaN/inf or > {result['settings']['diverge_factor']:g}"
        "× first loss) or collapsed (last epoch's loss at ln 5)",
        why,
    )


def mamlpp_ablation_claims(result: dict[str, Any]) -> list[Claim]:
    """The accuracy and stability claims of MAML++'s ablation."""
    return [
        accuracy_claim(
            result, "msl", "Glyphs: the multi-step loss improves MAML's accuracy"
        ),
        accuracy_claim(
            result,
            "msl_lslr",
            "Glyphs: the multi-step loss plus per-step learned rates (LSLR) improve "
            "MAML's accuracy",
        ),
        stability_claim(result),
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Claim]]] = {
    "mamlpp_ablation": mamlpp_ablation_claims,
}
SOURCE_OF = {"mamlpp_ablation": SRC}
__all__ = ["BENCHMARKS", "SOURCE_OF", "mamlpp_ablation_claims"]
