"""wxent: weighted and cost-sensitive cross-entropy for NumPy, PyTorch, JAX and TensorFlow.

One set of semantics for every framework: pass logits and labels of any supported
framework and get the loss back in that framework, with gradients through its own
autodiff. ``import wxent`` imports no framework.
"""

from wxent import _autograph
from wxent._cost_losses import (
    confusion_weighted_cross_entropy,
    cost_sensitive_cross_entropy,
    expected_cost_loss,
)
from wxent._projection import linear_cross_entropy, sampled_softmax_cross_entropy
from wxent._reduction import LossTerms, loss_terms, safe_divide
from wxent._sigmoid import asymmetric_loss, sigmoid_cross_entropy, sigmoid_focal_loss
from wxent._softmax import (
    adjust_logits,
    logit_adjusted_cross_entropy,
    softmax_cross_entropy,
    softmax_focal_loss,
)
from wxent._value_checks import LogitsWarning
from wxent.calibration import (
    Calibration,
    calibrate,
    expected_calibration_error,
    unweight_logits,
)
from wxent.cost_matrix import CostMatrixWarning, cost_matrix
from wxent.decisions import bayes_decision, cost_threshold
from wxent.metrics import (
    MetricAccumulator,
    confusion_matrix,
    expected_cost,
    fbeta_score,
    precision,
    recall,
)
from wxent.thresholds import ThresholdWarning, predict, tune_thresholds
from wxent.weights import LabelCounter, class_prior, class_weights, label_counts, pos_weights

__version__ = "0.1.0"

__all__ = [
    "Calibration",
    "CostMatrixWarning",
    "LabelCounter",
    "LogitsWarning",
    "LossTerms",
    "MetricAccumulator",
    "ThresholdWarning",
    "__version__",
    "adjust_logits",
    "asymmetric_loss",
    "bayes_decision",
    "calibrate",
    "class_prior",
    "class_weights",
    "confusion_matrix",
    "confusion_weighted_cross_entropy",
    "cost_matrix",
    "cost_sensitive_cross_entropy",
    "cost_threshold",
    "expected_calibration_error",
    "expected_cost",
    "expected_cost_loss",
    "fbeta_score",
    "label_counts",
    "linear_cross_entropy",
    "logit_adjusted_cross_entropy",
    "loss_terms",
    "pos_weights",
    "precision",
    "predict",
    "recall",
    "safe_divide",
    "sampled_softmax_cross_entropy",
    "sigmoid_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_focal_loss",
    "tune_thresholds",
    "unweight_logits",
]

_autograph.leave_to_python()  # tf.function calls wxent as Python (see wxent._autograph)
