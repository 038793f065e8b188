"""Deliberately wrong calls into mtlbook.nb and mtlbook.plot: clear errors, early.

setup_notebook changes global state (seeds, threads, styles), so a bad
argument must be refused before any of it changes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from misuse import Bad, params

from mtlbook.nb import setup_notebook
from mtlbook.plot import image_grid, plot_curves, plot_trajectories

X = np.arange(3.0)
PATH = np.zeros((4, 2))


def ax():
    return plt.figure().add_subplot()


def curves(**overrides):
    kwargs = {"title": "t", "xlabel": "x", "ylabel": "y", **overrides}
    axes = kwargs.pop("ax", None) or ax()
    return plot_curves(
        axes, kwargs.pop("x", X), kwargs.pop("curves", {"a": X}), **kwargs
    )


def bowl(a, b):
    return a**2 + b**2


def trajectories(**overrides):
    kwargs = {
        "f": bowl,
        "trajectories": {"gd": PATH},
        "xlim": (-1.0, 1.0),
        "ylim": (-1.0, 1.0),
        "title": "t",
        **overrides,
    }
    return plot_trajectories(ax(), **kwargs)


def grid(**overrides):
    kwargs = {"ncols": 2, **overrides}
    return image_grid(kwargs.pop("images", np.zeros((3, 4, 4))), **kwargs)


CASES = [
    Bad("setup-negative-seed", lambda: setup_notebook(-1), ValueError, "seed"),
    Bad("setup-float-seed", lambda: setup_notebook(1.0), TypeError, "seed"),
    Bad("setup-str-seed", lambda: setup_notebook("0"), TypeError, "seed"),
    Bad(
        "setup-float-threads",
        lambda: setup_notebook(0, threads=2.0),
        TypeError,
        "threads",
    ),
    Bad(
        "setup-bool-threads",
        lambda: setup_notebook(0, threads=True),
        TypeError,
        "threads",
    ),
    Bad(
        "setup-zero-threads",
        lambda: setup_notebook(0, threads=0),
        ValueError,
        "threads",
    ),
    Bad("curves-list", lambda: curves(curves=[X]), TypeError, "curves"),
    Bad("curves-empty", lambda: curves(curves={}), ValueError, "curves"),
    Bad("curves-ax-str", lambda: curves(ax="ax"), TypeError, "ax"),
    Bad("curves-shape", lambda: curves(curves={"a": X[:2]}), ValueError, "'a'"),
    Bad("curves-logy-str", lambda: curves(logy="yes"), TypeError, "logy"),
    Bad(
        "curves-2d-x",
        lambda: curves(x=np.ones((3, 1)), curves={"a": np.ones((3, 1))}),
        ValueError,
        "x",
    ),
    Bad("trajectories-f-str", lambda: trajectories(f="bowl"), TypeError, "f"),
    Bad(
        "trajectories-list",
        lambda: trajectories(trajectories=[PATH]),
        TypeError,
        "trajectories",
    ),
    Bad(
        "trajectories-shape",
        lambda: trajectories(trajectories={"gd": np.zeros((4, 3))}),
        ValueError,
        "(steps, 2)",
    ),
    Bad(
        "trajectories-reversed-xlim",
        lambda: trajectories(xlim=(1.0, -1.0)),
        ValueError,
        "xlim",
    ),
    Bad(
        "trajectories-nan-ylim",
        lambda: trajectories(ylim=(np.nan, 1.0)),
        ValueError,
        "ylim",
    ),
    Bad(
        "trajectories-zero-levels", lambda: trajectories(levels=0), ValueError, "levels"
    ),
    Bad("grid-2d-images", lambda: grid(images=np.zeros((4, 4))), ValueError, "images"),
    Bad(
        "grid-no-images", lambda: grid(images=np.zeros((0, 4, 4))), ValueError, "images"
    ),
    Bad("grid-float-ncols", lambda: grid(ncols=2.0), TypeError, "ncols"),
    Bad("grid-zero-ncols", lambda: grid(ncols=0), ValueError, "ncols"),
    Bad("grid-titles-length", lambda: grid(titles=["a", "b"]), ValueError, "titles"),
    Bad("grid-negative-cell", lambda: grid(cell_size=-1.0), ValueError, "cell_size"),
]


@pytest.mark.parametrize("case", params(CASES))
def test_misuse(case: Bad) -> None:
    try:
        case.check()
    finally:
        plt.close("all")
