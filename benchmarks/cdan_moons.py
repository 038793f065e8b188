"""DANN, CDAN and MCC when the target's classes are unbalanced (label shift).

Writes ``benchmarks/results/cdan_moons.json``; the transfer chapter renders it.
Run from the repository root::

    .venv/bin/python benchmarks/cdan_moons.py                       # full protocol
    .venv/bin/python benchmarks/cdan_moons.py --smoke --out cdan_moons_smoke.json

Protocol: per seed, a labelled source sample of two moons (150 per class)
and an unlabelled target sample rotated by ROTATION_DEG; in the *label-shift*
condition the target keeps all 150 points of class 0 but only a quarter of
class 1, so that aligning the marginal feature distributions must move
target points of class 0 onto source class 1 (Zhao et al. 2019's argument);
the *balanced* condition keeps both classes whole (the control). The test
set is a fresh target sample of the same condition (500 per class before the
subsampling). Network: features 2-15-15 with ReLU (``make_mlp`` + ReLU), a
linear label head, a 15-1 MLP domain head on f (DANN) or on g ⊗ f (CDAN);
all drawn from one generator per seed, the domain head last, so every
method starts from the same features and label head. Adam (lr 0.01), 600
full-batch steps, λ_p = 2 / (1 + e^{−10p}) − 1. Methods: source only, DANN,
CDAN, MCC (source cross-entropy + ``mcc_loss`` on the target, T = 2.5).
Scored: target test accuracy, and class mixing in feature space, the
fraction of target test points whose nearest source point (Euclidean, in
the learned features) has the other label.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
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
from mtlbook.transfer import cdan_loss, dann_lambda, dann_loss, make_mlp, mcc_loss

RESULT = Path("benchmarks/results/cdan_moons.json")
ROTATION_DEG = 20.0
CONDITIONS = {"label_shift": 0.25, "balanced": 1.0}  # share of class 1 kept
METHODS = ("source only", "DANN", "CDAN", "MCC")
LR, HIDDEN = 0.01, 15


def sample(
    n: int, rotation: float, keep_one: float, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Moons rotated by ``rotation``°, with a share ``keep_one`` of class 1 kept."""
    x, y = (
        torch.as_tensor(a) for a in rotated_moons(n, rotation_deg=rotation, rng=rng)
    )
    ones = torch.nonzero(y == 1)[:, 0][: round(keep_one * n)]
    keep = torch.cat([torch.nonzero(y == 0)[:, 0], ones])
    return x[keep], y[keep]


def networks(seed: int, method: str) -> tuple[nn.Module, nn.Module, nn.Module]:
    gen = torch.Generator().manual_seed(seed)
    features = nn.Sequential(make_mlp((2, HIDDEN, HIDDEN), gen), nn.ReLU())
    head = make_mlp((HIDDEN, 2), gen)
    width = 2 * HIDDEN if method == "CDAN" else HIDDEN
    return features, head, make_mlp((width, HIDDEN, 1), gen)


def train(
    method: str,
    seed: int,
    source: tuple[torch.Tensor, torch.Tensor],
    x_target: torch.Tensor,
    steps: int,
) -> tuple[nn.Module, nn.Module]:
    """One method, full batch; returns (features, label head)."""
    features, head, domain_head = networks(seed, method)
    params = [*features.parameters(), *head.parameters(), *domain_head.parameters()]
    opt = torch.optim.Adam(params, lr=LR)
    x_s, y_s = source
    for k in range(steps):
        lam = dann_lambda(k / steps)
        if method == "DANN":
            loss = dann_loss(
                features, head, domain_head, x_s, y_s, x_target, lambda_=lam
            )
            total = loss.total
        elif method == "CDAN":
            loss = cdan_loss(
                features, head, domain_head, x_s, y_s, x_target, lambda_=lam
            )
            total = loss.total
        else:
            total = F.cross_entropy(head(features(x_s)), y_s)
            if method == "MCC":
                total = total + mcc_loss(head(features(x_target)))
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    return features, head


@torch.no_grad()
def scores(
    features: nn.Module,
    head: nn.Module,
    source: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
) -> dict[str, float]:
    f_test, f_source = features(test[0]), features(source[0])
    nearest = torch.cdist(f_test, f_source).argmin(dim=1)
    return {
        "target_accuracy": round(
            float((head(f_test).argmax(1) == test[1]).float().mean()), 4
        ),
        "class_mixing": round(float((source[1][nearest] != test[1]).float().mean()), 4),
    }


def run_seed(seed: int, condition: str, steps: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng([seed, list(CONDITIONS).index(condition)])
    source = sample(150, 0.0, 1.0, rng)
    x_target, _ = sample(150, ROTATION_DEG, CONDITIONS[condition], rng)
    test = sample(500, ROTATION_DEG, CONDITIONS[condition], rng)
    rows = []
    for method in METHODS:
        features, head = train(method, seed, source, x_target, steps)
        rows.append(
            {
                "seed": seed,
                "condition": condition,
                "method": method,
                **scores(features, head, source, test),
            }
        )
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for condition in CONDITIONS:
        out[condition] = {}
        for method in METHODS:
            mine = [
                r for r in rows if r["condition"] == condition and r["method"] == method
            ]
            out[condition][method] = {
                key: round(float(np.mean([r[key] for r in mine])), 4)
                for key in ("target_accuracy", "class_mixing")
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    start = time.perf_counter()
    steps = 30 if args.smoke else 600
    seeds = [0, 1] if args.smoke else list(range(15))
    bench = Bench("cdan_moons", args.out, resume=args.resume)
    bench.plan({f"{c}/{s}": len(METHODS) * steps for c in CONDITIONS for s in seeds})
    for key in bench.todo():
        condition, seed = key.split("/")
        bench.finish(key, run_seed(int(seed), condition, steps))
    rows = [row for runs in bench.results().values() for row in runs]
    result = {
        "smoke": args.smoke,
        "settings": {
            "source": "two moons, 150 per class, not rotated",
            "target": f"a new sample rotated {ROTATION_DEG:g} degrees; label_shift "
            "keeps a quarter of class 1, balanced keeps all",
            "test": "a fresh target sample, 500 per class before the subsampling",
            "rotation_deg": ROTATION_DEG,
            "conditions": CONDITIONS,
            "network": f"features 2-{HIDDEN}-{HIDDEN} ReLU, linear label head, "
            f"domain head MLP {HIDDEN}-1 on f (DANN) or on g ⊗ f (CDAN)",
            "optimizer": {"name": "Adam", "lr": LR},
            "steps": steps,
            "lambda": "2 / (1 + exp(-10 p)) - 1",
            "mcc_temperature": 2.5,
            "methods": list(METHODS),
            "seeds": seeds,
        },
        "rows": rows,
        "summary": summarize(rows),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
