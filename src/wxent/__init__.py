"""wxent: weighted and cost-sensitive cross-entropy for NumPy, PyTorch, JAX and TensorFlow.

One set of semantics for every framework: pass logits and labels of any supported
framework and get the loss back in that framework, with gradients through its own
autodiff. ``import wxent`` imports no framework.
"""

from wxent._cost import (
    confusion_weighted_cross_entropy,
    cost_sensitive_cross_entropy,
    expected_cost_loss,
)
from wxent._losses import (
    loss_terms,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
)
from wxent._reduction import LossTerms, safe_divide
from wxent.costs import CostMatrixWarning, cost_matrix
from wxent.decisions import (
    bayes_decision,
    confusion_matrix,
    cost_threshold,
    expected_cost,
    fbeta_score,
    precision,
    recall,
)

__version__ = "0.1.0"

__all__ = [
    "CostMatrixWarning",
    "LossTerms",
    "__version__",
    "bayes_decision",
    "confusion_matrix",
    "confusion_weighted_cross_entropy",
    "cost_matrix",
    "cost_sensitive_cross_entropy",
    "cost_threshold",
    "expected_cost",
    "expected_cost_loss",
    "fbeta_score",
    "loss_terms",
    "precision",
    "recall",
    "safe_divide",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
]
