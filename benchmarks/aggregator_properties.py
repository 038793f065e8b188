"""The property table of every aggregator, measured (Quinton & Rey 2024, Table 1).

Quinton & Rey list, for each aggregator, whether it is non-conflicting (g_i·d ≥ 0
for every task), linear under scaling (d of diag(c) G is linear in c > 0) and
weighted (d in the span of the gradients), and prove each entry. This benchmark
looks for counterexamples with :func:`mtlbook.multitask.aggregator_properties`
on random gradient matrices (K from 2 to 6, P from 2 to 8, row norms 1e-2..1e2),
the same matrices for every aggregator, and records per seed the fraction of
matrices that violate each property and the worst violation. It also measures
two facts of the paper's Section 4 and of torchjd, the authors' library:
PCGrad = 2 × UPGrad for two tasks, and how far mtlbook's UPGrad, DualProj and
Aligned-MTL are from torchjd's on the same matrices (torchjd regularises the
Gramian by 1e-4 for UPGrad and DualProj, so it is not an exact reference).
Writes ``benchmarks/results/aggregator_properties.json``::

    .venv/bin/python benchmarks/aggregator_properties.py
    .venv/bin/python benchmarks/aggregator_properties.py --smoke --out smoke.json

torchjd is optional (``pip install --no-deps -r benchmarks/requirements.txt``);
without it the comparison is recorded as null.
"""

from __future__ import annotations

import argparse
import json
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

from mtlbook.multitask import (
    IMTLG,
    MGDA,
    PROPERTIES,
    AlignedMTL,
    CAGrad,
    DualProj,
    Mean,
    NashMTL,
    PCGrad,
    UPGrad,
    aggregator_properties,
)
from mtlbook.multitask.diagnostics import PROPERTY_TOLERANCE

RESULT = Path(__file__).parent / "results" / "aggregator_properties.json"
SEEDS = tuple(range(5))
TRIALS = 200  # random matrices per seed and aggregator
SMOKE_SEEDS, SMOKE_TRIALS = (0, 1), 3
PAIRS = 500  # random two-task matrices for PCGrad = 2 × UPGrad
PEER_TRIALS = 200  # random matrices for the comparison with torchjd


def aggregators() -> dict[str, Any]:
    return {
        "Mean": Mean(),
        "MGDA": MGDA(),
        "PCGrad": PCGrad(torch.Generator().manual_seed(0)),
        "CAGrad": CAGrad(c=0.5),
        "Nash-MTL": NashMTL(),
        "IMTL-G": IMTLG(),
        "DualProj": DualProj(),
        "UPGrad": UPGrad(),
        "Aligned-MTL": AlignedMTL(),
    }


def measure(name: str, seed: int, trials: int) -> dict[str, Any]:
    """One aggregator, one seed: per property, violating fraction and worst."""
    aggregator = aggregators()[name]
    rng = np.random.default_rng(seed)  # the same matrices for every aggregator
    per_trial = [aggregator_properties(aggregator, 1, rng) for _ in range(trials)]
    return {
        "aggregator": name,
        "seed": seed,
        "trials": trials,
        "violating_fraction": {
            p: float(np.mean([t[p] > PROPERTY_TOLERANCE for t in per_trial]))
            for p in PROPERTIES
        },
        "worst": {p: float(max(t[p] for t in per_trial)) for p in PROPERTIES},
    }


def pcgrad_twice_upgrad(n: int) -> dict[str, float]:
    """Largest ‖PCGrad − 2 UPGrad‖ / ‖2 UPGrad‖ over n random two-task matrices."""
    rng = np.random.default_rng(12345)
    errors, conflicting = [], 0
    for _ in range(n):
        P = int(rng.integers(2, 9))
        G = torch.from_numpy(
            rng.normal(size=(2, P)) * 10.0 ** rng.uniform(-2, 2, (2, 1))
        )
        conflicting += int(float(G[0] @ G[1]) < 0)
        twice = 2 * UPGrad()(G)
        pc = PCGrad(torch.Generator().manual_seed(0))(G)
        floor = 1e-12 * float(G.norm(dim=1).max())
        errors.append(float((pc - twice).norm()) / max(float(twice.norm()), floor))
    return {"matrices": n, "conflicting": conflicting, "max_relative_gap": max(errors)}


def against_torchjd(n: int) -> dict[str, Any] | None:
    """Relative distance of mtlbook's update to torchjd's, and torchjd's conflicts."""
    try:
        import torchjd.aggregation as peer
    except ImportError:
        return None
    pairs = {
        "UPGrad": (UPGrad(), peer.UPGrad()),
        "DualProj": (DualProj(), peer.DualProj()),
        "Aligned-MTL": (AlignedMTL(), peer.AlignedMTL()),
    }
    rng = np.random.default_rng(54321)
    out: dict[str, Any] = {}
    matrices = []
    for _ in range(n):
        K, P = int(rng.integers(2, 7)), int(rng.integers(2, 9))
        scales = 10.0 ** rng.uniform(-2, 2, size=(K, 1))
        matrices.append(torch.from_numpy(rng.normal(size=(K, P)) * scales))
    for name, (ours, theirs) in pairs.items():
        gaps, conflicts = [], {"mtlbook": 0.0, "torchjd": 0.0}
        for G in matrices:
            d, e = ours(G), theirs(G)
            scale = float(G.norm(dim=1).sum())
            size = max(float(e.norm()), 1e-8 * scale)
            gaps.append(float((d - e).norm()) / size)
            lengths = G.norm(dim=1)
            for who, x in (("mtlbook", d), ("torchjd", e)):
                worst = -float((G @ x / (lengths * scale)).min())
                conflicts[who] = max(conflicts[who], worst)
        out[name] = {
            "median_relative_gap": float(np.median(gaps)),
            "max_relative_gap": float(np.max(gaps)),
            "worst_conflict": conflicts,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    seeds = SMOKE_SEEDS if args.smoke else SEEDS
    trials = SMOKE_TRIALS if args.smoke else TRIALS
    start = time.perf_counter()
    bench = Bench("aggregator_properties", args.out, resume=args.resume)
    bench.plan({f"{name}/{seed}": trials for name in aggregators() for seed in seeds})
    for key in bench.todo():
        name, seed = key.split("/")
        bench.finish(key, measure(name, int(seed), trials))
    rows = list(bench.results().values())
    summary: dict[str, dict[str, Any]] = {}
    for name in aggregators():
        mine = [r for r in rows if r["aggregator"] == name]
        summary[name] = {
            p: {
                "holds": all(r["worst"][p] <= PROPERTY_TOLERANCE for r in mine),
                "worst": max(r["worst"][p] for r in mine),
                "violating_fraction_per_seed": [
                    r["violating_fraction"][p] for r in mine
                ],
            }
            for p in PROPERTIES
        }
    result = {
        "source": "Quinton & Rey (2024), Jacobian descent for multi-objective "
        "optimization, Table 1 and Section 4",
        "smoke": args.smoke,
        "settings": {
            "matrices": "K in [2, 6], P in [2, 8], rows N(0, I) times 10^U(-2, 2); "
            "c in 10^U(-1, 1) for linearity; |G| for 'mean if no conflict'",
            "properties": list(PROPERTIES),
            "tolerance": PROPERTY_TOLERANCE,
            "trials_per_seed": trials,
            "seeds": list(seeds),
            "cagrad_c": 0.5,
        },
        "rows": rows,
        "summary": summary,
        "pcgrad_twice_upgrad": pcgrad_twice_upgrad(20 if args.smoke else PAIRS),
        "torchjd": against_torchjd(5 if args.smoke else PEER_TRIALS),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "machine": machine(torchjd=_version("torchjd")),
    }
    write_json(args.out, result)
    bench.close()
    table = {
        name: "".join("✓" if v[p]["holds"] else "✗" for p in PROPERTIES)
        for name, v in summary.items()
    }
    print(json.dumps({"table": table, "torchjd": result["torchjd"]}, indent=2))


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
