"""The backward pass(es) of one training iteration, one small object per method.

:func:`~mtlbook.multitask.train.train_multitask` computes the K task losses and
hands them to a :class:`TrainingStep`, which fills ``.grad`` for the optimiser:

* :class:`ScalarizedStep`: a scalarizer turns the losses into one loss, one
  backward pass (plus whatever extra passes the scalarizer declares);
* :class:`RepresentationStep`: an aggregator's weights computed from the
  gradients with respect to the shared representation (MGDA-UB), then one
  backward pass of the weighted losses;
* :class:`JacobianStep`: K backward passes to the shared parameters, and the
  aggregator's combination of those K gradients.

:func:`training_step` builds the right one from ``train_multitask``'s arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, cast

import torch
from torch import Tensor, nn

from mtlbook.multitask.aggregators import Aggregator
from mtlbook.multitask.gradients import representation_gramian, set_gradients
from mtlbook.multitask.scalarizers import Scalarizer

Regularizer = Callable[[nn.Module], Tensor]


@dataclass(frozen=True)
class StepResult:
    """What one step did.

    The task weights it applied, (K,); the autograd passes it ran; and the task
    gradients G: (K, P) of the shared parameters when it computed them anyway
    (:class:`JacobianStep`), else None.
    """

    weights: Tensor
    backward_passes: int
    gradients: Tensor | None = None


class TrainingStep:
    """Base class: ``step(terms, losses)`` runs the backward pass(es) of one step.

    terms: the K scalar task losses as a list (before stacking, so that task k's
    backward pass runs only head k's backward); losses: the same stacked, (K,).
    """

    #: True if ``step`` returns the task gradients of the shared parameters, so
    #: the loop's diagnostics need not compute them again.
    computes_task_gradients: ClassVar[bool] = False

    def step(self, terms: list[Tensor], losses: Tensor) -> StepResult:
        """Fill ``.grad`` of the parameters; the optimiser steps afterwards."""
        raise NotImplementedError

    def after_step(self, losses_after: Callable[[], Tensor]) -> None:
        """After the optimiser step; a no-op unless the method needs it (FAMO).

        ``losses_after()`` recomputes the losses (K,) on the same batch.
        """

    def end_epoch(self, mean_losses: Tensor) -> None:
        """The epoch's mean task losses (K,) (DWA); a no-op by default."""


def _backward(loss: Tensor, model: nn.Module, regularizer: Regularizer | None) -> None:
    """One backward pass of ``loss`` plus the regularizer, if any."""
    if regularizer is not None:
        loss = loss + regularizer(model)
    loss.backward()


class ScalarizedStep(TrainingStep):
    """A scalarizer's loss, one backward pass.

    The scalarizer declares what else it needs, so this class never asks which
    method it holds: ``extra_backward_passes`` (GradNorm's K, only counted) and
    ``needs_losses_after_step`` (FAMO); ``end_epoch`` is always forwarded (DWA).
    """

    def __init__(
        self, scalarizer: Scalarizer, model: nn.Module, regularizer: Regularizer | None
    ) -> None:
        self.scalarizer, self.model, self.regularizer = scalarizer, model, regularizer

    def step(self, terms: list[Tensor], losses: Tensor) -> StepResult:
        """Backward of scalarizer(losses) (+ regularizer)."""
        _backward(self.scalarizer(losses), self.model, self.regularizer)
        passes = 1 + self.scalarizer.extra_backward_passes
        return StepResult(self.scalarizer.weights, passes)

    def after_step(self, losses_after: Callable[[], Tensor]) -> None:
        """Feed the scalarizer the losses after the step, if it asked for them."""
        if self.scalarizer.needs_losses_after_step:
            with torch.no_grad():
                self.scalarizer.after_step(losses_after())

    def end_epoch(self, mean_losses: Tensor) -> None:
        """Forward the epoch's mean losses to the scalarizer (a no-op but DWA's)."""
        self.scalarizer.end_epoch(mean_losses)


class RepresentationStep(TrainingStep):
    """Aggregator weights from ∂L_k/∂z, z the shared representation (MGDA-UB).

    The weights cost backward passes through the heads only; then one ordinary
    backward pass of Σ_k w_k L_k (+ regularizer) trains every parameter.
    """

    def __init__(
        self, aggregator: Aggregator, model: nn.Module, regularizer: Regularizer | None
    ) -> None:
        self.aggregator, self.model, self.regularizer = aggregator, model, regularizer

    def step(self, terms: list[Tensor], losses: Tensor) -> StepResult:
        """Weights from the representation's Gramian; backward of the weighted sum."""
        representation = self._representation()
        weights = self.aggregator.weighting(
            representation_gramian(terms, representation)
        )
        self.aggregator.weights = weights
        _backward((weights.to(losses) * losses).sum(), self.model, self.regularizer)
        # The weighted backward, plus one call (views) or K (shared tensor).
        passes = 2 if isinstance(representation, list) else len(terms) + 1
        return StepResult(weights, passes)

    def _representation(self) -> Tensor | list[Tensor]:
        """Per-task views of z when the model has them (one backward call), else z."""
        representation = getattr(self.model, "task_representations", None)
        if representation is None:
            representation = getattr(self.model, "representation", None)
        if representation is None:
            raise ValueError(
                "use_representation=True needs model.representation, the shared "
                "output that every head reads (a model with a shared trunk)"
            )
        return representation


class JacobianStep(TrainingStep):
    """K backward passes; the aggregator combines the K shared-parameter gradients.

    The shared parameters get the aggregated update; the others get Σ_k w_k ∇L_k
    with the aggregator's weights (so ``Mean`` is exactly mean-loss training).
    The regularizer's gradient is added by one more backward pass.
    """

    computes_task_gradients = True

    def __init__(
        self,
        aggregator: Aggregator,
        model: nn.Module,
        regularizer: Regularizer | None,
        shared: list[Tensor],
    ) -> None:
        self.aggregator, self.model, self.regularizer = aggregator, model, regularizer
        self.shared = shared
        shared_ids = {id(p) for p in shared}
        self.rest = [
            p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids
        ]

    def step(self, terms: list[Tensor], losses: Tensor) -> StepResult:
        """Aggregate the task gradients into ``.grad`` (+ the regularizer's)."""
        G, rest_grads = self._task_gradients(terms)
        set_gradients(self.shared, self.aggregator(G))
        weights = self.aggregator.weights
        assert weights is not None  # every Aggregator call sets them
        for i, p in enumerate(self.rest):
            total = sum(float(weights[k]) * rest_grads[k][i] for k in range(len(terms)))
            p.grad = cast(Tensor, total).detach()
        passes = len(terms)
        if self.regularizer is not None:
            self.regularizer(self.model).backward()  # adds to the aggregated .grad
            passes += 1
        return StepResult(weights, passes, G)

    def _task_gradients(self, terms: list[Tensor]) -> tuple[Tensor, list[list[Tensor]]]:
        """G: (K, P) of the shared parameters and, per task, the other gradients."""
        params, n_shared, K = self.shared + self.rest, len(self.shared), len(terms)
        rows: list[Tensor] = []
        rest_grads: list[list[Tensor]] = []
        for k in range(K):
            found = torch.autograd.grad(
                terms[k], params, retain_graph=k < K - 1, allow_unused=True
            )
            grads = [
                torch.zeros_like(p) if g is None else g
                for p, g in zip(params, found, strict=True)
            ]
            rows.append(torch.cat([g.reshape(-1) for g in grads[:n_shared]]))
            rest_grads.append(grads[n_shared:])
        return torch.stack(rows), rest_grads


def shared_parameters(model: nn.Module) -> list[Tensor]:
    """The model's trainable ``shared_parameters()``, with a clear error if absent."""
    getter = getattr(model, "shared_parameters", None)
    if getter is None:
        raise ValueError(
            "this needs the model's shared_parameters(); use a model from "
            "mtlbook.multitask.models or add that method"
        )
    return [p for p in getter() if p.requires_grad]


def training_step(
    model: nn.Module,
    scalarizer: Scalarizer | None,
    aggregator: Aggregator | None,
    use_representation: bool,
    regularizer: Regularizer | None,
) -> TrainingStep:
    """The step for ``train_multitask``'s (already validated) arguments."""
    if scalarizer is not None:
        return ScalarizedStep(scalarizer, model, regularizer)
    assert aggregator is not None  # train_multitask checks that one of them is set
    if use_representation:
        return RepresentationStep(aggregator, model, regularizer)
    shared = shared_parameters(model)
    if not shared:
        raise ValueError(
            "the model has no shared parameters (e.g. shared_depth=0), so there "
            "is nothing to aggregate; use a scalarizer"
        )
    return JacobianStep(aggregator, model, regularizer, shared)
