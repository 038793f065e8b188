"""Model merging: task arithmetic and TIES-merging satisfy their definitions.

Facts tested: a task vector added back to its base gives the fine-tuned model
exactly; task arithmetic with λ = 1/K is the average of the fine-tuned models;
TIES-merging equals an independent numpy implementation of Yadav et al.'s
Algorithm 1 (trim, elect sign, disjoint mean) on a hand-checked example and on
random inputs, and density 1 with agreeing signs is the plain mean.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.multitask import task_arithmetic, task_vector, ties_merging

F64 = torch.float64


def params(seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "w": scale * torch.randn(3, 4, generator=g, dtype=F64),
        "b": scale * torch.randn(4, generator=g, dtype=F64),
    }


def numpy_ties(vectors: list[np.ndarray], density: float) -> np.ndarray:
    """Algorithm 1 of Yadav et al. (2023) on flat numpy task vectors."""
    trimmed = []
    for t in vectors:
        k = math.ceil(density * t.size)
        keep = np.argsort(-np.abs(t), kind="stable")[:k]
        out = np.zeros_like(t)
        out[keep] = t[keep]
        trimmed.append(out)
    T = np.stack(trimmed)
    sign = np.sign(T.sum(0))
    merged = np.zeros(T.shape[1])
    for j in range(T.shape[1]):
        agreeing = [v for v in T[:, j] if v != 0 and np.sign(v) == sign[j]]
        merged[j] = np.mean(agreeing) if agreeing else 0.0
    return merged


def test_a_task_vector_added_back_is_the_finetuned_model() -> None:
    base, tuned = params(0), params(1)
    merged = task_arithmetic(base, [task_vector(tuned, base)], scale=1.0)
    for name in base:
        torch.testing.assert_close(merged[name], tuned[name], rtol=1e-15, atol=1e-15)


def test_task_arithmetic_with_one_over_k_averages_the_models() -> None:
    base, tuned = params(0), [params(s) for s in (1, 2, 3)]
    vectors = [task_vector(t, base) for t in tuned]
    merged = task_arithmetic(base, vectors, scale=1 / 3)
    for name in base:
        mean = sum(t[name] for t in tuned) / 3
        torch.testing.assert_close(merged[name], mean, rtol=1e-13, atol=1e-14)


def test_ties_on_a_hand_checked_example() -> None:
    # two tasks, four entries, density 0.5 keeps the two largest of each:
    # τ1 = (3, -1, 0.5, -4) -> (3, 0, 0, -4); τ2 = (-2, 0.2, 1, -1) -> (-2, 0, 1, 0)
    # elected signs of the sums (1, 0, 1, -4): (+, 0, +, -)
    # disjoint means: (3, 0, 1, -4)
    base = {"p": torch.zeros(4, dtype=F64)}
    t1 = {"p": torch.tensor([3.0, -1.0, 0.5, -4.0], dtype=F64)}
    t2 = {"p": torch.tensor([-2.0, 0.2, 1.0, -1.0], dtype=F64)}
    merged = ties_merging(base, [t1, t2], scale=1.0, density=0.5)
    expected = torch.tensor([3.0, 0.0, 1.0, -4.0], dtype=F64)
    torch.testing.assert_close(merged["p"], expected, rtol=0, atol=0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    K=st.integers(1, 5),
    density=st.sampled_from([0.05, 0.2, 0.5, 1.0]),
    scale=st.sampled_from([0.3, 1.0, 2.0]),
)
def test_ties_equals_an_independent_numpy_implementation(
    seed: int, K: int, density: float, scale: float
) -> None:
    base = params(seed)
    vectors = [params(seed + 1 + k, scale=10.0 ** (k - 2)) for k in range(K)]
    merged = ties_merging(base, vectors, scale=scale, density=density)
    flat = [np.concatenate([v[n].numpy().ravel() for n in base]) for v in vectors]
    reference = numpy_ties(flat, density)
    ours = np.concatenate([(merged[n] - base[n]).numpy().ravel() for n in base])
    np.testing.assert_allclose(ours, scale * reference, rtol=1e-12, atol=1e-300)


def test_ties_with_density_one_and_agreeing_signs_is_the_mean() -> None:
    base = params(0)
    vectors = [{n: v.abs() * (k + 1) for n, v in params(5).items()} for k in range(3)]
    merged = ties_merging(base, vectors, scale=1.0, density=1.0)
    for name in base:
        torch.testing.assert_close(merged[name], base[name] + 2 * vectors[0][name])


def test_merging_keeps_every_tensor_shape() -> None:
    base = params(0)
    for merged in (
        task_arithmetic(base, [params(1)], 0.5),
        ties_merging(base, [params(1), params(2)], 1.0),
    ):
        assert {n: t.shape for n, t in merged.items()} == {
            n: t.shape for n, t in base.items()
        }


@pytest.mark.parametrize("density", [0.0, 1.5])
def test_ties_rejects_a_density_outside_zero_one(density: float) -> None:
    with pytest.raises(ValueError, match="density"):
        ties_merging(params(0), [params(1)], 1.0, density=density)
