"""Deliberately wrong calls into the gradient aggregators: each fails at the boundary.

A reader who passes a list or a numpy array for G, a 1-D gradient, an empty
matrix, integers or float16, a diverged (NaN or inf) task gradient, a Gramian
that is not a Gram matrix, or a nonsensical hyperparameter gets an error that
names the argument, never a silently wrong update or a message from deep inside
numpy or scipy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from misuse import Bad, params

from mtlbook.multitask import (
    IMTLG,
    MGDA,
    AlignedMTL,
    CAGrad,
    DualProj,
    Mean,
    NashMTL,
    PCGrad,
    UPGrad,
    aligned_mtl_matrix,
    dualproj_weights,
    upgrad_weights,
)


def G() -> torch.Tensor:
    """Three task gradients over four parameters, float64."""
    return torch.tensor(
        [[1.0, 0.0, 2.0, -1.0], [0.5, 1.0, 0.0, 0.0], [-1.0, 0.2, 0.3, 1.0]],
        dtype=torch.float64,
    )


def with_row(row: int, value: float) -> torch.Tensor:
    bad = G()
    bad[row, 1] = value
    return bad


def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


CASES = [
    # G of the wrong type
    Bad("mgda-list", lambda: MGDA()(G().tolist()), TypeError, "G"),
    Bad("cagrad-numpy", lambda: CAGrad()(G().numpy()), TypeError, "G"),
    Bad("mean-none", lambda: Mean()(None), TypeError, "G"),
    Bad("nash-numpy", lambda: NashMTL()(G().numpy()), TypeError, "G"),
    # G of the wrong shape or dtype
    Bad("imtlg-1d", lambda: IMTLG()(G()[0]), ValueError, "G"),
    Bad("mgda-no-rows", lambda: MGDA()(torch.zeros(0, 4)), ValueError, "G"),
    Bad("mean-no-columns", lambda: Mean()(torch.zeros(3, 0)), ValueError, "G"),
    Bad(
        "pcgrad-int",
        lambda: PCGrad(gen())(torch.ones(2, 3, dtype=torch.int64)),
        TypeError,
        "G",
    ),
    Bad("cagrad-float16", lambda: CAGrad()(G().half()), TypeError, "G"),
    # a diverged task: the message names its row
    Bad("mgda-nan-row", lambda: MGDA()(with_row(1, float("nan"))), ValueError, "G[1]"),
    Bad(
        "nash-inf-row", lambda: NashMTL()(with_row(2, float("inf"))), ValueError, "G[2]"
    ),
    Bad("mean-nan-row", lambda: Mean()(with_row(0, float("nan"))), ValueError, "G[0]"),
    Bad(
        "imtlg-inf-row", lambda: IMTLG()(with_row(0, float("-inf"))), ValueError, "G[0]"
    ),
    # .weighting on something that is not a Gram matrix
    Bad("weighting-numpy", lambda: MGDA().weighting(np.eye(3)), TypeError, "gram"),
    Bad(
        "weighting-non-square",
        lambda: CAGrad().weighting(torch.ones(3, 2)),
        ValueError,
        "gram",
    ),
    Bad(
        "weighting-non-symmetric",
        lambda: NashMTL().weighting(torch.tensor([[1.0, 2.0], [0.0, 1.0]])),
        ValueError,
        "symmetric",
    ),
    Bad(
        "weighting-nan",
        lambda: IMTLG().weighting(torch.tensor([[1.0, float("nan")], [0.0, 1.0]])),
        ValueError,
        "gram",
    ),
    Bad(
        "weighting-empty",
        lambda: PCGrad(gen()).weighting(torch.zeros(0, 0)),
        ValueError,
        "gram",
    ),
    # UPGrad, DualProj, Aligned-MTL and their solvers
    Bad("upgrad-list", lambda: UPGrad()(G().tolist()), TypeError, "G"),
    Bad("dualproj-1d", lambda: DualProj()(G()[0]), ValueError, "G"),
    Bad("aligned-float16", lambda: AlignedMTL()(G().half()), TypeError, "G"),
    Bad(
        "upgrad-nan-row",
        lambda: UPGrad()(with_row(2, float("nan"))),
        ValueError,
        "G[2]",
    ),
    Bad(
        "dualproj-inf-row",
        lambda: DualProj()(with_row(0, float("inf"))),
        ValueError,
        "G[0]",
    ),
    Bad(
        "aligned-non-symmetric",
        lambda: AlignedMTL().weighting(torch.tensor([[1.0, 2.0], [0.0, 1.0]])),
        ValueError,
        "symmetric",
    ),
    Bad("upgrad-weights-1d", lambda: upgrad_weights(np.ones(3)), ValueError, "gram"),
    Bad(
        "dualproj-weights-nan",
        lambda: dualproj_weights(np.array([[1.0, np.nan], [np.nan, 1.0]])),
        ValueError,
        "gram",
    ),
    Bad(
        "aligned-matrix-empty",
        lambda: aligned_mtl_matrix(np.zeros((0, 0))),
        ValueError,
        "gram",
    ),
    # bad hyperparameters
    Bad("cagrad-c-negative", lambda: CAGrad(c=-1.0), ValueError, "c=-1"),
    Bad("cagrad-c-nan", lambda: CAGrad(c=float("nan")), ValueError, "c=nan"),
    Bad("cagrad-c-string", lambda: CAGrad(c="0.5"), TypeError, "c="),
    Bad("mgda-tol-negative", lambda: MGDA(tol=-1.0), ValueError, "tol=-1"),
    Bad("mgda-max-iter-zero", lambda: MGDA(max_iter=0), ValueError, "max_iter=0"),
    Bad("nash-max-iter-float", lambda: NashMTL(max_iter=2.0), TypeError, "max_iter"),
    Bad("nash-tol-inf", lambda: NashMTL(tol=float("inf")), ValueError, "tol=inf"),
    Bad("cagrad-max-iter-bool", lambda: CAGrad(max_iter=True), TypeError, "max_iter"),
    Bad("pcgrad-no-generator", lambda: PCGrad(None), TypeError, "generator"),
    Bad(
        "pcgrad-numpy-generator",
        lambda: PCGrad(np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_misuse(case: Bad) -> None:
    case.check()
