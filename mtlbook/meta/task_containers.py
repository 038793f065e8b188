"""Task containers: one task, a meta-batch of tasks, and what draws them.

A *task* (:class:`Task`) is a small learning problem: a support set to adapt
on and a query set that scores the adaptation. A :class:`TaskBatch` holds the
same fields with a leading task dimension, ready for ``vmap``;
:func:`stack_tasks` builds one from tasks. A *task distribution*
(:class:`TaskDistribution`) draws a TaskBatch from an explicit
``torch.Generator``; the providers are in :mod:`mtlbook.meta.sinusoid` and
:mod:`mtlbook.meta.episodes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from mtlbook._validate import check_int, check_nonempty, check_tensor

__all__ = ["Task", "TaskBatch", "TaskDistribution", "stack_tasks"]

_FIELDS = ("x_support", "y_support", "x_query", "y_query")


def _check_sets(t: Task | TaskBatch, lead: int) -> None:
    """Shape checks shared by Task (lead=0) and TaskBatch (lead=1)."""
    for name in _FIELDS:
        value = getattr(t, name)
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value)}")
        if name.startswith("x_") and not value.is_floating_point():
            # uint8 pixels or int64 inputs would only fail deep inside the model
            check_tensor(name, value, floating=True)
        if value.ndim < lead + 1:
            raise ValueError(
                f"{name} has shape {tuple(value.shape)}; expected "
                + ("(tasks, examples, ...)" if lead else "(examples, ...)")
            )
    for split in ("support", "query"):
        x, y = getattr(t, f"x_{split}"), getattr(t, f"y_{split}")
        if x.shape[: lead + 1] != y.shape[: lead + 1]:
            raise ValueError(
                f"x_{split} has shape {tuple(x.shape)} but y_{split} has shape "
                f"{tuple(y.shape)}; they need one target per input"
            )
        if x.shape[lead] == 0:
            raise ValueError(f"x_{split} is empty; a task needs at least one {split}")
    for kind in ("x", "y"):
        s, q = getattr(t, f"{kind}_support"), getattr(t, f"{kind}_query")
        if (
            s.shape[lead + 1 :] != q.shape[lead + 1 :]
            or s.shape[:lead] != q.shape[:lead]
        ):
            raise ValueError(
                f"{kind}_support has shape {tuple(s.shape)} and {kind}_query "
                f"{tuple(q.shape)}; support and query examples must have the "
                "same shape"
            )


@dataclass(frozen=True)
class Task:
    """One task: adapt on the support set, score on the query set.

    x_support: ``(n_support, *x_shape)``; y_support: ``(n_support, *y_shape)``
    x_query: ``(n_query, *x_shape)``; y_query: ``(n_query, *y_shape)``
    info: per-task facts such as the sinusoid's amplitude (scalars or vectors).
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    info: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_sets(self, lead=0)


def _task_of_batch(
    x_support: Tensor, y_support: Tensor, x_query: Tensor, y_query: Tensor
) -> Task:
    """A Task cut from a TaskBatch, which was checked as a whole when built.

    The per-task loop of ``map_tasks`` builds one per task and step; checking
    each again cost about 5 % of a small model's meta-step.
    """
    task = object.__new__(Task)
    values = (x_support, y_support, x_query, y_query)
    for name, value in zip(_FIELDS, values, strict=True):
        object.__setattr__(task, name, value)
    object.__setattr__(task, "info", {})
    return task


@dataclass(frozen=True)
class TaskBatch:
    """A meta-batch: the fields of :class:`Task` with a leading task dimension.

    x_support: ``(tasks, n_support, *x_shape)``; y_support: (tasks, n_support, ...)
    x_query: ``(tasks, n_query, *x_shape)``; y_query: ``(tasks, n_query, *y_shape)``
    info: each value (tasks, ...).
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    info: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_sets(self, lead=1)
        if not isinstance(self.info, dict):
            raise TypeError(
                f"info must be a dict of tensors, got {type(self.info).__name__}"
            )
        for key, value in self.info.items():
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"info['{key}'] must be a torch.Tensor with one entry per task, "
                    f"got {type(value).__name__}; wrap it in torch.as_tensor"
                )
            if value.shape[:1] != self.x_support.shape[:1]:
                raise ValueError(
                    f"info['{key}'] has shape {tuple(value.shape)}; expected a "
                    f"leading dimension of {len(self)}, one entry per task"
                )

    def __len__(self) -> int:
        return self.x_support.shape[0]

    def __getitem__(self, i: int) -> Task:
        """The i-th task of the batch."""
        i = check_int("i", i)
        if not -len(self) <= i < len(self):
            raise IndexError(f"task index {i} out of range for {len(self)} tasks")
        x_support, y_support, x_query, y_query = (
            getattr(self, name)[i] for name in _FIELDS
        )
        return Task(
            x_support,
            y_support,
            x_query,
            y_query,
            info={k: v[i] for k, v in self.info.items()},
        )


def stack_tasks(tasks: Sequence[Task]) -> TaskBatch:
    """Stack tasks of identical shapes into a TaskBatch (tasks, ...)."""
    if isinstance(tasks, TaskBatch):
        raise TypeError("tasks is already a TaskBatch; there is nothing to stack")
    check_nonempty("tasks", tasks, "tasks")
    kinds = {type(t).__name__ for t in tasks if not isinstance(t, Task)}
    if kinds:
        raise TypeError(
            f"tasks must all be Task objects, got {sorted(kinds)}; build each with "
            "Task(x_support, y_support, x_query, y_query)"
        )
    shapes = {tuple(getattr(t, n).shape for n in _FIELDS) for t in tasks}
    if len(shapes) > 1:
        raise ValueError(
            "tasks have different support/query shapes; only tasks with the same "
            "n_support, n_query and example shapes can be stacked"
        )
    keys = {tuple(sorted(t.info)) for t in tasks}
    if len(keys) > 1:
        raise ValueError("tasks carry different info keys; they cannot be stacked")
    x_support, y_support, x_query, y_query = (
        torch.stack([getattr(t, n) for t in tasks]) for n in _FIELDS
    )
    return TaskBatch(
        x_support,
        y_support,
        x_query,
        y_query,
        info={k: torch.stack([t.info[k] for t in tasks]) for k in tasks[0].info},
    )


# --- task distributions -------------------------------------------------------


class TaskDistribution(Protocol):
    """Anything that draws a meta-batch of tasks from an explicit generator."""

    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        """n_tasks tasks drawn from generator; (tasks, ...) tensors."""
        ...


class _Distribution:
    """Base of the providers: ``sample`` is the first task of a batch of one."""

    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        raise NotImplementedError

    def sample(self, generator: torch.Generator) -> Task:
        """One task drawn from ``generator``."""
        return self.sample_batch(1, generator)[0]
