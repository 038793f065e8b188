"""Gradient-descent optimisers with the same update rules as ``torch.optim``.

Each optimiser holds references to the parameter arrays (e.g. ``MLP.parameters()``)
and ``step(grads)`` updates them in place. Comments give the equation numbers of
the chapter "Gradient descent and backpropagation".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from torch import Tensor

from mtlbook._validate import check_bool, check_real


class _Optimizer:
    """Shared checks: a non-empty list of float arrays and one gradient each."""

    def __init__(self, params: Sequence[np.ndarray], lr: float) -> None:
        params = list(params)
        if not params:
            raise ValueError("params is empty; pass e.g. model.parameters()")
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
                raise TypeError(
                    f"params[{i}] must be a float numpy array updated in place, "
                    f"got {type(p).__name__}; pass model.parameters()"
                )
        _check_nonneg("lr", lr)
        self.params = params
        self.lr = float(lr)
        self.t = 0  # number of steps taken

    def _checked(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        if isinstance(grads, np.ndarray | Tensor) or not isinstance(grads, Iterable):
            raise TypeError(
                f"grads must be a list of arrays, one per parameter, got "
                f"{type(grads).__name__}; pass e.g. model.gradients()"
            )
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(
                f"grads: got {len(grads)} gradients for {len(self.params)} parameters; "
                "pass one gradient per parameter, e.g. model.gradients()"
            )
        out = []
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if g is None or isinstance(g, Tensor):
                raise TypeError(
                    f"grads[{i}] is {type(g).__name__}, not a numpy array; "
                    "call backward() before step(), then pass model.gradients()"
                )
            g = np.asarray(g, dtype=p.dtype)
            if g.shape != p.shape:
                raise ValueError(
                    f"grads[{i}] has shape {g.shape} but params[{i}] has shape "
                    f"{p.shape}; gradients must match their parameters"
                )
            out.append(g)
        self.t += 1
        return out


class SGD(_Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    g = grad + weight_decay * p;  v = momentum * v + g (v = g on the first step);
    p -= lr * v, or p -= lr * (g + momentum * v) with nesterov=True.
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        _check_nonneg("momentum", momentum)
        _check_nonneg("weight_decay", weight_decay)
        nesterov = check_bool("nesterov", nesterov)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0, e.g. momentum=0.9")
        self.momentum, self.nesterov = float(momentum), nesterov
        self.weight_decay = float(weight_decay)
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Update every parameter in place; grads: same shapes as params."""
        for i, (p, g) in enumerate(zip(self.params, self._checked(grads), strict=True)):
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self.velocity[i]
                # torch starts the buffer at the first gradient, not at zero
                v = g.copy() if v is None else self.momentum * v + g  # (eq-momentum)
                self.velocity[i] = v
                g = g + self.momentum * v if self.nesterov else v  # (eq-nesterov)
            p -= self.lr * g  # (eq-sgd)


class RMSProp(_Optimizer):
    """RMSProp: divide the gradient by a running root-mean-square of its past.

    s = alpha * s + (1 - alpha) * g²;  u = g / (sqrt(s) + eps);
    p -= lr * u, or with momentum: b = momentum * b + u, p -= lr * b.
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        _check_unit("alpha", alpha)
        _check_nonneg("eps", eps)
        _check_nonneg("momentum", momentum)
        self.alpha, self.eps, self.momentum = float(alpha), float(eps), float(momentum)
        self.square_avg = [np.zeros_like(p) for p in self.params]
        self.buffer = [np.zeros_like(p) for p in self.params]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Update every parameter in place; grads: same shapes as params."""
        for i, (p, g) in enumerate(zip(self.params, self._checked(grads), strict=True)):
            s = self.square_avg[i]
            s *= self.alpha
            s += (1 - self.alpha) * g * g  # (eq-rmsprop)
            u = g / (np.sqrt(s) + self.eps)
            if self.momentum > 0:
                b = self.buffer[i]
                b *= self.momentum
                b += u
                u = b
            p -= self.lr * u


class Adam(_Optimizer):
    """Adam: momentum on the gradient and RMSProp scaling, both bias-corrected.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    weight_decay adds weight_decay * p to g (L2, as torch.optim.Adam; not AdamW).
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if isinstance(betas, str) or not isinstance(betas, Sequence):
            raise TypeError(
                f"betas={betas!r} must be a pair of numbers, e.g. (0.9, 0.999)"
            )
        if len(betas) != 2:
            raise ValueError(f"betas={betas} must be a pair, e.g. (0.9, 0.999)")
        _check_unit("betas[0]", betas[0])
        _check_unit("betas[1]", betas[1])
        _check_nonneg("eps", eps)
        _check_nonneg("weight_decay", weight_decay)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Update every parameter in place; grads: same shapes as params."""
        self._update(self._checked(grads))

    def _update(self, grads: list[np.ndarray]) -> None:
        step_size = self.lr / (1 - self.beta1**self.t)  # bias correction of m
        v_scale = math.sqrt(1 - self.beta2**self.t)  # bias correction of v
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            if self.weight_decay:
                g = g + self.weight_decay * p
            m *= self.beta1
            m += (1 - self.beta1) * g  # (eq-adam-m)
            v *= self.beta2
            v += (1 - self.beta2) * g * g  # (eq-adam-v)
            p -= step_size * m / (np.sqrt(v) / v_scale + self.eps)  # (eq-adam)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as torch.optim.AdamW.

    ``p *= 1 - lr * weight_decay``, then the Adam step on the loss gradient alone.
    Adam's L2 term adds ``weight_decay * p`` to g, so Adam divides it by sqrt(v)
    as well; here the decay reaches every weight at the same rate.
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps)
        _check_nonneg("weight_decay", weight_decay)
        self.decoupled_decay = float(weight_decay)

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Update every parameter in place; grads: same shapes as params."""
        grads = self._checked(grads)
        for p in self.params:
            p *= 1 - self.lr * self.decoupled_decay  # (eq-adamw)
        self._update(grads)


class Adagrad(_Optimizer):
    """Adagrad: divide by the root of the sum of all past squared gradients.

    ``s = s + g²;  p -= lr * g / (sqrt(s) + eps)``, as torch.optim.Adagrad.
    """

    def __init__(
        self, params: Sequence[np.ndarray], lr: float = 0.01, eps: float = 1e-10
    ) -> None:
        super().__init__(params, lr)
        _check_nonneg("eps", eps)
        self.eps = float(eps)
        self.sum_sq = [np.zeros_like(p) for p in self.params]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Update every parameter in place; grads: same shapes as params."""
        for p, g, s in zip(self.params, self._checked(grads), self.sum_sq, strict=True):
            s += g * g  # (eq-adagrad)
            p -= self.lr * g / (np.sqrt(s) + self.eps)


def _check_nonneg(name: str, value: float) -> None:
    check_real(name, value, low=0, example=0.01)


def _check_unit(name: str, value: float) -> None:
    check_real(name, value, low=0, high=1, high_open=True, example=0.9)
