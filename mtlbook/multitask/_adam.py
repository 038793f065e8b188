"""One Adam step on a buffer (Kingma & Ba 2015), as ``torch.optim.Adam`` computes it.

GradNorm and FAMO update their task weights with Adam, like the authors' code,
but those weights are buffers of the scalarizer, not parameters of the model:
the model's optimiser must not touch them. This helper keeps the moments in
buffers too, so ``.to(device)`` and ``state_dict()`` carry the whole state.
"""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def adam_step(
    x: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    step: Tensor,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> None:
    """Update x in place; x, grad, exp_avg, exp_avg_sq: same shape; step: () int."""
    beta1, beta2 = betas
    step += 1
    t = int(step)
    exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = (exp_avg_sq / (1 - beta2**t)).sqrt().add_(eps)
    x.addcdiv_(exp_avg, denom, value=-lr / (1 - beta1**t))
