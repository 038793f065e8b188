"""Multi-task learning: loss scalarizers and gradient aggregators.

Two small protocols make the methods fit together (torchjd's naming):

* a *scalarizer* (an ``nn.Module``) turns task losses (K,) into one loss:
  :class:`EqualWeights`, :class:`StaticWeights` (chosen on validation data with
  :func:`select_static_weights` over a :func:`simplex_grid`),
  :class:`UncertaintyWeighting`, :class:`GradNorm`, :class:`DWA`,
  :class:`RandomLossWeighting`, :class:`FAMO`, :class:`SmoothTchebycheff`;
* an *aggregator* turns task gradients G: (K, P) into one update (P,):
  :class:`Mean`, :class:`MGDA`, :class:`PCGrad`, :class:`CAGrad`,
  :class:`NashMTL`, :class:`IMTLG`, :class:`UPGrad`, :class:`DualProj`,
  :class:`AlignedMTL`; with :func:`task_gradients`,
  :func:`set_gradients` and MGDA-UB's :func:`mgda_ub_weights`.

Models (:class:`HardSharing`, :class:`CrossStitch`, :func:`l2_coupling`,
:class:`MMoE`), the loop :func:`train_multitask` (and the single-task baseline
:func:`train_single_task`), and diagnostics (:func:`gradient_cosines`,
:func:`conflict_rate`, :func:`delta_m`, :func:`aggregator_properties`) complete
the package. Model merging (:func:`task_vector`, :func:`task_arithmetic`,
:func:`ties_merging`) builds a multi-task model from single-task fine-tunes;
lookahead task affinity (:func:`lookahead_affinity`, :func:`best_grouping`)
suggests which tasks should share a trunk.
"""

from mtlbook.multitask.affinity import (
    best_grouping,
    grouping_score,
    hard_sharing_losses,
    lookahead_affinity,
)
from mtlbook.multitask.aggregators import (
    IMTLG,
    MGDA,
    Aggregator,
    AlignedMTL,
    CAGrad,
    DualProj,
    Mean,
    NashMTL,
    PCGrad,
    UPGrad,
)
from mtlbook.multitask.diagnostics import (
    PROPERTIES,
    aggregator_properties,
    conflict_rate,
    delta_m,
    gradient_cosines,
)
from mtlbook.multitask.famo import FAMO
from mtlbook.multitask.gradients import (
    mgda_ub_weights,
    representation_gramian,
    set_gradients,
    task_gradients,
)
from mtlbook.multitask.gradnorm import GradNorm
from mtlbook.multitask.merging import task_arithmetic, task_vector, ties_merging
from mtlbook.multitask.models import CrossStitch, HardSharing, MMoE, l2_coupling
from mtlbook.multitask.scalarizers import (
    DWA,
    EqualWeights,
    RandomLossWeighting,
    Scalarizer,
    SmoothTchebycheff,
    StaticWeights,
    UncertaintyWeighting,
    select_static_weights,
    simplex_grid,
)
from mtlbook.multitask.solvers import (
    aligned_mtl_matrix,
    cagrad_weights,
    dualproj_weights,
    imtl_g_weights,
    min_norm_two,
    min_norm_weights,
    nash_weights,
    upgrad_weights,
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
    "PROPERTIES",
    "Aggregator",
    "AlignedMTL",
    "CAGrad",
    "CrossStitch",
    "DualProj",
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
    "SmoothTchebycheff",
    "StaticWeights",
    "UPGrad",
    "UncertaintyWeighting",
    "aggregator_properties",
    "aligned_mtl_matrix",
    "best_grouping",
    "cagrad_weights",
    "conflict_rate",
    "delta_m",
    "dualproj_weights",
    "evaluate",
    "gradient_cosines",
    "grouping_score",
    "hard_sharing_losses",
    "imtl_g_weights",
    "l2_coupling",
    "lookahead_affinity",
    "mgda_ub_weights",
    "min_norm_two",
    "min_norm_weights",
    "nash_weights",
    "representation_gramian",
    "select_static_weights",
    "set_gradients",
    "simplex_grid",
    "task_arithmetic",
    "task_gradients",
    "task_vector",
    "ties_merging",
    "train_multitask",
    "train_single_task",
    "upgrad_weights",
]
