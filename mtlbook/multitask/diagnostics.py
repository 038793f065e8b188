"""Diagnostics a reader can plot: task-gradient cosines, conflict rate and Δm.

Also the measured property table of an aggregator (:func:`aggregator_properties`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real

import numpy as np
import torch
from torch import Tensor

from mtlbook._validate import check_int, check_numpy_rng
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


#: A property holds on a trial when its violation is at most this (relative).
PROPERTY_TOLERANCE = 1e-5

PROPERTIES = (
    "non-conflicting",
    "linear under scaling",
    "weighted",
    "non-negative weights",
    "mean if no conflict",
)


def aggregator_properties(
    aggregator: Callable[[Tensor], Tensor], n_trials: int, rng: np.random.Generator
) -> dict[str, float]:
    """The worst violation of each aggregator property over random matrices.

    Each trial draws G: (K, P) float64 with K ∈ [2, 6], P ∈ [2, 8] (so K > P
    too) and row norms spread over 1e-2..1e2. The properties (Quinton & Rey
    2024, §2.2, plus two of this book) and their relative violations are:

    * non-conflicting, g_i·d ≥ 0: max_i −g_i·d / (‖g_i‖ Σ_j abs(w_j) ‖g_j‖);
    * linear under scaling, d(diag(c) G) linear in c > 0:
      ‖d(c₁ + c₂) − d(c₁) − d(c₂)‖ / (‖d(c₁)‖ + ‖d(c₂)‖);
    * weighted, d in the span of the rows: ‖d − Π d‖ / ‖d‖, Π from a QR of Gᵀ;
    * non-negative weights (K ≤ P, so w is unique): −min_i w_i / max_i abs(w_i);
    * mean if no conflict, d along the mean when every g_i·g_j ≥ 0 (G ≥ 0
      elementwise): 1 − cos(d, mean), 1 if d = 0.

    The two ratios with ‖d‖ below divide by at least 1e-8 of Σ_i ‖c_i g_i‖, so
    that an update that is 0 up to rounding (when K > P leaves no direction)
    is no counterexample. A property holds when its value is at most
    ``PROPERTY_TOLERANCE``: a larger value is a counterexample, a smaller one
    only evidence. An aggregator with a ``generator`` (PCGrad) gets the same
    random draws in the calls a trial compares. Returns {property: worst
    violation} in the order of ``PROPERTIES``.
    """
    check_int("n_trials", n_trials, low=1, example=200)
    rng = check_numpy_rng("rng", rng)
    if not callable(aggregator):
        raise TypeError(
            f"aggregator must be callable G -> d, got {type(aggregator).__name__}; "
            "e.g. UPGrad()"
        )
    worst = dict.fromkeys(PROPERTIES, 0.0)
    for _ in range(n_trials):
        K, P = int(rng.integers(2, 7)), int(rng.integers(2, 9))
        scales = 10.0 ** rng.uniform(-2, 2, size=(K, 1))
        G = torch.from_numpy(rng.normal(size=(K, P)) * scales)
        c1, c2 = (torch.from_numpy(10.0 ** rng.uniform(-1, 1, (K, 1))) for _ in "12")
        state = _draws(aggregator)
        d = _replay(aggregator, G, state)
        w = _weights_of(aggregator, G, d)
        lengths = G.norm(dim=1)
        scale = lengths * (w.abs() @ lengths)
        if (scale > 0).any():
            gains = (G @ d)[scale > 0] / scale[scale > 0]
            _record(worst, "non-conflicting", -float(gains.min()))
        one = _replay(aggregator, c1 * G, state)
        two = _replay(aggregator, c2 * G, state)
        both = _replay(aggregator, (c1 + c2) * G, state)
        # rounding floor: 1e-8 of the scale of the gradients that form d
        floor = 1e-8 * float(((c1 + c2)[:, 0] * lengths).sum())
        gap = float((both - one - two).norm())
        size = max(float(one.norm() + two.norm()), floor)
        _record(worst, "linear under scaling", gap / size if size > 0 else 0.0)
        basis = torch.linalg.qr(G.T, mode="reduced")[0]  # (P, min(K, P))
        size = max(float(d.norm()), 1e-8 * float(lengths.sum()))
        off = d - basis @ (basis.T @ d)
        _record(worst, "weighted", float(off.norm()) / size if size > 0 else 0.0)
        if K <= P:
            _record(worst, "non-negative weights", -float(w.min() / w.abs().max()))
        agreeing = G.abs()
        d = _replay(aggregator, agreeing, state)
        mean = agreeing.mean(0)
        cosine = float(d @ mean) / max(float(d.norm() * mean.norm()), 1e-300)
        _record(worst, "mean if no conflict", 1.0 - cosine)
    return worst


def _record(worst: dict[str, float], name: str, value: float) -> None:
    worst[name] = max(worst[name], value)


def _draws(aggregator: object) -> Tensor | None:
    """The state of the aggregator's random generator, if it has one."""
    generator = getattr(aggregator, "generator", None)
    return generator.get_state() if isinstance(generator, torch.Generator) else None


def _replay(aggregator: Callable[[Tensor], Tensor], G: Tensor, state) -> Tensor:
    """aggregator(G), with its generator rewound to ``state`` first."""
    if state is not None:
        aggregator.generator.set_state(state)  # type: ignore[attr-defined]
    return aggregator(G)


def _weights_of(aggregator: object, G: Tensor, d: Tensor) -> Tensor:
    """The weights w with d = wᵀG: the aggregator's own, or least squares."""
    w = getattr(aggregator, "weights", None)
    if isinstance(w, Tensor) and w.shape == (G.shape[0],):
        return w.to(G)
    return torch.linalg.lstsq(G.T, d[:, None]).solution[:, 0]
