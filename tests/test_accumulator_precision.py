"""Streaming float32 sums past 2**24: MetricAccumulator's weighted counts and expected cost.

A float32 running sum of ``2**24`` drops every later weight-1 increment (``2**24 + 1``
rounds back to ``2**24``). The accumulator keeps each float32 sum's rounding errors on the
device; these tests compare its results with the exact float64 counts of every batch, on
every framework (JAX without ``jax_enable_x64``), also after merging shards.
"""

from __future__ import annotations

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch

import wxent

FRAMEWORKS = {
    "numpy": np.asarray,
    "torch": torch.from_numpy,
    "jax": jnp.asarray,
    "tf": tf.constant,
}
COSTS = np.array([[0.0, 1.0], [3.0, 0.0]])
BIG = 2.0**24
UNITS = 60  # batches of one weight-1 element after a weight of 2**24


def _small_batches() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One element of weight 2**24, then weight-1 elements, alternately right and wrong.

    Softmax logits ``[2, 0]`` decide class 0 (also under ``COSTS``); labels 0 and 1.
    """
    x = np.array([[2.0, 0.0]], np.float32)
    out = [(x, np.array([0]), np.array([BIG], np.float32))]
    for i in range(UNITS):
        out.append((x, np.array([i % 2]), np.ones(1, np.float32)))
    return out


def _exact(batches) -> dict[str, np.ndarray]:
    """Float64 reference: the weighted confusion matrix, scores and expected cost."""
    matrix = np.zeros((2, 2))
    for _x, y, w in batches:
        np.add.at(matrix, (y, np.zeros_like(y)), w.astype(np.float64))
    tp = np.diag(matrix)
    return {
        "confusion_matrix": matrix,
        "precision": tp.sum() / matrix.sum(),  # micro: every sample is predicted once
        "recall": np.mean(tp / matrix.sum(axis=1)),
        "expected_cost": float((matrix * COSTS).sum() / matrix.sum()),
    }


def _host(value) -> np.ndarray:
    return np.asarray(value if isinstance(value, (float, np.ndarray)) else np.asarray(value))


def _check(result, exact, dtype=np.float32):
    assert _host(result["confusion_matrix"]).dtype == dtype
    np.testing.assert_array_equal(
        _host(result["confusion_matrix"]), exact["confusion_matrix"].astype(dtype)
    )
    # Each dropped increment moves these by 2**-24 of their value: 6e-8 is one rounding.
    np.testing.assert_allclose(_host(result["expected_cost"]), exact["expected_cost"], rtol=2e-7)
    np.testing.assert_allclose(_host(result["precision"]), exact["precision"], rtol=2e-7)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_weighted_counts_and_cost_past_two_to_the_24(framework):
    make = FRAMEWORKS[framework]
    assert not jax.config.jax_enable_x64  # the float32 path of JAX
    batches = _small_batches()
    acc = wxent.MetricAccumulator(costs=COSTS)
    for x, y, w in batches:
        acc.update(make(x), make(y), make(w))
    result = acc.compute()
    exact = _exact(batches)
    assert exact["confusion_matrix"][0, 0] == BIG + UNITS // 2  # float32 holds it
    dtype = np.float64 if framework == "numpy" else np.float32  # NumPy counts in float64
    _check(result, exact, dtype)
    recall = _host(acc.compute(average="macro")["recall"])
    np.testing.assert_allclose(recall, exact["recall"], rtol=2e-7)
    if framework != "numpy":
        assert not isinstance(result["expected_cost"], float)  # stays a framework array


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_shards_merge_their_rounding_errors(framework):
    """Two shards each at 2**24 plus 30 lost increments: the merge keeps all 60."""
    make = FRAMEWORKS[framework]
    batches = _small_batches()
    shards = [wxent.MetricAccumulator(costs=COSTS) for _ in range(3)]
    for i, (x, y, w) in enumerate(batches + batches):
        shard = 0 if i < len(batches) else 1 + i % 2
        shards[shard].update(make(x), make(y), make(w))
    exact = _exact(batches + batches)
    dtype = np.float64 if framework == "numpy" else np.float32
    _check(sum(shards).compute(), exact, dtype)
    copied = [pickle.loads(pickle.dumps(s)) for s in shards]  # shards of other processes
    merged = wxent.MetricAccumulator(costs=COSTS)
    for shard in copied:
        merged.merge(shard)
    _check(merged.compute(), exact, dtype)
    # The shards themselves are unchanged by the merge.
    _check(shards[0].compute(), _exact(batches), dtype)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_many_weight_one_samples_in_large_batches(framework):
    """2**25 + 9 weight-1 samples in nine batches (each batch's own sum is exact)."""
    make = FRAMEWORKS[framework]
    n = (1 << 22) + 1
    x, z = make(np.ones(n, np.float32)), make(np.ones(n, np.float32))  # all true positives
    w = make(np.ones(n, np.float32))
    weighted = wxent.MetricAccumulator(costs=np.array([[0.0, 1.0], [2.0, 0.0]]))
    plain = wxent.MetricAccumulator(costs=np.array([[0.0, 1.0], [2.0, 0.0]]))
    for _ in range(9):
        weighted.update(x, z, w)
        plain.update(x, z)
    total = 9 * n  # odd, above 2**25: float32 rounds it once, to a multiple of 4
    assert total > 2**25
    counts = _host(weighted.compute()["confusion_matrix"])
    assert counts.dtype == (np.float64 if framework == "numpy" else np.float32)
    assert counts[1, 1] == counts.dtype.type(np.float64(total))
    assert counts[0, 0] == counts[0, 1] == counts[1, 0] == 0
    unweighted = _host(plain.compute()["confusion_matrix"])
    assert unweighted.dtype == np.int64 or framework == "jax"  # JAX without x64: int32
    assert int(unweighted[1, 1]) == total
    # Expected cost 0 over a float32 weight sum of 9 * n (no division by a lost count).
    assert float(_host(plain.compute()["expected_cost"])) == 0.0


def test_compensation_survives_an_overflowing_sum():
    """Sums past float32's largest value read inf, as without compensation (not NaN)."""
    acc = wxent.MetricAccumulator()
    x, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    for _ in range(3):
        acc.update(x, y, torch.tensor([3e38]))
    assert float(acc.compute()["confusion_matrix"][0, 0]) == float("inf")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_label_counter_counts_float32_weights_in_float64(framework):
    """LabelCounter counts on the host in float64: weight-1 samples past 2**24 count."""
    make = FRAMEWORKS[framework]
    counter = wxent.LabelCounter(2)
    counter.update(make(np.array([0])), make(np.array([BIG], np.float32)))
    for i in range(UNITS):
        counter.update(make(np.array([i % 2])), make(np.ones(1, np.float32)))
    np.testing.assert_array_equal(counter.counts, [BIG + UNITS // 2, UNITS // 2])
    assert counter.counts.dtype == np.float64


@pytest.mark.parametrize("framework", ["jax", "tensorflow"])
@pytest.mark.parametrize("argument", ["logits", "labels", "sample_weight"])
def test_update_inside_a_trace_is_a_type_error_naming_the_array(framework, argument):
    # jax.jit: a TracerBoolConversionError from inside the counting; tf.function: counts
    # kept as symbolic tensors, then TensorFlow's "out of scope" error at compute()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = np.arange(8) % 3
    sw = np.ones(8, dtype=np.float32)
    acc = wxent.MetricAccumulator()

    def step(a, b, c):
        given = {"logits": a, "labels": b, "sample_weight": c}
        concrete = {"logits": x, "labels": y, "sample_weight": sw}
        concrete[argument] = given[argument]  # only this one traced
        acc.update(concrete["logits"], concrete["labels"], concrete["sample_weight"])
        return a[0, 0]

    message = rf"`{argument}`.*concrete values.*runs eagerly.*Received: a traced"
    with pytest.raises(TypeError, match=message):
        if framework == "jax":
            jax.jit(step)(jnp.asarray(x), jnp.asarray(y), jnp.asarray(sw))
        else:
            tf.function(step)(tf.constant(x), tf.constant(y), tf.constant(sw))
    with pytest.raises(ValueError, match="at least one batch"):  # nothing was added
        acc.compute()
    acc.update(x, y, sw)  # eagerly, as before
    assert acc.compute()["confusion_matrix"].sum() == 8
