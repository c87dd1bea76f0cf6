"""``torch.compile`` and ``torch.export`` of the metrics and a ``Calibration``, any batch.

* The metrics looked up the shape of ``sample_weight`` in a dict keyed by shapes, built
  on every call: hashing the batch's symbolic size fixed it to the first batch's, so
  every metric (also without ``sample_weight``) compiled again for each new batch size,
  until PyTorch's recompile limit sent it back to eager, and ``torch.export`` with a
  dynamic batch failed ("unhashable type: non-nested SymInt"). They compile twice at
  most now (one static, one dynamic graph), as the losses do, and export.
* A ``Calibration`` with float parameters (every temperature scaling) failed under
  ``torch.compile(dynamic=True, fullgraph=True)``: it asked a symbolic float for its
  ``ndim``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import wxent

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"),
]

SIZES = (64, 48, 32)
COSTS = torch.tensor(1.0 - np.eye(5), dtype=torch.float32)

CASES: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {
    "recall": lambda x, y: wxent.recall(x, y, average="macro"),
    "confusion_matrix, weights": lambda x, y: wxent.confusion_matrix(
        x, y, sample_weight=torch.ones_like(x[:, 0])
    ),
    "expected_cost": lambda x, y: wxent.expected_cost(x, y, COSTS),
    "sigmoid precision, weights": lambda x, y: wxent.precision(
        x, (x > 0.5).float(), sample_weight=torch.ones_like(x)
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_metrics_compile_two_graphs_at_most(name: str) -> None:
    torch._dynamo.reset()
    graphs: list[int] = []

    def count(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        graphs.append(len(gm.graph.nodes))
        return gm.forward

    metric = CASES[name]
    compiled = torch.compile(metric, backend=count)
    for n in SIZES:
        g = torch.Generator().manual_seed(n)
        x, y = torch.randn(n, 5, generator=g), torch.randint(0, 5, (n,), generator=g)
        torch.testing.assert_close(compiled(x, y), metric(x, y))
    assert len(graphs) <= 2, f"{name}: {len(graphs)} graphs for batches of {SIZES}"


@pytest.mark.parametrize(
    "calibration",
    [
        wxent.Calibration(method="temperature", scale=2.0, bias=0.0),
        wxent.Calibration(method="platt", scale=1.5, bias=0.25),
    ],
    ids=["temperature", "platt"],
)
def test_calibration_compiles_with_dynamic_shapes(calibration: wxent.Calibration) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(calibration, fullgraph=True, dynamic=True, backend="eager")
    for n in (4, 7):
        x = torch.randn(n, 3)
        torch.testing.assert_close(compiled(x), calibration(x))


class _Metric(torch.nn.Module):
    def __init__(self, metric: Callable[[torch.Tensor, torch.Tensor], Any]) -> None:
        super().__init__()
        self.metric = metric

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Any:
        return self.metric(x, y)


@pytest.mark.parametrize("name", ["recall", "expected_cost"])
def test_metrics_export_with_a_dynamic_batch(name: str) -> None:
    """``torch.export`` with a batch ``Dim`` failed: "unhashable type: non-nested SymInt"."""
    batch = torch.export.Dim("batch", min=2)
    example = (torch.randn(4, 5), torch.randint(0, 5, (4,)))
    program = torch.export.export(
        _Metric(CASES[name]), example, dynamic_shapes=({0: batch}, {0: batch})
    )
    x, y = torch.randn(9, 5), torch.randint(0, 5, (9,))
    torch.testing.assert_close(program.module()(x, y), CASES[name](x, y))
