"""Claims of the PyTorch DDP paper, judged on distributed_scaling.json.

Registered by ``claims.py`` through ``BENCHMARKS`` and ``SOURCE_OF``. The
rules of ``claims.py`` hold here: the only numbers typed are published
numbers (with their citation) and test tolerances; every verdict comes from a
test on the measured numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claims import HOLDS, INCONCLUSIVE, Claim, verdict_of, within_ci

LI = "li2020pytorch"
ROUNDING = 1e-12  # float64: the reduced gradient equals the mean up to rounding
LINEAR = 0.1  # "near-linear": two ranks within 10 % of half the time


def distributed_scaling_claims(result: dict[str, Any]) -> list[Claim]:
    """DDP's gradient equals the whole batch's; its scaling (outside the regime)."""
    trap = result["ddp_trap"]
    setup = result["setup"]
    regime = (
        f"{setup['finetune']}, {setup['backend']} on {result['machine']['cores']} "
        f"CPU cores, {setup['rounds']} rounds"
    )
    same = verdict_of(trap["synced_vs_mean"] <= ROUNDING)
    t = result["timing"]["finetune"]
    # the paper's regime: large models on GPUs with a fast interconnect
    outside = setup["backend"] == "gloo"
    linear = within_ci(t["mean_ratio"], t["ci95_ratio"], 0.5, rel=LINEAR)
    return [
        Claim(
            "ch-transfer",
            "DDP's loss.backward() gives every rank the gradient of the whole "
            "batch, as training on one process would",
            "mathematical equivalence with local training",
            LI,
            f"relative distance to the mean of the ranks' gradients "
            f"{trap['synced_vs_mean']:.1e} (two ranks, float64)",
            same,
            regime,
            "" if same == HOLDS else "the reduced gradient differs beyond rounding",
        ),
        Claim(
            "ch-transfer",
            "DDP scales near-linearly with the number of workers",
            "near-linear scalability on 256 GPUs",
            f"{LI}, abstract",
            f"two-rank / one-rank step time {t['mean_ratio']:.2f} ± "
            f"{t['ci95_ratio']:.2f} (0.5 is linear)",
            INCONCLUSIVE if outside else linear,
            regime,
            "outside the regime of the claim: a network of "
            f"{result['params']['finetune']:,} parameters, a step of "
            f"{1e3 * t['mean_s_world1']:.2f} ms on one rank, gloo on a shared CPU; "
            "the paper scales large models on GPUs"
            if outside
            else ("" if linear == HOLDS else "slower than near-linear"),
        ),
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Claim]]] = {
    "distributed_scaling": distributed_scaling_claims,
}
SOURCE_OF = {"distributed_scaling": "ch-transfer"}
__all__ = ["BENCHMARKS", "SOURCE_OF", "distributed_scaling_claims"]
