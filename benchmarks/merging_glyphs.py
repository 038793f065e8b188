"""Model merging as multi-task learning on the glyph attributes, over seeds.

Task arithmetic (Ilharco et al. 2023) and TIES-merging (Yadav et al. 2023)
build one multi-task trunk from single-task fine-tunes of a shared
initialisation, without joint training. Protocol (ours; the papers merge large
pre-trained models):

* data: the glyphs of 50 training-split classes, 20 instances each, split by
  image 60/20/20 (``glyph_attribute_tasks``, the results table's data);
* initialisation θ0: the results table's conv trunk, pre-trained with a head on
  the *character* task (PRETRAIN epochs), the same for every method of a seed;
* downstream tasks: family, weight, slant, rotation (3 bins);
* separate: θ0 fine-tuned on each task alone with a fresh head (FINETUNE
  epochs); each task scored by its own model (K models);
* merged: one trunk θ0 + λ Σ τ_k (task arithmetic) or TIES (density 0.2), each
  task with the head of its own fine-tune; λ chosen on the validation split
  from LAMBDAS;
* joint: θ0 with four fresh heads trained with equal weights for K × FINETUNE
  epochs, the same number of trunk passes as the K fine-tunes together;
* base: θ0 itself with the fine-tuned heads (λ = 0).

Adam lr 1e-3, batch 64, one torch thread; the score is the mean test accuracy
over the four tasks. Writes ``benchmarks/results/merging_glyphs.json``::

    .venv/bin/python benchmarks/merging_glyphs.py
    .venv/bin/python benchmarks/merging_glyphs.py --smoke --out smoke.json
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
from torch import nn
from torch.nn import functional as F

from mtlbook.data.glyph_attributes import glyph_attribute_tasks
from mtlbook.data.glyphs import load_glyphs, standard_split
from mtlbook.multitask import (
    EqualWeights,
    HardSharing,
    task_arithmetic,
    task_vector,
    ties_merging,
    train_multitask,
)

RESULT = Path(__file__).parent / "results" / "merging_glyphs.json"
SEEDS = tuple(range(5))
SMOKE_SEEDS = (0,)
TASKS = ("family", "weight", "slant", "rotation")
PRETRAIN, FINETUNE, BATCH, LR = 20, 10, 64, 1e-3
LAMBDAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
DENSITY = 0.2
DATA_SEED = 0


def load() -> dict[str, Any]:
    classes = standard_split()["train"][:50]
    data = glyph_attribute_tasks(
        load_glyphs(), classes, rng=np.random.default_rng(DATA_SEED)
    )
    x = torch.from_numpy(data.x)
    out: dict[str, Any] = {"n_classes": data.n_classes}
    for split in ("train", "val", "test"):
        index = getattr(data, split)
        out[split] = (
            x[index],
            {t: torch.from_numpy(data.targets[t])[index] for t in data.tasks},
        )
    return out


def trunk() -> list[nn.Module]:
    return [
        nn.Sequential(nn.Conv2d(1, 16, 3, stride=2), nn.ReLU()),
        nn.Sequential(nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(), nn.Flatten()),
        nn.Sequential(nn.Linear(32 * 6 * 6, 128), nn.ReLU()),
    ]


def model_for(tasks: tuple[str, ...], data: dict[str, Any], shared: dict | None):
    """A hard-sharing model with one fresh head per task, trunk from ``shared``."""
    layers = trunk()
    model = HardSharing(
        layers, [nn.Linear(128, data["n_classes"][t]) for t in tasks], len(layers)
    )
    if shared is not None:
        model.trunk.load_state_dict(shared)
    return model


def batches(data, tasks, generator):
    x, targets = data["train"]
    order = torch.randperm(len(x), generator=generator)
    return [
        (x[order[i : i + BATCH]], [targets[t][order[i : i + BATCH]] for t in tasks])
        for i in range(0, len(x), BATCH)
    ]


def fit(model, data, tasks, epochs, seed) -> None:
    generator = torch.Generator().manual_seed(seed)
    train = batches(data, tasks, generator)
    train_multitask(
        model,
        train,
        [F.cross_entropy] * len(tasks),
        steps=epochs * len(train),
        optimizer=torch.optim.Adam(model.parameters(), lr=LR),
        scalarizer=EqualWeights(len(tasks)),
    )


@torch.no_grad()
def accuracies(shared: dict, heads: dict[str, nn.Module], data, split) -> list[float]:
    """Accuracy per task of ``heads`` (in their order) on the trunk ``shared``."""
    body = nn.Sequential(*trunk())
    body.load_state_dict(shared)
    x, targets = data[split]
    z = body(x)
    return [
        float((head(z).argmax(1) == targets[t]).double().mean())
        for t, head in heads.items()
    ]


def run(seed: int, smoke: bool) -> dict[str, Any]:
    data = load()
    pre, fine = (1, 1) if smoke else (PRETRAIN, FINETUNE)
    torch.manual_seed(seed)
    base_model = model_for(("character",), data, None)
    fit(base_model, data, ("character",), pre, seed)
    base = {k: v.detach().clone() for k, v in base_model.trunk.state_dict().items()}
    vectors, heads, separate = [], {}, []
    for k, task in enumerate(TASKS):
        torch.manual_seed(1000 * seed + k)
        model = model_for((task,), data, base)
        fit(model, data, (task,), fine, 1000 * seed + k)
        tuned = {n: v.detach().clone() for n, v in model.trunk.state_dict().items()}
        vectors.append(task_vector(tuned, base))
        heads[task] = copy.deepcopy(model.heads[0])
        separate.append(accuracies(tuned, {task: heads[task]}, data, "test")[0])
    result: dict[str, Any] = {"seed": seed, "separate": separate}
    result["base"] = accuracies(base, heads, data, "test")
    for name, merge in (
        ("task_arithmetic", lambda lam: task_arithmetic(base, vectors, lam)),
        ("ties", lambda lam: ties_merging(base, vectors, lam, DENSITY)),
    ):
        val = {
            lam: float(np.mean(accuracies(merge(lam), heads, data, "val")))
            for lam in LAMBDAS
        }
        best = max(LAMBDAS, key=lambda lam: (val[lam], -lam))
        result[name] = {
            "lambda": best,
            "val_by_lambda": {str(k): v for k, v in val.items()},
            "test": accuracies(merge(best), heads, data, "test"),
            "test_by_lambda": {
                str(lam): accuracies(merge(lam), heads, data, "test") for lam in LAMBDAS
            },
        }
    torch.manual_seed(seed + 500)
    joint = model_for(TASKS, data, base)
    fit(joint, data, TASKS, len(TASKS) * fine, seed + 500)
    joint_heads = dict(zip(TASKS, joint.heads, strict=True))
    shared = {n: v.detach() for n, v in joint.trunk.state_dict().items()}
    result["joint"] = accuracies(shared, joint_heads, data, "test")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    seeds = SMOKE_SEEDS if args.smoke else SEEDS
    start = time.perf_counter()
    bench = Bench("merging_glyphs", args.out, resume=args.resume)
    bench.plan({str(seed): 1 for seed in seeds})
    for key in bench.todo():
        bench.finish(key, run(int(key), args.smoke))
    rows = list(bench.results().values())

    def mean_of(row: dict, method: str) -> float:
        value = row[method]
        return float(np.mean(value["test"] if isinstance(value, dict) else value))

    methods = ("separate", "joint", "task_arithmetic", "ties", "base")
    per_seed = {m: [mean_of(r, m) for r in rows] for m in methods}
    result = {
        "source": "Ilharco et al. (2023), Editing models with task arithmetic; "
        "Yadav et al. (2023), TIES-merging",
        "smoke": args.smoke,
        "settings": {
            "data": "glyph_attribute_tasks, 50 classes of standard_split()['train'], "
            "20 instances each, 60/20/20 by image",
            "tasks": list(TASKS),
            "pretrain": f"character task, {PRETRAIN} epochs",
            "finetune_epochs": FINETUNE,
            "joint_epochs": len(TASKS) * FINETUNE,
            "lambdas": list(LAMBDAS),
            "ties_density": DENSITY,
            "optimizer": f"Adam lr {LR}, batch {BATCH}",
            "seeds": list(seeds),
            "score": "mean test accuracy over the four tasks",
        },
        "rows": rows,
        "mean_accuracy_per_seed": per_seed,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()
    print(
        json.dumps({m: np.round(v, 4).tolist() for m, v in per_seed.items()}, indent=1)
    )


if __name__ == "__main__":
    main()
