"""Pre-train, then probe: the few-shot baselines that meta-learners must beat.

Chen et al. (2019) pre-train a network on all training classes with ordinary
cross-entropy and, for a new episode, train only a new classifier on the
support embeddings: a linear one (*Baseline*) or a cosine one (*Baseline++*),
whose logits ``s · cos(z, w_c)`` ignore the length of the features and of the
class weights (§3.2). Tian et al. (2020) fit an L2-regularised multinomial
logistic regression on L2-normalised embeddings (§3). None of them
meta-learns anything; the quality of the embedding does the work.

Every probe takes one episode's frozen embeddings ``z_support: (n, d)`` and
labels ``(n,)`` and returns what scores the queries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook._validate import (
    check_int,
    check_labels,
    check_real,
    check_same_length,
    check_tensor,
)

__all__ = [
    "CosineClassifier",
    "cosine_logits",
    "cosine_probe",
    "linear_probe",
    "logistic_probe",
]

_EPS = 1e-12  # a zero vector has cosine 0 with everything, not NaN


def _unit(x: Tensor) -> Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def cosine_logits(z: Tensor, weight: Tensor, scale: float | Tensor) -> Tensor:
    """s · cos(z_i, w_c) for every row z_i and class c (Chen et al. §3.2): (n, n_way).

    z: (n, d); weight: (n_way, d). Multiplying a row of z or of weight by a
    positive number changes nothing; a zero row scores 0 against every class.
    """
    check_tensor("z", z, ndim=2, floating=True)
    check_tensor("weight", weight, ndim=2, floating=True)
    if z.shape[1] != weight.shape[1]:
        raise ValueError(
            f"z has {z.shape[1]} features but weight has {weight.shape[1]}; "
            "weight must be (n_way, features)"
        )
    if not isinstance(scale, Tensor):
        check_real("scale", scale, low=0.0, low_open=True, example=10.0)
    return scale * _unit(z) @ _unit(weight).T


class CosineClassifier(nn.Module):
    """Baseline++'s head: ``cosine_logits(z, self.weight, scale)``: (batch, n_classes).

    The weight starts like nn.Linear's (drawn from torch's global generator).
    """

    def __init__(self, in_features: int, n_classes: int, scale: float = 10.0) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, low=1, example=64)
        n_classes = check_int("n_classes", n_classes, low=1, example=5)
        self.scale = check_real("scale", scale, low=0.0, low_open=True, example=10.0)
        self.weight = nn.Parameter(torch.empty(n_classes, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Linear's default

    def forward(self, z: Tensor) -> Tensor:
        """z: (batch, in_features) -> (batch, n_classes)."""
        return cosine_logits(z, self.weight, self.scale)


def _episode(z_support: Tensor, y_support: Tensor, n_way: int) -> int:
    n_way = check_int("n_way", n_way, low=1, example=5)
    check_tensor("z_support", z_support, ndim=2, floating=True, finite=True)
    check_tensor("y_support", y_support, ndim=1)
    check_same_length(("z_support", "y_support"), z_support, y_support)
    check_labels("y_support", y_support, n_way)
    if len(y_support) == 0:
        raise ValueError("z_support is empty; an episode needs support examples")
    return n_way


def linear_probe(
    z_support: Tensor, y_support: Tensor, n_way: int, *, steps: int, lr: float
) -> tuple[Tensor, Tensor]:
    """Baseline: a new linear head, zero at the start, fit by gradient descent.

    ``steps`` full-batch steps of rate ``lr`` on the mean support cross-entropy
    (Chen et al. §3.1, fine-tuning stage). Returns weight (n_way, d) and bias
    (n_way,); query logits are ``z_query @ weight.T + bias``.
    """
    n_way = _episode(z_support, y_support, n_way)
    steps = check_int("steps", steps, low=0, example=100)
    lr = check_real("lr", lr, low=0.0, low_open=True, example=1.0)
    z = z_support.detach()
    w = z.new_zeros(n_way, z.shape[1], requires_grad=True)
    b = z.new_zeros(n_way, requires_grad=True)
    for _ in range(steps):
        loss = F.cross_entropy(z @ w.T + b, y_support)
        gw, gb = torch.autograd.grad(loss, (w, b))
        with torch.no_grad():
            w -= lr * gw
            b -= lr * gb
    return w.detach(), b.detach()


def cosine_probe(
    z_support: Tensor,
    y_support: Tensor,
    n_way: int,
    *,
    scale: float,
    steps: int,
    lr: float,
) -> Tensor:
    """Baseline++: a new cosine head fit by gradient descent; weight (n_way, d).

    The head starts at the class means of the unit-length support embeddings
    (with 0 steps it is the nearest-centroid rule under cosine similarity);
    each of ``steps`` full-batch steps of rate ``lr`` lowers the mean support
    cross-entropy of ``cosine_logits(z, weight, scale)``. Query logits:
    ``cosine_logits(z_query, weight, scale)``.
    """
    n_way = _episode(z_support, y_support, n_way)
    scale = check_real("scale", scale, low=0.0, low_open=True, example=10.0)
    steps = check_int("steps", steps, low=0, example=100)
    lr = check_real("lr", lr, low=0.0, low_open=True, example=0.1)
    z = _unit(z_support.detach())
    onehot = F.one_hot(y_support, n_way).to(z.dtype)
    w = (onehot.T @ z).requires_grad_(True)  # a class without examples starts at 0
    for _ in range(steps):
        loss = F.cross_entropy(cosine_logits(z, w, scale), y_support)
        (g,) = torch.autograd.grad(loss, (w,))
        with torch.no_grad():
            w -= lr * g
    return w.detach()


def logistic_probe(
    z_support: Tensor, y_support: Tensor, n_way: int, *, c: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Tian et al.'s probe: multinomial logistic regression on unit-length features.

    Minimises ``0.5 ‖W‖² + c · Σ_i CE(W u_i + b, y_i)``, u_i = z_i / ‖z_i‖, the
    bias unpenalised (scikit-learn's LogisticRegression(C=c)), by L-BFGS in
    float64 to a gradient norm of 1e-9. Returns weight (n_way, d) and bias
    (n_way,) in z_support's dtype; score queries with
    ``unit(z_query) @ weight.T + bias``, unit(z) = z / ‖z‖.
    """
    n_way = _episode(z_support, y_support, n_way)
    c = check_real("c", c, low=0.0, low_open=True, example=1.0)
    u = _unit(z_support.detach().double())
    w = u.new_zeros(n_way, u.shape[1], requires_grad=True)
    b = u.new_zeros(n_way, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=1000,
        tolerance_grad=1e-9,
        tolerance_change=0.0,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def objective() -> Tensor:
        opt.zero_grad()
        ce = F.cross_entropy(u @ w.T + b, y_support, reduction="sum")
        loss = 0.5 * w.square().sum() + c * ce
        loss.backward()
        return loss

    opt.step(objective)
    return w.detach().to(z_support.dtype), b.detach().to(z_support.dtype)
