"""The split modules: one accuracy, one episode core, the old import paths kept."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from mtlbook.data import _episode_core as core
from mtlbook.data.episodes import sample_episode
from mtlbook.metrics import accuracy
from mtlbook.transfer.training import make_mlp, model_accuracy, train_classifier

# --- one accuracy ---------------------------------------------------------------


def test_meta_accuracy_is_the_canonical_metric() -> None:
    import mtlbook.meta
    from mtlbook.meta import evaluate

    assert mtlbook.meta.accuracy is accuracy
    assert evaluate.accuracy is accuracy


def test_layer_transfer_accuracy_is_the_model_adapter() -> None:
    lt = importlib.import_module("mtlbook.transfer.layer_transfer")
    assert lt.accuracy is model_accuracy
    assert lt.make_mlp is make_mlp
    assert lt.train_classifier is train_classifier


def test_accuracy_mean_and_sum() -> None:
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    mean = accuracy(logits, labels)
    assert mean.dtype == torch.float32 and mean.shape == () and mean.item() == 0.5
    assert accuracy(logits.double(), labels).dtype == torch.float64
    count = accuracy(logits, labels, reduction="sum")
    assert count.dtype == torch.int64 and count.item() == 2
    with pytest.raises(ValueError, match="reduction"):
        accuracy(logits, labels, reduction="max")


def test_accuracy_refuses_shapes_that_would_broadcast() -> None:
    n = 6
    labels = torch.arange(n) % 2
    # (n,) labels against (n, 1) scores: the arg-max of one column is always 0.
    with pytest.raises(ValueError, match=r"logits has shape \(6, 1\)"):
        accuracy(torch.zeros(n, 1), labels)
    # (n, 1) labels against (n, classes) scores would broadcast to (n, n).
    with pytest.raises(ValueError, match=r"labels has shape \(6, 1\)"):
        accuracy(torch.zeros(n, 3), labels[:, None])
    with pytest.raises(ValueError, match="logits"):
        accuracy(torch.zeros(n), labels)
    with pytest.raises(TypeError, match="labels"):
        accuracy(torch.zeros(n, 3), labels.float())


def test_model_accuracy_counts_exactly_at_any_batch_size() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 5, generator=g)
    y = torch.randint(0, 3, (37,), generator=g)
    model = make_mlp([5, 8, 3], torch.Generator().manual_seed(1))
    model.train()
    expected = (model(x).argmax(dim=1) == y).sum().item() / len(x)
    for batch_size in (1, 5, 37, 1024):
        assert model_accuracy(model, x, y, batch_size=batch_size) == expected
    assert model.training  # the mode is restored
    one_output = nn.Linear(5, 1)
    with pytest.raises(ValueError, match="logits"):
        model_accuracy(one_output, x, y)


def test_importing_layer_transfer_loads_no_matplotlib() -> None:
    code = (
        "import importlib, sys\n"
        "lt = importlib.import_module('mtlbook.transfer.layer_transfer')\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib loaded'\n"
        "assert lt.STYLES['BnB']['marker'] == 'o'\n"
        "from mtlbook.plot import LAYER_TRANSFER_STYLES\n"
        "assert lt.STYLES is LAYER_TRANSFER_STYLES\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_layer_transfer_is_the_plot_module_figure() -> None:
    import matplotlib.pyplot as plt

    from mtlbook.transfer import plot_layer_transfer

    rows = [
        {"condition": "baseB", "n": 0, "seed": 0, "accuracy": 0.9},
        {"condition": "AnB", "n": 1, "seed": 0, "accuracy": 0.8},
    ]
    fig, ax = plt.subplots()
    assert plot_layer_transfer(ax, rows, title="t") is ax
    assert ax.get_title() == "t"
    plt.close(fig)
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        plot_layer_transfer("ax", rows)


# --- the old import paths -------------------------------------------------------


def test_meta_tasks_reexports_the_split_modules() -> None:
    from mtlbook.meta import episodes, sinusoid, task_containers, tasks

    assert tasks.FewShotEpisodes is episodes.FewShotEpisodes
    assert tasks.Sinusoid is sinusoid.Sinusoid
    assert tasks.ReptileSine is sinusoid.ReptileSine
    for name in ("Task", "TaskBatch", "TaskDistribution", "stack_tasks"):
        assert getattr(tasks, name) is getattr(task_containers, name)
    assert sorted(tasks.__all__) == sorted(
        [*task_containers.__all__, *sinusoid.__all__, *episodes.__all__]
    )


# --- one episode core -----------------------------------------------------------


def labelled(n_classes: int = 6, per_class: int = 5) -> np.ndarray:
    return np.random.default_rng(0).permutation(
        np.repeat(np.arange(n_classes), per_class)
    )


def test_draw_episodes_is_draw_episode_repeated() -> None:
    labels = labelled()
    _, per_class = core.class_pools(labels, None, n_way=3, k_shot=2, n_query=2)
    picks, support, query = core.draw_episodes(
        per_class, 4, n_way=3, k_shot=2, n_query=2, rng=np.random.default_rng(7)
    )
    rng = np.random.default_rng(7)
    for i in range(4):
        p, s, q = core.draw_episode(per_class, n_way=3, k_shot=2, n_query=2, rng=rng)
        assert np.array_equal(picks[i], p)
        assert np.array_equal(support[i], s.flatten())
        assert np.array_equal(query[i], q.flatten())


@pytest.mark.parametrize(
    ("sizes", "error", "message"),
    [
        ({"n_way": 7}, ValueError, "n_way=7 but only 6 classes are available"),
        ({"k_shot": 3, "query": 3}, ValueError, "fewer than k_shot \\+ {q} = 6"),
        ({"n_way": 0}, ValueError, "n_way=0 must be at least 1"),
        ({"k_shot": 1.5}, TypeError, "k_shot=1.5 must be an int"),
        ({"query": 0}, ValueError, "{q}=0 must be at least 1"),
        ({"classes": [0, 9]}, ValueError, r"classes \[9\] do not occur in {y}"),
        ({"classes": [0.5, 1.5]}, TypeError, "classes must hold ints"),
    ],
)
def test_both_front_ends_refuse_alike(sizes, error, message) -> None:
    from mtlbook.meta.episodes import FewShotEpisodes

    labels = labelled()
    args = {"n_way": 2, "k_shot": 1, "query": 1, "classes": None, **sizes}
    with pytest.raises(error, match=message.format(q="q_queries", y="labels")):
        sample_episode(
            labels,
            n_way=args["n_way"],
            k_shot=args["k_shot"],
            q_queries=args["query"],
            classes=args["classes"],
            rng=np.random.default_rng(0),
        )
    x = torch.zeros(len(labels), 2)
    with pytest.raises(error, match=message.format(q="n_query", y="y")):
        FewShotEpisodes(
            x,
            torch.from_numpy(labels),
            n_way=args["n_way"],
            k_shot=args["k_shot"],
            n_query=args["query"],
            classes=args["classes"],
        )
