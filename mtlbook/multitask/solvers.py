"""Small solvers behind the gradient aggregators, on the K × K Gram matrix.

Every aggregator here returns an update d = Σ_i w_i g_i, a combination of the task
gradients g_i (the rows of G: (K, P)). The weights w depend on the gradients only
through their inner products M = G Gᵀ: (K, K), so each solver is a function of M,
works in float64 numpy, and costs nothing that grows with the number of
parameters P. No external optimiser is needed.
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
    form; K > 2 uses Frank–Wolfe in its pairwise variant (Lacoste-Julien & Jaggi
    2015): each step moves weight from the worst supporting task to the best task,
    with the same exact two-point line search. Plain Frank–Wolfe zig-zags when the
    optimum lies on a face; the pairwise step converges linearly. It stops when
    the tasks in the support have equal inner products with d = Σ w_i g_i, up to
    ``tol`` relative to the largest ‖g_i‖² (the optimality (KKT) condition), and
    then solves that condition exactly on the support it found.
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
    for iteration in range(max_iter):
        if iteration % 20 == 19:  # finish exactly on the support found so far
            w = _affine_step(M, w)
        Mw = M @ w  # Mw_i = g_i · d
        t = int(np.argmin(Mw))  # the task that d helps least: add weight
        support = np.flatnonzero(w > 0)
        s = int(support[np.argmax(Mw[support])])  # helped most: take weight
        gap = Mw[s] - Mw[t]
        if gap <= tol:
            break
        # exact line search on d + γ (g_t − g_s), γ ∈ [0, w_s]
        curvature = max(M[t, t] + M[s, s] - 2.0 * M[t, s], np.finfo(float).tiny)
        step = min(w[s], gap / curvature)
        w[t] += step
        w[s] = 0.0 if step == w[s] else w[s] - step
    return _affine_step(M, w) if _kkt_gap(M, w) > tol else w


def _kkt_gap(M: np.ndarray, w: np.ndarray) -> float:
    """max over the support of (Mw)_i minus min over all tasks; 0 at the optimum."""
    Mw = M @ w
    return float(np.max(Mw[w > 0]) - np.min(Mw))


def _affine_step(M: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Move w to the min-norm point of its support's affine hull (Wolfe 1976).

    On the support S the affine minimiser solves M_SS a = μ 1, 1ᵀa = 1, a small
    linear system (least squares if the gradients are affinely dependent). If a
    has negative entries, go from w towards it until a weight reaches 0, drop
    that task and repeat (Wolfe's minor cycle). The norm never increases, and
    the exact solve removes Frank–Wolfe's slow tail on ill-conditioned problems
    (gradient norms that differ by orders of magnitude).
    """
    w = w.copy()
    while True:
        support = np.flatnonzero(w > 0)
        n = support.size
        system = np.zeros((n + 1, n + 1))
        system[:n, :n] = M[np.ix_(support, support)]
        system[:n, n] = -1.0
        system[n, :n] = 1.0
        rhs = np.zeros(n + 1)
        rhs[n] = 1.0
        a = np.linalg.lstsq(system, rhs, rcond=None)[0][:n]
        if not np.all(np.isfinite(a)):
            return w
        if np.all(a >= 0):
            w[support] = a / a.sum()
            return w
        current = w[support]
        blocked = a < 0  # these weights would turn negative on the way to a
        theta = float(np.min(current[blocked] / (current[blocked] - a[blocked])))
        moved = current + theta * (a - current)
        moved[np.argmin(np.where(blocked, moved, np.inf))] = 0.0
        w[support] = np.maximum(moved, 0.0)
        w /= w.sum()


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

    gram: (K, K) = G Gᵀ; returns weights: (K,). With g0 the mean gradient, CAGrad
    solves max_d min_i g_i·d subject to ‖d − g0‖ ≤ c‖g0‖ (eq. 4). Its dual is
    min_{w ∈ Δ} g_w·g0 + c‖g0‖‖g_w‖ with g_w = Σ w_i g_i (eq. 5), and then
    d = g0 + (c‖g0‖ / ‖g_w‖) g_w. The dual is solved by pairwise Frank–Wolfe with
    an exact line search; it stops when the supporting tasks have equal g_i·d.
    c = 0 gives exactly the mean weights 1/K. If the dual optimum has g_w = 0 (the
    tasks are Pareto-stationary: min_i g_i·d ≤ 0 for every d) the update is d = 0
    when the ball holds it (c ≥ 1) and falls back to d = g0 otherwise.
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
    stationary = np.zeros(K) if c >= 1.0 else b  # the answer when g_w = 0
    w = b.copy()
    for _ in range(max_iter):
        Mw = M @ w
        norm_gw = np.sqrt(max(float(w @ Mw), 0.0))
        if norm_gw <= 1e-12:
            return stationary
        grad = Mb + (r / norm_gw) * Mw  # dual gradient = (g_i · d)_i
        t = int(np.argmin(grad))
        support = np.flatnonzero(w > 0)
        s = int(support[np.argmax(grad[support])])
        if grad[s] - grad[t] <= tol:
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
    Mw = M @ w
    norm_gw = np.sqrt(max(float(w @ Mw), 0.0))
    if norm_gw <= 1e-12:
        return stationary
    return b + (r / norm_gw) * w


def nash_weights(
    gram: np.ndarray, tol: float = 1e-10, max_iter: int = 500, ridge: float = 1e-9
) -> np.ndarray:
    """Positive α: (K,) with (G Gᵀ α)_i = 1/α_i, the Nash bargaining weights.

    gram: (K, K) = G Gᵀ. Navon et al. (2022, eq. 6) define the update d = Σ α_i g_i
    by g_i·d = 1/α_i for every task i. Those α are the stationary point of the
    convex f(α) = ½ αᵀMα − Σ log α_i (its gradient is Mα − 1/α), which is
    self-concordant, so damped Newton converges from any positive start and never
    leaves α > 0 (Boyd & Vandenberghe 2004, §9.6). It is solved for β_i = α_i‖g_i‖
    on the cosine matrix C_ij = M_ij / (‖g_i‖‖g_j‖), where β∘Cβ = 1 is the same
    equation whatever the gradients' scales. When no solution exists (a convex
    combination of the gradients is 0, e.g. two opposite ones: no direction helps
    both) f is unbounded below and α runs off to infinity; then ``ridge`` is added
    to C's diagonal (``ridge`` × ‖g_i‖² on M's), which keeps α finite and d ≈ 0.
    Nearly opposite gradients that float64 cannot tell from opposite ones take the
    same way. For two tasks both ways give α_i ∝ 1/‖g_i‖ exactly. Stops when
    max_i |α_i (Mα)_i − 1| ≤ tol, or when the Newton decrement stops shrinking
    (float64 precision is spent).
    """
    M = _gram(gram)
    K = M.shape[0]
    scale = float(np.trace(M)) / K
    if scale <= 0.0:
        raise ValueError(
            "gram is zero: every task gradient vanishes, so the Nash bargaining "
            "weights are undefined; skip the update"
        )
    has_zero_gradient = bool(np.any(np.diag(M) <= 0.0))  # then no α exists
    lengths = np.sqrt(np.maximum(np.diag(M), 1e-12 * scale))  # floored ‖g_i‖
    C = M / lengths[:, None] / lengths[None, :]
    # a Gram matrix rounded (e.g. formed in float32) can be slightly indefinite,
    # which would make even the ridged f unbounded: use the nearest PSD matrix
    values, vectors = np.linalg.eigh(C)
    C = (vectors * np.maximum(values, 0.0)) @ vectors.T
    beta = None if has_zero_gradient else _damped_newton(C, tol, max_iter)
    if beta is None:
        beta = _damped_newton(C + ridge * np.eye(K), tol, max_iter)
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
        if not np.all(np.isfinite(alpha)) or np.max(alpha * lengths) > 1e8:
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
    squares so linearly dependent gradients get the minimum-norm α. Tasks whose
    gradient is exactly zero have no direction; they get weight 0.
    """
    M = _gram(gram)
    K = M.shape[0]
    norms = np.sqrt(np.maximum(np.diag(M), 0.0))
    alive = np.flatnonzero(norms > 0)
    alpha = np.zeros(K)
    if alive.size == 0:
        return alpha
    Ma = M[np.ix_(alive, alive)] / norms[alive, None]  # row i: (g_i · g_j)/‖g_i‖
    A = np.empty_like(Ma)
    A[0] = 1.0  # Σ α = 1
    A[1:] = Ma[1:] - Ma[0]  # d·u_i − d·u_1 = 0
    rhs = np.zeros(alive.size)
    rhs[0] = 1.0
    alpha[alive] = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return alpha
