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
from mtlbook.meta.inner import adapt, functional
from mtlbook.meta.mamlpp import lslr_trajectory, step_batch_norm, step_bn_params


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


# --- per-step batch norm (BNWB, BNRS) -------------------------------------------


def _bn_inputs(shape=(6, 3, 4, 5), steps=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (2 * torch.randn(shape, generator=g, dtype=torch.float64) + 1).requires_grad_()
    c = shape[1]
    w = (
        1 + 0.3 * torch.randn(steps, c, generator=g, dtype=torch.float64)
    ).requires_grad_()
    b = (0.3 * torch.randn(steps, c, generator=g, dtype=torch.float64)).requires_grad_()
    return x, w, b


@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (7, 3), (5, 3, 8)])
@pytest.mark.parametrize("step", [0, 3])
def test_step_batch_norm_equals_f_batch_norm(shape, step):
    x, w, b = _bn_inputs(shape)
    ours = step_batch_norm(x, w, b, step)
    ref = F.batch_norm(x, None, None, w[step], b[step], training=True)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


def _stack(bn, x, w, b):
    """Every step's batch norm in turn with a smooth map between: a scalar."""
    h = x
    for s in range(w.shape[0]):
        h = torch.tanh(bn(h, s))
    return (h**3).sum()


def test_step_batch_norm_second_order_gradients_match_f_batch_norm():
    x, w, b = _bn_inputs()

    def ours(h, s):
        return step_batch_norm(h, w, b, s)

    def ref(h, s):
        return F.batch_norm(h, None, None, w[s], b[s], training=True)

    grads = []
    for bn in (ours, ref):
        g1 = torch.autograd.grad(_stack(bn, x, w, b), (x, w, b), create_graph=True)
        scalar = sum(
            (g * torch.cos(torch.arange(g.numel()).view(g.shape))).sum() for g in g1
        )
        g2 = torch.autograd.grad(scalar, (x, w, b))
        grads.append([*g1, *g2])
    for a, r in zip(*grads, strict=True):
        assert a.abs().max() > 1e-6  # the gradient is not trivially zero
        torch.testing.assert_close(a, r, rtol=0, atol=1e-12)


def test_step_running_statistics_match_f_batch_norm():
    x, w, b = _bn_inputs()
    state = step_bn_params(3, 4, dtype=torch.float64)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for _ in range(3):  # three updates of step 2 only
        step_batch_norm(
            x,
            w,
            b,
            2,
            running_mean=state["running_mean"],
            running_var=state["running_var"],
            momentum=0.3,
        )
        F.batch_norm(x, rm, rv, w[2], b[2], training=True, momentum=0.3)
    torch.testing.assert_close(state["running_mean"][2], rm, rtol=0, atol=1e-12)
    torch.testing.assert_close(state["running_var"][2], rv, rtol=0, atol=1e-12)
    untouched = torch.ones(3, 3, dtype=torch.float64)
    assert torch.equal(state["running_var"][[0, 1, 3]], untouched)
    ours = step_batch_norm(
        x,
        w,
        b,
        2,
        running_mean=state["running_mean"],
        running_var=state["running_var"],
        training=False,
    )
    ref = F.batch_norm(x, rm, rv, w[2], b[2], training=False)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


def test_step_bn_params_shapes_and_learnability():
    p = step_bn_params(5, 3)
    assert p["weight"].shape == p["running_var"].shape == (3, 5)
    assert p["weight"].requires_grad and p["bias"].requires_grad
    assert not p["running_mean"].requires_grad
    assert torch.equal(p["weight"], torch.ones(3, 5))
    assert torch.equal(p["bias"], torch.zeros(3, 5))


def test_step_batch_norm_rejects_bad_input():
    x, w, b = _bn_inputs()
    with pytest.raises(ValueError, match="step"):
        step_batch_norm(x, w, b, 4)
    with pytest.raises(ValueError, match="step_bn_params"):
        step_batch_norm(x, w[:, :2], b[:, :2], 0)
    with pytest.raises(ValueError, match="running"):
        step_batch_norm(x, w, b, 0, training=False)
    with pytest.raises(ValueError, match="at least 2"):
        step_batch_norm(x[:1, :, :1, :1], w, b, 0)
    with pytest.raises(TypeError, match="step"):
        step_batch_norm(x, w, b, 1.0)


def test_lslr_trajectory_with_one_rate_is_adapt_step_by_step() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).double()
    params = dict(model.named_parameters())
    x, y = (
        torch.randn(10, 1, dtype=torch.float64),
        torch.randn(10, 1, dtype=torch.float64),
    )
    predict = functional(model)
    trajectory = lslr_trajectory(
        predict, params, x, y, loss_fn=F.mse_loss, rates=0.1, steps=3
    )
    assert len(trajectory) == 3
    for steps, fast in enumerate(trajectory, start=1):
        want = adapt(predict, params, x, y, loss_fn=F.mse_loss, lr=0.1, steps=steps)
        for name in params:
            torch.testing.assert_close(fast[name], want[name], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="steps"):
        lslr_trajectory(predict, params, x, y, loss_fn=F.mse_loss, rates=0.1, steps=0)
