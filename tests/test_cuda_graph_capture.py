"""Calls made while a CUDA graph is captured read nothing and copy no host arrays.

During ``torch.cuda.graph`` (or ``make_graphed_callables``) capture nothing may wait for
the device: a default call's one read of its checks would end the capture with a CUDA
error, and a host array copied in would be read from memory the graph does not keep on
every replay. wxent treats captured calls as traced ones (values not read: bad values
show as NaN) and refuses host arrays with a message naming the argument.

This machine has no GPU: the capture is simulated by making
:func:`wxent._namespace.capturing` answer ``True`` for every torch tensor, and the
tests check what wxent does with that answer (no host read, the same loss as an
uncaptured call, NaN for a bad label, the refusals). ``benchmarks/gpu_capture.py`` captures and
replays real graphs on a CUDA machine.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent
from test_host_reads import COST, _cases, _count_torch_reads
from wxent import _namespace as ns

CASES = sorted(_cases(np.asarray, COST))


@pytest.fixture
def captured(monkeypatch):
    monkeypatch.setattr(ns, "capturing", lambda x: isinstance(x, torch.Tensor))


def _device_cases():
    """The cases with every configuration array a tensor (a capture copies no host arrays)."""
    cost = torch.as_tensor(COST)
    calls = _cases(torch.as_tensor, cost)
    rng = np.random.default_rng(1)
    x = torch.as_tensor(rng.normal(size=(6, 4)).astype(np.float32))
    soft = torch.full((6, 4), 0.25)
    z = torch.as_tensor((rng.uniform(size=(6, 4)) < 0.3).astype(np.float32))
    y_ok = torch.tensor([0, 1, 2, 3, 0, 1])
    calls["softmax_probabilities"] = lambda: wxent.softmax_cross_entropy(
        x, soft, class_weight=torch.tensor([1.0, 2.0, 0.5, 1.0]), label_smoothing=0.1
    )
    calls["sigmoid"] = lambda: wxent.sigmoid_cross_entropy(
        x,
        z,
        pos_weight=torch.tensor([1.0, 2.0, 0.5, 1.0]),
        neg_weight=torch.tensor([1.0, 1.0, 2.0, 1.0]),
    )
    calls["logit_adjusted"] = lambda: wxent.logit_adjusted_cross_entropy(
        x, y_ok, torch.tensor([0.4, 0.3, 0.2, 0.1])
    )
    return calls


@pytest.mark.parametrize("case", CASES)
def test_a_captured_default_call_reads_nothing_and_equals_an_uncaptured_one(
    case, captured, monkeypatch
):
    calls = _device_cases()
    call = calls[case]
    call()  # warm-up (imports, caches)
    with _count_torch_reads() as reads:
        loss = call()
    assert reads == [], reads
    monkeypatch.setattr(ns, "capturing", lambda x: False)
    expected = call()
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-7)
    assert torch.isfinite(loss).all()


def test_a_captured_call_with_a_bad_label_gives_nan_not_a_read(captured):
    x = torch.randn(4, 3, requires_grad=True)
    y = torch.tensor([0, 1, 5, 2])  # 5: out of range
    with _count_torch_reads() as reads:
        loss = wxent.softmax_cross_entropy(x, y)
    assert reads == []
    assert torch.isnan(loss)


@pytest.mark.parametrize(
    "call, name",
    [
        (
            lambda x, y: wxent.softmax_cross_entropy(x, y, class_weight=[1.0, 2.0, 3.0]),
            "class_weight",
        ),
        (lambda x, y: wxent.softmax_cross_entropy(x, y, class_weight=np.ones(3)), "class_weight"),
        (lambda x, y: wxent.softmax_cross_entropy(x, [0, 1, 2, 0]), "labels"),
        (
            lambda x, y: wxent.sigmoid_cross_entropy(x, torch.ones(4, 3), pos_weight=[2.0] * 3),
            "pos_weight",
        ),
        (lambda x, y: wxent.expected_cost_loss(x, y, 1.0 - np.eye(3)), "costs"),
    ],
)
def test_host_arrays_are_refused_while_captured_naming_the_argument(call, name, captured):
    x = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match=f"`{name}`.*CUDA graph is captured"):
        call(x, y)


def test_python_numbers_are_filled_on_the_device_while_captured(captured):
    x = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    got = wxent.softmax_cross_entropy(x, y, class_weight=2.0, sample_weight=0.5)
    expected = torch.nn.functional.cross_entropy(x, y)
    torch.testing.assert_close(got, expected)


def test_the_sampled_loss_asks_for_device_drawn_classes_while_captured(captured):
    h = torch.randn(4, 3)
    w = torch.randn(10, 3)
    y = torch.tensor([0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"`sampled_values`.*CUDA graph is captured"):
        wxent.sampled_softmax_cross_entropy(h, w, y, num_sampled=4)


def test_capturing_is_false_off_cuda():
    assert not ns.capturing(torch.ones(2))
    assert not ns.capturing(np.ones(2))
    assert ns.is_concrete(torch.ones(2))
