"""bfloat16 data on the host: ml_dtypes arrays, and JAX or TensorFlow bfloat16 arrays read there.

NumPy files ml_dtypes' ``bfloat16`` under kind ``"V"``: ``np.isdtype`` refuses it and
``kind in "iuf"`` misses it. NumPy bfloat16 labels ended in NumPy's own ``TypeError``, and
bfloat16 weights, costs, priors and counted labels (from NumPy, JAX or TensorFlow) were
refused as "not numbers", while the same values in float16 or in PyTorch bfloat16 were
taken. Every one now gives the float32 result of the same values.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf

import wxent
from conftest import assert_close

BF16 = ml_dtypes.bfloat16
RNG = np.random.default_rng(34)
X = RNG.normal(size=(6, 3)).astype(np.float32)
Y = np.array([0, 1, 2, 1, 0, 2])
ONE_HOT = np.eye(3, dtype=np.float32)[Y]
MULTI_HOT = (RNG.random((6, 3)) < 0.5).astype(np.float32)
COSTS = np.array([[0, 1, 2], [1, 0, 1], [4, 1, 0]], np.float32)
PRIOR = np.array([0.2, 0.3, 0.5], np.float32)
WEIGHTS = np.array([1.0, 2.0, 0.5], np.float32)


def _bf16(a: np.ndarray) -> np.ndarray:
    return a.astype(BF16)


LABEL_CASES = {
    "sigmoid_cross_entropy": lambda lab: wxent.sigmoid_cross_entropy(X, lab(MULTI_HOT)),
    "sigmoid_focal_loss": lambda lab: wxent.sigmoid_focal_loss(X, lab(MULTI_HOT)),
    "asymmetric_loss": lambda lab: wxent.asymmetric_loss(X, lab(MULTI_HOT)),
    "softmax_cross_entropy": lambda lab: wxent.softmax_cross_entropy(X, lab(ONE_HOT)),
    "softmax_focal_loss": lambda lab: wxent.softmax_focal_loss(X, lab(ONE_HOT)),
    "expected_cost_loss": lambda lab: wxent.expected_cost_loss(X, lab(ONE_HOT), COSTS),
    "cost_sensitive": lambda lab: wxent.cost_sensitive_cross_entropy(X, lab(ONE_HOT), COSTS),
    "confusion_weighted": lambda lab: wxent.confusion_weighted_cross_entropy(
        X, lab(ONE_HOT), COSTS + 1
    ),
}


@pytest.mark.parametrize("case", sorted(LABEL_CASES))
def test_numpy_bfloat16_labels_give_the_float32_loss(case: str) -> None:
    """NumPy bfloat16 labels (0/1, one-hot) of float32 logits: the loss of float32 labels."""
    loss = LABEL_CASES[case]
    got = loss(_bf16)
    assert got.dtype == np.float32
    assert_close(got, loss(lambda a: a), rtol=1e-6, atol=1e-7)


def test_numpy_bfloat16_logits_and_labels_compute_in_float32() -> None:
    """bfloat16 logits and labels: float32 inside, bfloat16 out (the spec's numerics)."""
    got = wxent.sigmoid_cross_entropy(_bf16(X), _bf16(MULTI_HOT))
    assert got.dtype == BF16
    want = wxent.sigmoid_cross_entropy(_bf16(X).astype(np.float32), MULTI_HOT)
    assert_close(np.float32(got), want, rtol=1e-2)


CONFIG_CASES = {
    "class_weight": lambda c: wxent.softmax_cross_entropy(X, Y, class_weight=c(WEIGHTS)),
    "sample_weight": lambda c: wxent.softmax_cross_entropy(X, Y, sample_weight=c(X[:, 0] ** 2)),
    "pos_weight": lambda c: wxent.sigmoid_cross_entropy(X, MULTI_HOT, pos_weight=c(WEIGHTS)),
    "costs": lambda c: wxent.expected_cost_loss(X, Y, c(COSTS)),
    "class_prior": lambda c: wxent.logit_adjusted_cross_entropy(X, Y, c(PRIOR)),
    "bayes_decision": lambda c: wxent.bayes_decision(X, c(COSTS)),
    "expected_cost": lambda c: wxent.expected_cost(X, Y, c(COSTS)),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
@pytest.mark.parametrize("source", ["numpy", "jax"])
def test_bfloat16_configuration_is_taken_as_numbers(case: str, source: str) -> None:
    """Weights, costs and priors in bfloat16 (ml_dtypes, or JAX for NumPy logits)."""

    def as_bf16(a: np.ndarray) -> object:
        return _bf16(a) if source == "numpy" else jnp.asarray(a, jnp.bfloat16)

    def rounded(a: np.ndarray) -> np.ndarray:
        return _bf16(a).astype(np.float32)

    call = CONFIG_CASES[case]
    assert_close(np.asarray(call(as_bf16)), np.asarray(call(rounded)), rtol=1e-6)


@pytest.mark.parametrize("source", ["numpy", "jax", "tensorflow"])
def test_bfloat16_labels_and_counts_are_counted(source: str) -> None:
    """label_counts, pos_weights and class_weights read bfloat16 labels and counts."""

    def as_bf16(a: np.ndarray) -> object:
        if source == "jax":
            return jnp.asarray(a, jnp.bfloat16)
        if source == "tensorflow":
            return tf.constant(a, tf.bfloat16)
        return _bf16(a)

    assert_close(
        wxent.label_counts(as_bf16(MULTI_HOT), multi_label=True),
        wxent.label_counts(MULTI_HOT, multi_label=True),
    )
    assert_close(wxent.pos_weights(as_bf16(MULTI_HOT)), wxent.pos_weights(MULTI_HOT))
    counts = np.array([3.0, 5.0, 8.0], np.float32)
    assert_close(wxent.class_weights(counts=as_bf16(counts)), wxent.class_weights(counts=counts))
    sw = np.array([1, 2, 1, 1, 0.5, 1], np.float32)
    assert_close(
        wxent.class_weights(Y, sample_weight=as_bf16(sw)), wxent.class_weights(Y, sample_weight=sw)
    )


def test_narrow_ml_dtypes_labels_are_refused_in_wxent_words() -> None:
    """float8 logits and int4 labels: wxent's TypeError, never NumPy's."""
    with pytest.raises(TypeError, match="Invalid type for argument `logits`"):
        wxent.softmax_cross_entropy(X.astype(ml_dtypes.float8_e4m3fn), Y)
    with pytest.raises(TypeError, match="Invalid type for argument `labels`"):
        wxent.softmax_cross_entropy(X, Y.astype(ml_dtypes.int4))


def test_torch_modules_take_bfloat16_configuration() -> None:
    """wxent.torch modules hold NumPy (ml_dtypes) or JAX bfloat16 weights as buffers."""
    import torch

    import wxent.torch as wt

    x = torch.tensor(X)
    y = torch.tensor(Y)
    for costs in (_bf16(COSTS), jnp.asarray(COSTS, jnp.bfloat16)):
        got = wt.ExpectedCostLoss(costs, class_axis=-1)(x, y)
        want = wt.ExpectedCostLoss(_bf16(COSTS).astype(np.float32), class_axis=-1)(x, y)
        assert_close(got.numpy(), want.numpy(), rtol=1e-6)
    got = wt.SoftmaxCrossEntropy(class_weight=_bf16(WEIGHTS), class_axis=-1)(x, y)
    want = wt.SoftmaxCrossEntropy(class_weight=WEIGHTS, class_axis=-1)(x, y)
    assert_close(got.numpy(), want.numpy(), rtol=1e-6)


def test_alpha_above_one_is_named_as_a_plain_number() -> None:
    """The message shows ``2.0``, not NumPy's ``np.float64(2.0)``."""
    with pytest.raises(ValueError, match=r"Received: value 2\.0 in `alpha`"):
        wxent.sigmoid_focal_loss(X, MULTI_HOT, alpha=2)
