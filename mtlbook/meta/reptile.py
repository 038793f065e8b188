"""Reptile: move the initialisation toward the weights each task trains to.

No query loss and no second derivatives: train a copy of θ on the task with
SGD to W, then step θ toward W (Nichol et al. 2018, Algorithms 1 and 2):
θ ← θ + ε · mean_i (W_i − θ).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mtlbook._validate import check_int, check_real
from mtlbook.meta.inner import (
    BatchNormPolicy,
    LossFn,
    Params,
    adapt,
    check_params,
    check_task,
    functional,
    map_tasks,
)
from mtlbook.meta.tasks import Task, TaskBatch

__all__ = ["reptile_delta", "reptile_grad", "reptile_step"]


def reptile_delta(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    loss_fn: LossFn,
    inner_lr: float,
    steps: int,
    batchnorm: BatchNormPolicy = None,
) -> Params:
    """θ − W, with W = ``steps`` SGD steps on the support set (Algorithm 1, line 4).

    Reptile has no train/query split: it trains on the support set only.
    Shapes as in params; detached (no graph). steps >= 1 and inner_lr > 0:
    otherwise W = θ and Reptile never moves.
    """
    check_task("task", task)
    check_int("steps", steps, low=1)
    check_real("inner_lr", inner_lr, low=0.0, low_open=True, example=0.02)
    predict = functional(model, batchnorm=batchnorm)
    w = adapt(
        predict,
        params,
        task.x_support,
        task.y_support,
        loss_fn=loss_fn,
        lr=inner_lr,
        steps=steps,
        order="none",
    )
    return {n: p.detach() - w[n] for n, p in params.items()}


def reptile_grad(
    model: nn.Module,
    params: Params,
    batch: TaskBatch,
    *,
    vectorize: bool | None = None,
    **options: Any,
) -> Params:
    """mean_i (θ − W_i) over a meta-batch: Reptile's direction (Algorithm 2).

    With one inner step it equals inner_lr · ∇θ mean_i L_i(θ), the gradient of
    joint training (Nichol et al. eqs. 6–7); with more steps it is not.
    options: those of :func:`reptile_delta`.
    """
    with torch.no_grad():
        deltas = map_tasks(
            reptile_delta, model, params, batch, vectorize=vectorize, **options
        )
    return {n: d.mean(dim=0) for n, d in deltas.items()}


def reptile_step(params: Params, direction: Params, outer_lr: float) -> None:
    """θ ← θ − ε · direction, in place: Algorithm 2's outer update."""
    check_params("params", params)
    check_params("direction", direction)
    if direction.keys() != params.keys():
        missing = sorted(params.keys() - direction.keys())
        unknown = sorted(direction.keys() - params.keys())
        raise ValueError(
            f"direction must name exactly the parameters; missing {missing}, "
            f"unknown {unknown}; pass reptile_grad(model, params, batch, ...)"
        )
    check_real("outer_lr", outer_lr, low=0.0, low_open=True, example=0.1)
    with torch.no_grad():
        for n, p in params.items():
            p.sub_(outer_lr * direction[n])
