"""Data-parallel meta-learning: each rank adapts to its share of the meta-batch.

The meta-gradient of the MAML family, ProtoNets or the CNP is a mean over the
tasks of a meta-batch, (1/B) Σ_i ∇θ ℓ_i(θ), so it splits exactly across ranks:
rank r computes Σ_{i ∈ shard r} ∇θ ℓ_i with the ordinary ``torch.func``/vmap
path on the *unwrapped* module, one all-reduce sums the flattened gradients,
and every rank divides by B and takes the same optimiser step. Task i of step
t is drawn from its own generator, seeded by (seed, t, i), so the union of the
shards is the same B tasks whatever the world size.

DistributedDataParallel does not fit here: its all-reduce is a hook of
``loss.backward()``, and the meta-gradient comes from ``torch.autograd.grad``
(which bypasses the hook) through ``torch.func`` (which refuses the wrapper).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from mtlbook._validate import check_int, check_module, check_optimizer
from mtlbook.distributed.comm import all_reduce_sum, check_not_ddp, world
from mtlbook.meta.inner import Params, check_callable, check_params, map_tasks
from mtlbook.meta.inner import meta_backward as _meta_backward
from mtlbook.meta.tasks import TaskBatch, TaskDistribution, stack_tasks
from mtlbook.meta.train import _check_held, _extra

__all__ = [
    "distributed_meta_train",
    "local_meta_loss",
    "reduced_meta_backward",
    "sample_shard",
    "shard",
    "task_generator",
]


def shard(meta_batch: int, rank: int, world_size: int) -> range:
    """The task indices of ``rank``: contiguous, sizes differing by at most one.

    The first ``meta_batch % world_size`` ranks get one task more; every rank
    gets at least one (meta_batch ≥ world_size).
    """
    check_int("world_size", world_size, low=1)
    check_int("rank", rank, low=0, high=world_size - 1)
    check_int("meta_batch", meta_batch, low=world_size)
    size, extra = divmod(meta_batch, world_size)
    start = rank * size + min(rank, extra)
    return range(start, start + size + (rank < extra))


def task_generator(seed: int, step: int, index: int) -> torch.Generator:
    """The generator of task ``index`` of meta-step ``step``: a function of the three.

    The seed is mixed by numpy's SeedSequence, so nearby (seed, step, index)
    give unrelated streams.
    """
    for name, value in (("seed", seed), ("step", step), ("index", index)):
        check_int(name, value, low=0)
    state = np.random.SeedSequence([seed, step, index]).generate_state(1, np.uint64)
    return torch.Generator().manual_seed(int(state[0]) >> 1)


def sample_shard(
    tasks: TaskDistribution,
    meta_batch: int,
    *,
    seed: int,
    step: int,
    rank: int,
    world_size: int,
) -> TaskBatch:
    """This rank's tasks of meta-step ``step``: (len(shard), ...) per field.

    Task i is ``tasks.sample_batch(1, task_generator(seed, step, i))``, so
    concatenating the shards of ranks 0..W−1 gives the same B tasks for every W.
    """
    if not callable(getattr(tasks, "sample_batch", None)):
        raise TypeError(
            f"tasks must be a task distribution with sample_batch(n, generator), "
            f"got {type(tasks).__name__}; e.g. tasks=Sinusoid()"
        )
    indices = shard(meta_batch, rank, world_size)
    return stack_tasks(
        [tasks.sample_batch(1, task_generator(seed, step, i))[0] for i in indices]
    )


def local_meta_loss(
    fn: Callable[..., Tensor],
    model: nn.Module,
    params: Params,
    batch: TaskBatch,
    *,
    meta_batch: int,
    vectorize: bool | None = None,
    **options: Any,
) -> Tensor:
    """This rank's part of the meta-loss, Σ_{i in batch} ℓ_i / meta_batch: ().

    Summed over the ranks it is the meta-batch mean that ``meta_loss`` computes
    on one process; so is its gradient. ``model`` is the plain module (not a
    DDP wrapper); ``batch`` this rank's shard, ``meta_batch`` the global B.
    """
    check_not_ddp("model", model)
    check_int("meta_batch", meta_batch, low=1, example=25)
    if isinstance(batch, TaskBatch) and len(batch) > meta_batch:
        raise ValueError(
            f"the shard holds {len(batch)} tasks but meta_batch={meta_batch}; "
            "meta_batch is the global number of tasks, summed over the ranks"
        )
    losses = map_tasks(fn, model, params, batch, vectorize=vectorize, **options)
    return losses.sum() / meta_batch


def reduced_meta_backward(loss: Tensor, *groups: Mapping[str, Tensor]) -> list[Params]:
    """``meta_backward`` of this rank's ``loss``, then one all-reduce (sum).

    ``loss`` is :func:`local_meta_loss`; afterwards every tensor's ``.grad``
    holds the global meta-gradient (added to what ``.grad`` held before), the
    same bits on every rank. Returns the reduced gradients, one dict per group.
    A collective: every rank must call it.
    """
    world()
    before = [{n: t.grad for n, t in g.items()} for g in groups] if groups else []
    local = _meta_backward(loss, *groups)
    names = [(i, n) for i, g in enumerate(local) for n in g]
    reduced = all_reduce_sum([local[i][n].detach() for i, n in names])
    out: list[Params] = [{} for _ in groups]
    for (i, n), g in zip(names, reduced, strict=True):
        old = before[i][n]
        groups[i][n].grad = g if old is None else old + g
        out[i][n] = g
    return out


def _moved(batch: TaskBatch, device: torch.device) -> TaskBatch:
    """The batch on ``device`` (tasks are drawn on the CPU; a GPU rank moves them)."""
    if batch.x_support.device == device:
        return batch
    return TaskBatch(
        batch.x_support.to(device),
        batch.y_support.to(device),
        batch.x_query.to(device),
        batch.y_query.to(device),
        info={k: v.to(device) for k, v in batch.info.items()},
    )


def _check_same_start(groups: Sequence[Mapping[str, Tensor]]) -> None:
    """Every rank must start from the same tensors, or the ranks drift apart.

    Compares one float64 sum per tensor across ranks (one all-gather).
    """
    _, size = world()
    with torch.no_grad():
        sums = torch.stack([t.double().sum() for g in groups for t in g.values()])
    gathered = [torch.zeros_like(sums) for _ in range(size)]
    dist.all_gather(gathered, sums)
    if not all(torch.equal(gathered[0], other) for other in gathered[1:]):
        raise ValueError(
            "the ranks start from different parameters; build the model from the "
            "same seed on every rank or call broadcast_parameters(model) first"
        )


def distributed_meta_train(
    task_loss: Callable[..., Tensor],
    model: nn.Module,
    params: Params,
    tasks: TaskDistribution,
    *,
    steps: int,
    optimizer: torch.optim.Optimizer,
    seed: int,
    meta_batch: int = 25,
    extra: Sequence[Mapping[str, Tensor]] = (),
    **loss_kwargs: Any,
) -> list[float]:
    """``meta_train`` on every rank of the process group; the global meta-losses.

    Each step, rank r draws its shard of the ``meta_batch`` tasks
    (:func:`sample_shard`), computes :func:`local_meta_loss` on the plain
    ``model``, reduces the meta-gradient into ``params`` and every dict of
    ``extra`` (:func:`reduced_meta_backward`) and steps ``optimizer``. The
    parameters must start equal on every rank (same seed, or
    ``broadcast_parameters``; checked) and then stay bit-identical. Tasks are
    drawn on the CPU and moved to the device of ``params`` (a GPU per rank
    with NCCL).

    Returns: the meta-batch mean loss before each step, length ``steps``.
    """
    check_callable("task_loss", task_loss, "maml_loss")
    check_not_ddp("model", model)
    check_module("model", model)
    check_params("params", params)
    if not params:
        raise ValueError("params is empty; pass dict(model.named_parameters())")
    check_int("steps", steps, low=1, example=1000)
    check_optimizer("optimizer", optimizer)
    check_int("seed", seed, low=0, example=0)
    rank, size = world()
    check_int("meta_batch", meta_batch, low=size, example=25)
    groups = [params, *_extra(extra)]
    _check_held(optimizer, groups)
    _check_same_start(groups)
    device = next(iter(params.values())).device
    losses = []
    for step in range(steps):
        batch = _moved(
            sample_shard(
                tasks, meta_batch, seed=seed, step=step, rank=rank, world_size=size
            ),
            device,
        )
        loss = local_meta_loss(
            task_loss, model, params, batch, meta_batch=meta_batch, **loss_kwargs
        )
        optimizer.zero_grad(set_to_none=True)
        reduced_meta_backward(loss, *groups)
        optimizer.step()
        losses.append(all_reduce_sum([loss.detach()])[0])
    return torch.stack(losses).tolist()
