"""The numpy optimisers follow exactly the trajectories of torch.optim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.scratch.layers import MLP
from mtlbook.scratch.optim import SGD, Adagrad, Adam, AdamW, RMSProp

# (name, numpy class, torch class, keyword arguments shared by both)
CONFIGS = [
    ("sgd", SGD, torch.optim.SGD, {"lr": 0.02}),
    ("momentum", SGD, torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    (
        "nesterov",
        SGD,
        torch.optim.SGD,
        {"lr": 0.01, "momentum": 0.9, "nesterov": True},
    ),
    ("sgd_wd", SGD, torch.optim.SGD, {"lr": 0.02, "weight_decay": 0.1}),
    (
        "momentum_wd",
        SGD,
        torch.optim.SGD,
        {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1},
    ),
    ("rmsprop", RMSProp, torch.optim.RMSprop, {"lr": 0.01}),
    (
        "rmsprop_momentum",
        RMSProp,
        torch.optim.RMSprop,
        {"lr": 0.003, "momentum": 0.9, "alpha": 0.9},
    ),
    ("adam", Adam, torch.optim.Adam, {"lr": 0.05}),
    (
        "adam_wd",
        Adam,
        torch.optim.Adam,
        {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1},
    ),
    ("adamw", AdamW, torch.optim.AdamW, {"lr": 0.05, "weight_decay": 0.1}),
    (
        "adamw_betas",
        AdamW,
        torch.optim.AdamW,
        {"lr": 0.02, "betas": (0.5, 0.99), "eps": 1e-3, "weight_decay": 0.5},
    ),
    ("adagrad", Adagrad, torch.optim.Adagrad, {"lr": 0.1}),
    ("adagrad_eps", Adagrad, torch.optim.Adagrad, {"lr": 0.5, "eps": 1e-3}),
]


def least_squares(seed: int):
    """Loss 0.5 mean |X w + c - y|² with two parameter arrays w: (5, 2), c: (2,)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 5)) * np.array([3.0, 1.0, 1.0, 0.5, 0.1])
    y = rng.normal(size=(20, 2))
    init = [rng.normal(size=(5, 2)), rng.normal(size=2)]

    def grads(w, c):  # works for numpy arrays and torch tensors alike
        r = X @ w + c - y
        return [X.T @ r / len(X), r.mean(0)]

    def loss(w, c):
        return 0.5 * ((X @ w + c - y) ** 2).sum() / len(X)

    return init, grads, loss, (X, y)


def rosenbrock_grad(p):
    x, y = p[0], p[1]
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def run_numpy(cls, kwargs, init, grad_fn, steps):
    params = [p.copy() for p in init]
    opt = cls(params, **kwargs)
    path = []
    for _ in range(steps):
        opt.step(grad_fn(*params))
        path.append([p.copy() for p in params])
    return path


def run_torch(cls, kwargs, init, loss_fn, steps):
    params = [torch.tensor(p, requires_grad=True) for p in init]
    opt = cls(params, **kwargs)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(*params).backward()
        opt.step()
        path.append([p.detach().numpy().copy() for p in params])
    return path


def assert_same_path(path, ref, tol):
    for step, (ps, rs) in enumerate(zip(path, ref, strict=True)):
        for p, r in zip(ps, rs, strict=True):
            assert np.all(np.isfinite(p))
            err = np.max(np.abs(p - r))
            assert err <= tol * max(1.0, np.max(np.abs(r))), (step, err)


@pytest.mark.parametrize(("name", "ours", "theirs", "kwargs"), CONFIGS)
def test_least_squares_trajectory_equals_torch(name, ours, theirs, kwargs):
    """100 steps on a least-squares problem match torch.optim to 1e-10 (f64)."""
    init, grads, _, (X, y) = least_squares(0)
    Xt, yt = torch.tensor(X), torch.tensor(y)

    def torch_loss(w, c):
        return 0.5 * ((Xt @ w + c - yt) ** 2).sum() / len(X)

    path = run_numpy(ours, kwargs, init, grads, 100)
    ref = run_torch(theirs, kwargs, init, torch_loss, 100)
    assert_same_path(path, ref, 1e-10)
    assert not np.allclose(path[-1][0], init[0])  # the optimiser did move


@pytest.mark.parametrize(("name", "ours", "theirs", "kwargs"), CONFIGS)
def test_rosenbrock_trajectory_equals_torch(name, ours, theirs, kwargs):
    """100 steps on the Rosenbrock function match torch.optim to 1e-10 (f64)."""
    kwargs = {**kwargs, "lr": kwargs["lr"] / 20}  # the valley is steep

    def torch_loss(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    init = [np.array([-1.2, 1.0])]
    path = run_numpy(ours, kwargs, init, lambda p: [rosenbrock_grad(p)], 100)
    ref = run_torch(theirs, kwargs, init, torch_loss, 100)
    assert_same_path(path, ref, 1e-10)


@settings(max_examples=30, deadline=None)
@given(
    lr=st.floats(1e-4, 0.05),
    momentum=st.floats(0.0, 0.99),
    nesterov=st.booleans(),
    weight_decay=st.sampled_from([0.0, 1e-3, 0.5]),
    seed=st.integers(0, 1000),
)
def test_sgd_matches_torch_for_any_hyperparameters(
    lr, momentum, nesterov, weight_decay, seed
):
    kwargs = {
        "lr": lr,
        "momentum": momentum,
        "nesterov": nesterov and momentum > 0,
        "weight_decay": weight_decay,
    }
    init, grads, _, (X, y) = least_squares(seed)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    loss = lambda w, c: 0.5 * ((Xt @ w + c - yt) ** 2).sum() / len(X)  # noqa: E731
    path = run_numpy(SGD, kwargs, init, grads, 20)
    assert_same_path(path, run_torch(torch.optim.SGD, kwargs, init, loss, 20), 1e-10)


@settings(max_examples=30, deadline=None)
@given(
    lr=st.floats(1e-4, 0.1),
    beta1=st.floats(0.0, 0.99),
    beta2=st.floats(0.5, 0.9999),
    eps=st.sampled_from([1e-8, 1e-3]),
    seed=st.integers(0, 1000),
)
def test_adam_matches_torch_for_any_hyperparameters(lr, beta1, beta2, eps, seed):
    kwargs = {"lr": lr, "betas": (beta1, beta2), "eps": eps}
    init, grads, _, (X, y) = least_squares(seed)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    loss = lambda w, c: 0.5 * ((Xt @ w + c - yt) ** 2).sum() / len(X)  # noqa: E731
    path = run_numpy(Adam, kwargs, init, grads, 20)
    assert_same_path(path, run_torch(torch.optim.Adam, kwargs, init, loss, 20), 1e-10)


def test_step_updates_the_model_in_place():
    """The optimiser writes into MLP.parameters(): the arrays keep their identity."""
    rng = np.random.default_rng(0)
    mlp = MLP([3, 4, 1], rng=rng)
    params = mlp.parameters()
    before = [p.copy() for p in params]
    x = rng.normal(size=(8, 3))
    mlp.backward(mlp.forward(x))  # gradient of 0.5 * |output|²
    Adam(params, lr=0.1).step(mlp.gradients())
    assert all(a is b for a, b in zip(params, mlp.parameters(), strict=True))
    assert all(not np.allclose(a, b) for a, b in zip(params, before, strict=True))


def test_zero_learning_rate_leaves_parameters_unchanged():
    p = np.array([1.0, -2.0])
    for opt in [
        SGD([p], lr=0.0, momentum=0.9),
        RMSProp([p], lr=0.0),
        Adam([p], 0.0),
        AdamW([p], 0.0, weight_decay=0.5),
        Adagrad([p], 0.0),
    ]:
        opt.step([np.array([3.0, 4.0])])
    np.testing.assert_array_equal(p, [1.0, -2.0])


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: SGD(p, lr=-0.1), ValueError, "lr=-0.1"),
        (lambda p: SGD(p, lr=float("nan")), ValueError, "lr=nan"),
        (lambda p: Adam(p, lr=float("inf")), ValueError, "lr=inf"),
        (lambda p: RMSProp(p, lr=-1), ValueError, "lr=-1"),
        (lambda p: SGD(p, lr="0.1"), TypeError, "lr='0.1' must be a real number"),
        (lambda p: SGD(p, lr=0.1, nesterov=True), ValueError, "momentum > 0"),
        (lambda p: SGD(p, lr=0.1, momentum=-0.5), ValueError, "momentum=-0.5"),
        (lambda p: RMSProp(p, alpha=1.0), ValueError, r"alpha=1.0 must be < 1"),
        (lambda p: Adam(p, betas=(0.9, 1.5)), ValueError, r"betas\[1\]"),
        (lambda p: Adam(p, betas=(0.9,)), ValueError, "must be a pair"),
        (lambda p: SGD([], lr=0.1), ValueError, "params is empty"),
        (lambda p: SGD([[1.0, 2.0]], lr=0.1), TypeError, r"params\[0\]"),
        (lambda p: SGD([np.arange(3)], lr=0.1), TypeError, "float numpy array"),
    ],
)
def test_bad_hyperparameters_raise(make, error, match):
    with pytest.raises(error, match=match):
        make([np.zeros(3)])


@pytest.mark.parametrize("cls", [SGD, RMSProp, Adam, AdamW, Adagrad])
def test_bad_gradients_raise(cls):
    params = [np.zeros((2, 3)), np.zeros(3)]
    opt = cls(params, lr=0.1)
    with pytest.raises(ValueError, match="got 1 gradients for 2 parameters"):
        opt.step([np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"grads\[1\] has shape \(2,\)"):
        opt.step([np.zeros((2, 3)), np.zeros(2)])
    np.testing.assert_array_equal(params[0], 0.0)  # nothing was updated


@settings(max_examples=30, deadline=None)
@given(
    lr=st.floats(1e-4, 0.1),
    beta1=st.floats(0.0, 0.99),
    weight_decay=st.sampled_from([0.0, 1e-2, 1.0, 5.0]),
    seed=st.integers(0, 1000),
)
def test_adamw_matches_torch_for_any_hyperparameters(lr, beta1, weight_decay, seed):
    kwargs = {"lr": lr, "betas": (beta1, 0.999), "weight_decay": weight_decay}
    init, grads, _, (X, y) = least_squares(seed)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    loss = lambda w, c: 0.5 * ((Xt @ w + c - yt) ** 2).sum() / len(X)  # noqa: E731
    path = run_numpy(AdamW, kwargs, init, grads, 20)
    ref = run_torch(torch.optim.AdamW, kwargs, init, loss, 20)
    assert_same_path(path, ref, 1e-10)


def test_adagrad_on_huge_gradient_spread_equals_torch():
    """Gradients 1e8, 1 and 1e-8: Adagrad's per-coordinate steps equal torch's."""
    scale = np.array([1e8, 1.0, 1e-8])
    path = run_numpy(Adagrad, {"lr": 0.1}, [np.ones(3)], lambda p: [scale * p], 50)
    s = torch.tensor(scale)
    ref = run_torch(
        torch.optim.Adagrad,
        {"lr": 0.1},
        [np.ones(3)],
        lambda p: 0.5 * (s * p * p).sum(),
        50,
    )
    assert_same_path(path, ref, 1e-10)
    # first step: lr on both, though their gradients are 1e8 apart
    np.testing.assert_allclose(1.0 - path[0][0][:2], 0.1, rtol=1e-9)  # eps: 1e-10


def test_sgd_l2_penalty_is_decoupled_weight_decay():
    """For SGD, adding lam * p to the gradient is the same as shrinking p by lr * lam.

    This is why the two names were used as synonyms; Adam breaks the equivalence.
    """
    init, grads, _, _ = least_squares(3)
    lr, lam = 0.05, 0.3
    path = run_numpy(SGD, {"lr": lr, "weight_decay": lam}, init, grads, 100)
    params = [p.copy() for p in init]
    for step in range(100):
        g = grads(*params)
        for p, gi in zip(params, g, strict=True):
            p *= 1 - lr * lam  # decoupled: shrink, then the plain gradient step
            p -= lr * gi
        for p, ref in zip(params, path[step], strict=True):
            np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-14)


def test_adam_l2_reaches_the_ridge_solution_and_adamw_does_not():
    """Adam's L2 term minimises L + lam/2 |w|² (the closed-form ridge solution);
    AdamW, with the same weight_decay, ends elsewhere.

    Two features whose scales differ by 100: the decay matters on the flat one.
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2)) * np.array([10.0, 0.1])
    y = rng.normal(size=50)
    lam, steps = 0.5, 20_000
    ridge = np.linalg.solve(X.T @ X / 50 + lam * np.eye(2), X.T @ y / 50)
    ends = {}
    for cls in (Adam, AdamW):
        w = np.zeros(2)
        opt = cls([w], lr=0.01, weight_decay=lam)
        for t in range(steps):
            opt.lr = 0.01 * (1 - t / steps) + 1e-6  # decay to let Adam settle
            opt.step([X.T @ (X @ w - y) / 50])
        ends[cls.__name__] = w
    np.testing.assert_allclose(ends["Adam"], ridge, rtol=1e-9, atol=1e-12)
    # the flat weight: ridge shrinks it about 50-fold, AdamW leaves it 10x larger
    assert abs(ends["AdamW"][1]) > 10 * abs(ridge[1])


@pytest.mark.parametrize("mu", [0.5, 0.9, 0.99])
def test_nesterov_look_ahead_form_is_torch_form_after_change_of_variables(mu):
    """Sutskever's look-ahead form is torch's Nesterov in other variables.

    Look-ahead: v' = mu v - lr grad(theta + mu v), theta' = theta + v'. In the
    variables phi = theta + mu v and b = -v / lr it is torch's update
    b' = mu b + grad(phi), phi' = phi - lr (grad(phi) + mu b').
    """
    lr, rng = 0.01, np.random.default_rng(1)
    A = rng.normal(size=(6, 6))
    A = A @ A.T + np.diag([1e-3, 1e-2, 0.1, 1.0, 10.0, 50.0])  # wide curvature spread
    c = rng.normal(size=6)

    def grad(p):
        return A @ p - c

    theta, v = rng.normal(size=6), np.zeros(6)
    phi = theta.copy()  # phi_0 = theta_0 + mu v_0 with v_0 = 0
    opt = SGD([phi], lr=lr, momentum=mu, nesterov=True)
    for _ in range(200):
        opt.step([grad(phi)])
        v = mu * v - lr * grad(theta + mu * v)
        theta = theta + v
        np.testing.assert_allclose(phi, theta + mu * v, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(opt.velocity[0], -v / lr, rtol=1e-10, atol=1e-10)
