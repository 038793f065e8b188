"""Is the Table 2 shortfall a seed, or the protocol? MAML sinusoid over seeds.

``maml_sinusoid.py`` runs Finn et al.'s Table 2 protocol once (one seed) and
its 5- and 10-step means miss the published 0.38 / 0.35: a handful of the 600
test tasks blow up when the 5-shot step is repeated. This benchmark repeats the
full 70,000-iteration meta-training over three seeds, under the protocol and
under the two details where the official code differs from the paper:

- ``paper``: PyTorch's default initialisation, α = 0.01 (the protocol);
- ``official_init``: the official code's initialisation (weights from a normal
  with std 0.01 truncated at two std, biases zero), α = 0.01;
- ``official_code``: that initialisation and the official code's default inner
  rate α = 1e-3, in training and at test time.

Everything else is ``maml_sinusoid.py``'s protocol and its fixed 600 test
tasks. Seed s means init seed s and meta-batch seed s + 1, so seed 0 of
``paper`` is the run of ``maml_sinusoid.py``. Runs go two at a time, one torch
thread each. Writes ``benchmarks/results/maml_sinusoid_seeds.json``::

    .venv/bin/python benchmarks/maml_sinusoid_seeds.py
    .venv/bin/python benchmarks/maml_sinusoid_seeds.py --iterations 300 --out s.json
    .venv/bin/python benchmarks/maml_sinusoid_seeds.py --smoke  # seconds: a check
    .venv/bin/python benchmarks/maml_sinusoid_seeds.py --resume  # after a kill

Each finished (variant, seed) run is checkpointed; ``--resume`` reruns only
the unfinished ones.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
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
    ITERATIONS,
    PUBLISHED,
    evaluation_tasks,
    train,
)
from torch import nn

from mtlbook.meta import adaptation_curve, maml_loss, mean_ci

RESULT = Path(__file__).parent / "results" / "maml_sinusoid_seeds.json"
SEEDS = (0, 1, 2)
OFFICIAL_LR = 1e-3  # the official code's default update_lr
VARIANTS = {
    "paper": {"init": "pytorch", "inner_lr": INNER_LR},
    "official_init": {"init": "official", "inner_lr": INNER_LR},
    "official_code": {"init": "official", "inner_lr": OFFICIAL_LR},
}
SMOKE = {"iterations": 10, "seeds": (0,)}  # --smoke: seconds
BLOWN_UP = 10.0  # an adapted task MSE above this is worse than predicting zero


def official_init_(model: nn.Module) -> None:
    """The official code's fc initialisation: N(0, 0.01²) cut at ±2σ, zero bias."""
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                nn.init.trunc_normal_(layer.weight, std=0.01, a=-0.02, b=0.02)
                nn.init.zeros_(layer.bias)


def run(variant: str, seed: int, iterations: int) -> dict[str, Any]:
    """Meta-train one MAML and score it on the fixed 600 test tasks."""
    pin_threads(1)
    spec = VARIANTS[variant]
    result = train(
        maml_loss,
        iterations,
        init_seed=seed,
        train_seed=seed + 1,
        loss_fn=F.mse_loss,
        inner_lr=spec["inner_lr"],
        init=official_init_ if spec["init"] == "official" else None,
    )
    mse = adaptation_curve(
        result["model"],
        result["params"],
        evaluation_tasks(),
        loss_fn=F.mse_loss,
        inner_lr=spec["inner_lr"],
        steps=10,
    )
    estimates = [mean_ci(mse[:, s]) for s in range(mse.shape[1])]
    return {
        "variant": variant,
        "seed": seed,
        "mean": [round(e.mean, 5) for e in estimates],
        "ci95": [round(e.half_width, 5) for e in estimates],
        "median": [round(v, 5) for v in mse.median(0).values.tolist()],
        "max": [round(v, 3) for v in mse.max(0).values.tolist()],
        "n_blown_up": (mse > BLOWN_UP).sum(0).tolist(),
        "final_train_loss": round(result["log"][-1]["loss"], 5),
        "train_seconds": round(result["seconds"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("--workers", type=int, default=2)
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)  # one core per run, worker processes included
    seeds = SMOKE["seeds"] if args.smoke else SEEDS
    if args.smoke:
        args.iterations = SMOKE["iterations"]

    start = time.perf_counter()
    bench = Bench("maml_sinusoid_seeds", args.out, resume=args.resume)
    bench.plan({f"{v}/{s}": args.iterations for v in VARIANTS for s in seeds})
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {}
        for key in bench.todo():
            variant, seed = key.split("/")
            futures[pool.submit(run, variant, int(seed), args.iterations)] = key
        for future in as_completed(futures):
            bench.finish(futures[future], future.result())
    rows = list(bench.results().values())

    published = PUBLISHED["maml"]
    summary = {}
    for variant in VARIANTS:
        mine = [row for row in rows if row["variant"] == variant]
        at = {k: [row["mean"][int(k)] for row in mine] for k in published}
        summary[variant] = {
            "mean_at_steps_per_seed": at,
            "seeds_within_10pct_of_published": sum(
                all(row["mean"][int(k)] <= 1.1 * published[k] for k in published)
                for row in mine
            ),
        }
    result = {
        "source": "Finn, Abbeel, Levine (2017), Appendix C.1, Table 2; official "
        "code cbfinn/maml (maml.py construct_fc_weights, main.py update_lr)",
        "settings": {
            "iterations": args.iterations,
            "protocol": "as maml_sinusoid.py: 25 tasks x (10 + 10) points, one "
            "second-order inner step, Adam 1e-3; test 600 tasks (seed 2024), 5 "
            "shots, 10 SGD steps at the variant's inner rate, MSE on 100 fresh "
            "points per task",
            "variants": VARIANTS,
            "seeds": list(seeds),
            "seed_meaning": "init seed s, meta-batch seed s + 1",
            "blown_up": f"test-task MSE above {BLOWN_UP} after adapting",
            "ci": "1.96 * sample std / sqrt(600)",
            "workers": args.workers,
        },
        "published": published,
        "rows": rows,
        "summary": summary,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "environment": machine(),
    }
    if args.smoke:
        result["smoke"] = SMOKE
    write_json(args.out, result)
    bench.close()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
