"""wxent.torch: each module equals its function (values, gradients), moves, saves, compiles."""

from __future__ import annotations

import inspect
import io
from typing import Any

import numpy as np
import pytest
import torch

import wxent
import wxent.torch as wt
from adapter_cases import CASES, C, data, snake
from conftest import assert_close
from wxent import _adapter_options as table

#: The modules over (logits, labels) functions; the projection losses' modules take
#: (inputs, weight, labels) and have tests of their own (tests/test_torch_projection.py).
PROJECTION = ("LinearCrossEntropy", "SampledSoftmaxCrossEntropy")
CLASSES = [name for name in wt.__all__ if name not in ("WxentLoss", *PROJECTION)]


def _data(family: str, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return data(family, shape, 1, seed)


def _module(name: str, **extra: Any) -> wt.WxentLoss:
    _, args, options = CASES[name]
    return getattr(wt, name)(*args, **{**options, **extra})


def _function_value(name: str, logits: torch.Tensor, labels: torch.Tensor, **extra: Any) -> Any:
    _, args, options = CASES[name]
    function = getattr(wxent, snake(name))
    return function(logits, labels, *args, class_axis=1, **options, **extra)


def test_every_class_is_written_out_over_its_function() -> None:
    assert "SigmoidCrossEntropy" in CLASSES and "SoftmaxCrossEntropy" in CLASSES
    assert sorted(CASES) == sorted(CLASSES)
    assert sorted(snake(name) for name in CLASSES + list(PROJECTION)) == sorted(table.LOSSES)
    source = inspect.getsource(wt)
    for name in CLASSES:
        cls = getattr(wt, name)
        assert f"class {name}(WxentLoss):" in source
        assert cls.function is getattr(wxent, snake(name))
        assert issubclass(cls, torch.nn.Module) and cls.__doc__
        # the constructor takes exactly the function's options (sample_weight is forward's)
        function_params = list(inspect.signature(cls.function).parameters)[2:]
        function_params.remove("sample_weight")
        assert list(inspect.signature(cls).parameters) == function_params
        defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
        for k, p in inspect.signature(cls.function).parameters.items():
            if k in defaults and k != "class_axis":
                assert defaults[k] == p.default, (name, k)
        assert defaults["class_axis"] == 1


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
    arrays = table.LOSSES[snake(name)].arrays
    expected = len(args) + sum(k in arrays for k in options)
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
    with pytest.raises(
        TypeError, match=r"SoftmaxCrossEntropy.__init__\(\) got an unexpected keyword argument"
    ):
        wt.SoftmaxCrossEntropy(pos_weight=[1.0, 2.0])
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'costs'"):
        wt.ExpectedCostLoss()  # type: ignore[call-arg]


def test_bad_weights_fail_at_construction() -> None:
    with pytest.raises(ValueError, match=r"Invalid value for argument `class_weight`. Expected"):
        wt.SoftmaxCrossEntropy(class_weight=[1.0, -2.0, 1.0])
    with pytest.raises(ValueError, match=r"Invalid value for argument `pos_weight`. Expected"):
        wt.SigmoidCrossEntropy(pos_weight=[1.0, float("nan")])
    with pytest.raises(
        TypeError, match=r"Invalid type for argument `pos_weight`. Expected numbers"
    ):
        wt.SigmoidCrossEntropy(pos_weight=["a", "b"])
    with pytest.raises(TypeError, match=r"Invalid type for argument `pos_weight`. Expected numb"):
        wt.SigmoidCrossEntropy(pos_weight=True)


def test_shape_errors_come_from_the_function() -> None:
    module = wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0])
    logits = torch.zeros(4, C)
    with pytest.raises(ValueError, match=r"Invalid value for argument `class_weight`"):
        module(logits, torch.zeros(4, dtype=torch.int64))


BAD_OPTIONS = [
    ("reduction", "avg", ValueError, r"argument `reduction`. Expected one of"),
    ("validate", 1, TypeError, r"argument `validate`. Expected a bool"),
    ("class_axis", "last", TypeError, r"argument `class_axis`. Expected an integer"),
    ("class_weight", [1.0, -2.0, 1.0], ValueError, r"`class_weight`. Expected finite non-neg"),
    ("pos_weight", [1.0, float("nan"), 1.0], ValueError, r"`pos_weight`. Expected finite"),
    ("label_smoothing", 2.0, ValueError, r"`label_smoothing`. Expected a float in \[0, 1\]"),
    ("gamma", -1.0, ValueError, r"argument `gamma`. Expected a finite float >= 0"),
    ("ignore_index", 1.5, TypeError, r"argument `ignore_index`"),
]


@pytest.mark.parametrize(
    ("name", "option", "value", "error", "message"),
    [
        (name, *bad)
        for name in CLASSES
        for bad in BAD_OPTIONS
        if bad[0] in inspect.signature(getattr(wt, name)).parameters
    ],
)
def test_every_option_is_checked_at_construction(
    name: str, option: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        _module(name, **{option: value})


def test_construction_checks_weights_against_each_other() -> None:
    with pytest.raises(ValueError, match=r"Invalid value for argument `class_weight`"):
        wt.ExpectedCostLoss([[0.0, 1.0], [1.0, 0.0]], class_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"Invalid value for argument `tau`"):
        wt.LogitAdjustedCrossEntropy([0.5, 0.5], tau=float("nan"))
    # a meta tensor has no values: construction checks only its shape
    meta = wt.SoftmaxCrossEntropy(class_weight=torch.ones(3, device="meta"))
    assert meta.class_weight.device.type == "meta"


@pytest.mark.parametrize("pos_weight", [None, [3.0], 3.0, "per-element"])
def test_binary_1d_logits_work_as_bce_with_logits(pos_weight: Any) -> None:
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=7), requires_grad=True)
    z = torch.tensor((rng.random(7) < 0.4).astype(np.float64))
    if pos_weight == "per-element":
        pos_weight = rng.random(7) + 0.5
    weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float64)
    module = wt.SigmoidCrossEntropy(pos_weight=weight).double()
    got = module(x, z)
    peer = torch.nn.BCEWithLogitsLoss(pos_weight=weight)(x, z)  # the same "mean" here
    assert_close(got.detach(), peer.detach(), rtol=1e-12, atol=1e-12)
    (g1,) = torch.autograd.grad(got, x)
    (g2,) = torch.autograd.grad(peer, x)
    assert_close(g1, g2, rtol=1e-12, atol=1e-12)
    for name in ("SigmoidFocalLoss", "AsymmetricLoss"):  # the family follows the same rule
        loss = getattr(wt, name)(pos_weight=weight).double()(x, z)
        function = getattr(wxent, snake(name))
        scalar = weight is not None and weight.numel() == 1 and weight.ndim == 1
        want = function(x, z, pos_weight=weight.reshape(()) if scalar else weight)
        assert_close(loss.detach(), want.detach(), rtol=1e-12, atol=1e-12)


def test_unbatched_softmax_logits_take_a_0d_label() -> None:
    x = torch.tensor([0.5, 2.0, -1.0], dtype=torch.float64)
    label = torch.tensor(2)
    weight = torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64)
    got = wt.SoftmaxCrossEntropy(class_weight=weight, reduction="weighted_mean")(x, label)
    want = torch.nn.functional.cross_entropy(x, label, weight=weight)  # torch's mean
    assert_close(got, want, rtol=1e-12, atol=1e-12)
    summed = wt.SoftmaxCrossEntropy(class_weight=weight, class_axis=-1, reduction="sum")(x, label)
    assert_close(summed, 2.0 * want, rtol=1e-12, atol=1e-12)
