"""linear_cross_entropy on accelerators' terms: 16-bit matmuls, 3 GEMMs, one host read.

Runs on CPU tensors (the same code path as CUDA, only the default chunk differs): every
matmul operand stays in bf16, forward+backward costs at most three GEMMs' FLOPs, the
gradient is computed in the forward pass only when one is needed, and a default call
reads one scalar on the host.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import wxent
from conftest import assert_close
from jaxpr_tools import dot_generals
from reference import softmax_ce

MATMULS = {"mm", "addmm", "matmul", "bmm", "baddbmm", "mv", "addmv", "dot", "linear"}


class MatmulRecorder(TorchDispatchMode):
    """Records every matmul that reaches the dispatcher: name, operand dtypes and shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[torch.dtype], list[tuple[int, ...]]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in MATMULS:
            operands = args[1:3] if name.startswith("add") or name == "baddbmm" else args[:2]
            self.calls.append(
                (name, [t.dtype for t in operands], [tuple(t.shape) for t in operands])
            )
        return func(*args, **(kwargs or {}))

    def flops(self) -> int:
        total = 0
        for _, _, (a, b) in self.calls:
            total += 2 * int(np.prod(a)) * int(b[-1])
        return total


#: CUDA when present (the device checks run this file there), else CPU.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _problem(n=96, d=32, v=200, seed=0, dtype=torch.bfloat16, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=gen).to(dtype)
    w = (torch.randn(v, d, generator=gen) / d**0.5).to(dtype)
    b = (torch.randn(v, generator=gen) * 0.1).to(dtype)
    y = torch.randint(0, v, (n,), generator=gen)
    y[::7] = -100
    cw = torch.rand(v, generator=gen) + 0.5
    sw = torch.rand(n, generator=gen)
    return tuple(t.to(device) for t in (h, w, b, y, cw, sw))


FEATURES = [
    {"reduction": "mean"},
    {"reduction": "sum", "label_smoothing": 0.1},
    {"class_weight": "cw", "ignore_index": -100, "reduction": "weighted_mean"},
    {
        "class_weight": "cw",
        "sample_weight": "sw",
        "label_smoothing": 0.2,
        "ignore_index": -100,
        "bias": "b",
        "reduction": "weighted_mean",
    },
    {"bias": "b", "ignore_index": -100, "label_smoothing": 0.05, "reduction": "none"},
]


def _kw(opts, b, cw, sw):
    table = {"b": b, "cw": cw, "sw": sw}
    return {k: table.get(val, val) if isinstance(val, str) else val for k, val in opts.items()}


@pytest.mark.parametrize("kernels", ["auto", "triton"])
@pytest.mark.parametrize("opts", FEATURES, ids=lambda o: "-".join(sorted(o)) + o["reduction"])
def test_bf16_matmuls_and_at_most_three_gemms(monkeypatch, opts, kernels):
    monkeypatch.setenv("WXENT_KERNELS", kernels)  # triton: the chunk kernel, interpreted on CPU
    h, w, b, y, cw, sw = _problem(device=DEVICE)
    if "ignore_index" not in opts:
        y = y.clamp(min=0)
    h.requires_grad_(True)
    w.requires_grad_(True)
    b.requires_grad_(True)
    kw = _kw(opts, b, cw, sw)
    n, d, v, chunk = h.shape[0], h.shape[1], w.shape[0], 32
    with MatmulRecorder() as rec:
        out = wxent.linear_cross_entropy(h, w, y, chunk_size=chunk, **kw)
        (out.sum() if opts["reduction"] == "none" else out).backward()
    assert rec.calls
    for name, dtypes, _ in rec.calls:
        assert dtypes == [torch.bfloat16, torch.bfloat16], name
    gemm = 2 * n * d * v
    if opts["reduction"] == "none":  # the backward pass recomputes the logits
        assert rec.flops() <= 4 * gemm
    else:
        assert rec.flops() <= 3 * gemm
        assert len(rec.calls) == 3 * (n // chunk)
    assert h.grad.dtype == w.grad.dtype == torch.bfloat16
    assert torch.isfinite(h.grad.float()).all() and torch.isfinite(w.grad.float()).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=["bf16", "fp32"])
@pytest.mark.parametrize("opts", FEATURES, ids=lambda o: "-".join(sorted(o)) + o["reduction"])
def test_triton_chunk_step_equals_the_torch_step(monkeypatch, opts, dtype):
    import triton  # noqa: F401  (a missing triton is a failure, not a skip)

    from wxent._fastpaths import select

    h, w, b, y, cw, sw = _problem(n=48, d=16, v=40, seed=6, dtype=dtype)
    if "ignore_index" not in opts:
        y = y.clamp(min=0)
    kw = _kw(opts, b, cw, sw)
    scale = torch.linspace(0.5, 1.5, 48, dtype=dtype)

    def run(mode):
        monkeypatch.setenv("WXENT_KERNELS", mode)
        leaves = [t.clone().requires_grad_(True) for t in (h, w, b)]
        options = {**kw, "bias": leaves[2]} if "bias" in kw else kw
        out = wxent.linear_cross_entropy(leaves[0], leaves[1], y, chunk_size=16, **options)
        (out * scale if opts["reduction"] == "none" else out).sum().backward()
        grads = [t.grad for t in leaves if t.grad is not None]
        return [out.detach().double(), *(g.double() for g in grads)]

    select.LAUNCHES.clear()
    fast = run("triton")
    chunks = 3 * (2 if opts["reduction"] == "none" else 1)  # "none": the backward's sweep too
    assert select.LAUNCHES["linear_cross_entropy"] == chunks
    generic = run("off")
    rtol = 2e-2 if dtype == torch.bfloat16 else 1e-5  # bf16: a rounding apart at most
    for got, want in zip(fast, generic, strict=True):
        atol = rtol * float(want.abs().max())
        assert_close(got.numpy(), want.numpy(), rtol=rtol, atol=atol)


def test_gradient_in_forward_only_when_needed():
    h, w, _, y, *_ = _problem(device=DEVICE)
    y = y.clamp(min=0)
    n, d, v = h.shape[0], h.shape[1], w.shape[0]
    for ctx, grad in ((torch.no_grad(), True), (torch.enable_grad(), False)):
        with ctx, MatmulRecorder() as rec:
            wxent.linear_cross_entropy(h.requires_grad_(grad), w.requires_grad_(grad), y)
        assert rec.flops() == 2 * n * d * v  # the logits only
        h, w = h.detach(), w.detach()


# On CUDA the chunk step is the Triton kernel; Triton's interpreter truncates float32 to
# bf16 (a GPU rounds to nearest), so the kernel's accuracy is checked on the GPU only.
@pytest.mark.parametrize("chunk_size", [None, 128])
def test_bf16_loss_within_rounding_and_gradients_as_accurate_as_torch(chunk_size):
    h, w, _, y, *_ = _problem(n=512, d=64, v=1000, seed=1, device=DEVICE)
    y = y.clamp(min=0)
    h64, w64 = h.double().requires_grad_(True), w.double().requires_grad_(True)
    F.cross_entropy(h64 @ w64.T, y).backward()
    ref = F.cross_entropy(h64 @ w64.T, y).item()

    def run(loss):
        a, c = h.clone().requires_grad_(True), w.clone().requires_grad_(True)
        out = loss(a, c)
        out.backward()
        return out.float().item(), a.grad.double(), c.grad.double()

    ours = run(lambda a, c: wxent.linear_cross_entropy(a, c, y, chunk_size=chunk_size))
    torch_ = run(lambda a, c: F.cross_entropy((a @ c.T).float(), y))
    assert abs(ours[0] - ref) <= 2**-8 * abs(ref)
    # One chunk (the CPU default here), or float32 accumulation of grad_weight (CUDA): as
    # accurate as torch. Several chunks on CPU, where a bf16 GEMM cannot write float32,
    # round each chunk's part of grad_weight once more.
    slack = 1.5 if chunk_size and DEVICE == "cpu" else 1.05
    for i, exact in ((1, h64.grad), (2, w64.grad)):
        err_ours = (ours[i] - exact).norm() / exact.norm()
        err_torch = (torch_[i] - exact).norm() / exact.norm()
        assert err_ours <= err_torch * (1.05 if i == 1 else slack), (i, err_ours, err_torch)


@pytest.mark.parametrize("opts", FEATURES, ids=lambda o: "-".join(sorted(o)) + o["reduction"])
@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_every_feature_in_bf16_against_float64(framework, opts):
    h, w, b, y, cw, sw = _problem(n=40, d=16, v=30, seed=2)
    if "ignore_index" not in opts:
        y = y.clamp(min=0)
    kw64 = _kw(opts, b.double().numpy(), cw.numpy(), sw.numpy())
    x64 = h.double().numpy() @ w.double().numpy().T + (kw64.pop("bias", 0.0))
    expected = softmax_ce(x64, y.numpy(), **kw64)
    # float64 gradient of the weighted total against inputs (materialised logits)
    ht = h.double().requires_grad_(True)
    kwt = _kw(opts, b.double(), cw.double(), sw.double())
    bias = kwt.pop("bias", 0.0)
    ref_out = wxent.softmax_cross_entropy(ht @ w.double().T + bias, y, **kwt)
    scale = torch.linspace(0.5, 1.5, 40, dtype=torch.float64)
    (ref_out * scale if opts["reduction"] == "none" else ref_out).sum().backward()
    kw = _kw(opts, b, cw, sw)
    if framework == "torch":
        hh = h.clone().requires_grad_(True)
        out = wxent.linear_cross_entropy(hh, w, y, chunk_size=16, **kw)
        (out * scale.to(out.dtype) if opts["reduction"] == "none" else out).sum().backward()
        value, grad = out.float().detach().numpy(), hh.grad.float().numpy()
    else:
        to = lambda t: jnp.asarray(t.float().numpy()).astype(  # noqa: E731
            jnp.bfloat16 if t.dtype == torch.bfloat16 else jnp.float32
        )
        kwj = {k: to(val) if isinstance(val, torch.Tensor) else val for k, val in kw.items()}
        yj, sj = jnp.asarray(y.numpy().astype(np.int32)), jnp.asarray(scale.float().numpy())

        def f(a):
            out = wxent.linear_cross_entropy(a, to(w), yj, chunk_size=16, **kwj)
            total = (out.astype(jnp.float32) * sj).sum() if opts["reduction"] == "none" else out
            return total.astype(jnp.float32), out

        (_, out), grad = jax.jit(jax.value_and_grad(f, has_aux=True))(to(h))
        value, grad = np.asarray(out.astype(jnp.float32)), np.asarray(grad.astype(jnp.float32))
    assert_close(value, expected, rtol=2**-7, atol=2**-7 * np.abs(expected).max())
    exact = ht.grad.numpy()
    assert np.abs(grad - exact).max() <= 2**-6 * np.abs(exact).max()


def test_jax_jaxpr_holds_only_bf16_dot_generals_and_three_per_chunk():
    h, w, b, y, cw, _ = _problem(n=64, d=16, v=40, seed=3)
    hj, wj = (
        jnp.asarray(h.float().numpy(), jnp.bfloat16),
        jnp.asarray(w.float().numpy(), jnp.bfloat16),
    )
    bj, yj = jnp.asarray(b.float().numpy(), jnp.bfloat16), jnp.asarray(y.numpy().astype(np.int32))
    kw = {"bias": bj, "class_weight": cw.numpy(), "ignore_index": -100, "label_smoothing": 0.1}

    def loss(a, c):
        return wxent.linear_cross_entropy(a, c, yj, chunk_size=16, **kw)

    both = jax.make_jaxpr(jax.jit(jax.value_and_grad(loss, argnums=(0, 1))))(hj, wj)
    dots = dot_generals(both.jaxpr)
    assert len(dots) == 3  # one loop body: logits, grad_inputs, grad_weight
    for eqn in dots:
        assert [var.aval.dtype for var in eqn.invars] == [jnp.bfloat16, jnp.bfloat16]
        assert eqn.params["preferred_element_type"] == jnp.float32
    forward = dot_generals(jax.make_jaxpr(jax.jit(loss))(hj, wj).jaxpr)
    assert len(forward) == 1  # no gradient work without differentiation


class HostReads:
    """Counts reads of torch tensors and JAX arrays on the host, with their sizes."""

    def __init__(self, monkeypatch):
        self.sizes: list[int] = []
        jax_array = type(jnp.zeros(1))
        for cls in (torch.Tensor, jax_array):
            for name in (
                "item",
                "tolist",
                "numpy",
                "__bool__",
                "__float__",
                "__int__",
                "__array__",
            ):
                if hasattr(cls, name):
                    monkeypatch.setattr(cls, name, self._wrap(getattr(cls, name)))
        monkeypatch.setattr(torch.Tensor, "cpu", self._wrap(torch.Tensor.cpu, cpu=True))

    def _wrap(self, method, cpu=False):
        def wrapped(obj, *args, **kwargs):
            if not cpu or obj.device.type != "cpu":
                self.sizes.append(int(np.prod(obj.shape)))
            return method(obj, *args, **kwargs)

        return wrapped


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("loss", ["linear", "sampled"])
@pytest.mark.parametrize("reduction", ["weighted_mean", "none"])
def test_a_default_call_reads_one_scalar_on_the_host(monkeypatch, framework, loss, reduction):
    h, w, b, y, cw, sw = _problem(n=40, d=8, v=30, seed=4, dtype=torch.float32)
    arrays = [h, w, b, y, cw, sw]
    if framework == "jax":
        arrays = [jnp.asarray(t.numpy()) for t in arrays]
    h, w, b, y, cw, sw = arrays
    kw = {
        "bias": b,
        "class_weight": cw,
        "sample_weight": np.asarray(sw),  # framework sample weights: the shared checks' part
        "ignore_index": -100,
        "reduction": reduction,
    }
    reads = HostReads(monkeypatch)
    if loss == "linear":
        wxent.linear_cross_entropy(h, w, y, **kw)
    else:
        wxent.sampled_softmax_cross_entropy(h, w, y, num_sampled=5, seed=0, **kw)
    assert len([s for s in reads.sizes if s > 30]) == 0, reads.sizes  # nothing above C
    assert reads.sizes.count(1) <= 1, reads.sizes


# torch.compile instantiates every autograd.Function it traces and warns about it itself
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
@pytest.mark.parametrize("reduction", ["weighted_mean", "none"])
def test_torch_compile_fullgraph_and_torch_func(reduction):
    h, w, b, y, cw, _ = _problem(n=24, d=8, v=20, seed=5, dtype=torch.float32)
    cw = cw.numpy()  # host class weights (framework ones: the shared configuration checks)

    def loss(a, c):
        out = wxent.linear_cross_entropy(
            a,
            c,
            y,
            bias=b,
            class_weight=cw,
            label_smoothing=0.1,
            ignore_index=-100,
            reduction=reduction,
            chunk_size=8,
        )
        return out.sum()

    eager = [t.clone().requires_grad_(True) for t in (h, w)]
    loss(*eager).backward()
    compiled = [t.clone().requires_grad_(True) for t in (h, w)]
    out = torch.compile(loss, backend="aot_eager", fullgraph=True)(*compiled)
    out.backward()
    assert_close(out.detach().numpy(), loss(h, w).detach().numpy(), rtol=1e-6)
    for a, c in zip(compiled, eager, strict=True):
        assert_close(a.grad.numpy(), c.grad.numpy(), rtol=1e-5, atol=1e-7)
    grads = torch.func.grad(loss, argnums=(0, 1))(h, w)
    for g, c in zip(grads, eager, strict=True):
        assert_close(g.numpy(), c.grad.numpy(), rtol=1e-5, atol=1e-7)
