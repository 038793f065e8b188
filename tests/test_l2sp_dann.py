"""L2-SP is zero at the start with gradient α(w − w₀); the gradient-reversal layer
is the identity forward and −λ times the gradient backward; DANN's pieces."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mtlbook.transfer import (
    L2SP,
    GradientReversal,
    dann_lambda,
    dann_learning_rate,
    dann_loss,
    fine_tune,
    grad_reverse,
    l2sp_penalty,
    train_dann,
)

lambdas = st.floats(0.0, 10.0)


def net64(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Linear(3, 5), nn.Tanh()).double()
    return backbone, nn.Linear(5, 2).double()


def perturb(module: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype))


# --- L2-SP ----------------------------------------------------------------------------


def test_l2sp_is_zero_at_the_start_with_zero_gradient() -> None:
    backbone, _ = net64()
    penalty = L2SP(backbone, alpha=0.3, beta=0.0)()
    assert penalty.item() == 0.0
    penalty.backward()
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in backbone.parameters())


@given(alpha=st.floats(0.0, 10.0), beta=st.floats(0.0, 10.0), seed=st.integers(0, 99))
@settings(max_examples=20, deadline=None)
def test_l2sp_gradient_is_alpha_times_distance_to_start(
    alpha: float, beta: float, seed: int
) -> None:
    backbone, head = net64()
    start = {n: p.detach().clone() for n, p in backbone.named_parameters()}
    reg = L2SP(backbone, head, alpha=alpha, beta=beta)
    perturb(backbone, seed)  # in place, as an optimiser would
    value = reg()
    value.backward()
    for name, p in backbone.named_parameters():
        expected = alpha * (p.detach() - start[name])
        torch.testing.assert_close(p.grad, expected, rtol=1e-12, atol=1e-12)
    for p in head.parameters():  # the new head: plain weight decay β w
        torch.testing.assert_close(p.grad, beta * p.detach(), rtol=1e-12, atol=1e-12)
    distance = sum(
        (p.detach() - start[n]).pow(2).sum() for n, p in backbone.named_parameters()
    )
    size = sum(p.detach().pow(2).sum() for p in head.parameters())
    assert math.isclose(
        value.item(), 0.5 * alpha * distance + 0.5 * beta * size, rel_tol=1e-12
    )


def test_l2sp_start_is_a_snapshot_not_a_view() -> None:
    backbone, _ = net64()
    reg = L2SP(backbone, alpha=1.0, beta=0.0)
    perturb(backbone, 1)
    assert reg().item() > 0  # w⁰ did not follow the in-place update


def test_l2sp_penalty_checks_its_inputs() -> None:
    w = {"a": torch.ones(2)}
    with pytest.raises(ValueError, match="same names"):
        l2sp_penalty(w, {"b": torch.ones(2)}, alpha=1.0, beta=1.0)
    with pytest.raises(ValueError, match=r"shape \(2,\) but start has \(3,\)"):
        l2sp_penalty(w, {"a": torch.ones(3)}, alpha=1.0, beta=1.0)
    with pytest.raises(ValueError, match=r"alpha=-0\.1"):
        l2sp_penalty(w, w, alpha=-0.1, beta=1.0)
    with pytest.raises(ValueError, match="beta=inf"):
        L2SP(nn.Linear(2, 2), alpha=0.1, beta=float("inf"))


# --- gradient reversal ----------------------------------------------------------------


@given(lam=lambdas, seed=st.integers(0, 99))
@settings(max_examples=25, deadline=None)
def test_grl_is_identity_forward_and_minus_lambda_backward(
    lam: float, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, 3, generator=g, dtype=torch.float64)
    y = grad_reverse(x, lam)
    assert torch.equal(y, x.detach())
    (grad,) = torch.autograd.grad(y, x, upstream)
    assert torch.equal(grad, -lam * upstream)


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0, 6.0])
def test_grl_gradcheck_float64(lam: float) -> None:
    # R_λ(x) − (1 + λ)·stopgrad(x) has the value −λx and, if and only if R_λ's
    # backward is −λ·grad, the matching Jacobian −λI: gradcheck compares them.
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)

    def f(x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, lam) - (1 + lam) * x.detach()

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-10)


def test_gradcheck_would_catch_a_wrong_sign() -> None:
    x = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def wrong(x: torch.Tensor) -> torch.Tensor:  # claims +λx: must fail the check
        return grad_reverse(x, 0.5) - 0.5 * x.detach()

    assert not torch.autograd.gradcheck(wrong, (x,), raise_exception=False)


def test_grl_module_follows_its_lambda_attribute() -> None:
    layer = GradientReversal(2.0)
    x = torch.ones(2, requires_grad=True)
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), -2.0))
    layer.lambda_ = 0.25  # scheduled during training
    x.grad = None
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.full((2,), -0.25))
    assert "lambda_=0.25" in repr(layer)


@pytest.mark.parametrize(
    ("lam", "error"), [(-1.0, ValueError), (math.nan, ValueError), ("1", TypeError)]
)
def test_grl_rejects_bad_lambda(lam, error) -> None:
    with pytest.raises(error, match="lambda_"):
        grad_reverse(torch.ones(2), lam)
    with pytest.raises(error, match="lambda_"):
        GradientReversal(lam)


# --- DANN schedules -------------------------------------------------------------------


def test_dann_lambda_starts_at_zero_and_tends_to_one() -> None:
    assert dann_lambda(0.0) == 0.0
    assert 1 - 1e-4 < dann_lambda(1.0) < 1
    assert dann_lambda(1.0, gamma=50) == pytest.approx(1.0, abs=1e-15)


@given(p=st.floats(0.0, 1.0), q=st.floats(0.0, 1.0), gamma=st.floats(0.1, 50.0))
@settings(max_examples=50, deadline=None)
def test_dann_lambda_is_tanh_of_half_gamma_p(p: float, q: float, gamma: float) -> None:
    # 2/(1+e^{-x}) − 1 = tanh(x/2): an independent form of the same curve
    assert math.isclose(dann_lambda(p, gamma), math.tanh(gamma * p / 2), abs_tol=1e-12)
    if p < q:
        assert dann_lambda(p, gamma) <= dann_lambda(q, gamma)


def test_dann_learning_rate_anneals_from_lr0() -> None:
    assert dann_learning_rate(0.0) == 0.01
    assert math.isclose(dann_learning_rate(1.0), 0.01 * 11**-0.75)
    with pytest.raises(ValueError, match=r"p=1.5"):
        dann_learning_rate(1.5)
    with pytest.raises(ValueError, match=r"p=-0.1"):
        dann_lambda(-0.1)


# --- DANN loss and training -----------------------------------------------------------


def dann_nets(seed: int = 0) -> tuple[nn.Module, nn.Module, nn.Module]:
    """Ganin's shallow moons network: 15 sigmoid units, label and domain heads."""
    torch.manual_seed(seed)
    features = nn.Sequential(nn.Linear(2, 15), nn.Sigmoid()).double()
    return features, nn.Linear(15, 2).double(), nn.Linear(15, 1).double()


def domains(seed: int = 0, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    x_s = torch.randn(n, 2, generator=g, dtype=torch.float64)
    y_s = (x_s[:, 0] > 0).long()
    x_t = torch.randn(n, 2, generator=g, dtype=torch.float64) + 1.5
    return x_s, y_s, x_t


@pytest.mark.parametrize("lam", [0.0, 0.3, 6.0])
def test_feature_gradient_is_label_minus_lambda_domain(lam: float) -> None:
    features, label_head, domain_head = dann_nets()
    x_s, y_s, x_t = domains()
    out = dann_loss(features, label_head, domain_head, x_s, y_s, x_t, lambda_=lam)
    assert torch.equal(out.total, out.label + out.domain)
    params = [*features.parameters(), *domain_head.parameters()]
    got = torch.autograd.grad(out.total, params)
    # the same two losses computed again without the reversal layer
    f = features(torch.cat([x_s, x_t]))
    label = nn.functional.cross_entropy(label_head(f[: len(x_s)]), y_s)
    d = torch.cat([torch.zeros(len(x_s)), torch.ones(len(x_t))]).double()
    domain = nn.functional.binary_cross_entropy_with_logits(domain_head(f)[:, 0], d)
    n_f = len(list(features.parameters()))
    g_label = torch.autograd.grad(label, params[:n_f], retain_graph=True)
    g_domain = torch.autograd.grad(domain, params)
    for a, gl, gd in zip(got[:n_f], g_label, g_domain[:n_f], strict=True):
        torch.testing.assert_close(a, gl - lam * gd, rtol=1e-10, atol=1e-12)
    for a, gd in zip(got[n_f:], g_domain[n_f:], strict=True):  # G_d minimises L_d
        torch.testing.assert_close(a, gd, rtol=1e-10, atol=1e-12)


def test_dann_with_lambda_zero_trains_like_source_only() -> None:
    features, label_head, domain_head = dann_nets()
    twin_features, twin_label = copy.deepcopy(features), copy.deepcopy(label_head)
    x_s, y_s, x_t = domains()
    source = [(x_s[:8], y_s[:8]), (x_s[8:], y_s[8:])]
    params = [
        *features.parameters(),
        *label_head.parameters(),
        *domain_head.parameters(),
    ]
    history = train_dann(
        features,
        label_head,
        domain_head,
        torch.optim.SGD(params, lr=0.5),
        source,
        [x_t[:8], x_t[8:]],
        steps=6,
        lambda_=0.0,
    )
    twin_params = [*twin_features.parameters(), *twin_label.parameters()]
    fine_tune(
        twin_features, twin_label, source, torch.optim.SGD(twin_params, lr=0.5), steps=6
    )
    for a, b in zip(params[:4], twin_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert [h["lambda"] for h in history] == [0.0] * 6


def test_train_dann_follows_the_lambda_schedule() -> None:
    features, label_head, domain_head = dann_nets()
    x_s, y_s, x_t = domains()
    params = [
        *features.parameters(),
        *label_head.parameters(),
        *domain_head.parameters(),
    ]
    history = train_dann(
        features,
        label_head,
        domain_head,
        torch.optim.SGD(params, lr=0.1),
        [(x_s, y_s)],
        [(x_t,)],  # a DataLoader over TensorDataset(x_t) yields 1-tuples
        steps=5,
    )
    assert [h["lambda"] for h in history] == [dann_lambda(k / 5) for k in range(5)]
    assert all(math.isfinite(h["domain"]) for h in history)


def test_dann_loss_rejects_bad_shapes() -> None:
    features, label_head, _ = dann_nets()
    x_s, y_s, x_t = domains()
    with pytest.raises(ValueError, match="one logit per example"):
        dann_loss(
            features, label_head, nn.Linear(15, 2).double(), x_s, y_s, x_t, lambda_=1.0
        )
    with pytest.raises(ValueError, match="share one input space"):
        dann_loss(features, label_head, label_head, x_s, y_s, x_t[:, :1], lambda_=1.0)
