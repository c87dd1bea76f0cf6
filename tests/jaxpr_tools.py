"""Helpers for tests that inspect JAX programs."""

from __future__ import annotations

from typing import Any


def dot_generals(jaxpr: Any) -> list:
    """Every ``dot_general`` equation of ``jaxpr``, nested sub-programs included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.append(eqn)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found.extend(dot_generals(inner))
    return found
