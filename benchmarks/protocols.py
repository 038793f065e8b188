"""Protocol pieces that several benchmarks share: test sets, models, summaries.

Not a benchmark itself (it writes nothing): the scripts in ``benchmarks/``
import it next to :mod:`harness`. What lives here is the definition of a
protocol that more than one reproduction runs, so that each is written once:

- the MAML sinusoid (Finn et al. 2017, §5.1): its constants, the fixed test
  tasks, the meta-training loop with its resumable checkpoints and the
  adaptation curve (``maml_sinusoid``, ``maml_sinusoid_seeds``,
  ``metasgd_sinusoid`` and ``sinusoid_methods`` run it);
- Yosinski et al. (2014)'s layer-transfer experiment: the merge of per-seed
  runs into ``layer_transfer``'s row order, the summary and the three checks
  every ``layer_transfer_*`` result stores (``layer_transfer_glyphs``,
  ``layer_transfer_digits``).

The network of the sinusoid, 1-40-40-1, is the package's
:func:`mtlbook.meta.sinusoid.sinusoid_mlp`.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from harness import Bench
from torch import nn

from mtlbook.meta import (
    Sinusoid,
    TaskBatch,
    adaptation_curve,
    fixed_tasks,
    mean_ci,
    meta_train,
    reptile_grad,
)
from mtlbook.meta.sinusoid import sinusoid_mlp
from mtlbook.transfer import (
    TaskData,
    layer_transfer,
    make_mlp,
    summarize,
    train_classifier,
)
from mtlbook.transfer.layer_transfer import CONDITIONS

# --------------------------------------------------------------------------
# The MAML sinusoid (Finn et al. 2017, §5.1 and Appendix C.1)
# --------------------------------------------------------------------------

MAML_RESULT = Path(__file__).parent / "results" / "maml_sinusoid.json"
ITERATIONS = 70_000
META_BATCH = 25
K_TRAIN = 10  # support and query points per meta-training task
INNER_LR = 0.01  # α: the paper's value (official code default: 1e-3)
OUTER_LR = 1e-3
K_TEST = 5
N_TEST = 600
N_QUERY_TEST = 100  # fresh query points per test task
TEST_STEPS = 10
INIT_SEED = 0
TRAIN_SEED = 1
TEST_SEED = 2024
VALIDATION_SEED = 2025  # tasks for choosing hyperparameters, never for scores
REPTILE_LR, REPTILE_STEPS = 0.02, 10  # chosen on validation tasks: reptile_probe.py
LOG_EVERY = 1000
STEP_EVERY = 100  # iterations per tick of the progress bar
CHECKPOINT_EVERY = 5000  # iterations between saved states of a run
PUBLISHED = {  # Finn et al. (2017), Appendix C.1, Table 2: 5-shot MSE
    "maml": {"1": 0.67, "5": 0.38, "10": 0.35},
    "pretrained": {"1": 2.41, "5": 2.23, "10": 2.19},
}


def train(
    fn: Callable[..., torch.Tensor],
    iterations: int,
    *,
    init_seed: int,
    train_seed: int,
    extra: dict[str, torch.Tensor] | None = None,
    distribution: Sinusoid | None = None,
    meta_batch: int = META_BATCH,
    outer_lr: float = OUTER_LR,
    init: Callable[[nn.Module], None] | None = None,
    bench: Bench | None = None,
    key: str = "",
    checkpoint_every: int = CHECKPOINT_EVERY,
    **options: Any,
) -> dict[str, Any]:
    """mtlbook.meta.meta_train with Adam; returns model, params, log and seconds.

    extra: more learnable tensors (Meta-SGD's rates), passed to fn as ``rates``.
    init: re-initialises the freshly built model in place (drawing from the
    global torch generator that ``sinusoid_mlp`` has just seeded).
    bench, key: count the iterations on ``bench`` as run ``key``, save the
    run's state every ``checkpoint_every`` iterations and continue from a
    state an interrupted invocation saved.
    """
    dist = distribution or Sinusoid(k_support=K_TRAIN, k_query=K_TRAIN)
    model = sinusoid_mlp(init_seed)
    if init is not None:
        init(model)
    params = dict(model.named_parameters())
    extra = extra or {}
    opt = torch.optim.Adam([*params.values(), *extra.values()], lr=outer_lr)
    if extra:
        options = {**options, "rates": extra}
    generator = torch.Generator().manual_seed(train_seed)
    state = {"iteration": 0, "log": [], "running": 0.0, "seconds": 0.0}
    saved = bench.load_state(key) if bench is not None else None
    if saved is not None:
        state = restore(saved, model, extra, opt, generator)
    start = time.perf_counter() - state["seconds"]
    done = state["iteration"]

    def after(step: int, loss: torch.Tensor) -> None:
        """Log, tick and checkpoint: what the benchmark adds to meta_train."""
        it = done + step
        state["running"] += loss.item()
        if it % LOG_EVERY == 0 or it == iterations:
            n = it % LOG_EVERY or LOG_EVERY
            state["log"].append({"iteration": it, "loss": state["running"] / n})
            state["running"] = 0.0
        if bench is not None and it % STEP_EVERY == 0:
            bench.step(STEP_EVERY)
        if bench is not None and it % checkpoint_every == 0 and it < iterations:
            state.update(iteration=it, seconds=time.perf_counter() - start)
            bench.save_state(key, snapshot(state, model, extra, opt, generator))

    meta_train(
        fn,
        model,
        params,
        dist,
        iterations=iterations - done,
        optimizer=opt,
        generator=generator,
        meta_batch=meta_batch,
        extra=(extra,) if extra else (),
        callback=after,
        **options,
    )
    seconds = time.perf_counter() - start
    return {"model": model, "params": params, "log": state["log"], "seconds": seconds}


def snapshot(
    state: dict[str, Any],
    model: nn.Module,
    extra: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    generator: torch.Generator,
) -> dict[str, Any]:
    """Everything a run needs to continue bit for bit: copies, not references."""
    return copy.deepcopy(
        {
            **state,
            "model": model.state_dict(),
            "extra": {n: t.detach() for n, t in extra.items()},
            "optimizer": opt.state_dict(),
            "generator": generator.get_state(),
        }
    )


def restore(
    saved: dict[str, Any],
    model: nn.Module,
    extra: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    generator: torch.Generator,
) -> dict[str, Any]:
    """Load a ``snapshot`` in place; returns the loop's counters and log."""
    model.load_state_dict(saved["model"])
    with torch.no_grad():
        for n, t in extra.items():
            t.copy_(saved["extra"][n])
    opt.load_state_dict(saved["optimizer"])
    generator.set_state(saved["generator"])
    keys = ("iteration", "log", "running", "seconds")
    return {k: copy.deepcopy(saved[k]) for k in keys}


def curve(
    run: dict[str, Any], tasks: Any, inner_lr: Any, steps: int = TEST_STEPS
) -> dict[str, Any]:
    """Adaptation curve on the fixed test tasks: mean and 95% half-width per step.

    inner_lr: a float, or Meta-SGD's dict of per-parameter rates.
    """
    mse = adaptation_curve(
        run["model"],
        run["params"],
        tasks,
        loss_fn=F.mse_loss,
        inner_lr=inner_lr,
        steps=steps,
    )
    estimates = [mean_ci(mse[:, s]) for s in range(mse.shape[1])]
    return {
        "steps": list(range(mse.shape[1])),
        "mean": [e.mean for e in estimates],
        "ci95": [e.half_width for e in estimates],
        # The mean hides a heavy tail: a few tasks can blow up under repeated
        # steps, so the median and the worst task are kept too.
        "median": mse.median(0).values.tolist(),
        "max": mse.max(0).values.tolist(),
    }


def train_reptile(
    iterations: int,
    bench: Bench | None,
    *,
    inner_lr: float = REPTILE_LR,
    steps: int = REPTILE_STEPS,
) -> dict[str, Any]:
    """Reptile on the same meta-batches; Adam steps along mean(θ − W).

    inner_lr, steps: the inner SGD run on each task's 20 points; the defaults
    are the ones chosen on validation tasks (``reptile_probe.py``).
    """
    dist = Sinusoid(k_support=K_TRAIN, k_query=K_TRAIN)
    model = sinusoid_mlp(INIT_SEED)
    params = dict(model.named_parameters())
    opt = torch.optim.Adam(params.values(), lr=OUTER_LR)
    generator = torch.Generator().manual_seed(TRAIN_SEED)
    log, start = [], time.perf_counter()
    for it in range(1, iterations + 1):
        b = dist.sample_batch(META_BATCH, generator)
        # Reptile has no query set: it trains on all 20 points of each task.
        joined = TaskBatch(
            torch.cat([b.x_support, b.x_query], dim=1),
            torch.cat([b.y_support, b.y_query], dim=1),
            b.x_query,
            b.y_query,
        )
        direction = reptile_grad(
            model,
            params,
            joined,
            loss_fn=F.mse_loss,
            inner_lr=inner_lr,
            steps=steps,
        )
        for n, p in params.items():
            p.grad = direction[n]
        opt.step()
        if it % LOG_EVERY == 0 or it == iterations:
            size = sum(d.square().sum() for d in direction.values()).sqrt()
            norm = size.item()  # rounded for the JSON; None if it blew up
            log.append(
                {
                    "iteration": it,
                    "direction_norm": round(norm, 5) if math.isfinite(norm) else None,
                }
            )
        if bench is not None and it % STEP_EVERY == 0:
            bench.step(STEP_EVERY)
    return {
        "model": model,
        "params": params,
        "log": log,
        "seconds": time.perf_counter() - start,
    }


def evaluation_tasks(k_support: int = K_TEST) -> Any:
    """The fixed evaluation tasks: k_support shots, 100 fresh query points."""
    return fixed_tasks(
        Sinusoid(k_support=k_support, k_query=N_QUERY_TEST), N_TEST, TEST_SEED
    )


# --------------------------------------------------------------------------
# Layer transfer (Yosinski et al. 2014)
# --------------------------------------------------------------------------


def run_layer_transfer(
    bench: Bench,
    sizes: tuple[int, ...],
    data_a: TaskData,
    data_b: TaskData,
    *,
    steps: int,
    seeds: list[int],
    trainer: dict[str, Any],
) -> Iterable[dict[str, Any]]:
    """baseA, baseB and every condition at every cut: one harness run per seed.

    Returns each seed's ``{"rows", "base_a"}``, resumed runs included, for
    :func:`merge_layer_transfer_runs`.
    """
    train_one = functools.partial(train_classifier, **trainer)

    def train(*args: Any, **kwargs: Any) -> list[float]:
        losses = train_one(*args, **kwargs)
        bench.step(steps)
        return losses

    def run_seed(seed: int) -> dict[str, Any]:
        base_a: list[float] = []
        rows = layer_transfer(
            lambda generator: make_mlp(sizes, generator),
            data_a,
            data_b,
            steps=steps,
            seeds=[seed],
            train=train,
            inspect=lambda row, _: (
                base_a.append(float(row["accuracy"]))
                if row["condition"] == "baseA"
                else None
            ),
        )
        rows = [{**r, "accuracy": float(r["accuracy"])} for r in rows]
        return {"rows": rows, "base_a": base_a}

    networks = 2 + (len(sizes) - 2) * len(CONDITIONS)  # baseA, baseB, every cut
    bench.plan({str(seed): networks * steps for seed in seeds})
    for key in bench.todo():
        bench.finish(key, run_seed(int(key)))
    return bench.results().values()


def merge_layer_transfer_runs(
    runs: Iterable[dict[str, Any]], *, digits: int | None = 4
) -> tuple[list[dict[str, Any]], list[float]]:
    """Rows of per-seed ``layer_transfer`` runs, in one run's order over seeds.

    Each run holds ``{"rows": [...], "base_a": [...]}`` for one seed; a single
    ``layer_transfer`` call over all the seeds lists every baseB row first,
    then the other rows seed by seed. Accuracies are rounded to ``digits``
    (None: kept as measured). Returns the rows and baseA's accuracies on A.
    """
    done = list(runs)
    base_a = [float(a) for run in done for a in run["base_a"]]
    rows = [r for run in done for r in run["rows"] if r["condition"] == "baseB"]
    rows += [r for run in done for r in run["rows"] if r["condition"] != "baseB"]
    rows = [
        {
            **r,
            "accuracy": float(r["accuracy"])
            if digits is None
            else round(float(r["accuracy"]), digits),
        }
        for r in rows
    ]
    return rows, base_a


def layer_transfer_summary(
    rows: list[dict[str, Any]], digits: int = 4
) -> list[dict[str, Any]]:
    """``summarize(rows)`` with the mean and std rounded to ``digits``."""
    return [
        {**s, "mean": round(s["mean"], digits), "std": round(s["std"], digits)}
        for s in summarize(rows)
    ]


def layer_transfer_checks(
    summary: list[dict[str, Any]], depths: list[int]
) -> dict[str, Any]:
    """The three published findings, judged on the means over seeds.

    A quick pass/fail stored with the result; ``benchmarks/claims.py`` tests
    the same findings with their spread over seeds.
    """
    mean = {(s["condition"], s["n"]): s["mean"] for s in summary}
    base_b = mean[("baseB", 0)]
    deepest = max(depths)
    drop = mean[("AnB", 1)] - mean[("AnB", deepest)]
    worst_margin = min(
        min(mean[(c, n)] for c in CONDITIONS if c != "random") - mean[("random", n)]
        for n in depths
    )
    plus_margin = min(mean[("AnB+", n)] - base_b for n in depths)
    return {
        f"AnB at the deepest cut (n={deepest}) below AnB at n=1": {
            "measured": round(drop, 4),
            "target": "AnB(1) - AnB(deepest) > 0",
            "pass": bool(drop > 0),
        },
        "AnB+ at or above baseB at every n (few target examples)": {
            "measured": round(plus_margin, 4),
            "target": "min over n of AnB+(n) - baseB >= 0",
            "pass": bool(plus_margin >= 0),
        },
        "random-frozen the worst condition at every n": {
            "measured": round(worst_margin, 4),
            "target": "min over n of (worst other condition - random) > 0",
            "pass": bool(worst_margin > 0),
        },
    }
