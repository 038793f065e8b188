"""MAML meta-steps side by side: mtlbook against learn2learn, higher and torchopt.

Writes ``benchmarks/results/meta_speed.json``; the meta-learning chapter's cost
section renders it. Run from the repository root::

    .venv/bin/pip install --no-deps -r benchmarks/requirements.txt
    .venv/bin/pip download --no-deps --no-binary :all: learn2learn==0.2.0 \\
        -d benchmarks/.peers
    .venv/bin/python benchmarks/meta_speed.py
    .venv/bin/python benchmarks/meta_speed.py --smoke

One meta-step is a forward pass, the second-order MAML meta-gradient of the
mean query loss over the meta-batch, and an Adam step (lr 1e-3), in float32 on
one thread. Every method trains its own copy of the same initial network on
the same meta-batches; the rounds interleave the methods in a shuffled order,
so machine load hits all alike, and the median time per step is reported with
its ratio to learn2learn's, round by round. Before timing, every method's
meta-gradient is compared with mtlbook's vmapped one in float64.

The methods:

- ``learn2learn``: ``MAML(model, lr).clone()`` and ``adapt`` per task.
  learn2learn 0.2.0 does not build on Python 3.11 (a C extension), so its
  pure-Python ``algorithms/maml.py``, ``algorithms/base_learner.py`` and
  ``utils/__init__.py`` are loaded unmodified from the registry's source
  archive (see :func:`load_learn2learn`);
- ``higher``: ``innerloop_ctx`` with a differentiable SGD per task;
- ``torchopt``: ``MetaSGD`` per task, restoring the weights after each;
- ``plain loop``: the textbook loop, ``autograd.grad(create_graph=True)``;
- ``mtlbook (vmap)``: ``meta_loss(maml_loss, ...)``, one vmap over the tasks;
- ``mtlbook loop``: the same with ``vectorize=False``;
- ``torch.func vmap``: the same computation written by hand with
  ``torch.func.grad`` and ``vmap``.

The settings: the sinusoid MLP 1-40-40-1 with 25 tasks of 10 + 10 points,
1 and 5 inner steps at α = 0.01; a conv4 (4 × [conv3x3(32), norm, ReLU,
maxpool2] on 28 × 28 inputs, then Linear(32, 5)) on 8 random 5-way 1-shot
episodes with 5 queries per class, 1 inner step at α = 0.4, with BatchNorm on
batch statistics (``nn.BatchNorm2d(track_running_stats=False)`` for the
peers, ``mtlbook.meta.TaskBatchNorm`` for mtlbook's vmap) and without
normalisation. The inputs are random: the speed of a step does not depend on
what the pixels show.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import random
import statistics
import sys
import tarfile
import time
import types
from collections.abc import Callable
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
from torch.func import functional_call, grad, vmap

from mtlbook.meta import Sinusoid, TaskBatch, TaskBatchNorm, maml_loss, meta_loss
from mtlbook.meta.sinusoid import sinusoid_mlp

RESULT = Path(__file__).parent / "results" / "meta_speed.json"
PEERS = Path(__file__).parent / ".peers"
L2L_ARCHIVE = "learn2learn-0.2.0.tar.gz"
ROUNDS, WARMUP = 100, 5
SMOKE_ROUNDS, SMOKE_WARMUP = 2, 0
OUTER_LR = 1e-3
SETTINGS = {
    "sinusoid_1_step": {"model": "mlp", "tasks": 25, "steps": 1, "lr": 0.01},
    "sinusoid_5_steps": {"model": "mlp", "tasks": 25, "steps": 5, "lr": 0.01},
    "conv4_batchnorm": {"model": "conv_bn", "tasks": 8, "steps": 1, "lr": 0.4},
    "conv4_plain": {"model": "conv", "tasks": 8, "steps": 1, "lr": 0.4},
}
CHANNELS, WAYS, SHOTS, QUERIES = 32, 5, 1, 5


# --- the peers, loaded as their authors wrote them --------------------------------


def load_learn2learn(archive: Path) -> Any:
    """learn2learn's ``MAML`` class from the unmodified files of its sdist.

    The package's own ``__init__`` files import the whole library (and its C
    extension), so empty packages stand in for them; the three modules MAML
    needs are executed from the archive's text as they are.
    """
    files = {
        "learn2learn.utils": "learn2learn/utils/__init__.py",
        "learn2learn.algorithms.base_learner": "learn2learn/algorithms/base_learner.py",
        "learn2learn.algorithms.maml": "learn2learn/algorithms/maml.py",
    }
    with tarfile.open(archive) as tar:
        root = tar.getnames()[0].split("/")[0]
        sources = {
            name: tar.extractfile(f"{root}/{path}").read().decode()  # type: ignore[union-attr]
            for name, path in files.items()
        }
    for package in ("learn2learn", "learn2learn.algorithms"):
        module = types.ModuleType(package)
        module.__path__ = []  # a package, so that submodules can be set on it
        sys.modules[package] = module
    for name, source in sources.items():
        spec = importlib.util.spec_from_loader(name, loader=None)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        exec(compile(source, f"{L2L_ARCHIVE}:{files[name]}", "exec"), module.__dict__)
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, module)
    return sys.modules["learn2learn.algorithms.maml"].MAML


def peer_versions() -> dict[str, str | None]:
    """The installed peers' versions (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in ("higher", "torchopt"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["learn2learn"] = "0.2.0" if (PEERS / L2L_ARCHIVE).exists() else None
    return out


# --- models and meta-batches ------------------------------------------------------


def make_model(kind: str, vmap_norm: bool) -> nn.Module:
    """The setting's network; vmap_norm picks TaskBatchNorm over nn.BatchNorm2d."""
    if kind == "mlp":
        return sinusoid_mlp()
    blocks: list[nn.Module] = []
    for c_in in (1, CHANNELS, CHANNELS, CHANNELS):
        blocks.append(nn.Conv2d(c_in, CHANNELS, 3, padding=1))
        if kind == "conv_bn":
            blocks.append(
                TaskBatchNorm(CHANNELS)
                if vmap_norm
                else nn.BatchNorm2d(CHANNELS, track_running_stats=False)
            )
        blocks += [nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*blocks, nn.Flatten(), nn.Linear(CHANNELS, WAYS))


def batches(kind: str, n_tasks: int, n: int, seed: int) -> list[TaskBatch]:
    """n meta-batches: sinusoid tasks, or random 5-way 1-shot image episodes."""
    g = torch.Generator().manual_seed(seed)
    if kind == "mlp":
        dist = Sinusoid(k_support=10, k_query=10)
        return [dist.sample_batch(n_tasks, g) for _ in range(n)]
    out = []
    for _ in range(n):
        xs = torch.randn(n_tasks, WAYS * SHOTS, 1, 28, 28, generator=g)
        xq = torch.randn(n_tasks, WAYS * QUERIES, 1, 28, 28, generator=g)
        ys = torch.arange(WAYS).repeat(SHOTS).expand(n_tasks, -1).contiguous()
        yq = torch.arange(WAYS).repeat(QUERIES).expand(n_tasks, -1).contiguous()
        out.append(TaskBatch(xs, ys, xq, yq))
    return out


def loss_of(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
    return F.mse_loss if kind == "mlp" else F.cross_entropy


# --- one meta-gradient per method: each fills .grad of its own model -------------

Step = Callable[[nn.Module, TaskBatch], None]


def mtlbook_step(vectorize: bool, cfg: dict[str, Any]) -> Step:
    def step(model: nn.Module, batch: TaskBatch) -> None:
        params = dict(model.named_parameters())
        torch_bn = any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        loss = meta_loss(
            maml_loss, model, params, batch, vectorize=vectorize,
            batchnorm="batch" if torch_bn else None,
            loss_fn=loss_of(cfg["model"]), inner_lr=cfg["lr"], steps=cfg["steps"],
        )  # fmt: skip
        loss.backward()

    return step


def plain_loop_step(cfg: dict[str, Any]) -> Step:
    lf, lr, steps = loss_of(cfg["model"]), cfg["lr"], cfg["steps"]

    def step(model: nn.Module, batch: TaskBatch) -> None:
        names, weights = zip(*model.named_parameters(), strict=True)
        total = torch.zeros(())
        for i in range(len(batch)):
            fast = list(weights)
            for _ in range(steps):
                out = functional_call(model, dict(zip(names, fast, strict=True)),
                                      (batch.x_support[i],))  # fmt: skip
                g = torch.autograd.grad(
                    lf(out, batch.y_support[i]), fast, create_graph=True
                )
                fast = [w - lr * gw for w, gw in zip(fast, g, strict=True)]
            out = functional_call(model, dict(zip(names, fast, strict=True)),
                                  (batch.x_query[i],))  # fmt: skip
            total = total + lf(out, batch.y_query[i])
        (total / len(batch)).backward()

    return step


def hand_vmap_step(cfg: dict[str, Any]) -> Step:
    lf, lr, steps = loss_of(cfg["model"]), cfg["lr"], cfg["steps"]

    def step(model: nn.Module, batch: TaskBatch) -> None:
        params = dict(model.named_parameters())

        def task_loss(p: dict, xs: Tensor, ys: Tensor, xq: Tensor, yq: Tensor):
            for _ in range(steps):
                g = grad(lambda q: lf(functional_call(model, q, (xs,)), ys))(p)
                p = {n: p[n] - lr * g[n] for n in p}
            return lf(functional_call(model, p, (xq,)), yq)

        fields = (batch.x_support, batch.y_support, batch.x_query, batch.y_query)
        vmap(task_loss, in_dims=(None, 0, 0, 0, 0))(params, *fields).mean().backward()

    return step


def learn2learn_step(cfg: dict[str, Any], maml_class: Any) -> Step:
    lf, steps = loss_of(cfg["model"]), cfg["steps"]
    wrapped: dict[int, Any] = {}

    def step(model: nn.Module, batch: TaskBatch) -> None:
        maml = wrapped.setdefault(id(model), maml_class(model, lr=cfg["lr"]))
        total = torch.zeros(())
        for i in range(len(batch)):
            learner = maml.clone()
            for _ in range(steps):
                learner.adapt(lf(learner(batch.x_support[i]), batch.y_support[i]))
            total = total + lf(learner(batch.x_query[i]), batch.y_query[i])
        (total / len(batch)).backward()

    return step


def higher_step(cfg: dict[str, Any]) -> Step:
    import higher

    lf, steps = loss_of(cfg["model"]), cfg["steps"]

    def step(model: nn.Module, batch: TaskBatch) -> None:
        inner = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
        total = torch.zeros(())
        for i in range(len(batch)):
            with higher.innerloop_ctx(model, inner, copy_initial_weights=False) as (
                fmodel,
                diffopt,
            ):
                for _ in range(steps):
                    diffopt.step(lf(fmodel(batch.x_support[i]), batch.y_support[i]))
                total = total + lf(fmodel(batch.x_query[i]), batch.y_query[i])
        (total / len(batch)).backward()

    return step


def torchopt_step(cfg: dict[str, Any]) -> Step:
    import torchopt

    lf, steps = loss_of(cfg["model"]), cfg["steps"]

    def step(model: nn.Module, batch: TaskBatch) -> None:
        inner = torchopt.MetaSGD(model, lr=cfg["lr"])
        start = torchopt.extract_state_dict(model)
        total = torch.zeros(())
        for i in range(len(batch)):
            for _ in range(steps):
                inner.step(lf(model(batch.x_support[i]), batch.y_support[i]))
            total = total + lf(model(batch.x_query[i]), batch.y_query[i])
            torchopt.recover_state_dict(model, start)
        (total / len(batch)).backward()

    return step


def methods(cfg: dict[str, Any], peers: dict[str, Any]) -> dict[str, tuple[Step, bool]]:
    """name -> (meta-gradient step, whether its model uses TaskBatchNorm)."""
    out: dict[str, tuple[Step, bool]] = {}
    if peers["learn2learn"] is not None:
        out["learn2learn"] = (learn2learn_step(cfg, peers["learn2learn"]), False)
    if peers["higher"]:
        out["higher"] = (higher_step(cfg), False)
    if peers["torchopt"]:
        out["torchopt"] = (torchopt_step(cfg), False)
    out["plain loop"] = (plain_loop_step(cfg), False)
    out["mtlbook (vmap)"] = (mtlbook_step(True, cfg), True)
    out["mtlbook loop"] = (mtlbook_step(False, cfg), False)
    out["torch.func vmap"] = (hand_vmap_step(cfg), True)
    return out


# --- checking and timing ----------------------------------------------------------


def models_for(
    cfg: dict[str, Any], steps: dict[str, tuple[Step, bool]], dtype: torch.dtype
) -> dict[str, nn.Module]:
    """One copy of the same initial network per method."""
    torch.manual_seed(0)
    peer = make_model(cfg["model"], vmap_norm=False).to(dtype)
    vmapped = make_model(cfg["model"], vmap_norm=True).to(dtype)
    vmapped.load_state_dict(peer.state_dict())
    return {
        name: copy.deepcopy(vmapped if norm else peer)
        for name, (_, norm) in steps.items()
    }


def agreement(cfg: dict[str, Any], steps: dict[str, tuple[Step, bool]]) -> float:
    """Largest relative difference of any meta-gradient from mtlbook's, float64."""
    nets = models_for(cfg, steps, torch.float64)
    worst = 0.0
    for batch in batches(cfg["model"], cfg["tasks"], 2, seed=99):
        batch = TaskBatch(*(t.double() if t.is_floating_point() else t
                            for t in (batch.x_support, batch.y_support,
                                      batch.x_query, batch.y_query)))  # fmt: skip
        grads = {}
        for name, (step, _) in steps.items():
            nets[name].zero_grad(set_to_none=True)
            step(nets[name], batch)
            grads[name] = torch.cat([p.grad.flatten() for p in nets[name].parameters()])
        ref = grads["mtlbook (vmap)"]
        for g in grads.values():
            worst = max(worst, ((g - ref).norm() / ref.norm()).item())
    return worst


def measure(
    cfg: dict[str, Any], peers: dict[str, Any], rounds: int, warmup: int
) -> dict[str, Any]:
    """Interleaved, shuffled rounds: median ms per method and ratios per round."""
    steps = methods(cfg, peers)
    worst = agreement(cfg, steps)
    nets = models_for(cfg, steps, torch.float32)
    opts = {n: torch.optim.Adam(m.parameters(), lr=OUTER_LR) for n, m in nets.items()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    order, rng = list(steps), random.Random(0)
    for r, batch in enumerate(batches(cfg["model"], cfg["tasks"], warmup + rounds, 1)):
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            opts[name].zero_grad(set_to_none=True)
            steps[name][0](nets[name], batch)
            opts[name].step()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    base = "learn2learn" if "learn2learn" in times else "plain loop"
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    ratio = {
        name: statistics.median(
            a / b for a, b in zip(times[name], times[base], strict=True)
        )
        for name in times
    }
    return {"median_ms": ms, "ratio_to": base, "ratio": ratio, "max_rel_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    rounds, warmup = (SMOKE_ROUNDS, SMOKE_WARMUP) if args.smoke else (ROUNDS, WARMUP)
    cases = SETTINGS
    if args.smoke:  # fewer tasks: the same code paths in a few seconds
        cases = {k: {**c, "tasks": 2} for k, c in SETTINGS.items()}
    versions = peer_versions()
    archive = PEERS / L2L_ARCHIVE
    peers = {
        "learn2learn": load_learn2learn(archive) if archive.exists() else None,
        "higher": versions["higher"] is not None,
        "torchopt": versions["torchopt"] is not None,
    }
    start = time.perf_counter()
    bench = Bench("meta_speed", args.out, resume=args.resume)
    bench.plan(dict.fromkeys(cases, rounds))
    for key in bench.todo():
        bench.finish(key, measure(cases[key], peers, rounds, warmup))
    result = {
        "smoke": args.smoke,
        "settings": {
            "step": "forward, second-order MAML meta-gradient of the mean query "
            "loss, Adam step (lr 1e-3); float32, 1 thread",
            "rounds": rounds,
            "warmup": warmup,
            "cases": cases,
            "conv4": f"4 x [conv3x3({CHANNELS}), norm, ReLU, maxpool2], "
            f"Linear({CHANNELS}, {WAYS}); random {WAYS}-way {SHOTS}-shot episodes, "
            f"{QUERIES} queries per class",
            "learn2learn": "algorithms/maml.py, algorithms/base_learner.py and "
            "utils/__init__.py of the 0.2.0 sdist, executed unmodified",
        },
        "peers": versions,
        "runs": bench.results(),
        "wall_time_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
