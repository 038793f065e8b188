"""Parameter groups follow their formulas and cover every parameter exactly once;
the slanted triangular schedule hits the values published by Howard & Ruder."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mtlbook.transfer import (
    check_param_groups,
    count_parameters,
    discriminative_lr_groups,
    gradual_unfreeze,
    gradual_unfreezing_cut,
    head_lr_groups,
    is_stats_frozen,
    layers,
    slanted_triangular,
    slanted_triangular_lambda,
)

rates = st.floats(1e-6, 1.0)


def mlp(n_layers: int, bn: bool = False) -> nn.Sequential:
    mods: list[nn.Module] = []
    for _ in range(n_layers):
        mods += [nn.Linear(3, 3), *([nn.BatchNorm1d(3)] if bn else []), nn.ReLU()]
    return nn.Sequential(*mods)


def ids(params) -> list[int]:
    return sorted(id(p) for p in params)


# --- head multiplier ------------------------------------------------------------------


@given(lr=rates, head_mult=st.floats(0.01, 100.0))
@settings(max_examples=25, deadline=None)
def test_head_group_learns_head_mult_times_faster(lr: float, head_mult: float) -> None:
    backbone, head = mlp(2), nn.Linear(3, 2)
    groups = head_lr_groups(backbone, head, lr=lr, head_mult=head_mult)
    assert [g["lr"] for g in groups] == [lr, lr * head_mult]
    assert ids(groups[0]["params"]) == ids(backbone.parameters())
    assert ids(groups[1]["params"]) == ids(head.parameters())


def test_optimizer_built_from_groups_uses_their_rates() -> None:
    backbone, head = mlp(2), nn.Linear(3, 2)
    opt = torch.optim.Adam(head_lr_groups(backbone, head, lr=1e-3, head_mult=10))
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 1e-3 * 10]
    assert [g["name"] for g in opt.param_groups] == ["backbone", "head"]


def test_a_head_sharing_parameters_with_the_backbone_is_rejected() -> None:
    backbone = mlp(2)
    with pytest.raises(ValueError, match="in several groups"):
        head_lr_groups(backbone, backbone[0], lr=0.1)


# --- discriminative rates -------------------------------------------------------------


@given(
    n_layers=st.integers(1, 6), lr=rates, decay=st.floats(1.0, 5.0), bn=st.booleans()
)
@settings(max_examples=30, deadline=None)
def test_discriminative_rates_decay_by_layer(
    n_layers: int, lr: float, decay: float, bn: bool
) -> None:
    model = mlp(n_layers, bn=bn)
    groups = discriminative_lr_groups(model, lr=lr, decay=decay)
    assert len(groups) == n_layers
    for depth, group in enumerate(groups):  # layer l of L: lr / decay^(L-1-l)
        assert math.isclose(group["lr"], lr * decay ** -(n_layers - 1 - depth))
        linear = model[depth * (3 if bn else 2)]
        assert id(linear.weight) in {id(p) for p in group["params"]}
    # every parameter in exactly one group
    assert ids(p for g in groups for p in g["params"]) == ids(model.parameters())


def test_ulmfit_factor_between_neighbouring_layers() -> None:
    groups = discriminative_lr_groups(mlp(4), lr=0.01)
    ratios = [a["lr"] / b["lr"] for a, b in zip(groups[1:], groups[:-1], strict=True)]
    assert all(math.isclose(r, 2.6) for r in ratios)
    assert groups[-1]["lr"] == 0.01


def test_frozen_parameters_are_still_in_a_group() -> None:
    model = mlp(3)
    model[0].weight.requires_grad_(False)
    groups = discriminative_lr_groups(model, lr=0.1)
    assert id(model[0].weight) in {id(p) for p in groups[0]["params"]}


# --- exactly one group: the check itself ----------------------------------------------


def test_check_param_groups_catches_missing_repeated_and_foreign() -> None:
    model = mlp(2)
    w0, b0, w1, b1 = model.parameters()
    check_param_groups(model, [{"params": [w0, b0]}, {"params": [w1, b1]}])
    with pytest.raises(ValueError, match=r"missing \['2.bias'\]"):
        check_param_groups(model, [{"params": [w0, b0, w1]}])
    with pytest.raises(ValueError, match=r"in several groups \['0.weight'\]"):
        check_param_groups(model, [{"params": [w0, b0, w1, b1]}, {"params": w0}])
    stranger = nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError, match="1 tensors not in the model"):
        check_param_groups(model, [{"params": [w0, b0, w1, b1, stranger]}])
    with pytest.raises(TypeError, match="'params' list"):
        check_param_groups(model, [[w0]])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": -0.1}, r"lr=-0.1 must be > 0"),
        ({"lr": float("nan")}, r"lr=nan"),
        ({"lr": 0.1, "head_mult": -2.0}, r"head_mult=-2.0"),
        ({"lr": 0.0}, r"lr=0.0"),
    ],
)
def test_negative_or_non_finite_rates_are_rejected(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        head_lr_groups(mlp(1), nn.Linear(3, 1), **kwargs)


def test_non_positive_decay_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"decay=0"):
        discriminative_lr_groups(mlp(2), lr=0.1, decay=0)


# --- gradual unfreezing ---------------------------------------------------------------


def test_gradual_unfreezing_adds_one_layer_per_epoch() -> None:
    cuts = [gradual_unfreezing_cut(e, 4) for e in range(6)]
    assert cuts == [3, 2, 1, 0, 0, 0]
    cuts = [gradual_unfreezing_cut(e, 3, every=2) for e in range(6)]
    assert cuts == [2, 2, 1, 1, 0, 0]


def test_gradual_unfreeze_sets_the_trainable_layers() -> None:
    model = mlp(3, bn=True)
    per_layer = 3 * 3 + 3 + 2 * 3  # Linear(3, 3) and BatchNorm1d(3)
    for epoch in range(4):
        cut = gradual_unfreeze(model, epoch)
        assert cut == max(2 - epoch, 0)
        assert count_parameters(model)[0] == per_layer * (3 - cut)
        bns = [model[i] for i in (1, 4, 7)]
        assert [is_stats_frozen(b) for b in bns] == [i < cut for i in range(3)]
    assert len(layers(model)) == 3


def test_gradual_unfreezing_bad_arguments() -> None:
    with pytest.raises(ValueError, match="every=0"):
        gradual_unfreezing_cut(0, 3, every=0)
    with pytest.raises(ValueError, match="epoch=-1"):
        gradual_unfreezing_cut(-1, 3)
    with pytest.raises(ValueError, match="bn='eval'"):
        gradual_unfreeze(mlp(2), 0, bn="eval")  # type: ignore[arg-type]


# --- slanted triangular learning rate -------------------------------------------------


def stlr_as_printed(
    t: int, T: int, lr_max: float, cut_frac: float, ratio: float
) -> float:
    """Howard & Ruder (2018), eq. 3, typed in from the paper."""
    cut = math.floor(T * cut_frac)
    if t < cut:  # noqa: SIM108 (the paper's two cases, as it writes them)
        p = t / cut
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + p * (ratio - 1)) / ratio


@given(
    cut=st.integers(1, 50),
    periods=st.sampled_from([2, 4, 8]),
    ratio=st.floats(1.0, 100.0),
    lr_max=rates,
)
@settings(max_examples=40, deadline=None)
def test_stlr_hits_the_published_values(
    cut: int, periods: int, ratio: float, lr_max: float
) -> None:
    T, cut_frac = cut * periods, 1 / periods  # T * cut_frac is an integer
    at = [
        slanted_triangular(t, T, lr_max=lr_max, cut_frac=cut_frac, ratio=ratio)
        for t in (0, cut, T)
    ]
    assert math.isclose(at[0], lr_max / ratio)
    assert math.isclose(at[1], lr_max)
    assert math.isclose(at[2], lr_max / ratio)
    for t in range(T + 1):
        expected = stlr_as_printed(t, T, lr_max, cut_frac, ratio)
        got = slanted_triangular(t, T, lr_max=lr_max, cut_frac=cut_frac, ratio=ratio)
        assert math.isclose(got, expected, rel_tol=1e-12)


@given(T=st.integers(20, 500), cut_frac=st.floats(0.05, 0.5))
@settings(max_examples=40, deadline=None)
def test_stlr_rises_then_falls_to_the_floor_for_any_T(T: int, cut_frac: float) -> None:
    lrs = [
        slanted_triangular(t, T, lr_max=0.01, cut_frac=cut_frac) for t in range(T + 1)
    ]
    peak = lrs.index(max(lrs))
    assert all(a < b for a, b in itertools.pairwise(lrs[: peak + 1]))
    assert all(a > b for a, b in itertools.pairwise(lrs[peak:]))
    assert math.isclose(lrs[-1], 0.01 / 32) and min(lrs) > 0


def test_stlr_paper_defaults() -> None:
    # T = 1000, cut_frac = 0.1, ratio = 32, η_max = 0.01: peak at step 100
    assert slanted_triangular(100, 1000, lr_max=0.01) == 0.01
    assert math.isclose(slanted_triangular(0, 1000, lr_max=0.01), 0.01 / 32)
    assert math.isclose(slanted_triangular(50, 1000, lr_max=0.01), 0.01 * 16.5 / 32)


def test_stlr_lambda_drives_lambdalr_through_the_schedule() -> None:
    param = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [param], "lr": 0.5}])
    T = 20
    sched = torch.optim.lr_scheduler.LambdaLR(opt, slanted_triangular_lambda(T))
    seen = [opt.param_groups[0]["lr"]]
    for _ in range(T):
        opt.step()
        sched.step()
        seen.append(opt.param_groups[0]["lr"])
    expected = [slanted_triangular(t, T, lr_max=0.5) for t in range(T + 1)]
    assert all(math.isclose(a, b) for a, b in zip(seen, expected, strict=True))
    with pytest.raises(ValueError, match=r"outside 0\.\.total_steps=20"):
        sched.step()


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((0, 5), {}, ValueError, "no warm-up step"),
        ((0, 100), {"cut_frac": 1.0}, ValueError, "cut_frac=1.0"),
        ((0, 100), {"ratio": 0.5}, ValueError, "ratio=0.5"),
        ((101, 100), {}, ValueError, "t=101 is outside"),
        ((-1, 100), {}, ValueError, "t=-1 is outside"),
        ((0.5, 100), {}, TypeError, "t=0.5 must be an int"),
        ((0, 100), {"lr_max": -1.0}, ValueError, "lr_max=-1.0"),
    ],
)
def test_stlr_bad_arguments(args, kwargs, error, match) -> None:
    kwargs = {"lr_max": 0.01, **kwargs}
    with pytest.raises(error, match=match):
        slanted_triangular(*args, **kwargs)
