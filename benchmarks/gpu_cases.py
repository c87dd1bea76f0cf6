"""The cases and contenders of ``benchmarks/gpu.py`` (the tables of the accel issue).

A contender's ``build(inputs)`` returns a function that runs forward + backward once
and returns ``(loss, *gradients)``; the function carries what ``benchmarks/gpu.py``
needs to measure its memory (``leaves``/``inputs`` for torch, ``memory`` for JAX).
Contenders with ``check="small"`` are compared
with the float64 reference on the case's 256-row slice; compiled contenders (whose
every new shape costs a compilation) with ``check="anchor"`` are compared at full size
with the case's first contender, itself checked against float64.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

import wxent

#: ``WXENT_BENCH_DEVICE=cpu`` runs the script's plumbing on CPU (a smoke test, no timings).
DEV = os.environ.get("WXENT_BENCH_DEVICE", "cuda")
SMALL_ROWS = 256


@dataclass
class Contender:
    name: str
    build: Callable[[dict], Callable[[], Any]]
    jax: bool = False
    kind: str = "plain"  # which reference (options) it computes
    #: It writes into its inputs' storage (the gradient into the logits): it runs on a
    #: private copy of the full-size inputs, restored before every timed call.
    inplace: bool = False


@dataclass
class Case:
    key: str
    title: str
    make: Callable[[int], dict]  # rows -> inputs
    rows: int
    reference_fn: Callable[[dict, str], Any]
    contenders: list[Contender]
    tolerance: float
    logits_bytes: int
    #: The least work of one forward + backward, to read the times against the device's
    #: ceilings: bytes that must move (read the logits, write their gradient, ...) and
    #: matmul FLOPs.
    floor_bytes: int = 0
    floor_flops: int = 0
    _cache: dict = field(default_factory=dict)

    @property
    def small(self) -> dict:
        if "small" not in self._cache:
            self._cache["small"] = self.make(min(SMALL_ROWS, self.rows))
        return self._cache["small"]

    @property
    def full(self) -> dict:
        if "full" not in self._cache:
            self._cache["full"] = self.make(self.rows)
        return self._cache["full"]

    def reference(self) -> dict:
        kinds = {c.kind for c in self.contenders if c.kind != "anchor"}
        return {k: self.reference_fn(self.small, k) for k in kinds}

    def fresh_small(self) -> dict:
        """A copy of the small inputs (in-place contenders overwrite theirs)."""
        return clone_inputs(self.small)

    def release(self) -> None:
        self._cache.clear()


def clone_inputs(inputs: dict) -> dict:
    """A private copy of ``inputs`` (leaves stay leaves, with the same ``requires_grad``)."""
    return {
        k: v.detach().clone().requires_grad_(v.requires_grad) if isinstance(v, torch.Tensor) else v
        for k, v in inputs.items()
    }


def restore_inputs(private: dict, original: dict) -> None:
    """Copy ``original``'s values back into ``private`` (after an in-place contender)."""
    with torch.no_grad():
        for k, v in private.items():
            if isinstance(v, torch.Tensor):
                v.copy_(original[k])


def fresh_gradient_bytes(grads: Any, inputs: dict) -> int:
    """Bytes of the tensors in ``grads`` that do not share storage with a tensor of ``inputs``.

    A gradient written into its input's storage (an in-place kernel) costs no memory of
    its own; any other returned gradient was allocated by the call.
    """
    taken = {v.untyped_storage().data_ptr() for v in inputs.values() if isinstance(v, torch.Tensor)}
    seen: set[int] = set()
    total = 0
    for g in grads:
        if not isinstance(g, torch.Tensor):
            continue
        ptr = g.untyped_storage().data_ptr()
        if ptr in taken or ptr in seen:
            continue
        seen.add(ptr)
        total += g.untyped_storage().nbytes()
    return total


@contextlib.contextmanager
def kernels(mode: str) -> Iterator[None]:
    old = os.environ.get("WXENT_KERNELS")
    os.environ["WXENT_KERNELS"] = mode
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("WXENT_KERNELS", None)
        else:
            os.environ["WXENT_KERNELS"] = old


def compare(got: Any, reference: Any, tolerance: float) -> str:
    """``ok`` or ``MISMATCH`` with the relative errors of the loss and the gradients."""
    errors = []
    for a, b in zip(got, reference, strict=True):
        a = _torch64(a)
        b = _torch64(b)
        scale = b.abs().max().clamp_min(1e-30)
        errors.append(float((a - b).abs().max() / scale))
    worst = max(errors)
    text = ", ".join(f"{e:.1e}" for e in errors)
    return ("ok" if worst <= tolerance else "MISMATCH") + f" (rel. err. {text})"


def _torch64(x: Any) -> Any:
    if not isinstance(x, torch.Tensor):
        import jax.numpy as jnp

        x = torch.from_dlpack(jnp.asarray(x, dtype=jnp.float32))
    return x.detach().to(DEV, torch.float64)


def _torch_runner(loss: Callable[..., Any], leaves: list[str]) -> Callable[[dict], Callable]:
    """fwd + bwd of ``loss(inputs, *views)`` with respect to the named leaf tensors."""

    def build(inputs: dict) -> Callable[[], Any]:
        tensors = [inputs[name] for name in leaves]

        def fn() -> Any:
            for t in tensors:
                t.grad = None
            views = [t.view_as(t) for t in tensors]  # not leaves: in-place kernels may write
            value = loss(inputs, *views)
            value.backward()
            return (value.detach(), *[t.grad for t in tensors])

        fn.leaves = tensors  # type: ignore[attr-defined]
        fn.inputs = inputs  # type: ignore[attr-defined]
        return fn

    return build


def _compiled(loss: Callable[..., Any], leaves: list[str]) -> Callable[[dict], Callable]:
    compiled = torch.compile(loss, fullgraph=True, dynamic=False)
    return _torch_runner(compiled, leaves)


def _jax_runner(loss: Callable[..., Any], leaves: list[str], rest: list[str]) -> Callable:
    def build(inputs: dict) -> Callable[[], Any]:
        import jax

        arrays = [jax.dlpack.from_dlpack(inputs[n].detach()) for n in leaves]
        others = [jax.dlpack.from_dlpack(_jax_ready(inputs[n])) for n in rest]
        grad = jax.jit(jax.value_and_grad(loss, argnums=tuple(range(len(leaves)))))

        def fn() -> Any:
            value, grads = grad(*arrays, *others)
            return (value, *grads)

        def memory() -> dict[str, int]:
            """XLA's compiled memory analysis of the jitted forward + backward."""
            stats = grad.lower(*arrays, *others).compile().memory_analysis()
            grads = sum(int(a.size) * a.dtype.itemsize for a in arrays)
            return {
                "temp": int(stats.temp_size_in_bytes),
                "output_beyond_gradients": max(0, int(stats.output_size_in_bytes) - grads),
            }

        fn.memory = memory  # type: ignore[attr-defined]
        return fn

    return build


def _jax_ready(t: Any) -> Any:
    return t.to(torch.int32) if t.dtype == torch.int64 else t.contiguous()


# ----------------------------------------------------------------------------- softmax CE


def _softmax_inputs(n: int, c: int, dtype: Any, seed: int = 0) -> dict:
    g = torch.Generator(device=DEV).manual_seed(seed)
    x = (torch.randn(n, c, device=DEV, generator=g) * 2).to(dtype).requires_grad_()
    y = torch.randint(0, c, (n,), device=DEV, generator=g)
    y[torch.rand(n, device=DEV, generator=g) < 0.1] = -100
    cw = torch.rand(c, device=DEV, generator=g) + 0.5
    return {"x": x, "y": y, "cw": cw}


def _softmax_reference(inputs: dict, kind: str) -> Any:
    x = inputs["x"].detach().double().requires_grad_()
    loss = wxent.softmax_cross_entropy(
        x, inputs["y"], class_weight=inputs["cw"], ignore_index=-100, reduction="weighted_mean"
    )
    loss.backward()
    return (loss.detach(), x.grad)


def _softmax_contenders() -> list[Contender]:
    def wx(inplace: bool) -> Callable:
        def loss(i: dict, v: Any) -> Any:
            return wxent.softmax_cross_entropy(
                v,
                i["y"],
                class_weight=i["cw"],
                ignore_index=-100,
                reduction="weighted_mean",
                inplace_backward=inplace,
            )

        return loss

    def generic(i: dict, v: Any) -> Any:
        with kernels("off"):
            return wx(False)(i, v)

    def unchecked(i: dict, v: Any) -> Any:
        return wxent.softmax_cross_entropy(
            v,
            i["y"],
            class_weight=i["cw"],
            ignore_index=-100,
            reduction="weighted_mean",
            validate=False,
        )

    def eager(i: dict, v: Any) -> Any:
        return F.cross_entropy(v, i["y"], weight=i["cw"], ignore_index=-100)

    def upcast(i: dict, v: Any) -> Any:
        return F.cross_entropy(v.float(), i["y"], weight=i["cw"], ignore_index=-100)

    def liger(i: dict, v: Any) -> Any:
        from liger_kernel.transformers import LigerCrossEntropyLoss

        return LigerCrossEntropyLoss(weight=i["cw"], ignore_index=-100)(v, i["y"])

    def optax_loss(x: Any, y: Any, cw: Any) -> Any:
        import jax.numpy as jnp
        import optax

        valid = y != -100
        safe = jnp.where(valid, y, 0)
        per = optax.softmax_cross_entropy_with_integer_labels(x.astype(jnp.float32), safe)
        w = jnp.where(valid, cw[safe], 0.0)
        return jnp.sum(w * per) / jnp.sum(w)

    # The contenders that write the gradient into the logits run on a private copy of the
    # inputs (the full-size inputs are shared otherwise; JAX reads them without a copy).
    out = [
        Contender("wxent (default options)", _torch_runner(wx(False), ["x"])),
        Contender("wxent validate=False", _torch_runner(unchecked, ["x"])),
        Contender("wxent WXENT_KERNELS=off (generic)", _torch_runner(generic, ["x"])),
        Contender("torch eager F.cross_entropy", _torch_runner(eager, ["x"])),
        Contender("torch.compile(F.cross_entropy)", _compiled(upcast, ["x"]), kind="anchor"),
        Contender("JAX/Optax (jit)", _jax_runner(optax_loss, ["x"], ["y", "cw"]), jax=True),
        Contender("wxent inplace_backward=True", _torch_runner(wx(True), ["x"]), inplace=True),
        Contender("Liger-Kernel LigerCrossEntropyLoss", _torch_runner(liger, ["x"]), inplace=True),
    ]
    return out


# ----------------------------------------------------------------------------- sigmoid family


def _sigmoid_inputs(n: int, c: int, seed: int = 1) -> dict:
    g = torch.Generator(device=DEV).manual_seed(seed)
    x = (torch.randn(n, c, device=DEV, generator=g) * 2).requires_grad_()
    z = (torch.rand(n, c, device=DEV, generator=g) < 0.05).float()
    pw = torch.rand(c, device=DEV, generator=g) * 10 + 1
    y = torch.randint(0, c, (n,), device=DEV, generator=g)
    y[torch.rand(n, device=DEV, generator=g) < 0.1] = -100
    cw = torch.rand(c, device=DEV, generator=g) + 0.5
    return {"x": x, "z": z, "pw": pw, "y": y, "cw": cw}


IMBALANCE: dict[str, tuple[str, Callable[[dict, Any], Any]]] = {
    "sigmoid_focal": (
        "sigmoid_focal_loss (gamma=2, alpha=0.25)",
        lambda i, v: wxent.sigmoid_focal_loss(v, i["z"], gamma=2.0, alpha=0.25),
    ),
    "asymmetric": ("asymmetric_loss (defaults)", lambda i, v: wxent.asymmetric_loss(v, i["z"])),
    "softmax_focal": (
        "softmax_focal_loss (gamma=2, ignore_index)",
        lambda i, v: wxent.softmax_focal_loss(v, i["y"], gamma=2.0, ignore_index=-100),
    ),
    "sigmoid_ce": (
        "sigmoid_cross_entropy (pos_weight)",
        lambda i, v: wxent.sigmoid_cross_entropy(v, i["z"], pos_weight=i["pw"]),
    ),
    "softmax_ce": (
        "softmax_cross_entropy (class weights, ignore_index, smoothing 0.1)",
        lambda i, v: wxent.softmax_cross_entropy(
            v, i["y"], class_weight=i["cw"], ignore_index=-100, label_smoothing=0.1
        ),
    ),
    "expected_cost": (
        "expected_cost_loss (8192x2048 at full size)",
        lambda i, v: wxent.expected_cost_loss(v, torch.where(i["y"] < 0, 0, i["y"]), i["costs"]),
    ),
}


def _imbalance_case(key: str, quick: bool) -> Case:
    label, loss = IMBALANCE[key]
    n, c = (1024, 2048) if quick else (8192, 32768 if key != "expected_cost" else 2048)

    def make(rows: int) -> dict:
        inputs = _sigmoid_inputs(rows, c, seed=2)
        if key == "expected_cost":
            g = torch.Generator(device=DEV).manual_seed(3)
            costs = torch.rand(c, c, device=DEV, generator=g)
            inputs["costs"] = costs * (1 - torch.eye(c, device=DEV))
        return inputs

    def reference(inputs: dict, kind: str) -> Any:
        x = inputs["x"].detach().double().requires_grad_()
        value = loss(inputs, x)
        value.backward()
        return (value.detach(), x.grad)

    def generic(i: dict, v: Any) -> Any:
        with kernels("off"):
            return loss(i, v)

    contenders = [
        Contender("wxent (default options)", _torch_runner(loss, ["x"])),
        Contender("wxent WXENT_KERNELS=off (generic)", _torch_runner(generic, ["x"])),
        Contender(
            "torch.compile(wxent loss, fullgraph=True)", _compiled(loss, ["x"]), kind="anchor"
        ),
    ]
    if key == "sigmoid_ce":
        contenders.append(
            Contender(
                "torch.compile(F.binary_cross_entropy_with_logits)",
                _compiled(
                    lambda i, v: F.binary_cross_entropy_with_logits(v, i["z"], pos_weight=i["pw"]),
                    ["x"],
                ),
                kind="anchor",
            )
        )
    dense = key in ("sigmoid_focal", "asymmetric", "sigmoid_ce")  # float32 targets read too
    return Case(
        key,
        f"{label}, {n}x{c} float32",
        make,
        n,
        reference,
        contenders,
        2e-4,
        n * c * 4,
        floor_bytes=(3 if dense else 2) * n * c * 4,
    )


def _sigmoid_case(quick: bool) -> Case:
    n, c = (2048, 1024) if quick else (16384, 8192)

    def loss(i: dict, v: Any) -> Any:
        return wxent.sigmoid_cross_entropy(v, i["z"], pos_weight=i["pw"])

    def generic(i: dict, v: Any) -> Any:
        with kernels("off"):
            return loss(i, v)

    def native(i: dict, v: Any) -> Any:
        return F.binary_cross_entropy_with_logits(v, i["z"], pos_weight=i["pw"])

    def unchecked(i: dict, v: Any) -> Any:
        return wxent.sigmoid_cross_entropy(v, i["z"], pos_weight=i["pw"], validate=False)

    def jax_loss(x: Any, z: Any, pw: Any) -> Any:
        import jax
        import jax.numpy as jnp

        sp = jax.nn.softplus
        return jnp.mean(pw * z * sp(-x) + (1 - z) * sp(x))

    def reference(inputs: dict, kind: str) -> Any:
        x = inputs["x"].detach().double().requires_grad_()
        value = loss(inputs, x)
        value.backward()
        return (value.detach(), x.grad)

    contenders = [
        Contender("wxent (default options)", _torch_runner(loss, ["x"])),
        Contender("wxent validate=False", _torch_runner(unchecked, ["x"])),
        Contender("wxent WXENT_KERNELS=off (generic)", _torch_runner(generic, ["x"])),
        Contender("torch eager F.binary_cross_entropy_with_logits", _torch_runner(native, ["x"])),
        Contender("torch.compile(F.bce_with_logits)", _compiled(native, ["x"]), kind="anchor"),
        Contender("JAX (jit)", _jax_runner(jax_loss, ["x"], ["z", "pw"]), jax=True),
    ]
    title = f"sigmoid CE, per-label pos_weight, mean, {n}x{c} float32"
    return Case(
        "sigmoid",
        title,
        lambda rows: _sigmoid_inputs(rows, c),
        n,
        reference,
        contenders,
        2e-4,
        n * c * 4,
        floor_bytes=3 * n * c * 4,
    )


def _softmax_case(quick: bool, bf16: bool) -> Case:
    n, c = (1024, 8192) if quick else (8192, 131072)
    dtype = torch.bfloat16 if bf16 else torch.float32
    title = f"softmax CE, class weights + ignore_index, weighted_mean, {n}x{c} " + (
        "bfloat16" if bf16 else "float32"
    )
    return Case(
        "softmax_bf16" if bf16 else "softmax_fp32",
        title,
        lambda rows: _softmax_inputs(rows, c, dtype),
        n,
        _softmax_reference,
        _softmax_contenders(),
        2e-2 if bf16 else 2e-4,
        n * c * (2 if bf16 else 4),
        floor_bytes=2 * n * c * (2 if bf16 else 4),
    )


def cases(quick: bool, only: str) -> list[Case]:
    """Every case, in the order they run (the issue's tables)."""
    from gpu_linear import linear_cases
    from gpu_soft import soft_case

    out = [_softmax_case(quick, False), _softmax_case(quick, True), soft_case(quick)]
    out.append(_sigmoid_case(quick))
    out += [_imbalance_case(key, quick) for key in IMBALANCE]
    out += linear_cases(quick)
    keys = {k for k in only.split(",") if k}
    return [c for c in out if not keys or c.key in keys]


from gpu_targets import targets  # noqa: E402,F401  (re-exported for gpu.py)
