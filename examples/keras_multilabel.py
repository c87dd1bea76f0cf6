"""The sparse multi-label story in Keras 3: a wxent loss with ``pos_weight`` and a recall
metric that reads logits, in ``model.compile`` on any Keras backend.

30 independent labels, each positive with probability 1/30 (about one per row); one weak
feature per label (``1.5 * label + N(0, 1)``). The model ends in a plain ``Dense(30)``:
it outputs logits, no sigmoid. Keras' own ``fit(class_weight=...)`` cannot weight the
labels of a multi-hot target; ``pos_weight`` inside the loss can. Plain training gets a
recall near zero; ``pos_weight = negatives / positives`` (about 29) brings it back, at the
price of precision.

Run: python examples/keras_multilabel.py   (KERAS_BACKEND=tensorflow, jax or torch)
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import wxent
import wxent.keras

L = 30


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, L)) < 1 / L).astype("float32")
    x = (1.5 * y + rng.normal(size=y.shape)).astype("float32")
    return x, y


def train(loss: keras.losses.Loss, x: np.ndarray, y: np.ndarray) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((L,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(L),  # logits: no sigmoid here
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=loss,
        metrics=[wxent.keras.Recall(from_logits=True), wxent.keras.Precision(from_logits=True)],
    )
    model.fit(x, y, epochs=4, batch_size=256, verbose=0)
    return model


def main() -> None:
    x_train, y_train = make_data(8000, seed=0)
    x_test, y_test = make_data(4000, seed=1)
    pos_weight = wxent.pos_weights(y_train)  # negatives / positives, one per label
    print(f"Keras backend: {keras.backend.backend()}; mean pos_weight {pos_weight.mean():.1f}")
    print(f"{'loss':<42} {'recall':>7} {'precision':>9}")
    for name, loss in [
        ("SigmoidCrossEntropy()", wxent.keras.SigmoidCrossEntropy()),
        (
            "SigmoidCrossEntropy(pos_weight=neg/pos)",
            wxent.keras.SigmoidCrossEntropy(pos_weight=pos_weight),
        ),
    ]:
        model = train(loss, x_train, y_train)
        scores = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
        print(f"{name:<42} {scores['recall']:>7.3f} {scores['precision']:>9.3f}")


if __name__ == "__main__":
    main()
