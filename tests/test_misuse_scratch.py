"""Deliberately wrong calls into mtlbook.scratch (numpy): each fails at the boundary.

Wrong shapes for forward and backward, NaN inputs, torch tensors where numpy
arrays are expected and mismatched lengths raise an error that names the
argument, instead of a NaN result or a broadcasting error from numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from misuse import Bad, params

from mtlbook.scratch import activations as A
from mtlbook.scratch import losses as L
from mtlbook.scratch.gradcheck import check_gradient, numerical_gradient, relative_error
from mtlbook.scratch.layers import MLP, Dense, init_weights
from mtlbook.scratch.neurons import (
    LIFParams,
    PerceptronResult,
    artificial_neuron,
    lif_rate,
    lif_rate_theory,
    simulate_lif,
    train_perceptron,
)
from mtlbook.scratch.optim import SGD, Adagrad, Adam, AdamW, RMSProp
from mtlbook.scratch.schedules import cosine_decay, linear_warmup, step_decay


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


Z = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
LABELS = np.array([0, 2])
X4 = np.ones((4, 3))
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([-1, 1, 1, -1])


def mlp() -> MLP:
    return MLP([3, 4, 2], rng=rng())


def sgd_step(grads, **kwargs):
    net = mlp()
    return SGD(net.parameters(), lr=0.1, **kwargs).step(grads)


def grads_of(fill):
    return [np.full_like(p, fill) for p in mlp().parameters()]


def backward_twice():
    net = mlp()
    net.forward(X4)
    return net.backward(np.ones((4, 3)))


def f(x: np.ndarray) -> float:
    return float(np.sum(x**2))


PERCEPTRON = PerceptronResult(w=np.ones(2), b=0.0, mistakes_per_epoch=np.zeros(1))

CASES = [
    # --- activations -----------------------------------------------------------
    Bad("sigmoid-torch", lambda: A.sigmoid(torch.ones(3)), TypeError, "x"),
    Bad("relu-str", lambda: A.relu(np.array(["a"])), TypeError, "x"),
    Bad("tanh-list-of-str", lambda: A.tanh(["a", "b"]), TypeError, "x"),
    Bad("gelu-grad-torch", lambda: A.gelu_grad(torch.ones(2)), TypeError, "x"),
    Bad(
        "leaky-slope-str",
        lambda: A.leaky_relu(Z, negative_slope="0.1"),
        TypeError,
        "negative_slope",
    ),
    Bad("elu-nan-alpha", lambda: A.elu(Z, alpha=float("nan")), ValueError, "alpha"),
    Bad("softmax-float-axis", lambda: A.softmax(Z, axis=1.0), TypeError, "axis"),
    Bad("softmax-axis-range", lambda: A.softmax(Z, axis=2), ValueError, "axis"),
    Bad("softmax-torch", lambda: A.softmax(torch.ones(3)), TypeError, "z"),
    Bad("softmax-nan", lambda: A.softmax(np.array([1.0, np.nan])), ValueError, "z"),
    Bad("logsumexp-empty", lambda: A.logsumexp(np.zeros((2, 0))), ValueError, "z"),
    Bad(
        "softmax-backward-shape",
        lambda: A.softmax_backward(Z, np.ones(3)),
        ValueError,
        "grad_out",
    ),
    Bad(
        "softmax-backward-torch",
        lambda: A.softmax_backward(Z, torch.ones(2, 3)),
        TypeError,
        "grad_out",
    ),
    Bad("get-activation-int", lambda: A.get_activation(3), TypeError, "name"),
    Bad(
        "get-activation-unknown", lambda: A.get_activation("swish"), ValueError, "swish"
    ),
    # --- losses ------------------------------------------------------------------
    Bad("mse-torch", lambda: L.mse(torch.ones(3), np.ones(3)), TypeError, "pred"),
    Bad("mse-shape", lambda: L.mse(np.ones(3), np.ones((3, 1))), ValueError, "target"),
    Bad(
        "mse-grad-nan",
        lambda: L.mse_grad(np.array([np.nan]), np.ones(1)),
        ValueError,
        "pred",
    ),
    Bad(
        "bce-target-range",
        lambda: L.bce_with_logits(np.ones(2), np.array([0.0, 2.0])),
        ValueError,
        "targets",
    ),
    Bad(
        "ce-float-labels",
        lambda: L.softmax_cross_entropy(Z, LABELS.astype(float)),
        TypeError,
        "labels",
    ),
    Bad(
        "ce-length-mismatch",
        lambda: L.softmax_cross_entropy(Z, np.array([0, 1, 2])),
        ValueError,
        "labels",
    ),
    Bad(
        "ce-label-range",
        lambda: L.softmax_cross_entropy(Z, np.array([0, 5])),
        ValueError,
        "labels",
    ),
    Bad(
        "smoothed-ce-above-one",
        lambda: L.label_smoothing_cross_entropy(Z, LABELS, 1.5),
        ValueError,
        "smoothing",
    ),
    Bad(
        "smoothed-ce-nan",
        lambda: L.label_smoothing_cross_entropy(Z, LABELS, float("nan")),
        ValueError,
        "smoothing",
    ),
    Bad(
        "smoothed-ce-str",
        lambda: L.label_smoothing_cross_entropy_grad(Z, LABELS, "0.1"),
        TypeError,
        "smoothing",
    ),
    Bad(
        "smoothed-ce-label-range",
        lambda: L.label_smoothing_cross_entropy_grad(Z, np.array([0, 3]), 0.1),
        ValueError,
        "labels",
    ),
    Bad(
        "smoothed-ce-nan-logits",
        lambda: L.label_smoothing_cross_entropy(np.full((2, 3), np.nan), LABELS, 0.1),
        ValueError,
        "logits",
    ),
    Bad(
        "ce-torch-logits",
        lambda: L.softmax_cross_entropy(torch.ones(2, 3), LABELS),
        TypeError,
        "logits",
    ),
    Bad(
        "ce-grad-1d-logits",
        lambda: L.softmax_cross_entropy_grad(np.ones(3), LABELS),
        ValueError,
        "logits",
    ),
    Bad(
        "ce-torch-labels",
        lambda: L.softmax_cross_entropy(Z, torch.tensor([0, 2])),
        TypeError,
        "labels",
    ),
    Bad("hinge-2d", lambda: L.hinge(Z, LABELS), ValueError, "scores"),
    Bad(
        "hinge-labels",
        lambda: L.hinge(np.ones(2), np.array([0.0, 1.0])),
        ValueError,
        "labels",
    ),
    Bad(
        "mc-hinge-str-margin",
        lambda: L.multiclass_hinge(Z, LABELS, margin="1"),
        TypeError,
        "margin",
    ),
    Bad("get-loss-unknown", lambda: L.get_loss("l1"), ValueError, "l1"),
    # --- layers ------------------------------------------------------------------
    Bad(
        "init-float-fan-in",
        lambda: init_weights(2.0, 3, scheme="he", rng=rng()),
        TypeError,
        "fan_in",
    ),
    Bad(
        "init-scheme",
        lambda: init_weights(2, 3, scheme="glorot", rng=rng()),
        ValueError,
        "scheme",
    ),
    Bad(
        "init-torch-rng",
        lambda: init_weights(2, 3, scheme="he", rng=torch.Generator()),
        TypeError,
        "rng",
    ),
    Bad("dense-zero-in", lambda: Dense(0, 3, rng=rng()), ValueError, "in_features"),
    Bad("dense-float-out", lambda: Dense(2, 3.0, rng=rng()), TypeError, "out_features"),
    Bad(
        "dense-forward-torch",
        lambda: Dense(3, 2, rng=rng()).forward(torch.ones(4, 3)),
        TypeError,
        "x",
    ),
    Bad(
        "dense-forward-width",
        lambda: Dense(3, 2, rng=rng()).forward(np.ones((4, 2))),
        ValueError,
        "x",
    ),
    Bad(
        "dense-backward-nan",
        lambda: (lambda d: (d.forward(X4), d.backward(np.full((4, 2), np.nan))))(
            Dense(3, 2, rng=rng())
        ),
        ValueError,
        "grad_out",
    ),
    Bad("mlp-float-size", lambda: MLP([2.0, 3], rng=rng()), TypeError, "sizes"),
    Bad("mlp-zero-size", lambda: MLP([2, 0, 3], rng=rng()), ValueError, "sizes"),
    Bad("mlp-one-size", lambda: MLP([2], rng=rng()), ValueError, "sizes"),
    Bad("mlp-rng-None", lambda: MLP([2, 3], rng=None), TypeError, "rng"),
    Bad(
        "mlp-activation",
        lambda: MLP([2, 3], activation="swish", rng=rng()),
        ValueError,
        "swish",
    ),
    Bad(
        "mlp-forward-nan",
        lambda: mlp().forward(np.full((2, 3), np.nan)),
        ValueError,
        "x",
    ),
    Bad("mlp-forward-1d", lambda: mlp().forward(np.ones(3)), ValueError, "x"),
    Bad("mlp-backward-width", backward_twice, ValueError, "grad_out"),
    Bad(
        "mlp-backward-first",
        lambda: mlp().backward(np.ones((4, 2))),
        RuntimeError,
        "forward",
    ),
    # --- optimisers --------------------------------------------------------------
    Bad("sgd-no-params", lambda: SGD([], lr=0.1), ValueError, "params"),
    Bad("sgd-negative-lr", lambda: SGD(mlp().parameters(), lr=-0.1), ValueError, "lr"),
    Bad("sgd-str-lr", lambda: SGD(mlp().parameters(), lr="0.1"), TypeError, "lr"),
    Bad(
        "sgd-nesterov-str",
        lambda: SGD(mlp().parameters(), lr=0.1, momentum=0.9, nesterov="yes"),
        TypeError,
        "nesterov",
    ),
    Bad("sgd-torch-params", lambda: SGD([torch.ones(2)], lr=0.1), TypeError, "params"),
    Bad("sgd-step-array", lambda: sgd_step(np.zeros(4)), TypeError, "grads"),
    Bad("sgd-step-none", lambda: sgd_step([None] * 4), TypeError, "grads"),
    Bad("sgd-step-torch", lambda: sgd_step([torch.ones(1)] * 4), TypeError, "grads"),
    Bad("sgd-step-count", lambda: sgd_step(grads_of(0.0)[:3]), ValueError, "grads"),
    Bad("sgd-step-shape", lambda: sgd_step(grads_of(0.0)[::-1]), ValueError, "grads"),
    Bad(
        "adam-betas-float",
        lambda: Adam(mlp().parameters(), betas=0.9),
        TypeError,
        "betas",
    ),
    Bad(
        "adam-beta-one",
        lambda: Adam(mlp().parameters(), betas=(0.9, 1.0)),
        ValueError,
        "betas[1]",
    ),
    Bad(
        "rmsprop-alpha-one",
        lambda: RMSProp(mlp().parameters(), alpha=1.0),
        ValueError,
        "alpha",
    ),
    Bad(
        "rmsprop-negative-eps",
        lambda: RMSProp(mlp().parameters(), eps=-1.0),
        ValueError,
        "eps",
    ),
    Bad(
        "adamw-negative-decay",
        lambda: AdamW(mlp().parameters(), weight_decay=-0.01),
        ValueError,
        "weight_decay",
    ),
    Bad(
        "adamw-str-decay",
        lambda: AdamW(mlp().parameters(), weight_decay="0.01"),
        TypeError,
        "weight_decay",
    ),
    Bad("adamw-nan-lr", lambda: AdamW(mlp().parameters(), lr=np.nan), ValueError, "lr"),
    Bad(
        "adamw-step-torch",
        lambda: AdamW(mlp().parameters()).step([torch.ones(1)] * 4),
        TypeError,
        "grads",
    ),
    Bad("adagrad-no-params", lambda: Adagrad([]), ValueError, "params"),
    Bad(
        "adagrad-negative-eps",
        lambda: Adagrad(mlp().parameters(), eps=-1e-10),
        ValueError,
        "eps",
    ),
    Bad(
        "adagrad-step-shape",
        lambda: Adagrad(mlp().parameters()).step(grads_of(0.0)[::-1]),
        ValueError,
        "grads",
    ),
    # --- learning-rate schedules ------------------------------------------------
    Bad("step-decay-zero-every", lambda: step_decay(0.1, 5, 0), ValueError, "every"),
    Bad("step-decay-float-step", lambda: step_decay(0.1, 2.5, 10), TypeError, "step"),
    Bad(
        "step-decay-gamma-zero",
        lambda: step_decay(0.1, 5, 10, gamma=0.0),
        ValueError,
        "gamma",
    ),
    Bad("step-decay-negative-lr", lambda: step_decay(-0.1, 5, 10), ValueError, "lr"),
    Bad("cosine-past-total", lambda: cosine_decay(0.1, 11, 10), ValueError, "step"),
    Bad(
        "cosine-min-above-lr",
        lambda: cosine_decay(0.1, 1, 10, lr_min=0.2),
        ValueError,
        "lr_min",
    ),
    Bad("cosine-nan-lr", lambda: cosine_decay(np.nan, 1, 10), ValueError, "lr"),
    Bad("warmup-zero", lambda: linear_warmup(0.1, 0, 0), ValueError, "warmup"),
    Bad("warmup-negative-step", lambda: linear_warmup(0.1, -1, 10), ValueError, "step"),
    Bad("warmup-bool-step", lambda: linear_warmup(0.1, True, 10), TypeError, "step"),
    # --- gradcheck -----------------------------------------------------------------
    Bad(
        "numgrad-str-eps",
        lambda: numerical_gradient(f, np.ones(3), eps="1e-6"),
        TypeError,
        "eps",
    ),
    Bad(
        "numgrad-zero-eps",
        lambda: numerical_gradient(f, np.ones(3), eps=0),
        ValueError,
        "eps",
    ),
    Bad(
        "numgrad-torch-x", lambda: numerical_gradient(f, torch.ones(3)), TypeError, "x"
    ),
    Bad(
        "numgrad-not-callable",
        lambda: numerical_gradient(3.0, np.ones(3)),
        TypeError,
        "f",
    ),
    Bad(
        "checkgrad-nan-grad",
        lambda: check_gradient(f, np.array([np.nan, 1.0]), np.ones(2)),
        ValueError,
        "grad",
    ),
    Bad(
        "relerr-torch",
        lambda: relative_error(torch.ones(2), np.ones(2)),
        TypeError,
        "a",
    ),
    Bad(
        "relerr-nan",
        lambda: relative_error(np.array([np.nan]), np.ones(1)),
        ValueError,
        "a",
    ),
    # --- neurons -------------------------------------------------------------------
    Bad(
        "lif-str-dt",
        lambda: simulate_lif(2.0, dt_ms="0.1", duration_ms=10.0),
        TypeError,
        "dt_ms",
    ),
    Bad(
        "lif-params-dict",
        lambda: simulate_lif(2.0, dt_ms=0.1, duration_ms=10.0, params={}),
        TypeError,
        "params",
    ),
    Bad(
        "lif-torch-current",
        lambda: simulate_lif(torch.ones(100), dt_ms=0.1, duration_ms=10.0),
        TypeError,
        "current",
    ),
    Bad("lif-rate-torch", lambda: lif_rate(torch.ones(2)), TypeError, "currents"),
    Bad("lif-rate-nan", lambda: lif_rate(np.array([np.nan])), ValueError, "currents"),
    Bad(
        "lif-theory-params-dict",
        lambda: lif_rate_theory(1.0, params={}),
        TypeError,
        "params",
    ),
    Bad("lif-params-str", lambda: LIFParams(tau_m_ms="10"), TypeError, "tau_m_ms"),
    Bad(
        "neuron-torch-x",
        lambda: artificial_neuron(torch.ones(2, 3), np.ones(3), 0.0),
        TypeError,
        "x",
    ),
    Bad(
        "neuron-nan-x",
        lambda: artificial_neuron(np.full((2, 3), np.nan), np.ones(3), 0.0),
        ValueError,
        "x",
    ),
    Bad(
        "neuron-nan-w",
        lambda: artificial_neuron(X4, np.array([1.0, np.nan, 0.0]), 0.0),
        ValueError,
        "w",
    ),
    Bad(
        "perceptron-float-epochs",
        lambda: train_perceptron(XOR_X, XOR_Y, epochs=2.0, rng=rng()),
        TypeError,
        "epochs",
    ),
    Bad(
        "perceptron-str-lr",
        lambda: train_perceptron(XOR_X, XOR_Y, epochs=1, lr="1", rng=rng()),
        TypeError,
        "lr",
    ),
    Bad(
        "perceptron-torch-rng",
        lambda: train_perceptron(XOR_X, XOR_Y, epochs=1, rng=torch.Generator()),
        TypeError,
        "rng",
    ),
    Bad(
        "perceptron-torch-X",
        lambda: train_perceptron(torch.ones(4, 2), XOR_Y, epochs=1, rng=rng()),
        TypeError,
        "X",
    ),
    Bad("predict-torch", lambda: PERCEPTRON.predict(torch.ones(2, 2)), TypeError, "X"),
    Bad("predict-width", lambda: PERCEPTRON.predict(np.ones((2, 3))), ValueError, "X"),
]


@pytest.mark.parametrize("case", params(CASES))
def test_misuse(case: Bad) -> None:
    case.check()
