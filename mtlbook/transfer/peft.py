"""Parameter-efficient fine-tuning: LoRA, BitFit and bottleneck adapters.

Fine-tuning updates every weight of the pretrained network; these methods
freeze it and train a small number of new or selected parameters instead:

- *LoRA* (Hu et al. 2021): every linear layer ``W x + b`` becomes
  ``W x + b + (α / r) B A x`` with ``A: (r, in)`` random and ``B: (out, r)``
  zero at the start, so only ``r (in + out)`` numbers per layer train, and
  the update ``(α / r) B A`` can be merged into ``W`` after training (no
  extra cost at inference, :func:`merge_lora`);
- *BitFit* (Ben Zaken et al. 2022): only the biases train;
- *adapters* (Houlsby et al. 2019): a bottleneck ``h + U relu(D h)`` after
  every linear layer, with ``D: (m, d)``, ``U: (d, m)`` and ``U`` zero at the
  start (an identity, so training starts from the pretrained function).

Each function returns a new model and leaves the pretrained one untouched:
its weights are copied, and in the copy only the method's parameters have
``requires_grad=True``. Layers are replaced through the public module API
(``setattr`` on the parent); no parameter is patched in place.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook._validate import (
    check_int,
    check_module,
    check_real,
    check_torch_generator,
)

__all__ = [
    "Adapter",
    "LoRALinear",
    "add_adapters",
    "add_lora",
    "bitfit",
    "merge_lora",
]


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update (Hu et al. eq. 3).

    h = W x + b + (α / r) B A x, with A: (r, in) drawn like PyTorch's own
    linear weights from ``generator`` and B: (out, r) zero, so at the start
    the layer computes exactly ``base(x)``. ``alpha=None`` sets α = r (a
    scale of 1). x: (batch, in). Returns: (batch, out).
    """

    def __init__(
        self,
        base: nn.Linear,
        rank: int,
        *,
        generator: torch.Generator,
        alpha: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(
                f"base must be an nn.Linear, got {type(base).__name__}; "
                "wrap whole models with add_lora(model, rank, generator=...)"
            )
        check_int("rank", rank, low=1, example=4)
        check_torch_generator("generator", generator)
        if alpha is not None:
            check_real("alpha", alpha, low=0, low_open=True, example=rank)
        self.base = base.requires_grad_(False)
        self.rank = rank
        self.scale = (rank if alpha is None else float(alpha)) / rank
        w = base.weight
        a = torch.empty(rank, base.in_features, dtype=w.dtype)
        nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=generator)
        self.lora_A = nn.Parameter(a.to(w.device))
        self.lora_B = nn.Parameter(w.new_zeros(base.out_features, rank))

    def forward(self, x: Tensor) -> Tensor:
        """x: (batch, in). Returns: (batch, out)."""
        update = F.linear(F.linear(x, self.lora_A), self.lora_B)
        return self.base(x) + self.scale * update

    def delta_weight(self) -> Tensor:
        """(α / r) B A, the change the layer adds to W: (out, in)."""
        return self.scale * self.lora_B @ self.lora_A

    def extra_repr(self) -> str:
        """The rank and the scale α / r, for ``repr``."""
        return f"rank={self.rank}, scale={self.scale:g}"


def add_lora(
    model: nn.Module,
    rank: int,
    *,
    generator: torch.Generator,
    alpha: float | None = None,
) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` wrapped in a ``LoRALinear``.

    In the copy only the LoRA factors train: r (in + out) parameters per
    linear layer, every other parameter frozen. The factors are drawn from
    ``generator`` layer by layer, in ``named_modules`` order.
    """
    check_module("model", model)
    check_int("rank", rank, low=1, example=4)
    check_torch_generator("generator", generator)
    if alpha is not None:
        check_real("alpha", alpha, low=0, low_open=True, example=rank)
    for name, linear in model.named_modules():
        if isinstance(linear, nn.Linear) and rank > min(linear.weight.shape):
            raise ValueError(
                f"rank={rank} exceeds the smaller side of layer {name!r} "
                f"({linear.out_features}x{linear.in_features}); a low-rank update "
                f"needs rank <= {min(linear.weight.shape)}"
            )
    new = _frozen_copy(model)
    _replace_linears(
        new, lambda linear: LoRALinear(linear, rank, generator=generator, alpha=alpha)
    )
    return new


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with each ``LoRALinear`` folded into one ``nn.Linear``.

    The merged layer has weight W + (α / r) B A and the base's bias: the
    same function, at the cost of a plain linear layer.
    """
    check_module("model", model)
    merged = copy.deepcopy(model)
    found = False
    for parent in list(merged.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                found = True
                linear = copy.deepcopy(child.base)
                linear.weight.copy_(child.base.weight + child.delta_weight())
                setattr(parent, name, linear)
    if not found:
        raise ValueError(
            "model has no LoRALinear layers to merge; build it with add_lora"
        )
    return merged


def bitfit(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in which only the biases train (Ben Zaken et al.).

    A bias is every parameter whose name ends in ``bias``.
    """
    check_module("model", model)
    new = _frozen_copy(model)
    biases = [p for name, p in new.named_parameters() if name.endswith("bias")]
    if not biases:
        raise ValueError(
            "model has no bias parameters, so BitFit would train nothing; "
            "build its layers with bias=True"
        )
    for p in biases:
        p.requires_grad_(True)
    return new


class Adapter(nn.Module):
    """Houlsby et al.'s bottleneck, h + U relu(D h), starting as the identity.

    D: (bottleneck, features) with PyTorch's default init drawn from
    ``generator``, U: (features, bottleneck) and its bias zero.
    h: (batch, features). Returns: (batch, features).
    """

    def __init__(
        self, features: int, bottleneck: int, *, generator: torch.Generator
    ) -> None:
        super().__init__()
        check_int("features", features, low=1, example=64)
        check_int("bottleneck", bottleneck, low=1, example=8)
        check_torch_generator("generator", generator)
        # built on the meta device: no draw from the global random state
        self.down = nn.Linear(features, bottleneck, device="meta").to_empty(
            device="cpu"
        )
        self.up = nn.Linear(bottleneck, features, device="meta").to_empty(device="cpu")
        with torch.no_grad():
            nn.init.kaiming_uniform_(
                self.down.weight, a=math.sqrt(5), generator=generator
            )
            bound = 1.0 / math.sqrt(features)
            nn.init.uniform_(self.down.bias, -bound, bound, generator=generator)
            self.up.weight.zero_()
            self.up.bias.zero_()

    def forward(self, h: Tensor) -> Tensor:
        """h: (batch, features). Returns: (batch, features)."""
        return h + self.up(torch.relu(self.down(h)))


def add_adapters(
    model: nn.Module, bottleneck: int, *, generator: torch.Generator
) -> nn.Module:
    """A copy of ``model`` with an ``Adapter`` after every ``nn.Linear``.

    Each linear layer ``L`` becomes ``nn.Sequential(L, Adapter(...))``; only
    the adapters train: 2 d m + d + m parameters for a layer with d outputs
    and bottleneck m.
    """
    check_module("model", model)
    check_int("bottleneck", bottleneck, low=1, example=8)
    check_torch_generator("generator", generator)
    new = _frozen_copy(model)
    _replace_linears(
        new,
        lambda linear: nn.Sequential(
            linear,
            Adapter(linear.out_features, bottleneck, generator=generator).to(
                device=linear.weight.device, dtype=linear.weight.dtype
            ),
        ),
    )
    return new


# --- internals --------------------------------------------------------------


def _frozen_copy(model: nn.Module) -> nn.Module:
    new = copy.deepcopy(model)
    new.requires_grad_(False)
    return new


def _replace_linears(
    model: nn.Module, wrap: Callable[[nn.Linear], nn.Module]
) -> list[tuple[str, nn.Linear]]:
    """Replace every ``nn.Linear`` child by ``wrap(child)``; return them by name."""
    if isinstance(model, nn.Linear):
        raise TypeError(
            "model is a bare nn.Linear; put it in a container first, e.g. "
            "nn.Sequential(linear)"
        )
    targets = [
        (f"{prefix}.{name}" if prefix else name, parent, name, child)
        for prefix, parent in model.named_modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear)
    ]
    if not targets:
        raise ValueError(
            f"model ({type(model).__name__}) has no nn.Linear layers to adapt"
        )
    for _, parent, name, child in targets:
        setattr(parent, name, wrap(child))
    return [(full, child) for full, _, _, child in targets]
