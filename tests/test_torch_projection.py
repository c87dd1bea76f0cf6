"""wxent.torch's modules over the losses that fuse the output projection.

``LinearCrossEntropy`` and ``SampledSoftmaxCrossEntropy`` take ``(inputs, weight,
labels, bias=None, sample_weight=None)`` per call, as their functions do; their options
are checked at construction and on assignment, ``class_weight`` is a buffer, and the
values and gradients are the functions'.
"""

from __future__ import annotations

import inspect
import io

import numpy as np
import pytest
import torch

import wxent
import wxent.torch as wt
from adapter_cases import snake

N, D, V = 7, 5, 40


def _operands(seed: int = 0, dtype: torch.dtype = torch.float64) -> dict:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, V, (N,), generator=g)
    labels[1] = -100
    return {
        "inputs": torch.randn(N, D, generator=g, dtype=dtype),
        "weight": torch.randn(V, D, generator=g, dtype=dtype),
        "bias": torch.randn(V, generator=g, dtype=dtype),
        "labels": labels,
        "class_weight": torch.rand(V, generator=g, dtype=dtype) + 0.5,
        "sample_weight": torch.rand(N, generator=g, dtype=dtype),
    }


def _grads(fn, ops: dict) -> tuple[np.ndarray, ...]:
    leaves = [ops[k].detach().clone().requires_grad_() for k in ("inputs", "weight", "bias")]
    value = fn(*leaves)
    value.sum().backward()
    return (value.detach().numpy(), *(t.grad.numpy() for t in leaves))


@pytest.mark.parametrize("name", ["LinearCrossEntropy", "SampledSoftmaxCrossEntropy"])
def test_written_out_over_its_function(name):
    cls = getattr(wt, name)
    assert name in wt.__all__ and cls.function is getattr(wxent, snake(name))
    assert issubclass(cls, wt.WxentLoss) and cls.__doc__ and cls.forward.__doc__
    calls = ("inputs", "weight", "labels", "bias", "sample_weight", "sampled_values")
    options = [p for p in inspect.signature(cls.function).parameters if p not in calls]
    assert sorted(inspect.signature(cls).parameters) == sorted(options)
    for k, p in inspect.signature(cls).parameters.items():
        default = inspect.signature(cls.function).parameters[k].default
        assert p.default == default, k


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "weighted_mean"])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1, "chunk_size": 3}])
def test_linear_module_equals_function(reduction, options):
    ops = _operands()
    kw = {"ignore_index": -100, "reduction": reduction, **options}
    module = wt.LinearCrossEntropy(class_weight=ops["class_weight"], **kw)
    got = _grads(
        lambda h, w, b: module(h, w, ops["labels"], b, sample_weight=ops["sample_weight"]), ops
    )
    want = _grads(
        lambda h, w, b: wxent.linear_cross_entropy(
            h, w, ops["labels"], bias=b, class_weight=ops["class_weight"],
            sample_weight=ops["sample_weight"], **kw,
        ),
        ops,
    )  # fmt: skip
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert np.all(got[1][1] == 0.0)  # the ignored row


def test_linear_module_buffers_move_save_and_reset():
    ops = _operands()
    module = wt.LinearCrossEntropy(class_weight=ops["class_weight"].tolist())
    assert sorted(module.state_dict()) == ["class_weight"]
    assert module.float().class_weight.dtype == torch.float32
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    other = wt.LinearCrossEntropy(class_weight=[1.0] * V)
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer))
    np.testing.assert_array_equal(other.class_weight.numpy(), module.class_weight.numpy())
    with torch.device("meta"):
        lazy = wt.LinearCrossEntropy(class_weight=ops["class_weight"].tolist())
    lazy.to_empty(device="cpu")
    lazy.reset_parameters()
    np.testing.assert_allclose(lazy.class_weight.double().numpy(), ops["class_weight"].numpy())
    learned = torch.nn.Parameter(torch.ones(V, dtype=torch.float64))
    criterion = wt.LinearCrossEntropy(class_weight=learned)
    criterion(ops["inputs"], ops["weight"], ops["labels"].clamp(min=0)).backward()
    assert learned.grad is not None and list(criterion.parameters()) == [learned]


@pytest.mark.parametrize(
    ("cls", "args", "kw", "error", "match"),
    [
        (wt.LinearCrossEntropy, (), {"label_smoothing": 2.0}, ValueError, "label_smoothing"),
        (wt.LinearCrossEntropy, (), {"chunk_size": 0}, ValueError, "chunk_size"),
        (wt.LinearCrossEntropy, (), {"reduction": "avg"}, ValueError, "reduction"),
        (wt.LinearCrossEntropy, (), {"class_weight": [1.0, -1.0]}, ValueError, "class_weight"),
        (wt.SampledSoftmaxCrossEntropy, (0,), {}, ValueError, "num_sampled"),
        (wt.SampledSoftmaxCrossEntropy, (True,), {}, TypeError, "num_sampled"),
        (
            wt.SampledSoftmaxCrossEntropy,
            (5,),
            {"class_weight": [1.0, 2.0]},
            ValueError,
            r"\[1, 2\]",
        ),
        (wt.SampledSoftmaxCrossEntropy, (5,), {"seed": -1}, ValueError, "seed"),
        (wt.SampledSoftmaxCrossEntropy, (5,), {"remove_accidental_hits": 1}, TypeError, "remove"),
    ],
)
def test_options_are_checked_at_construction(cls, args, kw, error, match):
    with pytest.raises(error, match=match):
        cls(*args, **kw)


def test_options_assigned_are_checked_and_used():
    ops = _operands()
    module = wt.LinearCrossEntropy(ignore_index=-100)
    module.label_smoothing = 0.2
    want = wxent.linear_cross_entropy(
        ops["inputs"], ops["weight"], ops["labels"], ignore_index=-100, label_smoothing=0.2
    )
    assert float(module(ops["inputs"], ops["weight"], ops["labels"])) == float(want)
    with pytest.raises(ValueError, match="label_smoothing"):
        module.label_smoothing = 5.0
    with pytest.raises(AttributeError, match="argument of each call"):
        module.weight = ops["weight"]  # the projection's weight goes to forward
    with pytest.raises(AttributeError, match="pos_weight"):
        module.pos_weight = 2.0
    with pytest.raises(AttributeError, match="ignore_index"):
        module.ignore_label = -1
    sampled = wt.SampledSoftmaxCrossEntropy(5)
    with pytest.raises(ValueError, match="num_sampled"):
        sampled.num_sampled = 0


# (torch's compiler instantiates the autograd functions of the chunk steps)
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
def test_linear_module_compiles():
    ops = _operands(dtype=torch.float32)
    module = wt.LinearCrossEntropy(ignore_index=-100, label_smoothing=0.1)
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)
    got = _grads(lambda h, w, b: compiled(h, w, ops["labels"], b), ops)
    want = _grads(lambda h, w, b: module(h, w, ops["labels"], b), ops)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def _sampled_call(module, ops, **kw):
    y = ops["labels"].clamp(min=0)
    return module(ops["inputs"], ops["weight"], y, ops["bias"], **kw)


def test_sampled_module_draws_new_classes_each_call_reproducibly():
    ops = _operands()
    a, b = wt.SampledSoftmaxCrossEntropy(10, seed=3), wt.SampledSoftmaxCrossEntropy(10, seed=3)
    first = [float(_sampled_call(a, ops)) for _ in range(3)]
    again = [float(_sampled_call(b, ops)) for _ in range(3)]
    assert first == again and len(set(first)) == 3  # new draws per call, same sequence
    seeds = np.random.default_rng(3).integers(2**63, size=3)  # the documented generator
    want = [
        float(
            wxent.sampled_softmax_cross_entropy(
                ops["inputs"], ops["weight"], ops["labels"].clamp(min=0), num_sampled=10,
                bias=ops["bias"], seed=int(s),
            )
        )
        for s in seeds
    ]  # fmt: skip
    assert first == want
    a.seed = 3  # assigning the seed starts its sequence again
    assert float(_sampled_call(a, ops)) == first[0]
    fresh = wt.SampledSoftmaxCrossEntropy(10)
    assert len({float(_sampled_call(fresh, ops)) for _ in range(3)}) > 1


def test_sampled_module_takes_sampled_values_and_class_weight():
    ops = _operands()
    y = ops["labels"].clamp(min=0)
    sampled = torch.tensor([3, 7, 11, 20], dtype=torch.int64)
    values = (
        sampled,
        torch.full((N,), 0.1, dtype=torch.float64),
        torch.full((4,), 0.2, dtype=torch.float64),
    )
    module = wt.SampledSoftmaxCrossEntropy(
        4, seed=1, class_weight=ops["class_weight"], reduction="none"
    )
    got = module(ops["inputs"], ops["weight"], y, ops["bias"], sampled_values=values)
    want = wxent.sampled_softmax_cross_entropy(
        ops["inputs"], ops["weight"], y, num_sampled=4, bias=ops["bias"],
        sampled_values=values, class_weight=ops["class_weight"], reduction="none",
    )  # fmt: skip
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert sorted(module.state_dict()) == ["class_weight"]


@pytest.mark.parametrize("name", ["linear_cross_entropy", "sampled_softmax_cross_entropy"])
def test_class_weight_of_the_wrong_length_names_the_rows_of_weight(name):
    # (the projection losses have no class_axis: the message must not name one)
    ops = _operands()
    extra = {"num_sampled": 3} if name.startswith("sampled") else {}
    with pytest.raises(ValueError, match=r"shape \(40,\) \(the rows of `weight`\)") as info:
        getattr(wxent, name)(
            ops["inputs"],
            ops["weight"],
            ops["labels"].clamp(min=0),
            class_weight=[1.0] * 41,
            **extra,
        )
    assert "class_axis" not in str(info.value)


# (torch's compiler instantiates the autograd functions it traces)
@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
def test_compiled_sampled_module_draws_the_seeded_sequence():
    # Compiled (graph breaks at the host draw), the per-call seed was traced as one
    # constant: every call drew the same classes, a loss that never changed.
    ops = _operands(dtype=torch.float32)
    eager = wt.SampledSoftmaxCrossEntropy(10, seed=4)
    compiled = torch.compile(wt.SampledSoftmaxCrossEntropy(10, seed=4), backend="eager")
    want = [float(_sampled_call(eager, ops)) for _ in range(2)]
    assert [float(_sampled_call(compiled, ops)) for _ in range(2)] == want
    assert len(set(want)) == 2
