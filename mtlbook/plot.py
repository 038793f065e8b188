"""Figure helpers shared by the chapters, so every figure has one look."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from mtlbook._validate import (
    check_bool,
    check_callable,
    check_int,
    check_nonempty,
    check_real,
)

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
            "axes.prop_cycle": mpl.cycler(color=PALETTE),  # type: ignore[attr-defined]
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
    _check_axes(ax)
    _check_mapping("curves", curves, "{'train': losses}")
    check_nonempty("curves", curves, "named curves, e.g. {'train': losses}")
    logy = check_bool("logy", logy)
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x has shape {x.shape}; expected (n,), one value per point")
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
    _check_axes(ax)
    check_callable("f", f, "lambda a, b: a**2 + b**2")
    _check_mapping("trajectories", trajectories, "{'GD': path}")
    _check_limits("xlim", xlim)
    _check_limits("ylim", ylim)
    levels = check_int("levels", levels, low=1, example=30)
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
    check_nonempty("images", images, "images, (n, height, width)")
    ncols = check_int("ncols", ncols, low=1, example=8)
    check_real("cell_size", cell_size, low=0, low_open=True, example=0.9)
    n = len(images)
    if titles is not None and len(titles) != n:
        raise ValueError(
            f"titles has {len(titles)} entries for {n} images; give one title each"
        )
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


def _check_axes(ax: object) -> None:
    if not isinstance(ax, plt.Axes):
        raise TypeError(
            f"ax must be a matplotlib Axes, got {type(ax).__name__}; "
            "e.g. fig, ax = plt.subplots()"
        )


def _check_mapping(name: str, value: object, example: str) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a dict name -> values, got {type(value).__name__}; "
            f"e.g. {name}={example}"
        )


def _check_limits(name: str, value: object) -> None:
    """(low, high): two finite numbers with low < high."""
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise TypeError(f"{name}={value!r} must be a pair (low, high), e.g. (-1, 1)")
    low, high = (check_real(f"{name}[{i}]", v) for i, v in enumerate(value))
    if not low < high:
        raise ValueError(
            f"{name}={tuple(value)} must have low < high; swap the two ends"
        )


# --- layer transfer (Yosinski et al. 2014) ---------------------------------


#: Colours and markers of :func:`plot_layer_transfer`, after Yosinski et al.
#: Fig. 2 (Okabe–Ito palette); also ``mtlbook.transfer.layer_transfer.STYLES``.
LAYER_TRANSFER_STYLES: dict[str, dict[str, object]] = {
    "baseB": {"color": PALETTE[7], "marker": "o", "mfc": "white"},
    "BnB": {"color": PALETTE[0], "marker": "o"},
    "BnB+": {"color": PALETTE[5], "marker": "s"},
    "AnB": {"color": PALETTE[1], "marker": "D"},
    "AnB+": {"color": PALETTE[3], "marker": "^"},
    "random": {"color": "0.55", "marker": "x"},
}


def plot_layer_transfer(
    ax: plt.Axes,
    rows: Iterable[Mapping[str, Any]],
    *,
    title: str = "Layer transfer",
) -> plt.Axes:
    """Yosinski et al.'s Fig. 2: accuracy on B against the cut depth n.

    rows: the rows of :func:`mtlbook.transfer.layer_transfer.layer_transfer`
    ({"condition", "n", "seed", "accuracy"}). One small dot per seed, a line
    through the means of each condition, and baseB as a dashed horizontal
    reference.
    """
    # Imported on call: mtlbook.plot itself loads no torch.
    from mtlbook.transfer.layer_transfer import CONDITIONS, summarize

    _check_axes(ax)
    rows = list(rows)
    summary: Sequence[Mapping[str, Any]] = summarize(rows)
    conditions = [
        c for c in ("baseB", *CONDITIONS) if any(r["condition"] == c for r in rows)
    ]
    offsets = np.linspace(-0.15, 0.15, len(conditions))
    for offset, condition in zip(offsets, conditions, strict=True):
        style = LAYER_TRANSFER_STYLES[condition]
        points = [r for r in rows if r["condition"] == condition]
        ax.scatter(
            [float(r["n"]) + offset for r in points],
            [float(r["accuracy"]) for r in points],
            s=10,
            color=style["color"],
            alpha=0.45,
            linewidths=0,
        )
        means = [s for s in summary if s["condition"] == condition]
        ax.plot(
            [float(s["n"]) for s in means],
            [float(s["mean"]) for s in means],
            label=condition,
            color=style["color"],
            marker=style["marker"],
            markerfacecolor=style.get("mfc", style["color"]),
        )
        if condition == "baseB":
            ax.axhline(float(means[0]["mean"]), color=style["color"], ls="--", lw=1)
    ns = sorted({int(r["n"]) for r in rows})
    ax.set_xticks(ns)
    ax.set(
        title=title,
        xlabel="layer n at which the network is chopped",
        ylabel="top-1 test accuracy on B",
    )
    ax.legend(fontsize="small", ncol=2)
    return ax
