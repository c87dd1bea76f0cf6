"""Bad input: every message names the argument, the expectation and what was received."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent

X = np.zeros((4, 3), dtype=np.float32)
Y = np.array([0, 1, 2, 1])
Z = np.zeros((4, 3), dtype=np.float32)


def test_logits_not_floating():
    with pytest.raises(TypeError, match=r"argument `logits`. Expected a floating dtype.*int64"):
        wxent.softmax_cross_entropy(np.zeros((4, 3), dtype=np.int64), Y)


def test_logits_not_an_array():
    with pytest.raises(TypeError, match=r"argument `logits`. Expected an array .*list"):
        wxent.sigmoid_cross_entropy([[0.0]], [[1.0]])


def test_logits_scalar():
    with pytest.raises(ValueError, match=r"argument `logits`. Expected an array with at least"):
        wxent.sigmoid_cross_entropy(np.ones((), dtype=np.float32), np.ones(()))


def test_labels_other_framework():
    with pytest.raises(TypeError, match=r"argument `labels`. Expected an array of the same"):
        wxent.softmax_cross_entropy(tf.constant(X), Y)


def test_integer_label_shape():
    with pytest.raises(
        ValueError,
        match=r"argument `labels`. Expected integer class indices of "
        r"shape \(4,\).*Received: integer labels of shape \(3,\)",
    ):
        wxent.softmax_cross_entropy(X, np.array([0, 1, 2]))


def test_integer_one_hot_labels_get_a_hint():
    with pytest.raises(ValueError, match=r"must have a floating dtype"):
        wxent.softmax_cross_entropy(X, np.eye(3, dtype=np.int64)[Y])


def test_float_label_shape():
    with pytest.raises(ValueError, match=r"Expected floating probabilities of shape \(4, 3\)"):
        wxent.softmax_cross_entropy(X, np.zeros((4, 2), dtype=np.float32))


def test_sigmoid_label_shape():
    with pytest.raises(
        ValueError,
        match=r"argument `labels`. Expected the shape of `logits` "
        r"\(4, 3\).*labels of shape \(4,\)",
    ):
        wxent.sigmoid_cross_entropy(X, np.zeros(4, dtype=np.float32))


def test_bool_labels_for_softmax():
    with pytest.raises(
        TypeError,
        match=r"argument `labels`. Expected integer class indices or "
        r"floating probabilities. Received: labels with dtype bool",
    ):
        wxent.softmax_cross_entropy(X, np.zeros(4, dtype=bool))


@pytest.mark.parametrize("name", ["pos_weight", "neg_weight"])
def test_per_class_vector_length(name):
    with pytest.raises(
        ValueError,
        match=rf"argument `{name}`. Expected a scalar or one value per "
        r"class, shape \(3,\).*Received: .* shape \(4,\)",
    ):
        wxent.sigmoid_cross_entropy(X, Z, **{name: np.ones(4)})


def test_class_weight_length():
    with pytest.raises(ValueError, match=r"argument `class_weight`.*shape \(2,\)"):
        wxent.softmax_cross_entropy(X, Y, class_weight=[1.0, 2.0])


def test_sample_weight_shape_softmax():
    with pytest.raises(
        ValueError,
        match=r"argument `sample_weight`. Expected a scalar or the "
        r"loss shape \(4,\). Received: .*\(4, 3\)",
    ):
        wxent.softmax_cross_entropy(X, Y, sample_weight=np.ones((4, 3)))


def test_unknown_reduction():
    with pytest.raises(
        ValueError,
        match=r"argument `reduction`. Expected one of \"none\", \"sum\", "
        r"\"mean\", \"weighted_mean\". Received: reduction='avg'",
    ):
        wxent.softmax_cross_entropy(X, Y, reduction="avg")


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_label_smoothing_range(value):
    with pytest.raises(
        ValueError,
        match=rf"argument `label_smoothing`. Expected a float in "
        rf"\[0, 1\]. Received: label_smoothing={value}",
    ):
        wxent.softmax_cross_entropy(X, Y, label_smoothing=value)


def test_label_smoothing_type():
    with pytest.raises(TypeError, match=r"argument `label_smoothing`. Expected a float"):
        wxent.sigmoid_cross_entropy(X, Z, label_smoothing="0.1")


@pytest.mark.parametrize("axis", [2, -3])
def test_class_axis_range(axis):
    with pytest.raises(
        ValueError,
        match=rf"argument `class_axis`. Expected an axis of `logits` "
        rf"in \[-2, 1\].*Received: class_axis={axis}",
    ):
        wxent.softmax_cross_entropy(X, Y, class_axis=axis)


def test_class_axis_type():
    with pytest.raises(TypeError, match=r"argument `class_axis`. Expected an integer"):
        wxent.softmax_cross_entropy(X, Y, class_axis=1.0)


def test_validate_type():
    with pytest.raises(TypeError, match=r"argument `validate`. Expected a bool"):
        wxent.softmax_cross_entropy(X, Y, validate="yes")


def test_ignore_index_type():
    with pytest.raises(TypeError, match=r"argument `ignore_index`. Expected an integer or None"):
        wxent.softmax_cross_entropy(X, Y, ignore_index=-1.5)


def test_ignore_label_inside_unit_interval():
    with pytest.raises(ValueError, match=r"argument `ignore_label`. Expected a value outside"):
        wxent.sigmoid_cross_entropy(X, Z, ignore_label=0.5)


# ---------------------------------------------------------------------------- values


def test_label_out_of_range(eager_backend):
    for bad in (3, -1):
        y = np.array([0, bad, 1, 1])
        with pytest.raises(
            ValueError,
            match=rf"argument `labels`. Expected class indices in "
            rf"\[0, 3\). Received: label value {bad}",
        ):
            eager_backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b), X, y)


def test_label_out_of_range_mentions_ignore_index():
    with pytest.raises(ValueError, match=r"\[0, 3\) or ignore_index=-100"):
        wxent.softmax_cross_entropy(X, np.array([0, -1, 1, 1]), ignore_index=-100)


def test_sigmoid_label_out_of_unit_interval(eager_backend):
    z = Z.copy()
    z[1, 1] = 2.0
    with pytest.raises(
        ValueError,
        match=r"argument `labels`. Expected values in \[0, 1\]. "
        r"Received: label value 2.0",
    ):
        eager_backend.call(lambda a, b: wxent.sigmoid_cross_entropy(a, b), X, z)


def test_sigmoid_missing_label_without_ignore_label():
    z = Z.copy()
    z[0, 0] = -1.0
    with pytest.raises(ValueError, match=r"values in \[0, 1\]. Received: label value -1.0"):
        wxent.sigmoid_cross_entropy(X, z)
    assert float(wxent.sigmoid_cross_entropy(X, z, ignore_label=-1)) > 0


def test_negative_probability_labels(eager_backend):
    t = np.full((4, 3), 1 / 3, dtype=np.float32)
    t[2, 0] = -0.5
    with pytest.raises(ValueError, match=r"Expected finite non-negative probabilities"):
        eager_backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b), X, t)


def test_nan_logits(eager_backend):
    x = X.copy()
    x[1, 2] = np.nan
    with pytest.raises(
        ValueError,
        match=r"argument `logits`. Expected numbers without NaN. "
        r"Received: 1 NaN value",
    ):
        eager_backend.call(lambda a, b: wxent.softmax_cross_entropy(a, b), x, Y)


@pytest.mark.parametrize(
    ("weight", "received"),
    [
        ([1.0, -2.0, 1.0], "negative value -2.0"),
        ([1.0, np.nan, 1.0], "1 NaN value"),
        ([1.0, np.inf, 1.0], "an infinite value"),
    ],
)
def test_bad_weights(eager_backend, weight, received):
    with pytest.raises(
        ValueError,
        match=rf"argument `class_weight`. Expected finite "
        rf"non-negative values. Received: {received}",
    ):
        eager_backend.call(
            lambda a, b: wxent.softmax_cross_entropy(a, b, class_weight=weight), X, Y
        )
    with pytest.raises(ValueError, match=r"argument `pos_weight`. Expected finite non-negative"):
        eager_backend.call(lambda a, b: wxent.sigmoid_cross_entropy(a, b, pos_weight=weight), X, Z)


def test_bad_weight_tensor_of_the_logits_framework():
    with pytest.raises(ValueError, match=r"argument `sample_weight`. Expected finite non-negative"):
        wxent.softmax_cross_entropy(
            torch.tensor(X), torch.tensor(Y), sample_weight=torch.tensor([1.0, -1.0, 1.0, 1.0])
        )


def test_weight_of_wrong_type():
    with pytest.raises(TypeError, match=r"argument `class_weight`. Expected numbers"):
        wxent.softmax_cross_entropy(X, Y, class_weight=["a", "b", "c"])


def test_validate_false_skips_value_checks():
    y = np.array([0, 1, 2, 1])
    x = X.copy()
    x[0, 0] = np.nan
    out = wxent.softmax_cross_entropy(x, y, validate=False)
    assert np.isnan(out)  # the caller asked for no checks


def test_static_checks_run_under_jit():
    @jax.jit
    def f(a, b):
        return wxent.softmax_cross_entropy(a, b, class_weight=[1.0, 2.0])

    with pytest.raises(ValueError, match=r"argument `class_weight`"):
        f(jnp.asarray(X), jnp.asarray(Y))

    @tf.function
    def g(a, b):
        return wxent.softmax_cross_entropy(a, b, label_smoothing=2.0)

    with pytest.raises(ValueError, match=r"argument `label_smoothing`"):
        g(tf.constant(X), tf.constant(Y))


def test_config_values_checked_under_jit():
    @jax.jit
    def f(a, b):
        return wxent.softmax_cross_entropy(a, b, class_weight=[1.0, -2.0, 1.0])

    with pytest.raises(ValueError, match=r"negative value -2.0"):
        f(jnp.asarray(X), jnp.asarray(Y))


def test_value_checks_skipped_under_jit():
    # Under jit the labels are tracers: the out-of-range check cannot run (documented).
    f = jax.jit(lambda a, b: wxent.softmax_cross_entropy(a, b))
    assert np.isfinite(float(f(jnp.asarray(X), jnp.asarray(np.array([0, 1, 2, 1])))))


def test_unknown_batch_dimension_in_tf_function(rng):
    spec = (tf.TensorSpec([None, 3], tf.float32), tf.TensorSpec([None], tf.int64))

    @tf.function(input_signature=spec)
    def f(a, b):
        return wxent.softmax_cross_entropy(
            a, b, class_weight=[1.0, 2.0, 3.0], reduction="weighted_mean"
        )

    x = rng.normal(size=(5, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=(5,))
    expected = wxent.softmax_cross_entropy(
        x, y, class_weight=[1.0, 2.0, 3.0], reduction="weighted_mean"
    )
    np.testing.assert_allclose(f(tf.constant(x), tf.constant(y)).numpy(), expected, rtol=1e-6)
