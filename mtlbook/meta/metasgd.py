"""Meta-SGD: learn a learning rate for every weight alongside the weights.

θ' = θ − α ∘ ∇θ L_support(θ), with α the same shape as θ, and both θ and α
trained on the query loss (Li et al. 2017, eq. 1 and Algorithm 1).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtlbook._validate import check_int, check_real
from mtlbook.meta.inner import (
    BatchNormPolicy,
    LossFn,
    Params,
    adapt,
    check_params,
    check_task,
    functional,
)
from mtlbook.meta.tasks import Task

__all__ = ["metasgd_loss", "metasgd_rates"]


def metasgd_rates(params: Params, init: float = 0.01) -> Params:
    """One learnable rate per weight, all ``init``: same names and shapes as params."""
    check_params("params", params)
    check_real("init", init, low=0.0, example=0.01)
    return {
        n: torch.full_like(p.detach(), init).requires_grad_(True)
        for n, p in params.items()
    }


def metasgd_loss(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    rates: Params,
    loss_fn: LossFn,
    steps: int = 1,
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """L_query(θ − α ∘ ∇θ L_support(θ)): (); differentiable in θ and α (Li eq. 1)."""
    check_task("task", task)
    if not isinstance(rates, dict):
        raise TypeError(
            f"rates must be a dict of per-weight rates, got {type(rates).__name__}; "
            "build it with metasgd_rates(params)"
        )
    check_int("steps", steps, low=1)  # with no step the rates get no gradient
    predict = functional(model, batchnorm=batchnorm)
    adapted = adapt(
        predict,
        params,
        task.x_support,
        task.y_support,
        loss_fn=loss_fn,
        lr=rates,
        steps=steps,
    )
    return loss_fn(predict(adapted, task.x_query), task.y_query)
