"""torch.fx.symbolic_trace: every wxent function and wxent.torch module is one graph node.

A symbolic trace hands ``torch.fx.Proxy`` objects to the code it runs; wxent's checks
read shapes and values a proxy does not have (torch raised "symbolically traced
variables cannot be used as inputs to control flow" from inside wxent). Each public
function and module records one node instead, which calls wxent on the real tensors
when the traced module runs: values, gradients and checks as in eager mode.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import wxent
import wxent.torch as wt
from adapter_cases import CASES, COSTS, snake
from conftest import assert_close as _assert_close

C = 3
N = 6


def assert_close(actual: Any, expected: Any) -> None:
    _assert_close(actual.detach(), expected.detach())


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, C, generator=gen, dtype=torch.float64) * 2
    labels = torch.tensor([0, 1, 2, 1, 0, 2])
    multi_hot = (torch.rand(N, C, generator=gen) > 0.5).double()
    return logits, labels, multi_hot


W = [1.0, 2.0, 0.5]

#: public function -> a call on (logits, labels, multi-hot labels); every one that
#: takes arrays has a case (test below).
CALLS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "softmax_cross_entropy": lambda x, y, z: wxent.softmax_cross_entropy(
        x, y, class_weight=torch.tensor(W, dtype=torch.float64), label_smoothing=0.1
    ),
    "softmax_focal_loss": lambda x, y, z: wxent.softmax_focal_loss(x, y, gamma=2.0),
    "logit_adjusted_cross_entropy": lambda x, y, z: wxent.logit_adjusted_cross_entropy(
        x, y, [0.6, 0.3, 0.1]
    ),
    "adjust_logits": lambda x, y, z: wxent.adjust_logits(x, [0.6, 0.3, 0.1], tau=0.5),
    "sigmoid_cross_entropy": lambda x, y, z: wxent.sigmoid_cross_entropy(
        x, z, pos_weight=W, reduction="none"
    ),
    "sigmoid_focal_loss": lambda x, y, z: wxent.sigmoid_focal_loss(x, z, alpha=0.25),
    "asymmetric_loss": lambda x, y, z: wxent.asymmetric_loss(x, z, gamma_neg=4.0),
    "expected_cost_loss": lambda x, y, z: wxent.expected_cost_loss(x, y, COSTS),
    "cost_sensitive_cross_entropy": lambda x, y, z: wxent.cost_sensitive_cross_entropy(x, y, COSTS),
    "confusion_weighted_cross_entropy": lambda x, y, z: wxent.confusion_weighted_cross_entropy(
        x, y, COSTS
    ),
    "linear_cross_entropy": lambda x, y, z: wxent.linear_cross_entropy(
        x, torch.eye(C, dtype=torch.float64) * 2 + 0.5, y, label_smoothing=0.1
    ),
    "sampled_softmax_cross_entropy": lambda x, y, z: wxent.sampled_softmax_cross_entropy(
        x, torch.eye(C, dtype=torch.float64) * 2 + 0.5, y, num_sampled=2, seed=3
    ),
    "safe_divide": lambda x, y, z: wxent.safe_divide(x.sum(), z.sum()),
    "confusion_matrix": lambda x, y, z: wxent.confusion_matrix(x, y),
    "expected_cost": lambda x, y, z: wxent.expected_cost(x, y, COSTS),
    "fbeta_score": lambda x, y, z: wxent.fbeta_score(x, z, beta=2.0, average="macro"),
    "precision": lambda x, y, z: wxent.precision(x, z),
    "recall": lambda x, y, z: wxent.recall(x, y, average=None),
    "bayes_decision": lambda x, y, z: wxent.bayes_decision(x, COSTS),
    "predict": lambda x, y, z: wxent.predict(x, threshold=[0.0, 0.5, -0.5]),
    "unweight_logits": lambda x, y, z: wxent.unweight_logits(x, pos_weight=W),
    "expected_calibration_error": lambda x, y, z: wxent.expected_calibration_error(x, y),
    "label_counts": lambda x, y, z: wxent.label_counts(y, num_classes=C),
    "class_weights": lambda x, y, z: wxent.class_weights(y, num_classes=C),
    "class_prior": lambda x, y, z: wxent.class_prior(y, num_classes=C),
    "pos_weights": lambda x, y, z: wxent.pos_weights(z),
    "tune_thresholds": lambda x, y, z: wxent.tune_thresholds(x, z),
    "calibrate": lambda x, y, z: wxent.calibrate(x, y).temperature,
}

#: Public functions that take no arrays (numbers and class names only).
NO_ARRAYS = ("cost_matrix", "cost_threshold", "loss_terms")


def test_every_public_function_has_a_case() -> None:
    functions = [n for n in wxent.__all__ if inspect.isfunction(getattr(wxent, n))]
    assert sorted(functions) == sorted([*CALLS, *NO_ARRAYS])


def _nodes(graph_module: torch.fx.GraphModule) -> list[torch.fx.Node]:
    return [n for n in graph_module.graph.nodes if n.op == "call_function"]


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _leaves(v)]
    if hasattr(value, "_asdict"):
        return _leaves(tuple(value))
    return [value]


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_traced_function_is_one_node_and_computes_as_eager(name: str) -> None:
    call = CALLS[name]
    traced = torch.fx.symbolic_trace(call)
    targets = [n.target for n in _nodes(traced)]
    assert getattr(wxent, name) in targets
    # nothing of wxent's own steps was traced into: its node is the only wxent one
    assert [t for t in targets if getattr(t, "__module__", "").startswith("wxent")] == [
        getattr(wxent, name)
    ]
    for seed in (0, 1):  # other data than the trace saw (none: a proxy has no values)
        x, y, z = _batch(seed)
        x1 = x.clone().requires_grad_(True)
        x2 = x.clone().requires_grad_(True)
        got, want = traced(x1, y, z), call(x2, y, z)
        for g, w in zip(_leaves(got), _leaves(want), strict=True):
            if isinstance(w, torch.Tensor):
                assert_close(g, w)
            else:
                np.testing.assert_allclose(np.asarray(g), np.asarray(w))
        loss = _leaves(want)[0]
        if isinstance(loss, torch.Tensor) and loss.requires_grad:
            (g1,) = torch.autograd.grad(_leaves(got)[0].sum(), x1)
            (g2,) = torch.autograd.grad(loss.sum(), x2)
            assert_close(g1, g2)
    # re-tracing the traced module records the same node (the target is wxent's function)
    again = torch.fx.symbolic_trace(traced)
    assert getattr(wxent, name) in [n.target for n in _nodes(again)]


def test_a_traced_loss_checks_values_when_it_runs() -> None:
    traced = torch.fx.symbolic_trace(CALLS["softmax_cross_entropy"])
    x, _, z = _batch()
    with pytest.raises(ValueError, match=r"`labels`.*\[0, 3\).*5"):
        traced(x, torch.tensor([0, 1, 5, 1, 0, 2]), z)


def test_the_loss_matches_torch_when_traced_inside_a_model() -> None:
    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, C).double()
            self.register_buffer("weight", torch.tensor(W, dtype=torch.float64))

        def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            logits = self.layer(features)
            return wxent.softmax_cross_entropy(
                logits, labels, class_weight=self.weight, reduction="weighted_mean"
            )

    model = Model()
    traced = torch.fx.symbolic_trace(model)
    features = torch.randn(N, 4, dtype=torch.float64)
    _, labels, _ = _batch()
    want = F.cross_entropy(model.layer(features), labels, weight=model.weight)
    got = traced(features, labels)
    assert_close(got, want)
    got.backward()
    grads = [p.grad.clone() for p in traced.layer.parameters()]
    model.zero_grad()
    want.backward()
    for g, w in zip(grads, [p.grad for p in model.layer.parameters()], strict=True):
        assert_close(g, w)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_module_is_one_node_that_calls_it(name: str) -> None:
    family, args, options = CASES[name]
    criterion = getattr(wt, name)(*args, **options).double()

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.criterion = criterion

        def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return self.criterion(logits, labels)

    model = Model()
    traced = torch.fx.symbolic_trace(model)
    nodes = _nodes(traced)
    assert len(nodes) == 1 and nodes[0].target is wt._call
    x, y, z = _batch()
    labels = z if family == "sigmoid" else y
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    got, want = traced(x1, labels), getattr(wxent, snake(name))(x2, labels, *args, **options)
    assert_close(got, want)
    got.backward()
    want.backward()
    assert_close(x1.grad, x2.grad)
    # an option assigned after tracing is read when the traced module runs
    criterion.reduction = "sum"
    assert_close(traced(x, labels), getattr(wxent, snake(name))(x, labels, *args, **{
        **options, "reduction": "sum"}))  # fmt: skip


def test_projection_modules_are_one_node() -> None:
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(N, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 1, 4, 3, 2, 1])

    class Head(torch.nn.Module):
        def __init__(self, criterion: torch.nn.Module) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(5, 4, generator=gen).double())
            self.criterion = criterion

        def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.criterion(h, self.weight, y)

    for criterion in (
        wt.LinearCrossEntropy(label_smoothing=0.1),
        wt.SampledSoftmaxCrossEntropy(num_sampled=3, seed=11),
    ):
        head = Head(criterion)
        traced = torch.fx.symbolic_trace(head)
        nodes = _nodes(traced)
        assert len(nodes) == 1 and nodes[0].target is wt._call
        assert traced.criterion is criterion
        sampled = isinstance(criterion, wt.SampledSoftmaxCrossEntropy)
        if sampled:  # assigning the seed starts the module's draws again: the same classes
            criterion.seed = 11
        got = traced(hidden, labels)
        if sampled:
            criterion.seed = 11
        want = head(hidden, labels)
        assert_close(got, want)
        if isinstance(criterion, wt.LinearCrossEntropy):
            reference = F.cross_entropy(hidden @ head.weight.T, labels, label_smoothing=0.1)
            assert_close(got, reference)


def test_what_a_graph_cannot_hold_is_named() -> None:
    def numpy_weight(x: torch.Tensor, y: torch.Tensor) -> Any:
        return wxent.softmax_cross_entropy(x, y, class_weight=np.ones(C))

    with pytest.raises(
        TypeError, match=r"`class_weight`.*torch\.fx.*softmax_cross_entropy.*ndarray"
    ):
        torch.fx.symbolic_trace(numpy_weight)

    def terms(x: torch.Tensor, y: torch.Tensor) -> Any:
        return wxent.loss_terms(wxent.softmax_cross_entropy, x, y)

    with pytest.raises(TypeError, match=r"`loss`.*torch\.fx.*loss_terms.*function"):
        torch.fx.symbolic_trace(terms)


def test_stateful_objects_refuse_a_proxy_by_name() -> None:
    x, y, _ = _batch()
    accumulator = wxent.MetricAccumulator()
    counter = wxent.LabelCounter()
    calibration = wxent.calibrate(x, y)
    for call, name in (
        (lambda a, b: accumulator.update(a, b), "logits"),
        (lambda a, b: counter.update(b), "labels"),
        (lambda a, b: calibration(a), "logits"),
    ):
        with pytest.raises(TypeError, match=rf"`{name}`.*torch\.fx\.symbolic_trace.*Proxy"):
            torch.fx.symbolic_trace(call)
    # the refused calls counted nothing
    accumulator.update(x, y)
    counter.update(y)
    once = wxent.MetricAccumulator().update(x, y).compute()
    assert sorted(accumulator.compute()) == sorted(once)
    for key, value in once.items():
        np.testing.assert_allclose(np.asarray(accumulator.compute()[key]), np.asarray(value))
    np.testing.assert_array_equal(np.asarray(counter.counts), [2, 2, 2])
