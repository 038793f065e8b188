"""The multi-task results table: every method on MultiDigits and glyph attributes.

Writes ``benchmarks/results/mtl_table.json``; the multi-task chapter renders it.
Run from the repository root::

    .venv/bin/python benchmarks/mtl_table.py                 # full run
    .venv/bin/python benchmarks/mtl_table.py --smoke --out mtl_table_smoke.json

Protocol: on each dataset, a hard-sharing model (every trunk layer
shared, one linear head per task) is trained by every method, and one
single-task model per task with the same trunk and the same initial weights
(``HardSharing.single_task``) gives the baselines of Δm. Same budget for all:
Adam (lr 1e-3), batch 64, a fixed number of epochs, no early stopping; the
final model is evaluated on the test split. Static weights are chosen on the
validation split (:func:`select_static_weights`) among equal weights and each
task's weight tripled (then rescaled to sum to K); the chosen candidate's
model is the one reported, and its seconds per epoch are those of one run.
Each seed changes the initial weights and the batch order; the data splits
stay fixed. Δm% is computed per seed against that seed's baselines, then
averaged. One torch thread.

* MultiDigits: two 8x8 digits overlaid with offset 4, split by source image;
  tasks left and right digit; MLP trunk 96 -> 128 -> 128 (ReLU).
* Glyph attributes: the glyphs of 50 training-split classes, 20 instances
  each, split by image (60/20/20, stratified by character); tasks character,
  family, weight, slant, rotation (3 bins); conv trunk 1 -> 16 -> 32 channels
  (3x3, stride 2, ReLU) then a linear layer to 128 (ReLU).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import (
    Bench,
    add_common_arguments,
    parse_arguments,
    pin_threads,
    write_json,
)
from torch import Tensor, nn

from mtlbook.data.glyph_attributes import glyph_attribute_tasks
from mtlbook.data.glyphs import load_glyphs, standard_split
from mtlbook.data.multidigits import make_multidigits
from mtlbook.multitask import (
    DWA,
    FAMO,
    IMTLG,
    MGDA,
    CAGrad,
    EqualWeights,
    GradNorm,
    HardSharing,
    NashMTL,
    PCGrad,
    RandomLossWeighting,
    StaticWeights,
    UncertaintyWeighting,
    delta_m,
    evaluate,
    select_static_weights,
    train_multitask,
    train_single_task,
)

RESULT = Path(__file__).parent / "results" / "mtl_table.json"
LR, BATCH, DATA_SEED = 1e-3, 64, 0
LABELS = {
    "ew": "equal weighting",
    "static": "static weights (chosen on validation)",
    "uncertainty": "uncertainty weighting",
    "gradnorm": "GradNorm",
    "dwa": "DWA",
    "rlw": "random loss weighting",
    "famo": "FAMO",
    "mgda": "MGDA",
    "mgda_ub": "MGDA-UB",
    "pcgrad": "PCGrad",
    "cagrad": "CAGrad",
    "nash": "Nash-MTL",
    "imtl_g": "IMTL-G",
}
STATIC_BOOST = 3.0  # static candidates: equal weights, and each task's tripled
SMOKE_ROWS = 128  # --smoke: rows kept of every split (one epoch, one seed)


@dataclass(frozen=True)
class Dataset:
    """Tensors of one benchmark dataset and its model's layers."""

    tasks: list[str]
    n_classes: list[int]
    splits: dict[str, tuple[Tensor, list[Tensor]]]  # x, one target per task
    layers: Callable[[], list[nn.Module]]
    width: int  # the trunk's output features


def multidigits(pairs_per_image: int) -> Dataset:
    """MultiDigits with a leak-free split, flattened to (n, 96)."""
    data = make_multidigits(
        rng=np.random.default_rng(DATA_SEED), pairs_per_image=pairs_per_image
    )
    splits = {}
    for name in ("train", "val", "test"):
        part = getattr(data, name)
        x = torch.from_numpy(part.images.reshape(len(part.images), -1))
        labels = torch.from_numpy(part.labels)
        splits[name] = (x, [labels[:, 0], labels[:, 1]])

    def layers() -> list[nn.Module]:
        return [
            nn.Sequential(nn.Linear(96, 128), nn.ReLU()),
            nn.Sequential(nn.Linear(128, 128), nn.ReLU()),
        ]

    return Dataset(["left digit", "right digit"], [10, 10], splits, layers, 128)


def glyph_attributes(n_classes: int) -> Dataset:
    """Glyph attribute tasks on the first ``n_classes`` training-split classes."""
    classes = standard_split()["train"][:n_classes]
    data = glyph_attribute_tasks(
        load_glyphs(), classes, rng=np.random.default_rng(DATA_SEED)
    )
    x = torch.from_numpy(data.x)
    targets = [torch.from_numpy(data.targets[t]) for t in data.tasks]
    splits = {
        name: (x[index], [t[index] for t in targets])
        for name, index in (
            ("train", data.train),
            ("val", data.val),
            ("test", data.test),
        )
    }

    def layers() -> list[nn.Module]:
        return [
            nn.Sequential(nn.Conv2d(1, 16, 3, stride=2), nn.ReLU()),  # 13 x 13
            nn.Sequential(nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(), nn.Flatten()),
            nn.Sequential(nn.Linear(32 * 6 * 6, 128), nn.ReLU()),
        ]

    return Dataset(
        list(data.tasks), [data.n_classes[t] for t in data.tasks], splits, layers, 128
    )


class Shuffled:
    """Re-iterable batches of a split, in a new random order at each epoch."""

    def __init__(
        self, x: Tensor, targets: list[Tensor], generator: torch.Generator
    ) -> None:
        self.x, self.targets, self.generator = x, targets, generator

    def __len__(self) -> int:
        return math.ceil(len(self.x) / BATCH)

    def __iter__(self) -> Iterator[tuple[Tensor, list[Tensor]]]:
        order = torch.randperm(len(self.x), generator=self.generator)
        for start in range(0, len(order), BATCH):
            index = order[start : start + BATCH]
            yield self.x[index], [t[index] for t in self.targets]


def chunks(x: Tensor, targets: list[Tensor]) -> list[tuple[Tensor, list[Tensor]]]:
    """Evaluation batches of 512 in order."""
    return [
        (x[i : i + 512], [t[i : i + 512] for t in targets])
        for i in range(0, len(x), 512)
    ]


def accuracy(output: Tensor, target: Tensor) -> float:
    return float((output.argmax(dim=1) == target).double().mean())


def cross_entropy(output: Tensor, target: Tensor) -> float:
    return float(nn.functional.cross_entropy(output, target))


def build_model(data: Dataset, seed: int) -> HardSharing:
    """The hard-sharing model; the same seed gives the same initial weights."""
    torch.manual_seed(seed)
    layers = data.layers()
    heads = [nn.Linear(data.width, c) for c in data.n_classes]
    return HardSharing(layers, heads, shared_depth=len(layers))


def method_kwargs(
    name: str, K: int, model: HardSharing, seed: int, static: Tensor | None
) -> dict[str, Any]:
    """train_multitask's scalarizer= or aggregator= arguments for a method."""
    if name == "ew":
        return {"scalarizer": EqualWeights(K)}
    if name == "static":
        return {"scalarizer": StaticWeights(static)}
    if name == "uncertainty":
        return {"scalarizer": UncertaintyWeighting(K)}
    if name == "gradnorm":
        return {"scalarizer": GradNorm(K, model.last_shared_parameters(), alpha=1.5)}
    if name == "dwa":
        return {"scalarizer": DWA(K)}
    if name == "rlw":
        return {
            "scalarizer": RandomLossWeighting(K, torch.Generator().manual_seed(seed))
        }
    if name == "famo":
        return {"scalarizer": FAMO(K)}
    if name == "mgda":
        return {"aggregator": MGDA()}
    if name == "mgda_ub":
        return {"aggregator": MGDA(), "use_representation": True}
    if name == "pcgrad":
        return {"aggregator": PCGrad(torch.Generator().manual_seed(seed))}
    if name == "cagrad":
        return {"aggregator": CAGrad(c=0.5)}
    if name == "nash":
        return {"aggregator": NashMTL()}
    if name == "imtl_g":
        return {"aggregator": IMTLG()}
    raise ValueError(f"unknown method {name!r}")


def train_method(
    data: Dataset, name: str, seed: int, epochs: int, static: Tensor | None = None
) -> dict[str, Any]:
    """Train one method; test accuracies (K,), validation loss, seconds/epoch."""
    K = len(data.tasks)
    model = build_model(data, seed)
    kwargs = method_kwargs(name, K, model, seed, static)
    scalarizer = kwargs.get("scalarizer")
    extra = [] if scalarizer is None else list(scalarizer.parameters())
    optimizer = torch.optim.Adam([*model.parameters(), *extra], lr=LR)
    batches = Shuffled(*data.splits["train"], torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    train_multitask(
        model,
        batches,
        [nn.functional.cross_entropy] * K,
        steps=epochs * len(batches),
        optimizer=optimizer,
        **kwargs,
    )
    seconds = time.perf_counter() - start
    val = evaluate(model, chunks(*data.splits["val"]), [cross_entropy] * K)
    test = evaluate(model, chunks(*data.splits["test"]), [accuracy] * K)
    return {"test": test, "val_loss": float(val.sum()), "s_per_epoch": seconds / epochs}


def train_baselines(data: Dataset, seed: int, epochs: int) -> np.ndarray:
    """Single-task test accuracy of each task: (K,)."""
    K = len(data.tasks)
    template = build_model(data, seed)
    result = np.zeros(K)
    for k in range(K):
        model = template.single_task(k)
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
        batches = Shuffled(*data.splits["train"], torch.Generator().manual_seed(seed))
        train_single_task(
            model,
            batches,
            nn.functional.cross_entropy,
            task=k,
            steps=epochs * len(batches),
            optimizer=optimizer,
        )
        test_x, test_y = data.splits["test"]
        result[k] = evaluate(model, chunks(test_x, [test_y[k]]), [accuracy])[0]
    return result


def static_candidates(K: int) -> Tensor:
    """Equal weights and each task's weight tripled, rescaled to Σ w = K: (K+1, K)."""
    rows = [torch.ones(K, dtype=torch.float64)]
    for k in range(K):
        w = torch.ones(K, dtype=torch.float64)
        w[k] = STATIC_BOOST
        rows.append(w * K / w.sum())
    return torch.stack(rows)


def run_seed(data: Dataset, seed: int, epochs: int) -> dict[str, Any]:
    """The baselines and every method on one dataset for one seed."""
    K = len(data.tasks)
    out: dict[str, Any] = {
        "baseline": train_baselines(data, seed, epochs).tolist(),
        "methods": {},
    }
    for name in LABELS:
        if name == "static":
            runs: list[dict[str, Any]] = []

            def validation_loss(w: Tensor, runs: list = runs) -> float:
                runs.append(train_method(data, "static", seed, epochs, static=w))
                return runs[-1]["val_loss"]

            best, scores = select_static_weights(static_candidates(K), validation_loss)
            result = runs[int(torch.argmin(scores))]
            out["chosen"] = best.weights.tolist()
        else:
            result = train_method(data, name, seed, epochs)
        out["methods"][name] = {**result, "test": np.asarray(result["test"]).tolist()}
    return out


def first_rows(data: Dataset, n: int) -> Dataset:
    """``data`` cut to the first ``n`` rows of every split (``--smoke``)."""
    splits = {
        name: (x[:n], [t[:n] for t in targets])
        for name, (x, targets) in data.splits.items()
    }
    return dataclasses.replace(data, splits=splits)


def steps_per_seed(data: Dataset, epochs: int) -> int:
    """Training steps of one seed: K baselines, K + 1 static candidates, the rest."""
    K = len(data.tasks)
    networks = K + (K + 1) + (len(LABELS) - 1)
    return networks * epochs * math.ceil(len(data.splits["train"][0]) / BATCH)


def run_dataset(
    data: Dataset, runs: list[dict[str, Any]], seeds: list[int]
) -> dict[str, Any]:
    """Mean ± std over seeds of every method's results on one dataset."""
    K = len(data.tasks)
    baselines = [r["baseline"] for r in runs]
    per_method = {m: [r["methods"][m] for r in runs] for m in LABELS}
    chosen = [r["chosen"] for r in runs]
    base = np.stack(baselines)  # (seeds, K)
    methods = {}
    for name, runs in per_method.items():
        test = np.stack([r["test"] for r in runs])  # (seeds, K)
        dm = [
            delta_m(t, b, higher_is_better=True)
            for t, b in zip(test, base, strict=True)
        ]
        methods[name] = {
            "label": LABELS[name],
            "per_task_mean": test.mean(axis=0).tolist(),
            "per_task_std": test.std(axis=0, ddof=1).tolist()
            if len(seeds) > 1
            else [0.0] * K,
            "delta_m_mean": float(np.mean(dm)),
            "delta_m_std": float(np.std(dm, ddof=1)) if len(seeds) > 1 else 0.0,
            "seconds_per_epoch": float(np.median([r["s_per_epoch"] for r in runs])),
            "delta_m_per_seed": [float(v) for v in dm],
        }
    return {
        "tasks": data.tasks,
        "n_classes": data.n_classes,
        "n_train": len(data.splits["train"][0]),
        "n_val": len(data.splits["val"][0]),
        "n_test": len(data.splits["test"][0]),
        "metric": "accuracy",
        "higher_is_better": [True] * K,
        "single_task": {
            "per_task_mean": base.mean(axis=0).tolist(),
            "per_task_std": base.std(axis=0, ddof=1).tolist()
            if len(seeds) > 1
            else [0.0] * K,
        },
        "static_weights_chosen": chosen,
        "methods": methods,
    }


def claims(datasets: dict[str, Any]) -> dict[str, Any]:
    """Is equal weighting as good as the clever methods? Measured per dataset."""
    result: dict[str, Any] = {}
    for key, ds in datasets.items():
        methods = ds["methods"]
        ew = methods["ew"]
        others = {m: v for m, v in methods.items() if m != "ew"}
        best = min(others, key=lambda m: others[m]["delta_m_mean"])  # lower = better
        gap = ew["delta_m_mean"] - others[best]["delta_m_mean"]
        spread = max(ew["delta_m_std"], others[best]["delta_m_std"])
        result[f"{key}: best_method_beats_ew_by_more_than_1_std"] = {
            "measured": {
                "best_method": best,
                "delta_m_best": others[best]["delta_m_mean"],
                "delta_m_ew": ew["delta_m_mean"],
                "gap_points": gap,
                "larger_std": spread,
            },
            "target": "gap (Δm of EW − Δm of the best other method) > larger std",
            "pass": bool(gap > spread),
        }
        rank = 1 + sum(v["delta_m_mean"] < ew["delta_m_mean"] for v in others.values())
        result[f"{key}: ew_rank_by_delta_m"] = {
            "measured": rank,
            "target": f"reported (1 = best of {len(methods)})",
            "pass": True,
        }
        result[f"{key}: ew_beats_single_task"] = {
            "measured": ew["delta_m_mean"],
            "target": "Δm of EW < 0 (better than single-task on average)",
            "pass": bool(ew["delta_m_mean"] < 0),
        }
    return result


def rounded(node: Any, digits: int = 4) -> Any:
    """Floats rounded to ``digits`` significant digits, recursively."""
    if isinstance(node, float):
        return float(f"{node:.{digits}g}")
    if isinstance(node, dict):
        return {k: rounded(v, digits) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [rounded(v, digits) for v in node]
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-digits", type=int, default=15)
    parser.add_argument("--epochs-glyphs", type=int, default=30)
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    pin_threads(1)
    seeds = [0] if args.smoke else [0, 1, 2]
    epochs = {
        "multidigits": 1 if args.smoke else args.epochs_digits,
        "glyph_attributes": 1 if args.smoke else args.epochs_glyphs,
    }
    settings = {
        "optimizer": f"Adam lr {LR}",
        "batch": BATCH,
        "epochs": epochs,
        "data_seed": DATA_SEED,
        "static_candidates": "equal weights and each task's weight tripled "
        f"(x{STATIC_BOOST}), rescaled to sum K; chosen by the summed "
        "validation cross-entropy",
        "selection_runs_per_seed_for_static": "K + 1",
        "multidigits": "offset 4, pairs_per_image 2, split 60/20/20 by source "
        "image; MLP trunk 96-128-128 ReLU, all shared; linear heads",
        "glyph_attributes": "50 classes of standard_split()['train'], 20 "
        "instances each, split 60/20/20 by image; conv trunk (16, 32 channels, "
        "3x3 stride 2) + Linear(1152, 128), all shared; linear heads",
        "delta_m": "Δm% per seed against that seed's single-task baselines "
        "(accuracy, higher is better); mean and std (ddof 1) over seeds",
        "aggregated_parameters": "the shared trunk (heads get the aggregator's "
        "weights times their own task gradients)",
    }
    t0 = time.perf_counter()
    builders = {
        "multidigits": lambda: multidigits(pairs_per_image=2),
        "glyph_attributes": lambda: glyph_attributes(n_classes=50),
    }
    bench = Bench("mtl_table", args.out, resume=args.resume)
    data = {key: build() for key, build in builders.items()}
    if args.smoke:  # the first rows of every split: a few batches per network
        data = {key: first_rows(d, SMOKE_ROWS) for key, d in data.items()}
    bench.plan(
        {
            f"{key}/{seed}": steps_per_seed(data[key], epochs[key])
            for key in builders
            for seed in seeds
        }
    )
    for run in bench.todo():
        key, seed = run.split("/")
        bench.finish(run, run_seed(data[key], int(seed), epochs[key]))
    done = bench.results()
    datasets = {
        key: run_dataset(data[key], [done[f"{key}/{s}"] for s in seeds], seeds)
        for key in builders
    }
    result = {
        "smoke": args.smoke,
        "settings": settings,
        "datasets": datasets,
        "claims": claims(datasets),
        "seeds": seeds,
        "wall_time_s": time.perf_counter() - t0,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "note": "2 cores shared with other jobs; seconds are indicative",
        },
    }
    write_json(args.out, rounded(result))
    bench.close()


if __name__ == "__main__":
    main()
