"""Central differences agree with analytic gradients and catch a wrong one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from mtlbook.scratch.gradcheck import check_gradient, numerical_gradient, relative_error
from mtlbook.scratch.layers import MLP


def mlp_problem(activation: str, seed: int = 0):
    """Loss 0.5 * mean |mlp(x) - y|² as a function of the first weight matrix."""
    rng = np.random.default_rng(seed)
    mlp = MLP([3, 5, 4, 2], activation=activation, rng=rng)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    W0 = mlp.layers[0].W

    def loss(W: np.ndarray) -> float:
        W0[...] = W
        return 0.5 * float(np.mean((mlp.forward(x) - y) ** 2)) * y.shape[1]

    def analytic(W: np.ndarray) -> np.ndarray:
        loss(W)
        mlp.backward((mlp.forward(x) - y) / len(x))
        return mlp.layers[0].grad_W.copy()

    return mlp, loss, analytic, W0.copy()


@settings(max_examples=50, deadline=None)
@given(
    x=arrays(
        np.float64,
        array_shapes(min_dims=1, max_dims=3, max_side=4),
        elements=st.floats(-3, 3),
    )
)
def test_numerical_gradient_of_smooth_function(x):
    """d/dx Σ sin(x) x² = cos(x) x² + 2 x sin(x), to 1e-8 absolute, any shape."""
    f = lambda v: float(np.sum(np.sin(v) * v**2))  # noqa: E731
    expected = np.cos(x) * x**2 + 2 * x * np.sin(x)
    x_before = x.copy()
    g = numerical_gradient(f, x)
    assert g.shape == x.shape
    np.testing.assert_allclose(g, expected, atol=1e-8)
    np.testing.assert_array_equal(x, x_before)  # x is left unchanged


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "softplus"])
def test_check_gradient_accepts_mlp_backprop(activation):
    """Backprop through a smooth MLP agrees with central differences to 1e-7."""
    _, loss, analytic, W = mlp_problem(activation)
    assert check_gradient(loss, analytic(W), W) < 1e-7


def test_check_gradient_detects_a_missing_activation_derivative():
    """Forgetting f'(z) in backprop (a classic bug) gives a relative error > 1e-2."""
    mlp, loss, analytic, W = mlp_problem("tanh")
    good = analytic(W)
    mlp.act_grad = np.ones_like  # the bug: treat tanh as if its slope were 1
    bad = analytic(W)
    assert check_gradient(loss, good, W) < 1e-7
    assert check_gradient(loss, bad, W) > 1e-2


def test_check_gradient_detects_a_small_error():
    """A gradient off by 1% in a single entry is still far above the noise floor."""
    _, loss, analytic, W = mlp_problem("tanh")
    wrong = analytic(W)
    k = np.unravel_index(np.argmax(np.abs(wrong)), wrong.shape)
    wrong[k] *= 1.01
    assert check_gradient(loss, wrong, W) > 1e-3


# zero or far from the subnormal range, where scaling itself loses digits
NORMAL = st.one_of(st.just(0.0), st.floats(1e-100, 1e6), st.floats(-1e6, -1e-100))


@settings(max_examples=50, deadline=None)
@given(
    a=arrays(np.float64, 5, elements=NORMAL),
    b=arrays(np.float64, 5, elements=NORMAL),
    scale=st.floats(1e-6, 1e6),
)
def test_relative_error_properties(a, b, scale):
    """Zero on equal inputs, symmetric, in [0, 1], invariant to a common scale."""
    assert relative_error(a, a) == 0.0
    e = relative_error(a, b)
    assert e == relative_error(b, a)
    assert 0.0 <= e <= 1.0
    assert np.isclose(relative_error(scale * a, scale * b), e, rtol=1e-9, atol=1e-300)


def test_relative_error_of_zeros_is_zero():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.zeros(0), np.zeros(0)) == 0.0


def test_bad_inputs_raise():
    f = lambda v: float(np.sum(v**2))  # noqa: E731
    with pytest.raises(ValueError, match="eps=0"):
        numerical_gradient(f, np.ones(3), eps=0)
    with pytest.raises(ValueError, match="eps=-1e-06"):
        numerical_gradient(f, np.ones(3), eps=-1e-6)
    with pytest.raises(ValueError, match="NaN"):
        numerical_gradient(f, np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="callable"):
        numerical_gradient(3.0, np.ones(3))
    with pytest.raises(ValueError, match=r"grad has shape \(2,\)"):
        check_gradient(f, np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="b has shape"):
        relative_error(np.ones(2), np.ones(3))
