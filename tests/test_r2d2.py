"""R2D2's ridge head is ridge regression, exactly, and differentiable (float64).

- the head equals the least-squares solution of the ridge problem written as
  one stacked system (torch.linalg.lstsq), fewer and more shots than features,
  with feature scales spread over six orders of magnitude;
- the Woodbury form (an n × n solve) equals the primal form (d × d);
- with λ → 0 and fewer shots than features the head fits the support labels
  exactly (the minimum-norm interpolant);
- gradients through the solve, in the embeddings and in λ, match finite
  differences (gradcheck); the meta-gradient of r2d2_loss too;
- vmapped and looped meta-batches agree, and the loss is that of its logits.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlbook.meta import FewShotEpisodes, meta_loss
from mtlbook.meta.r2d2 import _ridge, r2d2_hyper, r2d2_logits, r2d2_loss, ridge_head

DT = torch.float64


def episode(n: int, d: int, n_way: int, seed: int, spread: float = 0.0):
    """(n, d) embeddings whose columns span 10^-spread .. 10^spread, labels."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=DT)
    z = z * torch.logspace(-spread, spread, d, dtype=DT)
    y = torch.arange(n) % n_way
    return z, y


def lstsq_ridge(z, y, n_way, lam):
    """Ridge as ordinary least squares on [X; √λ I] W = [Y; 0] (an independent path)."""
    x = torch.cat([z, torch.ones(len(z), 1, dtype=DT)], dim=1)
    a = torch.cat([x, lam**0.5 * torch.eye(x.shape[1], dtype=DT)])
    b = torch.cat(
        [F.one_hot(y, n_way).to(DT), torch.zeros(x.shape[1], n_way, dtype=DT)]
    )
    return torch.linalg.lstsq(a, b, driver="gelsd").solution


@pytest.mark.parametrize(
    ("n", "d", "spread"),
    [(5, 32, 0.0), (25, 32, 0.0), (80, 8, 0.0), (10, 10, 0.0), (5, 32, 3.0)],
)
@pytest.mark.parametrize("lam", [1e-2, 1.0, 50.0])
def test_the_head_is_the_ridge_least_squares_solution(n, d, spread, lam):
    z, y = episode(n, d, 5, seed=n + d, spread=spread)
    w = ridge_head(z, y, 5, lam=lam)
    reference = lstsq_ridge(z, y, 5, lam)
    assert w.shape == (d + 1, 5)
    scale = reference.abs().max()
    torch.testing.assert_close(w, reference, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize(("n", "d"), [(5, 64), (20, 33), (33, 20), (100, 8)])
def test_woodbury_equals_the_primal_form(n, d):
    z, y = episode(n, d, 5, seed=d)
    x = torch.cat([z, torch.ones(n, 1, dtype=DT)], dim=1)
    targets = F.one_hot(y, 5).to(DT)
    for lam in (1e-3, 0.3, 30.0):
        primal = _ridge(x, targets, lam, woodbury=False)
        dual = _ridge(x, targets, lam, woodbury=True)
        torch.testing.assert_close(dual, primal, rtol=1e-8, atol=1e-10)


def test_with_tiny_lambda_and_few_shots_the_head_interpolates_the_support():
    z, y = episode(5, 64, 5, seed=3)
    w = ridge_head(z, y, 5, lam=1e-10)
    fitted = torch.cat([z, torch.ones(5, 1, dtype=DT)], dim=1) @ w
    torch.testing.assert_close(fitted, F.one_hot(y, 5).to(DT), rtol=0, atol=1e-7)


def test_large_lambda_shrinks_the_head_to_zero():
    z, y = episode(10, 16, 5, seed=4)
    norms = [ridge_head(z, y, 5, lam=lam).norm() for lam in (1e-2, 1.0, 1e2, 1e4)]
    assert all(a > b for a, b in pairwise(norms))
    assert norms[-1] < 1e-2


def test_a_class_with_no_support_example_gets_a_zero_column():
    z, y = episode(8, 16, 4, seed=5)  # labels 0..3, n_way=6: classes 4, 5 empty
    w = ridge_head(z, y, 6, lam=1.0)
    assert torch.equal(w[:, 4:], torch.zeros(17, 2, dtype=DT))


@pytest.mark.parametrize(("n", "d"), [(4, 9), (12, 3)])  # Woodbury and primal
def test_gradients_through_the_solve_match_finite_differences(n, d):
    z, y = episode(n, d, 3, seed=6)
    zq = torch.randn(7, d, dtype=DT, generator=torch.Generator().manual_seed(7))
    z.requires_grad_(True)
    lam = torch.tensor(0.7, dtype=DT, requires_grad=True)

    def query_logits(z, lam):
        w = ridge_head(z, y, 3, lam=lam)
        return torch.cat([zq, torch.ones(7, 1, dtype=DT)], dim=1) @ w

    assert torch.autograd.gradcheck(query_logits, (z, lam))
    assert torch.autograd.gradgradcheck(query_logits, (z, lam))


def glyph_like_batch(n_tasks: int = 3, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 1, 5, 5, generator=g, dtype=dtype)
    labels = torch.arange(12).repeat(5)
    eps = FewShotEpisodes(x, labels, n_way=4, k_shot=2, n_query=3)
    return eps.sample_batch(n_tasks, torch.Generator().manual_seed(1))


def embedder(dtype=torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(25, 12), nn.Tanh()).to(dtype)


def test_meta_gradient_of_r2d2_loss_matches_finite_differences():
    model = embedder(DT)
    batch = glyph_like_batch(2, DT)
    names = list(dict(model.named_parameters()))
    hyper = {k: v.detach().to(DT).requires_grad_(True) for k, v in r2d2_hyper().items()}

    def loss(*tensors):
        params = dict(zip(names, tensors[: len(names)], strict=True))
        h = dict(zip(hyper, tensors[len(names) :], strict=True))
        return meta_loss(r2d2_loss, model, params, batch, n_way=4, hyper=h)

    inputs = (*dict(model.named_parameters()).values(), *hyper.values())
    assert torch.autograd.gradcheck(loss, inputs)


def test_vmapped_and_looped_meta_batches_agree():
    model, batch, hyper = embedder(), glyph_like_batch(4), r2d2_hyper(scale=5.0)
    params = dict(model.named_parameters())
    out = [
        meta_loss(r2d2_loss, model, params, batch, n_way=4, hyper=hyper, vectorize=v)
        for v in (True, False)
    ]
    torch.testing.assert_close(out[0], out[1], rtol=1e-5, atol=1e-6)


def test_the_loss_is_the_cross_entropy_of_the_scaled_logits():
    model, task = embedder(), glyph_like_batch(1)[0]
    params = dict(model.named_parameters())
    one, five = r2d2_hyper(scale=1.0), r2d2_hyper(scale=5.0)
    logits = r2d2_logits(model, params, task, n_way=4, hyper=one)
    torch.testing.assert_close(
        r2d2_logits(model, params, task, n_way=4, hyper=five), 5 * logits
    )
    expected = F.cross_entropy(5 * logits, task.y_query)
    torch.testing.assert_close(
        r2d2_loss(model, params, task, n_way=4, hyper=five), expected
    )
