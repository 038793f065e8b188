"""In-context linear regression: a transformer against least squares, a CNP and MAML.

Garg et al. (2022) meta-train a transformer on prompts x_1, y_1, ..., x_n, y_n
of random linear functions y = w·x (x, w ~ N(0, I_d), no noise) and find that
its prediction at each x_i, from the i − 1 pairs before it, tracks the
least-squares estimator's error at every prompt length (their Fig. 2). This
benchmark runs that protocol small enough for one CPU core:

- d = 5, prompts of 11 pairs (their d = 20, 41 pairs); error normalised by d,
  so predicting 0 scores 1 (their Fig. 2);
- the transformer of ``mtlbook.meta.in_context`` (width 64, depth 3, 2 heads),
  Adam at 1e-3 with 200 warm-up steps and a cosine decay, batch 64, 8,000
  steps (their 500,000 at batch 64, with a curriculum over d);
- the same steps and batch for two other meta-learners, each predicting y_i
  from the first i − 1 pairs: a conditional neural process (Garnelo et al.
  2018; encoder/decoder width 128, depth 3, context sizes 1 to 10 drawn per
  batch) and MAML (Finn et al. 2017) on the linear model ŷ = w·x with a
  meta-learned start w_0 and 5 inner SGD steps at rate 0.1 on the context;
- references without training: min-norm least squares (the posterior mean
  of w here, so no predictor is better on average), the averaging estimator
  w = mean(y_i x_i) (Garg et al.'s baseline) and the zero predictor.

Every method is scored on the same 2,000 test prompts; training seeds 0, 1, 2
(model initialisation and training prompts). Writes
``benchmarks/results/in_context_regression.json``. Run from the repository
root: ``.venv/bin/python benchmarks/in_context_regression.py`` (``--smoke``
for a quick check).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

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
from torch import Tensor, nn

from mtlbook.meta import (
    ConditionalNeuralProcess,
    InContextRegressor,
    Task,
    TaskBatch,
    adapt,
    cnp_loss,
    functional,
    in_context_loss,
    least_squares_predictions,
    linear_regression_prompts,
    maml_loss,
    meta_loss,
    normalised_error,
)

RESULT = Path(__file__).parent / "results" / "in_context_regression.json"
DIM, N_POINTS = 5, 11
STEPS, SMOKE_STEPS = 8000, 40
BATCH, LR, WARMUP = 64, 1e-3, 200
SEEDS, SMOKE_SEEDS = (0, 1, 2), (0,)
TEST_PROMPTS, SMOKE_TEST_PROMPTS, TEST_SEED = 2000, 100, 123
MAML_STEPS, MAML_LR = 5, 0.1
METHODS = ("transformer", "cnp", "maml")


def schedule(step: int, steps: int) -> float:
    """Linear warm-up over WARMUP steps, then a cosine decay to 0."""
    if step < WARMUP:
        return (step + 1) / WARMUP
    return 0.5 * (1 + math.cos(math.pi * (step - WARMUP) / max(steps - WARMUP, 1)))


def prefix_task(x: Tensor, y: Tensor, k: int) -> TaskBatch:
    """Each prompt as a task: the first k pairs adapt, pair k + 1 scores."""
    return TaskBatch(x[:, :k], y[:, :k, None], x[:, k : k + 1], y[:, k : k + 1, None])


# ---------------------------------------------------------------- the losses
def transformer_step(model: nn.Module, x: Tensor, y: Tensor, k: int) -> Tensor:
    return in_context_loss(model, x, y)


def cnp_step(model: nn.Module, x: Tensor, y: Tensor, k: int) -> Tensor:
    # Garnelo et al. §2.4: the targets include the context
    task = TaskBatch(x[:, :k], y[:, :k, None], x, y[..., None])
    return meta_loss(cnp_loss, model, dict(model.named_parameters()), task)


def maml_step(model: nn.Module, x: Tensor, y: Tensor, k: int) -> Tensor:
    return meta_loss(
        maml_loss,
        model,
        dict(model.named_parameters()),
        prefix_task(x, y, k),
        loss_fn=F.mse_loss,
        inner_lr=MAML_LR,
        steps=MAML_STEPS,
    )


def build(method: str) -> nn.Module:
    if method == "transformer":
        return InContextRegressor(DIM, N_POINTS, width=64, depth=3, heads=2)
    if method == "cnp":
        return ConditionalNeuralProcess(x_dim=DIM, y_dim=1, width=128, depth=3)
    return nn.Linear(DIM, 1, bias=False)


LOSSES: dict[str, Callable[[nn.Module, Tensor, Tensor, int], Tensor]] = {
    "transformer": transformer_step,
    "cnp": cnp_step,
    "maml": maml_step,
}


def train(method: str, seed: int, steps: int, bench: Bench) -> tuple[nn.Module, float]:
    """One meta-learner trained for ``steps`` batches; returns it and its seconds."""
    torch.manual_seed(seed)
    model = build(method)
    data = torch.Generator().manual_seed(1000 + seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    rate = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: schedule(s, steps))
    start = time.perf_counter()
    for _ in range(steps):
        x, y = linear_regression_prompts(BATCH, N_POINTS, DIM, generator=data)
        k = int(torch.randint(1, N_POINTS, (), generator=data))
        loss = LOSSES[method](model, x, y, k)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        rate.step()
        bench.step()
    return model, time.perf_counter() - start


# ---------------------------------------------------------- the predictions
@torch.no_grad()
def predict_cnp(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """ŷ_i from the first i − 1 pairs; i = 1 has no context: NaN there."""
    out = torch.full_like(y, math.nan)
    for k in range(1, x.shape[1]):
        mean, _ = model(x[:, :k], y[:, :k, None], x[:, k : k + 1])
        out[:, k] = mean[:, 0, 0]
    return out


def predict_maml(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """ŷ_i after MAML_STEPS steps on the first i − 1 pairs from w_0 (i = 1: w_0)."""
    predict, params = functional(model), dict(model.named_parameters())
    out = torch.empty_like(y)
    with torch.no_grad():
        out[:, 0] = model(x[:, 0]).squeeze(-1)
    for k in range(1, x.shape[1]):
        for b in range(x.shape[0]):
            task = Task(
                x[b, :k], y[b, :k, None], x[b, k : k + 1], y[b, k : k + 1, None]
            )
            fast = adapt(
                predict,
                params,
                task.x_support,
                task.y_support,
                loss_fn=F.mse_loss,
                lr=MAML_LR,
                steps=MAML_STEPS,
                order="none",
            )
            out[b, k] = predict(fast, task.x_query).detach()[0, 0]
    return out


def averaging_predictions(x: Tensor, y: Tensor) -> Tensor:
    """Garg et al.'s averaging estimator: w_i = mean over j < i of y_j x_j."""
    out = torch.zeros_like(y)
    sums = torch.cumsum(y[..., None] * x, dim=1)  # (batch, n, d)
    for k in range(1, x.shape[1]):
        out[:, k] = (x[:, k] * sums[:, k - 1] / k).sum(-1)
    return out


def errors(prediction: Tensor, y: Tensor) -> dict[str, list[float | None]]:
    """Normalised error per context size (mean) and its 95 % half-width."""
    per_prompt = (prediction - y).square() / DIM  # (prompts, n)
    mean = per_prompt.mean(0)
    half = 1.96 * per_prompt.std(0) / math.sqrt(per_prompt.shape[0])
    return {
        "mean": [None if math.isnan(v) else round(v, 6) for v in mean.tolist()],
        "ci": [None if math.isnan(v) else round(v, 6) for v in half.tolist()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    steps = SMOKE_STEPS if args.smoke else STEPS
    seeds = SMOKE_SEEDS if args.smoke else SEEDS
    n_test = SMOKE_TEST_PROMPTS if args.smoke else TEST_PROMPTS
    start = time.perf_counter()
    x, y = linear_regression_prompts(
        n_test, N_POINTS, DIM, generator=torch.Generator().manual_seed(TEST_SEED)
    )
    references = {
        "least_squares": errors(least_squares_predictions(x, y), y),
        "averaging": errors(averaging_predictions(x, y), y),
        "zero": errors(torch.zeros_like(y), y),
    }
    check = normalised_error(least_squares_predictions(x, y), y, DIM)
    assert torch.allclose(check, torch.tensor(references["least_squares"]["mean"]))
    predictors = {
        "transformer": lambda m: m(x, y).detach(),
        "cnp": lambda m: predict_cnp(m, x, y),
        "maml": lambda m: predict_maml(m, x, y),
    }
    bench = Bench("in_context_regression", args.out, resume=args.resume)
    bench.plan({f"{m}/{s}": steps for m in METHODS for s in seeds})
    for key in bench.todo():
        method, seed = key.split("/")
        model, seconds = train(method, int(seed), steps, bench)
        result = errors(predictors[method](model), y)
        bench.finish(key, {**result, "train_seconds": round(seconds, 2)})
    done = bench.results()
    methods = {
        m: {
            "per_seed": [done[f"{m}/{s}"]["mean"] for s in seeds],
            "ci_over_prompts": [done[f"{m}/{s}"]["ci"] for s in seeds],
            "train_seconds": [done[f"{m}/{s}"]["train_seconds"] for s in seeds],
        }
        for m in METHODS
    }
    write_json(
        args.out,
        {
            "smoke": args.smoke,
            "settings": {
                "dim": DIM,
                "n_points": N_POINTS,
                "steps": steps,
                "batch": BATCH,
                "lr": LR,
                "warmup": WARMUP,
                "transformer": "width 64, depth 3, 2 heads, pre-norm, causal",
                "cnp": "width 128, depth 3; context sizes 1-10 per batch",
                "maml": f"linear model, {MAML_STEPS} inner steps at {MAML_LR}",
                "test_prompts": n_test,
                "test_seed": TEST_SEED,
                "error": "squared error / dim at each context size 0..n-1",
                "dtype": "float32",
            },
            "seeds": list(seeds),
            "references": references,
            "methods": methods,
            "wall_seconds": round(time.perf_counter() - start, 2),
            "environment": machine(),
        },
    )
    bench.close()


if __name__ == "__main__":
    main()
