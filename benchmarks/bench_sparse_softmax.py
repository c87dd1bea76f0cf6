"""How fast is wxent's sparse softmax CE with class weights, smoothing and ignore_index?

Two questions, both with integer labels, per-class weights and ~5% ignored rows,
``reduction="weighted_mean"`` (``sum(w*l) / sum(w)``, torch's weighted mean):

A. with label smoothing 0.1. Peers written with the same semantics: torch's native
   kernel per sample (``F.cross_entropy(reduction="none", label_smoothing=0.1)``,
   unweighted, which equals ours) times ``class_weight[y]``; Optax's idiomatic
   ``softmax_cross_entropy(x, smooth_labels(one_hot(y)))``; ``tf.nn`` with smoothed
   one-hot labels; straightforward NumPy.
B. without smoothing: torch's ``F.cross_entropy(weight=, ignore_index=)`` is exactly
   ours; Optax ``softmax_cross_entropy_with_integer_labels`` and
   ``tf.nn.sparse_softmax_cross_entropy_with_logits`` times ``class_weight[y]``.

"ours (generic)" is wxent with its fast paths off: the gap to "ours" is what the fast
path buys. ``--cases B`` runs one question; ``--baseline DIR`` adds the JAX rules of
another wxent ``src`` folder as a contender (a before/after in one process).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import common
import numpy as np
from frameworks import baseline, contenders, generic

EPS = 0.1


def reference(x: np.ndarray, y: np.ndarray, cw: np.ndarray, eps: float) -> float:
    x64 = x.astype(np.float64)
    m = x64.max(axis=1)
    lse = np.log(np.exp(x64 - m[:, None]).sum(axis=1)) + m
    valid = y >= 0
    y0 = np.where(valid, y, 0)
    nll = lse - x64[np.arange(len(y)), y0]
    loss = (1 - eps) * nll + eps * (lse - x64.mean(axis=1))
    w = cw[y0] * valid
    return float((w * loss).sum() / w.sum())


def numpy_peer(x, y, cw, eps):
    # The straightforward NumPy version.
    m = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
    valid = y >= 0
    y0 = np.where(valid, y, 0)
    loss = lse - x[np.arange(len(y)), y0]
    if eps:
        loss = (1 - eps) * loss + eps * (lse - x.mean(axis=1))
    w = cw[y0] * valid
    return (w * loss).sum() / w.sum()


def build(fw, x, y, cw, eps, generic_path=True, before=None):
    import wxent

    opts = {
        "class_weight": cw,
        "label_smoothing": eps,
        "ignore_index": -1,
        "reduction": "weighted_mean",
    }
    valid = y >= 0
    y0 = np.where(valid, y, 0)
    w_np = (cw[y0] * valid).astype(np.float32)
    C = x.shape[1]
    from frameworks import asarray

    yf = asarray(fw, y)

    def ours(a):
        return wxent.softmax_cross_entropy(a, yf, **opts)

    out = {"ours": contenders(fw, "wxent", ours, x, ours=True)}
    if before is not None and fw == "jax":
        name = f"wxent (JAX rules of {before})"
        out["before"] = contenders(fw, name, baseline(ours, before), x, ours=True)
    if generic_path and fw != "tf":
        out["generic"] = contenders(fw, "wxent (generic path)", generic(ours), x, ours=True)
    if fw == "numpy":
        name = "NumPy straightforward"
        out["peer"] = contenders(fw, name, lambda a: numpy_peer(a, y, cw, eps), x)
    elif fw == "torch":
        import torch
        import torch.nn.functional as F

        yt, wt = torch.from_numpy(y), torch.from_numpy(w_np)
        cwt = torch.from_numpy(cw.astype(np.float32))
        if eps:

            def peer(a):
                per = F.cross_entropy(a, yt, reduction="none", label_smoothing=eps, ignore_index=-1)
                return (per * wt).sum() / wt.sum()

            name = "torch F.cross_entropy(none, smoothing) * w[y]"
        else:

            def peer(a):
                return F.cross_entropy(a, yt, weight=cwt, ignore_index=-1)

            name = "torch F.cross_entropy(weight, ignore_index)"
        out["peer"] = contenders(fw, name, peer, x)
    elif fw == "jax":
        import jax
        import jax.numpy as jnp
        import optax

        yj, wj = jnp.asarray(y0.astype(np.int32)), jnp.asarray(w_np)
        if eps:

            def peer(a):
                t = optax.smooth_labels(jax.nn.one_hot(yj, C, dtype=a.dtype), eps)
                return jnp.sum(optax.softmax_cross_entropy(a, t) * wj) / jnp.sum(wj)

            name = "optax softmax_cross_entropy(smooth_labels(one_hot)) * w"
        else:

            def peer(a):
                per = optax.softmax_cross_entropy_with_integer_labels(a, yj)
                return jnp.sum(per * wj) / jnp.sum(wj)

            name = "optax softmax_cross_entropy_with_integer_labels * w"
        out["peer"] = contenders(fw, name, peer, x)
    elif fw == "tf":
        import tensorflow as tf

        yt, wt = tf.constant(y0), tf.constant(w_np)
        if eps:

            def peer(a):
                t = tf.one_hot(yt, C, dtype=a.dtype) * (1 - eps) + eps / C
                per = tf.nn.softmax_cross_entropy_with_logits(labels=t, logits=a)
                return tf.reduce_sum(per * wt) / tf.reduce_sum(wt)

            name = "tf.nn.softmax_cross_entropy_with_logits(smoothed one-hot) * w"
        else:

            def peer(a):
                per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yt, logits=a)
                return tf.reduce_sum(per * wt) / tf.reduce_sum(wt)

            name = "tf.nn.sparse_softmax_cross_entropy_with_logits * w"
        out["peer"] = contenders(fw, name, peer, x)
    return out


def main() -> None:
    args = common.parse(__doc__.splitlines()[0], cases="A,B")
    common.setup_frameworks()
    rng = np.random.default_rng(0)
    n, c = args.rows, args.classes
    x = (2 * rng.standard_normal((n, c), dtype=np.float32)).astype(np.float32)
    y = rng.integers(0, c, n)
    y[rng.uniform(size=n) < 0.05] = -1
    cw = rng.uniform(0.5, 2.0, c)
    for eps, label in ((EPS, "A"), (0.0, "B")):
        if label not in args.cases:
            continue
        ref = reference(x, y, cw, eps)
        cases = []
        for fw in ("numpy", "torch", "jax", "tf"):
            if fw not in args.frameworks:
                continue
            built = build(fw, x, y, cw, eps, not args.no_generic, args.baseline)
            for mode in ("forward", "forward+backward"):
                group = [b[mode] for b in built.values() if mode in b]
                if not group:
                    continue
                case = common.Case("sparse", fw, mode, group, reference=ref)
                cases.append(common.run_case(case, rounds=args.rounds))
                print("\n".join(common.table([case]).splitlines()[2:]), flush=True)
            del built
        title = (
            f"{label}. Sparse softmax CE, class weights"
            + (f" + label smoothing {eps}" if eps else "")
            + f" + ignore_index, weighted_mean, {n}x{c} float32"
        )
        intro = (
            "Integer labels, ~5% ignored, per-class weights; wxent with its default options "
            "(value checks on, as in a training loop)."
        )
        common.write_section(args.output, title, intro, cases)


if __name__ == "__main__":
    main()
