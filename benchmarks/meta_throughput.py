"""Meta-training throughput: vmapped ``mtlbook.meta`` step vs a per-task loop.

Writes ``benchmarks/results/meta_throughput.json``; the meta-learning chapter
renders it. Run from the repository root::

    .venv/bin/python benchmarks/meta_throughput.py
    .venv/bin/python benchmarks/meta_throughput.py --smoke --out smoke.json
    .venv/bin/python benchmarks/meta_throughput.py --resume    # after a kill

The step: the MAML sinusoid, a 1-40-40-1 ReLU MLP, meta-batch 25,
K = 10 support + 10 query points, one inner SGD step at α = 0.01, second-order
meta-gradient. "Vectorised" is ``meta_loss(maml_loss, ...)`` + ``meta_backward``
(one ``torch.func.vmap`` over the tasks); "loop" is the textbook version: a
Python loop over tasks with ``torch.autograd.grad(create_graph=True)``. Both
run on the same model and the same meta-batches, interleaved step by step (so
machine load hits both alike); the median time per step is reported, and the
two meta-gradients are checked equal on every timed batch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

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
from torch import Tensor, nn

from mtlbook.meta import (
    Sinusoid,
    TaskBatch,
    maml_loss,
    meta_backward,
    meta_loss,
)
from mtlbook.meta.sinusoid import sinusoid_mlp

RESULT = Path(__file__).parent / "results" / "meta_throughput.json"
META_BATCH = 25
K = 10
INNER_LR = 0.01
INIT_SEED = 0
DATA_SEED = 5
TARGET_RATIO = 5.0
THREADS = (1, 2)  # torch thread counts measured


def vectorised_step(model: nn.Module, params: dict, batch: TaskBatch) -> list[Tensor]:
    """The library's meta-gradient: one vmap over the 25 tasks."""
    loss = meta_loss(
        maml_loss, model, params, batch, loss_fn=F.mse_loss, inner_lr=INNER_LR
    )
    (grads,) = meta_backward(loss, params)
    return [grads[n] for n in params]


def loop_step(model: nn.Module, params: dict, batch: TaskBatch) -> list[Tensor]:
    """The textbook meta-gradient: a Python loop, autograd.grad(create_graph=True)."""
    names, weights = list(params), list(params.values())
    total = 0.0
    for i in range(len(batch)):
        task = batch[i]
        pred = torch.func.functional_call(model, params, (task.x_support,))
        inner = torch.autograd.grad(
            F.mse_loss(pred, task.y_support), weights, create_graph=True
        )
        fast = {
            n: w - INNER_LR * g for n, w, g in zip(names, weights, inner, strict=True)
        }
        pred_q = torch.func.functional_call(model, fast, (task.x_query,))
        total = total + F.mse_loss(pred_q, task.y_query)
    loss = total / len(batch)
    return list(torch.autograd.grad(loss, weights))


def measure(threads: int, steps: int, warmup: int, bench: Bench) -> dict[str, Any]:
    """Interleaved timings at one torch thread count; meta-gradients compared.

    Counts one step on ``bench`` per meta-batch (warm-up included).
    """
    torch.set_num_threads(threads)
    model = sinusoid_mlp(INIT_SEED)
    params = dict(model.named_parameters())
    dist = Sinusoid(k_support=K, k_query=K)
    generator = torch.Generator().manual_seed(DATA_SEED)
    times: dict[str, list[float]] = {"vectorised": [], "loop": []}
    worst = 0.0
    for step in range(warmup + steps):
        batch = dist.sample_batch(META_BATCH, generator)
        # Alternate which one goes first so neither always gets a warm cache.
        order = ("vectorised", "loop") if step % 2 == 0 else ("loop", "vectorised")
        grads = {}
        for name in order:
            fn = vectorised_step if name == "vectorised" else loop_step
            start = time.perf_counter()
            grads[name] = fn(model, params, batch)
            elapsed = time.perf_counter() - start
            if step >= warmup:
                times[name].append(elapsed)
        for p in params.values():
            p.grad = None  # meta_backward accumulates; nothing steps here
        for a, b in zip(grads["vectorised"], grads["loop"], strict=True):
            scale = b.abs().max().clamp_min(1e-12)
            worst = max(worst, ((a - b).abs().max() / scale).item())
        bench.step()
    med = {n: statistics.median(t) for n, t in times.items()}
    return {
        "torch_threads": threads,
        "timed_steps": steps,
        "median_ms": {n: round(1000 * v, 4) for n, v in med.items()},
        "steps_per_second": {n: round(1 / v, 2) for n, v in med.items()},
        "speedup": round(med["loop"] / med["vectorised"], 3),
        "max_relative_gradient_difference": float(f"{worst:.3g}"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)  # BLAS and OpenMP; measure() sets torch's threads per setting
    steps, warmup = (3, 1) if args.smoke else (300, 20)

    start = time.perf_counter()
    bench = Bench("meta_throughput", args.out, resume=args.resume)
    bench.plan({f"threads={t}": warmup + steps for t in THREADS})
    for key in bench.todo():
        threads = int(key.removeprefix("threads="))
        bench.finish(key, measure(threads, steps, warmup, bench))
    runs = list(bench.results().values())
    one = runs[0]
    claims = {
        "vectorised_at_least_5x_loop_1_thread": {
            "measured": one["speedup"],
            "target": f">= {TARGET_RATIO}",
            "pass": one["speedup"] >= TARGET_RATIO,
        },
        "same_meta_gradient": {
            "measured": max(r["max_relative_gradient_difference"] for r in runs),
            "target": "<= 1e-4 (float32, relative to the largest entry)",
            "pass": all(r["max_relative_gradient_difference"] <= 1e-4 for r in runs),
        },
    }
    result = {
        "source": "meta-training throughput on the sinusoid step",
        "smoke": args.smoke,
        "settings": {
            "model": "1-40-40-1 ReLU MLP",
            "meta_batch": META_BATCH,
            "k_support": K,
            "k_query": K,
            "inner_steps": 1,
            "inner_lr": INNER_LR,
            "meta_gradient": "second order",
            "vectorised": "mtlbook.meta.meta_loss(maml_loss) + meta_backward "
            "(torch.func.vmap over tasks)",
            "loop": "Python loop over tasks, torch.autograd.grad(create_graph=True)",
            "timing": "interleaved per meta-batch, order alternating; median "
            "over timed steps after warm-up; the step is loss + meta-gradient "
            "(no optimizer)",
            "warmup_steps": warmup,
            "dtype": "float32",
        },
        "seeds": {"init": INIT_SEED, "data": DATA_SEED},
        "runs": runs,
        "claims": claims,
        "wall_seconds": round(time.perf_counter() - start, 2),
        "environment": machine(
            note="the machine is shared; the ratio is the robust number"
        ),
    }
    write_json(args.out, result)
    bench.close()
    print(json.dumps({"runs": runs, "claims": claims}, indent=2))


if __name__ == "__main__":
    main()
