"""How fast is wxent's softmax CE with soft (probability) labels?

Probability labels, ``reduction="mean"`` (``sum(l) / N``, which every peer computes
the same way without weights): torch ``F.cross_entropy`` with probability targets,
Optax ``softmax_cross_entropy``, ``tf.nn.softmax_cross_entropy_with_logits``, and a
straightforward NumPy version. "wxent (generic path)" is wxent with its fast paths off;
``--baseline DIR`` adds the JAX rules of another wxent ``src`` folder as a contender.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import common
import numpy as np
from frameworks import asarray, baseline, contenders, generic


def reference(x: np.ndarray, p: np.ndarray) -> float:
    x64 = x.astype(np.float64)
    m = x64.max(axis=1, keepdims=True)
    log_p = x64 - (np.log(np.exp(x64 - m).sum(axis=1, keepdims=True)) + m)
    return float(-(p * log_p).sum(axis=1).mean())


def build(fw, x, p, generic_path=True, before=None):
    import wxent

    pf = asarray(fw, p)

    def ours(a):
        return wxent.softmax_cross_entropy(a, pf)

    out = {"ours": contenders(fw, "wxent", ours, x, ours=True)}
    if before is not None and fw == "jax":
        name = f"wxent (JAX rules of {before})"
        out["before"] = contenders(fw, name, baseline(ours, before), x, ours=True)
    if fw == "numpy":

        def peer(a):
            m = a.max(axis=1, keepdims=True)
            log_p = a - (np.log(np.exp(a - m).sum(axis=1, keepdims=True)) + m)
            return -(p * log_p).sum(axis=1).mean()

        name = "NumPy straightforward"
    elif fw == "torch":
        import torch.nn.functional as F

        def peer(a):
            return F.cross_entropy(a, pf)

        name = "torch F.cross_entropy(probabilities)"
    elif fw == "jax":
        import jax.numpy as jnp
        import optax

        def peer(a):
            return jnp.mean(optax.softmax_cross_entropy(a, pf))

        name = "optax softmax_cross_entropy"
    else:
        import tensorflow as tf

        def peer(a):
            return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=pf, logits=a))

        name = "tf.nn.softmax_cross_entropy_with_logits"
    if generic_path and fw in ("numpy", "torch"):
        out["generic"] = contenders(fw, "wxent (generic path)", generic(ours), x, ours=True)
    out["peer"] = contenders(fw, name, peer, x)
    return out


def main() -> None:
    args = common.parse(__doc__.splitlines()[0])
    common.setup_frameworks()
    rng = np.random.default_rng(1)
    n, c = args.rows, args.classes
    x = (2 * rng.standard_normal((n, c), dtype=np.float32)).astype(np.float32)
    p = rng.uniform(size=(n, c)).astype(np.float32) ** 4
    p /= p.sum(axis=1, keepdims=True)
    ref = reference(x, p)
    cases = []
    for fw in ("numpy", "torch", "jax", "tf"):
        if fw not in args.frameworks:
            continue
        built = build(fw, x, p, not args.no_generic, args.baseline)
        for mode in ("forward", "forward+backward"):
            group = [b[mode] for b in built.values() if mode in b]
            if group:
                case = common.Case("soft", fw, mode, group, reference=ref)
                cases.append(common.run_case(case, rounds=args.rounds))
                print("\n".join(common.table([case]).splitlines()[2:]), flush=True)
        del built
    common.write_section(
        args.output,
        f"C. Soft-label softmax CE, mean, {n}x{c} float32",
        "Dense probability labels (no weights, no smoothing), wxent with its default options.",
        cases,
    )


if __name__ == "__main__":
    main()
