"""Multi-label with sparse positives: why plain training predicts all zeros, and the fix.

30 independent binary labels, about one positive per row, weak features. Plain sigmoid
cross-entropy learns to say "no" everywhere: accuracy is high, recall near zero. With
``pos_weight`` = negatives / positives per label (computed from the training labels,
about 29 here) the positives weigh as much as the negatives and recall comes back.
The model outputs logits (no sigmoid layer); predictions are ``logits > 0``.

Then the decision: weighting moves the model along its precision-recall curve, and the
threshold picks the point. ``wxent.tune_thresholds`` chooses one F1-best logit threshold
per label on a validation split; the test split shows what they are worth.

Run: python examples/sparse_multilabel.py
"""

from __future__ import annotations

import numpy as np
import torch

import wxent

N_LABELS, N_FEATURES, N_TRAIN, N_TEST = 30, 40, 4000, 2000


def make_data(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    labels = np.eye(N_LABELS, dtype=np.float32)[rng.integers(0, N_LABELS, size=n)]
    mixing = np.random.default_rng(0).normal(size=(N_LABELS, N_FEATURES))
    features = 0.3 * labels @ mixing + rng.normal(size=(n, N_FEATURES))  # weak signal
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels)


def train(x: torch.Tensor, y: torch.Tensor, pos_weight: np.ndarray | None) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Linear(N_FEATURES, N_LABELS)  # logits out: no sigmoid layer
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        loss = wxent.sigmoid_cross_entropy(model(x), y, pos_weight=pos_weight)
        loss.backward()
        opt.step()
    return model


def scores(logits: torch.Tensor, y: torch.Tensor, threshold=0.0) -> dict[str, float]:
    pred = wxent.predict(logits, threshold=threshold).float()  # logit 0 is probability 0.5
    return {
        "accuracy": float((pred == y).float().mean()),
        "recall": float(wxent.recall(logits, y, threshold=threshold)),  # metrics read logits
        "precision": float(wxent.precision(logits, y, threshold=threshold)),
        "f1": float(wxent.fbeta_score(logits, y, threshold=threshold)),
    }


def main() -> None:
    torch.set_num_threads(1)  # small problem: threads only add overhead
    rng = np.random.default_rng(1)
    x_train, y_train = make_data(N_TRAIN, rng)
    x_test, y_test = make_data(N_TEST, rng)
    x_val, y_val = make_data(N_TEST, rng)  # held out to choose the thresholds
    pos_weight = wxent.pos_weights(y_train)  # negatives / positives per label
    print(f"pos_weight from the training labels: mean {pos_weight.mean():.1f}")
    for name, weight in [("plain", None), ("pos_weight", pos_weight)]:
        model = train(x_train, y_train, weight)
        with torch.no_grad():
            test_logits, val_logits = model(x_test), model(x_val)
        thresholds = wxent.tune_thresholds(val_logits, y_val)  # one per label, F1-best
        for label, t in [(name, 0.0), (f"{name} + tuned thresholds", thresholds)]:
            s = scores(test_logits, y_test, t)
            print(
                f"{label:>29}: accuracy {s['accuracy']:.3f}  recall {s['recall']:.3f}  "
                f"precision {s['precision']:.3f}  F1 {s['f1']:.3f}"
            )


if __name__ == "__main__":
    main()
