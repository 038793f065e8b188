"""Negative transfer: when starting from a source task makes the target worse.

The negative-transfer gap compares two networks trained on the same target
data under the same budget, one initialised from the source task and one
from scratch:

    gap = transfer error - target-only error.

A positive gap is *negative transfer* (the source hurt), a negative gap is
positive transfer (it helped), zero means the source made no difference. It
depends on how related the source is to the target and on how much target
data there is: a related source helps most when target data is scarce, an
unrelated one can hurt, and with plenty of target data both effects fade.
:func:`negative_transfer_grid` measures the gap over that grid for any pair
of callables, so glyph tasks or synthetic ones plug in alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mtlbook._validate import check_callable, check_int
from mtlbook.transfer.layer_transfer import Row

#: transfer_error(relatedness, target_size, seed) -> error on the target test set.
TransferErrorFn = Callable[[float, int, int], float]
#: target_only_error(target_size, seed) -> error of the from-scratch network.
TargetOnlyErrorFn = Callable[[int, int], float]


def negative_transfer_gap(
    transfer_error: float | np.ndarray | Sequence[float],
    target_only_error: float | np.ndarray | Sequence[float],
) -> float | np.ndarray:
    """Transfer error minus target-only error; positive means negative transfer.

    Both: scalars or arrays of the same shape (any error measure, e.g. 1 -
    accuracy, as long as both use the same one). Returns a float for scalars,
    else an array of that shape.
    """
    transfer = _finite("transfer_error", transfer_error)
    target = _finite("target_only_error", target_only_error)
    if transfer.shape != target.shape:
        raise ValueError(
            f"transfer_error has shape {transfer.shape} but target_only_error "
            f"{target.shape}; give one target-only error per transfer error"
        )
    gap = transfer - target
    return float(gap) if gap.ndim == 0 else gap


def negative_transfer_grid(
    relatedness: Sequence[float],
    target_sizes: Sequence[int],
    *,
    transfer_error: TransferErrorFn,
    target_only_error: TargetOnlyErrorFn,
    seeds: Sequence[int],
) -> list[Row]:
    """The gap for every (relatedness, target size, seed); one row each.

    ``transfer_error(r, size, seed)`` trains from a source of relatedness
    ``r`` on ``size`` target examples and returns the target test error;
    ``target_only_error(size, seed)`` does the same from scratch (called once
    per (size, seed), since it does not depend on the source). Rows hold
    "relatedness", "target_size", "seed", "transfer_error",
    "target_only_error" and "gap"; aggregate them with
    ``summarize(rows, by=("relatedness", "target_size"), value="gap")``.
    """
    relatedness, target_sizes, seeds = (
        list(relatedness),
        list(target_sizes),
        list(seeds),
    )
    for name, values in (
        ("relatedness", relatedness),
        ("target_sizes", target_sizes),
        ("seeds", seeds),
    ):
        if not values:
            raise ValueError(f"{name} is empty; give at least one value")
    for i, size in enumerate(target_sizes):
        check_int(f"target_sizes[{i}]", size, low=1)
    check_callable("transfer_error", transfer_error, "lambda r, size, seed: 0.1")
    check_callable("target_only_error", target_only_error, "lambda size, seed: 0.1")
    _finite("relatedness", relatedness)
    baseline: dict[tuple[int, int], float] = {}
    rows: list[Row] = []
    for r in relatedness:
        for size in target_sizes:
            for seed in seeds:
                if (size, seed) not in baseline:
                    baseline[size, seed] = _scalar(
                        "target_only_error", target_only_error(size, seed)
                    )
                transfer = _scalar("transfer_error", transfer_error(r, size, seed))
                target = baseline[size, seed]
                rows.append(
                    {
                        "relatedness": r,
                        "target_size": size,
                        "seed": seed,
                        "transfer_error": transfer,
                        "target_only_error": target,
                        "gap": negative_transfer_gap(transfer, target),
                    }
                )
    return rows


def _finite(arg: str, value: object) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{arg} must be a number or an array of numbers") from error
    if not np.isfinite(array).all():
        raise ValueError(f"{arg} has NaN or inf values; errors must be finite")
    return array


def _scalar(arg: str, value: object) -> float:
    array = _finite(arg, value)
    if array.ndim != 0:
        raise ValueError(f"{arg} must return one number, got shape {array.shape}")
    return float(array)
