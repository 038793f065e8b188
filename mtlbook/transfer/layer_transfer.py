"""The layer-transfer experiment of Yosinski et al. (2014), for any small network.

Split the classes into halves A and B and train a base network on each. For
every cut depth n = 1..L-1, build a fresh network whose first n layers come
from somewhere, train it on B and measure its test accuracy on B:

- ``BnB``: the first n layers of baseB, frozen (a "selffer" network; a dip
  here means the frozen and the retrained layers were co-adapted);
- ``BnB+``: the same, every layer fine-tuned;
- ``AnB``: the first n layers of baseA, frozen (a fall with n means the upper
  layers are specific to A);
- ``AnB+``: the same, every layer fine-tuned;
- ``random``: the first n layers random and frozen (what copying buys).

The layers above the cut are re-initialised by the model factory. Depth is
counted as in :func:`~mtlbook.transfer.freeze.layers`. The result is a tidy
table, one dict per trained network: ``condition``, ``n``, ``seed``,
``accuracy``; ``baseB`` appears once per seed at ``n = 0``.

This module is the experiment only. The classifier kit it trains and scores
with (:func:`~mtlbook.transfer.training.make_mlp`,
:func:`~mtlbook.transfer.training.train_classifier`, ``accuracy``) lives in
:mod:`mtlbook.transfer.training` and the figure (:func:`plot_layer_transfer`,
``STYLES``) in :mod:`mtlbook.plot`; both are re-exported here, the figure
imported on first use so that importing this module loads no matplotlib.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, SupportsFloat, cast

import numpy as np
import torch
from torch import Tensor, nn

from mtlbook._progress import advance, progress_bar
from mtlbook._validate import (
    check_bool,
    check_callable,
    check_int,
    check_module,
    check_nonempty,
    check_numpy_rng,
    check_torch_generator,
)
from mtlbook.transfer.freeze import BNPolicy, layers, set_cut

# The general classifier kit lives in mtlbook.transfer.training; its names are
# re-exported here because the chapters, benchmarks and tests import them from
# this module (``accuracy`` is training.model_accuracy, the model-level
# adapter of the package's one metric, mtlbook.metrics.accuracy).
from mtlbook.transfer.training import (
    _check_xy,
    make_mlp,  # noqa: F401 (re-exported)
    model_accuracy,
    train_classifier,
)

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

# Test accuracy of a model, a Python float: the old name of
# mtlbook.transfer.training.model_accuracy, kept for the chapters and benchmarks.
accuracy = model_accuracy

#: The transferred conditions, in the order of Yosinski et al.'s Fig. 2.
CONDITIONS = ("BnB", "BnB+", "AnB", "AnB+", "random")
_SOURCE = {"BnB": "B", "BnB+": "B", "AnB": "A", "AnB+": "A", "random": None}
_FROZEN = {"BnB": True, "BnB+": False, "AnB": True, "AnB+": False, "random": True}

ModelFactory = Callable[[torch.Generator], nn.Module]
Row = dict[str, object]


class TaskData(NamedTuple):
    """One class half. x_*: (n, ...) inputs; y_*: (n,) integer class labels."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


class TrainFn(Protocol):
    """Trains ``model`` in place on x: (n, ...), y: (n,) within a step budget."""

    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        steps: int,
        generator: torch.Generator,
    ) -> object:
        """Train ``model``; a returned list of float losses feeds the progress bar."""
        ...


def split_classes(
    labels: Tensor | np.ndarray | Sequence[int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split the distinct classes of ``labels`` at random into halves A and B.

    labels: (n,) integer class labels. With an odd number of classes one
    class is left out, so both halves have the same size (one factory builds
    both base networks). Returns (classes_a, classes_b), each sorted, (k,).
    """
    check_numpy_rng("rng", rng)
    array = labels.cpu().numpy() if isinstance(labels, Tensor) else labels
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(
            f"labels must hold integer class labels, got dtype {array.dtype}; "
            "pass the class ids, e.g. labels.long()"
        )
    if array.ndim != 1:
        raise ValueError(
            f"labels must be a 1-D array of integer class labels, got shape "
            f"{array.shape}"
        )
    classes = np.unique(array)
    if len(classes) < 2:
        raise ValueError(
            f"labels has {len(classes)} distinct classes, so one half would be "
            "empty; split_classes needs at least 2 classes"
        )
    half = len(classes) // 2
    order = rng.permutation(classes)
    return np.sort(order[:half]), np.sort(order[half : 2 * half])


def select_classes(
    x: Tensor, y: Tensor, classes: Sequence[int] | np.ndarray
) -> tuple[Tensor, Tensor]:
    """The examples of ``classes``. x: (n, ...), y: (n,) -> (m, ...), (m,)."""
    _check_xy("x", "y", x, y, floating=False)
    wanted = np.asarray(classes)
    check_nonempty("classes", wanted, "class ids to keep")
    keep = torch.isin(y, torch.as_tensor(wanted, device=y.device))
    if len(y) and not keep.any():
        raise ValueError(
            f"classes={wanted.tolist()} selects no examples: y holds the classes "
            f"{y.unique().tolist()[:20]}; pick classes that occur in y"
        )
    return x[keep], y[keep]


def copy_layers(source: nn.Module, target: nn.Module, depth: int) -> None:
    """Copy the parameters and buffers of ``layers(source)[:depth]`` into ``target``.

    Both models must have the same layers (names and shapes); BatchNorm
    running statistics travel with their layer.
    """
    check_module("source", source)
    check_module("target", target)
    src_layers, dst_layers = layers(source), layers(target)
    if src_layers != dst_layers:
        raise ValueError(
            f"source and target have different layers ({src_layers} vs "
            f"{dst_layers}); build both with the same model factory"
        )
    _check_cut("depth", depth, len(src_layers), low=0, high=len(src_layers))
    src_modules, dst_modules = (
        dict(source.named_modules()),
        dict(target.named_modules()),
    )
    with torch.no_grad():
        for name in (n for layer in src_layers[:depth] for n in layer):
            src, dst = src_modules[name], dst_modules[name]
            pairs = [
                *zip(
                    _own(src.named_parameters), _own(dst.named_parameters), strict=True
                ),
                *zip(_own(src.named_buffers), _own(dst.named_buffers), strict=True),
            ]
            for (sname, s), (_, d) in pairs:
                if s.shape != d.shape:
                    raise ValueError(
                        f"layer {name!r}.{sname} has shape {tuple(s.shape)} in the "
                        f"source but {tuple(d.shape)} in the target"
                    )
                d.copy_(s)


def build_condition(
    condition: str,
    n: int,
    factory: ModelFactory,
    generator: torch.Generator,
    *,
    base_a: nn.Module,
    base_b: nn.Module,
    bn: BNPolicy = "frozen",
) -> nn.Module:
    """A fresh ``factory`` network with its first n layers set up for ``condition``.

    Copies ``layers[:n]`` from base_b (BnB, BnB+) or base_a (AnB, AnB+), or
    keeps them random ("random"), then freezes them (BnB, AnB, random) with
    :func:`~mtlbook.transfer.freeze.set_cut` or leaves all layers trainable (the
    "+" conditions). The model is on the device of ``base_b``, ready to train.
    """
    if condition not in CONDITIONS:
        raise ValueError(
            f"unknown condition {condition!r}; use one of {list(CONDITIONS)}"
        )
    check_callable("factory", factory, "lambda g: make_mlp([64, 32, 5], g)")
    check_torch_generator("generator", generator)
    check_module("base_a", base_a)
    check_module("base_b", base_b)
    model = factory(generator).to(_device_of(base_b))
    _check_cut("n", n, len(layers(model)))
    source = {"A": base_a, "B": base_b}.get(_SOURCE[condition] or "")
    if source is not None:
        copy_layers(source, model, n)
    set_cut(model, n if _FROZEN[condition] else 0, bn=bn)
    return model


def layer_transfer(
    factory: ModelFactory,
    data_a: TaskData | Sequence[Tensor],
    data_b: TaskData | Sequence[Tensor],
    *,
    steps: int,
    seeds: Sequence[int],
    train: TrainFn = train_classifier,
    depths: Sequence[int] | None = None,
    conditions: Sequence[str] = CONDITIONS,
    bn: BNPolicy = "frozen",
    device: torch.device | str | None = None,
    inspect: Callable[[Row, nn.Module], None] | None = None,
    progress: bool = False,
) -> list[Row]:
    """Run the layer-transfer experiment; one row per trained network.

    ``factory(generator)`` builds the network (same architecture every call,
    one output per class of a half). ``data_a``/``data_b`` hold the halves'
    train and test tensors with their original labels (disjoint class sets of
    equal size); labels are mapped to 0..k-1 within each half. Each network
    gets ``train(model, x, y, steps=steps, generator=g)``. ``depths`` defaults
    to 1..L-1. ``inspect(row, model)``, if given, sees every trained network
    (baseA's row has n = 0 and its accuracy on A). ``progress=True`` shows a
    bar on stderr over the networks, with the last one's test accuracy and,
    when ``train`` returns the losses (as ``train_classifier`` does), its final
    training loss.

    Returns: rows {"condition", "n", "seed", "accuracy"} (test accuracy on B),
    baseB once per seed at n = 0, each other condition once per (n, seed).
    """
    check_callable("factory", factory, "lambda g: make_mlp([64, 32, 5], g)")
    check_callable("train", train, "train_classifier")
    check_bool("progress", progress)
    a = _task_data("data_a", data_a)
    b = _task_data("data_b", data_b)
    _check_halves(a, b)
    a, b = _relabel(a), _relabel(b)
    steps = check_int("steps", steps, low=1, example=300)
    seeds = list(seeds)
    for i, seed in enumerate(seeds):
        check_int(f"seeds[{i}]", seed, low=0)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} must be a non-empty list of distinct ints")
    check_nonempty("conditions", conditions, f"conditions {list(CONDITIONS)}")
    if depths is not None:
        check_nonempty("depths", depths, "cut depths (or depths=None for 1..L-1)")
    for condition in conditions:
        if condition not in CONDITIONS:
            raise ValueError(
                f"unknown condition {condition!r} in conditions; "
                f"use a subset of {list(CONDITIONS)}"
            )
    device = torch.device(device) if device is not None else torch.device("cpu")
    a, b = _to(a, device), _to(b, device)
    n_layers = len(layers(factory(torch.Generator().manual_seed(0))))
    if n_layers < 2:
        raise ValueError(
            f"the factory's model has {n_layers} layer(s); layer transfer needs "
            "at least 2 (a cut between them)"
        )
    depths = list(range(1, n_layers)) if depths is None else list(depths)
    for n in depths:
        _check_cut("n", n, n_layers)

    rows: list[Row] = []
    jobs = [(seed, n, c) for seed in seeds for n in depths for c in conditions]
    bar = progress_bar(progress, len(seeds) * 2 + len(jobs), "layer_transfer", "net")
    bases: dict[int, tuple[nn.Module, nn.Module]] = {}
    for seed in seeds:
        trained = []
        for index, (name, half) in enumerate((("baseA", a), ("baseB", b))):
            gen = _generator(seed, index, 0)
            model = factory(gen).to(device)
            result = train(
                model, half.x_train, half.y_train, steps=steps, generator=gen
            )
            row: Row = {
                "condition": name,
                "n": 0,
                "seed": seed,
                "accuracy": model_accuracy(model, half.x_test, half.y_test),
            }
            if name == "baseB":
                rows.append(row)
            if inspect is not None:
                inspect(row, model)
            trained.append(model)
            advance(bar, 1, **_shown(row, result))
        bases[seed] = (trained[0], trained[1])
    for seed, n, condition in jobs:
        gen = _generator(seed, 2 + CONDITIONS.index(condition), n)
        base_a, base_b = bases[seed]
        model = build_condition(
            condition, n, factory, gen, base_a=base_a, base_b=base_b, bn=bn
        )
        result = train(model, b.x_train, b.y_train, steps=steps, generator=gen)
        row = {
            "condition": condition,
            "n": n,
            "seed": seed,
            "accuracy": model_accuracy(model, b.x_test, b.y_test),
        }
        rows.append(row)
        if inspect is not None:
            inspect(row, model)
        advance(bar, 1, **_shown(row, result))
    bar.close()
    return rows


def summarize(
    rows: Iterable[Mapping[str, object]],
    by: Sequence[str] = ("condition", "n"),
    value: str = "accuracy",
) -> list[Row]:
    """Mean and sample standard deviation (ddof=1; 0 for one row) of ``value``.

    Groups ``rows`` by the keys ``by``, in order of first appearance.
    Returns: one row per group with the ``by`` keys, "mean", "std", "count".
    """
    if isinstance(by, str) or not isinstance(by, Sequence):
        raise TypeError(
            f"by={by!r} must be a list of keys, e.g. by=('condition', 'n'); "
            "for one key write by=('condition',)"
        )
    groups: dict[tuple[object, ...], list[float]] = {}
    for row in rows:
        missing = [k for k in (*by, value) if k not in row]
        if missing:
            raise ValueError(f"a row lacks the keys {missing}: {dict(row)!r}")
        groups.setdefault(tuple(row[k] for k in by), []).append(
            float(cast(SupportsFloat, row[value]))
        )
    if not groups:
        raise ValueError("rows is empty; nothing to summarize")
    out = []
    for key, values in groups.items():
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        out.append(
            {
                **dict(zip(by, key, strict=True)),
                "mean": float(np.mean(values)),
                "std": std,
                "count": len(values),
            }
        )
    return out


def plot_layer_transfer(
    ax: plt.Axes,
    rows: Iterable[Mapping[str, object]],
    *,
    title: str = "Layer transfer",
) -> plt.Axes:
    """Yosinski et al.'s Fig. 2: accuracy on B against the cut depth n.

    The figure is drawn by :func:`mtlbook.plot.plot_layer_transfer` (imported
    here on call, so importing this module does not load matplotlib): one
    small dot per seed, a line through the means of each condition, and baseB
    as a dashed horizontal reference.
    """
    from mtlbook.plot import plot_layer_transfer as draw

    return draw(ax, rows, title=title)


def __getattr__(name: str) -> object:
    # STYLES, the figure's colours and markers, lives in mtlbook.plot (as
    # LAYER_TRANSFER_STYLES); it is looked up on first use, not at import.
    if name == "STYLES":
        from mtlbook.plot import LAYER_TRANSFER_STYLES

        return LAYER_TRANSFER_STYLES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- internals --------------------------------------------------------------


def _own(
    named: Callable[..., Iterable[tuple[str, Tensor]]],
) -> list[tuple[str, Tensor]]:
    return list(named(recurse=False))


def _generator(seed: int, stream: int, n: int) -> torch.Generator:
    """An independent CPU generator per (seed, network role, cut depth)."""
    state = np.random.SeedSequence([seed, stream, n]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _shown(row: Row, result: object) -> dict[str, float]:
    """What the bar shows of a trained network: its accuracy, its final loss."""
    shown = {"acc": float(cast(SupportsFloat, row["accuracy"]))}
    if isinstance(result, Sequence) and result and isinstance(result[-1], float):
        shown["loss"] = result[-1]
    return shown


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _check_cut(
    name: str, n: object, n_layers: int, *, low: int = 1, high: int | None = None
) -> None:
    high = n_layers - 1 if high is None else high
    n = check_int(name, n)
    if not low <= n <= high:
        raise ValueError(
            f"cut depth {name}={n} is beyond the model: it has {n_layers} layers, "
            f"so use {name} in {low}..{high}"
        )


def _task_data(arg: str, data: object) -> TaskData:
    if not isinstance(data, Sequence) or len(data) != 4:
        raise TypeError(
            f"{arg} must be TaskData(x_train, y_train, x_test, y_test) or a "
            "4-tuple of tensors"
        )
    task = TaskData(*data)
    for split in ("train", "test"):
        x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
        _check_xy(f"{arg}.x_{split}", f"{arg}.y_{split}", x, y, finite=True)
        if len(y) == 0:
            raise ValueError(
                f"{arg} has an empty {split} split; give every half train and "
                "test examples (check select_classes against the labels)"
            )
    return task


def _check_halves(a: TaskData, b: TaskData) -> None:
    classes_a = set(torch.cat([a.y_train, a.y_test]).unique().tolist())
    classes_b = set(torch.cat([b.y_train, b.y_test]).unique().tolist())
    shared = classes_a & classes_b
    if shared:
        raise ValueError(
            f"data_a and data_b share the classes {sorted(shared)}; A and B must "
            "be disjoint halves (use split_classes and select_classes)"
        )
    if len(classes_a) != len(classes_b):
        raise ValueError(
            f"data_a has {len(classes_a)} classes but data_b {len(classes_b)}; "
            "one factory builds both base networks, so give equal halves"
        )


def _relabel(task: TaskData) -> TaskData:
    """Map the half's class ids to 0..k-1 (in sorted order)."""
    classes = torch.cat([task.y_train, task.y_test]).unique()
    return task._replace(
        y_train=torch.searchsorted(classes, task.y_train),
        y_test=torch.searchsorted(classes, task.y_test),
    )


def _to(task: TaskData, device: torch.device) -> TaskData:
    return TaskData(*(t.to(device) for t in task))
