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

from mtlbook.meta.inner import BatchNormPolicy, LossFn, Params, adapt, functional
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
    """
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
    predict = functional(model, batchnorm=batchnorm)
    x = torch.cat([task.x_support, task.x_query])
    return loss_fn(predict(params, x), torch.cat([task.y_support, task.y_query]))
