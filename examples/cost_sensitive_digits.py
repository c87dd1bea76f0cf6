"""When mistakes cost differently: handwritten digits with a few expensive confusions.

A linear softmax classifier on scikit-learn's bundled digits (no download), trained with
PyTorch and wxent. Reading a digit wrongly usually costs 1, but a few confusions are
expensive (think of amounts on cheques: an 8 read as a 1 costs 25). The cost matrix is
``costs[true, predicted]``.

Compared on a held-out half, by mean cost per digit:

1. plain cross-entropy, decided by argmax (what most code does);
2. the same model, decided by ``wxent.bayes_decision`` (no retraining);
3. ``wxent.cost_sensitive_cross_entropy`` training, decided by ``bayes_decision``;
4. for reference: the Keras-style confusion-weighted recipe, decided by argmax.

Run: ``python examples/cost_sensitive_digits.py`` (a few seconds on a CPU).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import wxent

STEPS = 300
COSTS = wxent.cost_matrix(
    10,
    costs={
        (8, 1): 25.0,  # costs[true, predicted]: an 8 read as a 1
        (1, 9): 25.0,
        (3, 8): 15.0,
        (6, 1): 15.0,
        (9, 5): 15.0,
        (4, 7): 15.0,
    },
)


def train(loss, x: np.ndarray, y: np.ndarray) -> torch.nn.Linear:
    """Full-batch Adam on a linear softmax model (logits out, no softmax layer)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    inputs = torch.tensor(x, dtype=torch.float32)
    labels = torch.tensor(y)
    for _ in range(STEPS):
        optimizer.zero_grad()
        value = loss(model(inputs), labels) + 1e-4 * model.weight.square().sum()
        value.backward()
        optimizer.step()
    return model


def main() -> None:
    torch.set_num_threads(1)
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y, test_size=0.5, random_state=0, stratify=y
    )
    test_inputs = torch.tensor(x_test, dtype=torch.float32)
    test_labels = torch.tensor(y_test)

    plain = train(wxent.softmax_cross_entropy, x_train, y_train)
    sensitive = train(
        lambda z, t: wxent.cost_sensitive_cross_entropy(z, t, COSTS, cost_weight=1.0),
        x_train,
        y_train,
    )
    weighted = train(
        lambda z, t: wxent.confusion_weighted_cross_entropy(z, t, COSTS + np.eye(10)),
        x_train,
        y_train,
    )

    rows = []
    with torch.no_grad():
        for name, model, decide in [
            ("plain CE + argmax", plain, "argmax"),
            ("plain CE + bayes_decision", plain, "bayes"),
            ("cost-sensitive CE + bayes_decision", sensitive, "bayes"),
            ("confusion-weighted CE + argmax", weighted, "argmax"),
        ]:
            logits = model(test_inputs)
            if decide == "argmax":
                decisions = logits.argmax(dim=-1)
            else:
                decisions = wxent.bayes_decision(logits, COSTS)  # a torch tensor
            d = decisions.numpy()
            mean_cost = float(COSTS[y_test, d].mean())
            accuracy = float((d == y_test).mean())
            rows.append((name, mean_cost, accuracy))
        # wxent.expected_cost reads the logits and decides with bayes_decision itself.
        check = float(wxent.expected_cost(plain(test_inputs), test_labels, COSTS))
        assert abs(check - rows[1][1]) < 1e-6

    print(f"digits: {len(y_train)} training, {len(y_test)} held-out samples")
    print(f"{'training + decision':<36}  {'mean cost':>9}  {'accuracy':>8}")
    for name, mean_cost, accuracy in rows:
        print(f"{name:<36}  {mean_cost:>9.4f}  {accuracy:>8.4f}")


if __name__ == "__main__":
    main()
