"""A first few-shot baseline on the glyph dataset, for later chapters to beat.

A small CNN (4 blocks of conv 3x3 - batch norm - ReLU - max-pool, 64 channels)
is trained to classify the background-train classes. Then 600 5-way 1-shot and
600 5-way 5-shot episodes (15 queries per class) are drawn from the
*evaluation* scripts, never seen in training, and classified by (a) nearest
neighbour on raw pixels and (b) nearest neighbour / nearest class centroid on
the CNN's 64-d embedding. Accuracy: mean and 95 % interval 1.96 std / sqrt(600).

Writes ``benchmarks/results/glyph_baseline.json`` (no weights are saved).
Run from the repository root::

    .venv/bin/python benchmarks/glyph_baseline.py
    .venv/bin/python benchmarks/glyph_baseline.py --smoke --out smoke.json
    .venv/bin/python benchmarks/glyph_baseline.py --resume     # after a kill

``--smoke`` trains one epoch on 512 images and scores 20 episodes per setting
on 10 evaluation classes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import Bench, add_common_arguments, parse_arguments, write_json
from torch import nn

from mtlbook.data.episodes import sample_episode
from mtlbook.data.glyphs import load_glyphs, standard_split
from mtlbook.data.glyphs.store import versions

SEED = 0
EPISODE_SEED = 2026
EPOCHS = 8
BATCH = 128
LR = 1e-3
THREADS = 2
N_EPISODES = 600
Q_QUERIES = 15
RESULT = Path(__file__).parent / "results" / "glyph_baseline.json"
SMOKE = {"epochs": 1, "n_episodes": 20, "train_images": 512, "eval_classes": 10}


def conv4(n_classes: int, channels: int = 64) -> tuple[nn.Module, nn.Module]:
    """Embedding network (x: (batch, 1, 28, 28) -> (batch, 64)) and its head."""
    blocks, c_in = [], 1
    for _ in range(4):
        blocks += [
            nn.Conv2d(c_in, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        c_in = channels
    return nn.Sequential(*blocks, nn.Flatten()), nn.Linear(channels, n_classes)


def train(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    epochs: int,
    progress: Callable[[int], None],
) -> tuple[nn.Module, list]:
    """Train the CNN with cross-entropy; returns the embedding net and a log.

    progress(1) is called after every batch.
    """
    generator = torch.Generator().manual_seed(SEED)
    embed, head = conv4(n_classes)
    model = nn.Sequential(embed, head)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    log = []
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total, correct, loss_sum = 0, 0, 0.0
        model.train()
        for start in range(0, len(x), BATCH):
            idx = order[start : start + BATCH]
            logits = model(x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y[idx]).sum().item()
            total += len(idx)
            progress(1)
        log.append(
            {"epoch": epoch + 1, "loss": loss_sum / total, "accuracy": correct / total}
        )
    return embed.eval(), log


def few_shot(
    features: np.ndarray,
    labels: np.ndarray,
    classes: np.ndarray,
    k_shot: int,
    n_episodes: int,
    progress: Callable[[int], None],
) -> dict[str, list[float]]:
    """Accuracy per episode of 1-NN and nearest centroid on ``features``.

    features: (n, d); labels: (n,) class ids; classes: the allowed class ids.
    progress(1) is called after every episode.
    """
    rng = np.random.default_rng([EPISODE_SEED, k_shot])
    nn_acc, centroid_acc = [], []
    for _ in range(n_episodes):
        ep = sample_episode(
            labels,
            n_way=5,
            k_shot=k_shot,
            q_queries=Q_QUERIES,
            rng=rng,
            classes=classes,
        )
        s, q = features[ep.support], features[ep.query]
        d = ((q[:, None, :] - s[None, :, :]) ** 2).sum(-1)
        nn_acc.append(float(np.mean(ep.support_labels[d.argmin(1)] == ep.query_labels)))
        centroids = np.stack([s[ep.support_labels == w].mean(0) for w in range(5)])
        dc = ((q[:, None, :] - centroids[None]) ** 2).sum(-1)
        centroid_acc.append(float(np.mean(dc.argmin(1) == ep.query_labels)))
        progress(1)
    return {"nearest_neighbour": nn_acc, "nearest_centroid": centroid_acc}


def summary(acc: list[float]) -> dict[str, float]:
    a = np.asarray(acc)
    return {"mean": float(a.mean()), "ci95": float(1.96 * a.std() / np.sqrt(len(a)))}


def embedding(state: dict[str, torch.Tensor], n_classes: int) -> nn.Module:
    """The trained embedding net rebuilt from its run's weights, in eval mode."""
    embed, _ = conv4(n_classes)
    embed.load_state_dict(state)
    return embed.eval()


def score(
    embed: nn.Module,
    images: torch.Tensor,
    labels: np.ndarray,
    classes: np.ndarray,
    k_shot: int,
    n_episodes: int,
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """Pixel and embedding baselines on the 5-way k_shot evaluation episodes.

    images: (n, 1, 28, 28) evaluation images; labels: (n,) their class ids.
    """
    with torch.no_grad():
        emb = torch.cat(
            [embed(images[i : i + 1024]) for i in range(0, len(images), 1024)]
        ).numpy()
    pixels = images.flatten(1).numpy()
    raw = few_shot(pixels, labels, classes, k_shot, n_episodes, progress)
    cnn = few_shot(emb, labels, classes, k_shot, n_episodes, progress)
    return {
        "pixels, nearest neighbour": summary(raw["nearest_neighbour"]),
        "CNN embedding, nearest neighbour": summary(cnn["nearest_neighbour"]),
        "CNN embedding, nearest centroid": summary(cnn["nearest_centroid"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    args = parse_arguments(parser)
    epochs = SMOKE["epochs"] if args.smoke else EPOCHS
    n_episodes = SMOKE["n_episodes"] if args.smoke else N_EPISODES
    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    t0 = time.perf_counter()
    glyphs = load_glyphs()
    split = standard_split()
    images = torch.from_numpy(glyphs.float_images()).unsqueeze(1)
    chars = glyphs.labels["char"]
    train_rows = np.flatnonzero(np.isin(chars, split["train"]))
    eval_classes = split["evaluation"]
    if args.smoke:  # a few batches, a few evaluation classes
        train_rows = train_rows[: SMOKE["train_images"]]
        eval_classes = eval_classes[: SMOKE["eval_classes"]]
    remap = {int(c): i for i, c in enumerate(split["train"])}
    y = torch.tensor([remap[int(c)] for c in chars[train_rows]])
    eval_rows = np.flatnonzero(np.isin(chars, eval_classes))
    labels = chars[eval_rows].astype(np.int64)
    n_classes = len(split["train"])
    t1 = time.perf_counter()

    bench = Bench("glyph_baseline", args.out, resume=args.resume)
    shots = {f"5-way {k}-shot": k for k in (1, 5)}
    n_batches = -(-len(train_rows) // BATCH)  # ceil: the last batch is partial
    bench.plan({"train": epochs * n_batches} | dict.fromkeys(shots, 2 * n_episodes))
    for key in bench.todo():
        start = time.perf_counter()
        if key == "train":
            x = images[train_rows]
            embed, log = train(x, y, n_classes, epochs, bench.step)
            run = {"state": embed.state_dict(), "log": log}
        else:
            embed = embedding(bench.results()["train"]["state"], n_classes)
            run = {
                "results": score(
                    embed,
                    images[eval_rows],
                    labels,
                    eval_classes,
                    shots[key],
                    n_episodes,
                    bench.step,
                )
            }
        bench.finish(key, run | {"seconds": time.perf_counter() - start})
    runs = bench.results()
    out = {
        "results": {key: runs[key]["results"] for key in shots},
        "episodes": n_episodes,
        "q_queries": Q_QUERIES,
        "episode_seed": EPISODE_SEED,
        "train": {
            "classes": n_classes,
            "images": len(train_rows),
            "epochs": epochs,
            "batch": BATCH,
            "lr": LR,
            "seed": SEED,
            "log": runs["train"]["log"],
        },
        "evaluation": {"classes": len(eval_classes), "images": len(eval_rows)},
        "data": {"n_per_class": 20, "size": 28, "seed": 0},
        "model": "conv4: 4 x [conv3x3(64), batchnorm, relu, maxpool2], 64-d embedding",
        "torch_threads": THREADS,
        "seconds": {
            "data": t1 - t0,
            "train": runs["train"]["seconds"],
            "evaluate": sum(runs[key]["seconds"] for key in shots),
        },
        "versions": {**versions(), "torch": torch.__version__},
    }
    if args.smoke:
        out["smoke"] = SMOKE
    write_json(args.out, out)
    bench.close()


if __name__ == "__main__":
    main()
