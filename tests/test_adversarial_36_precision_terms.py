"""The terms of a loss over many 16-bit logits (``wxent.loss_terms``).

They were returned in the logits' dtype: for float16 logits a count of 65520 or more
valid elements was ``inf``, so the loss of a batch of 70000 float16 rows was 0 (or NaN
with weights), with a zero gradient, and bfloat16 rounded the count 70000 to 70144. The
terms are now in the compute dtype (float32 for 16-bit logits) on every framework, the
projection losses included, and their quotient is the float32 loss.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch

import wxent
from conftest import ARRAY_OF, as_float

RNG = np.random.default_rng(36)
ROWS = 70_000  # past float16's 65504
X16 = RNG.normal(size=(ROWS, 2)).astype(np.float16)
Y = RNG.integers(0, 2, ROWS)
TAGS = (RNG.random((ROWS, 2)) < 0.3).astype(np.float16)

FRAMEWORKS = ARRAY_OF


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_loss_terms_of_many_float16_logits(framework: str) -> None:
    make = FRAMEWORKS[framework]
    x = X16.astype(np.float64)
    cases = [
        (wxent.softmax_cross_entropy, make(Y), Y, {}),
        (wxent.sigmoid_cross_entropy, make(TAGS), TAGS, {"pos_weight": [2.0, 3.0]}),
        (wxent.softmax_cross_entropy, make(Y), Y, {"reduction": "weighted_mean",
                                                     "sample_weight": np.full(ROWS, 3.0)}),
    ]  # fmt: skip
    for loss, labels, host, options in cases:
        terms = wxent.loss_terms(loss, make(X16), labels, **options)
        for term in terms:
            assert "float32" in str(term.dtype), (loss.__name__, term.dtype)
        want = float(loss(x, host, **options))
        assert abs(as_float(wxent.safe_divide(*terms)) - want) <= 1e-5 * want, loss.__name__
        assert as_float(terms.denominator) in (ROWS, 2 * ROWS, 3 * ROWS)  # counted exactly


def test_loss_terms_of_bfloat16_logits_count_exactly() -> None:
    terms = wxent.loss_terms(wxent.softmax_cross_entropy, X16.astype(ml_dtypes.bfloat16), Y)
    assert terms.denominator.dtype == np.float32 and float(terms.denominator) == ROWS


def test_loss_terms_gradients_reach_float16_logits() -> None:
    logits = torch.tensor(X16, requires_grad=True)
    terms = wxent.loss_terms(wxent.softmax_cross_entropy, logits, torch.from_numpy(Y))
    wxent.safe_divide(*terms).backward()
    assert logits.grad.dtype == torch.float16
    want = torch.tensor(X16, dtype=torch.float64, requires_grad=True)
    wxent.softmax_cross_entropy(want, torch.from_numpy(Y)).backward()
    np.testing.assert_allclose(logits.grad.double(), want.grad, atol=1e-7, rtol=2e-3)


def test_loss_terms_of_the_projection_with_float16_inputs() -> None:
    inputs = torch.from_numpy(RNG.normal(size=(ROWS, 4)).astype(np.float16))
    weight = torch.from_numpy(RNG.normal(size=(2, 4)).astype(np.float16))
    terms = wxent.loss_terms(wxent.linear_cross_entropy, inputs, weight, torch.from_numpy(Y))
    assert terms.denominator.dtype == torch.float32 and float(terms.denominator) == ROWS
    want = wxent.linear_cross_entropy(inputs.double(), weight.double(), torch.from_numpy(Y))
    assert abs(float(wxent.safe_divide(*terms)) - float(want)) <= 2e-3 * float(want)
