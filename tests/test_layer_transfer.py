"""The layer-transfer experiment builds what Yosinski et al. describe: copied
layers equal their base network's, frozen ones stay put through training,
fine-tuned ones move; the table is complete; the negative-transfer gap has
the documented sign."""

from __future__ import annotations

import copy
import functools
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from mtlbook.transfer import (
    TaskData,
    build_condition,
    copy_layers,
    layer_transfer,
    layers,
    make_mlp,
    negative_transfer_gap,
    negative_transfer_grid,
    plot_layer_transfer,
    select_classes,
    split_classes,
    summarize,
    train_classifier,
)
from mtlbook.transfer.layer_transfer import CONDITIONS

N_CLASSES, DIM, STEPS = 6, 8, 25
SIZES = (DIM, 16, 16, N_CLASSES // 2)  # three layers: cuts n = 1, 2


def blobs(seed: int = 0, per_class: int = 40) -> tuple[torch.Tensor, ...]:
    """Gaussian blobs, one per class: x (n, DIM), y (n,) in 0..N_CLASSES-1.

    Returns (x_train, y_train, x_test, y_test); the test set has 10 per class.
    """
    gen = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.randn(N_CLASSES, DIM, generator=gen)
    out = []
    for count in (per_class, 10):
        y = torch.arange(N_CLASSES).repeat_interleave(count)
        out += [centres[y] + torch.randn(len(y), DIM, generator=gen), y]
    return tuple(out)


def halves(seed: int = 0) -> tuple[TaskData, TaskData]:
    """Class halves A and B of the blobs, with their original labels."""
    x, y, x_test, y_test = blobs(seed)
    split = split_classes(y, np.random.default_rng(seed))
    a, b = (
        TaskData(*select_classes(x, y, c), *select_classes(x_test, y_test, c))
        for c in split
    )
    return a, b


def relabel(y: torch.Tensor) -> torch.Tensor:
    """Class ids -> 0..k-1, as layer_transfer does within a half."""
    return torch.searchsorted(y.unique(), y)


factory = functools.partial(make_mlp, SIZES)


def layer_tensors(model: nn.Module, depth: int) -> list[torch.Tensor]:
    """Copies of the parameters of layers(model)[:depth], bottom to top."""
    modules = dict(model.named_modules())
    return [
        p.detach().clone()
        for layer in layers(model)[:depth]
        for name in layer
        for p in modules[name].parameters(recurse=False)
    ]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(
        torch.equal(s, t) for s, t in zip(a, b, strict=True)
    )


@pytest.fixture(scope="module")
def bases() -> tuple[nn.Module, nn.Module, TaskData]:
    a, b = halves()
    base_a, base_b = (
        factory(torch.Generator().manual_seed(1)),
        factory(torch.Generator().manual_seed(2)),
    )
    g = torch.Generator().manual_seed(3)
    train_classifier(base_a, a.x_train, relabel(a.y_train), steps=STEPS, generator=g)
    train_classifier(base_b, b.x_train, relabel(b.y_train), steps=STEPS, generator=g)
    return base_a, base_b, b._replace(y_train=relabel(b.y_train))


@pytest.fixture(scope="module")
def experiment() -> tuple[list[dict], list[tuple[dict, nn.Module]]]:
    a, b = halves()
    seen: list[tuple[dict, nn.Module]] = []
    rows = layer_transfer(
        factory,
        a,
        b,
        steps=STEPS,
        seeds=[0, 1],
        inspect=lambda row, model: seen.append((dict(row), copy.deepcopy(model))),
    )
    return rows, seen


def test_table_has_every_condition_depth_and_seed_exactly_once(experiment):
    rows, _ = experiment
    keys = Counter((r["condition"], r["n"], r["seed"]) for r in rows)
    expected = {("baseB", 0, s) for s in (0, 1)} | {
        (c, n, s) for c in CONDITIONS for n in (1, 2) for s in (0, 1)
    }
    assert set(keys) == expected
    assert all(count == 1 for count in keys.values())
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)


def test_the_bases_learn_their_halves(experiment):
    rows, seen = experiment
    # 3 well-separated blobs per half: far above the 1/3 chance level
    assert all(r["accuracy"] > 0.6 for r in rows if r["condition"] == "baseB")
    assert all(r["accuracy"] > 0.6 for r, _ in seen if r["condition"] == "baseA")


@pytest.mark.parametrize(("condition", "base"), [("BnB", "baseB"), ("AnB", "baseA")])
def test_frozen_transfer_keeps_the_base_layers_through_training(
    experiment, condition, base
):
    _, seen = experiment
    for seed in (0, 1):
        source = next(
            m for r, m in seen if r["condition"] == base and r["seed"] == seed
        )
        other = "baseA" if base == "baseB" else "baseB"
        wrong = next(
            m for r, m in seen if r["condition"] == other and r["seed"] == seed
        )
        for n in (1, 2):
            model = next(
                m
                for r, m in seen
                if (r["condition"], r["n"], r["seed"]) == (condition, n, seed)
            )
            assert same(layer_tensors(model, n), layer_tensors(source, n))
            assert not same(layer_tensors(model, n), layer_tensors(wrong, n))
            # the re-initialised top layer was trained, not copied
            assert not same(layer_tensors(model, 3)[-2:], layer_tensors(source, 3)[-2:])


@pytest.mark.parametrize(("condition", "base"), [("BnB+", "baseB"), ("AnB+", "baseA")])
def test_fine_tuned_transfer_moves_the_copied_layers(experiment, condition, base):
    _, seen = experiment
    for seed in (0, 1):
        source = next(
            m for r, m in seen if r["condition"] == base and r["seed"] == seed
        )
        for n in (1, 2):
            model = next(
                m
                for r, m in seen
                if (r["condition"], r["n"], r["seed"]) == (condition, n, seed)
            )
            after, before = layer_tensors(model, n), layer_tensors(source, n)
            assert not any(
                torch.equal(s, t) for s, t in zip(after, before, strict=True)
            )
            # ... but from the copy: closer to the source than a fresh network
            fresh = layer_tensors(factory(torch.Generator().manual_seed(99)), n)
            dist = sum((s - t).norm() for s, t in zip(after, before, strict=True))
            far = sum((s - t).norm() for s, t in zip(fresh, before, strict=True))
            assert dist < far


@pytest.mark.parametrize("condition", CONDITIONS)
def test_build_then_train_freezes_exactly_the_frozen_conditions(bases, condition):
    base_a, base_b, b = bases
    for n in (1, 2):
        model = build_condition(
            condition,
            n,
            factory,
            torch.Generator().manual_seed(7),
            base_a=base_a,
            base_b=base_b,
        )
        before = layer_tensors(model, 3)
        train_classifier(
            model,
            b.x_train,
            b.y_train,
            steps=5,
            generator=torch.Generator().manual_seed(8),
        )
        after = layer_tensors(model, 3)
        k = 2 * n  # weight and bias per Linear layer
        if condition in ("BnB", "AnB", "random"):
            assert same(after[:k], before[:k])
        else:
            assert not any(
                torch.equal(s, t) for s, t in zip(after[:k], before[:k], strict=True)
            )
        assert not any(
            torch.equal(s, t) for s, t in zip(after[k:], before[k:], strict=True)
        )


def test_random_frozen_layers_are_neither_base(bases):
    base_a, base_b, _ = bases
    model = build_condition(
        "random",
        2,
        factory,
        torch.Generator().manual_seed(7),
        base_a=base_a,
        base_b=base_b,
    )
    for base in (base_a, base_b):
        assert not any(
            torch.equal(s, t)
            for s, t in zip(
                layer_tensors(model, 2), layer_tensors(base, 2), strict=True
            )
        )


def test_experiment_is_reproducible_from_its_seeds(experiment):
    rows, _ = experiment
    a, b = halves()
    again = layer_transfer(
        factory, a, b, steps=STEPS, seeds=[1], conditions=("AnB+",), depths=[2]
    )
    first = next(
        r for r in rows if (r["condition"], r["n"], r["seed"]) == ("AnB+", 2, 1)
    )
    assert again[1] == first


def test_summary_and_figure(experiment, tmp_path):
    rows, _ = experiment
    summary = summarize(rows)
    assert {(s["condition"], s["n"]) for s in summary} == {
        (r["condition"], r["n"]) for r in rows
    }
    for s in summary:
        values = [
            r["accuracy"]
            for r in rows
            if (r["condition"], r["n"]) == (s["condition"], s["n"])
        ]
        assert s["count"] == len(values) == 2
        assert s["mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert s["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    fig, ax = plt.subplots()
    plot_layer_transfer(ax, rows)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["baseB", *CONDITIONS]
    assert ax.get_xlabel() and ax.get_ylabel()
    fig.savefig(tmp_path / "fig.png")
    plt.close(fig)


def test_split_classes_gives_disjoint_equal_halves():
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 6, 2])
    a, b = split_classes(y, np.random.default_rng(0))
    assert len(a) == len(b) == 3
    assert not set(a) & set(b)
    assert set(a) | set(b) <= set(range(7))


def test_split_classes_depends_only_on_the_rng():
    y = np.repeat(np.arange(10), 3)
    splits = {tuple(split_classes(y, np.random.default_rng(s))[0]) for s in range(8)}
    assert len(splits) > 1  # the split is random ...
    first = split_classes(y, np.random.default_rng(3))
    second = split_classes(y, np.random.default_rng(3))
    assert all(np.array_equal(p, q) for p, q in zip(first, second, strict=True))


# --- errors -----------------------------------------------------------------


def test_cut_depth_beyond_the_model_is_a_value_error(bases):
    base_a, base_b, _ = bases
    a, b = halves()
    with pytest.raises(ValueError, match=r"n=3 is beyond the model.*1\.\.2"):
        layer_transfer(factory, a, b, steps=1, seeds=[0], depths=[3])
    with pytest.raises(ValueError, match="beyond the model"):
        build_condition(
            "BnB", 0, factory, torch.Generator(), base_a=base_a, base_b=base_b
        )


def test_halves_sharing_classes_is_a_value_error():
    a, b = halves()
    x, y, x_test, y_test = blobs()
    shared = TaskData(*select_classes(x, y, [0, 1, 2]), x_test, y_test)
    overlap = [int(a.y_train[0]), *b.y_train.unique()[:2].tolist()]
    b_over = TaskData(*select_classes(x, y, overlap), b.x_test, b.y_test)
    with pytest.raises(ValueError, match="share the classes"):
        layer_transfer(factory, shared, shared, steps=1, seeds=[0])
    with pytest.raises(ValueError, match="share the classes"):
        layer_transfer(factory, a, b_over, steps=1, seeds=[0])


def test_empty_split_is_a_value_error():
    a, b = halves()
    empty = TaskData(b.x_train[:0], b.y_train[:0], b.x_test, b.y_test)
    with pytest.raises(ValueError, match="data_b has an empty train split"):
        layer_transfer(factory, a, empty, steps=1, seeds=[0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        split_classes(np.zeros(5, dtype=int), np.random.default_rng(0))


def test_other_bad_input_is_named():
    a, b = halves()
    with pytest.raises(ValueError, match="unknown condition 'CnB'"):
        layer_transfer(factory, a, b, steps=1, seeds=[0], conditions=("CnB",))
    with pytest.raises(TypeError, match="numpy Generator"):
        split_classes([0, 1], 0)
    other = make_mlp((DIM, 4, 3), torch.Generator())
    with pytest.raises(ValueError, match="different layers"):
        copy_layers(factory(torch.Generator()), other, 1)


# --- negative transfer ------------------------------------------------------


@given(
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
)
def test_gap_is_positive_exactly_when_transfer_is_worse(transfer, target):
    gap = negative_transfer_gap(transfer, target)
    assert isinstance(gap, float)
    assert (gap > 0) == (transfer > target)
    assert (gap < 0) == (transfer < target)


def test_gap_on_arrays_and_bad_input():
    gap = negative_transfer_gap([0.3, 0.1], np.array([0.2, 0.2]))
    assert isinstance(gap, np.ndarray) and gap.shape == (2,)
    assert gap[0] > 0 > gap[1]
    with pytest.raises(ValueError, match="shape"):
        negative_transfer_gap([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="transfer_error has NaN"):
        negative_transfer_gap(float("nan"), 0.1)


def test_grid_calls_the_baseline_once_per_size_and_seed():
    calls: list[tuple[int, int]] = []

    def target_only(size: int, seed: int) -> float:
        calls.append((size, seed))
        return 1.0 / size

    def transfer(r: float, size: int, seed: int) -> float:
        # a related source (r near 1) helps, an unrelated one hurts
        return 1.0 / size + (0.5 - r) / size

    rows = negative_transfer_grid(
        [0.0, 1.0],
        [10, 100],
        transfer_error=transfer,
        target_only_error=target_only,
        seeds=[0, 1, 2],
    )
    assert len(rows) == 2 * 2 * 3
    assert sorted(calls) == sorted({(s, k) for s in (10, 100) for k in (0, 1, 2)})
    for row in rows:
        assert row["gap"] == pytest.approx(
            row["transfer_error"] - row["target_only_error"]
        )
        assert (row["gap"] > 0) == (row["relatedness"] == 0.0)
    summary = summarize(rows, by=("relatedness", "target_size"), value="gap")
    assert len(summary) == 4
    with pytest.raises(ValueError, match="seeds is empty"):
        negative_transfer_grid(
            [0.0],
            [10],
            transfer_error=transfer,
            target_only_error=target_only,
            seeds=[],
        )
    with pytest.raises(ValueError, match="must return one number"):
        negative_transfer_grid(
            [0.0],
            [10],
            transfer_error=lambda r, n, s: [0.1, 0.2],
            target_only_error=target_only,
            seeds=[0],
        )
