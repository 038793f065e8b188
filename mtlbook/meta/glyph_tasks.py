"""N-way K-shot episodes from the glyph dataset, one split at a time.

The background scripts are split by class into "train" / "val" / "test"; the
"evaluation" scripts are never seen in meta-training (Lake et al.'s Omniglot
protocol). :func:`glyph_episodes` keeps only the images of one split, so an
episode cannot mix splits whatever the sampler does.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlbook.data.glyphs import GlyphSet, load_glyphs, standard_split
from mtlbook.meta.tasks import FewShotEpisodes

__all__ = ["GLYPH_SPLITS", "glyph_episodes"]

GLYPH_SPLITS = ("train", "val", "test", "evaluation")


def glyph_episodes(
    split: str,
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    glyphs: GlyphSet | None = None,
) -> FewShotEpisodes:
    """Episodes over the classes of one split of the glyph classes.

    ``split`` names a part of :func:`~mtlbook.data.glyphs.split.standard_split`.

    glyphs: the dataset (default: ``load_glyphs()``, 20 instances per class).
    Batches: x_support (tasks, n_way*k_shot, 1, 28, 28) float32 in [0, 1],
    x_query (tasks, n_way*n_query, 1, 28, 28); y_*: episode labels;
    info["classes"]: glyph class ids (indices into ``glyphs.class_chars``).
    """
    if split not in GLYPH_SPLITS:
        raise ValueError(
            f"split={split!r} is unknown; use one of {GLYPH_SPLITS} "
            "('evaluation' holds the scripts never seen in meta-training)"
        )
    if glyphs is None:
        glyphs = load_glyphs()
    elif not isinstance(glyphs, GlyphSet):
        raise TypeError(
            f"glyphs must be a GlyphSet from load_glyphs(), got {type(glyphs).__name__}"
        )
    classes = standard_split()[split]
    part = glyphs.subset(classes)
    present = np.unique(part.labels["char"])
    if len(present) == 0:
        raise ValueError(
            f"glyphs holds no class of the {split!r} split; load it with "
            "load_glyphs() (all scripts)"
        )
    # A channel axis, so that conv nets take the images as they are.
    x = torch.from_numpy(part.float_images()).unsqueeze(1)
    y = torch.from_numpy(part.labels["char"].astype(np.int64))
    try:
        return FewShotEpisodes(x, y, n_way=n_way, k_shot=k_shot, n_query=n_query)
    except ValueError as error:  # say which split, and how big it is
        n_min = int(np.bincount(part.labels["char"])[present].min())
        raise ValueError(
            f"impossible episode on the {split!r} split ({len(present)} classes, "
            f"at least {n_min} instances each): {error}"
        ) from error
