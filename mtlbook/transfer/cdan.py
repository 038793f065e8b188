"""Conditional adversarial adaptation (CDAN) and minimum class confusion (MCC).

DANN's domain head sees the features f alone, so it aligns the marginal
distributions of source and target features; two classes can then be
aligned onto each other. CDAN (Long et al. 2018) conditions the domain head
on the classifier's prediction g = softmax(G_y(f)) through the multilinear
map

    T(f, g) = g ⊗ f = (g_1 f, g_2 f, ..., g_C f),     (C·d numbers)

so that what is aligned is the joint distribution of features and
predictions. As in the authors' code, g is detached: the reversed domain
gradient reaches the features through f only. When g is the same vector c
for every input, T(f, c) is f scaled class by class by the constants c_k,
and CDAN is DANN with the domain head acting on Σ_k c_k W_k f (exactly DANN
when there is a single class, c = 1).

MCC (Jin et al. 2020) needs no domain head: it makes the classifier's
predictions on a target batch confident *and* consistent between examples,
by penalising the off-diagonal of an entropy-weighted, column-normalised
class-correlation matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook._validate import (
    check_callable,
    check_module,
    check_real,
    check_scalar_loss,
    check_tensor,
)
from mtlbook.transfer.dann import DANNLoss, grad_reverse
from mtlbook.transfer.probe import LossFn

__all__ = ["cdan_loss", "mcc_loss", "multilinear_map"]


def multilinear_map(f: Tensor, g: Tensor) -> Tensor:
    """T(f, g) = g ⊗ f, row by row: entry k·d + i is g_k f_i.

    f: (n, d) features, g: (n, C) class probabilities. Returns: (n, C·d).
    """
    check_tensor("f", f, ndim=2, floating=True)
    check_tensor("g", g, ndim=2, floating=True)
    if len(f) != len(g):
        raise ValueError(
            f"f has {len(f)} rows and g {len(g)}; pass the features and the "
            "predictions of the same batch"
        )
    return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)


def cdan_loss(
    features: nn.Module,
    classifier: nn.Module,
    domain_head: nn.Module,
    x_source: Tensor,
    y_source: Tensor,
    x_target: Tensor,
    *,
    lambda_: float,
    loss_fn: LossFn = F.cross_entropy,
) -> DANNLoss:
    """L_y + L_d with R_λ between the features and a domain head on g ⊗ f.

    x_source: (n_s, ...), y_source: what ``loss_fn`` expects, x_target:
    (n_t, ...). ``features`` returns (n, d), ``classifier`` (n, C) logits,
    ``domain_head`` one logit per example of g ⊗ f: (n, 1) or (n,), e.g.
    ``nn.Linear(C * d, 1)``. L_d is the mean over all n_s + n_t examples.
    """
    for arg, m in (
        ("features", features),
        ("classifier", classifier),
        ("domain_head", domain_head),
    ):
        check_module(arg, m)
    check_callable("loss_fn", loss_fn, "F.cross_entropy")
    for arg, x in (("x_source", x_source), ("x_target", x_target)):
        check_tensor(arg, x, floating=True)
        if x.ndim < 1 or len(x) == 0:
            raise ValueError(f"{arg} must be a non-empty tensor (n, ...)")
    if x_source.shape[1:] != x_target.shape[1:]:
        raise ValueError(
            f"x_source has examples of shape {tuple(x_source.shape[1:])} but "
            f"x_target {tuple(x_target.shape[1:])}; both domains share one input space"
        )
    n_s, n = len(x_source), len(x_source) + len(x_target)
    f = features(torch.cat([x_source, x_target]))
    if f.ndim != 2:
        raise ValueError(
            f"features returned shape {tuple(f.shape)}; CDAN needs flat features "
            "(n, d): end the extractor with nn.Flatten()"
        )
    logits = classifier(f)
    label = check_scalar_loss("loss_fn", loss_fn(logits[:n_s], y_source))
    g = torch.softmax(logits.detach(), dim=1)  # detached, as in the authors' code
    domain_logits = domain_head(multilinear_map(grad_reverse(f, lambda_), g))
    if domain_logits.ndim == 2 and domain_logits.shape[1] == 1:
        domain_logits = domain_logits[:, 0]
    if domain_logits.shape != (n,):
        raise ValueError(
            f"domain_head returned shape {tuple(domain_logits.shape)}; it must "
            "return one logit per example of g ⊗ f, (n, 1) or (n,), e.g. "
            f"nn.Linear({logits.shape[1]} * {f.shape[1]}, 1)"
        )
    domain_y = torch.cat(
        [domain_logits.new_zeros(n_s), domain_logits.new_ones(n - n_s)]
    )
    domain = F.binary_cross_entropy_with_logits(domain_logits, domain_y)
    return DANNLoss(label + domain, label, domain)


def mcc_loss(target_logits: Tensor, *, temperature: float = 2.5) -> Tensor:
    """Minimum class confusion (Jin et al. 2020, §3) of one target batch.

    With Ŷ = softmax(Z / T) (n, C), entropy weights
    w_i = n (1 + e^{−H(ŷ_i)}) / Σ_i' (1 + e^{−H(ŷ_i')}) (detached, as in the
    authors' code), the class correlation C = Ŷᵀ diag(w) Ŷ, normalised by
    columns, C̃_jj' = C_jj' / Σ_j'' C_j''j', the loss is
    (1 / C) Σ_j Σ_{j'≠j} C̃_jj'. A class that no example predicts at all (a
    zero column, possible only when probabilities underflow) adds 0.

    target_logits: (n, C) with n >= 1, C >= 2. Returns: a () scalar in [0, 1).
    """
    check_tensor("target_logits", target_logits, ndim=2, floating=True, finite=True)
    n, c = target_logits.shape
    if n == 0 or c < 2:
        raise ValueError(
            f"target_logits has shape {(n, c)}; MCC needs a batch of at least one "
            "example and at least 2 classes"
        )
    check_real("temperature", temperature, low=0, low_open=True, example=2.5)
    scaled = target_logits / temperature
    y = torch.softmax(scaled, dim=1)
    entropy = -(y * torch.log_softmax(scaled, dim=1)).sum(dim=1)
    w = 1.0 + torch.exp(-entropy.detach())
    w = n * w / w.sum()
    corr = (y * w[:, None]).T @ y
    column = corr.sum(dim=0)  # a zero column is all zeros: divide it by 1
    normalised = corr / torch.where(column > 0, column, torch.ones_like(column))
    return (normalised.sum() - normalised.trace()) / c
