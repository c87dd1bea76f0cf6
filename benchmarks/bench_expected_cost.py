"""How fast is wxent's expected-cost loss against the straightforward formula?

Integer labels, a random non-negative ``C x C`` cost matrix with a zero diagonal,
``reduction="mean"``. No framework ships this loss, so each peer is the formula
``(softmax(x) * costs[y]).sum(-1).mean()`` written with the framework's own ops:
``torch.softmax`` and indexing (eager), ``jax.nn.softmax`` and indexing (under
``jax.jit``), ``tf.nn.softmax`` and ``tf.gather`` (under ``tf.function``), and NumPy
(a max-shifted softmax). PyTorch on the CPU runs wxent's autograd function of this loss
(``_fastpaths/cost_torch.py``); NumPy, JAX and TensorFlow run the generic Array API
code. The cost matrix is given to every contender as an array of its framework
(converted once, outside the timing).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import common
import numpy as np
from frameworks import asarray, contenders


def reference(x: np.ndarray, y: np.ndarray, costs: np.ndarray) -> float:
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return float((p * costs.astype(np.float64)[y]).sum(axis=1).mean())


def build(fw, x, y, costs):
    import wxent

    yf = asarray(fw, y)
    cf = asarray(fw, costs)

    def ours(a):
        return wxent.expected_cost_loss(a, yf, cf, reduction="mean")

    out = {"ours": contenders(fw, "wxent", ours, x, ours=True)}
    if fw == "numpy":

        def peer(a):
            e = np.exp(a - a.max(axis=1, keepdims=True))
            p = e / e.sum(axis=1, keepdims=True)
            return (p * costs[y]).sum(axis=-1).mean()

        name = "NumPy straightforward"
    elif fw == "torch":
        import torch

        def peer(a):
            return (torch.softmax(a, dim=-1) * cf[yf]).sum(-1).mean()

        name = "torch (softmax(x) * costs[y]).sum(-1).mean()"
    elif fw == "jax":
        import jax

        def peer(a):
            return (jax.nn.softmax(a, axis=-1) * cf[yf]).sum(-1).mean()

        name = "jax.numpy (softmax(x) * costs[y]).sum(-1).mean()"
    else:
        import tensorflow as tf

        def peer(a):
            rows = tf.gather(cf, yf)
            return tf.reduce_mean(tf.reduce_sum(tf.nn.softmax(a, axis=-1) * rows, axis=-1))

        name = "tf (softmax(x) * gather(costs, y)).sum(-1).mean()"
    out["peer"] = contenders(fw, name, peer, x)
    return out


def main() -> None:
    args = common.parse(__doc__.splitlines()[0])
    common.setup_frameworks()
    rng = np.random.default_rng(5)
    n, c = args.rows, args.classes
    x = (2 * rng.standard_normal((n, c), dtype=np.float32)).astype(np.float32)
    y = rng.integers(0, c, size=n)
    costs = rng.uniform(0.0, 1.0, size=(c, c)).astype(np.float32)
    np.fill_diagonal(costs, 0.0)
    ref = reference(x, y, costs)
    cases = []
    for fw in ("numpy", "torch", "jax", "tf"):
        if fw not in args.frameworks:
            continue
        built = build(fw, x, y, costs)
        for mode in ("forward", "forward+backward"):
            group = [b[mode] for b in built.values() if mode in b]
            if group:
                case = common.Case("expected cost", fw, mode, group, reference=ref)
                cases.append(common.run_case(case, rounds=args.rounds))
                print(common.table([case]).splitlines()[-1], flush=True)
        del built
    common.write_section(
        args.output,
        f"F. Expected-cost loss, mean, {n}x{c} float32",
        "Integer labels, random cost matrix in [0, 1) with zero diagonal (float32, "
        f"{c}x{c}, an array of each framework), wxent with its default options. "
        f"Command: `python benchmarks/bench_expected_cost.py --rows {n} --classes {c} "
        f"--rounds {args.rounds} --frameworks {','.join(sorted(args.frameworks))}` "
        "with `MALLOC_MMAP_THRESHOLD_=65536`.",
        cases,
    )


if __name__ == "__main__":
    main()
