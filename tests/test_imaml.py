"""iMAML's meta-gradient is the exact implicit gradient (float64, closed form).

On a linear-regression inner problem L_s(φ) = mean((X_s φ − y_s)²) the
regularised inner solution is φ*(θ) = (H + λI)⁻¹(λθ + b), H = 2/n X_sᵀX_s,
b = 2/n X_sᵀy_s, in closed form; autograd through that solve gives the exact
gradient of L_query(φ*(θ)). iMAML's conjugate-gradient meta-gradient equals it,
with fewer shots than features (H singular) and with feature scales spread
over two orders of magnitude. With λ huge, φ* = θ and the meta-gradient is the
plain query gradient. Conjugate gradient solves a well-conditioned SPD system
in as many steps as unknowns. Vmapped and looped meta-batches agree.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlbook.meta import Task, conjugate_gradient, imaml_loss, meta_loss, stack_tasks

DT = torch.float64


def linear_task(n_support: int, d: int, seed: int, spread: float = 0.0) -> Task:
    g = torch.Generator().manual_seed(seed)
    cols = torch.logspace(-spread, spread, d, dtype=DT)
    xs = torch.randn(n_support, d, generator=g, dtype=DT) * cols
    xq = torch.randn(7, d, generator=g, dtype=DT) * cols
    w = torch.randn(d, 1, generator=g, dtype=DT)
    return Task(xs, xs @ w + 0.1, xq, xq @ w - 0.2)


def linear_model(d: int) -> nn.Module:
    torch.manual_seed(1)
    return nn.Linear(d, 1, bias=False).double()


def exact_meta_gradient(model, task, lam):
    theta = model.weight.detach().clone().requires_grad_(True)  # (1, d)
    x, y = task.x_support, task.y_support
    n = len(x)
    h = 2 / n * x.T @ x
    b = 2 / n * x.T @ y
    eye = torch.eye(h.shape[0], dtype=DT)
    phi = torch.linalg.solve(h + lam * eye, lam * theta.T + b).T
    F.mse_loss(task.x_query @ phi.T, task.y_query).backward()
    return theta.grad, phi.detach()


@pytest.mark.parametrize(
    ("n_support", "d", "lam", "spread"),
    [(3, 6, 1.0, 0.0), (20, 4, 0.5, 0.0), (5, 5, 10.0, 0.0), (4, 6, 2.0, 1.0)],
)
def test_the_meta_gradient_equals_the_exact_implicit_gradient(
    n_support, d, lam, spread
):
    task = linear_task(n_support, d, seed=d + n_support, spread=spread)
    model = linear_model(d)
    params = dict(model.named_parameters())
    x = task.x_support
    top = torch.linalg.eigvalsh(2 / len(x) * x.T @ x).max().item()
    loss = imaml_loss(
        model,
        params,
        task,
        loss_fn=F.mse_loss,
        inner_lr=1 / (top + lam),  # converges: the inner objective is quadratic
        steps=20_000 if spread else 2_000,
        lam=lam,
        cg_steps=3 * d,
    )
    (got,) = torch.autograd.grad(loss, [params["weight"]])
    expected, phi = exact_meta_gradient(model, task, lam)
    torch.testing.assert_close(got, expected, rtol=1e-7, atol=1e-10)
    torch.testing.assert_close(loss, F.mse_loss(task.x_query @ phi.T, task.y_query))


def test_with_a_huge_lambda_it_is_the_query_gradient_at_the_start():
    task = linear_task(3, 4, seed=0)
    model = linear_model(4)
    params = dict(model.named_parameters())
    loss = imaml_loss(
        model, params, task, loss_fn=F.mse_loss, inner_lr=1e-9, steps=5, lam=1e9
    )
    (got,) = torch.autograd.grad(loss, [params["weight"]])
    (expected,) = torch.autograd.grad(
        F.mse_loss(model(task.x_query), task.y_query), [params["weight"]]
    )
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("condition", "steps"), [(1e2, 6), (1e6, 40)])
def test_conjugate_gradient_solves_an_spd_system(condition, steps):
    # exactly in as many steps as unknowns when well conditioned; an
    # ill-conditioned system loses orthogonality in floating point and needs more
    g = torch.Generator().manual_seed(0)
    q = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=DT)).Q
    spectrum = torch.logspace(
        0, torch.log10(torch.tensor(condition)).item(), 6, dtype=DT
    )
    a = q @ torch.diag(spectrum) @ q.T
    b = {"v": torch.randn(6, generator=g, dtype=DT)}
    x = conjugate_gradient(lambda v: {"v": a @ v["v"]}, b, steps=steps)
    torch.testing.assert_close(x["v"], torch.linalg.solve(a, b["v"]), rtol=1e-8, atol=0)
    # a zero right-hand side is solved by zero, without NaN
    zero = conjugate_gradient(
        lambda v: {"v": a @ v["v"]}, {"v": torch.zeros(6, dtype=DT)}, steps=3
    )
    assert torch.equal(zero["v"], torch.zeros(6, dtype=DT))


def test_vmapped_and_looped_meta_batches_agree():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    params = dict(model.named_parameters())
    g = torch.Generator().manual_seed(2)
    tasks = []
    for _ in range(3):
        x = torch.randn(10, 1, generator=g)
        tasks.append(Task(x[:5], torch.sin(x[:5]), x[5:], torch.sin(x[5:])))
    batch = stack_tasks(tasks)
    options = {"loss_fn": F.mse_loss, "inner_lr": 0.05, "steps": 5, "lam": 2.0}
    grads = []
    for vectorize in (True, False):
        loss = meta_loss(
            imaml_loss, model, params, batch, vectorize=vectorize, **options
        )
        grads.append(torch.autograd.grad(loss, list(params.values())))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
