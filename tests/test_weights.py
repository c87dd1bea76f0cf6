"""Counts and weights from data: label_counts, LabelCounter, class_weights, pos_weights,
class_prior — against scikit-learn, Cui et al.'s formula and float64 loops.

Counting runs on the host: labels of every eager backend are accepted; traced ones
(``jax.jit``, ``tf.function``) are refused with a clear message.
"""

from __future__ import annotations

import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

import reference
import reference_imbalance as ref
import wxent
from conftest import assert_close


def _label_sets(min_classes: int = 2, max_classes: int = 6):
    """Random labels in which every class occurs, with random sample weights."""

    @st.composite
    def build(draw):
        c = draw(st.integers(min_classes, max_classes))
        extra = draw(st.lists(st.integers(0, c - 1), min_size=0, max_size=40))
        labels = np.array(list(range(c)) + extra)
        labels = labels[np.random.default_rng(len(extra)).permutation(labels.size)]
        sw = np.array(
            draw(
                st.lists(
                    st.floats(0.1, 5.0, allow_nan=False),
                    min_size=labels.size,
                    max_size=labels.size,
                )
            )
        )
        return labels, sw, c

    return build()


# ----------------------------------------------------------------------------- label_counts


def test_label_counts_every_eager_backend(eager_backend, rng):
    labels = rng.integers(0, 5, size=(20,))
    sw = rng.random(20)
    expected = ref.counts(labels, 6)
    got = wxent.label_counts(eager_backend.asarray(labels), num_classes=6)
    assert got.dtype == np.float64
    assert_close(got, expected)
    weighted = wxent.label_counts(
        eager_backend.asarray(labels), num_classes=6, sample_weight=eager_backend.asarray(sw)
    )
    assert_close(weighted, ref.counts(labels, 6, sw), rtol=1e-6)


def test_label_counts_multi_hot_every_eager_backend(eager_backend, rng):
    labels = (rng.random((30, 4)) < 0.2).astype(np.float32)
    labels[rng.random((30, 4)) < 0.1] = -1.0
    got = wxent.label_counts(eager_backend.asarray(labels), multi_label=True)
    assert got.shape == (2, 4)
    assert_close(got, ref.multi_hot_counts(labels))
    # Counted per label, never by argmax: every column sums its own 0s and 1s.
    assert_close(got.sum(axis=0), (labels != -1).sum(axis=0))


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int64, np.float16, np.float64])
def test_label_counts_multi_hot_any_dtype(dtype):
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]]).astype(dtype)
    assert_close(wxent.label_counts(labels, multi_label=True), [[1, 2, 3], [2, 1, 0]])


def test_label_counts_multi_hot_row_weights_and_1d():
    labels = np.array([[1, 0], [0, -1], [1, 1]])
    got = wxent.label_counts(labels, multi_label=True, sample_weight=[1.0, 2.0, 0.5])
    assert_close(got, [[2.0, 1.0], [1.5, 0.5]])
    assert_close(wxent.label_counts(np.array([0, 1, 1]), multi_label=True), [[1], [2]])


def test_label_counts_options():
    labels = np.array([[0, 3], [3, -100]])  # any shape (a segmentation mask)
    assert_close(wxent.label_counts(labels, ignore_index=-100), [1, 0, 0, 2])
    assert_close(wxent.label_counts([1, 1, 0], num_classes=4), [1, 2, 0, 0])
    assert_close(wxent.label_counts(np.array([1.0, 2.0])), [0, 1, 1])
    assert wxent.label_counts(np.array([], dtype=np.int64)).shape == (0,)


def test_label_counts_refuses_traced_labels():
    with pytest.raises(TypeError, match=r"Invalid type for argument `labels`.*concrete values"):
        jax.jit(lambda y: wxent.label_counts(y))(jnp.array([0, 1]))
    with pytest.raises(TypeError, match=r"`labels`.*concrete values"):
        tf.function(lambda y: wxent.label_counts(y))(tf.constant([0, 1]))


def test_label_counts_errors():
    with pytest.raises(ValueError, match=r"`labels`. Expected non-negative class indices"):
        wxent.label_counts(np.array([0, -1]))
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\) or ignore_index=-1"):
        wxent.label_counts(np.array([0, 2, -1]), num_classes=2, ignore_index=-1)
    with pytest.raises(ValueError, match=r"floating labels must hold whole numbers"):
        wxent.label_counts(np.array([0.5]))
    with pytest.raises(TypeError, match=r"`labels`. Expected class labels of one kind"):
        wxent.label_counts(np.array(["a", 1.5], dtype=object))
    with pytest.raises(ValueError, match=r"`labels`. Expected a class for every entry"):
        wxent.label_counts(np.array(["a", None], dtype=object))
    with pytest.raises(TypeError, match=r"`labels`. Expected an array or a list of numbers"):
        wxent.label_counts([[0], [1, 2]])
    with pytest.raises(TypeError, match=r"`labels`. Expected integer class indices"):
        wxent.label_counts(np.array([1 + 2j]))
    with pytest.raises(ValueError, match=r"`num_classes`. Expected a positive integer"):
        wxent.label_counts([0], num_classes=0)
    with pytest.raises(TypeError, match=r"`num_classes`. Expected a positive integer"):
        wxent.label_counts([0], num_classes=2.0)
    with pytest.raises(TypeError, match=r"`multi_label`. Expected a bool"):
        wxent.label_counts([0], multi_label="yes")
    with pytest.raises(ValueError, match=r"`sample_weight`. Expected the shape of `labels`"):
        wxent.label_counts([0, 1], sample_weight=[1.0])
    with pytest.raises(ValueError, match=r"`sample_weight`. Expected finite non-negative"):
        wxent.label_counts([0, 1], sample_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"or one weight per row \(2,\)"):
        wxent.label_counts(np.eye(2), multi_label=True, sample_weight=[1.0])
    with pytest.raises(ValueError, match=r"`num_classes`. Expected the number of labels L=2"):
        wxent.label_counts(np.eye(2), multi_label=True, num_classes=3)
    with pytest.raises(ValueError, match=r"`ignore_index`. Expected a value other than 0 and 1"):
        wxent.label_counts(np.eye(2), multi_label=True, ignore_index=0)
    with pytest.raises(ValueError, match=r"`labels`. Expected a multi-hot matrix"):
        wxent.label_counts(np.int64(1), multi_label=True)
    with pytest.raises(TypeError, match=r"`labels`. Expected a multi-hot matrix of numbers"):
        wxent.label_counts(np.array([[1 + 0j]]), multi_label=True)


# ----------------------------------------------------------------------------- LabelCounter


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 6), min_size=0, max_size=10), min_size=1, max_size=6),
    st.integers(1, 5),
)
def test_counter_over_batches_equals_counts_of_all(batches, split):
    arrays = [np.array(b, dtype=np.int64) for b in batches]
    counter = wxent.LabelCounter()
    for a in arrays:
        counter.update(a)
    whole = np.concatenate(arrays)
    expected = wxent.label_counts(whole) if whole.size else np.zeros(0)
    assert_close(counter.counts, expected)
    # Two shards added equal one counter over both.
    a = wxent.LabelCounter.from_batches(arrays[:split])
    b = wxent.LabelCounter.from_batches(arrays[split:])
    assert_close((a + b).counts, expected)
    assert_close(sum([a, b]).counts, expected)


def test_counter_multi_label_and_weights(rng):
    labels = (rng.random((24, 3)) < 0.3).astype(np.int64)
    sw = rng.random(24)
    counter = wxent.LabelCounter(multi_label=True)
    for i in range(0, 24, 5):
        counter.update(labels[i : i + 5], sample_weight=sw[i : i + 5])
    assert_close(counter.counts, wxent.label_counts(labels, multi_label=True, sample_weight=sw))
    assert_close(wxent.pos_weights(counts=counter), wxent.pos_weights(labels, sample_weight=sw))
    assert_close(wxent.pos_weights(counter), wxent.pos_weights(counts=counter))
    assert wxent.LabelCounter(multi_label=True).counts.shape == (2, 0)
    assert wxent.LabelCounter(3, multi_label=True).counts.shape == (2, 3)
    assert "LabelCounter(num_classes=None" in repr(counter)


def test_counter_from_torch_dataloader(rng):
    x = torch.randn(50, 2)
    y = torch.from_numpy(rng.integers(0, 4, size=50))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    counter = wxent.LabelCounter.from_batches(loader, num_classes=4)
    assert_close(counter.counts, wxent.label_counts(y.numpy(), num_classes=4))
    # Labels alone, batch by batch with update.
    manual = wxent.LabelCounter(4)
    for _, labels in loader:
        manual.update(labels)
    assert_close(manual.counts, counter.counts)


def test_counter_from_tf_data(rng):
    y = rng.integers(0, 3, size=40)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    sw = rng.random(40)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    assert_close(wxent.LabelCounter.from_batches(ds).counts, wxent.label_counts(y))
    weighted = tf.data.Dataset.from_tensor_slices((x, y, sw)).batch(7)
    assert_close(
        wxent.LabelCounter.from_batches(weighted).counts,
        wxent.label_counts(y, sample_weight=sw),
        rtol=1e-6,
    )
    multi = (rng.random((40, 5)) < 0.2).astype(np.float32)
    labels_only = tf.data.Dataset.from_tensor_slices(multi).batch(9)
    assert_close(
        wxent.LabelCounter.from_batches(labels_only, multi_label=True).counts,
        wxent.label_counts(multi, multi_label=True),
    )


def test_counter_grows_and_jax_batches():
    counter = wxent.LabelCounter()
    counter.update(jnp.array([0, 1]))
    counter.update(jnp.array([4]))
    assert_close(counter.counts, [1, 1, 0, 0, 1])
    fixed = wxent.LabelCounter(6)
    assert_close((counter + fixed).counts, [1, 1, 0, 0, 1, 0])
    assert (counter + fixed).num_classes == 6


def test_counter_errors():
    with pytest.raises(TypeError, match=r"`other`. Expected a LabelCounter"):
        wxent.LabelCounter() + np.zeros(3)
    with pytest.raises(ValueError, match=r"`other`. Expected a LabelCounter with multi_label"):
        wxent.LabelCounter() + wxent.LabelCounter(multi_label=True)
    with pytest.raises(ValueError, match=r"`other`. Expected a LabelCounter with num_classes=3"):
        wxent.LabelCounter(3) + wxent.LabelCounter(4)
    counter = wxent.LabelCounter(multi_label=True).update(np.eye(3))
    with pytest.raises(ValueError, match=r"`labels`. Expected multi-hot batches with L=3"):
        counter.update(np.eye(2))
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        wxent.LabelCounter(2).update(np.array([2]))


# ----------------------------------------------------------------------------- class_weights


@settings(max_examples=25, deadline=None)
@given(_label_sets())
def test_balanced_equals_sklearn(data):
    labels, sw, c = data
    classes = np.arange(c)
    expected = compute_class_weight("balanced", classes=classes, y=labels)
    assert_close(wxent.class_weights(labels), expected, rtol=1e-12)
    weighted = compute_class_weight("balanced", classes=classes, y=labels, sample_weight=sw)
    assert_close(wxent.class_weights(labels, sample_weight=sw), weighted, rtol=1e-12)


def test_balanced_equals_sklearn_every_eager_backend(eager_backend, rng):
    labels = np.concatenate([np.arange(4), rng.integers(0, 4, size=30)])
    sw = rng.random(labels.size) + 0.1
    expected = compute_class_weight("balanced", classes=np.arange(4), y=labels, sample_weight=sw)
    got = wxent.class_weights(
        eager_backend.asarray(labels), sample_weight=eager_backend.asarray(sw)
    )
    assert_close(got, expected, rtol=1e-6)


@pytest.mark.parametrize("normalize", [None, "sum", "mean"])
@pytest.mark.parametrize("beta", [0.9, 0.999, 0.9999])
def test_effective_number_formula(normalize, beta):
    n = np.array([1.0, 10.0, 100.0, 5000.0])
    raw = (1 - beta) / (1 - beta**n)
    expected = {None: raw, "sum": raw / raw.sum(), "mean": raw * n.size / raw.sum()}[normalize]
    got = wxent.class_weights(counts=n, scheme="effective_number", beta=beta, normalize=normalize)
    assert_close(got, expected, rtol=1e-10)
    assert_close(
        got, ref.normalized(ref.scheme_weights(list(n), "effective_number", beta), normalize)
    )


def test_effective_number_limits():
    n = np.array([3.0, 30.0])
    assert_close(wxent.class_weights(counts=n, scheme="effective_number", beta=0.0), [1.0, 1.0])
    # beta -> 1 approaches inverse frequency (normalised).
    near = wxent.class_weights(counts=n, scheme="effective_number", beta=1 - 1e-9, normalize="sum")
    assert_close(near, wxent.class_weights(counts=n, scheme="inverse", normalize="sum"), rtol=1e-6)


@pytest.mark.parametrize(
    "scheme", ["balanced", "inverse", "inverse_sqrt", "effective_number", "median_frequency"]
)
@pytest.mark.parametrize("normalize", [None, "sum", "mean"])
def test_every_scheme_against_loop(scheme, normalize, rng):
    labels = np.concatenate([np.arange(5), rng.integers(0, 5, size=60) ** 2 % 5])
    n = ref.counts(labels, 5)
    expected = ref.normalized(ref.scheme_weights(n, scheme), normalize)
    assert_close(wxent.class_weights(labels, scheme=scheme, normalize=normalize), expected)
    counter = wxent.LabelCounter.from_batches([labels[:20], labels[20:]])
    got = wxent.class_weights(counts=counter, scheme=scheme, normalize=normalize)
    assert_close(got, expected)
    if normalize == "sum":
        assert_close(got.sum(), 1.0)
    if normalize == "mean":
        assert_close(got.mean(), 1.0)


def test_median_frequency_median_class_gets_one():
    w = wxent.class_weights(counts=[10, 20, 70], scheme="median_frequency")
    assert_close(w, [2.0, 1.0, 20 / 70])


@pytest.mark.parametrize(
    "scheme", ["balanced", "inverse", "inverse_sqrt", "effective_number", "median_frequency"]
)
@pytest.mark.parametrize("normalize", [None, "sum", "mean"])
def test_zero_count_policies(scheme, normalize):
    counts = np.array([5.0, 0.0, 20.0, 0.0])
    with pytest.raises(
        ValueError,
        match=r"`counts`. Expected at least one sample for every class.*"
        r"Received: no sample for class\(es\) \[1, 3\] of 4",
    ):
        wxent.class_weights(counts=counts, scheme=scheme, normalize=normalize)
    zero = wxent.class_weights(counts=counts, scheme=scheme, normalize=normalize, zero_count="zero")
    big = wxent.class_weights(counts=counts, scheme=scheme, normalize=normalize, zero_count="max")
    for w in (zero, big):
        assert np.isfinite(w).all()
    assert zero[1] == zero[3] == 0.0
    assert big[1] == big[3] == big.max() == big[0]
    # The classes seen keep their ratios.
    present = wxent.class_weights(counts=counts[[0, 2]], scheme="inverse")
    if scheme == "inverse":
        assert_close(zero[0] / zero[2], present[0] / present[1])


def test_zero_count_from_labels_names_classes():
    with pytest.raises(ValueError, match=r"`labels`.*no sample for class\(es\) \[2\] of 3"):
        wxent.class_weights(np.array([0, 1, 1]), num_classes=3)
    # A class whose samples all weigh 0 has a zero count too (scikit-learn gives inf).
    w = wxent.class_weights(np.array([0, 1, 1]), sample_weight=[0.0, 1.0, 1.0], zero_count="zero")
    assert np.isfinite(w).all() and w[0] == 0.0


def test_class_weights_errors():
    with pytest.raises(ValueError, match=r"`scheme`. Expected one of \"balanced\""):
        wxent.class_weights([0, 1], scheme="focal")
    with pytest.raises(ValueError, match=r"`normalize`. Expected one of None, \"sum\", \"mean\""):
        wxent.class_weights([0, 1], normalize="max")
    with pytest.raises(ValueError, match=r"`beta`. Expected a float in \[0, 1\)"):
        wxent.class_weights([0, 1], scheme="effective_number", beta=1.0)
    with pytest.raises(TypeError, match=r"`beta`. Expected a float in \[0, 1\)"):
        wxent.class_weights([0, 1], beta="0.9")
    with pytest.raises(ValueError, match=r"`zero_count`. Expected one of \"raise\", \"zero\""):
        wxent.class_weights([0, 1], zero_count="ignore")
    with pytest.raises(ValueError, match=r"`labels`. Expected exactly one of `labels` and"):
        wxent.class_weights()
    with pytest.raises(ValueError, match=r"Received: both"):
        wxent.class_weights([0, 1], counts=[1, 1])
    with pytest.raises(ValueError, match=r"`counts`. Expected counts of shape \(C,\)"):
        wxent.class_weights(counts=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"`counts`. Expected finite non-negative values"):
        wxent.class_weights(counts=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"`counts`. Expected at least one counted sample"):
        wxent.class_weights(counts=[0.0, 0.0], zero_count="zero")
    with pytest.raises(ValueError, match=r"`num_classes`. Expected the number of counts 2"):
        wxent.class_weights(counts=[1.0, 2.0], num_classes=3)
    with pytest.raises(ValueError, match=r"`sample_weight`. Expected None when `counts`"):
        wxent.class_weights(counts=[1.0, 2.0], sample_weight=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"`counts`. Expected a LabelCounter with multi_label"):
        wxent.class_weights(counts=wxent.LabelCounter(multi_label=True).update(np.eye(2)))


# ----------------------------------------------------------------------------- pos_weights


def test_pos_weights_negatives_over_positives(eager_backend, rng):
    labels = (rng.random((200, 6)) < np.linspace(0.02, 0.5, 6)).astype(np.float32)
    labels[0] = 1.0  # every label has a positive
    labels[1] = 0.0
    neg, pos = ref.multi_hot_counts(labels)
    got = wxent.pos_weights(eager_backend.asarray(labels))
    assert_close(got, [n / p for n, p in zip(neg, pos, strict=True)], rtol=1e-12)
    assert_close(
        wxent.pos_weights(eager_backend.asarray(labels), max_weight=5.0), np.minimum(got, 5.0)
    )


def test_pos_weights_sparse_multilabel_story(rng):
    # 30 labels, about one positive per row: pos_weight is about 29.
    labels = np.eye(30)[rng.integers(0, 30, size=3000)]
    w = wxent.pos_weights(labels)
    assert_close(w.mean(), 29.0, rtol=0.1)
    assert_close(wxent.pos_weights(counts=wxent.label_counts(labels, multi_label=True)), w)


def test_pos_weights_zero_count_policies():
    labels = np.array([[1, 0, 0], [0, 0, 1], [0, 0, -1], [0, 0, 0]])
    with pytest.raises(
        ValueError, match=r"`labels`.*Received: no positive for class\(es\) \[1\] of 3"
    ):
        wxent.pos_weights(labels)
    zero = wxent.pos_weights(labels, zero_count="zero")
    big = wxent.pos_weights(labels, zero_count="max")
    assert_close(zero, [3.0, 0.0, 2.0])
    assert_close(big, [3.0, 3.0, 2.0])
    assert_close(wxent.pos_weights(labels, zero_count="max", max_weight=2.5), [2.5, 2.5, 2.0])
    none = wxent.pos_weights(counts=[[3.0, 4.0], [0.0, 0.0]], zero_count="max")
    assert np.isfinite(none).all() and (none == 0).all()
    # A label without negatives gets 0 / positives = 0.
    assert_close(wxent.pos_weights(np.array([[1, 0], [1, 1]])), [0.0, 1.0])


def test_pos_weights_errors():
    with pytest.raises(ValueError, match=r"`max_weight`. Expected a finite float > 0 or None"):
        wxent.pos_weights(np.eye(2), max_weight=0.0)
    with pytest.raises(TypeError, match=r"`max_weight`. Expected a finite float > 0 or None"):
        wxent.pos_weights(np.eye(2), max_weight="1")
    with pytest.raises(ValueError, match=r"`counts`. Expected counts of shape \(2, L\)"):
        wxent.pos_weights(counts=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"`counts`. Expected a LabelCounter with multi_label=T"):
        wxent.pos_weights(counts=wxent.LabelCounter(2))


# ----------------------------------------------------------------------------- class_prior


def test_class_prior_frequencies(eager_backend, rng):
    labels = np.concatenate([np.arange(4), rng.integers(0, 4, size=40)])
    n = np.array(ref.counts(labels, 4))
    got = wxent.class_prior(eager_backend.asarray(labels))
    assert_close(got, n / n.sum(), rtol=1e-12)
    assert_close(wxent.class_prior(counts=n), n / n.sum())


def test_class_prior_zero_count_policies():
    labels = np.array([0, 0, 0, 2])
    with pytest.raises(
        ValueError,
        match=r"`labels`.*zero_count=\"min\" or \"laplace\".*no sample for class\(es\) \[1\] of 3",
    ):
        wxent.class_prior(labels)
    low = wxent.class_prior(labels, zero_count="min")
    assert_close(low, [3 / 5, 1 / 5, 1 / 5])
    lap = wxent.class_prior(labels, zero_count="laplace", num_classes=4)
    assert_close(lap, [4 / 8, 1 / 8, 2 / 8, 1 / 8])
    for prior in (low, lap):
        assert (prior > 0).all() and np.isfinite(np.log(prior)).all()
    assert_close(wxent.class_prior(counts=[0.0, 0.0], zero_count="laplace"), [0.5, 0.5])
    with pytest.raises(ValueError, match=r"`zero_count`. Expected one of \"raise\", \"min\""):
        wxent.class_prior(labels, zero_count="zero")
    with pytest.raises(ValueError, match=r"`labels`. Expected at least one counted sample"):
        wxent.class_prior(np.array([], dtype=np.int64), num_classes=2, zero_count="min")


def test_weights_feed_the_losses_on_every_backend(backend, rng):
    labels = np.concatenate([np.arange(3), rng.integers(0, 3, size=20)])
    logits = rng.normal(size=(labels.size, 3)).astype(np.float32)
    cw = wxent.class_weights(labels, normalize="mean")
    prior = wxent.class_prior(labels)

    def f(x, y):
        return wxent.softmax_cross_entropy(
            x, y, class_weight=cw
        ) + wxent.logit_adjusted_cross_entropy(x, y, prior)

    got = backend.call(f, logits, labels)
    expected = reference.softmax_ce(logits, labels, class_weight=cw) + ref.logit_adjusted(
        logits, labels, prior
    )
    assert_close(got, expected)


def test_huge_label_refused_before_allocating_by_value():
    # A stray label 50,000,000 means 49,999,998 classes without samples: reported from the
    # labels present, with no 400 MB per-class array.
    labels = np.array([0, 1, 1, 50_000_000])
    tracemalloc.start()
    try:
        for f, policies in [
            (wxent.class_weights, r"zero_count=\"zero\" or \"max\""),
            (wxent.class_prior, r"zero_count=\"min\" or \"laplace\""),
        ]:
            with pytest.raises(
                ValueError,
                match=policies + r"\). Received: no sample for class\(es\) \[2, 3, .*21\] "
                r"and 49999978 more of 50000001",
            ):
                f(labels)
        with pytest.raises(ValueError, match=r"\[1, 2, 3, 4, 6, 7, .* and 49999978 more"):
            wxent.class_weights(np.array([0, 1, 50_000_000, 5]), sample_weight=[1, 0, 1, 1])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
