"""Small solvers behind the gradient aggregators, on the K × K Gram matrix.

Every aggregator here returns an update d = Σ_i w_i g_i, a combination of the task
gradients g_i (the rows of G: (K, P)). The weights w depend on the gradients only
through their inner products M = G Gᵀ: (K, K), so each solver is a function of M,
works in float64 numpy, and costs nothing that grows with the number of
parameters P. Only scipy's non-negative least squares is used (CAGrad,
UPGrad, DualProj).
"""

from __future__ import annotations

import numpy as np


def _gram(gram: np.ndarray) -> np.ndarray:
    """Return a float64 symmetric copy of ``gram``: (K, K)."""
    M = np.array(gram, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"gram must be a non-empty (K, K) matrix, got {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError("gram is not finite; a task gradient diverged")
    return (M + M.T) / 2


def min_norm_two(g1g1: float, g1g2: float, g2g2: float) -> float:
    """Weight γ of the point γ·g1 + (1 − γ)·g2 of the segment [g1, g2] nearest 0.

    Closed form of Sener & Koltun (2018, Algorithm 1), from the inner products:
    γ = clip((g2 − g1)·g2 / ‖g1 − g2‖², 0, 1).
    """
    if g1g2 >= g1g1:  # g1 is itself the nearest point (also when g1 = g2)
        return 1.0
    if g1g2 >= g2g2:
        return 0.0
    return (g2g2 - g1g2) / (g1g1 + g2g2 - 2.0 * g1g2)


def min_norm_weights(
    gram: np.ndarray, tol: float = 1e-10, max_iter: int = 1000
) -> np.ndarray:
    """Weights w on the simplex of the min-norm point Σ w_i g_i of the convex hull.

    gram: (K, K) = G Gᵀ; returns w: (K,), w ≥ 0, Σ w = 1. This is MGDA's problem
    min_{w ∈ Δ} ‖Σ w_i g_i‖² (Sener & Koltun 2018, eq. 3). K = 2 uses the closed
    form; K > 2 uses Wolfe's (1976) exact min-norm-point algorithm: start at the
    shortest gradient; while some task t has g_t·d < ‖d‖² (d = Σ w_i g_i is not
    yet optimal), add t to the support and move to the min-norm point of the
    support's affine hull, dropping tasks whose weight would turn negative (the
    minor cycle, ``_affine_step``). It stops at the optimality (KKT)
    condition g_i·d ≥ ‖d‖² for every task, checked relative to ‖d‖² (``tol``)
    plus the rounding error of each g_i·d, so gradients whose norms differ by
    orders of magnitude are solved as exactly as equal ones. ``max_iter`` caps
    the number of tasks added (each adds one; K or a few more suffice).
    """
    M = _gram(gram)
    K = M.shape[0]
    scale = float(np.max(np.diag(M)))
    if K == 1 or scale == 0.0:  # one task, or every gradient is zero
        return np.full(K, 1.0 / K)
    M = M / scale  # the weights do not depend on the gradients' scale
    if K == 2:
        gamma = min_norm_two(M[0, 0], M[0, 1], M[1, 1])
        return np.array([gamma, 1.0 - gamma])
    w = np.zeros(K)
    w[np.argmin(np.diag(M))] = 1.0  # start at the shortest gradient
    for _ in range(max_iter):
        Mw = M @ w  # Mw_i = g_i · d
        t = int(np.argmin(Mw - _rounding(M, w)))
        if float(w @ Mw) - Mw[t] <= tol * float(w @ Mw) + _rounding(M, w)[t]:
            break  # KKT: every task gains at least ‖d‖² from d
        if w[t] > 0:
            break  # t is already in the support: float64 cannot do better
        w = _affine_step(M, w, add=t)
    return w


def _rounding(M: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rounding error of each (Mw)_i − wᵀMw in float64: a few ulps of its terms."""
    terms = np.abs(M) @ np.abs(w)
    return 8.0 * M.shape[0] * np.finfo(float).eps * (terms + float(np.abs(w) @ terms))


def _affine_min(M: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Weights a (Σ a = 1) of the min-norm point of the support's affine hull.

    Solves M_SS a = μ 1, 1ᵀa = 1 by least squares (affinely dependent gradients
    get the minimum-norm a), after scaling every gradient to unit length so that
    norms that differ by orders of magnitude do not spoil the solve.
    """
    n = support.size
    lengths = np.sqrt(np.diag(M)[support])
    lengths[lengths == 0.0] = 1.0
    inverse = 1.0 / lengths
    inverse_max = float(np.max(inverse))
    system = np.zeros((n + 1, n + 1))
    system[:n, :n] = M[np.ix_(support, support)] * np.outer(inverse, inverse)
    system[:n, n] = -inverse / inverse_max
    system[n, :n] = inverse / inverse_max
    rhs = np.zeros(n + 1)
    rhs[n] = 1.0
    a = np.linalg.lstsq(system, rhs, rcond=None)[0][:n] * inverse
    total = float(a.sum())
    return a / total if np.isfinite(total) and total > 0 else np.full(n, np.nan)


def _affine_step(M: np.ndarray, w: np.ndarray, add: int) -> np.ndarray:
    """Add task ``add`` to w's support and move to the best point (Wolfe 1976).

    On the support S the affine minimiser a solves M_SS a = μ 1, 1ᵀa = 1. If a
    has negative entries, go from w towards it until a weight reaches 0, drop
    that task and repeat (Wolfe's minor cycle). The norm never increases.
    """
    w = w.copy()
    support = np.union1d(np.flatnonzero(w > 0), [add])
    while True:
        a = _affine_min(M, support)
        if not np.all(np.isfinite(a)):
            return w
        current = w[support]
        if np.all(a > 0):
            w[:] = 0.0
            w[support] = a
            return w
        blocked = a <= 0  # these weights would turn negative on the way to a
        theta = float(np.min(current[blocked] / (current[blocked] - a[blocked])))
        moved = current + theta * (a - current)
        drop = int(np.argmin(np.where(blocked, moved, np.inf)))
        moved[drop] = 0.0
        w[support] = np.maximum(moved, 0.0)
        w /= w.sum()
        support = np.delete(support, drop)


def _cagrad_line_search(
    p: float, uu: float, uv: float, vv: float, r: float, step_max: float
) -> float:
    """argmin over γ ∈ [0, step_max] of γ·p + r‖u + γ v‖, from inner products.

    Write u = β v + u⊥ with β = uv / vv and h = ‖u⊥‖; with x = β + γ the function
    is x·p + r√(x² vv + h²), whose derivative vanishes where x√vv / √(x² vv + h²)
    = κ := −p / (r√vv). If |κ| ≥ 1 it is monotone and an end point wins.
    """
    if vv <= 0.0 or r <= 0.0:
        return step_max if p < 0 else 0.0
    kappa = -p / (r * np.sqrt(vv))
    if kappa >= 1.0:
        return step_max
    if kappa <= -1.0:
        return 0.0
    beta = uv / vv
    h = np.sqrt(max(uu - uv * beta, 0.0))
    x = kappa * h / (np.sqrt(vv) * np.sqrt(1.0 - kappa**2))
    return float(np.clip(x - beta, 0.0, step_max))


def cagrad_weights(
    gram: np.ndarray, c: float, tol: float = 1e-10, max_iter: int = 1000
) -> np.ndarray:
    """Weights of CAGrad's update d = Σ_i weights_i g_i (Liu et al. 2021).

    gram: (K, K) = G Gᵀ; returns weights: (K,). With g0 the mean gradient and
    r = c‖g0‖, CAGrad solves max_d min_i g_i·d subject to ‖d − g0‖ ≤ r (eq. 4).
    The answer is d = g0 + Σ λ_i g_i with λ ≥ 0 on the tasks that bind
    (g_i·d = t*, the optimal value), so it is found in the span of the
    gradients from G Gᵀ alone:

    * If the tasks are Pareto-stationary (0 is in the gradients' hull, checked
      with :func:`min_norm_weights`), no d helps every task, so t* ≤ 0. When the
      ball reaches the cone {d : g_i·d ≥ 0 for all i}, t* = 0 and every d of
      the ball in that cone is optimal: the answer is the one nearest g0, the
      projection of g0 onto the cone (non-negative least squares on λ). The old
      fallback d = g0 was not optimal: it can conflict with a task.
    * Otherwise the ball binds. The dual min_{w ∈ Δ} g_w·g0 + r‖g_w‖ (eq. 5) is
      solved by pairwise Frank–Wolfe to find the binding tasks S, and then the
      optimality conditions on S are solved exactly: M_SS λ = t 1 − (G g0)_S and
      λᵀ M_SS λ = r², a quadratic in t (``_cagrad_on_support``); tasks are
      added or dropped until λ ≥ 0 and every task gets g_i·d ≥ t.

    Either way d lies in the ball, up to rounding. c = 0 gives exactly the mean
    weights 1/K.
    """
    if not np.isfinite(c) or c < 0:
        raise ValueError(f"c={c} must be finite and >= 0; the paper uses c = 0.5")
    M = _gram(gram)
    K = M.shape[0]
    b = np.full(K, 1.0 / K)  # g0 = bᵀG, the mean gradient
    scale = float(np.max(np.diag(M)))
    if c == 0.0 or scale == 0.0:
        return b
    M = M / scale  # the weights do not depend on the gradients' scale
    Mb = M @ b  # Mb_i = g_i · g0
    r = c * np.sqrt(max(float(b @ Mb), 0.0))  # radius c‖g0‖
    if r == 0.0:  # g0 = 0: the ball is the point d = g0
        return b
    hull = min_norm_weights(M, tol=tol)
    if float(hull @ M @ hull) <= _rounding(M, hull).max():  # Pareto-stationary
        cone = _project_onto_cone(M, b)
        if float(cone @ M @ cone) <= r**2 * (1.0 + 1e-12):
            return b + cone
    w = _cagrad_dual(M, Mb, r, tol, max_iter)
    lam = _cagrad_active_set(M, Mb, r, np.flatnonzero(w > 0), tol)
    if lam is None:  # the exact solve failed: the dual's (approximate) answer
        norm_gw = np.sqrt(max(float(w @ M @ w), 0.0))
        lam = (r / norm_gw) * w if norm_gw > 0 else np.zeros(K)
    return b + lam


def _cagrad_dual(
    M: np.ndarray, Mb: np.ndarray, r: float, tol: float, max_iter: int
) -> np.ndarray:
    """Pairwise Frank–Wolfe on CAGrad's dual; returns w: (K,) on the simplex."""
    K = M.shape[0]
    w = np.full(K, 1.0 / K)
    for _ in range(max_iter):
        Mw = M @ w
        norm_gw = np.sqrt(max(float(w @ Mw), 0.0))
        if norm_gw <= 1e-12:
            break
        grad = Mb + (r / norm_gw) * Mw  # dual gradient = (g_i · d)_i
        t = int(np.argmin(grad))
        support = np.flatnonzero(w > 0)
        s = int(support[np.argmax(grad[support])])
        if grad[s] - grad[t] <= tol * max(abs(grad[t]), r * norm_gw):
            break
        step = _cagrad_line_search(
            p=Mb[t] - Mb[s],
            uu=norm_gw**2,
            uv=Mw[t] - Mw[s],
            vv=M[t, t] + M[s, s] - 2.0 * M[t, s],
            r=r,
            step_max=w[s],
        )
        if step == 0.0:
            break
        w[t] += step
        w[s] = 0.0 if step == w[s] else w[s] - step
    return w


def _solve_scaled(A: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Least-squares x with A x = rhs, A: (n, n) PSD, scaled to a unit diagonal."""
    lengths = np.sqrt(np.diag(A))
    lengths[lengths == 0.0] = 1.0
    scaled = A / np.outer(lengths, lengths)
    return np.linalg.lstsq(scaled, rhs / lengths, rcond=None)[0] / lengths


def _cagrad_on_support(
    M: np.ndarray, Mb: np.ndarray, r: float, S: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """λ_S and t with M_SS λ = t1 − Mb_S and λᵀM_SSλ = r² (largest t), or None."""
    A = M[np.ix_(S, S)]
    x = _solve_scaled(A, np.ones(S.size))
    y = _solve_scaled(A, Mb[S])
    a2, a1, a0 = float(x @ A @ x), float(x @ A @ y), float(y @ A @ y)
    discriminant = a1**2 - a2 * (a0 - r**2)
    if a2 <= 0.0 or discriminant < 0.0:
        return None
    t = (a1 + np.sqrt(discriminant)) / a2
    return t * x - y, t


def _cagrad_active_set(
    M: np.ndarray, Mb: np.ndarray, r: float, S: np.ndarray, tol: float
) -> np.ndarray | None:
    """Exact λ: (K,) of CAGrad's binding tasks, starting from the support S."""
    K = M.shape[0]
    S = np.sort(S)
    for _ in range(4 * K):
        if S.size == 0:
            return None
        solved = _cagrad_on_support(M, Mb, r, S)
        if solved is None:
            return None
        lam_S, t = solved
        lam = np.zeros(K)
        lam[S] = lam_S
        gains = Mb + M @ lam  # g_i · d
        slack = tol * max(abs(t), r * np.sqrt(max(float(lam @ M @ lam), 0.0)))
        slack += _rounding(M, lam).max()
        negative = lam_S < -tol * np.max(np.abs(lam_S))
        if np.any(negative):  # a task pulls d the wrong way: drop it
            S = np.delete(S, int(np.argmin(lam_S)))
            continue
        violated = int(np.argmin(gains))
        if gains[violated] < t - slack and violated not in S:
            S = np.sort(np.append(S, violated))  # a task gains less than t: add it
            continue
        return np.maximum(lam, 0.0)
    return None


def _project_onto_cone(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    """λ ≥ 0 with d = g0 + Σ λ_i g_i the point nearest g0 with g_i·d ≥ 0 for all i.

    By Moreau's decomposition λ minimises ‖Σ (b_i + λ_i) g_i‖ over λ ≥ 0, a
    non-negative least-squares problem written with a square root A of M
    (AᵀA = M, so ‖Σ z_i g_i‖ = ‖A z‖), after scaling the gradients to unit length.
    """
    return _project_onto_cone_many(M, b[None, :])[0]


def _project_onto_cone_many(M: np.ndarray, B: np.ndarray) -> np.ndarray:
    """:func:`_project_onto_cone` for every row b of B: (n, K) → λ: (n, K).

    The square root A of the cosine matrix is computed once for all n problems,
    from its eigenvalues above rounding (K·ε of the largest); the rest are
    rounding noise, whose square roots (≈ 1e-8) would spoil the solve. A task
    whose gradient is exactly zero constrains nothing: it gets λ_i = 0.
    """
    from scipy import optimize  # here: importing the aggregators loads no scipy

    lam = np.zeros((B.shape[0], M.shape[0]))
    alive = np.flatnonzero(np.diag(M) > 0.0)
    if alive.size == 0:
        return lam
    lengths = np.sqrt(np.diag(M)[alive])
    cosines = M[np.ix_(alive, alive)] / np.outer(lengths, lengths)
    values, vectors = np.linalg.eigh(cosines)
    keep = values > alive.size * np.finfo(float).eps * values.max()
    A = np.sqrt(values[keep])[:, None] * vectors[:, keep].T  # AᵀA ≈ cosines
    for row, b in enumerate(B):
        lam[row, alive] = optimize.nnls(A, -A @ (b[alive] * lengths))[0] / lengths
    return lam


def upgrad_weights(gram: np.ndarray) -> np.ndarray:
    """Weights w: (K,) of UPGrad's update d = Σ w_i g_i (Quinton & Rey 2024).

    gram: (K, K) = G Gᵀ. UPGrad projects every task gradient g_i onto the dual
    cone of the gradients, {x : g_j·x ≥ 0 for all j}, and averages the
    projections. The projection of g_i is Σ_j v_j g_j with v = e_i + λ, where
    λ ≥ 0 minimises ‖Σ_j (e_i + λ)_j g_j‖ (Moreau's decomposition; the paper's
    Proposition: v = argmin_{v ≥ e_i} vᵀ G Gᵀ v), one small non-negative least
    squares per task. So w = (1/K) Σ_i (e_i + λ^(i)) ≥ 1/K elementwise, and
    g_j·d ≥ 0 for every task: the update conflicts with none of them. When no
    two gradients conflict (every g_i·g_j ≥ 0) each g_i is its own projection
    and d is the mean gradient.
    """
    M = _gram(gram)
    K = M.shape[0]
    identity = np.eye(K)
    return (identity + _project_onto_cone_many(M, identity)).mean(axis=0)


def dualproj_weights(gram: np.ndarray) -> np.ndarray:
    """Weights w: (K,) of DualProj's update (Quinton & Rey 2024).

    gram: (K, K) = G Gᵀ. DualProj projects the mean gradient g0 = (1/K) Σ g_i
    onto the dual cone {x : g_j·x ≥ 0 for all j}: w = 1/K + λ with λ ≥ 0
    minimising ‖Σ_j (1/K + λ_j) g_j‖. It is the nearest update to the mean
    gradient that conflicts with no task.
    """
    M = _gram(gram)
    b = np.full(M.shape[0], 1.0 / M.shape[0])
    return b + _project_onto_cone(M, b)


def aligned_mtl_matrix(gram: np.ndarray) -> np.ndarray:
    """Aligned-MTL's balance matrix B: (K, K) (Senushkin et al. 2023, Alg. 1).

    gram: (K, K) = G Gᵀ = V Λ Vᵀ. With Λ_r the r nonzero eigenvalues and V_r
    their eigenvectors, B = √λ_min V_r Λ_r^(-1/2) V_rᵀ (λ_min the smallest
    nonzero eigenvalue). The aligned gradients Ĝ = B G then have Ĝ Ĝᵀ =
    λ_min V_r V_rᵀ: on the span of the gradients every singular value equals the
    smallest one of G, so the condition number of Ĝ is 1 (its principal
    components are orthogonal and of equal length). An eigenvalue counts as
    zero when it is at most K·ε·λ_max (numpy's matrix-rank rule), so singular
    values of G below about √(K ε) ≈ 1e-8 times the largest are treated as 0.
    Returns zeros if every gradient is zero.
    """
    M = _gram(gram)
    K = M.shape[0]
    values, vectors = np.linalg.eigh(M)
    top = float(values.max())
    if top <= 0.0:
        return np.zeros((K, K))
    keep = values > K * np.finfo(float).eps * top
    values, vectors = values[keep], vectors[:, keep]
    smallest = float(values.min())
    return np.sqrt(smallest) * (vectors / np.sqrt(values)) @ vectors.T


def nash_weights(
    gram: np.ndarray, tol: float = 1e-10, max_iter: int = 500
) -> np.ndarray:
    """Positive α: (K,) with (G Gᵀ α)_i = 1/α_i, the Nash bargaining weights.

    gram: (K, K) = G Gᵀ. Navon et al. (2022, eq. 6) define the update d = Σ α_i g_i
    by g_i·d = 1/α_i for every task i. Those α are the stationary point of the
    convex f(α) = ½ αᵀMα − Σ log α_i (its gradient is Mα − 1/α), which is
    self-concordant, so damped Newton converges from any positive start and never
    leaves α > 0 (Boyd & Vandenberghe 2004, §9.6). It is solved for β_i = α_i‖g_i‖
    on the cosine matrix C_ij = M_ij / (‖g_i‖‖g_j‖), where β∘Cβ = 1 is the same
    equation whatever the gradients' scales. Nearly opposite gradients get the
    exact, possibly huge, α.

    Two cases have no such α, and both get weight 0 (so d = 0):

    * a task whose gradient is exactly zero gains nothing from any d; it gets
      α_i = 0 and the other tasks are solved alone;
    * if the tasks are Pareto-stationary (0 is in the hull of the gradients, e.g.
      two opposite ones), no direction lowers every loss and f is unbounded
      below. This is decided on the unit gradients, so that norms that differ by
      orders of magnitude do not hide it: their min-norm point
      (:func:`min_norm_weights`) is 0 to float64's rounding of C (squared norm
      within a few K·ε, so ‖·‖ ≲ 1e-7). Then every α is 0: no step.

    Stops when ``max_i |α_i (Mα)_i − 1| ≤ tol``, or when the Newton decrement stops
    shrinking (float64 precision is spent); raises RuntimeError if Newton does not
    converge in ``max_iter`` steps.
    """
    M = _gram(gram)
    K = M.shape[0]
    alive = np.flatnonzero(np.diag(M) > 0.0)
    if alive.size == 0:
        raise ValueError(
            "gram is zero: every task gradient vanishes, so the Nash bargaining "
            "weights are undefined; skip the update"
        )
    alpha = np.zeros(K)
    if alive.size < K:  # zero gradients: weight 0, the others solved alone
        alpha[alive] = nash_weights(M[np.ix_(alive, alive)], tol, max_iter)
        return alpha
    lengths = np.sqrt(np.diag(M))
    C = M / lengths[:, None] / lengths[None, :]
    # a Gram matrix rounded (e.g. formed in float32) can be slightly indefinite,
    # which would make f unbounded: use the nearest PSD matrix
    values, vectors = np.linalg.eigh(C)
    C = (vectors * np.maximum(values, 0.0)) @ vectors.T
    hull = min_norm_weights(C, tol=tol)
    if float(hull @ C @ hull) <= _rounding(C, hull).max():  # Pareto-stationary
        return alpha
    beta = _damped_newton(C, tol, max_iter)
    if beta is None:
        raise RuntimeError(
            f"Nash-MTL's solver did not converge in {max_iter} Newton steps; "
            "raise max_iter or loosen tol"
        )
    return beta / lengths


def _damped_newton(A: np.ndarray, tol: float, max_iter: int) -> np.ndarray | None:
    """Minimise ½ αᵀAα − Σ log α_i; None if α diverges (no solution).

    The Newton system H s = −∇f with H = A + diag(1/α²) is solved in the scaled
    variable y = −s/α: (D A D + I) y = α∘(Aα) − 1 with D = diag(α). H itself turns
    numerically singular when α grows (nearly opposite gradients make A singular
    and 1/α² vanishes next to it), but D A D + I has every eigenvalue ≥ 1, so the
    scaled step always exists; it is solved through the eigendecomposition of
    D A D, with rounding-level negative eigenvalues clipped to 0.
    """
    lengths = np.sqrt(np.diag(A))  # ‖g_i‖, all > 0 here
    alpha = 1.0 / lengths  # exact when the gradients are orthogonal
    previous = np.inf
    for _ in range(max_iter):
        residual = alpha * (A @ alpha) - 1.0  # = α∘∇f; 0 at the solution
        if np.max(np.abs(residual)) <= tol:
            return alpha
        if not np.all(np.isfinite(alpha)) or np.max(alpha * lengths) > 1e12:
            return None  # running off to infinity: f is unbounded below
        values, vectors = np.linalg.eigh(alpha[:, None] * A * alpha[None, :])
        y = vectors @ ((vectors.T @ residual) / (1.0 + np.maximum(values, 0.0)))
        decrement = np.sqrt(max(float(residual @ y), 0.0))  # Newton decrement λ
        if decrement < 0.25 and decrement >= previous:
            return alpha  # λ stopped shrinking in the quadratic phase: float64 floor
        previous = decrement
        # full Newton steps once λ < 1/4 (quadratic phase), damped 1/(1+λ) before;
        # |y_i| ≤ λ, so each α_i changes by a factor in (0, 2): α stays positive
        alpha = alpha * (1.0 - (y if decrement < 0.25 else y / (1.0 + decrement)))
    return None


def imtl_g_weights(gram: np.ndarray) -> np.ndarray:
    """Weights α: (K,) of IMTL-G's update d = Σ α_i g_i (Liu et al. 2021).

    gram: (K, K) = G Gᵀ. IMTL-G asks for Σ α_i = 1 and equal projections of d onto
    every unit gradient u_i = g_i/‖g_i‖: d·u_i = d·u_1 (Section 3.2; the paper's
    closed form α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹ solves the same linear system). Since
    d·u_i = (Mα)_i / ‖g_i‖, that is K linear equations in α, solved by least
    squares, so linearly dependent gradients (K > rank G) get the minimum-norm α.
    Tasks whose gradient is exactly zero have no direction; they get weight 0.

    When the unit gradients admit no common nonzero projection (the all-ones
    vector is not in the range of their cosine matrix C = U Uᵀ: e.g. opposite
    gradients, or K > rank G in general position), equal projections force them
    all to be 0, so d = 0 is IMTL-G's only update. It is returned with weights 0
    rather than with weights that sum to 1 of a vanishing combination: those can
    be of order 1/δ for a pair at angle δ and leave rounding noise in d. If d = 0
    cannot be written with Σ α = 1 either, the system has no solution and a
    ValueError is raised.
    """
    M = _gram(gram)
    K = M.shape[0]
    norms = np.sqrt(np.maximum(np.diag(M), 0.0))
    alive = np.flatnonzero(norms > 0)
    alpha = np.zeros(K)
    if alive.size == 0:
        return alpha
    n = norms[alive]
    C = M[np.ix_(alive, alive)] / np.outer(n, n)  # cosines, unit diagonal
    values, vectors = np.linalg.eigh(C)
    null = vectors[:, values <= 1e-10 * values.max()]  # numerical null space
    ones = np.ones(alive.size)
    if np.linalg.norm(null.T @ ones) > 1e-6 * np.sqrt(alive.size):  # 1 ∉ range C
        inverse = 1.0 / n  # β ∈ null C with Σ β_i/‖g_i‖ = 1 gives Σ α = 1, d = 0
        if np.linalg.norm(null.T @ inverse) <= 1e-6 * np.linalg.norm(inverse):
            raise ValueError(
                "IMTL-G has no solution: the unit gradients admit no common "
                "nonzero projection and no combination with weights summing to 1 "
                "vanishes; use another aggregator for these gradients"
            )
        return alpha  # d = 0: weights 0
    Ma = M[np.ix_(alive, alive)] / n[:, None]  # row i: (g_i · g_j)/‖g_i‖
    A = np.empty_like(Ma)
    A[0] = 1.0  # Σ α = 1
    A[1:] = Ma[1:] - Ma[0]  # d·u_i − d·u_1 = 0
    rhs = np.zeros(alive.size)
    rhs[0] = 1.0
    alpha[alive] = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return alpha
