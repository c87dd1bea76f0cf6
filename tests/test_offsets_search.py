"""The offsets search's incremental ranking equals the full recomputation it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from reference_thresholds import full_top_two as _full_top_two
from reference_thresholds import offsets_from_scratch
from wxent import _offsets


@pytest.mark.parametrize("c", [1, 2, 3, 7])
def test_top_two_follows_every_move_including_ties(c, rng):
    """Logits and offsets on a grid of halves: many exact ties, won by the first index."""
    x = np.round(rng.normal(size=(300, c)) * 2) / 2
    b = np.zeros(c)
    ranks = _offsets._TopTwo(x, b)
    for step in range(200):
        k = int(rng.integers(c))
        saved = ranks.save()
        previous = b[k]
        b[k] = np.round(rng.normal() * 4) / 2
        ranks.moved(k)
        top1, top2 = _full_top_two(x + b)
        np.testing.assert_array_equal(ranks.top1, top1)
        np.testing.assert_array_equal(ranks.top2, top2)
        if step % 3 == 0:  # a rejected move puts the ranking back
            b[k] = previous
            ranks.restore(saved)
            top1, top2 = _full_top_two(x + b)
            np.testing.assert_array_equal(ranks.top1, top1)
            np.testing.assert_array_equal(ranks.top2, top2)


def test_top_two_with_a_nan_column_recomputes_as_numpy_does():
    x = np.array([[0.0, 1.0, 2.0], [3.0, 1.0, 0.0]])
    b = np.zeros(3)
    ranks = _offsets._TopTwo(x, b)
    b[0] = np.nan
    ranks.moved(0)
    top1, top2 = _full_top_two(x + b)
    np.testing.assert_array_equal(ranks.top1, top1)
    np.testing.assert_array_equal(ranks.top2, top2)


@pytest.mark.parametrize("objective", ["f1", "fbeta", "expected_cost", "balanced_accuracy"])
@pytest.mark.parametrize("weighted", [False, True])
def test_offsets_equal_the_search_from_scratch(objective, weighted, rng):
    c, n = 6, 500
    y = rng.choice(c, size=n, p=[0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    x = np.round(rng.normal(size=(n, c)) + 1.0 * np.eye(c)[y], 1)  # ties
    w = rng.uniform(0.0, 2.0, size=n) if weighted else np.ones(n)
    costs = rng.uniform(0.5, 3.0, size=(c, c)) * (1 - np.eye(c))
    kw = {"objective": objective, "costs": costs, "beta": 2.0, "max_iter": 20}
    b, _ = _offsets.tune_offsets(x, y, w, **kw)
    np.testing.assert_array_equal(b, offsets_from_scratch(x, y, w, **kw)[0])
    assert np.any(b != 0)
