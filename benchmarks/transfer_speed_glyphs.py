"""Does transfer speed up learning? Steps to a target accuracy, scratch vs transfer.

Writes ``benchmarks/results/transfer_speed_glyphs.json``; the transfer chapter
renders it. Run from the repository root::

    .venv/bin/python benchmarks/transfer_speed_glyphs.py
    .venv/bin/python benchmarks/transfer_speed_glyphs.py --smoke --out speed.json

The seed article says transfer learning "raises the model's learning speed and
performance" (学习速度和性能). Protocol: per seed, the backbone and target
task of ``peft_glyphs.py`` (MLP 784-256-256 + ReLU pretrained for 4000 steps
on the background-train classes; 50 evaluation-script classes, 10 training
and 10 test images each). Two networks of the same shape with a new linear
head are trained on the target by the same SGD (lr 0.03, momentum 0.9,
batches of 64, the same batches): *transfer* starts from the pretrained
backbone, *scratch* from a random one. Test accuracy is recorded every
EVERY steps up to STEPS. Speed: the first recorded step at which each
reaches a level, for the levels in LEVELS and for 90 % of scratch's own
final accuracy (a level scratch is sure to reach); a run that never gets
there is recorded as null.
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
from lpft_glyphs import BATCH, FEATURES, N_TARGET_CLASSES
from peft_glyphs import pretrain, task
from torch import nn

from mtlbook.data.glyphs import standard_split
from mtlbook.transfer import make_mlp
from mtlbook.transfer.layer_transfer import accuracy

RESULT = Path("benchmarks/results/transfer_speed_glyphs.json")
LR, STEPS, EVERY = 0.03, 1200, 20
LEVELS = (0.5, 0.7)
SHARE_OF_SCRATCH = 0.9


def curve(
    backbone: nn.Module, data: tuple[torch.Tensor, ...], seed: int, steps: int
) -> list[float]:
    """Test accuracy every EVERY steps of SGD on the target, from ``backbone``."""
    x_train, y_train, x_test, y_test, _ = data
    gen = torch.Generator().manual_seed(seed + 1000)  # same head and batches
    net = nn.Sequential(
        copy.deepcopy(backbone), make_mlp((FEATURES, N_TARGET_CLASSES), gen)
    )
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    out = []
    for step in range(1, steps + 1):
        index = torch.randint(len(x_train), (BATCH,), generator=gen)
        loss = nn.functional.cross_entropy(net(x_train[index]), y_train[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % EVERY == 0:
            out.append(round(accuracy(net, x_test, y_test), 4))
            net.train()
    return out


def first_reach(accuracies: list[float], level: float) -> int | None:
    """The first recorded step with accuracy >= level, or None."""
    for k, a in enumerate(accuracies):
        if a >= level:
            return (k + 1) * EVERY
    return None


def run_seed(seed: int, pretrain_steps: int, steps: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    classes = np.sort(
        rng.choice(standard_split()["evaluation"], N_TARGET_CLASSES, replace=False)
    )
    data = task(classes, rng)
    scratch_backbone = nn.Sequential(
        make_mlp((784, FEATURES, FEATURES), torch.Generator().manual_seed(seed + 2000)),
        nn.ReLU(),
    )
    curves = {
        "transfer": curve(pretrain(seed, pretrain_steps), data, seed, steps),
        "scratch": curve(scratch_backbone, data, seed, steps),
    }
    levels = {f"{level:g}": level for level in LEVELS}
    own = SHARE_OF_SCRATCH * curves["scratch"][-1]
    levels[f"{SHARE_OF_SCRATCH:g} x scratch final"] = own
    return {
        "seed": seed,
        "curves": curves,
        "steps_to": {
            name: {k: first_reach(c, level) for k, level in levels.items()}
            for name, c in curves.items()
        },
        "scratch_level": round(own, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    start = time.perf_counter()
    pretrain_steps, steps = (50, 60) if args.smoke else (4000, STEPS)
    seeds = [0] if args.smoke else [0, 1, 2, 3, 4]
    bench = Bench("transfer_speed_glyphs", args.out, resume=args.resume)
    bench.plan({str(s): pretrain_steps + 2 * steps for s in seeds})
    for key in bench.todo():
        bench.finish(key, run_seed(int(key), pretrain_steps, steps))
    rows = list(bench.results().values())
    result = {
        "smoke": args.smoke,
        "settings": {
            "backbone": f"ReLU MLP 784-{FEATURES}-{FEATURES} + ReLU, pretrained as "
            "peft_glyphs.py",
            "pretrain_steps": pretrain_steps,
            "target": f"{N_TARGET_CLASSES} evaluation-script classes per seed, "
            "10 train and 10 test images per class",
            "training": {"lr": LR, "momentum": 0.9, "batch": BATCH, "steps": steps},
            "record_every": EVERY,
            "levels": list(LEVELS),
            "share_of_scratch_final": SHARE_OF_SCRATCH,
            "seeds": seeds,
        },
        "rows": rows,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
