"""Class names where labels come from people: strings, bools, categoricals, tag sets.

``class_weights``, ``class_prior``, ``label_counts``, ``pos_weights`` and
``LabelCounter`` take class names, order them as scikit-learn does (``classes=``, else
sorted), and return ``{class: weight}`` with ``as_dict=True`` — what Keras
``fit(class_weight=...)`` takes. Integer labels keep their meaning (class indices).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

import wxent

NAMES = ["bird", "cat", "dog"]


def sklearn_dict(labels, classes, sample_weight=None):
    w = compute_class_weight(
        "balanced", classes=np.asarray(classes), y=np.asarray(labels), sample_weight=sample_weight
    )
    return dict(zip(classes, w.tolist(), strict=True))


def test_issue_example_equals_sklearn():
    got = wxent.class_weights(["cat", "dog", "dog"], as_dict=True)
    assert got == pytest.approx(sklearn_dict(["cat", "dog", "dog"], ["cat", "dog"]), rel=1e-12)
    assert list(got) == ["cat", "dog"]
    assert all(type(k) is str for k in got) and all(type(x) is float for x in got.values())


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=40),
    st.permutations(NAMES),
    st.sampled_from(["list", "str_array", "object_array", "arrow", "dictionary"]),
)
def test_names_equal_sklearn_with_classes(labels, order, container):
    labels = [*NAMES, *labels]  # every class occurs
    data = {
        "list": labels,
        "str_array": np.array(labels),
        "object_array": np.array(labels, dtype=object),
        "arrow": pa.array(labels),
        "dictionary": pa.array(labels).dictionary_encode(),
    }[container]
    expected = sklearn_dict(labels, list(order))
    got = wxent.class_weights(data, classes=list(order), as_dict=True)
    assert list(got) == list(order)
    assert got == pytest.approx(expected, rel=1e-12)
    array = wxent.class_weights(data, classes=list(order))
    np.testing.assert_allclose(array, list(expected.values()), rtol=1e-12)
    # Without classes: sorted, as np.unique (and scikit-learn's usual classes=np.unique(y)).
    assert list(wxent.class_weights(data, as_dict=True)) == sorted(NAMES)


def test_bools_equal_sklearn():
    labels = [True, False, False, False]
    expected = sklearn_dict(labels, [False, True])
    for data in (labels, np.array(labels), torch.tensor(labels), tf.constant(labels)):
        got = wxent.class_weights(data, as_dict=True)
        assert got == pytest.approx(expected, rel=1e-12)
        assert [type(k) for k in got] == [bool, bool]
    # Both classes always exist: a set without True has a zero count for True.
    with pytest.raises(ValueError, match=r"no sample for class\(es\) \[True\] of 2"):
        wxent.class_weights([False, False])
    np.testing.assert_array_equal(wxent.label_counts(np.array([False, False])), [2.0, 0.0])


def test_integer_labels_keep_their_meaning(rng):
    labels = np.concatenate([np.arange(4), rng.integers(0, 4, size=50)])
    before = compute_class_weight("balanced", classes=np.arange(4), y=labels)
    np.testing.assert_allclose(wxent.class_weights(labels), before, rtol=1e-12)
    as_dict = wxent.class_weights(labels, as_dict=True)
    assert list(as_dict) == [0, 1, 2, 3] and all(type(k) is int for k in as_dict)
    np.testing.assert_allclose(list(as_dict.values()), before, rtol=1e-12)
    # Gaps stay classes (indices), as before.
    with pytest.raises(ValueError, match=r"no sample for class\(es\) \[1\] of 3"):
        wxent.class_weights(np.array([0, 2, 2]))
    # classes= maps integer values to positions, as scikit-learn does.
    ids = np.array([10, 30, 30, 10, 10])
    got = wxent.class_weights(ids, classes=[30, 10], as_dict=True)
    assert got == pytest.approx(sklearn_dict(ids, [30, 10]), rel=1e-12)


@pytest.mark.parametrize("make", [torch.tensor, jnp.asarray, tf.constant])
def test_framework_integer_labels_with_classes(make):
    ids = np.array([7, 3, 3, 3])
    got = wxent.class_weights(make(ids), classes=[3, 7], as_dict=True)
    assert got == pytest.approx({3: 2 / 3, 7: 2.0}, rel=1e-6)


def test_tensorflow_string_tensors():
    labels = tf.constant(["dog", "cat", "dog"])
    assert wxent.label_counts(labels, as_dict=True) == {"cat": 1.0, "dog": 2.0}


class FakeCategorical:
    """The attributes wxent reads from a pandas ``Categorical`` (pandas is optional)."""

    __module__ = "pandas.core.arrays.categorical"

    def __init__(self, values, categories):
        self.categories = list(categories)
        self.codes = np.array([self.categories.index(x) if x is not None else -1 for x in values])


def test_categoricals_keep_their_category_order():
    cat = FakeCategorical(["lo", "hi", "hi", "mid"], categories=["lo", "mid", "hi", "never"])
    counts = wxent.label_counts(cat, as_dict=True)
    assert counts == {"lo": 1.0, "mid": 1.0, "hi": 2.0, "never": 0.0}
    with pytest.raises(ValueError, match=r"no sample for class\(es\) \['never'\] of 4"):
        wxent.class_weights(cat)
    w = wxent.class_weights(cat, classes=["hi", "lo", "mid"], as_dict=True)
    assert w == pytest.approx(sklearn_dict(["lo", "hi", "hi", "mid"], ["hi", "lo", "mid"]))
    with pytest.raises(ValueError, match=r"`labels`. Expected labels among `classes`"):
        wxent.class_weights(cat, classes=["hi", "lo"])
    with pytest.raises(ValueError, match=r"`labels`. Expected a class for every entry"):
        wxent.label_counts(FakeCategorical(["lo", None], categories=["lo"]))
    arrow = pa.array(["b", "a", "b"]).dictionary_encode()
    assert wxent.label_counts(arrow, as_dict=True) == {"b": 2.0, "a": 1.0}  # dictionary order
    with pytest.raises(ValueError, match=r"`labels`. Expected a class for every entry"):
        wxent.label_counts(pa.array(["a", None]))


def test_prior_and_counts_with_names():
    labels = ["b", "a", "b", "b"]
    assert wxent.class_prior(labels, as_dict=True) == {"a": 0.25, "b": 0.75}
    prior = wxent.class_prior(labels, classes=["a", "b", "c"], zero_count="laplace")
    np.testing.assert_allclose(prior, [2 / 7, 4 / 7, 1 / 7])
    w = wxent.label_counts(labels, sample_weight=[1.0, 2.0, 0.5, 0.5], as_dict=True)
    assert w == {"a": 2.0, "b": 2.0}
    # classes= with counts names each count.
    named = wxent.class_weights(counts=[1.0, 3.0], classes=["x", "y"], as_dict=True)
    assert named == pytest.approx({"x": 2.0, "y": 2 / 3})


def test_counter_with_names_over_batches_and_shards():
    batches = [["dog", "cat"], np.array(["dog", "emu"]), tf.constant(["cat"])]
    counter = wxent.LabelCounter()
    for b in batches:
        counter.update(b)
    assert counter.classes == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(counter.counts, [2, 2, 1])
    shard = wxent.LabelCounter.from_batches([["ant"], ["dog"]])
    merged = counter + shard
    assert merged.classes == ["ant", "cat", "dog", "emu"]
    np.testing.assert_array_equal(merged.counts, [1, 2, 3, 1])
    assert wxent.class_weights(merged, as_dict=True) == pytest.approx(
        sklearn_dict(["dog", "cat", "dog", "emu", "cat", "ant", "dog"], merged.classes)
    )
    fixed = wxent.LabelCounter(classes=["emu", "dog", "cat", "ant"]).update(["dog"])
    assert (fixed + counter).classes == ["emu", "dog", "cat", "ant"]
    np.testing.assert_array_equal((fixed + counter).counts, [1, 3, 2, 0])
    with pytest.raises(ValueError, match=r"`labels`. Expected labels among `classes`"):
        fixed.update(["yak"])
    with pytest.raises(TypeError, match=r"`labels`. Expected class labels of the kind"):
        wxent.LabelCounter().update([0, 1]).update(["cat"])
    assert "classes=['cat', 'dog', 'emu']" in repr(counter)
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((5, 1)), ["a", "b", "b", "c", "a"])).batch(2)
    np.testing.assert_array_equal(wxent.LabelCounter.from_batches(ds).counts, [2, 2, 1])


def test_multi_label_names_and_tag_sets():
    tags = [["cat"], ["dog"], [], ["cat", "dog"], []]
    assert wxent.pos_weights(tags, as_dict=True) == {"cat": 1.5, "dog": 1.5}
    assert wxent.pos_weights(tags, classes=["dog", "cat", "emu"], zero_count="zero") == (
        pytest.approx([1.5, 1.5, 0.0])
    )
    assert wxent.label_counts(tags, multi_label=True, as_dict=True) == {
        "cat": (3.0, 2.0),
        "dog": (3.0, 2.0),
    }
    matrix = np.array([[1, 0], [0, 0], [0, 1], [0, 0]])
    assert wxent.pos_weights(matrix, classes=["toxic", "spam"], as_dict=True) == {
        "toxic": 3.0,
        "spam": 3.0,
    }
    table = pa.table({"toxic": [1, 0, 0, 0], "spam": [0, 1, 1, 0]})
    assert wxent.pos_weights(table, as_dict=True) == {"toxic": 3.0, "spam": 1.0}
    counter = wxent.LabelCounter(multi_label=True, classes=["toxic", "spam"]).update(matrix)
    assert wxent.pos_weights(counter, as_dict=True) == {"toxic": 3.0, "spam": 3.0}
    with pytest.raises(ValueError, match=r"`classes`. Expected one name per label, L=2"):
        wxent.pos_weights(matrix, classes=["a"])
    with pytest.raises(ValueError, match=r"`labels`. Expected tags among `classes`"):
        wxent.pos_weights(tags, classes=["cat"])


def test_class_name_errors():
    with pytest.raises(ValueError, match=r"`labels`. Expected labels among `classes` \['a'\]"):
        wxent.class_weights(["a", "b"], classes=["a"])
    with pytest.raises(ValueError, match=r"`classes`. Expected distinct class values"):
        wxent.class_weights(["a"], classes=["a", "a"])
    with pytest.raises(ValueError, match=r"`classes`. Expected a non-empty 1-D sequence"):
        wxent.class_weights(["a"], classes=[])
    with pytest.raises(TypeError, match=r"`classes`. Expected a sequence of class values"):
        wxent.class_weights(["a"], classes="a")
    with pytest.raises(ValueError, match=r"`num_classes`. Expected the number of classes 2"):
        wxent.label_counts(["a", "b"], num_classes=3)
    with pytest.raises(ValueError, match=r"`classes`. Expected one class per count \(2\)"):
        wxent.class_weights(counts=[1.0, 2.0], classes=["a"])
    with pytest.raises(TypeError, match=r"`as_dict`. Expected a bool"):
        wxent.class_weights(["a"], as_dict="yes")
    with pytest.raises(ValueError, match=r"`labels`. Expected a class for every entry"):
        wxent.class_weights(np.array(["a", float("nan")], dtype=object))


def test_as_dict_is_what_keras_fit_takes(rng):
    import keras

    y = np.concatenate([np.zeros(30, int), np.ones(6, int), np.full(4, 2)])
    x = rng.normal(size=(y.size, 3)).astype("float32")

    def first_loss(**weighting):
        init = keras.initializers.RandomNormal(stddev=2.0, seed=1)
        model = keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(3, kernel_initializer=init)]
        )
        model.compile(
            optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        history = model.fit(x, y, epochs=1, batch_size=y.size, verbose=0, **weighting)
        return history.history["loss"][0]

    # Keras weighs each sample by class_weight[y]: the same as sample_weight=w[y].
    by_class = first_loss(class_weight=wxent.class_weights(y, as_dict=True))
    by_sample = first_loss(sample_weight=wxent.class_weights(y)[y])
    plain = first_loss()
    assert by_class == pytest.approx(by_sample, rel=1e-5)
    assert by_class != pytest.approx(plain, rel=1e-3)
