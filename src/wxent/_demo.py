"""``wxent demo``: the sparse multi-label story of the README, trained in PyTorch.

Data: ``L = 30`` independent labels, each positive with probability ``1/30`` (about one
positive per row); one feature per label, ``x = 1.5 * label + N(0, 1)`` — informative
but weak, so that a model trained with plain sigmoid cross-entropy predicts almost all
zeros (high accuracy, recall near zero). The same 2-hidden-layer MLP is trained with

* plain sigmoid cross-entropy;
* ``pos_weight = negatives / positives`` per label, from the training labels;
* the sigmoid focal loss (``gamma=2``, no ``alpha``);
* the asymmetric loss (``gamma_neg=4``, ``clip=0.05``);

and the plain model is also read with its threshold moved to
``cost_threshold(cost_fp=1, cost_fn=negatives/positives)`` — the decision-side
alternative to weighting the training. Then the decision step: the ``pos_weight``
model's thresholds are tuned per label for F1 on a held-out validation split
(:func:`wxent.tune_thresholds`) and scored on the test split, and its probabilities are
calibrated (the exact ``log w`` shift of :func:`wxent.unweight_logits`, and Platt scaling
fitted on the validation split by :func:`wxent.calibrate`), with the expected
calibration error before and after. Micro recall, precision and F1 on the test split
are returned, and a PNG plot shows the precision-recall curves with each model's
operating point (the tuned one marked ``+``) beside a reliability diagram.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

import wxent

if TYPE_CHECKING:
    import torch

# PyTorch is imported when the demo runs, not when this module is imported: importing any
# wxent module other than the adapters must not load a framework.

NUM_LABELS = 30
SIGNAL = 1.5


def make_data(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``(n, 30)`` positive with probability 1/30, features ``1.5*label + N(0,1)``."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((samples, NUM_LABELS)) < 1.0 / NUM_LABELS).astype(np.float32)
    features = (SIGNAL * labels + rng.normal(size=labels.shape)).astype(np.float32)
    return features, labels


def _mlp(hidden: int) -> torch.nn.Module:
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(NUM_LABELS, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, NUM_LABELS),  # logits: no sigmoid in the model
    )


def _train(
    criterion: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    hidden: int,
    seed: int,
    label: str,
    progress: bool,
) -> torch.nn.Module:
    import torch

    torch.manual_seed(seed)
    model = _mlp(hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    batch = 256
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for i in range(0, x.shape[0], batch):
            idx = order[i : i + batch]
            optimizer.zero_grad()
            loss = criterion(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        if progress and sys.stderr.isatty():
            elapsed = time.perf_counter() - start
            sys.stderr.write(
                f"\r  training {label:<34} epoch {epoch + 1}/{epochs}  "
                f"loss {float(loss.detach()):.4f}  {elapsed:4.1f}s"
            )
            sys.stderr.flush()
    if progress:
        elapsed = time.perf_counter() - start
        end = "\n" if sys.stderr.isatty() else ""
        sys.stderr.write(
            f"{end}  trained {label:<35} {epochs} epochs  final batch loss "
            f"{float(loss.detach()):.4f}  {elapsed:4.1f}s\n"
        )
    return model


def _scores(logits: np.ndarray, labels: np.ndarray, threshold: Any) -> dict[str, float]:
    """Micro scores; ``"threshold"`` is the median of per-label thresholds."""
    return {
        "recall": float(wxent.recall(logits, labels, threshold=threshold)),
        "precision": float(wxent.precision(logits, labels, threshold=threshold)),
        "f1": float(wxent.fbeta_score(logits, labels, beta=1.0, threshold=threshold)),
        "threshold": float(np.median(threshold)),
    }


def run(
    *,
    samples: int = 20000,
    epochs: int = 8,
    hidden: int = 64,
    seed: int = 0,
    plot: str | None = "wxent-demo.png",
    progress: bool = True,
) -> dict[str, Any]:
    """Train the four models and score them on held-out data.

    Args:
        samples: training rows (the validation and test splits have half as many each).
        epochs: passes over the training data per model.
        hidden: width of the two hidden layers.
        seed: the random seed (data, initialisation, batches).
        plot: the PNG path for the precision-recall plot, or ``None`` for no plot.
        progress: report training progress on stderr.

    Returns:
        ``{"setup": {...}, "models": {name: {"recall", "precision", "f1",
        "threshold"}}, "tuned_thresholds": [...], "tuned_beats_fixed": bool,
        "calibration": {"ece_before", "ece_log_w_shift", "ece_platt"}, "plot": path or
        None}``; ``"threshold"`` of the tuned row is the median of its thresholds.
    """
    import torch

    # A tiny MLP: one thread is faster than several competing for two cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(
            samples=samples, epochs=epochs, hidden=hidden, seed=seed, plot=plot, progress=progress
        )
    finally:
        torch.set_num_threads(threads)


def _run(
    *, samples: int, epochs: int, hidden: int, seed: int, plot: str | None, progress: bool
) -> dict[str, Any]:
    import torch

    import wxent.torch as wt

    x_train, y_train = make_data(samples, seed)
    x_test, y_test = make_data(max(1, samples // 2), seed + 1)
    x_val, y_val = make_data(max(1, samples // 2), seed + 2)  # held out for tuning
    pos_weight = wxent.pos_weights(y_train, zero_count="max")
    positives = float(y_train.sum())
    ratio = (y_train.size - positives) / max(positives, 1.0)
    threshold = wxent.cost_threshold(cost_fp=1.0, cost_fn=ratio)
    criteria = {
        # validate=False: the labels are known to be 0/1; skip the checks in the hot loop
        "plain sigmoid cross-entropy": wt.SigmoidCrossEntropy(validate=False),
        "pos_weight = negatives/positives": wt.SigmoidCrossEntropy(
            pos_weight=pos_weight, validate=False
        ),
        "focal loss (gamma=2)": wt.SigmoidFocalLoss(gamma=2.0, validate=False),
        "asymmetric loss (gamma_neg=4)": wt.AsymmetricLoss(
            gamma_neg=4.0, clip=0.05, validate=False
        ),
    }
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    test_logits: dict[str, np.ndarray] = {}
    val_logits: dict[str, np.ndarray] = {}
    models: dict[str, dict[str, float]] = {}
    for label, criterion in criteria.items():
        model = _train(
            criterion,
            xt,
            yt,
            epochs=epochs,
            hidden=hidden,
            seed=seed,
            label=label,
            progress=progress,
        )
        with torch.no_grad():
            logits = model(torch.from_numpy(x_test)).numpy()
            val_logits[label] = model(torch.from_numpy(x_val)).numpy()
        test_logits[label] = logits
        models[label] = _scores(logits, y_test, 0.0)
        if label.startswith("plain"):
            moved = f"plain, threshold {threshold:+.2f} (cost_threshold)"
            models[moved] = _scores(logits, y_test, threshold)
    # The decision step: thresholds tuned on held-out logits, scored on the test split.
    weighted = "pos_weight = negatives/positives"
    tuned = wxent.tune_thresholds(val_logits[weighted], y_val, objective="f1")
    models[TUNED] = _scores(test_logits[weighted], y_test, tuned)
    calibration = _calibration(
        val_logits[weighted], y_val, test_logits[weighted], y_test, pos_weight
    )
    path = None
    if plot:
        path = _plot(plot, test_logits, y_test, models, calibration)
    fixed = [r["f1"] for name, r in models.items() if name != TUNED]
    return {
        "setup": {
            "labels": NUM_LABELS,
            "train_rows": samples,
            "validation_rows": int(y_val.shape[0]),
            "test_rows": int(y_test.shape[0]),
            "positive_rate": positives / y_train.size,
            "mean_pos_weight": float(np.mean(pos_weight)),
            "cost_threshold": threshold,
            "epochs": epochs,
        },
        "models": models,
        "tuned_thresholds": [float(t) for t in tuned],
        "tuned_beats_fixed": bool(models[TUNED]["f1"] > max(fixed)),
        "calibration": {k: v for k, v in calibration.items() if k != "curves"},
        "plot": path,
    }


TUNED = "pos_weight, thresholds tuned on held-out data"


def _calibration(
    val: np.ndarray, y_val: np.ndarray, test: np.ndarray, y_test: np.ndarray, pos_weight: Any
) -> dict[str, Any]:
    """ECE of the pos_weight model's probabilities: raw, log w shift, Platt (held out)."""
    shifted = wxent.unweight_logits(test, pos_weight=pos_weight)
    platt = wxent.calibrate(val, y_val, method="platt")(test)
    variants = {"raw": test, "log w shift": shifted, "Platt, held out": platt}
    from wxent.calibration import reliability_bins

    return {
        "ece_before": wxent.expected_calibration_error(test, y_test),
        "ece_log_w_shift": wxent.expected_calibration_error(shifted, y_test),
        "ece_platt": wxent.expected_calibration_error(platt, y_test),
        "curves": {k: reliability_bins(x, y_test, bins=10) for k, x in variants.items()},
    }


def _pr_curve(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Micro precision-recall curve over all thresholds (pooled labels)."""
    scores, truth = logits.ravel(), labels.ravel()
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(truth[order])
    fp = np.cumsum(1.0 - truth[order])
    recall = tp / max(float(truth.sum()), 1.0)
    precision = tp / np.maximum(tp + fp, 1.0)
    keep = np.unique(np.linspace(0, scores.size - 1, 600).astype(int))
    return recall[keep], precision[keep]


def _plot(
    path: str,
    test_logits: dict[str, np.ndarray],
    labels: np.ndarray,
    models: dict[str, dict[str, float]],
    calibration: dict[str, Any],
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, rel) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 2]})
    markers = iter("osD^v<>")
    for name, logits in test_logits.items():
        recall, precision = _pr_curve(logits, labels)
        (line,) = ax.plot(recall, precision, lw=1.5, label=name)
        ax.plot(
            models[name]["recall"],
            models[name]["precision"],
            next(markers, "o"),
            color=line.get_color(),
            ms=8,
        )
    for name, result in models.items():
        if name in test_logits:
            continue
        style = ("P", "crimson", 13) if name == TUNED else ("*", "black", 12)
        ax.plot(
            result["recall"],
            result["precision"],
            style[0],
            color=style[1],
            ms=style[2],
            label=f"{name} (F1 {result['f1']:.3f})" if name == TUNED else name,
        )
    ax.set_xlabel("micro recall")
    ax.set_ylabel("micro precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("30 labels, 1 positive in 30: markers = threshold 0; + = tuned", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    rel.plot([0, 1], [0, 1], ":", color="gray", lw=1)
    names = {
        "raw": f"pos_weight model, raw (ECE {calibration['ece_before']:.3f})",
        "log w shift": f"unweight_logits, log w shift (ECE {calibration['ece_log_w_shift']:.3f})",
        "Platt, held out": f"calibrate(method='platt') (ECE {calibration['ece_platt']:.3f})",
    }
    for key, (mean, freq, weight) in calibration["curves"].items():
        seen = weight > 0
        rel.plot(mean[seen], freq[seen], "o-", ms=4, label=names[key])
    rel.set_xlabel("predicted probability (bin mean)")
    rel.set_ylabel("observed frequency of positives")
    rel.set_xlim(0, 1)
    rel.set_ylim(0, 1)
    rel.set_title("Reliability on the test split", fontsize=10)
    rel.grid(alpha=0.3)
    rel.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_results(results: dict[str, Any]) -> str:
    """The results as an aligned table (what ``wxent demo`` prints)."""
    s = results["setup"]
    lines = [
        f"wxent demo: {s['labels']} labels, positive rate {s['positive_rate']:.4f}, "
        f"{s['train_rows']} training rows, {s['validation_rows']} validation rows, "
        f"{s['test_rows']} test rows, {s['epochs']} epochs",
        f"features: 1.5 * label + N(0, 1); mean pos_weight {s['mean_pos_weight']:.1f}; "
        f"cost_threshold(cost_fp=1, cost_fn={s['mean_pos_weight']:.0f}) = "
        f"{s['cost_threshold']:+.2f}",
        "",
    ]
    width = max(len(n) for n in results["models"])
    lines.append(f"{'model':<{width}}  {'recall':>7}  {'precision':>9}  {'F1':>6}")
    for name, r in results["models"].items():
        lines.append(
            f"{name:<{width}}  {r['recall']:>7.3f}  {r['precision']:>9.3f}  {r['f1']:>6.3f}"
        )
    c = results["calibration"]
    best_fixed = max(r["f1"] for n, r in results["models"].items() if n != TUNED)
    tuned = results["models"][TUNED]["f1"]
    lines += [
        "",
        "Weighting (or moving the threshold) buys recall with precision: pick the trade "
        "your costs call for.",
        f"Tuning the pos_weight model's thresholds on {s['validation_rows']} held-out rows "
        f"(wxent.tune_thresholds, F1 per label) picks the point: micro-F1 {tuned:.3f} "
        f"{'>' if tuned > best_fixed else '<='} {best_fixed:.3f}, the best fixed-threshold row.",
        f"Calibration of the pos_weight model (test ECE): {c['ece_before']:.3f} raw, "
        f"{c['ece_log_w_shift']:.3f} after the log w shift (wxent.unweight_logits), "
        f"{c['ece_platt']:.3f} after Platt scaling on held-out logits (wxent.calibrate).",
    ]
    if results["plot"]:
        lines.append(f"plot: {results['plot']}")
    return "\n".join(lines) + "\n"
