"""The slanted triangular learning rate (Howard & Ruder 2018, eq. 3).

A short linear warm-up from η_max / ratio to η_max over the first ``cut_frac``
of the T steps, then a long linear decay back to η_max / ratio::

    cut = ⌊T · cut_frac⌋
    p   = t / cut                         if t < cut
          1 − (t − cut) / (T − cut)       otherwise
    η_t = η_max · (1 + p · (ratio − 1)) / ratio

The paper writes the decay denominator as cut · (1/cut_frac − 1), which equals
T − cut when T · cut_frac is an integer. When it is not, the printed form ends
below η_max / ratio (even below zero: T = 15, cut_frac = 0.1 gives η_T < 0), so
we use T − cut, which ends exactly at η_max / ratio for every T.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from mtlbook._validate import check_int, check_real


def slanted_triangular(
    t: int,
    total_steps: int,
    *,
    lr_max: float,
    cut_frac: float = 0.1,
    ratio: float = 32.0,
) -> float:
    """η_t of the slanted triangular schedule at step t in 0..total_steps.

    Defaults are the paper's (cut_frac = 0.1, ratio = 32); it uses η_max = 0.01.
    """
    _check_positive("lr_max", lr_max)
    return lr_max * _stlr_factor(t, total_steps, cut_frac, ratio)


def slanted_triangular_lambda(
    total_steps: int, *, cut_frac: float = 0.1, ratio: float = 32.0
) -> Callable[[int], float]:
    """A multiplier t -> η_t / η_max for ``torch.optim.lr_scheduler.LambdaLR``.

    Set each group's ``lr`` to its η_max (discriminative rates included) and
    call ``scheduler.step()`` after every optimiser step, ``total_steps`` times.
    """
    _stlr_factor(0, total_steps, cut_frac, ratio)  # validate now, not mid-training

    def factor(t: int) -> float:
        return _stlr_factor(t, total_steps, cut_frac, ratio)

    return factor


def _stlr_factor(t: int, total: int, cut_frac: float, ratio: float) -> float:
    t = check_int("t", t)
    total = check_int("total_steps", total)
    check_real("cut_frac", cut_frac, example=0.1)
    check_real("ratio", ratio, example=32)
    if not 0.0 < cut_frac < 1.0:
        raise ValueError(f"cut_frac={cut_frac} must lie in (0, 1), e.g. 0.1")
    if not (math.isfinite(ratio) and ratio >= 1.0):
        raise ValueError(
            f"ratio={ratio} must be >= 1 (how much smaller the lowest rate is "
            "than lr_max), e.g. 32"
        )
    # round first: 100 * 0.29 is 28.999999999999996 in floating point, not 29
    cut = math.floor(round(total * cut_frac, 9))
    if cut < 1:
        raise ValueError(
            f"total_steps={total} with cut_frac={cut_frac} leaves no warm-up step "
            "(⌊T·cut_frac⌋ = 0); raise total_steps or cut_frac"
        )
    if not 0 <= t <= total:
        raise ValueError(
            f"t={t} is outside 0..total_steps={total}; set total_steps to the "
            "number of optimiser steps you will take"
        )
    p = t / cut if t < cut else 1.0 - (t - cut) / (total - cut)
    return (1.0 + p * (ratio - 1.0)) / ratio


def _check_positive(arg: str, value: float) -> None:
    check_real(arg, value, low=0, low_open=True)
