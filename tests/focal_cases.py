"""Option sets of the custom-gradient tests of the imbalance losses (PyTorch/JAX and
TensorFlow).

Sigmoid family: ``loss`` picks ``sigmoid_focal_loss`` ("focal") or ``asymmetric_loss``
("asl"); the rest are the loss's keyword arguments (``sample_weight="element"``: a
per-element weight array). :func:`softmax_data`: the softmax focal tests' logits and labels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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


def softmax_data(
    rng: np.random.Generator, n: int = 6, c: int = 5, *, inf: bool = True, plus_inf: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, c)`` logits and class indices (the last row ignored: ``-100``).

    ``inf``: a ``-inf``, a ``-1e38`` and a ``1e4`` logit (a label on the ``-inf`` one);
    ``plus_inf``: also a row holding ``+inf`` (its limit).
    """
    x = rng.normal(scale=3.0, size=(n, c))
    y = rng.integers(0, c, size=n)
    y[n - 1] = -100
    if inf:
        x[0, 0], x[1, 3], x[2, 2] = -np.inf, -1e38, 1e4
        y[0] = 1
        if plus_inf:
            x[3, 1] = np.inf
    return x, y


def clip_case(clip: float, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logits ``(N, 2)`` whose negatives are active well past the clip, labels, and the
    float64 loss and gradient of ``reduction="none"`` (column 1: label 1, ``gamma_pos =
    0``). ``p_m = (1 - clip) - sigmoid(-x)`` from a quarter of ``1 - clip`` on (nearer
    the threshold ``p_m`` is ill-conditioned in ``x`` itself)."""
    start = math.log((1 - 0.75 * (1 - clip)) / (0.75 * (1 - clip)))
    x = np.repeat(np.linspace(start, start + 25.0, 101), 2).reshape(-1, 2).astype(np.float32)
    z = np.zeros_like(x)
    z[:, 1] = 1.0
    x64 = x.astype(np.float64)
    p, q = 1.0 / (1.0 + np.exp(-x64)), 1.0 / (1.0 + np.exp(x64))
    p_m = (1.0 - clip) - q
    minus_log = -np.log1p(-p_m)
    loss = np.where(z == 1, np.log1p(np.exp(-x64)), p_m**gamma * minus_log)
    d_pm = (gamma * p_m ** (gamma - 1) * minus_log if gamma else 0.0) + p_m**gamma / (1 - p_m)
    grad = np.where(z == 1, -q, d_pm * p * q)
    return x, z, loss, grad
