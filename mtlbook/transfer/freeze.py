"""Freezing that really freezes: parameters, their gradients and norm statistics.

``requires_grad_(False)`` alone is not a freeze. A BatchNorm layer keeps updating
its running mean and variance in train mode, and a stale ``.grad`` (with
momentum or weight decay) still moves a parameter whose ``requires_grad`` was
switched off. The functions here freeze all three, by depth or by module name,
for any ``nn.Module``.

Depth is counted in *layers*: modules that own parameters, in the order of
``model.named_modules()`` (the forward order of Sequential-style models). A
normalisation layer belongs to the layer before it, so ``Linear, BatchNorm1d,
ReLU, Linear`` has two layers and the cut ``depth=1`` sits after the BatchNorm.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from typing import Literal

from torch import nn

from mtlbook._validate import check_int, check_module, check_nonempty

BNPolicy = Literal["frozen", "train"]
_BN_POLICIES = ("frozen", "train")

# Layers that normalise the output of the layer before them.
_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,  # BatchNorm*, InstanceNorm*, SyncBatchNorm
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
)


def _stay_in_eval(module: nn.Module, args: tuple[object, ...]) -> None:
    """Forward pre-hook: a frozen norm layer normalises with its running stats.

    ``model.train()`` sets ``training=True`` on every submodule; this hook puts
    the frozen layer back in eval mode before each forward, so its running
    statistics are used and never updated.
    """
    module.training = False


def _has_stats(module: nn.Module) -> bool:
    """True for layers with running statistics (BatchNorm, InstanceNorm)."""
    return isinstance(module, nn.modules.batchnorm._NormBase)


def is_stats_frozen(module: nn.Module) -> bool:
    """True if ``module`` is a norm layer whose running statistics are frozen."""
    check_module("module", module)
    return any(h is _stay_in_eval for h in module._forward_pre_hooks.values())


def layers(model: nn.Module) -> list[list[str]]:
    """The model's layers, bottom to top, each a list of module names.

    A layer is a module that owns parameters directly, plus the normalisation
    layers that follow it (a leading norm layer joins the first layer). Every
    parameter of ``model`` belongs to exactly one layer.

    Returns: one list of names per layer, e.g. ``[["0", "1"], ["3"]]``.
    """
    check_module("model", model)
    out: list[list[str]] = []
    leading_norms: list[str] = []
    for name, module in model.named_modules():
        is_norm = isinstance(module, _NORM_TYPES)
        owns = any(True for _ in module.parameters(recurse=False))
        if not owns and not (is_norm and _has_stats(module)):
            continue
        if not is_norm:
            out.append([*leading_norms, name])
            leading_norms = []
        elif out:
            out[-1].append(name)
        else:
            leading_norms.append(name)
    if leading_norms:  # a model made of norm layers only
        out.append(leading_norms)
    return out


def freeze(
    model: nn.Module,
    depth: int | None = None,
    *,
    names: Sequence[str] | None = None,
    bn: BNPolicy = "frozen",
) -> list[str]:
    """Freeze the first ``depth`` layers, the modules in ``names``, or everything.

    Frozen parameters get ``requires_grad=False`` and ``grad=None`` (a stale
    gradient would still move them through momentum or weight decay). With
    ``bn="frozen"`` the frozen norm layers are put in eval mode and stay there
    through later ``model.train()`` calls; with ``bn="train"`` their affine
    parameters are frozen but their running statistics keep adapting to the
    new data in train mode. Warns (``UserWarning``) if nothing was frozen.

    Args:
        model: the network, changed in place.
        depth: freeze ``layers(model)[:depth]``, an int in 0..len(layers).
        names: module names from ``model.named_modules()``, frozen with all
            their submodules. Give ``depth`` or ``names``, or neither to freeze
            the whole model.
        bn: "frozen" or "train", the policy for running statistics.

    Returns: the names of the parameters this call froze.
    """
    _check_bn(bn)
    params, norms = _select(model, "freeze", depth=depth, names=names, below=True)
    frozen = []
    for name, p in params.items():
        if p.requires_grad:
            p.requires_grad_(False)
            frozen.append(name)
        p.grad = None
    n_stats = 0
    for module in norms:
        if bn == "frozen" and not is_stats_frozen(module):
            module.register_forward_pre_hook(_stay_in_eval)
            module.eval()
            n_stats += 1
        elif bn == "train" and is_stats_frozen(module):
            _release_stats(module, training=model.training)
    if not frozen and not n_stats:
        warnings.warn(
            f"freeze({_describe(depth, names, 'depth')}) froze nothing: the "
            "selection has no trainable parameters or live norm statistics; "
            "check the depth or names against layers(model)",
            UserWarning,
            stacklevel=2,
        )
    return frozen


def unfreeze(
    model: nn.Module,
    from_depth: int | None = None,
    *,
    names: Sequence[str] | None = None,
) -> list[str]:
    """Make trainable the layers from ``from_depth`` up, ``names``, or everything.

    Unfrozen norm layers follow the model's train/eval mode again. Warns
    (``UserWarning``) if nothing was unfrozen.

    Args:
        model: the network, changed in place.
        from_depth: unfreeze ``layers(model)[from_depth:]``, the layers above
            the cut, an int in 0..len(layers).
        names: module names from ``model.named_modules()``. Give
            ``from_depth`` or ``names``, or neither to unfreeze everything.

    Returns: the names of the parameters this call unfroze.
    """
    params, norms = _select(
        model, "unfreeze", depth=from_depth, names=names, below=False
    )
    unfrozen = []
    for name, p in params.items():
        if not p.requires_grad:
            p.requires_grad_(True)
            unfrozen.append(name)
    n_stats = 0
    for module in norms:
        if is_stats_frozen(module):
            _release_stats(module, training=model.training)
            n_stats += 1
    if not unfrozen and not n_stats:
        warnings.warn(
            f"unfreeze({_describe(from_depth, names, 'from_depth')}) unfroze "
            "nothing: the selection is already trainable; check the depth or "
            "names against layers(model)",
            UserWarning,
            stacklevel=2,
        )
    return unfrozen


def set_cut(model: nn.Module, depth: int, *, bn: BNPolicy = "frozen") -> None:
    """Freeze ``layers(model)[:depth]`` and make every layer above trainable.

    Unlike ``freeze``/``unfreeze`` this sets a state whatever the state before,
    so it never warns: the building block of gradual unfreezing and of the
    layer-transfer experiment (copy n layers, freeze them, train the rest).

    Args:
        model: the network, changed in place.
        depth: the cut, an int in 0..len(layers(model)).
        bn: "frozen" or "train", the policy for the frozen norm layers.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        unfreeze(model, from_depth=depth)
        freeze(model, depth=depth, bn=bn)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) number of scalar parameters in ``model``."""
    check_module("model", model)
    params = list(model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return trainable, sum(p.numel() for p in params)


def trainable_summary(model: nn.Module) -> str:
    """A text table: per module, its layer, parameters, trainable ones, stats.

    The stats column reads "frozen" (eval mode, locked), "updating" (train
    mode: the next forward updates them), "eval", or "-" for modules without
    running statistics. The last line gives the trainable total.
    """
    check_module("model", model)
    modules = dict(model.named_modules())
    rows = [("layer", "module", "type", "params", "trainable", "stats")]
    for index, names in enumerate(layers(model)):
        for name in names:
            module = modules[name]
            own = list(module.parameters(recurse=False))
            n_train = sum(p.numel() for p in own if p.requires_grad)
            rows.append(
                (
                    str(index),
                    name or "(root)",
                    type(module).__name__,
                    f"{sum(p.numel() for p in own):,}",
                    f"{n_train:,}",
                    _stats_state(module),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {0, 3, 4}  # numbers are right-aligned
    lines = [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    trainable, total = count_parameters(model)
    share = 100.0 * trainable / total if total else 0.0
    lines.append(f"trainable {trainable:,} of {total:,} parameters ({share:.1f}%)")
    return "\n".join(lines)


# --- internals --------------------------------------------------------------


def _stats_state(module: nn.Module) -> str:
    if not _has_stats(module) or not module.track_running_stats:
        return "-"
    if is_stats_frozen(module):
        return "frozen"
    return "updating" if module.training else "eval"


def _release_stats(module: nn.Module, *, training: bool) -> None:
    """Remove the eval lock; the layer follows the model's mode again."""
    hooks = module._forward_pre_hooks
    for key in [k for k, h in hooks.items() if h is _stay_in_eval]:
        del hooks[key]
    module.train(training)


def _select(
    model: nn.Module,
    caller: str,
    *,
    depth: int | None,
    names: Sequence[str] | None,
    below: bool,
) -> tuple[dict[str, nn.Parameter], list[nn.Module]]:
    """Parameters (by full name) and running-stat norm layers of a selection."""
    check_module("model", model)
    arg = "depth" if below else "from_depth"
    if depth is not None and names is not None:
        raise ValueError(
            f"{caller}() got both {arg}={depth!r} and names={names!r}; give one"
        )
    modules = dict(model.named_modules())
    # (module name, recurse): a layer owns only its direct parameters.
    chosen: list[tuple[str, bool]]
    if depth is not None:
        all_layers = layers(model)
        _check_depth(arg, depth, all_layers)
        picked = all_layers[:depth] if below else all_layers[depth:]
        chosen = [(name, False) for layer in picked for name in layer]
    elif names is not None:
        chosen = [(name, True) for name in _check_names(names, modules)]
    else:
        chosen = [("", True)]

    params: dict[str, nn.Parameter] = {}
    norms: list[nn.Module] = []
    for name, recurse in chosen:
        module = modules[name]
        prefix = f"{name}." if name else ""
        for pname, p in module.named_parameters(recurse=recurse):
            params.setdefault(prefix + pname, p)
        subs = module.modules() if recurse else [module]
        norms.extend(m for m in subs if _has_stats(m) and m not in norms)
    return params, norms


def _check_bn(bn: object) -> None:
    if bn not in _BN_POLICIES:
        raise ValueError(
            f"bn={bn!r} is not a BatchNorm policy; use bn='frozen' (eval mode, "
            "statistics fixed) or bn='train' (statistics keep adapting)"
        )


def _check_depth(arg: str, depth: object, all_layers: list[list[str]]) -> None:
    depth = check_int(arg, depth)
    if not 0 <= depth <= len(all_layers):
        raise ValueError(
            f"{arg}={depth} but the model has {len(all_layers)} layers "
            f"{all_layers}; use {arg} in 0..{len(all_layers)}"
        )


def _check_names(names: object, modules: dict[str, nn.Module]) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(
            f"names must be a list of module names, got {names!r}; "
            "write names=['backbone'] rather than names='backbone'"
        )
    check_nonempty("names", names, "module names (or names=None for the whole model)")
    for name in names:
        if name not in modules:
            close = difflib.get_close_matches(str(name), list(modules), n=3)
            hint = f"did you mean {close}? " if close else ""
            raise ValueError(
                f"unknown layer name {name!r} in names; {hint}the model's module "
                f"names are {[n for n in modules if n][:20]} "
                "(see dict(model.named_modules()))"
            )
    return list(names)


def _describe(depth: int | None, names: Sequence[str] | None, arg: str) -> str:
    if depth is not None:
        return f"{arg}={depth}"
    return f"names={list(names)!r}" if names is not None else ""
