"""The identities that pin each meta-learning algorithm down (float64).

- MAML's meta-gradient equals central finite differences (two inner steps),
  and first-order MAML's does not;
- first-order MAML's meta-gradient equals the query-loss gradient at the
  adapted parameters, computed by hand with torch.autograd;
- MAML with an inner rate of 0 equals plain training on the query loss;
- Meta-SGD with every rate equal to α equals MAML, and the rates' gradients
  sum to MAML's derivative in α;
- ANIL equals MAML whose body has an inner rate of 0;
- Reptile with one inner step moves along joint training's gradient
  (Nichol et al. eqs. 6-7), and with two steps it does not;
- ProtoMAML before any inner step equals Prototypical Networks; prototypes
  are the class means;
- the conditional neural process ignores the order of the support set;
- test-time evaluation builds no graph; the 95% interval is 1.96·s/√n.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlbook.meta import (
    ConditionalNeuralProcess,
    FewShotEpisodes,
    Sinusoid,
    accuracy,
    adapt,
    adaptation_curve,
    anil_loss,
    cnp_loss,
    fixed_tasks,
    fomaml_loss,
    functional,
    gaussian_nll,
    joint_loss,
    maml_loss,
    mean_ci,
    meta_loss,
    metasgd_loss,
    metasgd_rates,
    protomaml_loss,
    protonet_logits,
    protonet_loss,
    prototypes,
    reptile_grad,
    reptile_step,
    score_tasks,
)

DT = torch.float64
OPTIONS = {"loss_fn": F.mse_loss, "inner_lr": 0.2}


def setup(n_tasks: int = 3, width: int = 8):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(1, width),
        nn.Tanh(),
        nn.Linear(width, width),
        nn.Tanh(),
        nn.Linear(width, 1),
    ).to(DT)
    batch = Sinusoid(5, 6, dtype=DT).sample_batch(
        n_tasks, torch.Generator().manual_seed(0)
    )
    return model, dict(model.named_parameters()), batch


def grads(loss: torch.Tensor, params: dict) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, list(params.values())))


def close(a, b, tol: float = 1e-10) -> bool:
    return all(
        torch.allclose(u, v, rtol=tol, atol=tol) for u, v in zip(a, b, strict=True)
    )


def directional_fd(f, params: dict, v: list[torch.Tensor], eps: float = 1e-6):
    with torch.no_grad():
        for p, d in zip(params.values(), v, strict=True):
            p += eps * d
        up = f().item()
        for p, d in zip(params.values(), v, strict=True):
            p -= 2 * eps * d
        down = f().item()
        for p, d in zip(params.values(), v, strict=True):
            p += eps * d
    return (up - down) / (2 * eps)


def test_maml_meta_gradient_equals_central_finite_differences() -> None:
    model, params, batch = setup()
    gen = torch.Generator().manual_seed(1)
    for fn, should_match in ((maml_loss, True), (fomaml_loss, False)):

        def f(fn=fn):
            return meta_loss(fn, model, params, batch, steps=2, **OPTIONS)

        g = grads(f(), params)
        for _ in range(3):
            v = [torch.randn(p.shape, generator=gen, dtype=DT) for p in params.values()]
            exact = sum((gi * d).sum() for gi, d in zip(g, v, strict=True)).item()
            fd = directional_fd(f, params, v)
            assert (abs(exact - fd) <= 1e-7 * max(1.0, abs(fd))) == should_match


def test_fomaml_gradient_is_the_query_gradient_at_the_adapted_weights() -> None:
    model, params, batch = setup(n_tasks=1)
    t = batch[0]
    ours = grads(
        meta_loss(fomaml_loss, model, params, batch, steps=2, **OPTIONS), params
    )
    # By hand: two SGD steps with torch.autograd, then the query gradient there.
    w = [p.detach().clone().requires_grad_(True) for p in params.values()]
    f = functional(model)
    for _ in range(2):
        loss = F.mse_loss(
            f(dict(zip(params, w, strict=True)), t.x_support), t.y_support
        )
        w = [
            (wi - 0.2 * gi).detach().requires_grad_(True)
            for wi, gi in zip(w, torch.autograd.grad(loss, w), strict=True)
        ]
    query = F.mse_loss(f(dict(zip(params, w, strict=True)), t.x_query), t.y_query)
    assert close(ours, torch.autograd.grad(query, w))
    second = grads(
        meta_loss(maml_loss, model, params, batch, steps=2, **OPTIONS), params
    )
    assert not close(ours, second, tol=1e-6)  # the identity is not trivial


def test_maml_with_inner_rate_zero_is_plain_training() -> None:
    model, params, batch = setup()
    options = {**OPTIONS, "inner_lr": 0.0}
    maml = meta_loss(maml_loss, model, params, batch, steps=3, **options)
    plain = F.mse_loss(model(batch.x_query), batch.y_query)  # one mean over tasks
    assert torch.allclose(maml, plain, rtol=1e-12)
    assert close(grads(maml, params), grads(plain, params))


def test_metasgd_with_equal_rates_is_maml() -> None:
    model, params, batch = setup()
    alpha = torch.tensor(0.2, dtype=DT, requires_grad=True)
    maml = meta_loss(
        maml_loss, model, params, batch, loss_fn=F.mse_loss, inner_lr=alpha, steps=2
    )
    rates = metasgd_rates(params, init=0.2)
    msgd = meta_loss(
        metasgd_loss, model, params, batch, loss_fn=F.mse_loss, rates=rates, steps=2
    )
    assert torch.allclose(maml, msgd, rtol=1e-12)
    g_maml = torch.autograd.grad(maml, [*params.values(), alpha])
    g_msgd = torch.autograd.grad(msgd, [*params.values(), *rates.values()])
    n = len(params)
    assert close(g_maml[:n], g_msgd[:n])
    # α is shared by every weight: its derivative is the sum of the rates'.
    total = sum(g.sum() for g in g_msgd[n:])
    assert torch.allclose(g_maml[n], total, rtol=1e-10)


def test_anil_is_maml_with_a_frozen_body_in_the_inner_loop() -> None:
    model, params, batch = setup()
    anil = meta_loss(anil_loss, model, params, batch, head="4", steps=2, **OPTIONS)
    rates = {n: 0.2 if n.startswith("4.") else 0.0 for n in params}
    maml = meta_loss(
        maml_loss, model, params, batch, loss_fn=F.mse_loss, inner_lr=rates, steps=2
    )
    full = meta_loss(maml_loss, model, params, batch, steps=2, **OPTIONS)
    assert close(grads(anil, params), grads(maml, params))  # body gradients too
    assert not torch.allclose(anil, full)
    with pytest.raises(ValueError, match="head='head' names no parameter"):
        meta_loss(anil_loss, model, params, batch, head="head", **OPTIONS)


def test_reptile_with_one_step_follows_joint_training() -> None:
    model, params, batch = setup(n_tasks=4)
    direction = reptile_grad(model, params, batch, steps=1, **OPTIONS)
    joint = F.mse_loss(model(batch.x_support), batch.y_support)  # mean over tasks
    g_joint = grads(joint, params)
    assert close([d / 0.2 for d in direction.values()], g_joint)
    two = reptile_grad(model, params, batch, steps=2, **OPTIONS)
    assert not close([d / 0.4 for d in two.values()], g_joint, tol=1e-6)
    before = {n: p.detach().clone() for n, p in params.items()}
    reptile_step(params, direction, outer_lr=0.5)
    assert close(params.values(), [before[n] - 0.5 * direction[n] for n in params])


def test_joint_loss_scores_support_and_query_together() -> None:
    model, params, batch = setup(n_tasks=1)
    t = batch[0]
    both = F.mse_loss(
        model(torch.cat([t.x_support, t.x_query])), torch.cat([t.y_support, t.y_query])
    )
    assert torch.allclose(joint_loss(model, params, t, loss_fn=F.mse_loss), both)


# --- classification ------------------------------------------------------------


def episode_setup():
    torch.manual_seed(0)
    x, y = torch.randn(60, 4, dtype=DT), torch.arange(10).repeat_interleave(6)
    batch = FewShotEpisodes(x, y, n_way=3, k_shot=2, n_query=2).sample_batch(
        3, torch.Generator().manual_seed(0)
    )
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5)).to(DT)
    return model, dict(model.named_parameters()), batch


def test_prototypes_are_class_means() -> None:
    z, y = torch.randn(12, 5, dtype=DT), torch.tensor([2, 0, 1] * 4)
    c = prototypes(z, y, 3)
    assert close(c, [z[y == k].mean(dim=0) for k in range(3)])


def test_protomaml_before_adapting_is_protonets() -> None:
    model, params, batch = episode_setup()
    proto = meta_loss(protonet_loss, model, params, batch, n_way=3)
    pm0 = meta_loss(
        protomaml_loss, model, params, batch, n_way=3, inner_lr=0.5, steps=0
    )
    pm1 = meta_loss(protomaml_loss, model, params, batch, n_way=3, inner_lr=0.5)
    assert torch.allclose(proto, pm0, rtol=1e-12)
    assert close(grads(proto, params), grads(pm0, params))
    assert not torch.allclose(pm1, pm0)  # and the inner loop does change it


def test_protonet_needs_flat_embeddings() -> None:
    batch = episode_setup()[2]
    flat = nn.Sequential(nn.Unflatten(1, (2, 2))).to(DT)
    with pytest.raises(ValueError, match=r"end the model with nn\.Flatten"):
        protonet_logits(flat, {}, batch[0], n_way=3)


def test_cnp_ignores_the_order_of_the_support_set() -> None:
    torch.manual_seed(0)
    model = ConditionalNeuralProcess(width=16).to(DT)
    params = dict(model.named_parameters())
    t = Sinusoid(7, 5, dtype=DT).sample(torch.Generator().manual_seed(0))
    perm = torch.randperm(7)
    mean, std = model(t.x_support, t.y_support, t.x_query)
    mean_p, std_p = model(t.x_support[perm], t.y_support[perm], t.x_query)
    assert close([mean, std], [mean_p, std_p], tol=1e-12)
    assert (std >= 0.1).all()
    normal = torch.distributions.Normal(mean, std)
    assert torch.allclose(
        cnp_loss(model, params, t), -normal.log_prob(t.y_query).mean()
    )
    assert torch.allclose(
        gaussian_nll(mean, std, t.y_query), -normal.log_prob(t.y_query).mean()
    )


# --- evaluation ----------------------------------------------------------------


def test_adaptation_curve_builds_no_graph_and_matches_maml() -> None:
    model, params, batch = setup()
    curve = adaptation_curve(model, params, batch, steps=3, **OPTIONS)
    assert curve.shape == (3, 4) and not curve.requires_grad
    for i in range(3):
        t = batch[i]
        for s in (0, 3):
            m = maml_loss(model, params, t, steps=s, **OPTIONS)
            assert torch.allclose(curve[i, s], m.detach(), rtol=1e-12)


def test_adaptation_curve_takes_one_rate_per_step() -> None:
    model, params, batch = setup()
    options = {"loss_fn": F.mse_loss, "steps": 3}
    same = adaptation_curve(model, params, batch, inner_lr=0.2, **options)
    rates = torch.full((3,), 0.2, dtype=DT)
    assert torch.equal(
        adaptation_curve(model, params, batch, inner_lr=rates, **options), same
    )
    # A zero rate after the first step freezes the curve at its step-1 value.
    frozen = adaptation_curve(
        model,
        params,
        batch,
        inner_lr=torch.tensor([0.2, 0.0, 0.0], dtype=DT),
        **options,
    )
    assert torch.equal(frozen[:, 1], same[:, 1])
    assert torch.equal(frozen[:, 3], frozen[:, 1])
    with pytest.raises(ValueError, match="per-step rates for steps=3"):
        adaptation_curve(model, params, batch, inner_lr=rates[:2], **options)


def test_score_tasks_and_accuracy() -> None:
    model, params, batch = episode_setup()

    def acc(model, params, task, **kw):
        return accuracy(protonet_logits(model, params, task, **kw), task.y_query)

    scores = score_tasks(acc, model, params, batch, n_way=3)
    assert scores.shape == (3,) and not scores.requires_grad
    assert torch.all((scores * 6).round() == scores * 6)  # k / 6 query rows
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])).item() == pytest.approx(2 / 3)


def test_mean_ci_is_1_96_sample_std_over_root_n() -> None:
    v = np.random.default_rng(0).normal(size=600)
    est = mean_ci(torch.tensor(v))
    assert est.n == 600 and est.mean == pytest.approx(v.mean(), rel=1e-12)
    assert est.half_width == pytest.approx(1.96 * v.std(ddof=1) / math.sqrt(600))
    assert (
        str(mean_ci([1.0, 3.0])) == f"2.0000 ± {1.96 * math.sqrt(2) / math.sqrt(2):.4f}"
    )
    with pytest.raises(ValueError, match="n >= 2"):
        mean_ci([1.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        mean_ci([1.0, float("nan")])


def test_fixed_tasks_are_the_same_every_time() -> None:
    a, b = fixed_tasks(Sinusoid(), 4, seed=7), fixed_tasks(Sinusoid(), 4, seed=7)
    assert torch.equal(a.x_query, b.x_query) and torch.equal(a.y_support, b.y_support)


def test_adapt_inside_no_grad_still_adapts() -> None:
    model, params, batch = setup(n_tasks=1)
    t = batch[0]
    with torch.no_grad():
        new = adapt(
            functional(model),
            params,
            t.x_support,
            t.y_support,
            loss_fn=F.mse_loss,
            lr=0.2,
            order="none",
        )
    assert not any(torch.equal(new[n], params[n]) for n in params)
