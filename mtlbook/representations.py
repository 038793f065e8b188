"""Comparing what two networks learned: linear centered kernel alignment (CKA).

:func:`linear_cka` scores how similar two representations of the same inputs
are, e.g. one layer of a multi-task trunk against the same layer of a
fine-tuned one; :func:`cka_matrix` does it for every pair of layers. The score
lies in [0, 1], is 1 for identical representations, and does not change under
an orthogonal transform or an isotropic scaling of either one, so it compares
what is encoded rather than in which basis (Kornblith et al., 2019,
"Similarity of Neural Network Representations Revisited", ICML, eq. 5).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mtlbook._validate import check_nonempty, check_tensor

__all__ = ["cka_matrix", "linear_cka"]


def _features(name: str, value: object) -> Tensor:
    """(n, features) float tensor; (n, ...) activations are flattened per row."""
    x = check_tensor(name, value, floating=True, finite=True, nonempty=True)
    if x.ndim < 2:
        raise ValueError(
            f"{name} must be (n, features) activations, got shape "
            f"{tuple(x.shape)}; use {name}[:, None] for one feature"
        )
    return x.reshape(x.shape[0], -1)


def linear_cka(x: Tensor, y: Tensor) -> Tensor:
    """Linear CKA between two representations of the same n inputs.

    x: (n, p) and y: (n, q) activations (row i of each from input i; extra
    trailing dims are flattened), n >= 2. Columns are centred, then
    ``CKA = ||yᵀx||²_F / (||xᵀx||_F ||yᵀy||_F)`` (Kornblith et al., 2019,
    eq. 5), computed in float64 and returned as a 0-dim tensor of x's dtype.
    A representation that is constant over the inputs has no centred
    variance, and CKA is undefined there: that raises a ValueError rather than
    returning NaN.
    """
    a = _features("x", x)
    b = _features("y", y)
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"x has {a.shape[0]} rows but y has {b.shape[0]}; both must hold "
            "activations of the same inputs, one row per input, in the same order"
        )
    if a.shape[0] < 2:
        raise ValueError(
            f"x and y have {a.shape[0]} row; CKA compares how inputs vary, so "
            "pass activations of at least 2 inputs"
        )
    a = a.double() - a.double().mean(dim=0, keepdim=True)
    b = b.double() - b.double().mean(dim=0, keepdim=True)
    for name, m in (("x", a), ("y", b)):
        if torch.linalg.matrix_norm(m) <= 1e-12 * max(1, m.numel()):
            raise ValueError(
                f"{name} is constant over the inputs (zero centred variance), so "
                "CKA is undefined; check that the layer is not dead"
            )
    cross = torch.linalg.matrix_norm(b.T @ a) ** 2
    norm = torch.linalg.matrix_norm(a.T @ a) * torch.linalg.matrix_norm(b.T @ b)
    return (cross / norm).clamp(0.0, 1.0).to(x.dtype)


def cka_matrix(xs: Sequence[Tensor], ys: Sequence[Tensor]) -> Tensor:
    """Linear CKA of every layer in ``xs`` against every layer in ``ys``.

    xs, ys: sequences of (n, ...) activations of the same n inputs, e.g. the
    layers of two networks. Returns a (len(xs), len(ys)) float64 tensor whose
    entry (i, j) is ``linear_cka(xs[i], ys[j])`` (Kornblith et al., 2019,
    fig. 2 draws these as heatmaps).
    """
    if isinstance(xs, Tensor) or isinstance(ys, Tensor):
        raise TypeError(
            "xs and ys must be lists of per-layer activations, not one tensor; "
            "wrap a single layer as [activations]"
        )
    check_nonempty("xs", xs, "layer activations")
    check_nonempty("ys", ys, "layer activations")
    rows = [torch.stack([linear_cka(x, y).double() for y in ys]) for x in xs]
    return torch.stack(rows)
