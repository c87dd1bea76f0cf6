"""A confusion matrix of more classes than host memory holds.

``confusion_matrix`` and ``MetricAccumulator`` (``confusion=True`` by default) count a
``C x C`` matrix: with ``C = 60000`` NumPy raised its own ``MemoryError`` ("Unable to
allocate 26.8 GiB") and PyTorch its allocator's ``RuntimeError``, where ``cost_matrix``
and ``label_counts`` refuse such sizes in wxent's words. Host matrices are now checked
against the memory first; the metrics that need no matrix still run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import wxent

C = 3000  # 72 MB of counts, refused under the 1 MiB of memory the tests pretend


@pytest.fixture
def small_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("wxent._host_checks._memory", lambda: 2**20)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.usefixtures("small_memory")
def test_confusion_matrix_larger_than_memory(framework: str) -> None:
    x, y = np.zeros((2, C), np.float32), np.array([0, 1])
    if framework == "torch":
        x, y = torch.tensor(x), torch.tensor(y)
    pattern = (
        r"Invalid value for argument `logits`. Expected a size whose arrays fit in memory. "
        r"Received: logits of 3000 classes, whose confusion matrix is 3000 x 3000 .*"
        r"MetricAccumulator\(confusion=False\)"
    )
    with pytest.raises(ValueError, match=pattern):
        wxent.confusion_matrix(x, y)
    with pytest.raises(ValueError, match=pattern):
        wxent.MetricAccumulator().update(x, y)
    # without a matrix the same logits are counted
    assert float(wxent.recall(x, y, average="macro")) == 0.5  # classes 0 and 1 counted
    result = wxent.MetricAccumulator(confusion=False).update(x, y).compute(average="macro")
    assert result["recall"] == pytest.approx(0.5)
