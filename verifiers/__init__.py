"""rldistill's verifiers: plain functions ``(completion, answer) -> Verdict``.

Built-ins: ``math`` (sympy-based answer equivalence) and ``program``
(sandboxed execution against tests). Plug in your own with ``@register`` or
the ``rldistill.verifiers`` entry-point group; see ``verifiers.registry``.
The batch path with hard time limits is ``verifiers.pool``.

Note: this import package shares its name with the PyPI distribution
``verifiers`` (Prime Intellect's environments library); the two cannot be
installed in one environment.
"""

from verifiers.registry import UnknownVerifierError, Verdict, available, get_verifier, register

__all__ = ["Verdict", "available", "get_verifier", "register", "UnknownVerifierError"]
