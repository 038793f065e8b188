"""Diagnostics a reader can plot: task-gradient cosines, conflict rate and Δm."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np
import torch
from torch import Tensor

from mtlbook.multitask._checks import check_gradient_matrix


def gradient_cosines(G: Tensor) -> Tensor:
    """Pairwise cosines of the task gradients; G: (K, P) → (K, K) float64.

    A task with an exactly zero gradient has cosine 0 with every task (and 1
    with itself), so it never counts as a conflict.
    """
    G = check_gradient_matrix(G).detach().to(torch.float64)
    norms = G.norm(dim=1)
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    unit = G / safe[:, None]
    cos = (unit @ unit.T).clamp(-1.0, 1.0)
    cos.fill_diagonal_(1.0)
    return cos


def conflict_rate(G: Tensor) -> float:
    """Fraction of the K(K − 1)/2 task pairs whose gradients have cosine < 0.

    G: (K, P) with K >= 2. Two gradients conflict when a step along one raises
    the other task's loss to first order (Yu et al. 2020).
    """
    cos = gradient_cosines(G)
    K = cos.shape[0]
    if K < 2:
        raise ValueError(
            f"G has {K} row; a conflict needs at least 2 tasks (one row each)"
        )
    upper = torch.triu_indices(K, K, offset=1)
    return float((cos[upper[0], upper[1]] < 0).double().mean())


def delta_m(
    metrics: Sequence[float],
    baseline: Sequence[float],
    higher_is_better: bool | Sequence[bool],
) -> float:
    """Δm% of a multi-task model against single-task baselines (Nash-MTL §6).

    Δm% = (1/K) Σ_k (−1)^{δ_k} (M_m,k − M_b,k) / M_b,k × 100, with δ_k = 1 where
    higher is better. metrics, baseline: (K,) one number per task metric.
    Negative is better: Δm = −2 means 2 % better than single-task on average.
    """
    m = _numbers("metrics", metrics)
    b = _numbers("baseline", baseline)
    if not m or len(m) != len(b):
        raise ValueError(
            f"metrics has {len(m)} entries and baseline {len(b)}; pass one "
            "non-empty value per task metric in both, in the same order"
        )
    if isinstance(higher_is_better, bool):
        higher = [higher_is_better] * len(m)
    else:
        if isinstance(higher_is_better, str) or not isinstance(
            higher_is_better, Sequence
        ):
            raise TypeError(
                f"higher_is_better={higher_is_better!r} must be a bool or a list "
                "of bools (one per metric)"
            )
        higher = list(higher_is_better)
        if len(higher) != len(m) or not all(isinstance(h, bool) for h in higher):
            raise ValueError(
                f"higher_is_better must be a bool or {len(m)} bools (one per "
                f"metric), got {higher_is_better!r}"
            )
    for name, values in (("metrics", m), ("baseline", b)):
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{name}={values} must be finite")
    if any(v == 0 for v in b):
        raise ValueError(
            f"baseline={b} has a zero; Δm divides by the baseline metric, so use "
            "a metric that is non-zero for the single-task model"
        )
    terms = [
        (-1.0 if h else 1.0) * (mk - bk) / bk
        for mk, bk, h in zip(m, b, higher, strict=True)
    ]
    return 100.0 * sum(terms) / len(terms)


def _numbers(name: str, values: object) -> list[float]:
    """A sequence of real numbers (or a 1-D tensor/array) as floats."""
    if isinstance(values, Tensor | np.ndarray):
        values = values.tolist()
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(
            f"{name} must be a list of numbers (one per task metric), got "
            f"{type(values).__name__}"
        )
    values = [
        v.item() if isinstance(v, Tensor) and v.numel() == 1 else v for v in values
    ]
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, Real)]
    if bad:
        raise TypeError(f"{name} must hold numbers, got {bad[:3]!r}")
    return [float(v) for v in values]
