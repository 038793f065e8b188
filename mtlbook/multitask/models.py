"""Multi-task models: hard sharing, cross-stitch, L2-coupled towers and MMoE.

Every model maps x to a list of K task outputs, ``model(x) -> [y_1, ..., y_K]``,
and takes any trunk layers and heads (``nn.Module``). Where the idea applies a
model exposes ``shared_parameters()`` (what every task's gradient touches, the
input of gradient aggregators), ``task_parameters(k)`` and ``representation``
(the latest shared output, for MGDA-UB's cheap gradients).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from mtlbook._validate import check_int, check_real


def _modules(name: str, modules: Sequence[nn.Module], allow_empty: bool) -> list:
    container = isinstance(modules, nn.ModuleList | nn.Sequential)
    if (isinstance(modules, nn.Module | str) and not container) or not isinstance(
        modules, Iterable
    ):
        raise TypeError(
            f"{name} must be a list of nn.Modules, got {type(modules).__name__}; "
            f"e.g. {name}=[nn.Linear(8, 16)]"
        )
    modules = list(modules)
    if not modules and not allow_empty:
        raise ValueError(f"{name} is empty; pass at least one nn.Module")
    for i, m in enumerate(modules):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name}[{i}] must be an nn.Module, got {type(m).__name__}")
    return modules


class HardSharing(nn.Module):
    """Hard parameter sharing with a configurable shared depth.

    ``layers`` are the trunk's layers (each one block, e.g.
    ``nn.Sequential(nn.Linear(d, h), nn.ReLU())``), ``heads`` one output module
    per task. The first ``shared_depth`` layers form the shared ``trunk``; the
    rest are deep-copied into one ``tower`` per task, so every tower starts
    from the same weights. shared_depth = 1 is the seed's "shared input layer",
    len(layers) its "shared hidden layers", 0 gives independent towers.
    x: (batch, ...) → K outputs, output k = heads[k](towers[k](trunk(x))).
    """

    def __init__(
        self, layers: Sequence[nn.Module], heads: Sequence[nn.Module], shared_depth: int
    ) -> None:
        super().__init__()
        layers = _modules("layers", layers, allow_empty=False)
        heads = _modules("heads", heads, allow_empty=False)
        check_int("shared_depth", shared_depth)
        if not 0 <= shared_depth <= len(layers):
            raise ValueError(
                f"shared_depth={shared_depth} is out of range; use 0 (independent "
                f"towers) to {len(layers)} (every layer shared)"
            )
        self.shared_depth = shared_depth
        self.trunk = nn.Sequential(*layers[:shared_depth])
        unshared = layers[shared_depth:]
        self.towers = nn.ModuleList(
            nn.Sequential(*copy.deepcopy(unshared)) for _ in heads
        )
        self.heads = nn.ModuleList(heads)
        self.representation: Tensor | None = None
        self.task_representations: list[Tensor] | None = None

    @property
    def n_tasks(self) -> int:
        """Number of tasks K (one per head)."""
        return len(self.heads)

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: (batch, ...) → K task outputs; keeps ``representation`` = trunk(x).

        Task k reads its own view of z (``task_representations[k]``), so one
        backward call of Σ_k L_k yields every ∂L_k/∂z at once (MGDA-UB).
        """
        z = self.trunk(x)
        self.representation = z if self.shared_depth > 0 else None
        views = [z.view_as(z) for _ in self.heads]
        self.task_representations = views if self.shared_depth > 0 else None
        return [
            head(tower(v))
            for tower, head, v in zip(self.towers, self.heads, views, strict=True)
        ]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the shared trunk (empty when shared_depth = 0)."""
        return list(self.trunk.parameters())

    def last_shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the last shared layer, GradNorm's W."""
        if self.shared_depth == 0:
            raise ValueError(
                "shared_depth=0: there is no shared layer; GradNorm needs "
                "shared_depth >= 1"
            )
        return list(self.trunk[-1].parameters())

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        """Parameters only task k uses: its tower and its head."""
        _check_task(k, self.n_tasks)
        return [*self.towers[k].parameters(), *self.heads[k].parameters()]

    def single_task(self, k: int) -> HardSharing:
        """A one-task model with copies of the trunk, tower k and head k.

        Called before training, it is the single-task baseline with the same
        architecture and the same initial weights as task k's path.
        """
        _check_task(k, self.n_tasks)
        layers = [
            *copy.deepcopy(list(self.trunk)),
            *copy.deepcopy(list(cast(nn.Sequential, self.towers[k]))),
        ]
        heads = [copy.deepcopy(self.heads[k])]
        return HardSharing(layers, heads, shared_depth=len(layers))


class CrossStitch(nn.Module):
    """Cross-stitch networks (Misra et al. 2016): K towers that mix after each layer.

    Each task gets a deep copy of ``layers`` (its tower). After layer l the
    tower activations are mixed by a learnable unit α^l: (K, K),
    x̃_i = Σ_j α^l_ij x_j, so the network learns how much to share per layer.
    α starts at ``init_self`` on the diagonal and (1 − init_self)/(K − 1) off
    it (rows sum to 1); the paper's best is 0.9, and 1.0 gives independent
    towers. x: (batch, ...) → K outputs, output k = heads[k](tower k's last x̃_k).
    """

    def __init__(
        self,
        layers: Sequence[nn.Module],
        heads: Sequence[nn.Module],
        init_self: float = 0.9,
    ) -> None:
        super().__init__()
        layers = _modules("layers", layers, allow_empty=False)
        heads = _modules("heads", heads, allow_empty=False)
        K = len(heads)
        init_self = check_real("init_self", init_self, example=0.9)
        if not 0.0 <= init_self <= 1.0 or (K == 1 and init_self != 1.0):
            raise ValueError(
                f"init_self={init_self} must be in [0, 1] (1.0 when there is one "
                "task); the paper uses 0.9"
            )
        self.towers = nn.ModuleList(
            nn.ModuleList(copy.deepcopy(layers)) for _ in range(K)
        )
        off = (1.0 - init_self) / (K - 1) if K > 1 else 0.0
        alpha = torch.full((K, K), off)
        alpha.fill_diagonal_(init_self)
        self.stitches = nn.ParameterList(
            nn.Parameter(alpha.clone()) for _ in range(len(layers))
        )
        self.heads = nn.ModuleList(heads)

    @property
    def n_tasks(self) -> int:
        """Number of tasks K (one per head)."""
        return len(self.heads)

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: (batch, ...) → K task outputs."""
        xs = [x] * self.n_tasks
        for depth, alpha in enumerate(self.stitches):
            stacked = torch.stack(
                [
                    cast(nn.ModuleList, tower)[depth](xk)
                    for tower, xk in zip(self.towers, xs, strict=True)
                ]
            )  # (K, batch, ...)
            xs = list(torch.einsum("ij,j...->i...", alpha.to(stacked), stacked))
        return [head(xk) for head, xk in zip(self.heads, xs, strict=True)]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Towers and stitch units: with α off-diagonal ≠ 0 every task reaches them."""
        return [*self.towers.parameters(), *self.stitches.parameters()]

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        """Parameters only task k uses: its head."""
        _check_task(k, self.n_tasks)
        return list(self.heads[k].parameters())


def l2_coupling(towers: Sequence[nn.Module]) -> Tensor:
    """Soft sharing penalty Σ_{i<j} ‖θ_i − θ_j‖² over K same-shaped towers: ().

    The seed's "shared weights" model (Duong et al. 2015): separate towers whose
    parameters are pulled together. Add λ·l2_coupling(model.towers) to the loss
    of independent towers (``HardSharing(..., shared_depth=0)``).
    """
    towers = _modules("towers", towers, allow_empty=False)
    params = [list(t.parameters()) for t in towers]
    shapes = [[p.shape for p in ps] for ps in params]
    for k, s in enumerate(shapes):
        if s != shapes[0]:
            raise ValueError(
                f"towers[{k}] has parameter shapes {s}, towers[0] has {shapes[0]}; "
                "coupled towers must have the same architecture"
            )
    if not params[0]:
        raise ValueError("towers have no parameters; nothing to couple")
    total = params[0][0].new_zeros(())
    for i in range(len(towers)):
        for j in range(i + 1, len(towers)):
            for a, b in zip(params[i], params[j], strict=True):
                total = total + (a - b).pow(2).sum()
    return total


class MMoE(nn.Module):
    """Multi-gate mixture of experts (Ma et al. 2018).

    ``n_experts`` experts, each a fresh ``expert()`` when ``expert`` is a factory
    (preferred: the experts start different) or a deep copy when it is a module.
    Each task k has a gate softmax(W_k x): (batch, n_experts), W_k a linear map
    of the flattened input (``gate_input`` features), and a tower:
    f_k = Σ_e g_k,e(x) expert_e(x), output k = towers[k](f_k).
    ``representation`` is the experts' output stack (batch, n_experts, d).
    """

    def __init__(
        self,
        n_experts: int,
        expert: nn.Module | Callable[[], nn.Module],
        n_tasks: int,
        gate_input: int,
        towers: Sequence[nn.Module],
    ) -> None:
        super().__init__()
        for name, value in (
            ("n_experts", n_experts),
            ("n_tasks", n_tasks),
            ("gate_input", gate_input),
        ):
            check_int(name, value, low=1)
        towers = _modules("towers", towers, allow_empty=False)
        if len(towers) != n_tasks:
            raise ValueError(
                f"got {len(towers)} towers for n_tasks={n_tasks}; pass one tower "
                "per task"
            )
        if isinstance(expert, nn.Module):
            experts = [copy.deepcopy(expert) for _ in range(n_experts)]
        elif callable(expert):
            experts = [expert() for _ in range(n_experts)]
            _modules("expert()", experts, allow_empty=False)
        else:
            raise TypeError(
                "expert must be an nn.Module or a function returning one, got "
                f"{type(expert).__name__}"
            )
        self.gate_input = gate_input
        self.experts = nn.ModuleList(experts)
        self.gates = nn.ModuleList(nn.Linear(gate_input, n_experts) for _ in towers)
        self.towers = nn.ModuleList(towers)
        self.representation: Tensor | None = None

    @property
    def n_tasks(self) -> int:
        """Number of tasks K (one per tower)."""
        return len(self.towers)

    def gate_weights(self, x: Tensor) -> Tensor:
        """Gate values: (K, batch, n_experts), each row on the simplex."""
        flat = x.flatten(1)
        if flat.shape[1] != self.gate_input:
            raise ValueError(
                f"x has {flat.shape[1]} features per example, the gates expect "
                f"gate_input={self.gate_input}"
            )
        return torch.stack([torch.softmax(gate(flat), dim=1) for gate in self.gates])

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: (batch, ...) → K task outputs."""
        gates = self.gate_weights(x)  # (K, batch, E)
        z = torch.stack([e(x) for e in self.experts], dim=1)  # (batch, E, d)
        self.representation = z
        mixed = torch.einsum("kbe,bed->kbd", gates.to(z), z.flatten(2))
        mixed = mixed.reshape(len(self.towers), *z.shape[:1], *z.shape[2:])
        return [tower(f) for tower, f in zip(self.towers, mixed, strict=True)]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the experts (every task's gate reads all of them)."""
        return list(self.experts.parameters())

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        """Parameters only task k uses: its gate and its tower."""
        _check_task(k, self.n_tasks)
        return [*self.gates[k].parameters(), *self.towers[k].parameters()]


def _check_task(k: int, n_tasks: int) -> None:
    check_int("k", k)
    if not 0 <= k < n_tasks:
        raise ValueError(f"task index k={k!r} must be an int in [0, {n_tasks})")
