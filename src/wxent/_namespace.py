"""Which framework an array belongs to, and how configuration follows it.

``array_namespace`` from array-api-compat covers NumPy, PyTorch, JAX, CuPy and
array-api-strict without importing any of them. TensorFlow is not covered, so
:mod:`wxent._tf_namespace` maps the handful of standard names the core uses onto
TensorFlow; it is imported only when a TensorFlow tensor is seen.

Nothing here imports a framework: a module is looked up in ``sys.modules``, which
holds it only if the caller already imported it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any

import array_api_compat
import numpy as np

from wxent._types import Array, Namespace


def is_tensorflow(x: object) -> bool:
    """Whether ``x`` is a TensorFlow tensor or variable (without importing TensorFlow)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return False
    return isinstance(x, (tf.Tensor, tf.Variable))


def is_torch(x: object) -> bool:
    """Whether ``x`` is a PyTorch tensor (without importing PyTorch).

    Checked before array-api-compat's helpers, which ``torch.compile`` would have to
    trace through.
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def is_array(x: object) -> bool:
    """Whether ``x`` is an array of a supported framework."""
    if isinstance(x, np.ndarray):
        return True
    if x is None or isinstance(x, (list, tuple, int, float, complex, str, np.generic)):
        return False
    return is_torch(x) or is_tensorflow(x) or array_api_compat.is_array_api_obj(x)


def framework(x: object) -> str | None:
    """The framework of an array: ``"numpy"``, ``"torch"``, ``"jax"``, ``"tensorflow"``.

    Another array library gives its module's name; what is not an array gives ``None``.
    """
    if isinstance(x, np.ndarray):
        return "numpy"
    if is_torch(x):
        return "torch"
    if is_tensorflow(x):
        return "tensorflow"
    if not is_array(x):
        return None
    if array_api_compat.is_jax_array(x):
        return "jax"
    return type(x).__module__.split(".", 1)[0]


def namespace(*arrays: Array) -> Namespace:
    """The array namespace shared by ``arrays`` (``None`` entries are skipped)."""
    present = [a for a in arrays if a is not None]
    if present and all(is_torch(a) for a in present):
        _refuse_jit_trace()
        import array_api_compat.torch as torch_namespace

        return torch_namespace
    if any(is_tensorflow(a) for a in present):
        from wxent import _tf_namespace

        return _tf_namespace
    return array_api_compat.array_namespace(*present)


def _refuse_jit_trace() -> None:
    """``torch.jit.trace`` records one path of wxent's Python: refused, as ``jit.script`` is.

    A trace keeps the branches taken for the example inputs and drops the value checks,
    so a traced loss gave silently wrong numbers (or an indexing error inside TorchScript)
    on other labels; ``torch.compile`` and ``torch.export`` trace wxent correctly.
    """
    torch = sys.modules["torch"]
    if not torch_is_compiling() and torch.jit.is_tracing():
        raise TypeError(
            "wxent cannot be traced by torch.jit.trace: a trace records one path of "
            "wxent's Python for the example inputs and drops its checks. Use "
            "torch.compile or torch.export, or call wxent eagerly."
        )


def _name(xp: Namespace) -> str:
    return str(getattr(xp, "__name__", ""))


def is_numpy_namespace(xp: Namespace) -> bool:
    """Whether ``xp`` is NumPy's namespace (through array-api-compat)."""
    return _name(xp) in ("array_api_compat.numpy", "numpy")


def is_torch_namespace(xp: Namespace) -> bool:
    """Whether ``xp`` is PyTorch's namespace (through array-api-compat)."""
    return _name(xp) in _TORCH_NAMES


_TORCH_NAMES = ("array_api_compat.torch", "torch")


def torch_of(xp: Namespace) -> Any:
    """The ``torch`` module when ``xp`` is PyTorch's namespace, else ``None``.

    For the per-call steps around the kernels (checks, masks, reductions): calling
    ``torch`` directly skips array-api-compat's wrappers (argument promotion, dtype
    look-ups), whose Python dominates a call at training batch sizes. Used only where
    the operands already share a dtype, so the wrappers would change nothing.
    """
    if getattr(xp, "__name__", None) in _TORCH_NAMES:
        return sys.modules.get("torch")
    return None


def is_jax_namespace(xp: Namespace) -> bool:
    """Whether ``xp`` is JAX's namespace."""
    return _name(xp).startswith("jax")


def is_tf_namespace(xp: Namespace) -> bool:
    """Whether ``xp`` is wxent's TensorFlow shim."""
    return _name(xp) == "wxent._tf_namespace"


def device(x: Array) -> Any:
    """The device of ``x`` (``None`` for TensorFlow, where placement follows the tensor).

    For a concrete JAX array, where configuration made for it goes: its device, or for
    an array sharded over several devices a sharding that replicates values over the
    same devices (:func:`jax_placement`).
    """
    if is_torch(x):
        return x.device
    if is_tensorflow(x):
        return None
    if array_api_compat.is_jax_array(x):
        placement = jax_placement(x)
        if placement is not None:
            return placement
    return array_api_compat.device(x)


def jax_placement(x: Any) -> Any:
    """Where a weight, cost or prior for the JAX array ``x`` goes; ``None`` if unknown.

    ``x``'s one device, or, for ``x`` sharded over several devices (a batch split by a
    ``NamedSharding``), a sharding that replicates every value over those devices:
    ``x``'s own sharding would split a per-class vector or a cost matrix along an axis
    that is not theirs (a ``(C,)`` vector under ``P("batch", None)``), and one device of
    the set would meet ``x`` on devices it is not on. Either way a JAX operation of both
    finds its operands on one set of devices. Unknown (``None``) under ``jax.jit`` and
    ``vmap``, whose traces place their constants themselves; ``jax.grad`` and ``jvp``
    run eagerly on values whose placement is known.
    """
    x = _placed_jax(x)
    if x is None:
        return None
    jax = sys.modules["jax"]
    sharding = x.sharding
    devices = sharding.device_set
    if len(devices) == 1:
        return next(iter(devices))
    P = jax.sharding.PartitionSpec
    if isinstance(sharding, jax.sharding.NamedSharding):
        return jax.sharding.NamedSharding(sharding.mesh, P())
    # the devices in the sharding's order where it says (a private attribute), else by id
    order = getattr(sharding, "_device_assignment", None)
    if order is None:
        order = sorted(devices, key=lambda d: d.id)
    order = np.array(list(order))
    return jax.sharding.NamedSharding(jax.sharding.Mesh(order, ("devices",)), P())


def _placed_jax(x: Any) -> Any:
    """The concrete JAX array behind ``x`` (a tracer of ``grad`` or ``jvp``), or ``None``."""
    jax = sys.modules["jax"]
    if isinstance(x, jax.core.Tracer):
        concrete = getattr(x, "to_concrete_value", None)  # (JAX 0.4.36 and later)
        x = None if concrete is None else concrete()
        if x is None or isinstance(x, jax.core.Tracer) or not hasattr(x, "sharding"):
            return None
    return x


def jax_elsewhere(value: Any, like: Any) -> bool:
    """Whether the JAX array ``value`` is committed to other devices than the JAX array ``like``.

    ``False`` for anything else, for arrays not committed to a device (JAX moves those
    itself) and wherever placement is unknown (:func:`jax_placement`).
    """
    if not (array_api_compat.is_jax_array(value) and array_api_compat.is_jax_array(like)):
        return False
    placed, target = _placed_jax(value), _placed_jax(like)
    if placed is None or target is None or not getattr(placed, "committed", True):
        return False
    return bool(placed.sharding.device_set != target.sharding.device_set)


def placement_str(x: Any) -> str:
    """Where the JAX array ``x`` lives, for messages: ``"TFRT_CPU_1"``, ``"devices [0, 1]"``."""
    placed = _placed_jax(x)
    if placed is None:
        return "an unknown device"
    devices = sorted(placed.sharding.device_set, key=lambda d: d.id)
    if len(devices) == 1:
        return f"device {devices[0]}"
    return f"devices {[d.id for d in devices]} ({devices[0].platform})"


def follow_jax(value: Any, like: Any) -> Any:
    """The JAX array ``value`` on the devices of the JAX array ``like`` (moved if elsewhere).

    A weight committed to another device than the logits (``jax.device_put(w, d)``), or
    to one device of logits sharded over several, meets them on other devices: JAX
    refuses an operation on both ("incompatible devices"). Moved as the configuration of
    host values is placed (:func:`jax_placement`), with ``jax.device_put``, which
    differentiates. Values already on ``like``'s devices, and anything under ``jax.jit``
    or ``vmap`` (where the trace places it), stay.
    """
    placed, target = _placed_jax(value), _placed_jax(like)
    if placed is None or target is None:
        return value
    if placed.sharding.device_set == target.sharding.device_set:
        return value
    return sys.modules["jax"].device_put(value, jax_placement(target))


def to_device(xp: Any, host: Any, like: Array, dtype: Any = None, *, name: str = "values") -> Array:
    """Host values as an array of ``xp`` on the device of ``like``, without a host wait.

    On a CUDA device a copy from ordinary (pageable) host memory makes the host wait
    for the device to reach it; a scalar is written by a fill kernel instead, and an
    array goes through page-locked memory with an asynchronous copy. While a CUDA graph
    is captured an array is refused (``ValueError`` naming ``name``): the graph would
    copy from host memory it does not keep, on every replay.
    """
    if is_tf_namespace(xp):
        return xp.asarray(host) if dtype is None else xp.asarray(host, dtype=dtype)
    if not torch_is_compiling() and capturing(like) and np.ndim(host):
        raise captured_copy_error(name, like)
    if is_torch(like) and like.is_cuda and not torch_is_compiling():
        torch = sys.modules["torch"]
        staged = torch.from_numpy(np.array(host, copy=True))
        if dtype is not None:
            staged = staged.to(dtype)
        if staged.ndim == 0:
            return torch.full((), staged.item(), dtype=staged.dtype, device=like.device)
        return staged.pin_memory().to(like.device, non_blocking=True)
    # torch warns about a read-only array (and its tensor would share it): copy it
    compiling = torch_is_compiling()  # the compiler cannot read an ndarray's flags
    if is_torch(like) and not compiling and isinstance(host, np.ndarray):
        host = host if host.flags.writeable else np.array(host)
    if dtype is None:
        if is_jax_namespace(xp):
            host = jax_host(host, name)
        return xp.asarray(host, device=device(like))
    return xp.asarray(host, dtype=dtype, device=device(like))


def jax_host(host: Any, name: str) -> Any:
    """Host values in the dtype JAX gives them (``int32`` for ``int64`` without x64), unwrapped.

    ``jax.numpy.asarray`` narrows 64-bit host numbers when ``jax_enable_x64`` is off, and
    integers then wrap: a label ``2**32 + 1`` became class ``1``, ``2**32 - 1`` the ignore
    marker ``-1``. An integer outside the narrower dtype raises ``ValueError`` naming
    ``name``; a float beyond it becomes infinite (no overflow warning), as a cast does.
    """
    if not isinstance(host, np.ndarray) or host.dtype.kind not in "iuf" or host.itemsize < 8:
        return host
    jax = sys.modules["jax"]
    target = np.dtype(jax.dtypes.canonicalize_dtype(host.dtype))
    if target == host.dtype:
        return host
    if host.dtype.kind == "f":
        with np.errstate(over="ignore"):
            return host.astype(target)
    info = np.iinfo(target)
    if host.size and (host.min() < info.min or host.max() > info.max):
        from wxent import _validation as v

        wrapped = host[(host < info.min) | (host > info.max)]
        raise v.value_error(
            name,
            f"integers that {target} holds (JAX computes in 32 bits without jax_enable_x64)",
            f"value {wrapped.flat[0]} in `{name}`",
        )
    return host  # (JAX narrows it, now without a wrap)


def moveaxis(xp: Namespace, x: Array, source: int, destination: int) -> Array:
    """``xp.moveaxis``; PyTorch's ``movedim`` for torch tensors.

    ``torch.moveaxis`` (which array-api-compat calls) has no ``torch.func.vmap`` batching
    rule; ``movedim`` is the same view and has one.
    """
    torch = torch_of(xp)
    if torch is not None:
        return torch.movedim(x, source, destination)
    return xp.moveaxis(x, source, destination)


def torch_autocast_dtype(x: Any) -> Any:
    """The dtype ``torch.autocast`` gives matmuls on ``x``'s device now, or ``None`` (off).

    Float32 (not float64) matmuls inside an autocast region run in that dtype.
    """
    torch = sys.modules["torch"]
    kind = x.device.type
    try:
        if not torch.is_autocast_enabled(kind):
            return None
        return torch.get_autocast_dtype(kind)
    except RuntimeError:  # a device type autocast does not know (meta): never autocast
        return None
    except TypeError:  # pragma: no cover - torch < 2.4: CUDA and CPU flags of their own
        if kind == "cuda" and torch.is_autocast_enabled():
            return torch.get_autocast_gpu_dtype()
        if kind == "cpu" and torch.is_autocast_cpu_enabled():
            return torch.get_autocast_cpu_dtype()
        return None


def no_autocast(x: Any) -> Any:
    """A context without ``torch.autocast`` on ``x``'s device (a null context when off).

    For the matmuls of wxent's own arithmetic (cost rows, the projection's chunks), whose
    dtypes wxent chooses: under autocast a float32 matmul would run in bfloat16 or
    float16 and lose the digits the caller's dtype promises (or refuse an ``out=``
    buffer of the caller's dtype).
    """
    if not is_torch(x) or torch_autocast_dtype(x) is None:
        return contextlib.nullcontext()
    return sys.modules["torch"].autocast(x.device.type, enabled=False)


def torch_is_compiling() -> bool:
    """Whether ``torch.compile`` is tracing now (host checks would break the graph)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and compiler.is_compiling())


#: The graph of an eager TensorFlow metric call while :mod:`wxent._tf_metric_graphs` traces
#: it, or the ``jax.jit`` trace of an eager JAX metric call (:mod:`wxent._jax_metric_graphs`)
#: (this thread only): its tensors stand for the call's eager values and are checked as
#: they are (see :func:`reading_eagerly`).
_EAGER_GRAPH = threading.local()


@contextlib.contextmanager
def reading_eagerly(graph: Any) -> Any:
    """Trace ``graph`` as an eager call: its tensors count as concrete (:func:`is_concrete`).

    For the graph of an eager metric call (:mod:`wxent._tf_metric_graphs`; a JAX trace,
    :mod:`wxent._jax_metric_graphs`), whose inputs are the call's eager arrays: the trace
    takes the eager path of the checks (their flags computed, not NaN), and the checks'
    status word is read once after the call.
    """
    previous = getattr(_EAGER_GRAPH, "graph", None)
    _EAGER_GRAPH.graph = graph
    try:
        yield
    finally:
        _EAGER_GRAPH.graph = previous


def tracing_eager_call() -> bool:
    """Whether this thread traces an eager call's graph (:func:`reading_eagerly`)."""
    return getattr(_EAGER_GRAPH, "graph", None) is not None


def is_concrete(x: Array) -> bool:
    """Whether the values of ``x`` can be read now.

    False for JAX tracers (``jit``, ``grad`` of a traced function, ``vmap``), symbolic
    TensorFlow tensors inside ``tf.function``, PyTorch tensors while ``torch.compile``
    traces, inside ``torch.func`` transforms, fake tensors (``FakeTensorMode``), or on the
    meta device. Data-dependent checks only run
    on concrete arrays.
    """
    if x is None:
        return True
    if is_torch(x):
        torch = sys.modules["torch"]
        compiler = getattr(torch, "compiler", None)
        if compiler is not None and compiler.is_compiling():
            return False
        if torch._C._functorch.is_functorch_wrapped_tensor(x):
            return False  # torch.func transforms (grad, vmap, hessian): nothing to read
        if capturing(x):
            return False  # a CUDA graph's capture: a read would wait for the device
        fake = sys.modules.get("torch._subclasses.fake_tensor")  # (loaded where one exists)
        if fake is not None and isinstance(x, fake.FakeTensor):
            return False  # FakeTensorMode (shape propagation, memory estimates): no values
        return not (torch._C._is_tracing() or x.device.type == "meta")
    if is_tensorflow(x):
        tf = sys.modules["tensorflow"]
        if tf.executing_eagerly():
            return hasattr(x, "numpy")
        graph = getattr(_EAGER_GRAPH, "graph", None)  # an eager call's own graph
        return graph is not None and getattr(x, "graph", None) is graph
    if array_api_compat.is_jax_array(x):
        jax = sys.modules["jax"]
        if not isinstance(x, jax.core.Tracer):
            return True
        graph = getattr(_EAGER_GRAPH, "graph", None)  # an eager call's own trace
        return graph is not None and getattr(x, "_trace", None) is graph
    return not array_api_compat.is_lazy_array(x)


def capturing(x: Array) -> bool:
    """Whether ``x`` is a CUDA tensor and a CUDA graph is being captured on its stream now.

    While a graph is captured (``torch.cuda.graph``, ``make_graphed_callables``) nothing
    may wait for the device: the values of a call are not read (as under tracing) and
    host configuration arrays cannot be copied in.
    """
    if not (is_torch(x) and x.is_cuda):
        return False
    return bool(sys.modules["torch"].cuda.is_current_stream_capturing())


def captured_copy_error(name: str, like: Array) -> ValueError:
    """The error of host values given as ``name`` while a CUDA graph is captured."""
    from wxent import _validation as v

    return v.value_error(
        name,
        f"a tensor on the device of the inputs ({like.device}) while a CUDA graph is "
        "captured (the graph would copy host values from memory it does not keep)",
        f"{name} as host values (a list, a NumPy array or a CPU tensor)",
    )


def on_host(x: Array) -> bool:
    """Whether ``x`` lives in host memory (NumPy, PyTorch or TensorFlow on a CPU): no sync."""
    if isinstance(x, np.ndarray):
        return True
    if is_torch(x):
        return bool(x.device.type == "cpu")
    if is_tensorflow(x):  # an eager tensor names its device ("/job:.../device:CPU:0")
        return ":CPU:" in (getattr(x, "device", "") or "").upper()
    return False


def _read_behind(value: Array, then: list[Any] | None) -> Any:
    """``value`` on the host, after queuing ``then``'s device work behind it (emptied).

    On a CUDA device with work queued the value is copied into page-locked memory and
    the host waits for that copy only, while the device goes on with the queued work;
    else the work runs first and the value is read as usual. Returns the host copy (a
    torch CPU tensor) or ``value`` itself, for the caller to convert.
    """
    launches = list(then or ())
    if then:
        then.clear()
    if is_torch(value) and value.is_cuda and launches:
        torch = sys.modules["torch"]
        host = torch.empty(value.shape, dtype=value.dtype, pin_memory=True)
        host.copy_(value, non_blocking=True)
        copied = torch.cuda.Event()
        copied.record()
        for launch in launches:
            launch()
        copied.synchronize()
        return host
    for launch in launches:
        launch()
    return value


def read_int(value: Array, then: list[Any] | None = None) -> int:
    """Read a 0-d boolean or integer of any framework on the host: the one read of a call.

    ``then`` holds device work to queue behind the value before waiting for it (and is
    emptied): on a CUDA device the value is copied into page-locked memory and the host
    waits for that copy only, while the device goes on with the queued work (a fused
    gradient pass), so the device does not idle while the host returns from the call.
    """
    value = _read_behind(value, then)
    if is_tensorflow(value):
        return int(value.numpy())
    return int(value)


def read_torch_values(values: Array, then: list[Any] | None = None) -> list[Any]:
    """Read a small 1-D PyTorch tensor on the host in one transfer (see :func:`read_int`).

    The one read of a checked call, when it reads its flags and the numbers of its
    probability look together: one copy whatever the length (a few values), and no
    device operations to fold them into one scalar first.
    """
    return list(_read_behind(values, then).tolist())


def read_flag(flag: Array, then: list[Any] | None = None) -> bool:
    """Read a 0-d boolean of any framework on the host (see :func:`read_int`)."""
    return bool(read_int(flag, then))


def is_extension_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` is a NumPy dtype from ml_dtypes (``bfloat16``, ``float8_*``, ``int4``).

    NumPy files these under kind ``"V"``: its own predicates (``isdtype``, ``kind in "f"``)
    refuse or miss them.
    """
    return (
        isinstance(dtype, np.dtype) and dtype.kind == "V" and dtype.type.__module__ == "ml_dtypes"
    )


def widen_host(arr: np.ndarray) -> np.ndarray:
    """A host array of an ml_dtypes dtype as a NumPy one that holds every value.

    JAX and TensorFlow hand their ``bfloat16`` (and ``float8``) arrays to NumPy in these
    dtypes, and users pass them directly: floats become ``float32``, the narrow integers
    ``int8`` or ``uint8``; any other array is returned as it is.
    """
    if not is_extension_dtype(arr.dtype):
        return arr
    name = arr.dtype.name
    if not name.startswith(("int", "uint")):
        return arr.astype(np.float32)
    return arr.astype(np.uint8 if name.startswith("uint") else np.int8)


def to_numpy(x: Array) -> np.ndarray:
    """Copy a concrete array of any supported framework to NumPy (for checks only).

    JAX's and TensorFlow's ``bfloat16`` (and ``float8``) arrays come back as ``float32``, as
    PyTorch's do; a NumPy array is returned as it is.
    """
    return x if isinstance(x, np.ndarray) else widen_host(_to_numpy(x))


def _to_numpy(x: Array) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if is_tensorflow(x):
        return np.asarray(x.numpy())
    if is_torch(x):
        t = x.detach().resolve_neg()  # (a negative view: torch's numpy() refuses it)
        if t.dtype.is_floating_point and t.dtype not in (
            sys.modules["torch"].float32,
            sys.modules["torch"].float64,
        ):
            t = t.float()
        return t.cpu().numpy()
    if array_api_compat.is_jax_array(x):
        return np.asarray(x)
    # array-api-strict and other standard arrays: go through DLPack or the buffer.
    try:
        return np.from_dlpack(x)
    except Exception:  # pragma: no cover - depends on the array library
        return np.asarray(x)


def float_dtype_name(xp: Namespace, dtype: Any) -> str | None:
    """``"float16"``, ``"bfloat16"``, ``"float32"``, ``"float64"`` or ``None`` for others."""
    for name in ("float32", "float64", "float16", "bfloat16"):
        candidate = getattr(xp, name, None)
        if candidate is not None and dtype == candidate:
            return name
    return None
