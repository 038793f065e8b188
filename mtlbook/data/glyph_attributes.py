"""Multi-attribute tasks on the glyph dataset: five labels from one image.

Every glyph image stores how it was drawn (``LABEL_DTYPE``): its character, the
font face (family, bold, oblique) and the rotation applied to it. Those give
five classification tasks on the same input:

* ``character``: which of the chosen classes (0 .. C − 1, in ``classes`` order);
* ``family``: the font family, an index into ``FAMILIES`` (sans, serif, mono,
  stix);
* ``weight``: 0 regular, 1 bold;
* ``slant``: 0 upright, 1 oblique or italic. The random shear of every instance
  (slope ±0.2) also slants the glyph, so this task is not trivial;
* ``rotation``: the rotation angle (uniform in ±15°) cut into equal-width bins.

Scale, shear, shift and stroke level are drawn per instance too but not stored,
so they are not tasks. The split is by image, stratified by character: each
class's instances are shuffled and cut into train/val/test, so every character
is seen in training and no image appears in two splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtlbook._validate import (
    check_fractions,
    check_instance,
    check_int,
    check_int_array,
    check_numpy_rng,
)
from mtlbook.data.glyphs import FAMILIES, GlyphSet
from mtlbook.data.glyphs.variation import ROTATION_DEG

TASKS: tuple[str, ...] = ("character", "family", "weight", "slant", "rotation")


@dataclass(frozen=True)
class GlyphAttributes:
    """Images, one target per task, and a split by image.

    x: (n, 1, size, size) float32 in [0, 1]; targets[name]: (n,) int64 in
    [0, n_classes[name]); train, val, test: disjoint int64 index arrays into x;
    classes: (C,) catalogue ids, ``character`` target k is class ``classes[k]``.
    """

    x: np.ndarray
    targets: dict[str, np.ndarray]
    n_classes: dict[str, int]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    classes: np.ndarray

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in a fixed order (the order of a model's heads)."""
        return TASKS


def _check_classes(glyphs: GlyphSet, classes: Sequence[int] | np.ndarray) -> np.ndarray:
    if isinstance(classes, list | tuple | np.ndarray) and len(classes) == 0:
        raise ValueError(
            "classes is empty: pass a non-empty list of class ids, "
            "e.g. standard_split()['train'][:50]"
        )
    ids = check_int_array(
        "classes", classes, unique=True, example="standard_split()['train'][:50]"
    )
    missing = np.setdiff1d(ids, glyphs.labels["char"])
    if missing.size:
        raise ValueError(
            f"classes {missing[:5].tolist()} have no images in glyphs; load the "
            "glyphs of those classes (load_glyphs()) or drop them"
        )
    return ids.astype(np.int64)


def glyph_attribute_tasks(
    glyphs: GlyphSet,
    classes: Sequence[int] | np.ndarray,
    *,
    rng: np.random.Generator,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    rotation_bins: int = 3,
) -> GlyphAttributes:
    """Five attribute tasks on the images of ``classes``, split by image.

    glyphs: a GlyphSet (e.g. ``load_glyphs()``); classes: (C,) catalogue ids, each
    with at least 3 instances in ``glyphs``. fractions: (3,) train/val/test shares
    of each class's instances (at least one instance in each part).
    rotation_bins: equal-width bins over the ±15° rotation range. Returns x:
    (n, 1, size, size) with n the images of ``classes``, in class-major order.
    """
    check_instance("glyphs", glyphs, GlyphSet, "load one with load_glyphs()")
    check_numpy_rng("rng", rng)
    ids = _check_classes(glyphs, classes)
    frac = check_fractions("fractions", fractions, ("train", "val", "test"))
    rotation_bins = check_int("rotation_bins", rotation_bins, low=2, example=3)

    # class-major order: the images of classes[0], then classes[1], ...
    per_class = [np.flatnonzero(glyphs.labels["char"] == c) for c in ids]
    rows = np.concatenate(per_class)
    labels = glyphs.labels[rows]
    low, high = ROTATION_DEG
    position = (labels["rotation"].astype(np.float64) - low) / (high - low)
    rotation = np.clip(
        (position * rotation_bins).astype(np.int64), 0, rotation_bins - 1
    )
    targets = {
        "character": np.repeat(np.arange(len(ids)), [len(r) for r in per_class]),
        "family": labels["family"].astype(np.int64),
        "weight": labels["bold"].astype(np.int64),
        "slant": labels["oblique"].astype(np.int64),
        "rotation": rotation,
    }
    n_classes = {
        "character": len(ids),
        "family": len(FAMILIES),
        "weight": 2,
        "slant": 2,
        "rotation": int(rotation_bins),
    }

    parts: list[list[np.ndarray]] = [[], [], []]
    for k in range(len(ids)):
        mine = rng.permutation(np.flatnonzero(targets["character"] == k))
        if len(mine) < 3:
            raise ValueError(
                f"class {int(ids[k])} has {len(mine)} images; each class needs at "
                "least 3 (one per split): load more instances per class"
            )
        # cut points by rounding cumulative shares, with one image at least each
        cuts = np.round(np.cumsum(frac)[:2] * len(mine)).astype(int)
        cuts[0] = min(max(cuts[0], 1), len(mine) - 2)
        cuts[1] = min(max(cuts[1], cuts[0] + 1), len(mine) - 1)
        for part, chunk in zip(parts, np.split(mine, cuts), strict=True):
            part.append(chunk)
    train, val, test = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    x = (glyphs.images[rows].astype(np.float32) / 255.0)[:, None]
    return GlyphAttributes(
        x=x,
        targets=targets,
        n_classes=n_classes,
        train=train,
        val=val,
        test=test,
        classes=ids,
    )
