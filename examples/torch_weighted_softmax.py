"""Multi-class with class imbalance in PyTorch: ``wxent.torch.SoftmaxCrossEntropy`` with
class weights from the training labels.

Four classes with frequencies 70/20/7/3 %. The class weights come from
``wxent.class_weights(labels, scheme="balanced", normalize="mean")`` (inverse frequency,
averaging 1); the module holds them as a buffer, so ``criterion.to(device)`` moves them
and ``state_dict`` saves them. ``class_axis=1`` is the module's default, as in
``torch.nn.CrossEntropyLoss``, so the same criterion also takes ``(N, C, H, W)``
segmentation logits with ``(N, H, W)`` labels.

Run: python examples/torch_weighted_softmax.py
"""

from __future__ import annotations

import numpy as np
import torch

import wxent
import wxent.torch

C = 4
FREQUENCIES = [0.70, 0.20, 0.07, 0.03]


def make_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(C, size=n, p=FREQUENCIES)
    centres = np.random.default_rng(42).normal(size=(C, 8))
    features = 0.8 * centres[labels] + rng.normal(size=(n, 8))
    return torch.tensor(features, dtype=torch.float32), torch.tensor(labels)


def train(criterion: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, C))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()
    return model


def main() -> None:
    torch.set_num_threads(1)
    x, y = make_data(6000, seed=0)
    x_test, y_test = make_data(6000, seed=1)
    class_weight = wxent.class_weights(y.numpy(), scheme="balanced", normalize="mean")
    print("class frequencies:", np.round(np.bincount(y.numpy(), minlength=C) / len(y), 3))
    print("class weights    :", np.round(class_weight, 3))
    criteria = {
        "SoftmaxCrossEntropy()": wxent.torch.SoftmaxCrossEntropy(),
        "SoftmaxCrossEntropy(class_weight=...)": wxent.torch.SoftmaxCrossEntropy(
            class_weight=class_weight
        ),
    }
    print(f"{'criterion':<40} {'recall per class':<28} macro recall")
    for name, criterion in criteria.items():
        model = train(criterion, x, y)
        with torch.no_grad():
            logits = model(x_test)
        per_class = wxent.recall(logits, y_test, average=None)
        macro = wxent.recall(logits, y_test, average="macro")
        print(
            f"{name:<40} {np.array2string(np.asarray(per_class), precision=2):<28} "
            f"{float(macro):.3f}"
        )
    # The weights are a buffer: they move with the module and are saved in its state_dict.
    weighted = criteria["SoftmaxCrossEntropy(class_weight=...)"]
    print("state_dict keys:", list(weighted.state_dict()), "| repr:", weighted)
    # Channels-first logits (N, C, H, W) with labels (N, H, W): class_axis=1 by default.
    seg_logits = torch.randn(2, C, 5, 5)
    seg_labels = torch.randint(0, C, (2, 5, 5))
    print(f"segmentation loss (N, C, H, W): {float(weighted(seg_logits, seg_labels)):.4f}")


if __name__ == "__main__":
    main()
