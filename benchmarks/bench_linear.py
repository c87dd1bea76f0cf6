"""How much memory and time does linear_cross_entropy save over matmul + CE?

``inputs (N, D) @ weight.T (V, D)`` then softmax CE with integer labels,
``reduction="mean"``, gradients with respect to both ``inputs`` and ``weight``; wxent
with default options. Peers: the naive composition in the same framework (torch
``F.cross_entropy`` on ``h @ W.T``; Optax ``softmax_cross_entropy_with_integer_labels`` on
``h @ W.T`` under ``jax.jit``), which holds the ``(N, V)`` logits and their gradient.
Targets: peak memory <= 25% of the naive, time <= 1.3x.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import common
import numpy as np


def reference(h: np.ndarray, w: np.ndarray, y: np.ndarray) -> float:
    x = h.astype(np.float64) @ w.astype(np.float64).T
    m = x.max(axis=1)
    lse = np.log(np.exp(x - m[:, None]).sum(axis=1)) + m
    return float((lse - x[np.arange(len(y)), y]).mean())


def torch_contenders(h, w, y):
    import torch
    import torch.nn.functional as F

    import wxent

    ht = torch.from_numpy(h).requires_grad_(True)
    wt = torch.from_numpy(w).requires_grad_(True)
    yt = torch.from_numpy(y)

    def make(loss, name, ours):
        def forward():
            with torch.no_grad():
                return loss(ht, wt)

        def both():
            ht.grad = None
            wt.grad = None
            loss(ht, wt).backward()
            return ht.grad, wt.grad

        value = lambda: float(forward())  # noqa: E731
        return {
            "forward": common.Contender(name, forward, value, ours),
            "forward+backward": common.Contender(name, both, value, ours),
        }

    return [
        make(lambda a, b: wxent.linear_cross_entropy(a, b, yt), "wxent", True),
        make(lambda a, b: F.cross_entropy(a @ b.T, yt), "torch h @ W.T + F.cross_entropy", False),
    ]


def jax_contenders(h, w, y):
    import jax
    import jax.numpy as jnp
    import optax

    import wxent

    hj, wj, yj = jnp.asarray(h), jnp.asarray(w), jnp.asarray(y.astype(np.int32))

    def make(loss, name, ours):
        fwd = jax.jit(loss)
        vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        return {
            "forward": common.Contender(
                name, lambda: fwd(hj, wj).block_until_ready(), lambda: float(fwd(hj, wj)), ours
            ),
            "forward+backward": common.Contender(
                name, lambda: jax.block_until_ready(vg(hj, wj)), lambda: float(fwd(hj, wj)), ours
            ),
        }

    def naive(a, b):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(a @ b.T, yj))

    return [
        make(lambda a, b: wxent.linear_cross_entropy(a, b, yj), "wxent", True),
        make(naive, "optax on h @ W.T", False),
    ]


def main() -> None:
    args = common.parse(__doc__.splitlines()[0])
    common.setup_frameworks()
    n, v = args.rows, args.classes
    d = 128 if args.quick else 1024
    rng = np.random.default_rng(3)
    h = rng.standard_normal((n, d), dtype=np.float32)
    w = (rng.standard_normal((v, d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
    y = rng.integers(0, v, n)
    ref = reference(h, w, y)
    cases = []
    for fw, make in (("torch", torch_contenders), ("jax", jax_contenders)):
        if fw not in args.frameworks:
            continue
        built = make(h, w, y)
        for mode in ("forward", "forward+backward"):
            case = common.Case("linear", fw, mode, [b[mode] for b in built], reference=ref)
            cases.append(common.run_case(case, rounds=args.rounds))
            print(common.table([case]).splitlines()[-1], flush=True)
        del built
    common.write_section(
        args.output,
        f"E. linear_cross_entropy vs matmul + CE, N={n}, D={d}, V={v} float32",
        "Gradients with respect to inputs and weight; wxent with default options (value checks "
        f"on, default `chunk_size`: rows per chunk = 2**23 // V = {max(1, 2**23 // v)} on CPU). "
        "The gradient is computed during the forward pass (three matmuls per chunk for "
        "forward and backward together).",
        cases,
    )


if __name__ == "__main__":
    main()
