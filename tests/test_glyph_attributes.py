"""Glyph attribute tasks: five labels per image, read from how it was drawn.

Facts tested: every target agrees with the GlyphSet's stored labels and lies in
its range; the split puts each image in exactly one part and every character
in every part; the same rng gives the same split; bad input gets a clear error.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.data.glyph_attributes import TASKS, glyph_attribute_tasks
from mtlbook.data.glyphs import FAMILIES, GlyphSet, generate_glyphs

CLASSES = [3, 1, 4, 15, 9]  # not sorted: the character target follows this order


@functools.cache
def glyphs() -> GlyphSet:
    """Ten instances of a few classes (generated, not cached: < 1 s)."""
    return generate_glyphs(sorted(CLASSES), n_per_class=10)


def test_shapes_and_label_ranges() -> None:
    data = glyph_attribute_tasks(glyphs(), CLASSES, rng=np.random.default_rng(0))
    n = 10 * len(CLASSES)
    assert data.x.shape == (n, 1, 28, 28) and data.x.dtype == np.float32
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0
    assert data.tasks == TASKS == tuple(data.targets) == tuple(data.n_classes)
    assert data.n_classes == {
        "character": len(CLASSES),
        "family": len(FAMILIES),
        "weight": 2,
        "slant": 2,
        "rotation": 3,
    }
    for name, target in data.targets.items():
        assert target.shape == (n,) and target.dtype == np.int64
        assert target.min() >= 0 and target.max() < data.n_classes[name]


def test_targets_are_the_stored_labels_of_each_image() -> None:
    source = glyphs()
    data = glyph_attribute_tasks(source, CLASSES, rng=np.random.default_rng(0))
    # find each image of x in the GlyphSet and compare its stored labels
    flat = source.images.reshape(len(source), -1)
    for i in range(len(data.x)):
        pixels = np.round(data.x[i, 0].ravel() * 255).astype(np.uint8)
        (row,) = np.flatnonzero((flat == pixels).all(axis=1))
        label = source.labels[row]
        assert CLASSES[data.targets["character"][i]] == label["char"]
        assert data.targets["family"][i] == label["family"]
        assert data.targets["weight"][i] == int(label["bold"])
        assert data.targets["slant"][i] == int(label["oblique"])
        # three equal bins over ±15°: below −5°, −5°..5°, above 5°
        expected = 0 if label["rotation"] < -5 else 1 if label["rotation"] < 5 else 2
        assert data.targets["rotation"][i] == expected


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    train=st.floats(0.1, 0.8),
    val=st.floats(0.05, 0.5),
)
def test_split_is_leak_free_and_covers_every_character(
    seed: int, train: float, val: float
) -> None:
    test = 1.0 - train - val
    if test <= 0.01:
        return
    data = glyph_attribute_tasks(
        glyphs(), CLASSES, rng=np.random.default_rng(seed), fractions=(train, val, test)
    )
    parts = (data.train, data.val, data.test)
    joined = np.concatenate(parts)
    # every image in exactly one part: no image is in two splits
    assert np.array_equal(np.sort(joined), np.arange(len(data.x)))
    for part in parts:
        assert set(data.targets["character"][part]) == set(range(len(CLASSES)))


def test_same_rng_same_split_other_rng_other_split() -> None:
    a = glyph_attribute_tasks(glyphs(), CLASSES, rng=np.random.default_rng(7))
    b = glyph_attribute_tasks(glyphs(), CLASSES, rng=np.random.default_rng(7))
    c = glyph_attribute_tasks(glyphs(), CLASSES, rng=np.random.default_rng(8))
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert np.array_equal(a.x, b.x)
    assert not np.array_equal(a.train, c.train)


def test_bad_input_gets_a_clear_error() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="GlyphSet"):
        glyph_attribute_tasks(np.zeros((3, 28, 28)), CLASSES, rng=rng)
    with pytest.raises(TypeError, match="Generator"):
        glyph_attribute_tasks(glyphs(), CLASSES, rng=0)
    with pytest.raises(ValueError, match="non-empty"):
        glyph_attribute_tasks(glyphs(), [], rng=rng)
    with pytest.raises(ValueError, match="repeated"):
        glyph_attribute_tasks(glyphs(), [3, 3], rng=rng)
    with pytest.raises(ValueError, match="no images"):
        glyph_attribute_tasks(glyphs(), [3, 999], rng=rng)
    with pytest.raises(ValueError, match="sum to 1"):
        glyph_attribute_tasks(glyphs(), CLASSES, rng=rng, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="three positive"):
        glyph_attribute_tasks(glyphs(), CLASSES, rng=rng, fractions=(0.8, 0.2))
    with pytest.raises(ValueError, match="at least 2"):
        glyph_attribute_tasks(glyphs(), CLASSES, rng=rng, rotation_bins=1)
    with pytest.raises(TypeError, match="rotation_bins"):
        glyph_attribute_tasks(glyphs(), CLASSES, rng=rng, rotation_bins=2.5)
    few = generate_glyphs([3], n_per_class=2)
    with pytest.raises(ValueError, match="at least 3"):
        glyph_attribute_tasks(few, [3], rng=rng)
