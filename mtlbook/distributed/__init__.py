"""Scaling out: data parallelism on ``torch.distributed`` (gloo on CPU, NCCL on GPU).

Launch any script that uses it with torchrun, one process per worker::

    torchrun --standalone --nproc-per-node=2 script.py

and call ``torch.distributed.init_process_group("gloo")`` (``"nccl"`` on GPUs)
at its start. Three kinds of training, three ways to share the work:

* meta-learning (:mod:`mtlbook.distributed.meta`): each rank adapts to its
  share of the meta-batch with the ordinary ``torch.func`` path on the plain
  module; one all-reduce sums the meta-gradients
  (:func:`distributed_meta_train`, :func:`sample_shard`,
  :func:`local_meta_loss`, :func:`reduced_meta_backward`);
* multi-task learning (:mod:`mtlbook.distributed.multitask`): aggregators see
  the global task gradients (:func:`aggregated_backward`), scalarizers the
  global losses (:func:`scalarized_backward`);
* transfer (fine-tuning one network on one task): DistributedDataParallel
  itself, whose ``loss.backward()`` averages the gradients.

:mod:`mtlbook.distributed.cost` models the time of an all-reduce on paper.
"""

from mtlbook.distributed.comm import (
    all_reduce_mean,
    all_reduce_sum,
    broadcast_parameters,
    check_not_ddp,
    world,
)
from mtlbook.distributed.cost import allreduce_bytes, allreduce_seconds, step_seconds
from mtlbook.distributed.meta import (
    distributed_meta_train,
    local_meta_loss,
    reduced_meta_backward,
    sample_shard,
    shard,
    task_generator,
)
from mtlbook.distributed.multitask import (
    aggregated_backward,
    average_gradients,
    reduced_losses,
    reduced_representation_gramian,
    reduced_task_gradients,
    scalarized_backward,
)

__all__ = [
    "aggregated_backward",
    "all_reduce_mean",
    "all_reduce_sum",
    "allreduce_bytes",
    "allreduce_seconds",
    "average_gradients",
    "broadcast_parameters",
    "check_not_ddp",
    "distributed_meta_train",
    "local_meta_loss",
    "reduced_losses",
    "reduced_meta_backward",
    "reduced_representation_gramian",
    "reduced_task_gradients",
    "sample_shard",
    "scalarized_backward",
    "shard",
    "step_seconds",
    "task_generator",
    "world",
]
