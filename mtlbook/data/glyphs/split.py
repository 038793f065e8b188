"""The standard split, in the spirit of Omniglot's background / evaluation.

Background scripts are for training (multi-task heads, pre-training, meta-
training); evaluation scripts are never seen in training and supply the
few-shot test episodes. Inside the background set, classes are dealt into
class-disjoint train / val / test parts (70 / 15 / 15 % per script) by a hash
of their code point, so the split does not depend on any random state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

from mtlbook._validate import check_instance, check_nonempty
from mtlbook.data.glyphs.catalogue import Catalogue
from mtlbook.data.glyphs.store import catalogue

BACKGROUND_SCRIPTS: tuple[str, ...] = (
    "Latin",
    "Greek",
    "Cyrillic",
    "Arabic",
    "Canadian Syllabics",
    "Coptic",
)
EVALUATION_SCRIPTS: tuple[str, ...] = (
    "Armenian",
    "Georgian",
    "Hebrew",
    "Tifinagh",
    "NKo",
    "Lao",
    "Ogham",
    "Old Italic",
)
SPLITS: tuple[str, ...] = ("train", "val", "test", "evaluation")
_FRACTIONS = (0.70, 0.15)  # train, val; test gets the rest


def classes_of(scripts: Sequence[str], cat: Catalogue | None = None) -> np.ndarray:
    """Class ids (catalogue order) of all letters of ``scripts``.

    Returns: (n,) int64, sorted.
    """
    cat = _catalogue(cat)
    if isinstance(scripts, str):
        raise TypeError(
            f"scripts={scripts!r} must be a list of names, e.g. [{scripts!r}]"
        )
    if not isinstance(scripts, Iterable):
        raise TypeError(
            f"scripts must be a list of script names, got {type(scripts).__name__}; "
            "e.g. scripts=['Latin', 'Greek']"
        )
    scripts = list(scripts)
    check_nonempty("scripts", scripts, "script names, e.g. scripts=['Latin']")
    not_names = [s for s in scripts if not isinstance(s, str)]
    if not_names:
        raise TypeError(
            f"scripts must hold script names (str), got {not_names[:3]}; "
            f"choose from {list(cat.scripts)}"
        )
    unknown = [s for s in scripts if s not in cat.scripts]
    if unknown:
        raise ValueError(
            f"unknown script name(s) {unknown} in scripts; "
            f"choose from {list(cat.scripts)}"
        )
    wanted = [cat.scripts.index(s) for s in scripts]
    return np.flatnonzero(np.isin(cat.script, wanted))


def _catalogue(cat: object) -> Catalogue:
    """``cat``, or the standard catalogue when it is None."""
    if cat is None:
        return catalogue()
    return check_instance(
        "cat", cat, Catalogue, "pass catalogue() or leave cat out for the standard one"
    )


def _hash_rank(codepoint: int) -> str:
    return hashlib.sha256(f"glyph-split:{codepoint}".encode()).hexdigest()


def standard_split(cat: Catalogue | None = None) -> dict[str, np.ndarray]:
    """Class ids of each split: "train", "val", "test" (background), "evaluation".

    Returns: dict of (n_split,) int64 arrays, sorted, pairwise disjoint.
    """
    cat = _catalogue(cat)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for script in BACKGROUND_SCRIPTS:
        ids = sorted(
            classes_of([script], cat), key=lambda c: _hash_rank(int(cat.codepoints[c]))
        )
        n_train = round(_FRACTIONS[0] * len(ids))
        n_val = round(_FRACTIONS[1] * len(ids))
        parts["train"] += ids[:n_train]
        parts["val"] += ids[n_train : n_train + n_val]
        parts["test"] += ids[n_train + n_val :]
    split = {
        name: np.sort(np.array(ids, dtype=np.int64)) for name, ids in parts.items()
    }
    split["evaluation"] = classes_of(EVALUATION_SCRIPTS, cat).astype(np.int64)
    return split


def split_counts(cat: Catalogue | None = None) -> dict[str, dict[str, int]]:
    """Number of classes per script (outer key) and split (inner key)."""
    cat = _catalogue(cat)
    split = standard_split(cat)
    return {
        script: {name: int(np.sum(cat.script[ids] == s)) for name, ids in split.items()}
        for s, script in enumerate(cat.scripts)
    }
