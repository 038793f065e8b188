"""Input validation shared by scalarizers and aggregators.

Every public entry point checks its inputs here, so a wrong shape or a NaN loss
fails at the boundary with a message that names the argument and the fix.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtlbook._validate import check_int


def check_n_tasks(n_tasks: int) -> int:
    """Return ``n_tasks`` if it is a positive int, else raise."""
    n_tasks = check_int("n_tasks", n_tasks)
    if n_tasks < 1:
        raise ValueError(
            f"n_tasks={n_tasks}: the task list is empty; pass at least one task"
        )
    return n_tasks


def check_losses(losses: Tensor, n_tasks: int | None, name: str = "losses") -> Tensor:
    """Check a task-loss vector; losses: (n_tasks,) finite floats (any K if None)."""
    if not isinstance(losses, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(losses).__name__}; "
            "stack the task losses with torch.stack([loss_1, ..., loss_K])"
        )
    if losses.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one loss per task), got shape "
            f"{tuple(losses.shape)}; reduce each task loss to a scalar and stack"
        )
    if losses.shape[0] == 0:
        raise ValueError(f"{name} is empty: the task list is empty")
    if n_tasks is not None and losses.shape[0] != n_tasks:
        raise ValueError(
            f"got {losses.shape[0]} {name} for n_tasks={n_tasks}; "
            "pass exactly one loss per task, in the task order"
        )
    if not losses.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {losses.dtype}")
    bad = ~torch.isfinite(losses.detach())
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{name}[{i}] = {losses[i].item()} is not finite; "
            "the task diverged or its loss is ill-defined (check the learning rate)"
        )
    return losses


def check_gradient_matrix(G: Tensor, name: str = "G") -> Tensor:
    """Check a task-gradient matrix's type and shape; G: (K, P) float32/float64.

    Finiteness is checked later, on the Gramian G Gᵀ or on the update, which a
    NaN or inf in G always spoils (:func:`raise_for_nonfinite_row`).
    """
    if not isinstance(G, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (K, P), got {type(G).__name__}"
        )
    if G.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (K tasks, P parameters), got shape "
            f"{tuple(G.shape)}; flatten each task gradient into one row"
        )
    if G.shape[0] == 0:
        raise ValueError(f"{name} has no rows: the task list is empty")
    if G.shape[1] == 0:
        raise ValueError(f"{name} has no columns: there are no shared parameters")
    if not G.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {G.dtype}")
    if G.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} is {G.dtype}; cast it with {name}.float()")
    return G


def raise_for_nonfinite_row(G: Tensor, name: str = "G") -> None:
    """Name the first non-finite row of G: (K, P); call it only after a failure.

    The aggregators check the (K, K) Gramian (or the update) for NaN and inf,
    which a non-finite row always spoils, instead of scanning all K·P entries.
    """
    bad = ~torch.isfinite(G).all(dim=1)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{name}[{i}] (the gradient of task {i}) is not finite; "
            "the task's loss diverged (check the learning rate and the loss)"
        )
    raise ValueError(
        f"{name} @ {name}.T overflows: the task gradients are too large for "
        f"{G.dtype} (check the learning rate and the loss)"
    )


def check_gramian(gram: Tensor) -> Tensor:
    """Check a Gram matrix of task gradients; gram: (K, K) symmetric, finite."""
    if not isinstance(gram, Tensor):
        raise TypeError(f"gram must be a torch.Tensor, got {type(gram).__name__}")
    if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] == 0:
        raise ValueError(
            f"gram must be a non-empty square (K, K) matrix G @ G.T, "
            f"got shape {tuple(gram.shape)}"
        )
    if not torch.isfinite(gram).all():
        raise ValueError("gram is not finite; a task gradient diverged")
    # rounding may differ between the two triangles; a real asymmetry is larger
    if (gram - gram.T).abs().max() > 1e-4 * gram.abs().max():
        raise ValueError(
            "gram is not symmetric; pass G @ G.T (or (gram + gram.T) / 2 if it "
            "was accumulated in pieces)"
        )
    return gram
