"""Loss scalarizers: each method's weights follow its published update rule.

Facts tested: static/equal weights and the validation grid search, uncertainty
weighting's optimum σ² = L, GradNorm's Adam step and renormalisation Σw = K,
DWA's formula, random weighting's reproducibility, FAMO's loss gradient and
logit update against hand computations, smooth Tchebycheff's bounds
T ≤ STCH ≤ T + μ log K around the Tchebycheff max T, and clear errors for bad
input.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.multitask import (
    DWA,
    FAMO,
    EqualWeights,
    GradNorm,
    RandomLossWeighting,
    SmoothTchebycheff,
    StaticWeights,
    UncertaintyWeighting,
    select_static_weights,
    simplex_grid,
)

FAST = settings(max_examples=30, deadline=None)
F64 = torch.float64


def losses_of(*values: float, grad: bool = True) -> torch.Tensor:
    return torch.tensor(values, dtype=F64, requires_grad=grad)


def weights_on_losses(scalarizer, losses: torch.Tensor) -> torch.Tensor:
    """∂(scalarized loss)/∂L: the weight each task loss effectively gets."""
    (grad,) = torch.autograd.grad(scalarizer(losses), losses)
    return grad


# ------------------------------------------------------- static and equal
def test_equal_weights_sum_the_losses() -> None:
    L = losses_of(0.5, 2.0, 7.0)
    scalarizer = EqualWeights(3)
    assert scalarizer(L).item() == pytest.approx(9.5, rel=1e-15)
    assert torch.equal(weights_on_losses(scalarizer, L), torch.ones(3, dtype=F64))


def test_static_weights_are_the_gradient_of_the_loss() -> None:
    w = [0.2, 1.5, 0.0]
    L = losses_of(0.5, 2.0, 7.0)
    scalarizer = StaticWeights(w)
    torch.testing.assert_close(
        weights_on_losses(scalarizer, L), torch.tensor(w, dtype=F64)
    )
    torch.testing.assert_close(scalarizer.weights, torch.tensor(w, dtype=F64))


@pytest.mark.parametrize("bad", [[], [1.0, -0.1], [0.0, 0.0], [1.0, float("nan")]])
def test_static_weights_reject_bad_weights(bad) -> None:
    with pytest.raises(ValueError, match="weights"):
        StaticWeights(bad)


@pytest.mark.parametrize(("K", "r"), [(1, 3), (2, 4), (3, 5), (4, 2)])
def test_simplex_grid_covers_the_scaled_simplex_once(K: int, r: int) -> None:
    grid = simplex_grid(K, r)
    assert grid.shape == (math.comb(r + K - 1, K - 1), K)
    torch.testing.assert_close(
        grid.sum(1), torch.full((len(grid),), float(K), dtype=F64)
    )
    assert (grid >= 0).all()
    steps = grid * r / K
    assert torch.equal(steps, steps.round())
    assert len({tuple(row.tolist()) for row in grid}) == len(grid)


def test_select_static_weights_picks_the_lowest_validation_loss() -> None:
    grid = simplex_grid(3, 4)
    target = grid[7]
    calls = []

    def validation_loss(w: torch.Tensor) -> float:
        calls.append(w)
        if w[0] == 3.0:  # a run that diverged
            return float("nan")
        return float(((w - target) ** 2).sum())

    best, scores = select_static_weights(grid, validation_loss)
    assert len(calls) == len(grid) and scores.shape == (len(grid),)
    assert torch.equal(best.weights, target)
    with pytest.raises(ValueError, match="no finite score"):
        select_static_weights(grid, lambda w: float("inf"))


# --------------------------------------------------------- uncertainty
@FAST
@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=4))
def test_uncertainty_weighting_is_stationary_at_sigma_squared_equal_loss(
    values,
) -> None:
    scalarizer = UncertaintyWeighting(len(values)).double()
    L = losses_of(*values, grad=False)
    with torch.no_grad():
        scalarizer.log_vars.copy_(torch.log(L))
    (grad,) = torch.autograd.grad(scalarizer(L), scalarizer.log_vars)
    torch.testing.assert_close(grad, torch.zeros_like(grad), atol=1e-12, rtol=0)
    # the stationary point is the minimum: nudging σ² either way costs loss
    for shift in (-0.1, 0.1):
        with torch.no_grad():
            scalarizer.log_vars.copy_(torch.log(L) + shift)
        assert scalarizer(L) > 0.5 * len(values) + 0.5 * torch.log(L).sum()


def test_uncertainty_weighting_learns_sigma_squared_equal_loss() -> None:
    L = losses_of(0.04, 1.0, 25.0, grad=False)
    scalarizer = UncertaintyWeighting(3)
    optimizer = torch.optim.SGD(scalarizer.parameters(), lr=1.0)
    for _ in range(60):
        optimizer.zero_grad()
        scalarizer(L).backward()
        optimizer.step()
    sigma2 = torch.exp(scalarizer.log_vars.detach()).double()
    torch.testing.assert_close(sigma2, L, rtol=1e-3, atol=0)
    torch.testing.assert_close(
        scalarizer.weights.double(), 1 / (2 * L), rtol=1e-3, atol=0
    )


def test_uncertainty_weighting_rejects_negative_losses() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        UncertaintyWeighting(2)(losses_of(1.0, -0.5))


# ------------------------------------------------------------- GradNorm
def gradnorm_problem(scale: float = 10.0):
    """Two regression tasks on one shared layer; task 1's targets are scaled."""
    torch.manual_seed(0)
    shared = torch.nn.Linear(4, 6).double()
    heads = torch.nn.ModuleList([torch.nn.Linear(6, 1).double() for _ in range(2)])
    x = torch.randn(32, 4, dtype=F64)
    targets = [torch.randn(32, 1, dtype=F64), scale * torch.randn(32, 1, dtype=F64)]

    def losses() -> torch.Tensor:
        z = torch.tanh(shared(x))
        return torch.stack(
            [((h(z) - y) ** 2).mean() for h, y in zip(heads, targets, strict=True)]
        )

    return shared, heads, losses


def test_gradnorm_follows_algorithm_1_against_a_reference_adam() -> None:
    shared, heads, losses = gradnorm_problem()
    alpha, lr = 0.5, 0.1
    scalarizer = GradNorm(2, [shared.weight], alpha=alpha, lr=lr)
    model_opt = torch.optim.SGD([*shared.parameters(), *heads.parameters()], lr=0.01)
    w_ref = torch.ones(2, dtype=F64, requires_grad=True)
    ref_opt = torch.optim.Adam([w_ref], lr=lr)
    L0 = None
    for _ in range(4):
        L = losses()
        # the paper's quantities, computed here independently
        norms = torch.stack(
            [
                torch.autograd.grad(L[i], shared.weight, retain_graph=True)[0].norm()
                for i in range(2)
            ]
        )
        L0 = L.detach() if L0 is None else L0
        ratio = L.detach() / L0
        target = (w_ref.detach() * norms).mean() * (ratio / ratio.mean()) ** alpha
        applied = w_ref.detach().clone()

        loss = scalarizer(L)
        torch.testing.assert_close(scalarizer.weights, applied)  # pre-update weights
        torch.testing.assert_close(loss, (applied * L).sum())

        w_ref.grad = torch.sign(w_ref.detach() * norms - target) * norms
        ref_opt.step()
        with torch.no_grad():
            w_ref.mul_(2 / w_ref.sum())  # renormalise: Σ w = K

        model_opt.zero_grad()
        loss.backward()
        model_opt.step()
    scalarizer(losses())
    torch.testing.assert_close(scalarizer.weights, w_ref.detach())
    assert scalarizer.weights.sum().item() == pytest.approx(2.0, rel=1e-12)


def test_gradnorm_raises_the_weight_of_the_task_that_trains_slowly() -> None:
    shared, _, losses = gradnorm_problem(scale=1.0)
    scalarizer = GradNorm(2, [shared.weight], alpha=3.0, lr=0.05)
    L = losses()
    # task 0 already fell to a quarter of its initial loss; task 1 did not move
    scalarizer.initial_losses = L.detach() * torch.tensor([4.0, 1.0], dtype=F64)
    scalarizer(L)
    scalarizer(losses().detach())  # no update without grad: only reads weights
    w = scalarizer.weights
    # the first Adam step moves each weight by lr·sign(G_i − target_i)
    torch.testing.assert_close(w, torch.tensor([0.95, 1.05], dtype=F64))
    assert w.sum().item() == pytest.approx(2.0, rel=1e-12)


def test_gradnorm_does_not_update_during_evaluation() -> None:
    shared, _, losses = gradnorm_problem()
    scalarizer = GradNorm(2, [shared.weight])
    with torch.no_grad():
        scalarizer(losses())
    assert scalarizer.initial_losses is None
    assert torch.equal(scalarizer.weights, torch.ones(2, dtype=F64))


def test_gradnorm_rejects_bad_shared_params() -> None:
    _, _, losses = gradnorm_problem()
    with pytest.raises(ValueError, match="shared_params"):
        GradNorm(2, [])
    unrelated = torch.nn.Linear(2, 2).double()
    with pytest.raises(ValueError, match="does not depend on shared_params"):
        GradNorm(2, [unrelated.weight])(losses())


# ------------------------------------------------------------------ DWA
def test_dwa_follows_its_formula_on_known_epoch_losses() -> None:
    scalarizer = DWA(3, temperature=2.0)
    epochs = [[1.0, 2.0, 4.0], [0.5, 1.8, 4.4], [0.45, 0.9, 4.4]]
    assert torch.equal(scalarizer.weights, torch.ones(3, dtype=F64))
    scalarizer.end_epoch(torch.tensor(epochs[0]))
    assert torch.equal(scalarizer.weights, torch.ones(3, dtype=F64))
    for before, after in itertools.pairwise(epochs):
        scalarizer.end_epoch(torch.tensor(after))
        r = [a / b for a, b in zip(after, before, strict=True)]
        e = [math.exp(x / 2.0) for x in r]
        expected = torch.tensor([3 * x / sum(e) for x in e], dtype=F64)
        torch.testing.assert_close(scalarizer.weights, expected, rtol=1e-6, atol=0)
    L = losses_of(1.0, 2.0, 3.0)
    torch.testing.assert_close(
        weights_on_losses(scalarizer, L), expected, rtol=1e-6, atol=0
    )


def test_dwa_needs_positive_epoch_losses() -> None:
    with pytest.raises(ValueError, match="positive"):
        DWA(2).end_epoch(torch.tensor([1.0, 0.0]))


# --------------------------------------------------------- random weights
def test_random_weighting_is_reproducible_with_its_generator() -> None:
    L = losses_of(1.0, 2.0, 3.0, 4.0)

    def draws(seed: int) -> list[torch.Tensor]:
        scalarizer = RandomLossWeighting(4, torch.Generator().manual_seed(seed))
        out = []
        for _ in range(5):
            loss = scalarizer(L)
            torch.testing.assert_close(loss, (scalarizer.weights * L).sum())
            out.append(scalarizer.weights)
        return out

    first, again, other = draws(0), draws(0), draws(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    assert not torch.equal(first[0], first[1])  # fresh weights every call
    for w in first:
        assert (w > 0).all() and w.sum().item() == pytest.approx(1.0, rel=1e-12)


# ------------------------------------------------------------------ FAMO
def test_famo_loss_weights_the_tasks_by_z_over_the_loss_gap() -> None:
    scalarizer = FAMO(3, min_losses=[0.0, -1.0, 0.5])
    with torch.no_grad():
        scalarizer.logits.copy_(torch.tensor([0.5, -0.25, 0.125]))
    L = losses_of(2.0, 0.5, 4.0)
    gaps = L.detach() - torch.tensor([0.0, -1.0, 0.5], dtype=F64) + 1e-8
    z = torch.softmax(torch.tensor([0.5, -0.25, 0.125], dtype=F64), 0)
    expected = (z / gaps) / (z / gaps).sum()
    grad = weights_on_losses(scalarizer, L)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=0)
    assert grad.sum().item() == pytest.approx(1.0, rel=1e-12)


def test_famo_logit_update_matches_the_authors_rule() -> None:
    lr, gamma = 0.025, 0.01
    scalarizer = FAMO(2, lr=lr, gamma=gamma)
    # reference: the authors' update, Adam with weight decay γ on the logits
    xi = torch.zeros(2, dtype=F64, requires_grad=True)
    reference = torch.optim.Adam([xi], lr=lr, weight_decay=gamma)
    sequence = [(2.0, 1.0), (1.0, 0.9), (0.7, 0.85), (0.6, 0.5), (0.55, 0.3)]
    for before, after in itertools.pairwise(sequence):
        scalarizer(losses_of(*before))
        scalarizer.after_step(losses_of(*after, grad=False))
        delta = torch.log(torch.tensor(before, dtype=F64) + 1e-8) - torch.log(
            torch.tensor(after, dtype=F64) + 1e-8
        )
        z = torch.softmax(xi, 0)
        xi.grad = torch.autograd.grad(z, xi, grad_outputs=delta)[0]  # J_zᵀ δ
        reference.step()
        torch.testing.assert_close(
            scalarizer.logits, xi.detach(), rtol=1e-12, atol=1e-15
        )
    torch.testing.assert_close(scalarizer.weights, torch.softmax(xi.detach(), 0))


def test_famo_shifts_weight_to_the_task_that_improved_less() -> None:
    scalarizer = FAMO(2)
    scalarizer(losses_of(1.0, 1.0))
    scalarizer.after_step(losses_of(0.5, 0.95, grad=False))
    assert scalarizer.weights[1] > 0.5 > scalarizer.weights[0]


def test_famo_checks_its_call_order_and_bounds() -> None:
    scalarizer = FAMO(2, min_losses=[-20.0, -20.0])
    with pytest.raises(RuntimeError, match="forward"):
        scalarizer.after_step(losses_of(1.0, 1.0))
    with pytest.raises(ValueError, match="min_losses"):
        scalarizer(losses_of(-21.0, 0.0))
    assert (
        scalarizer.needs_losses_after_step
        and not EqualWeights(2).needs_losses_after_step
    )


# ------------------------------------------------------ every scalarizer
def make_all(K: int):
    param = torch.zeros(1, requires_grad=True)
    return [
        EqualWeights(K),
        StaticWeights([1.0] * K),
        UncertaintyWeighting(K),
        GradNorm(K, [param]),
        DWA(K),
        RandomLossWeighting(K, torch.Generator().manual_seed(0)),
        FAMO(K),
    ]


@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize(
    ("losses", "error", "match"),
    [
        (torch.ones(3), ValueError, "got 3 losses for n_tasks=2"),
        (torch.ones(1), ValueError, "got 1 losses for n_tasks=2"),
        (torch.ones(0), ValueError, "task list is empty"),
        (torch.ones(2, 1), ValueError, "1-D"),
        (torch.tensor([1.0, float("nan")]), ValueError, r"losses\[1\]"),
        (torch.tensor([float("inf"), 1.0]), ValueError, r"losses\[0\]"),
        (torch.ones(2, dtype=torch.long), TypeError, "floating point"),
        ([1.0, 2.0], TypeError, "torch.Tensor"),
    ],
)
def test_bad_losses_are_rejected(index, losses, error, match) -> None:
    scalarizer = make_all(2)[index]
    with pytest.raises(error, match=match):
        scalarizer(losses)


@pytest.mark.parametrize("index", range(7))
def test_every_scalarizer_returns_a_scalar_and_its_weights(index) -> None:
    scalarizer = make_all(3)[index]
    L = torch.tensor([0.5, 1.0, 2.0])
    loss = scalarizer(L)
    assert loss.shape == () and torch.isfinite(loss)
    assert scalarizer.weights.shape == (3,) and (scalarizer.weights > 0).all()


@pytest.mark.parametrize("n_tasks", [0, -1])
def test_an_empty_task_list_is_rejected(n_tasks) -> None:
    with pytest.raises(ValueError, match="task list is empty"):
        EqualWeights(n_tasks)
    with pytest.raises(ValueError, match="task list is empty"):
        FAMO(n_tasks)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("index", range(7))
def test_scalarizers_work_on_the_losses_device(index) -> None:
    scalarizer = make_all(2)[index].cuda()
    loss = scalarizer(torch.tensor([0.5, 1.0], device="cuda"))
    assert loss.device.type == "cuda"


# ------------------------------------------------------ smooth Tchebycheff
@FAST
@given(
    seed=st.integers(0, 10_000),
    K=st.integers(1, 6),
    mu=st.sampled_from([1e-4, 0.01, 0.1, 1.0, 10.0]),
    spread=st.sampled_from([1.0, 1e3, 1e6]),
)
def test_stch_lies_between_tchebycheff_and_tchebycheff_plus_mu_log_k(
    seed: int, K: int, mu: float, spread: float
) -> None:
    g = torch.Generator().manual_seed(seed)
    losses = spread * torch.rand(K, generator=g, dtype=F64)
    lam = 0.1 + torch.rand(K, generator=g, dtype=F64)
    ideal = -torch.rand(K, generator=g, dtype=F64)
    value = SmoothTchebycheff(lam, mu=mu, ideal=ideal)(losses).item()
    tch = float((lam * (losses - ideal)).max())  # the Tchebycheff scalarisation
    assert math.isfinite(value)  # no overflow: spread/μ reaches 1e10
    slack = 1e-12 * max(abs(tch), 1.0)
    assert tch - slack <= value <= tch + mu * math.log(K) + slack


def test_stch_tends_to_the_tchebycheff_max_as_mu_goes_to_zero() -> None:
    losses = torch.tensor([0.3, 2.0, 1.1], dtype=F64)
    lam = torch.tensor([2.0, 0.5, 1.0], dtype=F64)  # λ(L − 0) = (0.6, 1.0, 1.1)
    gaps = [
        SmoothTchebycheff(lam, mu=mu)(losses).item() - 1.1 for mu in (1.0, 0.1, 1e-3)
    ]
    assert gaps[0] > gaps[1] > gaps[2] >= 0.0
    assert gaps[2] <= 1e-3 * math.log(3)


def test_stch_weights_are_its_autograd_gradient() -> None:
    losses = losses_of(0.5, 2.0, 7.0)
    lam = torch.tensor([1.0, 0.5, 0.2], dtype=F64)
    scalarizer = SmoothTchebycheff(lam, mu=0.7, ideal=[0.1, 0.0, -0.5])
    grad = weights_on_losses(scalarizer, losses)
    scaled = lam * (losses.detach() - torch.tensor([0.1, 0.0, -0.5], dtype=F64))
    torch.testing.assert_close(grad, lam * torch.softmax(scaled / 0.7, 0))
    torch.testing.assert_close(scalarizer.weights, grad)


def test_stch_of_one_task_is_its_shifted_scaled_loss() -> None:
    value = SmoothTchebycheff([3.0], mu=0.01, ideal=[1.0])(losses_of(2.5))
    assert value.item() == pytest.approx(4.5, rel=1e-14)
