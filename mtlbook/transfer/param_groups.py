"""Parameter groups for fine-tuning: who learns how fast, and when.

Three tricks from the fine-tuning literature, each a list of ``torch.optim``
parameter groups (dicts with "params", "lr" and a readable "name"):

- a *head multiplier*: the new head learns ``head_mult`` times faster than
  the transferred backbone, which is already near a good solution;
- *discriminative* rates (Howard & Ruder 2018, §3.2, η^{l-1} = η^l / 2.6):
  each layer learns ``decay`` times slower than the layer above it, because
  lower layers hold the most general features;
- *gradual unfreezing*: train the top layer first, then unfreeze one more
  layer every ``every`` epochs.

Every parameter of the model lands in exactly one group, frozen ones included
(they are skipped while their ``grad`` is None and start learning the moment
they are unfrozen); ``check_param_groups`` asserts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mtlbook._validate import check_int, check_module, check_real
from mtlbook.transfer.freeze import BNPolicy, layers, set_cut

ParamGroup = dict[str, Any]


def head_lr_groups(
    backbone: nn.Module, head: nn.Module, *, lr: float, head_mult: float = 10.0
) -> list[ParamGroup]:
    """Two groups: the backbone at ``lr``, the head at ``lr * head_mult``."""
    _check_rate("lr", lr)
    _check_rate("head_mult", head_mult)
    for arg, module in (("backbone", backbone), ("head", head)):
        check_module(arg, module)
        if not any(True for _ in module.parameters()):
            raise ValueError(f"{arg} has no parameters; there is nothing to train")
    groups = [
        {"params": list(backbone.parameters()), "lr": lr, "name": "backbone"},
        {"params": list(head.parameters()), "lr": lr * head_mult, "name": "head"},
    ]
    check_param_groups(nn.ModuleDict({"backbone": backbone, "head": head}), groups)
    return groups


def discriminative_lr_groups(
    model: nn.Module, *, lr: float, decay: float = 2.6
) -> list[ParamGroup]:
    """One group per layer of ``layers(model)``; layer l of L gets lr / decay^(L-1-l).

    The top layer (usually the head) learns at ``lr``; each layer below it
    ``decay`` times slower (Howard & Ruder 2018 use decay = 2.6).
    """
    _check_rate("lr", lr)
    _check_rate("decay", decay)
    check_module("model", model)
    modules = dict(model.named_modules())
    all_layers = layers(model)
    seen: set[int] = set()  # a parameter shared by two layers joins the lower one
    groups = []
    for index, names in enumerate(all_layers):
        params = []
        for name in names:
            for p in modules[name].parameters(recurse=False):
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        if params:
            rate = lr / decay ** (len(all_layers) - 1 - index)
            groups.append({"params": params, "lr": rate, "name": f"layer {index}"})
    check_param_groups(model, groups)
    return groups


def check_param_groups(model: nn.Module, groups: Sequence[Mapping[str, Any]]) -> None:
    """Raise ValueError unless every parameter of ``model`` is in exactly one group.

    Also rejects groups holding tensors that are not parameters of ``model``.
    """
    check_module("model", model)
    if isinstance(groups, Mapping | str) or not isinstance(groups, Sequence):
        raise TypeError(
            f"groups must be a list of dicts, got {type(groups).__name__}; "
            "wrap a single group in a list: [{'params': model.parameters()}]"
        )
    names = {id(p): n for n, p in model.named_parameters()}
    count = dict.fromkeys(names, 0)
    foreign = 0
    for i, group in enumerate(groups):
        if not isinstance(group, Mapping):
            raise TypeError(
                f"groups[{i}] must be a dict with a 'params' list, got "
                f"{type(group).__name__}"
            )
        if "params" not in group:
            raise ValueError(
                f"groups[{i}] must be a dict with a 'params' list, got {group!r}"
            )
        params = group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        for p in params:
            if id(p) in count:
                count[id(p)] += 1
            else:
                foreign += 1
    missing = [names[k] for k, c in count.items() if c == 0]
    repeated = [names[k] for k, c in count.items() if c > 1]
    if missing or repeated or foreign:
        raise ValueError(
            "every parameter must be in exactly one group: "
            f"missing {missing[:10]}, in several groups {repeated[:10]}, "
            f"{foreign} tensors not in the model; build the groups from "
            "model.named_parameters()"
        )


def gradual_unfreezing_cut(epoch: int, n_layers: int, *, every: int = 1) -> int:
    """The cut depth at ``epoch``: n_layers - 1 - epoch // every, at least 0.

    Epoch 0 trains only the top layer; every ``every`` epochs one more layer
    below joins (Howard & Ruder 2018, §3.3).
    """
    epoch = check_int("epoch", epoch, low=0)
    n_layers = check_int("n_layers", n_layers, low=1)
    every = check_int("every", every, low=1, example=1)
    return max(n_layers - 1 - epoch // every, 0)


def gradual_unfreeze(
    model: nn.Module, epoch: int, *, every: int = 1, bn: BNPolicy = "frozen"
) -> int:
    """Set the trainable layers of ``model`` for ``epoch``; returns the cut depth.

    Layers below the cut are frozen (norm statistics by the ``bn`` policy),
    layers from the cut up are trainable. Call it at the start of each epoch.
    """
    cut = gradual_unfreezing_cut(epoch, len(layers(model)), every=every)
    set_cut(model, cut, bn=bn)
    return cut


def _check_rate(arg: str, value: object) -> None:
    check_real(arg, value, low=0, low_open=True)
