"""Tasks and task distributions.

A *task* is a small learning problem: a support set to adapt on and a query set
that scores the adaptation. A *task distribution* draws tasks from an explicit
``torch.Generator``; ``sample_batch(n_tasks, generator)`` returns a
:class:`TaskBatch` whose tensors carry a leading task dimension, ready for
``vmap``. Three providers: the MAML sinusoid (Finn et al. 2017, §5.1), the
Reptile sine (Nichol et al. 2018, §6) and N-way K-shot episodes drawn from any
labelled tensors (Vinyals et al. 2016).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from mtlbook._validate import (
    check_int,
    check_nonempty,
    check_tensor,
    check_torch_generator,
)
from mtlbook.data.episodes import draw_episode

__all__ = [
    "FewShotEpisodes",
    "ReptileSine",
    "Sinusoid",
    "Task",
    "TaskBatch",
    "TaskDistribution",
    "stack_tasks",
]

_FIELDS = ("x_support", "y_support", "x_query", "y_query")


# --- tasks --------------------------------------------------------------------


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

    x_support: (n_support, *x_shape); y_support: (n_support, *y_shape)
    x_query: (n_query, *x_shape); y_query: (n_query, *y_shape)
    info: per-task facts such as the sinusoid's amplitude (scalars or vectors).
    """

    x_support: Tensor
    y_support: Tensor
    x_query: Tensor
    y_query: Tensor
    info: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_sets(self, lead=0)


@dataclass(frozen=True)
class TaskBatch:
    """A meta-batch: the fields of :class:`Task` with a leading task dimension.

    x_support: (tasks, n_support, *x_shape); y_support: (tasks, n_support, ...)
    x_query: (tasks, n_query, *x_shape); y_query: (tasks, n_query, *y_shape)
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
        return Task(
            *(getattr(self, name)[i] for name in _FIELDS),
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
    return TaskBatch(
        *(torch.stack([getattr(t, n) for t in tasks]) for n in _FIELDS),
        info={k: torch.stack([t.info[k] for t in tasks]) for k in tasks[0].info},
    )


# --- shared checks for the samplers -------------------------------------------


def _positive_int(value: int, name: str) -> None:
    check_int(name, value, low=1)


def _interval(bounds: tuple[float, float], name: str) -> None:
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise TypeError(
            f"{name}={bounds!r} must be a pair (low, high), e.g. {name}=(0.1, 5.0)"
        )
    for end in bounds:
        if isinstance(end, bool) or not isinstance(end, int | float):
            raise TypeError(f"{name}={bounds!r} must hold two real numbers")
    low, high = bounds
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(
            f"{name}={bounds}; expected a finite interval (low, high) with low < high"
        )


def _check_dtype(dtype: object) -> None:
    if not isinstance(dtype, torch.dtype):
        raise TypeError(
            f"dtype={dtype!r} must be a torch.dtype, e.g. dtype=torch.float32"
        )
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype={dtype}; use torch.float32 or float64")


def _generator(generator: torch.Generator) -> None:
    check_torch_generator("generator", generator)


def _uniform(
    shape: tuple[int, ...], bounds: tuple[float, float], generator: torch.Generator
) -> Tensor:
    # Drawn in float64 so that float32 and float64 tasks hold the same numbers.
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return bounds[0] + (bounds[1] - bounds[0]) * u


class TaskDistribution(Protocol):
    """Anything that draws a meta-batch of tasks from an explicit generator."""

    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        """n_tasks tasks drawn from generator; (tasks, ...) tensors."""
        ...


class _Distribution:
    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        raise NotImplementedError

    def sample(self, generator: torch.Generator) -> Task:
        """One task drawn from ``generator``."""
        return self.sample_batch(1, generator)[0]


# --- regression tasks ---------------------------------------------------------


@dataclass(frozen=True)
class Sinusoid(_Distribution):
    """The MAML sinusoid: y = A·sin(x − φ), A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[−5, 5].

    Finn et al. (2017), §5.1. Support and query points are drawn independently.
    Batches: x_*, y_*: (tasks, k, 1); info: amplitude (tasks,), phase (tasks,).
    """

    k_support: int = 10
    k_query: int = 10
    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        _positive_int(self.k_support, "k_support")
        _positive_int(self.k_query, "k_query")
        _interval(self.amplitude, "amplitude")
        _interval(self.phase, "phase")
        _interval(self.x_range, "x_range")
        _check_dtype(self.dtype)

    @staticmethod
    def target(x: Tensor, amplitude: Tensor, phase: Tensor) -> Tensor:
        """A·sin(x − φ); amplitude and phase broadcast against x."""
        return amplitude * torch.sin(x - phase)

    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        """n_tasks tasks; the same generator state gives the same tasks."""
        _positive_int(n_tasks, "n_tasks")
        _generator(generator)
        a = _uniform((n_tasks,), self.amplitude, generator)
        p = _uniform((n_tasks,), self.phase, generator)
        xs = _uniform((n_tasks, self.k_support, 1), self.x_range, generator)
        xq = _uniform((n_tasks, self.k_query, 1), self.x_range, generator)
        ab, pb = a[:, None, None], p[:, None, None]
        d = self.dtype
        return TaskBatch(
            xs.to(d),
            self.target(xs, ab, pb).to(d),
            xq.to(d),
            self.target(xq, ab, pb).to(d),
            info={"amplitude": a.to(d), "phase": p.to(d)},
        )


@dataclass(frozen=True)
class ReptileSine(_Distribution):
    """Reptile's sine: y = a·sin(x + b), a ~ U[0.1, 5], b ~ U[0, 2π].

    Nichol et al. (2018), §6: x lives on a grid of n_grid points in [−5, 5]; the
    support is k_support grid points drawn without replacement and the query is
    the whole grid. x_support, y_support: (tasks, k_support, 1);
    x_query, y_query: (tasks, n_grid, 1); info: amplitude, phase (tasks,).
    """

    k_support: int = 10
    n_grid: int = 50
    amplitude: tuple[float, float] = (0.1, 5.0)
    phase: tuple[float, float] = (0.0, 2 * math.pi)
    x_range: tuple[float, float] = (-5.0, 5.0)
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        _positive_int(self.k_support, "k_support")
        _positive_int(self.n_grid, "n_grid")
        if self.k_support > self.n_grid:
            raise ValueError(
                f"k_support={self.k_support} > n_grid={self.n_grid}; the support "
                "is drawn from the grid without replacement: lower k_support"
            )
        _interval(self.amplitude, "amplitude")
        _interval(self.phase, "phase")
        _interval(self.x_range, "x_range")
        _check_dtype(self.dtype)

    @staticmethod
    def target(x: Tensor, amplitude: Tensor, phase: Tensor) -> Tensor:
        """a·sin(x + b); amplitude and phase broadcast against x."""
        return amplitude * torch.sin(x + phase)

    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        """n_tasks tasks; the same generator state gives the same tasks."""
        _positive_int(n_tasks, "n_tasks")
        _generator(generator)
        a = _uniform((n_tasks,), self.amplitude, generator)
        p = _uniform((n_tasks,), self.phase, generator)
        grid = torch.linspace(*self.x_range, self.n_grid, dtype=torch.float64)
        order = torch.rand(n_tasks, self.n_grid, generator=generator).argsort(dim=1)
        xs = grid[order[:, : self.k_support]][..., None]
        xq = grid.expand(n_tasks, -1)[..., None]
        ab, pb = a[:, None, None], p[:, None, None]
        d = self.dtype
        return TaskBatch(
            xs.to(d),
            self.target(xs, ab, pb).to(d),
            xq.to(d),
            self.target(xq, ab, pb).to(d),
            info={"amplitude": a.to(d), "phase": p.to(d)},
        )


# --- classification episodes ---------------------------------------------------


class FewShotEpisodes(_Distribution):
    """N-way K-shot episodes from labelled tensors (Vinyals et al. 2016).

    Each episode picks ``n_way`` classes of the split, relabels them 0..n_way-1
    in a random order, and takes ``k_shot`` support and ``n_query`` query
    examples of each class, never the same example twice. Give each split (e.g.
    meta-training and evaluation alphabets) its own ``classes`` so that an
    episode never mixes them. The draws are those of
    :func:`mtlbook.data.episodes.sample_episode`: each batch seeds a
    ``np.random.default_rng`` with one integer drawn from ``generator`` and
    draws its episodes one after the other with
    :func:`~mtlbook.data.episodes.draw_episode`.

    x: (n, *x_shape); y: (n,) integer labels; classes: the labels of the split
    (default: every label in y). Batches: x_support (tasks, n_way*k_shot, ...),
    y_support (tasks, n_way*k_shot), x_query (tasks, n_way*n_query, ...),
    y_query (tasks, n_way*n_query); examples are grouped by episode label.
    info: classes (tasks, n_way) original labels, support_index and
    query_index (tasks, n_way*k_shot / n_way*n_query) rows of x.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        *,
        n_way: int,
        k_shot: int,
        n_query: int,
        classes: Sequence[int] | Tensor | None = None,
    ) -> None:
        check_tensor("x", x)
        check_tensor("y", y)
        if y.ndim != 1 or x.ndim < 1 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"x has shape {tuple(x.shape)} and y {tuple(y.shape)}; expected "
                "x: (n, *x_shape) and y: (n,), one label per row of x"
            )
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
        check_tensor("x", x, floating=True)  # uint8 pixels: x.float() / 255
        if not torch.isfinite(x).all():  # once, here: episodes index into x
            raise ValueError("x contains NaN or inf; clean the data first")
        for value, name in ((n_way, "n_way"), (k_shot, "k_shot"), (n_query, "n_query")):
            _positive_int(value, name)
        present = torch.unique(y)
        split = present if classes is None else torch.as_tensor(classes).unique()
        unknown = split[~torch.isin(split, present)]
        if unknown.numel():
            raise ValueError(
                f"classes {unknown.tolist()} do not occur in y; pass labels of y"
            )
        if n_way > len(split):
            raise ValueError(
                f"n_way={n_way} but the split has only {len(split)} classes; "
                "lower n_way or use a split with more classes"
            )
        labels = y.cpu().numpy()
        per_class = [np.flatnonzero(labels == int(c)) for c in split]
        need = k_shot + n_query
        short = [
            int(c) for c, idx in zip(split, per_class, strict=True) if len(idx) < need
        ]
        if short:
            raise ValueError(
                f"classes {short[:5]} have fewer than k_shot + n_query = {need} "
                "examples; lower k_shot or n_query, or leave those classes out "
                "of `classes`"
            )
        self.x, self.y = x, y
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.classes = split
        self._per_class = per_class

    @staticmethod
    def numpy_rng(generator: torch.Generator) -> np.random.Generator:
        """The numpy generator one batch draws from, seeded from ``generator``."""
        seed = torch.randint(0, 2**62, (), generator=generator, dtype=torch.int64)
        return np.random.default_rng(int(seed))

    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        """n_tasks episodes; the same generator state gives the same episodes."""
        _positive_int(n_tasks, "n_tasks")
        _generator(generator)
        rng = self.numpy_rng(generator)
        chosen, support, query = [], [], []
        for _ in range(n_tasks):
            picks, s_rows, q_rows = draw_episode(
                self._per_class,
                n_way=self.n_way,
                k_shot=self.k_shot,
                n_query=self.n_query,
                rng=rng,
            )
            chosen.append(picks)
            support.append(s_rows.flatten())
            query.append(q_rows.flatten())
        s_idx = torch.from_numpy(np.stack(support)).long()
        q_idx = torch.from_numpy(np.stack(query)).long()
        labels = torch.arange(self.n_way)
        return TaskBatch(
            self.x[s_idx],
            labels.repeat_interleave(self.k_shot).expand(n_tasks, -1).clone(),
            self.x[q_idx],
            labels.repeat_interleave(self.n_query).expand(n_tasks, -1).clone(),
            info={
                "classes": self.classes[torch.from_numpy(np.stack(chosen)).long()],
                "support_index": s_idx,
                "query_index": q_idx,
            },
        )
