"""Smooth Tchebycheff against weighted sums on a concave Pareto front.

The two-task toy of chapter 5 (§ "Weighted sums miss concave fronts"): with
θ ∈ R², a = (1, 1)/√2, L1 = 1 − exp(−‖θ − a‖²) and L2 = 1 − exp(−‖θ + a‖²),
the Pareto set is θ = t·a, t ∈ [−1, 1], and the front is concave. Lin et al.
(2024, §3) claim that a sweep of STCH preferences can
reach every Pareto-optimal point, where a weighted sum reaches only the
convex hull of the front (here: its two ends).

Protocol: 19 preferences (w, 1 − w), w = 0.05, 0.10, ..., 0.95; for each,
Adam (learning rate 0.05, 400 steps, float64) from each of 10 starts drawn
from N(0, I) (seeds 0–9) minimises the weighted sum with weights (w, 1 − w)
and STCH with λ = (w, 1 − w), μ = 0.01, z = 0. Stored per run: the end point's
losses, t = θ·a, its distance to the Pareto set, and the preference. The
summary per start and method: how many runs end in the middle third of the
front (|t| ≤ 1/3), and the largest gap between the t values reached (sorted,
with the ends ±1 included).

Writes ``benchmarks/results/stch_concave.json``. Run from the repository root:
``.venv/bin/python benchmarks/stch_concave.py`` (``--smoke`` for a quick check).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import (
    Bench,
    add_common_arguments,
    machine,
    parse_arguments,
    pin_threads,
    write_json,
)
from torch import Tensor

from mtlbook.multitask import SmoothTchebycheff, StaticWeights

RESULT = Path(__file__).parent / "results" / "stch_concave.json"
PREFERENCES = np.round(np.arange(1, 20) / 20, 2)
SMOKE_PREFERENCES = np.array([0.25, 0.5, 0.75])
STARTS, SMOKE_STARTS = tuple(range(10)), (0,)
STEPS, SMOKE_STEPS, LR, MU = 400, 50, 0.05, 0.01
A = torch.tensor([1.0, 1.0], dtype=torch.float64) / 2**0.5
MIDDLE = 1 / 3


def losses(theta: Tensor) -> Tensor:
    """(L1, L2) of the concave toy at θ: (2,)."""
    return torch.stack(
        [
            1 - torch.exp(-((theta - A) ** 2).sum()),
            1 - torch.exp(-((theta + A) ** 2).sum()),
        ]
    )


def start(seed: int) -> Tensor:
    return torch.randn(2, generator=torch.Generator().manual_seed(seed), dtype=A.dtype)


def minimise(method: str, w: float, theta0: Tensor, steps: int) -> dict[str, Any]:
    """Adam on one scalarisation from θ0; the end point and where it lies."""
    if method == "weighted_sum":
        scalarize = StaticWeights([w, 1 - w])
    else:
        scalarize = SmoothTchebycheff([w, 1 - w], mu=MU)
    theta = theta0.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([theta], lr=LR)
    for _ in range(steps):
        optimiser.zero_grad()
        scalarize(losses(theta)).backward()
        optimiser.step()
    with torch.no_grad():
        t = float(theta @ A)
        off = float(torch.linalg.vector_norm(theta - t * A))
        return {
            "w": float(w),
            "t": round(t, 6),
            "distance_to_set": round(off, 8),
            "losses": [round(v, 6) for v in losses(theta).tolist()],
        }


def largest_gap(ts: list[float]) -> float:
    """Largest gap between reached t values in [−1, 1], ends included."""
    points = np.sort(np.clip(np.r_[-1.0, ts, 1.0], -1, 1))
    return float(np.diff(points).max())


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ts = [r["t"] for r in runs]
    return {
        "middle_third": int(sum(abs(t) <= MIDDLE for t in ts)),
        "largest_gap": round(largest_gap(ts), 6),
        "on_the_set": int(sum(r["distance_to_set"] < 1e-3 for r in runs)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    prefs = SMOKE_PREFERENCES if args.smoke else PREFERENCES
    starts = SMOKE_STARTS if args.smoke else STARTS
    steps = SMOKE_STEPS if args.smoke else STEPS
    methods = ("weighted_sum", "stch")
    begin = time.perf_counter()
    bench = Bench("stch_concave", args.out, resume=args.resume)
    bench.plan({f"{m}/{s}": len(prefs) for m in methods for s in starts})
    for key in bench.todo():
        method, seed = key.split("/")
        runs = [minimise(method, w, start(int(seed)), steps) for w in prefs]
        bench.finish(key, {"runs": runs, **summary(runs)})
    done = bench.results()
    results = {
        m: {
            "per_start": [done[f"{m}/{s}"] for s in starts],
            "middle_third": [done[f"{m}/{s}"]["middle_third"] for s in starts],
            "largest_gap": [done[f"{m}/{s}"]["largest_gap"] for s in starts],
        }
        for m in methods
    }
    write_json(
        args.out,
        {
            "smoke": args.smoke,
            "settings": {
                "toy": "L_k = 1 - exp(-|θ ∓ a|²), a = (1, 1)/√2; Pareto set θ = t·a",
                "preferences": [float(w) for w in prefs],
                "optimiser": f"Adam, lr {LR}, {steps} steps, float64",
                "stch": {"mu": MU, "ideal_point": [0.0, 0.0]},
                "starts": "θ0 ~ N(0, I) from torch.Generator().manual_seed(seed)",
                "middle_third": f"|t| <= {MIDDLE:.4f}",
            },
            "seeds": list(starts),
            "results": results,
            "wall_seconds": round(time.perf_counter() - begin, 2),
            "environment": machine(),
        },
    )
    bench.close()


if __name__ == "__main__":
    main()
