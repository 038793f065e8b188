"""The measured property table of every aggregator, cell by cell.

Each cell of chapter 5's table comes from :func:`aggregator_properties`, which
looks for counterexamples on random gradient matrices. This file states what
every cell must be, from the methods' definitions; the three columns that
Quinton & Rey (2024, Table 1) list agree with their table. A cell marked
"holds" is evidence (no counterexample in the trials); a cell marked "fails"
is proved by the counterexample found. It also checks two facts the table
rests on: the measure finds a planted violation, and for K = 2 PCGrad is
2 × UPGrad (Quinton & Rey 2024, §4).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.multitask import (
    IMTLG,
    MGDA,
    PROPERTIES,
    AlignedMTL,
    CAGrad,
    DualProj,
    Mean,
    NashMTL,
    PCGrad,
    UPGrad,
    aggregator_properties,
)
from mtlbook.multitask.diagnostics import PROPERTY_TOLERANCE

# non-conflicting, linear under scaling, weighted, non-negative weights,
# mean if no conflict
EXPECTED = {
    "Mean": (False, True, True, True, True),
    "MGDA": (True, False, True, True, False),
    "PCGrad": (False, True, True, True, True),
    "CAGrad": (False, False, True, True, False),
    "NashMTL": (True, False, True, True, False),
    "IMTLG": (False, False, True, False, False),
    "UPGrad": (True, True, True, True, True),
    "DualProj": (True, False, True, True, True),
    "AlignedMTL": (False, False, True, False, False),
}


def make(name: str):
    if name == "PCGrad":
        return PCGrad(torch.Generator().manual_seed(0))
    return {
        "Mean": Mean,
        "MGDA": MGDA,
        "CAGrad": CAGrad,
        "NashMTL": NashMTL,
        "IMTLG": IMTLG,
        "UPGrad": UPGrad,
        "DualProj": DualProj,
        "AlignedMTL": AlignedMTL,
    }[name]()


# Quinton & Rey (2024), Table 1: non-conflicting, linear under scaling, weighted
PUBLISHED = {
    "Mean": (False, True, True),
    "MGDA": (True, False, True),
    "DualProj": (True, False, True),
    "PCGrad": (False, True, True),
    "IMTLG": (False, False, True),
    "CAGrad": (False, False, True),
    "NashMTL": (True, False, True),
    "AlignedMTL": (False, False, True),
    "UPGrad": (True, True, True),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_cell_of_the_property_table(name: str) -> None:
    worst = aggregator_properties(make(name), 60, np.random.default_rng(0))
    assert list(worst) == list(PROPERTIES)
    measured = tuple(worst[p] <= PROPERTY_TOLERANCE for p in PROPERTIES)
    assert measured == EXPECTED[name], dict(zip(PROPERTIES, measured, strict=True))
    assert measured[:3] == PUBLISHED[name]
    # a counterexample is far from rounding, never a borderline call
    for p in PROPERTIES:
        assert worst[p] <= PROPERTY_TOLERANCE / 10 or worst[p] >= 1e-3, (p, worst[p])


def test_a_planted_conflict_is_found() -> None:
    def backwards(G: torch.Tensor) -> torch.Tensor:
        return -G.mean(0)  # conflicts with every task, yet is weighted

    worst = aggregator_properties(backwards, 5, np.random.default_rng(1))
    assert worst["non-conflicting"] > 0.1
    assert worst["weighted"] <= PROPERTY_TOLERANCE
    assert worst["mean if no conflict"] == pytest.approx(2.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), P=st.integers(1, 10))
def test_pcgrad_on_two_tasks_is_twice_upgrad(seed: int, P: int) -> None:
    rng = np.random.default_rng(seed)
    G = torch.from_numpy(rng.normal(size=(2, P)) * 10.0 ** rng.uniform(-3, 3, (2, 1)))
    d = PCGrad(torch.Generator().manual_seed(seed))(G)
    scale = G.norm(dim=1).max()
    torch.testing.assert_close(d, 2 * UPGrad()(G), rtol=1e-9, atol=1e-12 * scale)
