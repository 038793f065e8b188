"""Layers that vmap differentiates correctly, for vectorised meta-batches.

MAML normalises each support and query batch with its own statistics
(``batchnorm="batch"``). ``nn.BatchNorm2d`` does this through ``F.batch_norm``,
whose second-order gradients come out wrong under ``torch.func.vmap``
(pytorch/functorch#534, still present in torch 2.13), so a meta-batch over a
model with it runs as a per-task loop. :class:`TaskBatchNorm` computes the same
normalisation from plain tensor operations, which vmap handles to any order.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtlbook._validate import check_int, check_real, check_tensor

__all__ = ["TaskBatchNorm"]


class TaskBatchNorm(nn.Module):
    """Batch normalisation with the statistics of each batch (Ioffe & Szegedy 2015).

    y = (x − mean) / sqrt(var + eps) · weight + bias, with the mean and the
    biased variance taken over every axis but the channel axis 1, and a
    learnable ``weight`` (ones) and ``bias`` (zeros) of shape (channels,). It
    keeps no running statistics: like ``nn.BatchNorm2d(c,
    track_running_stats=False)`` it always normalises with the batch's own, in
    training and in evaluation (MAML's transductive setting).

    x: ``(batch, channels, *spatial)`` → the same shape.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = check_int("channels", channels, low=1, example=64)
        check_real("eps", eps, low=0.0, low_open=True, example=1e-5)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.channels))
        self.bias = nn.Parameter(torch.zeros(self.channels))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` per channel with its own batch statistics."""
        if x.ndim < 2 or x.shape[1] != self.channels:
            check_tensor("x", x)
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (batch, {self.channels}, "
                "...) with the channels on axis 1"
            )
        axes = [0, *range(2, x.ndim)]
        mean = x.mean(dim=axes, keepdim=True)
        var = (x - mean).square().mean(dim=axes, keepdim=True)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        scale = self.weight.view(shape) / torch.sqrt(var + self.eps)
        return (x - mean) * scale + self.bias.view(shape)

    def extra_repr(self) -> str:
        """What ``print(model)`` shows inside the parentheses."""
        return f"{self.channels}, eps={self.eps}"
