"""How fast are the sigmoid focal and asymmetric losses on NumPy, against sigmoid CE?

NumPy calls (forward: NumPy has no gradient) of ``sigmoid_cross_entropy``,
``sigmoid_focal_loss(gamma=2, alpha=0.25)`` and ``asymmetric_loss()`` (gamma_neg=4,
clip=0.05) on float32 multi-label logits with about 10% positive labels, default options
(``reduction="mean"``, ``validate=True``). Each measurement runs in a fresh process
(the median of its repeated calls); the processes of this checkout and of another one
(``--before``) alternate, and the table shows the median over the processes. Every value is
first checked against a float64 NumPy reference.

    python benchmarks/bench_numpy_focal.py                              # this checkout
    python benchmarks/bench_numpy_focal.py --before /path/to/other/src  # and another one

Writes (replaces) the section "## NumPy sigmoid focal and asymmetric losses: branch-free
arithmetic" of BENCHMARKS.md, or prints it only (``--print``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TITLE = "NumPy sigmoid focal and asymmetric losses: branch-free arithmetic"
CASES = ["sigmoid_cross_entropy", "sigmoid_focal_loss", "asymmetric_loss"]

NOTES = """\
What changed: on NumPy the two losses ran the generic Array API formulas
(`_core/sigmoid.py`), whose softplus pair (three `where(x > 0, ...)`) and far-branch
selections are `np.where` over masks that follow the signs of the logits. On this CPU such
a mask costs a branch misprediction every few elements: `np.where(mask, a, b)` over a random
mask took about 930 us on 256k float32 values where a product took 34 us, and those
selections were most of the losses' time. The NumPy kernel
(`_fastpaths/numpy.py`, `numpy_sigmoid_family_losses`) computes the same terms by the same
formulas in the same order without any selection: the softplus pair from clamps
(`max(x, 0) + l` and `l - min(x, 0)` with `l = log1p(exp(-|x|))`), the modulating factors as
`exp(-gamma * softplus)`, the clip's inactive negatives through `p_m = 0`
(`exp(gamma_neg * log 0) = 0`), block by block (2**16 values) in five scratch buffers that stay
in cache. At finite logits, huge ones included, its values equal the generic path's; where a
zero coefficient meets an infinite term (an infinite logit on its label's side, or a zero
weight there) it gives NaN and the call is recomputed on the exact path, as the NumPy sigmoid
cross-entropy kernel already did. That kernel now takes `max(x, 0)` as a clamp
(`np.maximum(x, 0.0)` took about 95 us against 31 us for `np.clip(x, 0, inf)` on 256k random
signs). What is left is mostly transcendental functions: per logit, 2 for sigmoid
cross-entropy, 4 for the focal loss (the softplus pair's `exp` and `log1p`, one `exp` per
factor), 7 for the asymmetric loss with its clip (`p`, `1 - p`, `log(1 - p_m)` and
`p_m**gamma_neg` as `exp(gamma_neg * log p_m)`).
"""

WORKER = r"""
import json, sys, time
import numpy as np
import wxent

rows, classes, calls = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
x = (3 * rng.standard_normal((rows, classes))).astype(np.float32)
z = (rng.random((rows, classes)) < 0.1).astype(np.float32)
x64, z64 = x.astype(np.float64), z.astype(np.float64)
sp = np.logaddexp(0.0, x64)  # softplus(x) = -log(1 - p)
sm = np.logaddexp(0.0, -x64)  # softplus(-x) = -log(p)
p = np.exp(-sm)
p_m = np.maximum(p - 0.05, 0.0)
asl_neg = np.where(p_m > 0, p_m**4 * -np.log1p(-p_m), 0.0)
cases = {
    "sigmoid_cross_entropy": (
        lambda: wxent.sigmoid_cross_entropy(x, z), np.mean(z64 * sm + (1 - z64) * sp)
    ),
    "sigmoid_focal_loss": (
        lambda: wxent.sigmoid_focal_loss(x, z, gamma=2.0, alpha=0.25),
        np.mean(0.25 * z64 * (1 - p) ** 2 * sm + 0.75 * (1 - z64) * p**2 * sp),
    ),
    "asymmetric_loss": (
        lambda: wxent.asymmetric_loss(x, z), np.mean(z64 * sm + (1 - z64) * asl_neg)
    ),
}
result = {}
for name, (f, want) in cases.items():
    got = float(f())
    assert abs(got - want) <= 1e-5 * abs(want), (name, got, want)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    result[name] = float(np.median(times))
print(json.dumps(result))
"""


def _measure(worker: Path, src: Path, rows: int, classes: int, calls: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, str(worker), str(rows), str(classes), str(calls)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="processes per side and size")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per process")
    parser.add_argument("--shapes", default="256x1000,4096x1000", help="ROWSxCLASSES,...")
    parser.add_argument("--before", type=Path, help="another checkout's src, measured too")
    parser.add_argument("--before-name", help="how the table names --before (default: its path)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--print", action="store_true", help="print, do not write the file")
    args, _ = parser.parse_known_args()  # (run.py's size options do not apply here)
    sides = {"after": ROOT / "src"}
    if args.before is not None:
        sides = {"before": args.before, **sides}
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.shapes.split(",")]
    cells: dict[tuple[str, str, tuple[int, ...]], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        worker = Path(tmp) / "numpy_focal.py"
        worker.write_text(WORKER)
        for _ in range(args.repeats):  # interleaved: every side and shape once per repeat
            for shape in shapes:
                for side, src in sides.items():
                    rows, classes = shape
                    for case, seconds in _measure(worker, src, rows, classes, args.calls).items():
                        cells.setdefault((case, side, shape), []).append(seconds)
    med = {k: statistics.median(v) for k, v in cells.items()}
    _write(args, med, sides, shapes)


def _write(
    args: argparse.Namespace,
    med: dict[tuple[str, str, tuple[int, ...]], float],
    sides: dict[str, Path],
    shapes: list[tuple[int, ...]],
) -> None:
    sys.path.insert(0, str(HERE))
    import common

    names = list(sides)
    head = "| loss | shape | " + " | ".join(f"{s} ms" for s in names)
    rule = "|---|---|" + "---:|" * len(names)
    if "before" in sides:
        head += " | before / after | after / sigmoid CE"
        rule += "---:|---:|"
    lines = [head + " |", rule]
    for case in CASES:
        for shape in shapes:
            cells = [med[(case, side, shape)] * 1e3 for side in names]
            row = f"| `{case}` | {shape[0]}x{shape[1]} | " + " | ".join(f"{c:.2f}" for c in cells)
            if "before" in sides:
                ce = med[("sigmoid_cross_entropy", "after", shape)] * 1e3
                row += f" | {cells[0] / cells[1]:.1f} | {cells[1] / ce:.1f}"
            lines.append(row + " |")
    compared = ""
    if "before" in sides:
        compared = f" Before: {args.before_name or '`' + str(sides['before']) + '`'}."
    intro = (
        "Milliseconds per NumPy call (forward), float32 logits with about 10% positive "
        "labels, default options; the median of "
        f"{args.calls} calls per process, then the median of {args.repeats} processes per "
        "side, the sides alternating (`python benchmarks/bench_numpy_focal.py"
        f"{' --before ...' if 'before' in sides else ''}`).{compared} {common.machine()}"
    )
    section = "\n".join([f"## {TITLE}", "", intro, "", *lines, "", NOTES])
    print(section)
    if not args.print:
        common.replace_section(args.output, TITLE, section)


if __name__ == "__main__":
    main()
