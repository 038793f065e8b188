"""Facts about mtlbook.scratch.activations, checked against torch in float64.

- Every activation and its hand-written derivative equal torch and torch
  autograd to 1e-8 relative, over random arrays that include |x| = 1e4.
- Nothing overflows: at |x| = 1e4 every function is finite and numpy raises
  no floating-point warning (warnings and errstate are set to "error").
- softmax sums to 1, is invariant to adding a constant, and its backward pass
  equals autograd; logsumexp shifts by exactly that constant.
- Bad input is refused with an error that names the argument.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from mtlbook.scratch import activations as A

# Elementwise relative tolerance 1e-8; the 1e-15 floor only matters for values
# that float64 itself rounds to zero (e.g. gelu(-8) = 1 + erf(...) cancelling).
RTOL, ATOL = 1e-8, 1e-15

EXTREMES = [-1e4, -1e3, -40.0, -1.0, -0.0, 0.0, 1e-12, 1.0, 40.0, 1e3, 1e4]
values = st.floats(-1e4, 1e4, allow_nan=False) | st.sampled_from(EXTREMES)
xs = arrays(
    np.float64, array_shapes(min_dims=1, max_dims=2, max_side=6), elements=values
)
logit_matrices = arrays(
    np.float64, array_shapes(min_dims=2, max_dims=2, max_side=6), elements=values
)

TORCH = {
    "identity": lambda t: t * 1.0,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "gelu": F.gelu,
    "softplus": F.softplus,
}


def torch_value_and_grad(f, x: np.ndarray, **kw) -> tuple[np.ndarray, np.ndarray]:
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = f(t, **kw)
    (g,) = torch.autograd.grad(y.sum(), t)  # d sum f / dx_i = f'(x_i)
    return y.detach().numpy(), g.numpy()


def test_registry_holds_exactly_the_contracted_names() -> None:
    assert set(A.ACTIVATIONS) == set(TORCH)


@pytest.mark.parametrize("name", sorted(TORCH))
@settings(max_examples=40, deadline=None)
@given(x=xs)
def test_activation_and_derivative_equal_torch(name: str, x: np.ndarray) -> None:
    f, f_grad = A.get_activation(name)
    y_ref, g_ref = torch_value_and_grad(TORCH[name], x)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")  # any floating-point warning fails
        y, g = f(x), f_grad(x)
    np.testing.assert_allclose(y, y_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(g, g_ref, rtol=RTOL, atol=ATOL)


@settings(max_examples=30, deadline=None)
@given(x=xs, slope=st.floats(0.0, 1.0))
def test_leaky_relu_slope_matches_torch(x: np.ndarray, slope: float) -> None:
    y_ref, g_ref = torch_value_and_grad(F.leaky_relu, x, negative_slope=slope)
    np.testing.assert_allclose(A.leaky_relu(x, slope), y_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(A.leaky_relu_grad(x, slope), g_ref, rtol=RTOL, atol=ATOL)


@settings(max_examples=30, deadline=None)
@given(x=xs, alpha=st.floats(0.1, 3.0))
def test_elu_alpha_matches_torch(x: np.ndarray, alpha: float) -> None:
    y_ref, g_ref = torch_value_and_grad(F.elu, x, alpha=alpha)
    np.testing.assert_allclose(A.elu(x, alpha), y_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(A.elu_grad(x, alpha), g_ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(TORCH))
def test_no_overflow_warning_and_finite_at_1e4(name: str, dtype: type) -> None:
    x = np.array(EXTREMES, dtype=dtype)
    f, f_grad = A.get_activation(name)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        y, g = f(x), f_grad(x)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(g))
    assert y.dtype == dtype and g.dtype == dtype  # float32 stays float32


def test_saturating_derivatives_are_bounded() -> None:
    x = np.linspace(-20, 20, 4001)
    assert A.sigmoid_grad(x).max() == pytest.approx(0.25)  # the 1/4 in vanishing
    assert A.tanh_grad(x).max() == pytest.approx(1.0)
    assert A.sigmoid_grad(np.array([10.0]))[0] < 1e-4  # saturated: almost no signal


@pytest.mark.parametrize("axis", [0, 1, -1])
@settings(max_examples=40, deadline=None)
@given(z=logit_matrices)
def test_softmax_family_equals_torch(z: np.ndarray, axis: int) -> None:
    t = torch.tensor(z)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        p, logp, lse = A.softmax(z, axis), A.log_softmax(z, axis), A.logsumexp(z, axis)
    # log_softmax = z - logsumexp(z) cancels: near 0 its error is set by the
    # rounding of logsumexp, a few ulps of max|z|, not by its own size.
    log_atol = 8 * np.finfo(np.float64).eps * max(1.0, float(np.abs(z).max()))
    np.testing.assert_allclose(p, torch.softmax(t, axis).numpy(), RTOL, ATOL)
    np.testing.assert_allclose(logp, torch.log_softmax(t, axis).numpy(), RTOL, log_atol)
    np.testing.assert_allclose(lse, torch.logsumexp(t, axis).numpy(), RTOL, log_atol)
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(z=logit_matrices, c=st.floats(-1e4, 1e4))
def test_softmax_and_logsumexp_shift_invariance(z: np.ndarray, c: float) -> None:
    # Adding c to every logit changes nothing in softmax and adds c to logsumexp.
    np.testing.assert_allclose(A.softmax(z + c), A.softmax(z), rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(
        A.logsumexp(z + c), A.logsumexp(z) + c, rtol=1e-8, atol=1e-8
    )


@pytest.mark.parametrize("axis", [0, -1])
@settings(max_examples=40, deadline=None)
@given(z=logit_matrices, data=st.data())
def test_softmax_backward_equals_autograd(z: np.ndarray, axis: int, data) -> None:
    g = data.draw(arrays(np.float64, z.shape, elements=st.floats(-10, 10)))
    t = torch.tensor(z, requires_grad=True)
    (ref,) = torch.autograd.grad(torch.softmax(t, axis), t, torch.tensor(g))
    ours = A.softmax_backward(z, g, axis)
    np.testing.assert_allclose(ours, ref.numpy(), rtol=RTOL, atol=1e-14)


def test_logsumexp_of_huge_logits_is_exact_where_naive_overflows() -> None:
    z = np.array([1000.0, 1000.0])
    assert A.logsumexp(z) == pytest.approx(1000.0 + np.log(2.0), rel=1e-15)
    with np.errstate(over="ignore"):
        assert np.isinf(np.log(np.sum(np.exp(z))))  # the naive formula fails


# --- errors name the argument ------------------------------------------------


def test_unknown_activation_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*'relu'"):
        A.get_activation("swish")
    with pytest.raises(TypeError, match="activation name"):
        A.get_activation(3)  # type: ignore[arg-type]


def test_non_numeric_input_is_a_type_error_naming_x() -> None:
    with pytest.raises(TypeError, match="x must hold real numbers"):
        A.relu(np.array(["a", "b"]))


@pytest.mark.parametrize(
    ("call", "exc", "word"),
    [
        (
            lambda: A.leaky_relu([1.0], negative_slope="0.1"),
            TypeError,
            "negative_slope",
        ),
        (lambda: A.elu([1.0], alpha=float("nan")), ValueError, "alpha"),
        (lambda: A.softmax([1.0, np.nan]), ValueError, "z contains NaN"),
        (lambda: A.logsumexp([1.0, np.inf]), ValueError, "z contains NaN"),
        (lambda: A.softmax(np.ones((2, 3)), axis=2), ValueError, "axis=2"),
        (lambda: A.softmax(np.float64(1.0)), ValueError, "scalar"),
        (lambda: A.softmax(np.ones((2, 0))), ValueError, "no entries"),
        (lambda: A.softmax_backward(np.ones(3), np.ones(4)), ValueError, "grad_out"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, exc, word) -> None:
    with pytest.raises(exc, match=word):
        call()


def test_nan_passes_through_elementwise_activations_like_torch() -> None:
    # A diverging network should show NaN, not crash inside a hidden layer.
    x = np.array([np.nan, 1.0])
    for name, (f, _) in A.ACTIVATIONS.items():
        ref = TORCH[name](torch.tensor(x)).numpy()
        np.testing.assert_array_equal(np.isnan(f(x)), np.isnan(ref), err_msg=name)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0, 1e3])
def test_softmax_backward_is_the_jacobian_diag_p_minus_p_pt(scale):
    """softmax_backward equals g @ (diag(p) - p pᵀ), the explicit (c, c) Jacobian,
    on logits from tiny to 1e3 (where p is one-hot to float64 precision)."""
    rng = np.random.default_rng(0)
    z = scale * rng.normal(size=(6, 5))
    g = rng.normal(size=(6, 5))
    p = A.softmax(z)
    jac = np.stack([np.diag(row) - np.outer(row, row) for row in p])  # (6, 5, 5)
    expected = np.einsum("nj,njk->nk", g, jac)  # the Jacobian is symmetric
    np.testing.assert_allclose(
        A.softmax_backward(z, g), expected, rtol=1e-12, atol=1e-15
    )
    # every row of the Jacobian sums to 0: adding a constant to z changes nothing
    np.testing.assert_allclose(jac.sum(axis=2), 0.0, atol=1e-15)
