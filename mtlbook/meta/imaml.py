"""iMAML: the meta-gradient from the implicit function theorem, not the unrolled loop.

Rajeswaran et al. (2019) regularise the inner problem towards the start θ,

    φ*(θ) = argmin_φ L_support(φ) + (λ/2) ‖φ − θ‖²        (eq. 4),

so that at its minimum dφ*/dθ = (I + ∇²L_support(φ*)/λ)⁻¹ (Lemma 1). The
meta-gradient of L_query(φ*) is that matrix times ∇L_query(φ*) (eq. 5), a
linear system solved by conjugate gradient on Hessian-vector products
(Algorithm 2, §3.1). Nothing of the inner loop is kept for backward, so the
memory of a meta-gradient does not grow with the number of inner steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import grad, grad_and_value

from mtlbook._validate import check_int, check_real
from mtlbook.meta.inner import (
    BatchNormPolicy,
    LossFn,
    Params,
    check_callable,
    check_params,
    check_rate,
    check_task,
    functional,
)
from mtlbook.meta.tasks import Task

__all__ = ["conjugate_gradient", "imaml_loss"]


def _dot(a: Params, b: Params) -> Tensor:
    return sum((a[n] * b[n]).sum() for n in a)  # type: ignore[return-value]


def conjugate_gradient(
    apply: Callable[[Params], Params], b: Params, *, steps: int
) -> Params:
    """x ≈ A⁻¹ b after ``steps`` CG iterations from 0; A symmetric positive definite.

    apply(v) returns A v, with v and A v dicts shaped like b. A fixed number of
    iterations and no data-dependent branch keep it vmap-friendly; in exact
    arithmetic ``steps`` = the number of unknowns solves the system exactly.
    """
    check_int("steps", steps, low=1, example=5)
    x = {n: torch.zeros_like(v) for n, v in b.items()}
    r, p = dict(b), dict(b)
    rs = _dot(r, r)
    for _ in range(steps):
        ap = apply(p)
        alpha = _ratio(rs, _dot(p, ap))  # p = 0 once converged: alpha = 0
        x = {n: x[n] + alpha * p[n] for n in x}
        r = {n: r[n] - alpha * ap[n] for n in r}
        rs_new = _dot(r, r)
        beta = _ratio(rs_new, rs)
        p = {n: r[n] + beta * p[n] for n in r}
        rs = rs_new
    return x


def _ratio(a: Tensor, b: Tensor) -> Tensor:
    """a / b, and 0 where b is 0 (a converged iteration), without a branch."""
    safe = torch.where(b == 0, torch.ones_like(b), b)
    return torch.where(b == 0, torch.zeros_like(a), a / safe)


def imaml_loss(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    loss_fn: LossFn,
    inner_lr: float,
    steps: int,
    lam: float,
    cg_steps: int = 5,
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """L_query(φ*), with iMAML's implicit meta-gradient as its gradient in params: ().

    φ* ≈ argmin L_support(φ) + (λ/2)‖φ − θ‖² after ``steps`` SGD steps of rate
    ``inner_lr`` from θ, without a graph (eq. 4). The gradient that backward
    gives params is v ≈ (I + ∇²L_support(φ*)/λ)⁻¹ ∇L_query(φ*), from
    ``cg_steps`` conjugate-gradient iterations (eq. 5, Algorithm 2).
    """
    check_task("task", task)
    check_params("params", params)
    check_callable("loss_fn", loss_fn, "F.mse_loss")
    check_rate("inner_lr", inner_lr)
    check_int("steps", steps, low=0, example=10)
    lam = check_real("lam", lam, low=0.0, low_open=True, example=1.0)
    check_int("cg_steps", cg_steps, low=1, example=5)
    predict = functional(model, batchnorm=batchnorm)
    theta = {n: p.detach() for n, p in params.items()}

    def support(phi: Params) -> Tensor:
        return loss_fn(predict(phi, task.x_support), task.y_support)

    def query(phi: Params) -> Tensor:
        return loss_fn(predict(phi, task.x_query), task.y_query)

    def inner(phi: Params) -> Tensor:
        pull = sum((phi[n] - theta[n]).square().sum() for n in phi)
        return support(phi) + 0.5 * lam * pull

    phi = dict(theta)
    for _ in range(steps):  # the inner loop keeps no graph: memory is flat
        g = grad(inner)(phi)
        phi = {n: phi[n] - inner_lr * g[n] for n in phi}

    g_query, value = grad_and_value(query)(phi)

    def apply(v: Params) -> Params:  # (I + H/λ) v, H the support Hessian at φ*
        # Hessian-vector product as the gradient of <∇L_support, v>, v fixed
        hv = grad(lambda f: _dot(grad(support)(f), v))(phi)
        return {n: v[n] + hv[n] / lam for n in v}

    v = conjugate_gradient(apply, g_query, steps=cg_steps)
    surrogate = _dot(params, {n: v[n].detach() for n in params})
    # exactly L_query(φ*) in value; its gradient in params is v
    return value.detach() + (surrogate - surrogate.detach())
