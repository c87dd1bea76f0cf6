"""Host integer labels given to JAX without x64: values JAX's int32 cannot hold raise.

``jax.numpy.asarray`` narrows 64-bit host integers to 32 bits when ``jax_enable_x64`` is
off, and they wrapped: a label ``2**32 + 1`` counted as class ``1`` and ``2**32 - 1``
became the ignore marker ``-1`` (losses with list labels; metrics with NumPy or list
labels, eagerly and in their compiled programs), a silently wrong number.
"""

from __future__ import annotations

import numpy as np
import pytest

import wxent

jax = pytest.importorskip("jax")
jnp = jax.numpy

pytestmark = pytest.mark.skipif(
    bool(jax.config.jax_enable_x64), reason="JAX keeps int64 labels with x64 on"
)

MESSAGE = "Expected integers that u?int32 holds"


@pytest.mark.parametrize("bad", [2**32 + 1, 2**32 - 1, -(2**31) - 1])
def test_loss_list_labels_beyond_int32_raise(bad):
    logits = jnp.zeros((2, 3), jnp.float32)
    with pytest.raises(ValueError, match=MESSAGE):
        wxent.softmax_cross_entropy(logits, [0, bad], ignore_index=-1)
    with pytest.raises(ValueError, match=MESSAGE):
        wxent.sigmoid_cross_entropy(logits, [[0, 1, bad], [0, 0, 1]], ignore_label=-1)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64])
def test_metric_numpy_labels_beyond_int32_raise_eager_and_compiled(dtype):
    logits = jnp.zeros((2, 3), jnp.float32)
    good = np.array([0, 2], dtype)
    for _ in range(2):  # the second call runs the compiled program
        expected = np.asarray(wxent.confusion_matrix(logits, good, ignore_index=1))
    bad = np.array([0, 2**32 + 1], dtype)
    for _ in range(2):
        with pytest.raises(ValueError, match=MESSAGE):
            wxent.confusion_matrix(logits, bad, ignore_index=1)
    np.testing.assert_array_equal(wxent.confusion_matrix(logits, good, ignore_index=1), expected)


def test_metric_list_labels_beyond_int32_raise():
    logits = jnp.zeros((2, 3), jnp.float32)
    with pytest.raises(ValueError, match=MESSAGE):
        wxent.precision(logits, [[0, 1, 2**32 - 1], [1, 0, 1]], ignore_label=-1)


def test_float64_labels_beyond_float32_no_framework_warning():
    logits = jnp.zeros((2, 3), jnp.float32)
    labels = np.array([[0.0, 1.0, 1e300], [1.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="0/1 labels"):
        wxent.precision(logits, labels)  # (an overflow RuntimeWarning of the cast before)
