"""An option of another metric assigned to a ``wxent.keras`` metric that lacks it.

``ExpectedCost(costs).threshold = 0.5`` or ``Recall().ignore_index = -1`` was stored and
never read: the metric went on scoring without it. Names that are options of wxent's
metric functions, of the other ``wxent.keras`` metrics or of Keras' own metrics, but not
of this metric, are now an ``AttributeError`` naming the attribute and the metric's
options; the metric's own options, the user's other attributes, Keras' tracking, the
config and ``reset_state`` are unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

CASES = [  # metric, foreign option, a word of the hint (or None)
    ("ExpectedCost", "threshold", "Bayes decisions"),
    ("ExpectedCost", "ignore_index", "sample_weight"),
    ("ExpectedCost", "num_classes", None),
    ("ExpectedCost", "average", None),
    ("Recall", "ignore_index", "ignore_label"),
    ("Recall", "costs", "ExpectedCost"),
    ("Precision", "beta", None),
    ("Recall", "thresholds", "`threshold`"),
    ("FBetaScore", "top_k", None),
    ("Precision", "validate", None),
]


def _metric(name: str):  # type: ignore[no-untyped-def]
    import wxent.keras as wk

    if name == "ExpectedCost":
        return wk.ExpectedCost(1.0 - np.eye(3))
    return getattr(wk, name)(num_classes=3, average="macro")


@pytest.mark.parametrize(("name", "option", "hint"), CASES)
def test_an_option_of_another_metric_is_refused(name: str, option: str, hint: str | None) -> None:
    metric = _metric(name)
    config = metric.get_config()
    paths = [var.path for var in metric.variables]
    with pytest.raises(AttributeError) as caught:
        setattr(metric, option, -1)
    text = str(caught.value)
    assert f"`{option}` of wxent.keras.{name}" in text, text
    assert "Expected one of its options: " in text and f"Received: {option}=-1" in text, text
    assert hint is None or hint in text, text
    assert option not in metric.__dict__
    assert metric.get_config() == config
    assert [var.path for var in metric.variables] == paths


def test_own_options_and_other_attributes_still_work() -> None:
    import keras

    recall, cost = _metric("Recall"), _metric("ExpectedCost")
    recall.ignore_label = -1.0  # its own options: checked and used
    recall.threshold = 0.5
    cost.class_axis = -1
    recall.my_tag = cost.my_tag = "run-37"  # any other new attribute is the user's own
    assert recall.get_config()["ignore_label"] == -1.0 and recall.get_config()["threshold"] == 0.5
    recall.update_state(np.array([[1.0, 0.0, -1.0]]), np.array([[1.0, 0.2, 3.0]]))
    cost.update_state(np.array([0, 2]), np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert float(keras.ops.convert_to_numpy(recall.result())) == 1.0  # class 2 ignored
    for metric in (recall, cost):
        metric.reset_state()
        assert float(keras.ops.convert_to_numpy(metric.result())) == 0.0
        assert metric.my_tag == "run-37"
        assert type(metric).from_config(metric.get_config()).get_config() == metric.get_config()
