"""The package's one classification metric: top-1 accuracy of class scores.

:func:`accuracy` is canonical. ``mtlbook.meta.accuracy`` (and
``mtlbook.meta.evaluate.accuracy``) is this very function;
:func:`mtlbook.transfer.training.model_accuracy` (also reachable as
``mtlbook.transfer.layer_transfer.accuracy``) is the thin adapter that runs a
model over (x, y) in eval mode, batch by batch, and counts with it.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from mtlbook._validate import check_tensor

__all__ = ["accuracy"]


def accuracy(
    logits: Tensor, labels: Tensor, *, reduction: Literal["mean", "sum"] = "mean"
) -> Tensor:
    """Top-1 accuracy: how many rows of ``logits`` have their arg-max at the label.

    logits: (n, classes) class scores, classes >= 2; labels: (n,) integer class
    ids. ``reduction="mean"`` (the default) returns the fraction correct, a
    0-dim tensor of ``logits.dtype``; ``reduction="sum"`` returns the number
    correct, a 0-dim int64 tensor.

    Shapes and dtypes are checked, never values, so it runs per task under
    ``vmap``. The shapes must match exactly, because a mismatch would broadcast
    silently: (n,) labels against (n, 1) scores (one column, whose arg-max is
    always 0) and (n, 1) labels against (n, classes) scores both raise a
    ValueError naming the argument.
    """
    check_tensor("logits", logits, ndim=2)
    check_tensor("labels", labels)
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels has shape {tuple(labels.shape)}, expected ({logits.shape[0]},): "
            "one class id per row of logits (flatten a column with labels[:, 0])"
        )
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(
            f"labels must hold integer class ids, got {labels.dtype}; use labels.long()"
        )
    if logits.shape[1] < 2:
        raise ValueError(
            f"logits has shape {tuple(logits.shape)}: one score per row is not a "
            "set of class scores (its arg-max is always 0); pass (n, classes) "
            "scores with classes >= 2, e.g. torch.cat([-z, z], dim=1) for one "
            "binary logit z"
        )
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction={reduction!r}; use 'mean' or 'sum'")
    hits = logits.argmax(dim=-1) == labels
    if reduction == "sum":
        return hits.sum()
    return hits.to(logits.dtype).mean()
