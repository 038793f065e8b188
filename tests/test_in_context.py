"""The in-context regressor: causal to the bit, per-prompt, against numpy lstsq.

Facts a reader relies on when reading Garg et al.'s Fig. 2 off this model:
ŷ_i never sees y_i or anything after it; one prompt's prediction does not
depend on the other prompts of the batch; the least-squares reference is
numpy's minimum-norm solution; and the causal transformer, unlike least
squares (and unlike a CNP's mean), is not invariant to the order of the
context pairs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from misuse import Bad, params

from mtlbook.meta.cnp import ConditionalNeuralProcess
from mtlbook.meta.in_context import (
    InContextRegressor,
    in_context_loss,
    interleave,
    least_squares_predictions,
    linear_regression_prompts,
    normalised_error,
)

DIM, N = 5, 11


def prompts(seed: int = 0, batch: int = 4, n: int = N, dim: int = DIM, **kw):
    return linear_regression_prompts(
        batch, n, dim, generator=torch.Generator().manual_seed(seed), **kw
    )


def model(seed: int = 0, **kw) -> InContextRegressor:
    torch.manual_seed(seed)
    return InContextRegressor(DIM, N, width=32, depth=2, heads=2, **kw)


# ---------------------------------------------------------------- causality


@pytest.mark.parametrize("k", [0, 1, 4, 5, 10])
@pytest.mark.parametrize("grad", [True, False], ids=["train-grad", "eval-no-grad"])
def test_later_pairs_and_the_own_target_never_reach_a_prediction(k, grad):
    # change x_j for j > k and y_j for j >= k: ŷ_0..ŷ_k are bit-for-bit equal
    net = model()
    x, y = prompts()
    x2, y2 = x.clone(), y.clone()
    x2[:, k + 1 :] = torch.randn(x2[:, k + 1 :].shape) * 3
    y2[:, k:] += 5.0
    if not grad:
        net.eval()
    with torch.set_grad_enabled(grad):
        before, after = net(x, y), net(x2, y2)
    assert torch.equal(before[:, : k + 1], after[:, : k + 1])
    if k + 1 < N:  # the test can fail: the next prediction does move
        assert (before[:, k + 1] - after[:, k + 1]).abs().min() > 1e-6


def test_a_prediction_uses_the_earlier_targets():
    net = model()
    x, y = prompts()
    y2 = y.clone()
    y2[:, 3] += 1.0
    before, after = net(x, y).detach(), net(x, y2).detach()
    assert torch.equal(before[:, :4], after[:, :4])
    assert (before[:, 4:] - after[:, 4:]).abs().min() > 1e-6


# ------------------------------------------------------- shapes and batches


def test_one_prompt_does_not_depend_on_the_others_in_its_batch():
    net = model()
    x, y = prompts(batch=6)
    x2, y2 = x.clone(), y.clone()
    x2[1:], y2[1:] = prompts(seed=1, batch=5)
    with torch.no_grad():
        assert torch.equal(net(x, y)[0], net(x2, y2)[0])
        alone = net(x[:1], y[:1])[0]
    # another batch size may take another kernel: equal to rounding
    torch.testing.assert_close(alone, net(x, y)[0].detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, N])
def test_shapes_for_every_prompt_length(n):
    net = model()
    x, y = prompts(batch=3, n=n)
    assert net(x, y).shape == (3, n)
    assert least_squares_predictions(x, y).shape == (3, n)
    assert normalised_error(net(x, y), y, DIM).shape == (n,)
    assert in_context_loss(net, x, y).shape == ()


def test_interleave_puts_x_and_y_on_disjoint_coordinates():
    x, y = prompts(batch=2, n=3)
    tokens = interleave(x, y)
    assert tokens.shape == (2, 6, DIM + 1)
    assert torch.equal(tokens[:, 0::2, :DIM], x)
    assert torch.equal(tokens[:, 1::2, DIM], y)
    assert not tokens[:, 0::2, DIM].any() and not tokens[:, 1::2, :DIM].any()


def test_the_loss_reaches_every_parameter():
    net = model()
    in_context_loss(net, *prompts()).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_model_runs_in_float64():
    net = model().double()
    x, y = prompts(dtype=torch.float64)
    assert net(x, y).dtype == torch.float64


# ------------------------------------------------------------ least squares


@given(
    batch=st.integers(1, 4),
    n=st.integers(1, 12),
    dim=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    noise=st.sampled_from([0.0, 0.5]),
)
def test_least_squares_is_numpys_min_norm_lstsq_at_every_prefix(
    batch, n, dim, seed, noise
):
    x, y = prompts(seed, batch, n, dim, noise_std=noise, dtype=torch.float64)
    ours = least_squares_predictions(x, y).numpy()
    xs, ys = x.numpy(), y.numpy()
    for b in range(batch):
        assert ours[b, 0] == 0.0  # no examples: w = 0
        for i in range(1, n):
            w = np.linalg.lstsq(xs[b, :i], ys[b, :i], rcond=None)[0]
            np.testing.assert_allclose(ours[b, i], xs[b, i] @ w, rtol=1e-8, atol=1e-9)


def test_least_squares_on_repeated_and_collinear_inputs():
    # rank-deficient context with as many pairs as dim: only the min-norm
    # solution is unique, and it is the one numpy returns
    x, y = prompts(3, batch=2, n=5, dim=3, dtype=torch.float64)
    x[:, 1], y[:, 1] = x[:, 0], y[:, 0]  # a repeated pair
    x[:, 2], y[:, 2] = -2 * x[:, 0], -2 * y[:, 0]  # a collinear one
    x[:, 3], y[:, 3] = x[:, 0] + x[:, 2], y[:, 0] + y[:, 2]
    ours = least_squares_predictions(x, y).numpy()
    for b in range(2):
        for i in range(1, 5):
            w = np.linalg.lstsq(x[b, :i].numpy(), y[b, :i].numpy(), rcond=None)[0]
            np.testing.assert_allclose(
                ours[b, i], x[b, i].numpy() @ w, rtol=1e-9, atol=1e-12
            )


def test_least_squares_is_exact_from_dim_examples_and_projects_below():
    # noiseless: from k = dim pairs on, w is recovered; below, the min-norm fit
    # leaves a (dim - k) / dim share of the error (w's part outside the span)
    x, y = prompts(batch=20_000, dtype=torch.float64)
    error = normalised_error(least_squares_predictions(x, y), y, DIM)
    assert error[DIM:].max() < 1e-12
    expected = torch.tensor([(DIM - k) / DIM for k in range(DIM)], dtype=torch.float64)
    torch.testing.assert_close(error[:DIM], expected, rtol=0.04, atol=0.0)


def permuted_context(x, y, order):
    """The prompt with its first len(order) pairs reordered, the query last."""
    k = len(order)
    x2, y2 = x.clone(), y.clone()
    x2[:, :k], y2[:, :k] = x[:, order], y[:, order]
    return x2, y2


def test_order_of_the_context_matters_to_the_transformer_not_to_least_squares():
    x, y = prompts(dtype=torch.float64, n=8)
    order = torch.tensor([6, 2, 0, 5, 1, 4, 3])
    x2, y2 = permuted_context(x, y, order)
    ls, ls2 = least_squares_predictions(x, y), least_squares_predictions(x2, y2)
    torch.testing.assert_close(ls[:, 7], ls2[:, 7], rtol=1e-10, atol=1e-12)
    net = model().double()
    with torch.no_grad():
        query, query2 = net(x, y)[:, 7], net(x2, y2)[:, 7]
    assert (query - query2).abs().min() > 1e-6  # causal attention sees the order
    cnp = ConditionalNeuralProcess(x_dim=DIM, width=16, depth=2).double()
    with torch.no_grad():  # a CNP averages its context: invariant by design
        mean = cnp(x[:, :7], y[:, :7, None], x[:, 7:])[0]
        mean2 = cnp(x2[:, :7], y2[:, :7, None], x2[:, 7:])[0]
    torch.testing.assert_close(mean, mean2, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ sampler


def test_the_sampler_is_reproducible_and_its_noise_has_the_stated_std():
    x, y = prompts(7, batch=4000, dtype=torch.float64)
    x_again, y_noisy = prompts(7, batch=4000, dtype=torch.float64, noise_std=0.3)
    assert torch.equal(x, x_again)  # the noise is drawn last: same x and w
    residual = y_noisy - y
    assert abs(float(residual.std()) / 0.3 - 1) < 0.02
    assert abs(float(residual.mean())) < 0.01
    assert abs(float(y.var()) / DIM - 1) < 0.05  # Var(w·x) = dim


def test_normalised_error_of_the_zero_predictor_is_one():
    _x, y = prompts(batch=20_000, dtype=torch.float64)
    error = normalised_error(torch.zeros_like(y), y, DIM)
    torch.testing.assert_close(error, torch.ones_like(error), rtol=0.05, atol=0.0)


# ------------------------------------------------------------------- misuse

_X, _Y = prompts()
_NET = model()
_G = torch.Generator().manual_seed(0)

CASES = [
    Bad("x-2d", lambda: _NET(_X[0], _Y), ValueError, "x must be 3-D"),
    Bad("y-3d", lambda: _NET(_X, _Y[..., None]), ValueError, "y must be 2-D"),
    Bad("y-short", lambda: _NET(_X, _Y[:, :3]), ValueError, "y has shape"),
    Bad("y-int", lambda: _NET(_X, _Y.long()), TypeError, "y must be floating"),
    Bad("y-float64", lambda: _NET(_X, _Y.double()), TypeError, "y is torch.float64"),
    Bad("x-nan", lambda: _NET(_X * float("nan"), _Y), ValueError, "x holds NaN"),
    Bad("x-list", lambda: interleave(_X.tolist(), _Y), TypeError, "x must be"),
    Bad("wrong-dim", lambda: _NET(_X[..., :3], _Y), ValueError, "dim=5"),
    Bad(
        "too-long",
        lambda: _NET(*prompts(n=N + 1)),
        ValueError,
        f"n_points={N}",
    ),
    Bad(
        "heads",
        lambda: InContextRegressor(width=30, heads=4),
        ValueError,
        "heads=4",
    ),
    Bad("depth-0", lambda: InContextRegressor(depth=0), ValueError, "depth=0"),
    Bad(
        "no-generator",
        lambda: linear_regression_prompts(2, 3, 4, generator=None),
        TypeError,
        "generator=None",
    ),
    Bad(
        "numpy-generator",
        lambda: linear_regression_prompts(2, 3, 4, generator=np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
    Bad(
        "noise-negative",
        lambda: linear_regression_prompts(2, 3, 4, generator=_G, noise_std=-1.0),
        ValueError,
        "noise_std",
    ),
    Bad(
        "n-points-0",
        lambda: linear_regression_prompts(2, 0, 4, generator=_G),
        ValueError,
        "n_points=0",
    ),
    Bad(
        "ls-x-2d",
        lambda: least_squares_predictions(_X[0], _Y),
        ValueError,
        "x must be 3-D",
    ),
    Bad(
        "error-shapes",
        lambda: normalised_error(_Y[:, :3], _Y, DIM),
        ValueError,
        "prediction has shape",
    ),
    Bad(
        "error-dim-float",
        lambda: normalised_error(_Y, _Y, 5.0),
        TypeError,
        "dim",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_misuse_fails_at_the_boundary(case: Bad) -> None:
    case.check()
