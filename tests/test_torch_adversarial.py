"""wxent.torch modules as training loops use them: learned weights, reassigned options."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

import wxent
import wxent.torch as wt

C = 3


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, C, generator=gen)
    labels = torch.tensor([0, 1, 2, 1, 0, 2])
    multi_hot = (torch.rand(6, C, generator=gen) > 0.5).float()
    return logits, labels, multi_hot


def test_parameter_weights_are_learned() -> None:
    logits, labels, multi_hot = _batch()
    weight = torch.nn.Parameter(torch.tensor([1.0, 2.0, 0.5]))
    criterion = wt.SoftmaxCrossEntropy(class_weight=weight)
    assert criterion.class_weight is weight
    assert [p for p in criterion.parameters()] == [weight]
    assert list(criterion.state_dict()) == ["class_weight"]
    criterion(logits, labels).backward()
    free = torch.tensor([1.0, 2.0, 0.5], requires_grad=True)
    want = wxent.softmax_cross_entropy(logits, labels, class_weight=free, class_axis=1)
    (g,) = torch.autograd.grad(want, free)
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad, g)
    # a sigmoid loss with a (1,) Parameter on binary (N,) logits: the reshape keeps the graph
    pos = torch.nn.Parameter(torch.tensor([3.0]))
    binary = wt.SigmoidCrossEntropy(pos_weight=pos)
    binary(logits[:, 0], multi_hot[:, 0]).backward()
    assert pos.grad is not None and float(pos.grad.abs()) > 0
    # an optimizer step moves the weight the module uses
    torch.optim.SGD(criterion.parameters(), lr=0.1).step()
    assert not torch.equal(criterion.class_weight, torch.tensor([1.0, 2.0, 0.5]))


def test_tensor_requiring_grad_that_is_no_parameter_is_refused() -> None:
    weight = torch.tensor([1.0, 2.0, 0.5], requires_grad=True)
    with pytest.raises(TypeError, match=r"`class_weight`.*torch\.nn\.Parameter"):
        wt.SoftmaxCrossEntropy(class_weight=weight)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_weight_tensors(dtype: torch.dtype) -> None:
    logits, labels, _ = _batch()
    weight = torch.tensor([1.0, 2.0, 0.5], dtype=dtype)
    got = wt.SoftmaxCrossEntropy(class_weight=weight)(logits, labels)
    want = wxent.softmax_cross_entropy(logits, labels, class_weight=weight, class_axis=1)
    torch.testing.assert_close(got, want)


def test_options_are_attributes_and_reassignments_are_used() -> None:
    logits, labels, _ = _batch()
    criterion = wt.SoftmaxCrossEntropy(label_smoothing=0.1)
    assert criterion.reduction == "mean" and criterion.label_smoothing == 0.1
    criterion.reduction = "none"
    criterion.label_smoothing = 0.3
    criterion.ignore_index = 1
    want = wxent.softmax_cross_entropy(
        logits, labels, reduction="none", label_smoothing=0.3, ignore_index=1, class_axis=1
    )
    torch.testing.assert_close(criterion(logits, labels), want)
    assert "reduction='none'" in repr(criterion) and "ignore_index=1" in repr(criterion)
    # a deep copy and a pickled module keep the reassigned options
    torch.testing.assert_close(copy.deepcopy(criterion)(logits, labels), want)
    buffer = io.BytesIO()
    torch.save(criterion, buffer)
    buffer.seek(0)
    torch.testing.assert_close(torch.load(buffer, weights_only=False)(logits, labels), want)


def test_reassigned_options_are_checked() -> None:
    criterion = wt.SigmoidFocalLoss(pos_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="reduction"):
        criterion.reduction = "avg"
    with pytest.raises(ValueError, match="label_smoothing"):
        criterion.label_smoothing = 1.5
    with pytest.raises(ValueError, match="gamma"):
        criterion.gamma = -1.0
    with pytest.raises(ValueError, match="pos_weight"):
        criterion.pos_weight = [1.0, -2.0, 3.0]
    with pytest.raises(ValueError, match="neg_weight"):
        criterion.neg_weight = [1.0, 2.0]  # its length disagrees with pos_weight's
    assert criterion.reduction == "mean" and criterion.gamma == 2.0
    torch.testing.assert_close(criterion.pos_weight, torch.tensor([1.0, 2.0, 3.0]))


def test_reassigned_weights_become_buffers_like_the_old_ones() -> None:
    logits, labels, _ = _batch()
    criterion = wt.SoftmaxCrossEntropy(class_weight=[1.0, 1.0, 1.0]).double()
    criterion.class_weight = [1.0, 2.0, 0.5]  # a list, as the constructor takes
    assert criterion.class_weight.dtype == torch.float64
    assert list(criterion.state_dict()) == ["class_weight"]
    want = wxent.softmax_cross_entropy(logits, labels, class_weight=[1.0, 2.0, 0.5], class_axis=1)
    torch.testing.assert_close(criterion(logits, labels).float(), want)
    unweighted = wt.SoftmaxCrossEntropy()
    unweighted.class_weight = np.array([1.0, 2.0, 0.5])
    torch.testing.assert_close(unweighted(logits, labels), want)
    unweighted.class_weight = None
    assert list(unweighted.state_dict()) == []
    learned = torch.nn.Parameter(torch.ones(C))
    unweighted.class_weight = learned
    assert list(unweighted.parameters()) == [learned]
    unweighted.class_weight = [1.0, 2.0, 0.5]  # back to a buffer
    assert list(unweighted.parameters()) == []
    assert "class_weight" in dict(unweighted.named_buffers())


def test_reassigned_option_recompiles_under_torch_compile() -> None:
    torch._dynamo.reset()
    logits, labels, _ = _batch()
    criterion = wt.SoftmaxCrossEntropy()
    compiled = torch.compile(criterion, backend="eager", fullgraph=True)
    compiled(logits, labels)
    criterion.reduction = "sum"
    want = wxent.softmax_cross_entropy(logits, labels, reduction="sum", class_axis=1)
    torch.testing.assert_close(compiled(logits, labels), want)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torch_jit_script_is_refused_clearly() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, C))
    model.add_module("loss", wt.SoftmaxCrossEntropy())
    for target in (wt.SoftmaxCrossEntropy(), model):
        with pytest.raises(TypeError, match=r"cannot be compiled by torch\.jit\.script"):
            torch.jit.script(target)


def test_weights_on_the_meta_device_are_a_value_error() -> None:
    logits, labels, multi_hot = _batch()
    criterion = wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5]).to("meta")
    with pytest.raises(ValueError, match=r"`class_weight`.*meta device"):
        criterion(logits, labels)
    with pytest.raises(ValueError, match=r"`pos_weight`.*meta device"):
        wt.SigmoidCrossEntropy(pos_weight=[1.0, 2.0, 3.0]).to("meta")(logits, multi_hot)
    with pytest.raises(ValueError, match=r"`sample_weight`.*meta device"):
        wt.SoftmaxCrossEntropy()(logits, labels, sample_weight=torch.ones(6, device="meta"))


@pytest.mark.parametrize("learned", [False, True])
def test_replicas_for_data_parallel_take_tensors_as_assigned(learned: bool) -> None:
    # torch.nn.parallel.replicate empties a replica's parameters and buffers, then assigns
    # each copy with setattr: a parameter's copy is a tensor that requires grad
    logits, labels, _ = _batch()
    weight = torch.tensor([1.0, 2.0, 0.5])
    criterion = wt.SoftmaxCrossEntropy(
        class_weight=torch.nn.Parameter(weight) if learned else weight, reduction="sum"
    )
    replica = criterion._replicate_for_data_parallel()
    copied = criterion.class_weight * 1.0
    replica.class_weight = copied
    assert replica.class_weight is copied
    torch.testing.assert_close(replica(logits, labels), criterion(logits, labels))
    if learned:
        replica(logits, labels).backward()
        assert criterion.class_weight.grad is not None
        return
    # a tensor assigned by the user is checked by the next call
    criterion.class_weight = torch.tensor([1.0, -2.0, 0.5])
    with pytest.raises(ValueError, match="class_weight"):
        criterion(logits, labels)


def _traceable_calls() -> list:
    costs = [[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]]
    softmax = wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5])
    focal = wt.SigmoidFocalLoss()
    return [
        lambda x, y, z: wxent.softmax_cross_entropy(x, y),
        lambda x, y, z: wxent.sigmoid_cross_entropy(x, z, pos_weight=[1.0, 2.0, 3.0]),
        lambda x, y, z: wxent.softmax_focal_loss(x, y),
        lambda x, y, z: wxent.sigmoid_focal_loss(x, z),
        lambda x, y, z: wxent.asymmetric_loss(x, z),
        lambda x, y, z: wxent.expected_cost_loss(x, y, costs),
        lambda x, y, z: wxent.linear_cross_entropy(x, torch.eye(C), y),
        lambda x, y, z: wxent.recall(x, z),
        lambda x, y, z: wxent.bayes_decision(x, costs),
        lambda x, y, z: wxent.predict(x),
        lambda x, y, z: softmax(x, y),
        lambda x, y, z: focal(x, z),
    ]


@pytest.mark.filterwarnings("ignore:`torch.jit.trace")  # torch's own deprecation notice
@pytest.mark.parametrize("index", range(len(_traceable_calls())))
def test_torch_jit_trace_is_refused_clearly(index: int) -> None:
    # a trace kept the branches of the example batch and dropped the checks: a label out of
    # range then gave a silently wrong loss (functions) or an indexing error (modules)
    logits, labels, multi_hot = _batch()
    call = _traceable_calls()[index]
    with pytest.raises(TypeError, match=r"torch\.jit\.trace.*torch\.compile or torch\.export"):
        torch.jit.trace(call, (logits, labels, multi_hot))
    call(logits, labels, multi_hot)  # eagerly, after the refusal: as before


def test_torch_export_traces_losses_with_the_traced_semantics() -> None:
    logits, labels, _ = _batch()
    criterion = wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5])
    exported = torch.export.export(criterion, (logits, labels)).module()
    torch.testing.assert_close(exported(logits, labels), criterion(logits, labels))
    other = torch.randn(6, C, dtype=torch.float32)
    torch.testing.assert_close(exported(other, labels), criterion(other, labels))
    # values are not checked in a graph: an out-of-range label is NaN there (documented)
    bad = torch.tensor([0, 1, 5, 1, 0, 2])
    assert torch.isnan(exported(logits, bad))
    with pytest.raises(ValueError, match="labels"):
        criterion(logits, bad)


@pytest.mark.parametrize(
    ("module", "name", "hint"),
    [
        (wt.SoftmaxCrossEntropy(), "weight", "class_weight"),
        (wt.SoftmaxFocalLoss(), "weight", "class_weight"),
        (wt.SigmoidCrossEntropy(), "weight", "pos_weight"),
        (wt.SigmoidCrossEntropy(), "ignore_index", "ignore_label"),
        (wt.SoftmaxCrossEntropy(), "ignore_label", "ignore_index"),
        (wt.SoftmaxCrossEntropy(), "size_average", "reduction"),
        (wt.SoftmaxCrossEntropy(), "pos_weight", "class_weight"),
        (wt.SoftmaxCrossEntropy(), "gamma", "label_smoothing"),
        (wt.ExpectedCostLoss(costs=np.eye(C)), "label_smoothing", "costs"),
    ],
)
def test_options_of_other_losses_are_refused_not_ignored(module, name, hint) -> None:
    # torch's `criterion.weight = w` was stored and never read: a silently unweighted loss
    with pytest.raises(AttributeError, match=rf"`{name}`.*never be read.*{hint}.*Received"):
        setattr(module, name, torch.tensor([1.0, 2.0, 3.0]))
    assert name not in vars(module) and name not in module._buffers


def test_own_attributes_of_modules_and_subclasses_still_assign() -> None:
    class Scaled(wt.SoftmaxCrossEntropy):
        def __init__(self, scale: float) -> None:
            super().__init__(label_smoothing=0.1)
            self.scale = scale

        def forward(self, logits, labels, sample_weight=None):
            return self.scale * super().forward(logits, labels, sample_weight)

    logits, labels, _ = _batch()
    criterion = Scaled(2.0)
    criterion.eval()
    criterion.label_smoothing = 0.2
    want = wxent.softmax_cross_entropy(logits, labels, label_smoothing=0.2, class_axis=1)
    torch.testing.assert_close(criterion(logits, labels), 2.0 * want)
    assert not criterion.training


def test_reset_parameters_restores_weights_after_meta_construction() -> None:
    logits, labels, multi_hot = _batch()
    given = torch.tensor([1.0, 2.0, 0.5])
    with torch.device("meta"):
        from_list = wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5])
        from_cpu_tensor = wt.SigmoidCrossEntropy(pos_weight=given, neg_weight=[2.0, 1.0, 1.0])
        costs = wt.CostSensitiveCrossEntropy(costs=1.0 - np.eye(C), class_weight=given)
    for module in (from_list, from_cpu_tensor, costs):
        assert any(b.device.type == "meta" for b in module.buffers())
        module.to_empty(device="cpu")
        for b in module.buffers():  # what to_empty leaves: any bits at all
            b.fill_(float("nan"))
        module.reset_parameters()
    torch.testing.assert_close(
        from_list(logits, labels), wt.SoftmaxCrossEntropy(class_weight=given)(logits, labels)
    )
    want = wt.SigmoidCrossEntropy(pos_weight=given, neg_weight=[2.0, 1.0, 1.0])
    torch.testing.assert_close(from_cpu_tensor(logits, multi_hot), want(logits, multi_hot))
    torch.testing.assert_close(costs.costs, torch.as_tensor(1.0 - np.eye(C)).float())
    torch.testing.assert_close(costs.class_weight, given)


def test_reset_parameters_restores_what_was_assigned_last() -> None:
    criterion = wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0, 0.5]).double()
    criterion.class_weight = [3.0, 1.0, 1.0]
    criterion.class_weight.zero_()
    criterion.reset_parameters()
    assert criterion.class_weight.dtype == torch.float64
    assert criterion.class_weight.tolist() == [3.0, 1.0, 1.0]
    assigned = torch.tensor([0.25, 0.5, 4.0], dtype=torch.float64)
    criterion.class_weight = assigned
    with torch.no_grad():
        criterion.class_weight.copy_(torch.zeros(3))  # the buffer is the assigned tensor
    criterion.reset_parameters()
    assert criterion.class_weight.tolist() == [0.0, 0.0, 0.0]  # restores the tensor's values
    learned = torch.nn.Parameter(torch.tensor([1.0, 1.0, 1.0]))
    criterion.class_weight = learned
    with torch.no_grad():
        learned.mul_(2.0)
    criterion.reset_parameters()  # a learned weight belongs to its optimizer: left alone
    assert criterion.class_weight is learned and learned.tolist() == [2.0, 2.0, 2.0]
    replica = criterion._replicate_for_data_parallel()
    replica.class_weight = torch.ones(3)
    assert "class_weight" not in replica._given or replica._given is not criterion._given
