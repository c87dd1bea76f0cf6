"""``wxent.safe_divide`` of terms whose shapes do not broadcast.

Per-class terms summed on different ranks (or a numerator and the wrong denominator)
of shapes ``(3,)`` and ``(2,)`` failed inside the framework: NumPy's broadcast
``ValueError``, PyTorch's ``RuntimeError``, JAX's ``TypeError``, TensorFlow's
``InvalidArgumentError``. They are wxent's ``ValueError`` naming the denominator now;
shapes that broadcast still divide.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import wxent

MAKERS = {"numpy": np.asarray, "torch": torch.tensor, "jax": jnp.asarray}


@pytest.mark.parametrize("framework", [*sorted(MAKERS), "tensorflow"])
def test_shapes_that_do_not_broadcast_are_named(framework: str) -> None:
    if framework == "tensorflow":
        import tensorflow as tf

        make = tf.constant
    else:
        make = MAKERS[framework]
    num, den = make(np.ones(3, np.float32)), make(np.zeros(2, np.float32))
    with pytest.raises(
        ValueError, match=r"argument `denominator`.*numerator's \(3,\).*shape \(2,\)"
    ):
        wxent.safe_divide(num, den)


@pytest.mark.parametrize("framework", sorted(MAKERS))
def test_shapes_that_broadcast_divide(framework: str) -> None:
    make = MAKERS[framework]
    out = wxent.safe_divide(
        make(np.ones((2, 1), np.float32)), make(np.array([2.0, 0.0], np.float32))
    )
    np.testing.assert_array_equal(np.asarray(out), [[0.5, 0.0], [0.5, 0.0]])
