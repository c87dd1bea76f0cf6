"""wxent called from several Python threads at once.

Data-loader threads, ``torch.nn.DataParallel`` replicas and thread pools that build models
call wxent concurrently. Process-wide state must not let one thread's call change
another's: a :func:`wxent.loss_terms` request is the requesting thread's, a criterion's
construction-time probe holds back wxent's warnings on its own thread only (never through
the process-wide warnings filters), and the cost-matrix search cache stays consistent when
another thread evicts an entry. The interleavings are forced with events, not left to
the scheduler.
"""

from __future__ import annotations

import importlib
import threading
import warnings

import numpy as np
import pytest
import torch

import wxent
import wxent.torch as wt

TIMEOUT = 20.0
cost_matrix = importlib.import_module("wxent.cost_matrix")  # (wxent.cost_matrix: the function)


def _run(target, *args):
    """Start ``target(*args)`` on a thread; its exception is kept in ``errors``."""
    errors: list[BaseException] = []

    def body():
        try:
            target(*args)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, errors


def _data(seed=0, n=12, c=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c)).astype(np.float32)
    y = rng.integers(0, c, n)
    return x, y


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_loss_terms_request_belongs_to_its_thread(framework):
    """A plain loss on another thread, while ``loss_terms`` runs, returns its reduced loss.

    The request used to sit in one module-level list: the other thread's loss took it
    (returning ``LossTerms``), and ``loss_terms`` then got a plain array and raised
    ``TypeError: ... Expected a wxent loss function``.
    """
    x, y = _data()
    if framework == "torch":
        x, y = torch.as_tensor(x), torch.as_tensor(y)
    cw = [0.5, 1.0, 2.0, 4.0]
    inside, release = threading.Event(), threading.Event()

    def slow_loss(logits, labels, *, reduction="mean", **options):
        # a user's wrapper of a wxent loss: it waits inside the request
        inside.set()
        assert release.wait(TIMEOUT)
        return wxent.softmax_cross_entropy(logits, labels, reduction=reduction, **options)

    results = {}

    def terms():
        results["terms"] = wxent.loss_terms(
            slow_loss, x, y, class_weight=cw, reduction="weighted_mean"
        )

    thread, errors = _run(terms)
    assert inside.wait(TIMEOUT)
    plain = wxent.softmax_cross_entropy(x, y, class_weight=cw, reduction="weighted_mean")
    release.set()
    thread.join(TIMEOUT)
    assert not errors, errors
    assert not isinstance(plain, tuple) and tuple(plain.shape) == ()
    num, den = results["terms"]
    expected = wxent.softmax_cross_entropy(x, y, class_weight=cw, reduction="weighted_mean")
    np.testing.assert_allclose(float(plain), float(expected), rtol=1e-6)
    np.testing.assert_allclose(float(num) / float(den), float(expected), rtol=1e-6)


class _Gamma(float):
    """``gamma`` whose first conversion (inside the construction probe) waits for a signal."""

    def __new__(cls, value, inside, release):
        self = super().__new__(cls, value)
        self.inside, self.release, self.waited = inside, release, False
        return self

    def __float__(self):
        if not self.waited:
            self.waited = True
            self.inside.set()
            assert self.release.wait(TIMEOUT)
        return float.__float__(self)


def _build_blocked():
    """A thread building ``SigmoidFocalLoss`` held in its probe: ``(thread, errors, release)``."""
    inside, release = threading.Event(), threading.Event()
    gamma = _Gamma(2.0, inside, release)
    thread, errors = _run(lambda: wt.SigmoidFocalLoss(gamma=gamma))
    assert inside.wait(TIMEOUT)
    return thread, errors, release


def _dominated_costs():
    # column 2 costs more than column 0 in every row: predicting 2 is never better
    return np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0], [1.0, 1.0, 1.5]])


def test_probe_does_not_hide_other_threads_warnings():
    """While a criterion is being built on one thread, wxent's warnings on another still show."""
    x, y = _data(c=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thread, errors, release = _build_blocked()
        try:
            wxent.expected_cost_loss(x, y, _dominated_costs())
        finally:
            release.set()
            thread.join(TIMEOUT)
    assert not errors, errors
    assert any(issubclass(w.category, wxent.CostMatrixWarning) for w in caught), caught


def test_overlapping_probes_leave_the_warnings_filters_alone():
    """Two criteria built at once on two threads leave ``warnings.filters`` as they were.

    Each probe used ``warnings.catch_warnings``, which saves and restores the one
    process-wide list: probes that overlapped restored each other's state, leaving an
    "ignore every warning" filter in place for good.
    """
    before = list(warnings.filters)
    first, first_errors, release_first = _build_blocked()
    second, second_errors, release_second = _build_blocked()
    release_first.set()
    first.join(TIMEOUT)
    release_second.set()
    second.join(TIMEOUT)
    assert not first_errors and not second_errors, (first_errors, second_errors)
    assert list(warnings.filters) == before


def test_a_criterion_warns_of_its_cost_matrix_once_where_it_is_given():
    """``wxent.torch`` criteria warn of dominated columns once, at the line giving the matrix.

    The construction's probe holds its warnings back, and a criterion's calls pass its
    buffer (never searched): a transposed cost matrix given to ``ExpectedCostLoss`` never
    warned. It now warns where it is given (constructor or assignment), once.
    """
    for build in (
        lambda: wt.ExpectedCostLoss(_dominated_costs()),
        lambda: wt.CostSensitiveCrossEntropy(torch.as_tensor(_dominated_costs())),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            criterion = build()
        assert [w.category for w in caught] == [wxent.CostMatrixWarning], caught
        assert caught[0].filename == __file__
    good = 1.0 - np.eye(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        criterion.costs = good  # no warning
        criterion.costs = _dominated_costs()
    assert [w.category for w in caught] == [wxent.CostMatrixWarning], caught
    assert caught[0].filename == __file__


class _EvictingCache(dict):
    """The search cache with another thread's eviction between a lookup's steps.

    Every membership test or read first lets "another thread" evict the key.
    """

    def __contains__(self, key):
        found = dict.__contains__(self, key)
        self.pop(key, None)
        return found

    def __iter__(self):
        keys = list(dict.__iter__(self))
        self.clear()  # another thread evicts while the keys are walked
        return iter(keys)


def test_cost_search_cache_survives_concurrent_eviction(monkeypatch):
    """A loss call with a cost matrix never fails because another thread evicted its entry.

    The loss's dominated-column search is cached by content (at most 32 matrices); an
    entry evicted by another thread between the cache's membership test and its read
    raised ``KeyError`` from the loss.
    """
    cache = _EvictingCache()
    monkeypatch.setattr(cost_matrix, "_DOMINATED_CACHE", cache)
    x, y = _data(c=3)
    rng = np.random.default_rng(3)
    for known in [True] * 4 + [False] * 40:  # cached entries, then past the cache's size
        costs = rng.uniform(0.5, 2.0, (3, 3))
        np.fill_diagonal(costs, 0.0)
        if known:
            dict.__setitem__(cache, cost_matrix._content_key(costs), ())
        wxent.expected_cost_loss(x, y, costs)
    assert cost_matrix.dominated_columns(_dominated_costs()) == [(2, 0)]


def test_mixed_calls_on_threads_match_sequential_calls():
    """Losses, terms, decisions and metrics of NumPy and PyTorch on four threads at once.

    Each thread runs its own mix (frameworks, dtypes, options, weights as NumPy or
    tensors, one bad call whose message must be its own); every result equals the one
    computed alone.
    """
    x, y = _data(n=16, c=5)
    rng = np.random.default_rng(1)
    z = (rng.random((16, 5)) < 0.3).astype(np.float32)
    cw = rng.uniform(0.5, 2.0, 5).astype(np.float32)
    costs = rng.uniform(0.5, 2.0, (5, 5))
    np.fill_diagonal(costs, 0.0)

    def cases(fw, dtype):
        conv = (lambda a: a) if fw == "numpy" else torch.as_tensor
        X, Y, Z, W = conv(x.astype(dtype)), conv(y), conv(z.astype(dtype)), conv(cw.astype(dtype))
        return [
            lambda: wxent.softmax_cross_entropy(X, Y, class_weight=W, reduction="weighted_mean"),
            lambda: wxent.sigmoid_cross_entropy(X, Z, pos_weight=W, label_smoothing=0.1),
            lambda: wxent.softmax_focal_loss(X, Y, gamma=1.5, class_weight=W),
            lambda: tuple(wxent.loss_terms(wxent.sigmoid_focal_loss, X, Z, alpha=0.25)),
            lambda: wxent.cost_sensitive_cross_entropy(X, Y, costs, cost_weight=0.5),
            lambda: wxent.bayes_decision(X, costs),
            lambda: wxent.recall(X, Z, average="macro"),
            lambda: wxent.softmax_cross_entropy(X, Y + 10),  # ValueError naming `labels`
        ]

    def outcome(f):
        try:
            r = f()
        except ValueError as exc:
            return str(exc)
        parts = r if isinstance(r, tuple) else (r,)
        return [type(r).__name__] + [np.asarray(p, dtype=np.float64).tolist() for p in parts]

    jobs = [(fw, dt) for fw in ("numpy", "torch") for dt in ("float32", "float64")]
    expected = {job: [outcome(f) for f in cases(*job)] for job in jobs}
    got: dict = {}

    def work(job):
        fs = cases(*job)
        got[job] = [[outcome(f) for f in fs] for _ in range(15)]

    threads = [_run(work, job) for job in jobs]
    for thread, errors in threads:
        thread.join(60)
        assert not errors, errors
    for job in jobs:
        for rep in got[job]:
            assert rep == expected[job], job
