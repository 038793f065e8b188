"""LogME's fixed point finds the maximum of the log evidence.

The reference is independent of the fixed point: the log evidence computed
directly (a linear solve and a log-determinant with A = αI + βFᵀF), then
maximised numerically over (log α, log β) by scipy. Both must agree in
float64 on features with more dimensions than examples, rank-deficient
features and features whose scales span many orders of magnitude.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from mtlbook.transfer.logme import log_evidence, logme, maximize_evidence


def problem(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    if kind == "tall":
        f = rng.normal(size=(60, 8))
    elif kind == "wide":  # D > n
        f = rng.normal(size=(12, 30))
    elif kind == "rank-deficient":
        f = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 10))
    else:  # columns scaled over six orders of magnitude
        f = rng.normal(size=(50, 6)) * np.logspace(-3, 3, 6)
    w = rng.normal(size=f.shape[1])
    y = f @ w / np.linalg.norm(f @ w) * 5 + 0.3 * rng.normal(size=len(f))
    return f, y


def scipy_maximum(f: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    def negative(p: np.ndarray) -> float:
        return -log_evidence(f, y, math.exp(p[0]), math.exp(p[1]))

    best = min(
        (
            minimize(
                negative,
                np.array(start),
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
            )
            for start in ([0.0, 0.0], [-3.0, 2.0], [3.0, -2.0])
        ),
        key=lambda r: r.fun,
    )
    return -best.fun / len(y), math.exp(best.x[0]), math.exp(best.x[1])


def test_with_more_dimensions_than_examples_beta_runs_off_to_infinity():
    # y lies in the column space of F: the evidence grows toward a supremum
    # as the noise precision β grows without bound, and the fixed point
    # follows it there, to the optimiser's value within rounding of that limit
    f, y = problem("wide")
    value, _, beta = maximize_evidence(f, y, max_iter=10_000, tol=1e-12)
    ref_value, _, ref_beta = scipy_maximum(f, y)
    assert beta > 1e6 and ref_beta > 1e6
    # At beta ~ 1e15 the evidence itself is evaluated with rounding error of
    # about 1e-5 relative, and which side of the limit it lands on depends on
    # the CPU's summation order (1.1e-5 below the optimiser on an Intel Xeon).
    assert value == pytest.approx(ref_value, rel=1e-4)


@pytest.mark.parametrize("kind", ["tall", "rank-deficient", "scales"])
def test_the_fixed_point_reaches_the_numerical_maximum_of_the_evidence(kind):
    f, y = problem(kind)
    value, alpha, beta = maximize_evidence(f, y, max_iter=10_000, tol=1e-12)
    ref_value, ref_alpha, ref_beta = scipy_maximum(f, y)
    assert value == pytest.approx(ref_value, rel=1e-9, abs=1e-9)
    assert value >= ref_value - 1e-12  # never below the optimiser's best
    assert alpha == pytest.approx(ref_alpha, rel=1e-3)
    assert beta == pytest.approx(ref_beta, rel=1e-3)


@pytest.mark.parametrize("kind", ["tall", "rank-deficient", "scales"])
def test_the_svd_evidence_equals_the_direct_formula_at_the_fixed_point(kind):
    f, y = problem(kind)
    value, alpha, beta = maximize_evidence(f, y)
    direct = log_evidence(f, y, alpha, beta) / len(y)
    assert value == pytest.approx(direct, rel=1e-11, abs=1e-12)


def test_logme_averages_the_classes_one_hot_columns():
    rng = np.random.default_rng(3)
    f, labels = rng.normal(size=(30, 5)), np.arange(30) % 3
    per_class = [maximize_evidence(f, (labels == c).astype(float))[0] for c in range(3)]
    assert logme(f, labels) == pytest.approx(np.mean(per_class), rel=1e-13)


def test_informative_features_score_higher_than_noise():
    rng = np.random.default_rng(4)
    labels = np.arange(200) % 4
    good = np.eye(4)[labels] * 3 + rng.normal(size=(200, 4))
    noise = rng.normal(size=(200, 4))
    assert logme(good, labels) > logme(noise, labels)


def test_logme_is_unchanged_by_rotating_the_features():
    # the evidence depends on F only through FᵀF's spectrum and y's coordinates
    rng = np.random.default_rng(5)
    f, labels = rng.normal(size=(40, 6)), np.arange(40) % 2
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert logme(f @ q, labels) == pytest.approx(logme(f, labels), rel=1e-10)
