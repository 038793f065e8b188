"""A small classifier kit: ReLU MLPs, a minibatch SGD trainer, test accuracy.

General tools, independent of any experiment: :func:`make_mlp` builds an MLP
from an explicit generator, :func:`train_classifier` trains any classifier by
minibatch SGD on cross-entropy (batches drawn with replacement from an explicit
generator), and :func:`model_accuracy` scores it, batch by batch, with the
package's one metric :func:`mtlbook.metrics.accuracy`. The layer-transfer
experiment (:mod:`mtlbook.transfer.layer_transfer`) uses them and re-exports
them under their old names (``model_accuracy`` as ``accuracy``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook._progress import advance, progress_bar
from mtlbook._validate import (
    check_bool,
    check_finite_loss,
    check_int,
    check_labels,
    check_module,
    check_nonempty,
    check_real,
    check_same_length,
    check_tensor,
    check_torch_generator,
)
from mtlbook.metrics import accuracy

__all__ = ["make_mlp", "minibatch_index", "model_accuracy", "train_classifier"]


def make_mlp(sizes: Sequence[int], generator: torch.Generator) -> nn.Sequential:
    """A ReLU MLP with ``len(sizes) - 1`` layers, initialised from ``generator``.

    sizes: (input, hidden..., output). Input: (batch, sizes[0]). The layers are
    built on the meta device and initialised with PyTorch's default rule from
    ``generator``, so the global random state is never used.
    """
    sizes = _check_sizes(sizes)
    check_torch_generator("generator", generator)
    modules: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        linear = nn.Linear(n_in, n_out, device="meta").to_empty(device="cpu")
        # PyTorch's own nn.Linear initialisation, drawn from our generator.
        nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
        bound = 1.0 / math.sqrt(n_in)
        nn.init.uniform_(linear.bias, -bound, bound, generator=generator)
        modules.append(linear)
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def train_classifier(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    steps: int,
    generator: torch.Generator,
    lr: float = 0.1,
    momentum: float = 0.9,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    progress: bool = False,
) -> list[float]:
    """Minibatch SGD on cross-entropy over the trainable parameters of ``model``.

    x: (n, ...) and y: (n,) on the model's device; batches are drawn with
    replacement from ``generator`` (a CPU generator). The default trainer of
    :func:`~mtlbook.transfer.layer_transfer.layer_transfer`; adapt it with
    ``functools.partial``.
    ``progress=True`` shows a bar on stderr with the loss of each step.
    Returns: the loss of every step, length ``steps``.
    """
    check_module("model", model)
    _check_xy("x", "y", x, y, finite=True)
    check_nonempty("x", x, "training examples")
    _check_width("x", model, x)
    steps = check_int("steps", steps, low=1, example=100)
    check_torch_generator("generator", generator)
    lr = check_real("lr", lr, low=0, example=0.1)
    momentum = check_real("momentum", momentum, low=0, example=0.9)
    weight_decay = check_real("weight_decay", weight_decay, low=0, example=0.0)
    batch_size = check_int("batch_size", batch_size, low=1, example=64)
    check_bool("progress", progress)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters; lower the cut depth")
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    model.train()
    losses = []
    bar = progress_bar(progress, steps, "train_classifier")
    for step in range(steps):
        index = minibatch_index(len(x), batch_size, generator, x.device)
        logits = model(x[index])
        if step == 0:  # the model's class count is known once it has run
            _check_logits("model", logits, len(index))
            check_labels("y", y, logits.shape[1])
        loss = nn.functional.cross_entropy(logits, y[index])
        check_finite_loss(
            loss, step, f"x is finite, so lr={lr} is likely too large; lower it"
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        advance(bar, loss=losses[-1])
    bar.close()
    return losses


@torch.no_grad()
def model_accuracy(
    model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1024
) -> float:
    """Top-1 accuracy of ``model`` on (x, y) in eval mode, as a Python float.

    x: (n, ...) inputs, y: (n,) integer labels, on the model's device; the
    model must return (batch, classes) scores. The adapter from a model to
    :func:`mtlbook.metrics.accuracy`: it runs ``model`` over ``batch_size``
    rows at a time under ``torch.no_grad()``, counts the correct rows of each
    batch with ``accuracy(logits, labels, reduction="sum")`` and returns
    correct / n (float64 division, so the result does not depend on
    ``batch_size``). The model's train/eval mode is restored afterwards.
    ``mtlbook.transfer.layer_transfer.accuracy`` is this function.
    """
    check_module("model", model)
    _check_xy("x", "y", x, y)
    check_nonempty("x", x, "test examples")
    _check_width("x", model, x)
    batch_size = check_int("batch_size", batch_size, low=1, example=1024)
    was_training = model.training
    model.eval()
    try:
        correct = sum(
            accuracy(model(xb), yb, reduction="sum").item()
            for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True)
        )
    finally:
        model.train(was_training)
    return correct / len(x)


def minibatch_index(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Tensor:
    """(min(batch_size, n),) row indices drawn with replacement from ``generator``.

    The one draw :func:`train_classifier` makes per step: ``torch.randint`` on
    the CPU generator, then moved to ``device`` (where the data live).
    """
    index = torch.randint(n, (min(batch_size, n),), generator=generator)
    return index.to(device)


# --- internals --------------------------------------------------------------


def _check_sizes(sizes: object) -> list[int]:
    if isinstance(sizes, str) or not isinstance(sizes, Sequence):
        raise TypeError(
            f"sizes={sizes!r} must be a list of ints (input, hidden..., output), "
            "e.g. sizes=[64, 128, 5]"
        )
    checked = [check_int(f"sizes[{i}]", s, low=1) for i, s in enumerate(sizes)]
    if len(checked) < 2:
        raise ValueError(
            f"sizes={list(sizes)!r} must be at least two positive ints, "
            "(input, hidden..., output)"
        )
    return checked


def _check_xy(
    xname: str,
    yname: str,
    x: object,
    y: object,
    *,
    floating: bool = True,
    finite: bool = False,
) -> None:
    """x: (n, ...) inputs (floating point unless told), y: (n,) integer labels."""
    x = check_tensor(xname, x, floating=floating, finite=finite)
    y = check_tensor(yname, y)
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(
            f"{yname} must hold integer class labels, got {y.dtype}; use {yname}.long()"
        )
    if y.ndim != 1 or x.ndim < 1:
        raise ValueError(
            f"{xname}: (n, ...) and {yname}: (n,) must have the same n, got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    check_same_length((xname, yname), x, y)


def _check_width(name: str, model: nn.Module, x: Tensor) -> None:
    """x: (n, features) must match the first layer when that layer is Linear."""
    first = next(
        (m for m in model.modules() if any(True for _ in m.parameters(False))), None
    )
    if isinstance(first, nn.Linear) and x.ndim == 2 and x.shape[1] != first.in_features:
        raise ValueError(
            f"{name} has {x.shape[1]} features per example but the model's first "
            f"layer takes {first.in_features}; pass x of shape (n, "
            f"{first.in_features}) or build the model for {x.shape[1]} inputs"
        )


def _check_logits(name: str, logits: object, n: int) -> None:
    if not isinstance(logits, Tensor) or logits.ndim != 2 or len(logits) != n:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else None
        raise ValueError(
            f"{name} must return class scores of shape (batch, classes) = ({n}, c), "
            f"got {shape or type(logits).__name__}"
        )
