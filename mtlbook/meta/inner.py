"""The functional inner loop: adapt parameters to one task, for any nn.Module.

Parameters travel as a ``dict[str, Tensor]`` (``dict(model.named_parameters())``
for the meta-parameters themselves) and the model is called through
``torch.func.functional_call``, so adapting never touches the module. Three
choices make the MAML family (Finn et al. 2017, Algorithm 2, line 7):

- ``order``: ``"second"`` keeps the graph through the inner gradients (MAML),
  ``"first"`` treats them as constants (first-order MAML), ``"none"`` returns
  parameters detached from everything (test-time adaptation, Reptile);
- ``adapts``: which parameters the inner loop changes (ANIL: only the head);
- ``lr``: one rate, one per step ``(steps,)``, or one per parameter (Meta-SGD).

Meta-batches run through :func:`map_tasks`, vectorised with ``torch.func.vmap``
unless the model contains a layer for which that is wrong or impossible
(see :func:`vmap_blockers`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.instancenorm import _InstanceNorm
from torch.nn.parallel import DistributedDataParallel

from mtlbook._validate import (
    check_bool,
    check_int,
    check_labels,
    check_module,
    check_real,
    check_same_length,
    check_scalar_loss,
    check_tensor,
)
from mtlbook.meta.task_containers import _task_of_batch
from mtlbook.meta.tasks import Task, TaskBatch

__all__ = [
    "LossFn",
    "Params",
    "Predict",
    "VectorizationWarning",
    "adapt",
    "functional",
    "map_tasks",
    "meta_backward",
    "meta_loss",
    "vmap_blockers",
]

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]  # (prediction, target) -> scalar
Predict = Callable[..., Any]  # (params, *inputs) -> the model's output
Order = Literal["second", "first", "none"]
BatchNormPolicy = Literal["batch", "running"] | None
Rate = float | Tensor | Mapping[str, float | Tensor]

_DDP_MESSAGE = (
    "{name} is wrapped in DistributedDataParallel, whose gradient all-reduce "
    "runs only in loss.backward(); torch.autograd.grad and torch.func would "
    "give each rank its local gradient, silently. Pass the plain module "
    "(ddp.module) and use mtlbook.distributed.distributed_meta_train"
)
# functional(model) per (model, policy), kept while map_tasks loops over tasks
_PREDICTS: ContextVar[dict[tuple[int, Any], Predict] | None] = ContextVar(
    "_PREDICTS", default=None
)
_BN_POLICIES = ("batch", "running")
_ORDERS = ("second", "first", "none")


# --- calling a model with explicit parameters ---------------------------------


def _batchnorm_overrides(model: nn.Module, batchnorm: BatchNormPolicy) -> Params:
    """Buffers to substitute so that BatchNorm follows the chosen policy."""
    if batchnorm is not None and (
        not isinstance(batchnorm, str) or batchnorm not in _BN_POLICIES
    ):
        raise ValueError(
            f"batchnorm={batchnorm!r} is unknown; use 'batch' (normalise with the "
            "statistics of each batch, as MAML does) or 'running' (use the stored "
            "running statistics; call model.eval() first)"
        )
    norms = {n: m for n, m in model.named_modules() if isinstance(m, _BatchNorm)}
    if not norms:
        return {}
    if batchnorm is None:
        raise ValueError(
            f"the model has BatchNorm layers {sorted(norms)}; choose batchnorm="
            "'batch' (each support or query batch is normalised with its own "
            "statistics, running statistics untouched) or 'running' (the stored "
            "running statistics, with the layers in eval mode)"
        )
    overrides: Params = {}
    for name, module in norms.items():
        prefix = f"{name}." if name else ""
        if batchnorm == "running":
            if module.training or module.running_mean is None:
                raise ValueError(
                    f"batchnorm='running' but BatchNorm layer '{name}' is in "
                    "training mode or tracks no running statistics; call "
                    "model.eval() or use batchnorm='batch'"
                )
        else:
            # With no running buffers BatchNorm uses batch statistics and
            # updates nothing, whatever the module's train/eval mode.
            for buf in ("running_mean", "running_var", "num_batches_tracked"):
                if getattr(module, buf, None) is not None:
                    overrides[prefix + buf] = None  # type: ignore[assignment]
    return overrides


def functional(model: nn.Module, *, batchnorm: BatchNormPolicy = None) -> Predict:
    """``predict(params, *inputs)``: the model run with ``params`` in place of its own.

    params must name exactly the model's parameters (a missing one would
    silently fall back to the module's own tensor); the output is whatever the
    model returns for ``inputs``.
    """
    cache = _PREDICTS.get()
    if cache is not None and (id(model), batchnorm) in cache:
        return cache[id(model), batchnorm]
    check_module("model", model)
    names = {n for n, _ in model.named_parameters()}
    overrides = _batchnorm_overrides(model, batchnorm)

    def predict(params: Mapping[str, Tensor], *inputs: Any) -> Any:
        if params.keys() != names:
            missing, unknown = names - params.keys(), params.keys() - names
            raise ValueError(
                f"params must name exactly the model's parameters; missing "
                f"{sorted(missing)}, unknown {sorted(unknown)}; start from "
                "dict(model.named_parameters())"
            )
        return functional_call(model, (dict(params), overrides), inputs)

    if cache is not None:
        cache[id(model), batchnorm] = predict
    return predict


# --- the inner loop -------------------------------------------------------------


def _rates(lr: Rate, steps: int, names: list[str], params: Params) -> Callable:
    """Validate ``lr`` once; return rate(step, name) -> float or Tensor."""
    if isinstance(lr, Mapping):
        missing = [n for n in names if n not in lr]
        if missing:
            raise ValueError(
                f"lr has no rate for the adapted parameters {missing}; give one "
                "rate per adapted parameter (see metasgd_rates)"
            )
        for n in names:
            r = lr[n]
            shape = tuple(torch.as_tensor(r).shape)
            if shape not in ((), tuple(params[n].shape)):
                raise ValueError(
                    f"lr['{n}'] has shape {shape}; expected () or the parameter's "
                    f"shape {tuple(params[n].shape)}"
                )
        return lambda step, name: lr[name]
    if isinstance(lr, Tensor):
        if lr.ndim == 1 and lr.shape[0] == steps:
            return lambda step, name: lr[step]
        if lr.ndim != 0:
            raise ValueError(
                f"lr has shape {tuple(lr.shape)}; a tensor rate is a scalar or "
                f"one rate per step, shape ({steps},)"
            )
        return lambda step, name: lr
    check_rate("lr", lr)
    return lambda step, name: lr


def check_rate(name: str, lr: object) -> None:
    """A Python-number inner rate must be finite and >= 0 (0: no adaptation).

    Tensors and dicts of rates pass: they are learned (Meta-SGD, per-step
    rates), and a learned rate may turn negative.
    """
    if type(lr) is float and 0.0 <= lr < float("inf"):
        return  # the common case, without the slower isinstance tests below
    if isinstance(lr, Tensor | Mapping):
        return
    if isinstance(lr, bool) or not isinstance(lr, int | float):
        raise TypeError(
            f"{name} must be a float, a tensor or a dict of rates, got "
            f"{type(lr).__name__}, e.g. {name}=0.01"
        )
    if lr != lr or abs(lr) == float("inf"):
        raise ValueError(f"{name}={lr} is not finite; pass a finite learning rate")
    check_real(name, lr, low=0.0, example=0.01)


def check_params(name: str, params: object) -> None:
    """Parameters travel as a dict name -> tensor."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{name} must be a dict of tensors, got {type(params).__name__}; "
            "pass dict(model.named_parameters())"
        )


def check_task(name: str, task: object) -> None:
    """One Task (not a TaskBatch: map a per-task loss with meta_loss)."""
    if isinstance(task, TaskBatch):
        raise TypeError(
            f"{name} is a TaskBatch, but this function takes one Task; average it "
            "over a meta-batch with meta_loss(fn, model, params, batch, ...)"
        )
    if not isinstance(task, Task):
        raise TypeError(f"{name} must be a Task, got {type(task).__name__}")


def check_callable(name: str, fn: object, example: str) -> None:
    if not callable(fn):
        raise TypeError(
            f"{name} must be a function, got {type(fn).__name__}; e.g. {name}={example}"
        )


def adapt(
    predict: Predict,
    params: Params,
    x: Tensor,
    y: Tensor,
    *,
    loss_fn: LossFn,
    lr: Rate,
    steps: int = 1,
    order: Order = "second",
    adapts: Callable[[str], bool] | None = None,
) -> Params:
    """``steps`` SGD steps on loss_fn(predict(params, x), y); returns new params.

    θ' = θ − α ∇θ L_support(θ)   (Finn et al. 2017, Algorithm 2, line 7).
    x: ``(n, *x_shape)``; y: ``(n, *y_shape)``. lr: a float, a tensor of shape () or
    (steps,), or a dict name -> rate of shape () or the parameter's shape.
    Parameters for which ``adapts(name)`` is false are returned unchanged.
    """
    if not isinstance(order, str) or order not in _ORDERS:
        raise ValueError(f"order={order!r} is unknown; use one of {_ORDERS}")
    check_int("steps", steps, low=0)
    check_callable("predict", predict, "functional(model)")
    check_params("params", params)
    check_tensor("x", x)
    check_tensor("y", y)
    check_same_length(("x", "y"), x, y)
    check_callable("loss_fn", loss_fn, "F.mse_loss")
    if adapts is not None:
        check_callable("adapts", adapts, "lambda name: name.startswith('head.')")
    names = [n for n in params if adapts is None or adapts(n)]
    if not names:
        raise ValueError(
            f"adapts selects none of the parameters {list(params)}; check the "
            "filter (e.g. the head's name prefix)"
        )
    rate = _rates(lr, steps, names, params)
    fast = {n: p.detach() for n, p in params.items()} if order == "none" else params

    for step in range(steps):
        frozen = {n: p for n, p in fast.items() if n not in names}

        def support_loss(adapted: Params, frozen: Params = frozen) -> Tensor:
            loss = loss_fn(predict({**frozen, **adapted}, x), y)
            if not isinstance(loss, Tensor):
                check_scalar_loss("loss_fn", loss)  # raises the TypeError
            if loss.ndim != 0:
                raise ValueError(
                    f"loss_fn returned shape {tuple(loss.shape)}; it must return "
                    "a scalar (use reduction='mean', not 'none')"
                )
            return loss

        grads = _inner_grad(support_loss, {n: fast[n] for n in names}, order)
        if order != "second":  # first order: the inner gradient is a constant
            grads = {n: g.detach() for n, g in grads.items()}
        fast = {**fast, **{n: fast[n] - rate(step, n) * grads[n] for n in names}}

    if order == "none":
        fast = {n: p.detach() for n, p in fast.items()}
    return dict(fast)


def _inner_grad(loss: Callable[[Params], Tensor], at: Params, order: Order) -> Params:
    """∇ loss(at), each tensor of ``at`` an independent input as in torch.func.grad.

    Inside a torch.func transform (vmap over the tasks) this is
    ``torch.func.grad``. In plain eager code ``torch.autograd.grad`` gives the
    same bits without the transform's per-call overhead, which made the
    per-task loop about 1.7x slower than a hand-written one. It differentiates
    with respect to fresh aliases (``view_as``): a tensor of ``at`` computed
    from another one (ProtoMAML's head from the body) then still counts as an
    independent input, and create_graph keeps the path back to the originals.
    """
    if _inside_transform():
        return grad(loss)(at)
    # Leaves descend from nothing, so only non-leaf inputs need the aliases.
    alias = not all(t.is_leaf for t in at.values())
    with torch.enable_grad():  # like torch.func.grad, also under no_grad
        inputs = {
            n: (t.view_as(t) if alias else t)
            if t.requires_grad
            else t.detach().requires_grad_()
            for n, t in at.items()
        }
        value = loss(inputs)
        grads = torch.autograd.grad(
            value,
            list(inputs.values()),
            create_graph=order == "second",
            allow_unused=True,
        )
    return {
        n: torch.zeros_like(t) if g is None else g
        for (n, t), g in zip(inputs.items(), grads, strict=True)
    }


def _inside_transform() -> bool:
    """Whether a torch.func transform (vmap, grad, ...) is running right now."""
    peek = getattr(torch._C._functorch, "peek_interpreter_stack", None)
    return peek is None or peek() is not None  # unknown torch: the safe path


# --- meta-batches ---------------------------------------------------------------


class VectorizationWarning(UserWarning):
    """A meta-batch ran as a per-task loop because vmap would be wrong there."""


_WARNED: set[tuple[str, ...]] = set()


def _warn_loop(blockers: list[str]) -> None:
    """Say once per set of blocking layers that the meta-batch runs as a loop."""
    key = tuple(blockers)
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(
        f"the meta-batch runs as a per-task loop, not one vmap, because of "
        f"{blockers}. For BatchNorm on batch statistics use "
        "mtlbook.meta.TaskBatchNorm, which vmap differentiates correctly; pass "
        "vectorize=False to choose the loop and silence this warning",
        VectorizationWarning,
        stacklevel=4,
    )


def vmap_blockers(model: nn.Module, *, batchnorm: BatchNormPolicy = None) -> list[str]:
    """Layers that make a vmapped meta-batch wrong or impossible, with the reason.

    LayerNorm, InstanceNorm and BatchNorm on batch statistics get wrong
    second-order gradients under vmap (pytorch/functorch#534, still present in
    torch 2.13: see tests/test_meta_inner.py); dropout in training mode draws
    random numbers, which vmap refuses by default.
    """
    check_module("model", model)
    found = []
    for name, m in model.named_modules():
        label = f"'{name}' ({type(m).__name__})"
        if isinstance(m, nn.LayerNorm | _InstanceNorm) or (
            isinstance(m, _BatchNorm) and batchnorm != "running"
        ):
            found.append(f"{label}: wrong second-order gradients under vmap")
        elif isinstance(m, _DropoutNd) and m.training and m.p > 0:
            found.append(f"{label}: random in training mode")
    return found


def map_tasks(
    fn: Callable[..., Any],
    model: nn.Module,
    params: Params,
    batch: TaskBatch,
    *,
    vectorize: bool | None = None,
    **options: Any,
) -> Any:
    """``fn(model, params, task, **options)`` for every task, stacked on a first axis.

    fn returns a Tensor or a dict of Tensors; the result has a leading
    dimension of len(batch). vectorize: True runs one vmap over the tasks,
    False a Python loop, None (default) vmap unless :func:`vmap_blockers`
    names a layer of the model, in which case a :class:`VectorizationWarning`
    says so (once per set of layers).
    """
    check_callable("fn", fn, "maml_loss")
    check_module("model", model)
    check_params("params", params)
    if not isinstance(batch, TaskBatch):
        raise TypeError(
            f"batch must be a TaskBatch, got {type(batch).__name__}; use "
            "distribution.sample_batch(...) or stack_tasks([...])"
        )
    if vectorize is not None:
        check_bool("vectorize", vectorize)
    if "n_way" in options:  # episode labels, checked once per meta-batch
        n_way = check_int("n_way", options["n_way"], low=1)
        for name in ("y_support", "y_query"):
            check_labels(f"batch.{name}", getattr(batch, name), n_way)
    blockers = vmap_blockers(model, batchnorm=options.get("batchnorm"))
    if vectorize is None:
        vectorize = not blockers
        if blockers:
            _warn_loop(blockers)
    elif vectorize and blockers:
        raise ValueError(
            f"vectorize=True but the model has layers vmap cannot handle here: "
            f"{blockers}; pass vectorize=False (or None to choose automatically)"
        )

    def one(xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor) -> Any:
        return fn(model, params, Task(xs, ys, xq, yq), **options)

    fields = (batch.x_support, batch.y_support, batch.x_query, batch.y_query)
    if vectorize:
        return vmap(one)(*fields)
    # The tasks share one model: build its functional form once, not per task.
    token = _PREDICTS.set({})
    try:
        outs = [
            fn(model, params, _task_of_batch(*(f[i] for f in fields)), **options)
            for i in range(len(batch))
        ]
    finally:
        _PREDICTS.reset(token)
    if isinstance(outs[0], Mapping):
        return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}
    return torch.stack(outs)


def meta_loss(
    fn: Callable[..., Tensor],
    model: nn.Module,
    params: Params,
    batch: TaskBatch,
    *,
    vectorize: bool | None = None,
    **options: Any,
) -> Tensor:
    """The mean over the meta-batch of ``fn(model, params, task, **options)``: ()."""
    if isinstance(model, DistributedDataParallel):
        raise TypeError(_DDP_MESSAGE.format(name="model"))
    return map_tasks(fn, model, params, batch, vectorize=vectorize, **options).mean()


def meta_backward(loss: Tensor, *groups: Mapping[str, Tensor]) -> list[Params]:
    """``loss.backward()`` for each group of tensors, refusing NaN and silent gaps.

    Accumulates into each tensor's ``.grad`` (so an optimizer can step) and
    returns the gradients, one dict per group (e.g. ``params, rates``). A
    tensor that does not influence the loss would silently never train: it
    raises a ValueError naming it instead.
    """
    if any(isinstance(g, DistributedDataParallel) for g in groups):
        raise TypeError(_DDP_MESSAGE.format(name="groups"))
    check_scalar_loss("loss", loss)
    if not torch.isfinite(loss):
        raise ValueError(
            f"the meta-loss is {loss.item()}; training diverged (lower the inner "
            "or outer learning rate) or the tasks hold NaN or inf (check the batch)"
        )
    if not groups:
        raise ValueError("pass at least one dict of tensors to differentiate")
    for i, group in enumerate(groups):
        if not isinstance(group, Mapping):
            raise TypeError(
                f"groups[{i}] must be a dict name -> tensor, got "
                f"{type(group).__name__}; pass dict(model.named_parameters())"
            )
    flat = [(i, n, t) for i, g in enumerate(groups) for n, t in g.items()]
    frozen = [n for _, n, t in flat if not t.requires_grad]
    if frozen:
        raise ValueError(
            f"{frozen} do not require grad; leave frozen tensors out of the "
            "dicts given to meta_backward"
        )
    grads = torch.autograd.grad(loss, [t for *_, t in flat], allow_unused=True)
    unused = [n for (_, n, _), g in zip(flat, grads, strict=True) if g is None]
    if unused:
        raise ValueError(
            f"{unused} receive no meta-gradient: they do not influence the query "
            "loss and would never train; freeze them (requires_grad_(False)) and "
            "leave them out of the dicts given to meta_backward"
        )
    out: list[Params] = [{} for _ in groups]
    for (i, n, t), g in zip(flat, grads, strict=True):
        t.grad = g.detach() if t.grad is None else t.grad + g.detach()
        out[i][n] = g
    return out
