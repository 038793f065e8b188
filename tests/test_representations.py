"""Linear CKA against its kernel definition, its invariances, and its misuse."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from misuse import Bad, params

from mtlbook.representations import cka_matrix, linear_cka


def _hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA from the definition: HSIC of centred Gram matrices (Kornblith eq. 3-4)."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float(np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(("n", "p", "q"), [(2, 1, 1), (5, 3, 7), (12, 40, 4)])
def test_matches_the_hsic_definition(n: int, p: int, q: int) -> None:
    x, y = _rand(n, p, seed=n).double(), _rand(n, q, seed=p).double()
    expect = _hsic_cka(x.numpy(), y.numpy())
    assert linear_cka(x, y).item() == pytest.approx(expect, rel=1e-10, abs=1e-12)


def test_self_similarity_is_one_and_symmetric() -> None:
    x, y = _rand(30, 8), _rand(30, 5, seed=1)
    assert linear_cka(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert linear_cka(x, y).item() == pytest.approx(linear_cka(y, x).item())
    assert linear_cka(x, y).dtype == torch.float32


def test_invariant_to_orthogonal_transform_scaling_and_shift() -> None:
    x, y = _rand(25, 6).double(), _rand(25, 9, seed=2).double()
    q, _ = torch.linalg.qr(_rand(6, 6, seed=3).double())
    base = linear_cka(x, y).item()
    assert linear_cka(x @ q, y).item() == pytest.approx(base, rel=1e-10)
    assert linear_cka(7.5 * x, 0.01 * y).item() == pytest.approx(base, rel=1e-10)
    assert linear_cka(x + 100.0, y).item() == pytest.approx(base, rel=1e-8)


def test_not_invariant_to_anisotropic_scaling() -> None:
    x, y = _rand(40, 3).double(), _rand(40, 3, seed=4).double()
    y = y + x  # correlated, so scaling one column of x changes the alignment
    scaled = x * torch.tensor([100.0, 1.0, 1.0], dtype=torch.float64)
    assert abs(linear_cka(scaled, y).item() - linear_cka(x, y).item()) > 1e-3


def test_independent_and_identical_extremes() -> None:
    x = _rand(2000, 2).double()
    y = _rand(2000, 2, seed=9).double()
    assert linear_cka(x, y).item() < 0.01
    assert linear_cka(x, -3.0 * x).item() == pytest.approx(1.0, abs=1e-12)


def test_conv_activations_are_flattened() -> None:
    x = _rand(10, 2, 3, 3)
    assert linear_cka(x, x.reshape(10, -1)).item() == pytest.approx(1.0, abs=1e-6)


def test_cka_matrix_entries() -> None:
    xs = [_rand(15, 4, seed=s) for s in range(3)]
    ys = [_rand(15, 2, seed=s + 10) for s in range(2)]
    m = cka_matrix(xs, ys)
    assert m.shape == (3, 2) and m.dtype == torch.float64
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            assert m[i, j].item() == pytest.approx(linear_cka(x, y).item())
    assert torch.diagonal(cka_matrix(xs, xs)).tolist() == pytest.approx([1.0] * 3)


# --- misuse: wrong calls raise at the boundary, naming the argument -------------

X = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))

MISUSE = [
    Bad("numpy_x", lambda: linear_cka(np.zeros((8, 3)), X), TypeError, "x"),
    Bad(
        "int_y",
        lambda: linear_cka(X, torch.ones(8, 3, dtype=torch.long)),
        TypeError,
        "y",
    ),
    Bad("vector_x", lambda: linear_cka(X[:, 0], X), ValueError, "x"),
    Bad("row_mismatch", lambda: linear_cka(X, X[:5]), ValueError, "rows"),
    Bad("one_row", lambda: linear_cka(X[:1], X[:1]), ValueError, "at least 2"),
    Bad("nan_x", lambda: linear_cka(X * float("nan"), X), ValueError, "NaN"),
    Bad("constant_y", lambda: linear_cka(X, torch.ones(8, 3)), ValueError, "y"),
    Bad("empty_x", lambda: linear_cka(torch.zeros(0, 3), X), ValueError, "x"),
    Bad("tensor_xs", lambda: cka_matrix(X, [X]), TypeError, "xs"),
    Bad("empty_ys", lambda: cka_matrix([X], []), ValueError, "ys"),
]


@pytest.mark.parametrize("case", params(MISUSE))
def test_misuse(case: Bad) -> None:
    case.check()
