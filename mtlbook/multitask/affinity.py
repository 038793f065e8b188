"""Lookahead inter-task affinity and task grouping (Fifty et al. 2021, TAG).

Which tasks should share a trunk? Take one SGD step on the shared parameters
θ_s with task i's loss alone, keep every task head θ_j fixed, and see what the
step does to task j's loss on the same batch:

    θ_s|i = θ_s − η ∇_{θ_s} L_i(θ_s, θ_i)
    Z_{i→j} = 1 − L_j(θ_s|i, θ_j) / L_j(θ_s, θ_j)

Z_{i→j} > 0: i's step lowers j's loss (i helps j); < 0: it raises it. The
paper averages Z over the steps of one multi-task run, then picks the groups
of tasks with the largest total affinity onto their members and trains each
group as its own model.

Shared parameters are a ``dict[str, Tensor]`` that the caller's loss function
reads (through ``torch.func.functional_call``), so any hard-sharing model fits;
:func:`hard_sharing_losses` builds that function for
:class:`~mtlbook.multitask.models.HardSharing`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from mtlbook._validate import (
    check_callable,
    check_int,
    check_module,
    check_real,
    check_tensor,
)

Params = Mapping[str, Tensor]
TaskLosses = Callable[[Params], Tensor]
MAX_TASKS = 8  # Bell(8) = 4140 partitions: exhaustive search stays instant


def lookahead_affinity(task_losses: TaskLosses, shared: Params, lr: float) -> Tensor:
    """Z: (K, K) with Z[i, j] = Z_{i→j}, the lookahead affinity of i onto j.

    task_losses(params) → (K,): the K task losses on one fixed batch with the
    shared parameters ``params`` and the task heads as they are. shared: the
    shared parameters θ_s (name → tensor, the keys task_losses reads); lr: η of
    the lookahead SGD step. Costs one forward and K backward passes for the
    gradients, then K forward passes for the lookahead losses. A task whose
    gradient is zero leaves θ_s unchanged, so its row is exactly 0.
    """
    check_callable("task_losses", task_losses, example="hard_sharing_losses(...)")
    params = _check_shared(shared)
    lr = check_real("lr", lr, low=0.0, low_open=True, example=0.1)
    with torch.enable_grad():
        before = _checked_losses(task_losses(params), None)
        grads = [
            torch.autograd.grad(
                loss, list(params.values()), retain_graph=True, allow_unused=True
            )
            for loss in before
        ]
    before = before.detach()
    rows = []
    with torch.no_grad():
        for grad in grads:
            stepped = {
                name: p if g is None else p - lr * g
                for (name, p), g in zip(params.items(), grad, strict=True)
            }
            after = _checked_losses(task_losses(stepped), len(before)).detach()
            rows.append(1.0 - after / before)
    return torch.stack(rows)


def hard_sharing_losses(
    model: nn.Module,
    x: Tensor,
    targets: Sequence[Tensor],
    loss_fns: Sequence[Callable[[Tensor, Tensor], Tensor]],
) -> tuple[TaskLosses, dict[str, Tensor]]:
    """The ``task_losses`` and ``shared`` of a hard-sharing model on a batch.

    model: a :class:`~mtlbook.multitask.models.HardSharing`; x: (batch, ...);
    targets: K tensors; loss_fns: K functions (output, target) → (). The
    shared parameters are the trunk's, named as in ``model.named_parameters()``
    ("trunk.0.0.weight", ...); towers and heads keep their current values.
    """
    check_module("model", model)
    check_tensor("x", x, nonempty=True)
    trunk = getattr(model, "trunk", None)
    if not isinstance(trunk, nn.Module) or not list(trunk.parameters()):
        raise ValueError(
            "model has no shared trunk with parameters; pass a HardSharing model "
            "with shared_depth >= 1"
        )
    if len(targets) != len(loss_fns):
        raise ValueError(
            f"got {len(targets)} targets and {len(loss_fns)} loss_fns; pass one "
            "of each per task"
        )
    shared = {f"trunk.{n}": p.detach() for n, p in trunk.named_parameters()}

    def task_losses(params: Params) -> Tensor:
        outputs = functional_call(model, dict(params), (x,))
        return torch.stack(
            [fn(out, t) for fn, out, t in zip(loss_fns, outputs, targets, strict=True)]
        )

    return task_losses, shared


def grouping_score(affinity: Tensor, groups: Sequence[Sequence[int]]) -> float:
    """Total affinity of a grouping: Σ_j mean_{i ∈ G(j), i ≠ j} Z_{i→j}.

    affinity: (K, K); groups: lists of task indices. Each task j scores the
    mean affinity onto it from the other members of its group G(j); a task
    alone in its group scores 0 (nothing else moves the trunk it is trained
    on). Tasks may appear in several groups (Fifty et al. allow overlap); then
    each is scored by its best group, as in the paper.
    """
    z = _check_affinity(affinity)
    K = z.shape[0]
    groups = _check_groups(groups, K)
    best = [float("-inf")] * K
    for group in groups:
        for j in group:
            others = [i for i in group if i != j]
            score = sum(float(z[i, j]) for i in others) / len(others) if others else 0.0
            best[j] = max(best[j], score)
    return float(sum(best))


def best_grouping(affinity: Tensor, n_groups: int) -> tuple[tuple[int, ...], ...]:
    """The partition of the K tasks into n_groups groups of largest total affinity.

    affinity: (K, K) with K ≤ 8, Z[i, j] = Z_{i→j} (e.g. averaged over a run);
    scored by :func:`grouping_score`, searched exhaustively over every
    partition into exactly ``n_groups`` non-empty groups. Fifty et al. search
    overlapping groups too; a partition trains each task once, so groups and
    the all-in-one model can be given the same compute. Ties go to the first
    partition in the enumeration order. Returns the groups, each sorted, in
    the order of their smallest task.
    """
    z = _check_affinity(affinity)
    K = z.shape[0]
    if K > MAX_TASKS:
        raise ValueError(
            f"affinity is {K}×{K}, but the exhaustive search is kept to K <= "
            f"{MAX_TASKS} tasks; group a subset of the tasks, or merge similar ones"
        )
    n_groups = check_int("n_groups", n_groups, low=1, high=K, example=2)
    best, best_score = None, float("-inf")
    for groups in _partitions(K, n_groups):
        score = grouping_score(z, groups)
        if score > best_score:
            best, best_score = groups, score
    assert best is not None  # 1 <= n_groups <= K: at least one partition
    return best


def _partitions(K: int, n_groups: int) -> Iterator[tuple[tuple[int, ...], ...]]:
    """Every partition of range(K) into n_groups non-empty groups, once each.

    Tasks are placed in order: each joins an existing group or opens the next
    one, and a branch stops when too few tasks are left to fill the groups.
    """

    def place(task: int, groups: list[list[int]]) -> Iterator[list[list[int]]]:
        if task == K:
            yield groups
            return
        for group in groups:
            group.append(task)
            yield from place(task + 1, groups)
            group.pop()
        if len(groups) < n_groups and K - task >= n_groups - len(groups):
            groups.append([task])
            yield from place(task + 1, groups)
            groups.pop()

    for groups in place(0, []):
        if len(groups) == n_groups:
            yield tuple(tuple(g) for g in groups)


def _check_shared(shared: Params) -> dict[str, Tensor]:
    if not isinstance(shared, Mapping):
        raise TypeError(
            f"shared must be a dict of name → tensor, got {type(shared).__name__}; "
            "e.g. shared=dict(model.trunk.named_parameters())"
        )
    if not shared:
        raise ValueError("shared is empty; pass the shared parameters θ_s")
    params = {}
    for name, p in shared.items():
        check_tensor(f"shared[{name!r}]", p, floating=True, finite=True)
        params[name] = p.detach().requires_grad_(True)
    return params


def _checked_losses(losses: object, K: int | None) -> Tensor:
    if not isinstance(losses, Tensor):
        raise TypeError(
            f"task_losses must return a (K,) tensor, got {type(losses).__name__}; "
            "stack the task losses with torch.stack"
        )
    if losses.ndim != 1 or losses.shape[0] == 0:
        raise ValueError(
            f"task_losses must return a (K,) tensor, one loss per task, got "
            f"shape {tuple(losses.shape)}"
        )
    if K is not None and losses.shape[0] != K:
        raise ValueError(
            f"task_losses returned {losses.shape[0]} losses after the step and "
            f"{K} before; it must return the same K tasks every call"
        )
    if not torch.isfinite(losses.detach()).all():
        raise ValueError(
            "task_losses returned NaN or inf; check the batch, or lower lr if the "
            "lookahead step diverged"
        )
    if K is None and not (losses.detach() > 0).all():
        raise ValueError(
            "a task loss is <= 0 before the step, so Z = 1 − L_after / L_before "
            "is undefined; use a positive loss (cross-entropy, MSE not yet at 0)"
        )
    return losses


def _check_affinity(affinity: Tensor) -> Tensor:
    z = check_tensor("affinity", affinity, ndim=2, floating=True, finite=True)
    if z.shape[0] != z.shape[1] or z.shape[0] == 0:
        raise ValueError(
            f"affinity must be a square (K, K) matrix with K >= 1, got shape "
            f"{tuple(z.shape)}; pass the output of lookahead_affinity"
        )
    return z.detach()


def _check_groups(
    groups: Sequence[Sequence[int]], K: int
) -> tuple[tuple[int, ...], ...]:
    if isinstance(groups, str | Tensor) or not isinstance(groups, Sequence):
        raise TypeError(
            f"groups must be a list of lists of task indices, got "
            f"{type(groups).__name__}; e.g. groups=[[0, 2], [1]]"
        )
    checked = []
    for g, group in enumerate(groups):
        if isinstance(group, str) or not isinstance(group, Sequence) or not group:
            raise ValueError(
                f"groups[{g}] must be a non-empty list of task indices, e.g. [0, 2]"
            )
        members = tuple(
            check_int(f"groups[{g}] entry", i, low=0, high=K - 1) for i in group
        )
        if len(set(members)) != len(members):
            raise ValueError(f"groups[{g}]={list(members)} repeats a task")
        checked.append(members)
    missing = set(range(K)) - {i for group in checked for i in group}
    if missing:
        raise ValueError(
            f"tasks {sorted(missing)} are in no group; every task must be in one"
        )
    return tuple(checked)
