"""Loss scalarizers: a vector of task losses (K,) → one scalar loss.

A scalarizer is an ``nn.Module``; in a training loop it is used like this::

    loss = scalarizer(losses)          # losses: (K,) → loss: ()
    loss.backward()
    optimizer.step()                   # include scalarizer.parameters()
    if scalarizer.needs_losses_after_step:          # FAMO
        with torch.no_grad():
            scalarizer.after_step(task_losses_on_the_same_batch)
    ...
    scalarizer.end_epoch(mean_task_losses_of_the_epoch)   # DWA; no-op otherwise

``scalarizer.weights``: (K,) are the task weights its latest call applied, for
weight-trace plots. A scalarizer declares what the loop owes it, so the loop
never tests its type: ``needs_losses_after_step`` (FAMO) and
``extra_backward_passes`` (GradNorm's K, for the pass count). Learnable weights
(uncertainty weighting) are parameters, so the model's optimiser trains them;
weights with their own update rule (GradNorm, FAMO, DWA) are buffers. This
module holds the simple ones; GradNorm and FAMO have their own files.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from mtlbook._validate import check_int, check_real, check_torch_generator
from mtlbook.multitask._checks import check_losses, check_n_tasks


class Scalarizer(nn.Module):
    """Base class: ``scalarizer(losses)``, losses: (K,) → scalar loss: ()."""

    #: True if the loop must call ``after_step`` with the losses after each step.
    needs_losses_after_step: ClassVar[bool] = False

    @property
    def extra_backward_passes(self) -> int:
        """Autograd passes a training call runs itself, besides the loss's own.

        The training loop only counts them (GradNorm: K); 0 by default.
        """
        return 0

    def __init__(self, n_tasks: int) -> None:
        super().__init__()
        self.n_tasks = check_n_tasks(n_tasks)

    def forward(self, losses: Tensor) -> Tensor:
        """Combine the task losses; losses: (K,) → ()."""
        return self.combine(check_losses(losses, self.n_tasks))

    def combine(self, losses: Tensor) -> Tensor:
        """The method itself, on validated losses: (K,) → ()."""
        raise NotImplementedError

    @property
    def weights(self) -> Tensor:
        """(K,) detached task weights of the latest call.

        For methods whose weights move between calls (uncertainty weighting, DWA,
        FAMO) these are the current weights, i.e. those the next call applies.
        """
        raise NotImplementedError

    def after_step(self, losses: Tensor) -> None:
        """Observe the task losses (K,) after the optimiser step; no-op by default."""
        check_losses(losses, self.n_tasks)

    def end_epoch(self, losses: Tensor) -> None:
        """Observe the epoch's mean task losses (K,); no-op by default."""
        check_losses(losses, self.n_tasks)

    def extra_repr(self) -> str:
        """The constructor arguments that ``repr`` shows."""
        return f"n_tasks={self.n_tasks}"


class StaticWeights(Scalarizer):
    """Fixed weights: L = Σ_i w_i L_i; weights: (K,) finite, ≥ 0, not all zero.

    The seed article's "minimum generalization error" model: a weighted sum of
    the task losses, with weights chosen by hand or on validation data
    (:func:`select_static_weights`).
    """

    _weights: Tensor  # a buffer, declared for the type checker

    def __init__(self, weights: Sequence[float] | Tensor) -> None:
        if isinstance(weights, str | bytes) or not isinstance(
            weights, Tensor | np.ndarray | Sequence
        ):
            raise TypeError(
                f"weights must be a sequence of floats (one per task), got "
                f"{type(weights).__name__}; e.g. StaticWeights([1.0, 0.5])"
            )
        w = torch.as_tensor(weights, dtype=torch.float64).detach().clone()
        if w.ndim != 1 or w.numel() == 0:
            raise ValueError(
                f"weights must be a non-empty 1-D sequence (one per task), "
                f"got shape {tuple(w.shape)}; the task list cannot be empty"
            )
        if not torch.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
            raise ValueError(
                f"weights={w.tolist()} must be finite, >= 0 and not all zero"
            )
        super().__init__(w.numel())
        self.register_buffer("_weights", w)

    def combine(self, losses: Tensor) -> Tensor:
        """Σ_i w_i L_i; losses: (K,) → ()."""
        return (self._weights.to(losses) * losses).sum()

    @property
    def weights(self) -> Tensor:
        """The fixed weights w, (K,), as a detached copy."""
        return self._weights.detach().clone()


class EqualWeights(StaticWeights):
    """Equal weighting: L = Σ_i L_i (every w_i = 1, Σ w = K).

    Its gradient is K times the mean gradient of the ``Mean`` aggregator.
    """

    def __init__(self, n_tasks: int) -> None:
        super().__init__(torch.ones(check_n_tasks(n_tasks), dtype=torch.float64))


def simplex_grid(n_tasks: int, resolution: int) -> Tensor:
    """All weight vectors with entries in {0, 1/r, ..., 1}·K summing to K.

    Returns (C(r + K − 1, K − 1), K) float64, r = ``resolution``; e.g. K = 2,
    r = 4 gives w_0 ∈ {0, 0.5, 1, 1.5, 2} with w_1 = 2 − w_0.
    """
    check_n_tasks(n_tasks)
    check_int("resolution", resolution, low=1, example=4)
    rows = []
    # stars and bars: K − 1 bar positions among r + K − 1 slots
    for bars in itertools.combinations(range(resolution + n_tasks - 1), n_tasks - 1):
        edges = (-1, *bars, resolution + n_tasks - 1)
        rows.append([edges[k + 1] - edges[k] - 1 for k in range(n_tasks)])
    counts = torch.tensor(rows, dtype=torch.float64)
    return counts * (n_tasks / resolution)


def select_static_weights(
    candidates: Tensor, validation_loss: Callable[[Tensor], float]
) -> tuple[StaticWeights, Tensor]:
    """Pick the candidate weights with the lowest validation loss.

    candidates: (n, K), e.g. ``simplex_grid(K, r)``; ``validation_loss(w)`` trains
    with ``StaticWeights(w)`` and returns the validation loss (a float). Returns
    the best ``StaticWeights`` and the scores: (n,). A non-finite score (a run that
    diverged) ranks last; ties go to the first candidate.
    """
    if not isinstance(candidates, Tensor):
        raise TypeError(
            f"candidates must be a (n, K) tensor of weight vectors, got "
            f"{type(candidates).__name__}; e.g. simplex_grid(n_tasks, resolution)"
        )
    if not callable(validation_loss):
        raise TypeError(
            f"validation_loss must be a function w -> float, got "
            f"{type(validation_loss).__name__}"
        )
    if candidates.ndim != 2:
        raise ValueError(
            "candidates must be a (n, K) tensor of weight vectors, "
            "e.g. simplex_grid(n_tasks, resolution)"
        )
    if candidates.shape[0] == 0:
        raise ValueError("candidates is empty; pass at least one weight vector")
    scores = torch.tensor(
        [float(validation_loss(w.clone())) for w in candidates], dtype=torch.float64
    )
    finite = torch.isfinite(scores)
    if not finite.any():
        raise ValueError(
            "validation_loss returned no finite score: every candidate diverged; "
            "lower the learning rate"
        )
    best = int(torch.where(finite, scores, math.inf).argmin())
    return StaticWeights(candidates[best]), scores


class UncertaintyWeighting(Scalarizer):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla 2018).

    L = Σ_i [ L_i / (2σ_i²) + log σ_i ] (eq. 7), with learnable s_i = log σ_i²
    (the parameter ``log_vars``: (K,), initialised at 0, trained by the model's
    optimiser). For a fixed L_i the optimum is σ_i² = L_i, so a task's weight
    1/(2σ_i²) falls as its loss grows. Needs non-negative task losses.
    """

    def __init__(self, n_tasks: int) -> None:
        super().__init__(n_tasks)
        self.log_vars = nn.Parameter(torch.zeros(self.n_tasks))

    def combine(self, losses: Tensor) -> Tensor:
        """Σ_i [ L_i / (2σ_i²) + log σ_i ]; losses: (K,), all ≥ 0 → ()."""
        if (losses.detach() < 0).any():
            raise ValueError(
                "UncertaintyWeighting needs non-negative task losses (the optimum "
                "is σ² = L); shift the losses or use another scalarizer"
            )
        s = self.log_vars.to(losses)
        return (0.5 * torch.exp(-s) * losses + 0.5 * s).sum()

    @property
    def weights(self) -> Tensor:
        """The current weights 1/(2σ_i²), (K,), detached."""
        return 0.5 * torch.exp(-self.log_vars.detach())


class DWA(Scalarizer):
    """Dynamic weight average (Liu, Johns & Davison 2019, eq. 7).

    w_k(t) = K exp(r_k(t−1)/T) / Σ_i exp(r_i(t−1)/T), r_k(t−1) = L_k(t−1)/L_k(t−2),
    with L_k the mean loss of task k over an epoch (fed by ``end_epoch``). Until
    two epochs have been seen every w_k = 1. Σ w = K; the paper uses T = 2.
    """

    # buffers (registered in __init__), declared for the type checker
    history: Tensor
    epochs_seen: Tensor

    def __init__(self, n_tasks: int, temperature: float = 2.0) -> None:
        super().__init__(n_tasks)
        check_real("temperature", temperature, low=0.0, low_open=True, example=2.0)
        self.temperature = float(temperature)
        self.register_buffer(
            "history", torch.zeros(2, self.n_tasks, dtype=torch.float64)
        )
        self.register_buffer("epochs_seen", torch.zeros((), dtype=torch.long))

    def combine(self, losses: Tensor) -> Tensor:
        """Σ_k w_k(t) L_k with the current weights; losses: (K,) → ()."""
        return (self.weights.to(losses) * losses).sum()

    @property
    def weights(self) -> Tensor:
        """The current weights w(t), (K,); all 1 until two epochs are seen."""
        if int(self.epochs_seen) < 2:
            return torch.ones(
                self.n_tasks, dtype=torch.float64, device=self.history.device
            )
        ratio = self.history[1] / self.history[0]  # L(t−1) / L(t−2)
        return self.n_tasks * torch.softmax(ratio / self.temperature, dim=0)

    def end_epoch(self, losses: Tensor) -> None:
        """Record the epoch's mean task losses: (K,), all > 0."""
        losses = check_losses(losses, self.n_tasks)
        if (losses.detach() <= 0).any():
            raise ValueError(
                "DWA needs positive epoch losses (it divides by them); "
                f"got {losses.detach().tolist()}"
            )
        self.history[0] = self.history[1]
        self.history[1] = losses.detach().to(self.history)
        self.epochs_seen += 1


class RandomLossWeighting(Scalarizer):
    """Random loss weighting (Lin et al. 2022): fresh random weights every call.

    w = softmax(λ̃), λ̃ ~ N(0, I_K) drawn from ``generator`` at each call, so
    Σ w = 1 (the paper's scale) and E[w_k] = 1/K.
    """

    _last: Tensor  # a buffer, declared for the type checker

    def __init__(self, n_tasks: int, generator: torch.Generator) -> None:
        super().__init__(n_tasks)
        self.generator = check_torch_generator("generator", generator)
        self.register_buffer(
            "_last",
            torch.full((self.n_tasks,), 1.0 / self.n_tasks, dtype=torch.float64),
        )

    def combine(self, losses: Tensor) -> Tensor:
        """Σ_k w_k L_k with freshly drawn weights; losses: (K,) → ()."""
        logits = torch.randn(
            self.n_tasks,
            generator=self.generator,
            device=self.generator.device,
            dtype=torch.float64,
        )
        self._last = torch.softmax(logits, dim=0).to(self._last.device)
        return (self._last.to(losses) * losses).sum()

    @property
    def weights(self) -> Tensor:
        """The weights drawn by the latest call (1/K before the first call)."""
        return self._last.detach().clone()


class SmoothTchebycheff(Scalarizer):
    """Smooth Tchebycheff scalarisation, STCH (Lin et al. 2024, eq. 9).

    L = μ log Σ_i exp(λ_i (L_i − z_i) / μ) with preferences λ: (K,) > 0, the
    ideal point z: (K,) (a lower bound of each loss, 0 by default) and the
    smoothing μ > 0. It is the log-sum-exp smoothing of the Tchebycheff
    scalarisation T = max_i λ_i (L_i − z_i): T ≤ L ≤ T + μ log K, so μ → 0
    gives T. Minimising T over the preferences reaches every Pareto-optimal
    point, on convex and concave parts of the front alike, which no weighted
    sum can; the smoothing keeps L differentiable. The weights applied to the
    losses are ∂L/∂L_i = λ_i softmax(λ(L − z)/μ)_i.
    """

    _preferences: Tensor  # buffers, declared for the type checker
    _ideal: Tensor
    _last: Tensor

    def __init__(
        self,
        preferences: Sequence[float] | Tensor,
        mu: float = 0.1,
        ideal: Sequence[float] | Tensor | None = None,
    ) -> None:
        lam = _vector("preferences", preferences, "SmoothTchebycheff([0.5, 0.5])")
        if (lam <= 0).any():
            raise ValueError(
                f"preferences={lam.tolist()} must all be > 0 (one per task)"
            )
        super().__init__(lam.numel())
        check_real("mu", mu, low=0.0, low_open=True, example=0.1)
        self.mu = float(mu)
        z = torch.zeros_like(lam) if ideal is None else _vector("ideal", ideal, "")
        if z.shape != lam.shape:
            raise ValueError(
                f"ideal has {z.numel()} entries for {lam.numel()} preferences; "
                "pass one lower bound per task"
            )
        self.register_buffer("_preferences", lam)
        self.register_buffer("_ideal", z)
        self.register_buffer("_last", lam / lam.numel())

    def combine(self, losses: Tensor) -> Tensor:
        """μ log Σ_i exp(λ_i (L_i − z_i) / μ); losses: (K,) → ()."""
        scaled = self._preferences.to(losses) * (losses - self._ideal.to(losses))
        self._last = (
            self._preferences * torch.softmax(scaled.detach().double() / self.mu, 0)
        ).to(self._last.device)
        return self.mu * torch.logsumexp(scaled / self.mu, dim=0)

    @property
    def weights(self) -> Tensor:
        """∂L/∂L_i of the latest call, (K,) (λ/K before the first call)."""
        return self._last.detach().clone()

    def extra_repr(self) -> str:
        """The preferences and μ."""
        return f"preferences={self._preferences.tolist()}, mu={self.mu}"


def _vector(name: str, values: object, example: str) -> Tensor:
    """A non-empty 1-D finite float64 tensor from a sequence of floats."""
    if isinstance(values, str | bytes) or not isinstance(
        values, Tensor | np.ndarray | Sequence
    ):
        hint = f"; e.g. {example}" if example else ""
        raise TypeError(
            f"{name} must be a sequence of floats (one per task), got "
            f"{type(values).__name__}{hint}"
        )
    try:
        v = torch.as_tensor(values, dtype=torch.float64).detach().clone()
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must hold numbers only: {error}") from None
    if v.ndim != 1 or v.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence (one per task), got shape "
            f"{tuple(v.shape)}"
        )
    if not torch.isfinite(v).all():
        raise ValueError(f"{name}={v.tolist()} must be finite")
    return v
