"""N-way K-shot episodes for any labelled arrays (glyphs, digits, your own).

An episode picks ``n_way`` classes, then ``k_shot`` support and ``q_queries``
query items from each, without overlap. Labels are remapped to 0..n_way-1 in
the order the classes were drawn, so a model never sees the original ids.

Both :func:`sample_episode` (numpy) and ``mtlbook.meta.FewShotEpisodes``
(torch) run on one core, ``mtlbook.data._episode_core``: the same checks of
n_way / k_shot / query count against the classes, and the same draws
(:func:`draw_episode`, re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtlbook._validate import check_int_array, check_numpy_rng
from mtlbook.data._episode_core import (
    check_episode_sizes,
    class_pools,
    draw_episode,
)

__all__ = ["Episode", "draw_episode", "sample_episode"]


@dataclass(frozen=True)
class Episode:
    """Indices into the labelled arrays and the remapped labels.

    support, support_labels: (n_way * k_shot,) int64;
    query, query_labels: (n_way * q_queries,) int64;
    classes: (n_way,) original label of episode class 0, 1, ...
    """

    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    classes: np.ndarray


def sample_episode(
    labels: np.ndarray | Sequence[int],
    *,
    n_way: int,
    k_shot: int,
    q_queries: int,
    rng: np.random.Generator,
    classes: np.ndarray | Sequence[int] | None = None,
) -> Episode:
    """Draw one N-way K-shot episode.

    labels: (n,) integer label of every item. classes: the labels allowed in
    the episode (e.g. one split's classes); default every label present.
    Returns n_way * k_shot support and n_way * q_queries query indices.
    """
    n_way, k_shot, q_queries = check_episode_sizes(
        n_way, k_shot, q_queries, query_name="q_queries"
    )
    check_numpy_rng("rng", rng)
    labels = check_int_array("labels", labels, example="glyphs.labels['char']")
    allowed, per_class = class_pools(
        labels,
        classes,
        n_way=n_way,
        k_shot=k_shot,
        n_query=q_queries,
        query_name="q_queries",
    )
    picks, support, query = draw_episode(
        per_class, n_way=n_way, k_shot=k_shot, n_query=q_queries, rng=rng
    )
    ways = np.arange(n_way, dtype=np.int64)
    return Episode(
        support=support.flatten().astype(np.int64),
        support_labels=np.repeat(ways, k_shot),
        query=query.flatten().astype(np.int64),
        query_labels=np.repeat(ways, q_queries),
        classes=allowed[picks],
    )
