"""R2D2: a ridge-regression head solved in closed form inside every episode.

Bertinetto et al. (2019) replace MAML's inner gradient steps by an exact solver
that backpropagation can pass through. Each episode's support embeddings
``X`` (with a column of ones for the bias) regress the one-hot labels ``Y``:

    W = argmin ‖X W − Y‖² + λ ‖W‖² = (XᵀX + λI)⁻¹ XᵀY = Xᵀ(XXᵀ + λI)⁻¹ Y

(§3.2, eqs. 3 and 5). The second form, the Woodbury identity, solves an
n × n system for n support examples instead of a d × d one for d features,
which is what makes the head cheap in few-shot episodes (n ≪ d). The query
logits are α X_query W; λ and the scale α are meta-learned with the
embedding (§3.2; a shared bias β cancels in the softmax, so it is left out).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook._validate import (
    check_int,
    check_real,
    check_same_length,
    check_tensor,
)
from mtlbook.meta.inner import BatchNormPolicy, Params, check_task, functional
from mtlbook.meta.tasks import Task

__all__ = ["r2d2_hyper", "r2d2_logits", "r2d2_loss", "ridge_head"]

_HYPER = ("log_lambda", "log_scale")


def _one_hot(y: Tensor, n_way: int, dtype: torch.dtype) -> Tensor:
    # A comparison instead of F.one_hot keeps this vmap-friendly.
    return (y[:, None] == torch.arange(n_way, device=y.device)).to(dtype)


def _ridge(x: Tensor, targets: Tensor, lam: Tensor | float, woodbury: bool) -> Tensor:
    """(XᵀX + λI)⁻¹ XᵀY, or the same as Xᵀ(XXᵀ + λI)⁻¹ Y: (d, n_way)."""
    if woodbury:
        eye = torch.eye(x.shape[0], dtype=x.dtype, device=x.device)
        return x.T @ torch.linalg.solve(x @ x.T + lam * eye, targets)
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return torch.linalg.solve(x.T @ x + lam * eye, x.T @ targets)


def _check_lambda(lam: object) -> None:
    if isinstance(lam, Tensor):
        if lam.ndim != 0 or not lam.is_floating_point():
            raise ValueError(
                f"lam has shape {tuple(lam.shape)} and dtype {lam.dtype}; it must "
                "be one floating-point number, e.g. lam=hyper['log_lambda'].exp()"
            )
        return
    check_real("lam", lam, low=0.0, low_open=True, example=1.0)


def ridge_head(
    z_support: Tensor, y_support: Tensor, n_way: int, *, lam: float | Tensor
) -> Tensor:
    """The ridge-regression head of one episode (Bertinetto eqs. 3, 5): (d + 1, n_way).

    z_support: (n, d) embeddings; y_support: (n,) labels in 0..n_way-1; lam > 0
    (a float or a 0-d tensor, differentiable). The last row of the result is
    the bias (the features get a column of ones, regularised like the rest).
    The n × n Woodbury form is used when n < d + 1, the d × d form otherwise;
    both give the same W.
    """
    check_int("n_way", n_way, low=1)
    check_tensor("z_support", z_support, ndim=2, floating=True)
    check_tensor("y_support", y_support, ndim=1)
    if y_support.is_floating_point() or y_support.dtype == torch.bool:
        raise TypeError(
            f"y_support must hold integer class ids, got {y_support.dtype}; "
            "use y_support.long()"
        )
    check_same_length(("z_support", "y_support"), z_support, y_support)
    _check_lambda(lam)
    x = torch.cat([z_support, torch.ones_like(z_support[:, :1])], dim=1)
    targets = _one_hot(y_support, n_way, z_support.dtype)
    return _ridge(x, targets, lam, woodbury=x.shape[0] < x.shape[1])


def r2d2_hyper(lam: float = 1.0, scale: float = 1.0) -> Params:
    """R2D2's meta-learned numbers, as log λ and log α (both stay positive).

    Returns {"log_lambda": (), "log_scale": ()}, float32 tensors that require
    grad: pass them as ``hyper=`` and train them with the weights
    (``meta_train(..., extra=(hyper,))``).
    """
    lam = check_real("lam", lam, low=0.0, low_open=True, example=1.0)
    scale = check_real("scale", scale, low=0.0, low_open=True, example=10.0)
    return {
        "log_lambda": torch.tensor(math.log(lam)).requires_grad_(True),
        "log_scale": torch.tensor(math.log(scale)).requires_grad_(True),
    }


def _check_hyper(hyper: object) -> None:
    if not isinstance(hyper, dict) or set(hyper) != set(_HYPER):
        got = sorted(hyper) if isinstance(hyper, dict) else type(hyper).__name__
        raise TypeError(
            f"hyper must be the dict {{'log_lambda', 'log_scale'}} of r2d2_hyper(), "
            f"got {got}"
        )
    for name in _HYPER:
        if not isinstance(hyper[name], Tensor) or hyper[name].ndim != 0:
            raise ValueError(
                f"hyper['{name}'] must be a 0-d tensor; build hyper with r2d2_hyper()"
            )


def r2d2_logits(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    n_way: int,
    hyper: Params,
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """α [f(x_query), 1] W, W the ridge head of the support set: (n_query, n_way).

    λ = exp(hyper["log_lambda"]), α = exp(hyper["log_scale"]). The model maps
    a batch of inputs to (batch, d) embeddings (end it with nn.Flatten()).
    """
    check_task("task", task)
    _check_hyper(hyper)
    predict = functional(model, batchnorm=batchnorm)
    zs, zq = predict(params, task.x_support), predict(params, task.x_query)
    for name, z in (("support", zs), ("query", zq)):
        if z.ndim != 2:
            raise ValueError(
                f"the model returned {name} embeddings of shape {tuple(z.shape)}; "
                "R2D2 needs (n, features): end the model with nn.Flatten()"
            )
    w = ridge_head(zs, task.y_support, n_way, lam=hyper["log_lambda"].exp())
    zq = torch.cat([zq, torch.ones_like(zq[:, :1])], dim=1)
    return hyper["log_scale"].exp() * (zq @ w)


def r2d2_loss(model: nn.Module, params: Params, task: Task, **kwargs: Any) -> Tensor:
    """Cross-entropy of :func:`r2d2_logits` on the query labels: ()."""
    return F.cross_entropy(r2d2_logits(model, params, task, **kwargs), task.y_query)
