"""Learning-rate schedules: the rate to use at step t, as torch.optim.lr_scheduler.

Each schedule is a pure function of the step (counted from 0), so a training
loop sets ``optimizer.lr = schedule(step)`` before each update. Equation numbers
refer to the chapter "Gradient descent and backpropagation".
"""

from __future__ import annotations

import math

from mtlbook._validate import check_int, check_real


def step_decay(lr: float, step: int, every: int, gamma: float = 0.1) -> float:
    """Multiply the rate by ``gamma`` every ``every`` steps (torch's StepLR).

    Args:
        lr: the initial rate, > 0.
        step: the step, 0, 1, 2, ...
        every: the number of steps between two decays, >= 1.
        gamma: the factor of each decay, in (0, 1].

    Returns:
        The rate ``lr * gamma ** (step // every)``.
    """
    lr = _check_lr(lr)
    step = check_int("step", step, low=0, example=0)
    every = check_int("every", every, low=1, example=100)
    gamma = check_real("gamma", gamma, low=0, high=1, low_open=True, example=0.1)
    return lr * gamma ** (step // every)  # (eq-step-decay)


def cosine_decay(lr: float, step: int, total: int, lr_min: float = 0.0) -> float:
    """Half a cosine from ``lr`` at step 0 down to ``lr_min`` at step ``total``.

    Args:
        lr: the initial rate, > 0.
        step: the step, 0 to ``total``.
        total: the length of the schedule, >= 1.
        lr_min: the final rate, in [0, lr].

    Returns:
        The rate ``lr_min + (lr - lr_min) * (1 + cos(pi * step / total)) / 2``, as
        torch's ``CosineAnnealingLR`` with ``T_max=total`` and ``eta_min=lr_min``.
    """
    lr = _check_lr(lr)
    total = check_int("total", total, low=1, example=1000)
    step = check_int("step", step, low=0, high=total, example=0)
    lr_min = check_real("lr_min", lr_min, low=0, high=lr, example=0.0)
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * step / total)) / 2


def linear_warmup(lr: float, step: int, warmup: int) -> float:
    """Ramp the rate linearly from lr / warmup to lr over ``warmup`` steps (LinearLR).

    Args:
        lr: the rate after the warm-up, > 0.
        step: the step, 0, 1, 2, ...
        warmup: the number of warm-up steps, >= 1.

    Returns:
        The rate ``lr * min(1, (step + 1) / warmup)``, as torch's ``LinearLR``
        with ``start_factor=1 / warmup`` and ``total_iters=warmup - 1``.
    """
    lr = _check_lr(lr)
    step = check_int("step", step, low=0, example=0)
    warmup = check_int("warmup", warmup, low=1, example=100)
    return lr * min(1.0, (step + 1) / warmup)  # (eq-warmup)


def _check_lr(lr: float) -> float:
    return check_real("lr", lr, low=0, low_open=True, example=0.1)
