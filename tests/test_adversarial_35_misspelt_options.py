"""A misspelt option assigned to a ``wxent.torch`` or ``wxent.keras`` loss.

``criterion.pos_wieght = w`` was stored as a new attribute and never read: training ran
with the old weight. A new public attribute whose name is close to one of the loss's
options is now an ``AttributeError`` suggesting the option; other new attributes are
stored as before, and copying, pickling, moving and compiling are unchanged.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

import wxent.torch as wt


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("pos_wieght", "pos_weight"),
        ("reductoin", "reduction"),
        ("label_smothing", "label_smoothing"),
    ],
)
def test_torch_misspelt_option_is_refused(name: str, meant: str) -> None:
    criterion = wt.SigmoidCrossEntropy(pos_weight=[2.0, 3.0])
    with pytest.raises(AttributeError, match=f"Invalid attribute `{name}`.*did you mean `{meant}`"):
        setattr(criterion, name, torch.tensor([9.0, 9.0]))
    assert name not in criterion.__dict__


def test_torch_other_attributes_and_module_machinery_still_work() -> None:
    criterion = wt.SoftmaxCrossEntropy(class_weight=[1.0, 2.0])
    criterion.my_tag = "run-7"
    criterion.history = []
    criterion.register_buffer("extra", torch.zeros(1))
    criterion.extra = torch.ones(1)
    criterion.training = False
    clone = copy.deepcopy(criterion)
    loaded = pickle.loads(pickle.dumps(criterion))
    assert clone.my_tag == loaded.my_tag == "run-7"
    criterion.to(torch.float64)
    assert criterion.class_weight.dtype == torch.float64
    assert sorted(criterion.state_dict()) == ["class_weight", "extra"]
    compiled = torch.compile(criterion, fullgraph=True, backend="eager")
    logits = torch.randn(4, 2, dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 0])
    torch.testing.assert_close(compiled(logits, labels), criterion(logits, labels))


def test_keras_misspelt_option_is_refused() -> None:
    keras_losses = pytest.importorskip("wxent.keras")
    loss = keras_losses.SoftmaxCrossEntropy(label_smoothing=0.1)
    with pytest.raises(AttributeError, match="did you mean `label_smoothing`"):
        loss.label_smothing = 0.2
    loss.my_tag = "x"
    assert loss.get_config()["label_smoothing"] == 0.1
