"""The Backend fixture: every value test runs on each framework, named in the test id.

Backends: ``numpy``, ``strict`` (array-api-strict, which fails on any non-standard
call), ``torch``, ``jax`` (eager), ``jax-jit`` (the loss traced by ``jax.jit``),
``tf`` (eager) and ``tf-function`` (traced by ``tf.function``).

A backend whose framework is missing is an error, not a skip: CI must run them all.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The Triton kernels run under Triton's interpreter on CPU tensors (tests/test_triton.py).
# triton must be imported before TensorFlow: both bundle LLVM, and importing triton
# second aborts the process ("option registered more than once").
os.environ.setdefault("TRITON_INTERPRET", "1")
with contextlib.suppress(ImportError):  # a missing triton fails tests/test_triton.py
    import triton  # noqa: F401

import array_api_strict
import jax
import jax.numpy as jnp
import tensorflow as tf
import torch

Array = Any


@pytest.fixture(autouse=True)
def _fresh_compiled_option_keys(monkeypatch):
    """Each test starts below the compiled TensorFlow rules' cap on option keys.

    The cap counts the keys a process has compiled (``MAX_KEYS``); past it, calls run
    operation by operation. A test that checks the compiled graphs ran must not depend
    on how many keys the tests before it in the same worker used.
    """
    import sys

    focal = sys.modules.get("wxent._fastpaths.focal_tf")
    if focal is not None:
        monkeypatch.setattr(focal, "_KEYS", {})


class Backend:
    """How one framework creates arrays, reads them back and differentiates."""

    name = "?"
    autodiff = True
    traced = False  # the loss runs under a tracer: value checks cannot run

    def asarray(self, a: Any) -> Array:
        raise NotImplementedError

    def numpy(self, x: Array) -> np.ndarray:
        raise NotImplementedError

    def call(self, f: Callable[..., Array], *arrays: np.ndarray) -> np.ndarray:
        """``f(*framework arrays)`` evaluated (traced where the backend traces)."""
        return self.numpy(f(*[self.asarray(a) for a in arrays]))

    def value_and_grad(
        self, f: Callable[..., Array], x: np.ndarray, *rest: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Value of the scalar ``f(x, *rest)`` and its gradient with respect to ``x``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class NumpyBackend(Backend):
    name = "numpy"
    autodiff = False

    def asarray(self, a: Any) -> Array:
        return np.asarray(a)

    def numpy(self, x: Array) -> np.ndarray:
        return np.asarray(x)


class StrictBackend(Backend):
    name = "strict"
    autodiff = False

    def asarray(self, a: Any) -> Array:
        return array_api_strict.asarray(np.asarray(a))

    def numpy(self, x: Array) -> np.ndarray:
        return np.asarray(np.from_dlpack(x))


class TorchBackend(Backend):
    name = "torch"

    def asarray(self, a: Any) -> Array:
        return torch.from_numpy(np.array(a, copy=True))

    def numpy(self, x: Array) -> np.ndarray:
        x = x.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        return x.cpu().numpy()

    def value_and_grad(self, f, x, *rest):
        xt = self.asarray(x).requires_grad_(True)
        out = f(xt, *[self.asarray(r) for r in rest])
        (grad,) = torch.autograd.grad(out, xt, allow_unused=False)
        return self.numpy(out), self.numpy(grad)


class JaxBackend(Backend):
    name = "jax"
    jit = False

    def asarray(self, a: Any) -> Array:
        a = np.asarray(a)
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        if a.dtype == np.int64:
            a = a.astype(np.int32)
        return jnp.asarray(a)

    def numpy(self, x: Array) -> np.ndarray:
        x = np.asarray(x)
        return x.astype(np.float32) if x.dtype.name == "bfloat16" else x

    def call(self, f, *arrays):
        g = jax.jit(f) if self.jit else f
        return self.numpy(g(*[self.asarray(a) for a in arrays]))

    def value_and_grad(self, f, x, *rest):
        g = jax.value_and_grad(f)
        if self.jit:
            g = jax.jit(g)
        value, grad = g(self.asarray(x), *[self.asarray(r) for r in rest])
        return self.numpy(value), self.numpy(grad)


class JaxJitBackend(JaxBackend):
    name = "jax-jit"
    jit = True
    traced = True


class TFBackend(Backend):
    name = "tf"
    function = False

    def asarray(self, a: Any) -> Array:
        return tf.constant(np.asarray(a))

    def numpy(self, x: Array) -> np.ndarray:
        x = tf.convert_to_tensor(x)
        if x.dtype in (tf.float16, tf.bfloat16):
            x = tf.cast(x, tf.float32)
        return x.numpy()

    def call(self, f, *arrays):
        g = tf.function(f) if self.function else f
        return self.numpy(g(*[self.asarray(a) for a in arrays]))

    def value_and_grad(self, f, x, *rest):
        def vg(xt, *others):
            with tf.GradientTape() as tape:
                tape.watch(xt)
                out = f(xt, *others)
            return out, tape.gradient(out, xt)

        g = tf.function(vg) if self.function else vg
        value, grad = g(self.asarray(x), *[self.asarray(r) for r in rest])
        return self.numpy(value), self.numpy(grad)


class TFFunctionBackend(TFBackend):
    name = "tf-function"
    function = True
    traced = True


ALL_BACKENDS = [
    NumpyBackend(),
    StrictBackend(),
    TorchBackend(),
    JaxBackend(),
    JaxJitBackend(),
    TFBackend(),
    TFFunctionBackend(),
]
AUTODIFF_BACKENDS = [b for b in ALL_BACKENDS if b.autodiff]
EAGER_BACKENDS = [b for b in ALL_BACKENDS if not b.traced]


@pytest.fixture(params=ALL_BACKENDS, ids=lambda b: b.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every backend, the eager and the traced ones."""
    return request.param


@pytest.fixture(params=AUTODIFF_BACKENDS, ids=lambda b: b.name)
def ad_backend(request: pytest.FixtureRequest) -> Backend:
    """Backends with autodiff (torch, JAX, JAX under jit, TF, TF under tf.function)."""
    return request.param


@pytest.fixture(params=EAGER_BACKENDS, ids=lambda b: b.name)
def eager_backend(request: pytest.FixtureRequest) -> Backend:
    """Backends that run eagerly, where value checks (``validate``) apply."""
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


#: An array of each framework from a NumPy array (the framework's default conversion).
ARRAY_OF: dict[str, Callable[[np.ndarray], Any]] = {
    "numpy": lambda a: a,
    "torch": torch.from_numpy,
    "jax": jnp.asarray,
    "tf": tf.constant,
}


def as_float(x: Any) -> float:
    """A 0-d array (or number) of any framework as a Python float."""
    return float(np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float64))


def assert_close(actual: Any, expected: Any, *, rtol: float = 2e-5, atol: float = 2e-5) -> None:
    """Compare with tolerances suited to float32 against a float64 reference."""
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=rtol,
        atol=atol,
    )


@contextlib.contextmanager
def jax_binds() -> Iterator[list[str]]:
    """The JAX primitives bound inside the block (eager operations, or compiled calls)."""
    from jax.extend.core import Primitive

    seen: list[str] = []
    original = Primitive.bind

    def bind(self: Any, *args: Any, **params: Any) -> Any:
        seen.append(self.name)
        return original(self, *args, **params)

    Primitive.bind = bind  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Primitive.bind = original  # type: ignore[method-assign]


@contextlib.contextmanager
def jax_compiles() -> Iterator[list[str]]:
    """The XLA compilations that run inside the block (JAX's compile-duration events)."""
    import jax.monitoring

    seen: list[str] = []

    def listen(name: str, secs: float, **kwargs: Any) -> None:
        if name == "/jax/core/compile/backend_compile_duration":
            seen.append(name)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
