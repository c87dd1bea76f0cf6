"""Multi-class with class imbalance: class weights from the labels, and logit adjustment.

Three classes seen 90%, 8% and 2% of the time, overlapping features. Plain softmax
cross-entropy rarely predicts the rare classes. Three fixes, each one line with wxent:

* ``class_weight=wxent.class_weights(y, normalize="mean")`` (scikit-learn's "balanced"
  weights, averaging 1),
* ``wxent.logit_adjusted_cross_entropy(logits, y, wxent.class_prior(y))`` (Menon et al.),
* ``wxent.adjust_logits(logits, prior)`` on the *plain* model, after training.

Printed: the recall of every class and the balanced accuracy (their mean).

Run: python examples/imbalanced_multiclass.py
"""

from __future__ import annotations

import numpy as np
import torch

import wxent

FREQUENCIES = [0.90, 0.08, 0.02]
N_FEATURES = 8


def make_data(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = rng.choice(len(FREQUENCIES), size=n, p=FREQUENCIES)
    centers = np.random.default_rng(0).normal(size=(len(FREQUENCIES), N_FEATURES))
    features = 0.8 * centers[labels] + rng.normal(size=(n, N_FEATURES))
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels)


def train(x: torch.Tensor, y: torch.Tensor, loss_fn) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Linear(N_FEATURES, len(FREQUENCIES))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return model


def recalls(logits: torch.Tensor, y: torch.Tensor) -> list[float]:
    return wxent.recall(logits, y, average=None).tolist()  # per class, argmax of the logits


def main() -> None:
    torch.set_num_threads(1)  # small problem: threads only add overhead
    rng = np.random.default_rng(1)
    x_train, y_train = make_data(5000, rng)
    x_test, y_test = make_data(5000, rng)

    weights = wxent.class_weights(y_train, normalize="mean")  # balanced, averaging 1
    prior = wxent.class_prior(y_train)
    print("class counts: ", wxent.label_counts(y_train).astype(int).tolist())
    print("class weights:", np.round(weights, 2).tolist())

    plain = train(x_train, y_train, wxent.softmax_cross_entropy)
    weighted = train(
        x_train, y_train, lambda z, y: wxent.softmax_cross_entropy(z, y, class_weight=weights)
    )
    adjusted = train(x_train, y_train, lambda z, y: wxent.logit_adjusted_cross_entropy(z, y, prior))
    with torch.no_grad():
        rows = [
            ("plain", plain(x_test)),
            ("class_weight", weighted(x_test)),
            ("logit_adjusted", adjusted(x_test)),
            ("adjust_logits", wxent.adjust_logits(plain(x_test), prior)),
        ]
    print(f"{'':>15}  recall per class        balanced accuracy")
    for name, logits in rows:
        r = recalls(logits, y_test)
        per_class = "  ".join(f"{v:.2f}" for v in r)
        print(f"{name:>15}  {per_class}        {np.mean(r):.3f}")


if __name__ == "__main__":
    main()
