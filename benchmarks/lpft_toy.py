"""LP-FT on the two-layer linear toy (Kumar et al. 2022): the published claim, measured.

Writes ``benchmarks/results/lpft_toy.json``; the transfer chapter renders it.
Run from the repository root::

    .venv/bin/python benchmarks/lpft_toy.py                       # full protocol
    .venv/bin/python benchmarks/lpft_toy.py --smoke --out lpft_toy_smoke.json

Protocol (the book's Protocols page): x in R^50, B* (5, 50) with orthonormal rows,
y = v*ᵀB*x, B0 = B* + 0.02·N(0, 1), ID inputs in a random 10-d subspace, OOD
inputs isotropic. Per seed one toy and n_train = 100 noise-free ID examples;
LP is the least-squares head on B0 x; FT and LP-FT are full-batch gradient
descent on (B, v) (lr 0.01, 2000 steps: the ID error is converged), FT from
a zero head, LP-FT from the LP head. Relative error = MSE / mean y² on 5000
fresh ID and OOD examples. Medians and quartiles over 10 seeds. Variants
change one choice at a time (head init, steps) to show which ones matter.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import (
    Bench,
    add_common_arguments,
    machine,
    parse_arguments,
    pin_threads,
    write_json,
)

from mtlbook.data.transfer_toys import make_linear_toy
from mtlbook.transfer.lpft_toy import METHODS, run_lpft_toy

RESULT = Path("benchmarks/results/lpft_toy.json")
PUBLISHED = {"lp": [0.007, 0.034], "ft": [0.000, 0.443], "lpft": [0.000, 0.032]}
NEAR_ZERO_ID = 0.01  # "near zero" in-distribution: relative error below 1%
MAIN = {"head_std": 0.0, "steps": 2000}
VARIANTS = {
    "main: zero head, 2000 steps": MAIN,
    "random head N(0, 1)": {"head_std": 1.0, "steps": 2000},
    "small random head N(0, 0.1^2)": {"head_std": 0.1, "steps": 2000},
    "zero head, 200 steps (not converged)": {"head_std": 0.0, "steps": 200},
}


def run_seed(
    seed: int,
    *,
    n_train: int,
    lr: float,
    n_test: int,
    head_std: float,
    steps: int,
) -> list[dict[str, Any]]:
    """One row per method on the toy of ``seed``: relative ID and OOD test errors."""
    toy = make_linear_toy(rng=np.random.default_rng([seed, 0]))
    rows = []
    for method in METHODS:
        result = run_lpft_toy(
            toy,
            n_train=n_train,
            method=method,  # type: ignore[arg-type]
            steps=steps,
            lr=lr,
            head_std=head_std,
            n_test=n_test,
            # the same training and test data for every method of a seed
            rng=np.random.default_rng([seed, 1]),
        )
        rows.append(
            {
                "seed": seed,
                "method": method,
                "id_rel_error": round(result["id_rel_error"], 6),
                "ood_rel_error": round(result["ood_rel_error"], 6),
            }
        )
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median and quartiles of each error per method."""
    out = {}
    for method in METHODS:
        stats = {}
        for key in ("id_rel_error", "ood_rel_error"):
            values = [r[key] for r in rows if r["method"] == method]
            q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
            stats[key] = {
                "median": round(median, 6),
                "q1": round(q1, 6),
                "q3": round(q3, 6),
            }
        out[method] = stats
    return out


def claims(summary: dict[str, Any]) -> dict[str, Any]:
    ft_ood = summary["ft"]["ood_rel_error"]["median"]
    lpft_ood = summary["lpft"]["ood_rel_error"]["median"]
    ratio = ft_ood / max(lpft_ood, 1e-12)
    out = {
        "median OOD relative error: FT / LP-FT >= 5": {
            "measured": round(ratio, 2),
            "target": 5.0,
            "pass": bool(ratio >= 5.0),
        }
    }
    for method in ("ft", "lpft"):
        value = summary[method]["id_rel_error"]["median"]
        out[f"median ID relative error of {method} near zero (< {NEAR_ZERO_ID})"] = {
            "measured": value,
            "target": NEAR_ZERO_ID,
            "pass": bool(value < NEAR_ZERO_ID),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    start = time.perf_counter()
    seeds = list(range(3 if args.smoke else 10))
    common = {"n_train": 100, "lr": 0.01, "n_test": 1000 if args.smoke else 5000}
    variants = {"main: zero head, 2000 steps": MAIN} if args.smoke else VARIANTS
    bench = Bench("lpft_toy", args.out, resume=args.resume)
    # LP is closed-form; FT and LP-FT take the gradient steps
    runs = {
        f"{name}/{seed}": 2 * v["steps"]
        for name, v in variants.items()
        for seed in seeds
    }
    bench.plan(runs)
    for key in bench.todo():
        name, seed = key.rsplit("/", 1)
        bench.finish(key, run_seed(int(seed), **common, **variants[name]))
    done = bench.results()
    results = {}
    for name, choice in variants.items():
        rows = [r for seed in seeds for r in done[f"{name}/{seed}"]]
        results[name] = {"settings": choice, "summary": summarize(rows), "rows": rows}
    main_summary = results["main: zero head, 2000 steps"]["summary"]
    result = {
        "smoke": args.smoke,
        "settings": {
            **common,
            **MAIN,
            "d": 50,
            "k": 5,
            "id_dim": 10,
            "init_noise": 0.02,
            "seeds": seeds,
            "toy_rng": "np.random.default_rng([seed, 0])",
            "data_rng": "np.random.default_rng([seed, 1]) (same data for all methods)",
            "lp": "closed-form least squares on B0 x",
            "ft": "full-batch GD on mean (vᵀBx - y)²/2 from B0 and a zero head",
            "lpft": "the same GD from B0 and the LP head",
            "near_zero_id_threshold": NEAR_ZERO_ID,
        },
        "published": {"source": "Kumar et al. 2022", "id_ood": PUBLISHED},
        "summary": main_summary,
        "claims": claims(main_summary),
        "variants": results,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
