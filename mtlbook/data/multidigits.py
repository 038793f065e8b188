"""MultiDigits: two of scikit-learn's bundled 8x8 digits overlaid, two tasks.

Each example is a left and a right digit drawn on one 8 x (8 + offset) canvas:
the left digit fills columns 0..7, the right digit columns offset..offset+7,
and where they overlap the brighter pixel wins (pixel-wise maximum), as in
MultiMNIST. Task 0 is the left digit's class, task 1 the right digit's. With
the default offset=4 the digits share four columns, so a model has to tell
them apart; offset=8 places them side by side without overlap.

The split is by SOURCE image: the 1797 digit images are partitioned into
train/val/test first and pairs are formed only inside each part, so no digit
image appears in two splits. The data ships with scikit-learn (no download).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class MultiDigitsSplit:
    """One split of MultiDigits.

    images: (n, 8, 8 + offset) float32 in [0, 1]; labels: (n, 2) int64 (left,
    right digit); sources: (n, 2) int64 index of each digit in load_digits().
    """

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray


@dataclass(frozen=True)
class MultiDigits:
    """The train, val and test splits; their source images are disjoint."""

    train: MultiDigitsSplit
    val: MultiDigitsSplit
    test: MultiDigitsSplit


def _digits() -> tuple[np.ndarray, np.ndarray]:
    # Imported here so importing mtlbook.data stays light.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)  # raw values are 0..16
    return images, bunch.target.astype(np.int64)


def overlay(left: np.ndarray, right: np.ndarray, offset: int) -> np.ndarray:
    """Draw digit pairs on one canvas, the right one shifted by ``offset``.

    left, right: (n, h, w) in [0, 1]; returns (n, h, w + offset), the pixel-wise
    maximum where the digits overlap.
    """
    if left.shape != right.shape or left.ndim != 3:
        raise ValueError(
            f"left and right must both have shape (n, h, w), got {left.shape} "
            f"and {right.shape}"
        )
    n, h, w = left.shape
    canvas = np.zeros((n, h, w + offset), dtype=left.dtype)
    canvas[:, :, :w] = left
    canvas[:, :, offset:] = np.maximum(canvas[:, :, offset:], right)
    return canvas


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    frac = np.asarray(fractions, dtype=np.float64)
    if frac.shape != (3,):
        raise ValueError(
            f"fractions must hold three numbers (train, val, test), got shape "
            f"{frac.shape}; e.g. fractions=(0.6, 0.2, 0.2)"
        )
    if not np.isfinite(frac).all() or (frac < 0).any() or frac[[0, 2]].min() <= 0:
        raise ValueError(
            f"fractions={frac.tolist()} must be finite, train and test > 0 and "
            "val >= 0, e.g. (0.6, 0.2, 0.2)"
        )
    if abs(frac.sum() - 1.0) > 1e-9:
        raise ValueError(f"fractions={frac.tolist()} must sum to 1")
    return frac


def make_multidigits(
    *,
    rng: np.random.Generator,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    pairs_per_image: int = 1,
    offset: int = 4,
) -> MultiDigits:
    """Build MultiDigits with a leak-free split by source image.

    fractions: (3,) shares of the 1797 source images for train, val, test.
    Within each part, every round shuffles the part twice and pairs the two
    orders, so each source image is a left digit exactly ``pairs_per_image``
    times and a right digit as often: a split of k images has
    k * pairs_per_image examples. A pair may repeat one image (rare).
    offset: columns between the two digits' left edges, 1..8 (8 = side by side).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a np.random.Generator, e.g. np.random.default_rng(0)"
        )
    frac = _check_fractions(fractions)
    for name, value, low, high in (
        ("pairs_per_image", pairs_per_image, 1, None),
        ("offset", offset, 1, 8),
    ):
        if not isinstance(value, int | np.integer) or isinstance(value, bool):
            raise TypeError(f"{name}={value!r} must be an int")
        if value < low or (high is not None and value > high):
            upper = "" if high is None else f" and <= {high}"
            raise ValueError(f"{name}={value} must be >= {low}{upper}")

    images, labels = _digits()
    order = rng.permutation(len(images))
    # Cut points by rounding cumulative shares: every image lands in one part.
    cuts = np.round(np.cumsum(frac)[:2] * len(images)).astype(int)
    parts = np.split(order, cuts)

    splits = []
    for part in parts:
        left = np.concatenate([rng.permutation(part) for _ in range(pairs_per_image)])
        right = np.concatenate([rng.permutation(part) for _ in range(pairs_per_image)])
        sources = np.stack([left, right], axis=1).astype(np.int64)
        splits.append(
            MultiDigitsSplit(
                images=overlay(images[left], images[right], offset),
                labels=labels[sources],
                sources=sources,
            )
        )
    return MultiDigits(*splits)
