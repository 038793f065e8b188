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
from mtlbook.multitask.famo import FAMO
from mtlbook.multitask.gradients import (
    mgda_ub_weights,
    representation_gramian,
    set_gradients,
    task_gradients,
)
from mtlbook.multitask.gradnorm import GradNorm
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

__all__ = [
    "DWA",
    "FAMO",
    "IMTLG",
    "MGDA",
    "Aggregator",
    "CAGrad",
    "EqualWeights",
    "GradNorm",
    "Mean",
    "NashMTL",
    "PCGrad",
    "RandomLossWeighting",
    "Scalarizer",
    "StaticWeights",
    "UncertaintyWeighting",
    "cagrad_weights",
    "imtl_g_weights",
    "mgda_ub_weights",
    "min_norm_two",
    "min_norm_weights",
    "nash_weights",
    "representation_gramian",
    "select_static_weights",
    "set_gradients",
    "simplex_grid",
    "task_gradients",
]
