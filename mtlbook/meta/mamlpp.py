"""MAML++'s training tricks as composable pieces (Antoniou et al. 2019).

- :func:`msl_weights`: the multi-step loss's per-step importance, annealed
  towards the last step (Antoniou et al. 2019, §4, "multi-step loss");
- :func:`lslr_rates`: learnable per-layer per-step inner rates ("LSLR");
- :func:`mamlpp_loss`: the query loss after every inner step, weighted by
  ``weights``, with the inner loop using per-step rates; usable as the task
  loss of ``meta_train`` (rates join the optimizer like Meta-SGD's);
- :func:`step_batch_norm` and :func:`step_bn_params`: batch norm with its own
  weight and bias at every inner step ("BNWB") and, optionally, its own
  running statistics ("BNRS"), as a function of the step's index.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtlbook._validate import check_bool, check_int, check_real, check_tensor
from mtlbook.meta.inner import (
    BatchNormPolicy,
    LossFn,
    Order,
    Params,
    Predict,
    adapt,
    check_params,
    check_task,
    functional,
)
from mtlbook.meta.tasks import Task

__all__ = [
    "lslr_rates",
    "lslr_trajectory",
    "mamlpp_loss",
    "msl_weights",
    "step_batch_norm",
    "step_bn_params",
]


def msl_weights(steps: int, epoch: int, anneal_epochs: int) -> Tensor:
    """Importance of the query loss after each inner step at ``epoch``: (steps,).

    Antoniou et al. (2019), §4 and their ``get_per_step_loss_importance_vector``:
    all 1/N at epoch 0; each non-final weight falls by 1/(N·anneal_epochs) per
    epoch down to 0.03/N, the final weight takes up the rest. Sums to 1.
    """
    check_int("steps", steps, low=1)
    check_int("epoch", epoch, low=0)
    check_int("anneal_epochs", anneal_epochs, low=1)
    n = steps
    decay = 1.0 / n / anneal_epochs
    floor = 0.03 / n
    w = torch.full((n,), 1.0 / n, dtype=torch.float64)
    w[:-1] = torch.clamp(w[:-1] - epoch * decay, min=floor)
    w[-1] = min(1.0 / n + epoch * (n - 1) * decay, 1.0 - (n - 1) * floor)
    return w


def lslr_rates(params: Params, steps: int, init: float = 0.01) -> Params:
    """One learnable rate per parameter tensor per inner step: name -> (steps,).

    Antoniou et al. (2019), §4 "LSLR": a rate for each layer's weight and bias at
    each step, all ``init`` at the start, trained with the meta-parameters.
    """
    check_params("params", params)
    check_int("steps", steps, low=1)
    check_real("init", init, low=0.0, example=0.01)
    return {
        n: torch.full((steps,), float(init), dtype=p.dtype).requires_grad_(True)
        for n, p in params.items()
    }


def _check_rates(rates: object, params: Params, steps: int) -> None:
    if isinstance(rates, (int, float)) and not isinstance(rates, bool):
        check_real("rates", rates, low=0.0, example=0.01)
        return
    if not isinstance(rates, dict):
        raise TypeError(
            f"rates must be a float or a dict name -> (steps,) tensor, got "
            f"{type(rates).__name__}; build it with lslr_rates(params, steps)"
        )
    if rates.keys() != params.keys():
        raise ValueError(
            f"rates must name exactly the parameters {sorted(params)}, got "
            f"{sorted(rates)}; build it with lslr_rates(params, steps)"
        )
    for name, r in rates.items():
        if not isinstance(r, Tensor) or r.shape != (steps,):
            shape = tuple(r.shape) if isinstance(r, Tensor) else type(r).__name__
            raise ValueError(
                f"rates[{name!r}] must be a tensor of shape ({steps},), one rate "
                f"per inner step, got {shape}; use lslr_rates(params, steps={steps})"
            )


def mamlpp_loss(
    model: nn.Module,
    params: Params,
    task: Task,
    *,
    loss_fn: LossFn,
    rates: float | Params,
    steps: int,
    weights: Tensor | None = None,
    first_order: bool = False,
    batchnorm: BatchNormPolicy = None,
) -> Tensor:
    """Σ_s w_s L_query(θ_s), θ_s = θ_{s−1} − α_s ∇L_support(θ_{s−1}): ().

    Antoniou et al. (2019), §4: the multi-step loss (``weights``, shape
    (steps,), e.g. :func:`msl_weights`; None = last step only, which is
    ``maml_loss``) and LSLR (``rates`` from :func:`lslr_rates`; a float is
    one fixed rate for every layer and step).
    """
    check_task("task", task)
    check_params("params", params)
    check_int("steps", steps, low=1)
    check_bool("first_order", first_order)
    _check_rates(rates, params, steps)
    if weights is None:
        weights = torch.zeros(steps)
        weights[-1] = 1.0
    if not isinstance(weights, Tensor) or weights.shape != (steps,):
        shape = tuple(weights.shape) if isinstance(weights, Tensor) else weights
        raise ValueError(
            f"weights must be a tensor of shape ({steps},), one per inner step, "
            f"got {shape!r}; use msl_weights(steps, epoch, anneal_epochs)"
        )
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
        raise ValueError(
            f"weights={weights.tolist()} must be finite and ≥ 0; "
            "use msl_weights(steps, epoch, anneal_epochs)"
        )
    predict = functional(model, batchnorm=batchnorm)
    trajectory = lslr_trajectory(
        predict,
        params,
        task.x_support,
        task.y_support,
        loss_fn=loss_fn,
        rates=rates,
        steps=steps,
        order="first" if first_order else "second",
    )
    terms = [
        w * loss_fn(predict(fast, task.x_query), task.y_query)
        for w, fast in zip(weights.tolist(), trajectory, strict=True)
        if w != 0.0
    ]
    if not terms:
        raise ValueError("weights are all zero; at least one step must count")
    return sum(terms[1:], terms[0])


def lslr_trajectory(
    predict: Predict,
    params: Params,
    x: Tensor,
    y: Tensor,
    *,
    loss_fn: LossFn,
    rates: float | Params,
    steps: int,
    order: Order = "second",
) -> list[Params]:
    """The fast weights after each of ``steps`` SGD steps on (x, y): steps dicts.

    Step s uses rate ``rates[name][s]`` for each parameter (LSLR, from
    :func:`lslr_rates`) or one float for all; ``order`` as in ``adapt``.
    """
    check_int("steps", steps, low=1)
    _check_rates(rates, params, steps)
    fast, trajectory = params, []
    for s in range(steps):
        lr = (
            rates
            if not isinstance(rates, dict)
            else {n: r[s] for n, r in rates.items()}
        )
        fast = adapt(predict, fast, x, y, loss_fn=loss_fn, lr=lr, steps=1, order=order)
        trajectory.append(fast)
    return trajectory


def step_bn_params(
    channels: int, steps: int, dtype: torch.dtype = torch.float32
) -> dict[str, Tensor]:
    """BNWB's parameters and BNRS's buffers for ``steps`` steps of ``channels``.

    Antoniou et al. (2019), §4 "BNWB" and "BNRS": "weight" ones and "bias"
    zeros of shape (steps, channels), learnable; "running_mean" zeros and
    "running_var" ones of the same shape, not learnable.
    """
    check_int("channels", channels, low=1)
    check_int("steps", steps, low=1)
    shape = (steps, channels)
    return {
        "weight": torch.ones(shape, dtype=dtype).requires_grad_(True),
        "bias": torch.zeros(shape, dtype=dtype).requires_grad_(True),
        "running_mean": torch.zeros(shape, dtype=dtype),
        "running_var": torch.ones(shape, dtype=dtype),
    }


def step_batch_norm(
    x: Tensor,
    weight: Tensor,
    bias: Tensor,
    step: int,
    *,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch norm of x ``(N, C, *)``, with step ``step``'s weight and bias: x's shape.

    weight, bias: (steps, C) (BNWB). Training: normalise by the batch's
    per-channel mean and biased variance, and, given running_mean and
    running_var of shape (steps, C) (BNRS), update row ``step`` in place as
    ``F.batch_norm`` does (momentum, unbiased variance). Not training:
    normalise by row ``step`` of the running statistics. Written out in
    tensor operations, so its gradients of every order are autograd's.
    """
    check_tensor("x", x, floating=True)
    if x.ndim < 2:
        raise ValueError(f"x must be (N, C, *), got shape {tuple(x.shape)}")
    channels = x.shape[1]
    check_tensor("weight", weight, ndim=2, floating=True)
    check_tensor("bias", bias, ndim=2, floating=True)
    if weight.shape != bias.shape or weight.shape[1] != channels:
        raise ValueError(
            f"weight and bias must both be (steps, {channels}), got "
            f"{tuple(weight.shape)} and {tuple(bias.shape)}; use "
            f"step_bn_params({channels}, steps)"
        )
    check_int("step", step, low=0, high=weight.shape[0] - 1)
    check_bool("training", training)
    check_real("momentum", momentum, low=0.0, high=1.0, example=0.1)
    check_real("eps", eps, low=0.0, low_open=True, example=1e-5)
    running = (running_mean, running_var)
    if (running_mean is None) != (running_var is None):
        raise ValueError("give both running_mean and running_var, or neither")
    for name, r in zip(("running_mean", "running_var"), running, strict=True):
        if r is not None and r.shape != weight.shape:
            raise ValueError(
                f"{name} must be {tuple(weight.shape)}, like weight, got "
                f"{tuple(r.shape)}; use step_bn_params({channels}, steps)"
            )
    dims = [0, *range(2, x.ndim)]
    view = (1, channels, *([1] * (x.ndim - 2)))
    if training:
        n = x.numel() // channels
        if n < 2:
            raise ValueError(
                f"x has {n} value per channel; batch statistics need at least 2"
            )
        mean = x.mean(dim=dims)
        var = (x - mean.view(view)).square().mean(dim=dims)
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean[step].lerp_(mean.detach(), momentum)
                running_var[step].lerp_(var.detach() * n / (n - 1), momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(
                "training=False normalises by running statistics: give "
                "running_mean and running_var (step_bn_params)"
            )
        mean, var = running_mean[step], running_var[step]
    scale = weight[step] / torch.sqrt(var + eps)
    return (x - mean.view(view)) * scale.view(view) + bias[step].view(view)
