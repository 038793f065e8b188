"""Linear probe, fine-tuning and LP-FT on the two-layer linear toy.

The model is f(x) = vᵀ B x with features B: (k, d) and head v: (k,), started
from the pretrained B0 of a :class:`~mtlbook.data.transfer_toys.LinearToy`.
On the squared loss the gradient for B is v rᵀ X / n: every row of B moves
only along the training inputs. The ID inputs span a 10-d subspace, so B
keeps its pretrained values on the other 40 directions, which OOD inputs
use. Fine-tuning from a fresh head changes v while it fits the ID data; the
old features then meet a new head out of distribution ("feature
distortion", Kumar et al. 2022). A probe first puts the head where it
belongs, so fine-tuning barely moves either.
"""

from __future__ import annotations

from typing import Literal, TypedDict

import numpy as np

from mtlbook._validate import check_array, check_int, check_numpy_rng, check_real
from mtlbook.data.transfer_toys import LinearToy, sample_linear_toy

Method = Literal["lp", "ft", "lpft"]
METHODS: tuple[str, ...] = ("lp", "ft", "lpft")


class LPFTResult(TypedDict):
    """Relative test errors and the trained weights B: (k, d), v: (k,)."""

    id_rel_error: float
    ood_rel_error: float
    B: np.ndarray
    v: np.ndarray


def run_lpft_toy(
    toy: LinearToy,
    *,
    n_train: int,
    method: Method,
    steps: int,
    lr: float,
    rng: np.random.Generator,
    head_std: float = 0.0,
    n_test: int = 5000,
) -> LPFTResult:
    """Train on n_train ID examples with ``method``; test on fresh ID and OOD data.

    - "lp": least-squares head on the frozen features B0 x (``steps`` unused);
    - "ft": full-batch gradient descent on (B, v) from B0 and a fresh head
      v ~ N(0, head_std²) (zero by default);
    - "lpft": the same gradient descent, started from the "lp" head.

    Relative error = test MSE / mean test y², on n_test new examples each.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; use one of {list(METHODS)}")
    _check_positive_int("n_train", n_train)
    _check_positive_int("n_test", n_test)
    _check_positive_int("steps", steps)
    check_real("lr", lr, low=0, example=0.01)
    check_real("head_std", head_std, low=0, example=0.0)
    check_numpy_rng("rng", rng)
    x, y = sample_linear_toy(toy, n_train, ood=False, rng=rng)
    B = toy.B0.copy()
    if method == "ft":
        v = head_std * rng.standard_normal(len(toy.v_star))
    else:
        v = probe_head(B, x, y)
    if method != "lp":
        B, v = gradient_descent(B, v, x, y, steps=steps, lr=lr)
    x_id, y_id = sample_linear_toy(toy, n_test, ood=False, rng=rng)
    x_ood, y_ood = sample_linear_toy(toy, n_test, ood=True, rng=rng)
    return {
        "id_rel_error": relative_error(B, v, x_id, y_id),
        "ood_rel_error": relative_error(B, v, x_ood, y_ood),
        "B": B,
        "v": v,
    }


def probe_head(B: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares head on frozen features. B: (k, d), x: (n, d), y: (n,) -> (k,)."""
    B, x, y = _check_linear(B, None, x, y)
    return np.linalg.lstsq(x @ B.T, y, rcond=None)[0]


def gradient_descent(
    B: np.ndarray, v: np.ndarray, x: np.ndarray, y: np.ndarray, *, steps: int, lr: float
) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch GD on mean (vᵀBx - y)² / 2. B: (k, d), v: (k,), x: (n, d), y: (n,)."""
    B, v, x, y = _check_linear(B, v, x, y)
    steps = check_int("steps", steps, low=0, example=100)
    check_real("lr", lr, low=0, example=0.01)
    B, v = B.copy(), v.copy()
    for _ in range(steps):
        residual = x @ B.T @ v - y  # (n,)
        if not np.isfinite(residual).all() or np.abs(residual).max() > 1e100:
            raise ValueError(f"gradient descent diverged; lower lr={lr}")
        grad_v = B @ (x.T @ residual) / len(y)
        grad_B = np.outer(v, residual @ x) / len(y)  # rows move along the inputs
        v -= lr * grad_v
        B -= lr * grad_B
    return B, v


def relative_error(B: np.ndarray, v: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """MSE of vᵀBx over mean y². B: (k, d), v: (k,), x: (n, d), y: (n,)."""
    B, v, x, y = _check_linear(B, v, x, y)
    return float(np.mean((x @ B.T @ v - y) ** 2) / np.mean(y**2))


def _check_positive_int(name: str, value: object) -> None:
    check_int(name, value, low=1)


def _check_linear(
    B: object, v: object | None, x: object, y: object
) -> tuple[np.ndarray, ...]:
    """B: (k, d), v: (k,) unless None, x: (n, d), y: (n,), all finite numbers."""
    B = check_array("B", B, ndim=2)
    x = check_array("x", x, ndim=2)
    y = check_array("y", y, ndim=1)
    if x.shape[1] != B.shape[1]:
        raise ValueError(
            f"x has {x.shape[1]} features but B has {B.shape[1]} columns; "
            "x: (n, d) and B: (k, d) share d"
        )
    if len(y) != len(x):
        raise ValueError(f"y has {len(y)} entries but x has {len(x)} rows")
    if v is None:
        return B, x, y
    v = check_array("v", v, ndim=1)
    if len(v) != len(B):
        raise ValueError(f"v has {len(v)} entries but B has {len(B)} rows")
    return B, v, x, y
