"""Cost per training step of every multi-task method, relative to equal weighting.

Writes ``benchmarks/results/mtl_cost.json``; the multi-task chapter renders it.
Run from the repository root::

    .venv/bin/python benchmarks/mtl_cost.py                  # full run
    .venv/bin/python benchmarks/mtl_cost.py --smoke --out mtl_cost_smoke.json

Protocol (the book's Protocols page, "Cost per step"): one MLP trunk (input 64, three
ReLU layers of 256 units, shared by all tasks), one linear head per task, batch
128 of synthetic regression data, MSE per task, SGD. K = 2, 10, 40 tasks. Every
method trains its own model through ``train_multitask``. A step's time is the
time between two consecutive batch draws inside the loop (so the loop's own
bookkeeping is included and nothing is added to it), measured as the CPU time
of the one torch thread (``time.thread_time``): on a shared machine the wall
time also counts the waits for a core, which have nothing to do with the
method (the wall-time medians are kept too). The methods are interleaved: each
round runs every method for ``warmup`` + ``timed`` steps, in a new shuffled
order, so a slow moment of the machine hits every method alike; the medians
are over all rounds' timed steps.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator
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
from torch import nn

from mtlbook.multitask import (
    DWA,
    FAMO,
    IMTLG,
    MGDA,
    CAGrad,
    EqualWeights,
    GradNorm,
    HardSharing,
    NashMTL,
    PCGrad,
    RandomLossWeighting,
    StaticWeights,
    UncertaintyWeighting,
    train_multitask,
)

RESULT = Path(__file__).parent / "results" / "mtl_cost.json"
INPUT, WIDTH, DEPTH, BATCH, N_BATCHES = 64, 256, 3, 128, 4
LR = 1e-3
SEED = 0

LABELS = {
    "ew": "equal weighting",
    "static": "static weights",
    "uncertainty": "uncertainty weighting",
    "gradnorm": "GradNorm",
    "dwa": "DWA",
    "rlw": "random loss weighting",
    "famo": "FAMO",
    "mgda": "MGDA",
    "mgda_ub": "MGDA-UB",
    "pcgrad": "PCGrad",
    "cagrad": "CAGrad",
    "nash": "Nash-MTL",
    "imtl_g": "IMTL-G",
}
K_BACKWARD = ("mgda", "pcgrad", "cagrad", "nash", "imtl_g")  # K full passes
CHEAP = ("mgda_ub", "famo")  # cheap: <= 1.5x equal weighting at K = 40
PUBLISHED = {
    "mgda_ub_speedup_over_mgda_at_40_tasks": {
        "value": 25,
        "source": "Sener & Koltun 2018, Table 2 (MultiMNIST/CelebA, ResNet trunk)",
    },
    "nash_mtl_seconds_per_episode": {
        "nash_mtl": 40.7,
        "nash_mtl_every_50_steps": 8.6,
        "linear_scalarization": 7.3,
        "ratio_to_linear_scalarization": round(40.7 / 7.3, 2),
        "source": "Navon et al. 2022, Table 5 (MT10)",
    },
    "famo": "O(1) in the number of tasks (Liu et al. 2023)",
}


class Run:
    """One method's model, optimiser and method object, kept across rounds."""

    def __init__(self, method: str, K: int, seed: int) -> None:
        torch.manual_seed(seed)
        layers = [
            nn.Sequential(nn.Linear(INPUT if i == 0 else WIDTH, WIDTH), nn.ReLU())
            for i in range(DEPTH)
        ]
        heads = [nn.Linear(WIDTH, 1) for _ in range(K)]
        self.model = HardSharing(layers, heads, shared_depth=DEPTH)
        self.kwargs: dict[str, Any] = {}
        extra: list[nn.Parameter] = []
        if method == "ew":
            self.kwargs["scalarizer"] = EqualWeights(K)
        elif method == "static":
            w = torch.linspace(0.5, 1.5, K, dtype=torch.float64)
            self.kwargs["scalarizer"] = StaticWeights(w * K / w.sum())
        elif method == "uncertainty":
            self.kwargs["scalarizer"] = UncertaintyWeighting(K)
            extra = list(self.kwargs["scalarizer"].parameters())
        elif method == "gradnorm":
            shared = self.model.last_shared_parameters()
            self.kwargs["scalarizer"] = GradNorm(K, shared, alpha=1.5)
        elif method == "dwa":
            self.kwargs["scalarizer"] = DWA(K)
        elif method == "rlw":
            generator = torch.Generator().manual_seed(seed)
            self.kwargs["scalarizer"] = RandomLossWeighting(K, generator)
        elif method == "famo":
            self.kwargs["scalarizer"] = FAMO(K)
        elif method == "mgda":
            self.kwargs["aggregator"] = MGDA()
        elif method == "mgda_ub":
            self.kwargs["aggregator"] = MGDA()
            self.kwargs["use_representation"] = True
        elif method == "pcgrad":
            self.kwargs["aggregator"] = PCGrad(torch.Generator().manual_seed(seed))
        elif method == "cagrad":
            self.kwargs["aggregator"] = CAGrad(c=0.5)
        elif method == "nash":
            self.kwargs["aggregator"] = NashMTL()
        elif method == "imtl_g":
            self.kwargs["aggregator"] = IMTLG()
        else:
            raise ValueError(f"unknown method {method!r}")
        params = [*self.model.parameters(), *extra]
        self.optimizer = torch.optim.SGD(params, lr=LR)
        self.loss_fns = [nn.functional.mse_loss] * K

    def steps(self, batches: list, n: int) -> tuple[list[tuple[float, float]], int]:
        """Run n steps; return n − 1 (CPU, wall) step times (s), backward passes."""
        cpu: list[float] = []
        wall: list[float] = []

        def timed() -> Iterator[Any]:
            while True:
                for batch in batches:
                    cpu.append(time.thread_time())
                    wall.append(time.perf_counter())
                    yield batch

        history = train_multitask(
            self.model,
            timed(),
            self.loss_fns,
            steps=n,
            optimizer=self.optimizer,
            **self.kwargs,
        )
        steps = list(zip(np.diff(cpu), np.diff(wall), strict=True))
        return steps, int(history.backward_passes[-1])


def make_batches(K: int, rng: np.random.Generator) -> list:
    """N_BATCHES batches (x: (BATCH, INPUT), K targets (BATCH, 1)) of a random net."""
    mixing = rng.normal(size=(INPUT, K)) / np.sqrt(INPUT)
    batches = []
    for _ in range(N_BATCHES):
        x = rng.normal(size=(BATCH, INPUT))
        y = np.tanh(x @ mixing) + 0.1 * rng.normal(size=(BATCH, K))
        targets = [torch.tensor(y[:, [k]], dtype=torch.float32) for k in range(K)]
        batches.append((torch.tensor(x, dtype=torch.float32), targets))
    return batches


def measure_K(
    K: int, batches: list, orders: list, warmup: int, timed: int, bench: Bench
) -> dict[str, Any]:
    """Every method at one K, in rounds of the given orders: step times, passes."""
    runs = {m: Run(m, K, SEED) for m in LABELS}
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in LABELS}
    passes: dict[str, int] = {}
    for order in orders:
        for m in order:
            # warmup + timed + 1 steps: the timed ones end at a batch draw
            step_times, passes[m] = runs[m].steps(batches, warmup + timed + 1)
            times[m].extend(step_times[warmup:])
            bench.step(warmup + timed + 1)
    return {
        m: {
            "cpu": float(np.median([c for c, _ in times[m]])),
            "wall": float(np.median([w for _, w in times[m]])),
            "passes": passes[m],
        }
        for m in LABELS
    }


def measure(
    Ks: list[int], rounds: int, warmup: int, timed: int, bench: Bench
) -> dict[str, dict[str, list]]:
    """Median seconds per step and backward passes, per method and K.

    One run of the benchmark is one K. Its data and round orders are drawn up
    front, in the order the draws were always made, so a resumed invocation
    measures the remaining Ks on the same batches in the same orders.
    """
    rng = np.random.default_rng(SEED)
    schedule = {}
    for K in Ks:
        batches = make_batches(K, rng)
        orders = [list(rng.permutation(list(LABELS))) for _ in range(rounds)]
        schedule[f"K={K}"] = (K, batches, orders)
    per_round = len(LABELS) * (warmup + timed + 1)
    bench.plan(dict.fromkeys(schedule, rounds * per_round))
    for key in bench.todo():
        K, batches, orders = schedule[key]
        bench.finish(key, measure_K(K, batches, orders, warmup, timed, bench))
    done = bench.results()
    out: dict[str, dict[str, list]] = {}
    for m in LABELS:
        at = [done[key][m] for key in schedule]
        out[m] = {
            "label": LABELS[m],
            "seconds_per_step_median": [r["cpu"] for r in at],
            "wall_seconds_per_step_median": [r["wall"] for r in at],
            "backward_passes": [r["passes"] for r in at],
        }
    for m in LABELS:
        ew = out["ew"]["seconds_per_step_median"]
        out[m]["ratio_to_ew"] = [
            s / e for s, e in zip(out[m]["seconds_per_step_median"], ew, strict=True)
        ]
    return out


def claims(methods: dict[str, dict[str, list]], Ks: list[int]) -> dict[str, Any]:
    """Each issue claim: measured value, target, pass."""
    result: dict[str, Any] = {}
    for m in K_BACKWARD:
        ratios = methods[m]["ratio_to_ew"]
        result[f"{m}_cost_grows_with_K"] = {
            "measured": {"K": Ks, "ratio_to_ew": ratios},
            "target": "ratio to EW strictly increasing in K",
            "pass": bool(all(b > a for a, b in itertools.pairwise(ratios))),
        }
    last = Ks.index(max(Ks))
    for m in CHEAP:
        ratio = methods[m]["ratio_to_ew"][last]
        result[f"{m}_at_most_1.5x_ew_at_K{max(Ks)}"] = {
            "measured": ratio,
            "target": "<= 1.5",
            "pass": bool(ratio <= 1.5),
        }
    mgda = methods["mgda"]["seconds_per_step_median"][last]
    ub = methods["mgda_ub"]["seconds_per_step_median"][last]
    result[f"mgda_ub_faster_than_mgda_at_K{max(Ks)}"] = {
        "measured": mgda / ub,
        "target": "> 1 (published about 25x, with a conv trunk)",
        "pass": bool(mgda / ub > 1),
    }
    return result


def rounded(node: Any, digits: int = 4) -> Any:
    """Floats rounded to ``digits`` significant digits, recursively."""
    if isinstance(node, float):
        return float(f"{node:.{digits}g}")
    if isinstance(node, dict):
        return {k: rounded(v, digits) for k, v in node.items()}
    if isinstance(node, list):
        return [rounded(v, digits) for v in node]
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    Ks = [2, 10, 40]
    rounds, warmup, timed = (1, 1, 1) if args.smoke else (10, 1, 3)
    t0 = time.perf_counter()
    bench = Bench("mtl_cost", args.out, resume=args.resume)
    methods = measure(Ks, rounds, warmup, timed, bench)
    result = {
        "smoke": args.smoke,
        "settings": {
            "trunk": f"MLP {INPUT} -> {DEPTH} x {WIDTH} ReLU, shared by all tasks",
            "heads": f"Linear({WIDTH}, 1) per task",
            "batch": BATCH,
            "data": "synthetic regression, y_k = tanh(x . m_k) + 0.1 noise",
            "loss": "MSE per task",
            "optimizer": f"SGD lr {LR}",
            "rounds": rounds,
            "warmup_steps_per_round": warmup,
            "timed_steps_per_round": timed,
            "timed_steps_per_method_and_K": rounds * timed,
            "statistic": "median CPU seconds of the torch thread per step; "
            "ratio = median / EW's median",
            "note": (
                "MGDA-UB: HardSharing gives every task its own view of the "
                "representation z, so one backward call of the summed losses, "
                "stopping at the views, yields all K gradients dL_k/dz; then one "
                "ordinary backward pass of the weighted loss (2 backward calls "
                "per step). Before that change each dL_k/dz was its own call on "
                "the stacked losses, which ran every head's backward each time "
                "(O(K^2)) and cost 6.9x equal weighting at K = 40."
            ),
            "seed": SEED,
            "k_backward_methods": list(K_BACKWARD),
            "published_reference": PUBLISHED,
        },
        "K": Ks,
        "methods": methods,
        "claims": claims(methods, Ks),
        "wall_time_s": time.perf_counter() - t0,
        "machine": machine(
            note="2 cores shared with other jobs; ratios are more stable than seconds"
        ),
    }
    write_json(args.out, rounded(result))
    bench.close()


if __name__ == "__main__":
    main()
