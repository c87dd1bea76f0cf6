"""What the docstrings and the README promise, checked where no other test looks.

Each test here failed before the fix it came with: the documentation (or SPEC.md) was
right and the code disagreed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import wxent

F32 = np.float32
X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]], dtype=F32)
Y = np.array([0, 2])
Z = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=F32)
COSTS = 1.0 - np.eye(3)
H = np.linspace(-1.0, 1.0, 8, dtype=F32).reshape(2, 4)
W = np.linspace(-0.5, 0.5, 12, dtype=F32).reshape(3, 4)

# Every loss of wxent.__all__, as loss(x, labels, **options) on fixed NumPy data.
LOSSES: dict[str, Callable[..., Any]] = {
    "softmax_cross_entropy": lambda x, **k: wxent.softmax_cross_entropy(x, Y, **k),
    "softmax_cross_entropy/prob": lambda x, **k: wxent.softmax_cross_entropy(
        x, np.eye(3, dtype=x.dtype)[Y], **k
    ),
    "sigmoid_cross_entropy": lambda x, **k: wxent.sigmoid_cross_entropy(x, Z, **k),
    "sigmoid_focal_loss": lambda x, **k: wxent.sigmoid_focal_loss(x, Z, **k),
    "asymmetric_loss": lambda x, **k: wxent.asymmetric_loss(x, Z, **k),
    "softmax_focal_loss": lambda x, **k: wxent.softmax_focal_loss(x, Y, **k),
    "logit_adjusted_cross_entropy": lambda x, **k: wxent.logit_adjusted_cross_entropy(
        x, Y, [0.2, 0.3, 0.5], **k
    ),
    "expected_cost_loss": lambda x, **k: wxent.expected_cost_loss(x, Y, COSTS, **k),
    "cost_sensitive_cross_entropy": lambda x, **k: wxent.cost_sensitive_cross_entropy(
        x, Y, COSTS, **k
    ),
    "confusion_weighted_cross_entropy": lambda x, **k: wxent.confusion_weighted_cross_entropy(
        x, Y, np.ones((3, 3)), **k
    ),
    "linear_cross_entropy": lambda x, **k: wxent.linear_cross_entropy(
        H.astype(x.dtype), W.astype(x.dtype), Y, **k
    ),
    "sampled_softmax_cross_entropy": lambda x, **k: wxent.sampled_softmax_cross_entropy(
        H.astype(x.dtype), W.astype(x.dtype), Y, num_sampled=2, seed=0, **k
    ),
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["sum", "mean", "weighted_mean"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_numpy_reduced_losses_are_0d_arrays_of_the_logits_dtype(
    name: str, reduction: str, dtype: Any
) -> None:
    # "The loss in the logits' framework and dtype": a 0-d np.ndarray for every
    # reduction (a "sum" was a NumPy scalar, np.float32, unlike "mean").
    loss = LOSSES[name](X.astype(dtype), reduction=reduction)
    assert type(loss) is np.ndarray
    assert loss.shape == () and loss.dtype == dtype
    per_element = LOSSES[name](X.astype(dtype), reduction="none").astype(np.float64)
    if reduction == "sum":
        tol = 1e-2 if dtype == np.float16 else 1e-5
        np.testing.assert_allclose(float(loss), per_element.sum(), rtol=tol)


@pytest.mark.parametrize("options", [{}, {"reduction": "weighted_mean"}], ids=["mean", "wmean"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_numpy_loss_terms_are_two_0d_arrays(name: str, dtype: Any, options: Any) -> None:
    # LossTerms: "two 0-d arrays" (the numerator was a NumPy scalar)
    if name.startswith(("linear", "sampled")):
        loss = wxent.linear_cross_entropy if name.startswith("linear") else None
        if loss is None:
            terms = wxent.loss_terms(
                wxent.sampled_softmax_cross_entropy,
                H.astype(dtype),
                W.astype(dtype),
                Y,
                num_sampled=2,
                seed=0,
                **options,
            )
        else:
            terms = wxent.loss_terms(loss, H.astype(dtype), W.astype(dtype), Y, **options)
    else:
        terms = wxent.loss_terms(
            lambda x, y, **k: LOSSES[name](x, **k), X.astype(dtype), Y, **options
        )
    assert type(terms.numerator) is np.ndarray and type(terms.denominator) is np.ndarray
    assert terms.numerator.shape == terms.denominator.shape == ()
    # of one dtype, the compute dtype: float32 for float16 logits (a float16 count
    # overflows at 65520 elements; tests/test_adversarial_36_precision_terms.py)
    compute = np.float32 if dtype == np.float16 else dtype
    assert terms.numerator.dtype == terms.denominator.dtype == compute


@pytest.mark.parametrize(
    ("function", "args"),
    [(wxent.bayes_decision, (COSTS,)), (wxent.precision, ()), (wxent.predict, ())],
)
def test_loss_terms_refuses_a_function_that_is_not_a_loss(
    function: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    # "TypeError: if loss is not a wxent loss" -- wxent's message, not Python's
    # "got an unexpected keyword argument 'reduction'" from inside the call.
    with pytest.raises(TypeError, match=r"argument `loss`\. Expected a wxent loss function"):
        wxent.loss_terms(function, X, Y, *args)


def test_safe_divide_refuses_arrays_of_two_frameworks() -> None:
    # "denominator: the matching denominator, same framework": a wxent TypeError naming
    # the argument, not array-api-compat's "Multiple namespaces" from inside.
    with pytest.raises(TypeError, match=r"argument `denominator`.*\(torch\)"):
        wxent.safe_divide(torch.tensor(3.0), np.float32(0.0))
    with pytest.raises(TypeError, match=r"argument `denominator`.*\(numpy\)"):
        wxent.safe_divide(np.array(3.0, dtype=F32), torch.tensor(0.0))
    quotient = wxent.safe_divide(torch.tensor([3.0, 1.0]), torch.tensor([0.0, 2.0]))
    assert quotient.tolist() == [0.0, 0.5]


def test_expected_cost_offsets_on_nothing_report_a_cost_of_plus_zero() -> None:
    # "Nothing to tune on gives offsets 0 with objective 0": the mean cost was -0.0.
    offsets, cost = wxent.tune_thresholds(
        np.zeros((0, 3), dtype=F32),
        np.zeros((0,), dtype=np.int64),
        objective="expected_cost",
        costs=COSTS,
        return_objective=True,
    )
    assert offsets.tolist() == [0.0, 0.0, 0.0]
    assert cost == 0.0 and np.copysign(1.0, cost) == 1.0


# The documented answers where there is nothing to fit, on every backend.


def test_predict_in_a_row_of_only_minus_inf(backend: Any) -> None:
    # predict: "a row of only -inf decides the class of the largest offset, class 0 for
    # equal ones" (bayes_decision raises there).
    x = np.array([[-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, -np.inf]], dtype=F32)
    got = backend.call(lambda a: wxent.predict(a, offsets=[0.0, 5.0, 0.0]), x)
    assert got.tolist() == [1, 1]
    got = backend.call(lambda a: wxent.predict(a, offsets=[1.0, 1.0, 1.0]), x)
    assert got.tolist() == [0, 1]


def test_ignore_index_has_no_effect_on_probability_labels(backend: Any) -> None:
    # softmax-family ignore_index: "no effect on probability labels".
    probabilities = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=F32)
    for name, loss in [
        ("softmax", wxent.softmax_cross_entropy),
        ("focal", wxent.softmax_focal_loss),
        (
            "adjusted",
            lambda x, t, **k: wxent.logit_adjusted_cross_entropy(x, t, [0.2, 0.8, 1.0], **k),
        ),
    ]:
        plain = backend.call(lambda x, t, f=loss: f(x, t, reduction="none"), X, probabilities)
        ignoring = backend.call(
            lambda x, t, f=loss: f(x, t, ignore_index=0, reduction="none"),
            X,
            probabilities,
        )
        np.testing.assert_array_equal(ignoring, plain, err_msg=name)


@pytest.mark.parametrize("framework", ["numpy", "torch", "jax", "tf"])
def test_fits_without_data_are_the_identity_and_scores_are_0(framework: str) -> None:
    # calibrate: "without data to fit ... the identity"; expected_calibration_error:
    # "0 when nothing is counted"; tune_thresholds: "threshold 0 with objective 0".
    import jax.numpy as jnp
    import tensorflow as tf

    make = {
        "numpy": np.asarray,
        "torch": torch.as_tensor,
        "jax": jnp.asarray,
        "tf": tf.constant,
    }[framework]
    empty = make(np.zeros((0, 2), dtype=F32))
    platt = wxent.calibrate(empty, empty, method="platt")
    assert platt.scale.tolist() == [1.0, 1.0] and platt.bias.tolist() == [0.0, 0.0]
    softmax = wxent.calibrate(empty, make(np.zeros((0,), dtype=np.int64)))
    assert softmax.temperature == 1.0
    x = make(np.array([[1.0, 2.0], [0.5, -1.0]], dtype=F32))
    z = make(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=F32))
    weights = make(np.array([[1.0, 0.0], [1.0, 0.0]], dtype=F32))
    per_label = wxent.calibrate(x, z, method="platt", sample_weight=weights)
    assert per_label.scale[1] == 1.0 and per_label.bias[1] == 0.0
    assert wxent.expected_calibration_error(empty, empty) == 0.0
    assert wxent.expected_calibration_error(x, z, sample_weight=weights * 0) == 0.0
    thresholds, objective = wxent.tune_thresholds(empty, empty, return_objective=True)
    assert thresholds.tolist() == [0.0, 0.0] and objective.tolist() == [0.0, 0.0]


def test_accumulators_of_two_frameworks_refuse_to_merge_naming_other() -> None:
    # MetricAccumulator "adds" shards: a shard of another framework (or class count) is
    # an error about `other`, the argument of the merge -- not about a `logits` that the
    # merge never received.
    host = wxent.MetricAccumulator().update(np.array([[1.0, 0.0]]), np.array([0]))
    device = wxent.MetricAccumulator().update(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    wider = wxent.MetricAccumulator().update(np.array([[1.0, 0.0, 0.0]]), np.array([0]))
    with pytest.raises(TypeError, match=r"argument `other`\..*framework of the first batch"):
        host + device
    with pytest.raises(ValueError, match=r"argument `other`\..*2 classes"):
        host.merge(wider)
    with pytest.raises(TypeError, match=r"argument `logits`\..*framework of the first batch"):
        host.update(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    merged = host + wxent.MetricAccumulator().update(np.array([[0.0, 1.0]]), np.array([0]))
    assert merged.compute()["confusion_matrix"].tolist() == [[1, 1], [0, 0]]


def test_projection_losses_take_labels_as_a_python_list(backend: Any) -> None:
    # README: "Labels may be Python lists" -- every loss took them but the two
    # projection losses, which raised a TypeError.
    listed = backend.call(
        lambda h, w: wxent.linear_cross_entropy(h, w, [0, 2], reduction="none"), H, W
    )
    arrays = backend.call(
        lambda h, w, y: wxent.linear_cross_entropy(h, w, y, reduction="none"), H, W, Y
    )
    np.testing.assert_array_equal(listed, arrays)
    reference = wxent.softmax_cross_entropy(
        H.astype(np.float64) @ W.T.astype(np.float64), Y, reduction="none"
    )
    np.testing.assert_allclose(listed, reference, rtol=1e-5)
    sampled = backend.call(
        lambda h, w: wxent.sampled_softmax_cross_entropy(h, w, [0, 2], num_sampled=2, seed=3),
        H,
        W,
    )
    expected = backend.call(
        lambda h, w, y: wxent.sampled_softmax_cross_entropy(h, w, y, num_sampled=2, seed=3),
        H,
        W,
        Y,
    )
    np.testing.assert_allclose(sampled, expected, rtol=1e-6)


UNBATCHED = np.array([0.5, 1.0, 2.0], dtype=F32)  # one sample's (C,) logits


@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "weighted_mean"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_numpy_unbatched_losses_are_0d_arrays(name: str, reduction: str) -> None:
    # Unbatched logits: softmax (C,) logits with a 0-d label, sigmoid (L,) logits. Every
    # result is an np.ndarray of the logits' dtype ("none" per sample was np.float32 for
    # several losses, an np.ndarray for others).
    if name.startswith(("linear", "sampled")):
        return  # (N, D) inputs only
    label, labels = np.array(2), np.array([1.0, 0.0, 1.0], dtype=F32)
    calls: dict[str, Callable[..., Any]] = {
        "softmax_cross_entropy": lambda **k: wxent.softmax_cross_entropy(UNBATCHED, label, **k),
        "softmax_cross_entropy/prob": lambda **k: wxent.softmax_cross_entropy(
            UNBATCHED, np.eye(3, dtype=F32)[2], **k
        ),
        "sigmoid_cross_entropy": lambda **k: wxent.sigmoid_cross_entropy(UNBATCHED, labels, **k),
        "sigmoid_focal_loss": lambda **k: wxent.sigmoid_focal_loss(UNBATCHED, labels, **k),
        "asymmetric_loss": lambda **k: wxent.asymmetric_loss(UNBATCHED, labels, **k),
        "softmax_focal_loss": lambda **k: wxent.softmax_focal_loss(UNBATCHED, label, **k),
        "logit_adjusted_cross_entropy": lambda **k: wxent.logit_adjusted_cross_entropy(
            UNBATCHED, label, [0.2, 0.3, 0.5], **k
        ),
        "expected_cost_loss": lambda **k: wxent.expected_cost_loss(UNBATCHED, label, COSTS, **k),
        "cost_sensitive_cross_entropy": lambda **k: wxent.cost_sensitive_cross_entropy(
            UNBATCHED, label, COSTS, **k
        ),
        "confusion_weighted_cross_entropy": lambda **k: wxent.confusion_weighted_cross_entropy(
            UNBATCHED, label, np.ones((3, 3)), **k
        ),
    }
    loss = calls[name](reduction=reduction)
    assert type(loss) is np.ndarray and loss.dtype == F32
    per_element = name.startswith("sigmoid") or name == "asymmetric_loss"
    assert loss.shape == ((3,) if per_element and reduction == "none" else ())


def test_numpy_unbatched_decisions_are_0d_arrays() -> None:
    # bayes_decision and predict: "shape of logits without class_axis" -- a 0-d array
    # for (C,) logits (NumPy's argmin/argmax gave an np.int64 scalar, the names an np.str_).
    decision = wxent.bayes_decision(UNBATCHED, COSTS)
    assert type(decision) is np.ndarray and decision.shape == () and int(decision) == 2
    named = wxent.bayes_decision(UNBATCHED, COSTS, classes=["a", "b", "c"])
    assert type(named) is np.ndarray and named.shape == () and str(named) == "c"
    offset = wxent.predict(UNBATCHED, offsets=[0.0, 1.5, 0.0])
    assert type(offset) is np.ndarray and offset.shape == () and int(offset) == 1
    assert wxent.bayes_decision(
        np.stack([UNBATCHED] * 2), COSTS, classes=["a", "b", "c"]
    ).tolist() == [
        "c",
        "c",
    ]
