"""Multi-task learning: loss scalarizers and gradient aggregators.

Two small protocols make the methods fit together (torchjd's naming):

* a *scalarizer* (an ``nn.Module``) turns task losses (K,) into one loss:
  :class:`EqualWeights`, :class:`StaticWeights` (chosen on validation data with
  :func:`select_static_weights` over a :func:`simplex_grid`),
  :class:`UncertaintyWeighting`, :class:`GradNorm`, :class:`DWA`,
  :class:`RandomLossWeighting`, :class:`FAMO`;
* an *aggregator* turns task gradients G: (K, P) into one update (P,):
  :class:`Mean`, :class:`MGDA`, :class:`PCGrad`, :class:`CAGrad`,
  :class:`NashMTL`, :class:`IMTLG`; with :func:`task_gradients`,
  :func:`set_gradients` and MGDA-UB's :func:`mgda_ub_weights`.

Models (:class:`HardSharing`, :class:`CrossStitch`, :func:`l2_coupling`,
:class:`MMoE`), the loop :func:`train_multitask` (and the single-task baseline
:func:`train_single_task`), and diagnostics (:func:`gradient_cosines`,
:func:`conflict_rate`, :func:`delta_m`) complete the package.
"""

from mtlbook.multitask.aggregators import (
    IMTLG,
    MGDA,
    Aggregator,
    CAGrad,
    Mean,
    NashMTL,
    PCGrad,
)
from mtlbook.multitask.diagnostics import conflict_rate, delta_m, gradient_cosines
from mtlbook.multitask.famo import FAMO
from mtlbook.multitask.gradients import (
    mgda_ub_weights,
    representation_gramian,
    set_gradients,
    task_gradients,
)
from mtlbook.multitask.gradnorm import GradNorm
from mtlbook.multitask.models import CrossStitch, HardSharing, MMoE, l2_coupling
from mtlbook.multitask.scalarizers import (
    DWA,
    EqualWeights,
    RandomLossWeighting,
    Scalarizer,
    StaticWeights,
    UncertaintyWeighting,
    select_static_weights,
    simplex_grid,
)
from mtlbook.multitask.solvers import (
    cagrad_weights,
    imtl_g_weights,
    min_norm_two,
    min_norm_weights,
    nash_weights,
)
from mtlbook.multitask.train import (
    History,
    evaluate,
    train_multitask,
    train_single_task,
)

__all__ = [
    "DWA",
    "FAMO",
    "IMTLG",
    "MGDA",
    "Aggregator",
    "CAGrad",
    "CrossStitch",
    "EqualWeights",
    "GradNorm",
    "HardSharing",
    "History",
    "MMoE",
    "Mean",
    "NashMTL",
    "PCGrad",
    "RandomLossWeighting",
    "Scalarizer",
    "StaticWeights",
    "UncertaintyWeighting",
    "cagrad_weights",
    "conflict_rate",
    "delta_m",
    "evaluate",
    "gradient_cosines",
    "imtl_g_weights",
    "l2_coupling",
    "mgda_ub_weights",
    "min_norm_two",
    "min_norm_weights",
    "nash_weights",
    "representation_gramian",
    "select_static_weights",
    "set_gradients",
    "simplex_grid",
    "task_gradients",
    "train_multitask",
    "train_single_task",
]
