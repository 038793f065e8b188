"""Facts about mtlbook.scratch.losses, checked against torch in float64.

- Each loss equals its torch counterpart (mse_loss, binary_cross_entropy_with_
  logits, cross_entropy, multi_margin_loss, mean(relu(1 - y s))) and each
  gradient equals torch autograd, to 1e-8 relative, on random batches that
  include one-sample batches, many classes and logits of size 1e4.
- At logits of +-1e4 the losses and gradients are finite and numpy raises no
  floating-point warning.
- Bad input (shape mismatch, wrong ndim, labels out of range or not integers,
  NaN scores, unknown name) is refused with an error naming the argument.
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

from mtlbook.scratch import losses as L

# Elementwise relative tolerance 1e-8; the 1e-15 floor only matters for values
# that float64 rounds to zero (a loss of 1e-18 for a confident correct answer).
RTOL, ATOL = 1e-8, 1e-15

EXTREMES = [-1e4, -1e3, -40.0, -1.0, 0.0, 1.0, 40.0, 1e3, 1e4]
values = st.floats(-1e4, 1e4, allow_nan=False) | st.sampled_from(EXTREMES)


def torch_loss_and_grad(loss_fn, pred: np.ndarray, *args) -> tuple[float, np.ndarray]:
    t = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    loss = loss_fn(t, *args)
    (g,) = torch.autograd.grad(loss, t)
    return loss.item(), g.numpy()


def check(loss, grad, args: tuple, ref: tuple) -> None:
    # Any numpy floating-point warning (overflow, invalid, underflow) fails the test.
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        ours_loss, ours_grad = loss(*args), grad(*args)
    assert isinstance(ours_loss, float)
    np.testing.assert_allclose(ours_loss, ref[0], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours_grad, ref[1], rtol=RTOL, atol=ATOL)


@st.composite
def scores_and_labels(draw, max_classes: int = 12) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 6))  # n = 1: one-sample batches
    c = draw(st.integers(1, max_classes))
    s = draw(arrays(np.float64, (n, c), elements=values))
    y = draw(arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return s, y


def test_registry_holds_exactly_the_contracted_names() -> None:
    names = {"mse", "bce_with_logits", "softmax_cross_entropy", "hinge"}
    assert set(L.LOSSES) == names | {"multiclass_hinge"}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=array_shapes(min_dims=1, max_dims=2, max_side=6))
def test_mse_equals_torch(data, shape) -> None:
    pred = data.draw(arrays(np.float64, shape, elements=values))
    target = data.draw(arrays(np.float64, shape, elements=values))
    ref = torch_loss_and_grad(F.mse_loss, pred, torch.tensor(target))
    check(L.mse, L.mse_grad, (pred, target), ref)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=array_shapes(min_dims=1, max_dims=2, max_side=6))
def test_bce_with_logits_equals_torch(data, shape) -> None:
    logits = data.draw(arrays(np.float64, shape, elements=values))
    probs = st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0])
    targets = data.draw(arrays(np.float64, shape, elements=probs))
    ref = torch_loss_and_grad(
        F.binary_cross_entropy_with_logits, logits, torch.tensor(targets)
    )
    check(L.bce_with_logits, L.bce_with_logits_grad, (logits, targets), ref)


@settings(max_examples=60, deadline=None)
@given(sy=scores_and_labels())
def test_softmax_cross_entropy_equals_torch(sy) -> None:
    s, y = sy
    ref = torch_loss_and_grad(F.cross_entropy, s, torch.tensor(y))
    check(L.softmax_cross_entropy, L.softmax_cross_entropy_grad, (s, y), ref)


@settings(max_examples=5, deadline=None)
@given(sy=scores_and_labels(max_classes=1000))
def test_softmax_cross_entropy_many_classes(sy) -> None:
    s, y = sy
    ref = torch_loss_and_grad(F.cross_entropy, s, torch.tensor(y))
    check(L.softmax_cross_entropy, L.softmax_cross_entropy_grad, (s, y), ref)


@settings(max_examples=60, deadline=None)
@given(sy=scores_and_labels(), margin=st.sampled_from([1.0, 0.5, 2.0]))
def test_multiclass_hinge_equals_torch_multi_margin_loss(sy, margin: float) -> None:
    s, y = sy
    ref = torch_loss_and_grad(F.multi_margin_loss, s, torch.tensor(y), 1, margin)
    check(L.multiclass_hinge, L.multiclass_hinge_grad, (s, y, margin), ref)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(1, 8))
def test_hinge_equals_mean_of_relu_one_minus_ys(data, n: int) -> None:
    s = data.draw(arrays(np.float64, (n,), elements=values))
    y = data.draw(arrays(np.float64, (n,), elements=st.sampled_from([-1.0, 1.0])))

    def torch_hinge(t: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - torch.tensor(y) * t).mean()

    check(L.hinge, L.hinge_grad, (s, y), torch_loss_and_grad(torch_hinge, s))


def test_cross_entropy_of_a_uniform_guess_is_log_c() -> None:
    for c in (2, 10, 1000):
        assert L.softmax_cross_entropy(np.zeros((3, c)), np.zeros(3, int)) == (
            pytest.approx(np.log(c), rel=1e-14)
        )


@pytest.mark.parametrize("name", sorted(L.LOSSES))
def test_no_overflow_warning_and_finite_at_1e4(name: str) -> None:
    s = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]])
    targets = {
        "mse": -s,
        "bce_with_logits": (s < 0).astype(float),  # confidently wrong everywhere
        "softmax_cross_entropy": np.array([1, 0, 2]),
        "multiclass_hinge": np.array([1, 0, 2]),
        "hinge": np.array([-1.0, 1.0, -1.0]),
    }
    scores = s[:, 0] if name == "hinge" else s
    loss, grad = L.get_loss(name)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        value, g = loss(scores, targets[name]), grad(scores, targets[name])
    assert np.isfinite(value) and np.all(np.isfinite(g))
    assert value > 0  # every example above is wrong, so every loss is positive


# --- errors name the argument ------------------------------------------------

Z = np.zeros((2, 3))
Y = np.array([0, 2])


@pytest.mark.parametrize(
    ("call", "exc", "pattern"),
    [
        (lambda: L.mse(np.zeros(3), np.zeros(4)), ValueError, "pred has shape"),
        (lambda: L.mse(np.zeros(0), np.zeros(0)), ValueError, "pred is empty"),
        (lambda: L.mse([np.nan], [0.0]), ValueError, "pred contains NaN"),
        (lambda: L.bce_with_logits(Z, Z[:1]), ValueError, "logits has shape"),
        (lambda: L.bce_with_logits(Z, Z + 2), ValueError, "targets must be"),
        (lambda: L.bce_with_logits(Z + np.inf, Z), ValueError, "logits contains"),
        (lambda: L.softmax_cross_entropy(Z[0], Y), ValueError, "logits has shape"),
        (lambda: L.softmax_cross_entropy(Z, [0, 3]), ValueError, r"labels must lie"),
        (lambda: L.softmax_cross_entropy(Z, [-1, 0]), ValueError, r"labels must lie"),
        (lambda: L.softmax_cross_entropy(Z, [0.0, 1.5]), TypeError, "labels must be"),
        (lambda: L.softmax_cross_entropy(Z, [0, 1, 2]), ValueError, "labels has"),
        (lambda: L.softmax_cross_entropy(Z + np.nan, Y), ValueError, "logits contains"),
        (lambda: L.multiclass_hinge(Z, Y, margin="1"), TypeError, "margin"),
        (lambda: L.multiclass_hinge(Z, [[0, 1]]), ValueError, "labels has"),
        (lambda: L.hinge(np.zeros(2), [0.0, 1.0]), ValueError, "-1 or \\+1"),
        (lambda: L.hinge(Z, np.ones((2, 3))), ValueError, "scores has shape"),
        (lambda: L.get_loss("l1"), ValueError, "unknown loss 'l1'.*'mse'"),
        (lambda: L.get_loss(None), TypeError, "loss name"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, exc, pattern) -> None:
    with pytest.raises(exc, match=pattern):
        call()


@settings(max_examples=60, deadline=None)
@given(sy=scores_and_labels(), smoothing=st.sampled_from([0.0, 1e-3, 0.1, 0.5, 1.0]))
def test_label_smoothing_cross_entropy_equals_torch(sy, smoothing: float) -> None:
    """Loss and gradient equal F.cross_entropy(label_smoothing=...) and autograd,
    on logits up to 1e4 and one-sample batches."""
    s, y = sy
    ref = torch_loss_and_grad(
        lambda t: F.cross_entropy(t, torch.tensor(y), label_smoothing=smoothing), s
    )
    check(
        lambda *a: L.label_smoothing_cross_entropy(*a, smoothing),
        lambda *a: L.label_smoothing_cross_entropy_grad(*a, smoothing),
        (s, y),
        ref,
    )


def test_no_smoothing_is_plain_cross_entropy() -> None:
    rng = np.random.default_rng(0)
    z, y = 30 * rng.normal(size=(8, 5)), rng.integers(0, 5, size=8)
    assert L.label_smoothing_cross_entropy(z, y, 0.0) == L.softmax_cross_entropy(z, y)


@pytest.mark.parametrize(("eps", "c"), [(0.1, 5), (0.01, 10), (0.5, 2)])
def test_smoothed_optimum_has_a_finite_logit_gap(eps: float, c: int) -> None:
    """The loss is minimal where softmax(z) = q: the correct logit leads every other
    by log((1 - eps + eps / c) / (eps / c)), so the logits stay finite."""
    gap = np.log((1 - eps + eps / c) / (eps / c))
    z = np.zeros((1, c))
    z[0, 0] = gap
    np.testing.assert_allclose(
        L.label_smoothing_cross_entropy_grad(z, np.array([0]), eps), 0.0, atol=1e-15
    )
    # the minimum value is the entropy of q
    q = np.full(c, eps / c)
    q[0] += 1 - eps
    entropy = -np.sum(q * np.log(q))
    assert L.label_smoothing_cross_entropy(z, np.array([0]), eps) == pytest.approx(
        entropy, rel=1e-12
    )
