"""sampled_softmax_cross_entropy: log-uniform sampler, log-Q correction, accidental hits."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import wxent
from conftest import assert_close
from wxent._sampler import expected_count, log_uniform_probability, log_uniform_sample

N, D, V, S = 7, 4, 40, 9


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(N, D)).astype(np.float32)
    w = rng.normal(size=(V, D)).astype(np.float32)
    b = rng.normal(size=V).astype(np.float32)
    y = rng.integers(0, 8, N)  # frequent classes: accidental hits are likely
    y[:3] = [0, 1, 2]
    return h, w, b, y


def _tf_triple(y, seed=5):
    triple = tf.random.log_uniform_candidate_sampler(
        true_classes=tf.constant(y[:, None], tf.int64),
        num_true=1,
        num_sampled=S,
        unique=True,
        range_max=V,
        seed=seed,
    )
    return tuple(t.numpy() for t in triple)


def _tf_loss(h, w, b, y, triple, remove):
    return tf.nn.sampled_softmax_loss(
        tf.constant(w),
        tf.constant(b),
        tf.constant(y[:, None], tf.int64),
        tf.constant(h),
        S,
        V,
        sampled_values=tuple(tf.constant(t) for t in triple),
        remove_accidental_hits=remove,
    )


@pytest.mark.parametrize("remove", [True, False])
def test_equals_tf_sampled_softmax_loss_given_the_same_triple(backend, remove):
    h, w, b, y = _data()
    triple = _tf_triple(y)
    assert np.isin(triple[0], y).any()  # the case has accidental hits
    expected = _tf_loss(h, w, b, y, triple, remove).numpy()

    def f(h_, w_, y_, b_):
        return wxent.sampled_softmax_cross_entropy(
            h_,
            w_,
            y_,
            num_sampled=S,
            bias=b_,
            sampled_values=triple,
            remove_accidental_hits=remove,
            reduction="none",
        )

    assert_close(backend.call(f, h, w, y, b), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("wrt", ["inputs", "weight"])
def test_gradients_equal_tf(ad_backend, wrt):
    h, w, b, y = _data(1)
    triple = _tf_triple(y, seed=9)
    hv, wv = tf.Variable(h), tf.Variable(w)
    with tf.GradientTape() as tape:
        ref = tf.reduce_sum(
            tf.nn.sampled_softmax_loss(
                wv,
                tf.constant(b),
                tf.constant(y[:, None], tf.int64),
                hv,
                S,
                V,
                sampled_values=tuple(tf.constant(t) for t in triple),
            )
        )
    ref_grad = tape.gradient(ref, hv if wrt == "inputs" else wv)
    ref_grad = tf.convert_to_tensor(ref_grad).numpy()

    def f(first, second, y_, b_):
        h_, w_ = (first, second) if wrt == "inputs" else (second, first)
        return wxent.sampled_softmax_cross_entropy(
            h_, w_, y_, num_sampled=S, bias=b_, sampled_values=triple, reduction="sum"
        )

    args = (h, w) if wrt == "inputs" else (w, h)
    value, grad = ad_backend.value_and_grad(f, *args, y, b)
    assert_close(value, ref.numpy(), rtol=1e-5)
    assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)
    assert np.isfinite(grad).all()


def test_all_classes_with_equal_counts_is_the_full_softmax():
    h, w, b, y = _data(2)
    y[4] = -1
    cw = np.linspace(0.5, 2.0, V)
    kw = {"class_weight": cw, "ignore_index": -1, "reduction": "weighted_mean"}
    triple = (np.arange(V), np.full(N, 0.3), np.full(V, 0.3))
    sampled = wxent.sampled_softmax_cross_entropy(
        h, w, y, num_sampled=V, bias=b, sampled_values=triple, **kw
    )
    assert_close(sampled, wxent.linear_cross_entropy(h, w, y, bias=b, **kw), rtol=1e-5)


def test_own_sampler_is_deterministic_by_seed_and_uses_log_q():
    h, w, _, y = _data(3)
    a = wxent.sampled_softmax_cross_entropy(h, w, y, num_sampled=S, seed=11, reduction="none")
    again = wxent.sampled_softmax_cross_entropy(h, w, y, num_sampled=S, seed=11, reduction="none")
    other = wxent.sampled_softmax_cross_entropy(h, w, y, num_sampled=S, seed=12, reduction="none")
    np.testing.assert_array_equal(a, again)
    assert not np.allclose(a, other)
    # The same draw passed explicitly gives the same loss.
    sampled, tries = log_uniform_sample(S, V, seed=11)
    p_true = log_uniform_probability(y, V)
    triple = (
        sampled,
        expected_count(p_true, tries),
        expected_count(log_uniform_probability(sampled, V), tries),
    )
    explicit = wxent.sampled_softmax_cross_entropy(
        h, w, y, num_sampled=S, sampled_values=triple, reduction="none"
    )
    assert_close(a, explicit, rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(num_classes=st.integers(1, 300), frac=st.floats(0.01, 1.0), seed=st.integers(0, 2**31))
def test_sampler_draws_distinct_classes_in_range(num_classes, frac, seed):
    k = max(1, int(frac * num_classes))
    sampled, tries = log_uniform_sample(k, num_classes, seed=seed)
    assert len(set(sampled.tolist())) == k == len(sampled)
    assert sampled.min() >= 0 and sampled.max() < num_classes
    assert tries >= k


def test_log_uniform_probabilities_sum_to_one():
    assert_close(log_uniform_probability(np.arange(1000), 1000).sum(), 1.0, rtol=1e-12)


def test_inclusion_frequency_matches_expected_count_and_tf_sampler():
    rounds, num_classes, k = 400, 30, 6
    ours = np.zeros(num_classes)
    expected = np.zeros(num_classes)
    for seed in range(rounds):
        sampled, tries = log_uniform_sample(k, num_classes, seed=seed)
        ours[sampled] += 1
        p = log_uniform_probability(np.arange(num_classes), num_classes)
        expected += expected_count(p, tries)
    theirs = np.zeros(num_classes)
    for seed in range(rounds):
        cand, _, _ = tf.random.log_uniform_candidate_sampler(
            tf.zeros((1, 1), tf.int64), 1, k, True, num_classes, seed=seed + 1
        )
        theirs[cand.numpy()] += 1
    # Frequencies per class, within Monte Carlo error (binomial sd <= 0.025 here).
    assert np.abs(ours / rounds - expected / rounds).max() < 0.1
    assert np.abs(ours / rounds - theirs / rounds).max() < 0.12
    assert ours[0] > ours[-1]  # Zipfian: frequent classes first


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_sampled": 0}, ValueError, r"`num_sampled`. Expected an integer in \[1, 5\]"),
        ({"num_sampled": 6}, ValueError, r"`num_sampled`. Expected an integer in \[1, 5\]"),
        ({"num_sampled": 2.0}, TypeError, r"`num_sampled`. Expected an integer"),
        ({"seed": 1.5}, TypeError, r"`seed`. Expected an integer or None"),
        ({"sampled_values": (1, 2)}, ValueError, r"`sampled_values`. Expected a tuple"),
        (
            {"sampled_values": (np.array([0, 1]), np.ones(3), np.ones(2))},
            ValueError,
            r"`sampled_values`. Expected shapes \(S,\), \(2,\)",
        ),
        (
            {"sampled_values": (np.array([0, 7]), np.ones(2), np.ones(2))},
            ValueError,
            r"`sampled_values`. Expected sampled classes in \[0, 5\)",
        ),
        ({"remove_accidental_hits": 1}, TypeError, r"`remove_accidental_hits`. Expected a bool"),
        ({"bias": np.zeros(4)}, ValueError, r"`bias`. Expected one value per class"),
        ({"labels": np.array([0, 5])}, ValueError, r"class indices in \[0, 5\)"),
        ({"labels": np.zeros((2, 1), np.int64)}, ValueError, r"`labels`. Expected integer"),
        ({"weight": np.zeros((5, 2), np.float32)}, ValueError, r"`weight`. Expected a 2-D"),
        ({"reduction": "avg"}, ValueError, r"`reduction`. Expected one of"),
    ],
)
def test_errors(kwargs, error, match):
    args = {
        "inputs": np.zeros((2, 3), np.float32),
        "weight": np.zeros((5, 3), np.float32),
        "labels": np.array([0, 4]),
    }
    options = {"num_sampled": 2, **{k: val for k, val in kwargs.items() if k not in args}}
    args.update({k: val for k, val in kwargs.items() if k in args})
    with pytest.raises(error, match=match):
        wxent.sampled_softmax_cross_entropy(
            args["inputs"], args["weight"], args["labels"], **options
        )
