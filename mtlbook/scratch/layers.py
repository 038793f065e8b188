"""Dense layers and a multilayer perceptron with hand-written backpropagation.

Row convention: a batch is a matrix ``x: (batch, features)`` and a layer computes
``x @ W + b`` with ``W: (in, out)``. ``backward`` applies the chain rule to the
gradient of a scalar loss with respect to the layer's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import numpy as np

from mtlbook._validate import check_int, check_not_tensor, check_numpy_rng
from mtlbook.scratch.activations import get_activation

InitScheme = Literal["xavier", "he"]
_RELU_FAMILY = ("relu", "leaky_relu", "elu", "gelu")


def init_weights(
    fan_in: int, fan_out: int, *, scheme: InitScheme, rng: np.random.Generator
) -> np.ndarray:
    """Random initial weights that keep activations at a stable scale.

    "xavier": Glorot uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)),
    so Var = 2 / (fan_in + fan_out).  "he": Kaiming normal, N(0, 2 / fan_in).

    Returns: (fan_in, fan_out).
    """
    _check_size("fan_in", fan_in)
    _check_size("fan_out", fan_out)
    check_numpy_rng("rng", rng)
    if scheme == "xavier":
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=(fan_in, fan_out))
    if scheme == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
    raise ValueError(f"unknown init scheme={scheme!r}; use 'xavier' or 'he'")


class Dense:
    """Affine layer y = x @ W + b.

    W: (in_features, out_features); b: (out_features,); grad_W, grad_b likewise.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        init: InitScheme = "he",
    ) -> None:
        _check_size("in_features", in_features)
        _check_size("out_features", out_features)
        self.W = init_weights(in_features, out_features, scheme=init, rng=rng)
        self.b = np.zeros(out_features)
        self.grad_W = np.zeros_like(self.W)
        self.grad_b = np.zeros_like(self.b)
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (batch, in_features) -> (batch, out_features); caches x."""
        return self._affine(_as_batch("x", x, self.W.shape[0], "in_features"))

    def _affine(self, x: np.ndarray) -> np.ndarray:
        # Unchecked forward for hidden activations inside an MLP: a diverging run
        # should show inf/NaN losses, not stop with an error halfway through.
        self._x = x
        return x @ self.W + self.b

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out: (batch, out_features) -> dL/dx: (batch, in_features).

        Fills grad_W = x^T grad_out and grad_b = column sums of grad_out.
        """
        if self._x is None:
            raise RuntimeError("backward called before forward; call forward(x) first")
        grad_out = _as_batch("grad_out", grad_out, self.W.shape[1], "out_features")
        if grad_out.shape[0] != self._x.shape[0]:
            raise ValueError(
                f"grad_out has batch size {grad_out.shape[0]} but the last forward "
                f"saw {self._x.shape[0]} rows; pass the gradient of that output"
            )
        self.grad_W = self._x.T @ grad_out
        self.grad_b = grad_out.sum(axis=0)
        return grad_out @ self.W.T


class MLP:
    """Dense layers with an activation between them and none after the last.

    sizes: [in, hidden..., out]; forward maps (batch, sizes[0]) -> (batch, sizes[-1]).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: str = "relu",
        rng: np.random.Generator,
        init: InitScheme | None = None,
    ) -> None:
        if isinstance(sizes, str) or not isinstance(sizes, Sequence):
            raise TypeError(
                f"sizes={sizes!r} must be a list of ints [in, hidden..., out], "
                "e.g. sizes=[2, 16, 1]"
            )
        sizes = list(sizes)
        for i, size in enumerate(sizes):
            _check_size(f"sizes[{i}]", size)
        if len(sizes) < 2:
            raise ValueError(
                f"sizes={sizes} needs at least 2 entries [in, out], "
                "e.g. sizes=[2, 16, 1]"
            )
        self.act, self.act_grad = get_activation(activation)
        self.activation = activation
        if init is None:
            init = "he" if activation in _RELU_FAMILY else "xavier"
        self.sizes = sizes
        self.layers: list[Dense] = [
            Dense(n_in, n_out, rng=rng, init=init) for n_in, n_out in pairwise(sizes)
        ]
        # Filled by forward, one entry per hidden layer: z_l = Dense_l(h_{l-1}) and
        # h_l = act(z_l), each (batch, sizes[l + 1]); the input x is not included.
        self.pre_activations: list[np.ndarray] = []
        self.activations: list[np.ndarray] = []

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (batch, sizes[0]) -> raw scores (batch, sizes[-1])."""
        h = _as_batch("x", x, self.sizes[0], "sizes[0]")
        self.pre_activations, self.activations = [], []
        for layer in self.layers[:-1]:
            z = layer._affine(h)
            h = self.act(z)
            self.pre_activations.append(z)
            self.activations.append(h)
        return self.layers[-1]._affine(h)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out: (batch, sizes[-1]) -> dL/dx: (batch, sizes[0]).

        Chain rule, last layer first: through Dense, then through the activation
        by multiplying elementwise with f'(z).
        """
        if len(self.pre_activations) != len(self.layers) - 1 or (
            self.layers[-1]._x is None
        ):
            raise RuntimeError("backward called before forward; call forward(x) first")
        grad = self.layers[-1].backward(grad_out)
        for layer, z in zip(
            reversed(self.layers[:-1]), reversed(self.pre_activations), strict=True
        ):
            grad = layer.backward(grad * self.act_grad(z))
        return grad

    def parameters(self) -> list[np.ndarray]:
        """The live arrays [W0, b0, W1, b1, ...]; optimisers update them in place."""
        return [p for layer in self.layers for p in (layer.W, layer.b)]

    def gradients(self) -> list[np.ndarray]:
        """[grad_W0, grad_b0, ...] from the last backward, same order as parameters."""
        return [g for layer in self.layers for g in (layer.grad_W, layer.grad_b)]


def _check_size(name: str, value: int) -> None:
    check_int(name, value, low=1)


def _as_batch(name: str, x: np.ndarray, width: int, what: str) -> np.ndarray:
    check_not_tensor(name, x)
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):  # keep float32, promote ints
        x = x.astype(float)
    if x.ndim != 2:
        raise ValueError(
            f"{name} has shape {x.shape}; expected (batch, {what}={width}); "
            "reshape a single sample with x[None, :]"
        )
    if x.shape[1] != width:
        raise ValueError(
            f"{name} has shape {x.shape} but the layer expects {width} columns "
            f"({what}); check the layer sizes"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf; check the data and the loss")
    return x
