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
