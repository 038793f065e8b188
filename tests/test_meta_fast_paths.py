"""The fast paths of mtlbook.meta give the numbers of the slow, obvious ones.

- the per-task loop takes the inner gradient with ``torch.autograd.grad``
  instead of ``torch.func.grad``: the same bits, for every order and rate;
- ``TaskBatchNorm`` is ``F.batch_norm`` on batch statistics, and vmap
  differentiates it correctly to second order, so a BatchNorm model's
  meta-batch vectorises;
- falling back to the loop is never silent.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mtlbook.meta.inner as inner
from mtlbook.meta import (
    TaskBatch,
    adapt,
    functional,
    maml_loss,
    meta_loss,
    metasgd_rates,
    protomaml_loss,
    vmap_blockers,
)
from mtlbook.meta.inner import VectorizationWarning
from mtlbook.meta.layers import TaskBatchNorm


def conv_net(norm: type[nn.Module], seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layer = (
        TaskBatchNorm(4)
        if norm is TaskBatchNorm
        else nn.BatchNorm2d(4, track_running_stats=False)
    )
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        layer,
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 3),
    ).double()


def episodes(n_tasks: int = 3, seed: int = 1) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_tasks, 6, 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.arange(3).repeat(2).expand(n_tasks, 6).contiguous()
    return TaskBatch(x, y, x.flip(1) * 1.5, y.flip(1))


@pytest.mark.parametrize("shape", [(7, 5), (6, 5, 3), (4, 5, 3, 2)])
def test_task_batch_norm_is_batch_norm_on_batch_statistics(shape) -> None:
    x = torch.randn(*shape, dtype=torch.float64) * 3 + 2
    layer = TaskBatchNorm(5).double()
    with torch.no_grad():
        layer.weight.uniform_(0.5, 2)
        layer.bias.normal_()
    expected = F.batch_norm(
        x, None, None, layer.weight, layer.bias, training=True, eps=layer.eps
    )
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_batchnorm_maml_vectorises_with_task_batch_norm_to_second_order() -> None:
    """vmap over TaskBatchNorm equals the loop over nn.BatchNorm2d to 1e-12."""
    batch = episodes()
    reference, fast = conv_net(nn.BatchNorm2d), conv_net(TaskBatchNorm)
    fast.load_state_dict(reference.state_dict())
    assert vmap_blockers(fast) == []
    assert vmap_blockers(reference, batchnorm="batch") != []
    options = {"loss_fn": F.cross_entropy, "inner_lr": 0.3, "steps": 2}
    grads = []
    for model, bn, vectorize in ((reference, "batch", False), (fast, None, True)):
        params = dict(model.named_parameters())
        loss = meta_loss(
            maml_loss, model, params, batch, vectorize=vectorize, batchnorm=bn,
            **options,
        )  # fmt: skip
        grads.append(torch.autograd.grad(loss, list(params.values())))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("order", ["second", "first", "none"])
@pytest.mark.parametrize("rate", ["float", "per_step", "per_parameter"])
def test_the_eager_inner_gradient_is_torch_func_grad_bit_for_bit(
    order, rate, monkeypatch
) -> None:
    model = conv_net(nn.BatchNorm2d)
    params = dict(model.named_parameters())
    task = episodes()[0]
    lr = {
        "float": 0.1,
        "per_step": torch.tensor([0.1, 0.05], dtype=torch.float64),
        "per_parameter": metasgd_rates(params, init=0.1),
    }[rate]
    predict = functional(model, batchnorm="batch")

    def outer_grads(functorch: bool) -> list[torch.Tensor]:
        monkeypatch.setattr(inner, "_inside_transform", lambda: functorch)
        new = adapt(
            predict, params, task.x_support, task.y_support,
            loss_fn=F.cross_entropy, lr=lr, steps=2, order=order,
            adapts=lambda n: not n.startswith("0."),
        )  # fmt: skip
        query = F.cross_entropy(predict(new, task.x_query), task.y_query)
        if order == "none":
            return list(new.values())
        return list(torch.autograd.grad(query, list(params.values())))

    for a, b in zip(outer_grads(True), outer_grads(False), strict=True):
        assert torch.equal(a, b)


def test_falling_back_to_the_loop_warns_once_and_an_explicit_loop_is_silent() -> None:
    model = conv_net(nn.BatchNorm2d, seed=3)  # a fresh set of layers: not yet warned
    model[1] = nn.BatchNorm2d(4, momentum=0.5, track_running_stats=False).double()
    model.add_module("tail", nn.Identity())
    params = dict(model.named_parameters())
    batch = episodes()
    options = {"loss_fn": F.cross_entropy, "inner_lr": 0.1, "batchnorm": "batch"}
    inner._WARNED.clear()
    with pytest.warns(VectorizationWarning, match="per-task loop"):
        meta_loss(maml_loss, model, params, batch, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta_loss(maml_loss, model, params, batch, **options)  # said once
        inner._WARNED.clear()
        meta_loss(maml_loss, model, params, batch, vectorize=False, **options)


def test_protomaml_head_built_from_the_body_keeps_torch_func_semantics(
    monkeypatch,
) -> None:
    """ProtoMAML's head is computed from the body it adapts alongside: each must
    still be an independent input of the inner gradient, as in torch.func.grad."""
    torch.manual_seed(0)
    embed = nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.Tanh()).double()
    params = dict(embed.named_parameters())
    batch = episodes()
    grads = []
    for functorch in (True, False):
        monkeypatch.setattr(inner, "_inside_transform", lambda f=functorch: f)
        loss = meta_loss(
            protomaml_loss, embed, params, batch, vectorize=False, n_way=3,
            inner_lr=0.2, steps=2,
        )  # fmt: skip
        grads.append(torch.autograd.grad(loss, list(params.values())))
    for a, b in zip(*grads, strict=True):
        assert torch.equal(a, b)
