"""GradNorm regression tasks with σ = (1, 100): how each scalarizer balances them.

Writes ``benchmarks/results/gradnorm_tasks.json``; the multi-task chapter renders
it. Run from the repository root::

    .venv/bin/python benchmarks/gradnorm_tasks.py                  # full run
    .venv/bin/python benchmarks/gradnorm_tasks.py --smoke --out gradnorm_smoke.json

Protocol (the book's Protocols page, "GradNorm regression"; Chen et al. 2018 §4): T = 2
tasks f_i(x) = σ_i tanh((B + ε_i)x) with σ = (1, 100) from
:func:`mtlbook.data.mtl_toys.gradnorm_tasks`; a hard-sharing trunk of 4 ReLU
layers of 100 units and one affine head per task; mean-squared error per task.
Methods: equal weights, GradNorm (α = 0.12, W = the last shared layer),
uncertainty weighting (Kendall et al. 2018), DWA (T = 2) and FAMO. Each seed
draws its own tasks and initial weights; every method starts from the same
initial model for a seed. Recorded: the task weights (subsampled) and the test
Σ_i L_i/L_i(0), with L_i(0) the test loss of the untrained model.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import Bench, add_common_arguments, machine, parse_arguments, pin_threads
from torch import nn

from mtlbook.data.mtl_toys import gradnorm_tasks
from mtlbook.multitask import (
    DWA,
    FAMO,
    EqualWeights,
    GradNorm,
    HardSharing,
    UncertaintyWeighting,
    train_multitask,
)

RESULT = Path(__file__).parent / "results" / "gradnorm_tasks.json"
SIGMAS = (1.0, 100.0)
ALPHA = 0.12
METHODS = ("ew", "gradnorm", "uncertainty", "dwa", "famo")
LABELS = {
    "ew": "equal weights",
    "gradnorm": "GradNorm (α = 0.12)",
    "uncertainty": "uncertainty weighting",
    "dwa": "DWA (T = 2)",
    "famo": "FAMO",
}
FULL = {"seeds": 3, "steps": 8000, "n_train": 2000, "n_test": 1000, "batch": 100}
SMOKE = {"seeds": 1, "steps": 60, "n_train": 200, "n_test": 100, "batch": 50}
LR = 1e-3
N_POINTS = 61  # points kept per trace


def make_model(width: int = 100, depth: int = 4) -> HardSharing:
    """4 ReLU layers of 100 units shared, one affine head (100 → 100) per task."""
    dims = [250] + [width] * depth
    layers = [
        nn.Sequential(nn.Linear(a, b), nn.ReLU()) for a, b in itertools.pairwise(dims)
    ]
    heads = [nn.Linear(width, 100) for _ in SIGMAS]
    return HardSharing(layers, heads, shared_depth=depth)


def make_scalarizer(method: str, model: HardSharing) -> Any:
    """The scalarizer of one method, built for this model."""
    K = len(SIGMAS)
    if method == "ew":
        return EqualWeights(K)
    if method == "gradnorm":
        return GradNorm(K, model.last_shared_parameters(), alpha=ALPHA)
    if method == "uncertainty":
        return UncertaintyWeighting(K)
    if method == "dwa":
        return DWA(K, temperature=2.0)
    if method == "famo":
        return FAMO(K)
    raise ValueError(f"unknown method {method!r}")


def test_losses(model: HardSharing, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-task test MSE: (K,)."""
    with torch.no_grad():
        outputs = model(x)
        return np.array(
            [float(((o - t) ** 2).mean()) for o, t in zip(outputs, y, strict=True)]
        )


class _Epochs:
    """The training batches, re-iterable; measures the test losses at each epoch.

    ``train_multitask`` restarts the list at every epoch (which DWA needs), so
    the start of an iteration is the point where the model has finished the
    previous epoch. ``progress(n)`` counts the n steps of each epoch begun.
    """

    def __init__(
        self, batches: list, model: HardSharing, x: Any, y: Any, progress: Any
    ) -> None:
        self.batches, self.model, self.x, self.y = batches, model, x, y
        self.progress = progress
        self.test_losses: list[np.ndarray] = []

    def __iter__(self) -> Any:
        self.test_losses.append(test_losses(self.model, self.x, self.y))
        self.progress(len(self.batches))
        return iter(self.batches)


def _subsample(n: int) -> np.ndarray:
    """At most N_POINTS indices out of n, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, N_POINTS)).round().astype(int))


def setup(seed: int, cfg: dict[str, int]) -> tuple[Any, HardSharing, list]:
    """The tasks of one seed, its initial model and its training batches."""
    tasks = gradnorm_tasks(
        2,
        SIGMAS,
        n_train=cfg["n_train"],
        n_test=cfg["n_test"],
        generator=torch.Generator().manual_seed(seed),
    )
    torch.manual_seed(seed)
    initial = make_model()
    b = cfg["batch"]
    batches = [
        (tasks.x_train[i : i + b], [tasks.y_train[k, i : i + b] for k in range(2)])
        for i in range(0, cfg["n_train"], b)
    ]
    return tasks, initial, batches


def run_method(
    seed: int, method: str, cfg: dict[str, int], progress: Any
) -> dict[str, Any]:
    """One method on the tasks of one seed, from the seed's initial model."""
    tasks, model, batches = setup(seed, cfg)
    base = test_losses(model, tasks.x_test, tasks.y_test)
    mse = nn.functional.mse_loss
    scalarizer = make_scalarizer(method, model)
    optimizer = torch.optim.Adam([*model.parameters(), *scalarizer.parameters()], lr=LR)
    epochs = _Epochs(batches, model, tasks.x_test, tasks.y_test, progress)
    t0 = time.perf_counter()
    history = train_multitask(
        model,
        epochs,
        [mse, mse],
        steps=cfg["steps"],
        optimizer=optimizer,
        scalarizer=scalarizer,
    )
    wall = time.perf_counter() - t0
    final = test_losses(model, tasks.x_test, tasks.y_test)
    # test losses at the start of every epoch, then after the last step
    ratios = np.array([*epochs.test_losses, final]) / base
    epoch_steps = [len(batches) * e for e in range(len(epochs.test_losses))]
    keep = _subsample(len(ratios))
    steps = [*epoch_steps, cfg["steps"]]
    w_every = max(1, cfg["steps"] // (N_POINTS - 1))
    return {
        "steps": [steps[i] for i in keep],
        "test_ratio_per_task": np.round(ratios[keep], 5).tolist(),
        "test_sum_ratio": np.round(ratios[keep].sum(axis=1), 5).tolist(),
        "weight_steps": list(range(0, cfg["steps"], w_every)),
        "weights": np.round(history.weights[::w_every], 5).tolist(),
        "final_test_sum_ratio": round(float(ratios[-1].sum()), 5),
        "final_test_ratio_per_task": np.round(ratios[-1], 5).tolist(),
        "final_weights": np.round(history.weights[-1], 5).tolist(),
        "final_train_losses": np.round(history.task_losses[-1], 5).tolist(),
        "wall_s": round(wall, 1),
    }


def run_seeds(
    seeds: list[int], cfg: dict[str, int], bench: Bench
) -> list[dict[str, Any]]:
    """Every method on every seed, one run each; one dict per seed."""
    bench.plan({f"{seed}/{m}": cfg["steps"] for seed in seeds for m in METHODS})
    for key in bench.todo():
        seed, method = key.split("/")
        bench.finish(key, run_method(int(seed), method, cfg, bench.step))
    done = bench.results()
    runs = []
    for seed in seeds:
        tasks, initial, _ = setup(seed, cfg)
        base = test_losses(initial, tasks.x_test, tasks.y_test)
        runs.append(
            {
                "initial_test_losses": base.tolist(),
                **{m: done[f"{seed}/{m}"] for m in METHODS},
            }
        )
    return runs


def claims(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The published claims, checked on every seed."""
    gn_w = [r["gradnorm"]["final_weights"] for r in runs]
    gn = [r["gradnorm"]["final_test_sum_ratio"] for r in runs]
    ew = [r["ew"]["final_test_sum_ratio"] for r in runs]
    # "uncertainty weights keep growing": the weights at the end are larger than
    # at half time, for both tasks, on every seed.
    growth = []
    for r in runs:
        w = np.array(r["uncertainty"]["weights"])
        growth.append((w[-1] / w[len(w) // 2]).tolist())
    return {
        "gradnorm_final_w0_gt_1_gt_w1": {
            "measured": gn_w,
            "target": "w_0 > 1 > w_1 on every seed",
            "pass": all(w[0] > 1 > w[1] for w in gn_w),
        },
        "gradnorm_test_sum_ratio_below_ew": {
            "measured": {"gradnorm": gn, "ew": ew},
            "target": "GradNorm's final test Σ L_i/L_i(0) < EW's on every seed",
            "pass": all(g < e for g, e in zip(gn, ew, strict=True)),
        },
        "uncertainty_weights_keep_growing": {
            "measured": np.round(growth, 4).tolist(),
            "target": "w_i(end) / w_i(half time) > 1 for both tasks, every seed",
            "pass": all(min(g) > 1 for g in growth),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    cfg = SMOKE if args.smoke else FULL
    t0 = time.perf_counter()
    seeds = list(range(cfg["seeds"]))
    bench = Bench("gradnorm_tasks", args.out, resume=args.resume)
    runs = run_seeds(seeds, cfg, bench)
    summary = {
        m: {
            "final_test_sum_ratio_mean": round(
                float(np.mean([r[m]["final_test_sum_ratio"] for r in runs])), 5
            ),
            "final_test_sum_ratio_std": round(
                float(np.std([r[m]["final_test_sum_ratio"] for r in runs])), 5
            ),
        }
        for m in METHODS
    }
    result = {
        "smoke": args.smoke,
        "settings": {
            **cfg,
            "sigmas": SIGMAS,
            "trunk": "4 x (Linear 100 + ReLU), shared; affine heads 100 -> 100",
            "loss": "mean-squared error per task",
            "optimizer": f"Adam lr {LR} (model and uncertainty log-variances)",
            "gradnorm": {"alpha": ALPHA, "lr": 0.025, "W": "last shared layer"},
            "famo": {"lr": 0.025, "gamma": 0.01, "min_losses": [0.0, 0.0]},
            "dwa": {"temperature": 2.0, "epoch": "one pass over the train set"},
            "test_ratio": "test MSE_i / test MSE_i of the untrained model, at the "
            "start of every epoch (subsampled) and after the last step",
            "weights_scale": "as each method reports them: Σw = 2 (EW, GradNorm, "
            "DWA), 1/(2σ²) (uncertainty), Σz = 1 (FAMO)",
        },
        "seeds": seeds,
        "methods": LABELS,
        "runs": runs,
        "summary": summary,
        "claims": claims(runs),
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "machine": machine(),
    }
    # compact: the traces make the indented file twice as large
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    tmp.replace(args.out)
    bench.close()


if __name__ == "__main__":
    main()
