"""Progress bars: off by default, on stderr when asked, and never change a result.

Every long loop of the package takes ``progress``. These tests run each one
twice on a tiny problem, with the bar off and on, and require the same bits
(parameters, loss histories, images), a bar on stderr only when it is on, and
a TypeError naming ``progress`` for anything but a bool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mtlbook.data.glyphs import generate_glyphs, load_glyphs
from mtlbook.meta import (
    Sinusoid,
    maml_loss,
    meta_backward,
    meta_loss,
    meta_train,
    metasgd_loss,
    metasgd_rates,
)
from mtlbook.multitask import (
    EqualWeights,
    HardSharing,
    train_multitask,
    train_single_task,
)
from mtlbook.transfer import (
    TaskData,
    fine_tune,
    layer_transfer,
    linear_probe,
    lp_ft,
    make_mlp,
    train_classifier,
    train_dann,
)

# --- tiny problems ------------------------------------------------------------


def blobs(seed: int = 0, n: int = 24, classes: int = 3) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, 4, generator=g) + 2.0 * F.one_hot(y, 4).float()
    return x, y


def state(*modules: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for m in modules for p in m.parameters()]


def mtl_run(progress: object) -> list:
    torch.manual_seed(0)
    trunk = [nn.Sequential(nn.Linear(4, 6), nn.Tanh())]
    model = HardSharing(trunk, [nn.Linear(6, 1), nn.Linear(6, 1)], shared_depth=1)
    x, y = blobs()
    batches = [(x, [y[:, None].float(), -y[:, None].float()])]
    history = train_multitask(
        model,
        batches,
        [F.mse_loss, F.mse_loss],
        steps=4,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        scalarizer=EqualWeights(2),
        progress=progress,
    )
    return [torch.from_numpy(history.task_losses), *state(model)]


def single_run(progress: object) -> list:
    torch.manual_seed(0)
    model = HardSharing([nn.Linear(4, 6)], [nn.Linear(6, 1)], shared_depth=1)
    x, y = blobs()
    history = train_single_task(
        model,
        [(x, [y[:, None].float()])],
        F.mse_loss,
        task=0,
        steps=4,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
        progress=progress,
    )
    return [torch.from_numpy(history.task_losses), *state(model)]


def sine_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))


def meta_run(progress: object) -> list:
    model = sine_net()
    params = dict(model.named_parameters())
    losses = meta_train(
        maml_loss,
        model,
        params,
        Sinusoid(k_support=5, k_query=5),
        iterations=3,
        optimizer=torch.optim.Adam(params.values(), lr=1e-3),
        generator=torch.Generator().manual_seed(0),
        meta_batch=4,
        progress=progress,
        loss_fn=F.mse_loss,
        inner_lr=0.01,
    )
    return [torch.tensor(losses), *state(model)]


def classifier_run(progress: object) -> list:
    model = make_mlp([4, 8, 3], torch.Generator().manual_seed(0))
    x, y = blobs()
    losses = train_classifier(
        model,
        x,
        y,
        steps=4,
        generator=torch.Generator().manual_seed(1),
        batch_size=8,
        progress=progress,
    )
    return [torch.tensor(losses), *state(model)]


def transfer_run(progress: object) -> list:
    xa, ya = blobs(0, 24, 4)
    xb, yb = blobs(1, 24, 4)
    a = TaskData(xa[ya < 2], ya[ya < 2], xa[ya < 2], ya[ya < 2])
    b = TaskData(xb[yb >= 2], yb[yb >= 2], xb[yb >= 2], yb[yb >= 2])
    rows = layer_transfer(
        lambda g: make_mlp([4, 6, 2], g),
        a,
        b,
        steps=3,
        seeds=[0],
        conditions=("BnB", "AnB+"),
        progress=progress,
    )
    return [torch.tensor([r["accuracy"] for r in rows])]


def backbone_and_head() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU()), nn.Linear(8, 3)


def probe_run(progress: object) -> list:
    backbone, head = backbone_and_head()
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    losses = linear_probe(backbone, head, [blobs()], opt, steps=4, progress=progress)
    return [torch.tensor(losses), *state(backbone, head)]


def fine_tune_run(progress: object) -> list:
    backbone, head = backbone_and_head()
    opt = torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.1)
    losses = fine_tune(backbone, head, [blobs()], opt, steps=4, progress=progress)
    return [torch.tensor(losses), *state(backbone, head)]


def lp_ft_run(progress: object) -> list:
    backbone, head = backbone_and_head()
    out = lp_ft(
        backbone,
        head,
        [blobs()],
        torch.optim.SGD(head.parameters(), lr=0.1),
        torch.optim.SGD([*backbone.parameters(), *head.parameters()], lr=0.01),
        probe_steps=3,
        ft_steps=3,
        progress=progress,
    )
    losses = torch.tensor(out["probe"] + out["fine_tune"])
    return [losses, *state(backbone, head)]


def dann_run(progress: object) -> list:
    torch.manual_seed(0)
    features = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
    label_head, domain_head = nn.Linear(6, 3), nn.Linear(6, 1)
    modules = (features, label_head, domain_head)
    opt = torch.optim.SGD([p for m in modules for p in m.parameters()], lr=0.1)
    x_t, _ = blobs(1)
    history = train_dann(*modules, opt, [blobs()], [x_t], steps=4, progress=progress)
    losses = torch.tensor([[h["total"], h["domain"]] for h in history])
    return [losses, *state(*modules)]


def glyph_run(progress: object) -> list:
    glyphs = generate_glyphs([0, 5, 9], n_per_class=3, size=8, progress=progress)
    labels = [torch.from_numpy(glyphs.labels[k].copy()) for k in ("char", "rotation")]
    return [torch.from_numpy(glyphs.images), *labels]


@dataclass(frozen=True)
class Loop:
    """A long loop of the package, run on a tiny problem; its result as tensors."""

    id: str
    run: Callable[[object], list[torch.Tensor]]
    desc: str
    shows_loss: bool = True


LOOPS = [
    Loop("train_multitask", mtl_run, "train_multitask"),
    Loop("train_single_task", single_run, "train_multitask"),
    Loop("meta_train", meta_run, "meta_train"),
    Loop("train_classifier", classifier_run, "train_classifier"),
    Loop("layer_transfer", transfer_run, "layer_transfer"),
    Loop("linear_probe", probe_run, "linear_probe"),
    Loop("fine_tune", fine_tune_run, "fine_tune"),
    Loop("lp_ft", lp_ft_run, "fine_tune"),
    Loop("train_dann", dann_run, "train_dann"),
    Loop("generate_glyphs", glyph_run, "glyph images", shows_loss=False),
]
CASES = [pytest.param(loop, id=loop.id) for loop in LOOPS]


def assert_same_bits(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and torch.equal(x, y)


# --- the facts ------------------------------------------------------------------


@pytest.mark.parametrize("loop", CASES)
def test_the_bar_is_off_by_default_and_changes_no_bit(loop: Loop, capsys) -> None:
    quiet = loop.run(False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    shown = loop.run(True)
    captured = capsys.readouterr()
    assert captured.out == "", "the bar must go to stderr, not stdout"
    assert loop.desc in captured.err and "%|" in captured.err
    if loop.shows_loss:
        assert "loss=" in captured.err
    assert_same_bits(quiet, shown)


@pytest.mark.parametrize("loop", CASES)
def test_progress_must_be_a_bool(loop: Loop, capsys) -> None:
    with pytest.raises(TypeError, match="progress"):
        loop.run("yes")
    assert capsys.readouterr().err == "", "the check comes before any bar"


def test_lp_ft_shows_one_bar_per_stage(capsys) -> None:
    lp_ft_run(True)
    err = capsys.readouterr().err
    assert "linear_probe" in err and "fine_tune" in err


def test_the_bar_shows_the_loss_the_loop_returns(capsys) -> None:
    losses = classifier_run(True)[0]
    final = capsys.readouterr().err.rstrip().splitlines()[-1]
    assert f"loss={float(losses[-1]):.4g}" in final


def test_a_cold_glyph_cache_shows_a_bar_and_a_warm_one_prints_nothing(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("MTLBOOK_CACHE", str(tmp_path))
    kwargs = {"n_per_class": 2, "size": 8, "scripts": ["Coptic"], "progress": True}
    cold = load_glyphs(**kwargs)
    err = capsys.readouterr().err
    assert "glyph masters" in err and "glyph images" in err
    warm = load_glyphs(**kwargs)
    assert capsys.readouterr().err == ""
    assert np.array_equal(cold.images, warm.images)
    quiet = generate_glyphs(np.unique(cold.labels["char"]), n_per_class=2, size=8)
    assert np.array_equal(quiet.images, cold.images)


# --- meta_train is the hand-written loop ------------------------------------------


def test_meta_train_reproduces_the_hand_written_loop_bit_for_bit() -> None:
    """The README's MAML loop, written out, gives the same parameters and losses."""
    tasks, steps = Sinusoid(k_support=5, k_query=5), 4
    hand = sine_net()
    params = dict(hand.named_parameters())
    opt = torch.optim.Adam(params.values(), lr=1e-3)
    g = torch.Generator().manual_seed(3)
    hand_losses = []
    for _ in range(steps):
        opt.zero_grad()
        batch = tasks.sample_batch(6, g)
        loss = meta_loss(
            maml_loss, hand, params, batch, loss_fn=F.mse_loss, inner_lr=0.01
        )
        meta_backward(loss, params)
        opt.step()
        hand_losses.append(loss.item())

    model = sine_net()
    mine = dict(model.named_parameters())
    losses = meta_train(
        maml_loss,
        model,
        mine,
        tasks,
        iterations=steps,
        optimizer=torch.optim.Adam(mine.values(), lr=1e-3),
        generator=torch.Generator().manual_seed(3),
        meta_batch=6,
        loss_fn=F.mse_loss,
        inner_lr=0.01,
    )
    assert losses == hand_losses
    assert_same_bits(state(hand), state(model))
    assert not torch.equal(state(hand)[0], state(sine_net())[0]), "it trained"


def test_meta_train_steps_the_extra_groups_like_the_chapter_loop() -> None:
    """Meta-SGD: the rates are a second group, stepped by the same Adam."""
    tasks = Sinusoid(k_support=5, k_query=5)

    def setup() -> tuple[nn.Module, dict, dict, torch.optim.Optimizer]:
        model = sine_net()
        params = dict(model.named_parameters())
        rates = metasgd_rates(params, init=0.01)
        opt = torch.optim.Adam([*params.values(), *rates.values()], lr=1e-3)
        return model, params, rates, opt

    hand, params, rates, opt = setup()
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        loss = meta_loss(
            metasgd_loss,
            hand,
            params,
            tasks.sample_batch(4, g),
            rates=rates,
            loss_fn=F.mse_loss,
        )
        opt.zero_grad(set_to_none=True)
        meta_backward(loss, params, rates)
        opt.step()

    model, mine, my_rates, my_opt = setup()
    meta_train(
        metasgd_loss,
        model,
        mine,
        tasks,
        iterations=3,
        optimizer=my_opt,
        generator=torch.Generator().manual_seed(0),
        meta_batch=4,
        extra=(my_rates,),
        rates=my_rates,
        loss_fn=F.mse_loss,
    )
    assert_same_bits(state(hand), state(model))
    assert_same_bits(list(rates.values()), list(my_rates.values()))
    assert not torch.equal(rates["0.weight"], torch.full_like(rates["0.weight"], 0.01))


def test_meta_train_refuses_an_optimizer_that_misses_a_group() -> None:
    model = sine_net()
    params = dict(model.named_parameters())
    rates = metasgd_rates(params, init=0.01)
    with pytest.raises(ValueError, match="does not hold"):
        meta_train(
            metasgd_loss,
            model,
            params,
            Sinusoid(),
            iterations=1,
            optimizer=torch.optim.Adam(params.values()),
            generator=torch.Generator().manual_seed(0),
            extra=(rates,),
            rates=rates,
            loss_fn=F.mse_loss,
        )


def test_meta_train_passes_steps_to_the_task_loss_and_reports_each_iteration() -> None:
    """``steps=2`` is MAML's inner steps, not the outer count; the callback sees
    every iteration, counted from 1, with the loss meta_train returns."""
    tasks = Sinusoid(k_support=5, k_query=5)
    hand = sine_net()
    params = dict(hand.named_parameters())
    opt = torch.optim.Adam(params.values(), lr=1e-3)
    g = torch.Generator().manual_seed(5)
    for _ in range(3):
        loss = meta_loss(
            maml_loss,
            hand,
            params,
            tasks.sample_batch(4, g),
            loss_fn=F.mse_loss,
            inner_lr=0.01,
            steps=2,
        )
        opt.zero_grad(set_to_none=True)
        meta_backward(loss, params)
        opt.step()

    model = sine_net()
    mine = dict(model.named_parameters())
    seen: list[tuple[int, float]] = []
    losses = meta_train(
        maml_loss,
        model,
        mine,
        tasks,
        iterations=3,
        optimizer=torch.optim.Adam(mine.values(), lr=1e-3),
        generator=torch.Generator().manual_seed(5),
        meta_batch=4,
        callback=lambda it, loss: seen.append((it, loss.item())),
        loss_fn=F.mse_loss,
        inner_lr=0.01,
        steps=2,
    )
    assert_same_bits(state(hand), state(model))
    assert [it for it, _ in seen] == [1, 2, 3]
    assert [loss for _, loss in seen] == losses
