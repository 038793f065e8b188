"""Reptile's inner learning rate and step count, chosen on validation tasks.

Writes ``benchmarks/results/reptile_probe.json``. ``sinusoid_methods.py``
trains Reptile with ``REPTILE_LR`` and ``REPTILE_STEPS`` from ``protocols.py``;
this probe is how those were chosen, on tasks that no score in the book uses.
Run from the repository root::

    .venv/bin/python benchmarks/reptile_probe.py
    .venv/bin/python benchmarks/reptile_probe.py --smoke

Protocol: for each (inner lr, steps) in ``GRID``, Reptile is trained for
``ITERATIONS`` meta-iterations exactly as in ``sinusoid_methods.py`` (same
model, seeds and meta-batches), then scored by the mean 5-shot MSE after 10
SGD steps at α = 0.01 on 200 tasks drawn with the validation seed, which
differs from the test seed of the 600 tasks every table reports. The setting
with the lowest score is the choice; the JSON records whether it is the one
``protocols.py`` uses.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harness import (
    Bench,
    add_common_arguments,
    machine,
    parse_arguments,
    pin_threads,
    write_json,
)
from protocols import (
    INNER_LR,
    K_TEST,
    N_QUERY_TEST,
    REPTILE_LR,
    REPTILE_STEPS,
    TEST_SEED,
    VALIDATION_SEED,
    curve,
    train_reptile,
)

from mtlbook.meta import Sinusoid, fixed_tasks

RESULT = Path("benchmarks/results/reptile_probe.json")
GRID = [(0.01, 5), (0.02, 10), (0.05, 5)]
ITERATIONS = 1500
N_VALIDATION = 200
SMOKE = {"iterations": 20, "tasks": 10}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    start = time.perf_counter()
    iterations = SMOKE["iterations"] if args.smoke else args.iterations
    n_tasks = SMOKE["tasks"] if args.smoke else N_VALIDATION
    tasks = fixed_tasks(
        Sinusoid(k_support=K_TEST, k_query=N_QUERY_TEST), n_tasks, VALIDATION_SEED
    )
    bench = Bench("reptile_probe", args.out, resume=args.resume)
    bench.plan({f"{lr}/{steps}": iterations for lr, steps in GRID})
    for key in bench.todo():
        lr, steps = key.split("/")
        trained = train_reptile(iterations, bench, inner_lr=float(lr), steps=int(steps))
        scored = curve(trained, tasks, INNER_LR)
        bench.finish(key, {"mse_after_10_steps": scored["mean"][-1]})
    scores = {key: run["mse_after_10_steps"] for key, run in bench.results().items()}
    chosen = min(scores, key=scores.get)
    result = {
        "smoke": args.smoke,
        "settings": {
            "grid": [{"inner_lr": lr, "steps": steps} for lr, steps in GRID],
            "iterations": iterations,
            "validation_tasks": n_tasks,
            "validation_seed": VALIDATION_SEED,
            "test_seed_not_used": TEST_SEED,
            "score": "mean 5-shot MSE on 100 fresh points after 10 SGD steps at "
            f"alpha = {INNER_LR}",
        },
        "scores": scores,
        "chosen": chosen,
        "used_by_sinusoid_methods": f"{REPTILE_LR}/{REPTILE_STEPS}",
        "choice_matches": chosen == f"{REPTILE_LR}/{REPTILE_STEPS}",
        "wall_seconds": round(time.perf_counter() - start, 1),
        "environment": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
