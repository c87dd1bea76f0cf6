"""An ``ignore_label`` that 16-bit float labels cannot hold exactly (``-0.1``).

Labels of float16 or bfloat16 hold ``-0.1`` rounded (``-0.0999755859375`` in float16).
The losses compared the labels in their own dtype, where the marker rounds the same way,
and ignored them; the metrics, ``tune_thresholds`` and NumPy bfloat16 labels compared
the widened labels (float32, float64) with ``-0.1`` as given, matched nothing, and raised
that the labels the user had marked were outside ``[0, 1]``. The marker is now compared
as the labels hold it, everywhere: the results equal those of the exact marker ``-1``.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent
from conftest import assert_close

X = np.random.default_rng(34).normal(size=(5, 3)).astype(np.float32)
Z = np.array([[1, 0, -1], [0, 1, 1], [-1, -1, -1], [0, 0, 1], [1, -1, 0]], np.float32)
MARKER = -0.1

DTYPES = {
    "numpy": {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16},
    "torch": {"float16": torch.float16, "bfloat16": torch.bfloat16},
    "jax": {"float16": jnp.float16, "bfloat16": jnp.bfloat16},
    "tensorflow": {"float16": tf.float16, "bfloat16": tf.bfloat16},
}


def _arrays(framework: str, dtype: str, marker: float) -> tuple[object, object]:
    labels = np.where(Z < 0, marker, Z)
    dt = DTYPES[framework][dtype]
    if framework == "torch":
        return torch.tensor(X), torch.tensor(labels).to(dt)
    if framework == "jax":
        return jnp.asarray(X), jnp.asarray(labels).astype(dt)
    if framework == "tensorflow":
        return tf.constant(X), tf.cast(tf.constant(labels), dt)
    return X, labels.astype(dt)


CALLS = {
    "sigmoid_cross_entropy": lambda x, z, m: wxent.sigmoid_cross_entropy(x, z, ignore_label=m),
    "asymmetric_loss": lambda x, z, m: wxent.asymmetric_loss(x, z, ignore_label=m),
    "recall": lambda x, z, m: wxent.recall(x, z, ignore_label=m, average="macro"),
    "fbeta_score": lambda x, z, m: wxent.fbeta_score(x, z, ignore_label=m),
    "confusion_matrix": lambda x, z, m: wxent.confusion_matrix(x, z, ignore_label=m),
    "tune_thresholds": lambda x, z, m: wxent.tune_thresholds(x, z, ignore_label=m),
    "accumulator": lambda x, z, m: (
        wxent.MetricAccumulator(ignore_label=m).update(x, z).compute()["recall"]
    ),
}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("framework", sorted(DTYPES))
@pytest.mark.parametrize("name", sorted(CALLS))
def test_inexact_marker_ignores_what_it_marks(name: str, framework: str, dtype: str) -> None:
    call = CALLS[name]
    got = call(*_arrays(framework, dtype, MARKER), MARKER)
    want = call(*_arrays(framework, dtype, -1.0), -1.0)
    assert_close(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64))


def test_float32_labels_of_float64_logits() -> None:
    """float32 labels hold -0.1 as float32; float64 logits widen them to float64."""
    labels = torch.tensor(np.where(Z < 0, MARKER, Z).astype(np.float32))
    logits = torch.tensor(X, dtype=torch.float64)
    got = wxent.recall(logits, labels, ignore_label=MARKER)
    want = wxent.recall(logits, torch.tensor(Z), ignore_label=-1.0)
    assert float(got) == pytest.approx(float(want))


@pytest.mark.parametrize("name", ["sigmoid_cross_entropy", "recall", "tune_thresholds"])
def test_message_names_the_marker_as_given(name: str) -> None:
    """A real bad label is still reported, with ``ignore_label`` as the user wrote it."""
    x, z = _arrays("torch", "float16", MARKER)
    z = z.clone()
    z[0, 0] = 2.0
    with pytest.raises(ValueError, match=r"ignore_label=-0\.1\b.*label value 2\.0 \(1 such"):
        CALLS[name](x, z, MARKER)
