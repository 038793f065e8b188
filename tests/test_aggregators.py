"""Gradient aggregators: each method's defining property, checked on random G.

Facts tested: PCGrad's closed form on two gradients, MGDA's min-norm point
(closed form for two vectors, KKT conditions for more), CAGrad's c = 0 limit and
its optimality certificate, Nash-MTL's bargaining equation, IMTL-G's equal
projections, and clear errors for bad input. UPGrad, DualProj and Aligned-MTL
have their own file (``test_aggregators_jd.py``) and join the shared checks of
every aggregator here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.multitask import (
    IMTLG,
    MGDA,
    AlignedMTL,
    CAGrad,
    DualProj,
    Mean,
    NashMTL,
    PCGrad,
    UPGrad,
    mgda_ub_weights,
    min_norm_two,
    min_norm_weights,
    nash_weights,
    representation_gramian,
    set_gradients,
    task_gradients,
)

FAST = settings(max_examples=40, deadline=None)


def random_gradients(seed: int, K: int, P: int, spread: float = 2.0) -> torch.Tensor:
    """G: (K, P) float64 with rows of very different norms (10^±spread)."""
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.uniform(-spread, spread, size=(K, 1))
    return torch.from_numpy(rng.normal(size=(K, P)) * scales)


def all_aggregators():
    return [
        Mean(),
        MGDA(),
        PCGrad(torch.Generator().manual_seed(0)),
        CAGrad(c=0.5),
        NashMTL(),
        IMTLG(),
        UPGrad(),
        DualProj(),
        AlignedMTL(),
    ]


# --------------------------------------------------------------------- PCGrad
@FAST
@given(seed=st.integers(0, 10_000), P=st.integers(2, 10))
def test_pcgrad_on_a_conflicting_pair_projects_each_onto_the_others_normal(
    seed: int, P: int
) -> None:
    G = random_gradients(seed, 2, P)
    g1, g2 = G[0], G[1]
    if g1 @ g2 > 0:  # make the pair conflict
        g2 = g2 - 2 * (g1 @ g2) / (g1 @ g1) * g1
    G = torch.stack([g1, g2])
    expected = (g1 - (g1 @ g2) / (g2 @ g2) * g2) + (g2 - (g1 @ g2) / (g1 @ g1) * g1)
    d = PCGrad(torch.Generator().manual_seed(seed))(G)
    scale = G.norm(dim=1).max()
    torch.testing.assert_close(d, expected, rtol=1e-10, atol=1e-12 * scale)
    # after surgery the update conflicts with neither task
    assert (G @ d >= -1e-10 * scale**2).all()


@FAST
@given(seed=st.integers(0, 10_000), P=st.integers(1, 10))
def test_pcgrad_on_an_agreeing_pair_is_the_plain_sum(seed: int, P: int) -> None:
    G = random_gradients(seed, 2, P)
    if G[0] @ G[1] < 0:
        G[1] = -G[1]
    d = PCGrad(torch.Generator().manual_seed(0))(G)
    torch.testing.assert_close(d, G.sum(0), rtol=1e-12, atol=0.0)


def direct_pcgrad(G: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The paper's Algorithm 1 written on the vectors themselves."""
    K = G.shape[0]
    total = torch.zeros_like(G[0])
    for i in range(K):
        g = G[i].clone()
        for j in torch.randperm(K, generator=generator).tolist():
            if j != i and g @ G[j] < 0:
                g = g - (g @ G[j]) / (G[j] @ G[j]) * G[j]
        total += g
    return total


@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(3, 6), P=st.integers(2, 8))
def test_pcgrad_from_the_gramian_equals_projecting_the_vectors(
    seed: int, K: int, P: int
) -> None:
    G = random_gradients(seed, K, P, spread=1.0)
    d = PCGrad(torch.Generator().manual_seed(seed))(G)
    expected = direct_pcgrad(G, torch.Generator().manual_seed(seed))
    torch.testing.assert_close(d, expected, rtol=1e-9, atol=1e-9 * G.norm())


def test_pcgrad_order_comes_from_the_generator_only() -> None:
    # three mutually conflicting gradients: the projection order matters
    G = torch.tensor([[1.0, 0.0], [-0.8, 0.6], [-0.3, -0.95]], dtype=torch.float64)
    same = [PCGrad(torch.Generator().manual_seed(7))(G) for _ in range(2)]
    assert torch.equal(same[0], same[1])
    outcomes = {
        tuple(PCGrad(torch.Generator().manual_seed(s))(G).round(decimals=12).tolist())
        for s in range(20)
    }
    assert len(outcomes) > 1


# ----------------------------------------------------------------------- MGDA
@FAST
@given(seed=st.integers(0, 10_000), P=st.integers(1, 10))
def test_mgda_on_two_vectors_is_the_closed_form_min_norm_point(
    seed: int, P: int
) -> None:
    G = random_gradients(seed, 2, P)
    g1, g2 = G[0], G[1]
    # closed form of the nearest point of the segment to the origin
    gamma = float(((g2 - g1) @ g2) / ((g1 - g2) @ (g1 - g2)))
    gamma = min(max(gamma, 0.0), 1.0)
    expected = gamma * g1 + (1 - gamma) * g2
    aggregator = MGDA()
    d = aggregator(G)
    scale = G.norm(dim=1).max()
    torch.testing.assert_close(d, expected, rtol=1e-9, atol=1e-12 * scale)
    # and no point of the segment is nearer the origin
    grid = torch.linspace(0, 1, 1001, dtype=torch.float64)[:, None]
    segment = grid * g1 + (1 - grid) * g2
    assert d.norm() <= segment.norm(dim=1).min() * (1 + 1e-12)
    assert math.isclose(aggregator.weights.sum().item(), 1.0, rel_tol=1e-12)


def test_min_norm_two_edge_cases() -> None:
    assert min_norm_two(1.0, 1.0, 1.0) == 1.0  # identical vectors
    assert min_norm_two(1.0, 2.0, 9.0) == 1.0  # g1 is the nearest point
    assert min_norm_two(9.0, 2.0, 1.0) == 0.0  # g2 is the nearest point
    assert min_norm_two(1.0, -1.0, 1.0) == 0.5  # opposite: the origin


@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(3, 8), P=st.integers(1, 12))
def test_mgda_min_norm_point_satisfies_kkt(seed: int, K: int, P: int) -> None:
    G = random_gradients(seed, K, P)
    aggregator = MGDA()
    d = aggregator(G)
    w = aggregator.weights
    assert (w >= 0).all() and math.isclose(w.sum().item(), 1.0, rel_tol=1e-12)
    # KKT: g_i·d ≥ ‖d‖² for all tasks, with equality on the support of w
    tol = 1e-8 * G.norm(dim=1).max() ** 2
    products = G @ d
    assert (products >= d @ d - tol).all()
    assert (products[w > 0] - d @ d).abs().max() <= tol
    # no random point of the convex hull is shorter
    rng = np.random.default_rng(seed)
    others = torch.from_numpy(rng.dirichlet(np.ones(K), size=200)) @ G
    assert d.norm() <= others.norm(dim=1).min() * (1 + 1e-9) + 1e-12


def test_mgda_on_aligned_gradients_follows_the_shortest_one() -> None:
    u = torch.tensor([0.6, -0.8, 0.0], dtype=torch.float64)
    G = torch.stack([3.0 * u, 0.5 * u, 2.0 * u, 7.0 * u])
    aggregator = MGDA()
    torch.testing.assert_close(aggregator(G), 0.5 * u, rtol=1e-12, atol=0.0)
    torch.testing.assert_close(
        aggregator.weights, torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    )


def test_mgda_is_zero_when_the_tasks_are_pareto_stationary() -> None:
    G = torch.tensor([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    assert MGDA()(G).norm() < 1e-9
    assert MGDA()(G[:2] * torch.tensor([[1.0], [1.0]])).norm() > 0.1


# --------------------------------------------------------------------- CAGrad
@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(1, 6), P=st.integers(1, 8))
def test_cagrad_with_c_zero_is_the_mean_gradient(seed: int, K: int, P: int) -> None:
    G = random_gradients(seed, K, P)
    d = CAGrad(c=0.0)(G)
    assert torch.equal(d, Mean()(G))
    torch.testing.assert_close(d, G.mean(0), rtol=1e-14, atol=1e-15 * G.abs().max())


@FAST
@given(
    seed=st.integers(0, 10_000),
    K=st.integers(2, 6),
    extra=st.integers(0, 6),
    c=st.floats(0.05, 3.0),
)
def test_cagrad_direction_is_optimal_in_its_ball(
    seed: int, K: int, extra: int, c: float
) -> None:
    G = random_gradients(seed, K, K + extra, spread=1.0)
    aggregator = CAGrad(c=c)
    d = aggregator(G)
    g0 = G.mean(0)
    radius = c * g0.norm()
    assert (d - g0).norm() <= radius * (1 + 1e-9)
    # certificate: for any w in the simplex and d' in the ball,
    # min_i g_i·d' ≤ g_w·g0 + radius ‖g_w‖; equality proves d is the best d'.
    w = aggregator.weights - 1.0 / K
    w = w / w.sum()
    g_w = w @ G
    dual = g_w @ g0 + radius * g_w.norm()
    primal = (G @ d).min()
    scale = G.norm(dim=1).max() ** 2
    assert abs(dual - primal) <= 1e-8 * scale
    rng = np.random.default_rng(seed)
    directions = torch.from_numpy(rng.normal(size=(500, G.shape[1])))
    directions = directions / directions.norm(dim=1, keepdim=True)
    lengths = torch.from_numpy(rng.uniform(0, 1, size=(500, 1)))
    others = g0 + radius * lengths * directions
    assert (others @ G.T).min(dim=1).values.max() <= primal + 1e-10 * scale


def test_cagrad_improves_the_worst_task_over_the_mean() -> None:
    G = torch.tensor([[1.0, 0.1], [-0.5, 1.0]], dtype=torch.float64)
    mean, cagrad = Mean()(G), CAGrad(c=0.5)(G)
    assert (G @ cagrad).min() > (G @ mean).min()


# -------------------------------------------------------------------- Nash-MTL
@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(1, 8), extra=st.integers(0, 8))
def test_nash_weights_solve_the_bargaining_equation(
    seed: int, K: int, extra: int
) -> None:
    G = random_gradients(seed, K, K + extra).numpy()
    M = G @ G.T
    alpha = nash_weights(M)
    assert (alpha > 0).all()
    # (G Gᵀ α)_i = 1/α_i, i.e. every task's gain times its weight is 1
    np.testing.assert_allclose(alpha * (M @ alpha), 1.0, rtol=0, atol=1e-6)


def test_nash_weights_of_two_tasks_match_the_closed_form() -> None:
    # a α1² + b α1α2 = 1 = c α2² + b α1α2  ⇒  α2 = α1 √(a/c)
    a, b, c = 2.0, -0.7, 0.5
    alpha1 = 1.0 / math.sqrt(a + b * math.sqrt(a / c))
    expected = np.array([alpha1, alpha1 * math.sqrt(a / c)])
    alpha = nash_weights(np.array([[a, b], [b, c]]))
    np.testing.assert_allclose(alpha, expected, rtol=1e-10)


@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(1, 6), extra=st.integers(0, 6))
def test_nashmtl_update_gives_every_task_the_same_weighted_gain(
    seed: int, K: int, extra: int
) -> None:
    G = random_gradients(seed, K, K + extra)
    aggregator = NashMTL()
    d = aggregator(G)
    alpha = aggregator.weights
    frobenius = torch.linalg.matrix_norm(G @ G.T)
    # with the Gramian normalised by ‖G Gᵀ‖_F: α_i (g_i·d) = ‖G Gᵀ‖_F
    torch.testing.assert_close(
        alpha * (G @ d) / frobenius,
        torch.ones(K, dtype=torch.float64),
        atol=1e-6,
        rtol=0,
    )


@FAST
@given(
    seed=st.integers(0, 10_000),
    K=st.integers(2, 5),
    scales=st.lists(st.floats(0.01, 100.0), min_size=5, max_size=5),
)
def test_nashmtl_direction_ignores_how_each_loss_is_scaled(
    seed: int, K: int, scales: list[float]
) -> None:
    G = random_gradients(seed, K, K + 3, spread=1.0)
    scaled = G * torch.tensor(scales[:K], dtype=torch.float64)[:, None]
    d, d_scaled = NashMTL()(G), NashMTL()(scaled)
    cosine = (d @ d_scaled) / (d.norm() * d_scaled.norm())
    assert cosine > 1 - 1e-9


def test_nashmtl_takes_no_step_between_opposite_gradients() -> None:
    # Pareto-stationary tasks (0 in the hull): no α exists; documented d = 0
    g = torch.tensor([0.3, -1.2, 0.5], dtype=torch.float64)
    for G in (torch.stack([g, -2.0 * g]), torch.stack([g, -g, g.flip(0)])):
        aggregator = NashMTL()
        assert (aggregator(G) == 0).all() and (aggregator.weights == 0).all()
    assert NashMTL()(torch.zeros(2, 3)).abs().max() == 0
    # a zero gradient gets weight 0, the others are solved alone
    aggregator = NashMTL()
    G = torch.stack([g, torch.zeros(3), g.flip(0)])
    d = aggregator(G)
    alive = aggregator.weights[[0, 2]]
    assert aggregator.weights[1] == 0 and (alive > 0).all()
    M = G @ G.T
    gains = aggregator.weights * (M @ aggregator.weights) / M.norm()
    torch.testing.assert_close(gains[[0, 2]], torch.ones(2, dtype=torch.float64))
    assert d.isfinite().all()


# ---------------------------------------------------------------------- IMTL-G
@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(1, 8), extra=st.integers(0, 6))
def test_imtlg_update_has_equal_projections_on_every_unit_gradient(
    seed: int, K: int, extra: int
) -> None:
    G = random_gradients(seed, K, K + extra)
    aggregator = IMTLG()
    d = aggregator(G)
    projections = (G / G.norm(dim=1, keepdim=True)) @ d
    scale = G.norm(dim=1).max()
    assert (projections - projections[0]).abs().max() <= 1e-8 * scale
    assert math.isclose(aggregator.weights.sum().item(), 1.0, rel_tol=1e-9)


def test_imtlg_gives_a_zero_gradient_no_weight() -> None:
    G = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    aggregator = IMTLG()
    d = aggregator(G)
    assert aggregator.weights[1] == 0
    assert math.isclose(float(d[0]), float(d[1] / 2 * 2), rel_tol=1e-12)
    assert math.isclose(float(G[0] @ d), float(G[2] @ d / 2), rel_tol=1e-12)


# ------------------------------------------------------------ every aggregator
@pytest.mark.parametrize("aggregator", all_aggregators(), ids=repr)
@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(1, 5), P=st.integers(1, 7))
def test_update_is_the_weighted_sum_it_reports(aggregator, seed, K, P) -> None:
    G = random_gradients(seed, K, P)
    d = aggregator(G)
    assert d.shape == (P,) and d.dtype == G.dtype
    assert aggregator.weights.shape == (K,) and torch.isfinite(aggregator.weights).all()
    torch.testing.assert_close(d, aggregator.weights @ G)


@pytest.mark.parametrize("aggregator", all_aggregators(), ids=repr)
def test_update_scales_with_the_gradients(aggregator) -> None:
    G = random_gradients(3, 4, 6)
    d = aggregator(G)
    if isinstance(aggregator, PCGrad):
        aggregator.generator.manual_seed(0)
        d = aggregator(G)
        aggregator.generator.manual_seed(0)
    torch.testing.assert_close(aggregator(1e3 * G), 1e3 * d, rtol=1e-8, atol=0.0)


@pytest.mark.parametrize("aggregator", all_aggregators(), ids=repr)
def test_one_task_moves_along_its_own_gradient(aggregator) -> None:
    g = torch.tensor([[2.0, -1.0, 0.5]], dtype=torch.float64)
    d = aggregator(g)
    cosine = (d @ g[0]) / (d.norm() * g.norm())
    assert cosine > 1 - 1e-12


@pytest.mark.parametrize("aggregator", all_aggregators(), ids=repr)
def test_float32_in_float32_out(aggregator) -> None:
    G = random_gradients(1, 3, 5).float()
    d = aggregator(G)
    assert d.dtype == torch.float32 and d.device == G.device
    assert aggregator.weights.dtype == torch.float64


@pytest.mark.parametrize("aggregator", all_aggregators(), ids=repr)
@pytest.mark.parametrize(
    ("G", "error", "match"),
    [
        (torch.ones(5), ValueError, "2-D"),
        (torch.ones(2, 3, 4), ValueError, "2-D"),
        (torch.ones(0, 4), ValueError, "task list is empty"),
        (torch.ones(2, 0), ValueError, "no columns"),
        (torch.tensor([[1.0, 2.0], [float("nan"), 0.0]]), ValueError, "task 1"),
        (torch.tensor([[1.0, float("inf")]]), ValueError, "task 0"),
        (torch.ones(2, 3, dtype=torch.long), TypeError, "floating point"),
        ([[1.0, 2.0]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_gradient_matrices_are_rejected(aggregator, G, error, match) -> None:
    with pytest.raises(error, match=match):
        aggregator(G)


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="c=-1"):
        CAGrad(c=-1.0)
    with pytest.raises(TypeError, match=r"torch\.Generator"):
        PCGrad(generator=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_iter"):
        MGDA(max_iter=0)
    with pytest.raises(ValueError, match="square"):
        MGDA().weighting(torch.ones(2, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("aggregator", all_aggregators(), ids=repr)
def test_the_update_stays_on_the_gradients_device(aggregator) -> None:
    G = random_gradients(0, 3, 5)
    expected = aggregator(G)
    if isinstance(aggregator, PCGrad):
        aggregator.generator.manual_seed(0)
        expected = aggregator(G)
        aggregator.generator.manual_seed(0)
    d = aggregator(G.cuda())
    assert d.device.type == "cuda" and aggregator.weights.device.type == "cuda"
    torch.testing.assert_close(d.cpu(), expected)


# --------------------------------------------------- gradients and MGDA-UB
def two_head_model():
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh())
    heads = torch.nn.ModuleList([torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)])
    x = torch.randn(8, 3)
    z = trunk(x)
    losses = torch.stack([(h(z) ** 2).mean() for h in heads])
    return trunk, heads, z, losses


def test_task_gradients_stack_each_tasks_autograd_gradient() -> None:
    trunk, _, _, losses = two_head_model()
    shared = list(trunk.parameters())
    G = task_gradients(losses, shared)
    assert G.shape == (2, sum(p.numel() for p in shared))
    for i in range(2):
        grads = torch.autograd.grad(losses[i], shared, retain_graph=True)
        torch.testing.assert_close(G[i], torch.cat([g.reshape(-1) for g in grads]))
    losses.sum().backward()  # the graph is still there


def test_set_gradients_writes_the_update_into_grad() -> None:
    trunk, _, _, losses = two_head_model()
    shared = list(trunk.parameters())
    G = task_gradients(losses, shared)
    set_gradients(shared, G[1])
    torch.testing.assert_close(torch.cat([p.grad.reshape(-1) for p in shared]), G[1])
    with pytest.raises(ValueError, match="shape"):
        set_gradients(shared, G[1][:-1])


def test_mgda_ub_is_mgda_on_the_representation_gradients() -> None:
    _, _, z, losses = two_head_model()
    rows = [
        torch.autograd.grad(loss, z, retain_graph=True)[0].reshape(-1)
        for loss in losses
    ]
    expected = MGDA().weighting(torch.stack(rows) @ torch.stack(rows).T)
    weights = mgda_ub_weights(losses, z)
    torch.testing.assert_close(weights, expected.to(weights))
    assert weights.dtype == losses.dtype
    (weights * losses).sum().backward()  # applied with one ordinary backward pass


def test_gradient_helpers_reject_bad_input() -> None:
    trunk, _, _, losses = two_head_model()
    with pytest.raises(ValueError, match="require grad"):
        task_gradients(losses.detach(), trunk.parameters())
    with pytest.raises(ValueError, match="params is empty"):
        task_gradients(losses, [])
    with pytest.raises(ValueError, match="task list is empty"):
        task_gradients(losses[:0], trunk.parameters())
    with pytest.raises(ValueError, match="not finite"):
        task_gradients(losses * torch.tensor([1.0, float("nan")]), trunk.parameters())
    with pytest.raises(ValueError, match="does not depend"):
        representation_gramian(losses, torch.ones(3, requires_grad=True))
    # sanity: min_norm_weights is on the simplex for a trivial Gramian
    np.testing.assert_allclose(min_norm_weights(np.eye(3)), np.full(3, 1 / 3))


# ------------------------------------------ Nash-MTL on (nearly) opposite gradients
def test_nash_weights_do_not_crash_on_numerically_opposite_gradients() -> None:
    # regression: these rows are anti-parallel to 3e-12 relative, so G Gᵀ is
    # singular in float64 and Newton's Hessian was too (LinAlgError before)
    G = np.array(
        [
            [-2.7442140913969184, -0.008066967871532625],
            [0.05456261790968281, 0.00016039378525365723],
        ]
    )
    # float64 cannot tell them from opposite ones: Pareto-stationary, no step
    for M in (G @ G.T, G @ G.T / np.linalg.norm(G @ G.T)):
        assert (nash_weights(M) == 0).all()
    for dtype in (torch.float64, torch.float32):
        aggregator = NashMTL()
        d = aggregator(torch.tensor(G, dtype=dtype))
        assert (d == 0).all() and (aggregator.weights == 0).all()


@FAST
@given(
    seed=st.integers(0, 10_000),
    P=st.integers(2, 8),
    log_sine=st.floats(-16.0, -1.0),
    log_norms=st.tuples(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0)),
)
def test_nash_weights_on_nearly_opposite_pairs_are_finite_and_optimal(
    seed: int, P: int, log_sine: float, log_norms: tuple[float, float]
) -> None:
    rng = np.random.default_rng(seed)
    u, v = np.linalg.qr(rng.normal(size=(P, 2)))[0].T  # orthonormal pair
    sine = 10.0**log_sine  # sin of the angle between g_2 and −g_1
    n1, n2 = 10.0 ** np.array(log_norms)
    G = np.stack([n1 * u, n2 * (-np.sqrt(1.0 - sine**2) * u + sine * v)])
    M = G @ G.T
    alpha = nash_weights(M)
    assert np.isfinite(alpha).all()
    if sine <= 1e-8:  # opposite to float64's rounding of M: d = 0 (documented)
        assert (alpha == 0).all()
        return
    if (alpha == 0).all():  # the border: only where M rounds the pair to opposite
        assert sine < 1e-6
        return
    assert (alpha > 0).all()
    beta = alpha * np.array([n1, n2])  # β_i = α_i ‖g_i‖
    np.testing.assert_allclose(beta[0], beta[1], rtol=1e-12)
    if sine >= 1e-4:  # float64 resolves the problem: the exact solution
        # β∘Cβ = 1 with cos = −√(1 − s²): β = √(1 + √(1 − s²)) / s
        expected = np.sqrt(1.0 + np.sqrt(1.0 - sine**2)) / sine
        np.testing.assert_allclose(beta, expected, rtol=1e-6)
        np.testing.assert_allclose(alpha * (M @ alpha), 1.0, rtol=0, atol=1e-6)
    for dtype in (torch.float64, torch.float32):
        aggregator = NashMTL()
        d = aggregator(torch.tensor(G, dtype=dtype))
        assert torch.isfinite(d).all() and aggregator.weights.isfinite().all()
        assert (aggregator.weights >= 0).all()
