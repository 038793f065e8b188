"""One aggregation call, mtlbook against torchjd, on the same gradient matrix.

Writes ``benchmarks/results/aggregator_speed.json``. Run from the repository
root, after installing the peer (``benchmarks/requirements.txt``)::

    .venv/bin/pip install --no-deps -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/aggregator_speed.py
    .venv/bin/python benchmarks/aggregator_speed.py --smoke --out agg_smoke.json

Protocol: K = 10 task gradients of P = 100,000 parameters (float32, rows drawn
from a standard normal, one in three scaled by 10 so the norms differ), one
torch thread. For every aggregator both libraries have (Mean, MGDA, PCGrad,
CAGrad with c = 0.5, Nash-MTL, IMTL-G), one call maps G: (K, P) to d: (P,).
Each round calls every (library, method) pair once, in a new shuffled order, so
a slow moment of the machine hits every pair alike; the statistic is the median
CPU time of the thread (``time.thread_time``) over the rounds, and the ratio is
mtlbook's median over torchjd's. The two libraries' updates are compared too:
the cosine between them (they differ by design where a method has a scale or
random choice of its own, noted per method).
"""

from __future__ import annotations

import argparse
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch
from harness import (
    Bench,
    add_common_arguments,
    parse_arguments,
    pin_threads,
    write_json,
)

import mtlbook.multitask as ours

try:
    import torchjd.aggregation as peer
except ImportError:  # main() says so; --smoke runs with a stand-in
    peer = None
NO_PEER = (
    "torchjd is not installed: .venv/bin/pip install --no-deps "
    "-r benchmarks/requirements.txt"
)

RESULT = Path(__file__).parent / "results" / "aggregator_speed.json"
SEED = 0

NOTES = {
    "mean": "the same update",
    "mgda": "the min-norm point of the hull; mtlbook's is checked against an exact "
    "solver in tests/, so the cosine shows how close torchjd's iterations get",
    "pcgrad": "random projection orders: each library draws its own",
    "cagrad": "torchjd divides d by 1 + c^2 (the authors' code); mtlbook does not",
    "nash": "the same direction; the scales of d differ (see the Nash-MTL docstring)",
    "imtl_g": "the same update",
}


def ours_only() -> dict[str, object]:
    """mtlbook's aggregators, the stand-in peer of a --smoke run without torchjd."""
    return {
        "mean": ours.Mean(),
        "mgda": ours.MGDA(),
        "pcgrad": ours.PCGrad(torch.Generator().manual_seed(SEED)),
        "cagrad": ours.CAGrad(c=0.5),
        "nash": ours.NashMTL(),
        "imtl_g": ours.IMTLG(),
    }


def pairs(K: int) -> dict[str, tuple[object, object]]:
    """(mtlbook aggregator, torchjd aggregator) per method."""
    if peer is None:  # --smoke only: mtlbook against itself
        mine, stand_in = ours_only(), ours_only()
        return {m: (mine[m], stand_in[m]) for m in mine}
    return {
        "mean": (ours.Mean(), peer.Mean()),
        "mgda": (ours.MGDA(), peer.MGDA()),
        "pcgrad": (ours.PCGrad(torch.Generator().manual_seed(SEED)), peer.PCGrad()),
        "cagrad": (ours.CAGrad(c=0.5), peer.CAGrad(c=0.5)),
        "nash": (ours.NashMTL(), peer.NashMTL(n_tasks=K)),
        "imtl_g": (ours.IMTLG(), peer.IMTLG()),
    }


def gradient_matrix(K: int, P: int) -> torch.Tensor:
    """G: (K, P) float32, standard normal rows, every third row scaled by 10."""
    g = torch.Generator().manual_seed(SEED)
    G = torch.randn(K, P, generator=g)
    G[::3] *= 10.0
    return G


def cpu_seconds(aggregate, G: torch.Tensor) -> float:
    start = time.thread_time()
    aggregate(G)
    return time.thread_time() - start


def measure(G: torch.Tensor, rounds: int, warmup: int, bench: Bench) -> dict[str, dict]:
    """Median CPU seconds per call of every (method, library), interleaved.

    One run of the benchmark is one round. A round finished by an interrupted
    invocation is replayed untimed, so that the aggregators' random state (and
    the updates compared at the end) are those of a run never stopped.
    """
    aggregators = pairs(G.shape[0])
    jobs = [(m, lib) for m in aggregators for lib in (0, 1)]
    plan = {f"round {r}": len(jobs) for r in range(warmup + rounds)}
    bench.plan(plan)
    todo = set(bench.todo())
    order = random.Random(SEED)
    for key in plan:
        order.shuffle(jobs)
        if key not in todo:
            for method, lib in jobs:
                aggregators[method][lib](G)
            continue
        seconds = {f"{m}/{lib}": cpu_seconds(aggregators[m][lib], G) for m, lib in jobs}
        bench.finish(key, seconds)
    timed = list(bench.results().values())[warmup:]
    times = {job: [t[f"{job[0]}/{job[1]}"] for t in timed] for job in jobs}
    result = {}
    for method, (mine, theirs) in aggregators.items():
        ours_s = float(np.median(times[(method, 0)]))
        peer_s = float(np.median(times[(method, 1)]))
        d_ours, d_peer = mine(G).double(), theirs(G).double()
        cosine = float(d_ours @ d_peer / (d_ours.norm() * d_peer.norm()))
        result[method] = {
            "mtlbook_ms": 1000 * ours_s,
            "torchjd_ms": 1000 * peer_s,
            "ratio": ours_s / peer_s,
            "cosine_between_updates": cosine,
            "note": NOTES[method],
        }
    return result


def claims(methods: dict[str, dict]) -> dict[str, dict]:
    """mtlbook's call takes at most torchjd's time, method by method."""
    return {
        f"{m}_at_most_1x_torchjd": {
            "measured": v["ratio"],
            "target": "<= 1.0 (median CPU time, mtlbook / torchjd)",
            "pass": bool(v["ratio"] <= 1.0),
        }
        for m, v in methods.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    if peer is None and not args.smoke:
        raise SystemExit(NO_PEER)
    if peer is None:
        print(f"{NO_PEER}\n--smoke: timing mtlbook against itself instead")
    pin_threads(1)
    K, P = 10, 1_000 if args.smoke else 100_000
    rounds, warmup = (3, 1) if args.smoke else (100, 5)
    t0 = time.perf_counter()
    bench = Bench("aggregator_speed", args.out, resume=args.resume)
    methods = measure(gradient_matrix(K, P), rounds, warmup, bench)
    result = {
        "smoke": args.smoke,
        "settings": {
            "K": K,
            "P": P,
            "dtype": "float32",
            "gradients": "standard normal rows, every third row scaled by 10",
            "rounds": rounds,
            "warmup_rounds": warmup,
            "statistic": "median CPU seconds of the one torch thread per call; "
            "ratio = mtlbook / torchjd",
            "seed": SEED,
        },
        "methods": methods,
        "claims": claims(methods),
        "wall_time_s": time.perf_counter() - t0,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchjd": _version("torchjd") if peer is not None else None,
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
        },
    }
    write_json(args.out, result)
    bench.close()
    for m, v in methods.items():
        print(
            f"{m:>8}: mtlbook {v['mtlbook_ms']:7.3f} ms, torchjd {v['torchjd_ms']:7.3f}"
            f" ms, ratio {v['ratio']:.2f}, cosine {v['cosine_between_updates']:.6f}"
        )


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
