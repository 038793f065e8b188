"""Lookahead task affinity (Fifty et al. 2021) and the grouping search.

References: a numpy closed form of the lookahead on a linear model with MSE,
a lookahead done by hand with torch.optim.SGD on a copy of a HardSharing
model, and a brute-force search over every labelling of the tasks.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mtlbook.multitask.affinity import (
    _partitions,
    best_grouping,
    grouping_score,
    hard_sharing_losses,
    lookahead_affinity,
)
from mtlbook.multitask.models import HardSharing

torch.set_num_threads(1)


def linear_problem(seed: int, K: int = 4, n: int = 20, d: int = 5, h: int = 3):
    """y_k ≈ X W a_k: shared W: (d, h), fixed heads a_k: (h,), float64."""
    rng = np.random.default_rng(seed)
    X, W = rng.normal(size=(n, d)), rng.normal(size=(d, h))
    heads, ys = rng.normal(size=(K, h)), rng.normal(size=(K, n))
    return X, W, heads, ys


def torch_losses(X, heads, ys):
    Xt, At, Yt = (torch.from_numpy(a) for a in (X, heads, ys))

    def task_losses(params):
        pred = Xt @ params["W"] @ At.T  # (n, K)
        return ((pred - Yt.T) ** 2).mean(0)

    return task_losses


def numpy_affinity(X, W, heads, ys, lr):
    """Z[i, j] = 1 − L_j(W − η ∇_W L_i) / L_j(W), ∇_W L_i = 2/n Xᵀ r_i a_iᵀ."""
    n = len(X)

    def loss(Wm, j):
        return np.mean((X @ Wm @ heads[j] - ys[j]) ** 2)

    K = len(heads)
    Z = np.empty((K, K))
    for i in range(K):
        grad = 2 / n * np.outer(X.T @ (X @ W @ heads[i] - ys[i]), heads[i])
        for j in range(K):
            Z[i, j] = 1 - loss(W - lr * grad, j) / loss(W, j)
    return Z


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("lr", [1e-3, 0.05, 0.5])
def test_lookahead_matches_numpy_closed_form_linear_mse(seed, lr):
    X, W, heads, ys = linear_problem(seed)
    Z = lookahead_affinity(torch_losses(X, heads, ys), {"W": torch.from_numpy(W)}, lr)
    assert Z.shape == (4, 4) and Z.dtype == torch.float64
    np.testing.assert_allclose(
        Z.numpy(), numpy_affinity(X, W, heads, ys, lr), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("seed", range(3))
def test_small_steps_give_the_first_order_affinity(seed):
    """Z_{i→j} = η ⟨g_i, g_j⟩ / L_j + O(η²): a tiny step reads the gradient angle."""
    X, W, heads, ys = linear_problem(seed)
    n, lr = len(X), 1e-9
    G = np.stack(
        [
            (2 / n * np.outer(X.T @ (X @ W @ a - y), a)).ravel()
            for a, y in zip(heads, ys, strict=True)
        ]
    )
    L = np.mean((X @ W @ heads.T - ys.T) ** 2, axis=0)
    Z = lookahead_affinity(torch_losses(X, heads, ys), {"W": torch.from_numpy(W)}, lr)
    first_order = G @ G.T / L[None, :]
    scale = np.abs(first_order).max()  # Z's rounding error is ~1e-16 / lr
    np.testing.assert_allclose(Z.numpy() / lr, first_order, rtol=0, atol=1e-5 * scale)


def test_lookahead_leaves_shared_parameters_untouched():
    X, W, heads, ys = linear_problem(0)
    shared = {"W": torch.from_numpy(W.copy())}
    lookahead_affinity(torch_losses(X, heads, ys), shared, 0.1)
    assert np.array_equal(shared["W"].numpy(), W)


def test_identical_tasks_have_the_same_affinity():
    X, W, heads, ys = linear_problem(1)
    heads[1], ys[1] = heads[0], ys[0]  # task 1 is a copy of task 0
    Z = lookahead_affinity(torch_losses(X, heads, ys), {"W": torch.from_numpy(W)}, 0.1)
    assert Z[0, 1] == Z[0, 0] and Z[1, 0] == Z[0, 0]
    assert torch.equal(Z[0], Z[1])
    assert Z[0, 0] > 0  # a small step on a task's own loss lowers it


def test_zero_gradient_task_has_exactly_zero_affinity_row():
    X, W, heads, ys = linear_problem(2)
    heads[2] = 0.0  # output 0 whatever W is: ∇_W L_2 = 0, L_2 = mean(y²) > 0
    Z = lookahead_affinity(torch_losses(X, heads, ys), {"W": torch.from_numpy(W)}, 0.1)
    assert torch.equal(Z[2], torch.zeros(4, dtype=torch.float64))
    assert (Z[:, 2] == 0).all()  # nothing moves task 2's loss either
    assert (Z[[0, 1, 3]][:, [0, 1, 3]] != 0).all()


def test_unused_shared_parameter_is_allowed():
    X, W, heads, ys = linear_problem(3)
    base = torch_losses(X, heads, ys)
    shared = {"W": torch.from_numpy(W), "unused": torch.ones(2, dtype=torch.float64)}
    Z = lookahead_affinity(lambda p: base({"W": p["W"]}), shared, 0.1)
    np.testing.assert_allclose(
        Z.numpy(), numpy_affinity(X, W, heads, ys, 0.1), rtol=0, atol=1e-12
    )


def small_model(seed: int) -> HardSharing:
    torch.manual_seed(seed)
    layers = [
        nn.Sequential(nn.Linear(6, 8), nn.Tanh()),
        nn.Sequential(nn.Linear(8, 8), nn.Tanh()),
    ]
    heads = [nn.Linear(8, 3), nn.Linear(8, 1), nn.Linear(8, 4)]
    return HardSharing(layers, heads, shared_depth=1).double()


def test_hard_sharing_losses_match_an_sgd_step_on_a_copy():
    model = small_model(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 6, generator=g, dtype=torch.float64)
    targets = [
        torch.randint(0, 3, (16,), generator=g),
        torch.randn(16, 1, generator=g, dtype=torch.float64),
        torch.randint(0, 4, (16,), generator=g),
    ]
    loss_fns = [F.cross_entropy, F.mse_loss, F.cross_entropy]
    lr = 0.3

    def losses_of(m):
        return torch.stack(
            [f(o, t) for f, o, t in zip(loss_fns, m(x), targets, strict=True)]
        )

    task_losses, shared = hard_sharing_losses(model, x, targets, loss_fns)
    assert set(shared) == {"trunk.0.0.weight", "trunk.0.0.bias"}
    Z = lookahead_affinity(task_losses, shared, lr)
    with torch.no_grad():
        before = losses_of(model)
    for i in range(3):
        twin = copy.deepcopy(model)
        opt = torch.optim.SGD(twin.trunk.parameters(), lr=lr)
        losses_of(twin)[i].backward()
        opt.step()  # only the trunk moves: towers and heads keep their weights
        with torch.no_grad():
            expected = 1 - losses_of(twin) / before
        torch.testing.assert_close(Z[i], expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- grouping


def brute_score(Z: np.ndarray, labels: tuple[int, ...]) -> float:
    """Independent score: for each task, mean Z onto it from its group-mates."""
    total = 0.0
    for j, lj in enumerate(labels):
        mates = [i for i, li in enumerate(labels) if li == lj and i != j]
        total += np.mean(Z[mates, j]) if mates else 0.0
    return total


def brute_best(Z: np.ndarray, n_groups: int) -> float:
    K = len(Z)
    return max(
        brute_score(Z, labels)
        for labels in itertools.product(range(n_groups), repeat=K)
        if len(set(labels)) == n_groups
    )


@pytest.mark.parametrize("K", range(1, 7))
def test_partitions_are_every_set_partition_once(K):
    for n_groups in range(1, K + 1):
        found = [frozenset(map(frozenset, p)) for p in _partitions(K, n_groups)]
        expected = {
            frozenset(
                frozenset(t for t in range(K) if labels[t] == g) for g in set(labels)
            )
            for labels in itertools.product(range(n_groups), repeat=K)
            if len(set(labels)) == n_groups
        }
        assert len(found) == len(set(found)) == len(expected)
        assert set(found) == expected


@pytest.mark.parametrize("seed", range(8))
def test_best_grouping_matches_brute_force_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 7))
    n_groups = int(rng.integers(1, K + 1))
    Z = rng.normal(size=(K, K))
    groups = best_grouping(torch.from_numpy(Z), n_groups)
    assert len(groups) == n_groups and all(groups)
    assert sorted(i for g in groups for i in g) == list(range(K))
    labels = tuple(
        next(g for g, grp in enumerate(groups) if j in grp) for j in range(K)
    )
    assert grouping_score(torch.from_numpy(Z), groups) == pytest.approx(
        brute_score(Z, labels), abs=1e-12
    )
    assert brute_score(Z, labels) == pytest.approx(brute_best(Z, n_groups), abs=1e-12)


def test_best_grouping_finds_the_obvious_blocks():
    K = 6
    block = np.array([0, 1, 0, 1, 0, 1])
    Z = np.where(block[:, None] == block[None, :], 0.5, -0.3)
    Z += 0.01 * np.random.default_rng(0).normal(size=(K, K))
    assert best_grouping(torch.from_numpy(Z), 2) == ((0, 2, 4), (1, 3, 5))


def test_singletons_score_zero():
    Z = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
    assert grouping_score(Z, [[0], [1], [2], [3]]) == 0.0
    assert best_grouping(Z, 4) == ((0,), (1,), (2,), (3,))
    assert best_grouping(Z, 1) == ((0, 1, 2, 3),)
    assert grouping_score(Z, [[0, 1], [2], [3]]) == pytest.approx(
        float(Z[1, 0] + Z[0, 1])
    )


def test_overlapping_groups_score_each_task_by_its_best_group():
    Z = torch.tensor([[0.0, 0.4, 0.1], [0.2, 0.0, -0.5], [0.3, 0.6, 0.0]])
    # task 1: 0.4 from {0, 1}, 0.6 from {1, 2}; tasks 0, 2 only in one group
    assert grouping_score(Z, [[0, 1], [1, 2]]) == pytest.approx(0.2 + 0.6 - 0.5)


# ---------------------------------------------------------------- misuse


def test_grouping_misuse():
    Z = torch.zeros(3, 3)
    with pytest.raises(ValueError, match="square"):
        best_grouping(torch.zeros(3, 2), 2)
    with pytest.raises(ValueError, match="2-D"):
        best_grouping(torch.zeros(3), 2)
    with pytest.raises(ValueError, match="NaN"):
        best_grouping(torch.tensor([[0.0, float("nan")], [0.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="n_groups=0"):
        best_grouping(Z, 0)
    with pytest.raises(ValueError, match="n_groups=4"):
        best_grouping(Z, 4)
    with pytest.raises(TypeError, match="n_groups"):
        best_grouping(Z, 2.0)
    with pytest.raises(ValueError, match="K <= 8"):
        best_grouping(torch.zeros(9, 9), 2)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        best_grouping(np.zeros((3, 3)), 2)
    with pytest.raises(ValueError, match="in no group"):
        grouping_score(Z, [[0, 1]])
    with pytest.raises(ValueError, match="at most 2"):
        grouping_score(Z, [[0, 1], [3]])
    with pytest.raises(ValueError, match="repeats"):
        grouping_score(Z, [[0, 0], [1, 2]])
    with pytest.raises(ValueError, match="non-empty"):
        grouping_score(Z, [[0, 1, 2], []])


def test_lookahead_misuse():
    X, W, heads, ys = linear_problem(0)
    fn, shared = torch_losses(X, heads, ys), {"W": torch.from_numpy(W)}
    with pytest.raises(ValueError, match="lr"):
        lookahead_affinity(fn, shared, 0.0)
    with pytest.raises(TypeError, match="task_losses"):
        lookahead_affinity("losses", shared, 0.1)
    with pytest.raises(ValueError, match="shared is empty"):
        lookahead_affinity(fn, {}, 0.1)
    with pytest.raises(TypeError, match="dict"):
        lookahead_affinity(fn, [torch.from_numpy(W)], 0.1)
    with pytest.raises(ValueError, match="NaN or inf"):
        lookahead_affinity(fn, {"W": torch.full((5, 3), float("nan"))}, 0.1)
    with pytest.raises(ValueError, match=r"\(K,\)"):
        lookahead_affinity(lambda p: fn(p).sum(), shared, 0.1)
    with pytest.raises(ValueError, match="<= 0"):
        lookahead_affinity(lambda p: fn(p) * 0, shared, 0.1)
    with pytest.raises(ValueError, match="diverged"):
        lookahead_affinity(fn, shared, 1e200)
    with pytest.raises(ValueError, match="one of each"):
        hard_sharing_losses(small_model(0), torch.zeros(2, 6), [torch.zeros(2)], [])
    independent = HardSharing([nn.Linear(2, 2)], [nn.Linear(2, 1)], shared_depth=0)
    with pytest.raises(ValueError, match="shared_depth >= 1"):
        hard_sharing_losses(
            independent, torch.zeros(2, 2), [torch.zeros(2)], [F.mse_loss]
        )
