"""How fast are the decision tools at many classes (NumPy, 2048 samples)?

Three calls, each against the straightforward NumPy computation of the same result:

* ``wxent.bayes_decision(logits, costs)`` at 2048 x 8192 with a dense random cost matrix:
  the peer is ``argmin(softmax(x) @ costs)`` in float32 (the same float32 product);
* ``wxent.expected_cost(logits, labels, costs)`` at the same size: the peer decides with
  the float64 product of the float32 probabilities and the float64 costs, as the NumPy
  metrics document; wxent decides from a float32 product and its error bound, with the
  columns within the bound of the best recomputed in float64;
* ``wxent.tune_thresholds(logits, labels)`` with softmax logits (per-class offsets, macro
  F1) at 2048 x 512: the peer is the same coordinate ascent with ``argmax(x + b)`` and the
  runner-up recomputed from scratch for every class (wxent keeps them up to date).

Checks: the mean cost of the decisions (first two) and the objective reached (offsets)
equal the peer's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the reference

import common
import numpy as np


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _offsets_from_scratch(x: np.ndarray, y: np.ndarray, max_iter: int = 20) -> float:
    """Macro-F1 coordinate ascent, ``argmax(x + b)`` and runner-up recomputed per class."""
    from reference_thresholds import offsets_from_scratch

    x = x.astype(np.float64)
    kw = {"objective": "f1", "costs": None, "beta": 1.0, "max_iter": max_iter}
    return float(offsets_from_scratch(x, y, np.ones(x.shape[0]), **kw)[1])


def main() -> None:
    args = common.parse(__doc__.splitlines()[0])
    rows = 256 if args.quick else 2048 if args.rows in (None, 4096) else args.rows
    classes = 512 if args.quick else 8192 if args.classes in (None, 32768) else args.classes
    offset_classes = 64 if args.quick else 512
    rounds = args.rounds
    import wxent

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(rows, classes)) * 3.0).astype(np.float32)
    y = rng.integers(0, classes, size=rows)
    costs = rng.random((classes, classes)).astype(np.float32)
    np.fill_diagonal(costs, 0.0)
    costs64 = costs.astype(np.float64)
    wxent.bayes_decision(x[:2], costs)  # the cost matrix's checks, cached by its content

    def mean_cost(decision: np.ndarray) -> float:
        return float(costs64[y, decision].mean())

    def bayes_ours() -> float:
        return mean_cost(wxent.bayes_decision(x, costs))

    def bayes_peer() -> float:
        return mean_cost(np.argmin(_softmax(x) @ costs, axis=1))

    def metric_ours() -> float:
        return float(wxent.expected_cost(x, y, costs))

    def metric_peer() -> float:
        return mean_cost(np.argmin(_softmax(x).astype(np.float64) @ costs64, axis=1))

    yo = rng.integers(0, offset_classes, size=rows)
    xo = (rng.normal(size=(rows, offset_classes)) + 2.0 * np.eye(offset_classes)[yo]).astype(
        np.float32
    )

    def offsets_ours() -> float:
        return float(wxent.tune_thresholds(xo, yo, return_objective=True)[1])

    def offsets_peer() -> float:
        return _offsets_from_scratch(xo, yo)

    def case(question: str, mode: str, ours, peer, ours_name: str, peer_name: str):
        return common.Case(
            question,
            "numpy",
            mode,
            [
                common.Contender(ours_name, ours, value=ours, ours=True),
                common.Contender(peer_name, peer, value=peer),
            ],
            reference=peer(),
        )

    cases = [
        case(
            "bayes_decision",
            f"bayes_decision {rows}x{classes}",
            bayes_ours,
            bayes_peer,
            "wxent.bayes_decision",
            "argmin(softmax(x) @ costs), float32",
        ),
        case(
            "expected_cost",
            f"expected_cost metric {rows}x{classes}",
            metric_ours,
            metric_peer,
            "wxent.expected_cost",
            "argmin(float64(softmax(x)) @ costs64)",
        ),
        case(
            "offsets",
            f"tune_thresholds offsets, F1, {rows}x{offset_classes}",
            offsets_ours,
            offsets_peer,
            "wxent.tune_thresholds (softmax)",
            "coordinate ascent, argmax recomputed per class",
        ),
    ]
    for c in cases:
        common.run_case(c, rounds=rounds, rtol=1e-12)
    intro = (
        f"NumPy, float32 logits N(0, 9) with a dense random cost matrix in [0, 1) (zero "
        f"diagonal, float32) at {rows} x {classes}; offsets: logits N(0, 1) + 2 on the true "
        f"class at {rows} x {offset_classes}. Peers are the straightforward NumPy "
        "computations of the same decisions (see the script's docstring). Check: the mean "
        "cost of the decisions (the objective reached, for the offsets) equals the peer's "
        f"within 1e-12. Command: `python benchmarks/bench_decisions.py --rounds {rounds}`. "
        + common.machine()
    )
    title = "I. Decisions at many classes (NumPy)"
    section = f"## {title}\n\n{intro}\n\n{common.table(cases)}\n"
    common.replace_section(args.output, title, section)
    print(common.table(cases))


if __name__ == "__main__":
    main()
