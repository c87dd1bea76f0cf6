"""Option sets of the custom-gradient tests of the imbalance losses (PyTorch/JAX and
TensorFlow).

Sigmoid family: ``loss`` picks ``sigmoid_focal_loss`` ("focal") or ``asymmetric_loss``
("asl"); the rest are the loss's keyword arguments (``sample_weight="element"``: a
per-element weight array).
"""

from __future__ import annotations

from typing import Any

SIGMOID_OPTIONS: dict[str, dict[str, Any]] = {
    "focal": dict(loss="focal"),
    "focal-g0-alpha": dict(loss="focal", gamma=0.0, alpha=0.25),
    "focal-g0.5-per-class": dict(
        loss="focal", gamma=0.5, alpha=[0.1, 0.2, 0.5, 0.7, 1.0], pos_weight=[1, 2, 3, 4, 5.0]
    ),
    "focal-weights-smooth": dict(
        loss="focal",
        gamma=1.5,
        neg_weight=2.0,
        label_smoothing=0.1,
        sample_weight=[1, 0.5, 2, 0, 1, 3.0],
    ),
    "focal-element-weights": dict(loss="focal", gamma=3.0, sample_weight="element"),
    "asl": dict(loss="asl"),
    "asl-gpos": dict(
        loss="asl", gamma_pos=1.0, gamma_neg=2.0, clip=0.1, pos_weight=[1, 2, 3, 4, 5.0]
    ),
    "asl-clip0": dict(loss="asl", gamma_pos=0.5, gamma_neg=0.5, clip=0.0, label_smoothing=0.2),
    "asl-gneg0": dict(
        loss="asl", gamma_pos=2.0, gamma_neg=0.0, clip=0.05, neg_weight=[1, 0, 2, 1, 1.0]
    ),
    "asl-plain": dict(loss="asl", gamma_pos=0.0, gamma_neg=0.0, clip=0.0),
}

#: ``softmax_focal_loss`` keyword arguments.
SOFTMAX_OPTIONS: dict[str, dict[str, Any]] = {
    "plain": dict(),
    "g0": dict(gamma=0.0, class_weight=[1, 2, 3, 4, 5.0]),
    "g0.5-weights": dict(
        gamma=0.5, class_weight=[1, 2, 0.5, 4, 5.0], sample_weight=[1, 2, 0, 1, 3, 1.0]
    ),
    "g2-smooth": dict(gamma=2.0, label_smoothing=0.1),
    "g0.5-smooth-weights": dict(gamma=0.5, label_smoothing=0.3, class_weight=[1, 2, 3, 4, 5.0]),
}
