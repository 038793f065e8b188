"""L2-SP: weight decay toward the starting point (Li, Grandvalet & Davoine 2018).

Plain weight decay pulls the transferred weights toward zero, i.e. away from
what pretraining learned. L2-SP pulls them toward their pretrained values w⁰
instead, and keeps ordinary weight decay for the new head, which has no
meaningful starting point:

    Ω(w) = α/2 · ‖w_S − w_S⁰‖² + β/2 · ‖w_new‖²

so ∇Ω = α (w − w⁰) on the transferred part S and β w on the head.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from mtlbook._validate import check_module, check_real


def l2sp_penalty(
    transferred: Mapping[str, Tensor],
    start: Mapping[str, Tensor],
    new: Iterable[Tensor] = (),
    *,
    alpha: float,
    beta: float,
) -> Tensor:
    """α/2 Σ ‖w − w⁰‖² over ``transferred`` plus β/2 Σ ‖w‖² over ``new``.

    transferred, start: name -> tensor, same names and shapes. Returns: () scalar.
    """
    _check_weight("alpha", alpha)
    _check_weight("beta", beta)
    for arg, value in (("transferred", transferred), ("start", start)):
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{arg} must be a dict name -> tensor, got {type(value).__name__}; "
                f"e.g. {arg}=dict(model.named_parameters())"
            )
    if set(transferred) != set(start):
        raise ValueError(
            "transferred and start must have the same names; missing from start: "
            f"{sorted(set(transferred) - set(start))[:5]}, extra in start: "
            f"{sorted(set(start) - set(transferred))[:5]}"
        )
    terms = []
    for name, w in transferred.items():
        if w.shape != start[name].shape:
            raise ValueError(
                f"transferred[{name!r}] has shape {tuple(w.shape)} but start has "
                f"{tuple(start[name].shape)}; take start from the same model"
            )
        terms.append(0.5 * alpha * (w - start[name]).pow(2).sum())
    terms.extend(0.5 * beta * w.pow(2).sum() for w in new)
    if not terms:
        raise ValueError("no parameters given; pass the model's named_parameters()")
    return torch.stack(terms).sum()


class L2SP:
    """The L2-SP penalty of a backbone (toward its weights now) and a new head.

    Snapshots the backbone's parameters at construction as w⁰; calling the
    object returns Ω of the current weights, a () scalar to add to the loss
    (``fine_tune(..., penalty=L2SP(backbone, head, alpha=0.1, beta=0.01))``).
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module | None = None,
        *,
        alpha: float,
        beta: float,
    ) -> None:
        _check_weight("alpha", alpha)
        _check_weight("beta", beta)
        check_module("backbone", backbone)
        if head is not None:
            check_module("head", head)
        self.alpha, self.beta = float(alpha), float(beta)
        self.backbone, self.head = backbone, head
        # detached copies: later in-place updates of the weights must not move w⁰
        self.start = {n: p.detach().clone() for n, p in backbone.named_parameters()}

    def __call__(self) -> Tensor:
        """Ω(w) for the current weights; a () scalar with gradient."""
        new = self.head.parameters() if self.head is not None else ()
        return l2sp_penalty(
            dict(self.backbone.named_parameters()),
            self.start,
            new,
            alpha=self.alpha,
            beta=self.beta,
        )


def _check_weight(arg: str, value: object) -> None:
    check_real(arg, value, low=0)
