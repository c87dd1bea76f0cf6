"""The math of every loss family, written once against the Array API.

Pure functions ``f(..., *, xp)`` returning per-element (sigmoid family) or per-sample
(softmax family) losses: no validation, no reduction, no in-place writes (JAX arrays are
immutable), every axis passed explicitly, only standard names on ``xp`` (a test checks
them against every namespace, the TensorFlow shim included).

* :mod:`wxent._core.numerics`: softplus, log-sum-exp, ``0 * inf = 0`` products.
* :mod:`wxent._core.sigmoid`: sigmoid cross-entropy, sigmoid focal, asymmetric loss.
* :mod:`wxent._core.softmax`: softmax cross-entropy, softmax focal, logit adjustment.
* :mod:`wxent._core.cost`: expected cost, Bayes decisions, confusion weights.
"""
