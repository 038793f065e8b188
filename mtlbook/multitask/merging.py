"""Model merging as multi-task learning: task arithmetic and TIES-merging.

Fine-tune one copy of a shared initialisation θ0 per task k and keep its *task
vector* τ_k = θ_k − θ0 (Ilharco et al. 2023). A multi-task model is then built
without any joint training, by adding the task vectors back to θ0:

* task arithmetic: θ = θ0 + λ Σ_k τ_k;
* TIES-merging (Yadav et al. 2023): trim each τ_k to its largest entries, elect
  one sign per entry, average only the entries that agree with it, then
  θ = θ0 + λ τ_merged.

Parameters are ``dict[str, Tensor]`` (``dict(model.named_parameters())`` or a
``state_dict``), so merged parameters go straight into
``torch.func.functional_call`` or ``model.load_state_dict``. Merge the shared
parameters; each task keeps its own head.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from mtlbook._validate import check_real

Params = Mapping[str, Tensor]


def task_vector(finetuned: Params, base: Params) -> dict[str, Tensor]:
    """τ = θ_finetuned − θ_base, entry by entry; same keys and shapes in both."""
    base = _check_params("base", base)
    _check_like("finetuned", _check_params("finetuned", finetuned), base)
    return {name: finetuned[name].detach() - base[name].detach() for name in base}


def task_arithmetic(
    base: Params, task_vectors: Sequence[Params], scale: float
) -> dict[str, Tensor]:
    """θ = θ0 + λ Σ_k τ_k (Ilharco et al. 2023, §2), λ = ``scale``.

    base: the shared initialisation θ0; task_vectors: one dict τ_k per task, with
    θ0's keys and shapes (:func:`task_vector`). λ = 1/K averages the fine-tuned
    models; λ is usually chosen on validation data.
    """
    base, vectors = _check_merge(base, task_vectors)
    lam = check_real("scale", scale, example=0.5)
    return {
        name: base[name].detach() + lam * sum(t[name] for t in vectors) for name in base
    }


def ties_merging(
    base: Params, task_vectors: Sequence[Params], scale: float, density: float = 0.2
) -> dict[str, Tensor]:
    """TIES-merging (Yadav et al. 2023, Algorithm 1): trim, elect sign, merge.

    1. Trim: keep the ⌈density · n⌉ entries of largest magnitude of each task
       vector (n entries over all its tensors together), zero the rest.
    2. Elect: per entry, γ = sign(Σ_k τ̂_k), the sign with the larger total mass.
    3. Disjoint merge: per entry, the mean of the τ̂_k whose sign equals γ (0
       where every τ̂_k is 0).

    Returns θ = θ0 + λ τ_merged, λ = ``scale`` (the paper picks λ on validation
    data). Trimming drops the small, noisy changes; electing a sign stops two
    tasks that pull an entry in opposite directions from cancelling out.
    """
    base, vectors = _check_merge(base, task_vectors)
    lam = check_real("scale", scale, example=1.0)
    keep = check_real("density", density, low=0.0, high=1.0, low_open=True)
    names = list(base)
    flat = torch.stack([torch.cat([t[n].reshape(-1) for n in names]) for t in vectors])
    k = math.ceil(keep * flat.shape[1])
    top = flat.abs().topk(k, dim=1).indices  # (K, k)
    trimmed = torch.zeros_like(flat).scatter_(1, top, flat.gather(1, top))
    elected = torch.sign(trimmed.sum(0))  # (n,)
    agree = (torch.sign(trimmed) == elected) & (trimmed != 0)
    count = agree.sum(0).clamp_min(1)
    merged = (trimmed * agree).sum(0) / count
    out, start = {}, 0
    for name in names:
        size = base[name].numel()
        delta = merged[start : start + size].reshape(base[name].shape)
        out[name] = base[name].detach() + lam * delta
        start += size
    return out


def _check_params(name: str, params: object) -> dict[str, Tensor]:
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{name} must be a dict of parameter name -> Tensor, got "
            f"{type(params).__name__}; e.g. dict(model.named_parameters())"
        )
    if not params:
        raise ValueError(f"{name} is empty: pass the parameters to merge")
    for key, value in params.items():
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"{name}[{key!r}] must be a floating-point Tensor")
    return dict(params)


def _check_like(name: str, params: dict[str, Tensor], base: dict[str, Tensor]) -> None:
    if set(params) != set(base):
        missing = sorted(set(base) - set(params))[:3]
        extra = sorted(set(params) - set(base))[:3]
        raise ValueError(
            f"{name} does not have base's parameters (missing {missing}, extra "
            f"{extra}); fine-tune copies of the same model and pass the same keys"
        )
    for key, value in params.items():
        if value.shape != base[key].shape:
            raise ValueError(
                f"{name}[{key!r}] has shape {tuple(value.shape)}, base has "
                f"{tuple(base[key].shape)}"
            )


def _check_merge(
    base: Params, task_vectors: Sequence[Params]
) -> tuple[dict[str, Tensor], list[dict[str, Tensor]]]:
    checked = _check_params("base", base)
    if isinstance(task_vectors, Mapping) or not isinstance(task_vectors, Sequence):
        raise TypeError(
            "task_vectors must be a list of dicts (one task vector per task), got "
            f"{type(task_vectors).__name__}"
        )
    if not task_vectors:
        raise ValueError("task_vectors is empty: pass one task vector per task")
    vectors = []
    for k, vector in enumerate(task_vectors):
        v = _check_params(f"task_vectors[{k}]", vector)
        _check_like(f"task_vectors[{k}]", v, checked)
        vectors.append({n: t.detach() for n, t in v.items()})
    return checked, vectors
