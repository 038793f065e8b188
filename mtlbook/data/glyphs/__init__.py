"""Glyphs: an offline, Omniglot-like dataset of letters from many alphabets.

Letters of 14 Unicode scripts are drawn with the fonts shipped inside
matplotlib, kept only if they look different from every other class, and
varied per instance (face, rotation, scale, shear, shift, stroke thickness,
noise) so that instances of a class differ the way different hands do.

>>> from mtlbook.data.glyphs import load_glyphs, standard_split
>>> glyphs = load_glyphs()             # 20 instances per class, 28 x 28, cached
>>> split = standard_split()           # class ids: train / val / test / evaluation

The torch wrapper lives in :mod:`mtlbook.data.glyphs.torch_dataset`, so that
importing this package does not import torch.
"""

from mtlbook.data.glyphs.catalogue import DISTINCT_RMS, Catalogue, pairwise_rms
from mtlbook.data.glyphs.dataset import (
    LABEL_DTYPE,
    GlyphSet,
    generate_glyphs,
    load_glyphs,
)
from mtlbook.data.glyphs.fonts import FACES, FAMILIES
from mtlbook.data.glyphs.split import (
    BACKGROUND_SCRIPTS,
    EVALUATION_SCRIPTS,
    SPLITS,
    classes_of,
    split_counts,
    standard_split,
)
from mtlbook.data.glyphs.store import GENERATOR_VERSION, catalogue

__all__ = [
    "BACKGROUND_SCRIPTS",
    "DISTINCT_RMS",
    "EVALUATION_SCRIPTS",
    "FACES",
    "FAMILIES",
    "GENERATOR_VERSION",
    "LABEL_DTYPE",
    "SPLITS",
    "Catalogue",
    "GlyphSet",
    "catalogue",
    "classes_of",
    "generate_glyphs",
    "load_glyphs",
    "pairwise_rms",
    "split_counts",
    "standard_split",
]
