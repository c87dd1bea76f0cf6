"""Data-side tools on hostile input: thresholds, accumulators, label files."""

from __future__ import annotations

import json

import numpy as np
import pytest

import wxent

# ----------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_infinite_threshold_predicts_no_infinite_logit(backend, dtype):
    """``threshold=+inf``: nothing is above it, a ``+inf`` logit included, on every backend
    and dtype (float32 logits once compared with float32's largest number instead;
    array_api_strict has no float16: float32 stands in for it there)."""
    if dtype == np.float16 and backend.name == "strict":
        dtype = np.float32
    x = np.array([[-2.0, np.inf], [np.inf, 0.0]], dtype=dtype)
    y = np.array([[0, 0], [1, 0]])
    t = float("inf")
    pred = backend.call(lambda a: wxent.predict(a, threshold=t), x)
    assert not np.asarray(pred).any()
    per_label = backend.call(lambda a: wxent.predict(a, threshold=np.array([t, 0.0])), x)
    assert np.asarray(per_label).tolist() == [[False, True], [False, False]]
    cm = backend.call(lambda a, b: wxent.confusion_matrix(a, b, threshold=t), x, y)
    assert np.asarray(cm).tolist() == [[[1, 0], [1, 0]], [[2, 0], [0, 0]]]  # per label


def test_tuned_infinite_threshold_reproduces_its_objective():
    """The "nothing positive" threshold above a ``+inf`` logit is ``+inf``; ``predict``
    must then predict nothing, as the objective reported by the search assumed."""
    x = np.array([-2.0, np.inf], dtype=np.float32)
    y = np.array([0, 0])
    t, cost = wxent.tune_thresholds(
        x, y, objective="expected_cost", cost_fp=1.0, cost_fn=5.0, return_objective=True
    )
    assert t == np.inf and cost == 0.0
    assert not wxent.predict(x, threshold=t).any()


# ----------------------------------------------------------------------------- accumulator


def test_accumulator_refuses_int32_counts_that_wrapped():
    """JAX without x64 counts in int32: running sums past 2**31 - 1 wrapped to negative
    counts (a negative confusion matrix, precision ``-0``); ``compute()`` now refuses them,
    also after a merge or a pickle round trip, and keeps exact counts below the limit."""
    import pickle

    import jax

    assert not jax.config.jax_enable_x64  # (with x64, JAX counts in int64)
    jnp = jax.numpy
    acc = wxent.MetricAccumulator().update(jnp.eye(3), jnp.array([0, 1, 1]))
    for _ in range(29):  # doubling: 2**29 per count, still exact
        acc.merge(acc)
    assert int(acc.compute()["confusion_matrix"][1, 2]) == 2**29
    acc.merge(acc).merge(acc)  # 2**31: past int32
    with pytest.raises(ValueError, match="int32"):
        acc.compute()
    shard = pickle.loads(pickle.dumps(acc))
    with pytest.raises(ValueError, match="int32"):
        (wxent.MetricAccumulator() + shard).compute()
    acc.reset().update(jnp.eye(3), jnp.array([0, 1, 2]))
    assert float(acc.compute()["recall"]) == 1.0


# ----------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("labels", "kinds"),
    [([0, 1, 2, "NA"], "int, str"), (["a", 1], "int, str"), ((True, "x"), "bool, str")],
)
def test_listed_labels_of_two_kinds_are_refused(labels, kinds):
    """NumPy turns ``[0, 1, 2, "NA"]`` into the names ``"0", "1", "2", "NA"``: the class
    ``0`` was silently counted as the name ``"0"``. A list is now refused like the same
    values in an object array, in every counting function."""
    for count in (
        wxent.class_weights,
        wxent.class_prior,
        wxent.label_counts,
        lambda y: wxent.LabelCounter().update(y),
    ):
        with pytest.raises(TypeError, match=f"one kind.*a mix of {kinds}"):
            count(labels)
    assert wxent.class_weights(["a", "b", "b"], as_dict=True) == {"a": 1.5, "b": 0.75}
    assert wxent.class_weights([[b"a", "b"], ["b", "b"]], as_dict=True)["a"] == 2.0


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_cli_column_of_integers_and_text_is_refused(tmp_path, capsys, suffix):
    """A column of class indices with a stray ``NA`` was read as text and counted as the
    names ``"0"``, ``"1"``, ``"10"``, ``"2"``, ``"NA"`` (``class_weight = {'0': ...}``);
    it is now one error line, exit status 2, naming the label and its row."""
    from wxent import cli

    values = ["0", "1", "NA", "10", "2"]
    path = tmp_path / f"labels{suffix}"
    if suffix == ".npy":
        np.save(path, np.array(values))
    else:
        path.write_text("label\n" + "\n".join(values) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["weights", str(path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "mixes integer class indices" in err and "'NA', row 3" in err
    names = tmp_path / "names.csv"
    names.write_text("label\ncat\ndog\ndog\n")
    assert cli.main(["weights", str(names), "--format", "json"]) == 0
    assert '"cat"' in capsys.readouterr().out


def test_cli_true_false_column_without_one_class(tmp_path, capsys):
    """A true/false column that is all true: the error named ``counts`` and class
    ``[0]`` (and ``--zero-count zero or "max"``); it now names the class ``false`` and
    both flags, and ``--zero-count zero`` gives ``false`` weight 0."""
    from wxent import cli

    path = tmp_path / "labels.csv"
    path.write_text("label\ntrue\ntrue\n")
    with pytest.raises(SystemExit):
        cli.main(["weights", str(path)])
    err = capsys.readouterr().err
    assert "class false" in err and "--zero-count max" in err and "`counts`" not in err
    assert cli.main(["weights", str(path), "--zero-count", "zero", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == [False, True] and report["weights"]["balanced"] == [0.0, 0.5]


def test_cli_npy_matrix_hint_does_not_ask_for_column(tmp_path, capsys):
    """A 2-D ``.npy`` without ``--multi-label`` was told to choose ``--column``, which
    ``.npy`` refuses; the hint now points to ``--multi-label`` only."""
    from wxent import cli

    path = tmp_path / "labels.npy"
    np.save(path, np.array([[1, 0], [0, 1]]))
    with pytest.raises(SystemExit):
        cli.main(["weights", str(path)])
    err = capsys.readouterr().err
    assert "--multi-label" in err and "--column" not in err


def test_multi_label_counter_matches_labels_by_name():
    """Named multi-label batches were added by position: the tag ``b`` of a second batch
    was counted as the tag ``a`` of the first, and table columns in another order were
    swapped. Same labels in another order now align; other labels are an error."""
    import pyarrow as pa

    first = pa.table({"x": [1, 1], "y": [0, 0]})
    second = pa.table({"y": [0], "x": [1]})
    streamed = wxent.LabelCounter(multi_label=True).update(first).update(second)
    merged = wxent.LabelCounter(multi_label=True).update(first) + wxent.LabelCounter(
        multi_label=True
    ).update(second)
    for counter in (streamed, merged):
        assert counter.classes == ["x", "y"]
        assert counter.counts.tolist() == [[0.0, 3.0], [3.0, 0.0]]
    with pytest.raises(ValueError, match=r"labels \['a'\].*classes=.*\['b'\]"):
        wxent.LabelCounter(multi_label=True).update([["a"]]).update([["b"]])
    with pytest.raises(TypeError, match="multi-hot matrix"):
        wxent.LabelCounter(multi_label=True).update(first).update(np.array([[0, 1]]))
    fixed = wxent.LabelCounter(multi_label=True, classes=["a", "b"]).update([["a"]])
    assert fixed.update([["b"]]).counts.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_cli_csv_header_or_row_longer_than_a_block(tmp_path, capsys):
    """pyarrow reads CSV in 1 MiB blocks: a header (many label columns) or a row longer
    than that was refused ("header is larger than block size", "straddling object"),
    and the header was cut at 1 MiB. Both are read now."""
    from wxent import cli

    wide = tmp_path / "wide.csv"
    long_name = "x" * (1 << 20)
    wide.write_text(f"label,{long_name}\n0,a\n1,b\n1,c\n")
    assert cli.main(["weights", str(wide), "--column", "label", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == [1, 2]
    assert cli.main(["weights", str(wide), "--column", long_name, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == ["a", "b", "c"]
    tall = tmp_path / "tall.csv"
    tall.write_text("label\n" + "y" * (3 << 20) + "\nz\nz\n")
    assert cli.main(["weights", str(tall), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == [1, 2]


# ----------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("method", ["platt", "temperature"])
def test_calibration_of_one_label_keeps_its_label_axis(method):
    """A per-label fit on ``(N, 1)`` logits came back as one float and was then applied
    to logits of any number of labels; it is now one value per label, like a fit on
    ``(N, L)``, and logits with another number of labels are an error."""
    x = np.array([[0.5], [1.0], [-1.0], [2.0]])
    y = np.array([[1], [1], [0], [0]])
    one = wxent.calibrate(x, y, method=method)
    assert np.shape(one.scale) == (1,)
    np.testing.assert_allclose(one(x), wxent.calibrate(x[:, 0], y[:, 0], method=method)(x))
    with pytest.raises(ValueError, match="1 labels along class_axis"):
        one(np.zeros((2, 3)))
    pooled = wxent.calibrate(x, y, method=method, per_label=False)
    assert np.ndim(pooled.scale) == 0


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_float64_threshold_tensor_on_float32_logits(framework):
    """A float64 threshold tensor of the logits' framework was cast to the nearest
    float32 (16777219 to 16777220), so the logit 16777220 was not above it, unlike the
    same threshold as a Python float or a NumPy array; now every form agrees, in predict
    and in the metrics, also for a tensor of another framework."""
    if framework == "torch":
        import torch

        x = torch.tensor([16777220.0, 0.0])
        y = torch.tensor([1, 0])
        t64 = torch.tensor(16777219.0, dtype=torch.float64)
        v64 = torch.tensor([16777219.0, 16777219.0], dtype=torch.float64)
    else:
        import tensorflow as tf

        x = tf.constant([16777220.0, 0.0])
        y = tf.constant([1, 0])
        t64 = tf.constant(16777219.0, dtype=tf.float64)
        v64 = tf.constant([[16777219.0, 16777219.0]], dtype=tf.float64)
        x2 = tf.reshape(tf.concat([x, x], 0), (2, 2))
    for threshold in (16777219.0, np.float64(16777219.0), t64):
        assert np.asarray(wxent.predict(x, threshold=threshold)).tolist() == [True, False]
        assert float(wxent.recall(x, y, threshold=threshold)) == 1.0
    if framework == "torch":
        rows = torch.stack([x, x])
        assert np.asarray(wxent.predict(rows, threshold=v64)).tolist() == [[True, False]] * 2
        assert np.asarray(wxent.predict(x, threshold=np.float64(16777219.0))).tolist()[0]
    else:
        assert np.asarray(wxent.predict(x2, threshold=v64[0])).tolist()[0] == [True, False]


@pytest.mark.parametrize("row", [b"dog,\x80\xff", b"\xff\xfe\x00\x81,garbage,more"])
def test_cli_row_of_other_bytes_with_extra_fields_is_one_error_line(tmp_path, capsys, row):
    """pyarrow decodes a ragged row before its bad-row callback: bytes that are not UTF-8
    failed there, and Python printed "Exception ignored in ..." with a traceback (and a
    parse error quoting the bytes) before wxent's error."""
    from wxent import cli

    path = tmp_path / "labels.csv"
    path.write_bytes(b"label\ncat\n" + row + b"\ndog\n")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["weights", str(path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "labels.csv, line 3:" in err and "fields where the header has 1" in err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_cli_semicolon_csv_is_read_with_semicolons(tmp_path, capsys):
    """A spreadsheet's semicolon CSV was one column ``label;x`` whose labels ``cat;1`` ...
    were counted as class names: silently wrong weights."""
    from wxent import cli

    path = tmp_path / "labels.csv"
    path.write_text("label;x\ncat;1\ndog;2\ncat;3\n")
    assert cli.main(["weights", str(path), "--column", "label", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == ["cat", "dog"] and report["counts"] == [2, 1]
    # a comma in the header keeps commas (a semicolon may be part of a name)
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("label,note;kept\ncat,a;b\ndog,c\n")
    assert cli.main(["weights", str(mixed), "--column", "label", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == [1, 1]
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("label\tx\ncat\t1\n")
    assert cli.main(["weights", str(tabs), "--column", "label", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == ["cat"]
