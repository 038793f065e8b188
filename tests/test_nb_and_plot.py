"""The notebook set-up makes runs repeatable; the plot helpers reject bad shapes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from mtlbook.nb import setup_notebook
from mtlbook.plot import image_grid, plot_curves, plot_trajectories


def draws(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = setup_notebook(seed)
    return rng.normal(size=3), torch.rand(3).numpy(), np.random.rand(3)  # noqa: NPY002


def test_same_seed_same_numbers_from_every_source() -> None:
    for a, b in zip(draws(7), draws(7), strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_seed_different_numbers() -> None:
    assert not np.array_equal(draws(7)[0], draws(8)[0])
    assert not np.array_equal(draws(7)[1], draws(8)[1])


def test_torch_is_deterministic_and_single_threaded() -> None:
    setup_notebook(0)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize(
    ("seed", "error"),
    [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)],
)
def test_bad_seed_is_rejected(seed: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="seed"):
        setup_notebook(seed)  # type: ignore[arg-type]


def test_bad_thread_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="threads"):
        setup_notebook(0, threads=0)


def test_plot_curves_rejects_curve_of_wrong_length() -> None:
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="'loss'"):
        plot_curves(
            ax, [0, 1, 2], {"loss": [1.0, 2.0]}, title="t", xlabel="x", ylabel="y"
        )
    plt.close(fig)


def test_plot_trajectories_rejects_paths_that_are_not_2d() -> None:
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"\(steps, 2\)"):
        plot_trajectories(
            ax,
            lambda x, y: x**2 + y**2,
            {"gd": np.zeros((5, 3))},
            xlim=(-1, 1),
            ylim=(-1, 1),
            title="t",
        )
    plt.close(fig)


def test_image_grid_lays_out_all_images() -> None:
    fig = image_grid(np.zeros((5, 8, 8)), ncols=2)
    assert len(fig.axes) == 6  # 3 rows x 2 columns, the last one left empty
    plt.close(fig)
    with pytest.raises(ValueError, match="height, width"):
        image_grid(np.zeros((8, 8)), ncols=2)


def test_numpy_blas_is_limited_to_the_same_thread_count() -> None:
    from threadpoolctl import threadpool_info

    setup_notebook(0, threads=1)
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)
