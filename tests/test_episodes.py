"""Facts about the N-way K-shot episode sampler, on any labelled arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits

from mtlbook.data.episodes import sample_episode


@settings(max_examples=60, deadline=None)
@given(
    n_classes=st.integers(1, 12),
    per_class=st.integers(2, 9),
    data=st.data(),
)
def test_episode_sizes_and_remapped_labels(n_classes, per_class, data):
    labels = np.repeat(np.arange(n_classes) * 7 + 3, per_class)  # ids are not 0..N-1
    labels = np.random.default_rng(0).permutation(labels)
    n_way = data.draw(st.integers(1, n_classes))
    k_shot = data.draw(st.integers(1, per_class - 1))
    q_queries = data.draw(st.integers(1, per_class - k_shot))
    seed = data.draw(st.integers(0, 2**32 - 1))
    ep = sample_episode(
        labels,
        n_way=n_way,
        k_shot=k_shot,
        q_queries=q_queries,
        rng=np.random.default_rng(seed),
    )
    assert len(ep.support) == n_way * k_shot
    assert len(ep.query) == n_way * q_queries
    assert set(ep.support_labels.tolist()) == set(range(n_way))
    assert np.array_equal(np.bincount(ep.query_labels), np.full(n_way, q_queries))
    # The remapped label points back at the original class of every item.
    assert np.array_equal(labels[ep.support], ep.classes[ep.support_labels])
    assert np.array_equal(labels[ep.query], ep.classes[ep.query_labels])
    assert not set(ep.support.tolist()) & set(ep.query.tolist())
    assert len(np.unique(ep.classes)) == n_way


def test_an_episode_never_leaves_the_given_split():
    labels = np.repeat(np.arange(40), 20)
    split = np.arange(0, 40, 3)
    rng = np.random.default_rng(1)
    for _ in range(200):
        ep = sample_episode(
            labels, n_way=5, k_shot=1, q_queries=5, rng=rng, classes=split
        )
        both = np.concatenate([ep.support, ep.query])
        assert np.isin(labels[both], split).all()


def test_same_generator_state_gives_the_same_episode():
    labels = np.repeat(np.arange(10), 6)
    a = sample_episode(
        labels, n_way=3, k_shot=2, q_queries=2, rng=np.random.default_rng(5)
    )
    b = sample_episode(
        labels, n_way=3, k_shot=2, q_queries=2, rng=np.random.default_rng(5)
    )
    assert np.array_equal(a.support, b.support) and np.array_equal(a.query, b.query)


def test_works_on_scikit_learn_digits():
    digits = load_digits()
    ep = sample_episode(
        digits.target, n_way=10, k_shot=5, q_queries=15, rng=np.random.default_rng(0)
    )
    assert digits.images[ep.support].shape == (50, 8, 8)
    assert digits.images[ep.query].shape == (150, 8, 8)


def test_impossible_requests_raise_clear_value_errors():
    labels = np.repeat(np.arange(4), 5)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_way=5 but only 4 classes"):
        sample_episode(labels, n_way=5, k_shot=1, q_queries=1, rng=rng)
    with pytest.raises(ValueError, match="n_way=3 but only 2 classes"):
        sample_episode(labels, n_way=3, k_shot=1, q_queries=1, rng=rng, classes=[0, 1])
    with pytest.raises(ValueError, match="k_shot \\+ q_queries = 6"):
        sample_episode(labels, n_way=2, k_shot=1, q_queries=5, rng=rng)
    for bad in ({"n_way": 0}, {"k_shot": -1}, {"q_queries": 0}):
        sizes = {"n_way": 2, "k_shot": 1, "q_queries": 1, **bad}
        with pytest.raises(ValueError, match="at least 1"):
            sample_episode(labels, rng=rng, **sizes)
    with pytest.raises(ValueError, match="absent"):
        sample_episode(labels, n_way=2, k_shot=1, q_queries=1, rng=rng, classes=[0, 9])
    with pytest.raises(TypeError, match="labels must hold ints"):
        sample_episode(labels.astype(float), n_way=2, k_shot=1, q_queries=1, rng=rng)
    with pytest.raises(TypeError, match="Generator"):
        sample_episode(labels, n_way=2, k_shot=1, q_queries=1, rng=0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_way=st.integers(1, 6),
    k_shot=st.integers(1, 3),
    n_query=st.integers(1, 3),
    n_tasks=st.integers(1, 5),
)
def test_torch_episodes_are_the_draws_of_sample_episode(
    seed, n_way, k_shot, n_query, n_tasks
):
    # One sampler: FewShotEpisodes seeds a numpy generator from the torch one
    # and then draws exactly what sample_episode draws, episode after episode.
    import torch

    from mtlbook.meta import FewShotEpisodes

    labels = np.random.default_rng(7).permutation(np.repeat(np.arange(9), 7))
    classes = [0, 2, 3, 5, 6, 8]
    x = torch.arange(len(labels)).double()[:, None]
    eps = FewShotEpisodes(
        x,
        torch.from_numpy(labels),
        n_way=n_way,
        k_shot=k_shot,
        n_query=n_query,
        classes=classes,
    )
    generator = torch.Generator().manual_seed(seed)
    rng = FewShotEpisodes.numpy_rng(torch.Generator().manual_seed(seed))
    batch = eps.sample_batch(n_tasks, generator)
    for i in range(n_tasks):
        ep = sample_episode(
            labels,
            n_way=n_way,
            k_shot=k_shot,
            q_queries=n_query,
            rng=rng,
            classes=classes,
        )
        assert np.array_equal(batch.info["support_index"][i].numpy(), ep.support)
        assert np.array_equal(batch.info["query_index"][i].numpy(), ep.query)
        assert np.array_equal(batch.info["classes"][i].numpy(), ep.classes)
        assert np.array_equal(batch.y_support[i].numpy(), ep.support_labels)
        assert np.array_equal(batch.y_query[i].numpy(), ep.query_labels)


def test_the_seed_of_a_batch_comes_from_the_torch_generator():
    import torch

    from mtlbook.meta import FewShotEpisodes

    a = FewShotEpisodes.numpy_rng(torch.Generator().manual_seed(0)).integers(2**62)
    b = FewShotEpisodes.numpy_rng(torch.Generator().manual_seed(0)).integers(2**62)
    c = FewShotEpisodes.numpy_rng(torch.Generator().manual_seed(1)).integers(2**62)
    assert a == b != c
