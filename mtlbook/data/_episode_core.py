"""The one N-way K-shot episode sampler behind both public front ends.

:func:`mtlbook.data.episodes.sample_episode` (numpy arrays in, indices out)
and :class:`mtlbook.meta.episodes.FewShotEpisodes` (torch tensors in, task
batches out) check their own containers (an integer label array; x and y
tensors), then hand the integer labels to this module, which

- checks the episode sizes (:func:`check_episode_sizes`);
- checks the allowed classes against the labels and collects the rows of
  each class, refusing an impossible episode (:func:`class_pools`);
- draws episodes (:func:`draw_episode`, :func:`draw_episodes`).

The draws are fixed: per episode ``rng.choice(n_classes, n_way,
replace=False)``, then one ``rng.permutation`` of each picked class's rows, in
pick order. Changing them changes every stored episode of the book.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtlbook._validate import check_int, check_int_array


def check_episode_sizes(
    n_way: object, k_shot: object, n_query: object, *, query_name: str = "n_query"
) -> tuple[int, int, int]:
    """(n_way, k_shot, n_query) as ints >= 1, or a TypeError / ValueError.

    query_name: what the caller calls the query count (``q_queries`` for
    ``sample_episode``, ``n_query`` for ``FewShotEpisodes``), so the message
    names the argument the user wrote.
    """
    return (
        check_int("n_way", n_way, low=1, example=5),
        check_int("k_shot", k_shot, low=1, example=5),
        check_int(query_name, n_query, low=1, example=5),
    )


def class_pools(
    labels: np.ndarray,
    classes: object,
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    labels_name: str = "labels",
    query_name: str = "n_query",
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The classes an episode may use and the rows of each.

    labels: (n,) integer label of every row (checked by the caller).
    classes: the allowed labels (a list, array or tensor of ints), or None for
    every label present. Refuses classes absent from ``labels``, ``n_way``
    above the number of classes and classes with fewer than k_shot + n_query
    rows, each with a ValueError that says what to change.

    Returns: allowed (k,) sorted unique labels, and per_class, one (n_c,)
    array of row indices (ascending) per allowed label, in the same order.
    """
    present = np.unique(labels)
    if classes is None:
        allowed = present
    else:
        allowed = np.unique(
            check_int_array("classes", classes, example="split['train']")
        )
    missing = np.setdiff1d(allowed, present)
    if missing.size:
        shown = missing[:5].tolist()
        more = f" (and {missing.size - 5} more)" if missing.size > 5 else ""
        raise ValueError(
            f"classes {shown}{more} do not occur in {labels_name} "
            f"({missing.size} label(s) absent); pass only labels that occur in "
            f"{labels_name}"
        )
    if n_way > len(allowed):
        raise ValueError(
            f"n_way={n_way} but only {len(allowed)} classes are available; "
            "lower n_way or allow more classes"
        )
    per_class = [np.flatnonzero(labels == c) for c in allowed]
    need = k_shot + n_query
    counts = np.array([len(rows) for rows in per_class])
    short = allowed[counts < need]
    if short.size:
        raise ValueError(
            f"classes {short[:5].tolist()} have fewer than k_shot + {query_name} "
            f"= {need} examples (the smallest has {counts.min()}); lower k_shot "
            f"or {query_name}, or leave those classes out of `classes`"
        )
    return allowed, per_class


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
    n_c >= k_shot + n_query (``class_pools`` checks). Returns picks
    (n_way,) positions into per_class in draw order, support (n_way, k_shot)
    and query (n_way, n_query) rows.
    """
    picks = rng.choice(len(per_class), size=n_way, replace=False)
    rows = np.stack([rng.permutation(per_class[p])[: k_shot + n_query] for p in picks])
    return picks, rows[:, :k_shot], rows[:, k_shot:]


def draw_episodes(
    per_class: Sequence[np.ndarray],
    n_episodes: int,
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_episodes`` calls of :func:`draw_episode` on one rng, one after another.

    Returns picks (n_episodes, n_way), support (n_episodes, n_way * k_shot)
    and query (n_episodes, n_way * n_query) rows, each episode's rows grouped
    by episode class.
    """
    picks, support, query = [], [], []
    for _ in range(n_episodes):
        p, s, q = draw_episode(
            per_class, n_way=n_way, k_shot=k_shot, n_query=n_query, rng=rng
        )
        picks.append(p)
        support.append(s.flatten())
        query.append(q.flatten())
    return np.stack(picks), np.stack(support), np.stack(query)
