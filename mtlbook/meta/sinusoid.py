"""Regression task distributions: the MAML sinusoid and the Reptile sine.

:class:`Sinusoid` is the task family of Finn et al. (2017), §5.1;
:class:`ReptileSine` that of Nichol et al. (2018), §6. Both draw every number
in float64 from an explicit ``torch.Generator`` and return a
:class:`~mtlbook.meta.task_containers.TaskBatch`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from mtlbook._validate import check_int, check_torch_generator
from mtlbook.meta.task_containers import TaskBatch, _Distribution

__all__ = ["ReptileSine", "Sinusoid", "sinusoid_mlp"]


# --- checks ---------------------------------------------------------------------


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


def _uniform(
    shape: tuple[int, ...], bounds: tuple[float, float], generator: torch.Generator
) -> Tensor:
    # Drawn in float64 so that float32 and float64 tasks hold the same numbers.
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _task_batch(
    family: Any, xs: Tensor, xq: Tensor, amplitude: Tensor, phase: Tensor
) -> TaskBatch:
    """Support and query targets of each task, in the family's dtype."""
    ab, pb = amplitude[:, None, None], phase[:, None, None]
    d = family.dtype
    return TaskBatch(
        xs.to(d),
        family.target(xs, ab, pb).to(d),
        xq.to(d),
        family.target(xq, ab, pb).to(d),
        info={"amplitude": amplitude.to(d), "phase": phase.to(d)},
    )


# --- the task families ----------------------------------------------------------


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
        check_int("k_support", self.k_support, low=1)
        check_int("k_query", self.k_query, low=1)
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
        check_int("n_tasks", n_tasks, low=1)
        check_torch_generator("generator", generator)
        a = _uniform((n_tasks,), self.amplitude, generator)
        p = _uniform((n_tasks,), self.phase, generator)
        xs = _uniform((n_tasks, self.k_support, 1), self.x_range, generator)
        xq = _uniform((n_tasks, self.k_query, 1), self.x_range, generator)
        return _task_batch(self, xs, xq, a, p)


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
        check_int("k_support", self.k_support, low=1)
        check_int("n_grid", self.n_grid, low=1)
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
        check_int("n_tasks", n_tasks, low=1)
        check_torch_generator("generator", generator)
        a = _uniform((n_tasks,), self.amplitude, generator)
        p = _uniform((n_tasks,), self.phase, generator)
        grid = torch.linspace(*self.x_range, self.n_grid, dtype=torch.float64)
        order = torch.rand(n_tasks, self.n_grid, generator=generator).argsort(dim=1)
        xs = grid[order[:, : self.k_support]][..., None]
        xq = grid.expand(n_tasks, -1)[..., None]
        return _task_batch(self, xs, xq, a, p)


# --- the network ----------------------------------------------------------------


def sinusoid_mlp(seed: int | None = None, width: int = 40) -> torch.nn.Module:
    """The 1-40-40-1 ReLU network of Finn et al. (2017), §5.1, for the sinusoid.

    ``nn.Sequential(Linear(1, width), ReLU, Linear(width, width), ReLU,
    Linear(width, 1))`` with PyTorch's default initialisation, which draws from
    torch's global generator: ``seed`` (a non-negative int) seeds it first, so
    the same seed gives the same network; ``None`` draws from the generator as
    it stands. Parameter names: ``0.weight``, ``0.bias``, ``2.*``, ``4.*``
    (``4`` is the head).
    """
    from torch import nn

    width = check_int("width", width, low=1, example=40)
    if seed is not None:
        seed = check_int("seed", seed, low=0, example=0)
        torch.manual_seed(seed)  # nn.Linear draws its initial weights globally
    return nn.Sequential(
        nn.Linear(1, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, 1),
    )
