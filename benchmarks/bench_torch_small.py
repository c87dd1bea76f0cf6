"""Eager PyTorch CPU calls with default options: this tree against another one.

The host cost of small calls, where the work is Python and dispatch, not arithmetic, and
that the large size does not regress: microseconds per call of the loss alone ("fwd") and
of the loss and ``backward()`` ("fwd+bwd", the logits require a gradient) at 64 x 10 and
4096 x 1000 float32 logits on CPU tensors, one torch thread, next to
``F.cross_entropy`` and ``F.binary_cross_entropy_with_logits`` with the same options
(the peers). Each measurement runs in a fresh process with ``PYTHONPATH`` set to one
wxent ``src`` folder (``--before`` against this checkout's), the two trees alternating,
their order reversed every other round; a process times ``--calls`` calls ``--repeats``
times after 20 warm-up calls (at 4096 x 1000 a 25th of the calls, at least 3, after 2
warm-up calls) and reports the fastest repeat, in process CPU time (``time.process_time``:
on a shared machine wall time counts the other jobs too). The table gives the median over
the rounds.

    git -C /work/main archive <commit> src | tar -x -C /tmp/ts_old
    python benchmarks/bench_torch_small.py --before /tmp/ts_old/src --rounds 5
"""

from __future__ import annotations

import statistics

from common import before_after_runs

SIZES = [(64, 10), (4096, 1000)]

#: name -> expression of ``a`` (the logits); ``y`` class indices, ``z`` 0/1 labels, ``cw``
#: one weight per class, ``sw`` one weight per sample, ``pw`` one pos_weight per class.
CASES = {
    "peer: F.cross_entropy": "F.cross_entropy(a, y)",
    "softmax_cross_entropy": "wxent.softmax_cross_entropy(a, y)",
    "peer: F.cross_entropy, weight": "F.cross_entropy(a, y, weight=cw)",
    "softmax_cross_entropy, class_weight (mean)": (
        "wxent.softmax_cross_entropy(a, y, class_weight=cw)"
    ),
    "softmax_cross_entropy, class_weight, weighted_mean": (
        "wxent.softmax_cross_entropy(a, y, class_weight=cw, reduction='weighted_mean')"
    ),
    "softmax_cross_entropy, sample_weight (mean)": (
        "wxent.softmax_cross_entropy(a, y, sample_weight=sw)"
    ),
    "softmax_cross_entropy, sample_weight, weighted_mean": (
        "wxent.softmax_cross_entropy(a, y, sample_weight=sw, reduction='weighted_mean')"
    ),
    "peer: F.binary_cross_entropy_with_logits, pos_weight": (
        "F.binary_cross_entropy_with_logits(a, z, pos_weight=pw)"
    ),
    "sigmoid_cross_entropy, pos_weight": "wxent.sigmoid_cross_entropy(a, z, pos_weight=pw)",
    "sigmoid_cross_entropy, pos_weight, weighted_mean": (
        "wxent.sigmoid_cross_entropy(a, z, pos_weight=pw, reduction='weighted_mean')"
    ),
    "sigmoid_focal_loss": "wxent.sigmoid_focal_loss(a, z)",
}

WORKER = (
    f"SIZES = {SIZES!r}\n"
    + r"""
import json, sys, time
import torch
import torch.nn.functional as F
import wxent
torch.set_num_threads(1)
calls, repeats = int(sys.argv[1]), int(sys.argv[2])
cases = json.loads(sys.argv[3])
out = {}
for n, c in SIZES:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, generator=g)
    y = torch.randint(0, c, (n,), generator=g)
    z = (torch.rand(n, c, generator=g) < 0.3).float()
    cw = torch.rand(c, generator=g) + 0.5
    sw = torch.rand(n, generator=g) + 0.5
    pw = torch.rand(c, generator=g) * 3 + 0.5
    xg = x.clone().requires_grad_(True)
    small = n * c < 100_000
    k, warmup = (calls, 20) if small else (max(3, calls // 25), 2)
    for name, expr in cases.items():
        f = eval("lambda a: " + expr)
        def both():
            xg.grad = None
            f(xg).backward()
        for mode, run in (("fwd", lambda: f(x)), ("fwd+bwd", both)):
            out[f"{n}x{c}|{name}|{mode}"] = best_us(run, k, repeats, warmup, time.process_time)
print(json.dumps(out))
"""
)


def main() -> None:
    trees, results = before_after_runs(__doc__.splitlines()[0], "/tmp/ts_old/src", WORKER, CASES)
    print(
        "| size | call | fwd µs before | fwd µs after | after/before "
        "| fwd+bwd µs before | fwd+bwd µs after | after/before |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for n, c in SIZES:
        for case in CASES:
            cells = []
            for mode in ("fwd", "fwd+bwd"):
                key = f"{n}x{c}|{case}|{mode}"
                before, after = (statistics.median(r[key] for r in results[t]) for t in trees)
                cells.append(f"{before:.0f} | {after:.0f} | {after / before:.2f}")
            print(f"| {n}x{c} | {case} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
