"""How much do the custom gradients of the focal and asymmetric losses save on the CPU?

wxent's focal and asymmetric losses on PyTorch (eager), JAX (``jax.jit``) and TensorFlow
(eager, and ``tf.function``) with their custom gradients (``torch.autograd.Function``,
``jax.custom_jvp``, ``tf.custom_gradient``) against the same losses through the generic
Array API path (autodiff of the formulas; TensorFlow: ``WXENT_KERNELS=off``), default options
(``validate=True``): ``sigmoid_focal_loss(gamma=2, alpha=0.25)`` and
``asymmetric_loss()`` on multi-label targets with about 3% positives, and
``softmax_focal_loss(gamma=2)`` on integer labels. Forward and forward+backward, time
and peak memory; every contender is first checked against a float64 NumPy formula.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import common
import numpy as np
from frameworks import asarray, contenders, generic

#: The frameworks (and modes) of the rows; "tf-eager" is TensorFlow without tf.function.
FRAMEWORKS = ("torch", "jax", "tf", "tf-eager")


def reference(name: str, x: np.ndarray, labels: np.ndarray) -> float:
    """The float64 mean loss, vectorised from the docstring formulas."""
    x = x.astype(np.float64)
    if name == "softmax_focal_loss":
        m = x.max(axis=1, keepdims=True)
        log_p = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
        lp = log_p[np.arange(len(labels)), labels]
        return float((-((-np.expm1(lp)) ** 2) * lp).mean())
    kind = "focal" if name == "sigmoid_focal_loss" else "asymmetric"
    return common.binary_focal_reference(kind, x, labels)


LOSSES = {
    "sigmoid_focal_loss": "sigmoid_focal_loss(gamma=2, alpha=0.25)",
    "asymmetric_loss": "asymmetric_loss() (gamma_neg=4, clip=0.05)",
    "softmax_focal_loss": "softmax_focal_loss(gamma=2)",
}


def build(fw: str, name: str, x: np.ndarray, labels: np.ndarray) -> dict:
    import wxent

    lf = asarray("tf" if fw.startswith("tf") else fw, labels)
    if name == "sigmoid_focal_loss":

        def loss(a):
            return wxent.sigmoid_focal_loss(a, lf, alpha=0.25)

    elif name == "asymmetric_loss":

        def loss(a):
            return wxent.asymmetric_loss(a, lf)

    else:

        def loss(a):
            return wxent.softmax_focal_loss(a, lf)

    if fw.startswith("tf"):
        make = _tf_eager if fw == "tf-eager" else lambda *a, **k: contenders("tf", *a, **k)
        return {
            "ours": make("wxent (custom gradient)", loss, x, ours=True),
            "generic": make("wxent (WXENT_KERNELS=off)", kernels_off(loss), x),
        }
    return {
        "ours": contenders(fw, "wxent (custom gradient)", loss, x, ours=True),
        "generic": contenders(fw, "wxent (generic path)", generic(loss), x),
    }


def kernels_off(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with ``WXENT_KERNELS=off`` (read when a tf.function traces ``fn``)."""

    def wrapped(*args: Any) -> Any:
        before = os.environ.get("WXENT_KERNELS")
        os.environ["WXENT_KERNELS"] = "off"
        try:
            return fn(*args)
        finally:
            if before is None:
                del os.environ["WXENT_KERNELS"]
            else:
                os.environ["WXENT_KERNELS"] = before

    return wrapped


def _tf_eager(name: str, loss: Callable[..., Any], x: np.ndarray, *, ours: bool = False) -> dict:
    """TensorFlow eager contenders: the loss alone, and under a ``tf.GradientTape``."""
    import tensorflow as tf

    xf = tf.constant(x)

    def both() -> Any:
        with tf.GradientTape() as tape:
            tape.watch(xf)
            value = loss(xf)
        return value, tape.gradient(value, xf).numpy()

    return {
        "forward": common.Contender(name, lambda: loss(xf).numpy(), lambda: float(loss(xf)), ours),
        "forward+backward": common.Contender(name, both, lambda: float(both()[0]), ours),
    }


def main() -> None:
    args = common.parse(__doc__.splitlines()[0])
    common.setup_frameworks()
    rng = np.random.default_rng(7)
    n, c = args.rows, args.classes
    x = (2 * rng.standard_normal((n, c), dtype=np.float32)).astype(np.float32)
    z = (rng.random((n, c)) < 0.03).astype(np.float32)
    y = rng.integers(0, c, size=n)
    cases = []
    for name in LOSSES:
        labels = y if name == "softmax_focal_loss" else z
        ref = reference(name, x, labels)
        for fw in FRAMEWORKS:
            if fw not in args.frameworks:
                continue
            built = build(fw, name, x, labels)
            for mode in ("forward", "forward+backward"):
                group = [b[mode] for b in built.values()]
                case = common.Case(LOSSES[name], fw, mode, group, reference=ref)
                cases.append(common.run_case(case, rounds=args.rounds))
                print(name, common.table([case]).splitlines()[-1], flush=True)
            del built
    table = common.table(cases)
    rows = table.splitlines()
    header, body = rows[:2], rows[2:]
    labelled = [
        "| loss " + header[0],
        "|---" + header[1],
        *(f"| {case.question} {row}" for case, row in zip(cases, body, strict=True)),
    ]
    tf_only = args.frameworks <= {"tf", "tf-eager"}
    title = (
        "H. TensorFlow imbalance losses: custom gradients"
        if tf_only
        else "H. Focal and asymmetric losses: custom gradient vs generic path"
    )
    with open(args.output, "a") as f:
        f.write(
            f"\n## {title}, mean, {n}x{c} float32\n\n"
            "Default options (`validate=True`); multi-label targets with ~3% positives, "
            "integer labels for the softmax focal loss. PyTorch eager on the CPU, JAX under "
            "`jax.jit`, TensorFlow eager (`tf-eager`, the gradient by `tf.GradientTape`) and "
            "in `tf.function` (`tf`). Peer = the same wxent loss through the generic path "
            "(`wxent._fastpaths.ENABLED = False`; TensorFlow: `WXENT_KERNELS=off`). "
            f"Command: `python benchmarks/bench_focal.py --rows {n} --classes {c} "
            f"--rounds {args.rounds} --frameworks {','.join(sorted(args.frameworks))}` "
            f"with `MALLOC_MMAP_THRESHOLD_=65536`. {common.machine()}\n\n"
            + "\n".join(labelled)
            + "\n"
        )


if __name__ == "__main__":
    main()
