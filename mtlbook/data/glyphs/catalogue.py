"""Which characters become classes: letters that look different from each other.

A candidate is a letter (Unicode category Lu, Ll or Lo) of one of
:data:`SCRIPTS` that the reference face (DejaVu Sans) draws. It is dropped if
it has a Unicode decomposition (accented or compatibility form, e.g. ``é``)
or is an Arabic presentation form,
if it is a "<base> WITH <mark>" variant of a letter that is itself a
candidate, if it draws no ink or the missing-glyph box, or if its fitted image
lies within :data:`DISTINCT_RMS` of a class kept before it (``o`` after ``O``,
Greek ``Α`` after Latin ``A``). Candidates are visited in script order, then
code point order, so the catalogue is deterministic and Latin keeps its letters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from mtlbook._validate import check_array
from mtlbook.data.glyphs.fonts import FACES, REFERENCE_FACE, codepoints
from mtlbook.data.glyphs.render import render_fitted

#: Scripts (alphabets), keyed by the prefix of their letters' Unicode names.
SCRIPTS: tuple[str, ...] = (
    "Latin",
    "Greek",
    "Cyrillic",
    "Armenian",
    "Georgian",
    "Hebrew",
    "Arabic",
    "Canadian Syllabics",
    "Tifinagh",
    "NKo",
    "Lao",
    "Lisu",
    "Ogham",
    "Old Italic",
    "Coptic",
)
#: Resolution at which classes are compared (the default working resolution).
CATALOGUE_SIZE = 28
#: Two classes are distinct if the RMS difference of their blurred, fitted
#: reference images is above this (images in [0, 1]; see the datasets page).
DISTINCT_RMS = 0.12
#: A script with fewer surviving letters than this is left out.
MIN_CLASSES_PER_SCRIPT = 10
#: Blur (pixels) before comparing, so a one-pixel shift is not a new shape.
COMPARE_BLUR = 0.5
#: A face "has" a glyph if it is in its cmap and this far from the .notdef box.
NOTDEF_RMS = 0.02


@dataclass(frozen=True)
class Catalogue:
    """The classes: one entry per character, sorted by script then code point.

    codepoints: (n_classes,) int32; script: (n_classes,) int8 index into
    ``scripts``; faces: (n_classes, n_faces) bool, the faces that draw it;
    prototypes: (n_classes, CATALOGUE_SIZE, CATALOGUE_SIZE) float32 reference
    images (DejaVu Sans); n_candidates: letters considered before filtering.
    """

    codepoints: np.ndarray
    script: np.ndarray
    faces: np.ndarray
    prototypes: np.ndarray
    scripts: tuple[str, ...]
    n_candidates: int

    @property
    def chars(self) -> list[str]:
        """The characters, one per class."""
        return [chr(int(c)) for c in self.codepoints]

    def __len__(self) -> int:
        return len(self.codepoints)


def script_of(char: str) -> str | None:
    """The script in :data:`SCRIPTS` whose name prefixes ``char``'s name, or None."""
    name = unicodedata.name(char, "").upper()
    for script in SCRIPTS:
        if name.startswith(script.upper() + " "):
            return script
    return None


def candidate_letters() -> list[tuple[int, str]]:
    """(script index, char) of the letters kept by the name rules, sorted."""
    found: dict[str, str] = {}
    for cp in codepoints(REFERENCE_FACE):
        char = chr(cp)
        if unicodedata.category(char) not in ("Lu", "Ll", "Lo"):
            continue
        if unicodedata.decomposition(char):  # accented or compatibility form
            continue
        if 0xFB50 <= cp <= 0xFEFF:  # Arabic presentation forms: shapes, not letters
            continue
        if script_of(char) is not None:
            found[unicodedata.name(char)] = char
    kept = []
    for name, char in found.items():
        base = name.split(" WITH ")[0]
        if base != name and base in found:  # a marked variant of a kept letter
            continue
        kept.append((SCRIPTS.index(script_of(char)), char))
    return sorted(kept, key=lambda sc: (sc[0], ord(sc[1])))


def _notdef(face_index: int) -> np.ndarray:
    """The face's missing-glyph image, drawn for an unassigned code point."""
    image = render_fitted(face_index, "\U0010fffd", CATALOGUE_SIZE)
    return np.zeros((CATALOGUE_SIZE,) * 2, np.float32) if image is None else image


def _draws(face_index: int, char: str, notdef: np.ndarray) -> np.ndarray | None:
    """The fitted image if the face really draws ``char``, else None."""
    if ord(char) not in codepoints(face_index):
        return None
    image = render_fitted(face_index, char, CATALOGUE_SIZE)
    if image is None or _rms(image, notdef) < NOTDEF_RMS:
        return None
    return image


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def pairwise_rms(images: np.ndarray) -> np.ndarray:
    """RMS difference between every pair of images after a slight blur.

    images: (n, h, w) in [0, 1]. Returns: (n, n) float64.
    """
    from scipy.ndimage import gaussian_filter  # lazy: scipy.ndimage is slow to import

    check_array("images", images, ndim=3)
    images = np.asarray(images)  # blurred in its own dtype, as the catalogue is
    blurred = np.stack([gaussian_filter(im, COMPARE_BLUR) for im in images])
    flat = blurred.reshape(len(images), -1).astype(np.float64)
    sq = (flat**2).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T
    return np.sqrt(np.maximum(d2, 0.0) / flat.shape[1])


def _greedy_distinct(distances: np.ndarray) -> list[int]:
    """Indices kept by visiting in order and dropping near copies of kept ones."""
    kept: list[int] = []
    for i in range(len(distances)):
        if not kept or distances[i, kept].min() > DISTINCT_RMS:
            kept.append(i)
    return kept


def build_catalogue() -> Catalogue:
    """Filter the candidates down to visually distinct classes (a few seconds)."""
    candidates = candidate_letters()
    notdefs = [_notdef(f) for f in range(len(FACES))]
    attempts = [
        (s, c, _draws(REFERENCE_FACE, c, notdefs[REFERENCE_FACE]))
        for s, c in candidates
    ]
    drawn = [(s, c, im) for s, c, im in attempts if im is not None]
    images = np.stack([im for _, _, im in drawn])
    kept = _greedy_distinct(pairwise_rms(images))
    scripts = np.array([drawn[i][0] for i in kept])
    counts = np.bincount(scripts, minlength=len(SCRIPTS))
    used = [s for s in range(len(SCRIPTS)) if counts[s] >= MIN_CLASSES_PER_SCRIPT]
    kept = [i for i in kept if counts[drawn[i][0]] >= MIN_CLASSES_PER_SCRIPT]
    chars = [drawn[i][1] for i in kept]
    faces = np.array(
        [
            [_draws(f, c, notdefs[f]) is not None for f in range(len(FACES))]
            for c in chars
        ]
    )
    return Catalogue(
        codepoints=np.array([ord(c) for c in chars], dtype=np.int32),
        script=np.searchsorted(used, [drawn[i][0] for i in kept]).astype(np.int8),
        faces=faces,
        prototypes=images[kept],
        scripts=tuple(SCRIPTS[s] for s in used),
        n_candidates=len(candidates),
    )
