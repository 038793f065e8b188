"""Deliberately wrong calls into mtlbook.transfer: each fails at the boundary.

A reader who forgets to remap labels, passes a numpy generator to a torch
function or feeds uint8 pixels gets an error that names the argument and the
fix, not a NaN loss history or a message from deep inside torch.
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from misuse import Bad, params
from torch import nn

from mtlbook.data.transfer_toys import make_linear_toy
from mtlbook.transfer import (
    L2SP,
    GradientReversal,
    build_condition,
    check_param_groups,
    copy_layers,
    count_parameters,
    cycle_batches,
    dann_lambda,
    dann_learning_rate,
    dann_loss,
    dann_step,
    discriminative_lr_groups,
    extract_features,
    fine_tune,
    freeze,
    grad_reverse,
    gradual_unfreeze,
    gradual_unfreezing_cut,
    head_lr_groups,
    is_stats_frozen,
    l2sp_penalty,
    layer_transfer,
    layers,
    linear_probe,
    lp_ft,
    make_mlp,
    negative_transfer_gap,
    negative_transfer_grid,
    plot_layer_transfer,
    select_classes,
    set_cut,
    slanted_triangular,
    slanted_triangular_lambda,
    split_classes,
    summarize,
    train_classifier,
    train_dann,
    trainable_summary,
    unfreeze,
)
from mtlbook.transfer.cdan import cdan_loss, mcc_loss, multilinear_map
from mtlbook.transfer.layer_transfer import TaskData, accuracy
from mtlbook.transfer.logme import log_evidence, logme, maximize_evidence
from mtlbook.transfer.lpft_toy import (
    gradient_descent,
    probe_head,
    relative_error,
    run_lpft_toy,
)
from mtlbook.transfer.peft import (
    Adapter,
    LoRALinear,
    add_adapters,
    add_lora,
    bitfit,
    merge_lora,
)


def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def net() -> nn.Sequential:
    """(batch, 4) -> (batch, 3) logits, two layers."""
    return make_mlp([4, 8, 3], gen())


X = torch.randn(12, 4, generator=gen())
Y = torch.arange(12) % 3
X_NAN = X.clone()
X_NAN[3, 1] = float("nan")
BATCHES = [(X[:6], Y[:6]), (X[6:], Y[6:])]
NAN_BATCHES = [(X_NAN[:6], Y[:6])]


def train(**overrides):
    kwargs = {"steps": 2, "generator": gen(), **overrides}
    model = kwargs.pop("model", net())
    x, y = kwargs.pop("x", X), kwargs.pop("y", Y)
    return train_classifier(model, x, y, **kwargs)


def probe(**overrides):
    model = net()
    kwargs = {
        "backbone": model[:-1],
        "head": model[-1],
        "batches": BATCHES,
        "optimizer": torch.optim.SGD(model[-1].parameters(), lr=0.1),
        "steps": 2,
        **overrides,
    }
    return linear_probe(**kwargs)


def tune(**overrides):
    model = net()
    kwargs = {
        "backbone": model[:-1],
        "head": model[-1],
        "batches": BATCHES,
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "steps": 2,
        **overrides,
    }
    return fine_tune(**kwargs)


def lpft(**overrides):
    model = net()
    kwargs = {
        "backbone": model[:-1],
        "head": model[-1],
        "batches": BATCHES,
        "probe_optimizer": torch.optim.SGD(model[-1].parameters(), lr=0.1),
        "ft_optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "probe_steps": 1,
        "ft_steps": 1,
        **overrides,
    }
    return lp_ft(**kwargs)


def dann_modules():
    features = nn.Sequential(nn.Linear(4, 5), nn.ReLU())
    return features, nn.Linear(5, 3), nn.Linear(5, 1)


def dann_call(fn, **overrides):
    f, lh, dh = dann_modules()
    kwargs = {
        "features": f,
        "label_head": lh,
        "domain_head": dh,
        "x_source": X[:6],
        "y_source": Y[:6],
        "x_target": X[6:],
        "lambda_": 1.0,
        **overrides,
    }
    if fn is dann_step:
        params_ = [*f.parameters(), *lh.parameters(), *dh.parameters()]
        kwargs.setdefault("optimizer", torch.optim.SGD(params_, lr=0.1))
    return fn(**kwargs)


def dann_train(**overrides):
    f, lh, dh = dann_modules()
    params_ = [*f.parameters(), *lh.parameters(), *dh.parameters()]
    kwargs = {
        "features": f,
        "label_head": lh,
        "domain_head": dh,
        "optimizer": torch.optim.SGD(params_, lr=0.1),
        "source_batches": BATCHES,
        "target_batches": [X[:6], X[6:]],
        "steps": 2,
        **overrides,
    }
    return train_dann(**kwargs)


def halves(x_a=None):
    x_a = X[:6] if x_a is None else x_a
    a = TaskData(x_a, Y[:6] % 2, x_a, Y[:6] % 2)
    b = TaskData(X[6:], Y[6:] % 2 + 2, X[6:], Y[6:] % 2 + 2)
    return a, b


def transfer(**overrides):
    a, b = halves(overrides.pop("x_a", None))
    kwargs = {"steps": 1, "seeds": [0], **overrides}
    return layer_transfer(lambda g: make_mlp([4, 6, 2], g), a, b, **kwargs)


def condition(**overrides):
    kwargs = {
        "condition": "AnB",
        "n": 1,
        "factory": lambda g: make_mlp([4, 6, 2], g),
        "generator": gen(),
        "base_a": make_mlp([4, 6, 2], gen()),
        "base_b": make_mlp([4, 6, 2], gen()),
        **overrides,
    }
    return build_condition(**kwargs)


ROWS = [{"condition": "baseB", "n": 0, "seed": 0, "accuracy": 0.5}]


def grid(**overrides):
    kwargs = {
        "relatedness": [0.0, 1.0],
        "target_sizes": [10],
        "transfer_error": lambda r, n, s: 0.1,
        "target_only_error": lambda n, s: 0.2,
        "seeds": [0],
        **overrides,
    }
    return negative_transfer_grid(**kwargs)


def lpft_toy(**overrides):
    kwargs = {
        "n_train": 5,
        "method": "ft",
        "steps": 2,
        "lr": 0.01,
        "rng": np.random.default_rng(0),
        "n_test": 5,
        **overrides,
    }
    return run_lpft_toy(make_linear_toy(rng=np.random.default_rng(0)), **kwargs)


B0, V0 = np.ones((2, 3)), np.ones(2)
XT, YT = np.ones((4, 3)), np.ones(4)
ONES = {"a": torch.ones(2)}


def ax():
    return plt.figure().add_subplot()


CASES = [
    # --- make_mlp, train_classifier, accuracy --------------------------------
    Bad(
        "make_mlp-generator-None",
        lambda: make_mlp([4, 3], None),
        TypeError,
        "generator",
    ),
    Bad(
        "make_mlp-numpy-generator",
        lambda: make_mlp([4, 3], np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
    Bad(
        "make_mlp-float-size", lambda: make_mlp([4, 8.0, 3], gen()), TypeError, "sizes"
    ),
    Bad("make_mlp-zero-size", lambda: make_mlp([4, 0, 3], gen()), ValueError, "sizes"),
    Bad("make_mlp-one-size", lambda: make_mlp([4], gen()), ValueError, "sizes"),
    Bad("make_mlp-str-sizes", lambda: make_mlp("4,3", gen()), TypeError, "sizes"),
    Bad("train-nan-inputs", lambda: train(x=X_NAN), ValueError, "x"),
    Bad("train-batch-size-0", lambda: train(batch_size=0), ValueError, "batch_size"),
    Bad("train-generator-None", lambda: train(generator=None), TypeError, "generator"),
    Bad(
        "train-numpy-generator",
        lambda: train(generator=np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
    Bad("train-negative-lr", lambda: train(lr=-0.1), ValueError, "lr="),
    Bad(
        "train-negative-momentum", lambda: train(momentum=-1.0), ValueError, "momentum"
    ),
    Bad(
        "train-str-weight-decay",
        lambda: train(weight_decay="0"),
        TypeError,
        "weight_decay",
    ),
    Bad("train-labels-not-remapped", lambda: train(y=Y + 5), ValueError, "y"),
    Bad("train-uint8-pixels", lambda: train(x=(X > 0).to(torch.uint8)), TypeError, "x"),
    Bad("train-int64-inputs", lambda: train(x=X.long()), TypeError, "x"),
    Bad("train-float16-inputs", lambda: train(x=X.half()), TypeError, "x"),
    Bad("train-feature-width", lambda: train(x=X[:, :3]), ValueError, "x"),
    Bad("train-model-list", lambda: train(model=list(net())), TypeError, "model"),
    Bad("train-float-steps", lambda: train(steps=2.0), TypeError, "steps"),
    Bad("train-zero-steps", lambda: train(steps=0), ValueError, "steps"),
    Bad("train-float-labels", lambda: train(y=Y.float()), TypeError, "y"),
    Bad("train-length-mismatch", lambda: train(y=Y[:5]), ValueError, "y"),
    Bad("train-numpy-x", lambda: train(x=X.numpy()), TypeError, "x"),
    Bad("train-diverges", lambda: train(lr=1e30, steps=20), ValueError, "step"),
    Bad("accuracy-model-str", lambda: accuracy("net", X, Y), TypeError, "model"),
    Bad(
        "accuracy-batch-size-0",
        lambda: accuracy(net(), X, Y, batch_size=0),
        ValueError,
        "batch_size",
    ),
    Bad(
        "accuracy-feature-width", lambda: accuracy(net(), X[:, :2], Y), ValueError, "x"
    ),
    # --- select_classes, split_classes, copy_layers, build_condition ---------
    Bad(
        "select-empty-classes", lambda: select_classes(X, Y, []), ValueError, "classes"
    ),
    Bad(
        "select-absent-class", lambda: select_classes(X, Y, [7]), ValueError, "classes"
    ),
    Bad("select-numpy-x", lambda: select_classes(X.numpy(), Y, [0]), TypeError, "x"),
    Bad(
        "split-torch-generator",
        lambda: split_classes(Y, torch.Generator()),
        TypeError,
        "rng",
    ),
    Bad(
        "split-float-labels",
        lambda: split_classes(Y.float(), np.random.default_rng(0)),
        TypeError,
        "labels",
    ),
    Bad("copy-float-depth", lambda: copy_layers(net(), net(), 1.0), TypeError, "depth"),
    Bad(
        "copy-depth-too-deep", lambda: copy_layers(net(), net(), 3), ValueError, "depth"
    ),
    Bad("copy-source-str", lambda: copy_layers("net", net(), 1), TypeError, "source"),
    Bad(
        "condition-generator-None",
        lambda: condition(generator=None),
        TypeError,
        "generator",
    ),
    Bad(
        "condition-unknown", lambda: condition(condition="XnB"), ValueError, "condition"
    ),
    Bad("condition-float-n", lambda: condition(n=1.0), TypeError, "n"),
    Bad("condition-base-list", lambda: condition(base_b=[1]), TypeError, "base_b"),
    # --- layer_transfer, summarize, plot -------------------------------------
    Bad("transfer-no-seeds", lambda: transfer(seeds=[]), ValueError, "seeds"),
    Bad("transfer-float-steps", lambda: transfer(steps=1.5), TypeError, "steps"),
    Bad(
        "transfer-no-conditions",
        lambda: transfer(conditions=[]),
        ValueError,
        "conditions",
    ),
    Bad("transfer-no-depths", lambda: transfer(depths=[]), ValueError, "depths"),
    Bad(
        "transfer-int-inputs",
        lambda: transfer(x_a=X[:6].long()),
        TypeError,
        "data_a.x_train",
    ),
    Bad("transfer-train-not-callable", lambda: transfer(train=3), TypeError, "train"),
    Bad("summarize-by-str", lambda: summarize(ROWS, by="condition"), TypeError, "by"),
    Bad("summarize-empty", lambda: summarize([]), ValueError, "rows"),
    Bad("plot-no-rows", lambda: plot_layer_transfer(ax(), []), ValueError, "rows"),
    Bad("plot-ax-str", lambda: plot_layer_transfer("ax", ROWS), TypeError, "ax"),
    # --- freeze ----------------------------------------------------------------
    Bad("freeze-float-depth", lambda: freeze(net(), depth=1.5), TypeError, "depth"),
    Bad("freeze-negative-depth", lambda: freeze(net(), depth=-1), ValueError, "depth"),
    Bad("freeze-bn-policy", lambda: freeze(net(), bn="eval"), ValueError, "bn"),
    Bad("freeze-names-str", lambda: freeze(net(), names="0"), TypeError, "names"),
    Bad("freeze-names-empty", lambda: freeze(net(), names=[]), ValueError, "names"),
    Bad(
        "unfreeze-params",
        lambda: unfreeze(list(net().parameters())),
        TypeError,
        "model",
    ),
    Bad("set-cut-str-depth", lambda: set_cut(net(), "1"), TypeError, "depth"),
    Bad("layers-None", lambda: layers(None), TypeError, "model"),
    Bad(
        "count-generator",
        lambda: count_parameters(net().parameters()),
        TypeError,
        "model",
    ),
    Bad("summary-dict", lambda: trainable_summary({}), TypeError, "model"),
    Bad("is-stats-frozen-str", lambda: is_stats_frozen("bn"), TypeError, "module"),
    # --- param_groups, schedules ---------------------------------------------
    Bad(
        "head-lr-negative",
        lambda: head_lr_groups(net()[0], net()[2], lr=-0.1),
        ValueError,
        "lr",
    ),
    Bad(
        "head-lr-str",
        lambda: head_lr_groups(net()[0], net()[2], lr="0.1"),
        TypeError,
        "lr",
    ),
    Bad(
        "head-lr-backbone-list",
        lambda: head_lr_groups([1], net()[2], lr=0.1),
        TypeError,
        "backbone",
    ),
    Bad(
        "discriminative-bool-decay",
        lambda: discriminative_lr_groups(net(), lr=0.1, decay=True),
        TypeError,
        "decay",
    ),
    Bad(
        "discriminative-model-list",
        lambda: discriminative_lr_groups([1], lr=0.1),
        TypeError,
        "model",
    ),
    Bad(
        "check-groups-dict",
        lambda: check_param_groups(net(), {"params": []}),
        TypeError,
        "groups",
    ),
    Bad(
        "check-groups-list-of-lists",
        lambda: check_param_groups(net(), [list(net().parameters())]),
        TypeError,
        "groups[0]",
    ),
    Bad(
        "unfreezing-cut-float-epoch",
        lambda: gradual_unfreezing_cut(1.0, 3),
        TypeError,
        "epoch",
    ),
    Bad(
        "unfreezing-cut-no-layers",
        lambda: gradual_unfreezing_cut(0, 0),
        ValueError,
        "n_layers",
    ),
    Bad(
        "gradual-unfreeze-negative-epoch",
        lambda: gradual_unfreeze(net(), -1),
        ValueError,
        "epoch",
    ),
    Bad(
        "stlr-negative-lr",
        lambda: slanted_triangular(0, 100, lr_max=-1.0),
        ValueError,
        "lr_max",
    ),
    Bad(
        "stlr-nan-cut-frac",
        lambda: slanted_triangular(0, 100, lr_max=0.01, cut_frac=float("nan")),
        ValueError,
        "cut_frac",
    ),
    Bad(
        "stlr-str-cut-frac",
        lambda: slanted_triangular(0, 100, lr_max=0.01, cut_frac="0.1"),
        TypeError,
        "cut_frac",
    ),
    Bad(
        "stlr-lambda-float-total",
        lambda: slanted_triangular_lambda(100.0),
        TypeError,
        "total_steps",
    ),
    Bad(
        "stlr-lambda-ratio",
        lambda: slanted_triangular_lambda(100, ratio=0.5),
        ValueError,
        "ratio",
    ),
    # --- probe, fine_tune, lp_ft ---------------------------------------------
    Bad("cycle-float-steps", lambda: cycle_batches(BATCHES, 2.0), TypeError, "steps"),
    Bad("cycle-not-iterable", lambda: cycle_batches(5, 3), TypeError, "batches"),
    Bad("cycle-empty", lambda: list(cycle_batches([], 3)), ValueError, "batches"),
    Bad(
        "features-numpy-x",
        lambda: extract_features(net()[:-1], X.numpy()),
        TypeError,
        "x",
    ),
    Bad(
        "features-batch-size-0",
        lambda: extract_features(net()[:-1], X, batch_size=0),
        ValueError,
        "batch_size",
    ),
    Bad(
        "features-uint8-x",
        lambda: extract_features(net()[:-1], X.to(torch.uint8)),
        TypeError,
        "x",
    ),
    Bad("probe-optimizer-list", lambda: probe(optimizer=[1]), TypeError, "optimizer"),
    Bad("probe-nan-data", lambda: probe(batches=NAN_BATCHES), ValueError, "step 0"),
    Bad("probe-zero-steps", lambda: probe(steps=0), ValueError, "steps"),
    Bad("probe-head-None", lambda: probe(head=None), TypeError, "head"),
    Bad(
        "tune-reduction-none",
        lambda: tune(loss_fn=functools.partial(F.cross_entropy, reduction="none")),
        ValueError,
        "loss_fn",
    ),
    Bad("tune-penalty-not-callable", lambda: tune(penalty=5.0), TypeError, "penalty"),
    Bad("tune-nan-data", lambda: tune(batches=NAN_BATCHES), ValueError, "step 0"),
    Bad(
        "lpft-negative-probe-steps",
        lambda: lpft(probe_steps=-1),
        ValueError,
        "probe_steps",
    ),
    Bad(
        "lpft-ft-optimizer-None",
        lambda: lpft(ft_optimizer=None),
        TypeError,
        "ft_optimizer",
    ),
    # --- dann ------------------------------------------------------------------
    Bad(
        "reverse-negative-lambda", lambda: grad_reverse(X, -1.0), ValueError, "lambda_"
    ),
    Bad("reverse-numpy-x", lambda: grad_reverse(X.numpy(), 1.0), TypeError, "x"),
    Bad("reversal-str-lambda", lambda: GradientReversal("1"), TypeError, "lambda_"),
    Bad(
        "dann-lambda-zero-gamma", lambda: dann_lambda(0.5, gamma=0), ValueError, "gamma"
    ),
    Bad(
        "dann-lambda-str-gamma",
        lambda: dann_lambda(0.5, gamma="10"),
        TypeError,
        "gamma",
    ),
    Bad(
        "dann-lr-negative-lr0",
        lambda: dann_learning_rate(0.5, lr0=-0.01),
        ValueError,
        "lr0",
    ),
    Bad("dann-lr-bool-p", lambda: dann_learning_rate(True), TypeError, "p"),
    Bad(
        "dann-loss-numpy-target",
        lambda: dann_call(dann_loss, x_target=X[6:].numpy()),
        TypeError,
        "x_target",
    ),
    Bad(
        "dann-loss-int-source",
        lambda: dann_call(dann_loss, x_source=X[:6].long()),
        TypeError,
        "x_source",
    ),
    Bad(
        "dann-loss-features-str",
        lambda: dann_call(dann_loss, features="f"),
        TypeError,
        "features",
    ),
    Bad(
        "dann-step-optimizer-None",
        lambda: dann_call(dann_step, optimizer=None),
        TypeError,
        "optimizer",
    ),
    Bad(
        "dann-step-nan-source",
        lambda: dann_call(dann_step, x_source=X_NAN[:6]),
        ValueError,
        "x_source",
    ),
    Bad("train-dann-zero-steps", lambda: dann_train(steps=0), ValueError, "steps"),
    Bad(
        "train-dann-features-str",
        lambda: dann_train(features="f"),
        TypeError,
        "features",
    ),
    Bad(
        "train-dann-nan-data",
        lambda: dann_train(source_batches=NAN_BATCHES),
        ValueError,
        "step 0",
    ),
    Bad("train-dann-str-lambda", lambda: dann_train(lambda_="1"), TypeError, "lambda_"),
    # --- l2sp, negative transfer, the LP-FT toy ------------------------------
    Bad(
        "l2sp-penalty-list",
        lambda: l2sp_penalty([torch.ones(2)], ONES, alpha=1.0, beta=1.0),
        TypeError,
        "transferred",
    ),
    Bad(
        "l2sp-penalty-str-alpha",
        lambda: l2sp_penalty(ONES, ONES, alpha="0.1", beta=1.0),
        TypeError,
        "alpha",
    ),
    Bad(
        "l2sp-backbone-None",
        lambda: L2SP(None, alpha=0.1, beta=0.0),
        TypeError,
        "backbone",
    ),
    Bad(
        "gap-str", lambda: negative_transfer_gap("a", 0.1), TypeError, "transfer_error"
    ),
    Bad("grid-float-size", lambda: grid(target_sizes=[1.5]), TypeError, "target_sizes"),
    Bad(
        "grid-error-None",
        lambda: grid(transfer_error=None),
        TypeError,
        "transfer_error",
    ),
    Bad(
        "grid-empty-relatedness",
        lambda: grid(relatedness=[]),
        ValueError,
        "relatedness",
    ),
    Bad("lpft-toy-float-steps", lambda: lpft_toy(steps=1.5), TypeError, "steps"),
    Bad("lpft-toy-negative-lr", lambda: lpft_toy(lr=-1.0), ValueError, "lr"),
    Bad("lpft-toy-rng-None", lambda: lpft_toy(rng=None), TypeError, "rng"),
    Bad("lpft-toy-method", lambda: lpft_toy(method="sgd"), ValueError, "method"),
    Bad(
        "probe-head-nan",
        lambda: probe_head(B0, np.full((4, 3), np.nan), YT),
        ValueError,
        "x",
    ),
    Bad(
        "probe-head-torch", lambda: probe_head(B0, torch.ones(4, 3), YT), TypeError, "x"
    ),
    Bad(
        "gd-negative-lr",
        lambda: gradient_descent(B0, V0, XT, YT, steps=1, lr=-1.0),
        ValueError,
        "lr",
    ),
    Bad(
        "gd-width-mismatch",
        lambda: gradient_descent(B0, V0, XT[:, :2], YT, steps=1, lr=0.1),
        ValueError,
        "x",
    ),
    Bad(
        "rel-error-length", lambda: relative_error(B0, V0, XT, YT[:3]), ValueError, "y"
    ),
    # --- LoRA, BitFit, adapters ---------------------------------------------
    Bad("lora-rank-0", lambda: add_lora(net(), 0, generator=gen()), ValueError, "rank"),
    Bad(
        "lora-rank-float",
        lambda: add_lora(net(), 2.5, generator=gen()),
        TypeError,
        "rank",
    ),
    Bad(
        "lora-rank-above-layer",
        lambda: add_lora(net(), 5, generator=gen()),
        ValueError,
        "rank",
    ),
    Bad(
        "lora-numpy-generator",
        lambda: add_lora(net(), 1, generator=np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
    Bad(
        "lora-parameters-not-model",
        lambda: add_lora(net().parameters(), 1, generator=gen()),
        TypeError,
        "model",
    ),
    Bad(
        "lora-no-linear",
        lambda: add_lora(nn.Sequential(nn.ReLU()), 1, generator=gen()),
        ValueError,
        "nn.Linear",
    ),
    Bad(
        "lora-bare-linear",
        lambda: add_lora(nn.Linear(4, 3), 1, generator=gen()),
        TypeError,
        "model",
    ),
    Bad(
        "lora-alpha-0",
        lambda: add_lora(net(), 1, generator=gen(), alpha=0.0),
        ValueError,
        "alpha",
    ),
    Bad(
        "lora-linear-conv",
        lambda: LoRALinear(nn.Conv1d(2, 2, 1), 1, generator=gen()),
        TypeError,
        "base",
    ),
    Bad("merge-without-lora", lambda: merge_lora(net()), ValueError, "LoRALinear"),
    Bad(
        "bitfit-no-bias",
        lambda: bitfit(nn.Sequential(nn.Linear(4, 3, bias=False))),
        ValueError,
        "bias",
    ),
    Bad(
        "adapters-bottleneck-0",
        lambda: add_adapters(net(), 0, generator=gen()),
        ValueError,
        "bottleneck",
    ),
    # --- LogME --------------------------------------------------------------
    Bad(
        "logme-torch-features",
        lambda: logme(torch.ones(6, 2), np.arange(6) % 2),
        TypeError,
        "features",
    ),
    Bad(
        "logme-rows-differ",
        lambda: logme(np.ones((6, 2)), np.arange(5) % 2),
        ValueError,
        "rows",
    ),
    Bad(
        "logme-float-labels",
        lambda: logme(np.ones((6, 2)), np.arange(6) / 2),
        TypeError,
        "labels",
    ),
    Bad(
        "logme-one-class",
        lambda: logme(np.ones((6, 2)), np.zeros(6, dtype=int)),
        ValueError,
        "single class",
    ),
    Bad(
        "logme-nan-features",
        lambda: logme(np.full((6, 2), np.nan), np.arange(6) % 2),
        ValueError,
        "features",
    ),
    Bad(
        "logme-1d-features",
        lambda: logme(np.ones(6), np.arange(6) % 2),
        ValueError,
        "features",
    ),
    Bad(
        "evidence-max-iter-0",
        lambda: maximize_evidence(np.ones((6, 2)), np.ones(6), max_iter=0),
        ValueError,
        "max_iter",
    ),
    Bad(
        "evidence-alpha-0",
        lambda: log_evidence(np.ones((6, 2)), np.ones(6), 0.0, 1.0),
        ValueError,
        "alpha",
    ),
    # --- CDAN, MCC ---------------------------------------------------------
    Bad(
        "multilinear-rows-differ",
        lambda: multilinear_map(torch.ones(3, 2), torch.ones(4, 2)),
        ValueError,
        "f has 3 rows",
    ),
    Bad(
        "multilinear-int-g",
        lambda: multilinear_map(torch.ones(3, 2), torch.ones(3, 2, dtype=torch.long)),
        TypeError,
        "g",
    ),
    Bad(
        "cdan-domain-head-two-logits",
        lambda: cdan_loss(
            net(), nn.Linear(3, 2), nn.Linear(6, 2), X, Y % 2, X, lambda_=1.0
        ),
        ValueError,
        "domain_head",
    ),
    Bad(
        "cdan-negative-lambda",
        lambda: cdan_loss(
            net(), nn.Linear(3, 2), nn.Linear(6, 1), X, Y % 2, X, lambda_=-1.0
        ),
        ValueError,
        "lambda_",
    ),
    Bad(
        "cdan-target-width",
        lambda: cdan_loss(
            net(), nn.Linear(3, 2), nn.Linear(6, 1), X, Y % 2, X[:, :2], lambda_=1.0
        ),
        ValueError,
        "x_target",
    ),
    Bad("mcc-one-class", lambda: mcc_loss(torch.ones(4, 1)), ValueError, "2 classes"),
    Bad("mcc-nan", lambda: mcc_loss(torch.full((4, 3), np.nan)), ValueError, "target"),
    Bad(
        "mcc-temperature-0",
        lambda: mcc_loss(torch.ones(4, 3), temperature=0.0),
        ValueError,
        "temperature",
    ),
    Bad("mcc-1d", lambda: mcc_loss(torch.ones(4)), ValueError, "target_logits"),
    Bad(
        "adapter-generator-None",
        lambda: Adapter(8, 2, generator=None),
        TypeError,
        "generator",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_misuse(case: Bad) -> None:
    case.check()
    plt.close("all")
