"""Which wxent loss do I need? Each situation, the call that answers it, run on a tiny batch.

SPEC question 4: sigmoid vs softmax, integer vs dense labels, per-element vs reduced
output, sample weights vs class weights vs ``pos_weight``, label smoothing, focal and
asymmetric losses, costs, and very many classes. Every answer below is executed on a
small NumPy batch (the same calls work unchanged on PyTorch, JAX and TensorFlow tensors)
and printed with its result, so the table cannot drift from the library.

Run: python examples/which_loss.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import wxent

rng = np.random.default_rng(0)
N, C = 4, 3
logits = rng.normal(size=(N, C)).astype(np.float32)  # softmax: one row of C logits per example
classes = np.array([0, 2, 1, 2])  # integer class indices
one_hot = np.eye(C, dtype=np.float32)[classes]
multi_hot = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32)
binary_logit = rng.normal(size=(N,)).astype(np.float32)
binary_label = np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32)
COSTS = [[0.0, 1.0, 1.0], [1.0, 0.0, 1.2], [1.0, 1.0, 0.0]]  # costs[true, predicted]

SITUATIONS: list[tuple[str, str, Callable[[], Any]]] = [
    (
        "exactly one class per example, labels are class ids",
        "softmax_cross_entropy(logits, classes)",
        lambda: wxent.softmax_cross_entropy(logits, classes),
    ),
    (
        "exactly one class, labels one-hot or soft (same loss as class ids)",
        "softmax_cross_entropy(logits, one_hot)",
        lambda: wxent.softmax_cross_entropy(logits, one_hot),
    ),
    (
        "several independent yes/no labels per example (multi-label)",
        "sigmoid_cross_entropy(logits, multi_hot)",
        lambda: wxent.sigmoid_cross_entropy(logits, multi_hot),
    ),
    (
        "a single yes/no per example (binary, one logit)",
        "sigmoid_cross_entropy(binary_logit, binary_label)",
        lambda: wxent.sigmoid_cross_entropy(binary_logit, binary_label),
    ),
    (
        "multi-label with rare positives: weight the positive term per label",
        "sigmoid_cross_entropy(..., pos_weight=pos_weights(train_labels))",
        lambda: wxent.sigmoid_cross_entropy(
            logits, multi_hot, pos_weight=wxent.pos_weights(multi_hot, zero_count="max")
        ),
    ),
    (
        "imbalanced classes: weight each example by its true class",
        "softmax_cross_entropy(..., class_weight=class_weights(train_labels))",
        lambda: wxent.softmax_cross_entropy(
            logits, classes, class_weight=wxent.class_weights(classes)
        ),
    ),
    (
        "some examples matter more (or are duplicates, or come from a reweighted sample)",
        "softmax_cross_entropy(..., sample_weight=w)",
        lambda: wxent.softmax_cross_entropy(
            logits, classes, sample_weight=np.array([1.0, 2.0, 0.5, 1.0])
        ),
    ),
    (
        "weights should also be the denominator (torch's weighted mean)",
        'softmax_cross_entropy(..., class_weight=..., reduction="weighted_mean")',
        lambda: wxent.softmax_cross_entropy(
            logits, classes, class_weight=[1.0, 2.0, 3.0], reduction="weighted_mean"
        ),
    ),
    (
        "I reduce myself (masks, per-example logging): per-element losses",
        'sigmoid_cross_entropy(..., reduction="none")',
        lambda: wxent.sigmoid_cross_entropy(logits, multi_hot, reduction="none").shape,
    ),
    (
        "over-confident model or noisy labels",
        "softmax_cross_entropy(..., label_smoothing=0.1)",
        lambda: wxent.softmax_cross_entropy(logits, classes, label_smoothing=0.1),
    ),
    (
        "some labels are unknown: leave them out of loss and denominator",
        "sigmoid_cross_entropy(..., ignore_label=-1) / softmax(..., ignore_index=-100)",
        lambda: wxent.sigmoid_cross_entropy(
            logits, np.where(multi_hot == 0, -1.0, multi_hot), ignore_label=-1.0
        ),
    ),
    (
        "easy examples swamp the gradient (dense detection, extreme imbalance)",
        "sigmoid_focal_loss(..., gamma=2) / softmax_focal_loss(..., gamma=2)",
        lambda: wxent.sigmoid_focal_loss(logits, multi_hot, gamma=2.0),
    ),
    (
        "multi-label with many easy negatives: down-weight and clip negatives only",
        "asymmetric_loss(..., gamma_neg=4, clip=0.05)",
        lambda: wxent.asymmetric_loss(logits, multi_hot),
    ),
    (
        "long-tailed classes, you care about the balanced error",
        "logit_adjusted_cross_entropy(logits, classes, class_prior(train_labels))",
        lambda: wxent.logit_adjusted_cross_entropy(logits, classes, wxent.class_prior(classes)),
    ),
    (
        "mistakes cost differently: train on expected cost plus cross-entropy",
        "cost_sensitive_cross_entropy(logits, classes, costs)",
        lambda: wxent.cost_sensitive_cross_entropy(logits, classes, COSTS),
    ),
    (
        "... and decide by the minimum expected cost, not the argmax",
        "bayes_decision(logits, costs)",
        lambda: wxent.bayes_decision(logits, COSTS),
    ),
    (
        "the Keras recipe: cross-entropy times weights[true, argmax]",
        "confusion_weighted_cross_entropy(logits, classes, weights)",
        lambda: wxent.confusion_weighted_cross_entropy(logits, classes, COSTS),
    ),
]

VERY_MANY_CLASSES: list[tuple[str, str, str]] = [
    (
        "very many classes (vocabularies): never materialise all the logits",
        "linear_cross_entropy(hidden, weight, classes, chunk_size=...)",
        "linear_cross_entropy",
    ),
    (
        "very many classes, training only: estimate with sampled classes",
        "sampled_softmax_cross_entropy(hidden, weight, classes, num_sampled=...)",
        "sampled_softmax_cross_entropy",
    ),
]


def _large_vocabulary(name: str) -> Any:
    hidden = rng.normal(size=(N, 8)).astype(np.float32)
    weight = rng.normal(size=(1000, 8)).astype(np.float32)  # (classes, hidden)
    targets = np.array([3, 999, 17, 500])
    if name == "linear_cross_entropy":
        return wxent.linear_cross_entropy(hidden, weight, targets, chunk_size=2)
    return wxent.sampled_softmax_cross_entropy(hidden, weight, targets, num_sampled=50, seed=0)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return f"shape {value}"
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{float(array):.4f}"
    return np.array2string(array, precision=3)


def main() -> None:
    print("Which wxent loss? (each call run on a tiny batch of 4 examples, 3 classes)\n")
    for situation, call, run in SITUATIONS:
        print(f"- {situation}\n    wxent.{call}\n    -> {_show(run())}")
    for situation, call, name in VERY_MANY_CLASSES:
        if hasattr(wxent, name):
            result = _show(_large_vocabulary(name))
        else:
            result = f"(wxent.{name} is not part of this installation)"
        print(f"- {situation}\n    wxent.{call}\n    -> {result}")
    same = np.isclose(
        wxent.softmax_cross_entropy(logits, classes), wxent.softmax_cross_entropy(logits, one_hot)
    )
    print(f"\nclass ids and one-hot labels give the same loss: {bool(same)}")


if __name__ == "__main__":
    main()
