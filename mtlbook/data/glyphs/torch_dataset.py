"""A thin ``torch.utils.data.Dataset`` over a glyph set.

The glyph set is a :class:`~mtlbook.data.glyphs.dataset.GlyphSet`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mtlbook._validate import check_instance
from mtlbook.data.glyphs.dataset import LABEL_DTYPE, GlyphSet

#: Label fields a model can be trained to predict.
TARGETS: tuple[str, ...] = ("char", "script", "family", "bold", "oblique", "rotation")


class GlyphDataset(Dataset):
    """Items are ``(image, label)``: image (1, size, size) float32 in [0, 1].

    ``target`` names one label field (label: a 0-d tensor; int64, or float32
    for "rotation") or several (label: dict of such tensors), for multi-task
    heads. ``classes`` keeps only those class ids (e.g. one split).
    """

    def __init__(
        self,
        glyphs: GlyphSet,
        target: str | Sequence[str] = "char",
        classes: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        check_instance("glyphs", glyphs, GlyphSet, "load one with load_glyphs()")
        if not isinstance(target, str | Sequence | np.ndarray):
            raise TypeError(
                f"target must be a label name or a list of names, got "
                f"{type(target).__name__}; choose from {TARGETS}"
            )
        names = [target] if isinstance(target, str) else list(target)
        unknown = [t for t in names if t not in TARGETS]
        if unknown or not names:
            raise ValueError(f"target={target!r}: choose one or more of {TARGETS}")
        if classes is not None:
            glyphs = glyphs.subset(classes)
            if len(glyphs) == 0:
                raise ValueError(
                    "classes: none of these classes has images in glyphs; load "
                    "their scripts (load_glyphs() loads all) or pass other ids"
                )
        self.glyphs = glyphs
        self._names = names
        self._single = isinstance(target, str)
        self._images = torch.from_numpy(glyphs.float_images()).unsqueeze(1)
        self._labels = {
            t: torch.from_numpy(
                glyphs.labels[t].astype(
                    np.float32 if LABEL_DTYPE[t].kind == "f" else np.int64
                )
            )
            for t in names
        }

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(
        self, index: int
    ) -> tuple[torch.Tensor, torch.Tensor | dict[str, torch.Tensor]]:
        image = self._images[index]
        if self._single:
            return image, self._labels[self._names[0]][index]
        return image, {t: self._labels[t][index] for t in self._names}
