"""Claims of Garg et al. (2022) on in-context linear regression, from their results.

in_context_regression.json: a transformer meta-trained on prompts of random
linear functions, scored at every context size beside min-norm least squares
and the averaging estimator.

Registered by ``claims.py`` through ``BENCHMARKS`` and ``SOURCE_OF``. The
rules of ``claims.py`` hold here: the only numbers typed are test tolerances
(the paper states these claims in words and a figure); every verdict comes
from a test over training seeds on the measured errors (each a mean over the
same test prompts for every seed and method).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claims import HOLDS, INCONCLUSIVE, Claim, _seeds, combine, difference

GARG = "garg2022what, §3 and Fig. 2"
TRACKS = 0.05  # "matches least squares": at most 0.05 above it (zero scores 1)


def _regime(result: dict[str, Any]) -> str:
    s = result["settings"]
    return (
        f"d = {s['dim']}, prompts of {s['n_points']} pairs, no noise; "
        f"{s['transformer']}; {s['steps']:,} steps of batch {s['batch']}; "
        f"{_seeds(result)}, {s['test_prompts']:,} test prompts"
    )


def _why(verdict: str, fail: str) -> str:
    if verdict == HOLDS:
        return ""
    return "the seeds do not separate the two" if verdict == INCONCLUSIVE else fail


def in_context_regression_claims(result: dict[str, Any]) -> list[Claim]:
    """The transformer against least squares and the averaging estimator."""
    seeds = result["methods"]["transformer"]["per_seed"]
    ls = result["references"]["least_squares"]["mean"]
    avg = result["references"]["averaging"]["mean"]
    sizes = range(1, len(ls))  # context sizes with at least one pair
    gaps = [max(run[k] - ls[k] for k in sizes) for run in seeds]
    tracks = difference([TRACKS] * len(gaps), gaps)
    worst = max(sizes, key=lambda k: sum(run[k] - ls[k] for run in seeds))
    beats = combine(
        *(difference([avg[k]] * len(seeds), [run[k] for run in seeds]) for k in sizes)
    )
    regime = _regime(result)
    return [
        Claim(
            "ch-meta-learning",
            "In-context regression: the transformer's error tracks least squares "
            "at every context size",
            "performance comparable to the optimal least squares estimator",
            GARG,
            f"largest gap over context sizes 1 to {len(ls) - 1}: "
            + ", ".join(f"{g:.3f}" for g in gaps)
            + f" (per seed; largest on average at {worst} pairs)",
            tracks,
            regime + f"; tracks: at most {TRACKS} above least squares",
            _why(
                tracks,
                f"the transformer stays more than {TRACKS} above least squares "
                f"near {worst} pairs at this budget",
            ),
        ),
        Claim(
            "ch-meta-learning",
            "In-context regression: the transformer beats the averaging estimator "
            "at every context size",
            "the transformer outperforms averaging and nearest neighbours",
            GARG,
            f"at 1 pair: transformer {sum(r[1] for r in seeds) / len(seeds):.3f}, "
            f"averaging {avg[1]:.3f}; at {len(ls) - 1} pairs: transformer "
            f"{sum(r[-1] for r in seeds) / len(seeds):.3f}, averaging {avg[-1]:.3f}",
            beats,
            regime,
            _why(beats, "the averaging estimator is better at some context size"),
        ),
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Claim]]] = {
    "in_context_regression": in_context_regression_claims,
}
SOURCE_OF = {"in_context_regression": "ch-meta-learning"}
__all__ = ["BENCHMARKS", "SOURCE_OF", "in_context_regression_claims"]
