"""Generate glyph images with their labels, or load them from the cache.

``load_glyphs()`` is the entry point: 20 instances of every class at 28 x 28,
generated on first use (seconds) and read from the cache afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtlbook._progress import advance, progress_bar
from mtlbook._validate import check_bool, check_int, check_int_array
from mtlbook.data.cache import cache_dir, cache_key, load_arrays, save_arrays
from mtlbook.data.glyphs.catalogue import Catalogue
from mtlbook.data.glyphs.fonts import FACES, FAMILIES
from mtlbook.data.glyphs.split import classes_of
from mtlbook.data.glyphs.store import catalogue, versions
from mtlbook.data.glyphs.variation import draw_params, render_master, warp

#: One row of labels per image.
LABEL_DTYPE = np.dtype(
    [
        ("char", np.int32),  # class id: index into the catalogue
        ("codepoint", np.int32),
        ("script", np.int8),  # index into GlyphSet.scripts
        ("family", np.int8),  # index into FAMILIES: sans, serif, mono, stix
        ("bold", np.bool_),
        ("oblique", np.bool_),
        ("rotation", np.float32),  # degrees, counter-clockwise on screen
        ("instance", np.int32),
    ]
)
_CHUNK = 4096  # instances warped at once: bounds the temporary memory


@dataclass(frozen=True)
class GlyphSet:
    """Images and labels; class ids index ``class_chars`` (the catalogue).

    images: (n, size, size) uint8, 255 = ink; labels: (n,) LABEL_DTYPE.
    """

    images: np.ndarray
    labels: np.ndarray
    scripts: tuple[str, ...]
    class_chars: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)

    def float_images(self) -> np.ndarray:
        """Images as float32 in [0, 1]: (n, size, size)."""
        return self.images.astype(np.float32) / 255.0

    def subset(self, classes: Sequence[int] | np.ndarray) -> GlyphSet:
        """The images whose class id is in ``classes``: (n_kept, size, size).

        classes: (n_classes,) catalogue ids, e.g. ``standard_split()["train"]``;
        the result is empty if none of them is loaded.
        """
        ids = check_int_array(
            "classes",
            classes,
            high=len(self.class_chars),
            example="standard_split()['train']",
        )
        keep = np.isin(self.labels["char"], ids)
        return GlyphSet(
            self.images[keep], self.labels[keep], self.scripts, self.class_chars
        )


def _check_sizes(n_per_class: object, size: object, seed: object) -> tuple[int, ...]:
    return (
        check_int("n_per_class", n_per_class, low=1, example=20),
        check_int("size", size, low=8, example=28),
        check_int("seed", seed, low=0, example=0),
    )


def generate_glyphs(
    classes: Sequence[int] | np.ndarray | None = None,
    *,
    n_per_class: int = 20,
    size: int = 28,
    seed: int = 0,
    progress: bool = False,
) -> GlyphSet:
    """Draw ``n_per_class`` instances of each class (no cache).

    classes: (n_classes,) distinct catalogue ids, default all. Images are class-major:
    all instances of the first class, then the next. Returns n_classes *
    n_per_class images of shape (size, size). ``progress=True`` shows two bars
    on stderr: the masters drawn, one per (class, face), then the images warped.
    """
    n_per_class, size, seed = _check_sizes(n_per_class, size, seed)
    check_bool("progress", progress)
    cat = catalogue()
    ids = (
        np.arange(len(cat))
        if classes is None
        else check_int_array(
            "classes", classes, high=len(cat), unique=True, example="[0, 1, 2]"
        )
    )
    per_image = np.repeat(ids, n_per_class)
    instance = np.tile(np.arange(n_per_class), len(ids))
    available = [np.flatnonzero(row) for row in cat.faces]
    n_faces = cat.faces.sum(axis=1)[per_image]
    params = draw_params(seed, cat.codepoints[per_image], instance, n_faces, size)
    face = np.array(
        [available[c][k] for c, k in zip(per_image, params.face_choice, strict=True)],
        dtype=np.int64,
    )
    # One master per (class, face) pair in use; each image points at its master.
    pairs, which = np.unique(
        np.stack([per_image, face], 1), axis=0, return_inverse=True
    )
    masters = _masters(pairs, cat, size, progress)
    images = np.empty((len(per_image), size, size), dtype=np.uint8)
    with progress_bar(progress, len(per_image), "glyph images", "img") as bar:
        for start in range(0, len(per_image), _CHUNK):
            part = slice(start, start + _CHUNK)
            chunk = params.take(part)
            images[part] = warp(masters, which.ravel()[part], chunk, size)
            advance(bar, len(images[part]))
    labels = np.empty(len(per_image), dtype=LABEL_DTYPE)
    labels["char"] = per_image
    labels["codepoint"] = cat.codepoints[per_image]
    labels["script"] = cat.script[per_image]
    labels["family"] = [FAMILIES.index(FACES[f].family) for f in face]
    labels["bold"] = [FACES[f].bold for f in face]
    labels["oblique"] = [FACES[f].oblique for f in face]
    labels["rotation"] = params.rotation
    labels["instance"] = instance
    return GlyphSet(images, labels, cat.scripts, tuple(cat.chars))


def _masters(
    pairs: np.ndarray, cat: Catalogue, size: int, progress: bool
) -> np.ndarray:
    """One master per (class, face) row of pairs: (n_pairs, 2 size, 2 size)."""
    masters = np.zeros((len(pairs), 2 * size, 2 * size), np.float32)
    with progress_bar(progress, len(pairs), "glyph masters", "master") as bar:
        for i, (c, f) in enumerate(pairs):
            masters[i] = render_master(int(f), chr(int(cat.codepoints[c])), size)
            advance(bar)
    return masters


def load_glyphs(
    *,
    n_per_class: int = 20,
    size: int = 28,
    seed: int = 0,
    scripts: Sequence[str] | None = None,
    progress: bool = False,
) -> GlyphSet:
    """All classes of ``scripts`` (default: every script), cached on disk.

    The cache file is keyed by the arguments and
    :func:`~mtlbook.data.glyphs.store.versions`; it is written atomically and
    read without pickle. Returns images (n, size, size) uint8.
    ``progress=True`` shows the bars of :func:`generate_glyphs` on a cold cache.
    """
    n_per_class, size, seed = _check_sizes(n_per_class, size, seed)
    check_bool("progress", progress)
    cat = catalogue()
    ids = np.arange(len(cat)) if scripts is None else classes_of(scripts, cat)
    key = cache_key(
        {
            **versions(),
            "n_per_class": n_per_class,
            "size": size,
            "seed": seed,
            "codepoints": cat.codepoints[ids].tolist(),
        }
    )
    path = cache_dir() / f"glyphs-{key}.npz"
    arrays = load_arrays(path)
    if arrays is not None and _matches(arrays, cat, ids, n_per_class, size):
        return GlyphSet(
            arrays["images"], arrays["labels"], cat.scripts, tuple(cat.chars)
        )
    glyphs = generate_glyphs(
        ids, n_per_class=n_per_class, size=size, seed=seed, progress=progress
    )
    save_arrays(path, {"images": glyphs.images, "labels": glyphs.labels})
    return glyphs


def _matches(
    arrays: dict[str, np.ndarray],
    cat: Catalogue,
    ids: np.ndarray,
    n_per_class: int,
    size: int,
) -> bool:
    """Whether a cache file holds what the arguments ask for (else regenerate).

    A truncated or hand-edited file with the right name must not be returned:
    the count, shape and dtype of the images and the class, code point and
    instance of every label row are checked against the catalogue.
    """
    if not {"images", "labels"} <= arrays.keys():
        return False
    images, labels = arrays["images"], arrays["labels"]
    n = len(ids) * n_per_class
    if images.shape != (n, size, size) or images.dtype != np.uint8:
        return False
    if labels.shape != (n,) or labels.dtype != LABEL_DTYPE:
        return False
    per_image = np.repeat(ids, n_per_class)
    return bool(
        np.array_equal(labels["char"], per_image)
        and np.array_equal(labels["codepoint"], cat.codepoints[per_image])
        and np.array_equal(
            labels["instance"], np.tile(np.arange(n_per_class), len(ids))
        )
    )
