"""Freezing really freezes (parameters, gradients, BatchNorm statistics); LP-FT's
probe stage leaves the backbone untouched."""

from __future__ import annotations

import copy
import itertools
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mtlbook.transfer import (
    count_parameters,
    extract_features,
    fine_tune,
    freeze,
    is_stats_frozen,
    layers,
    linear_probe,
    lp_ft,
    set_cut,
    trainable_summary,
    unfreeze,
)


def bn_mlp(seed: int = 0) -> nn.Sequential:
    """Three layers: (Linear, BN), (Linear, BN), Linear."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Linear(8, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Linear(8, 3),
    )


def data(seed: int = 1, n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # shifted inputs so that BatchNorm's running statistics have far to move
    return torch.randn(n, 4, generator=g) * 3 + 2, torch.randint(
        0, 3, (n,), generator=g
    )


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers (running statistics included), copied."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def train_steps(model: nn.Module, n_steps: int = 3) -> None:
    """SGD with momentum and weight decay: both would move a stale parameter."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    x, y = data()
    model.train()
    for _ in range(n_steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def moved(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


FROZEN_PART = {"0.", "1.", "3.", "4."}  # layers 0 and 1 of bn_mlp


def in_frozen_part(key: str) -> bool:
    return any(key.startswith(p) for p in FROZEN_PART)


# --- layers ---------------------------------------------------------------------------


def test_layers_attach_batchnorm_to_the_layer_before() -> None:
    assert layers(bn_mlp()) == [["0", "1"], ["3", "4"], ["6"]]


def test_a_leading_norm_joins_the_first_layer() -> None:
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2), nn.Linear(2, 2))
    assert layers(model) == [["0", "1"], ["2"]]


def test_layers_recurse_into_nested_modules() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
            self.head = nn.Linear(2, 3)

    assert layers(Net()) == [["backbone.0", "backbone.1"], ["head"]]


@given(widths=st.lists(st.integers(1, 5), min_size=2, max_size=6))
@settings(max_examples=25, deadline=None)
def test_every_parameter_belongs_to_exactly_one_layer(widths: list[int]) -> None:
    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        mods += [nn.Linear(a, b), nn.LayerNorm(b), nn.Tanh()]
    model = nn.Sequential(*mods)
    named = dict(model.named_modules())
    owned = [
        id(p)
        for layer in layers(model)
        for name in layer
        for p in named[name].parameters(recurse=False)
    ]
    assert sorted(owned) == sorted(id(p) for p in model.parameters())


# --- freezing: parameters and statistics stay put -------------------------------------


@pytest.mark.parametrize("retrain", [False, True])
def test_frozen_parameters_and_bn_statistics_do_not_move(retrain: bool) -> None:
    model = bn_mlp()
    train_steps(model)  # momentum buffers and stale .grad exist before freezing
    freeze(model, depth=2, bn="frozen")
    if retrain:
        model.eval()
        model.train()  # must not wake the frozen BatchNorm layers up
    before = snapshot(model)
    train_steps(model)
    changed = moved(before, snapshot(model))
    assert not {k for k in changed if in_frozen_part(k)}
    assert {"6.weight", "6.bias"} <= changed


def test_stale_momentum_cannot_move_a_frozen_parameter() -> None:
    model = bn_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = data()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()  # momentum buffer now non-zero everywhere
    freeze(model, depth=1)
    assert model[0].weight.grad is None
    before = snapshot(model)
    opt.step()  # no zero_grad, no new backward: only stale state could act
    assert not {k for k in moved(before, snapshot(model)) if k.startswith(("0.", "1."))}


def test_bn_policy_train_freezes_affine_but_statistics_adapt() -> None:
    model = bn_mlp()
    freeze(model, depth=2, bn="train")
    before = snapshot(model)
    train_steps(model)
    changed = moved(before, snapshot(model))
    assert {"1.running_mean", "1.running_var", "4.running_mean"} <= changed
    assert not {k for k in changed if k.endswith(("weight", "bias")) and k[0] in "0134"}


def test_frozen_bn_normalises_with_running_statistics_in_train_mode() -> None:
    model = bn_mlp()
    freeze(model, names=["1"])
    model.train()
    x, _ = data()
    reference = copy.deepcopy(model).eval()
    # layers 0-1 in "train" mode must act exactly as in eval mode
    assert torch.equal(model[:2](x), reference[:2](x))
    assert not model[1].training


def test_deepcopy_keeps_the_statistics_frozen() -> None:
    model = bn_mlp()
    freeze(model, depth=1)
    clone = copy.deepcopy(model)
    assert is_stats_frozen(clone[1]) and not is_stats_frozen(clone[4])
    before = snapshot(clone)
    train_steps(clone)
    assert "1.running_mean" not in moved(before, snapshot(clone))


def test_freeze_by_name_freezes_the_whole_subtree() -> None:
    model = nn.Sequential(bn_mlp(), nn.Linear(3, 2))
    frozen = freeze(model, names=["0"])
    assert set(frozen) == {n for n, _ in model.named_parameters() if n.startswith("0.")}
    assert count_parameters(model) == (8, sum(p.numel() for p in model.parameters()))


def test_freeze_without_selection_freezes_everything_and_unfreeze_undoes_it() -> None:
    model = bn_mlp()
    freeze(model)
    assert count_parameters(model)[0] == 0
    unfreeze(model)
    trainable, total = count_parameters(model)
    assert trainable == total
    model.train()
    assert all(m.training for m in model.modules())  # BatchNorm follows again


@given(depth=st.integers(0, 3))
@settings(max_examples=10, deadline=None)
def test_set_cut_trains_exactly_the_layers_above_the_cut(depth: int) -> None:
    model = bn_mlp()
    freeze(model)  # whatever the state before, set_cut decides
    set_cut(model, depth)
    named = dict(model.named_modules())
    above = sum(
        p.numel()
        for layer in layers(model)[depth:]
        for name in layer
        for p in named[name].parameters(recurse=False)
    )
    assert count_parameters(model)[0] == above
    assert [is_stats_frozen(model[i]) for i in (1, 4)] == [depth >= 1, depth >= 2]


def test_unfreeze_from_depth_releases_the_top_layers_only() -> None:
    model = bn_mlp()
    freeze(model)
    unfrozen = unfreeze(model, from_depth=1)
    assert set(unfrozen) == {
        "3.weight",
        "3.bias",
        "4.weight",
        "4.bias",
        "6.weight",
        "6.bias",
    }
    assert is_stats_frozen(model[1]) and not is_stats_frozen(model[4])


# --- warnings and errors --------------------------------------------------------------


def test_a_normal_freeze_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        freeze(bn_mlp(), depth=1)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: freeze(m, depth=0),
        lambda m: freeze(m, names=["2"]),  # a ReLU: nothing to freeze
        lambda m: (freeze(m, depth=1), freeze(m, depth=1)),  # already frozen
        unfreeze,  # nothing was frozen
    ],
)
def test_a_call_that_changes_nothing_warns(call) -> None:
    with pytest.warns(UserWarning, match="nothing"):
        call(bn_mlp())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"depth": 4}, ValueError, r"depth=4 but the model has 3 layers"),
        ({"depth": -1}, ValueError, r"depth=-1"),
        ({"depth": 1.0}, TypeError, r"depth=1.0 must be an int"),
        ({"names": ["bakbone"]}, ValueError, r"unknown layer name 'bakbone'"),
        ({"names": "0"}, TypeError, r"names=\['backbone'\]"),
        ({"depth": 1, "names": ["0"]}, ValueError, r"give one"),
        ({"bn": "fozen"}, ValueError, r"bn='fozen' is not a BatchNorm policy"),
    ],
)
def test_bad_freeze_arguments_get_clear_errors(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        freeze(bn_mlp(), **kwargs)


def test_unknown_name_suggests_the_close_match() -> None:
    model = nn.Sequential()
    model.add_module("backbone", nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"did you mean \['backbone'\]"):
        freeze(model, names=["bakbone"])


def test_bad_cut_for_unfreeze_and_set_cut() -> None:
    with pytest.raises(ValueError, match=r"from_depth=5"):
        unfreeze(bn_mlp(), from_depth=5)
    with pytest.raises(ValueError, match=r"depth=9"):
        set_cut(bn_mlp(), 9)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        freeze("model")  # type: ignore[arg-type]


# --- summary --------------------------------------------------------------------------


def test_summary_counts_match_the_model() -> None:
    model = bn_mlp()
    freeze(model, depth=1)
    model.train()
    text = trainable_summary(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert text.splitlines()[-1].startswith(f"trainable {trainable:,} of {total:,}")
    rows = {line.split()[1]: line.split() for line in text.splitlines()[1:-1]}
    assert set(rows) == {"0", "1", "3", "4", "6"}
    assert rows["1"][-1] == "frozen" and rows["4"][-1] == "updating"
    assert rows["0"][4] == "0" and rows["3"][4] == str(model[3].weight.numel() + 8)


# --- linear probe, fine-tuning, LP-FT -------------------------------------------------


def backbone_and_head(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    backbone = nn.Sequential(
        nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2)
    )
    return backbone, nn.Linear(8, 3)


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    x, y = data(n=64)
    return list(zip(x.split(16), y.split(16), strict=True))


def test_probe_stage_of_lp_ft_leaves_the_backbone_unchanged() -> None:
    backbone, head = backbone_and_head()
    before_backbone, before_head = snapshot(backbone), snapshot(head)
    probe_opt = torch.optim.SGD(head.parameters(), lr=0.1)
    losses = linear_probe(backbone, head, batches(), probe_opt, steps=10)
    assert len(losses) == 10 and losses[-1] < losses[0]
    assert not moved(before_backbone, snapshot(backbone))  # weights and BN stats
    assert moved(before_head, snapshot(head)) == {"weight", "bias"}


def test_lp_ft_fine_tunes_the_backbone_after_the_probe() -> None:
    backbone, head = backbone_and_head()
    before = snapshot(backbone)
    probe_opt = torch.optim.SGD(head.parameters(), lr=0.1)
    ft_opt = torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.01)
    out = lp_ft(backbone, head, batches(), probe_opt, ft_opt, probe_steps=5, ft_steps=3)
    assert [len(out["probe"]), len(out["fine_tune"])] == [5, 3]
    assert {"0.weight", "1.running_mean"} <= moved(before, snapshot(backbone))


def test_fine_tune_respects_frozen_layers_and_restores_modes() -> None:
    model = bn_mlp()
    freeze(model, depth=2)
    model.eval()
    before = snapshot(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    fine_tune(model[:6], model[6], batches(), opt, steps=4)
    assert not {k for k in moved(before, snapshot(model)) if in_frozen_part(k)}
    assert not any(m.training for m in model.modules())


def test_fine_tune_adds_the_penalty_to_the_loss() -> None:
    # same trajectory as a loss function that adds the penalty itself
    backbone, head = backbone_and_head()
    twin_backbone, twin_head = copy.deepcopy(backbone), copy.deepcopy(head)
    torch.manual_seed(5)  # the same dropout masks in both runs
    fine_tune(
        backbone,
        head,
        batches(),
        torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.1),
        steps=4,
        penalty=lambda: 0.5 * head.weight.pow(2).sum(),
    )

    def penalised(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = nn.functional.cross_entropy(out, y)
        return ce + 0.5 * twin_head.weight.pow(2).sum()

    twin_params = [*twin_backbone.parameters(), *twin_head.parameters()]
    torch.manual_seed(5)
    fine_tune(
        twin_backbone,
        twin_head,
        batches(),
        torch.optim.SGD(twin_params, lr=0.1),
        steps=4,
        loss_fn=penalised,
    )
    assert torch.allclose(head.weight, twin_head.weight, rtol=0, atol=1e-7)
    assert not torch.allclose(head.weight, backbone_and_head()[1].weight)


def test_extract_features_is_the_eval_mode_forward() -> None:
    backbone, _ = backbone_and_head()
    x, _ = data()
    backbone.train()
    feats = extract_features(backbone, x, batch_size=5)
    assert backbone.training  # mode restored
    # batches of 5 and one batch of all rows may round differently in the last
    # bit (the matrix product blocks the rows differently), nothing more
    expected = copy.deepcopy(backbone).eval()(x).detach()
    torch.testing.assert_close(feats, expected, rtol=1e-6, atol=1e-7)


def test_probe_rejects_an_optimizer_over_the_backbone() -> None:
    backbone, head = backbone_and_head()
    opt = torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.1)
    with pytest.raises(ValueError, match=r"head\.parameters"):
        linear_probe(backbone, head, batches(), opt, steps=1)


def test_one_shot_iterator_running_dry_is_an_error() -> None:
    backbone, head = backbone_and_head()
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="ran dry after 4 of steps=6"):
        linear_probe(backbone, head, iter(batches()), opt, steps=6)


def test_a_diverging_loss_is_an_error() -> None:
    backbone, head = backbone_and_head()
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    x, y = data()
    x[0, 0] = float("nan")
    with pytest.raises(
        ValueError, match=r"at step 0: fine-tune: the batch's x holds NaN"
    ):
        fine_tune(backbone, head, [(x, y)], opt, steps=1)


def test_batches_must_be_pairs() -> None:
    backbone, head = backbone_and_head()
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    x, _ = data()
    with pytest.raises(TypeError, match=r"\(x, y\) pairs"):
        fine_tune(backbone, head, [x], opt, steps=1)
