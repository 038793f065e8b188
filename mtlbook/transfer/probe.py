"""Reusing a pretrained backbone: linear probe, fine-tuning and LP-FT.

The model is ``head(backbone(x))`` for any two modules:

- *linear probe* (feature extraction): the backbone is a fixed feature map
  (eval mode, no gradient) and only the head is trained;
- *fine-tuning*: backbone and head are trained together; parameters with
  ``requires_grad=False`` (see ``freeze``) stay where they are;
- *LP-FT* (Kumar et al. 2022): probe first, then fine-tune. Fine-tuning from
  a random head sends large, head-driven gradients into the backbone and
  distorts the features that out-of-distribution inputs rely on; starting
  from a trained head keeps that change small.

Each trainer takes an optimiser you built (any groups, any rates) and an
iterable of ``(x, y)`` batches that it cycles through for ``steps`` steps,
and returns the training loss of every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook._progress import advance, progress_bar
from mtlbook._validate import (
    check_bool,
    check_callable,
    check_finite_loss,
    check_int,
    check_module,
    check_optimizer,
    check_scalar_loss,
    check_tensor,
)

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
T = TypeVar("T")


def cycle_batches(batches: Iterable[T], steps: int) -> Iterator[T]:
    """Yield exactly ``steps`` items, iterating over ``batches`` again when done.

    ``batches`` may be a list, a DataLoader or an infinite generator; a
    one-shot iterator that runs dry before ``steps`` raises ValueError.
    """
    if not isinstance(batches, Iterable):
        raise TypeError(
            f"batches must be an iterable of batches (a list or a DataLoader), "
            f"got {type(batches).__name__}"
        )
    check_int("steps", steps, low=1)
    return _cycle(batches, steps)


def _cycle(batches: Iterable[T], steps: int) -> Iterator[T]:
    done = 0
    while True:
        empty = True
        for item in batches:
            empty = False
            yield item
            done += 1
            if done == steps:
                return
        if empty:
            raise ValueError(
                f"batches ran dry after {done} of steps={steps} items; pass a "
                "re-iterable (a list or DataLoader) or an infinite generator"
            )


@torch.no_grad()
def extract_features(
    backbone: nn.Module, x: Tensor, *, batch_size: int = 256
) -> Tensor:
    """The backbone's features of ``x`` in eval mode, without gradient.

    x: (n, ...) on the backbone's device. Returns (n, features...).
    """
    check_module("backbone", backbone)
    check_tensor("x", x, floating=True)
    if x.ndim < 1:
        raise ValueError("x must be a tensor with a batch dimension: (n, ...)")
    check_int("batch_size", batch_size, low=1, example=256)
    saved = _save_modes(backbone)
    backbone.eval()
    try:
        return torch.cat([backbone(chunk) for chunk in x.split(batch_size)])
    finally:
        _restore_modes(saved)


def linear_probe(
    backbone: nn.Module,
    head: nn.Module,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    loss_fn: LossFn = F.cross_entropy,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> list[float]:
    """Train ``head`` on the frozen features of ``backbone`` for ``steps`` steps.

    The backbone runs in eval mode under ``torch.no_grad()``: its parameters and
    BatchNorm statistics are left exactly as they were. ``optimizer`` must hold
    head parameters only. x: (batch, ...), y: what ``loss_fn`` expects.
    ``progress=True`` shows a bar on stderr with the loss of each step.

    Returns: the loss of every step, length ``steps``.
    """
    _check_trainer(backbone, head, optimizer, steps, loss_fn)
    check_bool("progress", progress)
    held = _optimizer_params(optimizer)
    head_ids = {id(p) for p in head.parameters()}
    if held & ({id(p) for p in backbone.parameters()} - head_ids):
        raise ValueError(
            "the probe optimizer holds backbone parameters; a linear probe trains "
            "the head only: build it over head.parameters()"
        )
    if not held & head_ids:
        raise ValueError(
            "the probe optimizer holds no head parameters; build it "
            "over head.parameters()"
        )
    device = _device(device, backbone, head)
    saved = _save_modes(backbone, head)
    backbone.eval()
    head.train()
    losses = []
    try:
        with progress_bar(progress, steps, "linear_probe") as bar:
            for step, (x, y) in _batches(batches, steps, device, "probe"):
                with torch.no_grad():
                    features = backbone(x)
                loss = loss_fn(head(features), y)
                _update(optimizer, loss, step, "probe", x)
                losses.append(loss.item())
                advance(bar, loss=losses[-1])
    finally:
        _restore_modes(saved)
    return losses


def fine_tune(
    backbone: nn.Module,
    head: nn.Module,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    loss_fn: LossFn = F.cross_entropy,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    penalty: Callable[[], Tensor] | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> list[float]:
    """Train ``head(backbone(x))`` end to end for ``steps`` steps.

    Training from scratch is this function on a freshly initialised backbone.
    ``scheduler.step()`` runs after every optimiser step; ``penalty()`` (e.g.
    an ``L2SP``) is added to the loss. x: (batch, ...), y: what ``loss_fn``
    expects. ``progress=True`` shows a bar on stderr with the loss of each step.

    Returns: the task loss (without penalty) of every step, length ``steps``.
    """
    _check_trainer(backbone, head, optimizer, steps, loss_fn)
    _check_extras(scheduler, penalty)
    check_bool("progress", progress)
    device = _device(device, backbone, head)
    saved = _save_modes(backbone, head)
    backbone.train()
    head.train()
    losses = []
    try:
        with progress_bar(progress, steps, "fine_tune") as bar:
            for step, (x, y) in _batches(batches, steps, device, "fine-tune"):
                loss = loss_fn(head(backbone(x)), y)
                check_scalar_loss("loss_fn", loss)
                total = loss + penalty() if penalty is not None else loss
                _update(optimizer, total, step, "fine-tune", x)
                if scheduler is not None:
                    scheduler.step()
                losses.append(loss.item())
                advance(bar, loss=losses[-1])
    finally:
        _restore_modes(saved)
    return losses


def lp_ft(
    backbone: nn.Module,
    head: nn.Module,
    batches: Iterable[Batch],
    probe_optimizer: torch.optim.Optimizer,
    ft_optimizer: torch.optim.Optimizer,
    *,
    probe_steps: int,
    ft_steps: int,
    loss_fn: LossFn = F.cross_entropy,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    penalty: Callable[[], Tensor] | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> dict[str, list[float]]:
    """LP-FT (Kumar et al. 2022): ``linear_probe``, then ``fine_tune``.

    ``scheduler`` and ``penalty`` apply to the fine-tuning stage only;
    ``progress=True`` shows one bar per stage on stderr.

    Returns: {"probe": losses of the probe stage, "fine_tune": losses after}.
    """
    # check both stages now: a mistake in the second must not surface after the first
    _check_trainer(backbone, head, probe_optimizer, probe_steps, loss_fn, "probe_")
    _check_trainer(backbone, head, ft_optimizer, ft_steps, loss_fn, "ft_")
    _check_extras(scheduler, penalty)
    check_bool("progress", progress)
    common: dict[str, Any] = {
        "loss_fn": loss_fn,
        "device": device,
        "progress": progress,
    }
    probe = linear_probe(
        backbone, head, batches, probe_optimizer, steps=probe_steps, **common
    )
    tuned = fine_tune(
        backbone,
        head,
        batches,
        ft_optimizer,
        steps=ft_steps,
        scheduler=scheduler,
        penalty=penalty,
        **common,
    )
    return {"probe": probe, "fine_tune": tuned}


# --- internals --------------------------------------------------------------


def _batches(
    batches: Iterable[Batch],
    steps: int,
    device: torch.device,
    stage: str,
) -> Iterator[tuple[int, Batch]]:
    """(step, (x, y)) pairs on ``device``, checked to be pairs of tensors."""
    for step, batch in enumerate(cycle_batches(batches, steps)):
        if not (
            isinstance(batch, tuple | list)
            and len(batch) == 2
            and all(isinstance(b, Tensor) for b in batch)
        ):
            raise TypeError(
                f"{stage}: batches must yield (x, y) pairs of tensors, got "
                f"{type(batch).__name__}; e.g. a DataLoader over TensorDataset(x, y)"
            )
        yield step, (batch[0].to(device), batch[1].to(device))


def _update(
    optimizer: torch.optim.Optimizer, loss: Tensor, step: int, stage: str, x: Tensor
) -> None:
    check_scalar_loss("loss_fn", loss)
    check_finite_loss(loss, step, _nonfinite_cause(stage, x=x))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _nonfinite_cause(stage: str, **inputs: Tensor) -> str:
    """Why a loss is NaN or inf: scans the batch, only once the loss has failed."""
    for name, x in inputs.items():
        if x.is_floating_point() and not torch.isfinite(x).all():
            return f"{stage}: the batch's {name} holds NaN or inf; check the data"
    return (
        f"{stage}: the batch is finite, so the learning rate is likely too large; "
        "lower the learning rate"
    )


def _check_trainer(
    backbone: object,
    head: object,
    optimizer: object,
    steps: object,
    loss_fn: object,
    prefix: str = "",
) -> None:
    check_module("backbone", backbone)
    check_module("head", head)
    check_optimizer(f"{prefix}optimizer", optimizer)
    check_int(f"{prefix}steps", steps, low=1, example=100)
    check_callable("loss_fn", loss_fn, "F.cross_entropy")


def _check_extras(scheduler: object, penalty: object) -> None:
    if scheduler is not None and not isinstance(
        scheduler, torch.optim.lr_scheduler.LRScheduler
    ):
        raise TypeError(
            f"scheduler must be a torch.optim.lr_scheduler.LRScheduler or None, got "
            f"{type(scheduler).__name__}"
        )
    if penalty is not None:
        check_callable("penalty", penalty, "L2SP(backbone, head, alpha=0.1, beta=0)")


def _optimizer_params(optimizer: object) -> set[int]:
    checked = check_optimizer("optimizer", optimizer)
    return {id(p) for group in checked.param_groups for p in group["params"]}


def _device(device: torch.device | str | None, *modules: nn.Module) -> torch.device:
    """The given device, else the device of the first parameter (CPU if none)."""
    if device is not None:
        return torch.device(device)
    for module in modules:
        for p in module.parameters():
            return p.device
    return torch.device("cpu")


def _save_modes(*modules: nn.Module) -> list[tuple[nn.Module, bool]]:
    return [(m, m.training) for module in modules for m in module.modules()]


def _restore_modes(saved: list[tuple[nn.Module, bool]]) -> None:
    for module, training in saved:
        module.training = training
