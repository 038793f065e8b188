"""N-way K-shot episodes for any labelled arrays (glyphs, digits, your own).

An episode picks ``n_way`` classes, then ``k_shot`` support and ``q_queries``
query items from each, without overlap. Labels are remapped to 0..n_way-1 in
the order the classes were drawn, so a model never sees the original ids.

:func:`draw_episode` is the one sampling routine of the package: both
:func:`sample_episode` (numpy) and ``mtlbook.meta.FewShotEpisodes`` (torch)
validate their inputs and then call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mtlbook._validate import check_int, check_int_array, check_numpy_rng


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


def draw_episode(
    per_class: Sequence[np.ndarray],
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick n_way of the classes, then k_shot + n_query distinct rows of each.

    per_class: one (n_c,) int array of row indices per class, every
    n_c >= k_shot + n_query (callers check). Returns picks (n_way,) positions
    into per_class in draw order, support (n_way, k_shot) and query
    (n_way, n_query) rows.
    """
    picks = rng.choice(len(per_class), size=n_way, replace=False)
    rows = np.stack([rng.permutation(per_class[p])[: k_shot + n_query] for p in picks])
    return picks, rows[:, :k_shot], rows[:, k_shot:]


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
    n_way = check_int("n_way", n_way, low=1, example=5)
    k_shot = check_int("k_shot", k_shot, low=1, example=5)
    q_queries = check_int("q_queries", q_queries, low=1, example=5)
    check_numpy_rng("rng", rng)
    labels = check_int_array("labels", labels, example="glyphs.labels['char']")
    present = np.unique(labels)
    allowed = (
        present
        if classes is None
        else np.unique(check_int_array("classes", classes, example="split['train']"))
    )
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
    per_class = [np.flatnonzero(labels == c) for c in allowed]
    counts = np.array([len(rows) for rows in per_class])
    need = k_shot + q_queries
    if counts.min() < need:
        worst = allowed[counts.argmin()]
        raise ValueError(
            f"k_shot + q_queries = {need} but class {worst} has only "
            f"{counts.min()} items; lower k_shot or q_queries"
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
