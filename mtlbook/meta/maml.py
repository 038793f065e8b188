"""MAML, first-order MAML and ANIL: one inner loop, three choices of gradient.

Each function returns the query loss of one task after adapting on its
support set; average it over a meta-batch with ``meta_loss`` from
:mod:`mtlbook.meta.inner` and step an optimizer on the result (Finn et al.
2017, eq. 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from mtlbook._validate import check_bool, check_int
from mtlbook.meta.inner import (
    BatchNormPolicy,
    LossFn,
    Params,
    adapt,
    check_callable,
    check_rate,
    check_task,
    functional,
)
from mtlbook.meta.tasks import Task

__all__ = ["anil_loss", "fomaml_loss", "joint_loss", "maml_loss"]


def maml_loss(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    loss_fn: LossFn,
    inner_lr: float,
    steps: int = 1,
    first_order: bool = False,
    adapts: Callable[[str], bool] | None = None,
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """L_query(θ'), θ' = θ − α ∇θ L_support(θ) repeated ``steps`` times: ().

    Finn et al. (2017), Algorithm 2: line 7 adapts, line 10 / eq. 1 meta-updates
    with the gradient of this loss. ``first_order`` drops the second-order term.
    steps=0 is the query loss before adaptation (an adaptation curve's column 0).
    """
    check_task("task", task)
    check_rate("inner_lr", inner_lr)
    check_int("steps", steps, low=0)
    check_bool("first_order", first_order)
    predict = functional(model, batchnorm=batchnorm)
    adapted = adapt(
        predict,
        params,
        task.x_support,
        task.y_support,
        loss_fn=loss_fn,
        lr=inner_lr,
        steps=steps,
        order="first" if first_order else "second",
        adapts=adapts,
    )
    return loss_fn(predict(adapted, task.x_query), task.y_query)


def fomaml_loss(model: nn.Module, params: Params, task: Task, **kwargs: Any) -> Tensor:
    """First-order MAML: ∇θ of this loss is ∇L_query at θ' (Finn et al. §5.2)."""
    return maml_loss(model, params, task, first_order=True, **kwargs)


def anil_loss(
    model: nn.Module, params: Params, task: Task, *, head: str, **kwargs: Any
) -> Tensor:
    """ANIL: MAML whose inner loop adapts only the head (Raghu et al. 2020, §4).

    head: the name of the head module, e.g. "4" for parameters "4.weight" and
    "4.bias" of an nn.Sequential. The body still meta-learns in the outer loop.
    """
    if not isinstance(head, str):
        raise TypeError(
            f"head={head!r} must be the head module's name (a str), e.g. head='4'"
        )
    if not any(name.startswith(head + ".") for name in params):
        raise ValueError(
            f"head={head!r} names no parameter (they are {sorted(params)}); pass "
            "the prefix of the head's parameters, e.g. head='4' for '4.weight'"
        )
    in_head = lambda name: name.startswith(head + ".")  # noqa: E731
    return maml_loss(model, params, task, adapts=in_head, **kwargs)


def joint_loss(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    loss_fn: LossFn,
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """The baseline: no adaptation, one loss on support ∪ query: ().

    Training on it is "pre-training on all tasks" (Finn et al. 2017, §5.1).
    """
    check_task("task", task)
    check_callable("loss_fn", loss_fn, "F.mse_loss")
    predict = functional(model, batchnorm=batchnorm)
    x = torch.cat([task.x_support, task.x_query])
    return loss_fn(predict(params, x), torch.cat([task.y_support, task.y_query]))
