"""Uncertainty weighting where its weights can grow: task losses that go to 0.

Chen et al. (2018, §4) observe that uncertainty weighting (Kendall et al.
2018) "tends to grow the weights too large and too quickly as the loss for
each task drops". The weight 1/(2σ²) has its optimum at σ² = L, so it grows
without bound only if the loss falls towards 0. ``gradnorm_tasks.py`` runs
GradNorm's own regression tasks, whose losses level off, so the claim cannot
show there. This benchmark runs its regime:

- two realisable regression tasks: y_k = σ_k · xᵀw_k with σ = (1, 10), no
  noise, x of 20 i.i.d. U(-1, 1) coordinates, w_k ~ N(0, I/20); 1,000 train
  and 1,000 test points;
- a model that can fit them exactly: a shared linear layer 20 → 20 and one
  linear head 20 → 1 per task (``HardSharing``);
- Adam at 1e-2 for the model, full batch, 2,000 steps, 5 seeds; the
  log-variances either share that rate ("shared rate", as in
  ``gradnorm_tasks``) or get their own, ten times larger ("own rate").

Writes ``benchmarks/results/uncertainty_regime.json``::

    .venv/bin/python benchmarks/uncertainty_regime.py
    .venv/bin/python benchmarks/uncertainty_regime.py --smoke
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
from torch import nn

from mtlbook.multitask import HardSharing, UncertaintyWeighting, train_multitask

RESULT = Path(__file__).parent / "results" / "uncertainty_regime.json"
SIGMAS = (1.0, 10.0)
DIM, N_TRAIN, N_TEST = 20, 1000, 1000
MODEL_LR = 1e-2
RATES = {"shared": MODEL_LR, "own": 1e-1}  # learning rate of the log-variances
FULL = {"seeds": 5, "steps": 2000}
SMOKE = {"seeds": 2, "steps": 60}
N_POINTS = 61  # points kept per trace


def tasks(seed: int) -> dict[str, torch.Tensor]:
    """Train and test inputs and the two tasks' targets: (n, DIM), (K, n)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(len(SIGMAS), DIM, generator=g) / DIM**0.5
    sigma = torch.tensor(SIGMAS)[:, None]

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = 2 * torch.rand(n, DIM, generator=g) - 1
        return x, sigma * (w @ x.T)

    (x, y), (x_test, y_test) = draw(N_TRAIN), draw(N_TEST)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test}


def model_of(seed: int) -> HardSharing:
    """A shared linear layer and a linear head per task: the tasks are exact."""
    torch.manual_seed(seed)
    heads = [nn.Linear(DIM, 1) for _ in SIGMAS]
    return HardSharing([nn.Linear(DIM, DIM)], heads, shared_depth=1)


def run(seed: int, rate: str, steps: int) -> dict[str, Any]:
    """One training run; the weights and train losses along the way."""
    data, model = tasks(seed), model_of(seed)
    weighting = UncertaintyWeighting(len(SIGMAS))
    optimizer = torch.optim.Adam(
        [
            {"params": model.parameters(), "lr": MODEL_LR},
            {"params": weighting.parameters(), "lr": RATES[rate]},
        ]
    )
    y = [data["y"][k, :, None] for k in range(len(SIGMAS))]
    mse = nn.functional.mse_loss
    history = train_multitask(
        model,
        [(data["x"], y)],
        [mse, mse],
        steps=steps,
        optimizer=optimizer,
        scalarizer=weighting,
    )
    with torch.no_grad():
        out = model(data["x_test"])
        pairs = zip(out, data["y_test"], strict=True)
        test = [float(mse(o[:, 0], t)) for o, t in pairs]
    keep = np.unique(np.linspace(0, steps - 1, N_POINTS).round().astype(int))
    weights, losses = np.asarray(history.weights), np.asarray(history.task_losses)
    return {
        "steps": keep.tolist(),
        "weights": weights[keep].tolist(),
        "train_losses": losses[keep].tolist(),
        "initial_train_losses": losses[0].tolist(),
        "final_train_losses": losses[-1].tolist(),
        "final_test_losses": test,
        # the weight the loss at half time and at the end calls for: 1/(2L)
        "weight_half": weights[len(weights) // 2].tolist(),
        "weight_end": weights[-1].tolist(),
        "optimal_weight_end": (0.5 / losses[-1]).tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    cfg = SMOKE if args.smoke else FULL
    start = time.perf_counter()
    bench = Bench("uncertainty_regime", args.out, resume=args.resume)
    seeds = list(range(cfg["seeds"]))
    bench.plan({f"{rate}/{s}": cfg["steps"] for rate in RATES for s in seeds})
    for key in bench.todo():
        rate, seed = key.split("/")
        bench.finish(key, run(int(seed), rate, cfg["steps"]))
    done = bench.results()
    result = {
        "smoke": args.smoke,
        "settings": {
            "tasks": f"y_k = σ_k · xᵀw_k, σ = {list(SIGMAS)}, x ~ U(-1, 1)^{DIM}, "
            f"w_k ~ N(0, I/{DIM}), no noise",
            "n_train": N_TRAIN,
            "n_test": N_TEST,
            "model": f"HardSharing: shared Linear({DIM}, {DIM}), heads "
            f"Linear({DIM}, 1)",
            "optimizer": f"Adam, model lr {MODEL_LR}, full batch",
            "log_variance_lr": RATES,
            "steps": cfg["steps"],
            "seeds": seeds,
        },
        "runs": {rate: [done[f"{rate}/{s}"] for s in seeds] for rate in RATES},
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
