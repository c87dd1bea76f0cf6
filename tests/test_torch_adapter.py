"""wxent.torch: each module equals its function (values, gradients), moves, saves, compiles."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

import wxent
import wxent.torch as wt
from conftest import assert_close

C = 3
COSTS = [[0.0, 1.0, 1.0], [1.0, 0.0, 1.2], [1.0, 1.0, 0.0]]

# class name -> (label family, positional config, options). Every class must have a case.
CASES: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "SigmoidCrossEntropy": ("sigmoid", (), {"pos_weight": [1.0, 4.0, 2.0], "neg_weight": 0.5}),
    "SoftmaxCrossEntropy": (
        "softmax",
        (),
        {"class_weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1},
    ),
    "SigmoidFocalLoss": ("sigmoid", (), {"gamma": 2.0, "alpha": [0.25, 0.5, 0.75]}),
    "SoftmaxFocalLoss": ("softmax", (), {"gamma": 2.0, "class_weight": [1.0, 2.0, 0.5]}),
    "AsymmetricLoss": (
        "sigmoid",
        (),
        {"gamma_neg": 4.0, "clip": 0.05, "pos_weight": [2.0, 1.0, 3.0]},
    ),
    "LogitAdjustedCrossEntropy": ("softmax", ([0.6, 0.3, 0.1],), {"tau": 1.0}),
    "ExpectedCostLoss": ("softmax", (COSTS,), {}),
    "CostSensitiveCrossEntropy": ("softmax", (COSTS,), {"cost_weight": 0.5}),
    "ConfusionWeightedCrossEntropy": ("softmax", (COSTS,), {}),
}

CLASSES = [name for name in wt.__all__ if name != "WxentLoss"]


def _camel_to_snake(name: str) -> str:
    out = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name)
    return out.lstrip("_")


def _data(family: str, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=shape).astype(np.float32)
    if family == "sigmoid":
        labels = (rng.random(shape) < 0.3).astype(np.float32)
    else:
        labels = rng.integers(0, shape[1], size=shape[:1] + shape[2:])
    return logits, labels


def _module(name: str, **extra: Any) -> wt.WxentLoss:
    _, args, options = CASES[name]
    return getattr(wt, name)(*args, **options, **extra)


def _function_value(name: str, logits: torch.Tensor, labels: torch.Tensor, **extra: Any) -> Any:
    _, args, options = CASES[name]
    function = getattr(wxent, _camel_to_snake(name))
    return function(logits, labels, *args, class_axis=1, **options, **extra)


def test_every_class_has_a_case_and_a_function() -> None:
    assert "SigmoidCrossEntropy" in CLASSES and "SoftmaxCrossEntropy" in CLASSES
    for name in CLASSES:
        assert name in CASES
        assert getattr(wt, name).function is getattr(wxent, _camel_to_snake(name))
        assert issubclass(getattr(wt, name), torch.nn.Module)


def test_table_covers_every_available_loss() -> None:
    wrapped = {fn for fn, _ in wt._LOSSES}
    for name in CASES:
        if hasattr(wxent, _camel_to_snake(name)):
            assert _camel_to_snake(name) in wrapped
            assert name in CLASSES


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("shape", [(5, C), (4, C, 2)], ids=["2d", "channels-first"])
def test_module_equals_function_values_and_gradients(name: str, shape: tuple[int, ...]) -> None:
    family = CASES[name][0]
    logits_np, labels_np = _data(family, shape)
    x1 = torch.tensor(logits_np, requires_grad=True)
    x2 = torch.tensor(logits_np, requires_grad=True)
    labels = torch.from_numpy(labels_np)
    module = _module(name)
    got = module(x1, labels)
    want = _function_value(name, x2, labels)
    assert_close(got.detach(), want.detach(), rtol=1e-6, atol=1e-7)
    (g1,) = torch.autograd.grad(got, x1)
    (g2,) = torch.autograd.grad(want, x2)
    assert_close(g1, g2, rtol=1e-6, atol=1e-7)
    assert float(g1.abs().sum()) > 0


@pytest.mark.parametrize("name", CLASSES)
def test_options_pass_through(name: str) -> None:
    family = CASES[name][0]
    logits_np, labels_np = _data(family, (6, C))
    logits, labels = torch.from_numpy(logits_np), torch.from_numpy(labels_np)
    rng = np.random.default_rng(1)
    sample_weight = torch.from_numpy(rng.random(6).astype(np.float32))
    module = _module(name, reduction="none")
    got = module(logits, labels, sample_weight=sample_weight)
    want = _function_value(name, logits, labels, reduction="none", sample_weight=sample_weight)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want, rtol=1e-6, atol=1e-7)
    # the per-batch weight matters: a different weight changes the result
    other = module(logits, labels, sample_weight=sample_weight * 0 + 1)
    assert not np.allclose(got.numpy(), other.numpy())


@pytest.mark.parametrize("name", CLASSES)
def test_to_moves_and_casts_buffers(name: str) -> None:
    family = CASES[name][0]
    module = _module(name)
    buffers = dict(module.named_buffers())
    _, args, options = CASES[name]
    tensor_options = getattr(wt, name).tensor_options
    expected = len(args) + sum(
        isinstance(o, list) or k in tensor_options for k, o in options.items()
    )
    assert len(buffers) == expected
    module64 = module.to(torch.float64)
    for buf in module64.buffers():
        assert buf.dtype == torch.float64
    logits_np, labels_np = _data(family, (5, C))
    logits = torch.from_numpy(logits_np.astype(np.float64))
    got = module64(logits, torch.from_numpy(labels_np))
    assert got.dtype == torch.float64
    want = _function_value(name, logits, torch.from_numpy(labels_np))
    # the buffers were rounded to float32 before the cast: agreement to float32 precision
    assert_close(got, want, rtol=1e-6, atol=1e-7)
    meta = _module(name).to("meta")
    for buf in meta.buffers():
        assert buf.device.type == "meta"


@pytest.mark.parametrize("name", CLASSES)
def test_state_dict_round_trip(name: str) -> None:
    family = CASES[name][0]
    _, args, options = CASES[name]
    source = _module(name)
    if not dict(source.named_buffers()):
        pytest.fail(f"{name} case holds no buffer")
    # a module built with other values of the same shapes takes the saved ones
    scaled_args = tuple((np.asarray(a) * 0.5 + 0.1).tolist() for a in args)
    scaled = {
        k: (np.asarray(o) * 0.5 + 0.1).tolist() if isinstance(o, list) else o
        for k, o in options.items()
    }
    target = getattr(wt, name)(*scaled_args, **scaled)
    logits_np, labels_np = _data(family, (5, C))
    logits, labels = torch.from_numpy(logits_np), torch.from_numpy(labels_np)
    assert not torch.allclose(source(logits, labels), target(logits, labels))
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    buffer.seek(0)
    target.load_state_dict(torch.load(buffer))
    assert torch.equal(source(logits, labels), target(logits, labels))


# One module per kind: plain sigmoid/softmax, an option-heavy loss, a positional buffer.
@pytest.mark.parametrize(
    "name", ["SigmoidCrossEntropy", "SoftmaxCrossEntropy", "SigmoidFocalLoss", "ExpectedCostLoss"]
)
def test_torch_compile(name: str) -> None:
    torch._dynamo.reset()
    family = CASES[name][0]
    logits_np, labels_np = _data(family, (8, C))
    module = _module(name)
    compiled = torch.compile(module, backend="aot_eager", fullgraph=False)
    x1 = torch.tensor(logits_np, requires_grad=True)
    x2 = torch.tensor(logits_np, requires_grad=True)
    labels = torch.from_numpy(labels_np)
    got = compiled(x1, labels)
    want = module(x2, labels)
    assert_close(got.detach(), want.detach(), rtol=1e-6, atol=1e-7)
    (g1,) = torch.autograd.grad(got, x1)
    (g2,) = torch.autograd.grad(want, x2)
    assert_close(g1, g2, rtol=1e-6, atol=1e-7)


def test_default_class_axis_is_one() -> None:
    module = wt.SoftmaxCrossEntropy()
    assert module._options["class_axis"] == 1
    logits_np, labels_np = _data("softmax", (4, C, 5))
    logits, labels = torch.from_numpy(logits_np), torch.from_numpy(labels_np)
    assert torch.equal(
        module(logits, labels), wxent.softmax_cross_entropy(logits, labels, class_axis=1)
    )
    last = wt.SoftmaxCrossEntropy(class_axis=-1)
    moved = torch.movedim(logits, 1, -1)
    assert_close(last(moved, labels), module(logits, labels), rtol=1e-6, atol=1e-7)
    assert "class_axis=1" in repr(module)


def test_scalar_weight_is_a_buffer_and_tensor_weight_is_copied() -> None:
    module = wt.SigmoidCrossEntropy(pos_weight=3.0)
    assert module.pos_weight.shape == ()
    weight = torch.tensor([1.0, 2.0, 3.0])
    module = wt.SigmoidCrossEntropy(pos_weight=weight)
    weight[0] = 100.0
    assert float(module.pos_weight[0]) == 1.0
    module = wt.SoftmaxCrossEntropy(class_weight=torch.tensor([1, 2, 3]))
    assert module.class_weight.dtype == torch.get_default_dtype()


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"SoftmaxCrossEntropy: got an unexpected keyword argument"):
        wt.SoftmaxCrossEntropy(pos_weight=[1.0, 2.0])


def test_bad_weights_fail_at_construction() -> None:
    with pytest.raises(ValueError, match=r"Invalid value for argument `class_weight`. Expected"):
        wt.SoftmaxCrossEntropy(class_weight=[1.0, -2.0, 1.0])
    with pytest.raises(ValueError, match=r"Invalid value for argument `pos_weight`. Expected"):
        wt.SigmoidCrossEntropy(pos_weight=[1.0, float("nan")])
    with pytest.raises(
        TypeError, match=r"Invalid type for argument `pos_weight`. Expected numbers"
    ):
        wt.SigmoidCrossEntropy(pos_weight=["a", "b"])
    with pytest.raises(
        TypeError, match=r"Invalid type for argument `pos_weight`. Expected numbers"
    ):
        wt.SigmoidCrossEntropy(pos_weight=True)


def test_shape_errors_come_from_the_function() -> None:
    module = wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0])
    logits = torch.zeros(4, C)
    with pytest.raises(ValueError, match=r"Invalid value for argument `class_weight`"):
        module(logits, torch.zeros(4, dtype=torch.int64))
