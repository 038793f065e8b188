"""Facts about mtlbook.meta.tasks.

- The MAML sinusoid draws A in [0.1, 5], φ in [0, π], x in [−5, 5] and returns
  y = A·sin(x − φ) exactly; the Reptile sine draws b in [0, 2π], a support of
  distinct grid points and the whole grid as query, with y = a·sin(x + b).
- Sampling is a pure function of the generator's state: the same seed gives the
  same tasks, another seed other tasks, float32 and float64 the same numbers.
- An N-way K-shot episode has n_way classes of its split only, relabelled
  0..n_way-1, k_shot support and n_query query rows per class, no row twice;
  two splits of the same arrays never share a class.
- Impossible episodes, wrong shapes, wrong types and bad ranges are refused
  with an error that names the argument.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtlbook.meta.tasks import (
    FewShotEpisodes,
    ReptileSine,
    Sinusoid,
    Task,
    TaskBatch,
    stack_tasks,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same_batch(a: TaskBatch, b: TaskBatch) -> bool:
    fields = ("x_support", "y_support", "x_query", "y_query")
    return all(torch.equal(getattr(a, f), getattr(b, f)) for f in fields) and all(
        torch.equal(a.info[k], b.info[k]) for k in a.info
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 30),
    k_support=st.integers(1, 12),
    k_query=st.integers(1, 12),
)
def test_sinusoid_respects_the_maml_ranges(seed, n, k_support, k_query) -> None:
    b = Sinusoid(k_support, k_query, dtype=torch.float64).sample_batch(n, gen(seed))
    a, p = b.info["amplitude"], b.info["phase"]
    assert b.x_support.shape == b.y_support.shape == (n, k_support, 1)
    assert b.x_query.shape == b.y_query.shape == (n, k_query, 1)
    assert a.shape == p.shape == (n,)
    assert ((a >= 0.1) & (a <= 5.0)).all() and ((p >= 0) & (p <= math.pi)).all()
    for x, y in ((b.x_support, b.y_support), (b.x_query, b.y_query)):
        assert ((x >= -5) & (x <= 5)).all()
        torch.testing.assert_close(
            y, a[:, None, None] * torch.sin(x - p[:, None, None])
        )


def test_sinusoid_covers_its_ranges() -> None:
    # Uniform draws: 2,000 tasks fill the ranges to within 1%.
    b = Sinusoid(dtype=torch.float64).sample_batch(2000, gen(0))
    assert b.info["amplitude"].min() < 0.15 and b.info["amplitude"].max() > 4.95
    assert b.info["phase"].min() < 0.03 and b.info["phase"].max() > math.pi - 0.03
    assert b.x_support.min() < -4.95 and b.x_support.max() > 4.95


@pytest.mark.parametrize("dist", [Sinusoid(), ReptileSine()])
def test_sampling_is_a_function_of_the_generator(dist) -> None:
    assert same_batch(dist.sample_batch(7, gen(3)), dist.sample_batch(7, gen(3)))
    assert not same_batch(dist.sample_batch(7, gen(3)), dist.sample_batch(7, gen(4)))
    g = gen(5)
    first, second = dist.sample_batch(7, g), dist.sample_batch(7, g)
    assert not same_batch(first, second)  # the generator advances


def test_float32_and_float64_tasks_hold_the_same_numbers() -> None:
    b32 = Sinusoid(dtype=torch.float32).sample_batch(5, gen(1))
    b64 = Sinusoid(dtype=torch.float64).sample_batch(5, gen(1))
    assert b32.x_query.dtype == torch.float32 and b64.x_query.dtype == torch.float64
    torch.testing.assert_close(b32.y_query, b64.y_query.float(), rtol=0, atol=0)


def test_one_task_is_the_first_of_a_batch_of_one() -> None:
    t = Sinusoid().sample(gen(2))
    assert isinstance(t, Task) and t.x_support.shape == (10, 1)
    assert torch.equal(t.x_query, Sinusoid().sample_batch(1, gen(2)).x_query[0])


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 50))
def test_reptile_sine_draws_distinct_grid_points(seed, k) -> None:
    dist = ReptileSine(k_support=k, dtype=torch.float64)
    b = dist.sample_batch(4, gen(seed))
    grid = torch.linspace(-5, 5, 50, dtype=torch.float64)
    a, p = b.info["amplitude"][:, None, None], b.info["phase"][:, None, None]
    assert ((p >= 0) & (p <= 2 * math.pi)).all()
    assert b.x_query.shape == (4, 50, 1)
    assert torch.equal(b.x_query[:, :, 0], grid.expand(4, -1))
    for xs in b.x_support[..., 0]:
        assert torch.isin(xs, grid).all() and len(xs.unique()) == k
    torch.testing.assert_close(b.y_support, a * torch.sin(b.x_support + p))
    torch.testing.assert_close(b.y_query, a * torch.sin(b.x_query + p))


def test_task_batch_round_trips_through_stack_tasks() -> None:
    b = Sinusoid().sample_batch(4, gen(0))
    assert len(b) == 4
    assert same_batch(stack_tasks([b[i] for i in range(4)]), b)
    assert torch.equal(b[-1].x_support, b.x_support[3])
    with pytest.raises(IndexError, match="out of range"):
        b[4]


# --- few-shot episodes ----------------------------------------------------------


def labelled(n_classes: int = 10, per_class: int = 6) -> tuple[torch.Tensor, ...]:
    y = torch.arange(n_classes).repeat_interleave(per_class)
    # Each row records its own label and row number, so episodes can be audited.
    x = torch.stack([y.double(), torch.arange(len(y)).double()], dim=1)
    return x, y


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_way=st.integers(1, 5),
    k_shot=st.integers(1, 3),
    n_query=st.integers(1, 3),
)
def test_episodes_are_balanced_relabelled_and_disjoint(seed, n_way, k_shot, n_query):
    x, y = labelled()
    train_classes = [0, 1, 2, 3, 4, 5]
    eps = FewShotEpisodes(
        x, y, n_way=n_way, k_shot=k_shot, n_query=n_query, classes=train_classes
    )
    b = eps.sample_batch(6, gen(seed))
    assert b.x_support.shape == (6, n_way * k_shot, 2)
    assert b.x_query.shape == (6, n_way * n_query, 2)
    for i in range(6):
        t = b[i]
        classes = t.info["classes"]
        assert len(classes.unique()) == n_way
        assert torch.isin(classes, torch.tensor(train_classes)).all()
        # Episode label j always means original class classes[j].
        assert torch.equal(t.x_support[:, 0].long(), classes[t.y_support])
        assert torch.equal(t.x_query[:, 0].long(), classes[t.y_query])
        assert torch.equal(t.y_support.bincount(), torch.full((n_way,), k_shot))
        assert torch.equal(t.y_query.bincount(), torch.full((n_way,), n_query))
        rows = torch.cat([t.x_support[:, 1], t.x_query[:, 1]]).long()
        assert len(rows.unique()) == len(rows)  # no example twice
        assert torch.equal(
            rows, torch.cat([t.info["support_index"], t.info["query_index"]])
        )


def test_episodes_never_mix_splits() -> None:
    x, y = labelled(n_classes=12)
    train, test = list(range(8)), list(range(8, 12))
    for classes in (train, test):
        eps = FewShotEpisodes(x, y, n_way=4, k_shot=2, n_query=2, classes=classes)
        b = eps.sample_batch(200, gen(0))
        seen = torch.cat([b.x_support[..., 0], b.x_query[..., 0]], dim=1).long()
        assert set(seen.unique().tolist()) == set(classes)  # all used, none other


def test_episodes_are_reproducible() -> None:
    x, y = labelled()
    eps = FewShotEpisodes(x, y, n_way=3, k_shot=2, n_query=1)
    assert same_batch(eps.sample_batch(5, gen(9)), eps.sample_batch(5, gen(9)))
    assert not same_batch(eps.sample_batch(5, gen(9)), eps.sample_batch(5, gen(10)))


# --- bad input -------------------------------------------------------------------


def test_impossible_episodes_are_refused() -> None:
    x, y = labelled(n_classes=4, per_class=3)
    with pytest.raises(ValueError, match="n_way=5 but only 4 classes are available"):
        FewShotEpisodes(x, y, n_way=5, k_shot=1, n_query=1)
    with pytest.raises(ValueError, match="fewer than k_shot \\+ n_query = 4"):
        FewShotEpisodes(x, y, n_way=2, k_shot=2, n_query=2)
    with pytest.raises(ValueError, match=r"classes \[7\] do not occur in y"):
        FewShotEpisodes(x, y, n_way=2, k_shot=1, n_query=1, classes=[0, 7])
    with pytest.raises(ValueError, match="n_way=0"):
        FewShotEpisodes(x, y, n_way=0, k_shot=1, n_query=1)


def test_bad_labelled_data_is_refused() -> None:
    x, y = labelled()
    with pytest.raises(ValueError, match="one label per row"):
        FewShotEpisodes(x[:-1], y, n_way=2, k_shot=1, n_query=1)
    with pytest.raises(TypeError, match="integer class labels"):
        FewShotEpisodes(x, y.double(), n_way=2, k_shot=1, n_query=1)
    with pytest.raises(ValueError, match="NaN or inf"):
        FewShotEpisodes(x.clone().fill_(float("nan")), y, n_way=2, k_shot=1, n_query=1)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        FewShotEpisodes(x.numpy(), y, n_way=2, k_shot=1, n_query=1)


def test_bad_sampler_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="k_support=0"):
        Sinusoid(k_support=0)
    with pytest.raises(TypeError, match=r"k_query=2\.5 must be an int"):
        Sinusoid(k_query=2.5)
    with pytest.raises(ValueError, match=r"amplitude=.*low < high"):
        Sinusoid(amplitude=(5.0, 0.1))
    with pytest.raises(ValueError, match="k_support=60 > n_grid=50"):
        ReptileSine(k_support=60)
    with pytest.raises(TypeError, match=r"torch\.Generator"):
        Sinusoid().sample_batch(3, 0)
    with pytest.raises(ValueError, match="n_tasks=0"):
        Sinusoid().sample_batch(0, gen(0))


def test_malformed_tasks_are_refused() -> None:
    x, y = torch.zeros(5, 1), torch.zeros(5, 1)
    with pytest.raises(ValueError, match="one target per input"):
        Task(x, y[:4], x, y)
    with pytest.raises(ValueError, match="same shape"):
        Task(x, y, torch.zeros(5, 2), y)
    with pytest.raises(ValueError, match="x_query is empty"):
        Task(x, y, x[:0], y[:0])
    with pytest.raises(TypeError, match=r"y_query must be a torch\.Tensor"):
        Task(x, y, x, y.numpy())
    with pytest.raises(ValueError, match="different support/query shapes"):
        stack_tasks([Task(x, y, x, y), Task(x[:3], y[:3], x, y)])
    with pytest.raises(ValueError, match="tasks is empty"):
        stack_tasks([])


# --- glyph episodes --------------------------------------------------------------


@pytest.fixture(scope="module")
def few_glyphs():
    """Four instances of every glyph class: about 4,500 images, drawn in seconds."""
    from mtlbook.data.glyphs import generate_glyphs

    return generate_glyphs(n_per_class=4, seed=0)


@pytest.mark.parametrize("split", ["train", "val", "test", "evaluation"])
def test_glyph_episodes_hold_only_their_split(few_glyphs, split) -> None:
    from mtlbook.data.glyphs import standard_split
    from mtlbook.meta import glyph_episodes

    eps = glyph_episodes(split, n_way=5, k_shot=1, n_query=3, glyphs=few_glyphs)
    b = eps.sample_batch(40, gen(1))
    assert b.x_support.shape == (40, 5, 1, 28, 28)
    assert b.x_query.shape == (40, 15, 1, 28, 28)
    assert b.x_support.dtype == torch.float32
    assert float(b.x_query.min()) >= 0.0 and float(b.x_query.max()) <= 1.0
    mine = torch.from_numpy(standard_split()[split])
    assert torch.isin(b.info["classes"], mine).all()
    # Every image shown is an instance of the class its episode label names.
    for part in ("support", "query"):
        rows = b.info[f"{part}_index"]
        labels = getattr(b, f"y_{part}")
        assert torch.equal(eps.y[rows], torch.gather(b.info["classes"], 1, labels))
        assert torch.equal(getattr(b, f"x_{part}"), eps.x[rows])
    # Only the split's images are there to be drawn at all.
    assert set(eps.y.unique().tolist()) == set(mine.tolist())


def test_evaluation_and_training_episodes_share_no_class(few_glyphs) -> None:
    from mtlbook.meta import glyph_episodes

    seen = {}
    for split in ("train", "evaluation"):
        eps = glyph_episodes(split, n_way=20, k_shot=2, n_query=2, glyphs=few_glyphs)
        seen[split] = set(
            eps.sample_batch(30, gen(0)).info["classes"].flatten().tolist()
        )
    assert seen["train"] and seen["evaluation"]
    assert not seen["train"] & seen["evaluation"]


def test_glyph_episodes_are_a_function_of_the_generator(few_glyphs) -> None:
    from mtlbook.meta import glyph_episodes

    eps = glyph_episodes("evaluation", n_way=5, k_shot=2, n_query=1, glyphs=few_glyphs)
    again = glyph_episodes(
        "evaluation", n_way=5, k_shot=2, n_query=1, glyphs=few_glyphs
    )
    assert same_batch(eps.sample_batch(4, gen(3)), again.sample_batch(4, gen(3)))
    assert not same_batch(eps.sample_batch(4, gen(3)), eps.sample_batch(4, gen(4)))


def test_impossible_glyph_episodes_are_refused(few_glyphs) -> None:
    from mtlbook.data.glyphs import standard_split
    from mtlbook.meta import glyph_episodes

    n_eval = len(standard_split()["evaluation"])
    with pytest.raises(ValueError, match=rf"'evaluation' split \({n_eval} classes"):
        glyph_episodes(
            "evaluation", n_way=n_eval + 1, k_shot=1, n_query=1, glyphs=few_glyphs
        )
    # Four instances per class here (twenty in load_glyphs): 2 + 3 > 4.
    with pytest.raises(ValueError, match=r"k_shot \+ n_query = 5"):
        glyph_episodes("val", n_way=5, k_shot=2, n_query=3, glyphs=few_glyphs)
    with pytest.raises(ValueError, match="split='background' is unknown"):
        glyph_episodes("background", n_way=5, k_shot=1, n_query=1, glyphs=few_glyphs)
    with pytest.raises(TypeError, match="GlyphSet"):
        glyph_episodes("train", n_way=5, k_shot=1, n_query=1, glyphs=np.zeros(3))
    with pytest.raises(ValueError, match="k_shot=0"):
        glyph_episodes("train", n_way=5, k_shot=0, n_query=1, glyphs=few_glyphs)
