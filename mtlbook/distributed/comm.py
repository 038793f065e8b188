"""The few collectives data parallelism needs, on an initialised process group.

Everything here runs on the default ``torch.distributed`` process group that
``torchrun`` (or ``init_process_group``) set up: gloo on CPUs, NCCL on GPUs,
the same calls. Each function is a *collective*: every rank must call it, in
the same order, with tensors of the same shape, or the ranks wait forever.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from mtlbook._validate import check_tensor

__all__ = [
    "all_reduce_mean",
    "all_reduce_sum",
    "broadcast_parameters",
    "check_not_ddp",
    "world",
]


def world() -> tuple[int, int]:
    """(rank, world size) of the default process group, with a clear error if none.

    Returns (0, 1) nowhere: a data-parallel function called without a process
    group is a mistake (launch with torchrun, or call init_process_group).
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError(
            "no torch.distributed process group is initialised; launch with "
            "`torchrun --standalone --nproc-per-node=2 script.py` and call "
            "torch.distributed.init_process_group('gloo') (or 'nccl' on GPUs) first"
        )
    return dist.get_rank(), dist.get_world_size()


def check_not_ddp(name: str, model: object) -> None:
    """Refuse a DistributedDataParallel wrapper where the plain module is needed.

    DDP synchronises gradients in hooks that only ``loss.backward()`` fires;
    ``torch.autograd.grad`` and ``torch.func`` bypass them, so the gradients
    would silently stay local to each rank.
    """
    if isinstance(model, DistributedDataParallel):
        raise TypeError(
            f"{name} is wrapped in DistributedDataParallel, whose gradient "
            "all-reduce runs only in loss.backward(); torch.autograd.grad and "
            f"torch.func would return each rank's local gradient. Pass {name}.module "
            "and reduce the gradients with mtlbook.distributed"
        )


def all_reduce_sum(tensors: Sequence[Tensor]) -> list[Tensor]:
    """Σ over ranks of each tensor, one flat all-reduce per dtype; same shapes.

    The tensors of one dtype are concatenated into one buffer (one message
    instead of one per tensor), reduced, and split back. Every rank gets the
    same bits.
    """
    world()
    tensors = list(tensors)
    if not tensors:
        raise ValueError("tensors is empty; pass at least one tensor to reduce")
    for i, t in enumerate(tensors):
        check_tensor(f"tensors[{i}]", t)
    out: list[Tensor | None] = [None] * len(tensors)
    for dtype in dict.fromkeys(t.dtype for t in tensors):
        index = [i for i, t in enumerate(tensors) if t.dtype == dtype]
        flat = torch.cat([tensors[i].detach().reshape(-1) for i in index])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        pieces = flat.split([tensors[i].numel() for i in index])
        for i, piece in zip(index, pieces, strict=True):
            out[i] = piece.reshape(tensors[i].shape)
    return [t for t in out if t is not None]


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """The mean over ranks of ``tensor`` (any shape), the same on every rank."""
    check_tensor("tensor", tensor)
    _, size = world()
    return all_reduce_sum([tensor])[0] / size


def broadcast_parameters(model: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (what DDP does at start)."""
    world()
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast(t, src=0)
