"""Neural-network pieces written from scratch in numpy (Part I of the book).

Each module imports on its own (``from mtlbook.scratch.layers import MLP``).
The names below are also available here, e.g. ``from mtlbook.scratch import MLP``;
they are imported lazily, on first use, so a broken or slow module never stops
the others from importing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "neurons": (
        "LIFParams",
        "LIFTrace",
        "simulate_lif",
        "lif_rate",
        "lif_rate_theory",
        "artificial_neuron",
        "PerceptronResult",
        "train_perceptron",
    ),
    "activations": (
        "sigmoid",
        "sigmoid_grad",
        "tanh",
        "tanh_grad",
        "relu",
        "relu_grad",
        "leaky_relu",
        "leaky_relu_grad",
        "elu",
        "elu_grad",
        "gelu",
        "gelu_grad",
        "softplus",
        "softplus_grad",
        "softmax",
        "log_softmax",
        "logsumexp",
        "softmax_backward",
        "ACTIVATIONS",
        "get_activation",
    ),
    "losses": (
        "mse",
        "mse_grad",
        "bce_with_logits",
        "bce_with_logits_grad",
        "softmax_cross_entropy",
        "softmax_cross_entropy_grad",
        "label_smoothing_cross_entropy",
        "label_smoothing_cross_entropy_grad",
        "hinge",
        "hinge_grad",
        "multiclass_hinge",
        "multiclass_hinge_grad",
        "LOSSES",
        "get_loss",
    ),
    "layers": ("init_weights", "Dense", "MLP"),
    "optim": ("SGD", "RMSProp", "Adam", "AdamW", "Adagrad"),
    "schedules": ("step_decay", "cosine_decay", "linear_warmup"),
    "gradcheck": ("numerical_gradient", "relative_error", "check_gradient"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)  # noqa: PLE0605 (computed: the lazy exports below)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_MODULE_OF[name]}")
    value = getattr(module, name)
    globals()[name] = value  # cache: later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
