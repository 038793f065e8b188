"""Activation functions and their derivatives, written to survive extreme inputs.

Every elementwise activation ``f(x)`` has a partner ``f_grad(x)`` = df/dx, taken
elementwise, so backpropagation multiplies the incoming gradient by it. Shapes
are preserved: x: (...) -> (...). Where the textbook formula would overflow
(``exp(1e4)``), the code evaluates an equivalent form that cannot; values that
underflow to 0 are the correct limit, so underflow is silenced on purpose.

Non-finite inputs are passed through (NaN in, NaN out), as in torch, so that a
diverging network shows NaN losses instead of stopping mid-layer. The softmax
family reduces over an axis and rejects NaN and inf instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from mtlbook._validate import check_int, check_not_tensor, check_real

Activation = Callable[[np.ndarray], np.ndarray]

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)  # numpy has no erf; the stdlib has it

# Numbers smaller than the tiniest float round to 0, which is the correct limit
# here (e.g. sigmoid(-1e4) = 0), so the underflow flag is silenced; overflow and
# invalid operations still warn or raise as the caller's np.errstate asks.
_underflow_is_zero = np.errstate(under="ignore")


def _as_float(x: np.ndarray, name: str) -> np.ndarray:
    """Any array-like of real numbers as a float array (float32 stays float32)."""
    check_not_tensor(name, x)
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(float)
    raise TypeError(
        f"{name} must hold real numbers, got dtype {arr.dtype}; "
        f"pass a float array, e.g. np.asarray({name}, dtype=float)"
    )


# --- elementwise activations -------------------------------------------------


@_underflow_is_zero
def identity(x: np.ndarray) -> np.ndarray:
    """f(x) = x (a linear layer); x: (...) -> (...)."""
    return _as_float(x, "x").copy()


@_underflow_is_zero
def identity_grad(x: np.ndarray) -> np.ndarray:
    """f'(x) = 1; x: (...) -> (...)."""
    return np.ones_like(_as_float(x, "x"))


@_underflow_is_zero
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + e^-x); x: (...) -> (...), values in [0, 1]."""
    x = _as_float(x, "x")
    # Only ever exponentiate -|x| <= 0, so e cannot overflow:
    # x >= 0: 1 / (1 + e^-x);  x < 0: e^x / (1 + e^x), the same value.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@_underflow_is_zero
def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """sigma'(x) = sigma(x) (1 - sigma(x)), at most 1/4; x: (...) -> (...)."""
    s = sigmoid(x)
    return s * (1.0 - s)


@_underflow_is_zero
def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, values in [-1, 1]; x: (...) -> (...)."""
    return np.tanh(_as_float(x, "x"))


@_underflow_is_zero
def tanh_grad(x: np.ndarray) -> np.ndarray:
    """tanh'(x) = 1 - tanh(x)^2, at most 1; x: (...) -> (...)."""
    t = tanh(x)
    return 1.0 - t * t


@_underflow_is_zero
def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit max(x, 0); x: (...) -> (...)."""
    return np.maximum(_as_float(x, "x"), 0)  # NaN stays NaN, as in torch


@_underflow_is_zero
def relu_grad(x: np.ndarray) -> np.ndarray:
    """1 where x > 0, else 0 (0 at the kink x = 0, as in torch); x: (...) -> (...)."""
    x = _as_float(x, "x")
    return (x > 0).astype(x.dtype)


@_underflow_is_zero
def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """x for x > 0, negative_slope * x otherwise; x: (...) -> (...)."""
    x = _as_float(x, "x")
    slope = check_real("negative_slope", negative_slope)
    return np.where(x > 0, x, slope * x).astype(x.dtype, copy=False)


@_underflow_is_zero
def leaky_relu_grad(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """1 for x > 0, negative_slope otherwise; x: (...) -> (...)."""
    x = _as_float(x, "x")
    slope = check_real("negative_slope", negative_slope)
    return np.where(x > 0, 1.0, slope).astype(x.dtype, copy=False)


@_underflow_is_zero
def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """x for x > 0, alpha (e^x - 1) otherwise; x: (...) -> (...)."""
    x = _as_float(x, "x")
    alpha = check_real("alpha", alpha)
    # min(x, 0) keeps exp away from large positive x, whose branch is unused.
    neg = alpha * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, x, neg).astype(x.dtype, copy=False)


@_underflow_is_zero
def elu_grad(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """1 for x > 0, alpha e^x otherwise; x: (...) -> (...)."""
    x = _as_float(x, "x")
    alpha = check_real("alpha", alpha)
    neg = alpha * np.exp(np.minimum(x, 0))
    return np.where(x > 0, 1.0, neg).astype(x.dtype, copy=False)


@_underflow_is_zero
def gelu(x: np.ndarray) -> np.ndarray:
    """Gaussian error linear unit x Phi(x), exact erf form; x: (...) -> (...).

    Phi is the standard normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2; this is
    ``torch.nn.functional.gelu`` with its default ``approximate="none"``.
    """
    x = _as_float(x, "x")
    return x * _normal_cdf(x)


@_underflow_is_zero
def gelu_grad(x: np.ndarray) -> np.ndarray:
    """gelu'(x) = Phi(x) + x phi(x), phi the normal density; x: (...) -> (...)."""
    x = _as_float(x, "x")
    # Beyond |x| = 40 the term x phi(x) is below 1e-300; clipping keeps x * x finite.
    xc = np.clip(x, -40.0, 40.0)
    return _normal_cdf(x) + xc * _INV_SQRT_2PI * np.exp(-0.5 * xc * xc)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    # The same (1 + erf) form as torch, so the two agree to the last bits.
    return 0.5 * (1.0 + np.asarray(_erf(x * _SQRT_HALF), dtype=x.dtype))


@_underflow_is_zero
def softplus(x: np.ndarray) -> np.ndarray:
    """Smooth ReLU log(1 + e^x); x: (...) -> (...), values > 0."""
    x = _as_float(x, "x")
    # log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): the exponent is never positive.
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


@_underflow_is_zero
def softplus_grad(x: np.ndarray) -> np.ndarray:
    """softplus'(x) = sigmoid(x); x: (...) -> (...)."""
    return sigmoid(x)


# --- softmax family (reduce over one axis) -----------------------------------


def _check_logits(z: np.ndarray, axis: int, name: str = "z") -> np.ndarray:
    z = _as_float(z, name)
    if z.ndim == 0:
        raise ValueError(f"{name} is a scalar; pass at least one axis of scores")
    axis = check_int("axis", axis)
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"axis={axis} is out of range for {name} with ndim {z.ndim}")
    if z.shape[axis] == 0:
        raise ValueError(f"{name} has shape {z.shape}: no entries along axis={axis}")
    if not np.all(np.isfinite(z)):
        raise ValueError(
            f"{name} contains NaN or inf; softmax needs finite scores "
            "(a NaN here usually means training diverged: lower the learning rate)"
        )
    return z


@_underflow_is_zero
def logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log sum_j e^{z_j} along axis, computed as m + log sum e^{z_j - m}.

    z: (..., c, ...) -> the shape of z without ``axis``.
    """
    z = _check_logits(z, axis)
    m = np.max(z, axis=axis, keepdims=True)
    # After the shift the largest exponent is 0: no overflow, and the sum >= 1.
    s = np.sum(np.exp(z - m), axis=axis, keepdims=True)
    return np.squeeze(m + np.log(s), axis=axis)


@_underflow_is_zero
def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax(z) = z - logsumexp(z) along axis; z: (...) -> (...)."""
    z = _check_logits(z, axis)
    return z - np.expand_dims(logsumexp(z, axis=axis), axis)


@_underflow_is_zero
def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """e^{z_j} / sum_k e^{z_k} along axis; z: (...) -> (...), sums to 1 on axis."""
    z = _check_logits(z, axis)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))  # shift: no overflow
    return e / np.sum(e, axis=axis, keepdims=True)


@_underflow_is_zero
def softmax_backward(z: np.ndarray, grad_out: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vector-Jacobian product of softmax: dL/dz given g = dL/dsoftmax(z).

    With p = softmax(z), dL/dz = p * (g - sum(g * p)) along axis, which never
    builds the (c, c) Jacobian diag(p) - p p^T.
    z: (...); grad_out: same shape as z -> (...).
    """
    p = softmax(z, axis=axis)
    g = _as_float(grad_out, "grad_out")
    if g.shape != p.shape:
        raise ValueError(
            f"grad_out has shape {g.shape} but z has shape {p.shape}; "
            "pass the gradient of the loss with respect to softmax(z)"
        )
    return p * (g - np.sum(g * p, axis=axis, keepdims=True))


# --- registry ----------------------------------------------------------------

ACTIVATIONS: dict[str, tuple[Activation, Activation]] = {
    "identity": (identity, identity_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "elu": (elu, elu_grad),
    "gelu": (gelu, gelu_grad),
    "softplus": (softplus, softplus_grad),
}


def get_activation(name: str) -> tuple[Activation, Activation]:
    """The pair (f, f_grad) registered under ``name`` in ACTIVATIONS."""
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a str, got {type(name).__name__}")
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]
