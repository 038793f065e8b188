"""Data parallelism on this machine (1 and 2 gloo ranks) and on paper (up to 512).

Writes ``benchmarks/results/distributed_scaling.json``; the "Scaling out" page
renders it. Run from the repository root::

    .venv/bin/python benchmarks/distributed_scaling.py
    .venv/bin/python benchmarks/distributed_scaling.py --smoke --out smoke.json
    .venv/bin/python benchmarks/distributed_scaling.py --resume     # after a kill

The script launches itself with torchrun (``python -m torch.distributed.run
--standalone --nproc-per-node=W``) for W = 1 and W = 2, alternating, several
rounds, one core per rank. Each launch times, on the same global batch (strong
scaling), the median wall-clock seconds of one step of:

- ``meta``: MAML on the sinusoid (1-40-40-1 MLP, meta-batch 24, one inner
  step), each rank adapting to its share of the tasks
  (:mod:`mtlbook.distributed.meta`); ``meta_heavy`` the same network with
  meta-batch 96 and 5 inner steps, a heavier step;
- ``mtl_mgda`` and ``mtl_equal``: a hard-sharing network on 3 regression tasks,
  global batch 256, with MGDA on the reduced task gradients and with equal
  weights on the reduced losses (:mod:`mtlbook.distributed.multitask`);
- ``finetune``: plain DistributedDataParallel fine-tuning of an MLP.

It also counts the bytes each step hands to the collectives, and (on two
ranks) shows DDP's trap: ``torch.autograd.grad`` through a DDP model returns
each rank's local gradient. Time ratios are taken within a round (the two
launches run back to back) and reported as means with 95 % CIs over rounds;
the machine's load average is recorded, since other processes share the
cores. Re-run it on a quiet machine for cleaner ratios.

The paper model (:mod:`mtlbook.distributed.cost`) predicts the step time at 8,
64 and 512 workers for the book's networks and one the size of ResNet-18, for
two networks whose bandwidth and latency are parameters (``--bandwidth``,
``--latency``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from claims import mean_ci
from harness import Bench, add_common_arguments, machine, parse_arguments, write_json
from torch import nn

from mtlbook.distributed import (
    aggregated_backward,
    allreduce_bytes,
    allreduce_seconds,
    local_meta_loss,
    reduced_meta_backward,
    sample_shard,
    scalarized_backward,
    shard,
)
from mtlbook.meta import ConditionalNeuralProcess, Sinusoid, maml_loss
from mtlbook.meta.sinusoid import sinusoid_mlp
from mtlbook.multitask import MGDA, EqualWeights, HardSharing

RESULT = Path(__file__).parent / "results" / "distributed_scaling.json"
WORKLOADS = ("meta", "meta_heavy", "mtl_mgda", "mtl_equal", "finetune")
HEAVY_BATCH, HEAVY_STEPS = 96, 5  # four times the tasks, five inner steps
WORLDS = (1, 2)
META_BATCH = 24
BATCH = 256
K = 3
WIDTH = 64
FEATURES = 16
#: torchvision's resnet18: 11,689,512 parameters (He et al. 2016's ImageNet net).
RESNET18_PARAMS = 11_689_512
#: (name, bandwidth in bytes/s, latency in s): 100 Gbit/s InfiniBand-class and
#: 10 Gbit/s Ethernet-class links; override with --bandwidth / --latency.
NETWORKS = (("100 Gbit/s, 5 µs", 12.5e9, 5e-6), ("10 Gbit/s, 50 µs", 1.25e9, 5e-5))
SCALES = (2, 8, 64, 512)


# --- the workloads (each rank) -----------------------------------------------------


def mtl_model() -> HardSharing:
    torch.manual_seed(0)
    block = lambda a, b: nn.Sequential(nn.Linear(a, b), nn.ReLU())  # noqa: E731
    heads = [nn.Linear(WIDTH, 1) for _ in range(K)]
    layers = [block(FEATURES, WIDTH), block(WIDTH, WIDTH)]
    return HardSharing(layers, heads, shared_depth=2)


def finetune_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(FEATURES, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(),
        nn.Linear(WIDTH, 1),
    )  # fmt: skip


def data(rank: int, size: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """This rank's slice of the fixed global batch: x and K targets."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, FEATURES, generator=g)
    w = torch.randn(FEATURES, K, generator=g)
    y = torch.sin(x @ w)
    part = shard(BATCH, rank, size)
    rows = slice(part.start, part.stop)
    return x[rows], [y[rows, k : k + 1] for k in range(K)]


def make_step(name: str, rank: int, size: int):
    """A function running one training step of workload ``name``."""
    if name in ("meta", "meta_heavy"):
        B, inner = (META_BATCH, 1) if name == "meta" else (HEAVY_BATCH, HEAVY_STEPS)
        model = sinusoid_mlp(0)
        params = dict(model.named_parameters())
        opt = torch.optim.Adam(params.values(), lr=1e-3)
        tasks, counter = Sinusoid(), iter(range(10**9))

        def meta() -> None:
            batch = sample_shard(
                tasks, B, seed=0, step=next(counter), rank=rank, world_size=size,
            )  # fmt: skip
            loss = local_meta_loss(
                maml_loss, model, params, batch, meta_batch=B,
                loss_fn=F.mse_loss, inner_lr=0.01, steps=inner,
            )  # fmt: skip
            opt.zero_grad(set_to_none=True)
            reduced_meta_backward(loss, params)
            opt.step()

        return meta
    x, ys = data(rank, size)
    if name == "finetune":
        net = nn.parallel.DistributedDataParallel(finetune_model())
        opt = torch.optim.SGD(net.parameters(), lr=0.01)

        def finetune() -> None:
            opt.zero_grad(set_to_none=True)
            F.mse_loss(net(x), ys[0]).backward()
            opt.step()

        return finetune
    model = mtl_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mgda, equal = MGDA(), EqualWeights(K)

    def mtl() -> None:
        terms = [F.mse_loss(o, y) for o, y in zip(model(x), ys, strict=True)]
        opt.zero_grad(set_to_none=True)
        if name == "mtl_mgda":
            aggregated_backward(mgda, terms, model)
        else:
            scalarized_backward(equal, terms, model)
        opt.step()

    return mtl


class Counter:
    """Bytes handed to all_reduce and broadcast while ``on`` (this rank)."""

    def __init__(self) -> None:
        self.on, self.nbytes = False, 0
        for op in ("all_reduce", "broadcast"):
            original = getattr(dist, op)

            def counted(tensor, *args, _original=original, **kwargs):
                if self.on:
                    self.nbytes += tensor.numel() * tensor.element_size()
                return _original(tensor, *args, **kwargs)

            setattr(dist, op, counted)


def ddp_trap() -> dict[str, Any]:
    """autograd.grad through DDP on two ranks: local gradients, no error."""
    rank = dist.get_rank()
    net = nn.parallel.DistributedDataParallel(finetune_model().double())
    x, ys = data(rank, dist.get_world_size())
    x, y = x.double(), ys[0].double()
    local = torch.autograd.grad(F.mse_loss(net(x), y), list(net.parameters()))
    F.mse_loss(net(x), y).backward()
    synced = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
    mine = torch.cat([g.reshape(-1) for g in local])
    gathered = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, mine)
    mean = torch.stack(gathered).mean(0)
    try:
        from torch.func import functional_call, grad

        grad(lambda p: F.mse_loss(functional_call(net, p, (x,)), y))(
            dict(net.named_parameters())
        )
        func = "no error"
    except Exception as error:  # the point: what torch.func does with DDP
        func = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return {
        "autograd_vs_synced": float((mine - synced).norm() / synced.norm()),
        "ranks_apart": float((gathered[0] - gathered[1]).norm() / mean.norm()),
        "synced_vs_mean": float((synced - mean).norm() / mean.norm()),
        "torch_func_grad": func,
    }


def worker(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    counter = Counter()
    out: dict[str, Any] = {"seconds": {}, "bytes": {}}
    for name in WORKLOADS:
        step = make_step(name, rank, size)
        for _ in range(args.warmup):
            step()
        counter.on, counter.nbytes = True, 0
        step()
        counter.on = False
        # DDP's reducer all-reduces every gradient in C++, unseen by the counter
        ddp = sum(4 * p.numel() for p in finetune_model().parameters())
        out["bytes"][name] = ddp if name == "finetune" else counter.nbytes
        times = []
        for _ in range(args.steps):
            dist.barrier()
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        out["seconds"][name] = statistics.median(times)
    if size == 2:
        out["ddp_trap"] = ddp_trap()
    if rank == 0:
        write_json(args.part, out)
    dist.destroy_process_group()


# --- the launcher ---------------------------------------------------------------------


def launch(world: int, steps: int, warmup: int) -> dict[str, Any]:
    """One torchrun launch with ``world`` ranks; rank 0's measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "part.json"
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={world}", __file__, "--worker", "--part", str(part),
            "--steps", str(steps), "--warmup", str(warmup),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
        run = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if run.returncode != 0:
            raise RuntimeError(f"torchrun with {world} ranks failed:\n{run.stderr}")
        return json.loads(part.read_text())


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def paper_model(
    seconds_one: dict[str, float], networks: list[tuple[str, float, float]]
) -> dict[str, Any]:
    """Ring all-reduce time, step time and speedup at SCALES workers."""
    nets = {
        "sinusoid MLP (MAML)": (n_params(sinusoid_mlp(0)), seconds_one["meta"]),
        "sinusoid MLP, heavy step": (
            n_params(sinusoid_mlp(0)),
            seconds_one["meta_heavy"],
        ),
        "hard sharing (MTL)": (n_params(mtl_model()), seconds_one["mtl_equal"]),
        "CNP": (n_params(ConditionalNeuralProcess()), None),
        "ResNet-18 size": (RESNET18_PARAMS, None),
    }
    out: dict[str, Any] = {}
    for label, bandwidth, latency in networks:
        rows = {}
        for model, (P, t1) in nets.items():
            row: dict[str, Any] = {"params": P, "measured_step_s": t1, "workers": {}}
            for N in SCALES:
                T = allreduce_seconds(P, N, bandwidth=bandwidth, latency=latency)
                cell = {
                    "bytes_sent": allreduce_bytes(P, N),
                    "allreduce_s": T,
                    # the one-worker step time above which compute dominates
                    "break_even_step_s": N * T,
                }
                if t1 is not None:
                    cell["speedup"] = t1 / (t1 / N + T)
                    cell["communication_dominates"] = t1 / N < T
                row["workers"][str(N)] = cell
            rows[model] = row
        out[label] = {"bandwidth_Bps": bandwidth, "latency_s": latency, "nets": rows}
    return out


def main() -> None:
    if "--worker" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--worker", action="store_true")
        parser.add_argument("--part", type=Path, required=True)
        parser.add_argument("--steps", type=int, required=True)
        parser.add_argument("--warmup", type=int, required=True)
        worker(parser.parse_args())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, out=RESULT)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bandwidth", type=float, nargs="*", default=None)
    parser.add_argument("--latency", type=float, nargs="*", default=None)
    args = parse_arguments(parser)
    rounds, steps, warmup = (1, 3, 1) if args.smoke else (args.rounds, 40, 5)
    networks = list(NETWORKS)
    if args.bandwidth or args.latency:
        bw, lat = args.bandwidth or [NETWORKS[0][1]], args.latency or [NETWORKS[0][2]]
        networks = [(f"{b:.3g} B/s, {a:.3g} s", b, a) for b in bw for a in lat]

    load_before = os.getloadavg()
    bench = Bench("distributed_scaling", args.out, resume=args.resume)
    keys = [f"round{r}/world{w}" for r in range(rounds) for w in WORLDS]
    bench.plan(dict.fromkeys(keys, 1))
    start = time.perf_counter()
    for key in bench.todo():
        world = int(key.rsplit("world", 1)[1])
        bench.finish(key, {**launch(world, steps, warmup), "load": os.getloadavg()})
    runs = bench.results()
    load_after = os.getloadavg()

    per_round = {
        name: {
            w: [runs[f"round{r}/world{w}"]["seconds"][name] for r in range(rounds)]
            for w in WORLDS
        }
        for name in WORKLOADS
    }
    timing = {}
    for name, by_world in per_round.items():
        ratios = [b / a for a, b in zip(by_world[1], by_world[2], strict=True)]
        mean, half = mean_ci(ratios)
        one, one_half = mean_ci(by_world[1])
        two, two_half = mean_ci(by_world[2])
        timing[name] = {
            "seconds_world1": by_world[1],
            "seconds_world2": by_world[2],
            "mean_s_world1": one,
            "ci95_s_world1": one_half,
            "mean_s_world2": two,
            "ci95_s_world2": two_half,
            "ratio_world2_over_world1": ratios,
            "mean_ratio": mean,
            "ci95_ratio": half,
            "bytes_per_step_world2": runs["round0/world2"]["bytes"][name],
        }
    seconds_one = {name: timing[name]["mean_s_world1"] for name in WORKLOADS}
    result = {
        "name": "distributed_scaling",
        "setup": {
            "meta": f"MAML sinusoid, meta-batch {META_BATCH}, 1 inner step",
            "meta_heavy": f"MAML sinusoid, meta-batch {HEAVY_BATCH}, "
            f"{HEAVY_STEPS} inner steps",
            "mtl": f"hard sharing {FEATURES}-{WIDTH}-{WIDTH}, K={K}, batch {BATCH}",
            "finetune": f"DDP MLP {FEATURES}-{WIDTH}-{WIDTH}-1, batch {BATCH}",
            "rounds": rounds,
            "steps_timed": steps,
            "warmup": warmup,
            "threads_per_rank": 1,
            "backend": "gloo",
        },
        "params": {
            "meta": n_params(sinusoid_mlp(0)),
            "mtl": n_params(mtl_model()),
            "finetune": n_params(finetune_model()),
        },
        "timing": timing,
        "ddp_trap": runs["round0/world2"]["ddp_trap"],
        "model": paper_model(seconds_one, networks),
        "load": {"before": load_before, "after": load_after},
        "wall_s": time.perf_counter() - start,
        "machine": machine(),
    }
    if args.smoke:
        result["smoke"] = True
    write_json(args.out, result)
    bench.close()


if __name__ == "__main__":
    main()
