"""Data parallelism on two gloo ranks gives what one process computes on the union.

One spawn of two processes (gloo on 127.0.0.1, a free port chosen at run time,
bounded in time) runs every distributed computation once and saves what each
rank saw; the tests compare that with the ordinary single-process path of the
package, run here on the union of the ranks' data, in float64:

* the meta-gradient of MAML, first-order MAML, ANIL, ProtoNets and the CNP
  equals ``meta_loss`` + autograd on all the tasks, to 1e-12 relative;
* three multi-task steps with every aggregator and every scalarizer of the
  package (``JacobianStep``/``ScalarizedStep`` on the whole batch as the
  reference) end at the same parameters (1e-11 relative), and every rank
  holds the same bits;
* DDP's gradient all-reduce runs in ``loss.backward()`` only: with
  ``torch.autograd.grad`` the ranks get different (local) gradients, the
  package refuses a DDP-wrapped model with a TypeError, and plain DDP
  fine-tuning equals full-batch training.
"""

from __future__ import annotations

import inspect
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import Tensor, nn

import mtlbook.multitask as mt
from mtlbook.distributed import (
    aggregated_backward,
    all_reduce_mean,
    distributed_meta_train,
    local_meta_loss,
    reduced_meta_backward,
    reduced_representation_gramian,
    sample_shard,
    scalarized_backward,
)
from mtlbook.meta import (
    ConditionalNeuralProcess,
    FewShotEpisodes,
    Sinusoid,
    anil_loss,
    cnp_loss,
    fomaml_loss,
    maml_loss,
    meta_backward,
    meta_loss,
    protonet_loss,
)
from mtlbook.multitask.steps import JacobianStep, ScalarizedStep

WORLD = 2
META_BATCH = 5  # odd: the ranks hold 3 and 2 tasks
SEED = 11
MTL_STEPS = 3
META_STEPS = 3
TIMEOUT_S = 150  # the whole spawn; a busy 2-core machine is slow to start torch
K = 3  # tasks of the multi-task problem
N_LOCAL = 6  # examples per rank


# --- the problems, built identically by the ranks and by the reference ----------


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)
    ).double()


def embedder() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()


def episodes() -> FewShotEpisodes:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 4, generator=g, dtype=torch.float64)
    return FewShotEpisodes(x, torch.arange(40) % 4, n_way=3, k_shot=2, n_query=2)


def cnp() -> nn.Module:
    torch.manual_seed(2)
    return ConditionalNeuralProcess(width=8, depth=2).double()


SINE = Sinusoid(k_support=4, k_query=4, dtype=torch.float64)
MSE: dict[str, Any] = {"loss_fn": F.mse_loss, "inner_lr": 0.1}
META = {  # name: (task loss, model factory, task distribution, options)
    "maml": (maml_loss, mlp, SINE, {**MSE, "steps": 2}),
    "fomaml": (fomaml_loss, mlp, SINE, MSE),
    "anil": (anil_loss, mlp, SINE, {**MSE, "head": "4"}),
    "protonet": (protonet_loss, embedder, episodes(), {"n_way": 3}),
    "cnp": (cnp_loss, cnp, SINE, {}),
}


def mtl_model() -> mt.HardSharing:
    torch.manual_seed(4)
    block = lambda a, b: nn.Sequential(nn.Linear(a, b), nn.Tanh())  # noqa: E731
    heads = [nn.Linear(6, 1) for _ in range(K)]
    return mt.HardSharing([block(3, 6), block(6, 6)], heads, shared_depth=1).double()


def mtl_data() -> tuple[Tensor, list[Tensor]]:
    """The global batch: x (WORLD·N_LOCAL, 3) and K targets, scales 1e-2 .. 1e2.

    Task 1's target is the negative of task 0's: anti-parallel gradients.
    """
    g = torch.Generator().manual_seed(5)
    x = torch.randn(WORLD * N_LOCAL, 3, generator=g, dtype=torch.float64)
    base = torch.sin(x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64))
    return x, [1e-2 * base, -1e-2 * base, 1e2 * x[:, :1] ** 2]


def aggregators() -> dict[str, mt.Aggregator]:
    """One of every aggregator the package exports, with its defaults."""
    out = {}
    for name in mt.__all__:
        cls = getattr(mt, name)
        if inspect.isclass(cls) and issubclass(cls, mt.Aggregator):
            if inspect.isabstract(cls):
                continue
            needs = inspect.signature(cls).parameters
            kwargs = (
                {"generator": torch.Generator().manual_seed(6)}
                if "generator" in needs
                else {}
            )
            out[name] = cls(**kwargs)
    return out


def scalarizers(model: mt.HardSharing) -> dict[str, mt.Scalarizer]:
    """One of every scalarizer the package exports (checked by a test below)."""
    extra = {}
    if hasattr(mt, "SmoothTchebycheff"):  # non-linear in the losses
        extra["SmoothTchebycheff"] = mt.SmoothTchebycheff([0.2, 0.3, 0.5])
    return {
        **extra,
        "EqualWeights": mt.EqualWeights(K),
        "StaticWeights": mt.StaticWeights([0.2, 1.0, 3.0]),
        "UncertaintyWeighting": mt.UncertaintyWeighting(K).double(),
        "DWA": mt.DWA(K),
        "RandomLossWeighting": mt.RandomLossWeighting(
            K, torch.Generator().manual_seed(7)
        ),
        "FAMO": mt.FAMO(K),
        "GradNorm": mt.GradNorm(K, model.last_shared_parameters()),
    }


def flat(params: Any) -> Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])


def mtl_losses(model: nn.Module, x: Tensor, ys: list[Tensor]) -> list[Tensor]:
    return [F.mse_loss(o, y) for o, y in zip(model(x), ys, strict=True)]


def run_mtl(method: str, x: Tensor, ys: list[Tensor], distributed: bool) -> Tensor:
    """MTL_STEPS steps of ``method``; the final parameters, flattened.

    distributed: the rank's slice through mtlbook.distributed; otherwise the
    whole batch through the single-process steps of mtlbook.multitask.
    """
    model = mtl_model()
    aggs = aggregators()
    scal = None if method in aggs else scalarizers(model)[method]
    agg = aggs.get(method)
    params = [*model.parameters(), *(scal.parameters() if scal else [])]
    opt = torch.optim.SGD(params, lr=0.05)
    mean = all_reduce_mean if distributed else (lambda t: t)
    for _ in range(MTL_STEPS):
        terms = mtl_losses(model, x, ys)
        opt.zero_grad(set_to_none=True)
        if distributed and agg is not None:
            aggregated_backward(agg, terms, model)
        elif distributed:
            assert scal is not None
            scalarized_backward(scal, terms, model)
        elif agg is not None:
            step = JacobianStep(agg, model, None, model.shared_parameters())
            step.step(terms, torch.stack(terms))
        else:
            assert scal is not None
            ScalarizedStep(scal, model, None).step(terms, torch.stack(terms))
        opt.step()
        if scal is not None:
            with torch.no_grad():
                after = torch.stack(mtl_losses(model, x, ys))
                if scal.needs_losses_after_step:
                    scal.after_step(mean(after))
                scal.end_epoch(mean(after))  # one epoch per step: DWA moves
    return flat(params)


def union(tasks: Any) -> Any:
    return sample_shard(tasks, META_BATCH, seed=SEED, step=0, rank=0, world_size=1)


# --- the ranks --------------------------------------------------------------------


def _worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD
    )
    result: dict[str, Any] = {}
    try:
        for name, (fn, make, tasks, options) in META.items():
            model = make()
            params = dict(model.named_parameters())
            batch = sample_shard(
                tasks, META_BATCH, seed=SEED, step=0, rank=rank, world_size=WORLD
            )
            loss = local_meta_loss(
                fn, model, params, batch, meta_batch=META_BATCH, **options
            )
            (grads,) = reduced_meta_backward(loss, params)
            result[f"meta/{name}"] = flat(grads.values())

        model = mlp()
        params = dict(model.named_parameters())
        opt = torch.optim.Adam(params.values(), lr=0.01)
        distributed_meta_train(
            maml_loss, model, params, SINE, steps=META_STEPS, optimizer=opt,
            seed=SEED, meta_batch=META_BATCH, **MSE,
        )  # fmt: skip
        result["meta_train"] = flat(params.values())
        torch.manual_seed(rank)  # a different start on each rank is refused
        model = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1)).double()
        params = dict(model.named_parameters())
        try:
            distributed_meta_train(
                maml_loss, model, params, SINE, steps=1, seed=SEED,
                optimizer=torch.optim.SGD(params.values(), lr=0.1), **MSE,
            )  # fmt: skip
            result["different_start"] = "no error"
        except ValueError as error:
            result["different_start"] = str(error)

        x, ys = mtl_data()
        part = slice(rank * N_LOCAL, (rank + 1) * N_LOCAL)
        xr, yr = x[part], [y[part] for y in ys]
        for method in [*aggregators(), *scalarizers(mtl_model())]:
            result[f"mtl/{method}"] = run_mtl(method, xr, yr, distributed=True)
        model = mtl_model()
        terms = mtl_losses(model, xr, yr)
        result["gramian"] = reduced_representation_gramian(
            terms, model.task_representations
        )

        # DDP: backward() all-reduces, autograd.grad does not; fine-tuning works.
        net = nn.parallel.DistributedDataParallel(mlp())
        xs = x[part, :1]
        result["ddp/autograd"] = flat(
            torch.autograd.grad(net(xs).square().mean(), list(net.parameters()))
        )
        net(xs).square().mean().backward()
        result["ddp/backward"] = flat(p.grad for p in net.parameters())
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            F.mse_loss(net(xs), ys[0][part]).backward()
            opt.step()
        result["ddp/finetune"] = flat(net.parameters())
        errors = []
        for call in (
            lambda: meta_loss(maml_loss, net, dict(net.named_parameters()), batch),
            lambda: meta_backward(net(xs).sum(), net),  # type: ignore[arg-type]
            lambda: mt.task_gradients(terms, net),  # type: ignore[arg-type]
            lambda: aggregated_backward(mt.MGDA(), terms, net),
        ):
            try:
                call()
                errors.append("no error")
            except TypeError as error:
                errors.append(str(error))
        result["ddp/errors"] = errors
    finally:
        torch.save(result, Path(out) / f"rank{rank}.pt")
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("ranks")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLOO_SOCKET_IFNAME", "lo")  # loopback only, inherited
        context = mp.spawn(
            _worker, args=(_free_port(), str(out)), nprocs=WORLD, join=False
        )
    deadline = time.monotonic() + TIMEOUT_S
    while not context.join(timeout=max(deadline - time.monotonic(), 0.1)):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail(f"the {WORLD} gloo ranks did not finish in {TIMEOUT_S} s")
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


def relative(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm())


# --- meta-learning --------------------------------------------------------------


def test_the_shards_are_the_union_of_the_tasks_for_any_world_size():
    whole = union(SINE)
    for size in (1, 2, 3, 5):
        parts = [
            sample_shard(SINE, META_BATCH, seed=SEED, step=0, rank=r, world_size=size)
            for r in range(size)
        ]
        assert torch.equal(torch.cat([p.x_query for p in parts]), whole.x_query)
        assert torch.equal(torch.cat([p.y_support for p in parts]), whole.y_support)


@pytest.mark.parametrize("name", list(META))
def test_two_ranks_give_the_meta_gradient_of_the_union(ranks, name):
    fn, make, tasks, options = META[name]
    model = make()
    params = dict(model.named_parameters())
    loss = meta_loss(fn, model, params, union(tasks), **options)
    want = flat(torch.autograd.grad(loss, list(params.values())))
    for rank in ranks:
        assert relative(rank[f"meta/{name}"], want) <= 1e-12


def test_distributed_meta_training_keeps_the_ranks_bit_identical(ranks):
    model = mlp()
    params = dict(model.named_parameters())
    opt = torch.optim.Adam(params.values(), lr=0.01)
    for step in range(META_STEPS):
        batch = sample_shard(
            SINE, META_BATCH, seed=SEED, step=step, rank=0, world_size=1
        )
        opt.zero_grad()
        meta_backward(meta_loss(maml_loss, model, params, batch, **MSE), params)
        opt.step()
    assert torch.equal(ranks[0]["meta_train"], ranks[1]["meta_train"])
    assert relative(ranks[0]["meta_train"], flat(params.values())) <= 1e-12


# --- multi-task learning ----------------------------------------------------------


def test_every_aggregator_and_scalarizer_of_the_package_is_covered():
    exported = {
        n
        for n in mt.__all__
        if inspect.isclass(getattr(mt, n))
        and issubclass(getattr(mt, n), mt.Aggregator | mt.Scalarizer)
        and not inspect.isabstract(getattr(mt, n))
        and getattr(mt, n) not in (mt.Scalarizer,)
    }
    assert exported == set(aggregators()) | set(scalarizers(mtl_model()))


METHODS = [*aggregators(), *scalarizers(mtl_model())]


@pytest.mark.parametrize("method", METHODS)
def test_two_ranks_take_the_multitask_steps_of_the_whole_batch(ranks, method):
    x, ys = mtl_data()
    want = run_mtl(method, x, ys, distributed=False)
    got = [rank[f"mtl/{method}"] for rank in ranks]
    assert torch.equal(got[0], got[1]), "the ranks' parameters differ"
    # summation order differs; the iterative solvers (Nash-MTL, Aligned-MTL)
    # amplify that rounding by ~100 (the worst seen: 2e-13)
    assert relative(got[0], want) <= 1e-11


def test_the_representation_gramian_sums_over_ranks(ranks):
    x, ys = mtl_data()
    model = mtl_model()
    want = mt.representation_gramian(
        mtl_losses(model, x, ys), model.task_representations
    )
    for rank in ranks:
        assert relative(rank["gramian"], want) <= 1e-12


# --- DistributedDataParallel ---------------------------------------------------------


def test_ddp_reduces_in_backward_but_not_in_autograd_grad(ranks):
    a, b = ranks
    assert torch.equal(a["ddp/backward"], b["ddp/backward"])
    assert relative(a["ddp/autograd"], b["ddp/autograd"]) > 0.01  # local, silently
    mean = (a["ddp/autograd"] + b["ddp/autograd"]) / 2
    assert relative(a["ddp/backward"], mean) <= 1e-12


def test_ddp_fine_tuning_equals_full_batch_training(ranks):
    x, ys = mtl_data()
    net = mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(net(x[:, :1]), ys[0]).backward()
        opt.step()
    for rank in ranks:
        assert relative(rank["ddp/finetune"], flat(net.parameters())) <= 1e-12


def test_ranks_that_start_from_different_parameters_are_refused(ranks):
    for rank in ranks:
        assert "broadcast_parameters" in rank["different_start"]


def test_a_ddp_wrapped_model_is_refused_with_a_type_error(ranks):
    for message in ranks[0]["ddp/errors"]:
        assert "DistributedDataParallel" in message
