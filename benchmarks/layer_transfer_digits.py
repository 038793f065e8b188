"""Yosinski et al. (2014)'s layer-transfer experiment on sklearn's 8×8 digits.

Writes ``benchmarks/results/layer_transfer_digits.json`` (the layout of
``layer_transfer_glyphs.json``); ``benchmarks/claims.py`` tests Yosinski's
findings on it. Run from the repository root::

    .venv/bin/python benchmarks/layer_transfer_digits.py                # full
    .venv/bin/python benchmarks/layer_transfer_digits.py --seeds 0 1    # the chapter's
    .venv/bin/python benchmarks/layer_transfer_digits.py --smoke --out lt_smoke.json

Protocol: the transfer chapter's live run (chapters/06_transfer.ipynb, "Which
layers transfer"), over more seeds. Its data preparation, exactly: pixels =
``load_digits().data / 16`` as float32, the images shuffled by
``np.random.default_rng(0).permutation``; the first 1200 of that order are the
training images, the rest (597) the test images. Half A is the digits 0–4,
half B the digits 5–9 (``select_classes``). The network is a ReLU MLP
64-64-64-64-5 (``make_mlp``), four layers, so the cut depth n runs over 1..3.
Every network (baseA, baseB and every condition at every n) gets
``train_classifier``'s defaults (SGD, lr 0.1, momentum 0.9, batch 64, no weight
decay), 300 steps. Conditions (``layer_transfer``): BnB, BnB+, AnB, AnB+ and
random (first n layers random and frozen). Each seed is one run of the harness
(``layer_transfer`` with ``seeds=[seed]``: every network draws from generators
keyed by its seed, so seeds 0 and 1 give the chapter's numbers bit for bit).
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
from sklearn.datasets import load_digits

from mtlbook.transfer import (
    TaskData,
    select_classes,
)
from mtlbook.transfer.layer_transfer import CONDITIONS

RESULT = Path("benchmarks/results/layer_transfer_digits.json")
SIZES = (64, 64, 64, 64, 5)  # input, three hidden ReLU layers, five classes
N_TRAIN = 1200  # the first images of the shuffled order train, the rest test
STEPS = 300
SEEDS = list(range(10))
# train_classifier's defaults, as the chapter calls it
TRAINER = {"lr": 0.1, "momentum": 0.9, "batch_size": 64, "weight_decay": 0.0}
SMOKE = {"steps": 20, "seeds": [0]}


def halves() -> tuple[TaskData, TaskData, dict[str, Any]]:
    """Halves A (digits 0-4) and B (5-9), prepared as the chapter prepares them."""
    digits = load_digits()
    pixels, labels = digits.data / 16.0, digits.target
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = order[:N_TRAIN], order[N_TRAIN:]
    x = torch.tensor(pixels, dtype=torch.float32)
    y = torch.tensor(labels)
    data = [
        TaskData(
            *select_classes(x[train], y[train], classes),
            *select_classes(x[test], y[test], classes),
        )
        for classes in (np.arange(5), np.arange(5, 10))
    ]
    info = {
        "classes_per_half": 5,
        "halves": {"A": "digits 0-4", "B": "digits 5-9"},
        "train_images": {h: len(d.x_train) for h, d in zip("AB", data, strict=True)},
        "test_images": {h: len(d.x_test) for h, d in zip("AB", data, strict=True)},
    }
    return data[0], data[1], info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    torch.use_deterministic_algorithms(True)  # as the chapter's setup_notebook
    start = time.perf_counter()
    steps = SMOKE["steps"] if args.smoke else args.steps
    seeds = SMOKE["seeds"] if args.smoke else args.seeds
    data_a, data_b, info = halves()

    bench = Bench("layer_transfer_digits", args.out, resume=args.resume)
    runs = run_layer_transfer(
        bench, SIZES, data_a, data_b, steps=steps, seeds=seeds, trainer=TRAINER
    )
    # accuracies are counts over the test images of B: stored as measured
    rows, base_a = merge_layer_transfer_runs(runs, digits=None)
    summary = layer_transfer_summary(rows)
    depths = sorted({int(r["n"]) for r in rows if r["n"] != 0})
    result = {
        "smoke": args.smoke,
        "settings": {
            **info,
            "classes": "sklearn load_digits; A = digits 0-4, B = digits 5-9",
            "split": f"np.random.default_rng(0).permutation: first {N_TRAIN} "
            "train, the rest test (the chapter's order)",
            "model": f"ReLU MLP {'-'.join(map(str, SIZES))} (make_mlp)",
            "inputs": "pixels / 16, float32",
            "depths": depths,
            "conditions": ["baseB", *CONDITIONS],
            "steps_per_network": steps,
            "trainer": {"name": "train_classifier (SGD)", **TRAINER},
            "bn": "none in the model",
            "seeds": seeds,
        },
        "baseA_accuracy_on_A": base_a,
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
