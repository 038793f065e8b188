"""Numerical gradients by central differences, to check hand-written backprop."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mtlbook._validate import check_array, check_callable, check_not_tensor, check_real


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Central differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) per entry.

    x: any shape (float64 recommended); returns the same shape. x is left unchanged.
    The error is O(eps²) plus rounding of order ``(machine epsilon * |f|) / eps``.
    """
    check_callable("f", f, "lambda x: float(np.sum(x**2))")
    eps = check_real("eps", eps, low=0, low_open=True, example=1e-6)
    x = _finite_array("x", x)
    work = x.copy()  # perturb a copy, so the caller's array never changes
    grad = np.zeros_like(work)
    for i in np.ndindex(work.shape):
        old = work[i]
        work[i] = old + eps
        f_plus = float(f(work))
        work[i] = old - eps
        f_minus = float(f(work))
        work[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b| / max(|a| + |b|)``, a scale-free distance; a, b: same shape."""
    a = check_array("a", a, nonempty=False)
    b = check_array("b", b, nonempty=False)
    if a.shape != b.shape:
        raise ValueError(f"a has shape {a.shape} but b has shape {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a) + np.abs(b))), np.finfo(float).tiny)
    return float(np.max(np.abs(a - b))) / scale


def check_gradient(
    f: Callable[[np.ndarray], float],
    grad: np.ndarray,
    x: np.ndarray,
    eps: float = 1e-6,
) -> float:
    """Relative error between an analytic gradient and the numerical one at x.

    grad: the analytic df/dx at x, same shape as x. Below ~1e-7 in float64 the
    analytic gradient is right; a wrong formula usually gives 1e-2 or more.
    """
    grad = check_array("grad", grad, nonempty=False)
    x = _finite_array("x", x)
    if grad.shape != x.shape:
        raise ValueError(
            f"grad has shape {grad.shape} but x has shape {x.shape}; "
            "pass the gradient of f at x"
        )
    return relative_error(grad, numerical_gradient(f, x, eps=eps))


def _finite_array(name: str, x: np.ndarray) -> np.ndarray:
    check_not_tensor(name, x)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(float)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf; check it at a finite point")
    return x
