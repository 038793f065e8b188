"""Draw one character, cut it to its ink's bounding box and centre it on a square.

Fitting to the bounding box removes the font's size and baseline, so a class
is defined by its shape alone; the per-instance variation is added later.
"""

from __future__ import annotations

import numpy as np

from mtlbook._validate import check_int
from mtlbook.data.glyphs.fonts import FACES, load_font

#: Pixels per em used to draw before shrinking; large, so shrinking anti-aliases.
DRAW_PIXELS = 96
#: Fraction of the canvas side taken by the longer side of the glyph's box.
FILL = 0.75


def render_fitted(face_index: int, char: str, size: int) -> np.ndarray | None:
    """The glyph fitted to its box and centred; None if it draws no ink.

    face_index: index into ``FACES``; char: one character. Returns: (size,
    size) float32 in [0, 1], 1 = ink.
    """
    from PIL import Image, ImageDraw  # here, so importing the module loads no Pillow

    _check_arguments(face_index, char, size)
    font = load_font(face_index, DRAW_PIXELS)
    canvas = Image.new("L", (3 * DRAW_PIXELS, 3 * DRAW_PIXELS), 0)
    ImageDraw.Draw(canvas).text(
        (1.5 * DRAW_PIXELS, 1.5 * DRAW_PIXELS), char, fill=255, font=font, anchor="mm"
    )
    box = canvas.getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box)
    width, height = glyph.size
    side = FILL * size
    scale = side / max(width, height)
    new_w = max(1, round(width * scale))
    new_h = max(1, round(height * scale))
    glyph = glyph.resize((new_w, new_h), Image.Resampling.LANCZOS)
    out = Image.new("L", (size, size), 0)
    out.paste(glyph, ((size - new_w) // 2, (size - new_h) // 2))
    return np.asarray(out, dtype=np.float32) / 255.0


def _check_arguments(face_index: object, char: object, size: object) -> None:
    check_int("face_index", face_index, low=0, high=len(FACES) - 1, example=0)
    if not isinstance(char, str):
        raise TypeError(f"char must be a str, got {type(char).__name__}; e.g. 'A'")
    if len(char) != 1:
        raise ValueError(
            f"char={char!r} must be one character; draw each letter separately"
        )
    check_int("size", size, low=1, example=28)
