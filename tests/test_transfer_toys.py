"""The transfer toys are what PROTOCOLS.md describes: the rotated moons are a
rigid rotation of the same sample, the linear toy's true features are
orthonormal, its ID inputs lie in the ID subspace, and one rng seed gives one
dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtlbook.data.transfer_toys import (
    MOONS_CENTRE,
    LinearToy,
    make_linear_toy,
    rotated_moons,
    sample_linear_toy,
)


def pairwise(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)


def test_moons_shapes_dtypes_and_balance():
    x, y = rotated_moons(150, rotation_deg=35.0, rng=np.random.default_rng(0))
    assert x.shape == (300, 2) and x.dtype == np.float32
    assert y.shape == (300,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [150, 150]


@given(st.floats(-360.0, 360.0), st.integers(0, 2**32 - 1))
def test_rotation_preserves_distances_and_centre_distance(angle, seed):
    x0, y0 = rotated_moons(20, rotation_deg=0.0, rng=np.random.default_rng(seed))
    x1, y1 = rotated_moons(20, rotation_deg=angle, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(y0, y1)
    np.testing.assert_allclose(pairwise(x1), pairwise(x0), atol=1e-5)
    centre = np.array(MOONS_CENTRE)
    np.testing.assert_allclose(
        np.linalg.norm(x1 - centre, axis=1),
        np.linalg.norm(x0 - centre, axis=1),
        atol=1e-5,
    )


def test_rotation_by_35_degrees_turns_each_point_by_35_degrees():
    x0, _ = rotated_moons(50, rotation_deg=0.0, rng=np.random.default_rng(1))
    x1, _ = rotated_moons(50, rotation_deg=35.0, rng=np.random.default_rng(1))
    c = np.array(MOONS_CENTRE)
    a0 = np.arctan2(*(x0 - c).T[::-1])
    a1 = np.arctan2(*(x1 - c).T[::-1])
    turn = np.degrees(np.angle(np.exp(1j * (a1 - a0))))
    np.testing.assert_allclose(turn, 35.0, atol=1e-3)


def test_noise_free_moons_lie_on_their_half_circles():
    x, y = rotated_moons(40, rotation_deg=0.0, noise=0.0, rng=np.random.default_rng(2))
    centres = np.where(y[:, None] == 0, [0.0, 0.0], [1.0, 0.5])
    np.testing.assert_allclose(np.linalg.norm(x - centres, axis=1), 1.0, atol=1e-6)
    assert (x[y == 0, 1] >= -1e-6).all() and (x[y == 1, 1] <= 0.5 + 1e-6).all()


def test_moons_are_deterministic_given_the_rng():
    a = rotated_moons(30, rotation_deg=35.0, rng=np.random.default_rng(3))
    b = rotated_moons(30, rotation_deg=35.0, rng=np.random.default_rng(3))
    c = rotated_moons(30, rotation_deg=35.0, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_per_class": 0}, ValueError, "n_per_class"),
        ({"n_per_class": 2.5}, TypeError, "n_per_class"),
        ({"rotation_deg": math.nan}, ValueError, "rotation_deg"),
        ({"noise": -0.1}, ValueError, "noise"),
    ],
)
def test_moons_bad_input(kwargs, error, match):
    args = {"n_per_class": 10, "rotation_deg": 0.0, **kwargs}
    with pytest.raises(error, match=match):
        rotated_moons(**args, rng=np.random.default_rng(0))


def test_moons_need_a_generator():
    with pytest.raises(TypeError, match="default_rng"):
        rotated_moons(10, rotation_deg=0.0, rng=0)  # type: ignore[arg-type]


def test_linear_toy_shapes_and_orthonormal_rows():
    toy = make_linear_toy(rng=np.random.default_rng(0))
    assert toy.B_star.shape == (5, 50) and toy.B0.shape == (5, 50)
    assert toy.v_star.shape == (5,) and toy.id_basis.shape == (50, 10)
    np.testing.assert_allclose(toy.B_star @ toy.B_star.T, np.eye(5), atol=1e-12)
    np.testing.assert_allclose(toy.id_basis.T @ toy.id_basis, np.eye(10), atol=1e-12)


def test_init_noise_sets_the_distance_of_b0_from_b_star():
    toy = make_linear_toy(init_noise=0.02, rng=np.random.default_rng(5))
    # entries of B0 - B_star are N(0, 0.02²): their std is 0.02 to within 10%
    assert abs(np.std(toy.B0 - toy.B_star) - 0.02) < 0.002
    exact = make_linear_toy(init_noise=0.0, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(exact.B0, exact.B_star)


@given(st.integers(0, 2**32 - 1))
def test_id_samples_lie_in_the_id_subspace_and_ood_do_not(seed):
    rng = np.random.default_rng(seed)
    toy = make_linear_toy(d=12, k=3, id_dim=4, rng=rng)
    project = toy.id_basis @ toy.id_basis.T
    x, y = sample_linear_toy(toy, 20, ood=False, rng=rng)
    np.testing.assert_allclose(x @ project, x, atol=1e-10)
    np.testing.assert_allclose(y, x @ toy.B_star.T @ toy.v_star, atol=1e-12)
    x_ood, _ = sample_linear_toy(toy, 20, ood=True, rng=rng)
    assert np.linalg.norm(x_ood - x_ood @ project) > 1.0


def test_linear_toy_is_deterministic_given_the_rng():
    a = make_linear_toy(rng=np.random.default_rng(7))
    b = make_linear_toy(rng=np.random.default_rng(7))
    for field in ("B_star", "v_star", "B0", "id_basis"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    xa, _ = sample_linear_toy(a, 5, ood=True, rng=np.random.default_rng(8))
    xb, _ = sample_linear_toy(b, 5, ood=True, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(xa, xb)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k="),
        ({"k": 60}, "at most d"),
        ({"id_dim": 51}, "at most d"),
        ({"init_noise": -1.0}, "init_noise"),
    ],
)
def test_linear_toy_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_linear_toy(**kwargs, rng=np.random.default_rng(0))


def test_sample_linear_toy_bad_input():
    toy = make_linear_toy(rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="n="):
        sample_linear_toy(toy, 0, ood=False, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="LinearToy"):
        sample_linear_toy("toy", 5, ood=False, rng=np.random.default_rng(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ood"):
        sample_linear_toy(toy, 5, ood=1, rng=np.random.default_rng(0))  # type: ignore[arg-type]
    assert isinstance(toy, LinearToy)
