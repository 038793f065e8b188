"""Deliberately wrong calls into mtlbook.distributed: each fails at the boundary.

Most need no process group; those that do run inside a one-rank gloo group
(127.0.0.1, a free port), created and destroyed around the call. The DDP cases
were silent before: ``meta_loss`` or ``task_gradients`` on a DDP-wrapped model
returned each rank's local gradient.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from misuse import Bad, params
from torch import nn

from mtlbook.distributed import (
    aggregated_backward,
    all_reduce_mean,
    all_reduce_sum,
    allreduce_bytes,
    allreduce_seconds,
    average_gradients,
    distributed_meta_train,
    local_meta_loss,
    reduced_losses,
    reduced_meta_backward,
    sample_shard,
    scalarized_backward,
    shard,
    step_seconds,
    task_generator,
    world,
)
from mtlbook.meta import Sinusoid, maml_loss, meta_backward, meta_loss
from mtlbook.multitask import MGDA, EqualWeights, HardSharing, task_gradients

MSE = {"loss_fn": F.mse_loss, "inner_lr": 0.1}


def one_rank(call: Callable[[], object]) -> Callable[[], object]:
    """``call`` inside a one-rank gloo process group."""

    def run() -> object:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        dist.init_process_group(
            "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1
        )
        try:
            return call()
        finally:
            dist.destroy_process_group()

    return run


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1))


def ddp() -> nn.Module:
    return nn.parallel.DistributedDataParallel(net())


def batch(n: int = 2):
    return Sinusoid(4, 4).sample_batch(n, torch.Generator().manual_seed(0))


def mtl() -> HardSharing:
    torch.manual_seed(0)
    layer = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
    return HardSharing([layer], [nn.Linear(3, 1), nn.Linear(3, 1)], shared_depth=1)


def terms(model: nn.Module) -> list[torch.Tensor]:
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    return [out.square().mean() for out in model(x)]


def local_loss(model: nn.Module, **kw):
    p = dict(model.named_parameters())
    options = {"meta_batch": 2, **MSE, **kw}
    return local_meta_loss(
        maml_loss, model, p, options.pop("batch", batch()), **options
    )


def meta_train(**kw):
    m = net()
    p = dict(m.named_parameters())
    options = {
        "steps": 1,
        "optimizer": torch.optim.SGD(p.values(), lr=0.1),
        "seed": 0,
        "meta_batch": 2,
        **MSE,
        **kw,
    }
    return distributed_meta_train(maml_loss, m, p, Sinusoid(), **options)


def no_grad_model() -> nn.Module:
    m = net()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


CASES = [
    Bad("shard_world_zero", lambda: shard(4, 0, 0), ValueError, "world_size"),
    Bad("shard_rank_too_big", lambda: shard(4, 2, 2), ValueError, "rank"),
    Bad(
        "shard_fewer_tasks_than_ranks", lambda: shard(1, 0, 2), ValueError, "meta_batch"
    ),
    Bad("shard_float_batch", lambda: shard(4.0, 0, 1), TypeError, "meta_batch"),
    Bad(
        "task_generator_negative", lambda: task_generator(-1, 0, 0), ValueError, "seed"
    ),
    Bad(
        "task_generator_float_step",
        lambda: task_generator(0, 0.5, 0),
        TypeError,
        "step",
    ),
    Bad(
        "sample_shard_not_a_distribution",
        lambda: sample_shard(batch(), 2, seed=0, step=0, rank=0, world_size=1),
        TypeError,
        "tasks",
    ),
    Bad("bytes_negative", lambda: allreduce_bytes(-1, 2), ValueError, "n_values"),
    Bad("bytes_zero_width", lambda: allreduce_bytes(10, 2, 0), ValueError, "bytes_per"),
    Bad(
        "seconds_zero_bandwidth",
        lambda: allreduce_seconds(10, 2, bandwidth=0.0, latency=1e-6),
        ValueError,
        "bandwidth",
    ),
    Bad(
        "seconds_negative_latency",
        lambda: allreduce_seconds(10, 2, bandwidth=1e9, latency=-1.0),
        ValueError,
        "latency",
    ),
    Bad(
        "step_negative_compute",
        lambda: step_seconds(-1.0, 10, 2, bandwidth=1e9, latency=1e-6),
        ValueError,
        "compute_seconds",
    ),
    Bad("world_without_a_group", world, RuntimeError, "init_process_group"),
    Bad(
        "reduce_without_a_group",
        lambda: reduced_meta_backward(torch.zeros((), requires_grad=True)),
        RuntimeError,
        "torchrun",
    ),
    Bad("mean_of_a_list", lambda: all_reduce_mean([1.0]), TypeError, "tensor"),
    Bad("sum_of_nothing", one_rank(lambda: all_reduce_sum([])), ValueError, "tensors"),
    Bad(
        "local_meta_loss_ddp",
        one_rank(lambda: local_loss(ddp())),
        TypeError,
        "DistributedDataParallel",
    ),
    Bad(
        "local_meta_loss_batch_over_global",
        lambda: local_loss(net(), batch=batch(3)),
        ValueError,
        "meta_batch",
    ),
    Bad(
        "meta_train_negative_seed",
        one_rank(lambda: meta_train(seed=-1)),
        ValueError,
        "seed",
    ),
    Bad(
        "meta_train_extra_a_dict",
        one_rank(lambda: meta_train(extra={"w": torch.zeros(1, requires_grad=True)})),
        TypeError,
        "extra",
    ),
    Bad(
        "meta_train_extra_not_in_the_optimizer",
        one_rank(
            lambda: meta_train(extra=({"w": torch.zeros(1, requires_grad=True)},))
        ),
        ValueError,
        "optimizer",
    ),
    Bad(
        "meta_train_no_params",
        one_rank(
            lambda: distributed_meta_train(
                maml_loss,
                net(),
                {},
                Sinusoid(),
                steps=1,
                optimizer=torch.optim.SGD(net().parameters()),
                seed=0,
            )
        ),
        ValueError,
        "params",
    ),
    Bad(
        "meta_train_ddp",
        one_rank(
            lambda: distributed_meta_train(
                maml_loss, ddp(), {}, Sinusoid(), steps=1, optimizer=None, seed=0
            )
        ),
        TypeError,
        "DistributedDataParallel",
    ),
    Bad(
        "meta_loss_ddp",
        one_rank(lambda: meta_loss(maml_loss, ddp(), {}, batch(), **MSE)),
        TypeError,
        "DistributedDataParallel",
    ),
    Bad(
        "meta_backward_ddp",
        one_rank(lambda: meta_backward(torch.zeros((), requires_grad=True), ddp())),
        TypeError,
        "groups",
    ),
    Bad(
        "task_gradients_ddp",
        one_rank(lambda: task_gradients(terms(mtl()), ddp())),
        TypeError,
        "DistributedDataParallel",
    ),
    Bad(
        "aggregated_not_an_aggregator",
        one_rank(lambda: aggregated_backward("mgda", terms(mtl()), mtl())),
        TypeError,
        "aggregator",
    ),
    Bad(
        "aggregated_without_shared_parameters",
        one_rank(lambda: aggregated_backward(MGDA(), terms(mtl()), net())),
        ValueError,
        "shared_parameters",
    ),
    Bad(
        "scalarized_not_a_scalarizer",
        one_rank(lambda: scalarized_backward(MGDA(), terms(mtl()), mtl())),
        TypeError,
        "scalarizer",
    ),
    Bad(
        "scalarized_ddp",
        one_rank(lambda: scalarized_backward(EqualWeights(2), terms(mtl()), ddp())),
        TypeError,
        "model",
    ),
    Bad(
        "reduced_losses_a_column",
        one_rank(lambda: reduced_losses(torch.ones(2, 1))),
        ValueError,
        "losses",
    ),
    Bad(
        "reduced_losses_a_string",
        one_rank(lambda: reduced_losses("losses")),
        TypeError,
        "losses",
    ),
    Bad(
        "average_frozen_model",
        one_rank(lambda: average_gradients(no_grad_model().parameters())),
        ValueError,
        "params",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_misuse(case: Bad) -> None:
    case.check()


def test_the_misuse_cases_have_unique_ids():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
