"""uint64 labels of 2**63 and above equal to ``ignore_index`` wherever labels are counted.

``label_counts``, ``LabelCounter`` (and so ``class_weights(counts=counter)``) refused a
uint64 label ``2**64 - 1`` or ``2**63`` before comparing it with ``ignore_index``: an
ignored label is now ignored whatever its value, as the losses ignore it, on NumPy,
PyTorch, TensorFlow and JAX (with x64, where the losses and metrics also failed inside
JAX on such an ``ignore_index``). A label of 2**63 or above that is not ignored is still
an error naming ``labels``, the expectation and the value as given.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent

LABELS = np.array([0, 1, 2, 1, 2], np.uint64)
MARKERS = [2**64 - 1, 2**63]


def _framework(name: str, a: np.ndarray) -> object:
    if name == "torch":
        return torch.from_numpy(a)
    if name == "tf":
        return tf.constant(a)
    if name == "jax":
        return jax.numpy.asarray(a)
    return a


@pytest.mark.parametrize("framework", ["numpy", "torch", "tf", "jax"])
def test_ignored_uint64_labels_are_not_counted(framework: str) -> None:
    with jax.enable_x64(True):  # JAX holds uint64 only with x64
        for marker in MARKERS:
            y = _framework(framework, np.append(LABELS, np.uint64(marker)))
            want = wxent.label_counts(LABELS)
            np.testing.assert_array_equal(wxent.label_counts(y, ignore_index=marker), want)
            got = wxent.label_counts(y, ignore_index=marker, num_classes=4)
            np.testing.assert_array_equal(got, [*want, 0.0])
            counter = wxent.LabelCounter(ignore_index=marker).update(y)
            np.testing.assert_array_equal(counter.counts, want)
            np.testing.assert_allclose(
                wxent.class_weights(counts=counter), wxent.class_weights(LABELS)
            )
            named = wxent.label_counts(y, ignore_index=marker, classes=[2, 1, 0])
            np.testing.assert_array_equal(named, want[::-1])


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_other_uint64_labels_beyond_int64_name_the_value_as_given(framework: str) -> None:
    y = _framework(framework, np.append(LABELS, np.uint64(2**63 + 5)))
    message = (
        r"Invalid value for argument `labels`\. Expected class indices below 2\*\*63 "
        r"\(int64\) or ignore_index=18446744073709551615\. Received: label value "
        r"9223372036854775813$"
    )
    with pytest.raises(ValueError, match=message):
        wxent.label_counts(y, ignore_index=2**64 - 1)
    with pytest.raises(ValueError, match=r"Received: label value 9223372036854775813$"):
        wxent.LabelCounter().update(y)
    with pytest.raises(ValueError, match=r"e\.g\. 9223372036854775813$"):
        wxent.label_counts(y, ignore_index=2**64 - 1, classes=[0, 1, 2])


def test_jax_x64_losses_and_metrics_ignore_uint64_markers() -> None:
    x = np.random.default_rng(36).normal(size=(6, 3)).astype(np.float32)
    loss = lambda a, b, **kw: wxent.softmax_cross_entropy(a, b, **kw)  # noqa: E731
    recall = lambda a, b, **kw: wxent.recall(a, b, average="macro", **kw)  # noqa: E731
    with jax.enable_x64(True):
        y = jax.numpy.asarray(np.array([2**64 - 1, 1, 2, 1, 0, 2], np.uint64))
        # eager (once: each eager JAX operation compiles on its first call) and jitted
        for call, jit in ((loss, False), (loss, True), (recall, True)):
            want = np.asarray(call(x[1:], np.array([1, 2, 1, 0, 2])))
            f = lambda a, b, call=call: call(a, b, ignore_index=2**64 - 1)  # noqa: E731
            got = (jax.jit(f) if jit else f)(jax.numpy.asarray(x), y)
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
