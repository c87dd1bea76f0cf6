"""tune_thresholds and predict: exact search against brute force and scikit-learn."""

from __future__ import annotations

import re
import warnings
import zlib

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import TunedThresholdClassifierCV

import reference_thresholds as ref
import wxent
from wxent import _threshold_search as search

OBJECTIVES = {
    "f1": {},
    "fbeta": {"beta": 2.0},
    "recall_at_precision": {"precision": 0.6},
    "precision_at_recall": {"recall": 0.7},
    "expected_cost": {"cost_fp": 1.0, "cost_fn": 4.0, "cost_tp": 0.5, "cost_tn": 0.2},
    "balanced_accuracy": {},
}


def _tied_data(rng, n=120, labels=4, infinite=False):
    """Logits rounded to one decimal (many ties), labels with varying positive rates."""
    logits = np.round(rng.normal(size=(n, labels)), 1).astype(np.float32)
    labels_ = (rng.random((n, labels)) < 0.25 + 0.5 * rng.random(labels)).astype(np.float32)
    logits += labels_ * 0.5
    if infinite:
        logits[0, 0], logits[1, 0], logits[2, 1] = np.inf, -np.inf, -np.inf
    return logits, labels_


# ----------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
@pytest.mark.parametrize("mode", ["per_label", "global", "binary"])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_brute_force_over_all_distinct_thresholds(objective, mode, weighted):
    rng = np.random.default_rng(zlib.crc32(f"{objective}-{mode}-{weighted}".encode()))
    params = OBJECTIVES[objective]
    for trial in range(6):
        logits, labels = _tied_data(rng, infinite=trial % 2 == 1)
        if mode == "binary":
            logits, labels = logits[:, 0], labels[:, 0]
        weight = rng.uniform(0.0, 2.0, size=logits.shape[0]) if weighted else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wxent.ThresholdWarning)
            t, value = wxent.tune_thresholds(
                logits,
                labels,
                objective=objective,
                per_label=mode == "per_label",
                sample_weight=weight,
                return_objective=True,
                **params,
            )
        w = (
            np.ones(logits.shape)
            if weight is None
            else np.broadcast_to(weight.reshape(-1, *[1] * (logits.ndim - 1)), logits.shape)
        )
        if mode == "per_label":
            assert t.shape == value.shape == (logits.shape[1],)
            columns = [(logits[:, j], labels[:, j], w[:, j], t[j], value[j]) for j in range(4)]
        else:
            assert isinstance(t, float) and isinstance(value, float)
            columns = [(logits.ravel(), labels.ravel(), w.ravel(), t, value)]
        for s, z, wj, tj, vj in columns:
            mask, best, _ = ref.brute_force(s, z, wj, objective, params)
            np.testing.assert_array_equal(s > tj, mask)
            assert vj == pytest.approx(best, rel=1e-9, abs=1e-12)


def test_one_sort_of_all_labels_equals_the_per_label_curves():
    """The unweighted search sorts all labels at once; its counts equal the merge's."""
    rng = np.random.default_rng(21)
    pool = np.array([-np.inf, np.inf, -0.0, 0.0, 1.0, -1.0, 2.5, 3.0, 1e-45], np.float32)
    for n in (1, 2, 7, 40, 300):
        x = rng.choice(pool, size=(5, n))
        z = rng.random((5, n)) < np.array([0.0, 0.1, 0.5, 0.9, 1.0])[:, None]
        for j, got in enumerate(search.sorted_curves(x, z)):
            want = search.curve(x[j], z[j], None)
            for field in ("values", "tp", "fp", "usable"):
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
            assert (got.pos, got.neg) == (want.pos, want.neg)


@pytest.mark.parametrize("weighted", [False, True])
def test_blocks_of_labels_on_threads_give_the_same_thresholds(weighted, monkeypatch):
    rng = np.random.default_rng(22)
    x = np.round(rng.normal(size=(20_000, 64)), 2).astype(np.float32)  # 1.28M: threaded
    z = (rng.random(x.shape) < rng.uniform(0.01, 0.3, size=64)).astype(np.float32)
    x += z
    w = rng.uniform(0.5, 1.5, size=x.shape[0]) if weighted else None
    got = wxent.tune_thresholds(x, z, sample_weight=w, return_objective=True)
    monkeypatch.setattr(search, "in_blocks", lambda solve, rows, size: solve(0, rows))
    want = wxent.tune_thresholds(x, z, sample_weight=w, return_objective=True)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    for j in (0, 31, 63):  # one label alone: below the threading size
        alone = wxent.tune_thresholds(x[:, j], z[:, j], sample_weight=w, return_objective=True)
        assert alone == (got[0][j], got[1][j])


def test_thresholds_are_finite_and_representable_in_the_logits_dtype(rng):
    logits, labels = _tied_data(rng)
    labels[:, 0] = 0  # no positives: F1 is 0 everywhere, nothing predicted
    labels[:, 1] = 1  # all positive: everything predicted
    t = wxent.tune_thresholds(logits, labels)
    assert np.isfinite(t).all()
    np.testing.assert_array_equal(t.astype(np.float32).astype(np.float64), t)
    assert (logits[:, 0] > t[0]).sum() == 0
    assert (logits[:, 1] > t[1]).all()
    assert t[0] == logits[:, 0].max() + max(1.0, abs(float(logits[:, 0].max())))


def test_adjacent_float32_logits_split_at_the_lower_one():
    lo = np.float32(1.0)
    hi = np.nextafter(lo, np.float32(2.0))
    logits = np.array([hi, lo, lo, 0.0], dtype=np.float32)
    labels = np.array([1, 0, 0, 0])
    t = wxent.tune_thresholds(logits, labels)
    assert t == float(lo)
    assert (logits > t).tolist() == [True, False, False, False]


def test_16_bit_logits_get_thresholds_of_their_dtype():
    import torch

    logits = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.bfloat16)
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    t = wxent.tune_thresholds(logits, labels)
    assert float(torch.tensor(t, dtype=torch.bfloat16)) == t
    assert wxent.predict(logits, threshold=t).tolist() == [False, False, True, True]


# ----------------------------------------------------------------------------- scikit-learn


class _Scores(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose decision function is the held-out scores in X[:, 0]."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def decision_function(self, X):
        return np.asarray(X)[:, 0]


def _cost_score(y, pred):
    # the same costs as OBJECTIVES["expected_cost"], as a negated mean cost
    c = OBJECTIVES["expected_cost"]
    cm = np.array([[c["cost_tn"], c["cost_fp"]], [c["cost_fn"], c["cost_tp"]]])
    return -float(cm[y, pred].mean())


@pytest.mark.parametrize(
    ("objective", "scoring"),
    [
        ("f1", "f1"),
        ("fbeta", skm.make_scorer(skm.fbeta_score, beta=2.0)),
        ("balanced_accuracy", "balanced_accuracy"),
        ("expected_cost", skm.make_scorer(_cost_score)),
    ],
)
def test_equals_tuned_threshold_classifier_cv_on_binary_data(objective, scoring):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    y = 1 - y  # malignant is the positive class
    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=0.5, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05)).fit(x_fit, y_fit)
    scores = model.decision_function(x_val).astype(np.float32)
    held_out = scores.astype(np.float64)[:, None]
    # sklearn predicts positive where score >= threshold: every distinct score, plus one
    # above them all for "nothing positive", ascending as np.interp needs.
    candidates = np.append(np.unique(held_out), held_out.max() + 1.0)
    tuned = TunedThresholdClassifierCV(
        FrozenEstimator(_Scores().fit(held_out, y_val)),
        scoring=scoring,
        response_method="decision_function",
        thresholds=candidates,
        cv="prefit",
        refit=False,
    ).fit(held_out, y_val)
    t, value = wxent.tune_thresholds(
        scores, y_val, objective=objective, return_objective=True, **OBJECTIVES[objective]
    )
    expected = -tuned.best_score_ if objective == "expected_cost" else tuned.best_score_
    assert value == pytest.approx(expected, rel=1e-12)
    ours = (scores > t).astype(int)
    theirs = tuned.predict(held_out)
    their_score = scoring(tuned, held_out, y_val) if callable(scoring) else None
    if their_score is not None:
        assert abs(their_score) == pytest.approx(abs(expected), rel=1e-12)
    # both decisions reach the same optimum; they are equal unless sklearn's tie rule
    # (the lowest optimal threshold) differs from ours (the highest)
    if not np.array_equal(ours, theirs):
        assert (ours <= theirs).all()


# ----------------------------------------------------------------------------- frameworks


def test_every_framework_gives_the_numpy_result(eager_backend, rng):
    logits, labels = _tied_data(rng, n=200)
    expected = wxent.tune_thresholds(logits, labels, objective="fbeta", beta=0.5)
    out = wxent.tune_thresholds(
        eager_backend.asarray(logits), eager_backend.asarray(labels), objective="fbeta", beta=0.5
    )
    np.testing.assert_array_equal(out, expected)
    cls_logits = rng.normal(size=(150, 3)).astype(np.float32)
    cls_labels = rng.integers(0, 3, size=150)
    offsets = wxent.tune_thresholds(cls_logits, cls_labels, objective="balanced_accuracy")
    out = wxent.tune_thresholds(
        eager_backend.asarray(cls_logits),
        eager_backend.asarray(cls_labels),
        objective="balanced_accuracy",
    )
    np.testing.assert_allclose(out, offsets)


def test_predict_in_every_framework_and_under_tracing(backend, rng):
    logits = rng.normal(size=(30, 4)).astype(np.float32)
    t = rng.normal(size=4)
    out = backend.call(lambda x: wxent.predict(x, threshold=t), logits)
    np.testing.assert_array_equal(out, logits > t)
    b = rng.normal(size=4)
    out = backend.call(lambda x: wxent.predict(x, offsets=b), logits)
    np.testing.assert_array_equal(out, np.argmax(logits + b.astype(np.float32), axis=-1))
    channels_first = np.moveaxis(logits.reshape(5, 6, 4), -1, 1).copy()
    out = backend.call(lambda x: wxent.predict(x, threshold=t, class_axis=1), channels_first)
    np.testing.assert_array_equal(out, channels_first > t[None, :, None])


def test_metrics_take_the_thresholds_as_they_are(rng):
    logits, labels = _tied_data(rng, n=300)
    t, f1 = wxent.tune_thresholds(logits, labels, return_objective=True)
    np.testing.assert_allclose(wxent.fbeta_score(logits, labels, threshold=t, average=None), f1)
    per_label = np.array(
        [skm.f1_score(labels[:, j], logits[:, j] > t[j]) for j in range(labels.shape[1])]
    )
    np.testing.assert_allclose(f1, per_label)
    g, micro = wxent.tune_thresholds(logits, labels, per_label=False, return_objective=True)
    assert wxent.fbeta_score(logits, labels, threshold=g) == pytest.approx(micro)
    for fixed in (-1.0, 0.0, 1.0):
        assert micro >= wxent.fbeta_score(logits, labels, threshold=fixed)


def test_keras_metric_takes_a_tuned_threshold(rng):
    from wxent.keras import FBetaScore

    logits, labels = _tied_data(rng, n=300)
    g, micro = wxent.tune_thresholds(logits, labels, per_label=False, return_objective=True)
    metric = FBetaScore(from_logits=True, threshold=g)
    metric.update_state(labels, logits)
    assert float(metric.result()) == pytest.approx(micro, rel=1e-5)


# ----------------------------------------------------------------------------- rules


def test_unattainable_precision_warns_and_returns_the_most_precise_threshold():
    logits = np.array([3.0, 2.0, 1.0, 0.0], dtype=np.float32)
    labels = np.array([0, 1, 0, 1])
    with pytest.warns(wxent.ThresholdWarning, match=r"precision >= 0\.9 for the logits"):
        t, value = wxent.tune_thresholds(
            logits, labels, objective="recall_at_precision", precision=0.9, return_objective=True
        )
    # precision 1/2 at top-2 and top-4; the tie goes to the higher recall (all four)
    assert (logits > t).tolist() == [True, True, True, True]
    assert value == 1.0


def test_ignored_labels_equal_dropped_elements(rng):
    logits, labels = _tied_data(rng, n=200)
    marked = labels.copy()
    drop = rng.random(labels.shape) < 0.2
    marked[drop] = -1
    t = wxent.tune_thresholds(logits, marked, ignore_label=-1)
    for j in range(labels.shape[1]):
        keep = ~drop[:, j]
        tj = wxent.tune_thresholds(logits[keep, j], labels[keep, j])
        np.testing.assert_array_equal(logits[keep, j] > t[j], logits[keep, j] > tj)


def test_class_axis_and_per_sample_weights(rng):
    logits, labels = _tied_data(rng, n=60)
    weight = rng.uniform(0, 2, size=60)
    expected = wxent.tune_thresholds(logits, labels, sample_weight=weight)
    out = wxent.tune_thresholds(
        logits.T.copy(), labels.T.copy(), sample_weight=weight, class_axis=0
    )
    np.testing.assert_array_equal(out, expected)
    full = np.broadcast_to(weight[:, None], logits.shape)
    np.testing.assert_array_equal(
        wxent.tune_thresholds(logits, labels, sample_weight=full), expected
    )


# ----------------------------------------------------------------------------- multi-class


def test_binary_softmax_offsets_equal_the_sigmoid_threshold(rng):
    x = np.round(rng.normal(size=(300, 2)), 1)
    y = (rng.random(300) < 0.3).astype(np.int64)
    x[:, 1] += y
    # balanced accuracy and expected cost read the same two-class decisions as a
    # sigmoid threshold on the logit difference: the optimum is the same
    _, value = wxent.tune_thresholds(x, y, objective="balanced_accuracy", return_objective=True)
    _, sig = wxent.tune_thresholds(
        x[:, 1] - x[:, 0],
        y.astype(np.float64),
        objective="balanced_accuracy",
        return_objective=True,
    )
    assert value == pytest.approx(sig, rel=1e-12)
    costs = np.array([[0.0, 1.0], [5.0, 0.0]])
    b, cost = wxent.tune_thresholds(
        x, y, objective="expected_cost", costs=costs, return_objective=True
    )
    _, sig_cost = wxent.tune_thresholds(
        x[:, 1] - x[:, 0],
        y.astype(np.float64),
        objective="expected_cost",
        cost_fp=1.0,
        cost_fn=5.0,
        return_objective=True,
    )
    assert cost == pytest.approx(sig_cost, rel=1e-12)
    pred = wxent.predict(x, offsets=b)
    assert costs[y, pred].mean() == pytest.approx(cost, rel=1e-12)


@pytest.mark.parametrize("objective", ["f1", "fbeta", "expected_cost", "balanced_accuracy"])
def test_offsets_are_coordinate_optimal_and_beat_the_argmax(objective, rng):
    c = 4
    y = rng.choice(c, size=400, p=[0.6, 0.25, 0.1, 0.05])
    x = np.round(rng.normal(size=(400, c)) + 1.2 * np.eye(c)[y], 2)
    costs = rng.uniform(0.5, 3.0, size=(c, c)) * (1 - np.eye(c))
    kwargs = {"costs": costs} if objective == "expected_cost" else {}
    if objective == "fbeta":
        kwargs["beta"] = 2.0
    b, value = wxent.tune_thresholds(x, y, objective=objective, return_objective=True, **kwargs)

    def score(pred):
        if objective == "expected_cost":
            return -costs[y, pred].mean()
        if objective == "balanced_accuracy":
            return skm.balanced_accuracy_score(y, pred)
        return skm.fbeta_score(y, pred, beta=kwargs.get("beta", 1.0), average="macro")

    reached = score(wxent.predict(x, offsets=b))
    assert value == pytest.approx(-reached if objective == "expected_cost" else reached)
    assert reached >= score(np.argmax(x, axis=1))
    assert reached > score(np.argmax(x, axis=1)) + 1e-3  # imbalanced: tuning helps
    for k in range(c):  # no single offset improves, over a fine brute-force scan
        for delta in np.linspace(-3, 3, 241):
            trial = b.copy()
            trial[k] += delta
            assert score(np.argmax(x + trial, axis=1)) <= reached + 1e-12


def test_offsets_count_classes_as_the_weighted_macro_f1_does():
    """A class seen only in samples of weight 0 is absent from the macro mean of
    ``fbeta_score(sample_weight=...)`` (its weighted tp + fp + fn is 0); the tuner counted
    it (as 0), so it stopped at offsets whose macro F1 is 0.6 where one offset reaches
    0.733 (class 2 moved out of the predictions)."""
    x = np.array(
        [[2.32, 3.689, -2.407, 0.024], [-3.356, -3.449, 6.76, -1.279], [1.881, 2.678, -1.77, 0.324],
         [2.321, -1.731, 2.53, -0.313], [-1.043, 0.95, 1.069, -2.329]]
    )  # fmt: skip
    y = np.array([1, 3, 0, 1, 2])
    w = np.array([2.0, 0.0, 1.0, 1.0, 0.0])
    b, value = wxent.tune_thresholds(x, y, sample_weight=w, return_objective=True)
    pred = wxent.predict(x, offsets=b)
    one_hot = np.where(np.eye(4, dtype=bool)[pred], 0.0, -10.0)
    assert value == pytest.approx(wxent.fbeta_score(one_hot, y, sample_weight=w, average="macro"))
    assert value == pytest.approx(11 / 15)


def test_offsets_stay_put_when_no_move_improves_the_decisions():
    """Weights of 1e-300 beside 2: the sweep's running sums lose the small ones, and it
    saw an improvement at every pass that the decisions did not have. The offsets drifted
    to 1.2e7 in 20 passes, where float32 logits plus offsets in ``predict`` gave other
    decisions (macro F1 0.095, below the plain argmax's 0.19, reported as 0.467)."""
    x = np.array(
        [[2.075, 4.692, 4.163], [-1.21, -2.419, -1.517], [2.358, -0.572, -0.79],
         [-5.908, -1.917, 1.911], [2.832, 8.784, 0.522], [-5.823, -0.713, -1.423],
         [-0.381, -0.372, -2.484], [-0.195, 0.959, 2.443], [1.358, 0.448, -0.446],
         [-3.452, 3.546, -6.98], [3.498, -1.026, 3.418], [0.917, -0.907, 2.32],
         [-2.647, -2.868, 3.504], [1.22, 0.209, 0.164], [0.22, -3.977, 1.747],
         [-3.086, 3.952, 1.119], [2.134, 1.385, -1.911], [-2.48, -2.049, -1.28],
         [-9.664, 0.444, -2.82], [3.593, 1.724, -4.512]], dtype=np.float32
    )  # fmt: skip
    y = np.array([0, 0, 1, 0, 1, 0, 0, 1, 0, 2, 1, 2, 0, 0, 1, 2, 0, 2, 0, 2])
    w = np.zeros(20)
    w[[0, 12]], w[[4, 18]], w[[3, 15, 16, 19]] = 1.0, 2.0, 1e-300
    b, value = wxent.tune_thresholds(x, y, sample_weight=w, return_objective=True)
    assert np.abs(b).max() < 100
    pred = wxent.predict(x, offsets=b)
    one_hot = np.where(np.eye(3, dtype=bool)[pred], 0.0, -10.0)
    assert value == pytest.approx(wxent.fbeta_score(one_hot, y, sample_weight=w, average="macro"))
    assert value >= wxent.fbeta_score(x, y, sample_weight=w, average="macro")


# ----------------------------------------------------------------------------- errors


def _msg(text):
    return re.escape(text)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"objective": "auc"}, ValueError, "Invalid value for argument `objective`"),
        ({"objective": "recall_at_precision"}, ValueError, "`precision`. Expected a float"),
        ({"objective": "f1", "precision": 0.5}, ValueError, "`precision`. Expected None unless"),
        ({"objective": "expected_cost", "cost_fp": 1.0}, ValueError, "`cost_fn`"),
        ({"objective": "f1", "beta": 2.0}, ValueError, 'the default 1.0 for "f1"'),
        ({"per_label": 1}, TypeError, "`per_label`. Expected a bool"),
        ({"sample_weight": np.ones(3)}, ValueError, "`sample_weight`. Expected one weight"),
        ({"costs": np.ones((2, 2))}, ValueError, "`costs`. Expected None for sigmoid"),
    ],
)
def test_errors_name_the_argument(kwargs, error, message, rng):
    logits, labels = _tied_data(rng, n=10)
    with pytest.raises(error, match=_msg(message)):
        wxent.tune_thresholds(logits, labels, **kwargs)


def test_label_and_logit_errors(rng):
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=_msg("label value 2.0")):
        wxent.tune_thresholds(logits, np.full((6, 3), 2.0))
    with pytest.raises(ValueError, match=_msg("integer class indices of shape (6,)")):
        wxent.tune_thresholds(logits, np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match=_msg("for softmax logits (integer labels)")):
        wxent.tune_thresholds(
            logits, np.zeros(6, dtype=np.int64), objective="recall_at_precision", precision=0.5
        )
    with pytest.raises(ValueError, match=_msg("`costs`. Expected a (C, C) cost matrix")):
        wxent.tune_thresholds(logits, np.zeros(6, dtype=np.int64), objective="expected_cost")
    bad = logits.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=_msg("1 NaN value(s) in `logits`")):
        wxent.tune_thresholds(bad, np.zeros((6, 3)))
    with pytest.raises(ValueError, match=_msg("`threshold`. Expected a logit or one per class")):
        wxent.predict(logits, threshold=[0.0, 1.0])
    with pytest.raises(ValueError, match=_msg("`threshold`. Expected a number that is not NaN")):
        wxent.predict(logits, threshold=float("nan"))


def test_softmax_option_errors(rng):
    logits = rng.normal(size=(6, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])
    cases = [
        ({"objective": "expected_cost", "cost_fp": 1.0}, "`cost_fp`. Expected None for softmax"),
        ({"ignore_label": -1}, "`ignore_label`. Expected None for softmax logits"),
        ({"max_iter": 0}, "`max_iter`. Expected a positive integer. Received: max_iter=0"),
        ({"costs": np.ones((3, 3))}, '`costs`. Expected None unless objective="expected_cost"'),
        ({"objective": "recall_at_precision", "precision": 0.5}, "Received: objective="),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=_msg(message)):
            wxent.tune_thresholds(logits, labels, **kwargs)
    inf = logits.copy()
    inf[0, 0] = np.inf
    with pytest.raises(ValueError, match=_msg("finite logits for per-class offsets")):
        wxent.tune_thresholds(inf, labels)
    with pytest.raises(ValueError, match=_msg("when `offsets` is given")):
        wxent.predict(logits, threshold=1.0, offsets=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=_msg("`offsets`. Expected a logit or one per class")):
        wxent.predict(logits, offsets=[0.0, 0.0])


def test_predict_traces_under_torch_compile(rng):
    import torch

    logits = torch.from_numpy(rng.normal(size=(8, 3)).astype(np.float32))
    t = np.array([0.5, -0.5, 0.0])
    f = torch.compile(lambda x: wxent.predict(x, threshold=t), backend="eager", fullgraph=True)
    np.testing.assert_array_equal(f(logits).numpy(), logits.numpy() > t)
    g = torch.compile(lambda x: wxent.predict(x, offsets=t), backend="eager", fullgraph=True)
    np.testing.assert_array_equal(g(logits).numpy(), np.argmax(logits.numpy() + t, axis=1))
