"""The step objects of the training loop: one backward strategy per method.

Facts tested: ``training_step`` picks the step from the arguments; each step
fills ``.grad`` as its method prescribes (checked against hand-written
backward passes); the loop honours what a scalarizer *declares* (extra
backward passes, losses after the step, epoch means) without knowing its type;
and the diagnostics reuse the Jacobian step's gradients.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mtlbook.multitask import (
    DWA,
    FAMO,
    MGDA,
    EqualWeights,
    GradNorm,
    HardSharing,
    Mean,
    Scalarizer,
    gradient_cosines,
    task_gradients,
    train_multitask,
)
from mtlbook.multitask.steps import (
    JacobianStep,
    RepresentationStep,
    ScalarizedStep,
    StepResult,
    TrainingStep,
    training_step,
)

K = 3


def make_model(depth: int = 1) -> HardSharing:
    torch.manual_seed(0)
    layers = [
        nn.Sequential(nn.Linear(3, 5), nn.Tanh()),
        nn.Sequential(nn.Linear(5, 5), nn.Tanh()),
    ]
    heads = [nn.Linear(5, 1) for _ in range(K)]
    return HardSharing(layers, heads, shared_depth=depth).double()


def make_batches(n: int = 2) -> list:
    g = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(6, 3, generator=g, dtype=torch.float64),
            [torch.randn(6, 1, generator=g, dtype=torch.float64) for _ in range(K)],
        )
        for _ in range(n)
    ]


def task_terms(model: nn.Module) -> list[torch.Tensor]:
    x, ys = make_batches(1)[0]
    return [F.mse_loss(y, t) for y, t in zip(model(x), ys, strict=True)]


def grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def test_training_step_picks_the_step_of_the_arguments() -> None:
    model = make_model()
    pick = training_step
    assert type(pick(model, EqualWeights(K), None, False, None)) is ScalarizedStep
    assert type(pick(model, None, MGDA(), True, None)) is RepresentationStep
    assert type(pick(model, None, MGDA(), False, None)) is JacobianStep
    with pytest.raises(ValueError, match="no shared parameters"):
        pick(make_model(depth=0), None, MGDA(), False, None)


def test_scalarizers_declare_their_extra_backward_passes() -> None:
    model = make_model()
    assert EqualWeights(K).extra_backward_passes == 0
    assert FAMO(K).extra_backward_passes == 0
    assert DWA(K).extra_backward_passes == 0
    assert GradNorm(K, model.last_shared_parameters()).extra_backward_passes == K


@pytest.mark.parametrize("regularized", [False, True])
def test_scalarized_step_is_the_backward_of_the_scalarized_loss(regularized) -> None:
    def reg(m: nn.Module) -> torch.Tensor:
        return 0.3 * m.heads[0].weight.pow(2).sum()

    regularizer = reg if regularized else None
    model, ref = make_model(), make_model()
    terms = task_terms(model)
    result = ScalarizedStep(EqualWeights(K), model, regularizer).step(
        terms, torch.stack(terms)
    )
    loss = torch.stack(task_terms(ref)).sum()
    (loss + reg(ref) if regularized else loss).backward()
    for g, h in zip(grads(model), grads(ref), strict=True):
        torch.testing.assert_close(g, h, rtol=1e-12, atol=1e-15)
    assert result.backward_passes == 1 and result.gradients is None
    torch.testing.assert_close(result.weights, torch.ones(K, dtype=torch.float64))


def test_jacobian_step_with_mean_is_the_mean_loss_gradient() -> None:
    model, ref = make_model(), make_model()
    step = JacobianStep(Mean(), model, None, model.shared_parameters())
    terms = task_terms(model)
    expected_G = task_gradients(terms, model.shared_parameters())
    result = step.step(terms, torch.stack(terms))
    torch.stack(task_terms(ref)).mean().backward()
    for g, h in zip(grads(model), grads(ref), strict=True):
        torch.testing.assert_close(g, h, rtol=1e-12, atol=1e-15)
    assert result.backward_passes == K
    torch.testing.assert_close(result.gradients, expected_G, rtol=0, atol=0)
    assert JacobianStep.computes_task_gradients
    assert not ScalarizedStep.computes_task_gradients


def test_representation_step_needs_a_representation() -> None:
    class NoTrunk(nn.Module):
        n_tasks = K

        def forward(self, x):
            return [x.sum(1, keepdim=True) for _ in range(K)]

    step = RepresentationStep(MGDA(), NoTrunk(), None)
    terms = [torch.ones((), requires_grad=True) * k for k in range(1, K + 1)]
    with pytest.raises(ValueError, match=r"needs model\.representation"):
        step.step(terms, torch.stack(terms))


class Declaring(Scalarizer):
    """A scalarizer that declares extra passes and asks for the later losses."""

    needs_losses_after_step = True

    def __init__(self, n_tasks: int) -> None:
        super().__init__(n_tasks)
        self.after, self.epochs = [], []

    def combine(self, losses: torch.Tensor) -> torch.Tensor:
        return losses.sum()

    @property
    def weights(self) -> torch.Tensor:
        return torch.ones(self.n_tasks, dtype=torch.float64)

    @property
    def extra_backward_passes(self) -> int:
        return 2

    def after_step(self, losses: torch.Tensor) -> None:
        assert not torch.is_grad_enabled()
        self.after.append(losses.clone())

    def end_epoch(self, losses: torch.Tensor) -> None:
        self.epochs.append(losses.clone())


def test_the_loop_honours_what_a_scalarizer_declares() -> None:
    model, scalarizer = make_model(), Declaring(K)
    history = train_multitask(
        model,
        make_batches(2),
        [F.mse_loss] * K,
        steps=5,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        scalarizer=scalarizer,
    )
    assert (history.backward_passes == 3).all()
    assert len(scalarizer.after) == 5
    # after_step saw the same batch's losses after the update, not before it
    assert not torch.equal(scalarizer.after[0], torch.tensor(history.task_losses[0]))
    # epochs of 2 batches: restarts at steps 2 and 4 end two epochs
    assert len(scalarizer.epochs) == 2
    torch.testing.assert_close(
        scalarizer.epochs[0], torch.tensor(history.task_losses[:2].mean(0))
    )


def test_diagnostics_reuse_the_jacobian_steps_gradients(monkeypatch) -> None:
    """The Jacobian step's G is measured, with no extra task_gradients call."""
    import mtlbook.multitask.train as train

    calls = []
    monkeypatch.setattr(
        train, "task_gradients", lambda *a: calls.append(a) or task_gradients(*a)
    )
    model = make_model()
    history = train_multitask(
        model,
        make_batches(),
        [F.mse_loss] * K,
        steps=3,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        aggregator=Mean(),
        diag_every=1,
    )
    assert calls == [] and history.cosines.shape == (3, K, K)
    # a scalarizer's step does not compute G: the diagnostics do, before it
    model = make_model()
    ref = make_model()
    first = gradient_cosines(task_gradients(task_terms(ref), ref.shared_parameters()))
    history = train_multitask(
        model,
        make_batches(),
        [F.mse_loss] * K,
        steps=1,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        scalarizer=EqualWeights(K),
        diag_every=1,
    )
    assert len(calls) == 1
    torch.testing.assert_close(torch.tensor(history.cosines[0]), first, rtol=0, atol=0)


def test_a_custom_step_object_fits_the_protocol() -> None:
    class Nothing(TrainingStep):
        def step(self, terms, losses):
            return StepResult(torch.zeros(len(terms)), 0)

    step = Nothing()
    step.after_step(lambda: pytest.fail("the default does not compute losses"))
    step.end_epoch(torch.ones(K))
    assert step.step([torch.ones(())], torch.ones(1)).backward_passes == 0
