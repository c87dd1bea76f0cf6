"""Symbolic sizes under ``torch.compile`` and ``torch.export``: no loss fixes the batch size.

wxent read every dimension as an ``int``, which fixes a symbolic size to the example's:
under ``torch.compile`` each new batch size (or sequence length) compiled the softmax
losses again until torch's limit of 8 variants sent the call back to eager mode, and
``torch.export`` with a dynamic batch dimension failed for every loss ("your code
specialized it to be a constant").
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch._dynamo as dynamo
from torch._dynamo.utils import counters

import wxent
import wxent.torch as wt
from adapter_cases import CASES
from conftest import assert_close

C = 5
COSTS5 = (1.0 - torch.eye(C)).tolist()
W5 = [1.0, 2.0, 0.5, 1.5, 3.0]

#: loss -> (call on logits and labels, label family)
LOSSES: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "softmax": (lambda x, y: wxent.softmax_cross_entropy(x, y), "index"),
    "softmax_weighted": (
        lambda x, y: wxent.softmax_cross_entropy(
            x, y, class_weight=W5, ignore_index=2, label_smoothing=0.1, reduction="weighted_mean"
        ),
        "index",
    ),
    "softmax_probabilities": (lambda x, y: wxent.softmax_cross_entropy(x, y), "probability"),
    "softmax_focal": (lambda x, y: wxent.softmax_focal_loss(x, y, class_weight=W5), "index"),
    "logit_adjusted": (
        lambda x, y: wxent.logit_adjusted_cross_entropy(x, y, [0.3, 0.3, 0.2, 0.1, 0.1]),
        "index",
    ),
    "expected_cost": (lambda x, y: wxent.expected_cost_loss(x, y, COSTS5), "index"),
    "cost_sensitive": (lambda x, y: wxent.cost_sensitive_cross_entropy(x, y, COSTS5), "index"),
    "confusion_weighted": (
        lambda x, y: wxent.confusion_weighted_cross_entropy(x, y, COSTS5),
        "index",
    ),
    "sigmoid": (lambda x, y: wxent.sigmoid_cross_entropy(x, y, pos_weight=W5), "binary"),
    "sigmoid_focal": (lambda x, y: wxent.sigmoid_focal_loss(x, y, alpha=0.25), "binary"),
    "asymmetric": (lambda x, y: wxent.asymmetric_loss(x, y), "binary"),
}


def _labels(family: str, logits: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if family == "binary":
        return (torch.rand(logits.shape, generator=gen) > 0.6).float()
    if family == "probability":
        return torch.softmax(torch.randn(logits.shape, generator=gen), dim=-1)
    return torch.randint(0, logits.shape[-1], logits.shape[:-1], generator=gen)


def _compiled_graphs(fn: Callable[..., Any], shapes: list[tuple[int, ...]], family: str) -> int:
    """Graphs compiled for ``fn`` over ``shapes``; each call is checked against eager mode."""
    dynamo.reset()
    counters.clear()
    compiled = torch.compile(fn, backend="eager")
    for i, shape in enumerate(shapes):
        logits = torch.randn(shape, generator=torch.Generator().manual_seed(i))
        labels = _labels(family, logits, i)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's "recompile limit reached" too
            got = compiled(logits, labels)
        assert_close(got, fn(logits, labels))
    return int(counters["stats"]["unique_graphs"])


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_compiled_losses_do_not_recompile_per_batch_size(name: str) -> None:
    fn, family = LOSSES[name]
    # the first size compiles a static graph, the second a dynamic one that serves the rest
    assert _compiled_graphs(fn, [(n, C) for n in range(4, 14)], family) <= 2


@pytest.mark.parametrize("name", ["softmax_weighted", "sigmoid"])
def test_compiled_losses_do_not_recompile_per_sequence_length(name: str) -> None:
    fn, family = LOSSES[name]
    assert _compiled_graphs(fn, [(2, t, C) for t in range(3, 13)], family) <= 2


def _batch(family: str, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.randn(n, 3, generator=torch.Generator().manual_seed(seed))
    labels = (
        (torch.rand(n, 3, generator=torch.Generator().manual_seed(seed)) > 0.6).float()
        if family == "sigmoid"
        else torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(seed))
    )
    return logits, labels


@pytest.mark.parametrize("name", sorted(CASES))
def test_exported_modules_take_any_batch_size(name: str) -> None:
    family, args, options = CASES[name]
    criterion = getattr(wt, name)(*args, **options)
    batch = torch.export.Dim("batch", min=2)
    logits, labels = _batch(family, 6, 0)
    shapes = ({0: batch}, {0: batch})
    exported = torch.export.export(criterion, (logits, labels), dynamic_shapes=shapes).module()
    for n in (2, 9, 31):
        other_logits, other_labels = _batch(family, n, n)
        assert_close(exported(other_logits, other_labels), criterion(other_logits, other_labels))


def test_exported_losses_take_any_number_of_classes() -> None:
    batch, classes = torch.export.Dim("batch", min=2), torch.export.Dim("classes", min=2)
    for criterion, family in (
        (wt.SoftmaxCrossEntropy(), "index"),
        (wt.SigmoidCrossEntropy(), "binary"),
    ):
        logits = torch.randn(6, 3)
        labels = _labels(family, logits, 0)
        label_dims = {0: batch} if family == "index" else {0: batch, 1: classes}
        shapes = ({0: batch, 1: classes}, label_dims)
        exported = torch.export.export(criterion, (logits, labels), dynamic_shapes=shapes).module()
        for n, c in ((4, 7), (10, 2)):
            other = torch.randn(n, c, generator=torch.Generator().manual_seed(n))
            other_labels = _labels(family, other, n)
            assert_close(exported(other, other_labels), criterion(other, other_labels))


def test_messages_show_sizes_not_symbols() -> None:
    # a shape error raised while compiling with dynamic shapes names the sizes
    compiled = torch.compile(
        lambda x, y: wxent.softmax_cross_entropy(x, y), backend="eager", dynamic=True
    )
    with pytest.raises(Exception, match=r"labels.*\(7, 5\).*labels of shape \(6,\)"):
        compiled(torch.randn(7, 5), torch.zeros(6, dtype=torch.long))


# linear_cross_entropy steps through its rows in chunks: traced, the loop was unrolled
# and the graph guarded on the number of chunks, so each batch with another count
# compiled again (and a compiled training step around it hit the recompile limit and ran
# eagerly), and torch.export with a dynamic batch failed. The sweep is one operator now.
D_LIN, V_LIN, CHUNK = 4, 9, 8


def _linear_batch(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(n)
    hidden = torch.randn(n, D_LIN, generator=gen, requires_grad=True)
    weight = torch.randn(V_LIN, D_LIN, generator=gen, requires_grad=True)
    labels = torch.randint(0, V_LIN, (n,), generator=gen)
    labels[::5] = -100
    return hidden, weight, labels


def _linear_loss(hidden: Any, weight: Any, labels: Any) -> Any:
    return wxent.linear_cross_entropy(
        hidden, weight, labels, class_weight=W5 + [1.0] * (V_LIN - C), ignore_index=-100,
        label_smoothing=0.1, reduction="weighted_mean", chunk_size=CHUNK,
    )  # fmt: skip


def test_compiled_linear_cross_entropy_does_not_recompile_per_chunk_count() -> None:
    dynamo.reset()
    counters.clear()
    compiled = torch.compile(_linear_loss, backend="eager")
    for n in (5, 12, 20, 33, 47, 64, 90, 130, 200, 260):  # 1 to 33 chunks of 8 rows
        hidden, weight, labels = _linear_batch(n)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's "recompile limit reached" too
            # (torch's own deprecation notes while it compiles autograd functions)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            got = compiled(hidden, weight, labels)
        got.backward()
        h2, w2, _ = _linear_batch(n)
        expected = _linear_loss(h2, w2, labels)
        expected.backward()
        assert_close(got.detach(), expected.detach())
        assert_close(hidden.grad, h2.grad)
        assert_close(weight.grad, w2.grad)
    assert int(counters["stats"]["unique_graphs"]) <= 2


def test_exported_linear_cross_entropy_takes_any_batch_size() -> None:
    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(_linear_batch(3)[1].detach())

        def forward(self, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return _linear_loss(hidden, self.weight, labels)

    head = Head()
    batch = torch.export.Dim("batch", min=2)
    hidden, _, labels = _linear_batch(20)
    exported = torch.export.export(
        head, (hidden.detach(), labels), dynamic_shapes=({0: batch}, {0: batch})
    ).module()
    for n in (3, 17, 75):
        other, _, other_labels = _linear_batch(n)
        with torch.no_grad():
            assert_close(exported(other.detach(), other_labels), head(other.detach(), other_labels))


def test_importing_the_torch_adapter_registers_the_sweep_operator() -> None:
    # an exported program holding wxent::linear_sweep runs where `import wxent.torch` ran
    import subprocess
    import sys

    code = "import torch, wxent.torch; print(torch.ops.wxent.linear_sweep.default)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "wxent.linear_sweep" in out.stdout


#: metrics -> (call on logits and labels, label family)
METRICS: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "precision": (lambda x, y: wxent.precision(x, y, average="macro"), "index"),
    "recall, sample weights": (
        lambda x, y: wxent.recall(x, y, sample_weight=torch.ones(x.shape[0])),
        "index",
    ),
    "fbeta_score, binary, sample weights": (
        lambda x, y: wxent.fbeta_score(x, y, sample_weight=torch.ones(x.shape[0])),
        "binary",
    ),
    "confusion_matrix": (lambda x, y: wxent.confusion_matrix(x, y), "index"),
    "expected_cost": (lambda x, y: wxent.expected_cost(x, y, COSTS5), "index"),
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_compiled_metrics_do_not_recompile_per_batch_size(name: str) -> None:
    # the metrics' sample weights were matched against a dict keyed by shapes: hashing
    # the symbolic batch size fixed it, so every batch size compiled again
    fn, family = METRICS[name]
    assert _compiled_graphs(fn, [(n, C) for n in range(4, 14)], family) <= 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gradients", [False, True])
def test_the_sweep_operator_passes_torch_s_operator_checks(dtype: Any, gradients: bool) -> None:
    # schema, fake implementation (shapes and dtypes of every output) and real one agree
    from wxent._fastpaths import linear_torch

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(13, 4, generator=gen).to(dtype)
    w = torch.randn(7, 4, generator=gen).to(dtype)
    b = torch.randn(7, generator=gen)
    y = torch.randint(0, 7, (13,), generator=gen)
    coef = torch.rand(13, generator=gen) if gradients else None
    args = (x, w, b, y, coef, 0.1, 5, gradients, gradients, gradients)
    torch.library.opcheck(linear_torch._sweep_op, args)
