"""GradNorm (Chen et al. 2018): balance the tasks' gradient norms at one layer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import Tensor, nn

from mtlbook._validate import check_real
from mtlbook.multitask._adam import adam_step
from mtlbook.multitask.scalarizers import Scalarizer


class GradNorm(Scalarizer):
    """GradNorm: weights w that equalise the tasks' training rates (Algorithm 1).

    At each training call, with W the ``shared_params`` (the paper uses the last
    shared layer), G_i = ‖∇_W w_i L_i‖ = w_i ‖∇_W L_i‖, Ḡ = mean_i G_i, the
    relative inverse training rate r_i = L̃_i / mean_j L̃_j with L̃_i = L_i/L_i(0),
    the weights take one Adam step (rate ``lr``) on
    ``L_grad = Σ_i |G_i − Ḡ r_i^α|`` (eq. 2), with the target Ḡ r_i^α held constant,
    so ∂L_grad/∂w_i = sign(G_i − Ḡ r_i^α) ‖∇_W L_i‖. Then they are renormalised
    so that Σ w = K. A task that trains slowly (r_i > 1) gets a larger target and
    its weight grows; α sets how hard (the paper uses 1.5, 0.12 on its toy).

    The returned loss is Σ w_i(t) L_i with the weights before the update (which
    ``weights`` reports). The update needs K extra backward passes from the
    losses to W only, and happens only when autograd is on and the losses
    require grad (not during evaluation). L_i(0) is the first training call's.
    """

    # buffers (registered in __init__), declared for the type checker
    _weights: Tensor
    _applied: Tensor
    initial_losses: Tensor | None
    _exp_avg: Tensor
    _exp_avg_sq: Tensor
    _step: Tensor

    def __init__(
        self,
        n_tasks: int,
        shared_params: Iterable[Tensor],
        alpha: float = 1.5,
        lr: float = 0.025,
    ) -> None:
        super().__init__(n_tasks)
        if isinstance(shared_params, nn.Module | Tensor) or not isinstance(
            shared_params, Iterable
        ):
            raise TypeError(
                "shared_params must be a list of tensors, got "
                f"{type(shared_params).__name__}; e.g. "
                "model.last_shared_parameters() (the last shared layer)"
            )
        params = list(shared_params)
        if not all(isinstance(p, Tensor) for p in params):
            raise TypeError(
                "shared_params must hold tensors (parameters), e.g. "
                "model.last_shared_parameters()"
            )
        if not params or not all(p.requires_grad for p in params):
            raise ValueError(
                "shared_params must be a non-empty list of tensors that require "
                "grad, e.g. [model.trunk[-1].weight] (the last shared layer)"
            )
        for name, value in (("alpha", alpha), ("lr", lr)):
            check_real(name, value, low=0.0)
        self.shared_params = params  # a plain list: they belong to the model
        self.alpha, self.lr = float(alpha), float(lr)
        K = self.n_tasks
        self.register_buffer("_weights", torch.ones(K, dtype=torch.float64))
        self.register_buffer("_applied", torch.ones(K, dtype=torch.float64))
        self.register_buffer("initial_losses", None)
        self.register_buffer("_exp_avg", torch.zeros(K, dtype=torch.float64))
        self.register_buffer("_exp_avg_sq", torch.zeros(K, dtype=torch.float64))
        self.register_buffer("_step", torch.zeros((), dtype=torch.long))

    def combine(self, losses: Tensor) -> Tensor:
        """Σ_i w_i L_i with the weights before the update; losses: (K,) → ().

        The weights take their GradNorm step here, while training (autograd on
        and the losses requiring grad).
        """
        self._applied = self._weights.clone()
        if torch.is_grad_enabled() and losses.requires_grad:
            self._balance(losses)
        return (self._applied.to(losses) * losses).sum()

    def _balance(self, losses: Tensor) -> None:
        """One GradNorm step on the weights (Algorithm 1, lines 5-10)."""
        norm_list: list[Tensor] = []
        for i, loss in enumerate(losses):
            grads = torch.autograd.grad(
                loss, self.shared_params, retain_graph=True, allow_unused=True
            )
            if all(g is None for g in grads):
                raise ValueError(
                    f"losses[{i}] does not depend on shared_params; pass the last "
                    "layer that every task shares"
                )
            # a Tensor: at least one g is not None (checked above)
            squares = cast(
                Tensor, sum(g.double().pow(2).sum() for g in grads if g is not None)
            )
            norm_list.append(torch.sqrt(squares))
        norms = torch.stack(norm_list).to(self._weights)  # ‖∇_W L_i‖
        current = losses.detach().to(self._weights)
        if self.initial_losses is None:
            if (current <= 0).any():
                raise ValueError(
                    "GradNorm needs positive initial task losses (it divides by "
                    f"L_i(0)); got {current.tolist()}"
                )
            self.initial_losses = current.clone()
        ratio = current / self.initial_losses  # L̃_i
        rate = ratio / ratio.mean()  # r_i
        G = self._weights * norms
        target = G.mean() * rate**self.alpha
        grad = torch.sign(G - target) * norms
        adam_step(
            self._weights, grad, self._exp_avg, self._exp_avg_sq, self._step, self.lr
        )
        # keep the weights positive, then Σ w = K
        self._weights.clamp_(min=1e-8)
        self._weights.mul_(self.n_tasks / self._weights.sum())

    @property
    def extra_backward_passes(self) -> int:
        """One pass per task loss to the shared layer (K in all), per training call."""
        return self.n_tasks

    @property
    def weights(self) -> Tensor:
        """Weights the latest call applied (before its update); Σ w = K."""
        return self._applied.detach().clone()

    def extra_repr(self) -> str:
        """The constructor arguments that ``repr`` shows."""
        return f"n_tasks={self.n_tasks}, alpha={self.alpha}, lr={self.lr}"
