"""UPGrad, DualProj (Jacobian descent) and Aligned-MTL: their defining properties.

Facts tested, on random and adversarial gradient matrices (norms from 1e-6 to
1e6, exactly zero rows, anti-parallel pairs, duplicate rows, K > d):

* UPGrad and DualProj never conflict with a task: g_i·d ≥ 0 for every i, up to
  the rounding of the terms that form d;
* when no two gradients conflict, UPGrad and DualProj return the mean gradient;
* both are linear under scaling of the whole matrix, d(aG) = a d(G);
* UPGrad gives every task a weight of at least 1/K;
* Aligned-MTL's aligned gradients B G have condition number 1: every nonzero
  singular value equals the smallest nonzero singular value of G (from torch's
  SVD of G itself, not from the Gramian), and d is their mean.

The exact solutions are checked against independent references in
``test_aggregators_exact.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.multitask import AlignedMTL, DualProj, Mean, UPGrad, aligned_mtl_matrix

FAST = settings(max_examples=60, deadline=None)
FAMILIES = ("spread", "zero", "antiparallel", "duplicate", "wide")


def adversarial(family: str, seed: int, K: int, P: int) -> torch.Tensor:
    """G: (K, P) float64 of one hard family; "wide" means K > P."""
    rng = np.random.default_rng([seed, K, P, FAMILIES.index(family)])
    if family == "wide":
        P = max(1, K // 2)
    G = rng.normal(size=(K, P)) * 10.0 ** rng.uniform(-6, 6, size=(K, 1))
    if family == "zero":
        G[rng.integers(K)] = 0.0
    elif family == "antiparallel":
        G[1] = -(10.0 ** rng.uniform(-6, 6)) * G[0]
    elif family == "duplicate":
        G[1] = G[0]
    return torch.from_numpy(G)


def conflict(G: torch.Tensor, aggregator) -> float:
    """The worst g_i·d relative to the rounding scale ‖g_i‖ Σ_j |w_j| ‖g_j‖."""
    d = aggregator(G)
    lengths = G.norm(dim=1)
    scale = lengths * (aggregator.weights.abs() @ lengths)
    ok = scale > 0
    return float(((G @ d)[ok] / scale[ok]).min()) if ok.any() else 0.0


@pytest.mark.parametrize("aggregator", [UPGrad(), DualProj()], ids=repr)
@pytest.mark.parametrize("family", FAMILIES)
@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(2, 8), P=st.integers(2, 12))
def test_the_update_conflicts_with_no_task(aggregator, family, seed, K, P) -> None:
    G = adversarial(family, seed, K, P)
    assert conflict(G, aggregator) >= -1e-12


@pytest.mark.parametrize("aggregator", [UPGrad(), DualProj()], ids=repr)
@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(1, 8), P=st.integers(1, 12))
def test_non_conflicting_gradients_give_the_mean(aggregator, seed, K, P) -> None:
    rng = np.random.default_rng(seed)
    # non-negative entries: every g_i·g_j ≥ 0, norms spread over 1e-3..1e3
    G = torch.from_numpy(
        np.abs(rng.normal(size=(K, P))) * 10.0 ** rng.uniform(-3, 3, (K, 1))
    )
    d = aggregator(G)
    scale = G.norm(dim=1).max()
    torch.testing.assert_close(d, Mean()(G), rtol=1e-12, atol=1e-14 * scale)


@pytest.mark.parametrize("aggregator", [UPGrad(), DualProj(), AlignedMTL()], ids=repr)
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("a", [1e-6, 3.0, 1e6])
def test_the_update_is_linear_under_scaling(aggregator, family, a) -> None:
    G = adversarial(family, 0, 5, 7)
    if isinstance(aggregator, AlignedMTL):
        G = G / G.norm(dim=1, keepdim=True).clamp_min(1e-300)  # κ ≤ 1e6 for B
    d = aggregator(G)
    scale = a * G.norm(dim=1).max()
    torch.testing.assert_close(aggregator(a * G), a * d, rtol=1e-9, atol=1e-12 * scale)


@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(1, 8), P=st.integers(1, 12))
def test_upgrad_gives_every_task_at_least_its_share(seed, K, P) -> None:
    aggregator = UPGrad()
    aggregator(adversarial("spread", seed, K, P))
    assert (aggregator.weights >= 1.0 / K - 1e-12).all()


def test_upgrad_on_two_conflicting_gradients_by_hand() -> None:
    # g1 = (1, 0), g2 = (−1, 1): the cone is {x : x1 ≥ 0, x2 ≥ x1}. g1 projects
    # to (1/2, 1/2) and g2 to (0, 1); their mean is (1/4, 3/4). DualProj
    # projects the mean (0, 1/2), which already lies in the cone.
    G = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    expected = torch.tensor([0.25, 0.75], dtype=torch.float64)
    torch.testing.assert_close(UPGrad()(G), expected, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(
        DualProj()(G), torch.tensor([0.0, 0.5], dtype=torch.float64)
    )


def test_opposite_gradients_leave_no_update() -> None:
    G = torch.tensor([[1.0, 2.0], [-3.0, -6.0]], dtype=torch.float64)
    for aggregator in (UPGrad(), DualProj()):
        assert aggregator(G).norm() <= 1e-14


# ------------------------------------------------------------------ Aligned-MTL
def well_posed(seed: int, K: int, P: int, family: str) -> torch.Tensor:
    """G whose nonzero singular values span at most 1e3 (far above rounding)."""
    rng = np.random.default_rng([seed, K, P])
    rank = min(K, P) if family != "deficient" else max(1, min(K, P) - 1)
    U = np.linalg.qr(rng.normal(size=(K, rank)))[0]
    W = np.linalg.qr(rng.normal(size=(P, rank)))[0]
    S = 10.0 ** rng.uniform(-1.5, 1.5, size=rank)
    G = (U * S) @ W.T
    if family == "zero" and K > 1:
        G = np.vstack([G[:-1], np.zeros(P)])
    return torch.from_numpy(G)


@pytest.mark.parametrize("family", ["full", "deficient", "zero"])
@FAST
@given(seed=st.integers(0, 10_000), K=st.integers(1, 6), P=st.integers(1, 9))
def test_aligned_gradients_have_condition_number_one(family, seed, K, P) -> None:
    G = well_posed(seed, K, P, family)
    S = torch.linalg.svdvals(G)  # from G itself
    S = S[1e-10 * S.max() < S]
    B = torch.from_numpy(aligned_mtl_matrix((G @ G.T).numpy()))
    aligned = torch.linalg.svdvals(B @ G)
    aligned = aligned[aligned > 1e-10 * S.max()]
    assert len(aligned) == len(S)  # the span of the gradients is kept
    torch.testing.assert_close(
        aligned, torch.full_like(aligned, S.min()), rtol=1e-9, atol=0.0
    )
    aggregator = AlignedMTL()
    torch.testing.assert_close(aggregator(G), (B @ G).mean(0), rtol=1e-9, atol=1e-12)


def test_aligned_mtl_keeps_orthogonal_gradients_of_equal_length() -> None:
    G = 3.0 * torch.eye(3, 5, dtype=torch.float64)
    torch.testing.assert_close(AlignedMTL()(G), G.mean(0), rtol=1e-14, atol=0.0)


def test_aligned_mtl_shrinks_a_dominant_task_to_the_weakest_direction() -> None:
    G = torch.tensor([[100.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(
        AlignedMTL()(G), torch.tensor([0.5, 0.5], dtype=torch.float64)
    )


def test_aligned_mtl_of_zero_gradients_is_zero() -> None:
    d = AlignedMTL()(torch.zeros(3, 4, dtype=torch.float64))
    assert torch.equal(d, torch.zeros(4, dtype=torch.float64))
