"""Facts about the multi-task data: toys, GradNorm, MMoE and MultiDigits."""

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mtlbook.data.mtl_toys import (
    BALANCED_LOSS,
    BALANCED_POINT,
    PARETO_THETA1_RANGE,
    PARETO_THETA2,
    PCGRAD_TOY_START,
    TWO_OBJECTIVE_SCALED_STARTS,
    TWO_OBJECTIVE_STARTS,
    gradnorm_tasks,
    mmoe_synthetic,
    pareto_theta2,
    pcgrad_toy_losses,
    two_objective_losses,
)
from mtlbook.data.multidigits import make_multidigits, overlay


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- two-objective toy --------------------------------------------------------


def test_balanced_pareto_point_has_published_losses():
    """At (0, -8.3552) and s = 1 both losses are within 0.01 of -15.09."""
    theta = torch.tensor(BALANCED_POINT, dtype=torch.float64)
    losses = two_objective_losses(theta)
    assert losses.shape == (2,)
    assert abs(losses[0].item() - BALANCED_LOSS) < 0.01
    assert abs(losses[1].item() - BALANCED_LOSS) < 0.01


def test_pareto_front_points_are_pareto_stationary():
    """On theta2 = -8.3552 a convex combination of the gradients nearly vanishes."""
    low, high = PARETO_THETA1_RANGE
    t1 = torch.linspace(low + 0.5, high - 0.5, 7, dtype=torch.float64)
    theta = torch.stack([t1, torch.full_like(t1, PARETO_THETA2)], dim=1)
    theta.requires_grad_(True)
    losses = two_objective_losses(theta)
    g1 = torch.autograd.grad(losses[:, 0].sum(), theta, retain_graph=True)[0]
    g2 = torch.autograd.grad(losses[:, 1].sum(), theta)[0]
    # The weight w that cancels the theta1 parts lies in (0, 1) ...
    w = (g2[:, 0] / (g2[:, 0] - g1[:, 0]))[:, None]
    assert bool(((w > 0) & (w < 1)).all())
    # ... and leaves a theta2 part tiny next to the gradients (the published
    # theta2 is rounded and exact only at theta1 = 0).
    combined = (w * g1 + (1 - w) * g2).norm(dim=1)
    scale = torch.maximum(g1.norm(dim=1), g2.norm(dim=1))
    assert float((combined / scale).max()) < 1e-3
    assert float(combined[3]) < 1e-5  # theta1 = 0, the balanced point


def test_scale_multiplies_only_the_first_loss():
    theta = torch.tensor(TWO_OBJECTIVE_STARTS, dtype=torch.float64)
    full, scaled = two_objective_losses(theta), two_objective_losses(theta, scale=0.1)
    torch.testing.assert_close(scaled[:, 0], 0.1 * full[:, 0])
    torch.testing.assert_close(scaled[:, 1], full[:, 1])


def test_batched_equals_one_by_one():
    theta = torch.tensor(TWO_OBJECTIVE_SCALED_STARTS, dtype=torch.float64)
    batched = two_objective_losses(theta, scale=0.1)
    single = torch.stack([two_objective_losses(t, scale=0.1) for t in theta])
    assert batched.shape == (len(TWO_OBJECTIVE_SCALED_STARTS), 2)
    torch.testing.assert_close(batched, single)


@given(
    st.floats(-12, 12, allow_nan=False),
    st.floats(-12, 12, allow_nan=False),
    st.sampled_from([1.0, 0.1]),
)
def test_two_objective_values_and_gradients_are_finite(t1, t2, scale):
    theta = torch.tensor([t1, t2], dtype=torch.float64, requires_grad=True)
    losses = two_objective_losses(theta, scale=scale)
    for k in range(2):
        (grad,) = torch.autograd.grad(losses[k], theta, retain_graph=True)
        assert bool(torch.isfinite(grad).all())
    assert bool(torch.isfinite(losses).all())


def test_two_objective_matches_finite_differences():
    """Autograd equals central differences to 1e-6 at a generic point."""
    theta = torch.tensor([1.3, 0.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(two_objective_losses, (theta,))
    assert torch.autograd.gradcheck(pcgrad_toy_losses, (theta,))


@given(st.floats(-10, 10), st.floats(-10, 10))
def test_pcgrad_toy_finite_and_bounded_below(t1, t2):
    theta = torch.tensor([t1, t2], dtype=torch.float64, requires_grad=True)
    losses = pcgrad_toy_losses(theta)
    (grad,) = torch.autograd.grad(losses.sum(), theta)
    assert bool(torch.isfinite(grad).all())
    # log(max(., 5e-6)) >= log(5e-6): the clamp bounds each loss from below.
    floor = torch.tensor([20.0, 25.0], dtype=torch.float64) * math.log(5e-6)
    assert bool((losses >= floor - 1e-9).all())


def test_pcgrad_toy_start_values_follow_formula():
    t1, t2 = PCGRAD_TOY_START
    losses = pcgrad_toy_losses(torch.tensor(PCGRAD_TOY_START, dtype=torch.float64))
    assert losses[0].item() == pytest.approx(
        20 * math.log(abs(0.5 * t1 + math.tanh(t2)))
    )
    assert losses[1].item() == pytest.approx(
        25 * math.log(abs(0.5 * t1 - math.tanh(t2) + 2))
    )


@pytest.mark.parametrize(
    ("theta", "error"),
    [
        ([0.0, 0.0], TypeError),
        (torch.zeros(3), ValueError),
        (torch.zeros(2, 2, 2), ValueError),
        (torch.zeros(2, dtype=torch.int64), TypeError),
        (torch.tensor([float("nan"), 0.0]), ValueError),
    ],
)
def test_toys_reject_bad_theta(theta, error):
    with pytest.raises(error, match="theta"):
        two_objective_losses(theta)
    with pytest.raises(error, match="theta"):
        pcgrad_toy_losses(theta)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf")])
def test_two_objective_rejects_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        two_objective_losses(torch.zeros(2), scale=scale)


# --- GradNorm tasks -----------------------------------------------------------


def test_gradnorm_shapes_and_unit_norm_inputs():
    d = gradnorm_tasks(3, [1.0, 2.0, 3.0], n_train=20, n_test=7, generator=gen(0))
    assert d.x_train.shape == (20, 250) and d.x_test.shape == (7, 250)
    assert d.y_train.shape == (3, 20, 100) and d.y_test.shape == (3, 7, 100)
    assert d.B.shape == (100, 250) and d.eps.shape == (3, 100, 250)
    torch.testing.assert_close(d.x_train.norm(dim=1), torch.ones(20))


def test_gradnorm_targets_follow_formula_and_scale():
    d = gradnorm_tasks(
        2, [1.0, 100.0], n_train=30, n_test=5, generator=gen(1), dtype=torch.float64
    )
    for i, sigma in enumerate([1.0, 100.0]):
        expected = sigma * torch.tanh(d.x_train @ (d.B + d.eps[i]).T)
        torch.testing.assert_close(d.y_train[i], expected)
    # tanh is bounded by 1, so task i's targets are bounded by sigma_i.
    assert float(d.y_train[1].abs().max()) <= 100.0
    assert float(d.y_train[1].abs().max()) > 10.0


def test_gradnorm_matrix_stds_match_protocol():
    d = gradnorm_tasks(4, [1.0] * 4, n_train=1, n_test=1, generator=gen(2))
    # 25,000 entries each: the sample std is within 2% of the true one.
    assert float(d.B.std()) == pytest.approx(10.0, rel=0.02)
    assert float(d.eps.std()) == pytest.approx(3.5, rel=0.02)


def test_gradnorm_reproducible_with_one_generator_different_with_another():
    kwargs = {"n_train": 10, "n_test": 4}
    a = gradnorm_tasks(2, [1, 100], generator=gen(5), **kwargs)
    b = gradnorm_tasks(2, [1, 100], generator=gen(5), **kwargs)
    c = gradnorm_tasks(2, [1, 100], generator=gen(6), **kwargs)
    torch.testing.assert_close(a.y_train, b.y_train, rtol=0, atol=0)
    torch.testing.assert_close(a.x_test, b.x_test, rtol=0, atol=0)
    assert not torch.equal(a.y_train, c.y_train)
    assert not torch.equal(a.B, c.B)


@pytest.mark.parametrize(
    ("n_tasks", "sigmas", "kwargs", "error", "word"),
    [
        (2, [1.0], {}, ValueError, "sigmas"),
        (2, [1.0, 2.0, 3.0], {}, ValueError, "sigmas"),
        (2, [1.0, -1.0], {}, ValueError, "sigmas"),
        (2, [1.0, float("nan")], {}, ValueError, "sigmas"),
        (0, [], {}, ValueError, "n_tasks"),
        (2, [1.0, 1.0], {"n_train": 0}, ValueError, "n_train"),
        (2, [1.0, 1.0], {"n_test": 2.5}, TypeError, "n_test"),
        (2, [1.0, 1.0], {"generator": 0}, TypeError, "generator"),
    ],
)
def test_gradnorm_rejects_bad_input(n_tasks, sigmas, kwargs, error, word):
    args = {"n_train": 5, "n_test": 5, "generator": gen(0)} | kwargs
    with pytest.raises(error, match=word):
        gradnorm_tasks(n_tasks, sigmas, **args)


# --- MMoE synthetic -----------------------------------------------------------


@given(st.floats(-1, 1))
def test_mmoe_weight_cosine_is_exactly_p(p):
    """cos(w1, w2) = p, so corr(w1ᵀx, w2ᵀx) = p for x ~ N(0, I)."""
    d = mmoe_synthetic(2, correlation=p, c=2.0, generator=gen(0), dtype=torch.float64)
    w1, w2 = d.w
    assert float(w1.norm()) == pytest.approx(2.0, abs=1e-12)
    assert float(w2.norm()) == pytest.approx(2.0, abs=1e-12)
    assert float(w1 @ w2 / (w1.norm() * w2.norm())) == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize("p", [-0.8, 0.0, 0.5, 0.95])
def test_mmoe_linear_parts_have_sample_correlation_p(p):
    d = mmoe_synthetic(
        20_000, correlation=p, generator=gen(3), dtype=torch.float64, m=3
    )
    r = torch.corrcoef(d.linear.T)[0, 1].item()
    # Standard error of a Pearson r is about (1 - p²)/√n < 0.008.
    assert r == pytest.approx(p, abs=0.03)


def test_mmoe_label_correlation_increases_with_p():
    ps = [0.0, 0.25, 0.5, 0.75, 1.0]
    corrs = []
    for p in ps:
        d = mmoe_synthetic(10_000, correlation=p, generator=gen(7), dtype=torch.float64)
        corrs.append(torch.corrcoef(d.y.T)[0, 1].item())
    assert all(a < b for a, b in itertools.pairwise(corrs))
    # At p = 1 the two tasks differ only by their noise.
    assert corrs[-1] > 0.99


def test_mmoe_labels_follow_formula():
    d = mmoe_synthetic(
        50, correlation=0.3, m=4, noise_std=0.0, generator=gen(4), dtype=torch.float64
    )
    assert d.x.shape == (50, 100) and d.y.shape == (50, 2) and d.alpha.shape == (4,)
    linear = d.x @ d.w.T
    expected = linear + torch.sin(d.alpha * linear[..., None] + d.beta).sum(-1)
    torch.testing.assert_close(d.y, expected)


def test_mmoe_reproducible_with_one_generator_different_with_another():
    a = mmoe_synthetic(30, correlation=0.5, generator=gen(1))
    b = mmoe_synthetic(30, correlation=0.5, generator=gen(1))
    c = mmoe_synthetic(30, correlation=0.5, generator=gen(2))
    assert torch.equal(a.y, b.y) and torch.equal(a.w, b.w)
    assert not torch.equal(a.y, c.y)


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"correlation": 1.5}, ValueError, "correlation"),
        ({"correlation": -1.01}, ValueError, "correlation"),
        ({"correlation": float("nan")}, ValueError, "correlation"),
        ({"correlation": True}, TypeError, "correlation"),
        ({"c": 0.0}, ValueError, "c="),
        ({"m": -1}, ValueError, "m="),
        ({"noise_std": -0.1}, ValueError, "noise_std"),
        ({"dim": 1}, ValueError, "dim"),
        ({"n": 0}, ValueError, "n="),
        ({"generator": None}, TypeError, "generator"),
    ],
)
def test_mmoe_rejects_bad_input(kwargs, error, word):
    args = {"n": 10, "correlation": 0.5, "generator": gen(0)} | kwargs
    with pytest.raises(error, match=word):
        mmoe_synthetic(**args)


# --- MultiDigits --------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images / 16.0, bunch.target


@pytest.fixture(scope="module")
def multidigits():
    return make_multidigits(rng=np.random.default_rng(0), pairs_per_image=2)


def test_multidigits_split_is_leak_free_and_covers_every_image(multidigits):
    parts = [set(s.sources.ravel().tolist()) for s in multidigits.__dict__.values()]
    for i in range(3):
        for j in range(i + 1, 3):
            assert parts[i].isdisjoint(parts[j])
    assert len(set().union(*parts)) == 1797


def test_multidigits_each_image_used_equally_often(multidigits):
    for split in (multidigits.train, multidigits.val, multidigits.test):
        for side in range(2):
            _, counts = np.unique(split.sources[:, side], return_counts=True)
            assert set(counts.tolist()) == {2}


def test_multidigits_labels_and_pixels_match_sources(multidigits, digits):
    images, targets = digits
    split = multidigits.test
    np.testing.assert_array_equal(split.labels, targets[split.sources])
    assert split.images.shape == (len(split.sources), 8, 12)
    assert split.images.dtype == np.float32 and split.labels.dtype == np.int64
    left, right = images[split.sources[:, 0]], images[split.sources[:, 1]]
    # Columns 0-3 show only the left digit, 8-11 only the right, 4-7 the max.
    np.testing.assert_allclose(split.images[:, :, :4], left[:, :, :4], atol=1e-6)
    np.testing.assert_allclose(split.images[:, :, 8:], right[:, :, 4:], atol=1e-6)
    np.testing.assert_allclose(
        split.images[:, :, 4:8], np.maximum(left[:, :, 4:], right[:, :, :4]), atol=1e-6
    )


def test_multidigits_sizes_follow_fractions():
    d = make_multidigits(rng=np.random.default_rng(1), fractions=(0.5, 0.0, 0.5))
    assert len(d.val.labels) == 0
    assert len(d.train.labels) + len(d.test.labels) == 1797
    assert abs(len(d.train.labels) - len(d.test.labels)) <= 1


def test_multidigits_reproducible_and_seed_dependent():
    a = make_multidigits(rng=np.random.default_rng(3))
    b = make_multidigits(rng=np.random.default_rng(3))
    c = make_multidigits(rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a.train.sources, b.train.sources)
    np.testing.assert_array_equal(a.test.images, b.test.images)
    assert not np.array_equal(a.train.sources, c.train.sources)


def test_side_by_side_offset_keeps_both_digits_whole(digits):
    images, _ = digits
    canvas = overlay(images[:3], images[3:6], offset=8)
    assert canvas.shape == (3, 8, 16)
    np.testing.assert_array_equal(canvas[:, :, :8], images[:3])
    np.testing.assert_array_equal(canvas[:, :, 8:], images[3:6])


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"rng": 0}, TypeError, "rng"),
        ({"fractions": (0.5, 0.5)}, ValueError, "fractions"),
        ({"fractions": (0.6, 0.2, 0.3)}, ValueError, "fractions"),
        ({"fractions": (0.0, 0.5, 0.5)}, ValueError, "fractions"),
        ({"fractions": (0.6, -0.1, 0.5)}, ValueError, "fractions"),
        ({"pairs_per_image": 0}, ValueError, "pairs_per_image"),
        ({"pairs_per_image": 1.5}, TypeError, "pairs_per_image"),
        ({"offset": 0}, ValueError, "offset"),
        ({"offset": 9}, ValueError, "offset"),
    ],
)
def test_multidigits_rejects_bad_input(kwargs, error, word):
    args = {"rng": np.random.default_rng(0)} | kwargs
    with pytest.raises(error, match=word):
        make_multidigits(**args)


def test_overlay_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="left and right"):
        overlay(np.zeros((2, 8, 8)), np.zeros((3, 8, 8)), offset=4)


def test_pareto_theta2_has_anti_parallel_gradients_and_the_published_middle():
    theta1 = torch.linspace(-7, 7, 15, dtype=torch.float64)
    theta2 = pareto_theta2(theta1)
    theta = torch.stack([theta1, theta2], dim=1).requires_grad_(True)
    losses = two_objective_losses(theta)
    g1 = torch.autograd.grad(losses[:, 0].sum(), theta, retain_graph=True)[0]
    g2 = torch.autograd.grad(losses[:, 1].sum(), theta)[0]
    # at θ1 = ±7 one task is at its own minimum (g = 0): check the inside
    cosine = torch.nn.functional.cosine_similarity(g1, g2, dim=1)[1:-1]
    assert torch.allclose(cosine, torch.full_like(cosine, -1.0), atol=1e-10)
    # the published front's θ2 (-8.3552) holds in the middle to 1e-4
    assert abs(float(theta2[7]) - PARETO_THETA2) < 1e-4
    assert float(theta2[0]) < PARETO_THETA2 - 0.05  # and bends away at the ends
    assert torch.allclose(theta2, theta2.flip(0), atol=1e-12)  # symmetric in θ1


@pytest.mark.parametrize(
    "bad", [[0.0], torch.zeros(2, 2), torch.tensor([float("nan")])]
)
def test_pareto_theta2_refuses_bad_input(bad):
    with pytest.raises((TypeError, ValueError), match="theta1"):
        pareto_theta2(bad)
