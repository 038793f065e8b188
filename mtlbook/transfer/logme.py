"""LogME (You et al. 2021): how well do a model's features suit a target task?

Before fine-tuning anything, extract the features F (n, D) of the target's
training inputs and ask how probable the labels are under a Bayesian linear
model on them, y = F w + ε with w ~ N(0, α⁻¹ I) and ε ~ N(0, β⁻¹). The
*evidence* p(y | F, α, β) integrates w out:

    log p = n/2 log β + D/2 log α − n/2 log 2π
            − β/2 ‖F m − y‖² − α/2 ‖m‖² − 1/2 log det A,

with A = α I + β FᵀF and m = β A⁻¹ Fᵀ y. LogME maximises it over (α, β) by
MacKay's fixed point, γ = Σ_i β σ_i² / (α + β σ_i²), α ← γ / ‖m‖²,
β ← (n − γ) / ‖F m − y‖² (σ_i the singular values of F), and reports the
maximum divided by n, averaged over the one-hot columns of the labels. A
higher value predicts a better fine-tuned accuracy; no training is needed.
"""

from __future__ import annotations

import math

import numpy as np

from mtlbook._validate import check_array, check_int, check_int_array, check_real

__all__ = ["log_evidence", "logme", "maximize_evidence"]


def log_evidence(
    features: np.ndarray, y: np.ndarray, alpha: float, beta: float
) -> float:
    """log p(y | F, α, β) of the Bayesian linear model, in float64.

    features: (n, D), y: (n,) real targets. Computed directly: a solve with
    A = α I + β FᵀF and its log-determinant (the reference for the fixed
    point, which works on singular values instead).
    """
    f = check_array("features", features, ndim=2)
    t = check_array("y", y, ndim=1)
    _check_rows(f, t)
    alpha = check_real("alpha", alpha, low=0, low_open=True, example=1.0)
    beta = check_real("beta", beta, low=0, low_open=True, example=1.0)
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ t)
    _, logdet = np.linalg.slogdet(a)
    residual = float(np.sum((f @ m - t) ** 2))
    return float(
        n / 2 * math.log(beta)
        + d / 2 * math.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * residual
        - alpha / 2 * float(m @ m)
        - logdet / 2
    )


def maximize_evidence(
    features: np.ndarray,
    y: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> tuple[float, float, float]:
    """MacKay's fixed point for (α, β); returns (log evidence / n, α, β).

    features: (n, D), y: (n,) real targets. Starts at α = β = 1 and stops
    when both change by less than ``tol`` relatively, or after ``max_iter``
    rounds. Works on the thin SVD of F, so each round costs O(min(n, D)).
    """
    f = check_array("features", features, ndim=2)
    t = check_array("y", y, ndim=1)
    _check_rows(f, t)
    check_int("max_iter", max_iter, low=1, example=100)
    check_real("tol", tol, low=0, low_open=True, example=1e-10)
    return _fixed_point(*_spectrum(f, t), max_iter, tol)


def logme(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> float:
    """The LogME score: mean over classes of the maximum log evidence per example.

    features: (n, D), e.g. ``extract_features(backbone, x).numpy()``;
    labels: (n,) integer classes 0..C-1, each column of their one-hot code
    a regression target. Higher is better.
    """
    f = check_array("features", features, ndim=2)
    y = check_int_array("labels", labels, example="np.array([0, 1, 1, 0])")
    _check_rows(f, y)
    n_classes = int(y.max()) + 1
    if n_classes < 2:
        raise ValueError("labels hold a single class; LogME ranks models on 2 or more")
    check_int("max_iter", max_iter, low=1, example=100)
    check_real("tol", tol, low=0, low_open=True, example=1e-10)
    u, s2, d = _svd(f)
    scores = []
    for c in range(n_classes):
        t = (y == c).astype(np.float64)
        scores.append(_fixed_point(u, s2, d, t, max_iter, tol)[0])
    return float(np.mean(scores))


# --- internals --------------------------------------------------------------


def _check_rows(f: np.ndarray, y: np.ndarray) -> None:
    if len(f) != len(y):
        raise ValueError(
            f"features has {len(f)} rows but the targets {len(y)}; pass one "
            "target per example"
        )


def _svd(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """U (n, k) and the squared singular values (k,) of F, k = min(n, D); and D."""
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    return u, s**2, f.shape[1]


def _spectrum(
    f: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    return (*_svd(f), t)


def _fixed_point(
    u: np.ndarray, s2: np.ndarray, d: int, t: np.ndarray, max_iter: int, tol: float
) -> tuple[float, float, float]:
    n = len(t)
    z2 = (u.T @ t) ** 2  # squared coordinates of y in the column space of F
    outside = max(float(t @ t - z2.sum()), 0.0)  # |y|² outside that space
    alpha, beta = 1.0, 1.0
    for _ in range(max_iter):
        gamma = float(np.sum(beta * s2 / (alpha + beta * s2)))
        m2 = float(np.sum(beta**2 * s2 * z2 / (alpha + beta * s2) ** 2))
        res2 = float(np.sum((alpha / (alpha + beta * s2)) ** 2 * z2)) + outside
        new_alpha = gamma / max(m2, 1e-300)
        new_beta = (n - gamma) / max(res2, 1e-300)
        done = abs(new_alpha - alpha) <= tol * alpha and abs(new_beta - beta) <= (
            tol * beta
        )
        alpha, beta = new_alpha, new_beta
        if done:
            break
    m2 = float(np.sum(beta**2 * s2 * z2 / (alpha + beta * s2) ** 2))
    res2 = float(np.sum((alpha / (alpha + beta * s2)) ** 2 * z2)) + outside
    logdet = float(np.sum(np.log(alpha + beta * s2))) + (d - len(s2)) * math.log(alpha)
    evidence = (
        n / 2 * math.log(beta)
        + d / 2 * math.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * res2
        - alpha / 2 * m2
        - logdet / 2
    )
    return evidence / n, alpha, beta
