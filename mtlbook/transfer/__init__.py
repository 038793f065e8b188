"""Transfer learning: reuse what a network learned on one task for another.

- :mod:`~mtlbook.transfer.freeze`: freeze/unfreeze by depth or name, with an
  explicit BatchNorm policy, and a trainable-parameter summary;
- :mod:`~mtlbook.transfer.param_groups`: head learning-rate multiplier,
  discriminative rates, gradual unfreezing;
- :mod:`~mtlbook.transfer.schedules`: the slanted triangular learning rate;
- :mod:`~mtlbook.transfer.probe`: linear probe, fine-tuning, LP-FT;
- :mod:`~mtlbook.transfer.l2sp`: L2-SP, weight decay toward the start;
- :mod:`~mtlbook.transfer.peft`: parameter-efficient fine-tuning (LoRA,
  BitFit, adapters);
- :mod:`~mtlbook.transfer.dann`: gradient reversal and DANN;
- :mod:`~mtlbook.transfer.cdan`: conditional adversarial adaptation (CDAN)
  and minimum class confusion (MCC);
- :mod:`~mtlbook.transfer.logme`: LogME, a transferability score computed
  before any fine-tuning;
- :mod:`~mtlbook.transfer.layer_transfer`: Yosinski et al.'s AnB/BnB experiment;
- :mod:`~mtlbook.transfer.negative`: the negative-transfer gap and its grid.
"""

from mtlbook.transfer.cdan import cdan_loss, mcc_loss, multilinear_map
from mtlbook.transfer.dann import (
    DANNLoss,
    GradientReversal,
    GradientReversalFunction,
    dann_lambda,
    dann_learning_rate,
    dann_loss,
    dann_step,
    grad_reverse,
    train_dann,
)
from mtlbook.transfer.freeze import (
    BNPolicy,
    count_parameters,
    freeze,
    is_stats_frozen,
    layers,
    set_cut,
    trainable_summary,
    unfreeze,
)
from mtlbook.transfer.l2sp import L2SP, l2sp_penalty
from mtlbook.transfer.layer_transfer import (
    TaskData,
    build_condition,
    copy_layers,
    layer_transfer,
    make_mlp,
    plot_layer_transfer,
    select_classes,
    split_classes,
    summarize,
    train_classifier,
)
from mtlbook.transfer.logme import log_evidence, logme, maximize_evidence
from mtlbook.transfer.negative import negative_transfer_gap, negative_transfer_grid
from mtlbook.transfer.param_groups import (
    check_param_groups,
    discriminative_lr_groups,
    gradual_unfreeze,
    gradual_unfreezing_cut,
    head_lr_groups,
)
from mtlbook.transfer.peft import (
    Adapter,
    LoRALinear,
    add_adapters,
    add_lora,
    bitfit,
    merge_lora,
)
from mtlbook.transfer.probe import (
    cycle_batches,
    extract_features,
    fine_tune,
    linear_probe,
    lp_ft,
)
from mtlbook.transfer.schedules import slanted_triangular, slanted_triangular_lambda

__all__ = [
    "L2SP",
    "Adapter",
    "BNPolicy",
    "DANNLoss",
    "GradientReversal",
    "GradientReversalFunction",
    "LoRALinear",
    "TaskData",
    "add_adapters",
    "add_lora",
    "bitfit",
    "build_condition",
    "cdan_loss",
    "check_param_groups",
    "copy_layers",
    "count_parameters",
    "cycle_batches",
    "dann_lambda",
    "dann_learning_rate",
    "dann_loss",
    "dann_step",
    "discriminative_lr_groups",
    "extract_features",
    "fine_tune",
    "freeze",
    "grad_reverse",
    "gradual_unfreeze",
    "gradual_unfreezing_cut",
    "head_lr_groups",
    "is_stats_frozen",
    "l2sp_penalty",
    "layer_transfer",
    "layers",
    "linear_probe",
    "log_evidence",
    "logme",
    "lp_ft",
    "make_mlp",
    "maximize_evidence",
    "mcc_loss",
    "merge_lora",
    "multilinear_map",
    "negative_transfer_gap",
    "negative_transfer_grid",
    "plot_layer_transfer",
    "select_classes",
    "set_cut",
    "slanted_triangular",
    "slanted_triangular_lambda",
    "split_classes",
    "summarize",
    "train_classifier",
    "train_dann",
    "trainable_summary",
    "unfreeze",
]
