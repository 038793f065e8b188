"""Per-instance variation: how one class is drawn differently each time.

Each (class, face) pair is drawn once as a *master* at twice the output
resolution and blurred. An instance is then a random affine warp of its master
(rotation, scale, shear, translation), sampled bilinearly at the output
resolution, cut at a random level of the blurred ink (a low level gives a
thick stroke, a high level a thin one) and given mild pixel noise. Every random
number of instance ``i`` of code point ``c`` comes from
``np.random.default_rng([seed, c, i])``, so an instance does not depend on
which other instances are generated, or in which order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtlbook.data.glyphs.render import render_fitted

#: Ranges of the per-instance parameters (uniform between the two values).
ROTATION_DEG = (-15.0, 15.0)
SCALE = (0.85, 1.1)
SHEAR = (-0.2, 0.2)
SHIFT = (-0.06, 0.06)  # fraction of the canvas side
LEVEL = (0.25, 0.6)  # ink level of the blurred master that becomes the edge
NOISE_STD = 0.04
#: Width of the soft edge, in units of the blurred ink (anti-aliasing).
EDGE = 0.3
#: Master blur in master pixels at a 28-pixel output (scaled with the size).
MASTER_BLUR = 1.2


@dataclass(frozen=True)
class InstanceParams:
    """Random parameters of n instances, one entry each.

    face_choice: (n,) int64 index into the class's available faces;
    rotation, scale, shear: (n,) float64 (degrees, factor, slope);
    shift: (n, 2) float64 (x, y) in canvas units; level: (n,) float64;
    noise: (n, size, size) float32 standard normal.
    """

    face_choice: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    shear: np.ndarray
    shift: np.ndarray
    level: np.ndarray
    noise: np.ndarray

    def take(self, part: slice) -> InstanceParams:
        """The parameters of the instances in ``part``."""
        return InstanceParams(
            **{name: getattr(self, name)[part] for name in self.__dataclass_fields__}
        )


def draw_params(
    seed: int,
    codepoints: np.ndarray,
    instances: np.ndarray,
    n_faces: np.ndarray,
    size: int,
) -> InstanceParams:
    """Parameters of instance ``instances[k]`` of ``codepoints[k]`` for every k.

    codepoints, instances, n_faces: (n,) ints; n_faces is how many faces draw
    that character.
    """
    n = len(codepoints)
    uniforms = np.empty((n, 7))
    noise = np.empty((n, size, size), dtype=np.float32)
    for k in range(n):
        rng = np.random.default_rng([seed, int(codepoints[k]), int(instances[k])])
        uniforms[k] = rng.random(7)
        noise[k] = rng.standard_normal((size, size), dtype=np.float32)

    def spread(u: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
        return bounds[0] + (bounds[1] - bounds[0]) * u

    return InstanceParams(
        face_choice=np.minimum(
            (uniforms[:, 0] * n_faces).astype(np.int64), n_faces - 1
        ),
        rotation=spread(uniforms[:, 1], ROTATION_DEG),
        scale=spread(uniforms[:, 2], SCALE),
        shear=spread(uniforms[:, 3], SHEAR),
        shift=spread(uniforms[:, 4:6], SHIFT),
        level=spread(uniforms[:, 6], LEVEL),
        noise=noise,
    )


def render_master(face_index: int, char: str, size: int) -> np.ndarray:
    """Blurred master of ``char`` for a ``size``-pixel output.

    Returns: (2 * size, 2 * size) float32 in [0, 1].
    """
    from scipy.ndimage import gaussian_filter  # lazy: scipy.ndimage is slow to import

    image = render_fitted(face_index, char, 2 * size)
    if image is None:
        raise ValueError(f"face {face_index} draws no ink for {char!r}")
    return gaussian_filter(image, MASTER_BLUR * size / 28.0)


def warp(
    masters: np.ndarray, which: np.ndarray, params: InstanceParams, size: int
) -> np.ndarray:
    """Apply each instance's affine warp, stroke level and noise.

    masters: (n_masters, m, m); which: (n,) index of each instance's master.
    Returns: (n, size, size) uint8, 255 = ink.
    """
    m = masters.shape[1]
    padded = np.pad(masters, ((0, 0), (2, 2), (2, 2)))  # zeros outside the glyph
    # Output pixel centres in canvas units, centred on 0: x to the right, y down.
    grid = (np.arange(size) + 0.5) / size - 0.5
    px, py = np.meshgrid(grid, grid)
    p = np.stack([px.ravel(), py.ravel()])  # (2, size*size)
    theta = np.deg2rad(params.rotation)
    cos, sin, sh, s = np.cos(theta), np.sin(theta), params.shear, params.scale
    # Forward map A = s * R(theta) @ [[1, sh], [0, 1]]; with y pointing down,
    # R = [[cos, sin], [-sin, cos]] turns the glyph counter-clockwise on screen.
    a = np.empty((len(which), 2, 2))
    a[:, 0, 0], a[:, 0, 1] = cos, cos * sh + sin
    a[:, 1, 0], a[:, 1, 1] = -sin, -sin * sh + cos
    a *= s[:, None, None]
    q = np.linalg.inv(a) @ (p[None] - params.shift[:, :, None])  # (n, 2, size*size)
    # Canvas units to padded master pixel coordinates (pixel centres).
    coords = np.clip((q + 0.5) * m - 0.5 + 2, 0, m + 2.999)
    x0 = coords[:, 0].astype(np.int64)
    y0 = coords[:, 1].astype(np.int64)
    fx = (coords[:, 0] - x0).astype(np.float32)
    fy = (coords[:, 1] - y0).astype(np.float32)
    flat = padded.reshape(len(padded), -1)
    base = which[:, None] * flat.shape[1]
    width = m + 4

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return flat.ravel()[base + yy * width + xx]

    field = (
        at(y0, x0) * (1 - fx) * (1 - fy)
        + at(y0, x0 + 1) * fx * (1 - fy)
        + at(y0 + 1, x0) * (1 - fx) * fy
        + at(y0 + 1, x0 + 1) * fx * fy
    )
    ink = np.clip((field - params.level[:, None]) / EDGE + 0.5, 0.0, 1.0)
    ink = ink.reshape(-1, size, size) + NOISE_STD * params.noise
    return np.round(np.clip(ink, 0.0, 1.0) * 255).astype(np.uint8)
