"""Accuracy against trainable parameters: LoRA, BitFit and adapters on glyphs.

Writes ``benchmarks/results/peft_glyphs.json``; the transfer chapter renders it.
Run from the repository root::

    .venv/bin/python benchmarks/peft_glyphs.py                       # full protocol
    .venv/bin/python benchmarks/peft_glyphs.py --smoke --out peft_glyphs_smoke.json

Protocol: the backbone and target task of ``lpft_glyphs.py``, seed for seed
(a ReLU MLP 784-256-256 + ReLU pretrained on the 539 background-train
classes, 4000 SGD steps; the target is 50 evaluation-script classes drawn by
``np.random.default_rng(seed)``, instances 0-9 train, 10-19 test). A new
linear head (PyTorch's default init) trains in every method; the backbone is
adapted by

- LP: nothing (``linear_probe``);
- BitFit: its biases;
- LoRA with rank r in RANKS on both linear layers (α = r, scale 1);
- adapters with bottleneck m in BOTTLENECKS after both linear layers;
- FT: every weight; LP-FT: the LP stage, then FT (each at its own rate).

600 steps of SGD (momentum 0.9, batches of 64 drawn with replacement) for
each. Every method's learning rate is chosen from LR_GRID before any test
score is seen: on the backbone of seed 0 and a task of 50 *background
validation* classes (never used in pretraining nor scored), instances 0-9
train, 10-19 validation; the best validation accuracy wins (a rate whose
loss diverges is recorded as null and skipped). Scored: accuracy on the
test images (ID), on the same images rotated by a further 30-45° (OOD, as in
``lpft_glyphs.py``), and how far the backbone's features moved.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
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
from lpft_glyphs import (
    BATCH,
    FEATURES,
    N_TARGET_CLASSES,
    N_TRAIN,
    OOD_ROTATION,
    PRETRAIN,
    rotated,
    tensors,
)
from torch import nn

from mtlbook.data.glyphs import load_glyphs, standard_split
from mtlbook.transfer import (
    add_adapters,
    add_lora,
    bitfit,
    count_parameters,
    fine_tune,
    linear_probe,
    lp_ft,
    make_mlp,
    train_classifier,
)
from mtlbook.transfer.layer_transfer import accuracy

RESULT = Path("benchmarks/results/peft_glyphs.json")
RANKS = (1, 4, 8, 32)
BOTTLENECKS = (8, 64)
LR_GRID = (0.01, 0.03, 0.1, 0.3)
TUNE_SEED = 0  # the backbone the rates are chosen on (validation classes only)
METHODS = (
    "LP",
    "BitFit",
    *(f"LoRA r={r}" for r in RANKS),
    *(f"Adapter m={m}" for m in BOTTLENECKS),
    "FT",
    "LP-FT",
)
TUNED = tuple(m for m in METHODS if m != "LP-FT")  # LP-FT uses LP's and FT's rates


def pretrain(seed: int, steps: int) -> nn.Module:
    """The backbone of ``lpft_glyphs.py`` for this seed (same draws, same steps)."""
    glyphs, split = load_glyphs(), standard_split()
    char = glyphs.labels["char"].astype(np.int64)
    gen = torch.Generator().manual_seed(seed)
    keep = np.isin(char, split["train"])
    source_y = torch.as_tensor(np.searchsorted(split["train"], char[keep]))
    backbone = nn.Sequential(make_mlp((784, FEATURES, FEATURES), gen), nn.ReLU())
    source_head = make_mlp((FEATURES, len(split["train"])), gen)
    train_classifier(
        nn.Sequential(backbone, source_head),
        tensors(glyphs.images[keep]),
        source_y,
        steps=steps,
        generator=gen,
        **PRETRAIN,
    )
    return backbone


def task(classes: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test, x_ood): instances 0-9 train, 10-19 test.

    x_ood: the test images rotated by a further OOD_ROTATION degrees, as in
    ``lpft_glyphs.py`` (the same rotations for the same seed).
    """
    glyphs = load_glyphs()
    char = glyphs.labels["char"].astype(np.int64)
    instance = glyphs.labels["instance"]
    chosen = np.isin(char, classes)
    train, test = chosen & (instance < N_TRAIN), chosen & (instance >= N_TRAIN)
    return (
        tensors(glyphs.images[train]),
        torch.as_tensor(np.searchsorted(classes, char[train])),
        tensors(glyphs.images[test]),
        torch.as_tensor(np.searchsorted(classes, char[test])),
        tensors(rotated(glyphs.images[test], rng, OOD_ROTATION)),
    )


@torch.no_grad()
def feature_change(net: nn.Module, backbone: nn.Module, x: torch.Tensor) -> float:
    """Mean over x of |φ'(x) − φ(x)| / |φ(x)|: how far the features moved."""
    before, after = backbone(x), net(x)
    return float(((after - before).norm(dim=1) / before.norm(dim=1)).mean())


def adapted(method: str, backbone: nn.Module, gen: torch.Generator) -> nn.Module:
    """A copy of the backbone in which the method's parameters train."""
    if method.startswith("LoRA"):
        return add_lora(backbone, int(method.split("=")[1]), generator=gen)
    if method.startswith("Adapter"):
        return add_adapters(backbone, int(method.split("=")[1]), generator=gen)
    if method == "BitFit":
        return bitfit(backbone)
    return copy.deepcopy(backbone)  # LP (frozen by the probe), FT, LP-FT


def train_method(
    method: str,
    backbone: nn.Module,
    data: tuple[torch.Tensor, ...],
    rates: dict[str, float],
    *,
    seed: int,
    steps: int,
) -> dict[str, Any]:
    """Train one method from the backbone; its test accuracy and parameter counts."""
    x_train, y_train, x_test, y_test, x_ood = data
    gen = torch.Generator().manual_seed(seed + 1000)  # same head, same batches
    head = make_mlp((FEATURES, N_TARGET_CLASSES), gen)
    index = [torch.randint(len(x_train), (BATCH,), generator=gen) for _ in range(steps)]
    batches = [(x_train[i], y_train[i]) for i in index]
    net = adapted(method, backbone, gen)
    probe = torch.optim.SGD(head.parameters(), lr=rates["LP"], momentum=0.9)
    trainable = [p for p in [*net.parameters(), *head.parameters()] if p.requires_grad]
    lr = rates["FT" if method == "LP-FT" else method]
    tune = torch.optim.SGD(trainable, lr=lr, momentum=0.9)
    if method == "LP":
        linear_probe(net, head, batches, probe, steps=steps)
    elif method == "LP-FT":
        lp_ft(net, head, batches, probe, tune, probe_steps=steps, ft_steps=steps)
    else:
        fine_tune(net, head, batches, tune, steps=steps)
    backbone_trainable = 0 if method == "LP" else count_parameters(net)[0]
    return {
        "method": method,
        "accuracy": round(accuracy(nn.Sequential(net, head), x_test, y_test), 4),
        "ood_accuracy": round(accuracy(nn.Sequential(net, head), x_ood, y_test), 4),
        "feature_change": round(feature_change(net, backbone, x_test), 4),
        "backbone_trainable": backbone_trainable,
        "trainable": backbone_trainable + count_parameters(head)[0],
        "lr": lr,
    }


def tune_rates(
    pretrain_steps: int, steps: int, grid: tuple[float, ...], progress: Callable
) -> dict[str, Any]:
    """Each method's rate: the best validation accuracy over ``grid``."""
    backbone = pretrain(TUNE_SEED, pretrain_steps)
    progress(pretrain_steps)
    rng = np.random.default_rng(TUNE_SEED)
    classes = np.sort(rng.choice(standard_split()["val"], N_TARGET_CLASSES, False))
    data = task(classes, rng)
    scores: dict[str, dict[str, float | None]] = {}
    for method in TUNED:
        scores[method] = {}
        for lr in grid:
            try:
                row = train_method(
                    method,
                    backbone,
                    data,
                    {method: lr, "LP": lr},
                    seed=TUNE_SEED,
                    steps=steps,
                )
                scores[method][str(lr)] = row["accuracy"]
            except ValueError as error:  # the loss diverged: this rate is out
                if "the loss is" not in str(error):
                    raise
                scores[method][str(lr)] = None
            progress(steps)
    best = {
        m: float(max((lr for lr in s if s[lr] is not None), key=lambda lr: s[lr]))
        for m, s in scores.items()
    }
    return {"validation_accuracy": scores, "chosen": best}


def run_seed(
    seed: int,
    rates: dict[str, float],
    *,
    pretrain_steps: int,
    steps: int,
    progress: Callable[[int], None],
) -> list[dict[str, Any]]:
    """Pretrain one backbone, then every method from it; one row per method."""
    backbone = pretrain(seed, pretrain_steps)
    progress(pretrain_steps)
    rng = np.random.default_rng(seed)
    split = standard_split()
    classes = np.sort(rng.choice(split["evaluation"], N_TARGET_CLASSES, replace=False))
    data = task(classes, rng)
    rows = []
    for method in METHODS:
        row = train_method(method, backbone, data, rates, seed=seed, steps=steps)
        rows.append({"seed": seed, **row})
        progress(2 * steps if method == "LP-FT" else steps)
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        out[method] = {
            f"{key}_{stat}": round(float(fn([r[key] for r in mine])), 4)
            for key in ("accuracy", "ood_accuracy", "feature_change")
            for stat, fn in (("mean", np.mean), ("std", _std))
        }
        out[method] |= {
            "backbone_trainable": mine[0]["backbone_trainable"],
            "trainable": mine[0]["trainable"],
            "lr": mine[0]["lr"],
            "seeds": len(mine),
        }
    return out


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    start = time.perf_counter()
    pretrain_steps, steps = (50, 20) if args.smoke else (4000, 600)
    grid = LR_GRID[1:3] if args.smoke else LR_GRID
    seeds = [0] if args.smoke else [0, 1, 2, 3, 4]
    bench = Bench("peft_glyphs", args.out, resume=args.resume)
    per_seed = pretrain_steps + (len(METHODS) + 1) * steps
    plan = {"tune": pretrain_steps + len(TUNED) * len(grid) * steps}
    bench.plan({**plan, **{str(seed): per_seed for seed in seeds}})
    for key in bench.todo():
        if key == "tune":
            bench.finish(key, tune_rates(pretrain_steps, steps, grid, bench.step))
            continue
        rates = bench.results()["tune"]["chosen"]
        rows = run_seed(
            int(key),
            rates,
            pretrain_steps=pretrain_steps,
            steps=steps,
            progress=bench.step,
        )
        bench.finish(key, rows)
    results = bench.results()
    tuning = results.pop("tune")
    rows = [row for seed_rows in results.values() for row in seed_rows]
    result = {
        "smoke": args.smoke,
        "settings": {
            "backbone": f"ReLU MLP 784-{FEATURES}-{FEATURES} + ReLU (make_mlp), "
            "as lpft_glyphs.py",
            "pretraining": {
                "classes": "background train (539)",
                "steps": pretrain_steps,
                **PRETRAIN,
            },
            "target": {
                "classes": f"{N_TARGET_CLASSES} evaluation-script classes per seed",
                "train_per_class": N_TRAIN,
                "test_per_class": 20 - N_TRAIN,
            },
            "ood": f"test images rotated by a further uniform {OOD_ROTATION} "
            "degrees, random sign, as lpft_glyphs.py",
            "feature_change": "mean over test images of |phi'(x) - phi(x)| / "
            "|phi(x)|, phi the pretrained backbone",
            "methods": list(METHODS),
            "lora": {"ranks": list(RANKS), "alpha": "r (scale 1)"},
            "adapters": {"bottlenecks": list(BOTTLENECKS)},
            "steps": steps,
            "optimizer": "SGD, momentum 0.9",
            "batch": BATCH,
            "lr_grid": list(grid),
            "lr_selection": f"best accuracy on 50 background-validation classes, "
            f"backbone of seed {TUNE_SEED}, instances 10-19",
            "seeds": seeds,
        },
        "tuning": tuning,
        "rows": rows,
        "summary": summarize(rows),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
