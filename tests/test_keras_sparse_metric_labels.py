"""wxent.keras Recall, Precision and FBetaScore given softmax logits and class indices.

These metrics count sigmoid outputs. Class indices ``(B,)`` beside ``(B, C)`` logits
were expanded to ``(B, 1)`` for a Dense(1) output and then refused by
``wxent.confusion_matrix`` with a message that named a ``y_true`` of shape ``(B, 1)``
(not what was passed) and offered "integer class indices of shape (B,)" as a form it
expected — the form that had just been refused. The error now says what the metric
counts and where class indices are counted.
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent
import wxent.keras as wk

LOGITS = np.random.default_rng(34).normal(size=(4, 3)).astype(np.float32)


@pytest.mark.parametrize("metric", [wk.Recall, wk.Precision, wk.FBetaScore])
@pytest.mark.parametrize("shape", [(4,), (4, 1)])
def test_class_indices_beside_softmax_logits(metric, shape) -> None:
    labels = np.array([0, 2, 1, 2]).reshape(shape)
    m = metric()
    pattern = (
        rf"Invalid value for argument `y_true`. Expected 0/1 labels of the shape of "
        rf"`y_pred` \(4, 3\): {metric.__name__} counts sigmoid outputs .*wxent\.recall.* "
        rf"Received: y_true of shape \({shape[0]},{' 1' if len(shape) == 2 else ''}\)$"
    )
    with pytest.raises(ValueError, match=pattern):
        m.update_state(labels, LOGITS)


def test_dense1_outputs_still_take_flat_labels() -> None:
    """(B, 1) logits with (B,) or (B, 1) labels are the binary case, as before."""
    logits = LOGITS[:, :1]
    labels = np.array([1.0, 0.0, 1.0, 0.0])
    want = float(wxent.recall(logits[:, 0], labels))
    for y in (labels, labels[:, None]):
        m = wk.Recall()
        m.update_state(y, logits)
        assert float(m.result()) == pytest.approx(want)
