"""Cases shared by the PyTorch and Keras adapter tests: one per adapter class."""

from __future__ import annotations

from typing import Any

import numpy as np

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


def snake(name: str) -> str:
    """The function name of an adapter class: ``SigmoidCrossEntropy`` -> ``sigmoid_...``."""
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")


def data(
    family: str, shape: tuple[int, ...], class_axis: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """float32 logits of ``shape`` and labels of the family (0/1, or class indices)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=shape).astype(np.float32)
    if family == "sigmoid":
        return logits, (rng.random(shape) < 0.3).astype(np.float32)
    sample = shape[: class_axis % len(shape)] + shape[class_axis % len(shape) + 1 :]
    return logits, rng.integers(0, shape[class_axis], size=sample)
