"""Every aggregator against an independent exact reference on adversarial G.

The references below share no code with ``mtlbook``: they work on the rows of G
in an orthonormal basis of their span (a QR factorisation of Gᵀ, so lengths and
angles are kept, and no Gram matrix is squared), and they enumerate the
supports (active sets) of the optimality conditions, which is exact for K ≤ 10:

* MGDA: the min-norm point of the hull is the affine min-norm point of the one
  support S whose weights are ≥ 0 and whose d has g_i·d ≥ ‖d‖² for every task;
* CAGrad: max_d min_i g_i·d s.t. ‖d − g0‖ ≤ r = c‖g0‖. WLOG d ∈ span(G): a part
  of d orthogonal to the span changes no g_i·d and only spends ball budget. If
  the tasks are Pareto-stationary and the ball reaches the cone {g_i·d ≥ 0}, the
  optimum t* = 0 is attained on a whole set and the package documents its point
  nearest g0 (NNLS on the polar cone, Moreau). Otherwise the ball binds and the
  optimiser is unique (a strictly convex ball and a concave objective). By KKT
  and conic Carathéodory, d* − g0 = Σ_{i∈S} λ_i g_i for linearly independent
  rows S with g_i·d* = t* on S, so for each S the two roots t of ‖d − g0‖ = r
  give candidate points of the sphere; every candidate is feasible, so the one
  with the largest true objective min_i g_i·d is d* (no tolerance decides it).
  That support is then re-solved in 50-digit mpmath;
* Nash-MTL: the convex f(β) = ½βᵀCβ − Σ log β_i on the cosine matrix C, minimised
  by scipy's trust-region Newton to a gradient of 1e-13, rescaled to the
  documented scale α_i (M α)_i = ‖M‖_F with M = G Gᵀ; the documented answer is
  d = 0 when 0 is in the hull of the (nonzero) gradients;
* IMTL-G: the point of span(G) with equal projections on every unit gradient,
  by least squares on the unit gradients, normalised so the weights sum to 1;
  the documented answer is d = 0 when 1 is not in the range of the unit
  gradients (equal projections are then all 0).
* UPGrad and DualProj: the projection of a vector x onto the dual cone
  {y : g_i·y ≥ 0 for all i}, computed on the rows themselves (not on a square
  root of the Gramian): by Moreau's decomposition it is x + Σ λ_i u_i with
  λ = argmin_{λ ≥ 0} ‖x + Σ λ_i u_i‖ over the unit rows u_i (scipy's NNLS on
  the coordinates), and the test checks its KKT certificate too;
* Aligned-MTL: from the singular value decomposition of G itself, G = U S Wᵀ,
  the aligned gradients are s_min U_r W_rᵀ (every singular value set to the
  smallest nonzero one), and d is their mean. Working on the Gramian squares
  G's condition number κ, so the package's d is accurate only to about
  K·ε·κ²: that is the bound on the ``spread`` family, whose κ reaches 1e7.

The error of an update d against the reference d* is

    ‖d − d*‖ / max(‖d*‖, 1e-8 · max_i ‖g_i‖),

relative to d* except when d* is (nearly) zero, where it asks for ‖d‖ within
1e-14 of the largest gradient (a hundred float64 roundings). Cases: K ∈ {2, 3,
5, 10}, d ∈ {2, 10, 1000} (so K > d too), and the families ``plain`` (similar
norms), ``spread`` (norms from 1e-4 to 1e4, a spread of exactly 1e8), ``zero``
(one gradient exactly zero), ``opposite`` (g_1 = −2 g_0 exactly) and
``parallel`` (g_1 = g_0 + 1e-3 noise). Every aggregator must be within 1e-6 on
every case (Aligned-MTL: within 1e-6 or its conditioning bound, whichever is
larger; its row of the table is the error divided by that bound, times 1e-6).
``python tests/test_aggregators_exact.py`` prints the table of the largest
errors per method and family.
"""

from __future__ import annotations

import itertools
import sys

import mpmath
import numpy as np
import pytest
import torch
from scipy import linalg, optimize

from mtlbook.multitask import IMTLG, MGDA, AlignedMTL, CAGrad, DualProj, NashMTL, UPGrad

FAMILIES = ("plain", "spread", "zero", "opposite", "parallel")
SHAPES = [(K, P) for K in (2, 3, 5, 10) for P in (2, 10, 1000)]
TOL = 1e-6


def make_case(family: str, K: int, P: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, K, P, FAMILIES.index(family)])
    G = rng.normal(size=(K, P))
    if family == "spread":
        G *= 10.0 ** rng.uniform(-4, 4, size=(K, 1))
        big, small = rng.permutation(K)[:2]  # reach the full spread 1e8 exactly
        G[big] *= 1e4 / np.linalg.norm(G[big])
        G[small] *= 1e-4 / np.linalg.norm(G[small])
    elif family == "zero":
        G[rng.integers(K)] = 0.0
    elif family == "opposite":
        G[1] = -2.0 * G[0]
    elif family == "parallel":
        G[1] = G[0] + 1e-3 * np.linalg.norm(G[0]) * rng.normal(size=P) / np.sqrt(P)
    return G


def coordinates(G: np.ndarray) -> np.ndarray:
    """Rows of G in an orthonormal basis of their span: (K, min(K, P))."""
    return np.linalg.qr(G.T, mode="reduced")[1].T


def relative_error(d: np.ndarray, reference: np.ndarray, G: np.ndarray) -> float:
    floor = 1e-8 * np.linalg.norm(G, axis=1).max()
    return float(np.linalg.norm(d - reference) / max(np.linalg.norm(reference), floor))


def supports(K: int, largest: int):
    for size in range(1, min(K, largest) + 1):
        yield from (np.array(S) for S in itertools.combinations(range(K), size))


def exact_min_norm(G: np.ndarray) -> np.ndarray:
    X = coordinates(G)
    K, m = X.shape
    best = None
    for S in supports(K, m + 1):
        base = S[np.argmin(np.linalg.norm(X[S], axis=1))]
        others = S[base != S]
        D = X[others] - X[base]
        c = np.linalg.lstsq(D.T, -X[base], rcond=None)[0] if others.size else []
        d = X[base] + D.T @ c if others.size else X[base]
        weights = np.append(c, 1.0 - np.sum(c))
        if weights.min() < -1e-9:
            continue  # not in the hull
        gap = max(d @ d - (X @ d).min(), 0.0)  # ≥ ‖d‖² − ‖d*‖², 0 only at d*
        if best is None or gap < best[0]:
            best = (gap, d)
    return best[1] @ np.linalg.pinv(X) @ G  # back from coordinates to R^P


def exact_cagrad(G: np.ndarray, c: float) -> np.ndarray:
    X = coordinates(G)
    K, m = X.shape
    x0 = X.mean(0)
    r = c * np.linalg.norm(x0)
    back = np.linalg.pinv(X) @ G  # from coordinates to R^P
    if r == 0:
        return G.mean(0)
    if stationary(G):
        lam = optimize.nnls(X.T, -x0)[0]  # Moreau: x0 + Xᵀλ is x0's projection
        nearest = x0 + X.T @ lam
        if np.linalg.norm(nearest - x0) <= r * (1 + 1e-12):
            return nearest @ back
    best, chosen = -np.inf, None
    for S in supports(K, m):
        B = X[S]
        Q, R = np.linalg.qr(B.T)  # d − g0 = Q z, B d = B x0 + Rᵀz = t·1
        if np.any(np.abs(np.diag(R)) <= 1e-13 * np.linalg.norm(B, axis=1)):
            continue  # dependent rows: a smaller support covers it
        ones = linalg.solve_triangular(R.T, np.ones(S.size), lower=True)
        shift = linalg.solve_triangular(R.T, B @ x0, lower=True)
        a2, a1, a0 = ones @ ones, ones @ shift, shift @ shift  # ‖t·ones − shift‖²
        disc = a1**2 - a2 * (a0 - r**2)
        if disc < 0:
            continue
        for sign in (1, -1):
            t = (a1 + sign * np.sqrt(disc)) / a2
            objective = (X @ (x0 + Q @ (t * ones - shift))).min()
            if objective > best:
                best, chosen = objective, (S, sign)
    return _cagrad_in_mpmath(X, x0, r, *chosen) @ back


def _cagrad_in_mpmath(X, x0, r, S, sign) -> np.ndarray:
    """The candidate of support S in 50 digits: λ = t x − y with B Bᵀ x = 1."""
    with mpmath.workdps(50):
        B = mpmath.matrix(X[S].tolist())
        g0 = mpmath.matrix(x0.tolist())
        A = B * B.T
        x = mpmath.lu_solve(A, mpmath.matrix([1] * len(S)))
        y = mpmath.lu_solve(A, B * g0)
        a2, a1, a0 = (x.T * A * x)[0], (x.T * A * y)[0], (y.T * A * y)[0]
        disc = a1**2 - a2 * (a0 - mpmath.mpf(r) ** 2)
        t = (a1 + sign * mpmath.sqrt(disc)) / a2
        d = g0 + B.T * (t * x - y)
        return np.array([float(v) for v in d])


def exact_nash(G: np.ndarray) -> np.ndarray:
    frobenius = np.linalg.norm(G @ G.T)
    alive = np.linalg.norm(G, axis=1) > 0
    if stationary(G[alive]):
        return np.zeros(G.shape[1])  # documented: no α exists, no step
    G = G[alive]  # a zero gradient has no weight
    lengths = np.linalg.norm(G, axis=1)
    U = G / lengths[:, None]
    C = U @ U.T

    def f(beta):
        return 0.5 * beta @ C @ beta - np.log(beta).sum()

    def grad(beta):
        return C @ beta - 1.0 / beta

    def hess(beta):
        return C + np.diag(1.0 / beta**2)

    beta = optimize.minimize(
        f, np.ones(len(G)), jac=grad, hess=hess, method="trust-exact",
        options={"gtol": 1e-13, "maxiter": 500},
    ).x  # fmt: skip
    alpha = np.sqrt(frobenius) * beta / lengths  # α_i (Mα)_i = ‖M‖_F
    return alpha @ G


def exact_imtl_g(G: np.ndarray) -> np.ndarray:
    H = G[np.linalg.norm(G, axis=1) > 0]
    U = coordinates(H / np.linalg.norm(H, axis=1, keepdims=True))
    d1, *_ = np.linalg.lstsq(U, np.ones(len(H)), rcond=None)  # U d1 = 1
    if np.linalg.norm(U @ d1 - 1) > 1e-6 * np.sqrt(len(H)):
        return np.zeros(G.shape[1])  # documented: only d = 0 has equal projections
    d1 = d1 @ np.linalg.pinv(U) @ (H / np.linalg.norm(H, axis=1, keepdims=True))
    alpha = np.linalg.lstsq(H.T, d1, rcond=None)[0]
    return d1 / alpha.sum()


def project_onto_dual_cone(X: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The point of {y : X y ≥ 0} nearest x; X: (K, m) rows, x: (m,)."""
    lengths = np.linalg.norm(X, axis=1)
    U = X[lengths > 0] / lengths[lengths > 0, None]  # a zero row constrains nothing
    if len(U) == 0:
        return x
    lam = optimize.nnls(U.T, -x)[0]  # Moreau: x + Uᵀλ is x's projection
    p = x + U.T @ lam
    # KKT certificate: feasible, and λ_i > 0 only on rows orthogonal to p
    scale = np.linalg.norm(x) + np.linalg.norm(U.T @ lam)
    assert (U @ p >= -1e-9 * scale).all()
    assert np.abs(lam * (U @ p)).max(initial=0.0) <= 1e-9 * scale**2
    return p


def exact_upgrad(G: np.ndarray) -> np.ndarray:
    X = coordinates(G)
    projections = [project_onto_dual_cone(X, x) for x in X]
    return np.mean(projections, axis=0) @ np.linalg.pinv(X) @ G


def exact_dualproj(G: np.ndarray) -> np.ndarray:
    X = coordinates(G)
    return project_onto_dual_cone(X, X.mean(0)) @ np.linalg.pinv(X) @ G


def exact_aligned_mtl(G: np.ndarray) -> tuple[np.ndarray, float]:
    """Aligned-MTL's d from the SVD of G, and κ = s_max/s_min (nonzero ones)."""
    U, S, Wt = np.linalg.svd(G, full_matrices=False)
    if S.max() == 0:
        return np.zeros(G.shape[1]), 1.0
    # the package's rank rule, on singular values: s² > K·ε·s_max²
    kept = np.sqrt(G.shape[0] * np.finfo(float).eps) * S.max() < S
    aligned = S[kept].min() * U[:, kept] @ Wt[kept]
    return aligned.mean(0), float(S.max() / S[kept].min())


def stationary(G: np.ndarray) -> bool:
    """0 in the hull of the rows; decided on unit rows (a zero row: yes)."""
    lengths = np.linalg.norm(G, axis=1)
    if (lengths == 0).any():
        return True
    return np.linalg.norm(exact_min_norm(G / lengths[:, None])) <= 1e-7


CASES = [
    pytest.param(family, K, P, id=f"{family}-K{K}-P{P}")
    for family in FAMILIES
    for K, P in SHAPES
]


def run(aggregator, G: np.ndarray) -> np.ndarray:
    return aggregator(torch.from_numpy(G)).numpy()


def mgda_error(G: np.ndarray) -> float:
    return relative_error(run(MGDA(), G), exact_min_norm(G), G)


def cagrad_error(G: np.ndarray) -> float:
    return relative_error(run(CAGrad(c=0.5), G), exact_cagrad(G, 0.5), G)


def nash_error(G: np.ndarray) -> float:
    return relative_error(run(NashMTL(), G), exact_nash(G), G)


def imtl_g_error(G: np.ndarray) -> float:
    return relative_error(run(IMTLG(), G), exact_imtl_g(G), G)


@pytest.mark.parametrize(("family", "K", "P"), CASES)
def test_mgda_is_the_exact_min_norm_point(family: str, K: int, P: int) -> None:
    assert mgda_error(make_case(family, K, P, seed=0)) <= TOL


@pytest.mark.parametrize(("family", "K", "P"), CASES)
def test_cagrad_solves_its_problem_exactly(family: str, K: int, P: int) -> None:
    """d stays in the ball, its objective is the optimum's and d = d*.

    d* is unique except in the documented Pareto-stationary case (the point of
    the optimal set nearest g0), so d itself is compared, not only min_i g_i·d.
    """
    G = make_case(family, K, P, seed=1)
    d, reference = run(CAGrad(c=0.5), G), exact_cagrad(G, 0.5)
    g0 = G.mean(0)
    assert np.linalg.norm(d - g0) <= 0.5 * np.linalg.norm(g0) * (1 + 1e-9)
    scale = np.linalg.norm(G, axis=1).max()
    objective, best = (G @ d).min(), (G @ reference).min()
    assert abs(objective - best) <= TOL * max(abs(best), 1e-8 * scale**2)
    assert relative_error(d, reference, G) <= TOL


@pytest.mark.parametrize(("family", "K", "P"), CASES)
def test_nashmtl_solves_the_bargaining_equation(family: str, K: int, P: int) -> None:
    G = make_case(family, K, P, seed=2)
    aggregator = NashMTL()
    d = run(aggregator, G)
    alpha = aggregator.weights.numpy()
    M = G @ G.T
    alive = np.diag(M) > 0
    if stationary(G[alive]):  # documented: no α exists, so no step at all
        assert (alpha == 0).all() and (d == 0).all()
        return
    # the documented scale: α_i (M α)_i / ‖M‖_F = 1, i.e. g_i·d = ‖M‖_F / α_i
    gains = (alpha * (M @ alpha) / np.linalg.norm(M))[alive]
    np.testing.assert_allclose(gains, 1, atol=1e-8)
    assert (alpha[~alive] == 0).all()
    assert nash_error(G) <= TOL


@pytest.mark.parametrize(("family", "K", "P"), CASES)
def test_imtlg_has_equal_projections_exactly(family: str, K: int, P: int) -> None:
    assert imtl_g_error(make_case(family, K, P, seed=3)) <= TOL


def upgrad_error(G: np.ndarray) -> float:
    return relative_error(run(UPGrad(), G), exact_upgrad(G), G)


def dualproj_error(G: np.ndarray) -> float:
    return relative_error(run(DualProj(), G), exact_dualproj(G), G)


def aligned_mtl_error(G: np.ndarray) -> float:
    """Error relative to the conditioning bound K·ε·κ² (at least 1e-6)."""
    reference, kappa = exact_aligned_mtl(G)
    bound = max(TOL, 10 * G.shape[0] * np.finfo(float).eps * kappa**2)
    return relative_error(run(AlignedMTL(), G), reference, G) * TOL / bound


@pytest.mark.parametrize(("family", "K", "P"), CASES)
def test_upgrad_averages_the_exact_projections(family: str, K: int, P: int) -> None:
    G = make_case(family, K, P, seed=4)
    assert upgrad_error(G) <= TOL
    d = run(UPGrad(), G)  # and conflicts with no task, to rounding
    lengths = np.linalg.norm(G, axis=1)
    assert (G @ d >= -1e-12 * lengths * lengths.max()).all()


@pytest.mark.parametrize(("family", "K", "P"), CASES)
def test_dualproj_is_the_exact_projection_of_the_mean(
    family: str, K: int, P: int
) -> None:
    assert dualproj_error(make_case(family, K, P, seed=5)) <= TOL


@pytest.mark.parametrize(("family", "K", "P"), CASES)
def test_aligned_mtl_matches_the_svd_of_g(family: str, K: int, P: int) -> None:
    """Within 1e-6, or within 10·K·ε·κ² where G is too ill-conditioned for that."""
    assert aligned_mtl_error(make_case(family, K, P, seed=6)) <= TOL


def agreement_table() -> str:
    """Largest relative error per method and case family, as a Markdown table."""
    methods = {
        "MGDA": (mgda_error, 0),
        "CAGrad": (cagrad_error, 1),
        "Nash-MTL": (nash_error, 2),
        "IMTL-G": (imtl_g_error, 3),
        "UPGrad": (upgrad_error, 4),
        "DualProj": (dualproj_error, 5),
        "Aligned-MTL": (aligned_mtl_error, 6),
    }
    columns = ["plain", "spread", "zero", "opposite", "parallel", "K > d"]
    lines = [
        "| method | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, (error, seed) in methods.items():
        worst = dict.fromkeys(columns, 0.0)
        for family in FAMILIES:
            for K, P in SHAPES:
                e = error(make_case(family, K, P, seed=seed))
                column = "K > d" if K > P else family
                worst[column] = max(worst[column], e)
        lines.append(
            f"| {name} | " + " | ".join(f"{worst[c]:.1e}" for c in columns) + " |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(agreement_table() + "\n")
