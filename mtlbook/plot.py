"""Figure helpers shared by the chapters, so every figure has one look."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

#: Colour cycle used across the book (colour-blind friendly, Okabe–Ito).
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)


def use_style() -> None:
    """Apply the book's matplotlib style (fonts ship with matplotlib)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "figure.constrained_layout.use": True,
            "font.family": "DejaVu Sans",
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "legend.frameon": False,
            "lines.linewidth": 1.8,
            "image.cmap": "viridis",
            "svg.hashsalt": "mtlbook",
        }
    )


def plot_curves(
    ax: plt.Axes,
    x: Sequence[float] | np.ndarray,
    curves: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    logy: bool = False,
) -> plt.Axes:
    """Draw one labelled line per entry of ``curves`` against ``x``.

    x: (n,); each curve: (n,).
    """
    x = np.asarray(x)
    for name, y in curves.items():
        y = np.asarray(y)
        if y.shape != x.shape:
            raise ValueError(
                f"curve {name!r} has shape {y.shape} but x has shape {x.shape}; "
                "give every curve one value per x"
            )
        ax.plot(x, y, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if curves:
        ax.legend()
    return ax


def plot_trajectories(
    ax: plt.Axes,
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
    trajectories: Mapping[str, np.ndarray],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    title: str,
    levels: int = 30,
    xlabel: str = r"$\theta_1$",
    ylabel: str = r"$\theta_2$",
) -> plt.Axes:
    """Contours of a 2-D function with optimisation paths drawn on top.

    f: vectorised, maps grids X, Y of shape (m, m) to values (m, m).
    Each trajectory: (steps, 2).
    """
    gx = np.linspace(*xlim, 200)
    gy = np.linspace(*ylim, 200)
    X, Y = np.meshgrid(gx, gy)
    ax.contour(X, Y, f(X, Y), levels=levels, colors="0.6", linewidths=0.6)
    for name, path in trajectories.items():
        path = np.asarray(path)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(
                f"trajectory {name!r} has shape {path.shape}; expected (steps, 2)"
            )
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=3, label=name)
        ax.plot(*path[0], "k^", markersize=5)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=xlim, ylim=ylim)
    ax.legend(loc="upper right", fontsize=8)
    return ax


def image_grid(
    images: np.ndarray,
    *,
    ncols: int,
    titles: Sequence[str] | None = None,
    suptitle: str | None = None,
    cell_size: float = 0.9,
) -> plt.Figure:
    """Show grey-scale images in a grid without axes.

    images: (n, height, width), values in [0, 1] (1 = ink).
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(
            f"images has shape {images.shape}; expected (n, height, width)"
        )
    if ncols < 1:
        raise ValueError(f"ncols={ncols} must be at least 1")
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(cell_size * ncols, cell_size * nrows + 0.3),
        squeeze=False,
    )
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < n:
            ax.imshow(images[k], cmap="gray_r", vmin=0.0, vmax=1.0)
            if titles is not None:
                ax.set_title(titles[k], fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
