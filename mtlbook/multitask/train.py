"""One training loop for both kinds of multi-task methods, and what it records.

``train_multitask`` takes exactly one of a *scalarizer* (task losses → one loss,
one backward pass) or an *aggregator* (task gradients of the shared parameters
→ one update, K backward passes). With ``use_representation=True`` the
aggregator's weighting is applied to the gradients with respect to the model's
shared ``representation`` instead (MGDA-UB for ``MGDA``). Each of the three
runs its backward pass(es) in a step object of :mod:`mtlbook.multitask.steps`,
so the loop itself is the same for all. The returned :class:`History` holds
the traces a chapter plots.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mtlbook._progress import advance, progress_bar
from mtlbook._validate import (
    check_bool,
    check_finite_loss,
    check_int,
    check_labels,
    check_module,
    check_optimizer,
    check_scalar_loss,
    check_tensor,
)
from mtlbook.multitask.aggregators import Aggregator
from mtlbook.multitask.diagnostics import conflict_rate, gradient_cosines
from mtlbook.multitask.gradients import task_gradients
from mtlbook.multitask.scalarizers import EqualWeights, Scalarizer
from mtlbook.multitask.steps import (
    StepResult,
    TrainingStep,
    shared_parameters,
    training_step,
)

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class History:
    """Per-step traces of a multi-task run.

    task_losses: (steps, K) training losses before each step; weights: (steps, K)
    task weights the method applied (its own scale: Σ w = K for loss weights,
    Σ w = 1 for MGDA-like ones); backward_passes: (steps,) autograd passes per
    step (diagnostics not counted); diag_steps: (n,) the steps where cosines:
    (n, K, K) and conflict_rate: (n,) were measured on the shared parameters.
    """

    task_losses: np.ndarray
    weights: np.ndarray
    backward_passes: np.ndarray
    diag_steps: np.ndarray
    cosines: np.ndarray
    conflict_rate: np.ndarray


class _Batches:
    """Endless batches; a re-iterable source restarts (a new epoch) when it ends."""

    def __init__(self, batches: Iterable[Any]) -> None:
        _check_batches(batches)
        self.source = batches
        self.iterator: Iterator[Any] = iter(batches)
        self.reiterable = self.iterator is not batches

    def next(self) -> tuple[Any, bool]:
        """Return (batch, True if a new epoch started with it)."""
        try:
            return next(self.iterator), False
        except StopIteration:
            if not self.reiterable:
                raise ValueError(
                    "batches ran out before `steps` steps; pass a list or a "
                    "DataLoader (re-iterable: it restarts) or more batches"
                ) from None
            self.iterator = iter(self.source)
            try:
                return next(self.iterator), True
            except StopIteration:
                raise ValueError("batches is empty; pass at least one batch") from None


def _check_batches(batches: object) -> None:
    if isinstance(batches, Tensor | str) or not isinstance(batches, Iterable):
        raise TypeError(
            f"batches must be a list of (x, [target_1, ..., target_K]) pairs or a "
            f"DataLoader, got {type(batches).__name__}"
        )


def _unpack(batch: Any) -> tuple[Any, Any]:
    """A batch as (x, targets), with x a floating tensor (O(1): no scan)."""
    if not isinstance(batch, list | tuple) or len(batch) != 2:
        raise ValueError(
            f"a batch must be a pair (x, [target_1, ..., target_K]), got "
            f"{type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, list | tuple) else "")
        )
    x, targets = batch
    check_tensor("x (the batch input)", x, floating=True)
    return x, targets


def _check_dtype(model: nn.Module, x: Tensor) -> None:
    """x in the model's dtype: float64 data into a float32 model fails deep in torch."""
    param = next(model.parameters(), None)
    if param is not None and param.is_floating_point() and x.dtype != param.dtype:
        cast = "x.float()" if param.dtype == torch.float32 else "x.double()"
        raise TypeError(
            f"x (the batch input) is {x.dtype} but the model's parameters are "
            f"{param.dtype}; cast the data with {cast} (or the model with "
            "model.to(x.dtype))"
        )


def _first_linear(model: nn.Module) -> nn.Linear | None:
    for m in model.modules():
        if isinstance(m, nn.modules.lazy.LazyModuleMixin):
            return None  # no input width until the first call
        if isinstance(m, nn.Linear):
            return m
        if isinstance(m, nn.modules.conv._ConvNd):
            return None
    return None


def _split_targets(targets: Any, K: int) -> list[Tensor]:
    """Targets as a list of K tensors (one per task, in the head order)."""
    if not isinstance(targets, list | tuple) or len(targets) != K:
        got = len(targets) if isinstance(targets, list | tuple) else "a tensor"
        raise ValueError(
            f"a batch has targets {type(targets).__name__} ({got}) for {K} tasks; "
            "each batch must be (x, [target_1, ..., target_K]) (split a "
            "(batch, K) label tensor with list(y.unbind(1)))"
        )
    return list(targets)


def _task_losses(
    model: nn.Module, x: Tensor, targets: list[Tensor], loss_fns: Sequence[LossFn]
) -> list[Tensor]:
    """Forward pass and the K scalar task losses (a list, see steps.TrainingStep).

    Errors raised deep inside torch (a wrong feature width, a label out of
    range) are diagnosed only when they happen, so valid steps pay nothing.
    """
    outputs = _forward(model, x)
    if isinstance(outputs, Tensor) or len(outputs) != len(loss_fns):
        n = "a tensor" if isinstance(outputs, Tensor) else f"{len(outputs)} outputs"
        raise ValueError(
            f"the model returned {n} but {len(loss_fns)} loss_fns were given; "
            "pass one loss function per head"
        )
    terms = []
    for k, (fn, y, t) in enumerate(zip(loss_fns, outputs, targets, strict=True)):
        try:
            loss = fn(y, t)
        except (IndexError, RuntimeError):
            _diagnose_target(k, y, t)
            raise
        if not isinstance(loss, Tensor) or loss.ndim != 0:
            check_scalar_loss(f"loss_fns[{k}]", loss)
        terms.append(loss)
    return terms


def _forward(model: nn.Module, x: Tensor) -> Any:
    try:
        return model(x)
    except RuntimeError as error:
        first = _first_linear(model)
        if first is not None and x.ndim >= 1 and x.shape[-1] != first.in_features:
            raise ValueError(
                f"x (the batch input) has {x.shape[-1]} features (shape "
                f"{tuple(x.shape)}) but the model's first layer expects "
                f"{first.in_features}; check the data or the model's input width"
            ) from error
        raise


def _diagnose_target(k: int, y: Tensor, t: Any) -> None:
    """Raise a clear error if target k is the cause of a failed loss."""
    if not isinstance(t, Tensor):
        raise TypeError(f"targets[{k}] must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point() and t.dtype != torch.bool and y.ndim >= 2:
        check_labels(f"targets[{k}]", t, y.shape[1])


def _diverged_hint(x: Tensor, targets: list[Tensor], k: int) -> str:
    """Why task k's loss is not finite: scans the batch, on failure only."""
    if not torch.isfinite(x).all():
        return (
            f"task {k}; x (the batch input) holds NaN or inf: clean the data "
            "(e.g. torch.nan_to_num or drop those rows)"
        )
    t = targets[k]
    if isinstance(t, Tensor) and t.is_floating_point() and not torch.isfinite(t).all():
        return f"task {k}; targets[{k}] holds NaN or inf: clean the labels"
    return (
        f"task {k}; training diverged or the loss is ill-defined "
        "(lower the learning rate)"
    )


def _check_finite(losses: Tensor, step: int, x: Tensor, targets: list[Tensor]) -> None:
    """One number read per step; the batch is scanned only if it is not finite."""
    bad = ~torch.isfinite(losses.detach())
    if bad.any():
        k = int(bad.nonzero()[0, 0])
        check_finite_loss(losses[k], step, _diverged_hint(x, targets, k))


def _loss_fns(name: str, fns: Any) -> list[Callable]:
    """K functions (output_k, target_k) -> (); one function alone is refused."""
    if callable(fns) or isinstance(fns, str) or not isinstance(fns, Iterable):
        raise TypeError(
            f"{name} must be a list of K functions, one per task, got "
            f"{type(fns).__name__}; e.g. {name}=[F.cross_entropy, F.mse_loss]"
        )
    fns = list(fns)
    if not fns:
        raise ValueError(f"{name} is empty; pass one function per task")
    bad = [type(f).__name__ for f in fns if not callable(f)]
    if bad:
        raise TypeError(
            f"{name} must hold functions (output, target) -> value, got {bad}; "
            "e.g. F.cross_entropy, not the string 'cross_entropy'"
        )
    return fns


def _check_optimizer(
    optimizer: Any, model: nn.Module, scalarizer: Scalarizer | None
) -> None:
    check_optimizer("optimizer", optimizer)
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if trainable and not any(id(p) in in_optimizer for p in trainable):
        raise ValueError(
            "the optimizer holds none of the model's parameters (was it built for "
            "another model?); build it with torch.optim.Adam(model.parameters())"
        )
    if scalarizer is None:
        return
    if any(
        p.requires_grad and id(p) not in in_optimizer for p in scalarizer.parameters()
    ):
        raise ValueError(
            "the scalarizer has learnable weights that the optimizer does not "
            "train; build it with [*model.parameters(), *scalarizer.parameters()]"
        )


def _check_method(scalarizer: Any, aggregator: Any, use_representation: Any) -> None:
    """Exactly one of a Scalarizer or an Aggregator (use_representation needs one)."""
    if (scalarizer is None) == (aggregator is None):
        raise ValueError(
            "pass exactly one of scalarizer= (e.g. EqualWeights(K)) or "
            "aggregator= (e.g. MGDA()), not both and not neither"
        )
    if scalarizer is not None and not isinstance(scalarizer, Scalarizer):
        raise TypeError(
            f"scalarizer must be a Scalarizer, got {type(scalarizer).__name__}"
        )
    if aggregator is not None and not isinstance(aggregator, Aggregator):
        raise TypeError(
            f"aggregator must be an Aggregator, got {type(aggregator).__name__}"
        )
    check_bool("use_representation", use_representation)
    if use_representation and aggregator is None:
        raise ValueError("use_representation=True needs an aggregator (e.g. MGDA())")


def _check_task_count(
    model: nn.Module, scalarizer: Scalarizer | None, regularizer: Any, K: int
) -> None:
    """The regularizer is a function; the model and scalarizer are for K tasks."""
    if regularizer is not None and not callable(regularizer):
        raise TypeError(
            f"regularizer must be a function model -> loss, got "
            f"{type(regularizer).__name__}; e.g. lambda m: 0.1 * l2_coupling(m.towers)"
        )
    n_heads = getattr(model, "n_tasks", None)
    if n_heads is not None and n_heads != K:
        raise ValueError(
            f"got {K} loss_fns for a model with {n_heads} heads; pass one loss "
            "function per head, in the head order"
        )
    if scalarizer is not None and scalarizer.n_tasks != K:
        raise ValueError(
            f"the scalarizer is for n_tasks={scalarizer.n_tasks}, got {K} loss_fns"
        )


def _check_loop_options(steps: Any, progress: Any, diag_every: Any) -> None:
    check_int("steps", steps, low=1)
    check_bool("progress", progress)
    if diag_every is not None:
        check_int("diag_every", diag_every, low=1)


class _Diagnostics:
    """Cosines and conflict rate of the shared-parameter task gradients.

    Measured every ``every`` steps (None: never) when K ≥ 2 and the model shares
    parameters. A step that computes those gradients anyway lends them; for the
    others they cost K extra backward passes, which are not counted.
    """

    def __init__(self, model: nn.Module, every: int | None, K: int) -> None:
        self.every, self.K = every, K
        self.shared = shared_parameters(model) if every is not None else []
        self.active = every is not None and K >= 2 and bool(self.shared)
        self.steps: list[int] = []
        self.cosines: list[np.ndarray] = []
        self.conflicts: list[float] = []
        self._gradients: Tensor | None = None

    def due(self, step: int) -> bool:
        """Whether step ``step`` is measured."""
        return self.active and self.every is not None and step % self.every == 0

    def before_step(self, step: int, terms: list[Tensor], method: TrainingStep) -> None:
        """Take G before the backward passes free the graph, if the step won't."""
        self._gradients = None
        if self.due(step) and not method.computes_task_gradients:
            self._gradients = task_gradients(terms, self.shared)

    def after_step(self, step: int, result: StepResult) -> None:
        """Record the measurement of a due step."""
        if not self.due(step):
            return
        G = result.gradients if self._gradients is None else self._gradients
        # before_step took G unless the step computes it (and then returns it)
        assert G is not None
        self.steps.append(step)
        self.cosines.append(gradient_cosines(G).cpu().numpy())
        self.conflicts.append(conflict_rate(G))


class _Log:
    """Per-step traces, and the running sums behind each epoch's mean losses."""

    def __init__(self, K: int) -> None:
        self.K = K
        self.losses: list[np.ndarray] = []
        self.weights: list[np.ndarray] = []
        self.passes: list[int] = []
        self._new_epoch()

    def _new_epoch(self) -> None:
        self.epoch_sum = torch.zeros(self.K, dtype=torch.float64)
        self.epoch_count = 0

    def end_epoch(self, method: TrainingStep) -> None:
        """Hand the epoch's mean losses to the method (none before a full epoch)."""
        if self.epoch_count > 0:
            method.end_epoch(self.epoch_sum / self.epoch_count)
            self._new_epoch()

    def append(self, losses: Tensor, result: StepResult) -> Tensor:
        """Record one step; returns its losses (K,) as float64 on the CPU."""
        detached = losses.detach().to("cpu", torch.float64)
        self.epoch_sum += detached
        self.epoch_count += 1
        self.losses.append(detached.numpy())
        self.weights.append(result.weights.detach().to("cpu", torch.float64).numpy())
        self.passes.append(result.backward_passes)
        return detached

    def history(self, diagnostics: _Diagnostics) -> History:
        """The traces as a :class:`History`."""
        return History(
            task_losses=np.stack(self.losses),
            weights=np.stack(self.weights),
            backward_passes=np.asarray(self.passes, dtype=np.int64),
            diag_steps=np.asarray(diagnostics.steps, dtype=np.int64),
            cosines=np.asarray(diagnostics.cosines, dtype=np.float64).reshape(
                -1, self.K, self.K
            ),
            conflict_rate=np.asarray(diagnostics.conflicts, dtype=np.float64),
        )


def _next_batch(
    source: _Batches,
    K: int,
    device: torch.device | str | None,
    on_new_epoch: Callable[[], None],
) -> tuple[Tensor, list[Tensor]]:
    """The next (x, K targets) on ``device``; calls ``on_new_epoch`` at a restart."""
    batch, new_epoch = source.next()
    x, targets = _unpack(batch)
    if new_epoch:
        on_new_epoch()
    targets = _split_targets(targets, K)
    if device is not None:
        x, targets = x.to(device), [t.to(device) for t in targets]
    return x, targets


def _training_losses(
    model: nn.Module, x: Tensor, targets: list[Tensor], loss_fns: Sequence[LossFn]
) -> tuple[list[Tensor], Tensor]:
    """Forward in training mode: the K task losses as a list, and stacked (K,)."""
    model.train()
    terms = _task_losses(model, x, targets, loss_fns)
    return terms, torch.stack(terms)


def _losses_after_step(
    model: nn.Module, x: Tensor, targets: list[Tensor], loss_fns: Sequence[LossFn]
) -> Tensor:
    """The task losses (K,) on the same batch after the optimiser step (FAMO)."""
    return torch.stack(_task_losses(model, x, targets, loss_fns))


def train_multitask(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fns: Sequence[LossFn],
    *,
    steps: int,
    optimizer: torch.optim.Optimizer,
    scalarizer: Scalarizer | None = None,
    aggregator: Aggregator | None = None,
    use_representation: bool = False,
    regularizer: Callable[[nn.Module], Tensor] | None = None,
    diag_every: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> History:
    """Train ``model`` on K tasks for ``steps`` steps and return its :class:`History`.

    batches: (x, targets) with x: (batch, ...) and targets a list of K tensors;
    a list or DataLoader restarts when it ends, and each restart ends an epoch
    (DWA's ``end_epoch`` gets the epoch's mean losses).
    loss_fns: K functions (output_k, target_k) → (). Exactly one of
    ``scalarizer`` or ``aggregator``; ``use_representation`` applies the
    aggregator's weights computed from ∂L_k/∂``model.representation`` (MGDA-UB
    with ``MGDA()``). ``regularizer(model)`` → () is added to the loss (e.g.
    λ·l2_coupling(model.towers)). FAMO's ``after_step`` gets the losses on the same
    batch after each step. Every ``diag_every`` steps (None: never) the task
    gradients of the shared parameters are measured for cosines and conflicts.
    ``progress=True`` shows a bar on stderr with the mean task loss of each step.
    """
    check_module("model", model)
    _check_batches(batches)
    _check_method(scalarizer, aggregator, use_representation)
    loss_fns = _loss_fns("loss_fns", loss_fns)
    K = len(loss_fns)
    _check_task_count(model, scalarizer, regularizer, K)
    _check_loop_options(steps, progress, diag_every)
    _check_optimizer(optimizer, model, scalarizer)

    # The method's backward pass(es); the loop below never asks which one it is.
    method = training_step(
        model, scalarizer, aggregator, use_representation, regularizer
    )
    diagnostics, log = _Diagnostics(model, diag_every, K), _Log(K)
    source = _Batches(batches)
    with progress_bar(progress, steps, "train_multitask") as bar:
        for step in range(steps):
            x, targets = _next_batch(source, K, device, partial(log.end_epoch, method))
            if step == 0:
                _check_dtype(model, x)
            terms, losses = _training_losses(model, x, targets, loss_fns)
            _check_finite(losses, step, x, targets)
            optimizer.zero_grad(set_to_none=True)
            diagnostics.before_step(step, terms, method)
            result = method.step(terms, losses)
            optimizer.step()
            method.after_step(partial(_losses_after_step, model, x, targets, loss_fns))
            diagnostics.after_step(step, result)
            advance(bar, loss=log.append(losses, result).mean())
    return log.history(diagnostics)


class _OneTask:
    """Re-iterable view of multi-task batches that keeps task ``k``'s target."""

    def __init__(self, batches: Iterable[Any], task: int) -> None:
        self.batches, self.task = batches, task

    def __iter__(self) -> Iterator[tuple[Any, list[Tensor]]]:
        for x, targets in self.batches:
            if not isinstance(targets, list | tuple) or self.task >= len(targets):
                raise ValueError(
                    f"task={self.task}: each batch must be (x, [target_1, ..., "
                    "target_K]) with more than `task` targets"
                )
            yield x, [targets[self.task]]


def train_single_task(
    model: nn.Module,
    batches: Iterable[Any],
    loss_fn: LossFn,
    *,
    task: int,
    steps: int,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> History:
    """Single-task baseline for Δm: train a one-head ``model`` on task ``task``.

    ``model`` returns a list with one output (e.g. ``mtl_model.single_task(k)``,
    the same trunk and initial weights); batches are the multi-task batches, of
    which only target ``task`` is used. Same loop as :func:`train_multitask`
    with ``EqualWeights(1)``; History has K = 1.
    """
    check_int("task", task, low=0)
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be one loss function, got {type(loss_fn).__name__}; "
            "e.g. loss_fn=F.cross_entropy"
        )
    _check_batches(batches)
    view: Iterable[Any] = _OneTask(batches, task)
    if isinstance(batches, Iterator):
        view = iter(view)  # one pass only, like the source
    return train_multitask(
        model,
        view,
        [loss_fn],
        steps=steps,
        optimizer=optimizer,
        scalarizer=EqualWeights(1),
        device=device,
        progress=progress,
    )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[Any],
    metrics: Sequence[Callable[[Tensor, Tensor], Tensor | float]],
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Per-task metrics over all batches, weighted by batch size: (K,) float64.

    metrics: K functions (output_k, target_k) → batch mean (e.g. accuracy).
    """
    check_module("model", model)
    _check_batches(batches)
    metrics = _loss_fns("metrics", metrics)
    K = len(metrics)
    model.eval()
    total, count = np.zeros(K), 0
    for batch in batches:
        x, targets = _unpack(batch)
        targets = _split_targets(targets, K)
        if device is not None:
            x, targets = x.to(device), [t.to(device) for t in targets]
        if count == 0:
            _check_dtype(model, x)
        outputs = _forward(model, x)
        if isinstance(outputs, Tensor) or len(outputs) != K:
            raise ValueError(f"the model must return {K} outputs, one per metric")
        n = len(targets[0])
        total += n * np.array(
            [float(m(y, t)) for m, y, t in zip(metrics, outputs, targets, strict=True)]
        )
        count += n
    if count == 0:
        raise ValueError("batches is empty; pass at least one batch")
    values = total / count
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"a metric is not finite: {values.tolist()}")
    return values
