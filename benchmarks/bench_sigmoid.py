"""How fast is wxent's sigmoid CE with a per-class ``pos_weight``?

Multi-hot labels (~3% positives), ``pos_weight`` per class, ``reduction="mean"``
(over all elements, as torch's ``mean``): torch
``F.binary_cross_entropy_with_logits(pos_weight=)``, ``tf.nn.weighted_cross_entropy_with_logits``,
the same formula with ``jax.nn.softplus`` (Optax's ``sigmoid_binary_cross_entropy`` has
no ``pos_weight``), and a straightforward NumPy version. "wxent (generic path)" is
wxent with its fast paths off (PyTorch has one: the native kernel on finite logits).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import common
import numpy as np
from frameworks import asarray, contenders, generic


def reference(x: np.ndarray, z: np.ndarray, q: np.ndarray) -> float:
    x64 = x.astype(np.float64)
    return float((q * z * np.logaddexp(0, -x64) + (1 - z) * np.logaddexp(0, x64)).mean())


def build(fw, x, z, q, generic_path=True):
    import wxent

    zf = asarray(fw, z)

    def ours(a):
        return wxent.sigmoid_cross_entropy(a, zf, pos_weight=q)

    out = {"ours": contenders(fw, "wxent", ours, x, ours=True)}
    q32 = q.astype(np.float32)
    if fw == "numpy":

        def peer(a):
            sp = np.log1p(np.exp(-np.abs(a))) + np.maximum(-a, 0)  # softplus(-a)
            return ((1 - z) * a + (1 + (q32 - 1) * z) * sp).mean()

        name = "NumPy straightforward"
    elif fw == "torch":
        import torch
        import torch.nn.functional as F

        qt = torch.from_numpy(q32)

        def peer(a):
            return F.binary_cross_entropy_with_logits(a, zf, pos_weight=qt)

        name = "torch F.binary_cross_entropy_with_logits(pos_weight)"
    elif fw == "jax":
        import jax
        import jax.numpy as jnp

        qj = jnp.asarray(q32)

        def peer(a):
            return jnp.mean(qj * zf * jax.nn.softplus(-a) + (1 - zf) * jax.nn.softplus(a))

        name = "jax.nn.softplus formula"
    else:
        import tensorflow as tf

        qt = tf.constant(q32)

        def peer(a):
            return tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(zf, a, qt))

        name = "tf.nn.weighted_cross_entropy_with_logits"
    if generic_path and fw in ("torch",):
        out["generic"] = contenders(fw, "wxent (generic path)", generic(ours), x, ours=True)
    out["peer"] = contenders(fw, name, peer, x)
    return out


def main() -> None:
    args = common.parse(__doc__.splitlines()[0])
    common.setup_frameworks()
    rng = np.random.default_rng(2)
    n, c = args.rows, args.classes
    x = (2 * rng.standard_normal((n, c), dtype=np.float32)).astype(np.float32)
    z = (rng.uniform(size=(n, c)) < 0.03).astype(np.float32)
    q = rng.uniform(10.0, 40.0, c)
    ref = reference(x, z, q)
    cases = []
    for fw in ("numpy", "torch", "jax", "tf"):
        if fw not in args.frameworks:
            continue
        built = build(fw, x, z, q, not args.no_generic)
        for mode in ("forward", "forward+backward"):
            group = [b[mode] for b in built.values() if mode in b]
            if group:
                case = common.Case("sigmoid", fw, mode, group, reference=ref)
                cases.append(common.run_case(case, rounds=args.rounds))
                print("\n".join(common.table([case]).splitlines()[2:]), flush=True)
        del built
    common.write_section(
        args.output,
        f"D. Sigmoid CE with per-class pos_weight, mean, {n}x{c} float32",
        "Multi-hot labels (~3% positive), `pos_weight` in [10, 40] per class, "
        "wxent with its default options.",
        cases,
    )


if __name__ == "__main__":
    main()
