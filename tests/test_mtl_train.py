"""Facts about the training loop, its bookkeeping and the diagnostics."""

import copy
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from mtlbook.multitask import (
    DWA,
    FAMO,
    MGDA,
    CrossStitch,
    EqualWeights,
    GradNorm,
    HardSharing,
    Mean,
    MMoE,
    PCGrad,
    UncertaintyWeighting,
    conflict_rate,
    delta_m,
    evaluate,
    gradient_cosines,
    l2_coupling,
    representation_gramian,
    task_gradients,
    train_multitask,
    train_single_task,
)

D_IN, HIDDEN, K, STEPS = 3, 6, 3, 6


def make_model(depth: int = 1, n_tasks: int = K) -> HardSharing:
    torch.manual_seed(0)
    layers = [
        nn.Sequential(nn.Linear(D_IN, HIDDEN), nn.Tanh()),
        nn.Sequential(nn.Linear(HIDDEN, HIDDEN), nn.Tanh()),
    ]
    heads = [nn.Linear(HIDDEN, 1) for _ in range(n_tasks)]
    return HardSharing(layers, heads, shared_depth=depth).double()


def make_batches(n_batches: int = 3, n_tasks: int = K) -> list:
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(n_batches):
        x = torch.randn(8, D_IN, generator=g, dtype=torch.float64)
        ys = [
            torch.randn(8, 1, generator=g, dtype=torch.float64) + x[:, :1] * (k - 1)
            for k in range(n_tasks)
        ]
        batches.append((x, ys))
    return batches


LOSSES = [F.mse_loss] * K


def manual_run(model, batches, reduce, steps=STEPS, lr=0.1):
    """Plain training on reduce(stack of task losses); returns the loss trace."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    trace = []
    for (x, ys), _ in zip(itertools.cycle(batches), range(steps), strict=False):
        losses = torch.stack(
            [F.mse_loss(y, t) for y, t in zip(model(x), ys, strict=True)]
        )
        opt.zero_grad()
        reduce(losses).backward()
        opt.step()
        trace.append(losses.detach().numpy())
    return np.stack(trace)


def run(model, lr=0.1, steps=STEPS, batches=None, **kwargs):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return train_multitask(
        model,
        make_batches() if batches is None else batches,
        LOSSES,
        steps=steps,
        optimizer=opt,
        **kwargs,
    )


def assert_same_models(a, b):
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


def test_equal_weights_is_summed_loss_training_step_for_step():
    model, ref = make_model(), make_model()
    history = run(model, scalarizer=EqualWeights(K))
    trace = manual_run(ref, make_batches(), lambda losses: losses.sum())
    np.testing.assert_allclose(history.task_losses, trace, rtol=1e-12, atol=0)
    assert_same_models(model, ref)


@pytest.mark.parametrize("use_representation", [False, True])
def test_mean_aggregator_is_mean_loss_training(use_representation):
    model, ref = make_model(), make_model()
    history = run(model, aggregator=Mean(), use_representation=use_representation)
    trace = manual_run(ref, make_batches(), lambda losses: losses.mean())
    np.testing.assert_allclose(history.task_losses, trace, rtol=1e-12, atol=0)
    assert_same_models(model, ref)
    np.testing.assert_allclose(history.weights, np.full((STEPS, K), 1 / K))


def test_backward_passes_are_counted():
    assert (run(make_model(), scalarizer=EqualWeights(K)).backward_passes == 1).all()
    famo = run(make_model(), scalarizer=FAMO(K))
    assert (famo.backward_passes == 1).all()
    assert (run(make_model(), aggregator=MGDA()).backward_passes == K).all()
    ub = run(make_model(), aggregator=MGDA(), use_representation=True)
    assert (ub.backward_passes == 2).all()  # per-task views: one call for all K
    model = make_model()
    gradnorm = GradNorm(K, model.last_shared_parameters(), alpha=1.5)
    assert (run(model, scalarizer=gradnorm).backward_passes == K + 1).all()


def test_traces_have_the_documented_shapes_and_weight_scales():
    model = make_model()
    gradnorm = run(model, scalarizer=GradNorm(K, model.last_shared_parameters()))
    assert gradnorm.task_losses.shape == gradnorm.weights.shape == (STEPS, K)
    np.testing.assert_allclose(gradnorm.weights.sum(axis=1), K)
    assert not np.allclose(gradnorm.weights[-1], 1.0)  # the weights moved
    mgda = run(make_model(), aggregator=MGDA())
    np.testing.assert_allclose(mgda.weights.sum(axis=1), 1.0)
    assert (mgda.weights >= 0).all()


def test_famo_after_step_hook_moves_its_weights():
    famo = FAMO(K)
    run(make_model(), scalarizer=famo)
    assert not torch.allclose(famo.weights, torch.full((K,), 1 / K).double())


def test_dwa_gets_one_end_epoch_per_completed_pass():
    dwa = DWA(K)
    run(make_model(), scalarizer=dwa, batches=make_batches(2), steps=7)
    assert int(dwa.epochs_seen) == 3  # restarts at steps 2, 4 and 6


def test_uncertainty_weights_must_be_in_the_optimizer():
    model, uw = make_model(), UncertaintyWeighting(K)
    with pytest.raises(ValueError, match="optimizer"):
        run(model, scalarizer=uw)
    opt = torch.optim.SGD([*model.parameters(), *uw.parameters()], lr=0.1)
    train_multitask(
        model, make_batches(), LOSSES, steps=3, optimizer=opt, scalarizer=uw
    )
    assert uw.log_vars.detach().abs().sum() > 0


def test_diagnostics_match_an_independent_measurement():
    model = make_model()
    initial = copy.deepcopy(model)
    history = run(model, scalarizer=EqualWeights(K), diag_every=2)
    np.testing.assert_array_equal(history.diag_steps, [0, 2, 4])
    assert history.cosines.shape == (3, K, K)
    x, ys = make_batches()[0]
    losses = torch.stack(
        [F.mse_loss(y, t) for y, t in zip(initial(x), ys, strict=True)]
    )
    G = task_gradients(losses, initial.shared_parameters())
    np.testing.assert_allclose(history.cosines[0], gradient_cosines(G).numpy())
    assert history.conflict_rate[0] == conflict_rate(G)


def test_aggregators_on_other_models_train_and_lower_the_loss():
    for model in (
        CrossStitch(make_model(0).towers[0], make_model().heads).double(),
        MMoE(3, lambda: nn.Linear(D_IN, HIDDEN), K, D_IN, make_model().heads).double(),
    ):
        history = run(
            model,
            lr=0.02,
            steps=20,
            aggregator=PCGrad(torch.Generator().manual_seed(0)),
            batches=make_batches(1),
        )
        assert history.task_losses[-1].sum() < history.task_losses[0].sum()
    mmoe = MMoE(3, lambda: nn.Linear(D_IN, HIDDEN), K, D_IN, make_model().heads)
    ub = run(mmoe.double(), aggregator=MGDA(), use_representation=True)
    np.testing.assert_allclose(ub.weights.sum(axis=1), 1.0)


def test_l2_coupling_regularizer_pulls_independent_towers_together():
    distances = []
    for lam in (0.0, 1.0):
        model = make_model(depth=0)
        with torch.no_grad():  # start the towers apart
            for k, tower in enumerate(model.towers):
                tower[0][0].weight.add_(0.3 * k)
        run(
            model,
            scalarizer=EqualWeights(K),
            regularizer=lambda m, lam=lam: lam * l2_coupling(m.towers),
        )
        distances.append(l2_coupling(model.towers).item())
    assert distances[1] < distances[0]


def test_single_task_baseline_starts_from_the_same_weights():
    model = make_model(depth=1)
    baseline = model.single_task(2)
    opt = torch.optim.SGD(baseline.parameters(), lr=0.1)
    single = train_single_task(
        baseline, make_batches(), F.mse_loss, task=2, steps=4, optimizer=opt
    )
    multi = run(model, scalarizer=EqualWeights(K))
    assert single.task_losses.shape == (4, 1)
    assert single.task_losses[0, 0] == multi.task_losses[0, 2]
    assert single.task_losses[-1, 0] < single.task_losses[0, 0]


def test_evaluate_weights_batches_by_size():
    model = make_model()
    batches = make_batches()
    batches.append((batches[0][0][:3], [y[:3] for y in batches[0][1]]))
    scores = evaluate(model, batches, [F.mse_loss] * K)
    x = torch.cat([b[0] for b in batches])
    with torch.no_grad():
        outputs = model(x)
    for k in range(K):
        target = torch.cat([b[1][k] for b in batches])
        assert scores[k] == pytest.approx(F.mse_loss(outputs[k], target).item())


# --- errors -------------------------------------------------------------------


def test_exactly_one_of_scalarizer_or_aggregator():
    with pytest.raises(ValueError, match="exactly one"):
        run(make_model())
    with pytest.raises(ValueError, match="exactly one"):
        run(make_model(), scalarizer=EqualWeights(K), aggregator=Mean())


def test_number_of_loss_fns_must_match_heads():
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="heads"):
        train_multitask(
            model,
            make_batches(),
            LOSSES[:2],
            steps=2,
            optimizer=opt,
            scalarizer=EqualWeights(2),
        )


def test_nan_loss_names_the_step_and_task():
    def nan_after_two(y, t, calls=[0]):  # noqa: B006 (a call counter)
        calls[0] += 1
        return F.mse_loss(y, t) * (float("nan") if calls[0] > 2 else 1.0)

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    match = "the loss is nan at step 2: task 0; training diverged"
    with pytest.raises(ValueError, match=match):
        train_multitask(
            model,
            make_batches(),
            [nan_after_two, F.mse_loss, F.mse_loss],
            steps=4,
            optimizer=opt,
            scalarizer=EqualWeights(K),
        )


def test_aggregator_needs_shared_parameters():
    with pytest.raises(ValueError, match="no shared parameters"):
        run(make_model(depth=0), aggregator=MGDA())


def test_representation_needs_an_aggregator_and_a_trunk():
    with pytest.raises(ValueError, match="needs an aggregator"):
        run(make_model(), scalarizer=EqualWeights(K), use_representation=True)
    with pytest.raises(ValueError, match="representation"):
        run(make_model(depth=0), aggregator=MGDA(), use_representation=True)


def test_targets_must_be_a_list_per_task():
    batches = [(x, torch.cat(ys, dim=1)) for x, ys in make_batches()]
    with pytest.raises(ValueError, match="unbind"):
        run(make_model(), scalarizer=EqualWeights(K), batches=batches)


def test_a_one_shot_iterator_that_runs_out_is_an_error():
    with pytest.raises(ValueError, match="ran out"):
        run(make_model(), scalarizer=EqualWeights(K), batches=iter(make_batches(2)))


# --- diagnostics --------------------------------------------------------------


def test_cosines_and_conflict_rate_on_hand_made_gradients():
    G = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor(
        [[1.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]], dtype=torch.float64
    )
    torch.testing.assert_close(gradient_cosines(G), expected)
    assert conflict_rate(G) == pytest.approx(1 / 3)  # only pair (0, 2) conflicts
    assert conflict_rate(G[:2]) == 0.0
    zero = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    assert gradient_cosines(zero)[0, 1] == 0.0


@given(
    st.lists(
        st.lists(st.floats(-10, 10), min_size=4, max_size=4), min_size=2, max_size=5
    ),
    st.floats(0.01, 100.0),
)
def test_cosines_are_symmetric_bounded_and_scale_free(rows, scale):
    G = torch.tensor(rows, dtype=torch.float64)
    cos = gradient_cosines(G)
    torch.testing.assert_close(cos, cos.T)
    assert (cos.abs() <= 1.0).all()
    torch.testing.assert_close(gradient_cosines(scale * G), cos)
    # flipping every gradient flips no pair's sign
    assert conflict_rate(-G) == conflict_rate(G)


def test_conflict_rate_needs_two_tasks():
    with pytest.raises(ValueError, match="at least 2 tasks"):
        conflict_rate(torch.ones(1, 3))


def test_delta_m_of_the_baseline_is_zero_and_signs_follow_direction():
    base = [0.8, 0.2]
    assert delta_m(base, base, [True, False]) == 0.0
    # accuracy up 0.8 → 0.9 (better): −(0.1/0.8)·100 = −12.5
    assert delta_m([0.9], [0.8], True) == pytest.approx(-12.5)
    # error down 0.2 → 0.1 (better): (−0.1/0.2)·100 = −50
    assert delta_m([0.1], [0.2], False) == pytest.approx(-50.0)
    assert delta_m([0.9, 0.1], base, [True, False]) == pytest.approx(-31.25)
    # the same changes count against the model when the direction is reversed
    assert delta_m([0.9, 0.1], base, [False, True]) == pytest.approx(31.25)


def test_delta_m_validates_inputs():
    with pytest.raises(ValueError, match="baseline"):
        delta_m([1.0, 2.0], [1.0], True)
    with pytest.raises(ValueError, match="zero"):
        delta_m([1.0], [0.0], True)
    with pytest.raises(ValueError, match="higher_is_better"):
        delta_m([1.0, 2.0], [1.0, 2.0], [True])


def _three_task_model() -> tuple[HardSharing, list[int]]:
    """A shared trunk and three linear heads that count their backward passes."""
    torch.manual_seed(0)
    model = HardSharing(
        [nn.Sequential(nn.Linear(4, 8), nn.Tanh())],
        [nn.Linear(8, 1) for _ in range(3)],
        shared_depth=1,
    )
    calls = [0, 0, 0]
    for k, head in enumerate(model.heads):
        head.register_full_backward_hook(
            lambda *_, k=k: calls.__setitem__(k, calls[k] + 1)
        )
    return model, calls


def test_loss_list_backpropagates_each_head_once_and_matches_stacked() -> None:
    model, calls = _three_task_model()
    x = torch.randn(5, 4)
    terms = [out.square().mean() for out in model(x)]
    gram_list = representation_gramian(terms, model.representation)
    assert calls == [1, 1, 1]
    gram_stacked = representation_gramian(torch.stack(terms), model.representation)
    # A stacked vector's backward reaches every head for every task: K more each.
    assert calls == [1 + 3, 1 + 3, 1 + 3]
    torch.testing.assert_close(gram_list, gram_stacked, rtol=0, atol=0)
    # Per-task views of z: one backward call gives every row, each head once.
    gram_views = representation_gramian(terms, model.task_representations)
    assert calls == [5, 5, 5]
    torch.testing.assert_close(gram_views, gram_list)
    shared = list(model.trunk.parameters())
    torch.testing.assert_close(
        task_gradients(terms, shared),
        task_gradients(torch.stack(terms), shared),
        rtol=0,
        atol=0,
    )


def test_loss_list_must_hold_scalars() -> None:
    model, _ = _three_task_model()
    outputs = model(torch.randn(5, 4))
    with pytest.raises(ValueError, match="scalar"):
        representation_gramian([o.square() for o in outputs], model.representation)


def test_nan_inputs_are_named_as_the_cause_not_the_learning_rate():
    model = make_model()
    x, ys = make_batches(1)[0]
    x = x.clone()
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"at step 0: task 0; x \(the batch input\)"):
        train_multitask(
            model,
            [(x, ys)],
            [F.mse_loss] * K,
            steps=1,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            scalarizer=EqualWeights(K),
        )
