"""The pre-train-then-probe baselines do what their papers define (float64).

- Baseline++'s cosine logits ignore the length of every feature row and every
  class weight (scalings over twelve orders of magnitude), stay within ±scale,
  equal torch's cosine_similarity, and score a zero row 0, not NaN;
- the cosine probe with no step is nearest centroid under cosine similarity;
- the linear probe's first step from zero is the closed form
  lr · (Y − 1/N)ᵀ Z / n, and enough steps fit a separable support set;
- Tian et al.'s logistic probe equals scikit-learn's LogisticRegression (same
  objective) to 1e-6, including with huge feature norms.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mtlbook.meta import (
    CosineClassifier,
    cosine_logits,
    cosine_probe,
    linear_probe,
    logistic_probe,
)

DT = torch.float64


def episode(n: int, d: int, n_way: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(n_way, d, generator=g, dtype=DT)
    y = torch.arange(n) % n_way
    return means[y] + torch.randn(n, d, generator=g, dtype=DT), y


def test_cosine_logits_ignore_the_length_of_features_and_weights():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20, 8, generator=g, dtype=DT)
    w = torch.randn(5, 8, generator=g, dtype=DT)
    a = torch.logspace(-6, 6, 20, dtype=DT)[:, None]  # one factor per row
    b = torch.logspace(6, -6, 5, dtype=DT)[:, None]
    logits = cosine_logits(z, w, 10.0)
    torch.testing.assert_close(
        cosine_logits(a * z, b * w, 10.0), logits, rtol=1e-12, atol=1e-12
    )
    reference = 10.0 * F.cosine_similarity(z[:, None, :], w[None, :, :], dim=-1)
    torch.testing.assert_close(logits, reference, rtol=1e-12, atol=1e-12)
    assert logits.abs().max() <= 10.0


def test_cosine_logits_of_a_zero_row_are_zero_not_nan():
    w = torch.randn(3, 4, dtype=DT)
    out = cosine_logits(torch.zeros(2, 4, dtype=DT), w, 5.0)
    assert torch.equal(out, torch.zeros(2, 3, dtype=DT))
    # anti-parallel feature and weight: the most negative logit, -scale
    out = cosine_logits(-w[:1], w, 5.0)
    torch.testing.assert_close(out[0, 0], torch.tensor(-5.0, dtype=DT))


def test_the_cosine_classifier_is_unchanged_by_rescaling_its_weights():
    torch.manual_seed(0)
    head = CosineClassifier(8, 4, scale=10.0).double()
    z = torch.randn(6, 8, dtype=DT)
    before = head(z)
    with torch.no_grad():
        head.weight.mul_(1e4)
    torch.testing.assert_close(head(3e-3 * z), before, rtol=1e-12, atol=1e-12)


def test_the_cosine_probe_without_steps_is_cosine_nearest_centroid():
    z, y = episode(25, 16, 5, seed=1)
    zq, _ = episode(40, 16, 5, seed=2)
    w = cosine_probe(z, y, 5, scale=10.0, steps=0, lr=0.1)
    unit = F.normalize(z, dim=1)
    centroids = torch.stack([unit[y == c].mean(0) for c in range(5)])
    reference = F.cosine_similarity(zq[:, None], centroids[None], dim=-1).argmax(1)
    assert torch.equal(cosine_logits(zq, w, 10.0).argmax(1), reference)
    # rescaling support rows does not change the fitted head
    w2 = cosine_probe(
        z * torch.logspace(-5, 5, 25, dtype=DT)[:, None],
        y,
        5,
        scale=10.0,
        steps=20,
        lr=0.1,
    )
    torch.testing.assert_close(w2, cosine_probe(z, y, 5, scale=10.0, steps=20, lr=0.1))


def test_the_cosine_probe_lowers_the_support_loss():
    z, y = episode(10, 16, 5, seed=3)
    losses = [
        F.cross_entropy(
            cosine_logits(z, cosine_probe(z, y, 5, scale=10.0, steps=s, lr=0.5), 10.0),
            y,
        )
        for s in (0, 10, 100)
    ]
    assert losses[0] > losses[1] > losses[2]


def test_the_linear_probe_first_step_is_the_closed_form():
    z, y = episode(15, 6, 3, seed=4)
    w, b = linear_probe(z, y, 3, steps=1, lr=0.7)
    residual = F.one_hot(y, 3).to(DT) - 1 / 3  # targets minus the uniform softmax
    torch.testing.assert_close(w, 0.7 * residual.T @ z / 15, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b, 0.7 * residual.mean(0), rtol=1e-12, atol=1e-12)


def test_the_linear_probe_fits_a_separable_support_set():
    z, y = episode(20, 8, 4, seed=5)
    w, b = linear_probe(z, y, 4, steps=300, lr=0.5)
    assert torch.equal((z @ w.T + b).argmax(1), y)


@pytest.mark.parametrize(
    ("n", "d", "n_way", "c", "norm"),
    [
        (5, 32, 5, 1.0, 1.0),  # 1-shot: fewer examples than features
        (25, 32, 5, 1.0, 1.0),
        (100, 8, 20, 0.1, 1.0),
        (25, 32, 5, 10.0, 1e6),  # huge norms: the probe normalises them away
    ],
)
def test_the_logistic_probe_equals_scikit_learn(n, d, n_way, c, norm):
    from sklearn.linear_model import LogisticRegression

    z, y = episode(n, d, n_way, seed=n + d)
    z = norm * z
    w, b = logistic_probe(z, y, n_way, c=c)
    u = F.normalize(z, dim=1).numpy()
    ref = LogisticRegression(C=c, tol=1e-12, max_iter=100_000).fit(u, y.numpy())
    np.testing.assert_allclose(w.numpy(), ref.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        (b - b.mean()).numpy(),
        ref.intercept_ - ref.intercept_.mean(),
        rtol=0,
        atol=1e-6,
    )
    zq, _ = episode(30, d, n_way, seed=7)
    probs = torch.softmax(F.normalize(zq, dim=1) @ w.T + b, dim=1).numpy()
    np.testing.assert_allclose(
        probs, ref.predict_proba(F.normalize(zq, dim=1).numpy()), atol=1e-6
    )
