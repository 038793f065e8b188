"""Loss functions and their gradients, averaged over the batch like torch.

Each loss ``L(prediction, target) -> float`` has a partner ``L_grad`` that
returns dL/dprediction with the prediction's shape; backpropagation starts
from it. Losses that take raw scores (logits) apply the sigmoid or softmax
inside, in a form that stays finite for any finite score.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mtlbook._validate import check_not_tensor, check_real
from mtlbook.scratch.activations import (
    _as_float,
    log_softmax,
    sigmoid,
    softmax,
    softplus,
)

Loss = Callable[..., float]
LossGrad = Callable[..., np.ndarray]

# A gradient entry below the tiniest float (e.g. softmax(z) / n for a hopeless
# class) rounds to 0, the correct limit; overflow and invalid still raise.
_underflow_is_zero = np.errstate(under="ignore")


# --- input checks --------------------------------------------------------------


def _finite(x: np.ndarray, name: str) -> np.ndarray:
    x = _as_float(x, name)
    if x.size == 0:
        raise ValueError(f"{name} is empty; a loss needs at least one sample")
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"{name} contains NaN or inf; the loss is undefined there "
            "(a NaN prediction usually means training diverged: lower the "
            "learning rate)"
        )
    return x


def _same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} has shape {a.shape} but {name_b} has shape {b.shape}; "
            "they must match exactly (no broadcasting: reshape one of them)"
        )


def _class_labels(labels: np.ndarray, n: int, c: int) -> np.ndarray:
    check_not_tensor("labels", labels)
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"labels must be integer class indices, got dtype {labels.dtype}; "
            "pass labels.astype(int)"
        )
    if labels.shape != (n,):
        raise ValueError(
            f"labels has shape {labels.shape}; expected ({n},), one class index "
            "per row of the scores"
        )
    if np.any(labels < 0) or np.any(labels >= c):
        raise ValueError(
            f"labels must lie in [0, {c - 1}] for {c} classes, got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels


def _scores_2d(scores: np.ndarray, name: str) -> np.ndarray:
    scores = _finite(scores, name)
    if scores.ndim != 2:
        raise ValueError(
            f"{name} has shape {scores.shape}; expected (n, classes): "
            f"use {name}[None, :] for a single sample"
        )
    return scores


# --- regression ----------------------------------------------------------------


@_underflow_is_zero
def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error mean((pred - target)^2) over all elements.

    pred: (...); target: same shape as pred.
    """
    pred, target = _finite(pred, "pred"), _finite(target, "target")
    _same_shape(pred, target, "pred", "target")
    return float(np.mean((pred - target) ** 2))


@_underflow_is_zero
def mse_grad(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """dL/dpred = 2 (pred - target) / N, N the number of elements; -> pred's shape."""
    pred, target = _finite(pred, "pred"), _finite(target, "target")
    _same_shape(pred, target, "pred", "target")
    return 2.0 * (pred - target) / pred.size


# --- binary classification -----------------------------------------------------


def _check_binary(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
    logits, targets = _finite(logits, "logits"), _finite(targets, "targets")
    _same_shape(logits, targets, "logits", "targets")
    if np.any(targets < 0) or np.any(targets > 1):
        raise ValueError(
            "targets must be probabilities in [0, 1] (usually 0/1 labels), got "
            f"values in [{targets.min()}, {targets.max()}]"
        )
    return logits, targets


@_underflow_is_zero
def bce_with_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Binary cross-entropy of sigmoid(logits) against targets, mean over elements.

    Per element -[y log sigma(x) + (1 - y) log(1 - sigma(x))], rewritten as
    (1 - y) x + log(1 + e^-x), which is finite for every finite logit x.
    logits: (...); targets: same shape, values in [0, 1].
    """
    x, y = _check_binary(logits, targets)
    return float(np.mean((1.0 - y) * x + softplus(-x)))


@_underflow_is_zero
def bce_with_logits_grad(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """dL/dlogits = (sigmoid(x) - y) / N; -> logits' shape."""
    x, y = _check_binary(logits, targets)
    return (sigmoid(x) - y) / x.size


def _check_pm1(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    scores, labels = _finite(scores, "scores"), _finite(labels, "labels")
    if scores.ndim != 1:
        raise ValueError(f"scores has shape {scores.shape}; expected (n,)")
    _same_shape(scores, labels, "scores", "labels")
    if not np.all(np.abs(labels) == 1):
        raise ValueError(
            "labels must be -1 or +1 for the hinge loss; convert 0/1 labels "
            "with 2 * y - 1"
        )
    return scores, labels


@_underflow_is_zero
def hinge(scores: np.ndarray, labels: np.ndarray) -> float:
    """Binary hinge loss mean(max(0, 1 - y s)).

    scores: (n,) raw scores s; labels: (n,) with values in {-1, +1}.
    """
    s, y = _check_pm1(scores, labels)
    return float(np.mean(np.maximum(0.0, 1.0 - y * s)))


@_underflow_is_zero
def hinge_grad(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dL/ds = -y / n where the margin is violated (1 - y s > 0), else 0; -> (n,)."""
    s, y = _check_pm1(scores, labels)
    return np.where(1.0 - y * s > 0, -y, 0.0) / s.size


# --- multi-class classification ------------------------------------------------


@_underflow_is_zero
def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Cross-entropy of softmax(logits) against class labels, mean over rows.

    Per row: -log softmax(z)_y = logsumexp(z) - z_y.
    logits: (n, c); labels: (n,) integers in [0, c).
    """
    z = _scores_2d(logits, "logits")
    y = _class_labels(labels, *z.shape)
    return float(-np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y]))


@_underflow_is_zero
def softmax_cross_entropy_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """dL/dlogits = (softmax(z) - onehot(y)) / n; -> (n, c)."""
    z = _scores_2d(logits, "logits")
    y = _class_labels(labels, *z.shape)
    grad = softmax(z, axis=1)
    grad[np.arange(len(y)), y] -= 1.0
    return grad / len(y)


def _smoothed_targets(
    logits: np.ndarray, labels: np.ndarray, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    z = _scores_2d(logits, "logits")
    y = _class_labels(labels, *z.shape)
    eps = check_real("smoothing", smoothing, low=0, high=1, example=0.1)
    q = np.full(z.shape, eps / z.shape[1])
    q[np.arange(len(y)), y] += 1.0 - eps
    return z, q


def label_smoothing_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, smoothing: float
) -> float:
    """Cross-entropy against smoothed targets, mean over rows.

    The target of a row is q = (1 - smoothing) onehot(y) + smoothing / c, and the
    loss -sum_k q_k log softmax(z)_k, as torch's
    ``F.cross_entropy(logits, labels, label_smoothing=smoothing)``.
    logits: (n, c); labels: (n,) integers in [0, c); smoothing in [0, 1].
    """
    z, q = _smoothed_targets(logits, labels, smoothing)
    return float(-np.mean(np.sum(q * log_softmax(z, axis=1), axis=1)))


@_underflow_is_zero
def label_smoothing_cross_entropy_grad(
    logits: np.ndarray, labels: np.ndarray, smoothing: float
) -> np.ndarray:
    """dL/dlogits = (softmax(z) - q) / n, q the smoothed targets; -> (n, c)."""
    z, q = _smoothed_targets(logits, labels, smoothing)
    return (softmax(z, axis=1) - q) / len(z)


def _margins(scores: np.ndarray, labels: np.ndarray, margin: float) -> tuple:
    s = _scores_2d(scores, "scores")
    y = _class_labels(labels, *s.shape)
    margin = check_real("margin", margin, example=1.0)
    rows = np.arange(len(y))
    # z_ij = margin - s_iy + s_ij for every wrong class j; the true class is masked.
    z = margin - s[rows, y][:, None] + s
    wrong = np.ones_like(s, dtype=bool)
    wrong[rows, y] = False
    return s, y, z, wrong


@_underflow_is_zero
def multiclass_hinge(
    scores: np.ndarray, labels: np.ndarray, margin: float = 1.0
) -> float:
    """Weston-Watkins multi-class hinge, as torch.nn.functional.multi_margin_loss.

    Per row: sum over j != y of max(0, margin - s_y + s_j), divided by c.
    scores: (n, c); labels: (n,) integers in [0, c).
    """
    s, _, z, wrong = _margins(scores, labels, margin)
    per_row = np.sum(np.where(wrong, np.maximum(z, 0.0), 0.0), axis=1) / s.shape[1]
    return float(np.mean(per_row))


@_underflow_is_zero
def multiclass_hinge_grad(
    scores: np.ndarray, labels: np.ndarray, margin: float = 1.0
) -> np.ndarray:
    """dL/dscores: +1/(n c) for each violating wrong class, minus their count on y.

    scores: (n, c); labels: (n,) -> (n, c).
    """
    s, y, z, wrong = _margins(scores, labels, margin)
    active = (wrong & (z > 0)).astype(s.dtype)
    active[np.arange(len(y)), y] = -active.sum(axis=1)
    return active / (s.shape[0] * s.shape[1])


# --- registry --------------------------------------------------------------------

LOSSES: dict[str, tuple[Loss, LossGrad]] = {
    "mse": (mse, mse_grad),
    "bce_with_logits": (bce_with_logits, bce_with_logits_grad),
    "softmax_cross_entropy": (softmax_cross_entropy, softmax_cross_entropy_grad),
    "hinge": (hinge, hinge_grad),
    "multiclass_hinge": (multiclass_hinge, multiclass_hinge_grad),
}


def get_loss(name: str) -> tuple[Loss, LossGrad]:
    """The pair (loss, loss_grad) registered under ``name`` in LOSSES."""
    if not isinstance(name, str):
        raise TypeError(f"loss name must be a str, got {type(name).__name__}")
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name]
