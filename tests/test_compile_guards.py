"""``torch.compile`` of a wxent loss compiles twice at most: one static, one dynamic graph.

A training loop hands the compiled loss new tensors every step (weights made per batch,
such as ``sample_weight``, or class weights recomputed from counts) and a smaller last
batch. What the compiled code guards on decides whether that compiles again:

* the host-check cache of per-class weights took ``id(weight)`` while tracing, so the
  graph guarded on that very tensor: every new weight tensor compiled the loss again
  (until PyTorch's recompile limit, then the loss ran eagerly);
* the per-thread stack of :func:`wxent.loss_terms` requests was made by the first call,
  so the first graph's guard on its absence failed at once: every loss compiled twice
  for one shape;
* ``linear_cross_entropy`` stepped through its rows with ``range(0, n, chunk)`` and its
  ``"mean"`` count was ``float(n)``: both fixed the batch size, so each new size
  compiled again.

The backend here counts the graphs handed to it (a graph break would be a graph more).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch

import wxent
import wxent.torch as wt

# PyTorch's own warnings while compiling autograd functions (not about wxent)
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
]

C, D = 10, 8
SIZES = (64, 64, 48, 64, 32)


def _data(n: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(n)
    y = torch.randint(0, C, (n,), generator=g)
    y[0] = -100
    z = (torch.rand(n, C, generator=g) > 0.5).float()
    z[0, 0] = -1.0
    return {
        "x": torch.randn(n, C, generator=g, requires_grad=True),
        "y": y,
        "z": z,
        "w": torch.rand(C, generator=g) + 0.5,  # a new tensor every step
        "s": torch.rand(n, generator=g) + 0.5,
        "cost": 1.0 - torch.eye(C),
        "h": torch.randn(n, D, generator=g, requires_grad=True),
        "W": torch.randn(C, D, generator=g),
    }


_CRITERION = wt.SoftmaxCrossEntropy(class_weight=torch.rand(C) + 0.5, label_smoothing=0.1)

CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "softmax_cross_entropy": lambda d: wxent.softmax_cross_entropy(d["x"], d["y"].clamp(min=0)),
    "softmax_cross_entropy, weights": lambda d: wxent.softmax_cross_entropy(
        d["x"], d["y"], class_weight=d["w"], sample_weight=d["s"], ignore_index=-100,
        label_smoothing=0.1, reduction="weighted_mean",
    ),
    "sigmoid_cross_entropy, weights": lambda d: wxent.sigmoid_cross_entropy(
        d["x"], d["z"], pos_weight=d["w"], sample_weight=d["s"], ignore_label=-1.0
    ),
    "softmax_focal_loss, weights": lambda d: wxent.softmax_focal_loss(
        d["x"], d["y"], class_weight=d["w"], ignore_index=-100
    ),
    "cost_sensitive_cross_entropy": lambda d: wxent.cost_sensitive_cross_entropy(
        d["x"], d["y"].clamp(min=0), d["cost"], sample_weight=d["s"]
    ),
    "linear_cross_entropy, mean": lambda d: wxent.linear_cross_entropy(
        d["h"], d["W"], d["y"], ignore_index=-100, class_weight=d["w"]
    ),
    "loss_terms": lambda d: wxent.loss_terms(
        wxent.softmax_cross_entropy, d["x"], d["y"], ignore_index=-100
    ).numerator,
    "wxent.torch criterion": lambda d: _CRITERION(d["x"], d["y"].clamp(min=0)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_new_tensors_and_batch_sizes_compile_two_graphs_at_most(name):
    torch._dynamo.reset()
    graphs: list[int] = []

    def count(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        graphs.append(len(gm.graph.nodes))
        return gm.forward

    loss = CASES[name]
    compiled = torch.compile(loss, backend=count)
    for n in SIZES:
        d = _data(n)
        value = compiled(d)
        value.backward()
        expected = loss(_data(n))
        torch.testing.assert_close(value.detach(), expected.detach())
    assert len(graphs) <= 2, f"{name}: {len(graphs)} graphs for batches of {SIZES}"


def test_a_new_thread_compiles_one_graph_for_one_shape():
    """The first call on a thread compiles the graph its later calls run."""
    torch._dynamo.reset()
    graphs: list[int] = []

    def count(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        graphs.append(len(gm.graph.nodes))
        return gm.forward

    compiled = torch.compile(CASES["softmax_cross_entropy"], backend=count)
    errors: list[BaseException] = []

    def train() -> None:
        try:
            for _ in range(3):
                compiled(_data(64)).backward()
        except BaseException as error:  # (reported on the test's thread)
            errors.append(error)

    thread = threading.Thread(target=train)
    thread.start()
    thread.join()
    assert not errors, errors
    assert len(graphs) == 1, f"{len(graphs)} graphs for three calls of one shape"


_COSTS = (1.0 - torch.eye(C)).tolist()

_COSTS = (1.0 - torch.eye(C)).tolist()

#: criteria built inside the compiled function, as a model's forward often builds its loss
BUILT_INSIDE: dict[str, Callable[[], Any]] = {
    "SoftmaxCrossEntropy": lambda: wt.SoftmaxCrossEntropy(
        class_weight=[1.0] * C, label_smoothing=0.1, ignore_index=-100
    ),
    "SigmoidFocalLoss": lambda: wt.SigmoidFocalLoss(alpha=[0.25] * C, gamma=1.5),
    "CostSensitiveCrossEntropy": lambda: wt.CostSensitiveCrossEntropy(_COSTS),
}


@pytest.mark.parametrize("name", list(BUILT_INSIDE))
def test_a_criterion_built_inside_a_compiled_function_breaks_no_graph(name):
    # its constructor checked the options by a probe call on NumPy arrays, which the
    # compiler cannot trace: about 30 graph breaks and a graph per call; the call that
    # follows checks the same options while compiling
    torch._dynamo.reset()
    graphs: list[int] = []

    def count(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        graphs.append(len(gm.graph.nodes))
        return gm.forward

    def step(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return BUILT_INSIDE[name]()(x, labels)

    compiled = torch.compile(step, backend=count, fullgraph=True)
    for n in SIZES:
        d = _data(n)
        labels = d["z"].clamp(min=0) if name == "SigmoidFocalLoss" else d["y"].clamp(min=0)
        torch.testing.assert_close(compiled(d["x"], labels), step(d["x"], labels))
    assert len(graphs) <= 2, f"{name}: {len(graphs)} graphs for batches of {SIZES}"


# (after the error, the compiler runs the step's frame eagerly and traces the frames it
# calls one by one: its own warning about array-api-compat's cache is no concern here)
@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")
def test_a_bad_option_of_a_criterion_built_while_compiling_gets_wxent_s_message():
    torch._dynamo.reset()

    def step(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return wt.SoftmaxCrossEntropy(label_smoothing=1.5)(x, labels)

    with pytest.raises(Exception, match=r"label_smoothing.*Expected a float in \[0, 1\]"):
        torch.compile(step, backend="eager")(torch.randn(4, C), torch.zeros(4, dtype=torch.long))
