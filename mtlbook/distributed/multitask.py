"""Data-parallel multi-task steps: every rank applies the method to global numbers.

Rank r holds a slice of the batch (the same number of examples on every
rank), so a global task loss is the mean over ranks of the local ones,
L̄_k = (1/W) Σ_r L_k^r, and so is each task gradient, ḡ_k = (1/W) Σ_r g_k^r.
What each method needs decides what is communicated:

* a gradient aggregator is non-linear in G, so averaging the ranks' updates
  is not the update of the averaged gradients: :func:`aggregated_backward`
  reduces the K task gradients, G: (K, P), and runs the aggregator on the same
  global G on every rank;
* MGDA-UB needs only the K×K Gramian of the representation gradients, which
  sums over ranks (:func:`reduced_representation_gramian`);
* a scalarizer's gradient Σ_k ∂s/∂L_k ∇L_k is linear in the gradients but its
  weights ∂s/∂L_k depend on the losses (DWA, FAMO, uncertainty, GradNorm):
  :func:`scalarized_backward` feeds it the reduced losses L̄ (K numbers), then
  averages the gradients, as DDP would. GradNorm also needs each task's global
  gradient norm at its layer W: its K gradients of W are reduced too.

Random choices (RLW's weights, PCGrad's orders) use generators seeded the same
on every rank, so each rank draws the same numbers. Every function here is a
collective: all ranks call it, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from mtlbook._validate import check_module, check_tensor
from mtlbook.distributed.comm import (
    all_reduce_mean,
    all_reduce_sum,
    check_not_ddp,
    world,
)
from mtlbook.multitask.aggregators import Aggregator
from mtlbook.multitask.gradients import (
    representation_gramian,
    set_gradients,
    task_gradients,
)
from mtlbook.multitask.gradnorm import GradNorm
from mtlbook.multitask.scalarizers import Scalarizer

__all__ = [
    "aggregated_backward",
    "average_gradients",
    "reduced_losses",
    "reduced_representation_gramian",
    "reduced_task_gradients",
    "scalarized_backward",
]


class _Substitute(torch.autograd.Function):
    """Forward: ``value``; backward: the incoming gradient goes to ``local``."""

    @staticmethod
    def forward(ctx: Any, local: Tensor, value: Tensor) -> Tensor:
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


def _stacked(terms: Tensor | Sequence[Tensor]) -> Tensor:
    if isinstance(terms, Tensor):
        check_tensor("losses", terms, ndim=1, floating=True)
        return terms
    if isinstance(terms, str) or not isinstance(terms, Sequence) or not terms:
        raise TypeError(
            "losses must be a (K,) tensor or a list of K scalar tensors, got "
            f"{type(terms).__name__}"
        )
    for k, t in enumerate(terms):
        check_tensor(f"losses[{k}]", t, ndim=0, floating=True)
    return torch.stack(list(terms))


def reduced_losses(losses: Tensor | Sequence[Tensor]) -> Tensor:
    """The global mean task losses L̄: (K,), with this rank's gradient.

    losses: (K,) or K scalars, this rank's task losses (means over its slice).
    The value is exactly the mean over ranks (the same bits on every rank), so
    a scalarizer computes its weights and state from global numbers; the
    backward pass goes into this rank's graph, so averaging the gradients
    afterwards gives the global gradient. One all-reduce of K numbers.
    """
    local = _stacked(losses)
    return _Substitute.apply(local, all_reduce_mean(local.detach()))


def average_gradients(params: Iterable[Tensor]) -> None:
    """Replace each ``.grad`` by its mean over ranks, in one all-reduce (DDP's job).

    A parameter without a gradient counts as zero, so that every rank reduces
    the same buffer.
    """
    _, size = world()
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("params holds no tensor that requires grad")
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]
    for p, g in zip(params, all_reduce_sum(grads), strict=True):
        p.grad = g / size


def reduced_task_gradients(
    losses: Tensor | Sequence[Tensor], params: Iterable[Tensor]
) -> Tensor:
    """``task_gradients`` of the global losses: G: (K, P), the mean over ranks.

    K backward passes on this rank, then one all-reduce of K·P numbers.
    """
    return all_reduce_mean(task_gradients(losses, params))


def reduced_representation_gramian(
    losses: Tensor | Sequence[Tensor], representation: Tensor | Sequence[Tensor]
) -> Tensor:
    """The K×K Gramian of the global losses' gradients with respect to z.

    z is the concatenation of every rank's representation and the global loss
    L̄_k = (1/W) Σ_r L_k^r, so ∂L̄_k/∂z_r = (1/W) ∂L_k^r/∂z_r and the Gramian
    is Σ_r Z_r Z_rᵀ / W²: an all-reduce of K² numbers, not of the gradients.
    """
    _, size = world()
    local = representation_gramian(losses, representation)
    return all_reduce_sum([local])[0] / size**2


def _trainable(model: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
    """(shared, rest): the model's trainable shared parameters and the others."""
    getter = getattr(model, "shared_parameters", None)
    if getter is None:
        raise ValueError(
            "this needs the model's shared_parameters(); use a model from "
            "mtlbook.multitask.models or add that method"
        )
    shared: list[Tensor] = [p for p in getter() if p.requires_grad]
    if not shared:
        raise ValueError(
            "the model has no shared parameters (e.g. shared_depth=0), so there "
            "is nothing to aggregate; use a scalarizer"
        )
    ids = {id(p) for p in shared}
    rest: list[Tensor] = [
        p for p in model.parameters() if p.requires_grad and id(p) not in ids
    ]
    return shared, rest


def aggregated_backward(
    aggregator: Aggregator, losses: Sequence[Tensor], model: nn.Module
) -> Tensor:
    """Fill ``.grad`` with the aggregator's update of the global task gradients.

    losses: the K scalar task losses of this rank. The K gradients of every
    trainable parameter are reduced in one all-reduce; the shared parameters
    get ``aggregator(G)`` of the global G, the others Σ_k w_k ḡ_k with the
    aggregator's weights, as :class:`~mtlbook.multitask.steps.JacobianStep`
    does on one process. Returns the global G: (K, P_shared).
    """
    if not isinstance(aggregator, Aggregator):
        raise TypeError(
            f"aggregator must be an Aggregator, got {type(aggregator).__name__}; "
            "e.g. aggregator=MGDA()"
        )
    check_not_ddp("model", model)
    check_module("model", model)
    shared, rest = _trainable(model)
    G_all = reduced_task_gradients(losses, shared + rest)
    n_shared = sum(p.numel() for p in shared)
    G = G_all[:, :n_shared]
    set_gradients(shared, aggregator(G))
    if rest:
        weights = aggregator.weights
        assert weights is not None  # every Aggregator call sets them
        set_gradients(rest, weights.to(G_all) @ G_all[:, n_shared:])
    return G


def _with_global_layer_gradients(
    surrogate: Tensor, local: Tensor, layer: list[Tensor]
) -> Tensor:
    """Make ∂surrogate_k/∂W the global ḡ_k at GradNorm's layer W; values unchanged.

    Adds c_k − c_k.detach() (exactly 0) with c_k = Σ (ḡ_k − g_k)·W, whose
    gradient with respect to W is the correction ḡ_k − g_k.
    """
    K = local.shape[0]
    rows = [
        torch.autograd.grad(local[k], layer, retain_graph=True, allow_unused=True)
        for k in range(K)
    ]
    mine = [
        torch.zeros_like(w) if g is None else g
        for row in rows
        for g, w in zip(row, layer, strict=True)
    ]
    _, size = world()
    means = [g / size for g in all_reduce_sum(mine)]
    terms = []
    for k in range(K):
        c = torch.stack(
            [
                ((means[k * len(layer) + j] - mine[k * len(layer) + j]) * w).sum()
                for j, w in enumerate(layer)
            ]
        ).sum()
        terms.append(surrogate[k] + (c - c.detach()))
    return torch.stack(terms)


def scalarized_backward(
    scalarizer: Scalarizer, losses: Tensor | Sequence[Tensor], model: nn.Module
) -> Tensor:
    """Backward of the scalarizer on the global losses; ``.grad`` averaged: ().

    The scalarizer sees :func:`reduced_losses` (and GradNorm the global task
    gradients at its layer), one backward pass runs through this rank's graph,
    and the gradients of the model and of the scalarizer's own parameters
    (uncertainty weighting) are averaged over ranks. The scalarizer's buffers
    are then copied from rank 0, so its state stays bit-identical everywhere.
    After the optimiser step, give FAMO ``after_step(all_reduce_mean(losses))``
    and DWA ``end_epoch(all_reduce_mean(epoch_losses))``. Returns the global
    scalarized loss.
    """
    if not isinstance(scalarizer, Scalarizer):
        raise TypeError(
            f"scalarizer must be a Scalarizer, got {type(scalarizer).__name__}; "
            "e.g. scalarizer=EqualWeights(n_tasks)"
        )
    check_not_ddp("model", model)
    check_module("model", model)
    local = _stacked(losses)
    surrogate = reduced_losses(local)
    if isinstance(scalarizer, GradNorm):
        surrogate = _with_global_layer_gradients(
            surrogate, local, scalarizer.shared_params
        )
    loss = scalarizer(surrogate)
    loss.backward()
    average_gradients([*model.parameters(), *scalarizer.parameters()])
    with torch.no_grad():
        for buffer in scalarizer.buffers():
            dist.broadcast(buffer, src=0)
    return loss.detach()
