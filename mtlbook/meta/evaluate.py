"""Evaluation over a fixed set of test tasks, with 95% confidence intervals.

Test-time adaptation builds no graph: the inner loop runs with ``order="none"``
under ``torch.no_grad()``, so memory stays flat however many steps it takes.
A score is reported as mean ± 1.96·s/√n over the tasks (s: the sample standard
deviation), the protocol of Finn et al. (2017) and Snell et al. (2017).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from mtlbook._validate import check_int, check_real
from mtlbook.meta.inner import (
    BatchNormPolicy,
    LossFn,
    Params,
    Rate,
    adapt,
    check_callable,
    check_rate,
    functional,
    map_tasks,
)
from mtlbook.meta.tasks import Task, TaskBatch, TaskDistribution

# The package's one classification metric, re-exported: accuracy(logits, labels)
# -> () fraction of rows whose arg-max is the label (shape-checked, vmap-safe).
from mtlbook.metrics import accuracy

__all__ = [
    "Estimate",
    "accuracy",
    "adaptation_curve",
    "fixed_tasks",
    "mean_ci",
    "score_tasks",
]


@dataclass(frozen=True)
class Estimate:
    """A mean with the half-width of its 95% confidence interval, over n tasks."""

    mean: float
    half_width: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.half_width:.4f}"


def mean_ci(values: Tensor | np.ndarray | Sequence[float], z: float = 1.96) -> Estimate:
    """Mean ± z·s/√n of per-task scores; values: (n,) with n >= 2, all finite."""
    z = check_real("z", z, low=0.0, low_open=True, example=1.96)
    if isinstance(values, str | bytes | Mapping) or not isinstance(
        values, Tensor | np.ndarray | Sequence
    ):
        raise TypeError(
            f"values must be a tensor, an array or a list of per-task scores, got "
            f"{type(values).__name__}"
        )
    v = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(
            f"values has shape {v.shape}; expected (n,) with n >= 2 per-task scores"
        )
    if not np.all(np.isfinite(v)):
        raise ValueError("values contains NaN or inf; an adaptation diverged")
    return Estimate(
        float(v.mean()), z * float(v.std(ddof=1)) / math.sqrt(v.size), v.size
    )


def fixed_tasks(distribution: TaskDistribution, n_tasks: int, seed: int) -> TaskBatch:
    """The same n_tasks test tasks every time: a fresh generator seeded with seed."""
    if not callable(getattr(distribution, "sample_batch", None)):
        raise TypeError(
            f"distribution must have sample_batch(n_tasks, generator), got "
            f"{type(distribution).__name__}; e.g. Sinusoid(k_support=5)"
        )
    check_int("n_tasks", n_tasks, low=1)
    check_int("seed", seed, low=0)
    generator = torch.Generator().manual_seed(seed)
    return distribution.sample_batch(n_tasks, generator)


def _curve(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    loss_fn: LossFn,
    metric: Callable[[Tensor, Tensor], Tensor],
    inner_lr: Rate,
    steps: int,
    adapts: Callable[[str], bool] | None,
    batchnorm: BatchNormPolicy,
) -> Tensor:
    predict = functional(model, batchnorm=batchnorm)
    fast, scores = params, []
    per_step = isinstance(inner_lr, Tensor) and inner_lr.ndim == 1
    for step in range(steps + 1):
        if step:
            fast = adapt(
                predict,
                fast,
                task.x_support,
                task.y_support,
                loss_fn=loss_fn,
                lr=cast(Tensor, inner_lr)[step - 1] if per_step else inner_lr,
                order="none",
                adapts=adapts,
            )
        scores.append(metric(predict(fast, task.x_query), task.y_query))
    return torch.stack(scores)


def adaptation_curve(
    model: nn.Module,
    params: Params,
    tasks: TaskBatch,
    *,
    loss_fn: LossFn,
    inner_lr: Rate,
    steps: int,
    metric: Callable[[Tensor, Tensor], Tensor] | None = None,
    adapts: Callable[[str], bool] | None = None,
    batchnorm: BatchNormPolicy = None,
    vectorize: bool | None = None,
) -> Tensor:
    """Query metric after 0, 1, ..., steps SGD steps on each support set.

    Returns (n_tasks, steps + 1), detached; metric defaults to loss_fn.
    inner_lr: a float, a tensor of shape () or Meta-SGD's dict of per-parameter
    rates (each step of the curve reuses it), or a tensor of shape (steps,):
    one rate per step, as learned by a per-step inner loop.
    Column s of a MAML model is Finn et al.'s "s gradient steps" (Table 2).
    """
    _check_tasks(tasks)
    check_callable("loss_fn", loss_fn, "F.mse_loss")
    if metric is not None:
        check_callable("metric", metric, "accuracy")
    check_rate("inner_lr", inner_lr)
    check_int("steps", steps, low=0)
    if (
        isinstance(inner_lr, Tensor)
        and inner_lr.ndim == 1
        and inner_lr.shape[0] != steps
    ):
        raise ValueError(
            f"inner_lr has {inner_lr.shape[0]} per-step rates for steps={steps}; "
            "give one rate per step, or a single rate for all steps"
        )
    with torch.no_grad():
        return map_tasks(
            _curve,
            model,
            params,
            tasks,
            vectorize=vectorize,
            loss_fn=loss_fn,
            metric=loss_fn if metric is None else metric,
            inner_lr=inner_lr,
            steps=steps,
            adapts=adapts,
            batchnorm=batchnorm,
        )


def score_tasks(
    fn: Callable[..., Tensor],
    model: nn.Module,
    params: Params,
    tasks: TaskBatch,
    *,
    vectorize: bool | None = None,
    **options: Any,
) -> Tensor:
    """``fn(model, params, task, **options)`` per task, without a graph: (n_tasks,)."""
    _check_tasks(tasks)
    with torch.no_grad():
        return map_tasks(fn, model, params, tasks, vectorize=vectorize, **options)


def _check_tasks(tasks: object) -> None:
    if not isinstance(tasks, TaskBatch):
        raise TypeError(
            f"tasks must be a TaskBatch, got {type(tasks).__name__}; e.g. "
            "fixed_tasks(distribution, n_tasks, seed) or stack_tasks([...])"
        )
