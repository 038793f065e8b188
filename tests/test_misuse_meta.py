"""Deliberately wrong calls into mtlbook.meta: each fails at the boundary.

Every case states the exception type and the word its message must contain
(the argument as the caller wrote it). Several were silent before: a label
column broadcast into a 4×4 comparison, a negative z gave a negative interval,
a TaskBatch passed where one Task is expected adapted every task at once.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from misuse import Bad, params
from torch import nn

from mtlbook.meta import (
    ConditionalNeuralProcess,
    CosineClassifier,
    FewShotEpisodes,
    ReptileSine,
    Sinusoid,
    Task,
    TaskBatch,
    TaskBatchNorm,
    accuracy,
    adapt,
    adaptation_curve,
    anil_loss,
    cnp_loss,
    conjugate_gradient,
    cosine_logits,
    cosine_probe,
    fixed_tasks,
    fomaml_loss,
    functional,
    gaussian_nll,
    glyph_episodes,
    imaml_loss,
    joint_loss,
    linear_probe,
    logistic_probe,
    maml_loss,
    mean_ci,
    meta_backward,
    meta_loss,
    meta_train,
    metasgd_loss,
    metasgd_rates,
    protomaml_loss,
    protonet_logits,
    protonet_loss,
    prototypes,
    r2d2_hyper,
    r2d2_loss,
    reptile_delta,
    reptile_grad,
    reptile_step,
    ridge_head,
    score_tasks,
    stack_tasks,
    vmap_blockers,
)

MSE = {"loss_fn": F.mse_loss}


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))


def batch(n: int = 2) -> TaskBatch:
    return Sinusoid(4, 5).sample_batch(n, torch.Generator().manual_seed(0))


def task() -> Task:
    return batch()[0]


def weights(model: nn.Module) -> dict:
    return dict(model.named_parameters())


def maml(**kw):
    m = net()
    options = {**MSE, "inner_lr": 0.1, **kw}
    return maml_loss(m, weights(m), options.pop("task", task()), **options)


def run_meta_train(**kw):
    m = net()
    p = weights(m)
    options = {
        "iterations": 1,
        "optimizer": torch.optim.Adam(p.values()),
        "generator": torch.Generator().manual_seed(0),
        **MSE,
        "inner_lr": 0.1,
        **kw,
    }
    return meta_train(
        options.pop("task_loss", maml_loss),
        m,
        p,
        options.pop("tasks", Sinusoid()),
        **options,
    )


def run_adapt(**kw):
    m = net()
    t = task()
    options = {"loss_fn": F.mse_loss, "lr": 0.1, **kw}
    x = options.pop("x", t.x_support)
    y = options.pop("y", t.y_support)
    return adapt(functional(m), options.pop("params", weights(m)), x, y, **options)


def episodes() -> FewShotEpisodes:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 4, generator=g)
    y = torch.arange(4).repeat_interleave(6)
    return FewShotEpisodes(x, y, n_way=3, k_shot=2, n_query=2)


def embedder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5))


def proto_batch_bad_labels() -> TaskBatch:
    b = episodes().sample_batch(2, torch.Generator().manual_seed(1))
    y = b.y_support.clone()
    y[0, 0] = 7
    return TaskBatch(b.x_support, y, b.x_query, b.y_query)


def protonets(b: TaskBatch, n_way) -> torch.Tensor:
    m = embedder()
    return meta_loss(protonet_loss, m, weights(m), b, n_way=n_way)


def proto_task():
    return episodes().sample(torch.Generator().manual_seed(2))


def meta_backward_nan():
    m = net()
    p = weights(m)
    meta_backward(m(torch.full((2, 1), float("nan"))).mean(), p)


def reptile_step_keys():
    m = net()
    p = weights(m)
    reptile_step(p, {"0.weight": torch.zeros(8, 1)}, outer_lr=0.1)


def reptile_step_rate(rate):
    m = net()
    p = weights(m)
    reptile_step(p, {n: torch.zeros_like(v) for n, v in p.items()}, outer_lr=rate)


def cnp_call(bad: str):
    model = ConditionalNeuralProcess(width=4, depth=2)
    t = task()
    if bad == "task":
        return cnp_loss(model, weights(model), batch())
    return cnp_loss(model, weights(model), t)


def ridge(**kw):
    g = torch.Generator().manual_seed(0)
    options = {"z": torch.randn(6, 4, generator=g), "y": torch.arange(6) % 3}
    options |= {"n_way": 3, "lam": 1.0, **kw}
    return ridge_head(
        options.pop("z"), options.pop("y"), options.pop("n_way"), **options
    )


def r2d2(hyper=None, b=None, model=None):
    m = embedder() if model is None else model
    b = episodes().sample_batch(2, torch.Generator().manual_seed(1)) if b is None else b
    h = r2d2_hyper() if hyper is None else hyper
    return meta_loss(r2d2_loss, m, weights(m), b, n_way=3, hyper=h)


def probe(fn, **kw):
    g = torch.Generator().manual_seed(0)
    options = {"z": torch.randn(6, 4, generator=g), "y": torch.arange(6) % 3}
    options |= {"n_way": 3, **kw}
    return fn(options.pop("z"), options.pop("y"), options.pop("n_way"), **options)


def linear(**kw):
    return probe(linear_probe, **{"steps": 5, "lr": 1.0, **kw})


def cosine(**kw):
    return probe(cosine_probe, **{"scale": 10.0, "steps": 5, "lr": 0.1, **kw})


def imaml(**kw):
    m = net()
    options = {**MSE, "inner_lr": 0.1, "steps": 2, "lam": 1.0, **kw}
    return imaml_loss(m, weights(m), options.pop("task", task()), **options)


CASES = [
    # --- tasks and distributions -------------------------------------------------
    Bad("sinusoid_float_k", lambda: Sinusoid(k_support=2.0), TypeError, "k_support"),
    Bad("sinusoid_zero_k", lambda: Sinusoid(k_query=0), ValueError, "k_query"),
    Bad("sinusoid_amp_float", lambda: Sinusoid(amplitude=5.0), TypeError, "amplitude"),
    Bad(
        "sinusoid_amp_reversed",
        lambda: Sinusoid(amplitude=(5.0, 0.1)),
        ValueError,
        "amplitude",
    ),
    Bad("sinusoid_dtype_str", lambda: Sinusoid(dtype="float32"), TypeError, "dtype"),
    Bad("sinusoid_dtype_int", lambda: Sinusoid(dtype=torch.int64), ValueError, "dtype"),
    Bad(
        "sinusoid_generator_none",
        lambda: Sinusoid().sample_batch(2, None),
        TypeError,
        "generator",
    ),
    Bad(
        "sinusoid_generator_numpy",
        lambda: Sinusoid().sample_batch(2, np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
    Bad(
        "sinusoid_n_tasks_float",
        lambda: Sinusoid().sample_batch(2.0, torch.Generator()),
        TypeError,
        "n_tasks",
    ),
    Bad(
        "sinusoid_sample_none",
        lambda: Sinusoid().sample(None),
        TypeError,
        "generator",
    ),
    Bad("reptile_sine_grid", lambda: ReptileSine(n_grid=1.5), TypeError, "n_grid"),
    Bad(
        "reptile_sine_k_gt_grid",
        lambda: ReptileSine(k_support=60),
        ValueError,
        "k_support",
    ),
    Bad(
        "task_x_list",
        lambda: Task([1.0], torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1)),
        TypeError,
        "x_support",
    ),
    Bad(
        "task_lengths",
        lambda: Task(
            torch.zeros(3, 1), torch.zeros(2, 1), torch.zeros(1, 1), torch.zeros(1, 1)
        ),
        ValueError,
        "y_support",
    ),
    Bad(
        "task_x_uint8",
        lambda: Task(
            torch.zeros(3, 1, dtype=torch.uint8),
            torch.zeros(3, 1),
            torch.zeros(1, 1, dtype=torch.uint8),
            torch.zeros(1, 1),
        ),
        TypeError,
        "x_support",
    ),
    Bad(
        "batch_info_list",
        lambda: TaskBatch(
            *(
                getattr(batch(), f)
                for f in ("x_support", "y_support", "x_query", "y_query")
            ),
            info={"amplitude": [1.0, 2.0]},
        ),
        TypeError,
        "info",
    ),
    Bad("batch_index_float", lambda: batch()[1.0], TypeError, "i"),
    Bad("batch_index_range", lambda: batch()[5], IndexError, "5"),
    Bad("stack_empty", lambda: stack_tasks([]), ValueError, "tasks"),
    Bad("stack_not_tasks", lambda: stack_tasks([1, 2]), TypeError, "tasks"),
    Bad("stack_a_batch", lambda: stack_tasks(batch()), TypeError, "tasks"),
    Bad(
        "episodes_x_numpy",
        lambda: FewShotEpisodes(
            np.zeros((4, 2)), torch.arange(4), n_way=2, k_shot=1, n_query=1
        ),
        TypeError,
        "x",
    ),
    Bad(
        "episodes_x_uint8",
        lambda: FewShotEpisodes(
            torch.zeros(8, 2, dtype=torch.uint8),
            torch.arange(4).repeat(2),
            n_way=2,
            k_shot=1,
            n_query=1,
        ),
        TypeError,
        "x",
    ),
    Bad(
        "episodes_y_float",
        lambda: FewShotEpisodes(
            torch.zeros(4, 2), torch.zeros(4), n_way=2, k_shot=1, n_query=1
        ),
        TypeError,
        "y",
    ),
    Bad(
        "episodes_n_way_float",
        lambda: FewShotEpisodes(
            torch.zeros(8, 2), torch.arange(4).repeat(2), n_way=2.0, k_shot=1, n_query=1
        ),
        TypeError,
        "n_way",
    ),
    Bad(
        "episodes_generator_numpy",
        lambda: episodes().sample_batch(2, np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
    Bad(
        "glyph_split_unknown",
        lambda: glyph_episodes("background", n_way=5, k_shot=1, n_query=1),
        ValueError,
        "split",
    ),
    Bad(
        "glyph_glyphs_dict",
        lambda: glyph_episodes("train", n_way=5, k_shot=1, n_query=1, glyphs={}),
        TypeError,
        "glyphs",
    ),
    # --- the inner loop ------------------------------------------------------------
    Bad("functional_params", lambda: functional(weights(net())), TypeError, "model"),
    Bad(
        "functional_batchnorm",
        lambda: functional(net(), batchnorm="frozen"),
        ValueError,
        "batchnorm",
    ),
    Bad("adapt_lr_negative", lambda: run_adapt(lr=-0.1), ValueError, "lr"),
    Bad("adapt_lr_str", lambda: run_adapt(lr="0.1"), TypeError, "lr"),
    Bad("adapt_steps_float", lambda: run_adapt(steps=1.0), TypeError, "steps"),
    Bad("adapt_steps_negative", lambda: run_adapt(steps=-1), ValueError, "steps"),
    Bad("adapt_order", lambda: run_adapt(order="third"), ValueError, "order"),
    Bad("adapt_params_list", lambda: run_adapt(params=[1.0]), TypeError, "params"),
    Bad("adapt_x_numpy", lambda: run_adapt(x=np.zeros((4, 1))), TypeError, "x"),
    Bad("adapt_x_y_lengths", lambda: run_adapt(y=torch.zeros(3, 1)), ValueError, "y"),
    Bad("adapt_loss_fn_str", lambda: run_adapt(loss_fn="mse"), TypeError, "loss_fn"),
    Bad(
        "adapt_loss_reduction_none",
        lambda: run_adapt(loss_fn=lambda p, t: F.mse_loss(p, t, reduction="none")),
        ValueError,
        "loss_fn",
    ),
    Bad("adapt_adapts_str", lambda: run_adapt(adapts="head"), TypeError, "adapts"),
    Bad(
        "map_tasks_task",
        lambda: meta_loss(
            maml_loss, net(), weights(net()), task(), **MSE, inner_lr=0.1
        ),
        TypeError,
        "batch",
    ),
    Bad(
        "meta_loss_fn_str",
        lambda: meta_loss("maml", net(), weights(net()), batch()),
        TypeError,
        "fn",
    ),
    Bad(
        "meta_loss_vectorize_str",
        lambda: meta_loss(
            maml_loss,
            net(),
            weights(net()),
            batch(),
            vectorize="yes",
            **MSE,
            inner_lr=0.1,
        ),
        TypeError,
        "vectorize",
    ),
    Bad("vmap_blockers_dict", lambda: vmap_blockers({}), TypeError, "model"),
    Bad(
        "meta_backward_vector",
        lambda: meta_backward(torch.ones(3, requires_grad=True), {}),
        ValueError,
        "loss",
    ),
    Bad("meta_backward_float", lambda: meta_backward(1.0, {}), TypeError, "loss"),
    Bad("meta_backward_nan", meta_backward_nan, ValueError, "NaN or inf"),
    Bad(
        "meta_backward_group_list",
        lambda: meta_backward(
            net()(torch.zeros(2, 1)).mean(), list(net().parameters())
        ),
        TypeError,
        "groups",
    ),
    # --- algorithms ------------------------------------------------------------
    Bad("maml_inner_lr_negative", lambda: maml(inner_lr=-0.01), ValueError, "inner_lr"),
    Bad("maml_inner_lr_none", lambda: maml(inner_lr=None), TypeError, "inner_lr"),
    Bad("maml_steps_negative", lambda: maml(steps=-1), ValueError, "steps"),
    Bad("maml_steps_float", lambda: maml(steps=1.0), TypeError, "steps"),
    Bad("maml_a_batch", lambda: maml(task=batch()), TypeError, "task"),
    Bad(
        "maml_first_order_str",
        lambda: maml(first_order="yes"),
        TypeError,
        "first_order",
    ),
    Bad(
        "fomaml_inner_lr_negative",
        lambda: fomaml_loss(net(), weights(net()), task(), **MSE, inner_lr=-1.0),
        ValueError,
        "inner_lr",
    ),
    Bad(
        "anil_head_unknown",
        lambda: anil_loss(
            net(), weights(net()), task(), head="head", **MSE, inner_lr=0.1
        ),
        ValueError,
        "head",
    ),
    Bad(
        "anil_head_int",
        lambda: anil_loss(net(), weights(net()), task(), head=2, **MSE, inner_lr=0.1),
        TypeError,
        "head",
    ),
    Bad(
        "joint_a_batch",
        lambda: joint_loss(net(), weights(net()), batch(), **MSE),
        TypeError,
        "task",
    ),
    Bad(
        "metasgd_rates_list",
        lambda: metasgd_rates(list(net().parameters())),
        TypeError,
        "params",
    ),
    Bad(
        "metasgd_rates_init_str",
        lambda: metasgd_rates(weights(net()), init="0.01"),
        TypeError,
        "init",
    ),
    Bad(
        "metasgd_steps_zero",
        lambda: metasgd_loss(
            net(),
            weights(net()),
            task(),
            rates=metasgd_rates(weights(net())),
            steps=0,
            **MSE,
        ),
        ValueError,
        "steps",
    ),
    Bad(
        "metasgd_rates_float",
        lambda: metasgd_loss(net(), weights(net()), task(), rates=0.01, **MSE),
        TypeError,
        "rates",
    ),
    Bad(
        "reptile_steps_zero",
        lambda: reptile_delta(
            net(), weights(net()), task(), **MSE, inner_lr=0.1, steps=0
        ),
        ValueError,
        "steps",
    ),
    Bad(
        "reptile_inner_lr_zero",
        lambda: reptile_delta(
            net(), weights(net()), task(), **MSE, inner_lr=0.0, steps=2
        ),
        ValueError,
        "inner_lr",
    ),
    Bad(
        "reptile_grad_task",
        lambda: reptile_grad(
            net(), weights(net()), task(), **MSE, inner_lr=0.1, steps=1
        ),
        TypeError,
        "batch",
    ),
    Bad("reptile_step_keys", reptile_step_keys, ValueError, "direction"),
    Bad(
        "reptile_step_negative",
        lambda: reptile_step_rate(-0.1),
        ValueError,
        "outer_lr",
    ),
    Bad(
        "prototypes_n_way_float",
        lambda: prototypes(torch.zeros(4, 2), torch.tensor([0, 0, 1, 1]), 2.0),
        TypeError,
        "n_way",
    ),
    Bad(
        "prototypes_labels_float",
        lambda: prototypes(torch.zeros(4, 2), torch.zeros(4), 2),
        TypeError,
        "y_support",
    ),
    Bad(
        "prototypes_lengths",
        lambda: prototypes(torch.zeros(4, 2), torch.tensor([0, 1]), 2),
        ValueError,
        "y_support",
    ),
    Bad(
        "protonet_labels_out_of_range",
        lambda: protonets(proto_batch_bad_labels(), 3),
        ValueError,
        "y_support",
    ),
    Bad(
        "protonet_n_way_zero",
        lambda: protonet_logits(embedder(), weights(embedder()), proto_task(), n_way=0),
        ValueError,
        "n_way",
    ),
    Bad(
        "protomaml_inner_lr_negative",
        lambda: protomaml_loss(
            embedder(), weights(embedder()), proto_task(), n_way=3, inner_lr=-0.1
        ),
        ValueError,
        "inner_lr",
    ),
    Bad(
        "cnp_width_float",
        lambda: ConditionalNeuralProcess(width=8.0),
        TypeError,
        "width",
    ),
    Bad(
        "cnp_depth_zero", lambda: ConditionalNeuralProcess(depth=0), ValueError, "depth"
    ),
    Bad("cnp_a_batch", lambda: cnp_call("task"), TypeError, "task"),
    Bad(
        "gaussian_nll_broadcast",
        lambda: gaussian_nll(torch.zeros(5, 1), torch.ones(5, 1), torch.zeros(5)),
        ValueError,
        "y",
    ),
    Bad(
        "gaussian_nll_std_shape",
        lambda: gaussian_nll(torch.zeros(5, 1), torch.ones(1), torch.zeros(5, 1)),
        ValueError,
        "std",
    ),
    # --- evaluation ----------------------------------------------------------------
    Bad(
        "accuracy_label_column",
        lambda: accuracy(torch.eye(4), torch.arange(4)[:, None]),
        ValueError,
        "labels",
    ),
    Bad(
        "accuracy_float_labels",
        lambda: accuracy(torch.eye(4), torch.arange(4.0)),
        TypeError,
        "labels",
    ),
    Bad(
        "accuracy_logits_1d",
        lambda: accuracy(torch.zeros(4), torch.arange(4)),
        ValueError,
        "logits",
    ),
    Bad(
        "mean_ci_negative_z", lambda: mean_ci([1.0, 2.0, 3.0], z=-1.96), ValueError, "z"
    ),
    Bad("mean_ci_one_value", lambda: mean_ci([1.0]), ValueError, "values"),
    Bad("mean_ci_str", lambda: mean_ci("abc"), TypeError, "values"),
    Bad(
        "fixed_tasks_seed_float",
        lambda: fixed_tasks(Sinusoid(), 3, seed=1.5),
        TypeError,
        "seed",
    ),
    Bad(
        "fixed_tasks_n_float",
        lambda: fixed_tasks(Sinusoid(), 3.0, seed=1),
        TypeError,
        "n_tasks",
    ),
    Bad(
        "fixed_tasks_distribution",
        lambda: fixed_tasks("sinusoid", 3, seed=1),
        TypeError,
        "distribution",
    ),
    Bad(
        "curve_inner_lr_negative",
        lambda: adaptation_curve(
            net(), weights(net()), batch(), **MSE, inner_lr=-0.1, steps=2
        ),
        ValueError,
        "inner_lr",
    ),
    Bad(
        "curve_steps_float",
        lambda: adaptation_curve(
            net(), weights(net()), batch(), **MSE, inner_lr=0.1, steps=2.0
        ),
        TypeError,
        "steps",
    ),
    Bad(
        "curve_tasks_task",
        lambda: adaptation_curve(
            net(), weights(net()), task(), **MSE, inner_lr=0.1, steps=2
        ),
        TypeError,
        "tasks",
    ),
    Bad(
        "curve_metric_str",
        lambda: adaptation_curve(
            net(), weights(net()), batch(), **MSE, inner_lr=0.1, steps=2, metric="mse"
        ),
        TypeError,
        "metric",
    ),
    Bad(
        "score_tasks_task",
        lambda: score_tasks(cnp_loss, net(), weights(net()), task()),
        TypeError,
        "tasks",
    ),
    Bad(
        "meta_train_iterations_zero",
        lambda: run_meta_train(iterations=0),
        ValueError,
        "iterations",
    ),
    Bad(
        "meta_train_iterations_float",
        lambda: run_meta_train(iterations=2.0),
        TypeError,
        "iterations",
    ),
    Bad(
        "task_batch_norm_channels",
        lambda: TaskBatchNorm(0),
        ValueError,
        "channels",
    ),
    Bad(
        "task_batch_norm_channels_float",
        lambda: TaskBatchNorm(4.0),
        TypeError,
        "channels",
    ),
    Bad(
        "task_batch_norm_eps",
        lambda: TaskBatchNorm(4, eps=0.0),
        ValueError,
        "eps",
    ),
    Bad(
        "task_batch_norm_wrong_channels",
        lambda: TaskBatchNorm(4)(torch.zeros(2, 3, 5, 5)),
        ValueError,
        "channels on axis 1",
    ),
    Bad(
        "meta_train_callback",
        lambda: run_meta_train(callback="print"),
        TypeError,
        "callback",
    ),
    Bad(
        "meta_train_no_generator",
        lambda: run_meta_train(generator=None),
        TypeError,
        "generator",
    ),
    Bad(
        "meta_train_numpy_generator",
        lambda: run_meta_train(generator=np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
    Bad(
        "meta_train_optimizer_list",
        lambda: run_meta_train(optimizer=[]),
        TypeError,
        "optimizer",
    ),
    Bad(
        "meta_train_meta_batch_zero",
        lambda: run_meta_train(meta_batch=0),
        ValueError,
        "meta_batch",
    ),
    Bad(
        "meta_train_tasks_batch",
        lambda: run_meta_train(tasks=batch()),
        TypeError,
        "tasks",
    ),
    Bad(
        "meta_train_loss_str",
        lambda: run_meta_train(task_loss="maml"),
        TypeError,
        "task_loss",
    ),
    Bad(
        "meta_train_extra_dict",
        lambda: run_meta_train(extra={"w": torch.zeros(1, requires_grad=True)}),
        TypeError,
        "extra",
    ),
    Bad(
        "meta_train_extra_not_held",
        lambda: run_meta_train(extra=({"w": torch.zeros(1, requires_grad=True)},)),
        ValueError,
        "optimizer",
    ),
    Bad(
        "meta_train_progress_str",
        lambda: run_meta_train(progress="yes"),
        TypeError,
        "progress",
    ),
    # --- R2D2 ----------------------------------------------------------------------
    Bad("ridge_z_1d", lambda: ridge(z=torch.randn(6)), ValueError, "z_support"),
    Bad(
        "ridge_z_int",
        lambda: ridge(z=torch.ones(6, 4, dtype=torch.long)),
        TypeError,
        "z_support",
    ),
    Bad("ridge_y_float", lambda: ridge(y=torch.zeros(6)), TypeError, "y_support"),
    Bad("ridge_lengths", lambda: ridge(y=torch.arange(5) % 3), ValueError, "z_support"),
    Bad("ridge_n_way_zero", lambda: ridge(n_way=0), ValueError, "n_way"),
    Bad("ridge_lambda_zero", lambda: ridge(lam=0.0), ValueError, "lam"),
    Bad("ridge_lambda_negative", lambda: ridge(lam=-1.0), ValueError, "lam"),
    Bad("ridge_lambda_nan", lambda: ridge(lam=float("nan")), ValueError, "lam"),
    Bad("ridge_lambda_str", lambda: ridge(lam="1"), TypeError, "lam"),
    Bad("ridge_lambda_vector", lambda: ridge(lam=torch.ones(2)), ValueError, "lam"),
    Bad("r2d2_hyper_lambda_zero", lambda: r2d2_hyper(lam=0.0), ValueError, "lam"),
    Bad(
        "r2d2_hyper_scale_negative", lambda: r2d2_hyper(scale=-2.0), ValueError, "scale"
    ),
    Bad("r2d2_hyper_bool", lambda: r2d2_hyper(lam=True), TypeError, "lam"),
    Bad(
        "r2d2_hyper_missing",
        lambda: r2d2(hyper={"log_lambda": torch.tensor(0.0)}),
        TypeError,
        "hyper",
    ),
    Bad("r2d2_hyper_float", lambda: r2d2(hyper=1.0), TypeError, "hyper"),
    Bad(
        "r2d2_hyper_vector",
        lambda: r2d2(
            hyper={"log_lambda": torch.zeros(2), "log_scale": torch.tensor(0.0)}
        ),
        ValueError,
        "log_lambda",
    ),
    Bad(
        "r2d2_bad_labels",
        lambda: r2d2(b=proto_batch_bad_labels()),
        ValueError,
        "y_support",
    ),
    Bad(
        "r2d2_task_batch",
        lambda: r2d2_loss(
            embedder(), weights(embedder()), batch(), n_way=3, hyper=r2d2_hyper()
        ),
        TypeError,
        "task",
    ),
    Bad(
        "r2d2_unflattened",
        lambda: r2d2(model=nn.Sequential(nn.Linear(4, 5), nn.Unflatten(1, (5, 1)))),
        ValueError,
        "nn.Flatten",
    ),
    # --- pre-train-then-probe baselines ---------------------------------------------
    Bad(
        "cosine_logits_features",
        lambda: cosine_logits(torch.ones(2, 3), torch.ones(4, 5), 10.0),
        ValueError,
        "features",
    ),
    Bad(
        "cosine_logits_1d",
        lambda: cosine_logits(torch.ones(3), torch.ones(4, 3), 10.0),
        ValueError,
        "z",
    ),
    Bad(
        "cosine_logits_int",
        lambda: cosine_logits(
            torch.ones(2, 3, dtype=torch.long), torch.ones(4, 3), 1.0
        ),
        TypeError,
        "z",
    ),
    Bad(
        "cosine_logits_scale_zero",
        lambda: cosine_logits(torch.ones(2, 3), torch.ones(4, 3), 0.0),
        ValueError,
        "scale",
    ),
    Bad(
        "cosine_classifier_float",
        lambda: CosineClassifier(4.0, 3),
        TypeError,
        "in_features",
    ),
    Bad(
        "cosine_classifier_scale",
        lambda: CosineClassifier(4, 3, scale=-1.0),
        ValueError,
        "scale",
    ),
    Bad("linear_probe_lr_zero", lambda: linear(lr=0.0), ValueError, "lr"),
    Bad("linear_probe_steps_float", lambda: linear(steps=5.0), TypeError, "steps"),
    Bad(
        "linear_probe_labels",
        lambda: linear(y=torch.arange(6)),
        ValueError,
        "y_support",
    ),
    Bad(
        "linear_probe_float_labels",
        lambda: linear(y=torch.zeros(6)),
        TypeError,
        "y_support",
    ),
    Bad(
        "linear_probe_nan",
        lambda: linear(z=torch.full((6, 4), float("nan"))),
        ValueError,
        "z_support",
    ),
    Bad(
        "linear_probe_empty",
        lambda: linear(z=torch.ones(0, 4), y=torch.zeros(0, dtype=torch.long)),
        ValueError,
        "z_support",
    ),
    Bad(
        "linear_probe_lengths",
        lambda: linear(y=torch.arange(5) % 3),
        ValueError,
        "z_support",
    ),
    Bad("cosine_probe_scale", lambda: cosine(scale=0.0), ValueError, "scale"),
    Bad("cosine_probe_n_way", lambda: cosine(n_way=0), ValueError, "n_way"),
    Bad("logistic_probe_c", lambda: probe(logistic_probe, c=-1.0), ValueError, "c="),
    Bad(
        "logistic_probe_numpy",
        lambda: probe(logistic_probe, z=np.ones((6, 4))),
        TypeError,
        "z_support",
    ),
    # --- iMAML -----------------------------------------------------------------------
    Bad("imaml_lam_zero", lambda: imaml(lam=0.0), ValueError, "lam"),
    Bad("imaml_lam_inf", lambda: imaml(lam=float("inf")), ValueError, "lam"),
    Bad("imaml_lam_missing", lambda: imaml(lam=None), TypeError, "lam"),
    Bad("imaml_steps_negative", lambda: imaml(steps=-1), ValueError, "steps"),
    Bad("imaml_cg_steps_zero", lambda: imaml(cg_steps=0), ValueError, "cg_steps"),
    Bad("imaml_cg_steps_float", lambda: imaml(cg_steps=2.5), TypeError, "cg_steps"),
    Bad(
        "imaml_inner_lr_negative", lambda: imaml(inner_lr=-0.1), ValueError, "inner_lr"
    ),
    Bad("imaml_task_batch", lambda: imaml(task=batch()), TypeError, "task"),
    Bad("imaml_loss_fn_str", lambda: imaml(loss_fn="mse"), TypeError, "loss_fn"),
    Bad(
        "conjugate_gradient_steps",
        lambda: conjugate_gradient(lambda v: v, {"v": torch.ones(2)}, steps=0),
        ValueError,
        "steps",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_misuse(case: Bad) -> None:
    case.check()


def test_the_misuse_cases_have_unique_ids():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
