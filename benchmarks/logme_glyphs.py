"""LogME before fine-tuning against accuracy after it, for several glyph backbones.

Writes ``benchmarks/results/logme_glyphs.json``; the transfer chapter renders it.
Run from the repository root::

    .venv/bin/python benchmarks/logme_glyphs.py                       # full protocol
    .venv/bin/python benchmarks/logme_glyphs.py --smoke --out logme_glyphs_smoke.json

Protocol: candidate source models are the backbone of ``lpft_glyphs.py``
(ReLU MLP 784-256-256 + ReLU, SGD as there) pretrained on the background
classes for PRETRAIN_STEPS steps (0 = the random network), on all 539
background-train classes or on the classes of only the first 1, 2, 3 or 5
of the 6 background scripts. For each
of TARGET_SEEDS target tasks (50 evaluation-script classes drawn by
``np.random.default_rng(seed)``, instances 0-9 train, 10-19 test), every
model is scored by ``logme`` on the features of the 500 training images,
then fine-tuned (new linear head, 600 SGD steps, lr 0.03, momentum 0.9,
batches of 64, the ``peft_glyphs.py`` FT setting) and tested. Reported:
Spearman's ρ between LogME and test accuracy over the models (both averaged
over the target tasks), with a 95 % bootstrap interval over the models
(BOOTSTRAP resamples, numpy seed 0), and the ρ of each target task.
"""

from __future__ import annotations

import argparse
import copy
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
from lpft_glyphs import BATCH, FEATURES, N_TARGET_CLASSES, PRETRAIN, tensors
from peft_glyphs import task
from scipy.stats import spearmanr
from torch import nn

from mtlbook.data.glyphs import load_glyphs, standard_split
from mtlbook.data.glyphs.split import BACKGROUND_SCRIPTS, classes_of
from mtlbook.transfer import (
    extract_features,
    fine_tune,
    logme,
    make_mlp,
    train_classifier,
)
from mtlbook.transfer.layer_transfer import accuracy

RESULT = Path("benchmarks/results/logme_glyphs.json")
FT_LR, FT_STEPS = 0.03, 600
BOOTSTRAP = 2000


def candidates(smoke: bool) -> dict[str, tuple[int, int | None]]:
    """name -> (pretraining steps, number of background scripts; None = all)."""
    if smoke:
        return {"random": (0, None), "all, 20 steps": (20, None), "1 script": (20, 1)}
    return {
        "random": (0, None),
        "all, 100 steps": (100, None),
        "all, 300 steps": (300, None),
        "all, 1000 steps": (1000, None),
        "all, 4000 steps": (4000, None),
        "1 script, 1000 steps": (1000, 1),
        "2 scripts, 1000 steps": (1000, 2),
        "3 scripts, 1000 steps": (1000, 3),
        "5 scripts, 1000 steps": (1000, 5),
    }


def pretrain(steps: int, scripts: int | None, seed: int = 0) -> nn.Module:
    """A backbone pretrained on the background-train classes (of some scripts)."""
    glyphs, split = load_glyphs(), standard_split()
    char = glyphs.labels["char"].astype(np.int64)
    gen = torch.Generator().manual_seed(seed)
    backbone = nn.Sequential(make_mlp((784, FEATURES, FEATURES), gen), nn.ReLU())
    classes = split["train"]
    if scripts is not None:
        mine = classes_of(list(BACKGROUND_SCRIPTS[:scripts]))
        classes = np.intersect1d(classes, mine)
    head = make_mlp((FEATURES, len(classes)), gen)
    if steps:
        keep = np.isin(char, classes)
        train_classifier(
            nn.Sequential(backbone, head),
            tensors(glyphs.images[keep]),
            torch.as_tensor(np.searchsorted(classes, char[keep])),
            steps=steps,
            generator=gen,
            **PRETRAIN,
        )
    return backbone


def score(backbone: nn.Module, seed: int, steps: int) -> dict[str, float]:
    """LogME on the target's training features, then fine-tuned test accuracy."""
    rng = np.random.default_rng(seed)
    classes = np.sort(
        rng.choice(standard_split()["evaluation"], N_TARGET_CLASSES, replace=False)
    )
    x_train, y_train, x_test, y_test, _ = task(classes, rng)
    value = logme(extract_features(backbone, x_train).numpy(), y_train.numpy())
    net = copy.deepcopy(backbone)
    gen = torch.Generator().manual_seed(seed + 1000)
    head = make_mlp((FEATURES, N_TARGET_CLASSES), gen)
    index = [torch.randint(len(x_train), (BATCH,), generator=gen) for _ in range(steps)]
    batches = [(x_train[i], y_train[i]) for i in index]
    opt = torch.optim.SGD([*net.parameters(), *head.parameters()], FT_LR, momentum=0.9)
    fine_tune(net, head, batches, opt, steps=steps)
    return {
        "logme": round(value, 6),
        "accuracy": round(accuracy(nn.Sequential(net, head), x_test, y_test), 4),
    }


def correlation(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Spearman ρ over models of the task-averaged scores, bootstrap over models."""
    mean = {
        key: np.array(
            [np.mean([r[key] for r in rows if r["model"] == n]) for n in names]
        )
        for key in ("logme", "accuracy")
    }
    rho = float(spearmanr(mean["logme"], mean["accuracy"]).statistic)
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(len(names), size=len(names))
        if len(set(pick)) < 3:
            continue
        r = spearmanr(mean["logme"][pick], mean["accuracy"][pick]).statistic
        if np.isfinite(r):
            boot.append(float(r))
    seeds = sorted({r["seed"] for r in rows})
    per_task = []
    for s in seeds:
        mine = {r["model"]: r for r in rows if r["seed"] == s}
        per_task.append(
            round(
                float(
                    spearmanr(
                        [mine[n]["logme"] for n in names],
                        [mine[n]["accuracy"] for n in names],
                    ).statistic
                ),
                4,
            )
        )
    return {
        "spearman": round(rho, 4),
        "bootstrap_ci95": [
            round(float(np.quantile(boot, 0.025)), 4),
            round(float(np.quantile(boot, 0.975)), 4),
        ],
        "bootstrap_resamples_used": len(boot),
        "spearman_per_task": per_task,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    start = time.perf_counter()
    models = candidates(args.smoke)
    steps = 20 if args.smoke else FT_STEPS
    seeds = [0] if args.smoke else [0, 1, 2]
    bench = Bench("logme_glyphs", args.out, resume=args.resume)
    bench.plan({name: pre + len(seeds) * steps for name, (pre, _) in models.items()})
    for name in bench.todo():
        pre, scripts = models[name]
        backbone = pretrain(pre, scripts)
        bench.step(pre)
        rows = []
        for seed in seeds:
            rows.append({"model": name, "seed": seed, **score(backbone, seed, steps)})
            bench.step(steps)
        bench.finish(name, rows)
    rows = [row for runs in bench.results().values() for row in runs]
    names = list(models)
    summary = {
        n: {
            key: round(float(np.mean([r[key] for r in rows if r["model"] == n])), 6)
            for key in ("logme", "accuracy")
        }
        for n in names
    }
    result = {
        "smoke": args.smoke,
        "settings": {
            "backbone": f"ReLU MLP 784-{FEATURES}-{FEATURES} + ReLU, as lpft_glyphs.py",
            "models": {
                n: {"pretrain_steps": p, "scripts": s} for n, (p, s) in models.items()
            },
            "pretraining": PRETRAIN,
            "target": f"{N_TARGET_CLASSES} evaluation-script classes per seed, "
            "10 train and 10 test images per class",
            "fine_tuning": {
                "steps": steps,
                "lr": FT_LR,
                "momentum": 0.9,
                "batch": BATCH,
            },
            "bootstrap": {"resamples": BOOTSTRAP, "over": "models", "seed": 0},
            "seeds": seeds,
        },
        "rows": rows,
        "summary": summary,
        "correlation": correlation(rows, names),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
