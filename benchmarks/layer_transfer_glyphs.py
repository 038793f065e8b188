"""Yosinski et al. (2014)'s layer-transfer experiment on the glyph dataset.

Writes ``benchmarks/results/layer_transfer_glyphs.json``; the transfer chapter
renders it with ``plot_layer_transfer(ax, result["rows"])``. Run from the
repository root::

    .venv/bin/python benchmarks/layer_transfer_glyphs.py                # full
    .venv/bin/python benchmarks/layer_transfer_glyphs.py --smoke --out lt_smoke.json
    .venv/bin/python benchmarks/layer_transfer_glyphs.py --equal-data  # A, B alike

Protocol: the 769 background classes of the glyph dataset (standard_split's
train + val + test; 20 instances each, 28 × 28) are split at random
(``split_classes`` with rng 0) into halves A and B of 384 classes. A has many
examples (15 train / 5 test instances per class), B few (5 train / 15 test:
the few-target-examples regime). The network is a ReLU MLP 784-128-128-128-
128-384, five layers, so the cut depth n runs over 1..4. Every network (baseA,
baseB and every condition at every n) gets the same budget: ``train_classifier``,
SGD with momentum 0.9, lr 0.05, batch 64, weight decay 5e-4, 4000 steps.
Conditions (``layer_transfer``): BnB, BnB+, AnB, AnB+ and random (first n layers
random and frozen), 3 network seeds on one class split.

``--equal-data`` runs Yosinski's own regime, where A and B have the same
amount of data (10 train / 10 test instances per class in both halves), and
writes ``layer_transfer_glyphs_equal.json``: whether AnB+'s boost over baseB
survives when B is not the smaller task.
"""

from __future__ import annotations

import argparse
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
from protocols import (
    layer_transfer_checks,
    layer_transfer_summary,
    merge_layer_transfer_runs,
    run_layer_transfer,
)

from mtlbook.data.glyphs import load_glyphs, standard_split
from mtlbook.transfer import (
    TaskData,
    split_classes,
)
from mtlbook.transfer.layer_transfer import CONDITIONS

RESULT = Path("benchmarks/results/layer_transfer_glyphs.json")
EQUAL_RESULT = Path("benchmarks/results/layer_transfer_glyphs_equal.json")
HIDDEN = (128, 128, 128, 128)
TRAIN_A, TRAIN_B = 15, 5  # training instances per class; the rest are test
TRAIN_EQUAL = 10  # --equal-data: the same for A and B
TRAINER = {"lr": 0.05, "momentum": 0.9, "batch_size": 64, "weight_decay": 5e-4}


def halves(
    max_classes: int | None, train_a: int = TRAIN_A, train_b: int = TRAIN_B
) -> tuple[TaskData, TaskData, dict[str, Any]]:
    """Halves A and B of the background classes, train_a / train_b per class."""
    glyphs = load_glyphs()
    split = standard_split()
    background = np.concatenate([split["train"], split["val"], split["test"]])
    rng = np.random.default_rng(0)
    if max_classes is not None:
        background = rng.choice(background, size=max_classes, replace=False)
    classes_a, classes_b = split_classes(background, rng)
    x = torch.as_tensor(glyphs.images.reshape(len(glyphs.images), -1)) / 255.0
    y = torch.as_tensor(glyphs.labels["char"].astype(np.int64))
    instance = torch.as_tensor(glyphs.labels["instance"].astype(np.int64))

    def task(classes: np.ndarray, n_train: int) -> TaskData:
        keep = torch.isin(y, torch.as_tensor(classes))
        train = keep & (instance < n_train)
        test = keep & (instance >= n_train)
        return TaskData(x[train], y[train], x[test], y[test])

    info = {
        "classes_per_half": len(classes_a),
        "train_per_class": {"A": train_a, "B": train_b},
        "test_per_class": {"A": 20 - train_a, "B": 20 - train_b},
    }
    return task(classes_a, train_a), task(classes_b, train_b), info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--equal-data",
        action="store_true",
        help=f"{TRAIN_EQUAL} train instances per class in both halves "
        f"(default out: {EQUAL_RESULT})",
    )
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    if args.equal_data and args.out == RESULT:
        args.out = EQUAL_RESULT
    pin_threads(1)
    start = time.perf_counter()
    steps = 30 if args.smoke else args.steps
    seeds = [0] if args.smoke else args.seeds
    max_classes = 40 if args.smoke else None
    per_class = (TRAIN_EQUAL,) * 2 if args.equal_data else (TRAIN_A, TRAIN_B)
    data_a, data_b, info = halves(max_classes, *per_class)
    k = info["classes_per_half"]
    sizes = (784, *HIDDEN, k)

    bench = Bench("layer_transfer_glyphs", args.out, resume=args.resume)
    runs = run_layer_transfer(
        bench, sizes, data_a, data_b, steps=steps, seeds=seeds, trainer=TRAINER
    )
    rows, base_a = merge_layer_transfer_runs(runs)
    summary = layer_transfer_summary(rows)
    depths = sorted({int(r["n"]) for r in rows if r["n"] != 0})
    result = {
        "smoke": args.smoke,
        "settings": {
            **info,
            "classes": "background classes (standard_split train+val+test), "
            "halves by split_classes(rng=np.random.default_rng(0))",
            "max_classes": max_classes,
            "model": f"ReLU MLP {'-'.join(map(str, sizes))} (make_mlp)",
            "inputs": "pixels / 255, flattened",
            "depths": depths,
            "conditions": ["baseB", *CONDITIONS],
            "steps_per_network": steps,
            "trainer": {"name": "train_classifier (SGD)", **TRAINER},
            "bn": "none in the model",
            "seeds": seeds,
        },
        "baseA_accuracy_on_A": [round(a, 4) for a in base_a],
        "rows": rows,
        "summary": summary,
        "claims": layer_transfer_checks(summary, depths),
        "figure": "plot_layer_transfer(ax, result['rows'])",
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
