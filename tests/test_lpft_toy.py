"""On the linear toy, gradient descent moves the features only inside the span
of the training inputs, a linear probe leaves them untouched, and LP-FT's
probe is the least-squares head; so the OOD damage of fine-tuning comes from
the head, as Kumar et al. (2022) argue."""

from __future__ import annotations

import numpy as np
import pytest

from mtlbook.data.transfer_toys import make_linear_toy, sample_linear_toy
from mtlbook.transfer.lpft_toy import (
    gradient_descent,
    probe_head,
    relative_error,
    run_lpft_toy,
)

SMALL = {"d": 20, "k": 3, "id_dim": 5}


def toy(seed: int = 0, **kwargs):
    return make_linear_toy(**{**SMALL, **kwargs}, rng=np.random.default_rng(seed))


def run(method: str, seed: int = 1, **kwargs):
    args = {"n_train": 40, "steps": 300, "lr": 0.05, "n_test": 500, **kwargs}
    return run_lpft_toy(toy(), method=method, rng=np.random.default_rng(seed), **args)


def test_linear_probe_leaves_the_features_unchanged():
    np.testing.assert_array_equal(run("lp")["B"], toy().B0)


@pytest.mark.parametrize("method", ["ft", "lpft"])
def test_fine_tuning_changes_b_only_inside_the_id_subspace(method):
    t = toy()
    result = run(method)
    change = result["B"] - t.B0
    assert np.linalg.norm(change) > 1e-3  # it did move ...
    outside = change - change @ t.id_basis @ t.id_basis.T
    assert np.linalg.norm(outside) < 1e-10  # ... but not outside the ID subspace


def test_probe_head_is_least_squares_and_exact_for_true_features():
    t = toy(init_noise=0.0)
    x, y = sample_linear_toy(t, 30, ood=False, rng=np.random.default_rng(2))
    np.testing.assert_allclose(probe_head(t.B_star, x, y), t.v_star, atol=1e-10)
    assert relative_error(t.B_star, t.v_star, x, y) < 1e-20


def test_gradient_step_lowers_the_loss_and_matches_finite_differences():
    t = toy()
    x, y = sample_linear_toy(t, 30, ood=False, rng=np.random.default_rng(3))
    v = np.random.default_rng(4).standard_normal(3)

    def loss(B, v):
        return 0.5 * np.mean((x @ B.T @ v - y) ** 2)

    lr, eps = 1e-3, 1e-6
    B1, v1 = gradient_descent(t.B0, v, x, y, steps=1, lr=lr)
    grad_v = (v - v1) / lr
    numeric = [
        (loss(t.B0, v + eps * e) - loss(t.B0, v - eps * e)) / (2 * eps)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(grad_v, numeric, rtol=1e-6)
    assert loss(B1, v1) < loss(t.B0, v)


def test_fine_tuning_fits_id_and_lpft_keeps_ood_error_near_the_probe():
    results = {m: run(m, steps=3000) for m in ("lp", "ft", "lpft")}
    assert results["ft"]["id_rel_error"] < 1e-3
    assert results["lpft"]["id_rel_error"] < 1e-3
    assert results["lpft"]["ood_rel_error"] < 2 * results["lp"]["ood_rel_error"]
    assert results["ft"]["ood_rel_error"] > 2 * results["lpft"]["ood_rel_error"]


def test_same_rng_same_result():
    a, b = run("ft", seed=9, head_std=1.0), run("ft", seed=9, head_std=1.0)
    assert a["ood_rel_error"] == b["ood_rel_error"]
    np.testing.assert_array_equal(a["v"], b["v"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "sgd"}, "method"),
        ({"n_train": 0}, "n_train"),
        ({"steps": 0}, "steps"),
        ({"lr": -0.1}, "lr"),
        ({"head_std": float("nan")}, "head_std"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"n_train": 10, "method": "ft", "steps": 5, "lr": 0.01, **kwargs}
    with pytest.raises(ValueError, match=match):
        run_lpft_toy(toy(), rng=np.random.default_rng(0), **args)


def test_divergence_is_reported():
    with pytest.raises(ValueError, match="lower lr"):
        run("ft", lr=50.0, head_std=1.0)
