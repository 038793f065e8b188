"""Per-task gradients: the bridge between task losses and aggregators.

``task_gradients`` builds the matrix G: (K, P) that an aggregator consumes (one
backward pass per task), ``set_gradients`` writes the aggregated update back into
``.grad`` for any torch optimiser, and ``mgda_ub_weights`` is MGDA-UB: MGDA's
weights computed from the much cheaper gradients with respect to the shared
representation, then applied to the losses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from mtlbook.multitask._checks import check_losses
from mtlbook.multitask.aggregators import MGDA


def _checked_params(params: Iterable[Tensor]) -> list[Tensor]:
    if isinstance(params, nn.Module | Tensor) or not isinstance(params, Iterable):
        raise TypeError(
            f"params must be a list of parameters, got {type(params).__name__}; "
            "e.g. list(model.trunk.parameters()) or model.shared_parameters()"
        )
    params = list(params)
    if not params:
        raise ValueError(
            "params is empty; pass the shared parameters, e.g. "
            "list(model.trunk.parameters())"
        )
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(
                f"params[{i}] is a {type(p).__name__}, not a tensor; pass the "
                "shared parameters of the model"
            )
        if not p.requires_grad:
            raise ValueError(
                f"params[{i}] is not a tensor that requires grad; pass the "
                "shared parameters of the model"
            )
    return params


def _loss_terms(losses: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """The K task losses as K scalar tensors, checked.

    A list of the losses *before* ``torch.stack`` is the fast input: the
    backward pass of ``stacked[k]`` sends (zero) gradients into every task's
    head, so K gradients from a stacked vector traverse the heads K² times.
    """
    if isinstance(losses, Tensor):
        stacked = check_losses(losses, None)
        terms = list(stacked)
    else:
        if isinstance(losses, str) or not isinstance(losses, Sequence):
            raise TypeError(
                "losses must be a (K,) tensor or a list of K scalar tensors, got "
                f"{type(losses).__name__}"
            )
        terms = list(losses)
        if not all(isinstance(t, Tensor) for t in terms):
            raise TypeError(
                "losses must be a (K,) tensor or a sequence of K scalar tensors, "
                f"got {[type(t).__name__ for t in terms]}; compute each task loss "
                "with torch (not .item())"
            )
        if not terms or not all(t.ndim == 0 for t in terms):
            raise ValueError(
                "losses must be a (K,) tensor or a sequence of K scalar tensors, "
                "one loss per task"
            )
        check_losses(torch.stack([t.detach() for t in terms]), None)
        stacked = terms[0]
    if not all(t.requires_grad for t in terms) or not stacked.requires_grad:
        raise ValueError(
            "losses do not require grad; compute them from the model's outputs "
            "with autograd enabled (not under torch.no_grad())"
        )
    return terms


def task_gradients(
    losses: Tensor | Sequence[Tensor], params: Iterable[Tensor]
) -> Tensor:
    """Stack the gradient of each task loss; losses: (K,) → G: (K, P).

    P is the total number of entries of ``params`` (flattened in order). Takes K
    backward passes and keeps the graph, so ``losses`` can still be
    backpropagated afterwards (e.g. for the task-specific heads). A parameter a
    task does not use gets a zero gradient for that task. ``losses`` may also be
    the list of K scalar losses before stacking, which is faster (see
    :func:`representation_gramian`).
    """
    if isinstance(params, DistributedDataParallel):
        raise TypeError(
            "params is a DistributedDataParallel model, whose all-reduce runs only "
            "in loss.backward(): these K autograd.grad passes would stay local to "
            "each rank. Pass the plain module's parameters and reduce G with "
            "mtlbook.distributed.reduced_task_gradients"
        )
    terms = _loss_terms(losses)
    params = _checked_params(params)
    rows = []
    for loss in terms:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(params, grads, strict=True)
                ]
            )
        )
    return torch.stack(rows)


def set_gradients(params: Iterable[Tensor], update: Tensor) -> None:
    """Write ``update``: (P,) into ``p.grad`` of params (replacing what was there).

    The inverse of the flattening in :func:`task_gradients`, so that
    ``set_gradients(shared, aggregator(task_gradients(losses, shared)))`` followed
    by ``optimizer.step()`` moves the shared parameters along the update.
    """
    params = _checked_params(params)
    total = sum(p.numel() for p in params)
    if not isinstance(update, Tensor):
        raise TypeError(
            f"update must be a tensor of shape ({total},), got "
            f"{type(update).__name__}; pass the aggregator's output"
        )
    if update.shape != (total,):
        raise ValueError(
            f"update must be a tensor of shape ({total},), one entry per shared "
            f"parameter, got {tuple(update.shape)}"
        )
    start = 0
    for p in params:
        piece = update[start : start + p.numel()].reshape(p.shape)
        p.grad = piece.detach().to(dtype=p.dtype, device=p.device).clone()
        start += p.numel()


def representation_gramian(
    losses: Tensor | Sequence[Tensor], representation: Tensor | Sequence[Tensor]
) -> Tensor:
    """Gram matrix of the task gradients w.r.t. a shared representation.

    losses: (K,); representation: (batch, ...) the shared trunk's output that every
    task head reads. Returns Z Zᵀ: (K, K) with row i of Z the flattened ∂L_i/∂z.
    Each gradient only backpropagates through the heads, not the trunk. Pass the
    K scalar losses as a list (before ``torch.stack``) to backpropagate each head
    once: the gradient of ``stacked[i]`` also runs every other head's backward
    (with zeros), which makes K gradients cost K² head passes.

    representation may also be K tensors, task i reading only the i-th (e.g.
    ``HardSharing.task_representations``, views of z): then one backward call
    of Σ_i L_i gives all K rows, the cheapest way.
    """
    terms = _loss_terms(losses)
    if isinstance(representation, Tensor):
        per_task = None
        reps = [representation]
    elif isinstance(representation, str) or not isinstance(representation, Sequence):
        raise TypeError(
            "representation must be the trunk's output tensor (or one tensor per "
            f"task), got {type(representation).__name__}; e.g. model.representation "
            "after a forward pass"
        )
    else:
        per_task = list(representation)
        reps = per_task
        if len(per_task) != len(terms):
            raise ValueError(
                f"got {len(per_task)} task representations for {len(terms)} "
                "losses; pass one per task, or the one shared tensor"
            )
    if not all(isinstance(r, Tensor) for r in reps):
        raise TypeError(
            "representation must hold tensors (the trunk's outputs), got "
            f"{[type(r).__name__ for r in reps]}"
        )
    if not all(r.requires_grad for r in reps):
        raise ValueError(
            "representation must be the trunk's output tensor, part of the graph "
            "of the losses (requires grad)"
        )
    grads: Sequence[Tensor | None]
    if per_task is not None:
        grads = torch.autograd.grad(
            torch.stack(terms).sum(), per_task, retain_graph=True, allow_unused=True
        )
    else:
        grads = [
            torch.autograd.grad(
                loss, representation, retain_graph=True, allow_unused=True
            )[0]
            for loss in terms
        ]
    rows = []
    for i, grad in enumerate(grads):
        if grad is None:
            raise ValueError(
                f"losses[{i}] does not depend on representation; pass the shared "
                "representation that every task head reads"
            )
        rows.append(grad.reshape(-1))
    Z = torch.stack(rows).detach()
    return Z @ Z.T


def mgda_ub_weights(
    losses: Tensor | Sequence[Tensor],
    representation: Tensor,
    tol: float = 1e-10,
    max_iter: int = 1000,
) -> Tensor:
    """MGDA-UB task weights (Sener & Koltun 2018, Section 3.3): (K,), Σ w = 1.

    losses: (K,); representation: (batch, ...) the shared representation z. MGDA's
    min-norm problem is solved on the gradients ∂L_i/∂z instead of the gradients
    of the shared parameters (an upper bound of the same objective, Theorem 1),
    which costs K backward passes through the heads only. Apply the weights with
    one ordinary backward pass: ``(weights * losses).sum().backward()``.
    Returned detached, on the device and in the dtype of ``losses``.
    """
    gram = representation_gramian(losses, representation)
    weights = MGDA(tol=tol, max_iter=max_iter).weighting(gram)
    like = _loss_terms(losses)[0]
    return weights.to(dtype=like.dtype, device=like.device)
