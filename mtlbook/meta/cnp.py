"""A conditional neural process: a meta-network that adapts without gradients.

An encoder h reads each support pair (x_i, y_i) into r_i, a mean makes the
order-free task summary r, and a decoder g maps (x*, r) to a Gaussian over y*
(Garnelo et al. 2018, §2.2). "Adapting" to a task is one forward pass; meta-
training maximises the query log-likelihood under that Gaussian (§2.3).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook._validate import check_int, check_tensor
from mtlbook.meta.inner import Params, check_task, functional
from mtlbook.meta.tasks import Task

__all__ = ["ConditionalNeuralProcess", "cnp_loss", "gaussian_nll"]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # no ReLU after the last layer


class ConditionalNeuralProcess(nn.Module):
    """Encoder h(x, y) -> r_i, mean -> r, decoder g(x*, r) -> (mean, std).

    x_dim, y_dim: sizes of one input and one target; width: hidden units and
    size of r; depth: layers of the encoder and of the decoder.
    """

    def __init__(
        self, x_dim: int = 1, y_dim: int = 1, width: int = 128, depth: int = 3
    ):
        for name, value in (
            ("x_dim", x_dim),
            ("y_dim", y_dim),
            ("width", width),
            ("depth", depth),
        ):
            check_int(name, value, low=1)
        super().__init__()
        self.encoder = _mlp([x_dim + y_dim] + [width] * depth)
        self.decoder = _mlp([x_dim + width] + [width] * (depth - 1) + [2 * y_dim])

    def forward(
        self, x_context: Tensor, y_context: Tensor, x_target: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The predictive mean and std at the targets, given the context set.

        x_context: (..., n, x_dim); y_context: (..., n, y_dim);
        x_target: (..., m, x_dim) -> mean, std: (..., m, y_dim).
        """
        r = self.encoder(torch.cat([x_context, y_context], dim=-1)).mean(dim=-2)
        r = r.unsqueeze(-2).expand(*x_target.shape[:-1], r.shape[-1])
        mean, raw = self.decoder(torch.cat([x_target, r], dim=-1)).chunk(2, dim=-1)
        # A floor on the std keeps the likelihood bounded early in training
        # (Le et al. 2018); softplus keeps it positive.
        return mean, 0.1 + 0.9 * F.softplus(raw)


def gaussian_nll(mean: Tensor, std: Tensor, y: Tensor) -> Tensor:
    """−mean log N(y; mean, std²) over all entries: (). Shapes equal."""
    for name, value in (("mean", mean), ("std", std), ("y", y)):
        check_tensor(name, value, floating=True)
    for name, value in (("std", std), ("y", y)):
        if value.shape != mean.shape:  # broadcasting (5, 1) with (5,) is a bug
            raise ValueError(
                f"{name} has shape {tuple(value.shape)} but mean has "
                f"{tuple(mean.shape)}; pass {name} with the shape of the "
                "prediction (e.g. y[:, None] for (n, 1))"
            )
    z = (y - mean) / std
    return (0.5 * z.square() + std.log() + 0.5 * math.log(2 * math.pi)).mean()


def cnp_loss(model: nn.Module, params: Params, task: Task) -> Tensor:
    """Query negative log-likelihood given the support set (Garnelo §2.3): ()."""
    check_task("task", task)
    predict = functional(model)
    mean, std = predict(params, task.x_support, task.y_support, task.x_query)
    return gaussian_nll(mean, std, task.y_query)
