"""Gradient aggregators: task gradients G: (K, P) → one update d: (P,).

Every method here returns a combination d = Σ_i w_i g_i of the task gradients
(the rows of G), and the weights w depend on G only through the Gram matrix
G Gᵀ: (K, K). So an aggregator is a *weighting* of the Gramian
(:meth:`Aggregator.weighting`) followed by d = wᵀG; the weights it used are kept
in ``aggregator.weights`` for weight-trace plots. The same weighting applied to
the Gramian of gradients with respect to a shared representation gives the cheap
"upper bound" variants (see :func:`mtlbook.multitask.gradients.mgda_ub_weights`).

Typical use, with ``task_gradients`` and ``set_gradients`` from
:mod:`mtlbook.multitask.gradients`::

    G = task_gradients(losses, shared)         # (K, P), K backward passes
    set_gradients(shared, aggregator(G))       # .grad of the shared parameters
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import Tensor

from mtlbook._validate import check_int, check_real
from mtlbook.multitask._checks import (
    check_gradient_matrix,
    check_gramian,
    raise_for_nonfinite_row,
)
from mtlbook.multitask.solvers import (
    aligned_mtl_matrix,
    cagrad_weights,
    dualproj_weights,
    imtl_g_weights,
    min_norm_weights,
    nash_weights,
    upgrad_weights,
)


class Aggregator(ABC):
    """Base class: ``aggregator(G)`` with G: (K, P) returns d = wᵀG: (P,).

    After each call ``weights``: (K,) float64 holds the task weights w it used.
    Subclasses implement ``_weights(M)`` on the float64 numpy Gram matrix M.
    """

    def __init__(self) -> None:
        self.weights: Tensor | None = None

    def __call__(self, G: Tensor) -> Tensor:
        """Aggregate; G: (K, P) one gradient per row → d: (P,) on G's device."""
        G = check_gradient_matrix(G)
        detached = G.detach()
        M = _float64_numpy(detached @ detached.T)
        if not np.isfinite(M).all():  # (K, K): far cheaper than scanning all of G
            raise_for_nonfinite_row(detached)
        w = torch.from_numpy(self._weights(M)).to(G.device)
        self.weights = w
        return w.to(G.dtype) @ G

    def weighting(self, gram: Tensor) -> Tensor:
        """Task weights from the Gramian; gram: (K, K) = G Gᵀ → w: (K,) float64."""
        M = _float64_numpy(check_gramian(gram))
        return torch.from_numpy(self._weights(M)).to(gram.device)

    @abstractmethod
    def _weights(self, M: np.ndarray) -> np.ndarray:
        """Weights: (K,) from the float64 Gram matrix M: (K, K)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Mean(Aggregator):
    """Equal weighting in gradient space: d = (1/K) Σ_i g_i, the mean gradient."""

    def __call__(self, G: Tensor) -> Tensor:
        """Mean gradient; G: (K, P) → d: (P,). Needs no Gramian."""
        G = check_gradient_matrix(G)
        w = self._cached_weights(G.shape[0], G.dtype, G.device)
        d = w @ G
        # a NaN or inf row spoils d (inf − inf = NaN too): check (P,), not (K, P)
        if not math.isfinite(float(d.detach().sum())):
            raise_for_nonfinite_row(G.detach())
        return d

    def _cached_weights(self, K: int, dtype: torch.dtype, device) -> Tensor:
        """1/K in G's dtype (the same bits as the float64 weights cast down)."""
        key = (K, dtype, device)
        if getattr(self, "_key", None) != key:
            self.weights = torch.full((K,), 1.0 / K, dtype=torch.float64, device=device)
            self._key, self._cast = key, self.weights.to(dtype)
        return self._cast

    def _weights(self, M: np.ndarray) -> np.ndarray:
        return np.full(M.shape[0], 1.0 / M.shape[0])


class MGDA(Aggregator):
    """MGDA (Sener & Koltun 2018): the min-norm point of the gradients' hull.

    d = Σ w_i g_i with w = argmin_{w ∈ Δ} ‖Σ w_i g_i‖² (eq. 3). If d ≠ 0 then
    g_i·d ≥ ‖d‖² > 0 for every task, so a small step along −d lowers every loss;
    d = 0 means the point is Pareto-stationary. Weights sum to 1.
    """

    def __init__(self, tol: float = 1e-10, max_iter: int = 1000) -> None:
        super().__init__()
        self.tol = check_real("tol", tol, low=0.0, example=1e-10)
        self.max_iter = check_int("max_iter", max_iter, low=1, example=1000)

    def _weights(self, M: np.ndarray) -> np.ndarray:
        return min_norm_weights(M, tol=self.tol, max_iter=self.max_iter)


class PCGrad(Aggregator):
    """PCGrad (Yu et al. 2020, Algorithm 1): project away conflicting components.

    For each task i, in a random order over the other tasks j: if g_i^PC·g_j < 0,
    g_i^PC ← g_i^PC − (g_i^PC·g_j / ‖g_j‖²) g_j; then d = Σ_i g_i^PC (a sum, as in
    the paper, so agreeing gradients give d = Σ_i g_i). Each g_i^PC stays a
    combination c_iᵀG of the task gradients, so the projections only need
    inner products: g_i^PC·g_j = (c_iᵀ M)_j. The weights are Σ_i c_i.
    ``generator`` draws the random orders (explicit, for reproducibility).
    """

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                "generator must be a torch.Generator, e.g. "
                f"torch.Generator().manual_seed(0); got {type(generator).__name__}"
            )
        self.generator = generator

    def _weights(self, M: np.ndarray) -> np.ndarray:
        K = M.shape[0]
        total = np.zeros(K)
        for i in range(K):
            c = np.zeros(K)
            c[i] = 1.0  # g_i^PC = g_i
            order = torch.randperm(
                K, generator=self.generator, device=self.generator.device
            )
            for j in order.tolist():
                dot = float(c @ M[:, j])  # g_i^PC · g_j
                if j != i and dot < 0.0 and M[j, j] > 0.0:
                    c[j] -= dot / M[j, j]
            total += c
        return total


class CAGrad(Aggregator):
    """CAGrad (Liu et al. 2021): the best worst-case direction near the mean.

    d = argmax_d min_i g_i·d subject to ‖d − g0‖ ≤ c‖g0‖, with g0 the mean
    gradient (eq. 4), solved through its dual on the simplex (eq. 5). c = 0 gives
    exactly the mean gradient; larger c trades average progress for the progress
    of the worst task. The paper's default is c = 0.5. (The authors' code also
    divides d by 1 + c²; that rescaling is left to the learning rate here.)
    """

    def __init__(self, c: float = 0.5, tol: float = 1e-10, max_iter: int = 1000):
        super().__init__()
        self.c = check_real("c", c, low=0.0, example=0.5)
        self.tol = check_real("tol", tol, low=0.0, example=1e-10)
        self.max_iter = check_int("max_iter", max_iter, low=1, example=1000)

    def _weights(self, M: np.ndarray) -> np.ndarray:
        return cagrad_weights(M, self.c, tol=self.tol, max_iter=self.max_iter)

    def __repr__(self) -> str:
        return f"CAGrad(c={self.c})"


class NashMTL(Aggregator):
    """Nash-MTL (Navon et al. 2022): the Nash bargaining solution among tasks.

    d = Σ α_i g_i with α > 0 making every task's gain times its weight the same.
    The paper writes it g_i·d = 1/α_i (eq. 6); here the Gramian M = G Gᵀ is
    first divided by its Frobenius norm, so α solves (M/‖M‖_F) α = 1/α and the
    update d satisfies g_i·d = ‖M‖_F / α_i. That is the paper's solution times
    √‖M‖_F (its α is this α / √‖M‖_F), so ‖d‖ scales like the gradients: d(λG) =
    λ d(G), whereas the paper's d does not change when every gradient is scaled.
    The authors' code divides the Gramian by ‖M‖_F for its solver too, but
    multiplies the factor back into its constraints, so it solves the paper's
    scale; the difference is a factor √‖M‖_F on the learning rate. The direction
    of d does not change when one task's loss is rescaled. A task whose gradient
    is exactly zero gains nothing from any d, so it has no bargaining weight: it
    gets α_i = 0 and the others are solved alone. If no direction helps every
    task (they are Pareto-stationary: 0 is in the gradients' hull, e.g. two
    opposite gradients) no α exists; every weight is then 0 and d = 0, no step
    (see :func:`~mtlbook.multitask.solvers.nash_weights`). Returns d = 0 if every
    gradient is zero.
    """

    def __init__(self, tol: float = 1e-10, max_iter: int = 500) -> None:
        super().__init__()
        self.tol = check_real("tol", tol, low=0.0, example=1e-10)
        self.max_iter = check_int("max_iter", max_iter, low=1, example=500)

    def _weights(self, M: np.ndarray) -> np.ndarray:
        norm = float(np.linalg.norm(M))
        alpha = np.zeros(M.shape[0])
        alive = np.flatnonzero(np.diag(M) > 0)
        if norm == 0.0:
            return alpha
        sub = M[np.ix_(alive, alive)] / norm
        alpha[alive] = nash_weights(sub, tol=self.tol, max_iter=self.max_iter)
        return alpha


class IMTLG(Aggregator):
    """IMTL-G (Liu et al. 2021): equal projections onto every unit task gradient.

    d = Σ α_i g_i with Σ α_i = 1 and d·g_i/‖g_i‖ equal for all tasks, in closed
    form (Section 3.2). No task's direction is favoured, whatever the gradient
    magnitudes. A task with an exactly zero gradient gets weight 0. When only
    d = 0 has equal projections (opposite gradients, or K > rank G in general
    position) every weight is 0; see :func:`~mtlbook.multitask.solvers.imtl_g_weights`.
    """

    def _weights(self, M: np.ndarray) -> np.ndarray:
        return imtl_g_weights(M)


class UPGrad(Aggregator):
    """UPGrad (Quinton & Rey 2024): the mean of the gradients' projections.

    Each task gradient g_i is projected onto the dual cone of the gradients,
    {x : g_j·x ≥ 0 for every task j}, and d is the mean of the K projections
    (:func:`~mtlbook.multitask.solvers.upgrad_weights`). The projections lie in
    the cone, so their mean does too: g_j·d ≥ 0, no task's loss rises to first
    order. A gradient that already conflicts with none is kept as it is, so
    non-conflicting gradients give the mean gradient; d(λG) = λ d(G) for λ > 0.
    """

    def _weights(self, M: np.ndarray) -> np.ndarray:
        return upgrad_weights(M)


class DualProj(Aggregator):
    """DualProj (Quinton & Rey 2024): the mean gradient projected on the cone.

    d is the point of the dual cone {x : g_j·x ≥ 0 for every task j} nearest
    the mean gradient g0 (:func:`~mtlbook.multitask.solvers.dualproj_weights`):
    g0 itself when it conflicts with no task, otherwise the smallest change of
    g0 that removes every conflict.
    """

    def _weights(self, M: np.ndarray) -> np.ndarray:
        return dualproj_weights(M)


class AlignedMTL(Aggregator):
    """Aligned-MTL (Senushkin et al. 2023): gradients with condition number 1.

    The Gramian G Gᵀ = V Λ Vᵀ gives the balance matrix B = √λ_min V Λ^(-1/2) Vᵀ
    (:func:`~mtlbook.multitask.solvers.aligned_mtl_matrix`); the aligned
    gradients Ĝ = B G have orthogonal principal components, all as long as the
    smallest one of G, and d is their mean, d = (1/K) 1ᵀ B G. A dominant task
    can no longer swamp the others, and the update shrinks with the weakest
    direction of G. Zero eigenvalues (K > rank G, a zero gradient) are left out.
    """

    def _weights(self, M: np.ndarray) -> np.ndarray:
        return aligned_mtl_matrix(M).mean(axis=0)


def _float64_numpy(gram: Tensor) -> np.ndarray:
    """The Gramian as a float64 numpy array on the CPU, for the small solvers."""
    return gram.detach().to(device="cpu", dtype=torch.float64).numpy()
