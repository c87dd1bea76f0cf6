"""``wxent.safe_divide`` with numbers, integer tensors and arguments that are not numbers.

Per-rank terms are often summed on the host (``sum(float(n) for n in ...)``), and a
denominator is often a count. ``safe_divide`` took only arrays: two Python numbers ended
in array-api-compat's "array_namespace requires at least one non-scalar array input",
a number beside a PyTorch tensor in ``AttributeError: 'float' object has no attribute
'dtype'``, integer TensorFlow tensors in TensorFlow's dtype errors, and a string, a list
or ``None`` in framework errors. Numbers are now taken in the other argument's framework
and floating dtype, integers divide in floats everywhere, and anything else is wxent's
``TypeError`` naming the argument.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent


@pytest.mark.parametrize(
    "numerator,denominator,want",
    [(6.0, 4, 1.5), (3, 0, 0.0), (0.0, 0.0, 0.0), (np.float32(3.0), 2.0, 1.5)],
)
def test_numbers(numerator, denominator, want) -> None:
    got = wxent.safe_divide(numerator, denominator)
    assert isinstance(got, np.ndarray) and float(got) == want


@pytest.mark.parametrize(
    "make",
    [
        lambda v: torch.tensor(v),
        lambda v: torch.tensor(v, dtype=torch.float16),
        lambda v: jnp.asarray(v, jnp.bfloat16),
        lambda v: tf.constant(v),
        lambda v: np.float32(v),
    ],
    ids=["torch", "torch-f16", "jax-bf16", "tf", "numpy-scalar"],
)
def test_number_beside_an_array_takes_its_framework_and_dtype(make) -> None:
    array = make(3.0)
    for got, want in (
        (wxent.safe_divide(array, 2.0), 1.5),
        (wxent.safe_divide(array, 0), 0.0),
        (wxent.safe_divide(6, array), 2.0),
    ):
        assert got.dtype == array.dtype
        assert float(got) == want


def test_number_beside_a_tensor_keeps_the_zero_gradient() -> None:
    x = torch.tensor(2.0, requires_grad=True)
    wxent.safe_divide(x, 0.0).backward()
    assert float(x.grad) == 0.0
    assert float(jax.grad(lambda a: wxent.safe_divide(a, 0.0))(jnp.float32(2.0))) == 0.0
    assert float(jax.jit(lambda a: wxent.safe_divide(a, 4))(jnp.float32(2.0))) == 0.5


def test_integer_tensorflow_terms_divide_in_floats() -> None:
    got = wxent.safe_divide(tf.constant([3, 4]), tf.constant([2, 0]))
    np.testing.assert_array_equal(got.numpy(), [1.5, 0.0])
    graph = tf.function(lambda a: wxent.safe_divide(a, 2))
    assert float(graph(tf.constant(3))) == 1.5
    assert float(wxent.safe_divide(tf.constant(3), 2.0)) == 1.5


@pytest.mark.parametrize(
    "numerator,denominator,name",
    [
        ("1", 2.0, "numerator"),
        (None, 2.0, "numerator"),
        ([1.0, 2.0], [1.0, 1.0], "numerator"),
        (torch.tensor(1.0), None, "denominator"),
        (np.float32(1.0), "a", "denominator"),
        (True, 1.0, "numerator"),
    ],
)
def test_non_numbers_are_wxent_errors(numerator, denominator, name) -> None:
    with pytest.raises(TypeError, match=f"Invalid type for argument `{name}`. Expected an array"):
        wxent.safe_divide(numerator, denominator)
