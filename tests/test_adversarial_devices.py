"""Several devices on one CPU: JAX arrays sharded or committed apart, Keras under MirroredStrategy.

JAX: logits sharded over four host devices (a ``NamedSharding`` of the batch), or committed
to one device while a weight is committed to another. A weight, cost matrix or threshold
given as NumPy is replicated over the logits' devices (the logits' own sharding would split
a ``(C,)`` vector along the batch axis), a JAX weight committed elsewhere follows the
logits, the metric accumulator sums batches from different devices, and labels committed
to other devices than the logits get wxent's error, not JAX's "incompatible devices".

TensorFlow: Keras ``fit`` under a four-replica ``MirroredStrategy`` trains and reports as on
one device also where the replicas' shares of a batch count differently (ignored labels,
class and sample weights): each replica divides its numerator by the whole batch's
denominator.

Each framework runs in one subprocess (the device count is fixed when it loads).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _run(code: str, **env_extra: str) -> None:
    env = dict(os.environ)
    env.update(PYTHONPATH=SRC, TF_CPP_MIN_LOG_LEVEL="3", **env_extra)
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "DONE" in proc.stdout, proc.stdout + proc.stderr[-6000:]


JAX_WORKER = """
import numpy as np, jax, jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import wxent

devices = jax.devices()
assert len(devices) == 4, devices
mesh = Mesh(np.array(devices), ("batch",))
rows, by_row = NamedSharding(mesh, P("batch", None)), NamedSharding(mesh, P("batch"))
put = jax.device_put
rng = np.random.default_rng(0)
N, C = 16, 5
x = rng.normal(size=(N, C)).astype(np.float32)
y = rng.integers(0, C, N)
z = (rng.random((N, C)) < 0.3).astype(np.float32)
cw = rng.uniform(0.5, 2.0, C).astype(np.float32)
costs = rng.uniform(0.5, 2.0, (C, C)).astype(np.float32)
np.fill_diagonal(costs, 0.0)
t = np.full(C, 0.2, np.float32)

def same(got, want):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64),
                               rtol=1e-5, atol=1e-6)

softmax = lambda X, Y, W: wxent.softmax_cross_entropy(  # noqa: E731
    X, Y, class_weight=W, label_smoothing=0.1, reduction="weighted_mean")
cases = [  # (what, call, the call on NumPy arrays)
    # NumPy configuration for sharded logits: replicated, not split along the batch axis
    ("softmax, sharded + NumPy", lambda: softmax(put(x, rows), put(y, by_row), cw),
     softmax(x, y, cw)),
    ("expected cost, sharded + NumPy costs",
     lambda: wxent.expected_cost_loss(put(x, rows), put(y, by_row), costs),
     wxent.expected_cost_loss(x, y, costs)),
    ("recall, sharded + NumPy thresholds",
     lambda: wxent.recall(put(x, rows), put(z, rows), threshold=t, average=None),
     wxent.recall(x, z, threshold=t, average=None)),
    # a JAX weight committed to another device than the logits: it follows them
    ("softmax, sharded + committed to device 3",
     lambda: softmax(put(x, rows), put(y, by_row), put(cw, devices[3])), softmax(x, y, cw)),
    ("sigmoid, device 1 + committed to device 3",
     lambda: wxent.sigmoid_cross_entropy(
         put(x, devices[1]), put(z, devices[1]), pos_weight=put(cw, devices[3])),
     wxent.sigmoid_cross_entropy(x, z, pos_weight=cw)),
]
for what, call, want in cases:
    try:
        same(call(), want)
    except Exception as exc:
        raise AssertionError(f"{what}: {exc}") from exc

# a gradient with respect to the logits, the weight committed to another device
grad = jax.grad(lambda X: wxent.sigmoid_cross_entropy(
    X, put(z, devices[1]), pos_weight=put(cw, devices[3])))(put(x, devices[1]))
same(grad, (jax.nn.sigmoid(x) * (1 + (cw - 1) * z) - cw * z) / x.size)

# a bad weight committed to another device: wxent's message
try:
    wxent.softmax_cross_entropy(put(x, rows), put(y, by_row), class_weight=put(-cw, devices[3]))
except ValueError as exc:
    assert "class_weight" in str(exc) and "non-negative" in str(exc), exc
else:
    raise AssertionError("no error for a negative class weight")

# labels committed to other devices than the logits: wxent's error, naming them
try:
    wxent.softmax_cross_entropy(put(x, devices[1]), put(y, devices[3]))
except ValueError as exc:
    assert "`labels`" in str(exc) and "devices of `logits`" in str(exc), exc
else:
    raise AssertionError("no error for labels on another device")

# the metric accumulator: batches on different devices (one sharded), and a merge
acc = wxent.MetricAccumulator()
acc.update(put(x, devices[0]), put(z, devices[0]))
acc.update(put(x, rows), put(z, rows))
other = wxent.MetricAccumulator().update(put(x, devices[3]), put(z, devices[3]))
merged = (acc + other).compute(average="macro")
ref = wxent.MetricAccumulator().update(x, z).update(x, z).update(x, z).compute(average="macro")
for key in ref:
    same(merged[key], ref[key])
print("DONE")
"""


def test_jax_sharded_and_committed_arrays():
    _run(JAX_WORKER, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")


TF_WORKER = """
import os
os.environ["KERAS_BACKEND"] = "tensorflow"
try:
    import triton  # noqa: F401  (before TensorFlow: both bundle LLVM)
except ImportError:
    pass
import numpy as np, tensorflow as tf
cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 4)
import keras
import wxent.keras as wk

rng = np.random.default_rng(0)
N, C = 48, 4
x = rng.normal(size=(N, 3)).astype(np.float32)
y = rng.integers(0, C, N)
y[:6] = -1  # ignored, all in the first replica's share of the first batch
sw = rng.uniform(0.1, 3.0, N).astype(np.float32)
cw = rng.uniform(0.5, 2.0, C).astype(np.float32)
strategy = tf.distribute.MirroredStrategy([f"/CPU:{i}" for i in range(4)])
results = []
for scope in (strategy.scope, None):
    keras.utils.set_random_seed(0)
    with scope() if scope else keras.name_scope("one_device"):
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(C)(inputs))
        loss = wk.SoftmaxCrossEntropy(class_weight=cw, ignore_index=-1, reduction="weighted_mean")
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    history = model.fit(x, y, sample_weight=sw, batch_size=16, epochs=1, verbose=0, shuffle=False)
    results.append((history.history["loss"], model.get_weights()))
(mirrored, w1), (single, w2) = results
np.testing.assert_allclose(mirrored, single, rtol=1e-5)
for a, b in zip(w1, w2):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
print("DONE")
"""


def test_keras_mirrored_strategy_trains_as_one_device():
    _run(TF_WORKER)
