"""DANN on the rotated two moons (Ganin et al. 2016, §5.1.1): the claim, measured.

Writes ``benchmarks/results/dann_moons.json``; the transfer chapter renders it.
Run from the repository root::

    .venv/bin/python benchmarks/dann_moons.py                       # full protocol
    .venv/bin/python benchmarks/dann_moons.py --smoke --out dann_moons_smoke.json

Protocol: per seed, a labelled source sample of two moons (150 per class), an
unlabelled target sample (a new sample rotated by 35° about the centre of the
moons, 150 per class) and a fresh rotated test sample (500 per class). The
network is Ganin et al.'s shallow one: 15 sigmoid hidden units G_f, a linear
label head G_y and a logistic domain head G_d on the hidden units. Both
networks are trained by ``train_dann`` with SGD (momentum 0.9), batches of 32
source and 32 target points; DANN uses λ_p = λ_max · (2 / (1 + e^{−10p}) − 1)
with λ_max = 6, the source-only network is the same run with λ = 0 (the domain
head still trains, but no gradient reaches the features). Same initial
weights and batches for both, 5 seeds.
"""

from __future__ import annotations

import argparse
import math
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

from mtlbook.data.transfer_toys import rotated_moons
from mtlbook.transfer import dann_lambda, train_dann

RESULT = Path("benchmarks/results/dann_moons.json")
HIDDEN = 15
BATCH = 32


def shallow_dann(generator: torch.Generator) -> tuple[nn.Module, nn.Module, nn.Module]:
    """G_f: 2 -> 15 sigmoid units, G_y: 15 -> 2 logits, G_d: 15 -> 1 logit."""
    features = nn.Sequential(nn.Linear(2, HIDDEN), nn.Sigmoid())
    label_head, domain_head = nn.Linear(HIDDEN, 2), nn.Linear(HIDDEN, 1)
    for layer in (features[0], label_head, domain_head):
        std = 1.0 / math.sqrt(layer.in_features)
        nn.init.normal_(layer.weight, std=std, generator=generator)
        nn.init.zeros_(layer.bias)
    return features, label_head, domain_head


def batches(
    x: torch.Tensor, y: torch.Tensor | None, steps: int, generator: torch.Generator
) -> list[Any]:
    """``steps`` random batches of BATCH rows: (x, y) pairs, or x alone."""
    out = []
    for _ in range(steps):
        index = torch.randint(len(x), (BATCH,), generator=generator)
        out.append((x[index], y[index]) if y is not None else x[index])
    return out


@torch.no_grad()
def accuracy(
    features: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> float:
    return float((head(features(x)).argmax(1) == y).float().mean())


def moons(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Source (labelled), target (labels unused) and target test samples."""
    rng = np.random.default_rng(seed)
    data = [
        rotated_moons(150, rotation_deg=0.0, rng=rng),
        rotated_moons(150, rotation_deg=35.0, rng=rng),
        rotated_moons(500, rotation_deg=35.0, rng=rng),
    ]
    return [(torch.tensor(x), torch.tensor(y)) for x, y in data]


def run_network(
    seed: int, lam_max: float, *, steps: int, lr: float
) -> dict[str, float]:
    """Train one network (λ_max = 0: source only) on the moons of ``seed``."""
    (xs, ys), (xt, yt), (xq, yq) = moons(seed)
    gen = torch.Generator().manual_seed(seed)  # same weights and batches
    features, label_head, domain_head = shallow_dann(gen)
    modules = (features, label_head, domain_head)
    params = [p for m in modules for p in m.parameters()]
    history = train_dann(
        *modules,
        torch.optim.SGD(params, lr=lr, momentum=0.9),
        batches(xs, ys, steps, gen),
        batches(xt, None, steps, gen),
        steps=steps,
        lambda_=lambda p: lam_max * dann_lambda(p),
    )
    tail = history[-100:]
    return {
        "source_accuracy": round(accuracy(features, label_head, xs, ys), 4),
        "target_accuracy": round(accuracy(features, label_head, xq, yq), 4),
        "target_train_accuracy": round(accuracy(features, label_head, xt, yt), 4),
        "final_domain_loss": round(float(np.mean([h["domain"] for h in tail])), 4),
    }


def claims(rows: list[dict[str, Any]]) -> dict[str, Any]:
    gaps = [
        r["dann"]["target_accuracy"] - r["source_only"]["target_accuracy"] for r in rows
    ]
    mean = {
        m: float(np.mean([r[m]["target_accuracy"] for r in rows]))
        for m in ("source_only", "dann")
    }
    return {
        "mean target accuracy: DANN > source-only": {
            "measured": {k: round(v, 4) for k, v in mean.items()},
            "target": "dann > source_only",
            "pass": bool(mean["dann"] > mean["source_only"]),
        },
        "target accuracy: DANN > source-only on every seed": {
            "measured": [round(g, 4) for g in gaps],
            "target": "every gap > 0",
            "pass": bool(all(g > 0 for g in gaps)),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--lambda-max", type=float, default=6.0)
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    start = time.perf_counter()
    steps = 100 if args.smoke else args.steps
    seeds = [0, 1] if args.smoke else [0, 1, 2, 3, 4]
    lam_max = {"source_only": 0.0, "dann": args.lambda_max}
    bench = Bench("dann_moons", args.out, resume=args.resume)
    bench.plan({f"{seed}/{name}": steps for seed in seeds for name in lam_max})
    for key in bench.todo():
        seed, name = key.split("/")
        result = run_network(int(seed), lam_max[name], steps=steps, lr=args.lr)
        bench.finish(key, result)
    done = bench.results()
    rows = [
        {"seed": seed, **{name: done[f"{seed}/{name}"] for name in lam_max}}
        for seed in seeds
    ]
    result = {
        "smoke": args.smoke,
        "settings": {
            "n_per_class": {"source": 150, "target": 150, "target_test": 500},
            "rotation_deg": 35.0,
            "noise": 0.1,
            "network": "2-15 sigmoid features, linear label head, logistic domain "
            "head on the features; N(0, 1/fan_in) weights, zero biases",
            "optimizer": {"name": "SGD", "lr": args.lr, "momentum": 0.9},
            "batch": {"source": BATCH, "target": BATCH},
            "steps": steps,
            "lambda": f"{args.lambda_max} * (2 / (1 + exp(-10 p)) - 1)",
            "source_only": "the same training with lambda = 0",
            "seeds": seeds,
            "data_rng": "np.random.default_rng(seed): source, target, target test",
            "torch_generator": "torch.Generator().manual_seed(seed), per network",
        },
        "rows": rows,
        "claims": claims(rows),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
