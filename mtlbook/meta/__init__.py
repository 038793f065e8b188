"""Meta-learning on ``torch.func``: tasks, a functional inner loop, algorithms.

- :mod:`~mtlbook.meta.tasks`: Task / TaskBatch, the MAML sinusoid, the Reptile
  sine, N-way K-shot episodes from labelled tensors;
- :mod:`~mtlbook.meta.glyph_tasks`: episodes from one split of the glyphs;
- :mod:`~mtlbook.meta.inner`: ``functional``, ``adapt``, ``map_tasks``,
  ``meta_loss``, ``meta_backward``;
- :mod:`~mtlbook.meta.layers`: ``TaskBatchNorm``, batch statistics that vmap
  differentiates correctly;
- one module per algorithm: :mod:`~mtlbook.meta.maml` (MAML, first-order MAML,
  ANIL), :mod:`~mtlbook.meta.mamlpp` (MAML++'s multi-step loss and
  per-step rates, per-step batch norm), :mod:`~mtlbook.meta.metasgd`,
  :mod:`~mtlbook.meta.reptile`,
  :mod:`~mtlbook.meta.protonets` (ProtoNets, ProtoMAML), :mod:`~mtlbook.meta.r2d2`
  (a closed-form ridge-regression head), :mod:`~mtlbook.meta.cnp` (a conditional
  neural process), :mod:`~mtlbook.meta.in_context` (a transformer that
  learns from its prompt), :mod:`~mtlbook.meta.imaml` (implicit meta-gradients),
  :mod:`~mtlbook.meta.baselines` (pre-train, then probe:
  Baseline, Baseline++, logistic regression);
- :mod:`~mtlbook.meta.train`: ``meta_train``, the outer loop for any task loss;
- :mod:`~mtlbook.meta.evaluate`: adaptation curves and 95% confidence intervals.
"""

from mtlbook.meta.baselines import (
    CosineClassifier,
    cosine_logits,
    cosine_probe,
    linear_probe,
    logistic_probe,
)
from mtlbook.meta.cnp import ConditionalNeuralProcess, cnp_loss, gaussian_nll
from mtlbook.meta.evaluate import (
    Estimate,
    accuracy,
    adaptation_curve,
    fixed_tasks,
    mean_ci,
    score_tasks,
)
from mtlbook.meta.glyph_tasks import GLYPH_SPLITS, glyph_episodes
from mtlbook.meta.imaml import conjugate_gradient, imaml_loss
from mtlbook.meta.in_context import (
    InContextRegressor,
    in_context_loss,
    interleave,
    least_squares_predictions,
    linear_regression_prompts,
    normalised_error,
)
from mtlbook.meta.inner import (
    VectorizationWarning,
    adapt,
    functional,
    map_tasks,
    meta_backward,
    meta_loss,
    vmap_blockers,
)
from mtlbook.meta.layers import TaskBatchNorm
from mtlbook.meta.maml import anil_loss, fomaml_loss, joint_loss, maml_loss
from mtlbook.meta.mamlpp import (
    lslr_rates,
    lslr_trajectory,
    mamlpp_loss,
    msl_weights,
    step_batch_norm,
    step_bn_params,
)
from mtlbook.meta.metasgd import metasgd_loss, metasgd_rates
from mtlbook.meta.protonets import (
    protomaml_logits,
    protomaml_loss,
    protonet_logits,
    protonet_loss,
    prototypes,
)
from mtlbook.meta.r2d2 import r2d2_hyper, r2d2_logits, r2d2_loss, ridge_head
from mtlbook.meta.reptile import reptile_delta, reptile_grad, reptile_step
from mtlbook.meta.sinusoid import sinusoid_mlp
from mtlbook.meta.tasks import (
    FewShotEpisodes,
    ReptileSine,
    Sinusoid,
    Task,
    TaskBatch,
    TaskDistribution,
    stack_tasks,
)
from mtlbook.meta.train import meta_train

__all__ = [
    "GLYPH_SPLITS",
    "ConditionalNeuralProcess",
    "CosineClassifier",
    "Estimate",
    "FewShotEpisodes",
    "InContextRegressor",
    "ReptileSine",
    "Sinusoid",
    "Task",
    "TaskBatch",
    "TaskBatchNorm",
    "TaskDistribution",
    "VectorizationWarning",
    "accuracy",
    "adapt",
    "adaptation_curve",
    "anil_loss",
    "cnp_loss",
    "conjugate_gradient",
    "cosine_logits",
    "cosine_probe",
    "fixed_tasks",
    "fomaml_loss",
    "functional",
    "gaussian_nll",
    "glyph_episodes",
    "imaml_loss",
    "in_context_loss",
    "interleave",
    "joint_loss",
    "least_squares_predictions",
    "linear_probe",
    "linear_regression_prompts",
    "logistic_probe",
    "lslr_rates",
    "lslr_trajectory",
    "maml_loss",
    "mamlpp_loss",
    "map_tasks",
    "mean_ci",
    "meta_backward",
    "meta_loss",
    "meta_train",
    "metasgd_loss",
    "metasgd_rates",
    "msl_weights",
    "normalised_error",
    "protomaml_logits",
    "protomaml_loss",
    "protonet_logits",
    "protonet_loss",
    "prototypes",
    "r2d2_hyper",
    "r2d2_logits",
    "r2d2_loss",
    "reptile_delta",
    "reptile_grad",
    "reptile_step",
    "ridge_head",
    "score_tasks",
    "sinusoid_mlp",
    "stack_tasks",
    "step_batch_norm",
    "step_bn_params",
    "vmap_blockers",
]
