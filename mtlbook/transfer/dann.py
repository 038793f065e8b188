"""Domain-adversarial training (DANN, Ganin et al. 2016).

A feature extractor G_f feeds a label head G_y (trained on labelled source
data) and a domain head G_d (source = 0 vs target = 1). The domain head learns
to tell the domains apart; the feature extractor learns to make that
impossible, so its features carry the label but not the domain. One backward
pass does both thanks to the gradient-reversal layer R_λ:

    R_λ(x) = x,    dR_λ/dx = −λ I

placed between G_f and G_d: minimising L_y + L_d then trains G_d to minimise
L_d while G_f receives ∇L_y − λ ∇L_d, a step toward the saddle point of the
DANN objective L_y − λ L_d. λ may grow from 0 to 1 over training,
λ_p = 2 / (1 + exp(−γ p)) − 1 with γ = 10 and p the training progress (the
paper's schedule for its image experiments), so that the noisy domain signal
of the first steps does not swamp the label loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook._progress import advance, progress_bar
from mtlbook._validate import (
    check_bool,
    check_callable,
    check_finite_loss,
    check_int,
    check_module,
    check_optimizer,
    check_real,
    check_scalar_loss,
    check_tensor,
)
from mtlbook.transfer.probe import (
    Batch,
    LossFn,
    _device,
    _nonfinite_cause,
    cycle_batches,
)


class GradientReversalFunction(torch.autograd.Function):
    """Identity forward, gradient multiplied by −λ backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, lambda_: float) -> Tensor:
        """A copy of x (any shape); keeps λ on ``ctx`` for the backward pass."""
        ctx.lambda_ = lambda_
        # a copy: in-place operations on the output must not modify x
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        """−λ times the incoming gradient for x; none for λ."""
        return -ctx.lambda_ * grad, None


def grad_reverse(x: Tensor, lambda_: float = 1.0) -> Tensor:
    """R_λ(x): the values of x, with the gradient flowing back scaled by −λ.

    x: any shape. Returns: the same shape.
    """
    check_tensor("x", x)
    _check_lambda(lambda_)
    return GradientReversalFunction.apply(x, float(lambda_))


class GradientReversal(nn.Module):
    """The gradient-reversal layer as a module; set ``.lambda_`` to schedule it."""

    def __init__(self, lambda_: float = 1.0) -> None:
        super().__init__()
        self.lambda_ = _check_lambda(lambda_)

    def forward(self, x: Tensor) -> Tensor:
        """x: any shape. Returns: x, with reversed gradient."""
        return grad_reverse(x, self.lambda_)

    def extra_repr(self) -> str:
        """The constructor arguments that ``repr`` shows."""
        return f"lambda_={self.lambda_}"


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    """λ_p = 2 / (1 + exp(−γ p)) − 1 at training progress p in [0, 1].

    0 at p = 0, rising to 2 / (1 + e^{−γ}) − 1 ≈ 0.99991 at p = 1 (γ = 10).
    """
    _check_progress(p)
    check_real("gamma", gamma, low=0, low_open=True, example=10)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def dann_learning_rate(
    p: float, *, lr0: float = 0.01, alpha: float = 10.0, beta: float = 0.75
) -> float:
    """Ganin et al.'s annealed rate μ_p = μ0 / (1 + α p)^β at progress p in [0, 1]."""
    _check_progress(p)
    for arg, value in (("lr0", lr0), ("alpha", alpha), ("beta", beta)):
        check_real(arg, value, low=0)
    return lr0 / (1.0 + alpha * p) ** beta


class DANNLoss(NamedTuple):
    """The three losses of one DANN step, each a () scalar with gradient."""

    total: Tensor  # label + domain; backpropagate this one
    label: Tensor  # L_y on the labelled source batch
    domain: Tensor  # L_d, binary cross-entropy of source (0) vs target (1)


def dann_loss(
    features: nn.Module,
    label_head: nn.Module,
    domain_head: nn.Module,
    x_source: Tensor,
    y_source: Tensor,
    x_target: Tensor,
    *,
    lambda_: float,
    loss_fn: LossFn = F.cross_entropy,
) -> DANNLoss:
    """L_y + L_d with R_λ between the features and the domain head.

    x_source: (n_s, ...), y_source: what ``loss_fn`` expects, x_target:
    (n_t, ...). ``domain_head`` maps features to one logit: (n, 1) or (n,).
    L_d is the mean over all n_s + n_t examples.
    """
    check_module("features", features)
    check_module("label_head", label_head)
    check_module("domain_head", domain_head)
    check_callable("loss_fn", loss_fn, "F.cross_entropy")
    for arg, x in (("x_source", x_source), ("x_target", x_target)):
        check_tensor(arg, x, floating=True)
        if x.ndim < 1 or len(x) == 0:
            raise ValueError(f"{arg} must be a non-empty tensor (n, ...)")
    if x_source.shape[1:] != x_target.shape[1:]:
        raise ValueError(
            f"x_source has examples of shape {tuple(x_source.shape[1:])} but "
            f"x_target {tuple(x_target.shape[1:])}; both domains share one input space"
        )
    n_s, n_t = len(x_source), len(x_target)
    # one pass over both domains, so BatchNorm sees the mixed batch
    f = features(torch.cat([x_source, x_target]))
    label = check_scalar_loss("loss_fn", loss_fn(label_head(f[:n_s]), y_source))
    logits = domain_head(grad_reverse(f, lambda_))
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    if logits.shape != (n_s + n_t,):
        raise ValueError(
            f"domain_head returned shape {tuple(logits.shape)}; it must return one "
            "logit per example, (n, 1) or (n,), e.g. nn.Linear(features, 1)"
        )
    domain_y = torch.cat([logits.new_zeros(n_s), logits.new_ones(n_t)])
    domain = F.binary_cross_entropy_with_logits(logits, domain_y)
    return DANNLoss(label + domain, label, domain)


def dann_step(
    features: nn.Module,
    label_head: nn.Module,
    domain_head: nn.Module,
    optimizer: torch.optim.Optimizer,
    x_source: Tensor,
    y_source: Tensor,
    x_target: Tensor,
    *,
    lambda_: float,
    loss_fn: LossFn = F.cross_entropy,
) -> dict[str, float]:
    """One optimiser step on ``dann_loss``; returns its three values as floats.

    ``optimizer`` holds the parameters of all three modules. x_source:
    (n_s, ...), x_target: (n_t, ...).
    """
    check_optimizer("optimizer", optimizer)
    return _step(
        features,
        label_head,
        domain_head,
        optimizer,
        x_source,
        y_source,
        x_target,
        lambda_=lambda_,
        loss_fn=loss_fn,
        step=None,
    )


def _step(
    features: nn.Module,
    label_head: nn.Module,
    domain_head: nn.Module,
    optimizer: torch.optim.Optimizer,
    x_source: Tensor,
    y_source: Tensor,
    x_target: Tensor,
    *,
    lambda_: float,
    loss_fn: LossFn,
    step: int | None,
) -> dict[str, float]:
    losses = dann_loss(
        features,
        label_head,
        domain_head,
        x_source,
        y_source,
        x_target,
        lambda_=lambda_,
        loss_fn=loss_fn,
    )
    if not math.isfinite(losses.total.item()):
        # scan the batch only now, to name the cause
        cause = _nonfinite_cause("DANN", x_source=x_source, x_target=x_target)
        if "NaN" not in cause:
            cause = f"DANN: lower the learning rate or lambda_={lambda_}"
        if step is None:
            raise ValueError(f"the DANN loss is {losses.total.item()}: {cause}")
        check_finite_loss(losses.total, step, cause)
    optimizer.zero_grad(set_to_none=True)
    losses.total.backward()
    optimizer.step()
    return {
        "total": losses.total.item(),
        "label": losses.label.item(),
        "domain": losses.domain.item(),
    }


def train_dann(
    features: nn.Module,
    label_head: nn.Module,
    domain_head: nn.Module,
    optimizer: torch.optim.Optimizer,
    source_batches: Iterable[Batch],
    target_batches: Iterable[Tensor | Sequence[Tensor]],
    *,
    steps: int,
    lambda_: float | Callable[[float], float] = dann_lambda,
    loss_fn: LossFn = F.cross_entropy,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> list[dict[str, float]]:
    """``steps`` DANN steps; λ is a constant or a function of progress p = k/steps.

    source_batches yields (x, y); target_batches yields x, or tuples whose
    first item is x (as a DataLoader over ``TensorDataset(x)`` does). Leaves
    the three modules in train mode. Returns per step the losses of
    ``dann_step`` and the λ used. ``progress=True`` shows a bar on stderr with
    the total and the domain loss of each step.
    """
    modules = (features, label_head, domain_head)
    for arg, m in zip(("features", "label_head", "domain_head"), modules, strict=True):
        check_module(arg, m)
    check_optimizer("optimizer", optimizer)
    check_int("steps", steps, low=1, example=1000)
    if not callable(lambda_):
        _check_lambda(lambda_)
    check_bool("progress", progress)
    for m in modules:
        m.train()
    device = _device(device, *modules)
    pairs = zip(
        cycle_batches(source_batches, steps),
        cycle_batches(target_batches, steps),
        strict=True,
    )
    history = []
    bar = progress_bar(progress, steps, "train_dann")
    for k, ((x_s, y_s), target) in enumerate(pairs):
        x_t = target if isinstance(target, Tensor) else target[0]
        lam = lambda_(k / steps) if callable(lambda_) else lambda_
        out = _step(
            *modules,
            optimizer,
            x_s.to(device),
            y_s.to(device),
            x_t.to(device),
            lambda_=lam,
            loss_fn=loss_fn,
            step=k,
        )
        history.append({**out, "lambda": lam})
        advance(bar, loss=out["total"], domain=out["domain"])
    bar.close()
    return history


def _check_lambda(lambda_: object) -> float:
    """λ >= 0: the gradient is multiplied by -λ; 0 cuts the domain signal off."""
    return check_real("lambda_", lambda_, low=0, example=1.0)


def _check_progress(p: object) -> float:
    """p, the training progress k / steps, in [0, 1]."""
    return check_real("p", p, low=0, high=1, example=0.5)
