"""Toy multi-task problems with known answers (formulas from the book's Protocols page).

- :func:`two_objective_losses`: the two-objective toy of CAGrad, Nash-MTL and
  FAMO (scale ``s=1`` unscaled, ``s=0.1`` scaled), with the published starts
  and Pareto front as constants;
- :func:`pareto_theta2`: that toy's exact Pareto set, θ2 above each θ1;
- :func:`pcgrad_toy_losses`: the valley toy of PCGrad (Yu et al. 2020);
- :func:`gradnorm_tasks`: the GradNorm regression tasks (Chen et al. 2018);
- :func:`mmoe_synthetic`: two regression tasks with a tunable correlation
  (Ma et al. 2018).

The loss functions are differentiable torch functions of ``theta``, so any
optimiser or gradient aggregator can be run on them directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mtlbook._validate import (
    check_array,
    check_int,
    check_real,
    check_tensor,
    check_torch_dtype,
    check_torch_generator,
)

# log(max(|.|, LOWER)) keeps the log finite where its argument vanishes.
LOWER = 5e-6

#: Starts of the unscaled toy (s = 1), CAGrad §5.1.
TWO_OBJECTIVE_STARTS: tuple[tuple[float, float], ...] = (
    (-8.5, 7.5),
    (-8.5, 5.0),
    (0.0, 0.0),
    (9.0, 9.0),
    (10.0, -8.0),
)
#: Starts of the scaled toy (s = 0.1), Nash-MTL App. B and FAMO App. D.
TWO_OBJECTIVE_SCALED_STARTS: tuple[tuple[float, float], ...] = (
    (-8.5, 7.5),
    (0.0, 0.0),
    (9.0, 9.0),
    (-7.5, -0.5),
    (9.0, -1.0),
)
#: The Pareto front (published) is theta2 ≈ -8.3552 with theta1 in [-7, 7].
PARETO_THETA2 = -8.3552
PARETO_THETA1_RANGE: tuple[float, float] = (-7.0, 7.0)
#: CAGrad (c = 0.5) converges to this balanced point with L1 = L2 ≈ -15.09.
BALANCED_POINT: tuple[float, float] = (0.0, PARETO_THETA2)
BALANCED_LOSS = -15.09

#: Start of the PCGrad toy (Yu et al. 2020, App. D).
PCGRAD_TOY_START: tuple[float, float] = (0.5, -3.0)


def _check_theta(theta: object) -> torch.Tensor:
    theta = check_tensor("theta", theta, ndim=(1, 2))
    if theta.shape[-1] != 2:
        raise ValueError(
            f"theta must have shape (2,) or (n, 2), got {tuple(theta.shape)}"
        )
    if not theta.is_floating_point():
        raise TypeError(
            f"theta must be a floating tensor, got {theta.dtype}; use theta.float()"
        )
    if not bool(torch.isfinite(theta).all()):
        raise ValueError("theta must be finite; it contains nan or inf")
    return theta


def _safe_log(z: torch.Tensor) -> torch.Tensor:
    return torch.log(torch.clamp_min(z.abs(), LOWER))


def two_objective_losses(theta: torch.Tensor, *, scale: float = 1.0) -> torch.Tensor:
    """Both losses of the two-objective toy at ``theta``.

    theta: (2,) or (n, 2) as (θ1, θ2); returns (2,) or (n, 2) as (L1, L2).
    scale: the factor s on L1 (1 unscaled, 0.1 scaled); must be positive.
    """
    theta = _check_theta(theta)
    scale = check_real("scale", scale, low=0, low_open=True, example=0.1)
    t1, t2 = theta[..., 0], theta[..., 1]
    f1 = _safe_log(0.5 * (-t1 - 7) - torch.tanh(-t2)) + 6
    f2 = _safe_log(0.5 * (-t1 + 3) + torch.tanh(-t2) + 2) + 6
    g1 = ((-t1 + 7) ** 2 + 0.1 * (-t2 - 8) ** 2) / 10 - 20
    g2 = ((-t1 - 7) ** 2 + 0.1 * (-t2 - 8) ** 2) / 10 - 20
    # c1 switches the log-valley part on for θ2 > 0, c2 the bowls for θ2 < 0.
    c1 = torch.clamp_min(torch.tanh(0.5 * t2), 0)
    c2 = torch.clamp_min(torch.tanh(-0.5 * t2), 0)
    loss1 = scale * (c1 * f1 + c2 * g1)
    loss2 = c1 * f2 + c2 * g2
    return torch.stack([loss1, loss2], dim=-1)


def pareto_theta2(theta1: torch.Tensor) -> torch.Tensor:
    """θ2 of the toy's exact Pareto set above each θ1 in [−7, 7]; (n,) → (n,).

    There the two task gradients are anti-parallel, det [g1 g2] = 0, which is
    found by bisection on θ2 ∈ [−9.5, −7.5] (one root there; L1's scale s
    does not move the set). The published front is the line
    θ2 = ``PARETO_THETA2``; the exact set bends away from it towards θ1 = ±7.
    """
    theta1 = check_tensor("theta1", theta1, ndim=1, floating=True, finite=True)

    def det(t2: torch.Tensor) -> torch.Tensor:
        theta = torch.stack([theta1, t2], dim=-1).detach().requires_grad_(True)
        losses = two_objective_losses(theta)
        g1 = torch.autograd.grad(losses[:, 0].sum(), theta, retain_graph=True)[0]
        g2 = torch.autograd.grad(losses[:, 1].sum(), theta)[0]
        return (g1[:, 0] * g2[:, 1] - g1[:, 1] * g2[:, 0]).detach()

    lo, hi = torch.full_like(theta1, -9.5), torch.full_like(theta1, -7.5)
    det_lo = det(lo)
    for _ in range(60):
        mid = (lo + hi) / 2
        det_mid = det(mid)
        left = det_mid * det_lo <= 0  # the root lies in [lo, mid]
        hi = torch.where(left, mid, hi)
        lo, det_lo = torch.where(left, lo, mid), torch.where(left, det_lo, det_mid)
    return (lo + hi) / 2


def pcgrad_toy_losses(theta: torch.Tensor) -> torch.Tensor:
    """Both losses of the PCGrad valley toy at ``theta``.

    theta: (2,) or (n, 2) as (θ1, θ2); returns (2,) or (n, 2) as (L1, L2).
    """
    theta = _check_theta(theta)
    t1, t2 = theta[..., 0], theta[..., 1]
    loss1 = 20 * _safe_log(0.5 * t1 + torch.tanh(t2))
    loss2 = 25 * _safe_log(0.5 * t1 - torch.tanh(t2) + 2)
    return torch.stack([loss1, loss2], dim=-1)


@dataclass(frozen=True)
class GradNormTasks:
    """Inputs and per-task targets of the GradNorm regression tasks.

    x_train: (n_train, input_dim); y_train: (n_tasks, n_train, output_dim);
    x_test: (n_test, input_dim); y_test: (n_tasks, n_test, output_dim);
    B: (output_dim, input_dim); eps: (n_tasks, output_dim, input_dim);
    sigmas: (n_tasks,). Task i's targets are ``y_train[i]``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    B: torch.Tensor
    eps: torch.Tensor
    sigmas: torch.Tensor


def gradnorm_tasks(
    n_tasks: int,
    sigmas: Sequence[float],
    *,
    n_train: int,
    n_test: int,
    generator: torch.Generator,
    input_dim: int = 250,
    output_dim: int = 100,
    dtype: torch.dtype = torch.float32,
) -> GradNormTasks:
    """Draw the GradNorm regression tasks f_i(x) = σ_i·tanh((B + ε_i)x).

    sigmas: (n_tasks,) positive task scales, e.g. (1, 100).
    Choices the paper leaves open: B has i.i.d. N(0, 10²) entries (std 10),
    each ε_i i.i.d. N(0, 3.5²) (std 3.5); every x has i.i.d. U(-1, 1)
    coordinates, then is scaled to unit Euclidean norm; targets carry no
    added noise. Draw order: B, ε_1..ε_T, train inputs, test inputs, all in
    float64, then cast to ``dtype``: the same generator state gives the same
    tasks whatever the dtype, and the tasks do not depend on n_train/n_test.
    """
    n_tasks = check_int("n_tasks", n_tasks, low=1, example=2)
    n_train = check_int("n_train", n_train, low=1, example=1000)
    n_test = check_int("n_test", n_test, low=1, example=1000)
    input_dim = check_int("input_dim", input_dim, low=1, example=250)
    output_dim = check_int("output_dim", output_dim, low=1, example=100)
    generator = check_torch_generator("generator", generator)
    check_torch_dtype("dtype", dtype)
    if not isinstance(sigmas, torch.Tensor):
        check_array("sigmas", sigmas, finite=False, nonempty=False)
    sig = torch.as_tensor(sigmas, dtype=torch.float64)
    if sig.ndim != 1 or sig.numel() != n_tasks:
        raise ValueError(
            f"sigmas must hold one scale per task: n_tasks={n_tasks} but sigmas has "
            f"shape {tuple(sig.shape)}; pass e.g. sigmas=[1.0] * n_tasks"
        )
    if not bool(torch.isfinite(sig).all()) or bool((sig <= 0).any()):
        raise ValueError(f"sigmas must be positive and finite, got {sig.tolist()}")

    def normal(*shape: int, std: float) -> torch.Tensor:
        return std * torch.randn(*shape, generator=generator, dtype=torch.float64)

    B = normal(output_dim, input_dim, std=10.0)
    eps = normal(n_tasks, output_dim, input_dim, std=3.5)

    def inputs(n: int) -> torch.Tensor:
        u = torch.rand(n, input_dim, generator=generator, dtype=torch.float64)
        x = 2 * u - 1
        return x / x.norm(dim=1, keepdim=True)

    def targets(x: torch.Tensor) -> torch.Tensor:
        # (T, out, in) @ (in, n) -> (T, out, n) -> (T, n, out)
        pre = ((B + eps) @ x.T).transpose(1, 2)
        return sig[:, None, None] * torch.tanh(pre)

    x_train, x_test = inputs(n_train), inputs(n_test)
    return GradNormTasks(
        x_train=x_train.to(dtype),
        y_train=targets(x_train).to(dtype),
        x_test=x_test.to(dtype),
        y_test=targets(x_test).to(dtype),
        B=B.to(dtype),
        eps=eps.to(dtype),
        sigmas=sig.to(dtype),
    )


@dataclass(frozen=True)
class MMoETasks:
    """Two regression tasks with a controlled correlation.

    x: (n, dim); y: (n, 2) labels of task 1 and 2; linear: (n, 2) the parts
    w_kᵀx; w: (2, dim) task weight vectors; alpha, beta: (m,) sine parameters.
    """

    x: torch.Tensor
    y: torch.Tensor
    linear: torch.Tensor
    w: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor


def mmoe_synthetic(
    n: int,
    *,
    correlation: float,
    c: float = 1.0,
    m: int = 10,
    generator: torch.Generator,
    dim: int = 100,
    noise_std: float = 0.1,
    dtype: torch.dtype = torch.float32,
) -> MMoETasks:
    """Draw n examples of the MMoE synthetic tasks with correlation p.

    y_k = w_kᵀx + Σ_{i=1..m} sin(α_i·w_kᵀx + β_i) + ε_k with u1 ⊥ u2 unit
    vectors, w1 = c·u1, w2 = c·(p·u1 + √(1−p²)·u2), x ~ N(0, I_dim).
    The cosine of w1 and w2 is p exactly, so the Pearson correlation of the
    linear parts is p in the population. Choices the paper leaves open:
    c = 1, m = 10, α_i and β_i i.i.d. N(0, 1) shared by both tasks, and
    ε_k ~ N(0, 0.01) read as variance 0.01 (noise_std = 0.1).
    Draw order: u1/u2, α, β, x, ε, in float64, then cast to ``dtype``; draw
    train and test from ONE call and split it, since a second call with
    another generator state draws different tasks.
    """
    n = check_int("n", n, low=1, example=1000)
    dim = check_int("dim", dim, low=1, example=100)
    if dim < 2:
        raise ValueError(f"dim={dim} must be >= 2 to hold two orthogonal vectors")
    m = check_int("m", m, low=0, example=10)
    correlation = check_real("correlation", correlation, low=-1, high=1, example=0.5)
    c = check_real("c", c, low=0, low_open=True, example=1.0)
    noise_std = check_real("noise_std", noise_std, low=0, example=0.1)
    generator = check_torch_generator("generator", generator)
    check_torch_dtype("dtype", dtype)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    q, _ = torch.linalg.qr(randn(dim, 2))  # orthonormal columns: u1 ⊥ u2
    u1, u2 = q[:, 0], q[:, 1]
    p = float(correlation)
    w = c * torch.stack([u1, p * u1 + math.sqrt(1 - p * p) * u2])
    alpha, beta = randn(m), randn(m)
    x = randn(n, dim)
    linear = x @ w.T  # (n, 2)
    waves = torch.sin(alpha * linear[..., None] + beta).sum(dim=-1)
    y = linear + waves + noise_std * randn(n, 2)
    return MMoETasks(
        x=x.to(dtype),
        y=y.to(dtype),
        linear=linear.to(dtype),
        w=w.to(dtype),
        alpha=alpha.to(dtype),
        beta=beta.to(dtype),
    )
