"""Seven ways to learn the sinusoid family, on the same 600 fixed test tasks.

Writes ``benchmarks/results/sinusoid_methods.json``; the meta-learning chapter
renders it as one table and one figure. Run from the repository root::

    .venv/bin/python benchmarks/sinusoid_methods.py
    .venv/bin/python benchmarks/sinusoid_methods.py --smoke --out smoke.json
    .venv/bin/python benchmarks/sinusoid_methods.py --resume   # after a kill

Protocol: Finn et al. (2017) Table 2, as in ``maml_sinusoid.py`` (same model,
seeds, meta-batches and test tasks) but with ``ITERATIONS`` meta-iterations for
every method, so that all fit one CPU budget: meta-training tasks have 10
support + 10 query points, 25 per meta-batch, Adam at 1e-3 on the 1-40-40-1
ReLU MLP. Test: 600 tasks (seed 2024), 5 support points, MSE on 100 fresh
query points after 0..10 SGD steps at α = 0.01, mean ± 1.96·s/√600.

- MAML, first-order MAML: one inner step at α in training.
- ANIL: MAML whose inner loop (training and test) adapts only the last layer.
- Meta-SGD: one learned rate per weight (init α), one step in training; its
  curve repeats the learned step, which the protocol never trained for.
- Reptile: no query set: 10 SGD steps at 0.02 on all 20 points of each task,
  the direction mean(θ − W) fed to Adam as a gradient (Nichol et al. 2018,
  §3). Inner rate and steps chosen by ``reptile_probe.py`` on validation
  tasks that no reported score uses; tested at α like all.
- Pretrained: joint training on support ∪ query, fine-tuned at test time.
- CNP: a conditional neural process (width 128), trained on the query
  log-likelihood given the 10 support points; tested by the MSE of its mean
  given the 5 test support points. It takes no gradient steps: one number.

The 70,000-iteration MAML and pretrained curves of ``maml_sinusoid.json``
(the exact Table 2 protocol) are copied in as reference rows.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from harness import Bench, add_common_arguments, machine, parse_arguments, write_json
from protocols import (
    INIT_SEED,
    INNER_LR,
    K_TRAIN,
    LOG_EVERY,
    MAML_RESULT,
    META_BATCH,
    OUTER_LR,
    PUBLISHED,
    REPTILE_LR,
    REPTILE_STEPS,
    STEP_EVERY,
    TEST_STEPS,
    TRAIN_SEED,
    evaluation_tasks,
    train,
    train_reptile,
)

from mtlbook.meta import (
    ConditionalNeuralProcess,
    Sinusoid,
    TaskBatch,
    adaptation_curve,
    anil_loss,
    cnp_loss,
    fomaml_loss,
    functional,
    joint_loss,
    maml_loss,
    mean_ci,
    meta_backward,
    meta_loss,
    metasgd_loss,
    metasgd_rates,
    score_tasks,
)
from mtlbook.meta.sinusoid import sinusoid_mlp

RESULT = Path(__file__).parent / "results" / "sinusoid_methods.json"
ITERATIONS = 10_000  # every method; what fit a shared 2-core machine in time
ALPHA = INNER_LR  # the inner / test-time rate of Finn et al. (2017)
HEAD = "4"  # the last nn.Linear of the 1-40-40-1 MLP
CNP_WIDTH = 128
DIVERGED = 1e6  # an MSE above this (or non-finite) counts as diverged


def r(x: float) -> float | None:
    """Round for the JSON; None for a non-finite number."""
    return round(x, 5) if math.isfinite(x) else None


def summarise(mse: torch.Tensor) -> dict[str, Any]:
    """Per-step mean ± 95% CI, median, worst task and fraction diverged.

    mse: (tasks, steps + 1). The mean is None at a step where a task diverged.
    """
    ok = torch.isfinite(mse) & (mse < DIVERGED)
    out: dict[str, Any] = {"mean": [], "ci95": [], "median": [], "max": []}
    for s in range(mse.shape[1]):
        col = mse[:, s]
        est = mean_ci(col) if bool(ok[:, s].all()) else None
        out["mean"].append(r(est.mean) if est else None)
        out["ci95"].append(r(est.half_width) if est else None)
        out["median"].append(r(col.nan_to_num(float("inf")).median().item()))
        out["max"].append(r(col.max().item()))
    out["fraction_diverged"] = [r(v) for v in (~ok).float().mean(0).tolist()]
    out["steps"] = list(range(mse.shape[1]))
    return out


def curve(run: dict[str, Any], tasks: TaskBatch, lr: Any, **kw: Any) -> torch.Tensor:
    """Query MSE after 0..10 steps at lr on each test task: (600, 11)."""
    return adaptation_curve(
        run["model"],
        run["params"],
        tasks,
        loss_fn=F.mse_loss,
        inner_lr=lr,
        steps=TEST_STEPS,
        **kw,
    )


def train_cnp(iterations: int, bench: Bench) -> dict[str, Any]:
    """The CNP trained like the others (Adam, same meta-batches), no inner loop."""
    torch.manual_seed(INIT_SEED)
    model = ConditionalNeuralProcess(width=CNP_WIDTH)
    params = dict(model.named_parameters())
    opt = torch.optim.Adam(params.values(), lr=OUTER_LR)
    dist = Sinusoid(k_support=K_TRAIN, k_query=K_TRAIN)
    generator = torch.Generator().manual_seed(TRAIN_SEED)
    log, running, start = [], 0.0, time.perf_counter()
    for it in range(1, iterations + 1):
        loss = meta_loss(cnp_loss, model, params, dist.sample_batch(25, generator))
        opt.zero_grad(set_to_none=True)
        meta_backward(loss, params)
        opt.step()
        running += loss.item()
        if it % LOG_EVERY == 0 or it == iterations:
            n = it % LOG_EVERY or LOG_EVERY
            log.append({"iteration": it, "loss": r(running / n)})
            running = 0.0
        if it % STEP_EVERY == 0:
            bench.step(STEP_EVERY)
    return {
        "model": model,
        "params": params,
        "log": log,
        "seconds": time.perf_counter() - start,
    }


def cnp_mse(model: Any, params: Any, task: Any) -> torch.Tensor:
    """MSE of the CNP's predicted mean on the query given the support: ()."""
    mean, _ = functional(model)(params, task.x_support, task.y_support, task.x_query)
    return F.mse_loss(mean, task.y_query)


def in_head(name: str) -> bool:
    """ANIL's adapted parameters: the last layer's."""
    return name.startswith(HEAD + ".")


def scored(trained: dict[str, Any], mse: torch.Tensor) -> dict[str, Any]:
    """A run's result: its summarised curve, training log and seconds."""
    return {
        "curve": summarise(mse),
        "log": trained["log"],
        "seconds": trained["seconds"],
    }


# Methods trained by maml_sinusoid.train: meta-loss and its options.
GRADIENT_RUNS: dict[str, tuple[Any, dict[str, Any]]] = {
    "maml": (maml_loss, {"inner_lr": ALPHA}),
    "fomaml": (fomaml_loss, {"inner_lr": ALPHA}),
    "anil": (anil_loss, {"inner_lr": ALPHA, "head": HEAD}),
    "pretrained": (joint_loss, {}),
}


def run_gradient(key: str, iterations: int, bench: Bench) -> dict[str, Any]:
    """MAML, first-order MAML, ANIL or pretrained: trained, then the curve at α."""
    fn, options = GRADIENT_RUNS[key]
    trained = train(
        fn,
        iterations,
        init_seed=INIT_SEED,
        train_seed=TRAIN_SEED,
        loss_fn=F.mse_loss,
        bench=bench,
        key=key,
        **options,
    )
    test = {"adapts": in_head} if key == "anil" else {}
    return scored(trained, curve(trained, evaluation_tasks(), ALPHA, **test))


def run_metasgd(key: str, iterations: int, bench: Bench) -> dict[str, Any]:
    """Meta-SGD; its curve repeats the learned step. Also its rates' summary."""
    rates = metasgd_rates(dict(sinusoid_mlp(INIT_SEED).named_parameters()), init=ALPHA)
    trained = train(
        metasgd_loss,
        iterations,
        extra=rates,
        init_seed=INIT_SEED,
        train_seed=TRAIN_SEED,
        loss_fn=F.mse_loss,
        bench=bench,
        key=key,
    )
    learned = {n: v.detach() for n, v in rates.items()}
    result = scored(trained, curve(trained, evaluation_tasks(), learned))
    return result | {"rates": rates_summary(learned)}


def rates_summary(learned: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Per-tensor statistics and a 40-bin histogram of Meta-SGD's rates."""
    all_rates = torch.cat([v.flatten() for v in learned.values()])
    counts, edges = torch.histogram(all_rates.double(), bins=40)
    return {
        "per_tensor": {
            n: {
                "mean": r(v.mean().item()),
                "min": r(v.min().item()),
                "max": r(v.max().item()),
                "fraction_negative": r((v < 0).float().mean().item()),
            }
            for n, v in learned.items()
        },
        "histogram": {
            "counts": counts.int().tolist(),
            "edges": [r(e) for e in edges.tolist()],
        },
        "fraction_negative": r((all_rates < 0).float().mean().item()),
    }


def run_reptile(key: str, iterations: int, bench: Bench) -> dict[str, Any]:
    trained = train_reptile(iterations, bench)
    return scored(trained, curve(trained, evaluation_tasks(), ALPHA))


def run_cnp(key: str, iterations: int, bench: Bench) -> dict[str, Any]:
    """The CNP takes no gradient steps: one MSE per test task."""
    trained = train_cnp(iterations, bench)
    scores = score_tasks(
        cnp_mse, trained["model"], trained["params"], evaluation_tasks()
    )
    est = mean_ci(scores)
    return {
        "cnp": {
            "mean": r(est.mean),
            "ci95": r(est.half_width),
            "median": r(scores.median().item()),
            "max": r(scores.max().item()),
        },
        "log": trained["log"],
        "seconds": trained["seconds"],
    }


RUNS = {
    "maml": run_gradient,
    "fomaml": run_gradient,
    "anil": run_gradient,
    "metasgd": run_metasgd,
    "reptile": run_reptile,
    "pretrained": run_gradient,
    "cnp": run_cnp,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    torch.set_num_threads(1)
    iterations = 20 if args.smoke else ITERATIONS

    start = time.perf_counter()
    bench = Bench("sinusoid_methods", args.out, resume=args.resume)
    bench.plan(dict.fromkeys(RUNS, iterations))
    for key in bench.todo():
        bench.finish(key, RUNS[key](key, iterations, bench))
    runs = bench.results()
    curves = {m: run["curve"] for m, run in runs.items() if m != "cnp"}
    cnp = runs["cnp"]["cnp"]
    metasgd_rates_summary = runs["metasgd"]["rates"]

    # The exact Table 2 protocol (70,000 iterations) for reference.
    ref = json.loads(MAML_RESULT.read_text()) if MAML_RESULT.exists() else None
    reference = (
        {
            m: {k: [r(v) for v in ref["curves"][m][k]] for k in ("mean", "ci95")}
            | {"iterations": ref["settings"]["iterations"]}
            for m in ("maml", "pretrained")
        }
        if ref
        else None
    )

    def at(method: str, step: int) -> float | None:
        return curves[method]["mean"][step]

    def below(a: float | None, b: float | None) -> bool:
        return a is not None and b is not None and a < b

    maml1 = at("maml", 1)
    claims = {
        "maml_beats_pretrained_at_1_5_10_steps": {
            "measured": {s: [at("maml", s), at("pretrained", s)] for s in (1, 5, 10)},
            "target": "MAML mean below pretrained mean at 1, 5, 10 steps "
            "(Finn et al. 2017, Table 2)",
            "pass": all(below(at("maml", s), at("pretrained", s)) for s in (1, 5, 10)),
        },
        "pretrained_at_least_2_every_step": {
            "measured": min(v for v in curves["pretrained"]["mean"] if v is not None),
            "target": ">= 2.0 (published 2.41 / 2.23 / 2.19)",
            "pass": all(
                v is not None and v >= 2.0 for v in curves["pretrained"]["mean"]
            ),
        },
        "fomaml_close_to_maml_1_step": {
            "measured": [at("fomaml", 1), maml1],
            "target": "first-order within 25% of MAML after one step (Finn et "
            "al. §5.2: 'nearly the same' on images; not reported for sinusoids)",
            "pass": at("fomaml", 1) is not None
            and maml1 is not None
            and at("fomaml", 1) <= 1.25 * maml1,
        },
        "anil_close_to_maml_1_step": {
            "measured": [at("anil", 1), maml1],
            "target": "ANIL within 25% of MAML after one step (Raghu et al. "
            "2020 show parity on images; not reported for sinusoids)",
            "pass": at("anil", 1) is not None
            and maml1 is not None
            and at("anil", 1) <= 1.25 * maml1,
        },
        "metasgd_beats_maml_1_step": {
            "measured": [at("metasgd", 1), maml1],
            "target": "Meta-SGD below MAML after one step (Li et al. 2017, Table 1)",
            "pass": below(at("metasgd", 1), maml1),
        },
        "reptile_beats_pretrained_10_steps": {
            "measured": [at("reptile", 10), at("pretrained", 10)],
            "target": "Reptile adapts while joint training does not (Nichol et "
            "al. 2018, §6, qualitative)",
            "pass": below(at("reptile", 10), at("pretrained", 10)),
        },
        "cnp_beats_pretrained_10_steps": {
            "measured": [cnp["mean"], at("pretrained", 10)],
            "target": "the meta-network's one forward pass beats 10 fine-tuning "
            "steps of the pretrained network",
            "pass": below(cnp["mean"], at("pretrained", 10)),
        },
    }
    result = {
        "source": "Finn, Abbeel, Levine (2017), Table 2 protocol; methods of "
        "Finn 2017 (MAML, first-order), Raghu 2020 (ANIL), Li 2017 (Meta-SGD), "
        "Nichol 2018 (Reptile), Garnelo 2018 (CNP)",
        "smoke": args.smoke,
        "settings": {
            "iterations": iterations,
            "iterations_note": "the same for every method, to fit one CPU "
            "budget; the protocol's 70,000 for MAML and pretrained are in "
            "reference_70k",
            "meta_batch": META_BATCH,
            "k_train_support": K_TRAIN,
            "k_train_query": K_TRAIN,
            "alpha": ALPHA,
            "outer_optimizer": "Adam",
            "outer_lr": OUTER_LR,
            "model": "1-40-40-1 ReLU MLP (CNP: encoder and decoder of 3 layers, "
            f"width {CNP_WIDTH})",
            "anil_head": "last layer ('4.weight', '4.bias'), in training and test",
            "metasgd": "rates per weight, init alpha, trained with the weights; "
            "test steps repeat the learned rates",
            "reptile": f"{REPTILE_STEPS} SGD steps at {REPTILE_LR} on support "
            "and query together (20 points); direction fed to Adam",
            "reptile_probe": "inner lr and steps chosen on validation tasks: "
            "benchmarks/results/reptile_probe.json",
            "pretrained": "joint training on support and query, no inner step",
            "cnp": "trained on the query Gaussian NLL given the 10 support "
            "points; scored by the MSE of its mean given the 5 test points",
            "test_tasks": 600,
            "k_test": 5,
            "test_steps": TEST_STEPS,
            "test_query": "100 fresh points per task drawn uniformly from [-5, 5]",
            "diverged": f"an MSE that is non-finite or >= {DIVERGED:g}; the mean "
            "is null at a step where any task diverged",
            "ci": "1.96 * sample std / sqrt(600)",
        },
        "seeds": {"init": INIT_SEED, "train": TRAIN_SEED, "test": 2024},
        "curves": curves,
        "cnp": cnp,
        "metasgd_rates": metasgd_rates_summary,
        "reference_70k": reference,
        "published": PUBLISHED,
        "claims": claims,
        "train_log": {m: run["log"] for m, run in runs.items()},
        "train_seconds": {m: r(run["seconds"]) for m, run in runs.items()},
        "wall_seconds": r(time.perf_counter() - start),
        "environment": machine(),
    }
    for log in result["train_log"].values():
        for row in log:
            row.update({k: r(v) for k, v in row.items() if isinstance(v, float)})
    write_json(args.out, result)
    bench.close()
    print(json.dumps({"claims": claims, "cnp": cnp}, indent=1))


if __name__ == "__main__":
    main()
