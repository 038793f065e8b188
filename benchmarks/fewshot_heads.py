"""Few-shot heads on one glyph embedding: R2D2, ProtoNets and pre-train-then-probe.

One network (the conv4 of ``fewshot_glyphs.py``: 4 x [conv 3x3, 32 channels,
ReLU, max-pool 2], a 32-d embedding, no normalisation layers) trained four ways
from the same initialisation, on the background-train classes only, for three
seeds, then scored on the 600 fixed evaluation episodes of
``fewshot_glyphs.py`` (5-way and 20-way, 1 and 5 shots, 15 queries per class):

- **ProtoNets** (Snell et al. 2017) and **R2D2** (Bertinetto et al. 2019, a
  closed-form ridge-regression head with meta-learned λ and scale), each
  meta-trained for 600 iterations of 8 five-way one-shot episodes (5 queries
  per class): the budget of ``fewshot_glyphs.py``, whose seed-0 ProtoNets run
  this one repeats;
- **pre-training** for 10 epochs of 539-way cross-entropy (batch 128), with a
  linear head (probed by *Baseline*, a new linear head fit on the support set,
  and by Tian et al.'s *logistic regression* on unit-length features) or with a
  cosine head (probed by *Baseline++*, a new cosine head; Chen et al. 2019).

The two budgets are about equal: the JSON records the images each training run
processed and its CPU seconds. R2D2's initial scale is chosen first on
validation-class episodes (150 iterations each for three values, seed 100); no
choice looks at the evaluation scripts. Accuracy: the mean over the 600
episodes per seed, then the mean over seeds with its t-based 95% interval.

Run from the repository root:
``nice -n 10 .venv/bin/python benchmarks/fewshot_heads.py`` (full) or
``.venv/bin/python benchmarks/fewshot_heads.py --smoke``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fewshot_glyphs as fg
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
from torch import Tensor, nn

from mtlbook.meta import (
    CosineClassifier,
    TaskBatch,
    cosine_logits,
    cosine_probe,
    linear_probe,
    logistic_probe,
    mean_ci,
    meta_train,
    protonet_loss,
    r2d2_hyper,
    r2d2_logits,
    r2d2_loss,
    score_tasks,
)

RESULT = Path(__file__).parent / "results" / "fewshot_heads.json"
SEEDS = (0, 1, 2)
PROBE_SEED = 100  # the R2D2 scale probe: its own initialisation and episodes
SETTINGS = tuple(fg.SETTINGS)  # 5way1shot, 5way5shot, 20way1shot, 20way5shot
HYPER: dict[str, Any] = {
    "meta": {"iterations": 600, "n_way": 5, "k_shot": 1, **fg.META},
    "r2d2": {"lam": 1.0, "scale_probe": [1.0, 10.0, 100.0], "probe_iterations": 150},
    "pretrain": dict(fg.HYPER["pretrain"]),
    "cosine_pretrain_scale": 10.0,  # Chen et al.'s scale for many classes
    "baseline": {"steps": 100, "lr": 1.0},  # as fewshot_glyphs.py's fine-tuning
    "baseline_pp": {"steps": 100, "lr": 0.1, "scale": 10.0},
    "logistic": {"c": 1.0},  # scikit-learn's default, as Tian et al.
}
LABELS = {
    "protonets": "ProtoNets (meta-trained)",
    "r2d2": "R2D2 (meta-trained)",
    "baseline": "Baseline: pre-trained, new linear head",
    "baseline_pp": "Baseline++: cosine pre-training, new cosine head",
    "logistic": "pre-trained, logistic regression (Tian et al.)",
}
SMOKE = {
    "iterations": 2,
    "epochs": 0.05,
    "n_episodes": 4,
    "steps": 3,
    "classes": 25,
    "meta_batch": 2,
    "n_query": 5,
    "seeds": (0,),
}


# --- training ---------------------------------------------------------------------


def train_head(
    method: str,
    seed: int,
    iterations: int,
    progress: Callable[[int], None],
    *,
    scale: float = 1.0,
    split: str = "train",
) -> tuple[nn.Module, dict[str, Tensor], dict[str, Any]]:
    """ProtoNets or R2D2 meta-trained on 5-way 1-shot episodes of ``split``.

    The same initialisation and episodes as fewshot_glyphs.py's ProtoNets for
    the same seed. Returns the embedding, R2D2's hyper-parameters (empty for
    ProtoNets) and a record (log, images processed).
    """
    m = HYPER["meta"]
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + m["k_shot"])
    episodes = fg.episodes_of(split, m["n_way"], m["k_shot"], m["n_query_train"])
    model = fg.conv4()
    params = dict(model.named_parameters())
    hyper = (
        r2d2_hyper(lam=HYPER["r2d2"]["lam"], scale=scale) if method == "r2d2" else {}
    )
    opt = torch.optim.Adam([*params.values(), *hyper.values()], lr=m["outer_lr"])
    log = []

    def after(iteration: int, loss: Tensor) -> None:
        progress(1)
        if (iteration - 1) % 50 == 0 or iteration == iterations:
            entry = {"iteration": iteration, "query_loss": round(loss.item(), 4)}
            for name, value in hyper.items():
                entry[name.removeprefix("log_")] = round(value.exp().item(), 4)
            log.append(entry)

    fn, options = (r2d2_loss, {"hyper": hyper}) if hyper else (protonet_loss, {})
    meta_train(
        fn,
        model,
        params,
        episodes,
        iterations=iterations,
        optimizer=opt,
        generator=generator,
        meta_batch=m["meta_batch"],
        extra=(hyper,) if hyper else (),
        callback=after,
        n_way=5,
        **options,
    )
    shots = m["n_way"] * (m["k_shot"] + m["n_query_train"])
    record = {"log": log, "images": iterations * m["meta_batch"] * shots}
    return model, {n: h.detach() for n, h in hyper.items()}, record


def pretrain(
    head: str, seed: int, epochs: float, progress: Callable[[int], None]
) -> tuple[nn.Module, dict[str, Any]]:
    """conv4 + a 539-way head ("linear" or "cosine") trained by cross-entropy.

    With head="linear" and seed 0 this is fewshot_glyphs.py's pre-training.
    """
    h = HYPER["pretrain"]
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rows = np.flatnonzero(np.isin(fg.GLYPHS.labels["char"], fg.SPLIT["train"]))
    x = torch.from_numpy(fg.GLYPHS.float_images()[rows]).unsqueeze(1)
    y = torch.from_numpy(
        np.searchsorted(fg.SPLIT["train"], fg.GLYPHS.labels["char"][rows])
    )
    n_classes = len(fg.SPLIT["train"])
    if head == "linear":
        model = fg.classifier(n_classes)
    else:
        model = nn.Sequential(
            OrderedDict(
                body=fg.conv4(),
                head=CosineClassifier(
                    fg.CHANNELS, n_classes, scale=HYPER["cosine_pretrain_scale"]
                ),
            )
        )
    n_batches = max(1, round(epochs * len(x) / h["batch"]))
    log = fg.train_by_batches(model, x, y, n_batches, h, generator, progress, 100)
    return model.body, {"log": log, "images": n_batches * h["batch"]}


# --- evaluation on frozen features ------------------------------------------------


def _protonet_accuracy(
    model: nn.Module, params: dict[str, Tensor], task: Any, *, n_way: int
) -> Tensor:
    return fg.protonet_accuracy(model, params, task, n_way=n_way)


def _r2d2_accuracy(
    model: nn.Module,
    params: dict[str, Tensor],
    task: Any,
    *,
    n_way: int,
    hyper: dict[str, Tensor],
) -> Tensor:
    logits = r2d2_logits(model, params, task, n_way=n_way, hyper=hyper)
    return (logits.argmax(dim=1) == task.y_query).float().mean()


def _probe_accuracy(
    method: str,
    zs: Tensor,
    ys: Tensor,
    zq: Tensor,
    yq: Tensor,
    n_way: int,
    steps: int | None,
) -> float:
    """One episode scored by a probe fit on its support features."""
    if method == "baseline":
        h = HYPER["baseline"]
        w, b = linear_probe(zs, ys, n_way, steps=steps or h["steps"], lr=h["lr"])
        logits = zq @ w.T + b
    elif method == "baseline_pp":
        h = HYPER["baseline_pp"]
        w = cosine_probe(
            zs, ys, n_way, scale=h["scale"], steps=steps or h["steps"], lr=h["lr"]
        )
        logits = cosine_logits(zq, w, h["scale"])
    else:
        w, b = logistic_probe(zs, ys, n_way, c=HYPER["logistic"]["c"])
        logits = F.normalize(zq, dim=1) @ w.T + b
    return float((logits.argmax(dim=1) == yq).double().mean())


def evaluate(
    method: str,
    body: nn.Module,
    hyper: dict[str, Tensor],
    setting: str,
    n_episodes: int,
    progress: Callable[[int], None],
    steps: int | None = None,
) -> list[float]:
    """Per-episode query accuracy on fewshot_glyphs.py's fixed episodes."""
    n_way, k_shot = fg.SETTINGS[setting]
    x_all = fg.episodes_of("evaluation", n_way, k_shot, fg.N_QUERY).x
    features = fg.embed_all(body, x_all)
    scores: list[float] = []
    for batch in fg.eval_episodes(setting, n_episodes):
        progress(len(batch))
        zs = features[batch.info["support_index"]]
        zq = features[batch.info["query_index"]]
        feats = TaskBatch(zs, batch.y_support, zq, batch.y_query)
        if method == "protonets":
            acc = score_tasks(_protonet_accuracy, nn.Identity(), {}, feats, n_way=n_way)
            scores += acc.double().tolist()
        elif method == "r2d2":
            acc = score_tasks(
                _r2d2_accuracy, nn.Identity(), {}, feats, n_way=n_way, hyper=hyper
            )
            scores += acc.double().tolist()
        else:
            for i in range(len(batch)):
                scores.append(
                    _probe_accuracy(
                        method,
                        zs[i],
                        batch.y_support[i],
                        zq[i],
                        batch.y_query[i],
                        n_way,
                        steps,
                    )
                )
    return scores


def probe_scale(smoke: bool, progress: Callable[[int], None]) -> dict[str, Any]:
    """R2D2's initial scale, chosen on 5-way 1-shot episodes of the val classes."""
    h = HYPER["r2d2"]
    iterations = SMOKE["iterations"] if smoke else h["probe_iterations"]
    n_episodes = SMOKE["n_episodes"] if smoke else 200
    val = fg.episodes_of("val", 5, 1, fg.N_QUERY)
    generator = torch.Generator().manual_seed(PROBE_SEED)
    episodes = val.sample_batch(n_episodes, generator)
    scores = {}
    for scale in h["scale_probe"]:
        body, hyper, _ = train_head(
            "r2d2", PROBE_SEED, iterations, progress, scale=scale
        )
        with torch.no_grad():
            zs = fg.embed_all(body, episodes.x_support.flatten(0, 1))
            zq = fg.embed_all(body, episodes.x_query.flatten(0, 1))
        feats = TaskBatch(
            zs.unflatten(0, episodes.x_support.shape[:2]),
            episodes.y_support,
            zq.unflatten(0, episodes.x_query.shape[:2]),
            episodes.y_query,
        )
        acc = score_tasks(
            _r2d2_accuracy, nn.Identity(), {}, feats, n_way=5, hyper=hyper
        )
        scores[str(scale)] = round(float(acc.double().mean()), 4)
    best = max(h["scale_probe"], key=lambda s: scores[str(s)])
    return {
        "val_accuracy": scores,
        "chosen_scale": best,
        "iterations": iterations,
        "n_episodes": n_episodes,
    }


# --- the run ----------------------------------------------------------------------


# One training run per key; a pre-trained body serves every probe of its head.
RUNS = {
    "protonets": ("protonets",),
    "r2d2": ("r2d2",),
    "linear_pretrain": ("baseline", "logistic"),
    "cosine_pretrain": ("baseline_pp",),
}


def run_seed(
    run: str, seed: int, scale: float, smoke: bool, progress: Callable[[int], None]
) -> dict[str, Any]:
    """Train one model (a meta-learner or a pre-trained body) and score it."""
    n_episodes = SMOKE["n_episodes"] if smoke else 600
    t0, c0 = time.perf_counter(), time.process_time()
    hyper: dict[str, Tensor] = {}
    if run in ("protonets", "r2d2"):
        iters = SMOKE["iterations"] if smoke else HYPER["meta"]["iterations"]
        body, hyper, record = train_head(run, seed, iters, progress, scale=scale)
    else:
        epochs = SMOKE["epochs"] if smoke else HYPER["pretrain"]["epochs"]
        head = run.removesuffix("_pretrain")
        body, record = pretrain(head, seed, epochs, progress)
    out: dict[str, Any] = {
        "train_wall_s": round(time.perf_counter() - t0, 1),
        "train_cpu_s": round(time.process_time() - c0, 1),
        "train_images": record["images"],
        "log": record["log"],
        # R2D2's learned λ and scale (stored as logarithms while training)
        "hyper": {
            n.removeprefix("log_"): round(v.exp().item(), 4) for n, v in hyper.items()
        },
        "results": {},
        "eval_cpu_s": {},
    }
    for method in RUNS[run]:
        t0 = time.process_time()
        out["results"][method] = {}
        for setting in SETTINGS:
            steps = SMOKE["steps"] if smoke else None
            acc = evaluate(method, body, hyper, setting, n_episodes, progress, steps)
            est = mean_ci(acc)
            out["results"][method][setting] = {
                "mean": round(est.mean, 4),
                "ci95": round(est.half_width, 4),
                "n_episodes": est.n,
            }
        out["eval_cpu_s"][method] = round(time.process_time() - t0, 1)
    return out


def summarise(runs: dict[str, Any], seeds: tuple[int, ...]) -> dict[str, Any]:
    """Per method and setting: the per-seed means, their mean and t-based CI."""
    from scipy import stats

    table: dict[str, Any] = {}
    run_of = {m: run for run, methods in RUNS.items() for m in methods}
    for method in LABELS:
        keys = [f"{run_of[method]}/{s}" for s in seeds]
        rows = [runs[k] for k in keys if k in runs]
        if not rows:
            continue
        entry: dict[str, Any] = {"label": LABELS[method], "run": run_of[method]}
        for setting in SETTINGS:
            values = [r["results"][method][setting]["mean"] for r in rows]
            mean = float(np.mean(values))
            half = (
                float(
                    stats.t.ppf(0.975, len(values) - 1)
                    * np.std(values, ddof=1)
                    / np.sqrt(len(values))
                )
                if len(values) > 1
                else None
            )
            entry[setting] = {
                "per_seed": values,
                "mean": round(mean, 4),
                "ci95_over_seeds": None if half is None else round(half, 4),
            }
        entry["train_images"] = [r["train_images"] for r in rows]
        entry["train_cpu_s"] = [r["train_cpu_s"] for r in rows]
        table[method] = entry
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        default=",".join(map(str, SEEDS)),
        help="comma-separated subset, to run seeds in parallel processes",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="combine the JSONs of runs with disjoint --seeds into --out",
    )
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    if args.merge:
        merge(args.merge, args.out)
        return
    pin_threads(1)
    seeds = SMOKE["seeds"] if args.smoke else tuple(map(int, args.seeds.split(",")))
    if args.smoke:
        n = SMOKE["classes"]
        fg.META["meta_batch"], fg.N_QUERY = SMOKE["meta_batch"], SMOKE["n_query"]
        HYPER["meta"]["meta_batch"] = SMOKE["meta_batch"]
        fg.GLYPHS = fg.GLYPHS.subset(
            np.concatenate([ids[:n] for ids in fg.SPLIT.values()])
        )
        fg.episodes_of.cache_clear()
    t_start = time.perf_counter()
    n_episodes = SMOKE["n_episodes"] if args.smoke else 600
    iters = SMOKE["iterations"] if args.smoke else HYPER["meta"]["iterations"]
    probe_iters = (
        SMOKE["iterations"] if args.smoke else HYPER["r2d2"]["probe_iterations"]
    )
    pre = max(
        1,
        round(
            (SMOKE["epochs"] if args.smoke else HYPER["pretrain"]["epochs"])
            * np.isin(fg.GLYPHS.labels["char"], fg.SPLIT["train"]).sum()
            / HYPER["pretrain"]["batch"]
        ),
    )
    plan = {"scale_probe": probe_iters * len(HYPER["r2d2"]["scale_probe"])}
    evals = n_episodes * len(SETTINGS)
    for seed in seeds:
        for run, methods in RUNS.items():
            train = iters if run in ("protonets", "r2d2") else pre
            plan[f"{run}/{seed}"] = train + evals * len(methods)

    bench = Bench("fewshot_heads", args.out, resume=args.resume)
    bench.plan(plan)
    for key in bench.todo():
        if key == "scale_probe":
            bench.finish(key, probe_scale(args.smoke, bench.step))
            continue
        run, seed = key.split("/")
        scale = bench.results()["scale_probe"]["chosen_scale"]
        bench.finish(key, run_seed(run, int(seed), scale, args.smoke, bench.step))
    runs = bench.results()
    probe = runs.pop("scale_probe")
    for run in runs.values():  # runs checkpointed before the names lost "log_"
        run["hyper"] = {k.removeprefix("log_"): v for k, v in run["hyper"].items()}
    write_json(
        args.out,
        {
            "smoke": args.smoke,
            "settings": {
                "model": f"conv4, {fg.CHANNELS} channels, ReLU, max-pool, no norm "
                "layers (as fewshot_glyphs.py)",
                "methods": HYPER,
                "seeds": list(seeds),
                "evaluation": {
                    "split": "evaluation scripts (never seen in training)",
                    "n_episodes": n_episodes,
                    "n_query_per_class": fg.N_QUERY,
                    "episode_seed": fg.EPISODE_SEED,
                    "same_episodes_for_every_method_and_seed": True,
                    "ci_over_seeds": "t-based 95% interval of the mean of the "
                    "per-seed episode means",
                },
                "meta_learners_trained_on": "5-way 1-shot episodes; the same model "
                "is scored at every setting",
            },
            "settings_list": list(SETTINGS),
            "r2d2_scale_probe": probe,
            "results": summarise(runs, seeds),
            "runs": runs,
            "wall_time_s": round(time.perf_counter() - t_start, 1),
            "cpu_seconds_total": round(time.process_time(), 1),
            "machine": machine(),
        },
    )
    bench.close()


def merge(parts: list[Path], out: Path) -> None:
    """One result from part runs on disjoint seeds (the same scale probe)."""
    results = [json.loads(path.read_text()) for path in parts]
    merged = results[0]
    for part in results[1:]:
        if part["r2d2_scale_probe"] != merged["r2d2_scale_probe"]:
            raise ValueError("the parts ran different scale probes")
        if set(part["settings"]["seeds"]) & set(merged["settings"]["seeds"]):
            raise ValueError("the parts share seeds; run disjoint --seeds")
        if part["smoke"] != merged["smoke"]:
            raise ValueError("do not merge smoke runs with full runs")
        merged["runs"].update(part["runs"])
        merged["settings"]["seeds"] += part["settings"]["seeds"]
    seeds = tuple(sorted(merged["settings"]["seeds"]))
    merged["settings"]["seeds"] = list(seeds)
    merged["runs"] = dict(
        sorted(
            merged["runs"].items(),
            key=lambda kv: (
                int(kv[0].split("/")[1]),
                list(RUNS).index(kv[0].split("/")[0]),
            ),
        )
    )
    merged["results"] = summarise(merged["runs"], seeds)
    merged["wall_time_s"] = max(part["wall_time_s"] for part in results)
    # the processes' own totals miss work done before a --resume: sum the runs
    merged["cpu_seconds_total"] = round(
        sum(
            r["train_cpu_s"] + sum(r["eval_cpu_s"].values())
            for r in merged["runs"].values()
        ),
        1,
    )
    merged["parts_run_in_parallel"] = len(results)
    write_json(out, merged)


if __name__ == "__main__":
    main()
