"""MAML++ (Antoniou et al. 2019): the multi-step loss, LSLR and their identities."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlbook.meta import (
    Sinusoid,
    Task,
    lslr_rates,
    maml_loss,
    mamlpp_loss,
    meta_train,
    msl_weights,
)
from mtlbook.meta.inner import functional


def _setup(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)).to(dtype)
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(10, 1, generator=g, dtype=dtype)
    y = torch.sin(3 * x) + 0.1 * torch.randn(10, 1, generator=g, dtype=dtype)
    task = Task(x[:5], y[:5], x[5:], y[5:])
    return model, params, task


def test_msl_weights_schedule():
    w0 = msl_weights(5, 0, 10)
    assert torch.allclose(w0, torch.full((5,), 0.2, dtype=torch.float64))
    for epoch in (0, 3, 10, 100):
        w = msl_weights(5, epoch, 10)
        assert abs(float(w.sum()) - 1.0) < 1e-12
        assert bool((w >= 0.03 / 5 - 1e-15).all())
    late = msl_weights(5, 100, 10)
    assert torch.allclose(late[:-1], torch.full((4,), 0.006, dtype=torch.float64))
    assert float(late[-1]) == pytest.approx(1 - 4 * 0.006)
    # the final weight grows monotonically, the others shrink
    seq = torch.stack([msl_weights(5, e, 10) for e in range(15)])
    assert bool((seq[1:, -1] >= seq[:-1, -1]).all())
    assert bool((seq[1:, :-1] <= seq[:-1, :-1]).all())


@pytest.mark.parametrize("first_order", [False, True])
def test_last_step_only_equals_maml(first_order):
    model, params, task = _setup()
    kw = {"loss_fn": F.mse_loss, "first_order": first_order}
    ref = maml_loss(model, params, task, inner_lr=0.1, steps=3, **kw)
    got = mamlpp_loss(model, params, task, rates=0.1, steps=3, **kw)
    assert torch.equal(got, ref)
    g_ref = torch.autograd.grad(ref, list(params.values()))
    g_got = torch.autograd.grad(got, list(params.values()))
    for a, b in zip(g_ref, g_got, strict=True):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


def test_lslr_all_equal_equals_maml():
    model, params, task = _setup()
    rates = lslr_rates(params, 4, init=0.05)
    ref = maml_loss(model, params, task, loss_fn=F.mse_loss, inner_lr=0.05, steps=4)
    got = mamlpp_loss(model, params, task, loss_fn=F.mse_loss, rates=rates, steps=4)
    assert torch.allclose(got, ref, atol=1e-14, rtol=0)


def test_multistep_loss_equals_hand_loop():
    model, params, task = _setup()
    steps = 3
    rates = {
        n: torch.tensor([0.05, 0.1, 0.02], dtype=torch.float64) * (i + 1)
        for i, n in enumerate(params)
    }
    w = msl_weights(steps, 2, 5)
    got = mamlpp_loss(
        model, params, task, loss_fn=F.mse_loss, rates=rates, steps=steps, weights=w
    )
    predict = functional(model)
    fast = dict(params)
    want = torch.zeros((), dtype=torch.float64)
    for s in range(steps):
        loss = F.mse_loss(predict(fast, task.x_support), task.y_support)
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
        fast = {
            n: p - rates[n][s] * g
            for (n, p), g in zip(fast.items(), grads, strict=True)
        }
        want = want + w[s] * F.mse_loss(predict(fast, task.x_query), task.y_query)
    assert torch.allclose(got, want, atol=1e-14, rtol=0)


def test_gradients_match_finite_differences():
    model, params, task = _setup()
    rates = lslr_rates(params, 2, init=0.1)
    w = msl_weights(2, 1, 4)

    def f():
        return mamlpp_loss(
            model, params, task, loss_fn=F.mse_loss, rates=rates, steps=2, weights=w
        )

    leaves = [*params.values(), *rates.values()]
    grads = torch.autograd.grad(f(), leaves)
    eps = 1e-6
    for leaf, g in zip(leaves, grads, strict=True):
        flat = leaf.data.view(-1)
        for i in range(min(flat.numel(), 4)):
            old = flat[i].item()
            flat[i] = old + eps
            up = f().item()
            flat[i] = old - eps
            down = f().item()
            flat[i] = old
            fd = (up - down) / (2 * eps)
            assert g.view(-1)[i].item() == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_trains_with_meta_train():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
    params = dict(model.named_parameters())
    rates = lslr_rates(params, 2, init=0.01)
    opt = torch.optim.Adam([*params.values(), *rates.values()], lr=1e-3)
    losses = meta_train(
        mamlpp_loss,
        model,
        params,
        Sinusoid(k_support=5, k_query=5),
        iterations=3,
        optimizer=opt,
        generator=torch.Generator().manual_seed(0),
        meta_batch=4,
        extra=(rates,),
        loss_fn=F.mse_loss,
        rates=rates,
        steps=2,
        weights=msl_weights(2, 0, 10).float(),
    )
    assert len(losses) == 3
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any(float(r.detach().sub(0.01).abs().max()) > 0 for r in rates.values())
