"""CDAN reduces to DANN when the prediction carries no information; MCC is its formula.

CDAN's domain head sees g ⊗ f. When the classifier's output g is the same
vector c for every input, g ⊗ f = (c_1 f, ..., c_C f), so a linear domain
head with weight blocks W_1..W_C sees Σ_k c_k W_k f: CDAN equals DANN with
that head, in value and in every gradient; with one class it *is* DANN.
MCC is checked against a direct numpy transcription of Jin et al.'s
formula on saturated, tied and tiny batches.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import xlogy
from torch import nn

from mtlbook.transfer import dann_loss, make_mlp
from mtlbook.transfer.cdan import cdan_loss, mcc_loss, multilinear_map

D, C = 5, 3


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def domains(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = gen(seed)
    x_s = torch.randn(6, 4, generator=g, dtype=torch.float64)
    x_t = 3.0 * torch.randn(5, 4, generator=g, dtype=torch.float64) + 1.0
    return x_s, torch.arange(6) % C, x_t


def constant_classifier(c: int) -> nn.Linear:
    """Logits that ignore the input: zero weight, a fixed bias."""
    head = nn.Linear(D, c).double()
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.linspace(-1.0, 2.0, c, dtype=torch.float64))
    return head


def test_multilinear_map_is_the_flattened_outer_product():
    f = torch.randn(4, D, generator=gen(), dtype=torch.float64)
    g = torch.softmax(torch.randn(4, C, generator=gen(1), dtype=torch.float64), 1)
    want = np.einsum("nk,ni->nki", g.numpy(), f.numpy()).reshape(4, C * D)
    np.testing.assert_array_equal(multilinear_map(f, g).numpy(), want)


def grads(*modules: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for m in modules for p in m.parameters()]


def test_with_one_class_cdan_is_dann():
    # the domain loss bit for bit; the gradients to rounding (the label head
    # runs on the whole batch in CDAN, on the source rows in DANN)
    features = make_mlp((4, 8, D), gen()).double()
    classifier = nn.Linear(D, 1).double()  # softmax of one logit is exactly 1
    domain_head = nn.Linear(D, 1).double()
    x_s, _, x_t = domains()
    y_s = torch.randn(6, 1, generator=gen(2), dtype=torch.float64)
    mse = nn.functional.mse_loss
    args = (features, classifier, domain_head, x_s, y_s, x_t)
    cdan = cdan_loss(*args, lambda_=0.7, loss_fn=mse)
    cdan.total.backward()
    g_cdan = grads(features, domain_head)
    features.zero_grad(), domain_head.zero_grad(), classifier.zero_grad()
    dann = dann_loss(*args, lambda_=0.7, loss_fn=mse)
    dann.total.backward()
    assert torch.equal(cdan.domain, dann.domain)
    for a, b in zip(g_cdan, grads(features, domain_head), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("lambda_", [0.0, 1.0, 4.0])
def test_constant_prediction_makes_cdan_dann_with_head_sum_of_c_k_w_k(lambda_):
    features = make_mlp((4, 8, D), gen()).double()
    classifier = constant_classifier(C)
    cdan_head = nn.Linear(C * D, 1).double()
    c = torch.softmax(classifier.bias.detach(), 0)
    dann_head = nn.Linear(D, 1).double()
    with torch.no_grad():
        blocks = cdan_head.weight.view(C, D)  # block k multiplies c_k f
        dann_head.weight.copy_((c[:, None] * blocks).sum(0, keepdim=True))
        dann_head.bias.copy_(cdan_head.bias)
    x_s, y_s, x_t = domains()
    cdan = cdan_loss(features, classifier, cdan_head, x_s, y_s, x_t, lambda_=lambda_)
    cdan.total.backward()
    g_features = grads(features)
    features.zero_grad()
    dann = dann_loss(features, classifier, dann_head, x_s, y_s, x_t, lambda_=lambda_)
    dann.total.backward()
    torch.testing.assert_close(cdan.domain, dann.domain, rtol=1e-13, atol=0)
    torch.testing.assert_close(cdan.label, dann.label, rtol=0, atol=0)
    for a, b in zip(g_features, grads(features), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    # and the CDAN head's own gradient is c_k times DANN's, block by block
    want = c[:, None] * dann_head.weight.grad
    torch.testing.assert_close(
        cdan_head.weight.grad.view(C, D), want, rtol=1e-12, atol=1e-15
    )


def test_the_reversed_gradient_reaches_the_features_through_f_only():
    # g is detached: with λ = 0 the domain loss sends nothing to the extractor
    features = make_mlp((4, 8, D), gen()).double()
    classifier = nn.Linear(D, C).double()
    domain_head = nn.Linear(C * D, 1).double()
    x_s, y_s, x_t = domains()
    out = cdan_loss(features, classifier, domain_head, x_s, y_s, x_t, lambda_=0.0)
    out.domain.backward()
    assert all(p.grad is None or not p.grad.any() for p in features.parameters())
    assert all(p.grad is None for p in classifier.parameters())


def mcc_numpy(z: np.ndarray, t: float) -> float:
    """Jin et al. 2020, §3, transcribed entry by entry."""
    n, c = z.shape
    s = z / t
    y = np.exp(s - s.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    h = -xlogy(y, y).sum(axis=1)
    w = n * (1 + np.exp(-h)) / (1 + np.exp(-h)).sum()
    corr = np.zeros((c, c))
    for j in range(c):
        for k in range(c):
            corr[j, k] = sum(y[i, j] * w[i] * y[i, k] for i in range(n))
    total = 0.0
    for j in range(c):
        for k in range(c):
            column = sum(corr[m, k] for m in range(c))
            if j != k and column > 0:
                total += abs(corr[j, k] / column)
    return total / c


@pytest.mark.parametrize(
    "z",
    [
        np.random.default_rng(0).normal(size=(8, 4)),
        np.random.default_rng(1).normal(size=(1, 3)),  # one example
        np.zeros((5, 4)),  # every prediction uniform
        np.random.default_rng(2).normal(size=(6, 5)) * 40.0,  # nearly one-hot
        np.array([[3000.0, 0.0, 0.0], [2000.0, 0.0, 0.0]]),  # classes 1, 2 unused
        np.random.default_rng(3).normal(size=(3, 10)) * 1e-8,  # ties
    ],
    ids=["random", "one-example", "uniform", "saturated", "unused-class", "ties"],
)
@pytest.mark.parametrize("t", [1.0, 2.5])
def test_mcc_equals_the_papers_formula_in_float64(z, t):
    got = mcc_loss(torch.tensor(z), temperature=t)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.item(), mcc_numpy(z, t), rtol=1e-12, atol=1e-15)


def test_mcc_is_zero_for_confident_distinct_predictions_and_high_when_confused():
    confident = torch.eye(4, dtype=torch.float64) * 1e3
    assert mcc_loss(confident).item() == 0.0
    uniform = mcc_loss(torch.zeros(8, 4, dtype=torch.float64)).item()
    assert uniform == pytest.approx(3 / 4, rel=1e-14)  # (C - 1) / C


def test_mcc_gradient_is_finite_when_a_class_is_never_predicted():
    z = torch.tensor([[3000.0, 0.0, 0.0], [2000.0, 0.0, 0.0]], requires_grad=True)
    mcc_loss(z).backward()
    assert torch.isfinite(z.grad).all()
