"""What the docstrings and the README promise, checked where no other test looks.

Each test here failed before the fix it came with: the documentation (or SPEC.md) was
right and the code disagreed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import wxent

F32 = np.float32
X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]], dtype=F32)
Y = np.array([0, 2])
Z = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=F32)
COSTS = 1.0 - np.eye(3)
H = np.linspace(-1.0, 1.0, 8, dtype=F32).reshape(2, 4)
W = np.linspace(-0.5, 0.5, 12, dtype=F32).reshape(3, 4)

# Every loss of wxent.__all__, as loss(x, labels, **options) on fixed NumPy data.
LOSSES: dict[str, Callable[..., Any]] = {
    "softmax_cross_entropy": lambda x, **k: wxent.softmax_cross_entropy(x, Y, **k),
    "softmax_cross_entropy/prob": lambda x, **k: wxent.softmax_cross_entropy(
        x, np.eye(3, dtype=x.dtype)[Y], **k
    ),
    "sigmoid_cross_entropy": lambda x, **k: wxent.sigmoid_cross_entropy(x, Z, **k),
    "sigmoid_focal_loss": lambda x, **k: wxent.sigmoid_focal_loss(x, Z, **k),
    "asymmetric_loss": lambda x, **k: wxent.asymmetric_loss(x, Z, **k),
    "softmax_focal_loss": lambda x, **k: wxent.softmax_focal_loss(x, Y, **k),
    "logit_adjusted_cross_entropy": lambda x, **k: wxent.logit_adjusted_cross_entropy(
        x, Y, [0.2, 0.3, 0.5], **k
    ),
    "expected_cost_loss": lambda x, **k: wxent.expected_cost_loss(x, Y, COSTS, **k),
    "cost_sensitive_cross_entropy": lambda x, **k: wxent.cost_sensitive_cross_entropy(
        x, Y, COSTS, **k
    ),
    "confusion_weighted_cross_entropy": lambda x, **k: wxent.confusion_weighted_cross_entropy(
        x, Y, np.ones((3, 3)), **k
    ),
    "linear_cross_entropy": lambda x, **k: wxent.linear_cross_entropy(
        H.astype(x.dtype), W.astype(x.dtype), Y, **k
    ),
    "sampled_softmax_cross_entropy": lambda x, **k: wxent.sampled_softmax_cross_entropy(
        H.astype(x.dtype), W.astype(x.dtype), Y, num_sampled=2, seed=0, **k
    ),
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["sum", "mean", "weighted_mean"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_numpy_reduced_losses_are_0d_arrays_of_the_logits_dtype(
    name: str, reduction: str, dtype: Any
) -> None:
    # "The loss in the logits' framework and dtype": a 0-d np.ndarray for every
    # reduction (a "sum" was a NumPy scalar, np.float32, unlike "mean").
    loss = LOSSES[name](X.astype(dtype), reduction=reduction)
    assert type(loss) is np.ndarray
    assert loss.shape == () and loss.dtype == dtype
    per_element = LOSSES[name](X.astype(dtype), reduction="none").astype(np.float64)
    if reduction == "sum":
        tol = 1e-2 if dtype == np.float16 else 1e-5
        np.testing.assert_allclose(float(loss), per_element.sum(), rtol=tol)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_numpy_loss_terms_are_two_0d_arrays(name: str) -> None:
    # LossTerms: "two 0-d arrays" of the same dtype (the numerator was a NumPy scalar).
    if name.startswith(("linear", "sampled")):
        loss = wxent.linear_cross_entropy if name.startswith("linear") else None
        if loss is None:
            terms = wxent.loss_terms(
                wxent.sampled_softmax_cross_entropy, H, W, Y, num_sampled=2, seed=0
            )
        else:
            terms = wxent.loss_terms(loss, H, W, Y)
    else:
        terms = wxent.loss_terms(lambda x, y, **k: LOSSES[name](x, **k), X, Y)
    assert type(terms.numerator) is np.ndarray and type(terms.denominator) is np.ndarray
    assert terms.numerator.shape == terms.denominator.shape == ()
    assert terms.numerator.dtype == terms.denominator.dtype == F32


@pytest.mark.parametrize(
    ("function", "args"),
    [(wxent.bayes_decision, (COSTS,)), (wxent.precision, ()), (wxent.predict, ())],
)
def test_loss_terms_refuses_a_function_that_is_not_a_loss(
    function: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    # "TypeError: if loss is not a wxent loss" -- wxent's message, not Python's
    # "got an unexpected keyword argument 'reduction'" from inside the call.
    with pytest.raises(TypeError, match=r"argument `loss`\. Expected a wxent loss function"):
        wxent.loss_terms(function, X, Y, *args)


def test_safe_divide_refuses_arrays_of_two_frameworks() -> None:
    # "denominator: the matching denominator, same framework": a wxent TypeError naming
    # the argument, not array-api-compat's "Multiple namespaces" from inside.
    with pytest.raises(TypeError, match=r"argument `denominator`.*\(torch\)"):
        wxent.safe_divide(torch.tensor(3.0), np.float32(0.0))
    with pytest.raises(TypeError, match=r"argument `denominator`.*\(numpy\)"):
        wxent.safe_divide(np.array(3.0, dtype=F32), torch.tensor(0.0))
    quotient = wxent.safe_divide(torch.tensor([3.0, 1.0]), torch.tensor([0.0, 2.0]))
    assert quotient.tolist() == [0.0, 0.5]
