"""N-way K-shot episodes for any labelled arrays (glyphs, digits, your own).

An episode picks ``n_way`` classes, then ``k_shot`` support and ``q_queries``
query items from each, without overlap. Labels are remapped to 0..n_way-1 in
the order the classes were drawn, so a model never sees the original ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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


def _positive(name: str, value: object) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be an int, e.g. {name}=5")
    if value < 1:
        raise ValueError(f"{name}={value} must be a positive int, e.g. {name}=5")
    return int(value)


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
    n_way = _positive("n_way", n_way)
    k_shot = _positive("k_shot", k_shot)
    q_queries = _positive("q_queries", q_queries)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a np.random.Generator, e.g. np.random.default_rng(0)"
        )
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be a 1-D integer array, got dtype {labels.dtype} and "
            f"shape {labels.shape}; pass one class id per item"
        )
    present = np.unique(labels)
    allowed = present if classes is None else np.unique(np.asarray(classes))
    missing = np.setdiff1d(allowed, present)
    if missing.size:
        raise ValueError(
            f"classes has {missing.size} label(s) absent from labels, e.g. "
            f"{missing[:5].tolist()}; pass only labels that occur"
        )
    if n_way > len(allowed):
        raise ValueError(
            f"n_way={n_way} but only {len(allowed)} classes are available; "
            "lower n_way or allow more classes"
        )
    counts = np.array([np.count_nonzero(labels == c) for c in allowed])
    need = k_shot + q_queries
    if counts.min() < need:
        worst = allowed[counts.argmin()]
        raise ValueError(
            f"k_shot + q_queries = {need} but class {worst} has only "
            f"{counts.min()} items; lower k_shot or q_queries"
        )
    chosen = rng.choice(allowed, size=n_way, replace=False)
    support, query = [], []
    for c in chosen:
        items = rng.permutation(np.flatnonzero(labels == c))[:need]
        support.append(items[:k_shot])
        query.append(items[k_shot:])
    ways = np.arange(n_way, dtype=np.int64)
    return Episode(
        support=np.concatenate(support).astype(np.int64),
        support_labels=np.repeat(ways, k_shot),
        query=np.concatenate(query).astype(np.int64),
        query_labels=np.repeat(ways, q_queries),
        classes=chosen,
    )
