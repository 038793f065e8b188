"""Memory of one meta-gradient as the inner loop grows: MAML against iMAML.

One meta-gradient on the MAML sinusoid (the 1-40-40-1 ReLU MLP, meta-batch 25,
K = 10 support + 10 query points, inner SGD at α = 0.01) for 1, 2, 5, 10, 20
and 50 inner steps:

- ``maml``: second-order MAML, differentiating through every inner step;
- ``imaml``: iMAML (Rajeswaran et al. 2019) with λ = 1 and 5 conjugate-gradient
  steps; its inner loop keeps no graph.

Two memory measures, both on CPU:

- *saved for backward*: the bytes of the distinct storages that the meta-loss's
  autograd graph keeps alive, read from the graph nodes just before backward
  (``meta_cost.graph_bytes``): deterministic, machine-independent;
- *peak*: the largest total of tensor bytes allocated and not yet freed while
  the meta-loss and its backward run, replayed from the allocation events of
  ``torch.profiler`` with ``profile_memory=True`` (every allocation and free
  on the CPU, summed in time order); tensors that existed before (the
  weights, the tasks) are not counted.

Plus the median wall-clock time of loss + meta-gradient (machine-dependent).
Writes ``benchmarks/results/imaml_memory.json``. Run from the repository root:
``.venv/bin/python benchmarks/imaml_memory.py`` (``--smoke`` for a quick check).
"""

from __future__ import annotations

import argparse
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
from meta_cost import graph_bytes
from torch import Tensor

from mtlbook.meta import (
    Sinusoid,
    imaml_loss,
    maml_loss,
    meta_backward,
    meta_loss,
)
from mtlbook.meta.sinusoid import sinusoid_mlp

RESULT = Path(__file__).parent / "results" / "imaml_memory.json"
STEPS = (1, 2, 5, 10, 20, 50)
SMOKE_STEPS = (1, 2)
METHODS = ("maml", "imaml")
META_BATCH = 25
K = 10
ALPHA = 0.01
LAMBDA = 1.0
CG_STEPS = 5
INIT_SEED = 0
DATA_SEED = 7


def _loss(method: str, steps: int, model: Any, params: dict, batch: Any) -> Tensor:
    opts: dict[str, Any] = {"loss_fn": F.mse_loss, "inner_lr": ALPHA, "steps": steps}
    if method == "imaml":
        return meta_loss(
            imaml_loss, model, params, batch, lam=LAMBDA, cg_steps=CG_STEPS, **opts
        )
    return meta_loss(maml_loss, model, params, batch, **opts)


def peak_bytes(method: str, steps: int, model: Any, params: dict, batch: Any) -> int:
    """Peak bytes of tensors allocated during the meta-loss and its backward.

    torch.profiler (profile_memory=True) records every CPU allocation (+bytes)
    and free (-bytes) as a "[memory]" event; replayed in time order, the running
    sum's maximum is the peak above what was allocated before.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        meta_backward(_loss(method, steps, model, params, batch), params)
    for p in params.values():
        p.grad = None
    events = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]"
    ]
    live = peak = 0
    for _, nbytes in sorted(events, key=lambda t: t[0]):
        live += nbytes
        peak = max(peak, live)
    return peak


def setup() -> tuple[Any, dict, Any]:
    """The model, its parameters and the meta-batch every measurement uses."""
    model = sinusoid_mlp(INIT_SEED)
    params = dict(model.named_parameters())
    batch = Sinusoid(k_support=K, k_query=K).sample_batch(
        META_BATCH, torch.Generator().manual_seed(DATA_SEED)
    )
    return model, params, batch


def measure(
    method: str, steps: int, model: Any, params: dict, batch: Any, repeats: int
) -> dict[str, Any]:
    """Saved and peak bytes, median seconds, and the meta-gradient's norm."""
    loss = _loss(method, steps, model, params, batch)
    saved = graph_bytes(loss)
    (grads,) = meta_backward(loss, params)
    norm = torch.sqrt(sum(g.square().sum() for g in grads.values()))
    for p in params.values():
        p.grad = None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        meta_backward(_loss(method, steps, model, params, batch), params)
        times.append(time.perf_counter() - t0)
        for p in params.values():
            p.grad = None
    return {
        "saved_bytes": saved,
        "peak_bytes": peak_bytes(method, steps, model, params, batch),
        "seconds": round(statistics.median(times), 6),
        "meta_gradient_norm": round(float(norm), 6),
        "meta_loss": round(float(loss.detach()), 6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    steps_list = SMOKE_STEPS if args.smoke else STEPS
    repeats = 1 if args.smoke else 5
    start = time.perf_counter()
    model, params, batch = setup()
    bench = Bench("imaml_memory", args.out, resume=args.resume)
    bench.plan({f"{m}/{s}": 1 for m in METHODS for s in steps_list})
    for key in bench.todo():
        method, steps = key.split("/")
        bench.finish(key, measure(method, int(steps), model, params, batch, repeats))
    done = bench.results()
    rows = {
        m: {
            field: [done[f"{m}/{s}"][field] for s in steps_list]
            for field in (
                "saved_bytes",
                "peak_bytes",
                "seconds",
                "meta_gradient_norm",
                "meta_loss",
            )
        }
        for m in METHODS
    }
    write_json(
        args.out,
        {
            "smoke": args.smoke,
            "settings": {
                "model": "1-40-40-1 ReLU MLP",
                "meta_batch": META_BATCH,
                "k_support": K,
                "k_query": K,
                "alpha": ALPHA,
                "imaml": {"lambda": LAMBDA, "cg_steps": CG_STEPS},
                "inner_steps": list(steps_list),
                "saved_bytes": "distinct storages saved for backward by the "
                "meta-loss graph, read from its nodes before backward",
                "peak_bytes": "peak of tensor bytes allocated and not yet freed "
                "during meta-loss + backward: torch.profiler's CPU allocation "
                "events (profile_memory=True) summed in time order; "
                "pre-existing tensors excluded",
                "timing": f"median of {repeats} runs of meta-loss + backward",
                "dtype": "float32",
            },
            "seeds": {"init": INIT_SEED, "data": DATA_SEED},
            "methods": rows,
            "wall_seconds": round(time.perf_counter() - start, 2),
            "environment": machine(),
        },
    )
    bench.close()


if __name__ == "__main__":
    main()
