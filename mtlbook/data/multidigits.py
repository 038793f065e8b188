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

from mtlbook._validate import check_fractions, check_int, check_numpy_rng

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
    for name, value in (("left", left), ("right", right)):
        if not isinstance(value, np.ndarray):
            raise TypeError(
                f"{name} must be a numpy array (n, h, w), got {type(value).__name__}; "
                f"pass np.asarray({name})"
            )
    offset = check_int("offset", offset, low=0, example=4)
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
    check_numpy_rng("rng", rng)
    frac = check_fractions(
        "fractions", fractions, ("train", "val", "test"), may_be_zero=("val",)
    )
    pairs_per_image = check_int("pairs_per_image", pairs_per_image, low=1, example=1)
    offset = check_int("offset", offset, low=1, high=8, example=4)

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
