"""Data-parallel correctness: all-reducing loss_terms gives the whole-batch loss.

One step of data-parallel training with ``wxent.loss_terms`` (all-reduce the numerator
and the denominator, divide with ``wxent.safe_divide``) must give the same loss and
gradients as the whole batch in one process — for ``"weighted_mean"`` with class
weights and ignored elements, where a mean of per-rank means would be wrong.

The ranks run in subprocesses: two ``torch.distributed`` (gloo) processes on CPU, and
one JAX process with two host devices (``XLA_FLAGS`` must be set before JAX loads).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

import wxent
from conftest import assert_close

SRC = str(Path(__file__).resolve().parents[1] / "src")
# The batch, shared verbatim by the workers (which must not import this module: it
# would load every framework through conftest).
DATA = textwrap.dedent(
    """
    import numpy as np

    N, D, C = 12, 3, 4
    OPTIONS = {
        "class_weight": [0.5, 1.0, 4.0, 2.0], "ignore_index": -1, "reduction": "weighted_mean"
    }

    def batch():
        # Rank 0 gets rows 0-5 (cheap classes, two ignored rows), rank 1 rows 6-11.
        rng = np.random.default_rng(7)
        x = rng.normal(size=(N, D)).astype(np.float32)
        y = np.array([0, 0, 1, -1, 1, -1, 2, 2, 3, 2, 3, 1])
        w = rng.normal(size=(D, C)).astype(np.float32)
        return x, y, w
    """
)
_data: dict = {}
exec(DATA, _data)
OPTIONS = _data["OPTIONS"]
batch = _data["batch"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TORCH_WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    import wxent

    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    x, y, w0 = batch()
    rows = slice(rank * len(y) // world, (rank + 1) * len(y) // world)
    w = torch.tensor(w0, requires_grad=True)
    logits = torch.tensor(x[rows]) @ w
    labels = torch.tensor(y[rows])

    # The recipe: all-reduce the denominator, scale the local numerator by it,
    # backprop, all-reduce (sum) the gradients.
    num, den = wxent.loss_terms(wxent.softmax_cross_entropy, logits, labels, **OPTIONS)
    total = torch.stack([num.detach(), den.detach()])
    dist.all_reduce(total)
    loss = wxent.safe_divide(num, total[1])
    loss.backward()
    dist.all_reduce(w.grad)
    local_mean = wxent.softmax_cross_entropy(logits, labels, **OPTIONS)
    means = torch.stack([local_mean.detach()])
    dist.all_reduce(means)
    if rank == 0:
        result = {
            "loss": float(wxent.safe_divide(total[0], total[1])),
            "grad": w.grad.tolist(),
            "mean_of_means": float(means[0]) / world,
        }
        with open(out, "w") as f:
            json.dump(result, f)
    dist.destroy_process_group()
    """
)


JAX_WORKER = textwrap.dedent(
    """
    import json, sys
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, PartitionSpec as P
    import wxent

    assert len(jax.devices()) == 2, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    x, y, w0 = batch()

    def sharded_loss(w, x, y):
        # The recipe: per-shard terms, psum both, divide.
        def step(w, x, y):
            num, den = wxent.loss_terms(wxent.softmax_cross_entropy, x @ w, y, **OPTIONS)
            num = jax.lax.psum(num, "batch")
            den = jax.lax.psum(den, "batch")
            return wxent.safe_divide(num, den)

        f = jax.shard_map(step, mesh=mesh, in_specs=(P(), P("batch"), P("batch")), out_specs=P())
        return f(w, x, y)

    def mean_of_means(w, x, y):
        def step(w, x, y):
            local = wxent.softmax_cross_entropy(x @ w, y, **OPTIONS)
            return jax.lax.pmean(local, "batch")

        f = jax.shard_map(step, mesh=mesh, in_specs=(P(), P("batch"), P("batch")), out_specs=P())
        return f(w, x, y)

    loss, grad = jax.jit(jax.value_and_grad(sharded_loss))(
        jnp.asarray(w0), jnp.asarray(x), jnp.asarray(y, dtype=jnp.int32)
    )
    mom = jax.jit(mean_of_means)(jnp.asarray(w0), jnp.asarray(x), jnp.asarray(y, dtype=jnp.int32))
    with open(sys.argv[1], "w") as f:
        json.dump({"loss": float(loss), "grad": np.asarray(grad).tolist(),
                   "mean_of_means": float(mom)}, f)
    """
)


def whole_batch() -> tuple[float, np.ndarray]:
    """Loss and gradient of the whole batch in this process (torch)."""
    x, y, w0 = batch()
    w = torch.tensor(w0, requires_grad=True)
    loss = wxent.softmax_cross_entropy(torch.tensor(x) @ w, torch.tensor(y), **OPTIONS)
    loss.backward()
    return float(loss.detach()), w.grad.numpy()


def _check(result: dict, *, rtol: float = 1e-5) -> None:
    loss, grad = whole_batch()
    assert_close(result["loss"], loss, rtol=rtol, atol=1e-6)
    assert_close(np.asarray(result["grad"]), grad, rtol=rtol, atol=1e-6)
    # The shards have unequal weight sums: a mean of per-rank means is a different number.
    assert abs(result["mean_of_means"] - loss) > 0.05 * loss


def test_torch_distributed_gloo_matches_whole_batch(tmp_path):
    port = str(_free_port())
    out = str(tmp_path / "torch.json")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DATA + TORCH_WORKER, str(rank), "2", port, out],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for rank in range(2)
    ]
    logs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)
    _check(json.loads(Path(out).read_text()))


def test_jax_two_host_devices_matches_whole_batch(tmp_path):
    out = str(tmp_path / "jax.json")
    env = _env()
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", DATA + JAX_WORKER, out],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _check(json.loads(Path(out).read_text()))


def test_whole_batch_is_the_weighted_mean_over_valid_rows():
    x, y, w0 = batch()
    loss, _ = whole_batch()
    logits = (x @ w0).astype(np.float64)
    keep = y >= 0
    lse = np.log(np.exp(logits).sum(1))
    nll = lse[keep] - logits[keep, y[keep]]
    cw = np.asarray(OPTIONS["class_weight"])[y[keep]]
    assert_close(loss, (cw * nll).sum() / cw.sum(), rtol=1e-5)
