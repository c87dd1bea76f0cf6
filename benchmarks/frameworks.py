"""Contenders per framework: the same loss as a forward and a forward+backward callable.

``contenders(fw, name, loss, x)`` returns the forward and forward+backward
:class:`~common.Contender` of ``loss(x_fw)`` where ``x_fw`` is ``x`` (NumPy) moved to
framework ``fw``: PyTorch eager (forward under ``no_grad``), JAX under ``jax.jit``,
TensorFlow under ``tf.function``. NumPy has no backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from common import Contender


def asarray(fw: str, a: np.ndarray) -> Any:
    """``a`` in framework ``fw`` (int64 labels become int32 on JAX)."""
    if fw == "numpy":
        return a
    if fw == "torch":
        import torch

        return torch.from_numpy(np.ascontiguousarray(a))
    if fw == "jax":
        import jax.numpy as jnp

        if a.dtype == np.int64:
            a = a.astype(np.int32)
        return jnp.asarray(a)
    if fw == "tf":
        import tensorflow as tf

        return tf.constant(a)
    raise ValueError(fw)


def contenders(
    fw: str, name: str, loss: Callable[..., Any], x: np.ndarray, *, ours: bool = False
) -> dict[str, Contender]:
    """Forward and (except NumPy) forward+backward contenders of ``loss`` at ``x``."""
    out: dict[str, Contender] = {}
    xf = asarray(fw, x)
    if fw == "numpy":
        out["forward"] = Contender(name, lambda: loss(xf), lambda: float(loss(xf)), ours)
        return out
    if fw == "torch":
        import torch

        def forward() -> Any:
            with torch.no_grad():
                return loss(xf)

        xg = xf.clone().requires_grad_(True)

        def both() -> Any:
            xg.grad = None
            value = loss(xg)
            value.backward()
            return xg.grad

        out["forward"] = Contender(name, forward, lambda: float(forward()), ours)
        out["forward+backward"] = Contender(name, both, lambda: float(forward()), ours)
        return out
    if fw == "jax":
        import jax

        fwd = jax.jit(loss)
        vg = jax.jit(jax.value_and_grad(loss))
        out["forward"] = Contender(
            name, lambda: fwd(xf).block_until_ready(), lambda: float(fwd(xf)), ours
        )
        out["forward+backward"] = Contender(
            name, lambda: jax.block_until_ready(vg(xf)), lambda: float(vg(xf)[0]), ours
        )
        return out
    if fw == "tf":
        import tensorflow as tf

        fwd_tf = tf.function(loss)

        @tf.function
        def vg_tf(a: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(a)
                value = loss(a)
            return value, tape.gradient(value, a)

        out["forward"] = Contender(name, lambda: fwd_tf(xf), lambda: float(fwd_tf(xf)), ours)
        out["forward+backward"] = Contender(
            name, lambda: vg_tf(xf), lambda: float(vg_tf(xf)[0]), ours
        )
        return out
    raise ValueError(fw)


def generic(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with wxent's fast paths switched off (the generic Array API path)."""
    from wxent import _fastpaths

    def wrapped(*args: Any) -> Any:
        _fastpaths.ENABLED = False
        try:
            return fn(*args)
        finally:
            _fastpaths.ENABLED = True

    return wrapped


def baseline(fn: Callable[..., Any], src: Any) -> Callable[..., Any]:
    """``fn`` with the JAX softmax rules of another wxent source tree ``src`` (a ``src`` folder).

    Loads ``src/wxent/_fastpaths/jax.py`` of that tree beside this one's and uses its rules
    while ``fn`` runs (under ``jax.jit``, while it is traced): the rest of wxent is this
    tree's, so the two contenders differ in the rules alone, timed in one process.
    """
    import importlib.util
    from pathlib import Path

    from wxent import _fastpaths

    path = Path(src) / "wxent" / "_fastpaths" / "jax.py"
    spec = importlib.util.spec_from_file_location("wxent_baseline_jax_rules", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"baseline: no JAX rules at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    patch = {
        n: getattr(module, n) for n in ("jax_softmax_function", "jax_softmax_probability_function")
    }

    def wrapped(*args: Any) -> Any:
        saved = {n: getattr(_fastpaths, n) for n in patch}
        for n, f in patch.items():
            setattr(_fastpaths, n, f)
        try:
            return fn(*args)
        finally:
            for n, f in saved.items():
                setattr(_fastpaths, n, f)

    return wrapped
