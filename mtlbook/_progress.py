"""The progress bar of every long loop: off by default, on stderr, with the loss.

A loop takes ``progress: bool = False``. When it is on, a tqdm bar on stderr
shows the steps done, the rate, the time left and the running loss; when it is
off, nothing is printed and no number is read for the bar, so a run gives the
same bits either way and a chapter's stored output stays the same.
"""

from __future__ import annotations

import sys

from torch import Tensor
from tqdm import tqdm

from mtlbook._validate import check_bool


def progress_bar(progress: object, total: int, desc: str, unit: str = "it") -> tqdm:
    """A bar of ``total`` steps on stderr, disabled unless ``progress`` is True.

    Use it as a context manager, so the bar closes when the loop raises.
    """
    check_bool("progress", progress)
    return tqdm(
        total=total, desc=desc, unit=unit, disable=not progress, file=sys.stderr
    )


def advance(bar: tqdm, n: int = 1, **shown: float | Tensor) -> None:
    """Move ``bar`` on by ``n`` and show each value as ``name=value``.

    A tensor of one element is read (``.item()``) only when the bar is on.
    """
    if bar.disable:
        return
    if shown:
        values = {k: v.item() if isinstance(v, Tensor) else v for k, v in shown.items()}
        bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
    bar.update(n)
