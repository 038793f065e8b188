"""Tasks and task distributions (the names of three modules, in one place).

A *task* is a small learning problem: a support set to adapt on and a query set
that scores the adaptation. A *task distribution* draws tasks from an explicit
``torch.Generator``; ``sample_batch(n_tasks, generator)`` returns a
:class:`TaskBatch` whose tensors carry a leading task dimension, ready for
``vmap``. The code lives in one module per concern, re-exported here so that
``from mtlbook.meta.tasks import ...`` keeps working:

- :mod:`mtlbook.meta.task_containers`: :class:`Task`, :class:`TaskBatch`,
  :func:`stack_tasks` and the :class:`TaskDistribution` protocol;
- :mod:`mtlbook.meta.sinusoid`: the MAML sinusoid (Finn et al. 2017, §5.1) and
  the Reptile sine (Nichol et al. 2018, §6);
- :mod:`mtlbook.meta.episodes`: N-way K-shot episodes drawn from any labelled
  tensors (Vinyals et al. 2016).
"""

from __future__ import annotations

from mtlbook.meta.episodes import FewShotEpisodes
from mtlbook.meta.sinusoid import ReptileSine, Sinusoid, sinusoid_mlp
from mtlbook.meta.task_containers import (
    Task,
    TaskBatch,
    TaskDistribution,
    stack_tasks,
)

__all__ = [
    "FewShotEpisodes",
    "ReptileSine",
    "Sinusoid",
    "Task",
    "TaskBatch",
    "TaskDistribution",
    "sinusoid_mlp",
    "stack_tasks",
]
