"""The learning-rate schedules give torch.optim.lr_scheduler's rates, step by step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtlbook.scratch.schedules import cosine_decay, linear_warmup, step_decay


def torch_rates(make_scheduler, lr: float, steps: int) -> list[float]:
    """The rate torch's scheduler sets before each of ``steps`` optimiser steps."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize(("every", "gamma"), [(1, 0.5), (7, 0.1), (30, 1.0)])
def test_step_decay_equals_torch_steplr(every, gamma):
    ref = torch_rates(
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=every, gamma=gamma),
        0.3,
        100,
    )
    ours = [step_decay(0.3, t, every, gamma) for t in range(100)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


@pytest.mark.parametrize(("total", "lr_min"), [(1, 0.0), (10, 0.0), (97, 1e-3)])
def test_cosine_decay_equals_torch_cosine_annealing(total, lr_min):
    """torch computes the cosine recursively; the closed form agrees to 1e-12."""
    ref = torch_rates(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=total, eta_min=lr_min
        ),
        0.1,
        total + 1,
    )
    ours = [cosine_decay(0.1, t, total, lr_min) for t in range(total + 1)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)
    assert ours[0] == 0.1
    assert math.isclose(ours[-1], lr_min, abs_tol=1e-15)


@pytest.mark.parametrize("warmup", [2, 5, 64])
def test_linear_warmup_equals_torch_linearlr(warmup):
    ref = torch_rates(
        lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1
        ),
        0.2,
        3 * warmup,
    )
    ours = [linear_warmup(0.2, t, warmup) for t in range(3 * warmup)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert ours[warmup - 1] == 0.2  # the full rate at the last warm-up step


def test_warmup_of_one_step_is_no_warmup():
    assert [linear_warmup(0.2, t, 1) for t in range(3)] == [0.2, 0.2, 0.2]


def test_rates_never_increase_after_the_warmup():
    for f in (
        lambda t: step_decay(1.0, t, 10, 0.5),
        lambda t: cosine_decay(1.0, t, 200, 0.01),
    ):
        rates = np.array([f(t) for t in range(201)])
        assert np.all(np.diff(rates) <= 0)
        assert rates.min() > 0
