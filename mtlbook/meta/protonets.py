"""Prototypical Networks and ProtoMAML.

ProtoNets (Snell et al. 2017) embed every example, average each class's support
embeddings into a prototype (eq. 1) and classify a query by a softmax over
minus its squared distances to the prototypes (eq. 2): no inner loop at all.
ProtoMAML (Triantafillou et al. 2020, §3.2) turns those prototypes into the
initial weights of a linear head and then runs MAML's inner loop on the
embedding and the head together.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook._validate import check_int, check_same_length, check_tensor
from mtlbook.meta.inner import (
    BatchNormPolicy,
    Order,
    Params,
    adapt,
    check_rate,
    check_task,
    functional,
)
from mtlbook.meta.tasks import Task

__all__ = [
    "protomaml_logits",
    "protomaml_loss",
    "protonet_logits",
    "protonet_loss",
    "prototypes",
]


def _embedding(z: Tensor) -> Tensor:
    if z.ndim != 2:
        raise ValueError(
            f"the model returned shape {tuple(z.shape)}; ProtoNets need "
            "(n, features) embeddings: end the model with nn.Flatten()"
        )
    return z


def prototypes(z_support: Tensor, y_support: Tensor, n_way: int) -> Tensor:
    """c_k = mean of the support embeddings of class k (Snell eq. 1): (n_way, d).

    z_support: (n, d); y_support: (n,) labels in 0..n_way-1. Shapes and dtypes
    are checked here (this runs under vmap); label values once per meta-batch
    by :func:`~mtlbook.meta.inner.map_tasks`.
    """
    check_int("n_way", n_way, low=1)
    check_tensor("z_support", z_support, ndim=2, floating=True)
    check_tensor("y_support", y_support, ndim=1)
    if y_support.is_floating_point() or y_support.dtype == torch.bool:
        raise TypeError(
            f"y_support must hold integer class ids, got {y_support.dtype}; "
            "use y_support.long()"
        )
    check_same_length(("z_support", "y_support"), z_support, y_support)
    # A one-hot mask instead of indexing keeps this vmap-friendly.
    onehot = (y_support[:, None] == torch.arange(n_way)).to(z_support.dtype)
    return (onehot.T @ z_support) / onehot.sum(dim=0)[:, None]


def protonet_logits(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    n_way: int,
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """−‖f(x) − c_k‖² for every query x and class k (Snell eq. 2): (n_query, n_way)."""
    check_task("task", task)
    check_int("n_way", n_way, low=1)
    predict = functional(model, batchnorm=batchnorm)
    c = prototypes(_embedding(predict(params, task.x_support)), task.y_support, n_way)
    z = _embedding(predict(params, task.x_query))
    # Broadcast difference, not cdist: exact at zero distance, twice differentiable.
    return -(z[:, None, :] - c[None, :, :]).square().sum(dim=-1)


def protonet_loss(
    model: nn.Module, params: Params, task: Task, **kwargs: Any
) -> Tensor:
    """Cross-entropy of :func:`protonet_logits` on the query labels: ()."""
    return F.cross_entropy(protonet_logits(model, params, task, **kwargs), task.y_query)


def protomaml_logits(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    n_way: int,
    inner_lr: float,
    steps: int = 1,
    order: Order = "second",
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """Query logits after ProtoMAML's adaptation: (n_query, n_way).

    The head starts at W_k = 2 c_k, b_k = −‖c_k‖², which makes its logits
    equal ProtoNets' up to a per-query constant; then body and head adapt for
    ``steps`` SGD steps on the support set. order: as in
    :func:`mtlbook.meta.inner.adapt` (``"none"`` to evaluate without a graph).
    """
    check_task("task", task)
    check_rate("inner_lr", inner_lr)
    embed = functional(model, batchnorm=batchnorm)
    c = prototypes(_embedding(embed(params, task.x_support)), task.y_support, n_way)
    head = {"head.weight": 2 * c, "head.bias": -c.square().sum(dim=1)}

    def predict(p: Params, x: Tensor) -> Tensor:
        body = {n: v for n, v in p.items() if n not in head}
        return F.linear(_embedding(embed(body, x)), p["head.weight"], p["head.bias"])

    adapted = adapt(
        predict,
        {**params, **head},
        task.x_support,
        task.y_support,
        loss_fn=F.cross_entropy,
        lr=inner_lr,
        steps=steps,
        order=order,
    )
    return predict(adapted, task.x_query)


def protomaml_loss(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    n_way: int,
    inner_lr: float,
    steps: int = 1,
    first_order: bool = False,
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """MAML from a prototype-initialised head (Triantafillou et al. §3.2): ().

    The query cross-entropy of :func:`protomaml_logits`.
    steps=0 is ProtoNets itself (tests/test_meta_algorithms.py).
    """
    logits = protomaml_logits(
        model,
        params,
        task,
        n_way=n_way,
        inner_lr=inner_lr,
        steps=steps,
        order="first" if first_order else "second",
        batchnorm=batchnorm,
    )
    return F.cross_entropy(logits, task.y_query)
