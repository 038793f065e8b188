"""In-context learning: a transformer that does regression from its prompt.

Garg et al. (2022) meta-train a causal transformer on prompts
x_1, y_1, x_2, y_2, ..., x_n, y_n of one random linear function y = w·x and
read its guess ŷ_i at each x_i. Because attention is causal, ŷ_i sees only the
i − 1 earlier pairs and x_i, so one forward pass gives the prediction after
every number of in-context examples 0, 1, ..., n − 1 (§2, Fig. 1). No weight
changes at test time: "learning" the task is reading the prompt.

The prompt here has one token per x and one per y, in Garg et al.'s order,
with the two kinds on disjoint coordinates of a (dim + 1)-vector:

    x token: (x_1, ..., x_dim, 0)        y token: (0, ..., 0, y)

so the read-in can tell them apart without the positions. (Garg et al. pad
y to (y, 0, ..., 0) and rely on the learned positions.) The reference is
least squares on the earlier pairs, minimum-norm when they are fewer than
dim: for w ~ N(0, I) and no noise it is the posterior mean of w, so no
predictor does better on average (Garg et al. §3, Fig. 2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtlbook._validate import (
    check_int,
    check_real,
    check_tensor,
    check_torch_generator,
)

__all__ = [
    "InContextRegressor",
    "in_context_loss",
    "interleave",
    "least_squares_predictions",
    "linear_regression_prompts",
    "normalised_error",
]


def linear_regression_prompts(
    n_prompts: int,
    n_points: int,
    dim: int,
    *,
    generator: torch.Generator,
    noise_std: float = 0.0,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Prompts of random linear functions: x ~ N(0, I), w ~ N(0, I), y = w·x + ε.

    One w per prompt; ε ~ N(0, noise_std²) per point. Returns
    x: (n_prompts, n_points, dim) and y: (n_prompts, n_points).
    """
    check_int("n_prompts", n_prompts, low=1, example=64)
    check_int("n_points", n_points, low=1, example=2 * dim + 1)
    check_int("dim", dim, low=1, example=5)
    check_torch_generator("generator", generator)
    noise_std = check_real("noise_std", noise_std, low=0.0, example=0.0)
    x = torch.randn(n_prompts, n_points, dim, generator=generator, dtype=dtype)
    w = torch.randn(n_prompts, dim, 1, generator=generator, dtype=dtype)
    y = (x @ w).squeeze(-1)
    if noise_std > 0:
        y = y + noise_std * torch.randn(y.shape, generator=generator, dtype=dtype)
    return x, y


def _check_prompts(x: object, y: object) -> tuple[Tensor, Tensor]:
    """x: (batch, n, dim) and y: (batch, n), floating, finite, same dtype."""
    x = check_tensor("x", x, ndim=3, floating=True, finite=True, nonempty=True)
    y = check_tensor("y", y, ndim=2, floating=True, finite=True)
    if y.shape != x.shape[:2]:
        raise ValueError(
            f"y has shape {tuple(y.shape)} but x has {tuple(x.shape)}; pass one "
            f"target per point: y of shape {tuple(x.shape[:2])} (batch, n)"
        )
    if y.dtype != x.dtype:
        raise TypeError(
            f"y is {y.dtype} but x is {x.dtype}; cast one, e.g. y.to(x.dtype)"
        )
    return x, y


def interleave(x: Tensor, y: Tensor) -> Tensor:
    """The prompt as tokens x_1, y_1, ..., x_n, y_n: (batch, 2n, dim + 1).

    x: (batch, n, dim); y: (batch, n). An x token is (x, 0), a y token is
    (0, ..., 0, y): the last coordinate holds only targets.
    """
    x, y = _check_prompts(x, y)
    batch, n, dim = x.shape
    x_tokens = torch.cat([x, x.new_zeros(batch, n, 1)], dim=-1)
    y_tokens = torch.cat([x.new_zeros(batch, n, dim), y.unsqueeze(-1)], dim=-1)
    return torch.stack([x_tokens, y_tokens], dim=2).reshape(batch, 2 * n, dim + 1)


class InContextRegressor(nn.Module):
    """Linear read-in, causal transformer encoder, linear read-out at x tokens.

    dim: size of one x; n_points: the longest prompt (pairs) it has positions
    for; width, depth, heads: the transformer (pre-norm, no dropout).
    """

    def __init__(
        self,
        dim: int = 5,
        n_points: int = 11,
        width: int = 64,
        depth: int = 3,
        heads: int = 2,
    ):
        for name, value in (
            ("dim", dim),
            ("n_points", n_points),
            ("width", width),
            ("depth", depth),
            ("heads", heads),
        ):
            check_int(name, value, low=1)
        if width % heads:
            raise ValueError(
                f"width={width} is not divisible by heads={heads}; each head "
                f"gets width // heads features, so pick e.g. width={heads * 32}"
            )
        super().__init__()
        self.dim, self.n_points = dim, n_points
        self.read_in = nn.Linear(dim + 1, width)
        self.position = nn.Parameter(0.02 * torch.randn(2 * n_points, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, depth, norm=nn.LayerNorm(width), enable_nested_tensor=False
        )
        self.read_out = nn.Linear(width, 1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """ŷ_i from the pairs before i and x_i, for every i: (batch, n).

        x: (batch, n, dim); y: (batch, n). y_i never reaches ŷ_i (nor any ŷ_j,
        j ≤ i): the mask is causal and ŷ_i is read at x_i's token.
        """
        x, y = _check_prompts(x, y)
        if x.shape[-1] != self.dim:
            raise ValueError(
                f"x has {x.shape[-1]} features but the model was built with "
                f"dim={self.dim}; build it with dim={x.shape[-1]}"
            )
        if x.shape[1] > self.n_points:
            raise ValueError(
                f"the prompt has {x.shape[1]} points but the model has positions "
                f"for n_points={self.n_points}; build it with "
                f"n_points={x.shape[1]} or shorten the prompt"
            )
        tokens = interleave(x, y)
        length = tokens.shape[1]
        h = self.read_in(tokens) + self.position[:length]
        mask = nn.Transformer.generate_square_subsequent_mask(
            length, device=h.device, dtype=h.dtype
        )
        h = self.encoder(h, mask=mask, is_causal=True)
        return self.read_out(h[:, ::2]).squeeze(-1)


def in_context_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Squared error averaged over prompts and prefix lengths (Garg et al. §2): ()."""
    return (model(x, y) - y).square().mean()


def least_squares_predictions(x: Tensor, y: Tensor) -> Tensor:
    """ŷ_i = x_i · w_i with w_i = pinv(X_<i) y_<i, the min-norm fit: (batch, n).

    x: (batch, n, dim); y: (batch, n). With no earlier pairs w_1 = 0, so
    ŷ_1 = 0; with fewer pairs than dim, w_i is the least-norm interpolant.
    """
    x, y = _check_prompts(x, y)
    out = x.new_zeros(y.shape)
    for i in range(1, x.shape[1]):
        w = torch.linalg.pinv(x[:, :i]) @ y[:, :i, None]  # (batch, dim, 1)
        out[:, i] = (x[:, i, None, :] @ w)[:, 0, 0]
    return out


def normalised_error(prediction: Tensor, y: Tensor, dim: int) -> Tensor:
    """Squared error / dim at each prefix length, mean over prompts: (n,).

    prediction, y: (batch, n). Dividing by dim makes predicting 0 score 1 for
    y = w·x with w, x ~ N(0, I) (Garg et al., Fig. 2).
    """
    check_tensor("prediction", prediction, ndim=2, floating=True)
    check_tensor("y", y, ndim=2, floating=True)
    check_int("dim", dim, low=1, example=5)
    if prediction.shape != y.shape:
        raise ValueError(
            f"prediction has shape {tuple(prediction.shape)} but y has "
            f"{tuple(y.shape)}; pass both as (batch, n)"
        )
    return (prediction - y).square().mean(dim=0) / dim
