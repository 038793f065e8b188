"""Small transfer problems with known answers (settings from the book's Protocols page).

- :func:`rotated_moons`: the two-moons problem of Ganin et al. (2016, §5.1.1);
  the target domain is a new sample rotated about the centre of the moons;
- :class:`LinearToy`, :func:`make_linear_toy`, :func:`sample_linear_toy`: the
  two-layer linear toy of Kumar et al. (2022) where fine-tuning distorts the
  pretrained features out of distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mtlbook._validate import (
    check_bool,
    check_instance,
    check_int,
    check_numpy_rng,
    check_real,
)

#: The centre of the noise-free moons, x in [-1, 2], y in [-0.5, 1].
MOONS_CENTRE: tuple[float, float] = (0.5, 0.25)


def rotated_moons(
    n_per_class: int,
    *,
    rotation_deg: float,
    noise: float = 0.1,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, rotated counter-clockwise about their centre.

    Class 0 is the upper moon, class 1 the lower one; Gaussian noise of standard
    deviation ``noise`` is added before the rotation, and the examples are
    shuffled. Ganin et al. use 150 per class, and a new sample rotated by 35°
    as the target domain.
    Returns: x (2 * n_per_class, 2) float32, y (2 * n_per_class,) int64.
    """
    check_numpy_rng("rng", rng)
    n_per_class = check_int("n_per_class", n_per_class, low=1, example=150)
    rotation_deg = check_real("rotation_deg", rotation_deg, example=35.0)
    noise = check_real("noise", noise, low=0, example=0.1)
    t = rng.uniform(0.0, math.pi, size=(2, n_per_class))
    upper = np.stack([np.cos(t[0]), np.sin(t[0])], axis=1)
    lower = np.stack([1.0 - np.cos(t[1]), 0.5 - np.sin(t[1])], axis=1)
    x = np.concatenate([upper, lower]) + noise * rng.standard_normal(
        (2 * n_per_class, 2)
    )
    y = np.repeat(np.array([0, 1], dtype=np.int64), n_per_class)
    angle = math.radians(rotation_deg)
    rotation = np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    centre = np.array(MOONS_CENTRE)
    x = (x - centre) @ rotation.T + centre
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]


@dataclass(frozen=True)
class LinearToy:
    """The two-layer linear toy: y = v_starᵀ B_star x, pretrained features B0.

    B_star: (k, d) with orthonormal rows; v_star: (k,); B0: (k, d), B_star plus
    noise; id_basis: (d, id_dim) orthonormal columns spanning the ID inputs.
    """

    B_star: np.ndarray
    v_star: np.ndarray
    B0: np.ndarray
    id_basis: np.ndarray

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.B_star.shape[1]


def make_linear_toy(
    *,
    d: int = 50,
    k: int = 5,
    id_dim: int = 10,
    init_noise: float = 0.02,
    rng: np.random.Generator,
) -> LinearToy:
    """Draw a toy (Kumar et al. 2022): B0 = B_star + init_noise · N(0, 1).

    B_star's rows are an orthonormal basis of a random k-dimensional subspace;
    v_star ~ N(0, I_k); the ID inputs live in a random id_dim-dimensional
    subspace, drawn independently of B_star.
    """
    check_numpy_rng("rng", rng)
    d = check_int("d", d, low=1, example=50)
    k = check_int("k", k, low=1, example=5)
    id_dim = check_int("id_dim", id_dim, low=1, example=10)
    if k > d or id_dim > d:
        raise ValueError(f"k={k} and id_dim={id_dim} must be at most d={d}")
    init_noise = check_real("init_noise", init_noise, low=0, example=0.02)
    B_star = _orthonormal(d, k, rng).T
    v_star = rng.standard_normal(k)
    B0 = B_star + init_noise * rng.standard_normal((k, d))
    id_basis = _orthonormal(d, id_dim, rng)
    return LinearToy(B_star=B_star, v_star=v_star, B0=B0, id_basis=id_basis)


def sample_linear_toy(
    toy: LinearToy, n: int, *, ood: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """n noise-free examples; ID: x = id_basis z, OOD: x ~ N(0, I_d).

    z ~ N(0, I_id_dim). Returns: x (n, d) float64, y (n,) float64 = x B_starᵀ v_star.
    """
    check_instance("toy", toy, LinearToy, "draw one with make_linear_toy(rng=...)")
    check_numpy_rng("rng", rng)
    n = check_int("n", n, low=1, example=100)
    ood = check_bool("ood", ood)
    if ood:
        x = rng.standard_normal((n, toy.d))
    else:
        x = rng.standard_normal((n, toy.id_basis.shape[1])) @ toy.id_basis.T
    return x, x @ toy.B_star.T @ toy.v_star


# --- internals --------------------------------------------------------------


def _orthonormal(d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """(d, k) with orthonormal columns, uniformly distributed (QR, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((d, k)))
    return q * np.sign(np.diag(r))
