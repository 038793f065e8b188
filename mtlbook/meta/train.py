"""The outer loop of meta-learning: sample tasks, average a task loss, step.

Every algorithm of this subpackage is a per-task loss ``fn(model, params, task)``
(``maml_loss``, ``anil_loss``, ``metasgd_loss``, ``cnp_loss``, ...); meta-training
is the same loop for all of them (Finn et al. 2017, Algorithm 2, lines 3-10):
draw a meta-batch from the task distribution, take the mean loss over its tasks,
backpropagate into the meta-parameters and step the optimizer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mtlbook._progress import advance, progress_bar
from mtlbook._validate import (
    check_bool,
    check_int,
    check_module,
    check_optimizer,
    check_torch_generator,
)
from mtlbook.meta.inner import (
    Params,
    check_callable,
    check_params,
    meta_backward,
    meta_loss,
)
from mtlbook.meta.tasks import TaskDistribution

__all__ = ["meta_train"]


def meta_train(
    task_loss: Callable[..., Tensor],
    model: nn.Module,
    params: Params,
    tasks: TaskDistribution,
    *,
    iterations: int,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    meta_batch: int = 25,
    extra: Sequence[Mapping[str, Tensor]] = (),
    progress: bool = False,
    callback: Callable[[int, Tensor], None] | None = None,
    **loss_kwargs: Any,
) -> list[float]:
    """``iterations`` outer steps on the meta-batch mean of ``task_loss``.

    Each step draws ``tasks.sample_batch(meta_batch, generator)``, computes
    ``meta_loss(task_loss, model, params, batch, **loss_kwargs)`` (e.g.
    ``loss_fn=F.mse_loss, inner_lr=0.01``; ``vectorize=`` goes to meta_loss),
    backpropagates into ``params`` and every dict of ``extra`` (Meta-SGD's
    rates) with ``meta_backward``, and steps ``optimizer``, which must hold all
    of them. Every other keyword goes to ``task_loss`` (``steps=5`` is MAML's
    number of inner steps). ``progress=True`` shows a bar on stderr with the
    meta-loss. ``callback(iteration, loss)``, if given, runs after each step
    with the iteration counted from 1 and the detached meta-loss: the
    benchmarks log and checkpoint through it.

    Returns: the meta-loss before each step, length ``iterations``.
    """
    check_callable("task_loss", task_loss, "maml_loss")
    check_module("model", model)
    check_params("params", params)
    if not callable(getattr(tasks, "sample_batch", None)):
        raise TypeError(
            f"tasks must be a task distribution with sample_batch(n, generator), "
            f"got {type(tasks).__name__}; e.g. tasks=Sinusoid()"
        )
    check_int("iterations", iterations, low=1, example=1000)
    check_optimizer("optimizer", optimizer)
    check_torch_generator("generator", generator)
    check_int("meta_batch", meta_batch, low=1, example=25)
    groups = [params, *_extra(extra)]
    _check_held(optimizer, groups)
    check_bool("progress", progress)
    if callback is not None:
        check_callable("callback", callback, "lambda iteration, loss: None")

    losses = []
    with progress_bar(progress, iterations, "meta_train") as bar:
        for iteration in range(1, iterations + 1):
            batch = tasks.sample_batch(meta_batch, generator)
            loss = meta_loss(task_loss, model, params, batch, **loss_kwargs)
            optimizer.zero_grad(set_to_none=True)
            meta_backward(loss, *groups)
            optimizer.step()
            losses.append(loss.detach())
            advance(bar, loss=losses[-1])
            if callback is not None:
                callback(iteration, losses[-1])
    return torch.stack(losses).tolist()


def _extra(extra: object) -> list[Mapping[str, Tensor]]:
    """More dicts of learnable tensors, e.g. ``(rates,)`` for Meta-SGD."""
    if isinstance(extra, Mapping) or not isinstance(extra, Sequence):
        raise TypeError(
            f"extra must be a tuple of dicts name -> tensor, got "
            f"{type(extra).__name__}; for one dict write extra=(rates,)"
        )
    for i, group in enumerate(extra):
        check_params(f"extra[{i}]", group)
    return list(extra)


def _check_held(
    optimizer: torch.optim.Optimizer, groups: Sequence[Mapping[str, Tensor]]
) -> None:
    """Every meta-learned tensor must be stepped, or it would silently not train."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [n for g in groups for n, t in g.items() if id(t) not in held]
    if missing:
        raise ValueError(
            f"the optimizer does not hold {missing}; they would get gradients but "
            "never change. Build it over all of them, e.g. torch.optim.Adam("
            "[*params.values(), *rates.values()], lr=1e-3)"
        )
