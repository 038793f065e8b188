"""Task grouping by lookahead affinity (Fifty et al. 2021) on the glyph attributes.

Fifty et al. measure, during one multi-task run, how a step on task i's loss
changes task j's loss (the lookahead affinity Z_{i→j}), average it over
training, and train the groups of tasks with the largest affinity onto their
members as separate models. Protocol (ours; the paper uses CelebA and
Taskonomy and gives each group a full training run):

* data: the glyphs of 50 training-split classes, 20 instances each, split by
  image 60/20/20 (``glyph_attribute_tasks``, the results table's data); the
  five tasks character, family, weight, slant, rotation (3 bins);
* model: the results table's conv trunk (16, 32 channels, 128 features), all of
  it shared, one linear head per task; the same initial weights for every
  model of a seed (the group models take the trunk and their tasks' heads);
* all-in-one: every task, equal weights (Σ_k L_k), STEPS = 600 Adam steps
  (60 epochs, lr 1e-3, batch 64); every AFFINITY_EVERY = 5 steps, before the
  update, the lookahead affinity on that step's batch, with a lookahead SGD
  step of rate LOOKAHEAD_LR = 1e-3, the run's own rate (in a pilot on seed 0,
  at 0.1 a task's step raised its own loss: Z then no longer measures the
  local interaction); Z is the mean of those matrices;
* grouping: the partition into two groups with the largest total affinity
  (``best_grouping``: each task scores the mean affinity onto it from its
  group-mates, a task alone scores 0), chosen from each seed's own Z;
* grouped: one model per group, trained the same way, at equal compute: a
  group of n tasks gets round(STEPS · n / K) steps, so the groups together
  take STEPS trunk passes of the same batches' size, as the all-in-one model
  (the affinity measurements, TAG's search cost, are not counted);
* control: the partition with the *smallest* total affinity, trained the same
  way, to see whether the affinity ranks groupings at all.

Score: mean test accuracy over the five tasks, each task read from the model
that trained it. 5 seeds, one torch thread. Writes
``benchmarks/results/task_affinity_glyphs.json``::

    .venv/bin/python benchmarks/task_affinity_glyphs.py
    .venv/bin/python benchmarks/task_affinity_glyphs.py --smoke --out smoke.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import (
    Bench,
    add_common_arguments,
    machine,
    parse_arguments,
    pin_threads,
    write_json,
)
from torch import Tensor, nn
from torch.nn import functional as F

from mtlbook.data.glyph_attributes import glyph_attribute_tasks
from mtlbook.data.glyphs import load_glyphs, standard_split
from mtlbook.multitask.affinity import (
    best_grouping,
    grouping_score,
    hard_sharing_losses,
    lookahead_affinity,
)
from mtlbook.multitask.models import HardSharing

RESULT = Path(__file__).parent / "results" / "task_affinity_glyphs.json"
SEEDS = tuple(range(5))
SMOKE_SEEDS = (0,)
TASKS = ("character", "family", "weight", "slant", "rotation")
STEPS, SMOKE_STEPS = 600, 6
AFFINITY_EVERY, SMOKE_AFFINITY_EVERY = 5, 2
BATCH, LR = 64, 1e-3
LOOKAHEAD_LR = LR  # the run's own rate; Z stays near η⟨g_i, g_j⟩ / L_j
N_GROUPS = 2
N_CLASSES, DATA_SEED = 50, 0


def load() -> dict[str, Any]:
    """Train/val/test tensors: x and one target per task (in TASKS order)."""
    classes = standard_split()["train"][:N_CLASSES]
    data = glyph_attribute_tasks(
        load_glyphs(), classes, rng=np.random.default_rng(DATA_SEED)
    )
    x = torch.from_numpy(data.x)
    out: dict[str, Any] = {"n_classes": [data.n_classes[t] for t in TASKS]}
    for split in ("train", "val", "test"):
        index = getattr(data, split)
        out[split] = (
            x[index],
            [torch.from_numpy(data.targets[t])[index] for t in TASKS],
        )
    return out


def initial_model(data: dict[str, Any], seed: int) -> HardSharing:
    """The all-in-one model at initialisation; every model of a seed starts here."""
    torch.manual_seed(seed)
    layers = [
        nn.Sequential(nn.Conv2d(1, 16, 3, stride=2), nn.ReLU()),
        nn.Sequential(nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(), nn.Flatten()),
        nn.Sequential(nn.Linear(32 * 6 * 6, 128), nn.ReLU()),
    ]
    heads = [nn.Linear(128, c) for c in data["n_classes"]]
    return HardSharing(layers, heads, shared_depth=len(layers))


def group_model(start: HardSharing, group: tuple[int, ...]) -> HardSharing:
    """A copy of ``start``'s trunk with the heads of the tasks in ``group``."""
    full = copy.deepcopy(start)
    layers = list(full.trunk)
    return HardSharing(layers, [full.heads[k] for k in group], len(layers))


def batches(x: Tensor, targets: list[Tensor], generator: torch.Generator):
    """Endless shuffled batches of BATCH, a new order each epoch."""
    while True:
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), BATCH):
            index = order[i : i + BATCH]
            yield x[index], [t[index] for t in targets]


def train(
    model: HardSharing,
    data: dict[str, Any],
    group: tuple[int, ...],
    steps: int,
    seed: int,
    affinity_every: int | None = None,
) -> list[Tensor]:
    """Adam on Σ_k L_k for ``steps`` steps; the affinity matrices measured."""
    x, targets = data["train"]
    stream = batches(
        x, [targets[k] for k in group], torch.Generator().manual_seed(seed)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fns = [F.cross_entropy] * len(group)
    measured = []
    for step in range(steps):
        xb, tb = next(stream)
        if affinity_every and step % affinity_every == 0:
            fn, shared = hard_sharing_losses(model, xb, tb, loss_fns)
            measured.append(lookahead_affinity(fn, shared, LOOKAHEAD_LR))
        loss = sum(f(o, t) for f, o, t in zip(loss_fns, model(xb), tb, strict=True))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()
    return measured


@torch.no_grad()
def accuracies(model: HardSharing, data: dict[str, Any], group, split: str):
    """Accuracy per task of ``group`` (in its order) on ``split``."""
    x, targets = data[split]
    outputs = model(x)
    return [
        float((out.argmax(1) == targets[k]).double().mean())
        for out, k in zip(outputs, group, strict=True)
    ]


def group_steps(groups: tuple[tuple[int, ...], ...], steps: int) -> list[int]:
    """round(steps · n / K) per group of n tasks, summing to exactly ``steps``."""
    K = sum(len(g) for g in groups)
    share = [round(steps * len(g) / K) for g in groups]
    share[-1] = steps - sum(share[:-1])
    return share


def train_groups(start, data, groups, steps, seed) -> list[float]:
    """Test accuracy per task (TASKS order), each from its group's model."""
    acc = [0.0] * len(TASKS)
    for g, (group, n) in enumerate(
        zip(groups, group_steps(groups, steps), strict=True)
    ):
        model = group_model(start, group)
        train(model, data, group, n, 100 * seed + g + 1)
        for k, a in zip(group, accuracies(model, data, group, "test"), strict=True):
            acc[k] = a
    return acc


def run(seed: int, smoke: bool) -> dict[str, Any]:
    data = load()
    steps = SMOKE_STEPS if smoke else STEPS
    every = SMOKE_AFFINITY_EVERY if smoke else AFFINITY_EVERY
    start = initial_model(data, seed)
    joint = group_model(start, tuple(range(len(TASKS))))
    everyone = tuple(range(len(TASKS)))
    measured = train(joint, data, everyone, steps, 100 * seed, every)
    Z = torch.stack(measured).mean(0)
    best = best_grouping(Z, N_GROUPS)
    worst = best_grouping(-Z, N_GROUPS)  # the score is linear in Z
    return {
        "seed": seed,
        "affinity": Z.tolist(),
        "affinity_measurements": len(measured),
        "best_grouping": [list(g) for g in best],
        "best_score": grouping_score(Z, best),
        "worst_grouping": [list(g) for g in worst],
        "worst_score": grouping_score(Z, worst),
        "group_steps": group_steps(best, steps),
        "all_in_one": accuracies(joint, data, everyone, "test"),
        "grouped": train_groups(start, data, best, steps, seed),
        "worst_grouped": train_groups(start, data, worst, steps, seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    seeds = SMOKE_SEEDS if args.smoke else SEEDS
    clock = time.perf_counter()
    bench = Bench("task_affinity_glyphs", args.out, resume=args.resume)
    bench.plan({str(seed): 1 for seed in seeds})
    for key in bench.todo():
        bench.finish(key, run(int(key), args.smoke))
    rows = sorted(bench.results().values(), key=lambda r: r["seed"])
    per_seed = {
        m: [float(np.mean(r[m])) for r in rows]
        for m in ("all_in_one", "grouped", "worst_grouped")
    }
    mean_z = torch.tensor([r["affinity"] for r in rows], dtype=torch.float64).mean(0)
    of_mean = best_grouping(mean_z, N_GROUPS)
    result = {
        "source": "Fifty et al. (2021), Efficiently identifying task groupings "
        "for multi-task learning (NeurIPS)",
        "smoke": args.smoke,
        "settings": {
            "data": f"glyph_attribute_tasks, {N_CLASSES} classes of "
            "standard_split()['train'], 20 instances each, 60/20/20 by image",
            "tasks": list(TASKS),
            "model": "conv trunk 16-32 channels, 128 features, all shared; "
            "one linear head per task",
            "steps_all_in_one": SMOKE_STEPS if args.smoke else STEPS,
            "group_steps": "round(steps * n / K) for a group of n tasks "
            "(equal trunk passes in total)",
            "affinity_every": SMOKE_AFFINITY_EVERY if args.smoke else AFFINITY_EVERY,
            "lookahead_lr": LOOKAHEAD_LR,
            "n_groups": N_GROUPS,
            "optimizer": f"Adam lr {LR}, batch {BATCH}, loss sum of task losses",
            "seeds": list(seeds),
            "score": "mean test accuracy over the five tasks",
        },
        "affinity_mean": mean_z.tolist(),
        "best_grouping_of_mean": [list(g) for g in of_mean],
        "seeds_choosing_the_grouping_of_mean": sum(
            r["best_grouping"] == [list(g) for g in of_mean] for r in rows
        ),
        "rows": rows,
        "mean_accuracy_per_seed": per_seed,
        "wall_seconds": round(time.perf_counter() - clock, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()
    print(json.dumps({m: np.round(v, 4).tolist() for m, v in per_seed.items()}))
    print("groupings:", [r["best_grouping"] for r in rows])


if __name__ == "__main__":
    main()
