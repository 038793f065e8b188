"""The sixteen font faces the glyphs are drawn in, all shipped inside matplotlib.

DejaVu Sans, Serif and Sans Mono (Bitstream Vera licence plus public-domain
changes) and STIX General (SIL Open Font License 1.1), each in regular, bold,
oblique/italic and bold oblique/italic. Nothing is downloaded.

matplotlib (for its font folder), fontTools and Pillow are imported by the
functions that use them, so importing this module (and every algorithm that
imports :mod:`mtlbook.data.glyphs`) loads none of them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import ImageFont

#: Font families, in the order used by the ``family`` label.
FAMILIES: tuple[str, ...] = ("sans", "serif", "mono", "stix")


@dataclass(frozen=True)
class Face:
    """One font file and the labels it gives a glyph."""

    file: str
    family: str
    bold: bool
    oblique: bool


FACES: tuple[Face, ...] = (
    Face("DejaVuSans.ttf", "sans", False, False),
    Face("DejaVuSans-Bold.ttf", "sans", True, False),
    Face("DejaVuSans-Oblique.ttf", "sans", False, True),
    Face("DejaVuSans-BoldOblique.ttf", "sans", True, True),
    Face("DejaVuSerif.ttf", "serif", False, False),
    Face("DejaVuSerif-Bold.ttf", "serif", True, False),
    Face("DejaVuSerif-Italic.ttf", "serif", False, True),
    Face("DejaVuSerif-BoldItalic.ttf", "serif", True, True),
    Face("DejaVuSansMono.ttf", "mono", False, False),
    Face("DejaVuSansMono-Bold.ttf", "mono", True, False),
    Face("DejaVuSansMono-Oblique.ttf", "mono", False, True),
    Face("DejaVuSansMono-BoldOblique.ttf", "mono", True, True),
    Face("STIXGeneral.ttf", "stix", False, False),
    Face("STIXGeneralBol.ttf", "stix", True, False),
    Face("STIXGeneralItalic.ttf", "stix", False, True),
    Face("STIXGeneralBolIta.ttf", "stix", True, True),
)

#: The reference face; classes are chosen and compared in DejaVu Sans.
REFERENCE_FACE = 0


def font_path(face: Face) -> Path:
    """Path of ``face`` inside matplotlib's bundled fonts."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / face.file


@functools.cache
def codepoints(face_index: int) -> frozenset[int]:
    """Code points that face ``FACES[face_index]`` maps to a glyph (its cmap)."""
    from fontTools.ttLib import TTFont

    with TTFont(font_path(FACES[face_index]), lazy=True) as font:
        return frozenset(font.getBestCmap())


@functools.cache
def load_font(face_index: int, pixels: int) -> ImageFont.FreeTypeFont:
    """Pillow font for ``FACES[face_index]`` at ``pixels`` pixels per em."""
    from PIL import ImageFont

    return ImageFont.truetype(str(font_path(FACES[face_index])), pixels)
