"""Diagnostics a reader can plot: task-gradient cosines, conflict rate and Δm."""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    m = [float(v) for v in metrics]
    b = [float(v) for v in baseline]
    if not m or len(m) != len(b):
        raise ValueError(
            f"metrics has {len(m)} entries and baseline {len(b)}; pass one "
            "non-empty value per task metric in both, in the same order"
        )
    if isinstance(higher_is_better, bool):
        higher = [higher_is_better] * len(m)
    else:
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
