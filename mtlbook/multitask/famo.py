"""FAMO (Liu et al. 2023): balanced loss decrease at O(1) cost per step."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mtlbook._validate import check_real
from mtlbook.multitask._adam import adam_step
from mtlbook.multitask._checks import check_losses
from mtlbook.multitask.scalarizers import Scalarizer

_EPS = 1e-8  # keeps log(L − L*) finite at the minimum, as in the authors' code


class FAMO(Scalarizer):
    """Fast Adaptive Multitask Optimization: logits ξ, task weights z = softmax(ξ).

    The loss is Σ_i z_i log(L_i − L*_i) / c with c = Σ_i z_i/(L_i − L*_i) held
    constant, so its gradient is Σ_i z_i ∇L_i / (c (L_i − L*_i)), a combination
    of the task gradients with weights that sum to 1, from one backward pass.
    After the optimiser step, ``after_step`` gets the losses on the same batch and
    updates the logits with the change of the log losses,
    δ = J_zᵀ [log(L(t) − L*) − log(L(t+1) − L*)] with J_z = diag(z) − z zᵀ, by one
    Adam step on δ + γξ (Algorithm 1; Adam and the defaults lr = 0.025,
    γ = 0.01 as in the authors' code). A task whose log loss fell more than the
    others' loses weight. ``min_losses``: (K,) are lower bounds L* of the losses
    (0 by default; the toy problems with negative losses need them).
    """

    needs_losses_after_step = True
    # buffers (registered in __init__), declared for the type checker
    min_losses: Tensor
    logits: Tensor
    _previous: Tensor | None
    _exp_avg: Tensor
    _exp_avg_sq: Tensor
    _step: Tensor

    def __init__(
        self,
        n_tasks: int,
        lr: float = 0.025,
        gamma: float = 0.01,
        min_losses: Sequence[float] | Tensor | None = None,
    ) -> None:
        super().__init__(n_tasks)
        for name, value in (("lr", lr), ("gamma", gamma)):
            check_real(name, value, low=0.0)
        self.lr, self.gamma = float(lr), float(gamma)
        K = self.n_tasks
        floor = torch.zeros(K) if min_losses is None else torch.as_tensor(min_losses)
        floor = check_losses(floor.to(torch.float64), K, name="min_losses")
        self.register_buffer("min_losses", floor.detach().clone())
        self.register_buffer("logits", torch.zeros(K, dtype=torch.float64))  # ξ
        self.register_buffer("_previous", None)  # L(t), kept for after_step
        self.register_buffer("_exp_avg", torch.zeros(K, dtype=torch.float64))
        self.register_buffer("_exp_avg_sq", torch.zeros(K, dtype=torch.float64))
        self.register_buffer("_step", torch.zeros((), dtype=torch.long))

    def _log_gaps(self, losses: Tensor, name: str) -> Tensor:
        """log(L − L* + ε): (K,), after checking L ≥ L*."""
        gaps = losses - self.min_losses.to(losses)
        if (gaps.detach() < 0).any():
            raise ValueError(
                f"{name} {losses.detach().tolist()} fall below min_losses "
                f"{self.min_losses.tolist()}; pass lower bounds of the losses"
            )
        return torch.log(gaps + _EPS)

    def combine(self, losses: Tensor) -> Tensor:
        """FAMO's loss Σ_i z_i log(L_i − L*_i + ε) / c; losses: (K,) → ().

        c = Σ_i z_i / (L_i − L*_i + ε) is held constant. The losses are kept for
        the ``after_step`` that follows.
        """
        log_gaps = self._log_gaps(losses, "losses")
        z = torch.softmax(self.logits, dim=0).to(losses)
        c = (z / torch.exp(log_gaps)).sum().detach()
        self._previous = losses.detach().to(self.logits).clone()
        return (z * log_gaps).sum() / c

    @torch.no_grad()
    def after_step(self, losses: Tensor) -> None:
        """Update ξ from the losses: (K,) on the same batch after the step."""
        losses = check_losses(losses, self.n_tasks)
        if self._previous is None:
            raise RuntimeError(
                "after_step needs the losses of a forward call first: call "
                "famo(losses) before the optimiser step, then after_step"
            )
        before = self._log_gaps(self._previous, "previous losses")
        after = self._log_gaps(losses.detach().to(self.logits), "losses")
        delta = before - after  # how much each task's log loss fell
        z = torch.softmax(self.logits, dim=0)
        grad = z * (delta - (z * delta).sum())  # J_zᵀ δ, J_z = diag(z) − z zᵀ
        grad = grad + self.gamma * self.logits
        adam_step(
            self.logits, grad, self._exp_avg, self._exp_avg_sq, self._step, self.lr
        )
        self._previous = None

    @property
    def weights(self) -> Tensor:
        """Task weights z = softmax(ξ), of shape (K,); Σ z = 1."""
        return torch.softmax(self.logits, dim=0).detach()

    def extra_repr(self) -> str:
        """The constructor arguments that ``repr`` shows."""
        return f"n_tasks={self.n_tasks}, lr={self.lr}, gamma={self.gamma}"
