"""JAX softmax rules of this tree against another tree's, and Optax, in one process.

A before/after of :mod:`wxent._fastpaths.jax` under ``jax.jit``: ``--baseline DIR`` (a
wxent ``src`` folder, default ``/work/main/src``) supplies the "before" rules, this tree
the "after" ones (see ``frameworks.baseline``: only the rules differ). Labels are
``jit`` arguments, as in a training step (not constants folded into the program). The
three contenders run interleaved, their order reversed every other round; the medians
are printed with the ratios. Cases:

A. integer labels, class weights + smoothing 0.1 + ignore_index, weighted_mean; Optax
   ``softmax_cross_entropy(smooth_labels(one_hot))`` times the weights;
B. the same without smoothing; Optax ``softmax_cross_entropy_with_integer_labels`` times
   the weights;
C. probability labels, mean; Optax ``softmax_cross_entropy``.

Usage: ``python benchmarks/bench_jax_rules.py --rows 2048 --cases B,C --rounds 7``.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import common
import numpy as np
from frameworks import baseline


def cases(n: int, c: int) -> dict:
    import jax
    import jax.numpy as jnp
    import optax

    import wxent

    rng = np.random.default_rng(0)
    y = rng.integers(0, c, n)
    y[rng.uniform(size=n) < 0.05] = -1
    cw = rng.uniform(0.5, 2.0, c)
    valid = y >= 0
    w = jnp.asarray((cw[np.where(valid, y, 0)] * valid).astype(np.float32))
    p = rng.uniform(size=(n, c)).astype(np.float32) ** 4
    p /= p.sum(axis=1, keepdims=True)
    labels = jnp.asarray(y.astype(np.int32))

    def sparse(eps: float) -> tuple:
        def ours(a, yj):
            return wxent.softmax_cross_entropy(
                a, yj, class_weight=cw, ignore_index=-1, label_smoothing=eps,
                reduction="weighted_mean",
            )  # fmt: skip

        def peer(a, yj):
            y0 = jnp.maximum(yj, 0)
            if eps:
                t = optax.smooth_labels(jax.nn.one_hot(y0, c, dtype=a.dtype), eps)
                per = optax.softmax_cross_entropy(a, t)
            else:
                per = optax.softmax_cross_entropy_with_integer_labels(a, y0)
            return jnp.sum(per * w) / jnp.sum(w)

        return ours, peer, labels

    def dense() -> tuple:
        def ours(a, t):
            return wxent.softmax_cross_entropy(a, t)

        def peer(a, t):
            return jnp.mean(optax.softmax_cross_entropy(a, t))

        return ours, peer, jnp.asarray(p)

    return {"A": sparse(0.1), "B": sparse(0.0), "C": dense()}


def main() -> None:
    args = common.parse(__doc__.splitlines()[0], cases="B,C")
    common.setup_frameworks()
    import jax
    import jax.numpy as jnp

    before = args.baseline or Path("/work/main/src")
    n, c = args.rows, args.classes
    x = jnp.asarray(2 * np.random.default_rng(1).standard_normal((n, c), dtype=np.float32))
    built = cases(n, c)
    print(common.machine(), flush=True)
    for name in sorted(args.cases):
        ours, peer, aux = built[name]
        fns = {"after": ours, "before": baseline(ours, before), "optax": peer}
        for mode in ("forward", "forward+backward"):
            wrap = jax.value_and_grad if mode == "forward+backward" else (lambda f: f)
            jitted = {k: jax.jit(wrap(f)) for k, f in fns.items()}
            for f in jitted.values():
                jax.block_until_ready(f(x, aux))  # compile and warm up
            times: dict[str, list[float]] = {k: [] for k in jitted}
            for r in range(args.rounds):
                for k in list(jitted)[:: 1 if r % 2 == 0 else -1]:
                    gc.collect()
                    start = time.perf_counter()
                    jax.block_until_ready(jitted[k](x, aux))
                    times[k].append(time.perf_counter() - start)
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            print(
                f"{name} {n}x{c} {mode}: after {med['after']:.1f} ms, before "
                f"{med['before']:.1f} ms, optax {med['optax']:.1f} ms; after/optax "
                f"{med['after'] / med['optax']:.2f}, before/optax "
                f"{med['before'] / med['optax']:.2f}, after/before "
                f"{med['after'] / med['before']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
