"""The host check of configuration values: its two-reduction shortcut never changes a verdict.

:func:`wxent._config._check_host` accepts values whose minimum and maximum lie inside
every bound after two reductions, and otherwise runs the checks one by one. For every
combination of edge values (zeros, NaN, infinities, the float32 limits, subnormals,
values just above 1) and of the options, it must raise exactly what the checks one by
one raise (the same message), or nothing when they pass.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from wxent import _config

F32 = np.finfo(np.float32)
EDGES = [
    0.0, -0.0, 0.5, 1.0, np.nextafter(1.0, 2.0), 2.0, -1e-300, -1.0, np.nan, np.inf, -np.inf,
    float(F32.max), float(np.nextafter(F32.max, np.inf, dtype=np.float64)), 3.5e38, 1e300,
    float(F32.smallest_subnormal), float(F32.smallest_subnormal) / 2,
    float(F32.smallest_subnormal) / 3, 1e-50, 5e-324,
]  # fmt: skip


def _verdict(check, *args):
    try:
        check(*args)
    except ValueError as exc:
        return str(exc)
    return None


ARRAYS = [np.asarray(e) for e in EDGES] + [
    np.asarray(pair) for pair in itertools.combinations(EDGES, 2)
]


@pytest.mark.parametrize("dtype_name", ["float32", "float64", "float16", None])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("at_most_one", [False, True])
def test_the_shortcut_gives_the_verdicts_of_the_checks_one_by_one(
    dtype_name, positive, at_most_one
):
    shortcuts = 0
    for values in ARRAYS:
        values = values.astype(np.float64)
        args = ("w", values, dtype_name, positive, at_most_one)
        expected = _verdict(_config._check_each, *args)
        assert _verdict(_config._check_host, *args) == expected, values
        shortcuts += expected is None
    assert shortcuts > 0  # some combinations pass (and take the shortcut)


def test_empty_values_pass():
    assert _verdict(_config._check_host, "w", np.zeros(0), "float32", True, True) is None
