"""Facts about the multi-task models: what is shared, how big, how they mix."""

import copy
import itertools

import pytest
import torch
from torch import nn

from mtlbook.multitask import CrossStitch, HardSharing, MMoE, l2_coupling

D_IN, HIDDEN, K = 3, 5, 3


def linear_count(a: int, b: int) -> int:
    return a * b + b


def make_layers(depth: int = 3) -> list[nn.Module]:
    sizes = [D_IN] + [HIDDEN] * depth
    return [
        nn.Sequential(nn.Linear(a, b), nn.Tanh()).double()
        for a, b in itertools.pairwise(sizes)
    ]


def make_heads(n: int = K) -> list[nn.Module]:
    return [nn.Linear(HIDDEN, 1).double() for _ in range(n)]


def ids(params) -> set[int]:
    return {id(p) for p in params}


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def test_depth_zero_has_no_shared_parameters():
    model = HardSharing(make_layers(), make_heads(), shared_depth=0)
    assert model.shared_parameters() == []
    model(torch.randn(4, D_IN, dtype=torch.float64))
    assert model.representation is None


def test_full_depth_towers_share_the_trunk_objects():
    layers = make_layers()
    model = HardSharing(layers, make_heads(), shared_depth=len(layers))
    assert all(model.trunk[i] is layers[i] for i in range(len(layers)))
    trunk = ids(model.shared_parameters())
    assert trunk == ids(p for layer in layers for p in layer.parameters())
    for k in range(K):
        assert list(model.towers[k].parameters()) == []
        assert ids(model.task_parameters(k)) == ids(model.heads[k].parameters())
    # every task's output depends on the very same trunk tensors
    outputs = model(torch.randn(4, D_IN, dtype=torch.float64))
    first = model.trunk[0][0].weight
    for out in outputs:
        (grad,) = torch.autograd.grad(out.sum(), first, retain_graph=True)
        assert grad.abs().sum() > 0


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_parameter_count_follows_formula(depth):
    model = HardSharing(make_layers(3), make_heads(), shared_depth=depth)
    per_layer = [linear_count(D_IN, HIDDEN)] + [linear_count(HIDDEN, HIDDEN)] * 2
    shared = sum(per_layer[:depth])
    per_task = sum(per_layer[depth:]) + linear_count(HIDDEN, 1)
    assert sum(p.numel() for p in model.parameters()) == shared + K * per_task
    assert sum(p.numel() for p in model.shared_parameters()) == shared
    for k in range(K):
        assert sum(p.numel() for p in model.task_parameters(k)) == per_task


def test_towers_start_equal_but_are_separate_copies():
    model = HardSharing(make_layers(), make_heads(), shared_depth=1)
    a, b = model.towers[0][0][0].weight, model.towers[1][0][0].weight
    assert a is not b
    assert torch.equal(a, b)


@pytest.mark.parametrize("depth", [-1, 4])
def test_shared_depth_out_of_range_is_a_value_error(depth):
    with pytest.raises(ValueError, match="shared_depth"):
        HardSharing(make_layers(3), make_heads(), shared_depth=depth)


def test_representation_is_the_trunk_output():
    model = HardSharing(make_layers(), make_heads(), shared_depth=2)
    x = torch.randn(4, D_IN, dtype=torch.float64)
    model(x)
    torch.testing.assert_close(model.representation, model.trunk(x))


def test_single_task_copy_reproduces_that_tasks_output():
    model = HardSharing(make_layers(), make_heads(), shared_depth=1)
    x = torch.randn(6, D_IN, dtype=torch.float64)
    outputs = model(x)
    for k in range(K):
        (single,) = model.single_task(k)(x)
        torch.testing.assert_close(single, outputs[k], rtol=0, atol=0)


def test_last_shared_parameters_needs_a_shared_layer():
    model = HardSharing(make_layers(), make_heads(), shared_depth=2)
    assert ids(model.last_shared_parameters()) == ids(model.trunk[1].parameters())
    with pytest.raises(ValueError, match="shared_depth"):
        HardSharing(make_layers(), make_heads(), 0).last_shared_parameters()


def test_cross_stitch_at_identity_equals_independent_towers():
    layers, heads = make_layers(), make_heads()
    stitched = CrossStitch(layers, copy.deepcopy(heads), init_self=1.0).double()
    towers = HardSharing(layers, copy.deepcopy(heads), shared_depth=0)
    x = torch.randn(7, D_IN, dtype=torch.float64)
    for a, b in zip(stitched(x), towers(x), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_cross_stitch_init_rows_sum_to_one_and_mix_tasks():
    model = CrossStitch(make_layers(), make_heads(), init_self=0.9).double()
    for alpha in model.stitches:
        torch.testing.assert_close(alpha.sum(dim=1), torch.ones(K, dtype=alpha.dtype))
        assert torch.allclose(torch.diagonal(alpha), torch.full((K,), 0.9).double())
    # task 0's loss now reaches task 1's tower
    out = model(torch.randn(4, D_IN, dtype=torch.float64))
    (grad,) = torch.autograd.grad(out[0].sum(), model.towers[1][0][0].weight)
    assert grad.abs().sum() > 0


def test_cross_stitch_rejects_bad_init():
    with pytest.raises(ValueError, match="init_self"):
        CrossStitch(make_layers(), make_heads(), init_self=1.5)


def test_l2_coupling_is_zero_for_copies_and_sums_pairwise_distances():
    tower = nn.Linear(3, 2).double()
    towers = [copy.deepcopy(tower) for _ in range(3)]
    assert l2_coupling(towers).item() == 0.0
    with torch.no_grad():
        towers[1].weight.add_(1.0)  # 6 entries differ by 1 from towers 0 and 2
        towers[2].bias.add_(2.0)  # 2 entries differ by 2 from towers 0 and 1
    # pairs (0,1): 6; (0,2): 8; (1,2): 6 + 8
    assert l2_coupling(towers).item() == pytest.approx(6 + 8 + 14)


def test_l2_coupling_gradient_pulls_towers_together():
    a, b = nn.Linear(3, 2).double(), nn.Linear(3, 2).double()
    l2_coupling([a, b]).backward()
    torch.testing.assert_close(a.weight.grad, 2 * (a.weight - b.weight).detach())


def test_l2_coupling_rejects_different_architectures():
    with pytest.raises(ValueError, match="same architecture"):
        l2_coupling([nn.Linear(3, 2), nn.Linear(3, 4)])


def make_mmoe(n_experts: int = 4) -> MMoE:
    return MMoE(
        n_experts,
        lambda: nn.Sequential(nn.Linear(D_IN, HIDDEN), nn.ReLU()),
        n_tasks=K,
        gate_input=D_IN,
        towers=make_heads(),
    ).double()


def test_mmoe_gates_sum_to_one_and_representation_stacks_experts():
    model = make_mmoe()
    x = torch.randn(9, D_IN, dtype=torch.float64)
    gates = model.gate_weights(x)
    assert gates.shape == (K, 9, 4)
    assert (gates >= 0).all()
    torch.testing.assert_close(gates.sum(dim=2), torch.ones(K, 9, dtype=gates.dtype))
    outputs = model(x)
    assert [o.shape for o in outputs] == [(9, 1)] * K
    assert model.representation.shape == (9, 4, HIDDEN)


def test_mmoe_output_is_the_gate_weighted_expert_mixture():
    model = make_mmoe()
    x = torch.randn(5, D_IN, dtype=torch.float64)
    gates = model.gate_weights(x)
    experts = [e(x) for e in model.experts]
    for k, out in enumerate(model(x)):
        mixture = sum(gates[k, :, e : e + 1] * experts[e] for e in range(4))
        torch.testing.assert_close(out, model.towers[k](mixture))


def test_mmoe_factory_experts_differ_and_module_experts_are_copies():
    assert not torch.equal(
        make_mmoe().experts[0][0].weight, make_mmoe().experts[0][0].weight
    )
    model = make_mmoe()
    assert not torch.equal(model.experts[0][0].weight, model.experts[1][0].weight)
    copies = MMoE(2, nn.Linear(D_IN, HIDDEN), K, D_IN, make_heads())
    assert torch.equal(copies.experts[0].weight, copies.experts[1].weight)
    assert copies.experts[0].weight is not copies.experts[1].weight


def test_mmoe_validates_towers_and_gate_input():
    with pytest.raises(ValueError, match="towers"):
        MMoE(2, nn.Linear(D_IN, HIDDEN), 2, D_IN, make_heads(3))
    model = make_mmoe()
    with pytest.raises(ValueError, match="gate_input"):
        model(torch.randn(2, D_IN + 1, dtype=torch.float64))
