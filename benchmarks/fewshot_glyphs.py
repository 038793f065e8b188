"""Few-shot classification of the glyph evaluation scripts: eight methods.

Every model is a small conv4 (4 x [conv 3x3, 32 channels, ReLU, max-pool 2],
28 x 28 -> a 32-d embedding) WITHOUT normalisation layers: batch norm on batch
statistics would force ``map_tasks`` into its Python loop (wrong second-order
gradients under vmap, see mtlbook/meta/inner.py), so every meta-batch here runs
vectorised with ``vmap``.

Meta-training uses the background-train classes only; nothing is selected on
the evaluation scripts. Meta-learners: ProtoNets, MAML, first-order MAML (plain,
and with its head reset to zero after every outer step, the zeroing trick of Kao
et al. 2022), ANIL, ProtoMAML, Reptile, one model per method per shot setting,
trained 5-way. At
20-way only the methods without a 5-way head run: the 5-way ProtoNets model is
reused (its classifier comes from prototypes), and the baselines; MAML,
first-order MAML, ANIL and Reptile have a 5-way head, and ProtoMAML's 20-way
whole-network adaptation costs more CPU than the budget allows.
Baselines: a network pre-trained on all
background-train classes (539-way cross-entropy), then (a) its body frozen and
a new zero-initialised linear head trained on the support set ("fine-tuning")
and (b) 1-nearest neighbour on its embedding; and 1-nearest neighbour on pixels.

Each setting is scored on 600 fixed evaluation episodes (15 queries per class),
the same episodes for every method: accuracy mean and 95% CI 1.96 s / sqrt(600).
The JSON is rewritten after every run ("complete": false until the end), and
every finished run is checkpointed: ``--resume`` continues a killed run.

Run from the repository root:
``nice -n 10 .venv/bin/python benchmarks/fewshot_glyphs.py`` (full) or
``.venv/bin/python benchmarks/fewshot_glyphs.py --smoke --out smoke.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from harness import (
    Bench,
    add_common_arguments,
    parse_arguments,
    pin_threads,
    write_json,
)
from torch import Tensor, nn

from mtlbook.data.glyphs import load_glyphs, standard_split
from mtlbook.meta import (
    Task,
    TaskBatch,
    accuracy,
    adapt,
    anil_loss,
    fomaml_loss,
    functional,
    glyph_episodes,
    maml_loss,
    mean_ci,
    meta_train,
    protomaml_logits,
    protomaml_loss,
    protonet_logits,
    protonet_loss,
    reptile_grad,
    score_tasks,
)

RESULT = Path(__file__).parent / "results" / "fewshot_glyphs.json"
THREADS = 1
CHANNELS = 32
SEED = 0  # model initialisation and training episodes
EPISODE_SEED = 2026  # the fixed evaluation episodes
N_QUERY = 15  # queries per class at evaluation (as glyph_baseline.py)
SETTINGS = {
    "5way1shot": (5, 1),
    "5way5shot": (5, 5),
    "20way1shot": (20, 1),
    "20way5shot": (20, 5),
}
LABELS = {
    "protonets": "ProtoNets",
    "maml": "MAML (second order)",
    "fomaml": "first-order MAML",
    "fomaml_zero": "first-order MAML, head zeroed every step",
    "anil": "ANIL",
    "protomaml": "ProtoMAML",
    "reptile": "Reptile",
    "finetune": "fine-tuning (pre-trained body, new head)",
    "nn_embedding": "nearest neighbour, pre-trained embedding",
    "nn_pixels": "nearest neighbour, pixels",
}
FIVE_WAY_ONLY = ("maml", "fomaml", "fomaml_zero", "anil", "reptile", "protomaml")

# Shared by every meta-learner: 5-way training episodes, Adam on θ.
# The MAML family adapts at test time with the one step it was trained with:
# with a zero-initialised head, three steps at 0.4 overshoot (a trained MAML
# scored 72% after one test step and 22% after three on 100 episodes).
META = {"meta_batch": 8, "n_query_train": 5, "outer_lr": 1e-3}
HYPER: dict[str, dict[str, Any]] = {
    "protonets": {"iterations": 600},
    "maml": {"iterations": 600, "inner_lr": 0.4, "steps": 1, "test_steps": 1},
    "fomaml": {"iterations": 600, "inner_lr": 0.4, "steps": 1, "test_steps": 1},
    # Added after plain first-order MAML collapsed to chance (its query loss
    # back at ln 5) at inner rates 0.4, 0.1 and 0.04: the zeroing trick of Kao
    # et al. (2022) resets the head's start to 0 after every outer step.
    "fomaml_zero": {
        "iterations": 600,
        "inner_lr": 0.4,
        "steps": 1,
        "test_steps": 1,
        "zero_head_every_step": True,
    },
    "anil": {"iterations": 600, "inner_lr": 0.4, "steps": 1, "test_steps": 1},
    "protomaml": {"iterations": 600, "inner_lr": 0.1, "steps": 1, "test_steps": 3},
    # Reptile trains on support + query of each episode (no split), SGD inner.
    "reptile": {"iterations": 300, "inner_lr": 0.1, "steps": 3, "test_steps": 5},
    "pretrain": {"epochs": 10, "batch": 128, "lr": 1e-3},
    "finetune": {"steps": 100, "lr": 1.0},
}
# --smoke: every method and setting, on the first 25 classes of each split, with
# smaller meta-batches and fewer queries
SMOKE = {
    "iterations": 2,
    "epochs": 0.05,
    "n_episodes": 4,
    "finetune_steps": 5,
    "classes": 25,
    "meta_batch": 2,
    "n_query": 5,
}


# --- models ---------------------------------------------------------------------


def conv4(channels: int = CHANNELS) -> nn.Sequential:
    """x: (batch, 1, 28, 28) -> (batch, channels); no normalisation layers."""
    layers: list[nn.Module] = []
    c_in = 1
    for _ in range(4):
        layers += [nn.Conv2d(c_in, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = channels
    return nn.Sequential(*layers, nn.Flatten())


def classifier(n_way: int, zero_head: bool = False) -> nn.Sequential:
    """conv4 body, linear head "head": (batch, 1, 28, 28) -> (batch, n_way).

    zero_head: start the head at zero (the "zeroing trick" of Kao et al. 2022).
    Episode labels are a random permutation, so a random initial head only adds
    noise; from zero, one inner step makes row c of the head proportional to
    the mean embedding of class c. Without it, first-order MAML did not learn
    at all and MAML learned slowly (first run of this benchmark).
    """
    head = nn.Linear(CHANNELS, n_way)
    if zero_head:
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    return nn.Sequential(OrderedDict(body=conv4(), head=head))


def in_head(name: str) -> bool:
    return name.startswith("head.")


# --- test-time scores, one task at a time (vmapped by score_tasks) ----------------


def adapted_accuracy(
    model: nn.Module,
    params: dict[str, Tensor],
    task: Task,
    *,
    inner_lr: float,
    steps: int,
    adapts: Callable[[str], bool] | None = None,
) -> Tensor:
    """Query accuracy after ``steps`` SGD steps on the support set, no graph: ()."""
    predict = functional(model)
    fast = adapt(
        predict,
        params,
        task.x_support,
        task.y_support,
        loss_fn=F.cross_entropy,
        lr=inner_lr,
        steps=steps,
        order="none",
        adapts=adapts,
    )
    return accuracy(predict(fast, task.x_query), task.y_query)


def protonet_accuracy(
    model: nn.Module, params: dict[str, Tensor], task: Task, *, n_way: int
) -> Tensor:
    return accuracy(protonet_logits(model, params, task, n_way=n_way), task.y_query)


def protomaml_accuracy(
    model: nn.Module,
    params: dict[str, Tensor],
    task: Task,
    *,
    n_way: int,
    inner_lr: float,
    steps: int,
) -> Tensor:
    """ProtoMAML's adaptation (no graph kept), scored by query accuracy: ()."""
    logits = protomaml_logits(
        model, params, task, n_way=n_way, inner_lr=inner_lr, steps=steps, order="none"
    )
    return accuracy(logits, task.y_query)


@cache
def episodes_of(split: str, n_way: int, k_shot: int, n_query: int) -> Any:
    """glyph_episodes, built once per argument set."""
    return glyph_episodes(
        split, n_way=n_way, k_shot=k_shot, n_query=n_query, glyphs=GLYPHS
    )


# --- meta-training ----------------------------------------------------------------


def reptile_task(batch: TaskBatch) -> TaskBatch:
    """Reptile has no support/query split: train on all k + q examples."""
    x = torch.cat([batch.x_support, batch.x_query], dim=1)
    y = torch.cat([batch.y_support, batch.y_query], dim=1)
    return TaskBatch(x, y, batch.x_query, batch.y_query)


# The task loss of each gradient-based method and its keywords (the inner
# rate and steps are added from HYPER).
TASK_LOSSES: dict[str, tuple[Callable[..., torch.Tensor], dict[str, Any]]] = {
    "protonets": (protonet_loss, {"n_way": 5}),
    "maml": (maml_loss, {"loss_fn": F.cross_entropy}),
    "fomaml": (fomaml_loss, {"loss_fn": F.cross_entropy}),
    "fomaml_zero": (fomaml_loss, {"loss_fn": F.cross_entropy}),  # outer step differs
    "anil": (anil_loss, {"loss_fn": F.cross_entropy, "head": "head"}),
    "protomaml": (protomaml_loss, {"n_way": 5}),
}


def train_method(
    method: str, k_shot: int, iterations: int, progress: Callable[[int], None]
) -> tuple[nn.Module, list]:
    """A model of ``method`` meta-trained on 5-way k_shot background-train tasks.

    The gradient-based methods train through the package's ``meta_train``;
    Reptile, whose outer step is a direction rather than a loss's gradient,
    through :func:`train_reptile`. progress(1) is called after every outer step.
    """
    h = HYPER[method]
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED + k_shot)
    episodes = episodes_of("train", 5, k_shot, META["n_query_train"])
    model = (
        conv4()
        if method in ("protonets", "protomaml")
        else classifier(5, zero_head=True)
    )
    params = dict(model.named_parameters())
    opt = torch.optim.Adam(params.values(), lr=META["outer_lr"])
    if method == "reptile":
        steps = (opt, episodes, generator, iterations, progress)
        return model, train_reptile(model, params, *steps)
    log: list[dict[str, Any]] = []

    def after(iteration: int, loss: torch.Tensor) -> None:
        if h.get("zero_head_every_step"):
            with torch.no_grad():
                for name, p in params.items():
                    if in_head(name):
                        p.zero_()
        progress(1)
        if (iteration - 1) % 50 == 0 or iteration == iterations:
            log.append({"iteration": iteration, "query_loss": round(loss.item(), 4)})

    fn, options = TASK_LOSSES[method]
    inner = {k: h[k] for k in ("inner_lr", "steps") if k in h}  # not ProtoNets
    meta_train(
        fn,
        model,
        params,
        episodes,
        iterations=iterations,
        optimizer=opt,
        generator=generator,
        meta_batch=META["meta_batch"],
        callback=after,
        **options,
        **inner,
    )
    return model, log


def train_reptile(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    opt: torch.optim.Optimizer,
    episodes: Any,
    generator: torch.Generator,
    iterations: int,
    progress: Callable[[int], None],
) -> list[dict[str, Any]]:
    """Adam along Reptile's direction θ − W (Nichol et al. 2018, §3)."""
    h, log = HYPER["reptile"], []
    for it in range(iterations):
        batch = episodes.sample_batch(META["meta_batch"], generator)
        opt.zero_grad()
        direction = reptile_grad(
            model,
            params,
            reptile_task(batch),
            loss_fn=F.cross_entropy,
            inner_lr=h.get("inner_lr"),
            steps=h.get("steps"),
        )
        for n, p in params.items():
            p.grad = direction[n].clone()
        if it % 50 == 0 or it == iterations - 1:
            norm = torch.sqrt(sum((d**2).sum() for d in direction.values()))
            log.append({"iteration": it + 1, "direction_norm": round(norm.item(), 4)})
        opt.step()
        progress(1)
    return log


def pretrain_batches(epochs: float) -> int:
    """How many batches ``pretrain`` takes for ``epochs`` passes."""
    n_images = np.isin(GLYPHS.labels["char"], SPLIT["train"]).sum()
    return max(1, round(epochs * n_images / HYPER["pretrain"]["batch"]))


def pretrain(epochs: float, progress: Callable[[int], None]) -> tuple[nn.Module, list]:
    """conv4 + 539-way head trained with cross-entropy on background-train.

    progress(1) is called after every batch.
    """
    h = HYPER["pretrain"]
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    rows = np.flatnonzero(np.isin(GLYPHS.labels["char"], SPLIT["train"]))
    x = torch.from_numpy(GLYPHS.float_images()[rows]).unsqueeze(1)
    y = torch.from_numpy(np.searchsorted(SPLIT["train"], GLYPHS.labels["char"][rows]))
    model = classifier(len(SPLIT["train"]))
    n_batches = pretrain_batches(epochs)
    log = train_by_batches(model, x, y, n_batches, h, generator, progress, 40)
    return model, log


def train_by_batches(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_batches: int,
    h: dict[str, Any],
    generator: torch.Generator,
    progress: Callable[[int], None],
    log_every: int,
) -> list[dict[str, Any]]:
    """Adam (lr h["lr"]) on cross-entropy, batches of h["batch"] drawn without
    replacement epoch by epoch; progress(1) after every batch.

    Returns the loss every ``log_every`` batches and at the last.
    """
    opt = torch.optim.Adam(model.parameters(), lr=h["lr"])
    log, order = [], torch.empty(0, dtype=torch.long)
    for step in range(n_batches):
        if len(order) < h["batch"]:
            order = torch.randperm(len(x), generator=generator)
        idx, order = order[: h["batch"]], order[h["batch"] :]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == n_batches - 1:
            log.append({"batch": step + 1, "loss": round(loss.item(), 4)})
        progress(1)
    return log


# --- evaluation -------------------------------------------------------------------


def eval_episodes(setting: str, n_episodes: int) -> Iterator[TaskBatch]:
    """The fixed evaluation episodes of a setting, in chunks (bounded memory)."""
    n_way, k_shot = SETTINGS[setting]
    episodes = episodes_of("evaluation", n_way, k_shot, N_QUERY)
    generator = torch.Generator().manual_seed(EPISODE_SEED)
    chunk = max(1, 100 // n_way)
    for start in range(0, n_episodes, chunk):
        yield episodes.sample_batch(min(chunk, n_episodes - start), generator)


def nearest_neighbour(zs: Tensor, ys: Tensor, zq: Tensor) -> Tensor:
    """Label of the nearest support row for each query: (tasks, n_query)."""
    # ‖q‖² − 2 q·s + ‖s‖², without the (tasks, n_query, n_support, d) tensor.
    d = zs.square().sum(-1)[:, None, :] - 2 * zq @ zs.transpose(1, 2)
    return torch.gather(ys, 1, d.argmin(-1))


def linear_head(zs: Tensor, ys: Tensor, zq: Tensor, n_way: int, steps: int) -> Tensor:
    """A zero-initialised linear head fit on frozen features by full-batch GD.

    zs: (tasks, n_support, d); zq: (tasks, n_query, d); returns query logits.
    """
    lr = HYPER["finetune"]["lr"]
    w = torch.zeros(zs.shape[0], zs.shape[2], n_way, requires_grad=True)
    b = torch.zeros(zs.shape[0], 1, n_way, requires_grad=True)
    for _ in range(steps):
        logits = zs @ w + b
        loss = F.cross_entropy(logits.flatten(0, 1), ys.flatten(), reduction="sum")
        gw, gb = torch.autograd.grad(loss / zs.shape[1], (w, b))
        with torch.no_grad():
            w -= lr * gw
            b -= lr * gb
    with torch.no_grad():
        return zq @ w + b


def embed_all(body: nn.Module, x: Tensor) -> Tensor:
    """body(x) in chunks, no graph: (n, d). Without norm layers an image's
    embedding does not depend on its batch, so each image is embedded once."""
    with torch.no_grad():
        return torch.cat([body(x[i : i + 512]) for i in range(0, len(x), 512)])


FEATURE_METHODS = ("protonets", "anil", "finetune", "nn_embedding", "nn_pixels")


def evaluate(
    method: str,
    model: nn.Module | None,
    setting: str,
    n_episodes: int,
    steps: int,
    progress: Callable[[int], None],
) -> list[float]:
    """Per-episode query accuracy of one method on the fixed episodes.

    progress(n) is called with the size of every chunk of episodes.

    Methods whose test-time body is frozen (FEATURE_METHODS) embed the
    evaluation images once and score episodes on the features; the others
    adapt the whole network on each episode's support set.
    """
    n_way, k_shot = SETTINGS[setting]
    h = HYPER.get(method, {})
    x_all = episodes_of("evaluation", n_way, k_shot, N_QUERY).x
    if method == "nn_pixels":
        features = x_all.flatten(1)
    elif method in FEATURE_METHODS:
        assert model is not None
        body = model if method == "protonets" else model.body
        features = embed_all(body, x_all)
    scores: list[Tensor] = []
    for batch in eval_episodes(setting, n_episodes):
        progress(len(batch))
        if method in FEATURE_METHODS:
            zs = features[batch.info["support_index"]]
            zq = features[batch.info["query_index"]]
            if method in ("nn_pixels", "nn_embedding"):
                pred = nearest_neighbour(zs, batch.y_support, zq)
            elif method == "finetune":
                pred = linear_head(zs, batch.y_support, zq, n_way, steps).argmax(-1)
            if method in ("nn_pixels", "nn_embedding", "finetune"):
                scores.append((pred == batch.y_query).double().mean(dim=1))
                continue
            feats = TaskBatch(zs, batch.y_support, zq, batch.y_query)
            if method == "protonets":  # the same logits on precomputed embeddings
                acc = score_tasks(
                    protonet_accuracy, nn.Identity(), {}, feats, n_way=n_way
                )
            else:  # ANIL: only the head adapts at test time
                assert model is not None
                head = {n: p.detach() for n, p in model.head.named_parameters()}
                acc = score_tasks(
                    adapted_accuracy,
                    model.head,
                    head,
                    feats,
                    inner_lr=h["inner_lr"],
                    steps=steps,
                )
            scores.append(acc.double())
            continue
        assert model is not None
        params = {n: p.detach() for n, p in model.named_parameters()}
        if method == "protomaml":
            opts = {"n_way": n_way, "inner_lr": h["inner_lr"], "steps": steps}
            fn = protomaml_accuracy
        else:
            fn = adapted_accuracy
            opts = {"inner_lr": h["inner_lr"], "steps": steps}
        scores.append(score_tasks(fn, model, params, batch, **opts).double())
    return torch.cat(scores).tolist()


# --- the run ----------------------------------------------------------------------


def summary(acc: list[float]) -> dict[str, float | int]:
    est = mean_ci(acc)
    return {
        "mean": round(est.mean, 4),
        "ci95": round(est.half_width, 4),
        "n_episodes": est.n,
    }


def settings_of(method: str, k_shot: int) -> list[str]:
    """The evaluation settings one (method, shot) model is scored on."""
    return [
        setting
        for setting, (n_way, k) in SETTINGS.items()
        if k == k_shot and not (n_way != 5 and method in FIVE_WAY_ONLY)
    ]


def plan_runs(methods: list[str], smoke: bool) -> dict[str, int]:
    """Run keys ("pretrain", "method/k-shot") and their steps: training
    iterations or batches, plus evaluation episodes."""
    n_episodes = SMOKE["n_episodes"] if smoke else 600
    runs = {}
    if {"finetune", "nn_embedding"} & set(methods):
        epochs = SMOKE["epochs"] if smoke else HYPER["pretrain"]["epochs"]
        runs["pretrain"] = pretrain_batches(epochs)
    for method in methods:
        trains = method in HYPER and method != "finetune"
        iters = (
            SMOKE["iterations"] if smoke else HYPER.get(method, {}).get("iterations", 0)
        )
        for k_shot in (1, 5):
            episodes = n_episodes * len(settings_of(method, k_shot))
            runs[f"{method}/{k_shot}"] = (iters if trains else 0) + episodes
    return runs


def run_pretrain(smoke: bool, progress: Callable[[int], None]) -> dict[str, Any]:
    """The pre-trained classifier's weights, training log and times."""
    t0, c0 = time.perf_counter(), time.process_time()
    epochs = SMOKE["epochs"] if smoke else HYPER["pretrain"]["epochs"]
    model, log = pretrain(epochs, progress)
    return {
        "state": model.state_dict(),
        "log": log,
        "wall": {"pretrain": round(time.perf_counter() - t0, 1)},
        "cpu": {"pretrain": round(time.process_time() - c0, 1)},
    }


def run_method(
    method: str,
    k_shot: int,
    pretrained: nn.Module | None,
    smoke: bool,
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """Meta-train one model (if the method learns one) and score its settings."""
    h = HYPER.get(method, {})
    n_episodes = SMOKE["n_episodes"] if smoke else 600
    out: dict[str, Any] = {"results": {}, "wall": {}, "cpu": {}}
    try:
        model = pretrained
        if method in HYPER and method not in ("finetune",):
            t0, c0 = time.perf_counter(), time.process_time()
            iters = SMOKE["iterations"] if smoke else h["iterations"]
            model, out["log"] = train_method(method, k_shot, iters, progress)
            key = f"train {method} {k_shot}-shot"
            out["wall"][key] = round(time.perf_counter() - t0, 1)
            out["cpu"][key] = round(time.process_time() - c0, 1)
        for setting in settings_of(method, k_shot):
            steps = h.get("test_steps", h.get("steps", 0))
            if method == "finetune":
                steps = SMOKE["finetune_steps"] if smoke else h["steps"]
            t0, c0 = time.perf_counter(), time.process_time()
            acc = evaluate(method, model, setting, n_episodes, steps, progress)
            key = f"evaluate {method} {setting}"
            out["wall"][key] = round(time.perf_counter() - t0, 1)
            out["cpu"][key] = round(time.process_time() - c0, 1)
            out["results"][setting] = summary(acc)
    except ValueError as error:  # e.g. a diverged meta-loss: report it
        out["failure"] = str(error)
    return out


def pretrained_model(state: dict[str, Tensor]) -> nn.Module:
    """The pre-trained classifier rebuilt from its run's weights."""
    model = classifier(len(SPLIT["train"]))
    model.load_state_dict(state)
    return model


def collect(
    runs: dict[str, Any], methods: list[str]
) -> tuple[dict, dict, dict, dict, dict]:
    """results, wall, cpu, logs and failures of the finished runs, as write takes."""
    results: dict[str, dict[str, Any]] = {m: {"label": LABELS[m]} for m in methods}
    wall, cpu, logs, failures = {}, {}, {}, {}
    for key, run in runs.items():
        wall.update(run["wall"])
        cpu.update(run["cpu"])
        if key == "pretrain":
            logs["pretrain"] = run["log"]
            continue
        method, k_shot = key.split("/")
        results[method].update(run["results"])
        if "log" in run:
            logs[f"{method}_{k_shot}shot"] = run["log"]
        if "failure" in run:
            failures[f"{method} {k_shot}-shot"] = run["failure"]
    return results, wall, cpu, logs, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods", default=",".join(LABELS), help="comma-separated subset"
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="combine part JSONs of runs with disjoint --methods into --out",
    )
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    if args.merge:
        merge(args)
        return
    pin_threads(THREADS)
    if args.smoke:
        global GLYPHS, N_QUERY  # noqa: PLW0603 (smoke mode shrinks the module's protocol)
        n = SMOKE["classes"]
        META["meta_batch"], N_QUERY = SMOKE["meta_batch"], SMOKE["n_query"]
        GLYPHS = GLYPHS.subset(np.concatenate([ids[:n] for ids in SPLIT.values()]))
    t_start = time.perf_counter()
    n_episodes = SMOKE["n_episodes"] if args.smoke else 600
    methods = args.methods.split(",")

    bench = Bench("fewshot_glyphs", args.out, resume=args.resume)
    bench.plan(plan_runs(methods, args.smoke))
    for key in bench.todo():
        if key == "pretrain":
            bench.finish(key, run_pretrain(args.smoke, bench.step))
            continue
        method, k_shot = key.split("/")
        state = bench.results().get("pretrain", {}).get("state")
        pretrained = pretrained_model(state) if state is not None else None
        run = run_method(method, int(k_shot), pretrained, args.smoke, bench.step)
        bench.finish(key, run)
        # Written after every run, so a cut-short run still leaves its results.
        parts = collect(bench.results(), methods)
        write(args, *parts, n_episodes, t_start, False)
    write(args, *collect(bench.results(), methods), n_episodes, t_start, True)
    bench.close()


def write(
    args: argparse.Namespace,
    results: dict[str, dict[str, Any]],
    wall: dict[str, float],
    cpu: dict[str, float],
    logs: dict[str, Any],
    failures: dict[str, str],
    n_episodes: int,
    t_start: float,
    complete: bool,
) -> None:
    """The JSON result, as far as the run has got."""
    methods = list(results)
    claims = make_claims(results)
    out = {
        "smoke": args.smoke,
        "complete": complete,
        "settings": {
            "model": f"conv4, {CHANNELS} channels, ReLU, max-pool, no norm layers; "
            "meta-batches vectorised with vmap",
            "meta_training": {
                **META,
                "n_way_train": 5,
                "split": "background train (539 classes)",
                "optimizer": "Adam on the meta-parameters",
                "one_model_per": "method and shot (1, 5); 20-way reuses the 5-way "
                "ProtoNets model",
            },
            "methods": HYPER if not args.smoke else {**HYPER, "smoke": SMOKE},
            "evaluation": {
                "split": "evaluation scripts (353 classes, never seen in training)",
                "n_episodes": n_episodes,
                "n_query_per_class": N_QUERY,
                "episode_seed": EPISODE_SEED,
                "same_episodes_for_every_method": True,
                "ci": "1.96 * sample std / sqrt(n_episodes)",
            },
            "not_run": {
                m: "20-way: its meta-learned head has 5 outputs; a 20-way model "
                "would need its own meta-training (left out for the CPU budget)"
                if m != "protomaml"
                else "20-way: whole-network adaptation on 100 support and 300 "
                "query images per episode, about 7 min CPU for 1200 episodes "
                "(left out for the CPU budget)"
                for m in FIVE_WAY_ONLY
                if m in methods
            },
            "seed": SEED,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "cpu_seconds_total": round(time.process_time(), 1),
            "failures": failures,
            "training_logs": logs,
        },
        "settings_list": list(SETTINGS),
        "results": results,
        "published_reference": {
            "reference_only": True,
            "note": "Omniglot (Lake et al.), reference only: a different dataset, "
            "architecture and training length; never comparable to our glyphs",
            "dataset": "Omniglot",
            "5way1shot": {"MAML": 0.987, "ProtoNets": 0.988, "Reptile": 0.954},
            "5way5shot": {"MAML": 0.999, "ProtoNets": 0.997, "Reptile": 0.989},
            "source": "the book's Protocols page (Finn et al. 2017; Snell et al. 2017; "
            "Nichol et al. 2018)",
        },
        "claims": claims,
        "wall_time_s": round(time.perf_counter() - t_start, 1),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
    }
    write_json(args.out, out)


def merge(args: argparse.Namespace) -> None:
    """One result from part runs (e.g. two processes on two cores)."""
    parts = [json.loads(path.read_text()) for path in args.merge]
    out = parts[0]
    for part in parts[1:]:
        out["results"].update(part["results"])
        for key in ("wall_seconds", "cpu_seconds", "training_logs", "failures"):
            out["settings"][key].update(part["settings"][key])
        out["settings"]["not_run"].update(part["settings"]["not_run"])
        out["settings"]["methods"].update(part["settings"]["methods"])
    out["complete"] = all(part["complete"] for part in parts)
    out["smoke"] = any(part["smoke"] for part in parts)
    out["settings"]["cpu_seconds_total"] = round(
        sum(part["settings"]["cpu_seconds_total"] for part in parts), 1
    )
    out["settings"]["parts_run_in_parallel"] = len(parts)
    out["wall_time_s"] = max(part["wall_time_s"] for part in parts)
    order = [m for m in LABELS if m in out["results"]]
    out["results"] = {m: out["results"][m] for m in order}
    out["claims"] = make_claims(out["results"])
    args.out.write_text(json.dumps(out, indent=1) + "\n")


def make_claims(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Facts the chapter states, each measured against its target."""
    claims: dict[str, dict[str, Any]] = {}
    pixels = results.get("nn_pixels", {})
    for setting in SETTINGS:
        if setting not in pixels:
            continue
        others = {
            m: r[setting]["mean"]
            for m, r in results.items()
            if m != "nn_pixels" and setting in r
        }
        if others:
            worst = min(others, key=others.get)
            claims[f"every method beats pixel nearest neighbour, {setting}"] = {
                "measured": {"worst": worst, "accuracy": others[worst]},
                "target": f"> {pixels[setting]['mean']}",
                "pass": others[worst] > pixels[setting]["mean"],
            }
    for m, r in results.items():
        if "5way1shot" in r and "5way5shot" in r:
            claims[f"{m}: 5-shot above 1-shot (5-way)"] = {
                "measured": [r["5way1shot"]["mean"], r["5way5shot"]["mean"]],
                "target": "5-shot > 1-shot",
                "pass": r["5way5shot"]["mean"] > r["5way1shot"]["mean"],
            }
    if "5way1shot" in results.get("protonets", {}) and "5way1shot" in results.get(
        "maml", {}
    ):
        gap = (
            results["protonets"]["5way1shot"]["mean"]
            - results["maml"]["5way1shot"]["mean"]
        )
        claims["ProtoNets and MAML within 0.02 at 5-way 1-shot (Omniglot: 0.1 pt)"] = {
            "measured": round(gap, 4),
            "target": "|gap| <= 0.02",
            "pass": abs(gap) <= 0.02,
        }
    return claims


SPLIT = standard_split()
GLYPHS = load_glyphs()

if __name__ == "__main__":
    main()
