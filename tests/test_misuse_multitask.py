"""Deliberately wrong calls into mtlbook.multitask: each fails at the boundary.

Every case states the exception type and the word its message must contain
(the argument as the caller wrote it), so a reader can fix the call from the
message alone. Aggregators and solvers have their own suite.
"""

import numpy as np
import pytest
import torch
from misuse import Bad, params
from torch import nn
from torch.nn import functional as F

from mtlbook.multitask import (
    DWA,
    FAMO,
    CrossStitch,
    EqualWeights,
    GradNorm,
    HardSharing,
    MMoE,
    RandomLossWeighting,
    SmoothTchebycheff,
    StaticWeights,
    UncertaintyWeighting,
    UPGrad,
    aggregator_properties,
    conflict_rate,
    delta_m,
    evaluate,
    gradient_cosines,
    l2_coupling,
    mgda_ub_weights,
    representation_gramian,
    select_static_weights,
    set_gradients,
    simplex_grid,
    task_arithmetic,
    task_gradients,
    task_vector,
    ties_merging,
    train_multitask,
    train_single_task,
)

D_IN, HIDDEN, K = 3, 4, 2


def model(depth: int = 1) -> HardSharing:
    torch.manual_seed(0)
    layers = [nn.Sequential(nn.Linear(D_IN, HIDDEN), nn.Tanh())]
    return HardSharing(layers, [nn.Linear(HIDDEN, 1) for _ in range(K)], depth)


def classifier() -> HardSharing:
    torch.manual_seed(0)
    layers = [nn.Sequential(nn.Linear(D_IN, HIDDEN), nn.Tanh())]
    return HardSharing(layers, [nn.Linear(HIDDEN, 3) for _ in range(K)], 1)


def batches(x=None, ys=None) -> list:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, D_IN, generator=g) if x is None else x
    ys = [torch.randn(6, 1, generator=g) for _ in range(K)] if ys is None else ys
    return [(x, ys)]


def opt(m: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(m.parameters(), lr=0.1)


def train(m=None, data=None, fns=None, **kw):
    m = model() if m is None else m
    options = {"steps": 2, "scalarizer": EqualWeights(K), **kw}
    if "optimizer" not in options:
        options["optimizer"] = opt(m)
    return train_multitask(
        m,
        batches() if data is None else data,
        [F.mse_loss] * K if fns is None else fns,
        **options,
    )


def nan_x() -> torch.Tensor:
    x = torch.randn(6, D_IN, generator=torch.Generator().manual_seed(2))
    x[2, 1] = float("nan")
    return x


def diverge():
    m = model()
    train(m=m, steps=20, optimizer=torch.optim.SGD(m.parameters(), lr=1e30))


def graph():
    """Task losses (list of K scalars), shared params and the representation."""
    m = model()
    x = torch.randn(5, D_IN, generator=torch.Generator().manual_seed(3))
    outs = m(x)
    return [o.square().mean() for o in outs], m.shared_parameters(), m.representation


def famo_after_step_first():
    famo = FAMO(K)
    famo.after_step(torch.ones(K))


LAYERS = [nn.Linear(D_IN, HIDDEN)]
HEADS = [nn.Linear(HIDDEN, 1) for _ in range(K)]
G = torch.tensor([[1.0, 0.0], [0.0, 1.0]])

CASES = [
    # --- models ---------------------------------------------------------------
    Bad("hard_layers_none", lambda: HardSharing(None, HEADS, 1), TypeError, "layers"),
    Bad(
        "hard_layers_module",
        lambda: HardSharing(nn.Linear(3, 4), HEADS, 1),
        TypeError,
        "layers",
    ),
    Bad("hard_heads_str", lambda: HardSharing(LAYERS, "ab", 1), TypeError, "heads"),
    Bad("hard_heads_empty", lambda: HardSharing(LAYERS, [], 1), ValueError, "heads"),
    Bad(
        "hard_depth_float",
        lambda: HardSharing(LAYERS, HEADS, 1.0),
        TypeError,
        "shared_depth",
    ),
    Bad(
        "hard_depth_too_deep",
        lambda: HardSharing(LAYERS, HEADS, 2),
        ValueError,
        "shared_depth",
    ),
    Bad("task_params_float", lambda: model().task_parameters(1.0), TypeError, "k"),
    Bad("task_params_range", lambda: model().task_parameters(2), ValueError, "k"),
    Bad("single_task_neg", lambda: model().single_task(-1), ValueError, "k"),
    Bad(
        "last_shared_depth0",
        lambda: model(0).last_shared_parameters(),
        ValueError,
        "shared_depth",
    ),
    Bad(
        "stitch_init_str",
        lambda: CrossStitch(LAYERS, HEADS, init_self="0.9"),
        TypeError,
        "init_self",
    ),
    Bad(
        "stitch_init_range",
        lambda: CrossStitch(LAYERS, HEADS, init_self=1.5),
        ValueError,
        "init_self",
    ),
    Bad("coupling_module", lambda: l2_coupling(nn.Linear(2, 2)), TypeError, "towers"),
    Bad(
        "coupling_shapes",
        lambda: l2_coupling([nn.Linear(2, 2), nn.Linear(2, 3)]),
        ValueError,
        "towers",
    ),
    Bad(
        "mmoe_float_experts",
        lambda: MMoE(2.0, nn.Linear(3, 4), K, 3, HEADS),
        TypeError,
        "n_experts",
    ),
    Bad(
        "mmoe_zero_tasks",
        lambda: MMoE(2, nn.Linear(3, 4), 0, 3, HEADS),
        ValueError,
        "n_tasks",
    ),
    Bad(
        "mmoe_expert_str",
        lambda: MMoE(2, "linear", K, 3, HEADS),
        TypeError,
        "expert",
    ),
    Bad(
        "mmoe_towers_count",
        lambda: MMoE(2, nn.Linear(3, 4), 3, 3, HEADS),
        ValueError,
        "towers",
    ),
    Bad(
        "mmoe_gate_width",
        lambda: MMoE(2, nn.Linear(3, 4), K, 3, HEADS)(torch.zeros(5, 4)),
        ValueError,
        "gate_input",
    ),
    # --- scalarizers ----------------------------------------------------------
    Bad("equal_float", lambda: EqualWeights(2.0), TypeError, "n_tasks"),
    Bad("equal_zero", lambda: EqualWeights(0), ValueError, "n_tasks"),
    Bad("static_none", lambda: StaticWeights(None), TypeError, "weights"),
    Bad("static_negative", lambda: StaticWeights([1.0, -1.0]), ValueError, "weights"),
    Bad("static_2d", lambda: StaticWeights([[1.0, 1.0]]), ValueError, "weights"),
    Bad(
        "scalarizer_losses_list",
        lambda: EqualWeights(2)([1.0, 2.0]),
        TypeError,
        "losses",
    ),
    Bad(
        "scalarizer_losses_count",
        lambda: EqualWeights(2)(torch.ones(3)),
        ValueError,
        "losses",
    ),
    Bad(
        "scalarizer_losses_nan",
        lambda: EqualWeights(2)(torch.tensor([1.0, float("nan")])),
        ValueError,
        "losses",
    ),
    Bad(
        "scalarizer_losses_int",
        lambda: EqualWeights(2)(torch.tensor([1, 2])),
        TypeError,
        "losses",
    ),
    Bad(
        "uncertainty_negative",
        lambda: UncertaintyWeighting(2)(torch.tensor([1.0, -1.0])),
        ValueError,
        "losses",
    ),
    Bad("grid_float_resolution", lambda: simplex_grid(2, 4.0), TypeError, "resolution"),
    Bad("grid_zero_resolution", lambda: simplex_grid(2, 0), ValueError, "resolution"),
    Bad(
        "select_candidates_list",
        lambda: select_static_weights([[1.0, 1.0]], lambda w: 0.0),
        TypeError,
        "candidates",
    ),
    Bad(
        "select_loss_not_callable",
        lambda: select_static_weights(simplex_grid(2, 2), 0.5),
        TypeError,
        "validation_loss",
    ),
    Bad(
        "dwa_temperature_zero", lambda: DWA(2, temperature=0), ValueError, "temperature"
    ),
    Bad(
        "dwa_temperature_str",
        lambda: DWA(2, temperature="2"),
        TypeError,
        "temperature",
    ),
    Bad(
        "dwa_end_epoch_zero",
        lambda: DWA(2).end_epoch(torch.tensor([1.0, 0.0])),
        ValueError,
        "losses",
    ),
    Bad(
        "random_weighting_none",
        lambda: RandomLossWeighting(2, None),
        TypeError,
        "generator",
    ),
    Bad(
        "random_weighting_numpy",
        lambda: RandomLossWeighting(2, np.random.default_rng(0)),
        TypeError,
        "generator",
    ),
    Bad("famo_lr_negative", lambda: FAMO(2, lr=-0.1), ValueError, "lr"),
    Bad("famo_gamma_str", lambda: FAMO(2, gamma="0.01"), TypeError, "gamma"),
    Bad(
        "famo_min_losses_count",
        lambda: FAMO(2, min_losses=[0.0, 0.0, 0.0]),
        ValueError,
        "min_losses",
    ),
    Bad("famo_after_step_first", famo_after_step_first, RuntimeError, "after_step"),
    Bad(
        "gradnorm_module",
        lambda: GradNorm(K, model()),
        TypeError,
        "shared_params",
    ),
    Bad(
        "gradnorm_no_grad",
        lambda: GradNorm(K, [torch.zeros(3)]),
        ValueError,
        "shared_params",
    ),
    Bad(
        "gradnorm_alpha_negative",
        lambda: GradNorm(K, model().last_shared_parameters(), alpha=-1.0),
        ValueError,
        "alpha",
    ),
    Bad(
        "gradnorm_lr_str",
        lambda: GradNorm(K, model().last_shared_parameters(), lr="fast"),
        TypeError,
        "lr",
    ),
    # --- gradients --------------------------------------------------------------
    Bad(
        "task_gradients_module",
        lambda: task_gradients(graph()[0], model()),
        TypeError,
        "params",
    ),
    Bad(
        "task_gradients_none",
        lambda: task_gradients(graph()[0], None),
        TypeError,
        "params",
    ),
    Bad(
        "task_gradients_floats",
        lambda: task_gradients([1.0, 2.0], graph()[1]),
        TypeError,
        "losses",
    ),
    Bad(
        "task_gradients_detached",
        lambda: task_gradients(torch.ones(2), graph()[1]),
        ValueError,
        "losses",
    ),
    Bad(
        "set_gradients_list",
        lambda: set_gradients(graph()[1], [0.0] * 16),
        TypeError,
        "update",
    ),
    Bad(
        "set_gradients_size",
        lambda: set_gradients(graph()[1], torch.zeros(3)),
        ValueError,
        "update",
    ),
    Bad(
        "gramian_rep_array",
        lambda: representation_gramian(graph()[0], np.zeros((5, 4))),
        TypeError,
        "representation",
    ),
    Bad(
        "gramian_rep_count",
        lambda: representation_gramian(graph()[0], [graph()[2]] * 3),
        ValueError,
        "representation",
    ),
    Bad(
        "mgda_ub_rep_none",
        lambda: mgda_ub_weights(graph()[0], None),
        TypeError,
        "representation",
    ),
    # --- diagnostics ------------------------------------------------------------
    Bad("cosines_list", lambda: gradient_cosines([[1.0, 0.0]]), TypeError, "G"),
    Bad("conflict_one_task", lambda: conflict_rate(G[:1]), ValueError, "G"),
    Bad("stch_prefs_str", lambda: SmoothTchebycheff("ab"), TypeError, "preferences"),
    Bad("stch_prefs_empty", lambda: SmoothTchebycheff([]), ValueError, "preferences"),
    Bad(
        "stch_prefs_zero",
        lambda: SmoothTchebycheff([0.5, 0.0]),
        ValueError,
        "preferences",
    ),
    Bad(
        "stch_prefs_nan",
        lambda: SmoothTchebycheff([0.5, float("nan")]),
        ValueError,
        "preferences",
    ),
    Bad("stch_mu_zero", lambda: SmoothTchebycheff([1.0], mu=0.0), ValueError, "mu"),
    Bad("stch_mu_str", lambda: SmoothTchebycheff([1.0], mu="0.1"), TypeError, "mu"),
    Bad(
        "stch_ideal_length",
        lambda: SmoothTchebycheff([1.0, 1.0], ideal=[0.0]),
        ValueError,
        "ideal",
    ),
    Bad(
        "stch_losses_count",
        lambda: SmoothTchebycheff([1.0, 1.0])(torch.ones(3)),
        ValueError,
        "losses",
    ),
    Bad(
        "stch_losses_nan",
        lambda: SmoothTchebycheff([1.0, 1.0])(torch.tensor([1.0, float("nan")])),
        ValueError,
        "losses[1]",
    ),
    Bad(
        "tv_list",
        lambda: task_vector([1.0], {"w": torch.ones(2)}),
        TypeError,
        "finetuned",
    ),
    Bad(
        "tv_empty_base",
        lambda: task_vector({"w": torch.ones(2)}, {}),
        ValueError,
        "base",
    ),
    Bad(
        "tv_shape",
        lambda: task_vector({"w": torch.ones(3)}, {"w": torch.ones(2)}),
        ValueError,
        "finetuned['w']",
    ),
    Bad(
        "tv_keys",
        lambda: task_vector({"v": torch.ones(2)}, {"w": torch.ones(2)}),
        ValueError,
        "finetuned",
    ),
    Bad(
        "tv_int_tensor",
        lambda: task_vector(
            {"w": torch.ones(2, dtype=torch.long)}, {"w": torch.ones(2)}
        ),
        TypeError,
        "finetuned['w']",
    ),
    Bad(
        "ta_vectors_dict",
        lambda: task_arithmetic({"w": torch.ones(2)}, {"w": torch.ones(2)}, 1.0),
        TypeError,
        "task_vectors",
    ),
    Bad(
        "ta_vectors_empty",
        lambda: task_arithmetic({"w": torch.ones(2)}, [], 1.0),
        ValueError,
        "task_vectors",
    ),
    Bad(
        "ta_scale_nan",
        lambda: task_arithmetic(
            {"w": torch.ones(2)}, [{"w": torch.ones(2)}], float("nan")
        ),
        ValueError,
        "scale",
    ),
    Bad(
        "ties_density_zero",
        lambda: ties_merging({"w": torch.ones(2)}, [{"w": torch.ones(2)}], 1.0, 0.0),
        ValueError,
        "density",
    ),
    Bad(
        "ties_vector_shape",
        lambda: ties_merging({"w": torch.ones(2)}, [{"w": torch.ones(3)}], 1.0),
        ValueError,
        "task_vectors[0]",
    ),
    Bad(
        "properties_trials_zero",
        lambda: aggregator_properties(UPGrad(), 0, np.random.default_rng(0)),
        ValueError,
        "n_trials",
    ),
    Bad(
        "properties_trials_float",
        lambda: aggregator_properties(UPGrad(), 10.0, np.random.default_rng(0)),
        TypeError,
        "n_trials",
    ),
    Bad(
        "properties_torch_generator",
        lambda: aggregator_properties(UPGrad(), 5, torch.Generator()),
        TypeError,
        "rng",
    ),
    Bad(
        "properties_not_callable",
        lambda: aggregator_properties("UPGrad", 5, np.random.default_rng(0)),
        TypeError,
        "aggregator",
    ),
    Bad(
        "delta_m_lengths",
        lambda: delta_m([0.9, 0.8], [0.9], True),
        ValueError,
        "baseline",
    ),
    Bad("delta_m_none", lambda: delta_m(None, [0.9], True), TypeError, "metrics"),
    Bad(
        "delta_m_str_entry",
        lambda: delta_m([0.9, "a"], [0.9, 0.8], True),
        TypeError,
        "metrics",
    ),
    Bad(
        "delta_m_higher_str",
        lambda: delta_m([0.9], [0.8], "yes"),
        TypeError,
        "higher_is_better",
    ),
    Bad(
        "delta_m_zero_baseline",
        lambda: delta_m([0.9], [0.0], True),
        ValueError,
        "baseline",
    ),
    # --- training loop ----------------------------------------------------------
    Bad(
        "train_model_dict",
        lambda: train({"w": 1}, optimizer=opt(model())),
        TypeError,
        "model",
    ),
    Bad("train_steps_float", lambda: train(steps=2.0), TypeError, "steps"),
    Bad("train_steps_zero", lambda: train(steps=0), ValueError, "steps"),
    Bad("train_optimizer_none", lambda: train(optimizer=None), TypeError, "optimizer"),
    Bad(
        "train_optimizer_params",
        lambda: train(optimizer=list(model().parameters())),
        TypeError,
        "optimizer",
    ),
    Bad(
        "train_both_methods",
        lambda: train(aggregator=object()),
        ValueError,
        "scalarizer",
    ),
    Bad(
        "train_scalarizer_str",
        lambda: train(scalarizer="equal"),
        TypeError,
        "scalarizer",
    ),
    Bad("train_loss_fns_single", lambda: train(fns=F.mse_loss), TypeError, "loss_fns"),
    Bad("train_loss_fns_str", lambda: train(fns=["mse", "mse"]), TypeError, "loss_fns"),
    Bad(
        "train_loss_fns_count",
        lambda: train(fns=[F.mse_loss] * 3),
        ValueError,
        "loss_fns",
    ),
    Bad("train_diag_float", lambda: train(diag_every=1.5), TypeError, "diag_every"),
    Bad(
        "train_use_rep_str",
        lambda: train(use_representation="yes"),
        TypeError,
        "use_representation",
    ),
    Bad(
        "train_regularizer_value",
        lambda: train(regularizer=0.1),
        TypeError,
        "regularizer",
    ),
    Bad(
        "train_batches_none",
        lambda: train_multitask(
            model(),
            None,
            [F.mse_loss] * K,
            steps=1,
            optimizer=opt(model()),
            scalarizer=EqualWeights(K),
        ),
        TypeError,
        "batches",
    ),
    Bad(
        "train_batch_not_pair",
        lambda: train(data=[torch.zeros(6, D_IN)]),
        ValueError,
        "batch",
    ),
    Bad(
        "train_targets_tensor",
        lambda: train(data=[(torch.zeros(6, D_IN), torch.zeros(6, K))]),
        ValueError,
        "targets",
    ),
    Bad(
        "train_x_uint8",
        lambda: train(data=batches(x=torch.zeros(6, D_IN, dtype=torch.uint8))),
        TypeError,
        "x",
    ),
    Bad(
        "train_x_int64",
        lambda: train(data=batches(x=torch.zeros(6, D_IN, dtype=torch.long))),
        TypeError,
        "x",
    ),
    Bad(
        "train_x_float64_model_float32",
        lambda: train(data=batches(x=torch.zeros(6, D_IN, dtype=torch.float64))),
        TypeError,
        "x",
    ),
    Bad(
        "train_x_float16",
        lambda: train(data=batches(x=torch.zeros(6, D_IN, dtype=torch.float16))),
        TypeError,
        "x",
    ),
    Bad(
        "train_x_width",
        lambda: train(data=batches(x=torch.zeros(6, D_IN + 2))),
        ValueError,
        "x",
    ),
    Bad("train_x_nan", lambda: train(data=batches(x=nan_x())), ValueError, "step 0"),
    Bad(
        "train_labels_out_of_range",
        lambda: train(
            m=classifier(),
            data=batches(ys=[torch.tensor([0, 1, 2, 5, 0, 1])] * K),
            fns=[F.cross_entropy] * K,
        ),
        ValueError,
        "targets[0]",
    ),
    Bad(
        "train_loss_reduction_none",
        lambda: train(fns=[lambda y, t: F.mse_loss(y, t, reduction="none")] * K),
        ValueError,
        "loss_fns[0]",
    ),
    Bad("train_diverges", diverge, ValueError, "step"),
    Bad(
        "train_optimizer_of_another_model",
        lambda: train(optimizer=opt(model())),
        ValueError,
        "optimizer",
    ),
    Bad(
        "train_scalarizer_params_not_in_optimizer",
        lambda: train(scalarizer=UncertaintyWeighting(K)),
        ValueError,
        "optimizer",
    ),
    Bad(
        "single_task_float",
        lambda: train_single_task(
            model().single_task(0),
            batches(),
            F.mse_loss,
            task=0.0,
            steps=1,
            optimizer=opt(model()),
        ),
        TypeError,
        "task",
    ),
    Bad(
        "single_task_loss_list",
        lambda: train_single_task(
            model().single_task(0),
            batches(),
            [F.mse_loss],
            task=0,
            steps=1,
            optimizer=opt(model()),
        ),
        TypeError,
        "loss_fn",
    ),
    Bad(
        "evaluate_metrics_single",
        lambda: evaluate(model(), batches(), F.mse_loss),
        TypeError,
        "metrics",
    ),
    Bad(
        "evaluate_model_list",
        lambda: evaluate([model()], batches(), [F.mse_loss] * K),
        TypeError,
        "model",
    ),
    Bad(
        "evaluate_x_int",
        lambda: evaluate(
            model(), batches(x=torch.zeros(6, D_IN, dtype=torch.long)), [F.mse_loss] * K
        ),
        TypeError,
        "x",
    ),
    Bad(
        "evaluate_empty",
        lambda: evaluate(model(), [], [F.mse_loss] * K),
        ValueError,
        "batches",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_misuse(case: Bad) -> None:
    case.check()


def test_the_misuse_cases_have_unique_ids():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
