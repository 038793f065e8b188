"""N-way K-shot classification episodes from labelled tensors (Vinyals et al. 2016).

:class:`FewShotEpisodes` is the torch front end of the package's one episode
sampler, ``mtlbook.data._episode_core`` (the numpy front end is
:func:`mtlbook.data.episodes.sample_episode`): it checks the tensors, lets the
core check n_way / k_shot / n_query against the classes, and draws each batch
with the core's ``draw_episodes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from mtlbook._validate import check_int, check_tensor, check_torch_generator
from mtlbook.data._episode_core import check_episode_sizes, class_pools, draw_episodes
from mtlbook.meta.task_containers import TaskBatch, _Distribution

__all__ = ["FewShotEpisodes"]


class FewShotEpisodes(_Distribution):
    """N-way K-shot episodes from labelled tensors (Vinyals et al. 2016).

    Each episode picks ``n_way`` classes of the split, relabels them 0..n_way-1
    in a random order, and takes ``k_shot`` support and ``n_query`` query
    examples of each class, never the same example twice. Give each split (e.g.
    meta-training and evaluation alphabets) its own ``classes`` so that an
    episode never mixes them. The checks and draws are those of
    :func:`mtlbook.data.episodes.sample_episode` (one core,
    ``mtlbook.data._episode_core``): each batch seeds a
    ``np.random.default_rng`` with one integer drawn from ``generator`` and
    draws its episodes one after the other with
    :func:`~mtlbook.data.episodes.draw_episode`.

    x: ``(n, *x_shape)``; y: (n,) integer labels; classes: the labels of the split
    (default: every label in y). Batches: x_support (tasks, n_way*k_shot, ...),
    y_support (tasks, n_way*k_shot), x_query (tasks, n_way*n_query, ...),
    y_query (tasks, n_way*n_query); examples are grouped by episode label.
    info: classes (tasks, n_way) original labels, support_index and
    query_index (tasks, n_way*k_shot / n_way*n_query) rows of x.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        *,
        n_way: int,
        k_shot: int,
        n_query: int,
        classes: Sequence[int] | Tensor | None = None,
    ) -> None:
        check_tensor("x", x)
        check_tensor("y", y)
        if y.ndim != 1 or x.ndim < 1 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"x has shape {tuple(x.shape)} and y {tuple(y.shape)}; expected "
                "x: (n, *x_shape) and y: (n,), one label per row of x"
            )
        if y.dtype.is_floating_point or y.dtype == torch.bool:
            raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
        check_tensor("x", x, floating=True)  # uint8 pixels: x.float() / 255
        if not torch.isfinite(x).all():  # once, here: episodes index into x
            raise ValueError("x contains NaN or inf; clean the data first")
        n_way, k_shot, n_query = check_episode_sizes(n_way, k_shot, n_query)
        _, per_class = class_pools(
            y.cpu().numpy(),
            classes,
            n_way=n_way,
            k_shot=k_shot,
            n_query=n_query,
            labels_name="y",
        )
        # The same sorted labels as the core's, kept as a tensor (y's dtype and
        # device when classes is None) for info["classes"].
        self.classes = (
            torch.unique(y) if classes is None else torch.as_tensor(classes).unique()
        )
        self.x, self.y = x, y
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self._per_class = per_class

    @staticmethod
    def numpy_rng(generator: torch.Generator) -> np.random.Generator:
        """The numpy generator one batch draws from, seeded from ``generator``."""
        seed = torch.randint(0, 2**62, (), generator=generator, dtype=torch.int64)
        return np.random.default_rng(int(seed))

    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        """n_tasks episodes; the same generator state gives the same episodes."""
        check_int("n_tasks", n_tasks, low=1)
        check_torch_generator("generator", generator)
        rng = self.numpy_rng(generator)
        chosen, support, query = draw_episodes(
            self._per_class,
            n_tasks,
            n_way=self.n_way,
            k_shot=self.k_shot,
            n_query=self.n_query,
            rng=rng,
        )
        s_idx = torch.from_numpy(support).long()
        q_idx = torch.from_numpy(query).long()
        labels = torch.arange(self.n_way)
        return TaskBatch(
            self.x[s_idx],
            labels.repeat_interleave(self.k_shot).expand(n_tasks, -1).clone(),
            self.x[q_idx],
            labels.repeat_interleave(self.n_query).expand(n_tasks, -1).clone(),
            info={
                "classes": self.classes[torch.from_numpy(chosen).long()],
                "support_index": s_idx,
                "query_index": q_idx,
            },
        )
