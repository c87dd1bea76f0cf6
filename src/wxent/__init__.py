"""wxent: weighted and cost-sensitive cross-entropy for NumPy, PyTorch, JAX and TensorFlow.

One set of semantics for every framework: pass logits and labels of any supported
framework and get the loss back in that framework, with gradients through its own
autodiff. ``import wxent`` imports no framework.
"""

from wxent._linear import linear_cross_entropy
from wxent._losses import (
    loss_terms,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
)
from wxent._reduction import LossTerms, safe_divide
from wxent._sampled import sampled_softmax_cross_entropy

__version__ = "0.1.0"

__all__ = [
    "LossTerms",
    "__version__",
    "linear_cross_entropy",
    "loss_terms",
    "safe_divide",
    "sampled_softmax_cross_entropy",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
]
